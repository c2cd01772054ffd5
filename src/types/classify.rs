//! What an address string or an asset tag from an outside list (an OFAC
//! listing, a label file) says about its chain. Shared by the OFAC reader
//! and the label loaders, so both decide the same way.

use super::{Address, Chain};

/// What an asset tag (OFAC) or currency code (label files) says about the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    /// The native coin of a supported chain.
    Native(Chain),
    /// A token that lives on several chains: the address format decides.
    Token,
    /// The coin of another chain, named in lower case.
    Other(&'static str),
    /// Not known.
    Unknown,
}

pub(crate) fn tag_kind(tag: &str) -> TagKind {
    let t = tag.trim().to_ascii_uppercase();
    match t.as_str() {
        "XBT" | "BTC" | "BITCOIN" => TagKind::Native(Chain::Bitcoin),
        "ETH" | "ETHEREUM" => TagKind::Native(Chain::Ethereum),
        // Tokens issued on Bitcoin (Omni) and Ethereum among others.
        "USDT" | "USDC" | "OMNI" => TagKind::Token,
        _ => match other_chain(&t) {
            Some(c) => TagKind::Other(c),
            None => TagKind::Unknown,
        },
    }
}

fn other_chain(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "BCH" => "bitcoin cash",
        "BSV" => "bitcoin sv",
        "BTG" => "bitcoin gold",
        "LTC" => "litecoin",
        "DASH" => "dash",
        "ZEC" => "zcash",
        "XMR" => "monero",
        "XRP" | "RIPPLE" => "xrp ledger",
        "SOL" => "solana",
        "TRX" | "TRON" => "tron",
        "XVG" => "verge",
        "ETC" => "ethereum classic",
        "ARB" | "ARBITRUM" => "arbitrum",
        "BSC" | "BEP20" => "bnb smart chain",
        "BNB" | "BEP2" => "bnb beacon chain",
        "DOGE" => "dogecoin",
        "ADA" => "cardano",
        "ATOM" | "COSMOS" => "cosmos",
        "DOT" => "polkadot",
        "MATIC" | "POLYGON" => "polygon",
        "AVAX" => "avalanche",
        "EOS" => "eos",
        "XLM" => "stellar",
        "XTZ" => "tezos",
        "ALGO" => "algorand",
        "FIL" => "filecoin",
        "OPTIMISM" => "optimism",
        "BASE" => "base",
        "GNOSIS" => "gnosis",
        "CELO" => "celo",
        _ => return None,
    })
}

/// What an address string is, judged by its own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddressFormat {
    /// A valid Bitcoin or Ethereum address.
    Supported(Address),
    /// An address in the format of another chain (lower-case name).
    Other(&'static str),
    /// Not a valid address of any format we recognise.
    Invalid(String),
}

pub(crate) fn classify_address(raw: &str) -> AddressFormat {
    let s = raw.trim();
    if s.is_empty() {
        return AddressFormat::Invalid("empty".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return AddressFormat::Invalid("contains whitespace".into());
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("bitcoincash:") || lower.starts_with("simpleledger:") {
        return AddressFormat::Other("bitcoin cash");
    }
    if !s.is_ascii() || s.contains(':') {
        return AddressFormat::Invalid("not an address string".into());
    }
    let supported = |s: &str| match Address::parse(s) {
        Ok(a) if a.as_special().is_none() && !lower.starts_with("script-") => {
            AddressFormat::Supported(a)
        }
        Ok(_) => AddressFormat::Invalid("not an address string".into()),
        Err(e) => AddressFormat::Invalid(e.to_string()),
    };
    if lower.starts_with("0x") {
        return supported(s);
    }
    for (hrp, chain) in [
        ("ltc1", "litecoin"),
        ("bnb1", "bnb beacon chain"),
        ("cosmos1", "cosmos"),
    ] {
        if lower.starts_with(hrp) {
            return AddressFormat::Other(chain);
        }
    }
    if lower.starts_with("bc1") || lower.starts_with("tb1") || lower.starts_with("bcrt1") {
        return supported(s);
    }
    // Bitcoin base58 (mainnet 1/3, testnet m/n/2): let the real parser say
    // what is wrong, so a bad checksum reads as one.
    if matches!(s.as_bytes()[0], b'1' | b'3' | b'm' | b'n' | b'2') && (25..=35).contains(&s.len()) {
        return supported(s);
    }
    if let Ok(data) = bs58::decode(s).with_check(None).into_vec() {
        let chain = match (data.len(), data.first().copied()) {
            (21, Some(0x41)) => "tron",
            (21, Some(0x30 | 0x32)) => "litecoin",
            (21, Some(0x4c | 0x10)) => "dash",
            (21, Some(0x26 | 0x17)) => "bitcoin gold",
            (21, Some(0x1e | 0x16)) => "dogecoin or verge",
            (22, Some(0x1c)) => "zcash",
            _ => "unknown (base58check)",
        };
        return AddressFormat::Other(chain);
    }
    if s.starts_with('r')
        && bs58::decode(s)
            .with_alphabet(bs58::Alphabet::RIPPLE)
            .with_check(None)
            .into_vec()
            .is_ok()
    {
        return AddressFormat::Other("xrp ledger");
    }
    const BECH32_CHARS: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if (s.starts_with('q') || s.starts_with('p'))
        && s.len() == 42
        && lower.chars().all(|c| BECH32_CHARS.contains(c))
    {
        return AddressFormat::Other("bitcoin cash");
    }
    let base58_chars = |s: &str| bs58::decode(s).into_vec().is_ok();
    if (s.starts_with('4') || s.starts_with('8'))
        && (s.len() == 95 || s.len() == 106)
        && base58_chars(s)
    {
        return AddressFormat::Other("monero");
    }
    if bs58::decode(s).into_vec().is_ok_and(|b| b.len() == 32) {
        return AddressFormat::Other("solana");
    }
    // Algorand: 58 characters of upper-case base32.
    if s.len() == 58
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return AddressFormat::Other("algorand");
    }
    AddressFormat::Invalid(
        "neither a bitcoin nor an ethereum address, nor a known format of another chain".into(),
    )
}
