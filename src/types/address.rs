//! Addresses: chain-qualified, validated on construction (Base58Check,
//! bech32/bech32m, EIP-55 checksums), with the pseudo-addresses that stand
//! for coinbase, fees, mints and unknown inputs.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

use super::{Chain, decode_hex, hex};
use crate::error::{Error, Result};

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
