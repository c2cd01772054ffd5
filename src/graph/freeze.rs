//! [`GraphBuilder::freeze`]: the loaded records, sorted into time order and
//! laid out as a [`FlowGraph`]. Exact duplicates are dropped and conflicts
//! refused; addresses get their canonical numbers ([`incoming_order`]); the
//! events are cut into one run per thread, each laid out into its part of
//! the columns ([`Layout`]) and of the adjacency, and the parts joined in
//! order, so the graph is the same whatever the number of threads.

use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(doc)]
use super::builder::LoadStats;
use super::builder::{GraphBuilder, MAX_HEIGHT, RawEvent};
use super::columns::{BlockInfo, Layout, prefetch};
use super::ids::{NONE, RECV};
use super::index::AddressIndex;
use super::{FlowGraph, Stored};
use crate::error::{Error, Result};
use crate::types::{Address, Asset, AssetInfo, BlockHeight, Chain, Timestamp, TxId};
use rayon::prelude::*;

impl GraphBuilder {
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
        let _span = tracing::info_span!("freeze", events = self.events.len()).entered();
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
        let stored = Stored {
            addresses,
            txids,
            assets,
            asset_info,
            blocks,
            cols,
            sources: self.sources,
            stats: self.stats,
        };
        let mut graph = FlowGraph::from_stored(stored, index);
        graph.put_opening_balances(self.openings);
        tracing::info!(
            addresses = graph.address_count(),
            events = graph.event_count(),
            legs = graph.leg_count(),
            "graph frozen"
        );
        Ok(graph)
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
            if let Some((p, t)) = prev
                && p == pos
                && t != e.tx
            {
                return Err(Error::Conflict {
                    position: describe_key(e.key),
                    reason: format!(
                        "two transactions at one position (tx {} and tx {})",
                        self.txids[t as usize], self.txids[e.tx as usize]
                    ),
                });
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
/// incoming events are heavily skewed (a few addresses receive most of
/// them), so with this order the words read most share a few cache lines
/// and pages.
fn incoming_order(first: &[u32], incoming: impl Fn(u32) -> u32) -> Vec<u32> {
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
