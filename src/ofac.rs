//! OFAC SDN seeds: the digital currency addresses that the U.S. Treasury's
//! Office of Foreign Assets Control lists on its Specially Designated
//! Nationals (SDN) list, turned into validated, chain-qualified seeds.
//!
//! # Formats
//! OFAC publishes the same list in three forms; [`load`] (and its pure twin
//! [`parse`]) tells them apart by content, not by file name:
//! * **`SDN.CSV`** ([`parse_sdn_csv`]): no header row, 12 columns, `-0-` for
//!   null, CRLF line ends and a trailing 0x1A byte. Addresses sit in the
//!   remarks (last) column as `Digital Currency Address - <TAG> <address>;`,
//!   optionally preceded by `alt.`. OFAC cuts that column at about 1,000
//!   characters, so the last address of a long entry may be incomplete: such
//!   entries are reported in [`SdnList::truncated`], and the fragment never
//!   becomes a seed.
//! * **`sdn.xml`** ([`parse_sdn_xml`]): `<sdnEntry>` elements whose
//!   `<idList><id>` children carry `<idType>Digital Currency Address - TAG`
//!   and `<idNumber>`.
//! * **`sdn_advanced.xml`** ([`parse_sdn_advanced_xml`]): `Feature` elements
//!   whose `FeatureTypeID` refers to a `FeatureType` named
//!   `Digital Currency Address - TAG`, the address being the
//!   `VersionDetail` text. The real file is about 120 MB; it is streamed and
//!   only profiles with addresses are kept.
//!
//! # From listings to seeds
//! A *listing* is one (entry, tag, address string) triple as OFAC prints it.
//! The chain of a listing comes from the **address's own format**, and the
//! tag can only veto it, never choose it:
//! * a string in Bitcoin or Ethereum format (checksums verified by
//!   [`Address::parse`], EIP-55 when mixed case) becomes a seed, whether its
//!   tag is the chain's coin (`XBT`, `ETH`) or a token that lives on several
//!   chains (`USDT`, `USDC`): `ETH`, `USDT` and `USDC` on one `0x…` string
//!   are one Ethereum seed with three listings, and `USDT` on a `1…`/`3…`
//!   (Omni) string is a Bitcoin seed;
//! * a tag that names another chain (`TRX`, `XMR`, `LTC`, `BCH`, `BSV`,
//!   `ETC`, `ARB`, `BSC`, …) is [`SkipReason::UnsupportedChain`] even when the
//!   string happens to be in Bitcoin or Ethereum format (a `BSV` legacy
//!   address, an `ARB` `0x…` address): the listing is about that other chain;
//! * a string in another chain's format (`USDT` on a Tron `T…` address) is
//!   [`SkipReason::UnsupportedChain`]; `XBT` on an Ethereum-format string
//!   (or the reverse) is [`SkipReason::TagMismatch`]; a tag fundtrace does not
//!   know is [`SkipReason::UnknownTag`]; anything that is not a valid address
//!   is [`SkipReason::InvalidAddress`].
//!
//! Nothing is dropped silently: every listing stays on its [`SdnEntry`], the
//! ones that did not become seeds are repeated in [`SdnList::skipped`] with
//! their reason, and every [`Seed`] keeps all of its listings (tag, entry
//! number, name, raw string) as provenance.
//!
//! # Example
//! ```
//! use fundtrace::ofac::{self, EntitySelector};
//! let csv = b"43377,\"KIM, Sang Man\",\"individual\",\"DPRK4\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\
//! \"Digital Currency Address - XBT 1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ; \
//! Digital Currency Address - ETH 0x97b1043abd9e6fc31681635166d430a458d14f9c; \
//! Digital Currency Address - USDT 0x97b1043abd9e6fc31681635166d430a458d14f9c.\"\r\n";
//! let list = ofac::parse(csv)?;
//! let kim = list.select(&[EntitySelector::name("kim sang man")])?;
//! let seeds = kim.seeds();
//! assert_eq!(seeds.len(), 2);
//! assert_eq!(seeds[1].address.to_string(), "ethereum:0x97b1043abd9e6fc31681635166d430a458d14f9c");
//! assert_eq!(seeds[1].listings.len(), 2); // ETH and USDT
//! # Ok::<(), fundtrace::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{Address, Chain};

/// The name that errors from the pure parsers give their input; [`load`]
/// replaces it with the file's path.
pub const INPUT_NAME: &str = "<input>";

/// What OFAC writes before the tag and the address.
const MARKER: &str = "Digital Currency Address - ";

/// Longest text node we keep (addresses and names are far shorter); longer
/// ones are an error rather than unbounded memory.
const MAX_TEXT: usize = 64 * 1024;

/// How much of a file [`load`] reads to tell the formats apart.
const SNIFF_LEN: usize = 64 * 1024;

/// An SDN entry number: `ent_num` in `SDN.CSV`, `uid` in `sdn.xml`, the
/// Profile ID in `sdn_advanced.xml` (the three agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EntryNumber(pub u32);

impl fmt::Display for EntryNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Which publication of the SDN list a [`SdnList`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SdnFormat {
    /// `SDN.CSV`.
    Csv,
    /// `sdn.xml` (the older flat XML).
    Xml,
    /// `sdn_advanced.xml`.
    AdvancedXml,
}

/// One digital currency address listing, as OFAC prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The entry it belongs to.
    pub number: EntryNumber,
    /// The entry's name (`KIM, Sang Man`; in `sdn_advanced.xml` the
    /// primary name's parts as `Last, Others`).
    pub name: String,
    /// The asset tag after `Digital Currency Address - ` (`XBT`, `USDT`).
    pub tag: String,
    /// The address string exactly as listed (trimmed).
    pub raw: String,
    /// The `sdn_advanced.xml` Feature ID or the `sdn.xml` `<id><uid>`;
    /// `None` for `SDN.CSV`, which has no per-listing id.
    pub source_id: Option<u64>,
    /// The validated address, when the listing is a seed; `None` when it is
    /// in [`SdnList::skipped`].
    pub address: Option<Address>,
}

/// Why a listing did not become a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The listing is for a chain fundtrace does not trace.
    UnsupportedChain {
        /// The chain, lower case (`tron`, `monero`, `bitcoin sv`).
        chain: String,
        /// How that was decided (the tag, or the address format).
        why: String,
    },
    /// The tag names Bitcoin or Ethereum, but the string is an address of the other.
    TagMismatch {
        /// The chain the tag names.
        tag_chain: Chain,
        /// The address the string is.
        address: Address,
    },
    /// A tag fundtrace does not know, so it cannot tell which chain is meant.
    UnknownTag,
    /// Not a valid address: bad checksum, wrong length, stray characters.
    InvalidAddress {
        /// Why it was refused.
        reason: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnsupportedChain { chain, why } => {
                write!(f, "unsupported chain {chain} ({why})")
            }
            SkipReason::TagMismatch { tag_chain, address } => {
                write!(f, "tag names {tag_chain} but the string is {address}")
            }
            SkipReason::UnknownTag => f.write_str("unknown asset tag"),
            SkipReason::InvalidAddress { reason } => write!(f, "invalid address: {reason}"),
        }
    }
}

/// A listing that did not become a seed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedListing {
    /// The listing (its `address` is `None`).
    pub listing: Listing,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for SkippedListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.listing;
        write!(
            f,
            "sdn entry {} ({}): {} {:?}: {}",
            l.number, l.name, l.tag, l.raw, self.reason
        )
    }
}

/// An `SDN.CSV` entry whose remarks were cut off before their end, so that
/// addresses after the cut are missing from this file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TruncatedEntry {
    /// The entry.
    pub number: EntryNumber,
    /// Its name.
    pub name: String,
    /// The unfinished last item of the remarks as it stands
    /// (`alt. Digital Currency Address - XBT 1Gq`); empty when the cut fell
    /// right after a `;`.
    pub fragment: String,
    /// Whether the fragment is (the start of) a digital currency address
    /// listing, as opposed to other text (an alias, a passport).
    pub in_listing: bool,
}

impl fmt::Display for TruncatedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sdn entry {} ({}): remarks cut off at {:?}",
            self.number, self.name, self.fragment
        )
    }
}

/// One SDN entry that has digital currency address listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SdnEntry {
    /// The entry number.
    pub number: EntryNumber,
    /// The name as the format gives it (see [`Listing::name`]).
    pub name: String,
    /// Sanctions programs (`DPRK3`, `CYBER2`).
    pub programs: Vec<String>,
    /// Every digital currency listing of the entry, seeds and skipped alike,
    /// in document order.
    pub listings: Vec<Listing>,
}

/// A seed address with every listing that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seed {
    /// The address.
    pub address: Address,
    /// The listings (entry, tag, raw string) that name it, in document order.
    pub listings: Vec<Listing>,
}

/// The digital-currency part of an SDN list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SdnList {
    /// Which publication it was read from.
    pub format: SdnFormat,
    /// Entries that list at least one digital currency address (or whose
    /// remarks were cut inside one), in document order.
    pub entries: Vec<SdnEntry>,
    /// `SDN.CSV` entries with listings whose remarks were cut off.
    pub truncated: Vec<TruncatedEntry>,
    /// The listings that did not become seeds, with reasons.
    pub skipped: Vec<SkippedListing>,
}

/// Picks SDN entries by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntitySelector {
    /// The entry with this number.
    Number(EntryNumber),
    /// Entries whose name contains this text, compared case-insensitively with
    /// punctuation and runs of spaces folded to one space (so `kim sang man`
    /// matches `KIM, Sang Man`).
    Name(String),
}

impl EntitySelector {
    /// Selects by entry number.
    pub fn number(n: u32) -> EntitySelector {
        EntitySelector::Number(EntryNumber(n))
    }

    /// Selects by (part of) the name.
    pub fn name(text: impl Into<String>) -> EntitySelector {
        EntitySelector::Name(text.into())
    }

    /// Whether the entry is selected.
    pub fn matches(&self, entry: &SdnEntry) -> bool {
        match self {
            EntitySelector::Number(n) => entry.number == *n,
            EntitySelector::Name(q) => {
                let q = fold_name(q);
                !q.is_empty() && fold_name(&entry.name).contains(&q)
            }
        }
    }
}

impl fmt::Display for EntitySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntitySelector::Number(n) => write!(f, "{n}"),
            EntitySelector::Name(s) => f.write_str(s),
        }
    }
}

impl FromStr for EntitySelector {
    type Err = Error;
    /// All digits is an entry number, anything else a name.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.is_empty() {
            return Err(Error::Parse {
                what: "sdn selector",
                input: s.to_owned(),
                reason: "empty".into(),
            });
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let n = t.parse::<u32>().map_err(|e| Error::Parse {
                what: "sdn selector",
                input: s.to_owned(),
                reason: e.to_string(),
            })?;
            return Ok(EntitySelector::number(n));
        }
        Ok(EntitySelector::name(t))
    }
}

fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

impl SdnList {
    fn new(format: SdnFormat) -> SdnList {
        SdnList {
            format,
            entries: Vec::new(),
            truncated: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// The distinct seed addresses, each with every listing that names it,
    /// in order of first appearance.
    ///
    /// ```
    /// # let list = fundtrace::ofac::parse(b"1,\"X\",-0- ,\"P\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Digital Currency Address - ETH 0x97b1043abd9e6fc31681635166d430a458d14f9c; Digital Currency Address - USDC 0x97B1043ABD9E6FC31681635166D430A458D14F9C.\"\r\n")?;
    /// let seeds = list.seeds();
    /// assert_eq!(seeds.len(), 1);
    /// assert_eq!(seeds[0].listings.len(), 2);
    /// # Ok::<(), fundtrace::Error>(())
    /// ```
    pub fn seeds(&self) -> Vec<Seed> {
        let mut out: Vec<Seed> = Vec::new();
        let mut index: HashMap<Address, usize> = HashMap::new();
        for listing in self.entries.iter().flat_map(|e| &e.listings) {
            let Some(address) = listing.address else {
                continue;
            };
            match index.get(&address) {
                Some(&i) => out[i].listings.push(listing.clone()),
                None => {
                    index.insert(address, out.len());
                    out.push(Seed {
                        address,
                        listings: vec![listing.clone()],
                    });
                }
            }
        }
        out
    }

    /// The entry with this number, if the list has it.
    pub fn entry(&self, number: EntryNumber) -> Option<&SdnEntry> {
        self.entries.iter().find(|e| e.number == number)
    }

    /// The part of the list that the selectors pick (an entry is kept when
    /// any selector matches it), with its truncation reports and skipped
    /// listings.
    ///
    /// # Errors
    /// [`Error::Parse`] naming the first selector that matches no entry, so a
    /// mistyped name cannot silently yield no seeds.
    pub fn select(&self, selectors: &[EntitySelector]) -> Result<SdnList> {
        if let Some(s) = selectors
            .iter()
            .find(|s| !self.entries.iter().any(|e| s.matches(e)))
        {
            return Err(Error::Parse {
                what: "sdn selector",
                input: s.to_string(),
                reason: "matches no sdn entry with digital currency addresses".into(),
            });
        }
        let entries: Vec<SdnEntry> = self
            .entries
            .iter()
            .filter(|e| selectors.iter().any(|s| s.matches(e)))
            .cloned()
            .collect();
        let numbers: HashSet<EntryNumber> = entries.iter().map(|e| e.number).collect();
        Ok(SdnList {
            format: self.format,
            truncated: self
                .truncated
                .iter()
                .filter(|t| numbers.contains(&t.number))
                .cloned()
                .collect(),
            skipped: self
                .skipped
                .iter()
                .filter(|s| numbers.contains(&s.listing.number))
                .cloned()
                .collect(),
            entries,
        })
    }

    /// Adds an entry, deciding for each raw listing whether it is a seed.
    fn push_entry(
        &mut self,
        number: EntryNumber,
        name: String,
        programs: Vec<String>,
        raw: Vec<(String, String, Option<u64>)>,
    ) {
        let mut listings = Vec::with_capacity(raw.len());
        for (tag, raw, source_id) in raw {
            let mut listing = Listing {
                number,
                name: name.clone(),
                tag,
                raw,
                source_id,
                address: None,
            };
            match classify_listing(&listing.tag, &listing.raw) {
                Ok(a) => listing.address = Some(a),
                Err(reason) => self.skipped.push(SkippedListing {
                    listing: listing.clone(),
                    reason,
                }),
            }
            listings.push(listing);
        }
        self.entries.push(SdnEntry {
            number,
            name,
            programs,
            listings,
        });
    }
}

// ---------------------------------------------------------------------------
// Tags and address formats (shared with the label loaders).

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

/// The chain decision for one listing (see the module documentation).
fn classify_listing(tag: &str, raw: &str) -> std::result::Result<Address, SkipReason> {
    let format = classify_address(raw);
    match tag_kind(tag) {
        TagKind::Other(chain) => {
            let why = match &format {
                AddressFormat::Supported(a) => format!(
                    "tag {tag}; the string is also a valid {} address, not used because the \
                     listing names another chain",
                    a.chain()
                ),
                _ => format!("tag {tag}"),
            };
            Err(SkipReason::UnsupportedChain {
                chain: chain.to_owned(),
                why,
            })
        }
        TagKind::Unknown => Err(SkipReason::UnknownTag),
        kind => match format {
            AddressFormat::Invalid(reason) => Err(SkipReason::InvalidAddress { reason }),
            AddressFormat::Other(chain) => Err(SkipReason::UnsupportedChain {
                chain: chain.to_owned(),
                why: "address format".into(),
            }),
            AddressFormat::Supported(address) => match kind {
                TagKind::Native(c) if c != address.chain() => Err(SkipReason::TagMismatch {
                    tag_chain: c,
                    address,
                }),
                _ => Ok(address),
            },
        },
    }
}

// ---------------------------------------------------------------------------
// Entry points.

/// Reads an SDN list file in any of the three formats, told apart by content.
///
/// `SDN.CSV` is read whole (a few MB); the XML formats are streamed, so the
/// 120 MB `sdn_advanced.xml` needs memory only for the entries with addresses.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::InputLine`] naming the
/// file, line and (where known) entry number of malformed content;
/// [`Error::Parse`] if the content is none of the three formats.
pub fn load(path: &Path) -> Result<SdnList> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let format = detect_format(&head).ok_or_else(|| unknown_format(&head))?;
    let rest = BufReader::new(std::io::Cursor::new(head).chain(file));
    let result = match format {
        SdnFormat::Csv => {
            let mut bytes = Vec::new();
            let mut rest = rest;
            rest.read_to_end(&mut bytes)
                .map_err(|e| Error::io(path, e))?;
            parse_sdn_csv(&bytes)
        }
        SdnFormat::Xml => parse_sdn_xml(rest),
        SdnFormat::AdvancedXml => parse_sdn_advanced_xml(rest),
    };
    result.map_err(|e| name_input(e, path))
}

/// The pure part of [`load`]: detects the format of `bytes` and parses them.
///
/// # Errors
/// As [`load`], with the input named [`INPUT_NAME`].
pub fn parse(bytes: &[u8]) -> Result<SdnList> {
    match detect_format(&bytes[..bytes.len().min(SNIFF_LEN)]) {
        Some(SdnFormat::Csv) => parse_sdn_csv(bytes),
        Some(SdnFormat::Xml) => parse_sdn_xml(bytes),
        Some(SdnFormat::AdvancedXml) => parse_sdn_advanced_xml(bytes),
        None => Err(unknown_format(bytes)),
    }
}

/// Tells the format from the start of a file: XML (by its first element
/// that only one of the two XML formats has) or else CSV. `None` for XML of
/// neither kind, or an empty input.
pub fn detect_format(head: &[u8]) -> Option<SdnFormat> {
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'<' {
        return Some(SdnFormat::Csv);
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                "sdnList" | "sdnEntry" | "publshInformation" => return Some(SdnFormat::Xml),
                "Sanctions"
                | "DateOfIssue"
                | "ReferenceValueSets"
                | "FeatureType"
                | "DistinctParty"
                | "SanctionsEntry" => return Some(SdnFormat::AdvancedXml),
                _ => {}
            },
            // The head may end inside a tag: stop at the first error.
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
        buf.clear();
    }
}

fn unknown_format(head: &[u8]) -> Error {
    let start: String = String::from_utf8_lossy(&head[..head.len().min(40)]).into_owned();
    Error::Parse {
        what: "sdn list",
        input: start,
        reason: "neither SDN.CSV, sdn.xml nor sdn_advanced.xml (or empty)".into(),
    }
}

/// Replaces [`INPUT_NAME`] by the file's path in an error from a pure parser.
fn name_input(e: Error, path: &Path) -> Error {
    match e {
        Error::InputLine { line, reason, .. } => Error::InputLine {
            path: path.to_owned(),
            line,
            reason,
        },
        Error::Io { source, .. } => Error::Io {
            path: path.to_owned(),
            source,
        },
        other => other,
    }
}

fn input_error(line: usize, reason: impl Into<String>) -> Error {
    Error::InputLine {
        path: PathBuf::from(INPUT_NAME),
        line,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------
// SDN.CSV

/// Parses `SDN.CSV` bytes (the pure part of [`load`] for that format).
///
/// Tolerated: the trailing 0x1A byte, CRLF or LF line ends, a header row
/// starting `ent_num`, non-UTF-8 bytes (read as Latin-1).
///
/// # Errors
/// [`Error::InputLine`] (input named [`INPUT_NAME`]) for an empty input, a
/// file that ends inside a record (a truncated download), a row without 12
/// fields or without a numeric entry number.
pub fn parse_sdn_csv(bytes: &[u8]) -> Result<SdnList> {
    let mut data = bytes;
    while let [rest @ .., 0x1a] = data {
        data = rest;
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(input_error(1, "empty input: no sdn records"));
    }
    if !data.ends_with(b"\n") {
        let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(input_error(
            lines,
            "input ends inside a record, without a line end (truncated file?)",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut list = SdnList::new(SdnFormat::Csv);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineTracker::new(data);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e
                    .position()
                    .map_or(reader.position().byte(), csv::Position::byte);
                return Err(input_error(lines.line_at(at), format!("csv: {e}")));
            }
        }
        let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
        let field = |i: usize| record.get(i).map(decode_text).unwrap_or_default();
        let number_text = field(0);
        let number_text = number_text.trim();
        if line == 1 && number_text.eq_ignore_ascii_case("ent_num") {
            continue;
        }
        let number = number_text.parse::<u32>().map_err(|_| {
            input_error(
                line,
                format!("expected an sdn entry number, found {number_text:?}"),
            )
        })?;
        if record.len() != 12 {
            return Err(input_error(
                line,
                format!(
                    "sdn entry {number}: expected 12 fields, found {}",
                    record.len()
                ),
            ));
        }
        let name = null_to_empty(&field(1));
        let programs: Vec<String> = null_to_empty(&field(3))
            .split("] [")
            .map(|p| p.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace()))
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let remarks = null_to_empty(&field(11));
        let scan = scan_remarks(&remarks);
        let in_listing = scan.cut.as_ref().is_some_and(|c| c.1);
        if scan.listings.is_empty() && !in_listing {
            continue;
        }
        if let Some((fragment, in_listing)) = scan.cut {
            list.truncated.push(TruncatedEntry {
                number: EntryNumber(number),
                name: name.clone(),
                fragment,
                in_listing,
            });
        }
        let raw = scan
            .listings
            .into_iter()
            .map(|(tag, raw)| (tag, raw, None))
            .collect();
        list.push_entry(EntryNumber(number), name, programs, raw);
    }
    Ok(list)
}

/// Line numbers from byte offsets that only grow (the csv crate's own line
/// count lags by one after a CRLF line end).
pub(crate) struct LineTracker<'a> {
    data: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineTracker<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        LineTracker {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `at` (offsets before the last one asked give
    /// that one's line).
    pub(crate) fn line_at(&mut self, at: u64) -> usize {
        let mut at = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        // A record's position may be the LF of the CRLF before it; records
        // start after line ends (the csv reader skips empty lines).
        while self
            .data
            .get(at)
            .is_some_and(|b| *b == b'\r' || *b == b'\n')
        {
            at += 1;
        }
        if at > self.offset {
            self.line += self.data[self.offset..at]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = at;
        }
        self.line
    }
}

/// UTF-8 if it is, else Latin-1 (each byte one character).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn null_to_empty(s: &str) -> String {
    let t = s.trim();
    if t == "-0-" {
        String::new()
    } else {
        t.to_owned()
    }
}

struct RemarkScan {
    /// (tag, raw address) of each complete listing.
    listings: Vec<(String, String)>,
    /// When the remarks were cut off: the unfinished item and whether it is a listing.
    cut: Option<(String, bool)>,
}

/// Finds the digital currency listings in an `SDN.CSV` remarks field.
///
/// Items are separated by `;` and the field ends with `.`; a field that does
/// not end with `.` was cut off, and its last item is unfinished.
fn scan_remarks(remarks: &str) -> RemarkScan {
    let text = remarks.trim();
    let complete = text.ends_with('.');
    let body = if complete {
        &text[..text.len() - 1]
    } else {
        text
    };
    let mut items: Vec<&str> = body.split(';').collect();
    let cut = if complete || text.is_empty() {
        None
    } else {
        let last = items.pop().unwrap_or_default().trim();
        let rest = last.strip_prefix("alt.").unwrap_or(last).trim_start();
        let in_listing = !rest.is_empty() && (rest.starts_with(MARKER) || MARKER.starts_with(rest));
        Some((last.to_owned(), in_listing))
    };
    let mut listings = Vec::new();
    for item in items {
        let t = item.trim();
        let rest = t.strip_prefix("alt.").unwrap_or(t).trim_start();
        if let Some(after) = rest.strip_prefix(MARKER) {
            let after = after.trim();
            let (tag, raw) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            listings.push((tag.to_owned(), raw.trim().to_owned()));
        }
    }
    RemarkScan { listings, cut }
}

// ---------------------------------------------------------------------------
// XML plumbing

/// A `BufRead` that counts the lines it has handed out, so XML errors can
/// name a line.
struct LineCounter<R> {
    inner: R,
    line: usize,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line += buf[..n].iter().filter(|&&b| b == b'\n').count();
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        // `consume` follows `fill_buf`, whose buffer is still there to count.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.line += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        self.inner.consume(amt);
    }
}

/// Elements the two XML parsers look at; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum El {
    // sdn_advanced.xml
    FeatureType,
    NamePartType,
    DistinctParty,
    Profile,
    Alias,
    DocumentedName,
    NamePartValue,
    NamePartGroup,
    Feature,
    VersionDetail,
    SanctionsEntry,
    SanctionsMeasure,
    Comment,
    // sdn.xml
    SdnEntry,
    Uid,
    LastName,
    FirstName,
    ProgramList,
    Program,
    IdList,
    Id,
    IdType,
    IdNumber,
    Other,
}

impl El {
    fn of(local: &str) -> El {
        match local {
            "FeatureType" => El::FeatureType,
            "NamePartType" => El::NamePartType,
            "DistinctParty" => El::DistinctParty,
            "Profile" => El::Profile,
            "Alias" => El::Alias,
            "DocumentedName" => El::DocumentedName,
            "NamePartValue" => El::NamePartValue,
            "NamePartGroup" => El::NamePartGroup,
            "Feature" => El::Feature,
            "VersionDetail" => El::VersionDetail,
            "SanctionsEntry" => El::SanctionsEntry,
            "SanctionsMeasure" => El::SanctionsMeasure,
            "Comment" => El::Comment,
            "sdnEntry" => El::SdnEntry,
            "uid" => El::Uid,
            "lastName" => El::LastName,
            "firstName" => El::FirstName,
            "programList" => El::ProgramList,
            "program" => El::Program,
            "idList" => El::IdList,
            "id" => El::Id,
            "idType" => El::IdType,
            "idNumber" => El::IdNumber,
            _ => El::Other,
        }
    }
}

/// Streams XML events to a handler, keeping the element stack and the text
/// of the innermost element, with line numbers for errors.
struct XmlWalk<R: BufRead> {
    reader: quick_xml::Reader<LineCounter<R>>,
    stack: Vec<El>,
    text: String,
}

/// What the walk hands to a parser.
enum Step<'a> {
    Start(&'a BytesStart<'a>),
    /// The element just closed, with its (untrimmed) text.
    End(El, String),
    Eof,
}

impl<R: BufRead> XmlWalk<R> {
    fn new(inner: R) -> Self {
        let mut reader = quick_xml::Reader::from_reader(LineCounter { inner, line: 1 });
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        XmlWalk {
            reader,
            stack: Vec::new(),
            text: String::new(),
        }
    }

    fn line(&self) -> usize {
        self.reader.get_ref().line
    }

    fn error(&self, reason: impl fmt::Display) -> Error {
        input_error(
            self.line(),
            format!("xml near byte {}: {reason}", self.reader.buffer_position()),
        )
    }

    fn xml_error(&self, e: quick_xml::Error) -> Error {
        match e {
            quick_xml::Error::Io(io) => Error::Io {
                path: PathBuf::from(INPUT_NAME),
                source: std::io::Error::new(io.kind(), io.to_string()),
            },
            other => self.error(other),
        }
    }

    fn parent(&self, up: usize) -> El {
        self.stack
            .len()
            .checked_sub(up + 1)
            .and_then(|i| self.stack.get(i))
            .copied()
            .unwrap_or(El::Other)
    }

    fn push_text(&mut self, s: &str) -> Result<()> {
        if self.text.len() + s.len() > MAX_TEXT {
            return Err(self.error(format!("text longer than {MAX_TEXT} bytes")));
        }
        self.text.push_str(s);
        Ok(())
    }

    /// Calls `on` for each start and end of element, then once with `Eof`.
    fn run(mut self, mut on: impl FnMut(&Self, Step<'_>) -> Result<()>) -> Result<()> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(ev) => ev,
                Err(e) => return Err(self.xml_error(e)),
            };
            match event {
                Event::Start(e) => {
                    self.stack.push(El::of(e.local_name().as_ref()));
                    self.text.clear();
                    on(&self, Step::Start(&e))?;
                }
                Event::End(_) => {
                    let el = self.stack.pop().unwrap_or(El::Other);
                    let text = std::mem::take(&mut self.text);
                    on(&self, Step::End(el, text))?;
                }
                Event::Text(t) => {
                    self.push_text(&t.xml10_content())?;
                }
                Event::CData(t) => {
                    self.push_text(t.as_ref())?;
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            Ok(None) => String::new(),
                            Err(e) => return Err(self.error(e)),
                        }
                    } else {
                        let name: &str = r.as_ref();
                        match quick_xml::escape::resolve_predefined_entity(name) {
                            Some(s) => s.to_owned(),
                            None => return Err(self.error(format!("unknown entity &{name};"))),
                        }
                    };
                    self.push_text(&resolved)?;
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.error(format!(
                            "input ends inside an open element ({open:?}; truncated file?)"
                        )));
                    }
                    return on(&self, Step::Eof);
                }
                Event::Empty(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_) => {}
            }
        }
    }
}

fn attr_u64<R: BufRead>(walk: &XmlWalk<R>, e: &BytesStart<'_>, name: &str) -> Result<Option<u64>> {
    let attr = e
        .try_get_attribute(name)
        .map_err(|err| walk.error(format!("attribute {name}: {err}")))?;
    let Some(attr) = attr else { return Ok(None) };
    // Ids are plain digits: no entities or encodings to resolve.
    let value = &attr.value;
    value
        .trim()
        .parse::<u64>()
        .map(Some)
        .map_err(|_| walk.error(format!("attribute {name}={value:?} is not a number")))
}

fn attr_is_true<R: BufRead>(walk: &XmlWalk<R>, e: &BytesStart<'_>, name: &str) -> Result<bool> {
    let attr = e
        .try_get_attribute(name)
        .map_err(|err| walk.error(format!("attribute {name}: {err}")))?;
    Ok(attr.is_some_and(|a| a.value == "true"))
}

fn entry_number<R: BufRead>(walk: &XmlWalk<R>, n: u64) -> Result<EntryNumber> {
    u32::try_from(n)
        .map(EntryNumber)
        .map_err(|_| walk.error(format!("entry number {n} out of range")))
}

// ---------------------------------------------------------------------------
// sdn.xml

/// Parses the older `sdn.xml` format, streaming.
///
/// The entry name is `lastName, firstName` (or `lastName` alone), as in
/// `SDN.CSV`; listings come from `<idList><id>` elements whose `idType`
/// starts with `Digital Currency Address - `.
///
/// # Errors
/// [`Error::InputLine`] (input named [`INPUT_NAME`]) for malformed XML, a
/// truncated file, or an entry without a numeric `uid`; [`Error::Io`] if
/// reading fails.
pub fn parse_sdn_xml<R: BufRead>(reader: R) -> Result<SdnList> {
    #[derive(Default)]
    struct Entry {
        uid: Option<u64>,
        last: String,
        first: String,
        programs: Vec<String>,
        listings: Vec<(String, String, Option<u64>)>,
        id: (Option<u64>, String, String),
    }
    let mut list = SdnList::new(SdnFormat::Xml);
    let mut cur: Option<Entry> = None;
    XmlWalk::new(reader).run(|walk, step| {
        match step {
            Step::Start(_) => {
                let el = walk.parent(0);
                if el == El::SdnEntry {
                    cur = Some(Entry::default());
                } else if el == El::Id
                    && let Some(c) = cur.as_mut()
                {
                    c.id = (None, String::new(), String::new());
                }
            }
            Step::End(el, text) => {
                // The parent of the element that just closed is now on top.
                let parent = walk.parent(0);
                let Some(c) = cur.as_mut() else {
                    return Ok(());
                };
                let text = text.trim();
                match (el, parent) {
                    (El::Uid, El::SdnEntry) => {
                        c.uid = Some(text.parse::<u64>().map_err(|_| {
                            walk.error(format!("sdnEntry uid {text:?} is not a number"))
                        })?);
                    }
                    (El::LastName, El::SdnEntry) => c.last = text.to_owned(),
                    (El::FirstName, El::SdnEntry) => c.first = text.to_owned(),
                    (El::Program, El::ProgramList)
                        if walk.parent(1) == El::SdnEntry && !text.is_empty() =>
                    {
                        c.programs.push(text.to_owned());
                    }
                    (El::Uid, El::Id) => c.id.0 = text.parse::<u64>().ok(),
                    (El::IdType, El::Id) => c.id.1 = text.to_owned(),
                    (El::IdNumber, El::Id) => c.id.2 = text.to_owned(),
                    (El::Id, El::IdList) => {
                        let (uid, id_type, number) = std::mem::take(&mut c.id);
                        if let Some(tag) = id_type.strip_prefix(MARKER) {
                            c.listings.push((tag.trim().to_owned(), number, uid));
                        }
                    }
                    (El::SdnEntry, _) => {
                        let Some(c) = cur.take() else { return Ok(()) };
                        let uid = c.uid.ok_or_else(|| walk.error("sdnEntry without a uid"))?;
                        if !c.listings.is_empty() {
                            let name = if c.first.is_empty() {
                                c.last
                            } else {
                                format!("{}, {}", c.last, c.first)
                            };
                            list.push_entry(entry_number(walk, uid)?, name, c.programs, c.listings);
                        }
                    }
                    _ => {}
                }
            }
            Step::Eof => {}
        }
        Ok(())
    })?;
    Ok(list)
}

// ---------------------------------------------------------------------------
// sdn_advanced.xml

/// `NamePartType` values of `sdn_advanced.xml`, used when the file being read
/// does not define them (as in excerpts). The same values appear in OFAC's
/// `ReferenceValueSets/NamePartTypeValues`.
const DEFAULT_NAME_PART_TYPES: [(u64, &str); 10] = [
    (1520, "Last Name"),
    (1521, "First Name"),
    (1522, "Middle Name"),
    (1523, "Maiden Name"),
    (1524, "Aircraft Name"),
    (1525, "Entity Name"),
    (1526, "Vessel Name"),
    (1528, "Nickname"),
    (91708, "Patronymic"),
    (91709, "Matronymic"),
];

/// Parses `sdn_advanced.xml`, streaming: memory is kept only for the
/// reference values, the profile being read, and the profiles that have
/// digital currency features.
///
/// The entry number is the Profile ID; the name is built from the primary
/// alias's documented name (the `Primary Latin` one when marked) as
/// `Last, Other parts` in document order; programs are the
/// `SanctionsMeasure` comments of the profile's `SanctionsEntry`.
///
/// # Errors
/// [`Error::InputLine`] (input named [`INPUT_NAME`]) for malformed XML, a
/// truncated file or non-numeric ids; [`Error::Io`] if reading fails.
pub fn parse_sdn_advanced_xml<R: BufRead>(reader: R) -> Result<SdnList> {
    #[derive(Default)]
    struct Profile {
        id: Option<u64>,
        primary_alias: bool,
        /// (DocNameStatusID, [(NamePartGroupID, text)]) of the primary alias's names.
        names: Vec<DocumentedName>,
        group_types: HashMap<u64, u64>,
        /// (FeatureTypeID, feature id, VersionDetail texts).
        features: Vec<(u64, u64, Vec<String>)>,
        feature: Option<(u64, u64, Vec<String>)>,
    }
    struct Kept {
        number: EntryNumber,
        name: String,
        /// (FeatureTypeID, feature id, address text).
        features: Vec<(u64, u64, String)>,
    }

    let mut dc_types: HashMap<u64, String> = HashMap::new();
    let mut part_types: HashMap<u64, String> = HashMap::new();
    let mut pending_type: Option<u64> = None;
    let mut profile: Option<Profile> = None;
    let mut kept: Vec<Kept> = Vec::new();
    let mut kept_index: HashMap<EntryNumber, usize> = HashMap::new();
    let mut programs: HashMap<EntryNumber, Vec<String>> = HashMap::new();
    let mut sanctions_entry: Option<EntryNumber> = None;
    let mut parties_seen = false;

    XmlWalk::new(reader).run(|walk, step| {
        match step {
            Step::Start(e) => match walk.parent(0) {
                El::FeatureType | El::NamePartType => pending_type = attr_u64(walk, e, "ID")?,
                El::DistinctParty => profile = Some(Profile::default()),
                El::Profile => {
                    if let Some(p) = profile.as_mut() {
                        p.id = attr_u64(walk, e, "ID")?;
                    }
                }
                El::Alias => {
                    if let Some(p) = profile.as_mut() {
                        p.primary_alias = attr_is_true(walk, e, "Primary")?;
                    }
                }
                El::DocumentedName => {
                    let status = attr_u64(walk, e, "DocNameStatusID")?;
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias) {
                        p.names.push((status, Vec::new()));
                    }
                }
                El::NamePartValue => {
                    let group = attr_u64(walk, e, "NamePartGroupID")?;
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias)
                        && let Some(n) = p.names.last_mut()
                    {
                        n.1.push((group, String::new()));
                    }
                }
                El::NamePartGroup => {
                    let id = attr_u64(walk, e, "ID")?;
                    let ty = attr_u64(walk, e, "NamePartTypeID")?;
                    if let (Some(p), Some(id), Some(ty)) = (profile.as_mut(), id, ty) {
                        p.group_types.insert(id, ty);
                    }
                }
                El::Feature => {
                    let id = attr_u64(walk, e, "ID")?.unwrap_or(0);
                    let ty = attr_u64(walk, e, "FeatureTypeID")?;
                    if let (Some(p), Some(ty)) = (profile.as_mut(), ty) {
                        p.feature = Some((ty, id, Vec::new()));
                    }
                }
                El::SanctionsEntry => {
                    sanctions_entry = match attr_u64(walk, e, "ProfileID")? {
                        Some(n) => Some(entry_number(walk, n)?),
                        None => None,
                    };
                }
                _ => {}
            },
            Step::End(el, text) => match el {
                El::FeatureType | El::NamePartType => {
                    if let Some(id) = pending_type.take() {
                        let text = text.trim();
                        if el == El::NamePartType {
                            part_types.insert(id, text.to_owned());
                        } else if let Some(tag) = text.strip_prefix(MARKER) {
                            dc_types.insert(id, tag.trim().to_owned());
                        }
                    }
                }
                El::NamePartValue => {
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias)
                        && let Some((_, parts)) = p.names.last_mut()
                        && let Some(part) = parts.last_mut()
                    {
                        part.1 = text.trim().to_owned();
                    }
                }
                El::Alias => {
                    if let Some(p) = profile.as_mut() {
                        p.primary_alias = false;
                    }
                }
                El::VersionDetail => {
                    if let Some((_, _, values)) = profile.as_mut().and_then(|p| p.feature.as_mut())
                    {
                        let t = text.trim();
                        if !t.is_empty() {
                            values.push(t.to_owned());
                        }
                    }
                }
                El::Feature => {
                    if let Some(p) = profile.as_mut()
                        && let Some(f) = p.feature.take()
                        && !f.2.is_empty()
                        // Before the FeatureType definitions are known every
                        // feature with text is kept, to be resolved at the end.
                        && (dc_types.is_empty() || dc_types.contains_key(&f.0))
                    {
                        p.features.push(f);
                    }
                }
                El::DistinctParty => {
                    parties_seen = true;
                    let Some(p) = profile.take() else {
                        return Ok(());
                    };
                    if p.features.is_empty() {
                        return Ok(());
                    }
                    let id =
                        p.id.ok_or_else(|| walk.error("DistinctParty without a Profile ID"))?;
                    let number = entry_number(walk, id)?;
                    let name = profile_name(&p.names, &p.group_types, &part_types);
                    let features = p
                        .features
                        .into_iter()
                        .flat_map(|(ty, fid, values)| values.into_iter().map(move |v| (ty, fid, v)))
                        .collect();
                    kept_index.insert(number, kept.len());
                    kept.push(Kept {
                        number,
                        name,
                        features,
                    });
                }
                El::Comment if walk.parent(0) == El::SanctionsMeasure => {
                    if let Some(n) = sanctions_entry {
                        let t = text.trim();
                        // After the parties, only the kept ones matter.
                        if !t.is_empty() && (!parties_seen || kept_index.contains_key(&n)) {
                            programs.entry(n).or_default().push(t.to_owned());
                        }
                    }
                }
                El::SanctionsEntry => sanctions_entry = None,
                _ => {}
            },
            Step::Eof => {}
        }
        Ok(())
    })?;

    let mut list = SdnList::new(SdnFormat::AdvancedXml);
    for k in kept {
        let raw: Vec<(String, String, Option<u64>)> = k
            .features
            .into_iter()
            .filter_map(|(ty, fid, value)| {
                dc_types.get(&ty).map(|tag| (tag.clone(), value, Some(fid)))
            })
            .collect();
        if raw.is_empty() {
            continue;
        }
        let progs = programs.remove(&k.number).unwrap_or_default();
        list.push_entry(k.number, k.name, progs, raw);
    }
    Ok(list)
}

/// A documented name: its DocNameStatusID and its (NamePartGroupID, text) parts.
type DocumentedName = (Option<u64>, Vec<(Option<u64>, String)>);

/// `Last, Other parts` from the primary alias's documented names: the one
/// with DocNameStatusID 1 (`Primary Latin`) if any, else the first.
fn profile_name(
    names: &[DocumentedName],
    group_types: &HashMap<u64, u64>,
    part_types: &HashMap<u64, String>,
) -> String {
    let Some((_, parts)) = names
        .iter()
        .find(|(status, _)| *status == Some(1))
        .or_else(|| names.first())
    else {
        return String::new();
    };
    let type_name = |group: Option<u64>| -> Option<&str> {
        let ty = group_types.get(&group?)?;
        part_types.get(ty).map(String::as_str).or_else(|| {
            DEFAULT_NAME_PART_TYPES
                .iter()
                .find(|(id, _)| id == ty)
                .map(|(_, n)| *n)
        })
    };
    let last: Vec<&str> = parts
        .iter()
        .filter(|(g, _)| type_name(*g) == Some("Last Name"))
        .map(|(_, t)| t.as_str())
        .collect();
    let others: Vec<&str> = parts
        .iter()
        .filter(|(g, _)| type_name(*g) != Some("Last Name"))
        .map(|(_, t)| t.as_str())
        .collect();
    if last.is_empty() {
        others.join(" ")
    } else if others.is_empty() {
        last.join(" ")
    } else {
        format!("{}, {}", last.join(" "), others.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u32, name: &str, programs: &str, remarks: &str) -> String {
        format!(
            "{number},\"{name}\",\"individual\",\"{programs}\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"{remarks}\"\r\n"
        )
    }

    #[test]
    fn remarks_listings_and_cuts() {
        let s = scan_remarks(
            "DOB 1965; Digital Currency Address - XBT 1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ; alt. Digital Currency Address - ETH 0xab.",
        );
        assert_eq!(s.listings.len(), 2);
        assert_eq!(s.listings[1], ("ETH".into(), "0xab".into()));
        assert!(s.cut.is_none());

        let s = scan_remarks(
            "Digital Currency Address - XBT 1abc; alt. Digital Currency Address - XBT 1Gq",
        );
        assert_eq!(s.listings.len(), 1);
        assert_eq!(
            s.cut,
            Some(("alt. Digital Currency Address - XBT 1Gq".into(), true))
        );
        assert!(scan_remarks("x; alt. Digital Currency A").cut.unwrap().1);
        assert!(
            scan_remarks("x; Digital Currency Address - XBT ")
                .cut
                .unwrap()
                .1
        );
        assert!(!scan_remarks("x; a.k.a. 'WHOIS HACKIN").cut.unwrap().1);
        assert_eq!(scan_remarks("x;").cut, Some((String::new(), false)));
    }

    #[test]
    fn tags_and_formats() {
        let eth = "0x97b1043abd9e6fc31681635166d430a458d14f9c";
        assert!(classify_listing("USDT", eth).is_ok());
        assert!(classify_listing("USDT", "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ").is_ok());
        assert!(matches!(
            classify_listing("USDT", "TYxwUhoLPF7AgfG9GaXFEp8CQi8K8KG1m3"),
            Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "tron"
        ));
        assert!(matches!(
            classify_listing("XBT", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"),
            Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "tron"
        ));
        assert!(matches!(
            classify_listing("ARB", eth),
            Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "arbitrum"
        ));
        assert!(matches!(
            classify_listing("XBT", eth),
            Err(SkipReason::TagMismatch {
                tag_chain: Chain::Bitcoin,
                ..
            })
        ));
        assert!(matches!(
            classify_listing("XBT", "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfK"),
            Err(SkipReason::InvalidAddress { .. })
        ));
        assert_eq!(classify_listing("FOO", eth), Err(SkipReason::UnknownTag));
        for (s, chain) in [
            ("LgwmgYnraU2uBWHVFUDgAmFCPYj5Yw8C9L", "litecoin"),
            ("XyARKoupuArYtToA2S6yMdnoquDCDaBsaT", "dash"),
            ("t1g7wowvQ8gn2v8jrU1biyJ26sieNqNsBJy", "zcash"),
            ("rnXyVQzgxZe7TR1EPzTkGj2jxH4LMJYh66", "xrp ledger"),
            ("qzjv8hrdvz6edu4gkzpnd4w6jc7zf296g5e9kkq4lx", "bitcoin cash"),
            ("42RLPACwZPx3vYYmxSueqsogfynBDqXK298EDsNoyoHi", "solana"),
        ] {
            assert_eq!(classify_address(s), AddressFormat::Other(chain), "{s}");
        }
        for s in [
            "coinbase",
            "script-0000000000000000000000000000000000000000",
            "bitcoin:1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
        ] {
            assert!(
                matches!(classify_address(s), AddressFormat::Invalid(_)),
                "{s}"
            );
        }
    }

    #[test]
    fn csv_rows_become_entries() {
        let text = row(
            7,
            "X, Y",
            "DPRK3] [CYBER2",
            "Digital Currency Address - ETH 0x97b1043abd9e6fc31681635166d430a458d14f9c; Digital Currency Address - USDC 0x97b1043abd9e6fc31681635166d430a458d14f9c.",
        ) + &row(8, "NO CRYPTO", "SDGT", "Passport 1.");
        let list = parse_sdn_csv(format!("{text}\x1a").as_bytes()).unwrap();
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.entries[0].programs, ["DPRK3", "CYBER2"]);
        assert_eq!(list.seeds().len(), 1);
        assert!(list.select(&[EntitySelector::number(8)]).is_err());
    }

    #[test]
    fn csv_errors_name_the_line() {
        let good = row(
            7,
            "X",
            "P",
            "Digital Currency Address - XBT 1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ.",
        );
        let e = parse_sdn_csv(format!("{good}8,\"short\"\r\n").as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .contains(":2: sdn entry 8: expected 12 fields"),
            "{e}"
        );
        let e = parse_sdn_csv(&good.as_bytes()[..good.len() - 10]).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(parse_sdn_csv(b"").is_err());
        assert!(parse_sdn_csv(b"x,y\r\n").is_err());
    }

    #[test]
    fn names_and_selectors() {
        assert_eq!(fold_name("KIM, Sang  Man"), "kim sang man");
        let sel: EntitySelector = "43377".parse().unwrap();
        assert_eq!(sel, EntitySelector::number(43377));
        let sel: EntitySelector = "KIM, Sang Man".parse().unwrap();
        assert_eq!(sel, EntitySelector::name("KIM, Sang Man"));
        assert!("  ".parse::<EntitySelector>().is_err());
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(detect_format(b"123,\"x\""), Some(SdnFormat::Csv));
        assert_eq!(
            detect_format(b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<sdnList xmlns=\"x\">"),
            Some(SdnFormat::Xml)
        );
        assert_eq!(
            detect_format(b"<?xml version=\"1.0\"?><Sanctions><DateOfIssue>"),
            Some(SdnFormat::AdvancedXml)
        );
        assert_eq!(detect_format(b"<html><body>"), None);
        assert_eq!(detect_format(b"   "), None);
    }

    #[test]
    fn line_counter_counts_consumed_lines() {
        let mut r = LineCounter {
            inner: &b"a\nb\nc"[..],
            line: 1,
        };
        let mut s = String::new();
        r.read_line(&mut s).unwrap();
        r.read_line(&mut s).unwrap();
        assert_eq!(r.line, 3);
    }
}
