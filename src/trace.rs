//! The trace: from seed addresses to target clusters, over a frozen
//! [`FlowGraph`].
//!
//! [`trace`] runs one independent traversal per seed (in parallel with rayon)
//! and returns, for every (seed, cluster) pair reached within
//! [`TraceConfig::max_hops`], a [`Finding`]: the minimum hop count, the
//! earliest arrival, the value that got there under each requested [`Model`],
//! and one shortest evidence path.
//!
//! # Hops and time
//! A hop is one transaction (a UTXO transaction with n inputs and m outputs is
//! one hop from each input address to each output address; value that a
//! contract forwards inside the Ethereum transaction that paid it reaches the
//! receiver in the same hop, after each layer is closed over such
//! same-transaction continuations). With
//! [`TraceConfig::time_respecting`] (the default), value that arrived at an
//! address in event *e* can only leave in a later event; events are ordered by
//! block, then position in block, then order inside the transaction. The
//! traversal is a layered earliest-arrival search: layer *h* holds, for every
//! address, the earliest arrival over paths of at most *h* hops, so
//! `min_hops` is exact under the time constraint and `first_arrival` is the
//! earliest arrival over paths of at most `max_hops` hops. For several
//! seeds that reach far, [`Search::Stream`] gets the same hop counts and
//! arrivals from one pass over the events in time order per group of up to
//! eight seeds (see [`Search`]).
//!
//! # Value models
//! All three run in one pass over the events that touch tainted addresses, in
//! time order, per seed and per asset. Every outflow of a seed is wholly
//! tainted.
//! * **poison**: once an address has received tainted value, each later
//!   outflow is wholly tainted. An upper bound: it can exceed what the seeds
//!   sent.
//! * **haircut**: an address's balance carries a tainted share; an outflow of
//!   `y` carries `floor(y × tainted / balance)`. Rounding is down, and the
//!   remainder (under one base unit per outflow) stays with the sender, so
//!   taint is conserved exactly and never created.
//! * **FIFO** (first in, first out; Anderson et al., "Bitcoin Redux", WEIS
//!   2018): an address's received value forms a queue; outflows take the
//!   oldest value first.
//!
//! A UTXO transaction is a pass-through account that receives all its inputs
//! (in input order) and at once pays its outputs in output order, the fee leg
//! last: under poison every output is wholly tainted if any input is; under
//! haircut each output takes its share with the same rounding; under FIFO the
//! first inputs' value fills the first outputs.
//!
//! **Unknown opening balances.** When the graph starts mid-history an
//! address may spend more than the graph shows it received. The shortfall is
//! an unseen opening balance: its size is the largest overdraft over the
//! address's whole history in the graph, it is clean, and it is the oldest
//! value the address holds (FIFO spends it first; haircut counts it in the
//! balance). A UTXO transaction whose inputs are short has an input from the
//! `unknown` pseudo-address for the difference, also clean.
//!
//! **Neighbourhood.** Taint leaves an address only while that address is
//! fewer than `max_hops` hops from the seed; with
//! [`TraceConfig::stop_at_clusters`] (the default) members of target clusters
//! absorb what they receive and pass nothing on, because value inside an
//! exchange can no longer be attributed. Value counted into a cluster is the
//! tainted value its members received from non-members.
//!
//! # Determinism
//! Results do not depend on the number of threads: frontier relaxations use
//! atomic minimums, ties are broken by sorting, and outputs are sorted.
// Index casts: the builder refuses graphs with 2^32 - 1 or more addresses,
// events or legs (`Error::Capacity`), so u32/usize index casts cannot
// truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::{FlowGraph, NONE, OutList, RECV, prefetch};
use crate::types::{Address, Amount, Asset, BlockHeight, Chain, Timestamp, TxId, mul_div_floor};

mod stream;
pub use stream::STREAM_MAX_HOPS;

/// A value attribution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Model {
    /// Any taint taints every later outflow wholly (upper bound).
    Poison,
    /// Outflows carry the sender's tainted share, rounded down.
    Haircut,
    /// Outflows spend the oldest received value first.
    Fifo,
}

impl Model {
    /// All models, in report order.
    pub const ALL: [Model; 3] = [Model::Poison, Model::Haircut, Model::Fifo];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Model::Poison => "poison",
            Model::Haircut => "haircut",
            Model::Fifo => "fifo",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = Error;
    fn from_str(s: &str) -> Result<Model> {
        match s {
            "poison" => Ok(Model::Poison),
            "haircut" => Ok(Model::Haircut),
            "fifo" => Ok(Model::Fifo),
            _ => Err(Error::Parse {
                what: "model",
                input: s.to_owned(),
                reason: "expected poison, haircut or fifo".into(),
            }),
        }
    }
}

/// A named set of addresses that the trace looks for (an exchange, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cluster {
    /// The name reported in findings.
    pub name: String,
    /// The member addresses.
    pub members: Vec<Address>,
}

impl Cluster {
    /// A cluster from a name and members.
    pub fn new(name: impl Into<String>, members: Vec<Address>) -> Cluster {
        Cluster {
            name: name.into(),
            members,
        }
    }
}

/// How the hop search runs. Both give every address the same fewest hops
/// and earliest arrival, so the same findings, values and counts; where
/// several shortest evidence paths tie they may show different ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Search {
    /// The frontier search, except for seeds that reach far when there are
    /// several of them: with at least [`AUTO_STREAM_SEEDS`] seeds in the
    /// graph (and settings the stream search can honour), each seed's
    /// frontier search first runs as a probe that gives up before a layer
    /// whose addresses have more out-edges than remain of a sixteenth of
    /// its chain's events; if at least
    /// [`AUTO_STREAM_SEEDS`] seeds give up, they go through the stream
    /// search, else they run the frontier search to the end. A seed with
    /// a small neighbourhood (the usual investigation) so costs what it
    /// reaches, and what a probe wastes is bounded by its limit. The choice
    /// depends only on the graph and the seeds, not on the threads.
    #[default]
    Auto,
    /// A layered search per seed from its frontier: costs what the seed
    /// reaches (the out-edges scanned), whatever the graph's size.
    Frontier,
    /// One pass over all events in time order per group of up to eight
    /// seeds, each seed a byte per address: costs the graph's events per
    /// pass, shared by the group. Needs `time_respecting`, no
    /// `max_edges_per_seed` and `max_hops` at most [`STREAM_MAX_HOPS`].
    Stream,
}

impl std::str::FromStr for Search {
    type Err = Error;
    /// `auto`, `frontier` or `stream`.
    fn from_str(s: &str) -> Result<Search> {
        match s {
            "auto" => Ok(Search::Auto),
            "frontier" => Ok(Search::Frontier),
            "stream" => Ok(Search::Stream),
            _ => Err(Error::Parse {
                what: "search",
                input: s.to_owned(),
                reason: "expected auto, frontier or stream".into(),
            }),
        }
    }
}

/// Trace parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceConfig {
    /// The most hops a finding may be away from its seed (default 10).
    /// Zero finds only clusters that contain a seed.
    pub max_hops: u32,
    /// Whether value must arrive before it can leave (default true). Off, hop
    /// counts are plain reachability; value models always respect time.
    pub time_respecting: bool,
    /// Which value models to compute (default all three).
    pub models: Vec<Model>,
    /// Whether cluster members absorb taint instead of passing it on
    /// (default true).
    pub stop_at_clusters: bool,
    /// A work budget per seed: the hop search stops after the first layer
    /// at which it has scanned this many adjacency entries (default: none).
    /// The result is then marked `truncated` for that seed and a warning says
    /// so; what was found up to that layer is exact, clusters further out
    /// are missing. The budget is checked between layers, so the result does
    /// not depend on the number of threads.
    pub max_edges_per_seed: Option<u64>,
    /// How the hop search runs (default [`Search::Auto`]).
    pub search: Search,
}

impl TraceConfig {
    /// Checks the settings against the documented caps: `max_hops` at most
    /// [`MAX_HOPS`](crate::limits::MAX_HOPS).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.max_hops > crate::limits::MAX_HOPS {
            return Err(Error::Config(format!(
                "max_hops {} is over the cap of {} (limits::MAX_HOPS), which bounds the length of evidence paths",
                self.max_hops,
                crate::limits::MAX_HOPS
            )));
        }
        if self.search == Search::Stream && !self.stream_applies() {
            return Err(Error::Config(format!(
                "search stream needs time_respecting, no max_edges_per_seed and max_hops of at \
                 most {STREAM_MAX_HOPS} (have time_respecting {}, max_edges_per_seed {:?}, \
                 max_hops {})",
                self.time_respecting, self.max_edges_per_seed, self.max_hops
            )));
        }
        Ok(())
    }

    fn stream_applies(&self) -> bool {
        self.time_respecting
            && self.max_edges_per_seed.is_none()
            && self.max_hops <= STREAM_MAX_HOPS
    }

    /// How the hops of `seeds` distinct seeds in the graph are searched.
    fn plan_for(&self, seeds: usize) -> Plan {
        match self.search {
            Search::Auto if self.stream_applies() && seeds >= AUTO_STREAM_SEEDS => Plan::Probe,
            Search::Stream => Plan::Stream,
            _ => Plan::Frontier,
        }
    }
}

/// With [`Search::Auto`], the fewest seeds that are probed, and the fewest
/// far-reaching ones that go through the stream search: a pass costs
/// about the same for one seed as for eight, so fewer seeds leave its cost
/// to too few of them. Measured on the benchmark's hubs at 10^7 transfers
/// (2 threads): six on a reused [`Tracer`] took 188 ms streamed against
/// 309 ms with the frontier search; a fresh call also builds the stream
/// search's index, and four hubs then took 343 ms streamed where one hub's
/// frontier search took 112 ms.
pub const AUTO_STREAM_SEEDS: usize = 4;

/// A probe gives up before it would scan more than its chain's events
/// divided by this.
const PROBE_SHARE: usize = 16;

/// How a trace runs its hop searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// The frontier search for every seed.
    Frontier,
    /// The stream search for every seed.
    Stream,
    /// [`Search::Auto`]'s probe, then the stream search for the seeds that
    /// gave up if there are enough of them.
    Probe,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            max_hops: 10,
            time_respecting: true,
            models: Model::ALL.to_vec(),
            stop_at_clusters: true,
            max_edges_per_seed: None,
            search: Search::Auto,
        }
    }
}

/// When and where value first arrived in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// The chain.
    pub chain: Chain,
    /// Block height.
    pub height: BlockHeight,
    /// Block time (Unix seconds).
    pub time: Timestamp,
    /// Block time as RFC 3339 (UTC).
    pub time_utc: String,
    /// The transaction that delivered it.
    pub tx: TxId,
    /// The member that received it.
    pub member: Address,
}

/// One transfer of an evidence path (transfers of one transaction in a row
/// make one hop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStep {
    /// The sender.
    pub from: Address,
    /// The receiver.
    pub to: Address,
    /// The transaction.
    pub tx: TxId,
    /// Block height of the transaction.
    pub height: BlockHeight,
    /// Block time.
    pub time: Timestamp,
    /// The asset moved.
    pub asset: Asset,
    /// The amount the receiver got in this transaction (not only the tainted part).
    pub amount: Amount,
}

/// Value per asset, per model.
pub type ValueMap = BTreeMap<Asset, BTreeMap<Model, Amount>>;

/// What the trace found for one (seed, cluster) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The seed.
    pub seed: Address,
    /// The cluster's name.
    pub cluster: String,
    /// Fewest hops from the seed to any member.
    pub min_hops: u32,
    /// The earliest arrival at any member over paths of at most `max_hops`
    /// hops; `None` only when the seed itself is a member.
    pub first_arrival: Option<Arrival>,
    /// Tainted value received by members from non-members, per asset and model.
    pub value: ValueMap,
    /// The member that the evidence path reaches.
    pub member: Address,
    /// A shortest evidence path from the seed to `member`, a step per
    /// transfer.
    pub path: Vec<PathStep>,
}

/// Per-seed outcome, found or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedSummary {
    /// The seed as given.
    pub seed: Address,
    /// Whether the seed occurs in the graph.
    pub in_graph: bool,
    /// What the seed sent, per asset (the bound on haircut and FIFO totals).
    pub sent: BTreeMap<Asset, Amount>,
    /// Addresses reached within `max_hops`.
    pub reached: u64,
    /// Whether the search stopped early on
    /// [`TraceConfig::max_edges_per_seed`]: findings further out are missing.
    pub truncated: bool,
    /// The hop search that ran for this seed, [`Search::Frontier`] or
    /// [`Search::Stream`] (`None` for a seed not in the graph). Both give
    /// the same hops, arrivals and values; where shortest evidence paths
    /// tie, the path shown is the one this search found first.
    pub search: Option<Search>,
}

/// Work counters, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceStats {
    /// Adjacency entries the hop traversals scanned. An address's out-edges
    /// after its earliest arrival are scanned once, however often a later
    /// layer improves the arrival (plus those inside a transaction that a
    /// forwarding arrival continues in). The stream search counts, per
    /// seed, each (sender, event) it relaxes from a reached sender: the
    /// same for the benchmark's hubs, but up to a few percent more on
    /// other seeds (2 % in a test with Bitcoin and Ethereum seeds). The
    /// probes of [`Search::Auto`] that gave up are not counted.
    pub edges_scanned: u64,
    /// Events the value pass processed.
    pub events_valued: u64,
}

/// The outcome of [`trace`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceOutcome {
    /// Findings sorted by seed (in the order given), then cluster (in the order given).
    pub findings: Vec<Finding>,
    /// One entry per distinct seed.
    pub seeds: Vec<SeedSummary>,
    /// Problems that did not stop the trace (seeds not in the graph, …).
    pub warnings: Vec<String>,
    /// Work counters.
    #[serde(skip)]
    pub stats: TraceStats,
}

/// Traces every seed to every cluster.
///
/// Runs on the current rayon thread pool (wrap the call in
/// `ThreadPool::install` to choose the number of threads); the result is the
/// same for any number of threads.
///
/// # Errors
/// [`Error::Config`] if two clusters share a name (findings name clusters)
/// or a setting is over its cap ([`TraceConfig::check`]).
/// Seeds or cluster members absent from the graph are not errors: they are
/// reported as warnings.
///
/// # Complexity
/// Per seed, O(Σ over layers of the out-degree of improved addresses) for
/// hops, and O(R log R) for values, R being the events touching tainted
/// addresses; memory O(addresses) per concurrently traced seed.
///
/// ```
/// use fundtrace::{trace, Cluster, FlowGraph, TraceConfig};
/// let g = FlowGraph::from_records("empty", vec![])?;
/// let seed = "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ".parse()?;
/// let out = trace(&g, &[seed], &[Cluster::new("x", vec![])], &TraceConfig::default())?;
/// assert!(out.findings.is_empty());
/// // The seed is not in the graph, and the cluster has no member in it.
/// assert_eq!(out.warnings.len(), 2);
/// # Ok::<(), fundtrace::Error>(())
/// ```
pub fn trace(
    graph: &FlowGraph,
    seeds: &[Address],
    clusters: &[Cluster],
    config: &TraceConfig,
) -> Result<TraceOutcome> {
    Tracer::new(graph).trace(seeds, clusters, config)
}

/// A tracer bound to one graph, keeping the per-node search arrays between
/// traces: the first trace on each thread allocates them (linear in the
/// graph's addresses), later ones reuse them and pay only for what they
/// visit. Use it for many traces on one graph; [`trace()`] makes a fresh one.
///
/// ```
/// use fundtrace::{Cluster, FlowGraph, TraceConfig, Tracer};
/// let g = FlowGraph::from_records("empty", vec![])?;
/// let tracer = Tracer::new(&g);
/// let out = tracer.trace(&[], &[], &TraceConfig::default())?;
/// assert!(out.findings.is_empty());
/// # Ok::<(), fundtrace::Error>(())
/// ```
pub struct Tracer<'g> {
    graph: &'g FlowGraph,
    pool: Mutex<Vec<Scratch>>,
    /// For [`Search::Stream`]: a word per event (see `stream::event_words`).
    events: OnceLock<Vec<AtomicU64>>,
    /// For [`Search::Stream`]: per-address lane words, all unreached, of
    /// eight lanes and of four.
    words: Mutex<Vec<Vec<u64>>>,
    words4: Mutex<Vec<Vec<u32>>>,
}

impl<'g> Tracer<'g> {
    /// A tracer for `graph`; allocates nothing until the first trace.
    pub fn new(graph: &'g FlowGraph) -> Tracer<'g> {
        Tracer {
            graph,
            pool: Mutex::new(Vec::new()),
            events: OnceLock::new(),
            words: Mutex::new(Vec::new()),
            words4: Mutex::new(Vec::new()),
        }
    }

    /// As [`trace()`], reusing this tracer's arrays.
    ///
    /// # Errors
    /// As [`trace()`].
    pub fn trace(
        &self,
        seeds: &[Address],
        clusters: &[Cluster],
        config: &TraceConfig,
    ) -> Result<TraceOutcome> {
        self.trace_targets(seeds, &self.targets(clusters)?, config)
    }

    /// Resolves clusters against the graph once (each member looked up in
    /// the address index), for tracing to the same clusters many times.
    ///
    /// # Errors
    /// [`Error::Config`] if two clusters share a name.
    pub fn targets(&self, clusters: &[Cluster]) -> Result<Targets> {
        let mut names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Config(format!("two clusters are named {:?}", w[0])));
        }
        // The lookups (a random read of the address index each) run in
        // parallel; the map is built in cluster order, so it is the same
        // on any number of threads.
        let resolved: Vec<Vec<u32>> = clusters
            .par_iter()
            .map(|c| {
                c.members
                    .iter()
                    .filter_map(|m| self.graph.node(m).map(|n| n.0))
                    .collect()
            })
            .collect();
        let mut membership: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        membership.reserve(resolved.iter().map(Vec::len).sum());
        let mut empty = Vec::new();
        for ((ci, c), nodes) in (0u32..).zip(clusters).zip(&resolved) {
            if nodes.is_empty() {
                empty.push(c.name.clone());
            }
            for &n in nodes {
                let v = membership.entry(n).or_default();
                if !v.contains(&ci) {
                    v.push(ci);
                }
            }
        }
        let mut warnings = Vec::new();
        if !empty.is_empty() {
            let shown: Vec<String> = empty.iter().take(10).map(|n| format!("{n:?}")).collect();
            let more = match empty.len() {
                n if n > 10 => format!(" and {} more", n - 10),
                _ => String::new(),
            };
            warnings.push(format!(
                "{} of {} clusters have no member in the loaded data: {}{more}",
                empty.len(),
                clusters.len(),
                shown.join(", ")
            ));
        }
        let mut members = vec![0u64; self.graph.address_count().div_ceil(64)];
        for &n in membership.keys() {
            members[n as usize / 64] |= 1 << (n % 64);
        }
        Ok(Targets {
            names: clusters.iter().map(|c| c.name.clone()).collect(),
            membership,
            members,
            warnings,
        })
    }

    /// As [`Tracer::trace`], to clusters resolved by [`Tracer::targets`].
    ///
    /// # Errors
    /// [`Error::Config`] for settings over the caps ([`TraceConfig::check`]).
    pub fn trace_targets(
        &self,
        seeds: &[Address],
        targets: &Targets,
        config: &TraceConfig,
    ) -> Result<TraceOutcome> {
        config.check()?;
        let graph = self.graph;
        let mut models = config.models.clone();
        models.sort();
        models.dedup();
        let mut distinct: Vec<Address> = Vec::new();
        for s in seeds {
            if !distinct.contains(s) {
                distinct.push(*s);
            }
        }
        let ctx = self.ctx(targets, config, &models);
        let nodes: Vec<Option<u32>> = distinct
            .iter()
            .map(|s| graph.node(s).map(|n| n.0))
            .collect();
        let in_graph = nodes.iter().flatten().count();
        let plan = config.plan_for(in_graph);
        // A probe's limit per chain: a sixteenth of the chain's events.
        let limits: Vec<(Chain, u64)> = match plan {
            Plan::Probe => stream::chain_runs(graph)
                .into_iter()
                .map(|(chain, r)| (chain, (r.len() / PROBE_SHARE) as u64))
                .collect(),
            _ => Vec::new(),
        };
        // Per seed in parallel: seeds not in the graph, frontier searches
        // and probes that finish; the seeds still without a result then go
        // through the stream search, or (too few probes gave up) the
        // frontier search. Search arrays are handed back as each seed is
        // done, so at most a thread's or a stream batch's seeds hold them.
        let mut results: Vec<Option<SeedResult>> = distinct
            .par_iter()
            .zip(nodes.par_iter())
            .map(|(s, n)| {
                let Some(n) = *n else {
                    return Some(SeedResult::absent(*s));
                };
                let hops = match plan {
                    Plan::Frontier => Some(ctx.hops(n)),
                    Plan::Stream => None,
                    Plan::Probe => {
                        let chain = graph.addresses()[n as usize].chain();
                        let limit = limits
                            .iter()
                            .find(|(c, _)| *c == chain)
                            .map_or(0, |&(_, l)| l);
                        ctx.frontier(n, Some(limit))
                    }
                };
                hops.map(|h| ctx.trace_seed(*s, n, &targets.names, h))
            })
            .collect();
        let rest: Vec<(usize, u32)> = results
            .iter()
            .zip(&nodes)
            .enumerate()
            .filter_map(|(i, (r, n))| if r.is_none() { n.map(|n| (i, n)) } else { None })
            .collect();
        let done: Vec<SeedResult> = if plan == Plan::Stream || rest.len() >= AUTO_STREAM_SEEDS {
            // Batches of a pass of LANES seeds per thread.
            let batch = stream::LANES * rayon::current_num_threads().max(1);
            let mut done = Vec::with_capacity(rest.len());
            for part in rest.chunks(batch) {
                let seeds: Vec<u32> = part.iter().map(|&(_, n)| n).collect();
                done.extend(self.stream_traces(&ctx, &seeds, |k, h| {
                    let (i, n) = part[k];
                    ctx.trace_seed(distinct[i], n, &targets.names, h)
                }));
            }
            done
        } else {
            rest.par_iter()
                .map(|&(i, n)| ctx.trace_seed(distinct[i], n, &targets.names, ctx.hops(n)))
                .collect()
        };
        for (&(i, _), r) in rest.iter().zip(done) {
            results[i] = Some(r);
        }
        let mut out = TraceOutcome {
            findings: Vec::new(),
            seeds: Vec::new(),
            warnings: Vec::new(),
            stats: TraceStats::default(),
        };
        for r in results.into_iter().flatten() {
            if !r.summary.in_graph {
                out.warnings.push(format!(
                    "seed {} does not occur in the loaded data",
                    r.summary.seed
                ));
            }
            if r.summary.truncated {
                out.warnings.push(format!(
                    "seed {}: the search stopped at its budget of {} edges; clusters further \
                     out are missing",
                    r.summary.seed,
                    config.max_edges_per_seed.unwrap_or(0)
                ));
            }
            out.stats.edges_scanned += r.stats.edges_scanned;
            out.stats.events_valued += r.stats.events_valued;
            out.findings.extend(r.findings);
            out.seeds.push(r.summary);
        }
        out.warnings.extend(targets.warnings.iter().cloned());
        Ok(out)
    }
}

impl Tracer<'_> {
    /// Stream searches from `seeds` (distinct nodes): groups of at most
    /// [`stream::LANES`] seeds, at least as many groups as threads while
    /// there are seeds for them, a pass per group in parallel. Lanes are
    /// independent, so the grouping does not change any result. Each
    /// seed's search goes to `then` (with the seed's position in `seeds`)
    /// as soon as its group's pass is done, so a thread whose pass ends
    /// first goes on with its seeds and then helps with the others';
    /// results in the order of `seeds`.
    fn stream_traces<R: Send>(
        &self,
        ctx: &Ctx<'_>,
        seeds: &[u32],
        then: impl Fn(usize, Hops) -> R + Sync,
    ) -> Vec<R> {
        let events = self.events.get_or_init(|| stream::event_words(self.graph));
        let threads = rayon::current_num_threads().max(1);
        let groups = seeds
            .len()
            .div_ceil(stream::LANES)
            .max(threads.min(seeds.len()));
        let per = seeds.len().div_ceil(groups);
        let n = self.graph.address_count();
        let groups: Vec<Vec<R>> = seeds
            .par_chunks(per)
            .enumerate()
            .map(|(gi, group)| {
                let hops = if group.len() <= 4 {
                    self.pass(&self.words4, ctx, events, group, n)
                } else {
                    self.pass(&self.words, ctx, events, group, n)
                };
                hops.into_par_iter()
                    .enumerate()
                    .map(|(j, h)| then(gi * per + j, h))
                    .collect()
            })
            .collect();
        groups.into_iter().flatten().collect()
    }

    /// One stream pass, with lane words from `pool`.
    fn pass<W: stream::Words>(
        &self,
        pool: &Mutex<Vec<W>>,
        ctx: &Ctx<'_>,
        events: &[AtomicU64],
        group: &[u32],
        n: usize,
    ) -> Vec<Hops> {
        let reused = pool.lock().ok().and_then(|mut p| p.pop());
        let mut words = reused.unwrap_or_else(|| W::fresh(n));
        let hops = ctx.stream_hops(events, group, &mut words);
        if let Ok(mut p) = pool.lock() {
            p.push(words);
        }
        hops
    }

    /// The per-trace context: the graph, the parameters and the members
    /// that absorb taint (with `stop_at_clusters`).
    fn ctx<'a>(
        &'a self,
        targets: &'a Targets,
        config: &'a TraceConfig,
        models: &'a [Model],
    ) -> Ctx<'a> {
        Ctx {
            g: self.graph,
            cfg: config,
            models,
            membership: &targets.membership,
            members: &targets.members,
            pool: &self.pool,
        }
    }

    /// The (address, asset) pairs whose opening balance the value models use
    /// when tracing `seeds` to `targets`: addresses that pass taint on
    /// (reached in fewer than `max_hops` hops, not absorbing members, not
    /// seeds, not pseudo-addresses), in each asset they send. When the graph
    /// starts mid-history, fetch these balances at the block before its first
    /// and hand them to [`FlowGraph::set_opening_balances`]. Sorted.
    pub fn value_holders(
        &self,
        seeds: &[Address],
        targets: &Targets,
        config: &TraceConfig,
    ) -> Vec<(Address, Asset)> {
        let graph = self.graph;
        let ctx = self.ctx(targets, config, &config.models);
        let seed_nodes: Vec<u32> = seeds
            .iter()
            .filter_map(|s| graph.node(s))
            .map(|n| n.0)
            .collect();
        let mut out: Vec<(Address, Asset)> = seed_nodes
            .par_iter()
            .flat_map_iter(|&seed| {
                let hops = ctx.hops(seed);
                let mut found = Vec::new();
                for (i, e) in hops.entries.iter().enumerate() {
                    let n = e.node;
                    if !hops.is_first(i)
                        || seed_nodes.contains(&n)
                        || !ctx.propagates(n, seed, &hops)
                    {
                        continue;
                    }
                    let a = graph.address(crate::graph::NodeId(n));
                    if a.as_special().is_some() {
                        continue;
                    }
                    for o in graph.out_edges(n) {
                        found.push((a, graph.asset_of(o.event)));
                    }
                }
                ctx.give_back(hops);
                found
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Clusters resolved against one graph by [`Tracer::targets`].
#[derive(Debug, Clone)]
pub struct Targets {
    names: Vec<String>,
    /// Node -> the clusters it belongs to.
    membership: FxHashMap<u32, Vec<u32>>,
    /// Bit per node: a key of `membership` (a cheap test before the map;
    /// with `stop_at_clusters`, the nodes that absorb taint).
    members: Vec<u64>,
    warnings: Vec<String>,
}

struct Ctx<'a> {
    g: &'a FlowGraph,
    cfg: &'a TraceConfig,
    models: &'a [Model],
    membership: &'a FxHashMap<u32, Vec<u32>>,
    /// Bit per node: a member of a target cluster.
    members: &'a [u64],
    pool: &'a Mutex<Vec<Scratch>>,
}

impl Ctx<'_> {
    fn take_scratch(&self) -> Scratch {
        let n = self.g.address_count();
        let reused = self.pool.lock().ok().and_then(|mut p| {
            let full = p.iter().rposition(|s| !s.is_light());
            full.map(|i| p.swap_remove(i)).or_else(|| p.pop())
        });
        match reused {
            Some(s) if !s.is_light() || n == 0 => s,
            Some(light) => Scratch {
                entries: light.entries,
                bufs: light.bufs,
                ..Scratch::new(n)
            },
            None => Scratch::new(n),
        }
    }

    /// Search room for a [`Sparse`] stream search: holding only `seed`'s
    /// entry, with per-node arrays if a reused one has them (left
    /// untouched), else without.
    fn start_light(&self, seed: u32) -> Scratch {
        let reused = self.pool.lock().ok().and_then(|mut p| {
            let light = p.iter().rposition(Scratch::is_light);
            light.map(|i| p.swap_remove(i)).or_else(|| p.pop())
        });
        let mut s = reused.unwrap_or_else(Scratch::light);
        s.entries.push(Entry {
            node: seed,
            layer: 0,
            event: NONE,
            pred: NONE,
        });
        s
    }

    /// Search arrays holding only `seed`'s entry: layer 0, arrived before
    /// the first event.
    fn start_search(&self, seed: u32) -> Scratch {
        let mut s = self.take_scratch();
        s.entries.push(Entry {
            node: seed,
            layer: 0,
            event: NONE,
            pred: NONE,
        });
        s.best[seed as usize].store(0, Ordering::Relaxed);
        s.first_entry[seed as usize] = 0;
        s
    }

    fn give_back(&self, hops: Hops) {
        let s = hops.into_scratch();
        if let Ok(mut p) = self.pool.lock() {
            p.push(s);
        }
    }
}

struct SeedResult {
    summary: SeedSummary,
    findings: Vec<Finding>,
    stats: TraceStats,
}

impl SeedResult {
    /// For a seed that is not in the graph.
    fn absent(seed: Address) -> SeedResult {
        SeedResult {
            summary: SeedSummary {
                seed,
                in_graph: false,
                sent: BTreeMap::new(),
                reached: 0,
                truncated: false,
                search: None,
            },
            findings: Vec::new(),
            stats: TraceStats::default(),
        }
    }
}

/// One improvement of an address's arrival, at one layer.
#[derive(Clone, Copy, Debug)]
struct Entry {
    node: u32,
    layer: u32,
    /// The event that delivered it (`NONE` for the seed).
    event: u32,
    /// The entry of the predecessor whose relaxation made this one.
    pred: u32,
}

/// A node to expand: its entry, its ready event (arrival event + 1; 0 for
/// the seed) and, once known, where its out-edges at or after that event
/// start.
#[derive(Clone, Copy, Debug)]
struct Front {
    node: u32,
    /// Index of the entry that made this arrival: the predecessor of what
    /// the node's out-edges reach.
    entry: u32,
    ready: u32,
    /// Word offset in the node's out-edges of the first entry at or after
    /// `ready`; `NONE` until a search has found it.
    start: u32,
    /// The node's ready event before this arrival improved it (`NONE` if it
    /// was unreached). Its out-edges at or after it were relaxed from that
    /// earlier arrival, at a layer no higher and by an entry made before, so
    /// relaxing them again cannot change a word: the expansion stops there.
    stop: u32,
}

pub(crate) struct Hops {
    /// Per node, packed: first event it may send in (arrival event + 1; 0 for
    /// the seed) in the high half; in the low half 0 once settled, or the
    /// predecessor's entry + 1 while a layer is being relaxed. `u64::MAX`:
    /// unreached.
    best: Vec<AtomicU64>,
    /// Per node: index of its first (fewest-hop) entry, `NONE` if unreached.
    first_entry: Vec<u32>,
    /// Per node improved in the current wave from an earlier arrival: that
    /// arrival's ready event (written by the relaxation that first lowered
    /// the word, read when the node is settled; stale otherwise).
    old_ready: Vec<AtomicU32>,
    entries: Vec<Entry>,
    /// Bit per entry, set for its node's first entry, when the search kept
    /// it (the stream search does; empty otherwise): [`Hops::is_first`]
    /// then reads it instead of the node's `first_entry`, far away.
    firsts: Vec<u64>,
    /// Bit per node, all clear between uses: sorts improved nodes.
    mark: Vec<u64>,
    /// Kept for the next search.
    bufs: Buffers,
    edges_scanned: u64,
    /// Stopped on the work budget.
    truncated: bool,
    /// Made by the stream search.
    streamed: bool,
    /// Made by the stream search for a trace without value models, which
    /// needs no more than the findings: see [`Sparse`].
    sparse: Option<Sparse>,
}

/// What a stream search without value models resolves after its pass: of
/// its entries, only those of target-cluster members. Every node reached
/// has its entries (and the search its fewest hops), but the per-node
/// arrays (`best`, `first_entry`) are not used, so not even allocated
/// ([`Scratch::light`]): the members' fewest-hop entries and earliest
/// arrivals are kept here, and an entry's predecessor is set only where
/// the pass knew it ([`Hops::resolve_paths`] finds the rest of a
/// finding's path).
pub(crate) struct Sparse {
    /// Nodes reached, without the seed.
    reached: u64,
    /// The members reached (and the seed, if a member): node, fewest-hop
    /// entry, ready event (arrival event + 1; 0 for the seed).
    members: Vec<(u32, u32, u32)>,
    /// Position in `members` by node.
    index: FxHashMap<u32, u32>,
    /// Per entry, as `Lane::from` in the stream search.
    from: Vec<u32>,
}

/// The per-node arrays of one hop search, sized for the whole graph. They
/// are reused: after a search only the nodes it touched (those with an
/// entry) are reset, so a search costs what it visits, not the graph's size.
pub(crate) struct Scratch {
    best: Vec<AtomicU64>,
    first_entry: Vec<u32>,
    old_ready: Vec<AtomicU32>,
    mark: Vec<u64>,
    /// Empty; kept for its capacity.
    entries: Vec<Entry>,
    bufs: Buffers,
}

/// The growing lists of one hop search, empty between uses and kept for
/// their capacity: reallocating them per search cost page faults that
/// measured up to 15 % of a search at 10^7.
#[derive(Default)]
struct Buffers {
    /// The next layer's nodes to expand.
    frontier: Vec<Front>,
    /// The nodes being expanded.
    wave: Vec<Front>,
    /// What `settle` makes of the nodes a wave improved.
    next: Vec<Front>,
    /// The nodes a wave improved.
    touched: Vec<u32>,
    /// The forwarded arrivals a wave relaxed.
    conts: Vec<Cont>,
    /// The stream search's per-entry senders (see `Lane::from`), kept
    /// for its capacity: at 10^8 transfers a seed's grow to 20 MB.
    from: Vec<u32>,
}

impl Buffers {
    fn clear(&mut self) {
        self.frontier.clear();
        self.wave.clear();
        self.next.clear();
        self.touched.clear();
        self.conts.clear();
        self.from.clear();
    }
}

impl Scratch {
    /// Without the per-node arrays, for a stream search without value
    /// models ([`Sparse`]), which needs only the entries' room.
    fn light() -> Scratch {
        Scratch {
            best: Vec::new(),
            first_entry: Vec::new(),
            old_ready: Vec::new(),
            mark: Vec::new(),
            entries: Vec::new(),
            bufs: Buffers::default(),
        }
    }

    /// Whether it holds the per-node arrays (of a graph with nodes).
    fn is_light(&self) -> bool {
        self.best.is_empty()
    }

    /// Filled in parallel: at 10^8 transfers the two arrays are 150 MB of
    /// first-touch page faults.
    fn new(n: usize) -> Scratch {
        let mut best = Vec::with_capacity(n);
        let mut first_entry = Vec::with_capacity(n);
        let mut old_ready = Vec::with_capacity(n);
        const MIN: usize = 1 << 16;
        rayon::join(
            || {
                best.par_extend(
                    (0..n)
                        .into_par_iter()
                        .with_min_len(MIN)
                        .map(|_| AtomicU64::new(u64::MAX)),
                );
            },
            || {
                rayon::join(
                    || first_entry.par_extend(rayon::iter::repeat_n(NONE, n).with_min_len(MIN)),
                    || {
                        old_ready.par_extend(
                            (0..n)
                                .into_par_iter()
                                .with_min_len(MIN)
                                .map(|_| AtomicU32::new(NONE)),
                        )
                    },
                )
            },
        );
        Scratch {
            best,
            first_entry,
            old_ready,
            mark: vec![0; n.div_ceil(64)],
            entries: Vec::new(),
            bufs: Buffers::default(),
        }
    }
}

impl Hops {
    /// Resets what the search touched and hands the arrays back.
    fn into_scratch(self) -> Scratch {
        let Hops {
            best,
            mut first_entry,
            old_ready,
            mut entries,
            mark,
            mut bufs,
            sparse,
            ..
        } = self;
        let was_sparse = sparse.is_some();
        if let Some(sp) = sparse
            && sp.from.capacity() > bufs.from.capacity()
        {
            bufs.from = sp.from;
        }
        // A sparse search left the arrays as it found them.
        if !was_sparse {
            for (i, e) in entries.iter().enumerate() {
                // The entries' nodes lie far apart.
                if let Some(a) = entries.get(i + NODES_AHEAD) {
                    prefetch(&best[a.node as usize]);
                    prefetch(&first_entry[a.node as usize]);
                }
                let n = e.node as usize;
                best[n].store(u64::MAX, Ordering::Relaxed);
                first_entry[n] = NONE;
            }
        }
        entries.clear();
        bufs.clear();
        Scratch {
            best,
            first_entry,
            old_ready,
            mark,
            entries,
            bufs,
        }
    }
}

impl Hops {
    /// Sets the predecessors along the paths to `nodes` (members of a
    /// [`Sparse`] search; otherwise nothing to do), as the full resolution
    /// of the stream search would: an entry's predecessor is its sender's
    /// last non-side entry in an earlier event (the seed's is its only
    /// entry). Those lie before the entry, so one scan from the last
    /// target back to the seed answers every query, including the ones each
    /// answer raises in turn.
    fn resolve_paths(&mut self, nodes: &[u32], n_nodes: usize) {
        let Some(sp) = &mut self.sparse else {
            return;
        };
        let entries = &mut self.entries;
        // Bit per node with a query (zeroed pages: only those touched are
        // mapped).
        let mark = &mut vec![0u64; n_nodes.div_ceil(64)][..];
        let seed = entries[0].node;
        // Per sender: (event bound, asking entry).
        let mut pending: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        // Follows `k`'s known predecessors to the first entry that needs a
        // lookup, and files it.
        let from = &mut sp.from;
        let ask = |k: u32,
                   entries: &mut [Entry],
                   from: &mut [u32],
                   pending: &mut FxHashMap<u32, Vec<(u32, u32)>>,
                   mark: &mut [u64]| {
            let mut k = k as usize;
            while k != 0 {
                let f = from[k] & !stream::SIDE;
                if f == stream::KNOWN {
                    match entries[k].pred {
                        NONE => return,
                        p => k = p as usize,
                    }
                    continue;
                }
                from[k] = stream::KNOWN | (from[k] & stream::SIDE);
                if f == seed {
                    entries[k].pred = 0;
                    k = 0;
                    continue;
                }
                pending
                    .entry(f)
                    .or_default()
                    .push((entries[k].event, k as u32));
                mark[f as usize / 64] |= 1 << (f % 64);
                return;
            }
        };
        let mut top = 0;
        for &n in nodes {
            let k = sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].1);
            if k != NONE {
                top = top.max(k as usize);
                ask(k, entries, from, &mut pending, mark);
            }
        }
        let mut j = top;
        while j > 0 && !pending.is_empty() {
            let n = entries[j].node;
            if mark[n as usize / 64] & (1 << (n % 64)) != 0 && from[j] & stream::SIDE == 0 {
                let ev = entries[j].event;
                let asks = pending.get_mut(&n).map(std::mem::take).unwrap_or_default();
                let (now, later): (Vec<_>, Vec<_>) = asks.into_iter().partition(|&(b, _)| ev < b);
                if later.is_empty() {
                    pending.remove(&n);
                    mark[n as usize / 64] &= !(1 << (n % 64));
                } else {
                    pending.insert(n, later);
                }
                if !now.is_empty() {
                    for &(_, k) in &now {
                        entries[k as usize].pred = j as u32;
                    }
                    ask(j as u32, entries, from, &mut pending, mark);
                }
            }
            j -= 1;
        }
        for n in pending.into_keys() {
            mark[n as usize / 64] &= !(1 << (n % 64));
        }
    }

    fn dist(&self, n: u32) -> Option<u32> {
        let e = self.first_entry[n as usize];
        (e != NONE).then(|| self.entries[e as usize].layer)
    }

    /// Whether entry `i` is its node's first (fewest-hop) entry.
    #[inline]
    fn is_first(&self, i: usize) -> bool {
        match self.firsts.get(i / 64) {
            Some(w) => w & (1 << (i % 64)) != 0,
            None => self.first_entry[self.entries[i].node as usize] as usize == i,
        }
    }

    fn ready(&self, n: u32) -> u32 {
        match &self.sparse {
            Some(sp) => sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].2),
            None => (self.best[n as usize].load(Ordering::Relaxed) >> 32) as u32,
        }
    }

    /// `n`'s fewest-hop entry, `NONE` if unreached (for a [`Sparse`]
    /// search: if not a member).
    fn first_entry_of(&self, n: u32) -> u32 {
        match &self.sparse {
            Some(sp) => sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].1),
            None => self.first_entry[n as usize],
        }
    }
}

/// Sorts `nodes` (distinct): when they are many for the graph's size, by
/// setting their bits in `mark` (all clear, one bit per node) and reading
/// the bits back in order, clearing them; otherwise by comparison.
fn sort_nodes(nodes: &mut Vec<u32>, mark: &mut [u64]) {
    if nodes.len() < 64 || nodes.len() * 8 < mark.len() {
        nodes.sort_unstable();
        return;
    }
    for &n in nodes.iter() {
        mark[n as usize / 64] |= 1 << (n % 64);
    }
    nodes.clear();
    for (w, word) in mark.iter_mut().enumerate() {
        let mut bits = std::mem::take(word);
        while bits != 0 {
            nodes.push(w as u32 * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

/// Records the nodes improved in `layer` (sorted, each once) as entries whose
/// predecessor is the entry whose relaxation won, then settles them. Puts
/// them with their entries and ready events into `out` (cleared first): the
/// next wave.
///
/// The touched nodes lie far apart, so the words of the node `NODES_AHEAD`
/// places on are prefetched.
fn settle(
    touched: &[u32],
    layer: u32,
    best: &[AtomicU64],
    old_ready: &[AtomicU32],
    entries: &mut Vec<Entry>,
    first_entry: &mut [u32],
    out: &mut Vec<Front>,
) {
    out.clear();
    for (i, &v) in touched.iter().enumerate() {
        if let Some(&w) = touched.get(i + NODES_AHEAD) {
            prefetch(&best[w as usize]);
            prefetch(&first_entry[w as usize]);
        }
        let packed = best[v as usize].load(Ordering::Relaxed);
        let ready = (packed >> 32) as u32;
        let idx = entries.len() as u32;
        entries.push(Entry {
            node: v,
            layer,
            event: ready - 1,
            pred: (packed & 0xffff_ffff) as u32 - 1,
        });
        let stop = if first_entry[v as usize] == NONE {
            first_entry[v as usize] = idx;
            NONE
        } else {
            old_ready[v as usize].load(Ordering::Relaxed)
        };
        out.push(Front {
            node: v,
            entry: idx,
            ready,
            start: NONE,
            stop,
        });
        best[v as usize].store(u64::from(ready) << 32, Ordering::Relaxed);
    }
}

/// Turns the forwarded arrivals of a wave into side entries of `layer` and
/// appends their fronts to `out`. For each (receiver, event) the smallest
/// sender entry is kept, as the atomic minimum would; an arrival that is
/// its receiver's best (its ready event is the receiver's) was or will be
/// expanded as such, at this layer or an earlier one, and is skipped. So is,
/// without time order (`!time`), a receiver first reached in an earlier
/// layer: its one expansion relaxed all its out-edges at a layer no higher.
fn side_fronts(
    conts: &mut [Cont],
    layer: u32,
    time: bool,
    best: &[AtomicU64],
    first_entry: &[u32],
    entries: &mut Vec<Entry>,
    out: &mut Vec<Front>,
) {
    conts.sort_unstable();
    let mut last = None;
    for &(v, ev, pred) in conts.iter() {
        if last == Some((v, ev)) {
            continue;
        }
        last = Some((v, ev));
        if (best[v as usize].load(Ordering::Relaxed) >> 32) as u32 == ev + 1 {
            continue;
        }
        let first = first_entry[v as usize];
        if !time && first != NONE && entries[first as usize].layer < layer {
            continue;
        }
        let idx = entries.len() as u32;
        entries.push(Entry {
            node: v,
            layer,
            event: ev,
            pred,
        });
        out.push(Front {
            node: v,
            entry: idx,
            ready: ev + 1,
            start: NONE,
            stop: NONE,
        });
    }
}

/// Frontiers at least this long are expanded in parallel, in chunks of half
/// this size.
const PAR_FRONTIER: usize = 2048;

/// How far ahead of the node being expanded its successors' offsets (twice
/// this) and out-edge lists are prefetched.
const NODES_AHEAD: usize = 16;

/// How many out-edges ahead of the one being relaxed its target's arrival
/// word is prefetched.
const EDGES_AHEAD: usize = 128;

/// A node's out-edges to relax: the node, its entry, the run's first and
/// end word in the packed out-edges, and whether the node pays forwarders
/// (so that its events' forwarding bits need reading).
type Run = (u32, u32, usize, usize, bool);

/// The per-node arrays of a search that a wave reads, and lowers (`best`) or
/// writes once per improved node (`old_ready`).
#[derive(Clone, Copy)]
struct Words<'a> {
    best: &'a [AtomicU64],
    old_ready: &'a [AtomicU32],
    first_entry: &'a [u32],
}

/// An arrival inside a transaction that its receiver forwards from (a
/// relaxation over an event of [`FlowGraph::forwards`], whether or not it
/// improved the receiver's word): the receiver, the event and the entry of
/// the sender. The same-transaction round continues from it in the same
/// layer.
type Cont = (u32, u32, u32);

/// A cursor over the out-edge entries of a list of [`Run`]s, yielding each
/// entry's second word: its receiver word, or (for a multi-leg event, or at
/// a run's end) something without `RECV`.
///
/// This and the relaxation loop step over the packed words themselves
/// rather than through [`OutList::iter`]: a `flat_map` of `OutList`
/// iterators for both measured 5–8 % slower at 10^7.
struct Ahead<'a> {
    adj: &'a [u32],
    runs: &'a [Run],
    next_run: usize,
    at: usize,
    end: usize,
}

impl Iterator for Ahead<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.at >= self.end {
            let &(_, _, lo, hi, _) = self.runs.get(self.next_run)?;
            self.next_run += 1;
            (self.at, self.end) = (lo, hi);
        }
        let w = if self.at + 1 < self.end {
            self.adj[self.at + 1]
        } else {
            0
        };
        self.at += 1 + usize::from(w & RECV != 0);
        Some(w)
    }
}

impl Ctx<'_> {
    /// Whether `n` belongs to a target cluster.
    /// Hints that `n`'s membership bit will be read soon.
    #[inline]
    fn prefetch_member(&self, n: u32) {
        if let Some(w) = self.members.get(n as usize / 64) {
            prefetch(w);
        }
    }

    fn is_member(&self, n: u32) -> bool {
        self.members
            .get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Whether `n` keeps the taint it receives: a member, with
    /// `stop_at_clusters`, other than the seed searched from.
    fn absorbs(&self, n: u32, seed: u32) -> bool {
        self.cfg.stop_at_clusters && n != seed && self.is_member(n)
    }

    /// Relaxes the out-edges of `wave` (nodes with their arrival event + 1)
    /// and puts into `touched` (cleared first) the nodes whose word it
    /// lowered from settled or unreached, each once, in no set order;
    /// returns the number of entries scanned. `same_tx` limits each node to
    /// the run of out-edges inside its arrival transaction (the
    /// same-transaction closure); otherwise all out-edges after the arrival
    /// count (all of them without time order). Large waves are split over
    /// threads; the atomic minimum makes the result independent of how.
    fn relax_wave(
        &self,
        seed: u32,
        wave: &mut [Front],
        words: Words<'_>,
        same_tx: bool,
        touched: &mut Vec<u32>,
        conts: &mut Vec<Cont>,
    ) -> u64 {
        let Words {
            best,
            old_ready,
            first_entry: fe,
        } = words;
        let g = self.g;
        let time = self.cfg.time_respecting;
        let adj = g.out_adj();
        let expand = |chunk: &mut [Front], touched: &mut Vec<u32>, conts: &mut Vec<Cont>| -> u64 {
            // First each node's run of out-edges to relax, as positions in
            // `adj`. The nodes of a frontier lie far apart, so the offsets
            // and edge lists of nodes a few places on are prefetched. The
            // first entry at or after the node's arrival is found by a
            // binary search once and kept in the frontier: the
            // same-transaction round and the next layer both start there.
            let mut runs: Vec<Run> = Vec::with_capacity(chunk.len());
            for k in 0..chunk.len() {
                if let Some(f) = chunk.get(k + 2 * NODES_AHEAD) {
                    g.prefetch_offsets(f.node);
                }
                if let Some(f) = chunk.get(k + NODES_AHEAD) {
                    let from = if time || same_tx { f.start } else { 0 };
                    g.prefetch_out_edges(f.node, from);
                    if same_tx && f.ready > 0 {
                        g.prefetch_tx_end(f.ready - 1);
                    }
                }
                let Front {
                    node: u,
                    entry,
                    ready: r,
                    start,
                    stop,
                } = chunk[k];
                if (same_tx && r == 0) || self.absorbs(u, seed) {
                    continue;
                }
                let range = g.out_range(u);
                let edges = OutList {
                    words: &adj[range.clone()],
                };
                let start = if !(time || same_tx) {
                    0
                } else if start != NONE {
                    start as usize
                } else {
                    let p = edges.partition_point(|x| x < r);
                    chunk[k].start = p as u32;
                    p
                };
                let end = if same_tx {
                    let tx_end = g.tx_end(r - 1).min(stop);
                    let mut p = start;
                    while edges.get(p).is_some_and(|o| o.event < tx_end) {
                        p = edges.next_pos(p);
                    }
                    p
                } else if time && stop != NONE {
                    start + edges.suffix(start).partition_point(|x| x < stop)
                } else {
                    edges.end()
                };
                if end > start {
                    let fwd = g.pays_forwarders(u);
                    runs.push((u, entry, range.start + start, range.start + end, fwd));
                }
            }
            // Then the relaxations. Their cost is the random read of each
            // target's word, so a second cursor runs `EDGES_AHEAD` entries
            // in front and prefetches the words of the receivers it passes.
            let mut ahead = Ahead {
                adj,
                runs: &runs,
                next_run: 0,
                at: 0,
                end: 0,
            };
            let hint = |w: u32| {
                // Multi-leg events (no receiver word): no hint.
                if w & RECV != 0 {
                    let t = (w & !RECV) as usize;
                    prefetch(&best[t]);
                    if !time {
                        prefetch(&fe[t]);
                    }
                }
            };
            for _ in 0..EDGES_AHEAD {
                match ahead.next() {
                    Some(w) => hint(w),
                    None => break,
                }
            }
            let mut count = 0u64;
            for &(u, entry, lo, hi, pays_forwarders) in &runs {
                let pred = u64::from(entry) + 1;
                let mut relax = |v: u32, ev: u32, fwd: bool| {
                    if v == u {
                        return;
                    }
                    // A later arrival that does not lower the word can
                    // still move on inside its transaction in this layer.
                    if fwd && v != seed {
                        conts.push((v, ev, entry));
                    }
                    if !time && fe[v as usize] != NONE {
                        return;
                    }
                    let nr = ev + 1;
                    let cand = (u64::from(nr) << 32) | pred;
                    let slot = &best[v as usize];
                    if cand < slot.load(Ordering::Relaxed) {
                        let prev = slot.fetch_min(cand, Ordering::Relaxed);
                        if cand < prev && (prev == u64::MAX || prev & 0xffff_ffff == 0) {
                            if prev != u64::MAX {
                                old_ready[v as usize].store((prev >> 32) as u32, Ordering::Relaxed);
                            }
                            touched.push(v);
                        }
                    }
                };
                // Runs end at entry boundaries, so a one-to-one entry's
                // receiver word is inside its run.
                let run = &adj[lo..hi];
                let mut k = 0;
                while let Some(&ev) = run.get(k) {
                    count += 1;
                    if let Some(w) = ahead.next() {
                        hint(w);
                    }
                    let w = run.get(k + 1).copied().unwrap_or(0);
                    let fwd = pays_forwarders && g.forwards(ev);
                    if w & RECV != 0 {
                        relax(w & !RECV, ev, fwd);
                        k += 2;
                    } else {
                        for s in g.multi_outputs(ev) {
                            relax(g.slot_node(s), ev, fwd);
                        }
                        k += 1;
                    }
                }
            }
            count
        };
        touched.clear();
        conts.clear();
        if wave.len() >= PAR_FRONTIER {
            let parts: Vec<(Vec<u32>, Vec<Cont>, u64)> = wave
                .par_chunks_mut(PAR_FRONTIER / 2)
                .map(|chunk| {
                    let (mut t, mut c) = (Vec::new(), Vec::new());
                    let k = expand(chunk, &mut t, &mut c);
                    (t, c, k)
                })
                .collect();
            touched.reserve(parts.iter().map(|p| p.0.len()).sum());
            let mut scanned = 0;
            for (t, c, k) in parts {
                scanned += k;
                touched.extend(t);
                conts.extend(c);
            }
            scanned
        } else {
            expand(wave, touched, conts)
        }
    }

    /// Layered earliest-arrival search from `seed`.
    ///
    /// Each layer relaxes the out-edges of the nodes improved in the layer
    /// before, with an atomic minimum on a packed (arrival, predecessor's
    /// entry + 1) word: the smallest arrival wins, and among equal arrivals
    /// the predecessor entry made first (an earlier round of the layer
    /// before, then the smaller node id: entries are made in that order),
    /// whatever the order of the relaxations. A node settled in
    /// an earlier layer has predecessor field 0, so a tie never displaces
    /// it. The thread whose minimum first lowers a settled or unreached word
    /// records the node as improved, so each improved node is listed once;
    /// the list is sorted before it becomes the next frontier.
    pub(crate) fn hops(&self, seed: u32) -> Hops {
        self.frontier(seed, None)
            .expect("a frontier search without a limit runs to its end")
    }

    /// The layered search of [`Ctx::hops`]; with `give_up`, a probe for
    /// [`Search::Auto`]: `None` (the search arrays handed back) when a
    /// layer would take the entries scanned past `give_up`, counting every
    /// out-edge word of the layer's nodes (a bound on what it scans).
    fn frontier(&self, seed: u32, give_up: Option<u64>) -> Option<Hops> {
        let g = self.g;
        // A probe whose second layer alone is over the limit gives up
        // before the first (see `second_layer_over`), and before taking
        // search arrays.
        if let Some(limit) = give_up
            && self.cfg.max_hops >= 2
            && self.second_layer_over(seed, limit)
        {
            return None;
        }
        let Scratch {
            best,
            mut first_entry,
            old_ready,
            mut mark,
            mut entries,
            mut bufs,
        } = self.start_search(seed);
        let Buffers {
            frontier,
            wave,
            next,
            touched,
            conts,
            ..
        } = &mut bufs;
        frontier.push(Front {
            node: seed,
            entry: 0,
            ready: 0,
            start: NONE,
            stop: NONE,
        });
        let mut scanned = 0u64;
        let mut truncated = false;
        let mut gave_up = false;
        let time = self.cfg.time_respecting;
        let mut layer = 0u32;
        'layers: while !frontier.is_empty() && layer < self.cfg.max_hops {
            if let Some(limit) = give_up {
                let ahead: u64 = frontier
                    .iter()
                    .map(|f| g.out_range(f.node).len() as u64)
                    .sum();
                if scanned + ahead > limit {
                    gave_up = true;
                    break;
                }
            }
            layer += 1;
            // The layer relaxes all out-edges after each arrival, then is
            // closed over same-transaction continuations: a hop is one
            // transaction, so value that arrived in transaction T and moves
            // on inside T (a contract forwarding what it received) reaches
            // the next address in the same layer. Events of one transaction
            // are adjacent in time order, so the continuation is the run of
            // out-edges right after the arrival with the same tx.
            //
            // A continuation also starts from an arrival that did not lower
            // its receiver's word (the receiver was reached earlier, or
            // earlier in this wave, in another transaction): the wave
            // records every relaxation over an event whose receiver
            // forwards, and each such arrival not already expanded as the
            // receiver's best becomes a side entry (never its node's first
            // entry: the relaxation reached the node, so it has one) and a
            // front of the next round, which stays inside its transaction
            // and does not go on to the next layer.
            std::mem::swap(wave, frontier);
            frontier.clear();
            let mut same_tx = false;
            // Fronts of `wave` that are its nodes' best arrivals (the rest
            // are side fronts).
            let mut normal = wave.len();
            loop {
                // Entry indices are `u32` (`NONE` excluded) and a wave adds
                // at most one entry per node and one side entry per output
                // leg: stop, settled, before one could overflow (no graph of
                // today comes near).
                if entries.len() + g.address_count() + g.leg_count() >= NONE as usize {
                    truncated = true;
                    break 'layers;
                }
                let words = Words {
                    best: &best,
                    old_ready: &old_ready,
                    first_entry: &first_entry,
                };
                scanned += self.relax_wave(seed, wave, words, same_tx, touched, conts);
                if same_tx {
                    // With the start of each node's edges found.
                    frontier.extend_from_slice(&wave[..normal]);
                }
                sort_nodes(touched, &mut mark);
                settle(
                    touched,
                    layer,
                    &best,
                    &old_ready,
                    &mut entries,
                    &mut first_entry,
                    next,
                );
                normal = next.len();
                side_fronts(conts, layer, time, &best, &first_entry, &mut entries, next);
                std::mem::swap(wave, next);
                if wave.is_empty() {
                    break;
                }
                same_tx = true;
            }
            // Over budget, and the next layer would have work to do.
            let more = || {
                frontier.iter().any(
                    |&Front {
                         node: u, ready: r, ..
                     }| {
                        !self.absorbs(u, seed)
                            && g.out_edges(u).last().is_some_and(|o| !time || o.event >= r)
                    },
                )
            };
            if self
                .cfg
                .max_edges_per_seed
                .is_some_and(|b| scanned >= b && layer < self.cfg.max_hops && more())
            {
                truncated = true;
                break;
            }
        }
        let hops = Hops {
            firsts: Vec::new(),
            best,
            first_entry,
            old_ready,
            entries,
            mark,
            bufs,
            edges_scanned: scanned,
            truncated,
            streamed: false,
            sparse: None,
        };
        if gave_up {
            self.give_back(hops);
            return None;
        }
        Some(hops)
    }

    /// Whether a probe from `seed` with `limit` is sure to give up at the
    /// check before its second layer, which compares the entries scanned
    /// so far plus the out-edge words of the frontier with the limit. The
    /// seed sends from the start, so every receiver of its out-edges (but
    /// itself) is reached in the first layer and is in that frontier: the
    /// out-edge words of the distinct receivers seen so far are a lower
    /// bound of the check, and once over the limit, the first layer (for
    /// a busy address, its whole out-list) need not be searched. The
    /// decision is the check's own; only its cost changes. (Probes run
    /// without a work budget, so no budget stops the search before that
    /// check.)
    ///
    /// The receivers are counted once each with a bit per node; a first
    /// pass that counts them as often as they occur (an upper bound of the
    /// same sum) spares a seed with a small neighbourhood, the usual one,
    /// that bitset.
    fn second_layer_over(&self, seed: u32, limit: u64) -> bool {
        let g = self.g;
        let words = |v: u32| {
            if v == seed {
                0
            } else {
                g.out_range(v).len() as u64
            }
        };
        let mut most = 0u64;
        for o in g.out_edges(seed) {
            if o.target != NONE {
                most += words(o.target);
            } else {
                most += g
                    .multi_outputs(o.event)
                    .map(|s| words(g.slot_node(s)))
                    .sum::<u64>();
            }
            if most > limit {
                break;
            }
        }
        if most <= limit {
            return false;
        }
        // Zeroed pages: only those touched are mapped.
        let mark = &mut vec![0u64; g.address_count().div_ceil(64)][..];
        let mut ahead = 0u64;
        // The out-edge words of `v`, if not counted yet.
        let mut add = |v: u32| {
            let (w, b) = (v as usize / 64, 1u64 << (v % 64));
            if v == seed || mark[w] & b != 0 {
                return 0;
            }
            mark[w] |= b;
            g.out_range(v).len() as u64
        };
        for o in g.out_edges(seed) {
            if o.target != NONE {
                ahead += add(o.target);
            } else {
                for s in g.multi_outputs(o.event) {
                    ahead += add(g.slot_node(s));
                }
            }
            if ahead > limit {
                break;
            }
        }
        ahead > limit
    }

    fn path(&self, hops: &Hops, member: u32) -> Vec<PathStep> {
        let g = self.g;
        let mut steps = Vec::new();
        let mut e = hops.first_entry_of(member);
        while e != NONE {
            let ent = hops.entries[e as usize];
            if ent.pred == NONE {
                break;
            }
            let from = hops.entries[ent.pred as usize].node;
            let block = g.block_of(ent.event);
            // The entry's event paid its node: a one-to-one one pays only it.
            let amount: u128 = g
                .outputs_to(ent.event, ent.node)
                .filter(|&(a, _)| a == ent.node)
                .map(|(_, v)| v)
                .fold(0u128, |a, b| a.saturating_add(b));
            steps.push(PathStep {
                from: g.addresses()[from as usize],
                to: g.addresses()[ent.node as usize],
                tx: g.txid_of(ent.event),
                height: block.height,
                time: block.time,
                asset: g.asset_of(ent.event),
                amount: Amount::new(amount),
            });
            e = ent.pred;
        }
        steps.reverse();
        steps
    }

    fn trace_seed(
        &self,
        seed_addr: Address,
        seed: u32,
        clusters: &[String],
        mut hops: Hops,
    ) -> SeedResult {
        let g = self.g;
        let values = self.values(seed, &hops, clusters.len());
        let sent: BTreeMap<Asset, Amount> = g
            .sent_by(seed)
            .into_iter()
            .map(|(a, v)| (g.assets[a as usize], Amount::new(v)))
            .collect();
        // Per cluster: the member with fewest hops (then earliest arrival,
        // then smallest node id), and the earliest arrival of any member.
        let mut best: Vec<Option<(u32, u32, u32)>> = vec![None; clusters.len()];
        let mut earliest: Vec<Option<(u32, u32)>> = vec![None; clusters.len()];
        // Only reached nodes can be findings: walk the search's entries (each
        // node at its first entry) rather than every member of every cluster.
        // The choices below are minimums, so the order does not matter.
        let mut reached = 0u64;
        let mut consider = |n: u32, d: u32, r: u32| {
            let Some(cs) = self.membership.get(&n) else {
                return;
            };
            for &c in cs {
                let key = (d, r, n);
                let b = &mut best[c as usize];
                if b.is_none_or(|x| key < x) {
                    *b = Some(key);
                }
                if n != seed {
                    let ea = &mut earliest[c as usize];
                    if ea.is_none_or(|x| (r, n) < x) {
                        *ea = Some((r, n));
                    }
                }
            }
        };
        if let Some(sp) = &hops.sparse {
            reached = sp.reached;
            for &(n, k, r) in &sp.members {
                consider(n, hops.entries[k as usize].layer, r);
            }
        } else {
            for (i, e) in hops.entries.iter().enumerate() {
                // The entries' nodes lie far apart.
                if hops.firsts.is_empty()
                    && let Some(a) = hops.entries.get(i + NODES_AHEAD)
                {
                    prefetch(&hops.first_entry[a.node as usize]);
                }
                let n = e.node;
                if !hops.is_first(i) {
                    continue;
                }
                if n != seed {
                    reached += 1;
                }
                if self.is_member(n) {
                    consider(n, e.layer, hops.ready(n));
                }
            }
        }
        let targets: Vec<u32> = best.iter().flatten().map(|&(_, _, m)| m).collect();
        hops.resolve_paths(&targets, g.address_count());
        let mut findings = Vec::new();
        for (ci, c) in clusters.iter().enumerate() {
            let Some((d, _, member)) = best[ci] else {
                continue;
            };
            let first_arrival = earliest[ci].map(|(r, n)| {
                let ev = r - 1;
                let b = g.block_of(ev);
                Arrival {
                    chain: b.chain,
                    height: b.height,
                    time: b.time,
                    time_utc: b.time.to_rfc3339(),
                    tx: g.txid_of(ev),
                    member: g.addresses()[n as usize],
                }
            });
            let mut value = ValueMap::new();
            if let Some(per_asset) = values.per_cluster.get(&(ci as u32)) {
                for (asset, t) in per_asset {
                    let m: BTreeMap<Model, Amount> = self
                        .models
                        .iter()
                        .map(|&model| (model, Amount::new(t.get(model))))
                        .collect();
                    if m.values().any(|a| !a.is_zero()) {
                        value.insert(*asset, m);
                    }
                }
            }
            findings.push(Finding {
                seed: seed_addr,
                cluster: c.clone(),
                min_hops: d,
                first_arrival,
                value,
                member: g.addresses()[member as usize],
                path: self.path(&hops, member),
            });
        }
        let result = SeedResult {
            summary: SeedSummary {
                seed: seed_addr,
                in_graph: true,
                sent,
                reached,
                truncated: hops.truncated,
                search: Some(if hops.streamed {
                    Search::Stream
                } else {
                    Search::Frontier
                }),
            },
            findings,
            stats: TraceStats {
                edges_scanned: hops.edges_scanned,
                events_valued: values.events,
            },
        };
        self.give_back(hops);
        result
    }
}

// ------------------------------------------------------------------------
// Value models
// ------------------------------------------------------------------------

/// Tainted amounts under each model (poison is always computed: it decides
/// which addresses the pass must follow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Taint {
    poison: u128,
    haircut: u128,
    fifo: u128,
}

impl Taint {
    fn get(&self, m: Model) -> u128 {
        match m {
            Model::Poison => self.poison,
            Model::Haircut => self.haircut,
            Model::Fifo => self.fifo,
        }
    }
    fn add(&mut self, o: &Taint) {
        self.poison = self.poison.saturating_add(o.poison);
        self.haircut = self.haircut.saturating_add(o.haircut);
        self.fifo = self.fifo.saturating_add(o.fifo);
    }
}

/// The holdings of one tainted address in one asset.
#[derive(Debug, Default)]
struct Holding {
    balance: u128,
    haircut: u128,
    poisoned: bool,
    /// FIFO lots (amount, tainted), oldest first; amounts sum to `balance`.
    lots: VecDeque<(u128, bool)>,
}

impl Holding {
    /// Takes `y` out; FIFO pieces are appended to `pieces`.
    fn debit(&mut self, y: u128, fifo: bool, pieces: &mut Vec<(u128, bool)>) -> Taint {
        if y > self.balance {
            // Cannot happen once opening balances are known; treated as an
            // unseen clean opening just in case (conservative for taint).
            let short = y - self.balance;
            self.balance = y;
            if fifo {
                self.lots.push_front((short, false));
            }
        }
        let h = if self.balance == 0 {
            0
        } else {
            mul_div_floor(y, self.haircut, self.balance)
        };
        self.balance -= y;
        self.haircut -= h;
        let f = if fifo {
            take_oldest(&mut self.lots, y, pieces)
        } else {
            0
        };
        Taint {
            poison: if self.poisoned { y } else { 0 },
            haircut: h,
            fifo: f,
        }
    }

    fn credit(&mut self, y: u128, t: &Taint, pieces: &[(u128, bool)]) {
        self.balance = self.balance.saturating_add(y);
        self.haircut = self.haircut.saturating_add(t.haircut);
        self.poisoned |= t.poison > 0;
        for &(a, b) in pieces {
            match self.lots.back_mut() {
                Some(last) if last.1 == b => last.0 += a,
                _ => self.lots.push_back((a, b)),
            }
        }
    }
}

/// Takes `need` from the front of a FIFO queue of (amount, tainted) lots,
/// appending the pieces taken to `out`; returns the tainted part.
fn take_oldest(
    queue: &mut VecDeque<(u128, bool)>,
    mut need: u128,
    out: &mut Vec<(u128, bool)>,
) -> u128 {
    let mut tainted = 0u128;
    while need > 0 {
        let Some(front) = queue.front_mut() else {
            break;
        };
        let take = front.0.min(need);
        push_lot(out, take, front.1);
        if front.1 {
            tainted += take;
        }
        front.0 -= take;
        need -= take;
        if front.0 == 0 {
            queue.pop_front();
        }
    }
    tainted
}

fn push_lot(v: &mut Vec<(u128, bool)>, a: u128, b: bool) {
    if a == 0 {
        return;
    }
    match v.last_mut() {
        Some(last) if last.1 == b => last.0 += a,
        _ => v.push((a, b)),
    }
}

/// The next event a followed address must see: its next inflow or outflow,
/// but nothing after its last outflow (later inflows change no outflow).
fn next_relevant(ins: &[u32], outs: OutList<'_>, i: usize, j: usize) -> u32 {
    match outs.get(j) {
        None => NONE,
        Some(o) => ins.get(i).copied().unwrap_or(NONE).min(o.event),
    }
}

struct Values {
    per_cluster: FxHashMap<u32, BTreeMap<Asset, Taint>>,
    events: u64,
}

impl Ctx<'_> {
    /// Whether taint received by `n` can leave it again: `n` is no absorbing
    /// member, is fewer than `max_hops` hops away, and sends at all (a sink
    /// such as `fees` needs no bookkeeping).
    fn propagates(&self, n: u32, seed: u32, hops: &Hops) -> bool {
        !self.absorbs(n, seed)
            && !self.g.out_edges(n).is_empty()
            && hops.dist(n).is_some_and(|d| d < self.cfg.max_hops)
    }

    /// The clean holding of `n` in `asset` just before event `e`, with the
    /// unseen opening balance (largest overdraft over the whole history).
    fn opening_holding(&self, n: u32, asset: u32, e: u32, fifo: bool) -> Holding {
        let g = self.g;
        let (ins, outs) = (g.in_events(n), g.out_edges(n));
        let (mut i, mut j) = (0, 0);
        // A fetched opening balance is held from the start; only spending
        // beyond it is inferred.
        let (mut bal, mut opening, mut bal_before_e, mut opening_before_e) =
            (g.known_opening(n, asset).unwrap_or(0), 0u128, None, 0u128);
        loop {
            let next_in = ins.get(i).copied().unwrap_or(NONE);
            let next_out = outs.get(j);
            let f = next_in.min(next_out.map_or(NONE, |o| o.event));
            if f == NONE {
                break;
            }
            // The receiver of a one-to-one `f`: `n` if it received in `f`,
            // else the one its out-edge names.
            let receiver = match next_out {
                Some(o) if f != next_in => o.target,
                _ => n,
            };
            if f == next_in {
                i += 1;
            }
            if next_out.is_some_and(|o| o.event == f) {
                j = outs.next_pos(j);
            }
            if f >= e && bal_before_e.is_none() {
                bal_before_e = Some(bal);
                opening_before_e = opening;
            }
            if g.asset_index(f) != asset {
                continue;
            }
            let sum = |l: crate::graph::Legs<'_>| -> u128 {
                l.filter(|&(a, _)| a == n)
                    .map(|(_, v)| v)
                    .fold(0, u128::saturating_add)
            };
            let (ins_f, outs_f) = g.legs(f, receiver);
            let (out, inn) = (sum(ins_f), sum(outs_f));
            if out > bal {
                opening += out - bal;
                bal = 0;
            } else {
                bal -= out;
            }
            bal = bal.saturating_add(inn);
        }
        let before = bal_before_e.unwrap_or(bal);
        let balance = before + (opening - opening_before_e);
        let mut h = Holding {
            balance,
            ..Holding::default()
        };
        if fifo && balance > 0 {
            h.lots.push_back((balance, false));
        }
        h
    }

    fn values(&self, seed: u32, hops: &Hops, n_clusters: usize) -> Values {
        let g = self.g;
        let fifo = self.models.contains(&Model::Fifo);
        let mut per_cluster: FxHashMap<u32, BTreeMap<Asset, Taint>> = FxHashMap::default();
        if self.models.is_empty() || n_clusters == 0 {
            return Values {
                per_cluster,
                events: 0,
            };
        }
        let mut holdings: FxHashMap<(u32, u32), Holding> = FxHashMap::default();
        let mut followed: FxHashSet<u32> = FxHashSet::default();
        // Cursor entries: (event, node, next in-index, next out-index).
        let mut heap: BinaryHeap<Reverse<(u32, u32, u32, u32)>> = BinaryHeap::new();
        let push_cursor = |heap: &mut BinaryHeap<Reverse<(u32, u32, u32, u32)>>,
                           n: u32,
                           after: Option<u32>,
                           seed_only_out: bool| {
            let ins = g.in_events(n);
            let outs = g.out_edges(n);
            let (i, j) = match after {
                None => (ins.len(), 0),
                Some(e) => (
                    if seed_only_out {
                        ins.len()
                    } else {
                        ins.partition_point(|&x| x <= e)
                    },
                    outs.partition_point(|x| x <= e),
                ),
            };
            let next = next_relevant(ins, outs, i, j);
            if next != NONE {
                heap.push(Reverse((next, n, i as u32, j as u32)));
            }
        };
        push_cursor(&mut heap, seed, None, true);
        followed.insert(seed);
        let mut last = NONE;
        let mut events = 0u64;
        let mut in_taints: Vec<(u128, Taint)> = Vec::new();
        let mut pieces: Vec<(u128, bool)> = Vec::new();
        let mut piece_ends: Vec<usize> = Vec::new();
        let mut out_pieces: Vec<(u128, bool)> = Vec::new();
        let mut fifo_q: VecDeque<(u128, bool)> = VecDeque::new();
        let mut input_members: Vec<u32> = Vec::new();
        while let Some(Reverse((e, n, i, j))) = heap.pop() {
            // Advance this cursor, learning the receiver of a one-to-one `e`
            // on the way (`n` itself, or the target of `n`'s out-edge).
            let mut receiver = NONE;
            {
                let ins = g.in_events(n);
                let outs = g.out_edges(n);
                let (mut i, mut j) = (i as usize, j as usize);
                if ins.get(i) == Some(&e) {
                    receiver = n;
                    i += 1;
                }
                if let Some(o) = outs.get(j).filter(|o| o.event == e) {
                    if o.target != NONE {
                        receiver = o.target;
                    }
                    j = outs.next_pos(j);
                }
                if n == seed {
                    i = ins.len();
                }
                let next = next_relevant(ins, outs, i, j);
                if next != NONE {
                    heap.push(Reverse((next, n, i as u32, j as u32)));
                }
            }
            if e == last {
                continue;
            }
            last = e;
            events += 1;
            let asset_ix = g.asset_index(e);
            let (ins, outs) = g.legs(e, receiver);
            // Input side.
            in_taints.clear();
            pieces.clear();
            piece_ends.clear();
            input_members.clear();
            let mut any_poison = false;
            for (x, y) in ins {
                let t = if x == seed {
                    if fifo {
                        push_lot(&mut pieces, y, true);
                    }
                    Taint {
                        poison: y,
                        haircut: y,
                        fifo: y,
                    }
                } else if let Some(h) = holdings.get_mut(&(x, asset_ix)) {
                    h.debit(y, fifo, &mut pieces)
                } else {
                    if fifo {
                        push_lot(&mut pieces, y, false);
                    }
                    Taint::default()
                };
                any_poison |= t.poison > 0;
                in_taints.push((y, t));
                piece_ends.push(pieces.len());
                if !self.cfg.stop_at_clusters {
                    if let Some(cs) = self.membership.get(&x) {
                        input_members.extend(cs);
                    }
                }
            }
            if !any_poison {
                // Only clean inflows to followed addresses: update balances.
                for (v, y) in outs {
                    if let Some(h) = holdings.get_mut(&(v, asset_ix)) {
                        h.credit(y, &Taint::default(), &[(y, false)]);
                    }
                }
                continue;
            }
            // Output side.
            let simple = !g.is_multi(e);
            let total_in: u128 = in_taints
                .iter()
                .map(|(y, _)| *y)
                .fold(0, u128::saturating_add);
            let mut hc_left: u128 = in_taints
                .iter()
                .map(|(_, t)| t.haircut)
                .fold(0, u128::saturating_add);
            let mut bal_left = total_in;
            fifo_q.clear();
            if !simple && fifo {
                fifo_q.extend(pieces.iter().copied());
            }
            for (v, o) in outs {
                out_pieces.clear();
                let t = if simple {
                    out_pieces.extend_from_slice(&pieces);
                    in_taints[0].1
                } else {
                    let h = if bal_left == 0 {
                        0
                    } else {
                        mul_div_floor(o, hc_left, bal_left)
                    };
                    bal_left = bal_left.saturating_sub(o);
                    hc_left -= h;
                    let f = if fifo {
                        take_oldest(&mut fifo_q, o, &mut out_pieces)
                    } else {
                        0
                    };
                    Taint {
                        poison: o,
                        haircut: h,
                        fifo: f,
                    }
                };
                // Count into clusters.
                if let Some(cs) = self.membership.get(&v) {
                    if v != seed {
                        let asset = g.asset_of(e);
                        for c in cs {
                            if !input_members.contains(c) {
                                per_cluster
                                    .entry(*c)
                                    .or_default()
                                    .entry(asset)
                                    .or_default()
                                    .add(&t);
                            }
                        }
                    }
                }
                if v == seed {
                    continue;
                }
                if let Some(h) = holdings.get_mut(&(v, asset_ix)) {
                    h.credit(o, &t, &out_pieces);
                } else if t.poison > 0 && self.propagates(v, seed, hops) {
                    let mut h = self.opening_holding(v, asset_ix, e, fifo);
                    h.credit(o, &t, &out_pieces);
                    holdings.insert((v, asset_ix), h);
                    if followed.insert(v) {
                        push_cursor(&mut heap, v, Some(e), false);
                    }
                }
            }
        }
        Values {
            per_cluster,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AUTO_STREAM_SEEDS, Plan, STREAM_MAX_HOPS, Search, TraceConfig, sort_nodes};

    /// The probe's early give-up is a lower bound of the check before its
    /// second layer: whenever it gives up, the search it skips would have
    /// given up there too, so Auto's choice does not change.
    #[cfg(feature = "synthetic")]
    #[test]
    fn early_give_up_only_where_the_second_layer_check_would() {
        use crate::synthetic::{SyntheticCase, SyntheticConfig};
        let case = SyntheticCase::generate(&SyntheticConfig {
            transfers: 40_000,
            ..SyntheticConfig::default()
        });
        let g = case.graph().unwrap();
        let tracer = super::Tracer::new(&g);
        let targets = tracer.targets(&case.clusters).unwrap();
        let one_layer = TraceConfig {
            max_hops: 1,
            ..TraceConfig::default()
        };
        let ctx = tracer.ctx(&targets, &one_layer, &[]);
        let mut early = 0;
        // The busiest senders and a spread of the others.
        let mut nodes: Vec<u32> = (0..g.address_count() as u32).collect();
        nodes.sort_by_key(|&n| std::cmp::Reverse(g.out_range(n).len()));
        let picked: Vec<u32> = nodes[..20]
            .iter()
            .chain(nodes.iter().step_by(97))
            .copied()
            .collect();
        for &n in &picked {
            let hops = ctx.hops(n);
            let mut frontier: Vec<u32> = hops.entries[1..].iter().map(|e| e.node).collect();
            frontier.sort_unstable();
            frontier.dedup();
            let ahead: u64 = frontier.iter().map(|&v| g.out_range(v).len() as u64).sum();
            let check = hops.edges_scanned + ahead;
            ctx.give_back(hops);
            for limit in [
                0,
                check / 2,
                check.saturating_sub(1),
                check,
                check + 1,
                2 * check,
            ] {
                if ctx.second_layer_over(n, limit) {
                    assert!(check > limit, "node {n}: limit {limit}, check {check}");
                    early += 1;
                }
            }
        }
        assert!(early > 0);
    }

    /// An explicit stream search with settings it cannot honour is refused
    /// with the settings named; `Auto` then runs the frontier search.
    #[test]
    fn stream_search_refuses_what_it_cannot_honour() {
        let stream = TraceConfig {
            search: Search::Stream,
            ..TraceConfig::default()
        };
        assert!(stream.check().is_ok());
        assert_eq!(stream.plan_for(1), Plan::Stream);
        for bad in [
            TraceConfig {
                time_respecting: false,
                ..stream.clone()
            },
            TraceConfig {
                max_edges_per_seed: Some(10),
                ..stream.clone()
            },
            TraceConfig {
                max_hops: STREAM_MAX_HOPS + 1,
                ..stream.clone()
            },
        ] {
            let msg = bad.check().unwrap_err().to_string();
            assert!(msg.contains("search stream needs"), "{msg}");
            let auto = TraceConfig {
                search: Search::Auto,
                ..bad
            };
            assert!(auto.check().is_ok());
            assert_eq!(auto.plan_for(6), Plan::Frontier);
        }
        // Auto probes from AUTO_STREAM_SEEDS seeds on, whatever the hop limit.
        let auto = TraceConfig::default();
        assert_eq!(auto.plan_for(AUTO_STREAM_SEEDS), Plan::Probe);
        assert_eq!(auto.plan_for(AUTO_STREAM_SEEDS - 1), Plan::Frontier);
        let short = TraceConfig {
            max_hops: 2,
            ..auto
        };
        assert_eq!(short.plan_for(6), Plan::Probe);
        let frontier = TraceConfig {
            search: Search::Frontier,
            ..short
        };
        assert_eq!(frontier.plan_for(6), Plan::Frontier);
    }

    /// Both ways of sorting improved nodes give the comparison sort's order
    /// and leave the bitmap clear for the next wave.
    #[test]
    fn sort_nodes_by_bitmap_and_by_comparison() {
        let n = 10_000u32;
        let mut mark = vec![0u64; (n as usize).div_ceil(64)];
        // Distinct nodes in a scrambled order (7919 is prime to n): all of
        // them and the smallest list read from the bitmap, and the largest
        // list sorted by comparison.
        for (count, step) in [(n as usize, 7919u32), (64, 7919), (63, 7919)] {
            let mut nodes: Vec<u32> = (0..n).map(|i| (i * step) % n).take(count).collect();
            let mut want = nodes.clone();
            want.sort_unstable();
            sort_nodes(&mut nodes, &mut mark);
            assert_eq!(nodes, want, "{count} nodes");
            assert!(mark.iter().all(|&w| w == 0));
        }
    }
}
