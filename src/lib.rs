//! fundtrace follows money on public blockchains: from seed addresses to the
//! exchange clusters the money reached, with the hop distance, the first
//! arrival, the value under a stated attribution model, and the transactions
//! that prove it.
//!
//! # Map
//! * [`types`]: chain-qualified [`Address`], [`TxId`], [`Asset`], checked
//!   [`Amount`], block and position in block.
//! * [`sources`]: what chain adapters yield ([`Record`]: [`Transfer`] and
//!   [`UtxoTx`]) and the one trait they implement, [`Source`];
//!   [`MemorySource`] for records in hand.
//! * [`graph`]: [`GraphBuilder`] takes any number of sources;
//!   [`GraphBuilder::freeze`] gives the read-only, time-ordered
//!   [`FlowGraph`] (which also implements petgraph's visit traits).
//! * [`trace_seeds`] and [`Tracer`]: seeds × clusters → [`Finding`]s, configured by
//!   [`TraceConfig`]; the value models are defined in [`trace`].
//! * [`report`]: [`TraceReport`] as JSON, CSV and Graphviz DOT.
//! * [`seeds`]: address lists, and OFAC SDN seeds from `SDN.CSV`, `sdn.xml`
//!   or `sdn_advanced.xml` ([`seeds::ofac::load`],
//!   [`seeds::ofac::SdnList::seeds`]).
//! * [`snapshot`]: a frozen graph saved to one checksummed file and loaded back.
//! * [`labels`]: exchange and threat labels ([`LabelSet`]) from GraphSense tag
//!   packs, label CSVs, Etherscan exports and Forta lists.
//! * [`cluster`]: exchange deposit clusters with evidence
//!   ([`cluster::Clustering::build`]): labels, Bitcoin
//!   common-input ownership without CoinJoins, Ethereum deposit forwarding;
//!   [`report::screen`] lists labelled addresses on evidence paths.
//! * `synthetic` (feature `synthetic`, on by default): deterministic cases
//!   with ground truth.
//! * [`Error`]: the one error type.
//!
//! # Example
//! ```
//! use fundtrace::{trace_seeds, Cluster, FlowGraph, Record, TraceConfig};
//! # use fundtrace::*;
//! # let t = |from: &str, to: &str, h: u64| Record::Transfer(Transfer {
//! #     tx: TxId::new(Chain::Ethereum, [h as u8; 32]),
//! #     block: BlockRef { chain: Chain::Ethereum, height: BlockHeight(h), time: Timestamp(h) },
//! #     position: Position::default(), asset: Asset::Eth,
//! #     from: from.parse().unwrap(), to: to.parse().unwrap(), amount: Amount::new(5) });
//! let seed = "0x97b1043abd9e6fc31681635166d430a458d14f9c";
//! let middle = "0x00000000000000000000000000000000000000aa";
//! let exchange = "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8";
//! let records: Vec<Record> = vec![t(seed, middle, 1), t(middle, exchange, 2)];
//! let graph = FlowGraph::from_records("example", records)?;
//! let cluster = Cluster::new("binance", vec![exchange.parse()?]);
//! let out = trace_seeds(&graph, &[seed.parse()?], &[cluster], &TraceConfig::default())?;
//! assert_eq!(out.findings[0].min_hops, 2);
//! # Ok::<(), fundtrace::Error>(())
//! ```
#![forbid(unsafe_code)]

/// `with_…` setters for a `#[non_exhaustive]` configuration struct built
/// from its `Default`: `setters!(Config { with_a => a: u32, … })`.
macro_rules! setters {
    ($ty:ident { $($set:ident => $field:ident: $fty:ty),* $(,)? }) => {
        /// Setters, for building a configuration from its `default()` (the
        /// struct is `#[non_exhaustive]`, so fields added later do not
        /// break callers).
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $set(mut self, $field: $fty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

pub mod cluster;
pub mod error;
pub mod graph;
mod input;
pub mod labels;
pub mod limits;
pub mod report;
pub mod seeds;
pub mod snapshot;
pub mod sources;
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod trace;
pub mod types;

pub use error::{Error, NodeFailure, Result};
pub use graph::{
    EventId, EventInfo, FlowGraph, GraphBuilder, LoadStats, MemoryUse, NodeId, SourceSummary,
};
pub use labels::{Category, Label, LabelSet};
pub use report::TraceReport;
pub use sources::{Leg, MemorySource, Record, Source, Transfer, UtxoTx};
pub use trace::{
    Arrival, Cluster, Finding, Model, PathStep, SeedSummary, TraceConfig, TraceOutcome, TraceStats,
    Tracer, trace_seeds,
};
pub use types::{
    Address, Amount, Asset, AssetInfo, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain,
    ClusterName, OpeningBalance, Position, Special, Timestamp, TxId,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
