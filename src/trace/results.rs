//! What a trace returns: per (seed, cluster) [`Finding`]s with their
//! [`Arrival`] and evidence [`PathStep`]s, a [`SeedSummary`] per seed, and
//! the [`TraceOutcome`] that holds them with its [`TraceStats`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::{Model, Search};
use crate::types::{Address, Amount, Asset, BlockHeight, Chain, ClusterName, Timestamp, TxId};

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
    pub cluster: ClusterName,
    /// Fewest hops from the seed to any member.
    pub min_hops: u32,
    /// The earliest arrival at any member over paths of at most `max_hops`
    /// hops (where members are paid in the same transaction, the one
    /// paid by its first output); `None` only when the seed itself is a
    /// member.
    pub first_arrival: Option<Arrival>,
    /// Tainted value received by members from non-members, per asset and model.
    pub value: ValueMap,
    /// The member that the evidence path reaches: of the members reached
    /// in `min_hops`, the one reached first at that many hops; where
    /// several are paid in that transaction, the one its first output
    /// pays.
    pub member: Address,
    /// A shortest evidence path from the seed to `member`, a step per
    /// transfer. Where several shortest paths tie, the one shown is fixed
    /// by the data alone, whatever else was traced with the seed, the
    /// hop search or the threads. The path arrives at `member` at its
    /// earliest arrival at `min_hops` hops; each step back goes to the
    /// arrival that gave the sender its fewest hops before that transfer,
    /// the earliest at those hops (value that arrived earlier in the same
    /// transaction moves on without a new hop, so such an arrival counts
    /// at its own hops); where a transaction has several senders that
    /// qualify, the one of its first input.
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
    /// [`TraceConfig::max_edges_per_seed`](crate::trace::TraceConfig::max_edges_per_seed):
    /// findings further out are missing.
    pub truncated: bool,
    /// The hop search that ran for this seed, [`Search::Frontier`] or
    /// [`Search::Stream`] (`None` for a seed not in the graph), for
    /// benchmarks and tests. Both give the same findings, evidence paths
    /// included, so reports leave it out.
    #[serde(skip)]
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
    /// seed, each (sender, event) it relaxes from a reached sender, which
    /// can be somewhat more than the frontier search scans for the same
    /// seed. The probes of [`Search::Auto`] that gave up are not counted.
    pub edges_scanned: u64,
    /// Events the value pass processed.
    pub events_valued: u64,
}

/// The outcome of [`Tracer::trace`](crate::trace::Tracer::trace).
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
