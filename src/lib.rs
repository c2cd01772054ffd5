//! fundtrace follows money on public blockchains.
#![forbid(unsafe_code)]

pub mod error;
pub mod graph;
pub mod report;
pub mod seeds;
pub mod source;
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod trace;
pub mod types;

pub use error::{Error, Result};
pub use graph::{
    EventId, EventInfo, FlowGraph, GraphBuilder, LoadStats, MemoryUse, NodeId, SourceSummary,
};
pub use report::TraceReport;
pub use source::{Leg, MemorySource, Record, Source, Transfer, UtxoTx};
pub use trace::{
    Arrival, Cluster, Finding, Model, PathStep, SeedSummary, TraceConfig, TraceOutcome, TraceStats,
    trace,
};
pub use types::{
    Address, Amount, Asset, AssetInfo, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain,
    Position, Special, Timestamp, TxId,
};
