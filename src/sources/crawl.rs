//! Crawling: the seeds' neighbourhood fetched from an address index,
//! instead of a whole chain loaded.
//!
//! An [`Indexer`] answers two questions about an address: how many
//! transactions it has, and every confirmed transaction that touches it, as
//! whole records (every input and output of a Bitcoin transaction; every
//! transfer of an Ethereum transaction). [`crawl`] grows the set of fetched
//! addresses outward from the seeds, one hop per round, in the trace's own
//! time order, and hands back the records as a [`Source`], so the crawled
//! neighbourhood goes through the same `GraphBuilder` → `FlowGraph` → trace
//! → report path as any other input.
//!
//! # What is fetched
//!
//! Round `k` computes, for every address, the earliest point (block,
//! transaction, transfer) at which money from a seed can have reached it in
//! at most `k` hops, moving forward in time as the trace does. An address
//! whose earliest arrival improves is fetched, once, with its whole history
//! from [`CrawlConfig::from_block`] on: its outflows from the arrival on
//! carry the money further, its inflows and its history before the arrival
//! give the value models its holding. Whatever number of seeds reach an
//! address, it is fetched once; a transaction reached through several
//! addresses is kept once. Addresses first reached at the hop limit are not
//! fetched: the trace does not follow them further.
//!
//! # Where it stops
//!
//! Each stop is listed in the [`CrawlReport`]:
//! - at the addresses of [`CrawlConfig::stop_at`] (cluster members, which
//!   absorb in the trace);
//! - at busy addresses, with more than [`CrawlConfig::busy`] transactions,
//!   checked before any page of their history is fetched: such an address
//!   is a service, and the report gives its transaction count. Seeds are
//!   fetched whatever their count. Trace with the busy addresses as stop
//!   points too ([`CrawlReport::busy`]), as the crawl did not look past
//!   them;
//! - at the hop limit;
//! - when [`CrawlConfig::max_requests`] is spent: the addresses not fetched
//!   are listed and the report is marked truncated. The budget is checked
//!   before each address, so the last one may take it over by its pages;
//!   with several workers, which addresses were fetched before it ran out
//!   may depend on timing.
//!
//! # Cost
//!
//! One count request and `ceil(transactions / page)` history requests per
//! fetched address, plus what the indexer needs to place transactions in
//! their blocks. Memory is the fetched records and, per address, its arrival
//! and the transactions it sends in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

use crate::error::Result;
use crate::sources::{Record, Source};
use crate::types::{Address, BlockHeight};

/// An address index a crawl fetches from: Esplora for Bitcoin, for example.
///
/// Implementations are shared by the crawl's workers, so they take `&self`
/// and keep any cache behind a lock.
pub trait Indexer: Sync {
    /// A short description for reports (`"esplora:http://127.0.0.1:3002/api"`).
    fn name(&self) -> String;

    /// Whether this index knows the address's chain. Addresses no indexer
    /// serves are reached but not fetched.
    fn serves(&self, address: &Address) -> bool;

    /// How many confirmed transactions touch `address`, with one cheap
    /// request, or `None` if the index cannot tell without paging.
    ///
    /// # Errors
    /// The server's failure, naming the request.
    fn tx_count(&self, address: &Address) -> Result<Option<u64>>;

    /// Every confirmed transaction that touches `address` in block `from`
    /// or later, each as its whole set of records, in any order. `known`
    /// is the transaction count [`Indexer::tx_count`] gave, if any.
    ///
    /// # Errors
    /// The server's failure or an answer that does not check out, naming
    /// the request.
    fn history(
        &self,
        address: &Address,
        from: BlockHeight,
        known: Option<u64>,
    ) -> Result<Vec<Record>>;

    /// Requests sent so far (each retry of a request counts once; answers
    /// from a cache are not requests).
    fn requests(&self) -> u64;

    /// What the index used that the report should name (its answer cache
    /// and the digest of the answers taken from it).
    fn details(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// What a crawl fetches and where it stops (see the [module
/// documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrawlConfig {
    /// Hops from the seeds (default 10, the trace's default). Use the
    /// trace's `max_hops`.
    pub max_hops: u32,
    /// An address with more transactions than this is a stop (default
    /// 1,000).
    pub busy: u64,
    /// Requests allowed, over all indexers (default none).
    pub max_requests: Option<u64>,
    /// The first block fetched (default 0).
    pub from_block: BlockHeight,
    /// Addresses that absorb, as cluster members do in the trace: reached,
    /// not fetched.
    pub stop_at: HashSet<Address>,
    /// Addresses fetched at once (default 4).
    pub concurrency: usize,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            max_hops: 10,
            busy: 1_000,
            max_requests: None,
            from_block: BlockHeight(0),
            stop_at: HashSet::new(),
            concurrency: 4,
        }
    }
}

setters!(CrawlConfig {
    with_max_hops => max_hops: u32,
    with_busy => busy: u64,
    with_max_requests => max_requests: Option<u64>,
    with_from_block => from_block: BlockHeight,
    with_stop_at => stop_at: HashSet<Address>,
    with_concurrency => concurrency: usize,
});

/// Why the crawl did not go past an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum StopReason {
    /// One of [`CrawlConfig::stop_at`].
    StopAt,
    /// More transactions than [`CrawlConfig::busy`].
    Busy {
        /// Its confirmed transactions, as the index counts them.
        transactions: u64,
    },
    /// The request budget ran out before it was fetched.
    Budget,
    /// No indexer serves its chain.
    NoIndexer,
}

/// An address the crawl reached and did not go past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrawlStop {
    /// The address.
    pub address: Address,
    /// Why.
    pub reason: StopReason,
    /// The fewest hops from a seed at which the crawl reached it.
    pub hops: u32,
    /// The block of its earliest arrival.
    pub block: BlockHeight,
}

/// What a crawl did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CrawlReport {
    /// The indexers, by name.
    pub indexers: Vec<String>,
    /// Hop rounds run (at most the hop limit).
    pub rounds: u32,
    /// Addresses whose history was fetched.
    pub fetched: u64,
    /// Distinct transactions in the records.
    pub transactions: u64,
    /// Records handed on.
    pub records: u64,
    /// Requests sent, over all indexers.
    pub requests: u64,
    /// Addresses first reached at the hop limit (not fetched).
    pub at_hop_limit: u64,
    /// Where the crawl stopped short, by address.
    pub stops: Vec<CrawlStop>,
    /// Whether the request budget ran out.
    pub truncated: bool,
}

impl CrawlReport {
    /// The busy addresses: trace with them as stop points (for example as
    /// one-address clusters), since the crawl did not look past them.
    pub fn busy(&self) -> impl Iterator<Item = &CrawlStop> {
        self.stops
            .iter()
            .filter(|s| matches!(s.reason, StopReason::Busy { .. }))
    }
}

/// Where a transfer happens in the chain's order: height, transaction
/// index, order inside the transaction.
type Key = (u64, u32, u32);

fn key_of(r: &Record) -> Option<Key> {
    match r {
        Record::Transfer(t) => Some((t.block.height.0, t.position.index, t.position.sub)),
        Record::Utxo(u) => Some((u.block.height.0, u.index, 0)),
        _ => None,
    }
}

/// The crawl's state: records kept, and per address what it sends in.
#[derive(Default)]
struct Graphlet {
    records: Vec<Record>,
    txs: HashSet<crate::types::TxId>,
    /// Per sender: (key, receivers' slot in `receivers`), in fetch order.
    sends: HashMap<Address, Vec<(Key, u32)>>,
    receivers: Vec<Vec<Address>>,
}

impl Graphlet {
    /// Adds one address's history: records of transactions already kept
    /// are dropped whole.
    fn add(&mut self, history: Vec<Record>) {
        let mut fresh: HashSet<crate::types::TxId> = HashSet::new();
        for r in history {
            let tx = match &r {
                Record::Transfer(t) => t.tx,
                Record::Utxo(u) => u.tx,
                _ => {
                    self.records.push(r);
                    continue;
                }
            };
            if self.txs.contains(&tx) && !fresh.contains(&tx) {
                continue;
            }
            fresh.insert(tx);
            let Some(key) = key_of(&r) else { continue };
            let slot = u32::try_from(self.receivers.len()).unwrap_or(u32::MAX);
            match &r {
                Record::Transfer(t) => {
                    self.receivers.push(vec![t.to]);
                    self.sends.entry(t.from).or_default().push((key, slot));
                }
                Record::Utxo(u) => {
                    self.receivers
                        .push(u.outputs.iter().map(|l| l.address).collect());
                    let mut senders: Vec<Address> = u.inputs.iter().map(|l| l.address).collect();
                    senders.sort_unstable();
                    senders.dedup();
                    for s in senders {
                        self.sends.entry(s).or_default().push((key, slot));
                    }
                }
                _ => {}
            }
            self.records.push(r);
        }
        self.txs.extend(fresh);
    }
}

/// Crawls from `seeds` through `indexers` (the first that serves an
/// address's chain is asked). See the [module documentation](self).
///
/// # Errors
/// The first indexer error, naming the server, the request and the
/// address; the crawl stops there.
pub fn crawl(
    indexers: &[&dyn Indexer],
    seeds: &[Address],
    config: &CrawlConfig,
) -> Result<Crawled> {
    let span = tracing::info_span!("crawl", seeds = seeds.len());
    let _enter = span.enter();
    let indexer_of = |a: &Address| -> Option<&dyn Indexer> {
        if a.as_special().is_some() {
            return None;
        }
        indexers.iter().copied().find(|i| i.serves(a))
    };
    let requests = || indexers.iter().map(|i| i.requests()).sum::<u64>();
    let start: Key = (config.from_block.0, 0, 0);
    let mut report = CrawlReport {
        indexers: indexers.iter().map(|i| i.name()).collect(),
        ..CrawlReport::default()
    };
    let mut arrival: HashMap<Address, Key> = HashMap::new();
    let mut hops: HashMap<Address, u32> = HashMap::new();
    let mut fetched: HashSet<Address> = HashSet::new();
    let mut stops = Stops::default();
    let mut g = Graphlet::default();
    let seed_set: HashSet<Address> = seeds.iter().copied().collect();
    let mut frontier: Vec<Address> = seed_set.iter().copied().collect();
    frontier.sort_unstable();
    for s in &frontier {
        arrival.insert(*s, start);
        hops.insert(*s, 0);
    }
    for round in 0..=config.max_hops {
        if frontier.is_empty() {
            break;
        }
        // Fetch the frontier's addresses not fetched yet.
        let mut to_fetch = Vec::new();
        for a in &frontier {
            if fetched.contains(a) {
                continue;
            }
            if stops.again(a, hops[a], arrival[a]) {
                continue;
            }
            if !seed_set.contains(a) && config.stop_at.contains(a) {
                stops.add(*a, StopReason::StopAt, hops[a], arrival[a]);
                continue;
            }
            if round == config.max_hops {
                report.at_hop_limit += 1;
                continue;
            }
            match indexer_of(a) {
                Some(ix) => to_fetch.push((*a, ix)),
                None => stops.add(*a, StopReason::NoIndexer, hops[a], arrival[a]),
            }
        }
        if round == config.max_hops {
            break;
        }
        report.rounds = round + 1;
        tracing::info!(
            round,
            frontier = frontier.len(),
            fetching = to_fetch.len(),
            fetched = fetched.len(),
            requests = requests(),
            stops = stops.list.len(),
            "crawl round"
        );
        let results = fetch_all(&to_fetch, config, &seed_set, &requests, &span)?;
        for ((a, _), outcome) in to_fetch.iter().zip(results) {
            match outcome {
                Fetch::History(recs) => {
                    fetched.insert(*a);
                    g.add(recs);
                }
                Fetch::Busy(n) => {
                    stops.add(
                        *a,
                        StopReason::Busy { transactions: n },
                        hops[a],
                        arrival[a],
                    );
                }
                Fetch::Skipped => {
                    report.truncated = true;
                    stops.add(*a, StopReason::Budget, hops[a], arrival[a]);
                }
            }
        }
        // Relax: money at `a` from its arrival on reaches what `a` pays.
        let mut next: BTreeMap<Address, Key> = BTreeMap::new();
        for a in &frontier {
            if !fetched.contains(a) {
                continue;
            }
            let from = arrival[a];
            for &(k, slot) in g.sends.get(a).map_or(&[][..], |v| v.as_slice()) {
                if k < from {
                    continue;
                }
                for r in &g.receivers[slot as usize] {
                    if r.as_special().is_some() || seed_set.contains(r) {
                        continue;
                    }
                    let best = arrival.get(r).copied().unwrap_or((u64::MAX, 0, 0));
                    if k < best && next.get(r).is_none_or(|&n| k < n) {
                        next.insert(*r, k);
                    }
                }
            }
        }
        frontier = Vec::with_capacity(next.len());
        for (a, k) in next {
            arrival.insert(a, k);
            hops.entry(a).or_insert(round + 1);
            frontier.push(a);
        }
    }
    report.fetched = fetched.len() as u64;
    report.transactions = g.txs.len() as u64;
    report.requests = requests();
    report.stops = stops.list;
    report.stops.sort_by_key(|s| s.address);
    let mut records = g.records;
    records.sort_by_key(|r| key_of(r).map_or((0, 0, (0, 0, 0)), |k| (1, 0, k)));
    report.records = records.len() as u64;
    tracing::info!(
        fetched = report.fetched,
        transactions = report.transactions,
        requests = report.requests,
        stops = report.stops.len(),
        truncated = report.truncated,
        "crawl done"
    );
    let mut details = BTreeMap::new();
    for (i, ix) in indexers.iter().enumerate() {
        for (k, v) in ix.details() {
            let k = if indexers.len() > 1 {
                format!("{i}.{k}")
            } else {
                k
            };
            details.insert(k, v);
        }
    }
    Ok(Crawled {
        name: format!("crawl:{}", report.indexers.join(",")),
        records: records.into_iter(),
        report,
        details,
    })
}

/// The stops so far, one per address.
#[derive(Default)]
struct Stops {
    list: Vec<CrawlStop>,
    at: HashMap<Address, usize>,
}

impl Stops {
    fn add(&mut self, address: Address, reason: StopReason, hops: u32, k: Key) {
        self.at.insert(address, self.list.len());
        self.list.push(CrawlStop {
            address,
            reason,
            hops,
            block: BlockHeight(k.0),
        });
    }

    /// For an address stopped before and reached again (earlier, or in
    /// fewer hops): keeps the best and says true.
    fn again(&mut self, address: &Address, hops: u32, k: Key) -> bool {
        let Some(&i) = self.at.get(address) else {
            return false;
        };
        let s = &mut self.list[i];
        s.hops = s.hops.min(hops);
        s.block = s.block.min(BlockHeight(k.0));
        true
    }
}

enum Fetch {
    History(Vec<Record>),
    Busy(u64),
    Skipped,
}

/// Fetches each address's history with up to `config.concurrency` workers;
/// outcomes in the addresses' order. After an error the addresses not yet
/// started are skipped, and the first error in order is returned.
fn fetch_all(
    items: &[(Address, &dyn Indexer)],
    config: &CrawlConfig,
    seeds: &HashSet<Address>,
    requests: &(dyn Fn() -> u64 + Sync),
    span: &tracing::Span,
) -> Result<Vec<Fetch>> {
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    crate::sources::parallel_map(items, config.concurrency, |&(a, ix)| {
        // Workers report inside the crawl's span, so progress displays
        // show their events under it.
        let _in_span = span.enter();
        let r = if failed.load(Ordering::Relaxed) {
            Ok(Fetch::Skipped)
        } else {
            fetch_one(a, ix, config, seeds, requests)
        };
        if r.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        tracing::debug!(
            done = done.fetch_add(1, Ordering::Relaxed) + 1,
            of = items.len(),
            requests = requests(),
            "fetching addresses"
        );
        r
    })
    .into_iter()
    .collect()
}

fn fetch_one(
    a: Address,
    ix: &dyn Indexer,
    config: &CrawlConfig,
    seeds: &HashSet<Address>,
    requests: &(dyn Fn() -> u64 + Sync),
) -> Result<Fetch> {
    if config.max_requests.is_some_and(|m| requests() >= m) {
        return Ok(Fetch::Skipped);
    }
    let count = ix.tx_count(&a)?;
    if let Some(n) = count
        && n > config.busy
        && !seeds.contains(&a)
    {
        return Ok(Fetch::Busy(n));
    }
    Ok(Fetch::History(ix.history(&a, config.from_block, count)?))
}

/// The records a crawl fetched, as a [`Source`], with its report.
#[derive(Debug)]
pub struct Crawled {
    name: String,
    records: std::vec::IntoIter<Record>,
    report: CrawlReport,
    details: BTreeMap<String, String>,
}

impl Crawled {
    /// What the crawl did.
    pub fn report(&self) -> &CrawlReport {
        &self.report
    }
}

impl Source for Crawled {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        Ok(self.records.next())
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.report.truncated {
            let n = self
                .report
                .stops
                .iter()
                .filter(|s| s.reason == StopReason::Budget)
                .count();
            w.push(format!(
                "the request budget ran out: {n} reached addresses were not fetched, so the \
                 trace may miss what went through them"
            ));
        }
        for s in self.report.busy() {
            if let StopReason::Busy { transactions } = s.reason {
                w.push(format!(
                    "{} has {transactions} transactions (over the busy limit): not followed",
                    s.address
                ));
            }
        }
        w
    }

    fn details(&self) -> BTreeMap<String, String> {
        self.details.clone()
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let r = &self.report;
        BTreeMap::from([
            ("crawl_rounds".to_owned(), u64::from(r.rounds)),
            ("addresses_fetched".to_owned(), r.fetched),
            ("transactions".to_owned(), r.transactions),
            ("requests".to_owned(), r.requests),
            ("at_hop_limit".to_owned(), r.at_hop_limit),
            ("stops".to_owned(), r.stops.len() as u64),
        ])
    }
}
