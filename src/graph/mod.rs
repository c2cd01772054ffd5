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
//! # Files
//! One job each:
//! * `ids`: [`NodeId`] and [`EventId`], and the reserved words that bound
//!   them;
//! * `builder`: [`GraphBuilder`], its interning and caps, [`LoadStats`] and
//!   [`SourceSummary`];
//! * `freeze`: [`GraphBuilder::freeze`], the sort, the canonical numbering
//!   and the parallel layout;
//! * `columns`: the storage columns (per-event bits, asset indices, slots,
//!   amounts, adjacency offsets and words) and the layout that fills them;
//!   `codec`: their snapshot encoding and the checks a loaded one passes;
//! * `adjacency`: the packed out-edge lists;
//! * `index`: the address hash index;
//! * `forwards`: the trace-only index of forwarding events;
//! * `petgraph`: petgraph's visit traits and [`FlowGraph::to_petgraph`].
//!
//! This file holds [`FlowGraph`] and its read API.
//!
//! # Caps
//! A graph holds at most 2^31 addresses and 2^31 events (their ids stay
//! below `1 << 31`, the flag bit of a packed out-edge word), at most
//! 2^32 − 1 slots (one per leg, one per one-to-one event) and at most
//! 2^32 − 1 transactions; the builder refuses a record once it holds
//! 2^32 − 100,001 legs. Past a cap the builder fails with
//! [`Error::Capacity`](crate::Error::Capacity) (the freeze checks the
//! slots again); nothing is truncated.
//!
//! # Cost
//! For an ETH transfer: 12 bytes of slot, 8 of out-edge, 4 of in-edge and
//! under half a byte of event columns (see `columns`). Finding a node's
//! first event after a time is a binary search over its list; the legs of
//! an event are a rank (one lookup and a population count) away.

// Index casts: the builder refuses graphs with more than 2^31 addresses or
// events, or more than 2^32 − 1 slots (`Error::Capacity`), so u32/usize
// index casts cannot truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

mod adjacency;
mod builder;
mod codec;
mod columns;
mod forwards;
mod freeze;
mod ids;
mod index;
mod petgraph;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

pub(crate) use self::adjacency::OutList;
pub use self::builder::{GraphBuilder, LoadStats, SourceSummary};
pub(crate) use self::codec::{COLUMN_SECTIONS, par_decode};
pub(crate) use self::columns::{BlockInfo, Columns, prefetch};
use self::forwards::forwarding_events;
pub use self::ids::{EventId, NodeId};
pub(crate) use self::ids::{NONE, RECV};
pub(crate) use self::index::AddressIndex;
pub use self::petgraph::{Neighbors, NodeSet, PetEdge, PetNode};
use crate::error::Result;
use crate::sources::Record;
use crate::types::{Address, Amount, Asset, AssetInfo, BlockRef, OpeningBalance, TxId};

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

/// The parts of a [`FlowGraph`] that a freeze lays out and a snapshot
/// stores: everything but what is derived from them (the address index,
/// the forwarding bits and the opening balances' lookup).
pub(crate) struct Stored {
    pub(crate) addresses: Vec<Address>,
    pub(crate) txids: Vec<TxId>,
    pub(crate) assets: Vec<Asset>,
    pub(crate) asset_info: BTreeMap<Asset, AssetInfo>,
    pub(crate) blocks: Vec<BlockInfo>,
    pub(crate) cols: Columns,
    pub(crate) sources: Vec<SourceSummary>,
    pub(crate) stats: LoadStats,
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
    /// The graph of `stored` parts, `index` being the index of their
    /// addresses; derives the forwarding bits ([`forwarding_events`],
    /// linear in the adjacency). No opening balances are set.
    pub(crate) fn from_stored(stored: Stored, index: AddressIndex) -> FlowGraph {
        let (forwards, pays_forwarders) = forwarding_events(&stored.cols, stored.cols.asset.len());
        FlowGraph {
            addresses: stored.addresses,
            index,
            txids: stored.txids,
            assets: stored.assets,
            asset_info: stored.asset_info,
            blocks: stored.blocks,
            cols: stored.cols,
            forwards,
            pays_forwarders,
            sources: stored.sources,
            stats: stored.stats,
            openings: FxHashMap::default(),
            opening_list: Vec::new(),
        }
    }

    /// The graph with these known opening balances in place of any it had
    /// (see [`GraphBuilder::add_opening_balances`], the way to give them
    /// before the freeze). For balances that can only be fetched once the
    /// graph exists: those of the addresses a first trace shows holding
    /// value ([`Tracer::value_holders`](crate::trace::Tracer::value_holders)).
    /// It takes the graph by value, so a graph that is shared or traced is
    /// never changed. Balances of addresses or assets absent from the graph
    /// are dropped ([`FlowGraph::opening_balances`] lists those kept); a
    /// later balance for the same address and asset replaces an earlier
    /// one. O(n) in the balances.
    #[must_use]
    pub fn with_opening_balances(
        mut self,
        balances: impl IntoIterator<Item = OpeningBalance>,
    ) -> FlowGraph {
        self.put_opening_balances(balances);
        self
    }

    /// Replaces the opening balances; returns how many were kept.
    pub(crate) fn put_opening_balances(
        &mut self,
        balances: impl IntoIterator<Item = OpeningBalance>,
    ) -> usize {
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

    /// The opening balances the value models start from, in the order
    /// given (see [`GraphBuilder::add_opening_balances`] and
    /// [`FlowGraph::with_opening_balances`]).
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
}
