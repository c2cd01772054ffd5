//! Ethereum adapter (feature `ethereum`).
//!
//! * [`convert`]: pure conversion of JSON-RPC results (ethers types) to
//!   transfers: native value, fees, internal transfers from Parity or geth
//!   traces, ERC-20 `Transfer` logs, rewards and withdrawals.
//! * [`rpc`]: live ingestion from a node over JSON-RPC ([`EthRpc`],
//!   [`EthRpcSource`]: retries, batches, bounded concurrency).
//! * [`etl`]: ethereum-etl / BigQuery CSV exports, converted by the same rules.
//!
//! The chain's data types are `ethers-core`'s (the types `ethers::types`
//! re-exports), so an investigator's ethers code hands us its values and
//! reads ours. They stay behind [`crate::Source`]: the graph and the tracer
//! never see them.

pub mod convert;
pub mod etl;
pub mod rpc;
pub mod transport;

pub use convert::{
    BlockCounts, BlockData, BlockTraces, ConvertedBlock, EthKind, EthTransfer, FrameKind,
    GethFrame, Receipt, convert_block,
};
pub use etl::EtlSource;
pub use rpc::{BlockRange, EthRpc, EthRpcSource, TraceMode};
pub use transport::{RpcError, RpcOptions};
