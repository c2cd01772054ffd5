//! Exchange and threat labels: which addresses belong to an exchange, a
//! mixer, a sanctioned party, a scam or an exploit, and who says so.
//!
//! [`LabelSet::load`] reads one file and tells its format from its extension
//! and header ([`LabelFormat`]):
//! * GraphSense tag packs (YAML): header fields (`label`, `category`,
//!   `actor`, `currency`, `network`, `abuse`) apply to every tag unless the
//!   tag sets its own;
//! * label CSVs with the columns `chain,address,label,category` (`chain` may
//!   be empty: the address format decides);
//! * the Etherscan exchange exports (`chain,address,name_tag,label` and
//!   `chain,address,name_tag,all_labels,matched_exchange_labels`);
//! * the Forta Ethereum lists (malicious labels, malicious smart contracts
//!   and their deployers, phishing scams).
//!
//! Every [`Label`] keeps its source: file name and line (CSV) or tag index
//! (YAML). Categories are normalised to [`Category`]; exchange and actor
//! names to a lower-case key (`binance`, `okx`) so that sources agree.
//!
//! # Chains
//! The address's own format decides the chain; the stated currency or chain
//! can only veto it. A `BTC`-labelled `0x…` address is skipped as a
//! mismatch; addresses of chains fundtrace does not trace (Tron, BNB Smart
//! Chain, Arbitrum, an unknown currency, …) are skipped as unsupported, even
//! when the string is also in Ethereum or Bitcoin format, because the label
//! is about the other chain. Nothing is dropped silently: each file's
//! [`FileReport`] counts the records loaded and lists the skipped ones with
//! their reason. Malformed files (bad YAML, unknown CSV header) are errors.
//!
//! # Example
//! ```
//! use fundtrace::{Address, Category, LabelSet};
//! let csv = "chain,address,label,category\n\
//!            ethereum,0xbe0eb53f46cd790cd13851d5eff43d12404d33e8,Binance 7,exchange\n\
//!            tron,TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY,KuCoin,exchange\n";
//! let set = LabelSet::parse("mine.csv", csv.as_bytes())?;
//! let a: Address = "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8".parse()?;
//! assert_eq!(set.get(&a)[0].category, Category::Exchange);
//! assert_eq!(set.exchanges()["binance"], vec![a]);
//! assert_eq!(set.reports()[0].unsupported(), 1);
//! # Ok::<(), fundtrace::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::input::LineTracker;
use crate::types::Address;
use crate::types::classify::{AddressFormat, TagKind, classify_address, tag_kind};

/// What a label says an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Category {
    /// A centralised exchange (hot, cold or deposit wallet, OTC desk, instant swapper).
    Exchange,
    /// A mixer or tumbler.
    Mixer,
    /// Sanctioned (OFAC and the like).
    Sanctioned,
    /// Scam or phishing.
    Scam,
    /// Exploit or heist: the attacker, their contracts, or stolen funds.
    Exploit,
    /// Another service: wallets, payment processors, lenders, DeFi.
    Service,
    /// Gambling.
    Gambling,
    /// Miner or mining pool.
    Miner,
    /// Market (darknet markets and other marketplaces).
    Market,
    /// Anything else (including blacklists that are not sanctions).
    Other,
}

impl Category {
    /// The lower-case name (`exchange`, `mixer`, …).
    pub fn name(self) -> &'static str {
        match self {
            Category::Exchange => "exchange",
            Category::Mixer => "mixer",
            Category::Sanctioned => "sanctioned",
            Category::Scam => "scam",
            Category::Exploit => "exploit",
            Category::Service => "service",
            Category::Gambling => "gambling",
            Category::Miner => "miner",
            Category::Market => "market",
            Category::Other => "other",
        }
    }

    /// Maps a category as the sources write it (`mixing_service`,
    /// `phish-hack`, `heist`, `wallet_service`, …; case, `-` and spaces do not
    /// matter). A `;`- or `,`-separated list maps to its first item that is
    /// not [`Category::Other`].
    ///
    /// ```
    /// use fundtrace::Category;
    /// assert_eq!(Category::from_raw("mixing_service"), Category::Mixer);
    /// assert_eq!(Category::from_raw("Phish-Hack"), Category::Scam);
    /// assert_eq!(Category::from_raw("user;heist"), Category::Exploit);
    /// assert_eq!(Category::from_raw("black_list"), Category::Other);
    /// ```
    pub fn from_raw(raw: &str) -> Category {
        raw.split([';', ','])
            .map(Category::from_one)
            .find(|c| *c != Category::Other)
            .unwrap_or(Category::Other)
    }

    fn from_one(raw: &str) -> Category {
        let key: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        match key.as_str() {
            "exchange"
            | "exchanges"
            | "exchange_hot_wallet"
            | "exchange_cold_wallet"
            | "hot_wallet"
            | "cold_wallet"
            | "otc"
            | "otc_broker"
            | "otc_desk"
            | "fiat_gateway"
            | "exchange_deposit"
            | "instant_exchange" => Category::Exchange,
            "mixing_service" | "mixer" | "mixing" | "coinjoin" | "tumbler" => Category::Mixer,
            "sanction" | "sanctions" | "sanctioned" | "ofac" | "sdn" => Category::Sanctioned,
            "scam" | "phishing" | "phish" | "phish_hack" | "fraud" | "ponzi_scheme" | "ponzi" => {
                Category::Scam
            }
            "exploit" | "exploiter" | "heist" | "hack" | "hacker" | "theft" | "stolen_funds" => {
                Category::Exploit
            }
            "service" | "wallet_service" | "payment_processor" | "defi" | "defi_dex"
            | "defi_lending" | "bridge" | "dex" | "lending" | "custodian" => Category::Service,
            "gambling" | "casino" | "betting" => Category::Gambling,
            "miner" | "mining_service" | "mining_pool" | "mining" | "pool" => Category::Miner,
            "market" | "darknet_market" | "darkweb" | "marketplace" => Category::Market,
            _ => Category::Other,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The file formats [`LabelSet`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LabelFormat {
    /// A GraphSense tag pack (YAML).
    TagPack,
    /// A CSV with `address`, `label` and optionally `chain`, `category`
    /// (and `entity` or `exchange`) columns.
    LabelCsv,
    /// Etherscan accounts with `chain,address,name_tag,all_labels,matched_exchange_labels`.
    EtherscanAccounts,
    /// Etherscan labels with `chain,address,name_tag,label`, one label per row.
    EtherscanLabels,
    /// Forta `etherscan_malicious_labels.csv`: `banned_address,wallet_tag,data_source`.
    FortaMaliciousLabels,
    /// Forta `malicious_smart_contracts.csv`: the contract and its deployer each get a label.
    FortaMaliciousContracts,
    /// Forta `phishing_scams.csv`: `address,etherscan_tag,etherscan_labels,is_contract`.
    FortaPhishing,
}

/// Where in its file a label or a skipped record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceLocation {
    /// 1-based line of a CSV record (the header is line 1).
    Line(usize),
    /// 0-based index in a tag pack's `tags` list.
    Tag(usize),
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceLocation::Line(n) => write!(f, "line {n}"),
            SourceLocation::Tag(n) => write!(f, "tag {n}"),
        }
    }
}

/// One label on one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// The address.
    pub address: Address,
    /// The normalised category.
    pub category: Category,
    /// The normalised name of the exchange or actor (`binance`, `okx`,
    /// `tornado`): from the source's actor id or exchange slug where it has
    /// one, else (for exchanges) from the label text, lower case with
    /// punctuation, numbering and words like `hot wallet` removed.
    pub entity: Option<String>,
    /// The label text as the source writes it (`Binance 14`).
    pub text: String,
    /// The category (and for Etherscan exports the label slugs) as written.
    pub raw_category: String,
    /// The file name it came from.
    pub file: String,
    /// Where in that file.
    pub location: SourceLocation,
}

/// Why a record did not become a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LabelSkip {
    /// A chain fundtrace does not trace, from the stated currency/chain or
    /// the address format.
    UnsupportedChain {
        /// The chain, lower case.
        chain: String,
    },
    /// A currency or chain code fundtrace does not know.
    UnknownCurrency {
        /// The code as written.
        code: String,
    },
    /// The stated currency names Bitcoin or Ethereum, the address is the other's.
    Mismatch {
        /// The currency or chain as written.
        stated: String,
        /// The address the string is.
        address: Address,
    },
    /// Not a valid address (bad checksum, wrong length, empty).
    InvalidAddress {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for LabelSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelSkip::UnsupportedChain { chain } => write!(f, "unsupported chain {chain}"),
            LabelSkip::UnknownCurrency { code } => write!(f, "unknown currency {code:?}"),
            LabelSkip::Mismatch { stated, address } => {
                write!(f, "stated currency {stated} but the string is {address}")
            }
            LabelSkip::InvalidAddress { reason } => write!(f, "invalid address: {reason}"),
        }
    }
}

/// A record that did not become a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedLabel {
    /// Where in the file.
    pub location: SourceLocation,
    /// The address string as written.
    pub raw: String,
    /// Why it was skipped.
    pub reason: LabelSkip,
}

/// What loading one file gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The file name.
    pub file: String,
    /// Its format.
    pub format: LabelFormat,
    /// Address records read (tags; CSV rows, or two per Forta contract row
    /// with a deployer). Always `loaded + skipped.len()`.
    pub records: usize,
    /// Records that became labels.
    pub loaded: usize,
    /// Records that did not, with reasons.
    pub skipped: Vec<SkippedLabel>,
}

impl FileReport {
    /// Skipped because the chain is not one fundtrace traces (or an unknown currency).
    pub fn unsupported(&self) -> usize {
        self.count(|r| {
            matches!(
                r,
                LabelSkip::UnsupportedChain { .. } | LabelSkip::UnknownCurrency { .. }
            )
        })
    }

    /// Skipped because the stated currency contradicts the address format.
    pub fn mismatched(&self) -> usize {
        self.count(|r| matches!(r, LabelSkip::Mismatch { .. }))
    }

    /// Skipped because the address is invalid.
    pub fn invalid(&self) -> usize {
        self.count(|r| matches!(r, LabelSkip::InvalidAddress { .. }))
    }

    fn count(&self, f: impl Fn(&LabelSkip) -> bool) -> usize {
        self.skipped.iter().filter(|s| f(&s.reason)).count()
    }
}

/// Labels from any number of files, looked up by address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelSet {
    labels: BTreeMap<Address, Vec<Label>>,
    reports: Vec<FileReport>,
}

impl LabelSet {
    /// An empty set.
    pub fn new() -> LabelSet {
        LabelSet::default()
    }

    /// Reads one label file; the format comes from [`LabelFormat`] detection
    /// on its name and content. Labels record the file's name (not its path).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::InputLine`] naming
    /// the file and line for malformed YAML or CSV, an unknown CSV header, or
    /// a GraphSense actor pack (which labels no addresses).
    pub fn load(path: &Path) -> Result<LabelSet> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        LabelSet::parse(&name, &bytes).map_err(|e| match e {
            Error::InputLine { line, reason, .. } => Error::InputLine {
                path: path.to_owned(),
                line,
                reason,
            },
            other => other,
        })
    }

    /// The pure part of [`load`](Self::load): `name` is the file name used
    /// for detection, provenance and errors.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<LabelSet> {
        let format = LabelSet::detect_format(name, bytes)?;
        LabelSet::parse_as(name, bytes, format)
    }

    /// Tells the format: YAML by extension (`.yaml`, `.yml`) or, without a
    /// known extension, by a first line that looks like `key: value`; CSV
    /// formats by their header's column names.
    ///
    /// # Errors
    /// [`Error::InputLine`] for a CSV header that matches no format.
    pub fn detect_format(name: &str, bytes: &[u8]) -> Result<LabelFormat> {
        let lower = name.to_ascii_lowercase();
        let first = String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default()
            .to_owned();
        let yamlish = !first.contains(',') && first.contains(':');
        if lower.ends_with(".yaml")
            || lower.ends_with(".yml")
            || (!lower.ends_with(".csv") && yamlish)
        {
            return Ok(LabelFormat::TagPack);
        }
        let header = csv_header(name, bytes)?;
        let has = |c: &str| header.iter().any(|h| h == c);
        let format = if has("banned_address") {
            LabelFormat::FortaMaliciousLabels
        } else if has("contract_address") && has("contract_creator") {
            LabelFormat::FortaMaliciousContracts
        } else if has("address") && has("etherscan_labels") {
            LabelFormat::FortaPhishing
        } else if has("address") && has("name_tag") && has("matched_exchange_labels") {
            LabelFormat::EtherscanAccounts
        } else if has("address") && has("name_tag") && has("label") {
            LabelFormat::EtherscanLabels
        } else if has("address") && has("label") {
            LabelFormat::LabelCsv
        } else {
            return Err(line_error(
                name,
                1,
                format!(
                    "unrecognised label csv header {:?} (expected e.g. chain,address,label,category)",
                    header.join(",")
                ),
            ));
        };
        Ok(format)
    }

    /// Parses `bytes` as the given format.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn parse_as(name: &str, bytes: &[u8], format: LabelFormat) -> Result<LabelSet> {
        let mut out = Loader::new(name, format);
        match format {
            LabelFormat::TagPack => out.tag_pack(bytes)?,
            _ => out.csv(bytes)?,
        }
        Ok(out.finish())
    }

    /// Adds another set's labels and reports to this one.
    pub fn merge(&mut self, other: LabelSet) {
        for (address, labels) in other.labels {
            self.labels.entry(address).or_default().extend(labels);
        }
        self.reports.extend(other.reports);
    }

    /// The labels on an address (empty if none), in load order.
    pub fn get(&self, address: &Address) -> &[Label] {
        self.labels.get(address).map_or(&[], Vec::as_slice)
    }

    /// Exchange name (normalised, e.g. `binance`, `okx`) → its labelled
    /// addresses, sorted and distinct. Only labels with category
    /// [`Category::Exchange`] and a known name count; an address labelled
    /// with two exchanges is listed under both.
    pub fn exchanges(&self) -> BTreeMap<String, Vec<Address>> {
        let mut map: BTreeMap<String, BTreeSet<Address>> = BTreeMap::new();
        for label in self.iter() {
            if label.category == Category::Exchange
                && let Some(entity) = &label.entity
            {
                map.entry(entity.clone()).or_default().insert(label.address);
            }
        }
        map.into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect()
    }

    /// The distinct addresses with at least one label of the category, sorted.
    pub fn addresses_in(&self, category: Category) -> Vec<Address> {
        self.labels
            .iter()
            .filter(|(_, ls)| ls.iter().any(|l| l.category == category))
            .map(|(a, _)| *a)
            .collect()
    }

    /// Every label, by address then load order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.values().flatten()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.labels.values().map(Vec::len).sum()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// One report per file loaded, in load order.
    pub fn reports(&self) -> &[FileReport] {
        &self.reports
    }
}

fn line_error(name: &str, line: usize, reason: impl Into<String>) -> Error {
    Error::InputLine {
        path: PathBuf::from(name),
        line,
        reason: reason.into(),
    }
}

fn csv_header(name: &str, bytes: &[u8]) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| line_error(name, 1, format!("csv header: {e}")))?;
    Ok(header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_ascii_lowercase()
        })
        .collect())
}

/// Decides the address of a record: the format decides, a stated currency
/// or chain may only veto (see the module documentation).
fn resolve(stated: Option<&str>, raw: &str) -> std::result::Result<Address, LabelSkip> {
    let stated = stated.map(str::trim).filter(|s| !s.is_empty());
    let kind = stated.map(tag_kind);
    match kind {
        Some(TagKind::Other(chain)) => {
            return Err(LabelSkip::UnsupportedChain {
                chain: chain.to_owned(),
            });
        }
        Some(TagKind::Unknown) => {
            return Err(LabelSkip::UnknownCurrency {
                code: stated.unwrap_or_default().to_owned(),
            });
        }
        _ => {}
    }
    match classify_address(raw) {
        AddressFormat::Invalid(reason) => Err(LabelSkip::InvalidAddress { reason }),
        AddressFormat::Other(chain) => Err(LabelSkip::UnsupportedChain {
            chain: chain.to_owned(),
        }),
        AddressFormat::Supported(address) => match kind {
            Some(TagKind::Native(c)) if c != address.chain() => Err(LabelSkip::Mismatch {
                stated: stated.unwrap_or_default().to_owned(),
                address,
            }),
            _ => Ok(address),
        },
    }
}

/// Exchange and actor names that sources spell differently, after
/// [`canonical_entity`]'s folding: alias → name used here.
const ENTITY_ALIASES: [(&str, &str); 6] = [
    ("okex", "okx"),
    ("htx", "huobi"),
    ("huobiglobal", "huobi"),
    ("tornadocash", "tornado"),
    ("mexccom", "mexc"),
    ("cryptocomexchange", "cryptocom"),
];

/// Lower case, ASCII letters and digits only, then [`ENTITY_ALIASES`]
/// (`Crypto.com`, `crypto-com` and `cryptocom` all give `cryptocom`).
fn canonical_entity(s: &str) -> Option<String> {
    let key: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if key.is_empty() {
        return None;
    }
    Some(
        ENTITY_ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map_or(key, |(_, name)| (*name).to_owned()),
    )
}

/// Words that number or describe an exchange's wallets rather than name it.
const WALLET_WORDS: [&str; 14] = [
    "hot", "cold", "warm", "old", "wallet", "wallets", "deposit", "deposits", "funder", "exchange",
    "reserve", "reserves", "address", "account",
];

/// The exchange named by a label text: `Binance: Hot Wallet 3`,
/// `Binance Hot Wallet 10` and `Binance 14` all give `binance`.
fn entity_from_text(text: &str) -> Option<String> {
    let base = text.split(':').next().unwrap_or_default();
    let base = base.split('(').next().unwrap_or_default();
    let mut words: Vec<&str> = base.split_whitespace().collect();
    while words.len() > 1
        && words.last().is_some_and(|w| {
            w.bytes().all(|b| b.is_ascii_digit())
                || WALLET_WORDS.contains(&w.to_lowercase().as_str())
        })
    {
        words.pop();
    }
    canonical_entity(&words.join(" "))
}

/// Etherscan label slugs that describe a wallet, not which exchange it is.
const GENERIC_SLUGS: [&str; 6] = [
    "exchange",
    "hot-wallet",
    "cold-wallet",
    "otc",
    "fiat-gateway",
    "deposit",
];

/// Lenders in the Etherscan exchange set: services, not exchanges.
const LENDER_SLUGS: [&str; 3] = ["nexo", "blockfi", "celsius-network"];

/// A string field of a tag pack: YAML scalars of any type, as text.
#[derive(Debug, Clone, Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a tag pack header or tag that labels use; others are ignored.
#[derive(Debug, Default, Deserialize)]
struct TagFields {
    address: Option<Text>,
    label: Option<Text>,
    category: Option<Text>,
    abuse: Option<Text>,
    actor: Option<Text>,
    currency: Option<Text>,
    network: Option<Text>,
}

#[derive(Debug, Deserialize)]
struct TagPackDoc {
    #[serde(flatten)]
    header: TagFields,
    tags: Option<Vec<TagFields>>,
    actors: Option<serde::de::IgnoredAny>,
}

fn text(v: &Option<Text>) -> Option<&str> {
    v.as_ref().map(|t| t.0.trim()).filter(|s| !s.is_empty())
}

struct Loader {
    set: LabelSet,
    report: FileReport,
}

impl Loader {
    fn new(name: &str, format: LabelFormat) -> Loader {
        Loader {
            set: LabelSet::new(),
            report: FileReport {
                file: name.to_owned(),
                format,
                records: 0,
                loaded: 0,
                skipped: Vec::new(),
            },
        }
    }

    fn finish(mut self) -> LabelSet {
        self.set.reports.push(self.report);
        self.set
    }

    /// Records one address record: a label, or a skip with its reason.
    #[allow(clippy::too_many_arguments)] // one call per source format; a struct would only rename them
    fn record(
        &mut self,
        location: SourceLocation,
        stated: Option<&str>,
        raw: &str,
        category: Category,
        entity: Option<String>,
        text: &str,
        raw_category: &str,
    ) {
        self.report.records += 1;
        match resolve(stated, raw) {
            Ok(address) => {
                self.report.loaded += 1;
                self.set.labels.entry(address).or_default().push(Label {
                    address,
                    category,
                    entity,
                    text: text.to_owned(),
                    raw_category: raw_category.to_owned(),
                    file: self.report.file.clone(),
                    location,
                });
            }
            Err(reason) => self.report.skipped.push(SkippedLabel {
                location,
                raw: raw.trim().to_owned(),
                reason,
            }),
        }
    }

    fn tag_pack(&mut self, bytes: &[u8]) -> Result<()> {
        let name = self.report.file.clone();
        let doc: TagPackDoc = yaml_serde::from_slice(bytes).map_err(|e| {
            let line = e.location().map_or(1, |l| l.line());
            line_error(&name, line, format!("yaml: {e}"))
        })?;
        let Some(tags) = doc.tags else {
            let reason = if doc.actors.is_some() {
                "a graphsense actor pack, not a tag pack: it labels no addresses"
            } else {
                "yaml without a `tags` list: not a graphsense tag pack"
            };
            return Err(line_error(&name, 1, reason));
        };
        let h = &doc.header;
        for (i, tag) in tags.iter().enumerate() {
            let pick =
                |t: &Option<Text>, h: &Option<Text>| text(t).or_else(|| text(h)).map(str::to_owned);
            let label = pick(&tag.label, &h.label).unwrap_or_default();
            let category_raw = pick(&tag.category, &h.category).unwrap_or_default();
            let abuse = pick(&tag.abuse, &h.abuse);
            let actor = pick(&tag.actor, &h.actor);
            // A tag's own network or currency wins over the header's.
            let stated = text(&tag.network)
                .or_else(|| text(&tag.currency))
                .or_else(|| text(&h.network))
                .or_else(|| text(&h.currency))
                .map(str::to_owned);
            let category = abuse
                .as_deref()
                .map(Category::from_raw)
                .filter(|c| *c != Category::Other)
                .unwrap_or_else(|| Category::from_raw(&category_raw));
            let entity = match &actor {
                Some(a) => canonical_entity(a),
                None if category == Category::Exchange => entity_from_text(&label),
                None => None,
            };
            let raw_category = match &abuse {
                Some(a) => format!("{category_raw};abuse={a}"),
                None => category_raw.clone(),
            };
            let address = text(&tag.address).unwrap_or_default().to_owned();
            self.record(
                SourceLocation::Tag(i),
                stated.as_deref(),
                &address,
                category,
                entity,
                &label,
                &raw_category,
            );
        }
        Ok(())
    }

    fn csv(&mut self, bytes: &[u8]) -> Result<()> {
        let name = self.report.file.clone();
        let format = self.report.format;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(bytes);
        let header = csv_header(&name, bytes)?;
        let col = |c: &str| header.iter().position(|h| h == c);
        let need = |c: &str| {
            col(c).ok_or_else(|| line_error(&name, 1, format!("csv header lacks column {c:?}")))
        };
        let mut record = csv::StringRecord::new();
        let mut lines = LineTracker::new(bytes);
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = lines.error_line(&e, reader.position());
                    return Err(line_error(&name, line, format!("csv: {e}")));
                }
            }
            let line = lines.record_line(record.position());
            let loc = SourceLocation::Line(line);
            let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
            match format {
                LabelFormat::LabelCsv => {
                    let label = get(col("label"));
                    let raw_category = get(col("category"));
                    let category = Category::from_raw(raw_category);
                    let named = get(col("entity").or(col("exchange")).or(col("actor")));
                    let entity = if !named.is_empty() {
                        canonical_entity(named)
                    } else if category == Category::Exchange {
                        entity_from_text(label)
                    } else {
                        None
                    };
                    let chain = get(col("chain"));
                    let stated = (!chain.is_empty()).then_some(chain);
                    self.record(
                        loc,
                        stated,
                        get(Some(need("address")?)),
                        category,
                        entity,
                        label,
                        raw_category,
                    );
                }
                LabelFormat::EtherscanAccounts | LabelFormat::EtherscanLabels => {
                    let slug_col = if format == LabelFormat::EtherscanAccounts {
                        need("matched_exchange_labels")?
                    } else {
                        need("label")?
                    };
                    let slugs = get(Some(slug_col));
                    let name_tag = get(col("name_tag"));
                    let specific = slugs
                        .split(';')
                        .map(str::trim)
                        .find(|s| !s.is_empty() && !GENERIC_SLUGS.contains(s));
                    let specific = specific.map(|s| s.strip_suffix("-deposit").unwrap_or(s));
                    let category = if specific.is_some_and(|s| LENDER_SLUGS.contains(&s)) {
                        Category::Service
                    } else {
                        Category::Exchange
                    };
                    let entity = specific
                        .and_then(canonical_entity)
                        .or_else(|| entity_from_text(name_tag));
                    let chain = get(col("chain"));
                    self.record(
                        loc,
                        Some(if chain.is_empty() { "ethereum" } else { chain }),
                        get(Some(need("address")?)),
                        category,
                        entity,
                        name_tag,
                        slugs,
                    );
                }
                LabelFormat::FortaMaliciousLabels => {
                    let source = get(col("data_source"));
                    // `etherscan-phish-hack-list`, `etherscan-exploit-list`, …
                    let kind = source.strip_prefix("etherscan-").unwrap_or(source);
                    let category = Category::from_raw(kind.strip_suffix("-list").unwrap_or(kind));
                    self.record(
                        loc,
                        Some("ethereum"),
                        get(Some(need("banned_address")?)),
                        category,
                        None,
                        get(col("wallet_tag")),
                        source,
                    );
                }
                LabelFormat::FortaMaliciousContracts => {
                    let raw_category = get(col("contract_creator_etherscan_label"));
                    // The rows without an Etherscan label come from DeFi hack
                    // collections (see the file's `source` column).
                    let category = match Category::from_raw(raw_category) {
                        Category::Other => Category::Exploit,
                        c => c,
                    };
                    let contract = get(Some(need("contract_address")?));
                    let tag = get(col("contract_tag"));
                    let text = if tag.is_empty() {
                        "malicious contract"
                    } else {
                        tag
                    };
                    self.record(
                        loc,
                        Some("ethereum"),
                        contract,
                        category,
                        None,
                        text,
                        raw_category,
                    );
                    let creator = get(col("contract_creator"));
                    if !creator.is_empty() {
                        let tag = get(col("contract_creator_tag"));
                        let text = if tag.is_empty() {
                            format!("deployer of {contract}")
                        } else {
                            tag.to_owned()
                        };
                        self.record(
                            loc,
                            Some("ethereum"),
                            creator,
                            category,
                            None,
                            &text,
                            raw_category,
                        );
                    }
                }
                LabelFormat::FortaPhishing => {
                    let raw_category = get(col("etherscan_labels"));
                    let category = match Category::from_raw(raw_category) {
                        Category::Other => Category::Scam,
                        c => c,
                    };
                    self.record(
                        loc,
                        Some("ethereum"),
                        get(Some(need("address")?)),
                        category,
                        None,
                        get(col("etherscan_tag")),
                        raw_category,
                    );
                }
                LabelFormat::TagPack => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names_fold() {
        for (text, want) in [
            ("Binance 14", "binance"),
            ("Binance: Hot Wallet 3", "binance"),
            ("Binance Hot Wallet 10", "binance"),
            ("OKX", "okx"),
            ("FTX Exchange", "ftx"),
            ("Crypto.com 2", "cryptocom"),
            ("HTX 1", "huobi"),
            ("2GT_token (2GT)", "2gttoken"),
        ] {
            assert_eq!(entity_from_text(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(canonical_entity("okex").as_deref(), Some("okx"));
        assert_eq!(canonical_entity("crypto-com").as_deref(), Some("cryptocom"));
        assert_eq!(canonical_entity(" - "), None);
    }

    #[test]
    fn chains_by_format_with_veto() {
        let eth = "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8";
        assert!(resolve(Some("ETH"), eth).is_ok());
        assert!(resolve(None, eth).is_ok());
        assert!(resolve(Some("USDT"), eth).is_ok());
        assert!(matches!(
            resolve(Some("BTC"), eth),
            Err(LabelSkip::Mismatch { .. })
        ));
        assert!(matches!(
            resolve(Some("BEP20"), eth),
            Err(LabelSkip::UnsupportedChain { chain }) if chain == "bnb smart chain"
        ));
        assert!(matches!(
            resolve(Some("arbitrum"), eth),
            Err(LabelSkip::UnsupportedChain { .. })
        ));
        assert!(matches!(
            resolve(Some("KCS"), eth),
            Err(LabelSkip::UnknownCurrency { .. })
        ));
        assert!(matches!(
            resolve(Some("USDT"), "TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY"),
            Err(LabelSkip::UnsupportedChain { chain }) if chain == "tron"
        ));
        assert!(matches!(
            resolve(Some("BTC"), "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twsep"),
            Err(LabelSkip::InvalidAddress { .. })
        ));
    }

    #[test]
    fn tag_pack_header_defaults_and_overrides() {
        let yaml = "title: t\ncategory: exchange\nactor: okex\ncurrency: BTC\ntags:\n\
                    - address: 16rF2zwSJ9goQ9fZfYoti5LsUqqegb5RnA\n\
                    - address: '0x6cc5f688a315f3dc28a7781717a9a798a59fda7b'\n  currency: ETH\n  label: 42\n\
                    - address: '0x6cc5f688a315f3dc28a7781717a9a798a59fda7b'\n\
                    - address: TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY\n  currency: TRX\n  category: mixing_service\n";
        let set = LabelSet::parse("p.yaml", yaml.as_bytes()).unwrap();
        let r = &set.reports()[0];
        assert_eq!(
            (r.records, r.loaded, r.mismatched(), r.unsupported()),
            (4, 2, 1, 1)
        );
        assert_eq!(r.skipped[0].location, SourceLocation::Tag(2));
        let okx = &set.exchanges()["okx"];
        assert_eq!(okx.len(), 2);
        let eth: Address = "0x6cc5f688a315f3dc28a7781717a9a798a59fda7b"
            .parse()
            .unwrap();
        assert_eq!(set.get(&eth)[0].text, "42");
    }

    #[test]
    fn malformed_files_are_errors() {
        let e = LabelSet::parse("p.yaml", b"tags: [\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.yaml:"), "{e}");
        let e = LabelSet::parse("a.yaml", b"actors:\n- id: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("actor pack"), "{e}");
        let e = LabelSet::parse("x.csv", b"foo,bar\n1,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv:1: unrecognised label csv header"), "{e}");
    }
}
