//! What chain adapters produce, and the one trait they implement.
//!
//! An adapter turns its chain's data into [`Record`]s: account-model
//! [`Transfer`]s (one asset from one address to another) and UTXO
//! transactions ([`UtxoTx`], n inputs paying m outputs as one hop). A UTXO
//! transaction is kept whole rather than expanded into n×m transfers, so a
//! 7,000-input consolidation costs 7,000 + m legs in the graph.
//!
//! Adapters keep their I/O apart from their conversion: the conversion from a
//! chain's own data to records is a pure function, tested offline.
//!
//! Adapters: [`bitcoin`] (feature `bitcoin`), [`ethereum`] (feature `ethereum`).
//! [`crawl`] fetches only the seeds' neighbourhood from an address index
//! (Esplora: [`bitcoin::Esplora`]) and hands it on as a source.

#[cfg(feature = "bitcoin")]
pub mod bitcoin;
#[cfg(feature = "cache")]
pub mod cache;
pub mod crawl;
#[cfg(feature = "ethereum")]
pub mod ethereum;
#[cfg(any(feature = "bitcoin", feature = "ethereum"))]
pub mod http;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{Address, Amount, Asset, AssetInfo, BlockRef, Chain, Position, TxId};

/// Value of one asset moving from one address to another inside one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction this transfer happens in.
    pub tx: TxId,
    /// The block of the transaction.
    pub block: BlockRef,
    /// Transaction index in the block and order inside the transaction.
    pub position: Position,
    /// What moves.
    pub asset: Asset,
    /// The sender.
    pub from: Address,
    /// The receiver.
    pub to: Address,
    /// How much, in base units.
    pub amount: Amount,
}

/// One side of a UTXO transaction: an input (the address of the output it
/// spends, and that output's value) or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// Whose value it is.
    pub address: Address,
    /// How much, in base units.
    pub amount: Amount,
}

/// A UTXO transaction: all inputs together pay all outputs (one hop from each
/// input address to each output address).
///
/// The fee is what the inputs hold beyond the outputs; it goes to the chain's
/// `fees` pseudo-address. If the inputs hold less than the outputs (an input's
/// value was not known to the source), the shortfall is treated as an unseen,
/// clean input (see the value models in [`crate::trace`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoTx {
    /// The transaction id.
    pub tx: TxId,
    /// The block.
    pub block: BlockRef,
    /// Index of the transaction in its block.
    pub index: u32,
    /// The asset (BTC for Bitcoin).
    pub asset: Asset,
    /// Inputs, in transaction order.
    pub inputs: Vec<Leg>,
    /// Outputs, in transaction order.
    pub outputs: Vec<Leg>,
}

impl UtxoTx {
    /// Sum of inputs minus sum of outputs, or `None` if the inputs are short
    /// (some input values unknown) or a sum overflows.
    pub fn fee(&self) -> Option<Amount> {
        let sum = |legs: &[Leg]| {
            legs.iter()
                .try_fold(Amount::ZERO, |acc, l| acc.checked_add(l.amount))
        };
        sum(&self.inputs)?.checked_sub(sum(&self.outputs)?)
    }
}

/// What a source yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// An account-model transfer.
    Transfer(Transfer),
    /// A UTXO transaction.
    Utxo(UtxoTx),
    /// Ticker and decimals of an asset seen in the stream.
    AssetInfo(AssetInfo),
}

impl Record {
    /// The block the record belongs to, if it has one.
    pub fn block(&self) -> Option<&BlockRef> {
        match self {
            Record::Transfer(t) => Some(&t.block),
            Record::Utxo(u) => Some(&u.block),
            Record::AssetInfo(_) => None,
        }
    }

    /// Checks that every address, asset and transaction id of the record
    /// belongs to the block's chain.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] naming the transaction and block.
    pub fn validate(&self) -> Result<()> {
        let (chain, tx, block, asset, addrs): (Chain, TxId, &BlockRef, Asset, Vec<&Address>) =
            match self {
                Record::Transfer(t) => {
                    (t.block.chain, t.tx, &t.block, t.asset, vec![&t.from, &t.to])
                }
                Record::Utxo(u) => {
                    if u.inputs.is_empty() || u.outputs.is_empty() {
                        return Err(invalid(
                            &u.tx,
                            &u.block,
                            "a utxo transaction needs inputs and outputs",
                        ));
                    }
                    let addrs = u
                        .inputs
                        .iter()
                        .chain(&u.outputs)
                        .map(|l| &l.address)
                        .collect();
                    (u.block.chain, u.tx, &u.block, u.asset, addrs)
                }
                Record::AssetInfo(_) => return Ok(()),
            };
        if tx.chain() != chain {
            return Err(invalid(&tx, block, "transaction id of another chain"));
        }
        if asset.chain() != chain {
            return Err(invalid(
                &tx,
                block,
                format!("asset {asset} is not on {chain}"),
            ));
        }
        if let Some(a) = addrs.iter().find(|a| a.chain() != chain) {
            return Err(invalid(
                &tx,
                block,
                format!("address {a} is not on {chain}"),
            ));
        }
        Ok(())
    }
}

fn invalid(tx: &TxId, block: &BlockRef, reason: impl Into<String>) -> Error {
    Error::InvalidRecord {
        context: format!("tx {tx} in {} block {}", block.chain, block.height),
        reason: reason.into(),
    }
}

/// The narrow interface every chain adapter implements: a stream of records.
///
/// `Ok(None)` is the end of the stream; `Err` is a real failure that names the
/// file, offset, block or address it happened at. Records need not come in
/// time order: the graph orders them when it is frozen.
pub trait Source {
    /// A short description for reports: the adapter and where it reads from
    /// (`"memory:default-case"`, `"blk:/data/blocks"`, …).
    fn name(&self) -> String;

    /// The next record, or `Ok(None)` at the end.
    ///
    /// # Errors
    /// Whatever the adapter met: I/O, malformed data, a node's error.
    fn next_record(&mut self) -> Result<Option<Record>>;

    /// Problems that did not stop reading (a truncated last record, blocks
    /// off the best chain), for the report. Asked once, after the last record.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// What the source counted (blocks, inputs with unknown previous
    /// outputs, …), for the report. Asked once, after the last record.
    fn counters(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    /// What the source used that a reader needs to reproduce the load (an
    /// answer cache file and the digest of the answers taken from it), for
    /// the report. Asked once, after the last record.
    fn details(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// A source over records held in memory; for tests, generated cases and
/// callers that build records themselves.
///
/// ```
/// use fundtrace::{MemorySource, Source};
/// let mut s = MemorySource::new("empty", Vec::new());
/// assert!(s.next_record()?.is_none());
/// # Ok::<(), fundtrace::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemorySource {
    name: String,
    records: std::vec::IntoIter<Record>,
}

impl MemorySource {
    /// A source that yields `records` in order.
    pub fn new(name: impl Into<String>, records: Vec<Record>) -> MemorySource {
        MemorySource {
            name: name.into(),
            records: records.into_iter(),
        }
    }
}

impl Source for MemorySource {
    fn name(&self) -> String {
        format!("memory:{}", self.name)
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        Ok(self.records.next())
    }
}

/// Runs `f` on each item with at most `workers` threads at once; the
/// results in the items' order. One worker runs on the calling thread.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        for h in handles {
            match h.join() {
                Ok(p) => parts.push(p),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    for (i, r) in parts.iter_mut().flat_map(std::mem::take) {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every index below items.len() was taken by exactly one worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_and_runs_each_item_once() {
        let items: Vec<u64> = (0..1000).collect();
        let calls = std::sync::atomic::AtomicU64::new(0);
        let out = parallel_map(&items, 7, |x| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            x * 2
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1000);
        assert!(parallel_map(&[] as &[u8], 4, |x| *x).is_empty());
    }
}
