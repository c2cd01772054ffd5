//! Chain-neutral value types: chains, addresses, transaction ids, assets,
//! amounts and points in time.
//!
//! Every type here validates on construction: an [`Address`] that exists is a
//! well-formed address of its chain (checksums verified), an [`Amount`] is an
//! integer in base units, and arithmetic on amounts is checked.
//!
//! * [`address`]: [`Address`] and its networks and kinds;
//! * [`value`]: [`Asset`], [`AssetInfo`] and [`Amount`];
//! * [`block`]: [`TxId`], [`BlockRef`], [`BlockHeight`], [`Timestamp`],
//!   [`Position`] and [`OpeningBalance`];
//! * here: [`Chain`] and [`ClusterName`];
//! * `classify` (crate-internal): what an address string or an asset tag
//!   from an outside list says about its chain, shared by the OFAC and label
//!   readers.

pub mod address;
pub mod block;
pub(crate) mod classify;
pub mod value;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub(crate) use address::ADDRESS_BYTES;
pub use address::{Address, BitcoinKind, BitcoinNetwork, Special};
pub use block::{BlockHeight, BlockRef, OpeningBalance, Position, Timestamp, TxId};
pub(crate) use value::mul_div_floor;
pub use value::{Amount, Asset, AssetInfo};

/// A blockchain that fundtrace understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Chain {
    /// Bitcoin (mainnet, or a test network: the address says which).
    Bitcoin,
    /// Ethereum mainnet or any chain with Ethereum's address format.
    Ethereum,
}

impl Chain {
    /// The lower-case name used as the address prefix (`bitcoin`, `ethereum`).
    pub fn name(self) -> &'static str {
        match self {
            Chain::Bitcoin => "bitcoin",
            Chain::Ethereum => "ethereum",
        }
    }

    /// The chain's native asset.
    pub fn native_asset(self) -> Asset {
        match self {
            Chain::Bitcoin => Asset::Btc,
            Chain::Ethereum => Asset::Eth,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Chain::Bitcoin => 0,
            Chain::Ethereum => 1,
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Chain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "bitcoin" | "btc" => Ok(Chain::Bitcoin),
            "ethereum" | "eth" => Ok(Chain::Ethereum),
            _ => Err(Error::Parse {
                what: "chain",
                input: s.to_owned(),
                reason: "expected bitcoin or ethereum".into(),
            }),
        }
    }
}

/// The name of a target cluster (an exchange, say), as findings and
/// reports carry it. Names come from outside (labels, the command line), so
/// every output that shows one escapes it for its format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct ClusterName(String);

impl ClusterName {
    /// A name as given.
    pub fn new(name: impl Into<String>) -> ClusterName {
        ClusterName(name.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ClusterName {
    fn from(s: String) -> ClusterName {
        ClusterName(s)
    }
}

impl From<&str> for ClusterName {
    fn from(s: &str) -> ClusterName {
        ClusterName(s.to_owned())
    }
}

impl AsRef<str> for ClusterName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ClusterName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ClusterName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClusterName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ClusterName {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// `N` bytes from `N * 2` hexadecimal digits (either case); `None` otherwise.
pub(crate) fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let b = s.as_bytes();
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kim_sang_man_addresses_round_trip() {
        for s in [
            "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
            "1FCNgfZWpYMeYhy9t18AAkTBu8AsdoAc1Z",
            "0x97b1043abd9e6fc31681635166d430a458d14f9c",
            "0xb6f5ec1a0a9cd1526536d3f0426c429529471f40",
        ] {
            let a = Address::parse(s).unwrap();
            assert_eq!(a.plain(), s);
            assert_eq!(Address::parse(&a.to_string()).unwrap(), a);
        }
    }

    #[test]
    fn eip55_vectors() {
        // Test vectors from EIP-55 itself.
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a = Address::parse(s).unwrap();
            assert_eq!(a.to_checksum(), s);
        }
        let wrong = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert!(matches!(
            Address::parse(wrong),
            Err(Error::BadChecksum { .. })
        ));
        // All-lower and all-upper carry no checksum and are accepted.
        assert!(Address::parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED").is_ok());
    }

    #[test]
    fn bitcoin_forms() {
        for s in [
            "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        ] {
            let a = Address::parse(s).unwrap();
            assert_eq!(a.plain(), s, "{s}");
        }
        let flipped = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3T";
        assert!(Address::parse(flipped).is_err());
        assert!(Address::parse("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx").is_err());
        assert!(Address::parse("dogecoin:xyz").is_err());
        assert!(Address::parse("").is_err());
    }

    #[test]
    fn specials_and_scripts() {
        let c = Address::special(Chain::Bitcoin, Special::Coinbase);
        assert_eq!(c.to_string(), "bitcoin:coinbase");
        assert_eq!(Address::parse("bitcoin:coinbase").unwrap(), c);
        let s = Address::script(Chain::Bitcoin, [7; 20]);
        assert_eq!(Address::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn amounts() {
        assert_eq!(Amount::new(123_450_000).format_units(8), "1.2345");
        assert_eq!(Amount::new(5).format_units(0), "5");
        assert_eq!(Amount::new(u128::MAX).checked_add(Amount::new(1)), None);
        assert_eq!(Amount::new(1).checked_sub(Amount::new(2)), None);
        assert_eq!(
            serde_json::to_string(&Amount::new(u128::MAX)).unwrap(),
            format!("\"{}\"", u128::MAX)
        );
    }

    #[test]
    fn mul_div_is_exact_for_large_values() {
        assert_eq!(mul_div_floor(7, 3, 2), 10);
        let big = u128::MAX / 3;
        assert_eq!(mul_div_floor(big, big, big), big);
        assert_eq!(
            mul_div_floor(u128::MAX, u128::MAX - 1, u128::MAX),
            u128::MAX - 1
        );
        assert_eq!(mul_div_floor(u128::MAX / 2, 3, u128::MAX), 1);
    }

    #[test]
    fn timestamps() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        // Bitcoin block 170 was mined at 1231731025 (2009-01-12 03:30:25 UTC).
        assert_eq!(
            Timestamp(1_231_731_025).to_rfc3339(),
            "2009-01-12T03:30:25Z"
        );
        assert_eq!(Timestamp(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
    }
}
