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
//!   inline (a second word), so the common hop costs one sequential read;
//! * a UTXO transaction costs n + m + 1 legs and at most n + m adjacency
//!   entries, never n × m edges.
//!
//! ## Columns
//! Per event: a bit for "moves its chain's native coin", a bit for "more
//! than one input or output" and a bit for "first event of its
//! transaction", each with a rank index (a `u32` per 64 events), so the
//! transaction of an event is a population count away; token events keep
//! their asset index in a column of their own (`u16`, larger indices out
//! of line). Legs live in **slots** (node `u32`, amount `u64`): a
//! multi-leg event has one slot per leg (inputs first), plus its input
//! count and a running total of its extra slots, from which any event's
//! first slot follows; a one-to-one event has a single slot, its sender
//! and amount, because its receiver is already the inline target of its
//! out-edge. Out-edges are packed words (`OutList`): a one-to-one
//! event's entry is its event and its receiver, a multi-leg event's entry
//! its event alone. For an ETH transfer that is 12 bytes of slot, 8 of
//! out-edge, 4 of in-edge and under half a byte of event columns, instead
//! of 52 in a plain event/leg layout.
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
// Index casts: the builder refuses graphs with 2^31 or more addresses or
// events, or about 2^32 legs (`Error::Capacity`), so u32/usize index casts
// cannot truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use petgraph::graph::DiGraph;
use petgraph::visit::{GraphBase, IntoNeighbors, NodeCount, NodeIndexable, VisitMap, Visitable};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::sources::{Record, Source};
use crate::types::{
    Address, Amount, Asset, AssetInfo, BlockHeight, BlockRef, Chain, OpeningBalance, Position,
    Special, Timestamp, TxId,
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

    /// Sorts the events into time order and builds the read-only [`FlowGraph`].
    ///
    /// Two records at the same position with the same content are one
    /// record (counted in [`LoadStats::duplicates_dropped`]).
    ///
    /// # Errors
    /// [`Error::Conflict`] if two records claim the same position with
    /// different content, or two transactions the same position in a block.
    ///
    /// # Complexity
    /// O(E log E) for the sort, then linear passes over legs; all of it in
    /// parallel on the current rayon pool, whose number of threads does not
    /// change the graph. The events are cut into one run per thread (at
    /// most 8): each run counts its addresses' events, then lays out its
    /// columns and writes its adjacency entries at places computed from the
    /// counts. Besides the graph, each run needs 16 bytes per address
    /// while it works.
    pub fn freeze(mut self) -> Result<FlowGraph> {
        let mut order: Vec<u32> = (0..u32::try_from(self.events.len()).unwrap_or(NONE)).collect();
        {
            let events = &self.events;
            order.par_sort_unstable_by_key(|&i| (events[i as usize].key, i));
        }
        // Drop exact duplicates; refuse conflicts. Being the same event is
        // an equivalence, so comparing each event with the one before it
        // finds the same first conflict as comparing it with the first of
        // its position; blocks of the order are compared in parallel and
        // their first conflict taken in order.
        const BLOCK: usize = 1 << 16;
        let blocks: Vec<std::result::Result<Vec<u32>, (u32, u32)>> = order
            .par_chunks(BLOCK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut kept = Vec::with_capacity(chunk.len());
                let mut prev = (c * BLOCK).checked_sub(1).map(|p| order[p]);
                for &i in chunk {
                    if let Some(p) = prev {
                        let (a, b) = (&self.events[p as usize], &self.events[i as usize]);
                        if a.key == b.key {
                            if self.same_event(a, b) {
                                continue;
                            }
                            return Err((p, i));
                        }
                    }
                    kept.push(i);
                    prev = Some(i);
                }
                Ok(kept)
            })
            .collect();
        let mut parts = Vec::with_capacity(blocks.len());
        for b in blocks {
            match b {
                Ok(kept) => parts.push(kept),
                Err((p, i)) => {
                    let (a, b) = (&self.events[p as usize], &self.events[i as usize]);
                    return Err(Error::Conflict {
                        position: describe_key(a.key),
                        reason: format!(
                            "two different movements (tx {} and tx {})",
                            self.txids[a.tx as usize], self.txids[b.tx as usize]
                        ),
                    });
                }
            }
        }
        let kept: Vec<u32> = parts.concat();
        drop(parts);
        self.stats.duplicates_dropped += (order.len() - kept.len()) as u64;
        drop(order);
        let n_events = kept.len();
        let n_addr = self.addresses.len();

        // The events, in time order, cut into one run per thread (at
        // multiples of 64 events, so that bit columns join word by word).
        // Each pass below works on the runs in parallel and joins their
        // results in run order, so the graph is the same whatever the
        // number of threads.
        let per = n_events
            .div_ceil(rayon::current_num_threads().clamp(1, MAX_RUNS))
            .next_multiple_of(64)
            .max(64);
        let mut runs: Vec<std::ops::Range<usize>> = (0..n_events)
            .step_by(per)
            .map(|s| s..(s + per).min(n_events))
            .collect();
        if runs.is_empty() {
            runs.push(0..0);
        }
        let tallies: Vec<Tally> = runs
            .par_iter()
            .map(|r| {
                let before = r
                    .start
                    .checked_sub(1)
                    .map(|p| self.events[kept[p] as usize].tx);
                self.tally(&kept[r.clone()], before, n_addr)
            })
            .collect();

        // Canonical numbering, so that the frozen graph, and every tie a
        // trace breaks by node id, is the same whatever order the records
        // were loaded in (see `incoming_order`): addresses by the number of
        // events they receive in, most first, then in order of first
        // appearance in time (within an event, in leg order); transactions
        // in order of first appearance; assets in asset order. Addresses in
        // no event (their records were all duplicates) come last, in
        // address order.
        let mut seen = vec![0u64; n_addr.div_ceil(64)];
        let mut first: Vec<u32> = Vec::with_capacity(n_addr);
        for t in &tallies {
            for &a in &t.first {
                let (w, b) = (a as usize / 64, a % 64);
                if seen[w] & (1 << b) == 0 {
                    seen[w] |= 1 << b;
                    first.push(a);
                }
            }
        }
        drop(seen);
        let mut by_node = incoming_order(&first, |a| {
            tallies.iter().map(|t| t.incoming[a as usize]).sum()
        });
        drop(first);
        let mut node_of = vec![NONE; n_addr];
        for (n, &a) in by_node.iter().enumerate() {
            node_of[a as usize] = n as u32;
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
            .par_iter()
            .map(|&a| self.addresses[a as usize])
            .collect();
        drop(std::mem::take(&mut self.addresses));
        // The builder's map held each address a second time; the graph's
        // index holds node numbers only. (The builder keeps its map: the
        // load looks up every leg, and a lookup through the address list
        // would add a cache miss to each.)
        drop(std::mem::take(&mut self.interner));
        // Each run's place in each node's lists: a node's entries of run k
        // follow those of runs before k. (A pass over nodes of its own,
        // while another thread builds the address index.)
        let place = || {
            let mut out_off = vec![0u32; n_addr + 1];
            let mut in_off = vec![0u32; n_addr + 1];
            let mut cursors: Vec<(Vec<u32>, Vec<u32>)> = tallies
                .iter()
                .map(|_| (vec![0u32; n_addr], vec![0u32; n_addr]))
                .collect();
            let (mut o, mut i) = (0u32, 0u32);
            for (n, &a) in by_node.iter().enumerate() {
                for (t, (oc, ic)) in tallies.iter().zip(&mut cursors) {
                    oc[n] = o;
                    ic[n] = i;
                    o += t.outgoing[a as usize];
                    i += t.incoming[a as usize];
                }
                out_off[n + 1] = o;
                in_off[n + 1] = i;
            }
            (out_off, in_off, cursors)
        };
        let ((out_off, in_off, cursors), index) =
            rayon::join(place, || AddressIndex::of_distinct(&addresses));
        drop(by_node);
        let sizes: Vec<(usize, usize, usize)> =
            tallies.iter().map(|t| (t.multi, t.slots, t.txs)).collect();
        drop(tallies);
        let mut by_asset: Vec<u32> = (0..self.assets.len() as u32).collect();
        by_asset.sort_unstable_by_key(|&i| self.assets[i as usize]);
        let mut asset_of = vec![0u32; self.assets.len()];
        for (new, &old) in by_asset.iter().enumerate() {
            asset_of[old as usize] = new as u32;
        }
        let assets: Vec<Asset> = by_asset.iter().map(|&i| self.assets[i as usize]).collect();

        // Columns in time order, each run laid out by a thread of its own,
        // which also writes the run's adjacency entries at its cursors (so
        // every list comes out sorted by event id). Each position holds one
        // transaction and each transaction one position (`intern_tx`), so a
        // transaction's events are adjacent and a bit per event marks where
        // one starts.
        let zeros = |n: u32| -> Vec<AtomicU32> {
            (0..n)
                .into_par_iter()
                .with_min_len(1 << 16)
                .map(|_| AtomicU32::new(0))
                .collect()
        };
        let out_adj = zeros(out_off[n_addr]);
        let in_adj = zeros(in_off[n_addr]);
        let (n_multi, n_slots, n_txs) = sizes.iter().fold((0, 0, 0), |(m, s, t), &(rm, rs, rt)| {
            (m + rm, s + rs, t + rt)
        });
        let mut extra = Vec::with_capacity(runs.len());
        let mut total = 0usize;
        for (r, &(_, slots, _)) in runs.iter().zip(&sizes) {
            extra.push(u32::try_from(total).map_err(|_| Error::Capacity {
                what: "legs",
                limit: u64::from(NONE),
            })?);
            total += slots - r.len();
        }
        let adj = Adjacency {
            out_adj: &out_adj,
            in_adj: &in_adj,
        };
        let parts: Vec<Result<Part>> = runs
            .par_iter()
            .zip(cursors)
            .zip(extra)
            .enumerate()
            .map(|(k, ((r, cursors), extra))| {
                // The first part takes the others in (`append`): room for all.
                let room = if k == 0 {
                    (n_events, n_multi, n_slots, n_txs)
                } else {
                    (r.len(), sizes[k].0, sizes[k].1, sizes[k].2)
                };
                let layout = Layout::part(r.start, extra, room.0, room.1, room.2);
                let txids = Vec::with_capacity(room.3);
                self.lay_out(
                    &kept,
                    r.clone(),
                    layout,
                    txids,
                    &node_of,
                    &asset_of,
                    cursors,
                    adj,
                )
            })
            .collect();
        drop((node_of, asset_of));
        let mut parts = parts.into_iter();
        let Part {
            mut layout,
            mut blocks,
            mut txids,
        } = parts.next().expect("at least one run")?;
        for p in parts {
            let p = p?;
            layout.append(p.layout);
            for b in p.blocks {
                // A block that goes on across the join is one block.
                if blocks
                    .last()
                    .is_none_or(|l| l.chain != b.chain || l.height != b.height)
                {
                    blocks.push(b);
                }
            }
            txids.extend_from_slice(&p.txids);
        }
        drop(std::mem::take(&mut self.leg_addr));
        drop(std::mem::take(&mut self.leg_amt));
        drop(std::mem::take(&mut self.events));
        drop(kept);
        let words =
            |v: Vec<AtomicU32>| -> Vec<u32> { v.into_iter().map(AtomicU32::into_inner).collect() };
        let (out_adj, in_adj) = rayon::join(|| words(out_adj), || words(in_adj));
        let cols = layout.seal(out_off, out_adj, in_off, in_adj);
        let (forwards, pays_forwarders) = forwarding_events(&cols, n_events);

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
            index,
            txids,
            assets,
            asset_info,
            blocks,
            cols,
            forwards,
            pays_forwarders,
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
    /// The legs of `e`, as builder address numbers.
    fn legs(&self, e: &RawEvent) -> &[u32] {
        &self.leg_addr[e.leg_start as usize..(e.leg_start + e.n_in + e.n_out) as usize]
    }

    /// Counts over one run of `kept` (see [`Tally`]).
    /// `before` is the transaction of the event before the run.
    fn tally(&self, kept: &[u32], before: Option<u32>, n_addr: usize) -> Tally {
        let mut t = Tally {
            first: Vec::new(),
            incoming: vec![0; n_addr],
            outgoing: vec![0; n_addr],
            multi: 0,
            slots: 0,
            txs: 0,
        };
        let mut tx = before;
        let mut seen = vec![0u64; n_addr.div_ceil(64)];
        let mut scratch = Vec::new();
        for (k, &i) in kept.iter().enumerate() {
            // The counts read are spread over the whole address range: ask
            // for those of a few events ahead.
            if let Some(&j) = kept.get(k + 8) {
                let e = &self.events[j as usize];
                let (ins, outs) = self.legs(e).split_at(e.n_in as usize);
                ins.iter().for_each(|&a| prefetch(&t.outgoing[a as usize]));
                outs.iter().for_each(|&a| prefetch(&t.incoming[a as usize]));
            }
            let e = &self.events[i as usize];
            if tx != Some(e.tx) {
                t.txs += 1;
                tx = Some(e.tx);
            }
            let legs = self.legs(e);
            for &a in legs {
                let (w, b) = (a as usize / 64, a % 64);
                if seen[w] & (1 << b) == 0 {
                    seen[w] |= 1 << b;
                    t.first.push(a);
                }
            }
            // Out-edge words: a one-to-one event's entry has two (event
            // and receiver), so there are no more words than legs.
            let words = if legs.len() == 2 { 2 } else { 1 };
            let (ins, outs) = legs.split_at(e.n_in as usize);
            for_each_distinct(ins, &mut scratch, |a| t.outgoing[a as usize] += words);
            for_each_distinct(outs, &mut scratch, |a| t.incoming[a as usize] += 1);
            if legs.len() == 2 {
                t.slots += 1;
            } else {
                t.multi += 1;
                t.slots += legs.len();
            }
        }
        t
    }

    /// Lays out the events `kept[run]` (numbered `run`) into `layout` and
    /// writes their adjacency entries at `cursors` (per node, where its
    /// run's out-edge and in-edge entries start); also returns the run's
    /// blocks and, per transaction starting in it, its id.
    #[allow(clippy::too_many_arguments)]
    fn lay_out(
        &self,
        kept: &[u32],
        run: std::ops::Range<usize>,
        mut layout: Layout,
        mut txids: Vec<TxId>,
        node_of: &[u32],
        asset_of: &[u32],
        cursors: (Vec<u32>, Vec<u32>),
        adj: Adjacency<'_>,
    ) -> Result<Part> {
        let (mut out_at, mut in_at) = cursors;
        let mut blocks: Vec<BlockInfo> = Vec::new();
        let mut legs: Vec<(u32, u128)> = Vec::new();
        let mut nodes: Vec<u32> = Vec::new();
        let mut scratch: Vec<u32> = Vec::new();
        let mut prev: Option<(u128, u32)> = run.start.checked_sub(1).map(|p| {
            let e = &self.events[kept[p] as usize];
            (e.key >> 32, e.tx)
        });
        let end = run.end;
        for (eid, &i) in run.clone().zip(&kept[run]) {
            // Node numbers, cursors and adjacency words are each spread
            // over the whole graph: ask for them a few events ahead, each
            // from the one asked for before.
            let ahead = |d: usize| {
                (eid + d < end).then(|| {
                    let e = &self.events[kept[eid + d] as usize];
                    (self.legs(e), e.n_in as usize)
                })
            };
            if let Some((legs, _)) = ahead(16) {
                legs.iter().for_each(|&a| prefetch(&node_of[a as usize]));
            }
            if let Some((legs, _)) = ahead(8) {
                for &a in legs {
                    let n = node_of[a as usize] as usize;
                    prefetch(&out_at[n]);
                    prefetch(&in_at[n]);
                }
            }
            if let Some((legs, n_in)) = ahead(4) {
                for (j, &a) in legs.iter().enumerate() {
                    let n = node_of[a as usize] as usize;
                    let word = if j < n_in {
                        adj.out_adj.get(out_at[n] as usize)
                    } else {
                        adj.in_adj.get(in_at[n] as usize)
                    };
                    if let Some(w) = word {
                        prefetch(w);
                    }
                }
            }
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
            let pos = e.key >> 32;
            if let Some((p, t)) = prev {
                if p == pos && t != e.tx {
                    return Err(Error::Conflict {
                        position: describe_key(e.key),
                        reason: format!(
                            "two transactions at one position (tx {} and tx {})",
                            self.txids[t as usize], self.txids[e.tx as usize]
                        ),
                    });
                }
            }
            let new_tx = prev.is_none_or(|(_, t)| t != e.tx);
            if new_tx {
                txids.push(self.txids[e.tx as usize]);
            }
            prev = Some((pos, e.tx));
            let r = e.leg_start as usize..(e.leg_start + e.n_in + e.n_out) as usize;
            nodes.clear();
            nodes.extend(
                self.leg_addr[r.clone()]
                    .iter()
                    .map(|&a| node_of[a as usize]),
            );
            legs.clear();
            legs.extend(nodes.iter().zip(&self.leg_amt[r]).map(|(&n, &v)| (n, v)));
            layout
                .push(
                    new_tx,
                    asset_of[e.asset as usize],
                    self.assets[e.asset as usize].is_native(),
                    e.n_in as usize,
                    &legs,
                )
                .map_err(|reason| Error::Conflict {
                    position: describe_key(e.key),
                    reason: reason.to_owned(),
                })?;
            let eid = eid as u32;
            let one = nodes.len() == 2;
            let (ins, outs) = nodes.split_at(e.n_in as usize);
            for_each_distinct(ins, &mut scratch, |n| {
                let at = out_at[n as usize] as usize;
                adj.out_adj[at].store(eid, Ordering::Relaxed);
                if one {
                    adj.out_adj[at + 1].store(RECV | outs[0], Ordering::Relaxed);
                }
                out_at[n as usize] += 1 + u32::from(one);
            });
            for_each_distinct(outs, &mut scratch, |n| {
                adj.in_adj[in_at[n as usize] as usize].store(eid, Ordering::Relaxed);
                in_at[n as usize] += 1;
            });
        }
        Ok(Part {
            layout,
            blocks,
            txids,
        })
    }
}

type LegVisitor<'a> = &'a mut dyn FnMut(u32, &[u32], &[u32]);

/// At most this many runs in a freeze, however many threads: each run keeps
/// counts and cursors of 16 bytes per address while the columns are laid
/// out.
const MAX_RUNS: usize = 8;

/// Counts over one run of a freeze's events, in builder address numbers.
struct Tally {
    /// Addresses in order of their first appearance in the run.
    first: Vec<u32>,
    /// Per address, the events of the run it receives in.
    incoming: Vec<u32>,
    /// Per address, the out-edge words of the run it sends in.
    outgoing: Vec<u32>,
    /// Events with more than two legs.
    multi: usize,
    /// Slots of the run's events.
    slots: usize,
    /// Transactions that start in the run.
    txs: usize,
}

/// The adjacency words of a freeze, which the threads laying out runs write
/// at disjoint places.
#[derive(Clone, Copy)]
struct Adjacency<'a> {
    out_adj: &'a [AtomicU32],
    in_adj: &'a [AtomicU32],
}

/// One run of a freeze, laid out.
struct Part {
    layout: Layout,
    blocks: Vec<BlockInfo>,
    /// Ids of the transactions that start in the run, in order.
    txids: Vec<TxId>,
}

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

/// The canonical order of a graph's addresses (those in some event), given
/// in order of first appearance: by `incoming` (the number of events an
/// address receives in), most first, ties kept in the given order. A stable
/// counting sort, linear in addresses and the largest count.
///
/// A search reads the arrival word of each receiver of every edge it scans;
/// incoming events are heavily skewed (in the synthetic cases 0.1 % of
/// addresses receive 65 % of them), so with this order the words read most
/// share a few cache lines and pages. Against first appearance alone it
/// measured 5 % faster at 10^7 transfers and 10 % at 10^8.
pub(crate) fn incoming_order(first: &[u32], incoming: impl Fn(u32) -> u32) -> Vec<u32> {
    let max = first.iter().map(|&a| incoming(a)).max().unwrap_or(0) as usize;
    // Start of each count's block, most first.
    let mut start = vec![0u32; max + 2];
    for &a in first {
        start[max - incoming(a) as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut out = vec![0u32; first.len()];
    for &a in first {
        let b = &mut start[max - incoming(a) as usize];
        out[*b as usize] = a;
        *b += 1;
    }
    out
}

/// The events a receiver of which sends in a later event of the same
/// transaction, as a bit per event: where value moves on inside the
/// transaction that brought it, in the same hop. Per node, its incoming
/// events are merged with its outgoing ones (both in time order): an
/// incoming event is marked when the node's next outgoing event after it is
/// still inside its transaction. Linear in the adjacency, in parallel over
/// nodes. Also returns a bit per node: it sends in a marked event (the
/// senders of one-to-one events are their slots; of multi-leg events, their
/// input slots).
pub(crate) fn forwarding_events(cols: &Columns, n_events: usize) -> (Vec<u64>, Vec<u64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let zeros = |n: usize| -> Vec<AtomicU64> {
        (0..n.div_ceil(64))
            .into_par_iter()
            .with_min_len(1 << 14)
            .map(|_| AtomicU64::new(0))
            .collect()
    };
    let bits = zeros(n_events);
    let nodes = cols.out_off.len().saturating_sub(1);
    (0..nodes)
        .into_par_iter()
        .with_min_len(1 << 12)
        .for_each(|n| {
            let ins = &cols.in_adj[cols.in_off[n] as usize..cols.in_off[n + 1] as usize];
            let outs = OutList {
                words: &cols.out_adj[cols.out_off[n] as usize..cols.out_off[n + 1] as usize],
            };
            if ins.is_empty() || outs.is_empty() {
                return;
            }
            let mut next = outs.iter().peekable();
            for &e in ins {
                while next.next_if(|o| o.event <= e).is_some() {}
                let Some(o) = next.peek() else {
                    break;
                };
                if (o.event as usize) < cols.tx_start.next_one(e as usize + 1) {
                    bits[e as usize / 64].fetch_or(1 << (e % 64), Ordering::Relaxed);
                }
            }
        });
    let bits: Vec<u64> = bits.into_iter().map(AtomicU64::into_inner).collect();
    let payers = zeros(nodes);
    bits.par_iter().enumerate().for_each(|(w, &word)| {
        let mut b = word;
        while b != 0 {
            let e = (w * 64) as u32 + b.trailing_zeros();
            b &= b - 1;
            let (s, m, _) = cols.slots(e);
            for &n in &cols.slot_addr[s..m] {
                payers[n as usize / 64].fetch_or(1 << (n % 64), Ordering::Relaxed);
            }
        }
    });
    (
        bits,
        payers.into_iter().map(AtomicU64::into_inner).collect(),
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

/// A bit per element with a rank index: the number of ones before each
/// 64-bit word, so `rank` is one lookup and one population count.
#[derive(Debug, Clone)]
pub(crate) struct RankBits {
    pub(crate) words: Vec<u64>,
    /// `ranks[w]`: ones in `words[..w]`; one entry more than `words`.
    ranks: Vec<u32>,
    len: usize,
}

impl Default for RankBits {
    fn default() -> RankBits {
        RankBits {
            words: Vec::new(),
            ranks: vec![0],
            len: 0,
        }
    }
}

impl RankBits {
    fn with_capacity(n: usize) -> RankBits {
        let mut r = RankBits::default();
        r.words.reserve(n.div_ceil(64));
        r.ranks.reserve(n.div_ceil(64));
        r
    }

    fn push(&mut self, bit: bool) {
        if self.len % 64 == 0 {
            self.words.push(0);
            let last = *self.ranks.last().unwrap_or(&0);
            self.ranks.push(last);
        }
        if bit {
            let w = self.words.len() - 1;
            self.words[w] |= 1 << (self.len % 64);
            let r = self.ranks.len() - 1;
            self.ranks[r] += 1;
        }
        self.len += 1;
    }

    /// Appends `other`'s bits: word by word when this column ends on a word
    /// boundary (as the runs of a parallel freeze do), else bit by bit.
    fn append(&mut self, other: &RankBits) {
        if self.len % 64 == 0 {
            let ones = self.ones();
            self.words.extend_from_slice(&other.words);
            self.ranks.extend(other.ranks[1..].iter().map(|r| r + ones));
            self.len += other.len;
        } else {
            for i in 0..other.len {
                self.push(other.get(i));
            }
        }
    }

    /// Rebuilds the index over stored words; `None` if `words` does not
    /// hold exactly `len` bits (bits past `len` must be zero) or counts
    /// overflow.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<RankBits> {
        if words.len() != len.div_ceil(64) {
            return None;
        }
        if len % 64 != 0 && words.last().is_some_and(|w| w >> (len % 64) != 0) {
            return None;
        }
        let mut ranks = Vec::with_capacity(words.len() + 1);
        let mut total = 0u32;
        ranks.push(0);
        for w in &words {
            total = total.checked_add(w.count_ones())?;
            ranks.push(total);
        }
        Some(RankBits { words, ranks, len })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Ones in `[0, i)`, for `i <= len`.
    #[inline]
    pub(crate) fn rank(&self, i: usize) -> u32 {
        let (w, b) = (i / 64, i % 64);
        let r = self.ranks[w];
        if b == 0 {
            r
        } else {
            r + (self.words[w] & ((1u64 << b) - 1)).count_ones()
        }
    }

    /// Hints that the word holding bit `i` will be read soon.
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            prefetch(w);
        }
    }

    /// The position of the first one at or after `from`, or `len` if none.
    /// Reads words from `from` until that one, so in a dense column it is
    /// a word or two away.
    #[inline]
    pub(crate) fn next_one(&self, from: usize) -> usize {
        let mut w = from / 64;
        let mut bits = match self.words.get(w) {
            Some(x) => x >> (from % 64) << (from % 64),
            None => return self.len,
        };
        while bits == 0 {
            w += 1;
            bits = match self.words.get(w) {
                Some(&x) => x,
                None => return self.len,
            };
        }
        w * 64 + bits.trailing_zeros() as usize
    }

    /// All ones.
    pub(crate) fn ones(&self) -> u32 {
        self.ranks[self.ranks.len() - 1]
    }

    fn bytes(&self) -> usize {
        self.words.capacity() * 8 + self.ranks.capacity() * 4
    }

    fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
        self.ranks.shrink_to_fit();
    }
}

/// Asset indices at or above this are kept out of line.
pub(crate) const WIDE_ASSET: u16 = u16::MAX;

/// The asset index of each event. Most events move their chain's native
/// asset (BTC, ETH), so that is one bit per event, with the native asset
/// read from a run table (a new run starts where the native asset changes,
/// once per chain, as chains do not interleave in time order). Other events
/// (tokens) keep their index in a `u16` column indexed by rank among them,
/// with larger indices out of line.
#[derive(Debug, Default)]
pub(crate) struct AssetColumn {
    /// Per event: its asset is the native asset of its chain.
    pub(crate) native: RankBits,
    /// (first event, asset index) of each run of one native asset, in
    /// event order; each run starts at a native event.
    pub(crate) runs: Vec<(u32, u32)>,
    /// Asset index of each other event, in event order (`WIDE_ASSET`: see
    /// `wide`).
    pub(crate) other: Vec<u16>,
    /// (event, asset index) of the other events whose index does not fit
    /// `other`, in event order.
    pub(crate) wide: Vec<(u32, u32)>,
}

impl AssetColumn {
    pub(crate) fn with_capacity(events: usize) -> AssetColumn {
        AssetColumn {
            native: RankBits::with_capacity(events),
            ..AssetColumn::default()
        }
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.native.len
    }

    pub(crate) fn push(&mut self, asset: u32, native: bool) {
        self.push_at(self.len() as u32, asset, native);
    }

    /// Appends the next event, `e` in the whole column (a part of the
    /// column that starts later than event 0 numbers its runs and
    /// out-of-line entries by the whole column's events).
    fn push_at(&mut self, e: u32, asset: u32, native: bool) {
        self.native.push(native);
        if native {
            if self.runs.last().is_none_or(|r| r.1 != asset) {
                self.runs.push((e, asset));
            }
            return;
        }
        match u16::try_from(asset) {
            Ok(a) if a < WIDE_ASSET => self.other.push(a),
            _ => {
                self.other.push(WIDE_ASSET);
                self.wide.push((e, asset));
            }
        }
    }

    /// Appends a part that continues this column (its runs and out-of-line
    /// entries already numbered by the whole column).
    fn append(&mut self, other: AssetColumn) {
        self.native.append(&other.native);
        let last = self.runs.last().map(|r| r.1);
        let mut runs = other.runs.into_iter().peekable();
        // A native asset that goes on across the join is one run.
        runs.next_if(|r| Some(r.1) == last);
        self.runs.extend(runs);
        self.other.extend_from_slice(&other.other);
        self.wide.extend_from_slice(&other.wide);
    }

    /// The asset index of event `e`.
    #[inline]
    pub(crate) fn get(&self, e: u32) -> u32 {
        if self.native.get(e as usize) {
            // One run per chain: a short scan from the end.
            return self
                .runs
                .iter()
                .rev()
                .find(|r| r.0 <= e)
                .map_or(NONE, |r| r.1);
        }
        let k = e as usize - self.native.rank(e as usize) as usize;
        let a = self.other[k];
        if a != WIDE_ASSET {
            return u32::from(a);
        }
        let w = &self.wide;
        w[w.partition_point(|x| x.0 < e)].1
    }

    /// Whether the parts agree (a loaded snapshot's columns): one `other`
    /// entry per non-native event, runs starting at native events in
    /// order, each event's index below `n_assets` and native exactly when
    /// `is_native` says so, out-of-line entries matching their markers.
    pub(crate) fn is_consistent(&self, n_assets: usize, is_native: impl Fn(u32) -> bool) -> bool {
        let n = self.len();
        let ones = self.native.ones() as usize;
        let first_native = (0..n).find(|&e| self.native.get(e));
        self.other.len() == n - ones
            && self
                .runs
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1)
            && self.runs.iter().all(|&(e, a)| {
                (e as usize) < n
                    && self.native.get(e as usize)
                    && (a as usize) < n_assets
                    && is_native(a)
            })
            && first_native.is_none_or(|e| self.runs.first().is_some_and(|r| r.0 as usize == e))
            && self
                .other
                .iter()
                .all(|&a| a == WIDE_ASSET || ((a as usize) < n_assets && !is_native(u32::from(a))))
            && self.wide.windows(2).all(|w| w[0].0 < w[1].0)
            && self.wide.iter().all(|&(e, a)| {
                (e as usize) < n
                    && !self.native.get(e as usize)
                    && self.other[e as usize - self.native.rank(e as usize) as usize] == WIDE_ASSET
                    && (a as usize) < n_assets
                    && (a as usize) >= usize::from(WIDE_ASSET)
                    && !is_native(a)
            })
            && self.other.iter().filter(|&&a| a == WIDE_ASSET).count() == self.wide.len()
    }

    fn bytes(&self) -> usize {
        self.native.bytes()
            + self.runs.capacity() * 8
            + self.other.capacity() * 2
            + self.wide.capacity() * 8
    }

    fn shrink_to_fit(&mut self) {
        self.native.shrink_to_fit();
        self.runs.shrink_to_fit();
        self.other.shrink_to_fit();
        self.wide.shrink_to_fit();
    }
}

/// The traversal columns of a [`FlowGraph`], built event by event in time
/// order by [`Layout::push`] (from a [`GraphBuilder`] or an older snapshot)
/// and completed with adjacency by [`Layout::finish`].
pub(crate) struct Layout {
    /// Everything but the adjacency, which `finish` adds.
    cols: Columns,
    /// Receiver of each simple event, by simple rank (until `finish`); not
    /// kept by a part (see [`Layout::part`]).
    s_to: Vec<u32>,
    /// The whole column's number of the first event here (0 but in a part).
    base: usize,
    /// Whether `s_to` is kept.
    receivers: bool,
}

/// The traversal columns of a [`FlowGraph`] (see the module documentation).
pub(crate) struct Columns {
    pub(crate) asset: AssetColumn,
    pub(crate) multi: RankBits,
    pub(crate) tx_start: RankBits,
    pub(crate) m_extra: Vec<u32>,
    pub(crate) m_nin: Vec<u32>,
    pub(crate) slot_addr: Vec<u32>,
    pub(crate) slot_amt: AmountColumn,
    pub(crate) n_legs: u64,
    pub(crate) out_off: Vec<u32>,
    /// Out-edges of all nodes, packed (see [`OutList`]).
    pub(crate) out_adj: Vec<u32>,
    pub(crate) in_off: Vec<u32>,
    pub(crate) in_adj: Vec<u32>,
}

impl Columns {
    /// Slots of `e`: start, first output slot (= start + inputs), end. A
    /// one-to-one event has one slot and no output slot (start, start + 1,
    /// start + 1).
    #[inline]
    pub(crate) fn slots(&self, e: u32) -> (usize, usize, usize) {
        let r = self.multi.rank(e as usize) as usize;
        let start = e as usize + self.m_extra[r] as usize;
        if self.multi.get(e as usize) {
            (
                start,
                start + self.m_nin[r] as usize,
                e as usize + 1 + self.m_extra[r + 1] as usize,
            )
        } else {
            (start, start + 1, start + 1)
        }
    }
}

impl Columns {
    /// Empty columns with room for `events` events of which `multi` have
    /// more than two legs, using `slots` slots, after `extra` extra slots.
    fn with_room(events: usize, multi: usize, slots: usize, extra: u32) -> Columns {
        let mut m_extra = Vec::with_capacity(multi + 1);
        m_extra.push(extra);
        Columns {
            asset: AssetColumn::with_capacity(events),
            multi: RankBits::with_capacity(events),
            tx_start: RankBits::with_capacity(events),
            m_extra,
            m_nin: Vec::with_capacity(multi),
            slot_addr: Vec::with_capacity(slots),
            slot_amt: AmountColumn::with_capacity(slots),
            n_legs: 0,
            out_off: Vec::new(),
            out_adj: Vec::new(),
            in_off: Vec::new(),
            in_adj: Vec::new(),
        }
    }

    /// Completes the columns with their adjacency (offsets and words, as
    /// [`Layout::finish`] builds them), at exact sizes (a snapshot's loaded
    /// columns are exact too).
    fn sealed(
        mut self,
        out_off: Vec<u32>,
        out_adj: Vec<u32>,
        in_off: Vec<u32>,
        in_adj: Vec<u32>,
    ) -> Columns {
        self.asset.shrink_to_fit();
        self.multi.shrink_to_fit();
        self.tx_start.shrink_to_fit();
        self.m_extra.shrink_to_fit();
        self.m_nin.shrink_to_fit();
        self.slot_addr.shrink_to_fit();
        self.slot_amt.small.shrink_to_fit();
        self.slot_amt.big.shrink_to_fit();
        self.out_off = out_off;
        self.out_adj = out_adj;
        self.in_off = in_off;
        self.in_adj = in_adj;
        self
    }

    /// Renumbers columns whose nodes are numbered by first appearance alone
    /// (snapshot formats 1 to 5) into the canonical order of
    /// [`incoming_order`]: nodes in some event by their incoming events,
    /// most first, ties in their old order; nodes in no event after them,
    /// in their old order. Returns the columns and, per new node, its old
    /// number.
    pub(crate) fn renumber_by_incoming(self) -> (Columns, Vec<u32>) {
        let n = self.out_off.len() - 1;
        let len = |off: &[u32], a: usize| off[a + 1] - off[a];
        let used = |a: usize| len(&self.out_off, a) > 0 || len(&self.in_off, a) > 0;
        let listed: Vec<u32> = (0..n as u32).filter(|&a| used(a as usize)).collect();
        let mut by_new = incoming_order(&listed, |a| len(&self.in_off, a as usize));
        drop(listed);
        by_new.extend((0..n as u32).filter(|&a| !used(a as usize)));
        let mut new_of = vec![0u32; n];
        for (i, &o) in by_new.iter().enumerate() {
            new_of[o as usize] = i as u32;
        }
        let Columns {
            mut slot_addr,
            out_off,
            out_adj,
            in_off,
            in_adj,
            ..
        } = self;
        for a in &mut slot_addr {
            *a = new_of[*a as usize];
        }
        // Each list moves whole to its node's new place; receiver words
        // are renumbered, event words kept.
        let regroup = |off: &[u32], adj: &[u32], word: &dyn Fn(u32) -> u32| {
            let mut new_off = Vec::with_capacity(off.len());
            let mut new_adj = Vec::with_capacity(adj.len());
            new_off.push(0);
            for &o in &by_new {
                let r = off[o as usize] as usize..off[o as usize + 1] as usize;
                new_adj.extend(adj[r].iter().map(|&w| word(w)));
                new_off.push(new_adj.len() as u32);
            }
            (new_off, new_adj)
        };
        let (out_off, out_adj) = regroup(&out_off, &out_adj, &|w| {
            if w & RECV != 0 {
                RECV | new_of[(w & !RECV) as usize]
            } else {
                w
            }
        });
        let (in_off, in_adj) = regroup(&in_off, &in_adj, &|w| w);
        (
            Columns {
                slot_addr,
                out_off,
                out_adj,
                in_off,
                in_adj,
                ..self
            },
            by_new,
        )
    }
}

impl Layout {
    /// Room for `events` events of which `multi` have more than two legs,
    /// using `slots` slots in all.
    pub(crate) fn with_capacity(events: usize, multi: usize, slots: usize) -> Layout {
        Layout {
            cols: Columns::with_room(events, multi, slots, 0),
            s_to: Vec::with_capacity(events - multi.min(events)),
            base: 0,
            receivers: true,
        }
    }

    /// The part of the columns from event `base` on, `extra` being the
    /// running total of extra slots before it, with room for `events`
    /// events of which `multi` have more than two legs, using `slots`
    /// slots. A part does not keep receivers (the parallel freeze writes
    /// the adjacency as it lays events out), so it is never finished: parts
    /// are joined in order with [`Layout::append`] and completed with
    /// [`Layout::seal`]. Every part but the last must hold a multiple of 64
    /// events, so bit columns join word by word.
    fn part(base: usize, extra: u32, events: usize, multi: usize, slots: usize) -> Layout {
        Layout {
            cols: Columns::with_room(events, multi, slots, extra),
            s_to: Vec::new(),
            base,
            receivers: false,
        }
    }

    /// Appends the part that follows this one.
    fn append(&mut self, other: Layout) {
        debug_assert_eq!(other.base, self.base + self.cols.asset.len());
        let (c, o) = (&mut self.cols, other.cols);
        debug_assert_eq!(c.m_extra.last(), o.m_extra.first());
        c.asset.append(o.asset);
        c.multi.append(&o.multi);
        c.tx_start.append(&o.tx_start);
        c.m_extra.extend_from_slice(&o.m_extra[1..]);
        c.m_nin.extend_from_slice(&o.m_nin);
        // The two largest columns, copied side by side.
        rayon::join(
            || c.slot_addr.extend_from_slice(&o.slot_addr),
            || c.slot_amt.append(&o.slot_amt),
        );
        c.n_legs += o.n_legs;
        self.s_to.extend_from_slice(&other.s_to);
    }

    /// Appends the next event in time order: whether it starts a new
    /// transaction, its asset index and whether that is a native asset,
    /// and its legs (`n_in` inputs first,
    /// then outputs) as (node, amount). A one-to-one event keeps one slot
    /// (sender and amount; its receiver goes to the adjacency), any other
    /// event one slot per leg.
    pub(crate) fn push(
        &mut self,
        new_tx: bool,
        asset: u32,
        native: bool,
        n_in: usize,
        legs: &[(u32, u128)],
    ) -> std::result::Result<(), &'static str> {
        let c = &mut self.cols;
        if n_in == 0 || n_in >= legs.len() {
            return Err("an event needs at least one input and one output leg");
        }
        let e = self.base + c.asset.len();
        if e >= RECV as usize {
            return Err("too many events");
        }
        let e = e as u32;
        c.asset.push_at(e, asset, native);
        c.tx_start.push(new_tx || e == 0);
        if legs.len() == 2 {
            if legs[0].1 != legs[1].1 {
                return Err("a one-to-one event whose two legs differ in amount");
            }
            c.multi.push(false);
            c.slot_addr.push(legs[0].0);
            c.slot_amt.push(legs[0].1);
            if self.receivers {
                self.s_to.push(legs[1].0);
            }
        } else {
            let extra = c.m_extra[c.m_extra.len() - 1]
                .checked_add(legs.len() as u32 - 1)
                .filter(|&x| u64::from(x) + u64::from(e) < u64::from(NONE))
                .ok_or("too many legs")?;
            c.multi.push(true);
            c.m_nin.push(n_in as u32);
            c.m_extra.push(extra);
            for &(a, v) in legs {
                c.slot_addr.push(a);
                c.slot_amt.push(v);
            }
        }
        c.n_legs += legs.len() as u64;
        Ok(())
    }

    /// Builds the adjacency of `n_addr` nodes by counting sort; events are
    /// visited in order, so every list comes out sorted by event id.
    pub(crate) fn finish(self, n_addr: usize) -> Columns {
        debug_assert!(self.receivers);
        let Layout { cols, s_to, .. } = self;
        let Columns {
            multi,
            m_extra,
            m_nin,
            slot_addr,
            ..
        } = &cols;
        let n_events = cols.asset.len();
        let each_event = |f: LegVisitor<'_>| {
            let (mut r, mut s) = (0usize, 0usize);
            for e in 0..n_events {
                let start = e + m_extra[r] as usize;
                if multi.get(e) {
                    let end = e + 1 + m_extra[r + 1] as usize;
                    let mid = start + m_nin[r] as usize;
                    f(e as u32, &slot_addr[start..mid], &slot_addr[mid..end]);
                    r += 1;
                } else {
                    f(
                        e as u32,
                        &slot_addr[start..start + 1],
                        std::slice::from_ref(&s_to[s]),
                    );
                    s += 1;
                }
            }
        };
        let mut out_off = vec![0u32; n_addr + 1];
        let mut in_off = vec![0u32; n_addr + 1];
        let mut seen: Vec<u32> = Vec::new();
        // Out-edge words: a one-to-one event's entry has two (event and
        // receiver), so there are no more words than legs.
        each_event(&mut |e, ins, outs| {
            let words = if multi.get(e as usize) { 1 } else { 2 };
            for_each_distinct(ins, &mut seen, |a| out_off[a as usize + 1] += words);
            for_each_distinct(outs, &mut seen, |a| in_off[a as usize + 1] += 1);
        });
        for i in 0..n_addr {
            out_off[i + 1] += out_off[i];
            in_off[i + 1] += in_off[i];
        }
        let mut out_adj = vec![0u32; out_off[n_addr] as usize];
        let mut in_adj = vec![0u32; in_off[n_addr] as usize];
        let mut out_fill = out_off.clone();
        let mut in_fill = in_off.clone();
        each_event(&mut |e, ins, outs| {
            let one = !multi.get(e as usize);
            for_each_distinct(ins, &mut seen, |a| {
                let at = out_fill[a as usize] as usize;
                out_adj[at] = e;
                if one {
                    out_adj[at + 1] = RECV | outs[0];
                }
                out_fill[a as usize] += 1 + u32::from(one);
            });
            for_each_distinct(outs, &mut seen, |a| {
                in_adj[in_fill[a as usize] as usize] = e;
                in_fill[a as usize] += 1;
            });
        });
        cols.sealed(out_off, out_adj, in_off, in_adj)
    }

    /// Completes a freeze's joined parts with the adjacency they wrote.
    fn seal(
        self,
        out_off: Vec<u32>,
        out_adj: Vec<u32>,
        in_off: Vec<u32>,
        in_adj: Vec<u32>,
    ) -> Columns {
        debug_assert!(!self.receivers);
        self.cols.sealed(out_off, out_adj, in_off, in_adj)
    }
}

/// Asks the processor to start loading the cache line holding `x`. Only a
/// hint: it never faults and has no effect on results (none off x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

/// Set in a packed out-edge word that holds a receiver (see [`OutList`]);
/// events and nodes stay below it.
pub(crate) const RECV: u32 = 1 << 31;

/// One outgoing adjacency entry: the event, and for a one-to-one transfer its
/// receiver (`NONE` for a multi-leg UTXO transaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutEdge {
    pub(crate) event: u32,
    pub(crate) target: u32,
}

/// A node's out-edges in time order, packed into words: each entry is its
/// event's id, followed for a one-to-one event by a word with its receiver
/// and [`RECV`] set. A multi-leg event (whose receivers are its output
/// slots) takes one word, so no word is spent on an empty receiver field.
/// Positions below are word positions of entry starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutList<'a> {
    pub(crate) words: &'a [u32],
}

impl<'a> OutList<'a> {
    /// Whether the node sends at all.
    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.words.is_empty()
    }

    /// Words in the list (one past the last entry's position).
    #[inline]
    pub(crate) fn end(self) -> usize {
        self.words.len()
    }

    /// The receiver of the entry starting at `p`, if it has a receiver word.
    #[inline]
    fn receiver(self, p: usize) -> Option<u32> {
        self.words
            .get(p + 1)
            .filter(|&&w| w & RECV != 0)
            .map(|&w| w & !RECV)
    }

    /// The entry starting at `p`, if `p` is before the end.
    #[inline]
    pub(crate) fn get(self, p: usize) -> Option<OutEdge> {
        Some(OutEdge {
            event: *self.words.get(p)?,
            target: self.receiver(p).unwrap_or(NONE),
        })
    }

    /// The position of the entry after the one at `p`.
    #[inline]
    pub(crate) fn next_pos(self, p: usize) -> usize {
        p + 1 + usize::from(self.receiver(p).is_some())
    }

    /// The position of the first entry whose event fails `pred` (the end
    /// if none does); `pred` must hold for a prefix of the events, as in
    /// [`slice::partition_point`].
    ///
    /// A binary search over words, each keyed by the event of its entry (a
    /// receiver word by the word before it), so keys never decrease and
    /// the first word failing `pred` starts an entry. Like the standard
    /// library's, it narrows without branching on the comparison.
    #[inline]
    pub(crate) fn partition_point(self, pred: impl Fn(u32) -> bool) -> usize {
        let w = self.words;
        // A list starts with an event word, so `i - 1` exists when needed.
        let key = |i: usize| w[i - usize::from(w[i] & RECV != 0)];
        let mut size = w.len();
        if size == 0 {
            return 0;
        }
        let mut base = 0usize;
        while size > 1 {
            let half = size / 2;
            let mid = base + half;
            base = if pred(key(mid)) { mid } else { base };
            size -= half;
        }
        base + usize::from(pred(key(base)))
    }

    /// The last entry.
    pub(crate) fn last(self) -> Option<OutEdge> {
        self.iter().next_back()
    }

    /// The entries from position `p` (an entry start or the end) on.
    pub(crate) fn suffix(self, p: usize) -> OutList<'a> {
        OutList {
            words: &self.words[p..],
        }
    }

    /// The entries before position `p` (an entry start or the end).
    pub(crate) fn prefix(self, p: usize) -> OutList<'a> {
        OutList {
            words: &self.words[..p],
        }
    }

    /// The entries in order.
    pub(crate) fn iter(self) -> OutIter<'a> {
        OutIter {
            list: self,
            at: 0,
            end: self.words.len(),
        }
    }
}

impl<'a> IntoIterator for OutList<'a> {
    type Item = OutEdge;
    type IntoIter = OutIter<'a>;
    fn into_iter(self) -> OutIter<'a> {
        self.iter()
    }
}

/// Iterator over an [`OutList`], from either end.
#[derive(Clone, Debug)]
pub(crate) struct OutIter<'a> {
    list: OutList<'a>,
    /// Next entry from the front.
    at: usize,
    /// One past the next entry from the back.
    end: usize,
}

impl Iterator for OutIter<'_> {
    type Item = OutEdge;
    #[inline]
    fn next(&mut self) -> Option<OutEdge> {
        if self.at >= self.end {
            return None;
        }
        let o = self.list.get(self.at)?;
        self.at += 1 + usize::from(o.target != NONE);
        Some(o)
    }
}

impl DoubleEndedIterator for OutIter<'_> {
    fn next_back(&mut self) -> Option<OutEdge> {
        if self.at >= self.end {
            return None;
        }
        let w = self.list.words;
        self.end -= if w[self.end - 1] & RECV != 0 { 2 } else { 1 };
        self.list.get(self.end)
    }
}

/// Legs of one event as (node, amount); see [`FlowGraph::inputs`].
pub(crate) struct Legs<'a> {
    g: &'a FlowGraph,
    slots: std::ops::Range<usize>,
    one: Option<(u32, u128)>,
}

impl Iterator for Legs<'_> {
    type Item = (u32, u128);
    #[inline]
    fn next(&mut self) -> Option<(u32, u128)> {
        if let Some(x) = self.one.take() {
            return Some(x);
        }
        let s = self.slots.next()?;
        Some((self.g.cols.slot_addr[s], self.g.cols.slot_amt.get(s)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.slots.len() + usize::from(self.one.is_some());
        (n, Some(n))
    }
}

impl ExactSizeIterator for Legs<'_> {}

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

    /// Appends `other`, moving its out-of-line markers past this column's
    /// large amounts.
    fn append(&mut self, other: &AmountColumn) {
        let base = self.big.len() as u64;
        if base == 0 || other.big.is_empty() {
            self.small.extend_from_slice(&other.small);
        } else {
            self.small.extend(
                other
                    .small
                    .iter()
                    .map(|&s| if s & BIG_FLAG == 0 { s } else { s + base }),
            );
        }
        self.big.extend_from_slice(&other.big);
    }

    /// Whether every out-of-line marker points into `big` (a loaded
    /// snapshot's columns).
    pub(crate) fn is_consistent(&self) -> bool {
        self.small
            .iter()
            .all(|&s| s & BIG_FLAG == 0 || ((s & !BIG_FLAG) as usize) < self.big.len())
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

/// The address to node lookup of a [`FlowGraph`]: a hash table of node
/// numbers whose keys are the graph's address list itself, so a bucket takes
/// 4 bytes (and a control byte) instead of the 40 of a map that holds every
/// address a second time.
pub(crate) struct AddressIndex(hashbrown::HashTable<u32>);

fn address_hash(a: &Address) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(a)
}

impl AddressIndex {
    /// Indexes `addresses`, node `i` at place `i`; `None` if an address
    /// occurs twice. The hashes are computed in parallel, the table is
    /// filled in one pass at its final size.
    pub(crate) fn build(addresses: &[Address]) -> Option<AddressIndex> {
        let hashes = Self::hashes(addresses);
        let mut table = hashbrown::HashTable::with_capacity(addresses.len());
        for ((a, &h), i) in addresses.iter().zip(&hashes).zip(0u32..) {
            match table.entry(h, |&j| addresses[j as usize] == *a, |&j| hashes[j as usize]) {
                hashbrown::hash_table::Entry::Occupied(_) => return None,
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        Some(AddressIndex(table))
    }

    /// [`AddressIndex::build`] for addresses known to be distinct (the
    /// builder interned them): no address is compared.
    pub(crate) fn of_distinct(addresses: &[Address]) -> AddressIndex {
        let hashes = Self::hashes(addresses);
        let mut table = hashbrown::HashTable::with_capacity(addresses.len());
        for (&h, i) in hashes.iter().zip(0u32..) {
            table.insert_unique(h, i, |&j| hashes[j as usize]);
        }
        AddressIndex(table)
    }

    fn hashes(addresses: &[Address]) -> Vec<u64> {
        addresses
            .par_iter()
            .with_min_len(1 << 14)
            .map(address_hash)
            .collect()
    }

    /// The node of `a`, given the address list the index was built from.
    pub(crate) fn get(&self, addresses: &[Address], a: &Address) -> Option<u32> {
        self.0
            .find(address_hash(a), |&i| addresses[i as usize] == *a)
            .copied()
    }

    /// Heap bytes: a hashbrown table holds its entries plus one control
    /// byte per bucket, at a load factor of at most 7/8.
    pub(crate) fn bytes(&self) -> usize {
        self.0.capacity() * 8 / 7 * (size_of::<u32>() + 1)
    }
}

/// A frozen, read-only flow graph in time order; see the [module
/// documentation](self) for its layout.
///
/// Cheap to share across threads (`Sync`); every traversal keeps its own
/// state and borrows the graph.
pub struct FlowGraph {
    pub(crate) addresses: Vec<Address>,
    pub(crate) index: AddressIndex,
    pub(crate) txids: Vec<TxId>,
    pub(crate) assets: Vec<Asset>,
    pub(crate) asset_info: BTreeMap<Asset, AssetInfo>,
    pub(crate) blocks: Vec<BlockInfo>,
    pub(crate) cols: Columns,
    /// Bit per event: a receiver of the event sends in a later event of
    /// the same transaction (a contract forwarding what it was paid).
    /// Derived from `cols` (see [`forwarding_events`]), never stored.
    pub(crate) forwards: Vec<u64>,
    /// Bit per node: it sends in some event of `forwards`. A search tests
    /// the event bits only in the out-edges of these nodes.
    pub(crate) pays_forwarders: Vec<u64>,
    pub(crate) sources: Vec<SourceSummary>,
    pub(crate) stats: LoadStats,
    /// Known opening balances: (node, asset index) -> base units.
    pub(crate) openings: FxHashMap<(u32, u32), u128>,
    pub(crate) opening_list: Vec<OpeningBalance>,
}

impl std::fmt::Debug for FlowGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowGraph")
            .field("addresses", &self.addresses.len())
            .field("events", &self.event_count())
            .field("legs", &self.leg_count())
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
                self.index.get(&self.addresses, &b.address),
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
        self.cols.asset.len()
    }

    /// Number of legs: two per transfer, n + m (+1 for a fee) per UTXO transaction.
    pub fn leg_count(&self) -> usize {
        self.cols.n_legs as usize
    }

    /// Number of adjacency entries in both directions (the edges a traversal can walk).
    pub fn adjacency_count(&self) -> usize {
        // A one-to-one event's out-edge takes two words, any other one.
        let one_to_one = self.event_count() - self.cols.multi.ones() as usize;
        self.cols.out_adj.len() - one_to_one + self.cols.in_adj.len()
    }

    /// The node of an address, or `None` if the graph never saw it.
    pub fn node(&self, address: &Address) -> Option<NodeId> {
        self.index.get(&self.addresses, address).map(NodeId)
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
        self.assets[self.asset_index(e) as usize]
    }

    /// The index of an event's asset in [`FlowGraph::assets`].
    #[inline]
    pub(crate) fn asset_index(&self, e: u32) -> u32 {
        self.cols.asset.get(e)
    }

    /// The index of an event's transaction (transactions are numbered in
    /// time order, so this is the number of transaction starts up to `e`).
    #[inline]
    pub(crate) fn tx_index(&self, e: u32) -> u32 {
        self.cols.tx_start.rank(e as usize + 1) - 1
    }

    /// One past the last event of `e`'s transaction (its events are
    /// adjacent). Cheaper than comparing [`FlowGraph::tx_index`]es: no
    /// rank, only the start bits from `e` to the next start.
    #[inline]
    pub(crate) fn tx_end(&self, e: u32) -> u32 {
        self.cols.tx_start.next_one(e as usize + 1) as u32
    }

    pub(crate) fn txid_of(&self, e: u32) -> TxId {
        self.txids[self.tx_index(e) as usize]
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

    /// Whether a receiver of `e` sends in a later event of `e`'s
    /// transaction (see [`forwarding_events`]).
    #[inline]
    pub(crate) fn forwards(&self, e: u32) -> bool {
        self.forwards
            .get(e as usize / 64)
            .is_some_and(|w| w & (1 << (e % 64)) != 0)
    }

    /// Whether `n` sends in an event of [`FlowGraph::forwards`].
    #[inline]
    pub(crate) fn pays_forwarders(&self, n: u32) -> bool {
        self.pays_forwarders
            .get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Whether `e` has more than one input or output leg (a one-to-one
    /// event keeps a single slot: its sender and amount).
    #[inline]
    pub(crate) fn is_multi(&self, e: u32) -> bool {
        self.cols.multi.get(e as usize)
    }

    /// What `n` sent, per asset index: the sum of its input legs over the
    /// events it sends in, saturating at `u128::MAX`. In asset order of
    /// first appearance.
    ///
    /// A busy address's events lie far apart in the slot columns, so each
    /// would be a cache miss: the slots of the event `SENT_AHEAD` places on
    /// are prefetched.
    pub(crate) fn sent_by(&self, n: u32) -> Vec<(u32, u128)> {
        const SENT_AHEAD: usize = 16;
        let c = &self.cols;
        let outs = self.out_edges(n);
        let mut acc: Vec<(u32, u128)> = Vec::new();
        let add =
            |acc: &mut Vec<(u32, u128)>, a: u32, amt: u128| match acc.iter_mut().find(|x| x.0 == a)
            {
                Some(x) => x.1 = x.1.saturating_add(amt),
                None => acc.push((a, amt)),
            };
        // No multi-leg event in the list's span (an account chain's
        // sender): every event is one-to-one, its slot is the event plus
        // one shift, and only the amounts and assets are read.
        if let (Some(first), Some(last)) = (outs.get(0), outs.last()) {
            let r = c.multi.rank(first.event as usize) as usize;
            if c.multi.rank(last.event as usize + 1) as usize == r {
                let shift = c.m_extra[r] as usize;
                let mut ahead = outs.iter().skip(SENT_AHEAD);
                for o in outs {
                    if let Some(f) = ahead.next() {
                        prefetch(&c.slot_amt.small[f.event as usize + shift]);
                        c.asset.native.prefetch(f.event as usize);
                    }
                    let amt = c.slot_amt.get(o.event as usize + shift);
                    add(&mut acc, self.asset_index(o.event), amt);
                }
                return acc;
            }
        }
        let mut ahead = outs.iter().skip(SENT_AHEAD);
        for o in self.out_edges(n) {
            if let Some(f) = ahead.next() {
                let (s, _, _) = c.slots(f.event);
                prefetch(&c.slot_amt.small[s]);
                if f.target == NONE {
                    prefetch(&c.slot_addr[s]);
                }
            }
            // A one-to-one event's single input is its sender, `n`.
            let amt = if o.target != NONE {
                c.slot_amt.get(c.slots(o.event).0)
            } else {
                self.inputs(o.event)
                    .filter(|&(a, _)| a == n)
                    .fold(0u128, |a, (_, v)| a.saturating_add(v))
            };
            add(&mut acc, self.asset_index(o.event), amt);
        }
        acc
    }

    /// Output slots of a multi-leg event (empty for a one-to-one event).
    #[inline]
    pub(crate) fn multi_outputs(&self, e: u32) -> std::ops::Range<usize> {
        let (_, m, t) = self.cols.slots(e);
        m..t
    }

    /// The node of a slot.
    #[inline]
    pub(crate) fn slot_node(&self, s: usize) -> u32 {
        self.cols.slot_addr[s]
    }

    /// Number of input legs of `e`.
    #[inline]
    pub(crate) fn input_count(&self, e: u32) -> usize {
        let (s, m, _) = self.cols.slots(e);
        m - s
    }

    /// Input and output legs of `e` as (node, amount), with the receiver
    /// of a one-to-one event when the caller knows it (`NONE`: look it up,
    /// see [`FlowGraph::outputs_to`]).
    #[inline]
    pub(crate) fn legs(&self, e: u32, receiver: u32) -> (Legs<'_>, Legs<'_>) {
        let (s, m, t) = self.cols.slots(e);
        let ins = Legs {
            g: self,
            slots: s..m,
            one: None,
        };
        (ins, self.outputs_from(e, (s, m, t), receiver))
    }

    /// Input legs of `e` as (node, amount), in order.
    #[inline]
    pub(crate) fn inputs(&self, e: u32) -> Legs<'_> {
        let (s, m, _) = self.cols.slots(e);
        Legs {
            g: self,
            slots: s..m,
            one: None,
        }
    }

    /// Output legs of `e` as (node, amount), in order.
    #[inline]
    pub(crate) fn outputs(&self, e: u32) -> Legs<'_> {
        self.outputs_to(e, NONE)
    }

    /// As [`FlowGraph::outputs`], with the receiver of a one-to-one event
    /// when the caller knows it (`NONE`: look it up in the sender's
    /// adjacency).
    #[inline]
    pub(crate) fn outputs_to(&self, e: u32, receiver: u32) -> Legs<'_> {
        self.outputs_from(e, self.cols.slots(e), receiver)
    }

    #[inline]
    fn outputs_from(&self, e: u32, (s, m, t): (usize, usize, usize), receiver: u32) -> Legs<'_> {
        if m != t {
            return Legs {
                g: self,
                slots: m..t,
                one: None,
            };
        }
        let sender = self.cols.slot_addr[s];
        let to = if receiver != NONE {
            receiver
        } else {
            let edges = self.out_edges(sender);
            edges
                .get(edges.partition_point(|x| x < e))
                .map_or(NONE, |o| o.target)
        };
        Legs {
            g: self,
            slots: 0..0,
            one: Some((to, self.cols.slot_amt.get(s))),
        }
    }

    /// All out-edge words, node after node; `out_range` gives one node's
    /// part (see [`OutList`]).
    #[inline]
    pub(crate) fn out_adj(&self) -> &[u32] {
        &self.cols.out_adj
    }

    /// Word positions of `n`'s out-edges in `out_adj`.
    #[inline]
    pub(crate) fn out_range(&self, n: u32) -> std::ops::Range<usize> {
        let c = &self.cols;
        c.out_off[n as usize] as usize..c.out_off[n as usize + 1] as usize
    }

    /// Hints that `n`'s offsets will be read soon.
    #[inline]
    pub(crate) fn prefetch_offsets(&self, n: u32) {
        if let Some(o) = self.cols.out_off.get(n as usize) {
            prefetch(o);
        }
    }

    /// Hints that `n`'s out-edges will be read soon: from word `from` on
    /// when it is known, otherwise (`from` = `NONE`) the first, middle and
    /// last, where a binary search over them starts and ends.
    #[inline]
    pub(crate) fn prefetch_out_edges(&self, n: u32, from: u32) {
        let r = self.out_range(n);
        let adj = &self.cols.out_adj;
        if from != NONE {
            if let Some(w) = adj[r.clone()].get(from as usize) {
                prefetch(w);
            }
        } else if let Some(last) = r.end.checked_sub(1).filter(|&l| l >= r.start) {
            prefetch(&adj[r.start]);
            prefetch(&adj[r.start + (last - r.start) / 2]);
            prefetch(&adj[last]);
        }
    }

    /// Hints that [`FlowGraph::tx_end`] of `e` will be called soon.
    #[inline]
    pub(crate) fn prefetch_tx_end(&self, e: u32) {
        self.cols.tx_start.prefetch(e as usize + 1);
    }

    #[inline]
    pub(crate) fn out_edges(&self, n: u32) -> OutList<'_> {
        OutList {
            words: &self.cols.out_adj[self.out_range(n)],
        }
    }

    #[inline]
    pub(crate) fn in_events(&self, n: u32) -> &[u32] {
        let c = &self.cols;
        &c.in_adj[c.in_off[n as usize] as usize..c.in_off[n as usize + 1] as usize]
    }

    /// Everything about one event.
    ///
    /// # Panics
    /// If `event` is not of this graph.
    pub fn event(&self, event: EventId) -> EventInfo {
        let e = event.0;
        let (ins, outs) = self.legs(e, NONE);
        let legs = |l: Legs<'_>| {
            l.map(|(n, v)| (self.addresses[n as usize], Amount::new(v)))
                .collect()
        };
        EventInfo {
            tx: self.txid_of(e),
            block: self.block_of(e),
            asset: self.asset_of(e),
            inputs: legs(ins),
            outputs: legs(outs),
        }
    }

    /// All events, in time order.
    pub fn events(&self) -> impl Iterator<Item = EventId> + '_ {
        (0..self.event_count() as u32).map(EventId)
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
        let c = &self.cols;
        let traversal = c.asset.bytes()
            + c.multi.bytes()
            + c.tx_start.bytes()
            + c.m_extra.capacity() * 4
            + c.m_nin.capacity() * 4
            + c.slot_addr.capacity() * 4
            + c.slot_amt.bytes()
            + c.out_off.capacity() * 4
            + c.out_adj.capacity() * 4
            + c.in_off.capacity() * 4
            + c.in_adj.capacity() * 4
            + self.forwards.capacity() * 8
            + self.pays_forwarders.capacity() * 8
            + self.blocks.capacity() * size_of::<BlockInfo>();
        let map = self.index.bytes();
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
        let mut g = DiGraph::with_capacity(self.addresses.len(), self.leg_count());
        for &a in &self.addresses {
            g.add_node(PetNode::Address(a));
        }
        for e in 0..self.event_count() as u32 {
            let ev = EventId(e);
            let edge = |amount: u128| PetEdge {
                event: ev,
                amount: Amount::new(amount),
            };
            if !self.is_multi(e) {
                let (Some((a, v)), Some((b, _))) = (self.inputs(e).next(), self.outputs(e).next())
                else {
                    continue;
                };
                g.add_edge(ni(a), ni(b), edge(v));
            } else {
                let t = g.add_node(PetNode::Transaction(self.txid_of(e)));
                for (a, v) in self.inputs(e) {
                    g.add_edge(ni(a), t, edge(v));
                }
                for (b, v) in self.outputs(e) {
                    g.add_edge(t, ni(b), edge(v));
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
    /// repeat); time is not respected here, use [`crate::trace()`] for that.
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
    edges: OutIter<'a>,
    legs: std::ops::Range<usize>,
}

impl Iterator for Neighbors<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        loop {
            if let Some(i) = self.legs.next() {
                return Some(NodeId(self.g.slot_node(i)));
            }
            let o = self.edges.next()?;
            if o.target != NONE {
                return Some(NodeId(o.target));
            }
            self.legs = self.g.multi_outputs(o.event);
        }
    }
}

fn ni(i: u32) -> petgraph::graph::NodeIndex {
    petgraph::graph::NodeIndex::new(i as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arrival is marked as forwarding when its receiver spends from
    /// the same transaction after it; the payers of such arrivals are marked
    /// as paying forwarders.
    #[test]
    fn forwarding_bits_mark_arrivals_their_receiver_spends_from_in_their_transaction() {
        use crate::sources::{Record, Transfer};
        use crate::types::{Amount, BlockHeight, BlockRef, Chain, Position, Timestamp, TxId};
        let addr = |n: u8| Address::ethereum([n; 20]);
        let t = |h: u64, sub: u32, from: u8, to: u8| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&h.to_be_bytes());
            Record::Transfer(Transfer {
                tx: TxId::new(Chain::Ethereum, id),
                block: BlockRef {
                    chain: Chain::Ethereum,
                    height: BlockHeight(h),
                    time: Timestamp(1_600_000_000 + h),
                },
                position: Position { index: 0, sub },
                asset: crate::types::Asset::Eth,
                from: addr(from),
                to: addr(to),
                amount: Amount::new(10),
            })
        };
        // Events in time order: 0: 1 -> 2 (tx 1); 1: 1 -> 2, 2: 2 -> 3, 3: 3 -> 1
        // (tx 2: 2 forwards, 3 forwards, 1 does not: nothing after); 4: 2 -> 4 (tx 3).
        let g = FlowGraph::from_records(
            "fwd",
            vec![
                t(1, 0, 1, 2),
                t(2, 0, 1, 2),
                t(2, 1, 2, 3),
                t(2, 2, 3, 1),
                t(3, 0, 2, 4),
            ],
        )
        .unwrap();
        let marked: Vec<u32> = (0..5).filter(|&e| g.forwards(e)).collect();
        assert_eq!(marked, [1, 2]);
        let n = |a: u8| g.node(&addr(a)).unwrap().0;
        assert!(g.pays_forwarders(n(1)) && g.pays_forwarders(n(2)));
        assert!(!g.pays_forwarders(n(3)) && !g.pays_forwarders(n(4)));
    }

    /// Native runs per chain, token indices inline and out of line, read
    /// back per event; the parts check as consistent, and a broken run
    /// table does not.
    #[test]
    fn asset_column_reads_back_every_kind_of_entry() {
        let wide = u32::from(WIDE_ASSET) + 5;
        // (asset index, native): BTC is 0 and ETH 1, tokens above.
        let events = [
            (0, true),
            (0, true),
            (2, false),
            (1, true),
            (wide, false),
            (1, true),
            (3, false),
            (wide + 1, false),
            (1, true),
        ];
        let mut col = AssetColumn::with_capacity(events.len());
        for &(a, n) in &events {
            col.push(a, n);
        }
        assert_eq!(col.runs, vec![(0, 0), (3, 1)]);
        assert_eq!(col.other.len(), 4);
        assert_eq!(col.wide, vec![(4, wide), (7, wide + 1)]);
        for (e, &(a, _)) in (0u32..).zip(&events) {
            assert_eq!(col.get(e), a, "event {e}");
        }
        let native = |a: u32| a < 2;
        assert!(col.is_consistent(wide as usize + 2, native));
        assert!(!col.is_consistent(wide as usize + 1, native));
        col.runs[1].0 = 2;
        assert!(!col.is_consistent(wide as usize + 2, native));
    }

    /// `next_one` agrees with ranks from every position, for sparse and
    /// dense bits and a run of zeros longer than a word.
    #[test]
    fn next_one_agrees_with_rank() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for density in [1u64, 4, 32] {
            let mut bits = RankBits::default();
            for i in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // A gap of zeros over a whole word in the middle.
                bits.push(!(100..230).contains(&i) && x % density == 0);
            }
            for from in 0..=300 {
                // The first position after `from` whose rank grows.
                let want = (from..300)
                    .find(|&i| bits.rank(i + 1) > bits.rank(from))
                    .unwrap_or(300);
                assert_eq!(bits.next_one(from), want, "density {density}, from {from}");
            }
        }
    }

    /// Packed out-edges: entries of one and two words read back forwards,
    /// backwards and by binary search from every starting point.
    #[test]
    fn out_list_reads_packed_entries() {
        // (event, receiver or NONE)
        let entries = [
            (3, 7),
            (5, NONE),
            (6, NONE),
            (9, 1),
            (12, 0),
            (20, NONE),
            (21, 4),
        ];
        let mut words = Vec::new();
        let mut starts = Vec::new();
        for &(e, t) in &entries {
            starts.push(words.len());
            words.push(e);
            if t != NONE {
                words.push(RECV | t);
            }
        }
        let list = OutList { words: &words };
        let got: Vec<_> = list.iter().map(|o| (o.event, o.target)).collect();
        assert_eq!(got, entries);
        let back: Vec<_> = list.iter().rev().map(|o| (o.event, o.target)).collect();
        assert_eq!(back, entries.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(list.last().map(|o| o.event), Some(21));
        for (k, &p) in starts.iter().enumerate() {
            assert_eq!(list.get(p).map(|o| o.event), Some(entries[k].0));
            let next = starts.get(k + 1).copied().unwrap_or(words.len());
            assert_eq!(list.next_pos(p), next);
            let pre: Vec<_> = list.prefix(p).iter().map(|o| o.event).collect();
            assert_eq!(pre, entries[..k].iter().map(|x| x.0).collect::<Vec<_>>());
        }
        for t in 0..25 {
            let want = entries
                .iter()
                .position(|x| x.0 >= t)
                .map_or(words.len(), |k| starts[k]);
            assert_eq!(list.partition_point(|e| e < t), want, "t {t}");
        }
        let empty = OutList { words: &[] };
        assert!(empty.is_empty() && empty.last().is_none() && empty.iter().next().is_none());
        assert_eq!(empty.partition_point(|_| true), 0);
    }
}
