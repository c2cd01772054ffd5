//! [`GraphBuilder`]: records in, interned ids out. It takes records from
//! any number of sources, in any order, interns each address, transaction
//! and asset once, checks each record against what was loaded before, and
//! keeps the movements as raw events and legs until
//! [`GraphBuilder::freeze`] lays them out. Also the load
//! counts it reports: [`LoadStats`] and one [`SourceSummary`] per source.
//!
//! # Caps
//! Each refused with [`Error::Capacity`], never truncated:
//! * addresses: at most 2^31 (node numbers below [`RECV`]);
//! * events: at most 2^31 (event numbers below [`RECV`]);
//! * legs: a record is refused once the builder holds 2^32 − 100,001 legs
//!   (room for one more transaction's legs below `u32::MAX`); the frozen
//!   graph holds at most 2^32 − 1 slots;
//! * transactions: at most 2^32 − 1; assets: at most 2^32;
//! * block heights: at most 2^40 − 1 (they share a sort key with the
//!   position in the block).
//!
//! # Cost
//! Per record, a hash lookup per address, transaction and asset (a new
//! one is also inserted). While loading, the builder keeps per event one
//! raw event (a 128-bit sort key and five `u32`s), per leg 20 bytes (node
//! `u32`, amount `u128`), and per distinct address, transaction and asset
//! a list entry and a map entry.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::ids::{NONE, RECV};
use crate::error::{Error, Result};
use crate::sources::{Record, Source};
use crate::types::{
    Address, Asset, AssetInfo, BlockHeight, BlockRef, Chain, OpeningBalance, Position, Special,
    TxId,
};

/// The highest block height a sort key holds.
pub(super) const MAX_HEIGHT: u64 = (1 << 40) - 1;

/// How many records one source contributed, and the blocks they span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SourceSummary {
    /// The source's name.
    pub name: String,
    /// Records read from it.
    pub records: u64,
    /// Per chain, the lowest and highest block height seen.
    pub blocks: BTreeMap<Chain, (BlockHeight, BlockHeight)>,
    /// What the source counted (see [`Source::counters`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub counters: BTreeMap<String, u64>,
    /// Problems that did not stop reading (see [`Source::warnings`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    /// What the source used, in words (see [`Source::details`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub details: BTreeMap<String, String>,
}

/// Counts kept while loading, reported so nothing is dropped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LoadStats {
    /// Records read.
    pub records: u64,
    /// Transfers and UTXO legs with amount zero, left out of the graph
    /// (they move no value; zero-value token transfers are a known way to
    /// poison an address's history).
    pub zero_value_skipped: u64,
    /// Records that repeated one already loaded (same position, same
    /// content), dropped once.
    pub duplicates_dropped: u64,
    /// UTXO transactions whose inputs held less than their outputs; the
    /// shortfall is an input from the chain's `unknown` pseudo-address.
    pub short_inputs: u64,
}

/// One movement as loaded: its sort key (chain, height, position), its
/// transaction and asset in builder numbers, and its legs
/// (`leg_start..leg_start + n_in + n_out`, inputs first).
#[derive(Clone, Copy)]
pub(super) struct RawEvent {
    pub(super) key: u128,
    pub(super) tx: u32,
    pub(super) asset: u32,
    pub(super) leg_start: u32,
    pub(super) n_in: u32,
    pub(super) n_out: u32,
}

/// Collects records from sources into an unfrozen graph.
///
/// ```
/// use fundtrace::{GraphBuilder, MemorySource};
/// let mut b = GraphBuilder::new();
/// b.load(&mut MemorySource::new("none", vec![]))?;
/// let g = b.freeze()?;
/// assert_eq!(g.event_count(), 0);
/// # Ok::<(), fundtrace::Error>(())
/// ```
#[derive(Default)]
pub struct GraphBuilder {
    pub(super) interner: FxHashMap<Address, u32>,
    pub(super) addresses: Vec<Address>,
    pub(super) tx_index: FxHashMap<TxId, u32>,
    pub(super) txids: Vec<TxId>,
    pub(super) tx_pos: Vec<(u64, u32)>,
    pub(super) asset_index: FxHashMap<Asset, u32>,
    pub(super) assets: Vec<Asset>,
    pub(super) asset_info: BTreeMap<Asset, AssetInfo>,
    pub(super) block_time: FxHashMap<(Chain, u64), u64>,
    pub(super) events: Vec<RawEvent>,
    pub(super) leg_addr: Vec<u32>,
    pub(super) leg_amt: Vec<u128>,
    pub(super) sources: Vec<SourceSummary>,
    pub(super) stats: LoadStats,
    /// Given with [`GraphBuilder::add_opening_balances`], applied at the
    /// freeze.
    pub(super) openings: Vec<OpeningBalance>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// Adds known opening balances: what an address held of an asset
    /// before the first block loaded (from `eth_getBalance` or `balanceOf`
    /// at that block, say). The value models start each such address with
    /// its balance (clean, oldest) and infer only what it spends beyond it.
    /// A later balance for the same address and asset replaces an earlier
    /// one; at [`GraphBuilder::freeze`], balances of addresses or assets
    /// that are not in the graph are dropped
    /// ([`FlowGraph::opening_balances`](crate::FlowGraph::opening_balances) lists those kept). O(1) each until
    /// the freeze.
    pub fn add_opening_balances(&mut self, balances: impl IntoIterator<Item = OpeningBalance>) {
        self.openings.extend(balances);
    }

    /// Reads every record of `source` into the graph.
    ///
    /// # Errors
    /// The source's own errors, and [`Error::InvalidRecord`],
    /// [`Error::Conflict`] or [`Error::Capacity`] for records that cannot be
    /// added. Records read before an error stay in the builder.
    pub fn load(&mut self, source: &mut dyn Source) -> Result<LoadStats> {
        let before = self.stats;
        let mut summary = SourceSummary {
            name: source.name(),
            records: 0,
            blocks: BTreeMap::new(),
            counters: BTreeMap::new(),
            details: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let _span = tracing::info_span!("load", source = %summary.name).entered();
        let result = (|| {
            while let Some(rec) = source.next_record()? {
                if let Some(b) = rec.block() {
                    let e = summary
                        .blocks
                        .entry(b.chain)
                        .or_insert((b.height, b.height));
                    e.0 = e.0.min(b.height);
                    e.1 = e.1.max(b.height);
                }
                summary.records += 1;
                if summary.records.is_multiple_of(1 << 16) {
                    tracing::debug!(records = summary.records, "records loaded");
                }
                self.add(rec)?;
            }
            Ok(())
        })();
        summary.counters = source.counters();
        summary.details = source.details();
        summary.warnings = source.warnings();
        self.sources.push(summary);
        result?;
        tracing::info!(
            source = %self.sources.last().map_or("", |s| s.name.as_str()),
            records = self.stats.records - before.records,
            "source loaded"
        );
        let s = self.stats;
        Ok(LoadStats {
            records: s.records - before.records,
            zero_value_skipped: s.zero_value_skipped - before.zero_value_skipped,
            duplicates_dropped: s.duplicates_dropped - before.duplicates_dropped,
            short_inputs: s.short_inputs - before.short_inputs,
        })
    }

    /// Adds one record.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] if the record mixes chains,
    /// [`Error::Conflict`] if its block's time or its transaction's position
    /// disagrees with what was loaded before, [`Error::Capacity`] past the
    /// caps listed in [`crate::graph`] (2^31 addresses or events,
    /// 2^32 − 100,001 legs, 2^32 − 1 transactions).
    pub fn add(&mut self, record: Record) -> Result<()> {
        record.validate()?;
        self.stats.records += 1;
        match record {
            Record::AssetInfo(info) => {
                self.asset_info.insert(info.asset, info);
            }
            Record::Transfer(t) => {
                if t.amount.is_zero() {
                    self.stats.zero_value_skipped += 1;
                    return Ok(());
                }
                let tx = self.intern_tx(t.tx, &t.block, t.position.index)?;
                let key = self.key(&t.block, t.position)?;
                let asset = self.intern_asset(t.asset)?;
                let leg_start = self.leg_count()?;
                let from = self.intern(t.from)?;
                let to = self.intern(t.to)?;
                self.leg_addr.extend([from, to]);
                self.leg_amt.extend([t.amount.get(), t.amount.get()]);
                self.push_event(RawEvent {
                    key,
                    tx,
                    asset,
                    leg_start,
                    n_in: 1,
                    n_out: 1,
                })?;
            }
            Record::Utxo(u) => {
                let tx = self.intern_tx(u.tx, &u.block, u.index)?;
                let key = self.key(
                    &u.block,
                    Position {
                        index: u.index,
                        sub: 0,
                    },
                )?;
                let asset = self.intern_asset(u.asset)?;
                let overflow = || Error::AmountOverflow {
                    context: format!(
                        "in tx {} of {} block {}",
                        u.tx, u.block.chain, u.block.height
                    ),
                };
                let mut sum_in = 0u128;
                let mut sum_out = 0u128;
                let leg_start = self.leg_count()?;
                let mut n_in = 0u32;
                for l in &u.inputs {
                    sum_in = sum_in.checked_add(l.amount.get()).ok_or_else(overflow)?;
                    if l.amount.is_zero() {
                        self.stats.zero_value_skipped += 1;
                        continue;
                    }
                    let a = self.intern(l.address)?;
                    self.leg_addr.push(a);
                    self.leg_amt.push(l.amount.get());
                    n_in += 1;
                }
                for l in &u.outputs {
                    sum_out = sum_out.checked_add(l.amount.get()).ok_or_else(overflow)?;
                }
                if sum_in < sum_out {
                    // Inputs the source could not value: an unseen, clean input.
                    self.stats.short_inputs += 1;
                    let a = self.intern(Address::special(u.block.chain, Special::Unknown))?;
                    self.leg_addr.push(a);
                    self.leg_amt.push(sum_out - sum_in);
                    n_in += 1;
                }
                let mut n_out = 0u32;
                for l in &u.outputs {
                    if l.amount.is_zero() {
                        self.stats.zero_value_skipped += 1;
                        continue;
                    }
                    let a = self.intern(l.address)?;
                    self.leg_addr.push(a);
                    self.leg_amt.push(l.amount.get());
                    n_out += 1;
                }
                if sum_in > sum_out {
                    let a = self.intern(Address::special(u.block.chain, Special::Fees))?;
                    self.leg_addr.push(a);
                    self.leg_amt.push(sum_in - sum_out);
                    n_out += 1;
                }
                if n_in == 0 || n_out == 0 {
                    // Nothing of value moves (all legs zero): keep nothing.
                    self.leg_addr.truncate(leg_start as usize);
                    self.leg_amt.truncate(leg_start as usize);
                    return Ok(());
                }
                self.push_event(RawEvent {
                    key,
                    tx,
                    asset,
                    leg_start,
                    n_in,
                    n_out,
                })?;
            }
        }
        Ok(())
    }

    fn leg_count(&self) -> Result<u32> {
        u32::try_from(self.leg_addr.len())
            .ok()
            .filter(|&n| n < NONE - 100_000)
            .ok_or(Error::Capacity {
                what: "legs",
                limit: u64::from(NONE),
            })
    }

    fn push_event(&mut self, e: RawEvent) -> Result<()> {
        if self.events.len() >= RECV as usize {
            return Err(Error::Capacity {
                what: "events",
                limit: u64::from(RECV),
            });
        }
        self.events.push(e);
        Ok(())
    }

    fn intern(&mut self, a: Address) -> Result<u32> {
        if let Some(&i) = self.interner.get(&a) {
            return Ok(i);
        }
        let i = u32::try_from(self.addresses.len())
            .ok()
            .filter(|&n| n < RECV)
            .ok_or(Error::Capacity {
                what: "addresses",
                limit: u64::from(RECV),
            })?;
        self.addresses.push(a);
        self.interner.insert(a, i);
        Ok(i)
    }

    fn intern_asset(&mut self, a: Asset) -> Result<u32> {
        if let Some(&i) = self.asset_index.get(&a) {
            return Ok(i);
        }
        let i = u32::try_from(self.assets.len()).map_err(|_| Error::Capacity {
            what: "assets",
            limit: u64::from(u32::MAX),
        })?;
        self.assets.push(a);
        self.asset_index.insert(a, i);
        Ok(i)
    }

    fn intern_tx(&mut self, tx: TxId, block: &BlockRef, index: u32) -> Result<u32> {
        let pos = (block.height.0, index);
        if let Some(&i) = self.tx_index.get(&tx) {
            if self.tx_pos[i as usize] != pos {
                return Err(Error::Conflict {
                    position: format!("tx {tx}"),
                    reason: format!(
                        "seen at {} block {} index {} and at block {} index {}",
                        block.chain,
                        self.tx_pos[i as usize].0,
                        self.tx_pos[i as usize].1,
                        pos.0,
                        pos.1
                    ),
                });
            }
            return Ok(i);
        }
        let i = u32::try_from(self.txids.len())
            .ok()
            .filter(|&n| n < NONE)
            .ok_or(Error::Capacity {
                what: "transactions",
                limit: u64::from(NONE),
            })?;
        self.txids.push(tx);
        self.tx_pos.push(pos);
        self.tx_index.insert(tx, i);
        Ok(i)
    }

    fn key(&mut self, block: &BlockRef, pos: Position) -> Result<u128> {
        let h = block.height.0;
        if h > MAX_HEIGHT {
            return Err(Error::Capacity {
                what: "block height",
                limit: MAX_HEIGHT,
            });
        }
        match self.block_time.get(&(block.chain, h)) {
            Some(&t) if t != block.time.0 => {
                return Err(Error::Conflict {
                    position: format!("{} block {h}", block.chain),
                    reason: format!(
                        "block time {} differs from {} loaded before",
                        block.time.0, t
                    ),
                });
            }
            Some(_) => {}
            None => {
                self.block_time.insert((block.chain, h), block.time.0);
            }
        }
        Ok((u128::from(block.chain.code()) << 104)
            | (u128::from(h) << 64)
            | (u128::from(pos.index) << 32)
            | u128::from(pos.sub))
    }
}
