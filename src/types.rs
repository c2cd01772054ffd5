//! Chain-neutral value types: chains, addresses, transaction ids, assets,
//! amounts and points in time.
//!
//! Every type here validates on construction: an [`Address`] that exists is a
//! well-formed address of its chain (checksums verified), an [`Amount`] is an
//! integer in base units, and arithmetic on amounts is checked.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

use crate::error::{Error, Result};

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

/// Which Bitcoin network an address belongs to.
///
/// Testnet3, testnet4 and signet share their address encodings, so they are
/// one value here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BitcoinNetwork {
    /// Mainnet (`1…`, `3…`, `bc1…`).
    Mainnet,
    /// Testnet3, testnet4 and signet (`m…`/`n…`, `2…`, `tb1…`).
    Testnet,
    /// Regtest (`bcrt1…`; its base58 forms are the testnet ones).
    Regtest,
}

/// The standard Bitcoin output types that have an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BitcoinKind {
    /// Pay to public key hash (20-byte hash). Bare P2PK outputs are shown as this.
    P2pkh,
    /// Pay to script hash (20-byte hash).
    P2sh,
    /// Segwit v0 key hash (20 bytes).
    P2wpkh,
    /// Segwit v0 script hash (32 bytes).
    P2wsh,
    /// Taproot, segwit v1 (32-byte output key).
    P2tr,
}

impl BitcoinKind {
    fn program_len(self) -> usize {
        match self {
            BitcoinKind::P2pkh | BitcoinKind::P2sh | BitcoinKind::P2wpkh => 20,
            BitcoinKind::P2wsh | BitcoinKind::P2tr => 32,
        }
    }
}

/// Addresses that stand for something other than a key holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Special {
    /// Where newly mined coins come from (Bitcoin coinbase outputs).
    Coinbase,
    /// New value that is not a coinbase: block and uncle rewards, withdrawals.
    Mint,
    /// Where fees go.
    Fees,
    /// Value destroyed (OP_RETURN outputs, burns).
    Burn,
    /// An input whose previous output is not known to the source.
    Unknown,
}

impl Special {
    fn name(self) -> &'static str {
        match self {
            Special::Coinbase => "coinbase",
            Special::Mint => "mint",
            Special::Fees => "fees",
            Special::Burn => "burn",
            Special::Unknown => "unknown",
        }
    }
    fn from_name(s: &str) -> Option<Special> {
        Some(match s {
            "coinbase" => Special::Coinbase,
            "mint" => Special::Mint,
            "fees" => Special::Fees,
            "burn" => Special::Burn,
            "unknown" => Special::Unknown,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Bitcoin {
        net: BitcoinNetwork,
        kind: BitcoinKind,
        program: [u8; 32],
    },
    Ethereum([u8; 20]),
    /// A script without a standard address, named by a 20-byte digest of it.
    Script(Chain, [u8; 20]),
    Special(Chain, Special),
}

/// A chain-qualified address.
///
/// Displayed as `chain:address` (`bitcoin:1D6gG9…`, `ethereum:0x97b1…`);
/// [`Address::plain`] gives the form without the prefix. Ethereum addresses
/// are shown in lower case ([`Address::to_checksum`] gives EIP-55).
///
/// Parsing accepts either form. A bare string starting with `0x` is Ethereum;
/// anything else bare is tried as Bitcoin. Base58Check and bech32/bech32m
/// checksums are verified; a mixed-case Ethereum address must carry a valid
/// EIP-55 checksum.
///
/// ```
/// use fundtrace::Address;
/// let a: Address = "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ".parse()?;
/// assert_eq!(a.to_string(), "bitcoin:1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ");
/// let e: Address = "ethereum:0x97B1043ABD9E6FC31681635166D430A458D14F9C".parse()?;
/// assert_eq!(e.plain(), "0x97b1043abd9e6fc31681635166d430a458d14f9c");
/// assert!("0x97B1043abd9e6fc31681635166d430a458d14f9c".parse::<Address>().is_err());
/// # Ok::<(), fundtrace::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(Repr);

impl Address {
    /// Parses an address, with or without its `chain:` prefix.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] if the text is not a valid address,
    /// [`Error::BadChecksum`] for a mixed-case Ethereum address with a wrong
    /// EIP-55 checksum.
    pub fn parse(s: &str) -> Result<Address> {
        let t = s.trim();
        let (chain, body) = match t.split_once(':') {
            Some((c, b)) => (
                Some(
                    c.parse::<Chain>()
                        .map_err(|_| bad(s, "unknown chain prefix"))?,
                ),
                b,
            ),
            None => (None, t),
        };
        let chain = chain.unwrap_or(if body.starts_with("0x") || body.starts_with("0X") {
            Chain::Ethereum
        } else {
            Chain::Bitcoin
        });
        if let Some(sp) = Special::from_name(body) {
            return Ok(Address(Repr::Special(chain, sp)));
        }
        if let Some(hex) = body.strip_prefix("script-") {
            let bytes = decode_hex::<20>(hex)
                .ok_or_else(|| bad(s, "script pseudo-address needs 40 hex digits"))?;
            return Ok(Address(Repr::Script(chain, bytes)));
        }
        match chain {
            Chain::Ethereum => parse_ethereum(s, body),
            Chain::Bitcoin => parse_bitcoin(s, body),
        }
    }

    /// An Ethereum address from its 20 bytes.
    pub fn ethereum(bytes: [u8; 20]) -> Address {
        Address(Repr::Ethereum(bytes))
    }

    /// A Bitcoin address from its network, type and program (hash or key).
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] if the program has the wrong length for the type.
    pub fn bitcoin(net: BitcoinNetwork, kind: BitcoinKind, program: &[u8]) -> Result<Address> {
        if program.len() != kind.program_len() {
            return Err(Error::InvalidAddress {
                input: format!("{kind:?} program of {} bytes", program.len()),
                reason: format!("expected {} bytes", kind.program_len()),
            });
        }
        let mut p = [0u8; 32];
        p[..program.len()].copy_from_slice(program);
        Ok(Address(Repr::Bitcoin {
            net,
            kind,
            program: p,
        }))
    }

    /// A pseudo-address for a script that has no standard address, named by a
    /// 20-byte digest of the script (the adapter documents which digest).
    pub fn script(chain: Chain, digest: [u8; 20]) -> Address {
        Address(Repr::Script(chain, digest))
    }

    /// A special pseudo-address (`bitcoin:coinbase`, `ethereum:fees`, …).
    pub fn special(chain: Chain, kind: Special) -> Address {
        Address(Repr::Special(chain, kind))
    }

    /// The chain this address lives on.
    pub fn chain(&self) -> Chain {
        match self.0 {
            Repr::Bitcoin { .. } => Chain::Bitcoin,
            Repr::Ethereum(_) => Chain::Ethereum,
            Repr::Script(c, _) | Repr::Special(c, _) => c,
        }
    }

    /// Which special pseudo-address this is, if any.
    pub fn as_special(&self) -> Option<Special> {
        match self.0 {
            Repr::Special(_, s) => Some(s),
            _ => None,
        }
    }

    /// The 20 bytes of an Ethereum address.
    pub fn ethereum_bytes(&self) -> Option<[u8; 20]> {
        match self.0 {
            Repr::Ethereum(b) => Some(b),
            _ => None,
        }
    }

    /// The address without its chain prefix, as explorers show it.
    pub fn plain(&self) -> String {
        match &self.0 {
            Repr::Ethereum(b) => format!("0x{}", hex(b)),
            Repr::Bitcoin { net, kind, program } => {
                encode_bitcoin(*net, *kind, &program[..kind.program_len()])
            }
            Repr::Script(_, d) => format!("script-{}", hex(d)),
            Repr::Special(_, s) => s.name().to_owned(),
        }
    }

    /// The EIP-55 mixed-case form of an Ethereum address; other addresses
    /// are returned as [`Address::plain`] gives them.
    pub fn to_checksum(&self) -> String {
        match &self.0 {
            Repr::Ethereum(b) => eip55(b),
            _ => self.plain(),
        }
    }
}

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidAddress {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

fn parse_ethereum(input: &str, body: &str) -> Result<Address> {
    let hexpart = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .ok_or_else(|| bad(input, "ethereum address must start with 0x"))?;
    if hexpart.len() != 40 {
        return Err(bad(
            input,
            format!(
                "ethereum address needs 40 hex digits, got {}",
                hexpart.len()
            ),
        ));
    }
    let bytes = decode_hex::<20>(hexpart).ok_or_else(|| bad(input, "not hexadecimal"))?;
    let has_lower = hexpart.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = hexpart.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        let expected = eip55(&bytes);
        if expected[2..] != *hexpart {
            return Err(Error::BadChecksum {
                input: input.to_owned(),
                expected,
            });
        }
    }
    Ok(Address(Repr::Ethereum(bytes)))
}

fn eip55(bytes: &[u8; 20]) -> String {
    let lower = hex(bytes);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

fn parse_bitcoin(input: &str, body: &str) -> Result<Address> {
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("bc1") || lower.starts_with("tb1") || lower.starts_with("bcrt1") {
        let (hrp, version, program) =
            bech32::segwit::decode(body).map_err(|e| bad(input, format!("bech32: {e}")))?;
        let net = if hrp == bech32::hrp::BC {
            BitcoinNetwork::Mainnet
        } else if hrp == bech32::hrp::TB {
            BitcoinNetwork::Testnet
        } else {
            BitcoinNetwork::Regtest
        };
        let kind = match (version.to_u8(), program.len()) {
            (0, 20) => BitcoinKind::P2wpkh,
            (0, 32) => BitcoinKind::P2wsh,
            (1, 32) => BitcoinKind::P2tr,
            (v, n) => {
                return Err(bad(
                    input,
                    format!("unsupported witness version {v} with {n}-byte program"),
                ));
            }
        };
        return Address::bitcoin(net, kind, &program).map_err(|_| bad(input, "bad program length"));
    }
    let data = bs58::decode(body)
        .with_check(None)
        .into_vec()
        .map_err(|e| bad(input, format!("base58check: {e}")))?;
    if data.len() != 21 {
        return Err(bad(
            input,
            format!("base58 payload of {} bytes, expected 21", data.len()),
        ));
    }
    let (net, kind) = match data[0] {
        0x00 => (BitcoinNetwork::Mainnet, BitcoinKind::P2pkh),
        0x05 => (BitcoinNetwork::Mainnet, BitcoinKind::P2sh),
        0x6f => (BitcoinNetwork::Testnet, BitcoinKind::P2pkh),
        0xc4 => (BitcoinNetwork::Testnet, BitcoinKind::P2sh),
        v => return Err(bad(input, format!("unknown base58 version byte {v:#04x}"))),
    };
    Address::bitcoin(net, kind, &data[1..])
}

fn encode_bitcoin(net: BitcoinNetwork, kind: BitcoinKind, program: &[u8]) -> String {
    let hrp = match net {
        BitcoinNetwork::Mainnet => bech32::hrp::BC,
        BitcoinNetwork::Testnet => bech32::hrp::TB,
        BitcoinNetwork::Regtest => bech32::hrp::BCRT,
    };
    let b58 = |version: u8| {
        let mut v = Vec::with_capacity(21);
        v.push(version);
        v.extend_from_slice(program);
        bs58::encode(v).with_check().into_string()
    };
    let testnet = net != BitcoinNetwork::Mainnet;
    // The program lengths are fixed by `BitcoinKind`, so encoding cannot fail;
    // should it ever, the hex form keeps the address distinct and visible.
    let segwit = |r: std::result::Result<String, bech32::segwit::EncodeError>| {
        r.unwrap_or_else(|_| format!("invalid-segwit-{}", hex(program)))
    };
    match kind {
        BitcoinKind::P2pkh => b58(if testnet { 0x6f } else { 0x00 }),
        BitcoinKind::P2sh => b58(if testnet { 0xc4 } else { 0x05 }),
        BitcoinKind::P2wpkh | BitcoinKind::P2wsh => segwit(bech32::segwit::encode_v0(hrp, program)),
        BitcoinKind::P2tr => segwit(bech32::segwit::encode_v1(hrp, program)),
    }
}

/// Bytes of [`Address::to_bytes`].
pub(crate) const ADDRESS_BYTES: usize = 35;

impl Address {
    /// A fixed-size binary form, for snapshots: a tag byte, then the fields.
    pub(crate) fn to_bytes(self) -> [u8; ADDRESS_BYTES] {
        let mut b = [0u8; ADDRESS_BYTES];
        match self.0 {
            Repr::Bitcoin { net, kind, program } => {
                b[0] = 1;
                b[1] = net as u8;
                b[2] = kind as u8;
                b[3..35].copy_from_slice(&program);
            }
            Repr::Ethereum(e) => {
                b[0] = 2;
                b[1..21].copy_from_slice(&e);
            }
            Repr::Script(c, d) => {
                b[0] = 3;
                b[1] = c.code();
                b[2..22].copy_from_slice(&d);
            }
            Repr::Special(c, sp) => {
                b[0] = 4;
                b[1] = c.code();
                b[2] = sp as u8;
            }
        }
        b
    }

    /// The inverse of [`Address::to_bytes`]; `None` for bytes it never writes.
    pub(crate) fn from_bytes(b: &[u8; ADDRESS_BYTES]) -> Option<Address> {
        let chain = |c: u8| match c {
            0 => Some(Chain::Bitcoin),
            1 => Some(Chain::Ethereum),
            _ => None,
        };
        Some(Address(match b[0] {
            1 => {
                let net = [
                    BitcoinNetwork::Mainnet,
                    BitcoinNetwork::Testnet,
                    BitcoinNetwork::Regtest,
                ]
                .get(usize::from(b[1]))?;
                let kind = [
                    BitcoinKind::P2pkh,
                    BitcoinKind::P2sh,
                    BitcoinKind::P2wpkh,
                    BitcoinKind::P2wsh,
                    BitcoinKind::P2tr,
                ]
                .get(usize::from(b[2]))?;
                let mut program = [0u8; 32];
                program.copy_from_slice(&b[3..35]);
                Repr::Bitcoin {
                    net: *net,
                    kind: *kind,
                    program,
                }
            }
            2 => Repr::Ethereum(b[1..21].try_into().ok()?),
            3 => Repr::Script(chain(b[1])?, b[2..22].try_into().ok()?),
            4 => {
                let sp = [
                    Special::Coinbase,
                    Special::Mint,
                    Special::Fees,
                    Special::Burn,
                    Special::Unknown,
                ]
                .get(usize::from(b[2]))?;
                Repr::Special(chain(b[1])?, *sp)
            }
            _ => return None,
        }))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.chain(), self.plain())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Address::parse(s)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A transaction id: the chain and the 32-byte hash as explorers show it
/// (for Bitcoin, the byte-reversed double SHA-256 that block explorers print).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    chain: Chain,
    hash: [u8; 32],
}

impl TxId {
    /// A transaction id from its displayed bytes.
    pub fn new(chain: Chain, hash: [u8; 32]) -> TxId {
        TxId { chain, hash }
    }

    /// Parses 64 hex digits (an optional `0x` is accepted for any chain).
    ///
    /// # Errors
    /// [`Error::InvalidTxId`] if the text is not 64 hex digits.
    pub fn parse(chain: Chain, s: &str) -> Result<TxId> {
        let body = s.strip_prefix("0x").unwrap_or(s);
        let hash = decode_hex::<32>(body).ok_or_else(|| Error::InvalidTxId {
            input: s.to_owned(),
            reason: "expected 64 hex digits".into(),
        })?;
        Ok(TxId { chain, hash })
    }

    /// The chain of the transaction.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The 32 bytes, in displayed order.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.hash
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chain {
            Chain::Ethereum => write!(f, "0x{}", hex(&self.hash)),
            Chain::Bitcoin => f.write_str(&hex(&self.hash)),
        }
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({}:{self})", self.chain)
    }
}

impl Serialize for TxId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

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

/// A block height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockHeight(pub u64);

impl fmt::Display for BlockHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A block timestamp in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// RFC 3339 in UTC, to the second (`2023-05-23T00:00:00Z`).
    pub fn to_rfc3339(self) -> String {
        // Civil-from-days by Howard Hinnant ("chrono-Compatible Low-Level Date
        // Algorithms"), valid for the whole u64 range we can meet here.
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A block: its chain, height and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BlockRef {
    /// The chain.
    pub chain: Chain,
    /// Height of the block.
    pub height: BlockHeight,
    /// Timestamp from the block header.
    pub time: Timestamp,
}

/// Where inside a block a transfer happens: the transaction's index in the
/// block, then the transfer's order inside the transaction.
///
/// Within one Ethereum transaction the adapter numbers transfers in the order
/// value moves (the fee, bought before execution, then the native value, then
/// internal transfers in trace order, then token transfers in log order), so a
/// contract can forward what it received in the same transaction. Rewards and
/// withdrawals follow the block's last transaction. A UTXO transaction is one step (sub-index 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct Position {
    /// Index of the transaction in its block.
    pub index: u32,
    /// Order of the transfer inside the transaction.
    pub sub: u32,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

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

/// A balance an address held before the first block of the graph, fetched
/// from a node (`eth_getBalance`, ERC-20 `balanceOf`) so that the value
/// models see it instead of inferring it (see
/// [`crate::trace`](mod@crate::trace), "Unknown opening balances").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningBalance {
    /// Whose balance.
    pub address: Address,
    /// In which asset.
    pub asset: Asset,
    /// Base units.
    pub amount: Amount,
    /// The block at whose end the balance was read.
    pub at_block: BlockHeight,
    /// Where it came from (`eth_getBalance`, `balanceOf`, …).
    pub source: String,
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
