//! The caps that keep hostile or broken input from exhausting memory or
//! running without end, in one place. Each is enforced with an error that
//! names what was exceeded and where; none truncates data silently.
//!
//! | cap | value | where | when exceeded |
//! |---|---|---|---|
//! | transactions per block | [`MAX_TXS_PER_BLOCK`] | every Bitcoin and Ethereum block conversion | [`Error::InvalidRecord`](crate::Error::InvalidRecord) naming the block |
//! | bytes per node answer | 64 MiB (`HttpOptions::max_response`), 256 MiB (`RpcOptions::max_response`) | Bitcoin Core/Esplora and Ethereum JSON-RPC clients, configurable | an error naming the request and the limit |
//! | bytes per blk-file record | 4,000,000 (`MAX_BLOCK_BYTES`) | blk-file reader | [`Error::Corrupt`](crate::Error::Corrupt) naming file and offset |
//! | hops per trace, so steps per report path | [`MAX_HOPS`] | [`TraceConfig::max_hops`](crate::TraceConfig::max_hops) | [`Error::Config`](crate::Error::Config) before any work |
//! | work per seed | none by default; [`TraceConfig::max_edges_per_seed`](crate::TraceConfig::max_edges_per_seed) | hop search | no error: the seed's result is marked `truncated` and a warning says so |
//! | addresses, events per graph | 2^31 each (ids stay below `1 << 31`, the flag bit of a packed out-edge word) | graph builder | [`Error::Capacity`](crate::Error::Capacity) |
//! | legs, transactions per graph | legs: a record is refused once 2^32 − 100,001 are loaded; transactions: 2^32 − 1 | graph builder | [`Error::Capacity`](crate::Error::Capacity) |
//!
//! A snapshot's section lengths and indices are range-checked against the
//! file before anything is allocated from them.

/// The most transactions one block may hold. Both chains' consensus rules
/// stay far below it: a Bitcoin block has at most about 16,600 transactions
/// (4 M weight units over the smallest transaction's 240), an Ethereum block
/// at a 60 M gas limit at most 2,857 (21,000 gas each). A block over the
/// cap is forged or corrupt, and refused rather than loaded.
pub const MAX_TXS_PER_BLOCK: usize = 100_000;

/// The most hops a trace may search ([`TraceConfig::max_hops`](crate::TraceConfig::max_hops)),
/// which bounds every evidence path in a report to this many steps. Real
/// laundering chains are tens of hops long; a larger setting is refused
/// rather than left to build reports of unbounded size.
pub const MAX_HOPS: u32 = 1_000;

/// Checks a block's transaction count against [`MAX_TXS_PER_BLOCK`];
/// `context` names the block ("in bitcoin block 50001").
#[cfg(any(feature = "bitcoin", feature = "ethereum"))]
pub(crate) fn check_block_txs(count: usize, context: impl FnOnce() -> String) -> crate::Result<()> {
    if count > MAX_TXS_PER_BLOCK {
        return Err(crate::Error::InvalidRecord {
            context: context(),
            reason: format!(
                "{count} transactions, over the cap of {MAX_TXS_PER_BLOCK} per block (limits::MAX_TXS_PER_BLOCK)"
            ),
        });
    }
    Ok(())
}
