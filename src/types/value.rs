//! Assets and exact amounts in base units, with checked arithmetic.
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Address, Chain, hex};
use crate::error::{Error, Result};

/// An asset: a chain's native coin or a token, keyed by its contract.
///
/// Values of different assets are never added together. Display and parse
/// forms: `BTC`, `ETH`, `ERC20:0x…` (contract in lower case).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Asset {
    /// Bitcoin, in satoshi.
    Btc,
    /// Ether, in wei.
    Eth,
    /// An ERC-20 token, keyed by its contract address, in the token's base units.
    Erc20([u8; 20]),
}

impl Asset {
    /// The chain the asset lives on.
    pub fn chain(&self) -> Chain {
        match self {
            Asset::Btc => Chain::Bitcoin,
            Asset::Eth | Asset::Erc20(_) => Chain::Ethereum,
        }
    }

    /// Decimals of a native coin (8 for BTC, 18 for ETH); `None` for a token,
    /// whose decimals come from [`AssetInfo`].
    pub fn native_decimals(&self) -> Option<u8> {
        match self {
            Asset::Btc => Some(8),
            Asset::Eth => Some(18),
            Asset::Erc20(_) => None,
        }
    }

    /// Whether this is a chain's own coin (BTC, ETH) rather than a token.
    pub fn is_native(&self) -> bool {
        self.native_decimals().is_some()
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asset::Btc => f.write_str("BTC"),
            Asset::Eth => f.write_str("ETH"),
            Asset::Erc20(c) => write!(f, "ERC20:0x{}", hex(c)),
        }
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Asset({self})")
    }
}

impl FromStr for Asset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "BTC" | "btc" => Ok(Asset::Btc),
            "ETH" | "eth" => Ok(Asset::Eth),
            _ => {
                let contract = s
                    .strip_prefix("ERC20:")
                    .or_else(|| s.strip_prefix("erc20:"))
                    .and_then(|c| Address::parse(c).ok())
                    .and_then(|a| a.ethereum_bytes())
                    .ok_or_else(|| Error::Parse {
                        what: "asset",
                        input: s.to_owned(),
                        reason: "expected BTC, ETH or ERC20:0x<contract>".into(),
                    })?;
                Ok(Asset::Erc20(contract))
            }
        }
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What is known about an asset beyond its identity: ticker and decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetInfo {
    /// The asset.
    pub asset: Asset,
    /// Ticker symbol (`BTC`, `USDT`).
    pub symbol: String,
    /// Number of decimals between base units and whole units.
    pub decimals: u8,
}

/// An amount of some asset in its base units (satoshi, wei, token units).
///
/// Arithmetic is checked: `checked_add` and `checked_sub` return `None` on
/// overflow or underflow rather than wrapping. Serialised as a decimal string
/// so JSON readers with 53-bit numbers lose nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `base_units`.
    pub const fn new(base_units: u128) -> Amount {
        Amount(base_units)
    }

    /// The value in base units.
    pub const fn get(self) -> u128 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or `None` on overflow.
    pub fn checked_add(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_add(rhs.0).map(Amount)
    }

    /// `self - rhs`, or `None` if `rhs` is larger.
    pub fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_sub(rhs.0).map(Amount)
    }

    /// Formats in whole units with `decimals` places, trailing zeros trimmed
    /// (`123_450_000` sat with 8 decimals is `1.2345`).
    pub fn format_units(self, decimals: u8) -> String {
        let d = u32::from(decimals);
        if d == 0 || d > 38 {
            return self.0.to_string();
        }
        let scale = 10u128.pow(d);
        let (whole, frac) = (self.0 / scale, self.0 % scale);
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:0width$}", width = d as usize);
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl FromStr for Amount {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse::<u128>().map(Amount).map_err(|e| Error::Parse {
            what: "amount",
            input: s.to_owned(),
            reason: e.to_string(),
        })
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// From the decimal string [`Serialize`] writes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialOrd<u128> for Amount {
    fn partial_cmp(&self, other: &u128) -> Option<Ordering> {
        self.0.partial_cmp(other)
    }
}

impl PartialEq<u128> for Amount {
    fn eq(&self, other: &u128) -> bool {
        self.0 == *other
    }
}

/// `floor(a * b / c)` without overflow for any `a, b ≤ c` (the haircut share
/// computation), using a 256-bit intermediate product.
pub(crate) fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    debug_assert!(c > 0);
    if let Some(p) = a.checked_mul(b) {
        return p / c;
    }
    // 256-bit product as (hi, lo), then long division by c bit by bit.
    let (a_hi, a_lo) = (a >> 64, a & u128::from(u64::MAX));
    let (b_hi, b_lo) = (b >> 64, b & u128::from(u64::MAX));
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 64) + (lh & u128::from(u64::MAX)) + (hl & u128::from(u64::MAX));
    let lo = (ll & u128::from(u64::MAX)) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    let mut rem: u128 = 0;
    let mut quo: u128 = 0;
    for i in (0..256).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let carry = rem >> 127;
        rem = (rem << 1) | bit;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            if i < 128 {
                quo |= 1 << i;
            }
        }
    }
    quo
}
