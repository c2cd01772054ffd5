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
//! use fundtrace::seeds::ofac::{self, EntitySelector};
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
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use quick_xml::events::Event;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::classify::{AddressFormat, TagKind, classify_address, tag_kind};
use crate::types::{Address, Chain};

mod advanced;
mod csv;
mod xml;

pub use advanced::parse_sdn_advanced_xml;
pub use csv::parse_sdn_csv;
pub use xml::parse_sdn_xml;

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
    /// # let list = fundtrace::seeds::ofac::parse(b"1,\"X\",-0- ,\"P\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Digital Currency Address - ETH 0x97b1043abd9e6fc31681635166d430a458d14f9c; Digital Currency Address - USDC 0x97B1043ABD9E6FC31681635166D430A458D14F9C.\"\r\n")?;
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
                "Sanctions" | "DateOfIssue" | "ReferenceValueSets" | "FeatureType"
                | "DistinctParty" | "SanctionsEntry" => return Some(SdnFormat::AdvancedXml),
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

#[cfg(test)]
mod tests;
