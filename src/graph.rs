//! The flow graph: addresses as nodes, value movements as time-ordered events.
//!
//! # Layout
//! [`GraphBuilder`] takes records from any number of sources, of any chain and
//! in any order, interning each address once. [`GraphBuilder::freeze`] sorts
//! the movements into time order and lays them out as a [`FlowGraph`], a
//! read-only compressed-sparse-row structure built for traversal:
//!
//! * an **event** is one movement step: an account transfer (one input leg,
//!   one output leg) or a whole UTXO transaction (n input legs, m output legs,
//!   plus a leg to the `fees` pseudo-address). Events are numbered in time
//!   order (chain, block height, position in block, order inside the
//!   transaction), so an [`EventId`] is also a point in time;
//! * every address has its outgoing events (where it is an input) and incoming
//!   events (where it is an output), each sorted by event id, so a
//!   time-respecting walk finds "the first event after time t" by binary
//!   search; an outgoing entry of a one-to-one transfer carries its target
//!   inline, so the common hop costs one sequential read;
//! * a UTXO transaction costs n + m + 1 legs and at most n + m adjacency
//!   entries, never n × m edges.
//!
//! Amounts are stored as `u64` with larger values (common in wei) kept
//! out of line, so no amount is ever truncated.
//!
//! # Why not `petgraph::csr::Csr`
//! petgraph's CSR keeps one edge per (source, target) pair sorted by target;
//! a flow graph is a multigraph whose adjacency must be sorted by time and
//! whose UTXO transactions are hyperedges. [`FlowGraph`] instead implements
//! petgraph's visit traits, so `petgraph::visit::Bfs` and friends run on it
//! directly, and [`FlowGraph::to_petgraph`] exports a `DiGraph`.
// Index casts: the builder refuses graphs with 2^32 - 1 or more addresses,
// events or legs (`Error::Capacity`), so u32/usize index casts cannot
// truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;

use petgraph::graph::DiGraph;
use petgraph::visit::{GraphBase, IntoNeighbors, NodeCount, NodeIndexable, VisitMap, Visitable};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::sources::{Record, Source};
use crate::types::{
    Address, Amount, Asset, AssetInfo, BlockHeight, BlockRef, Chain, Position, Special, Timestamp,
    TxId,
};

/// A node (address) of a [`FlowGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The dense index of the node, `0..graph.address_count()`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An event (one transfer, or one UTXO transaction) of a [`FlowGraph`].
/// Ids are assigned in time order: a smaller id happened earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub(crate) u32);

impl EventId {
    /// The dense index of the event, `0..graph.event_count()`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub(crate) const NONE: u32 = u32::MAX;
const MAX_HEIGHT: u64 = (1 << 40) - 1;

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

#[derive(Clone, Copy)]
struct RawEvent {
    key: u128,
    tx: u32,
    asset: u32,
    leg_start: u32,
    n_in: u32,
    n_out: u32,
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
    interner: FxHashMap<Address, u32>,
    addresses: Vec<Address>,
    tx_index: FxHashMap<TxId, u32>,
    txids: Vec<TxId>,
    tx_pos: Vec<(u64, u32)>,
    asset_index: FxHashMap<Asset, u32>,
    assets: Vec<Asset>,
    asset_info: BTreeMap<Asset, AssetInfo>,
    block_time: FxHashMap<(Chain, u64), u64>,
    events: Vec<RawEvent>,
    leg_addr: Vec<u32>,
    leg_amt: Vec<u128>,
    sources: Vec<SourceSummary>,
    stats: LoadStats,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
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
            warnings: Vec::new(),
        };
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
                self.add(rec)?;
            }
            Ok(())
        })();
        summary.counters = source.counters();
        summary.warnings = source.warnings();
        self.sources.push(summary);
        result?;
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
    /// disagrees with what was loaded before, [`Error::Capacity`] past
    /// 2^32 − 1 addresses, events or legs.
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
        if self.events.len() >= (NONE - 1) as usize {
            return Err(Error::Capacity {
                what: "events",
                limit: u64::from(NONE - 1),
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
            .filter(|&n| n < NONE)
            .ok_or(Error::Capacity {
                what: "addresses",
                limit: u64::from(NONE),
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

    /// Sorts the events into time order and builds the read-only [`FlowGraph`].
    ///
    /// Two records at the same position with the same content are one
    /// record (counted in [`LoadStats::duplicates_dropped`]).
    ///
    /// # Errors
    /// [`Error::Conflict`] if two records claim the same position with
    /// different content.
    ///
    /// # Complexity
    /// O(E log E) for the sort (parallel), then linear passes over legs.
    pub fn freeze(mut self) -> Result<FlowGraph> {
        let mut order: Vec<u32> = (0..u32::try_from(self.events.len()).unwrap_or(NONE)).collect();
        {
            let events = &self.events;
            order.par_sort_unstable_by_key(|&i| (events[i as usize].key, i));
        }
        // Drop exact duplicates; refuse conflicts.
        let mut kept: Vec<u32> = Vec::with_capacity(order.len());
        for &i in &order {
            if let Some(&prev) = kept.last() {
                let (a, b) = (&self.events[prev as usize], &self.events[i as usize]);
                if a.key == b.key {
                    if self.same_event(a, b) {
                        self.stats.duplicates_dropped += 1;
                        continue;
                    }
                    return Err(Error::Conflict {
                        position: describe_key(a.key),
                        reason: format!(
                            "two different movements (tx {} and tx {})",
                            self.txids[a.tx as usize], self.txids[b.tx as usize]
                        ),
                    });
                }
            }
            kept.push(i);
        }
        let n_events = kept.len();
        let n_addr = self.addresses.len();

        // Canonical numbering, so that the frozen graph, and every tie a
        // trace breaks by node id, is the same whatever order the records
        // were loaded in: addresses and transactions in order of first
        // appearance in time (within an event, in leg order), assets in
        // asset order. Addresses active at the same time get nearby ids, so
        // a search touches fewer cache lines. Addresses in no event (their
        // records were all duplicates) come last, in address order.
        let mut node_of = vec![NONE; n_addr];
        let mut by_node: Vec<u32> = Vec::with_capacity(n_addr);
        for &i in &kept {
            let e = &self.events[i as usize];
            let r = e.leg_start as usize..(e.leg_start + e.n_in + e.n_out) as usize;
            for &a in &self.leg_addr[r] {
                if node_of[a as usize] == NONE {
                    node_of[a as usize] = by_node.len() as u32;
                    by_node.push(a);
                }
            }
        }
        let mut unused: Vec<u32> = (0..n_addr as u32)
            .filter(|&a| node_of[a as usize] == NONE)
            .collect();
        unused.sort_unstable_by_key(|&a| self.addresses[a as usize]);
        for a in unused {
            node_of[a as usize] = by_node.len() as u32;
            by_node.push(a);
        }
        let addresses: Vec<Address> = by_node
            .iter()
            .map(|&a| self.addresses[a as usize])
            .collect();
        drop(by_node);
        drop(std::mem::take(&mut self.addresses));
        for v in self.interner.values_mut() {
            *v = node_of[*v as usize];
        }
        let mut by_asset: Vec<u32> = (0..self.assets.len() as u32).collect();
        by_asset.sort_unstable_by_key(|&i| self.assets[i as usize]);
        let mut asset_of = vec![0u32; self.assets.len()];
        for (new, &old) in by_asset.iter().enumerate() {
            asset_of[old as usize] = new as u32;
        }
        let assets: Vec<Asset> = by_asset.iter().map(|&i| self.assets[i as usize]).collect();
        let mut tx_of = vec![NONE; self.txids.len()];
        let mut txids = Vec::with_capacity(self.txids.len());
        for &i in &kept {
            let t = self.events[i as usize].tx as usize;
            if tx_of[t] == NONE {
                tx_of[t] = txids.len() as u32;
                txids.push(self.txids[t]);
            }
        }

        // Event columns and legs in time order.
        let mut ev_tx = Vec::with_capacity(n_events);
        let mut ev_asset = Vec::with_capacity(n_events);
        let mut ev_leg = Vec::with_capacity(n_events + 1);
        let mut ev_nin = Vec::with_capacity(n_events);
        let total_legs: usize = kept
            .iter()
            .map(|&i| {
                let e = &self.events[i as usize];
                (e.n_in + e.n_out) as usize
            })
            .sum();
        let mut leg_addr = Vec::with_capacity(total_legs);
        let mut leg_amt = AmountColumn::with_capacity(total_legs);
        let mut blocks: Vec<BlockInfo> = Vec::new();
        for (eid, &i) in kept.iter().enumerate() {
            let e = self.events[i as usize];
            let chain = if (e.key >> 104) == 0 {
                Chain::Bitcoin
            } else {
                Chain::Ethereum
            };
            let height = ((e.key >> 64) as u64) & MAX_HEIGHT;
            if blocks
                .last()
                .is_none_or(|b| b.chain != chain || b.height.0 != height)
            {
                let time = self.block_time.get(&(chain, height)).copied().unwrap_or(0);
                blocks.push(BlockInfo {
                    chain,
                    height: BlockHeight(height),
                    time: Timestamp(time),
                    first_event: eid as u32,
                });
            }
            ev_tx.push(tx_of[e.tx as usize]);
            ev_asset.push(asset_of[e.asset as usize]);
            ev_leg.push(leg_addr.len() as u32);
            ev_nin.push(e.n_in);
            let r = e.leg_start as usize..(e.leg_start + e.n_in + e.n_out) as usize;
            leg_addr.extend(
                self.leg_addr[r.clone()]
                    .iter()
                    .map(|&a| node_of[a as usize]),
            );
            for &amt in &self.leg_amt[r] {
                leg_amt.push(amt);
            }
        }
        ev_leg.push(leg_addr.len() as u32);
        drop(std::mem::take(&mut self.leg_addr));
        drop(std::mem::take(&mut self.leg_amt));
        drop(std::mem::take(&mut self.events));

        // Adjacency by counting sort; events are visited in order, so every
        // list comes out sorted by event id.
        let mut out_off = vec![0u32; n_addr + 1];
        let mut in_off = vec![0u32; n_addr + 1];
        let each_event = |f: LegVisitor<'_>| {
            for e in 0..n_events {
                let (s, m, t) = (
                    ev_leg[e] as usize,
                    (ev_leg[e] + ev_nin[e]) as usize,
                    ev_leg[e + 1] as usize,
                );
                f(e as u32, &leg_addr[s..m], &leg_addr[m..t]);
            }
        };
        let mut seen: Vec<u32> = Vec::new();
        each_event(&mut |_, ins, outs| {
            for_each_distinct(ins, &mut seen, |a| out_off[a as usize + 1] += 1);
            for_each_distinct(outs, &mut seen, |a| in_off[a as usize + 1] += 1);
        });
        for i in 0..n_addr {
            out_off[i + 1] += out_off[i];
            in_off[i + 1] += in_off[i];
        }
        let mut out_adj = vec![
            OutEdge {
                event: 0,
                target: 0
            };
            out_off[n_addr] as usize
        ];
        let mut in_adj = vec![0u32; in_off[n_addr] as usize];
        let mut out_fill = out_off.clone();
        let mut in_fill = in_off.clone();
        each_event(&mut |e, ins, outs| {
            let target = if ins.len() == 1 && outs.len() == 1 {
                outs[0]
            } else {
                NONE
            };
            for_each_distinct(ins, &mut seen, |a| {
                out_adj[out_fill[a as usize] as usize] = OutEdge { event: e, target };
                out_fill[a as usize] += 1;
            });
            for_each_distinct(outs, &mut seen, |a| {
                in_adj[in_fill[a as usize] as usize] = e;
                in_fill[a as usize] += 1;
            });
        });

        let mut asset_info = self.asset_info;
        for a in &self.assets {
            if let Some(d) = a.native_decimals() {
                asset_info.entry(*a).or_insert_with(|| AssetInfo {
                    asset: *a,
                    symbol: a.to_string(),
                    decimals: d,
                });
            }
        }
        Ok(FlowGraph {
            addresses,
            index: self.interner,
            txids,
            assets,
            asset_info,
            blocks,
            ev_tx,
            ev_asset,
            ev_leg,
            ev_nin,
            leg_addr,
            leg_amt,
            out_off,
            out_adj,
            in_off,
            in_adj,
            sources: self.sources,
            stats: self.stats,
            openings: FxHashMap::default(),
            opening_list: Vec::new(),
        })
    }

    fn same_event(&self, a: &RawEvent, b: &RawEvent) -> bool {
        let legs = |e: &RawEvent| {
            let r = e.leg_start as usize..(e.leg_start + e.n_in + e.n_out) as usize;
            (&self.leg_addr[r.clone()], &self.leg_amt[r])
        };
        a.tx == b.tx
            && a.asset == b.asset
            && a.n_in == b.n_in
            && a.n_out == b.n_out
            && legs(a) == legs(b)
    }
}

type LegVisitor<'a> = &'a mut dyn FnMut(u32, &[u32], &[u32]);

fn describe_key(key: u128) -> String {
    let chain = if (key >> 104) == 0 {
        "bitcoin"
    } else {
        "ethereum"
    };
    format!(
        "{chain} block {} index {} sub {}",
        ((key >> 64) as u64) & MAX_HEIGHT,
        (key >> 32) as u32,
        key as u32
    )
}

/// Calls `f` once per distinct value of `items` (small slices: linear scan;
/// larger ones: sort a copy).
fn for_each_distinct(items: &[u32], scratch: &mut Vec<u32>, mut f: impl FnMut(u32)) {
    if items.len() <= 8 {
        for (i, &a) in items.iter().enumerate() {
            if !items[..i].contains(&a) {
                f(a);
            }
        }
    } else {
        scratch.clear();
        scratch.extend_from_slice(items);
        scratch.sort_unstable();
        scratch.dedup();
        for &a in scratch.iter() {
            f(a);
        }
    }
}

/// One outgoing adjacency entry: the event, and for a one-to-one transfer its
/// receiver (`NONE` for a multi-leg UTXO transaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutEdge {
    pub(crate) event: u32,
    pub(crate) target: u32,
}

/// Amounts as `u64`, with values of 2^63 and more stored out of line.
#[derive(Debug, Clone, Default)]
pub(crate) struct AmountColumn {
    pub(crate) small: Vec<u64>,
    pub(crate) big: Vec<u128>,
}

const BIG_FLAG: u64 = 1 << 63;

impl AmountColumn {
    fn with_capacity(n: usize) -> AmountColumn {
        AmountColumn {
            small: Vec::with_capacity(n),
            big: Vec::new(),
        }
    }

    fn push(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(s) if s < BIG_FLAG => self.small.push(s),
            _ => {
                self.small.push(BIG_FLAG | self.big.len() as u64);
                self.big.push(v);
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> u128 {
        let s = self.small[i];
        if s & BIG_FLAG == 0 {
            u128::from(s)
        } else {
            self.big[(s & !BIG_FLAG) as usize]
        }
    }

    fn bytes(&self) -> usize {
        self.small.len() * 8 + self.big.len() * 16
    }
}

/// A block as the graph knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct BlockInfo {
    pub(crate) chain: Chain,
    pub(crate) height: BlockHeight,
    pub(crate) time: Timestamp,
    pub(crate) first_event: u32,
}

/// A frozen, read-only flow graph in time order; see the [module
/// documentation](self) for its layout.
///
/// Cheap to share across threads (`Sync`); every traversal keeps its own
/// state and borrows the graph.
pub struct FlowGraph {
    pub(crate) addresses: Vec<Address>,
    pub(crate) index: FxHashMap<Address, u32>,
    pub(crate) txids: Vec<TxId>,
    pub(crate) assets: Vec<Asset>,
    pub(crate) asset_info: BTreeMap<Asset, AssetInfo>,
    pub(crate) blocks: Vec<BlockInfo>,
    pub(crate) ev_tx: Vec<u32>,
    pub(crate) ev_asset: Vec<u32>,
    pub(crate) ev_leg: Vec<u32>,
    pub(crate) ev_nin: Vec<u32>,
    pub(crate) leg_addr: Vec<u32>,
    pub(crate) leg_amt: AmountColumn,
    pub(crate) out_off: Vec<u32>,
    pub(crate) out_adj: Vec<OutEdge>,
    pub(crate) in_off: Vec<u32>,
    pub(crate) in_adj: Vec<u32>,
    pub(crate) sources: Vec<SourceSummary>,
    pub(crate) stats: LoadStats,
    /// Known opening balances: (node, asset index) -> base units.
    pub(crate) openings: FxHashMap<(u32, u32), u128>,
    pub(crate) opening_list: Vec<OpeningBalance>,
}

/// A balance an address held before the first block of the graph, fetched
/// from a node (`eth_getBalance`, ERC-20 `balanceOf`) so that the value
/// models see it instead of inferring it (see [`crate::trace`], "Unknown
/// opening balances").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OpeningBalance {
    /// Whose balance.
    pub address: Address,
    /// In which asset.
    pub asset: Asset,
    /// Base units.
    pub amount: Amount,
    /// The block at whose end the balance was read.
    pub at_block: u64,
    /// Where it came from (`eth_getBalance`, `balanceOf`, …).
    pub source: String,
}

impl std::fmt::Debug for FlowGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowGraph")
            .field("addresses", &self.addresses.len())
            .field("events", &self.ev_tx.len())
            .field("legs", &self.leg_addr.len())
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// One event seen from outside: when, which transaction, what moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// The transaction.
    pub tx: TxId,
    /// Its block.
    pub block: BlockRef,
    /// The asset.
    pub asset: Asset,
    /// Input legs in order (one for a transfer).
    pub inputs: Vec<(Address, Amount)>,
    /// Output legs in order (one for a transfer; a UTXO transaction's fee
    /// leg to `fees` comes last).
    pub outputs: Vec<(Address, Amount)>,
}

/// Size of a frozen graph, for benchmarks and capacity planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryUse {
    /// Bytes of the traversal structure: events, legs, amounts, adjacency.
    pub traversal_bytes: usize,
    /// Bytes of the address book (addresses and their lookup table) and
    /// transaction ids, which reports need but traversal does not.
    pub book_bytes: usize,
}

impl FlowGraph {
    /// Sets the known opening balances (replacing earlier ones). Balances of
    /// addresses or assets absent from the graph are dropped; returns how
    /// many were kept. The value models start each kept address with its
    /// balance (clean, oldest) and infer only what it spends beyond it.
    pub fn set_opening_balances(&mut self, balances: Vec<OpeningBalance>) -> usize {
        self.openings.clear();
        self.opening_list.clear();
        for b in balances {
            let (Some(n), Some(a)) = (
                self.index.get(&b.address).copied(),
                self.assets.iter().position(|x| *x == b.asset),
            ) else {
                continue;
            };
            let a = u32::try_from(a).unwrap_or(u32::MAX);
            if self.openings.insert((n, a), b.amount.get()).is_some() {
                self.opening_list
                    .retain(|o| !(o.address == b.address && o.asset == b.asset));
            }
            self.opening_list.push(b);
        }
        self.opening_list.len()
    }

    /// The opening balances set by [`FlowGraph::set_opening_balances`].
    pub fn opening_balances(&self) -> &[OpeningBalance] {
        &self.opening_list
    }

    pub(crate) fn known_opening(&self, node: u32, asset: u32) -> Option<u128> {
        if self.openings.is_empty() {
            return None;
        }
        self.openings.get(&(node, asset)).copied()
    }

    /// Builds a graph from records in one call.
    ///
    /// # Errors
    /// As [`GraphBuilder::add`] and [`GraphBuilder::freeze`].
    pub fn from_records(name: &str, records: Vec<Record>) -> Result<FlowGraph> {
        let mut b = GraphBuilder::new();
        b.load(&mut crate::sources::MemorySource::new(name, records))?;
        b.freeze()
    }

    /// Number of distinct addresses (nodes).
    pub fn address_count(&self) -> usize {
        self.addresses.len()
    }

    /// Number of events (transfers plus UTXO transactions).
    pub fn event_count(&self) -> usize {
        self.ev_tx.len()
    }

    /// Number of legs: two per transfer, n + m (+1 for a fee) per UTXO transaction.
    pub fn leg_count(&self) -> usize {
        self.leg_addr.len()
    }

    /// Number of adjacency entries in both directions (the edges a traversal can walk).
    pub fn adjacency_count(&self) -> usize {
        self.out_adj.len() + self.in_adj.len()
    }

    /// The node of an address, or `None` if the graph never saw it.
    pub fn node(&self, address: &Address) -> Option<NodeId> {
        self.index.get(address).map(|&i| NodeId(i))
    }

    /// The address of a node.
    ///
    /// # Panics
    /// If `node` is not of this graph.
    pub fn address(&self, node: NodeId) -> Address {
        self.addresses[node.index()]
    }

    /// All addresses, indexed by [`NodeId::index`].
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The sources loaded, with their block ranges.
    pub fn sources(&self) -> &[SourceSummary] {
        &self.sources
    }

    /// What loading counted (skipped zero values, duplicates, short inputs).
    pub fn load_stats(&self) -> LoadStats {
        self.stats
    }

    /// Ticker and decimals of an asset, when known.
    pub fn asset_info(&self, asset: &Asset) -> Option<&AssetInfo> {
        self.asset_info.get(asset)
    }

    /// The assets that occur in the graph.
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    pub(crate) fn asset_of(&self, e: u32) -> Asset {
        self.assets[self.ev_asset[e as usize] as usize]
    }

    pub(crate) fn txid_of(&self, e: u32) -> TxId {
        self.txids[self.ev_tx[e as usize] as usize]
    }

    pub(crate) fn block_of(&self, e: u32) -> BlockRef {
        let i = self.blocks.partition_point(|b| b.first_event <= e) - 1;
        let b = &self.blocks[i];
        BlockRef {
            chain: b.chain,
            height: b.height,
            time: b.time,
        }
    }

    #[inline]
    pub(crate) fn inputs_of(&self, e: u32) -> std::ops::Range<usize> {
        let s = self.ev_leg[e as usize];
        s as usize..(s + self.ev_nin[e as usize]) as usize
    }

    #[inline]
    pub(crate) fn outputs_of(&self, e: u32) -> std::ops::Range<usize> {
        (self.ev_leg[e as usize] + self.ev_nin[e as usize]) as usize
            ..self.ev_leg[e as usize + 1] as usize
    }

    #[inline]
    pub(crate) fn out_edges(&self, n: u32) -> &[OutEdge] {
        &self.out_adj[self.out_off[n as usize] as usize..self.out_off[n as usize + 1] as usize]
    }

    #[inline]
    pub(crate) fn in_events(&self, n: u32) -> &[u32] {
        &self.in_adj[self.in_off[n as usize] as usize..self.in_off[n as usize + 1] as usize]
    }

    /// Everything about one event.
    ///
    /// # Panics
    /// If `event` is not of this graph.
    pub fn event(&self, event: EventId) -> EventInfo {
        let e = event.0;
        let legs = |r: std::ops::Range<usize>| {
            r.map(|i| {
                (
                    self.addresses[self.leg_addr[i] as usize],
                    Amount::new(self.leg_amt.get(i)),
                )
            })
            .collect()
        };
        EventInfo {
            tx: self.txid_of(e),
            block: self.block_of(e),
            asset: self.asset_of(e),
            inputs: legs(self.inputs_of(e)),
            outputs: legs(self.outputs_of(e)),
        }
    }

    /// All events, in time order.
    pub fn events(&self) -> impl Iterator<Item = EventId> + '_ {
        (0..self.ev_tx.len() as u32).map(EventId)
    }

    /// Events in which `node` sends, in time order.
    pub fn outgoing(&self, node: NodeId) -> impl Iterator<Item = EventId> + '_ {
        self.out_edges(node.0).iter().map(|o| EventId(o.event))
    }

    /// Events in which `node` receives, in time order.
    pub fn incoming(&self, node: NodeId) -> impl Iterator<Item = EventId> + '_ {
        self.in_events(node.0).iter().map(|&e| EventId(e))
    }

    /// Bytes used, split into the traversal structure and the address book.
    pub fn memory_use(&self) -> MemoryUse {
        use std::mem::size_of;
        let traversal = self.ev_tx.capacity() * 4
            + self.ev_asset.capacity() * 4
            + self.ev_leg.capacity() * 4
            + self.ev_nin.capacity() * 4
            + self.leg_addr.capacity() * 4
            + self.leg_amt.bytes()
            + self.out_off.capacity() * 4
            + self.out_adj.capacity() * size_of::<OutEdge>()
            + self.in_off.capacity() * 4
            + self.in_adj.capacity() * 4
            + self.blocks.capacity() * size_of::<BlockInfo>();
        // A hashbrown table holds its entries plus one control byte per bucket,
        // at a load factor of at most 7/8.
        let map = self.index.capacity() * 8 / 7 * (size_of::<(Address, u32)>() + 1);
        let book = self.addresses.capacity() * size_of::<Address>()
            + map
            + self.txids.capacity() * size_of::<TxId>();
        MemoryUse {
            traversal_bytes: traversal,
            book_bytes: book,
        }
    }

    /// Exports to a petgraph `DiGraph`: one node per address and per
    /// multi-leg UTXO transaction, one edge per leg (a one-to-one transfer is
    /// a direct edge). The size stays linear in the number of legs.
    pub fn to_petgraph(&self) -> DiGraph<PetNode, PetEdge> {
        let mut g = DiGraph::with_capacity(self.addresses.len(), self.leg_addr.len());
        for &a in &self.addresses {
            g.add_node(PetNode::Address(a));
        }
        for e in 0..self.event_count() as u32 {
            let (ins, outs) = (self.inputs_of(e), self.outputs_of(e));
            let ev = EventId(e);
            if ins.len() == 1 && outs.len() == 1 {
                let (a, b) = (self.leg_addr[ins.start], self.leg_addr[outs.start]);
                g.add_edge(
                    ni(a),
                    ni(b),
                    PetEdge {
                        event: ev,
                        amount: Amount::new(self.leg_amt.get(outs.start)),
                    },
                );
            } else {
                let t = g.add_node(PetNode::Transaction(self.txid_of(e)));
                for i in ins {
                    g.add_edge(
                        ni(self.leg_addr[i]),
                        t,
                        PetEdge {
                            event: ev,
                            amount: Amount::new(self.leg_amt.get(i)),
                        },
                    );
                }
                for i in outs {
                    g.add_edge(
                        t,
                        ni(self.leg_addr[i]),
                        PetEdge {
                            event: ev,
                            amount: Amount::new(self.leg_amt.get(i)),
                        },
                    );
                }
            }
        }
        g
    }
}

/// A node of the graph exported by [`FlowGraph::to_petgraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PetNode {
    /// An address.
    Address(Address),
    /// A multi-leg UTXO transaction.
    Transaction(TxId),
}

/// An edge of the graph exported by [`FlowGraph::to_petgraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PetEdge {
    /// The event the leg belongs to.
    pub event: EventId,
    /// The leg's amount.
    pub amount: Amount,
}

// --- petgraph visit traits: address-to-address neighbours, ignoring time ---

impl GraphBase for FlowGraph {
    type NodeId = NodeId;
    type EdgeId = EventId;
}

impl NodeCount for FlowGraph {
    fn node_count(&self) -> usize {
        self.addresses.len()
    }
}

impl NodeIndexable for FlowGraph {
    fn node_bound(&self) -> usize {
        self.addresses.len()
    }
    fn to_index(&self, a: NodeId) -> usize {
        a.index()
    }
    fn from_index(&self, i: usize) -> NodeId {
        NodeId(u32::try_from(i).expect("node indices fit in u32 by construction"))
    }
}

/// A set of visited nodes, a bit per node (petgraph's `VisitMap` for [`FlowGraph`]).
#[derive(Debug, Clone)]
pub struct NodeSet(Vec<u64>);

impl VisitMap<NodeId> for NodeSet {
    fn visit(&mut self, n: NodeId) -> bool {
        let (w, b) = (n.index() / 64, n.index() % 64);
        let first = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        first
    }
    fn is_visited(&self, n: &NodeId) -> bool {
        self.0[n.index() / 64] & (1 << (n.index() % 64)) != 0
    }
    fn unvisit(&mut self, n: NodeId) -> bool {
        let was = self.is_visited(&n);
        self.0[n.index() / 64] &= !(1 << (n.index() % 64));
        was
    }
}

impl Visitable for FlowGraph {
    type Map = NodeSet;
    fn visit_map(&self) -> NodeSet {
        NodeSet(vec![0; self.addresses.len().div_ceil(64)])
    }
    fn reset_map(&self, map: &mut NodeSet) {
        map.0.iter_mut().for_each(|w| *w = 0);
        map.0.resize(self.addresses.len().div_ceil(64), 0);
    }
}

impl<'a> IntoNeighbors for &'a FlowGraph {
    type Neighbors = Neighbors<'a>;
    /// Receivers of every event `a` sends in, in time order (a receiver may
    /// repeat); time is not respected here, use [`crate::trace`] for that.
    fn neighbors(self, a: NodeId) -> Neighbors<'a> {
        Neighbors {
            g: self,
            edges: self.out_edges(a.0).iter(),
            legs: 0..0,
        }
    }
}

/// Iterator over the receivers of a node's outgoing events.
pub struct Neighbors<'a> {
    g: &'a FlowGraph,
    edges: std::slice::Iter<'a, OutEdge>,
    legs: std::ops::Range<usize>,
}

impl Iterator for Neighbors<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        loop {
            if let Some(i) = self.legs.next() {
                return Some(NodeId(self.g.leg_addr[i]));
            }
            let o = self.edges.next()?;
            if o.target != NONE {
                return Some(NodeId(o.target));
            }
            self.legs = self.g.outputs_of(o.event);
        }
    }
}

fn ni(i: u32) -> petgraph::graph::NodeIndex {
    petgraph::graph::NodeIndex::new(i as usize)
}
