//! The frontier search ([`Search::Frontier`](crate::trace::Search::Frontier)): a layered earliest-arrival
//! search per seed that costs what the seed reaches (the out-edges scanned),
//! whatever the graph's size, and the probe of [`Search::Auto`](crate::trace::Search::Auto) built on it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::hops::{Buffers, Entry, Hops, Scratch};
use super::tracer::Ctx;
use crate::graph::{NONE, OutList, RECV, prefetch};

/// A node to expand: its entry, its ready event (arrival event + 1; 0 for
/// the seed) and, once known, where its out-edges at or after that event
/// start.
#[derive(Clone, Copy, Debug)]
pub(super) struct Front {
    node: u32,
    /// Index of the entry that made this arrival: the predecessor of what
    /// the node's out-edges reach.
    entry: u32,
    ready: u32,
    /// Word offset in the node's out-edges of the first entry at or after
    /// `ready`; `NONE` until a search has found it.
    start: u32,
    /// The node's ready event before this arrival improved it (`NONE` if it
    /// was unreached). Its out-edges at or after it were relaxed from that
    /// earlier arrival, at a layer no higher and by an entry made before, so
    /// relaxing them again cannot change a word: the expansion stops there.
    stop: u32,
}

/// Sorts `nodes` (distinct): when they are many for the graph's size, by
/// setting their bits in `mark` (all clear, one bit per node) and reading
/// the bits back in order, clearing them; otherwise by comparison.
fn sort_nodes(nodes: &mut Vec<u32>, mark: &mut [u64]) {
    if nodes.len() < 64 || nodes.len() * 8 < mark.len() {
        nodes.sort_unstable();
        return;
    }
    for &n in nodes.iter() {
        mark[n as usize / 64] |= 1 << (n % 64);
    }
    nodes.clear();
    for (w, word) in mark.iter_mut().enumerate() {
        let mut bits = std::mem::take(word);
        while bits != 0 {
            nodes.push(w as u32 * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

/// Records the nodes improved in `layer` (sorted, each once) as entries whose
/// predecessor is the entry whose relaxation won (as `pred` maps it: node,
/// arrival event, that entry), then settles them. Puts them with their
/// entries and ready events into `out` (cleared first): the next wave.
///
/// The touched nodes lie far apart, so the words of the node `NODES_AHEAD`
/// places on are prefetched.
#[allow(clippy::too_many_arguments)]
fn settle(
    touched: &[u32],
    layer: u32,
    best: &[AtomicU64],
    old_ready: &[AtomicU32],
    entries: &mut Vec<Entry>,
    first_entry: &mut [u32],
    out: &mut Vec<Front>,
    mut pred: impl FnMut(u32, u32, u32) -> u32,
    layer_fronts: Option<(&[Front], &[usize])>,
) {
    out.clear();
    for (i, &v) in touched.iter().enumerate() {
        if let Some(&w) = touched.get(i + NODES_AHEAD) {
            prefetch(&best[w as usize]);
            prefetch(&first_entry[w as usize]);
        }
        let packed = best[v as usize].load(Ordering::Relaxed);
        let ready = (packed >> 32) as u32;
        let idx = entries.len() as u32;
        entries.push(Entry {
            node: v,
            layer,
            event: ready - 1,
            pred: pred(v, ready - 1, (packed & 0xffff_ffff) as u32 - 1),
        });
        let stop = if first_entry[v as usize] == NONE {
            first_entry[v as usize] = idx;
            NONE
        } else if let Some((fronts, runs)) = layer_fronts
            && let Some(i) = find_front(fronts, runs, v)
        {
            // Improved again in this layer: the out-edges after the
            // arrival it improved on were relaxed at this layer too, from
            // a later arrival, so they may name a better predecessor now;
            // it stops where that front stopped.
            fronts[i].stop
        } else {
            old_ready[v as usize].load(Ordering::Relaxed)
        };
        out.push(Front {
            node: v,
            entry: idx,
            ready,
            start: NONE,
            stop,
        });
        best[v as usize].store(u64::from(ready) << 32, Ordering::Relaxed);
    }
}

/// In a [`Cont`]'s event: the relaxation was made in a same-transaction
/// round over an event whose receiver does not forward (kept only to settle
/// which predecessor an arrival names, see `side_fronts`).
const NO_FWD: u32 = 1 << 31;

/// Whether entry `p` is a better predecessor than `q` for the same arrival:
/// the one at fewer hops, then the one that arrived first (then the one
/// made first). This is the order in which the stream search meets them.
fn better_pred(entries: &[Entry], p: u32, q: u32) -> bool {
    let key = |k: u32| {
        let e = &entries[k as usize];
        (e.layer, e.event, k)
    };
    key(p) < key(q)
}

/// Closes a round: turns the forwarded arrivals it relaxed into side
/// entries of `layer` and appends their fronts to `out`, and settles which
/// predecessor each arrival of the layer's later rounds names.
///
/// `conts` holds the relaxations over events whose receiver forwards and,
/// in same-transaction rounds, every relaxation (with [`NO_FWD`] when the
/// receiver does not forward). For each (receiver, event) the best sender
/// entry ([`better_pred`]) is kept. `made` maps (receiver, event) to the
/// entry the layer made for that arrival in a same-transaction round, or
/// as a side entry: such an entry takes a better predecessor found later
/// instead of a second entry being made, as a same-transaction round may
/// reach a sender's earlier arrival after its later one. An arrival that
/// is its receiver's best (its ready event is the receiver's) was or will
/// be expanded as such, at this layer or an earlier one, and gets no side
/// entry. Nor does, without time order (`!time`), a receiver first reached
/// in an earlier layer: its one expansion relaxed all its out-edges at a
/// layer no higher.
#[allow(clippy::too_many_arguments)]
fn side_fronts(
    conts: &mut [Cont],
    layer: u32,
    time: bool,
    best: &[AtomicU64],
    first_entry: &[u32],
    entries: &mut Vec<Entry>,
    made: &mut FxHashMap<(u32, u32), u32>,
    out: &mut Vec<Front>,
) {
    conts.sort_unstable();
    let mut i = 0;
    while i < conts.len() {
        let (v, ev_flag, mut pred) = conts[i];
        i += 1;
        while let Some(&(w, e, p)) = conts.get(i)
            && (w, e) == (v, ev_flag)
        {
            if better_pred(entries, p, pred) {
                pred = p;
            }
            i += 1;
        }
        let ev = ev_flag & !NO_FWD;
        if let Some(&k) = made.get(&(v, ev)) {
            if better_pred(entries, pred, entries[k as usize].pred) {
                entries[k as usize].pred = pred;
            }
            continue;
        }
        if ev_flag & NO_FWD != 0 {
            continue;
        }
        if (best[v as usize].load(Ordering::Relaxed) >> 32) as u32 == ev + 1 {
            continue;
        }
        let first = first_entry[v as usize];
        if !time && first != NONE && entries[first as usize].layer < layer {
            continue;
        }
        let idx = entries.len() as u32;
        entries.push(Entry {
            node: v,
            layer,
            event: ev,
            pred,
        });
        made.insert((v, ev), idx);
        out.push(Front {
            node: v,
            entry: idx,
            ready: ev + 1,
            start: NONE,
            stop: NONE,
        });
    }
}

/// The position in `fronts` of `node`'s front, if any; `fronts` is sorted
/// by node in runs that start at `runs`.
fn find_front(fronts: &[Front], runs: &[usize], node: u32) -> Option<usize> {
    runs.iter().enumerate().find_map(|(i, &lo)| {
        let hi = runs.get(i + 1).copied().unwrap_or(fronts.len());
        let run = &fronts[lo..hi];
        run.binary_search_by_key(&node, |f| f.node)
            .ok()
            .map(|k| lo + k)
    })
}

/// Adds the fronts a round settled (`new`, sorted by node) to the layer's
/// `frontier` as a new sorted run (its start pushed to `runs`). A node
/// already there, settled in an earlier round of this layer, keeps one
/// front: the new, earlier arrival's, whose range runs on to where the old
/// one's ended; and the new entry replaces the old as the node's
/// fewest-hop entry if the old one was (both are at this layer, the new
/// one arrived first).
fn add_fronts(
    frontier: &mut Vec<Front>,
    runs: &mut Vec<usize>,
    new: &[Front],
    first_entry: &mut [u32],
) {
    let start = frontier.len();
    for f in new {
        match find_front(&frontier[..start], runs, f.node) {
            Some(i) => {
                let old = frontier[i];
                if first_entry[f.node as usize] == old.entry {
                    first_entry[f.node as usize] = f.entry;
                }
                frontier[i] = Front {
                    stop: old.stop,
                    ..*f
                };
            }
            None => frontier.push(*f),
        }
    }
    if frontier.len() > start {
        runs.push(start);
    }
}

/// Frontiers at least this long are expanded in parallel, in chunks of half
/// this size.
const PAR_FRONTIER: usize = 2048;

/// How far ahead of the node being expanded its successors' offsets (twice
/// this) and out-edge lists are prefetched.
pub(super) const NODES_AHEAD: usize = 16;

/// How many out-edges ahead of the one being relaxed its target's arrival
/// word is prefetched.
const EDGES_AHEAD: usize = 128;

/// A node's out-edges to relax: the node, its entry, the run's first and
/// end word in the packed out-edges, and whether the node pays forwarders
/// (so that its events' forwarding bits need reading).
type Run = (u32, u32, usize, usize, bool);

/// The per-node arrays of a search that a wave reads, and lowers (`best`) or
/// writes once per improved node (`old_ready`).
#[derive(Clone, Copy)]
struct Words<'a> {
    best: &'a [AtomicU64],
    old_ready: &'a [AtomicU32],
    first_entry: &'a [u32],
}

/// An arrival inside a transaction that its receiver forwards from (a
/// relaxation over an event of [`FlowGraph::forwards`](crate::graph::FlowGraph::forwards), whether or not it
/// improved the receiver's word): the receiver, the event and the entry of
/// the sender. The same-transaction round continues from it in the same
/// layer.
pub(super) type Cont = (u32, u32, u32);

/// A cursor over the out-edge entries of a list of [`Run`]s, yielding each
/// entry's second word: its receiver word, or (for a multi-leg event, or at
/// a run's end) something without `RECV`.
///
/// This and the relaxation loop step over the packed words themselves
/// rather than through [`OutList::iter`] (a `flat_map` of `OutList`
/// iterators costs more per entry).
struct Ahead<'a> {
    adj: &'a [u32],
    runs: &'a [Run],
    next_run: usize,
    at: usize,
    end: usize,
}

impl Iterator for Ahead<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.at >= self.end {
            let &(_, _, lo, hi, _) = self.runs.get(self.next_run)?;
            self.next_run += 1;
            (self.at, self.end) = (lo, hi);
        }
        let w = if self.at + 1 < self.end {
            self.adj[self.at + 1]
        } else {
            0
        };
        self.at += 1 + usize::from(w & RECV != 0);
        Some(w)
    }
}

impl Ctx<'_> {
    /// Relaxes the out-edges of `wave` (nodes with their arrival event + 1)
    /// and puts into `touched` (cleared first) the nodes whose word it
    /// lowered from settled or unreached, each once, in no set order;
    /// returns the number of entries scanned. `same_tx` limits each node to
    /// the run of out-edges inside its arrival transaction (the
    /// same-transaction closure); otherwise all out-edges after the arrival
    /// count (all of them without time order). Large waves are split over
    /// threads; the atomic minimum makes the result independent of how.
    fn relax_wave(
        &self,
        seed: u32,
        wave: &mut [Front],
        words: Words<'_>,
        same_tx: bool,
        touched: &mut Vec<u32>,
        conts: &mut Vec<Cont>,
    ) -> u64 {
        let Words {
            best,
            old_ready,
            first_entry: fe,
        } = words;
        let g = self.g;
        let time = self.cfg.time_respecting;
        let adj = g.out_adj();
        let expand = |chunk: &mut [Front], touched: &mut Vec<u32>, conts: &mut Vec<Cont>| -> u64 {
            // First each node's run of out-edges to relax, as positions in
            // `adj`. The nodes of a frontier lie far apart, so the offsets
            // and edge lists of nodes a few places on are prefetched. The
            // first entry at or after the node's arrival is found by a
            // binary search once and kept in the frontier: the
            // same-transaction round and the next layer both start there.
            let mut runs: Vec<Run> = Vec::with_capacity(chunk.len());
            for k in 0..chunk.len() {
                if let Some(f) = chunk.get(k + 2 * NODES_AHEAD) {
                    g.prefetch_offsets(f.node);
                }
                if let Some(f) = chunk.get(k + NODES_AHEAD) {
                    let from = if time || same_tx { f.start } else { 0 };
                    g.prefetch_out_edges(f.node, from);
                    if same_tx && f.ready > 0 {
                        g.prefetch_tx_end(f.ready - 1);
                    }
                }
                let Front {
                    node: u,
                    entry,
                    ready: r,
                    start,
                    stop,
                } = chunk[k];
                if (same_tx && r == 0) || self.absorbs(u, seed) {
                    continue;
                }
                let range = g.out_range(u);
                let edges = OutList {
                    words: &adj[range.clone()],
                };
                let start = if !(time || same_tx) {
                    0
                } else if start != NONE {
                    start as usize
                } else {
                    let p = edges.partition_point(|x| x < r);
                    chunk[k].start = p as u32;
                    p
                };
                let end = if same_tx {
                    let tx_end = g.tx_end(r - 1).min(stop);
                    let mut p = start;
                    while edges.get(p).is_some_and(|o| o.event < tx_end) {
                        p = edges.next_pos(p);
                    }
                    p
                } else if time && stop != NONE {
                    start + edges.suffix(start).partition_point(|x| x < stop)
                } else {
                    edges.end()
                };
                if end > start {
                    let fwd = g.pays_forwarders(u);
                    runs.push((u, entry, range.start + start, range.start + end, fwd));
                }
            }
            // Then the relaxations. Their cost is the random read of each
            // target's word, so a second cursor runs `EDGES_AHEAD` entries
            // in front and prefetches the words of the receivers it passes.
            let mut ahead = Ahead {
                adj,
                runs: &runs,
                next_run: 0,
                at: 0,
                end: 0,
            };
            let hint = |w: u32| {
                // Multi-leg events (no receiver word): no hint.
                if w & RECV != 0 {
                    let t = (w & !RECV) as usize;
                    prefetch(&best[t]);
                    if !time {
                        prefetch(&fe[t]);
                    }
                }
            };
            for _ in 0..EDGES_AHEAD {
                match ahead.next() {
                    Some(w) => hint(w),
                    None => break,
                }
            }
            let mut count = 0u64;
            for &(u, entry, lo, hi, pays_forwarders) in &runs {
                let pred = u64::from(entry) + 1;
                let mut relax = |v: u32, ev: u32, fwd: bool| {
                    if v == u {
                        return;
                    }
                    // A later arrival that does not lower the word can
                    // still move on inside its transaction in this layer;
                    // and in a same-transaction round, any arrival may
                    // name a better predecessor (see `side_fronts`).
                    if v != seed && (fwd || same_tx) {
                        conts.push((v, if fwd { ev } else { ev | NO_FWD }, entry));
                    }
                    if !time && fe[v as usize] != NONE {
                        return;
                    }
                    let nr = ev + 1;
                    let cand = (u64::from(nr) << 32) | pred;
                    let slot = &best[v as usize];
                    if cand < slot.load(Ordering::Relaxed) {
                        let prev = slot.fetch_min(cand, Ordering::Relaxed);
                        if cand < prev && (prev == u64::MAX || prev & 0xffff_ffff == 0) {
                            if prev != u64::MAX {
                                old_ready[v as usize].store((prev >> 32) as u32, Ordering::Relaxed);
                            }
                            touched.push(v);
                        }
                    }
                };
                // Runs end at entry boundaries, so a one-to-one entry's
                // receiver word is inside its run.
                let run = &adj[lo..hi];
                let mut k = 0;
                while let Some(&ev) = run.get(k) {
                    count += 1;
                    if let Some(w) = ahead.next() {
                        hint(w);
                    }
                    let w = run.get(k + 1).copied().unwrap_or(0);
                    let fwd = pays_forwarders && g.forwards(ev);
                    if w & RECV != 0 {
                        relax(w & !RECV, ev, fwd);
                        k += 2;
                    } else {
                        for s in g.multi_outputs(ev) {
                            relax(g.slot_node(s), ev, fwd);
                        }
                        k += 1;
                    }
                }
            }
            count
        };
        touched.clear();
        conts.clear();
        if wave.len() >= PAR_FRONTIER {
            let parts: Vec<(Vec<u32>, Vec<Cont>, u64)> = wave
                .par_chunks_mut(PAR_FRONTIER / 2)
                .map(|chunk| {
                    let (mut t, mut c) = (Vec::new(), Vec::new());
                    let k = expand(chunk, &mut t, &mut c);
                    (t, c, k)
                })
                .collect();
            touched.reserve(parts.iter().map(|p| p.0.len()).sum());
            let mut scanned = 0;
            for (t, c, k) in parts {
                scanned += k;
                touched.extend(t);
                conts.extend(c);
            }
            scanned
        } else {
            expand(wave, touched, conts)
        }
    }

    /// The predecessor of `v`'s arrival in `ev` at the first round of a
    /// layer, whose wave holds the fronts of the nodes settled at the layer
    /// before (sorted in runs), given `won`, the entry whose relaxation won
    /// the atomic minimum. For a multi-leg event with several input legs,
    /// the entry of the sender of the first input leg (other than `v`)
    /// whose front relaxed `ev`, so that the evidence path does not depend
    /// on node numbers or entry order; `won` otherwise (a one-to-one event
    /// has one sender). The first two such senders of each event are kept
    /// in `multi`, for the event's other receivers.
    fn first_sender(
        &self,
        seed: u32,
        v: u32,
        ev: u32,
        won: u32,
        (wave, runs): (&[Front], &[usize]),
        multi: &mut FxHashMap<u32, [(u32, u32); 2]>,
    ) -> u32 {
        let g = self.g;
        if !g.is_multi(ev) || g.input_count(ev) < 2 {
            return won;
        }
        let time = self.cfg.time_respecting;
        let two = multi.entry(ev).or_insert_with(|| {
            let mut found = [(NONE, NONE); 2];
            let mut k = 0;
            for (s, _) in g.inputs(ev) {
                if k == 2 {
                    break;
                }
                if found[..k].iter().any(|f| f.0 == s) || self.absorbs(s, seed) {
                    continue;
                }
                // The front's range: at or after its arrival, before the
                // arrival it improved on (as `relax_wave` cuts it).
                if let Some(i) = find_front(wave, runs, s) {
                    let f = wave[i];
                    if !time || (f.ready <= ev && (f.stop == NONE || ev < f.stop)) {
                        found[k] = (s, f.entry);
                        k += 1;
                    }
                }
            }
            found
        });
        two.iter()
            .find(|f| f.0 != v && f.0 != NONE)
            .map_or(won, |f| f.1)
    }

    /// Layered earliest-arrival search from `seed`.
    ///
    /// Each layer relaxes the out-edges of the nodes improved in the layer
    /// before, with an atomic minimum on a packed (arrival, predecessor's
    /// entry + 1) word: the smallest arrival wins, whatever the order of
    /// the relaxations. A node settled in an earlier layer has predecessor
    /// field 0, so a tie never displaces it. The thread whose minimum first
    /// lowers a settled or unreached word records the node as improved, so
    /// each improved node is listed once; the list is sorted before it
    /// becomes the next frontier.
    ///
    /// Which predecessor an arrival names does not depend on the entries'
    /// order (which follows node numbers): a multi-leg event's is its first
    /// sender in input order that relaxed it (`first_sender`), a later
    /// same-transaction round may give an arrival a better one
    /// (`side_fronts`), and a node keeps one front per layer, its earliest
    /// arrival's (`add_fronts`). So the evidence paths are those the stream
    /// search finds.
    pub(crate) fn hops(&self, seed: u32) -> Hops {
        self.frontier(seed, None)
            .expect("a frontier search without a limit runs to its end")
    }

    /// The layered search of [`Ctx::hops`]; with `give_up`, a probe for
    /// [`Search::Auto`](crate::trace::Search::Auto): `None` (the search arrays handed back) when a
    /// layer would take the entries scanned past `give_up`, counting every
    /// out-edge word of the layer's nodes (a bound on what it scans).
    pub(super) fn frontier(&self, seed: u32, give_up: Option<u64>) -> Option<Hops> {
        let g = self.g;
        // A probe whose second layer alone is over the limit gives up
        // before the first (see `second_layer_over`), and before taking
        // search arrays.
        if let Some(limit) = give_up
            && self.cfg.max_hops >= 2
            && self.second_layer_over(seed, limit)
        {
            return None;
        }
        let Scratch {
            best,
            mut first_entry,
            old_ready,
            mut mark,
            mut entries,
            mut bufs,
        } = self.start_search(seed);
        let Buffers {
            frontier,
            wave,
            next,
            touched,
            conts,
            ..
        } = &mut bufs;
        frontier.push(Front {
            node: seed,
            entry: 0,
            ready: 0,
            start: NONE,
            stop: NONE,
        });
        // Starts of the sorted runs of `frontier` (one per round that added
        // nodes; a node is in at most one), and of the wave's.
        let mut runs: Vec<usize> = vec![0];
        let mut wave_runs: Vec<usize> = Vec::new();
        // Per multi-leg event of a layer's first round: see `first_sender`.
        let mut multi: FxHashMap<u32, [(u32, u32); 2]> = FxHashMap::default();
        // Per (node, event): the entry the layer made for that arrival in a
        // same-transaction round or as a side entry (see `side_fronts`).
        let mut made: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut scanned = 0u64;
        let mut truncated = false;
        let mut gave_up = false;
        let time = self.cfg.time_respecting;
        let mut layer = 0u32;
        'layers: while !frontier.is_empty() && layer < self.cfg.max_hops {
            if let Some(limit) = give_up {
                let ahead: u64 = frontier
                    .iter()
                    .map(|f| g.out_range(f.node).len() as u64)
                    .sum();
                if scanned + ahead > limit {
                    gave_up = true;
                    break;
                }
            }
            layer += 1;
            // The layer relaxes all out-edges after each arrival, then is
            // closed over same-transaction continuations: a hop is one
            // transaction, so value that arrived in transaction T and moves
            // on inside T (a contract forwarding what it received) reaches
            // the next address in the same layer. Events of one transaction
            // are adjacent in time order, so the continuation is the run of
            // out-edges right after the arrival with the same tx.
            //
            // A continuation also starts from an arrival that did not lower
            // its receiver's word (the receiver was reached earlier, or
            // earlier in this wave, in another transaction): the wave
            // records every relaxation over an event whose receiver
            // forwards, and each such arrival not already expanded as the
            // receiver's best becomes a side entry (never its node's first
            // entry: the relaxation reached the node, so it has one) and a
            // front of the next round, which stays inside its transaction
            // and does not go on to the next layer.
            //
            // A node improved again in a later round of the layer (an
            // earlier arrival, inside another transaction) keeps one front
            // for the next layer, the earlier arrival's (see `add_fronts`),
            // so that what it sends on names its earliest arrival at these
            // hops as its predecessor, as the stream search does.
            std::mem::swap(wave, frontier);
            frontier.clear();
            std::mem::swap(&mut wave_runs, &mut runs);
            runs.clear();
            made.clear();
            let mut same_tx = false;
            // Fronts of `wave` that are its nodes' best arrivals (the rest
            // are side fronts).
            let mut normal = wave.len();
            loop {
                // Entry indices are `u32` (`NONE` excluded) and a wave adds
                // at most one entry per node and one side entry per output
                // leg: stop, settled, before one could overflow (no graph of
                // today comes near).
                if entries.len() + g.address_count() + g.leg_count() >= NONE as usize {
                    truncated = true;
                    break 'layers;
                }
                let words = Words {
                    best: &best,
                    old_ready: &old_ready,
                    first_entry: &first_entry,
                };
                scanned += self.relax_wave(seed, wave, words, same_tx, touched, conts);
                if same_tx {
                    // With the start of each node's edges found.
                    add_fronts(frontier, &mut runs, &wave[..normal], &mut first_entry);
                }
                sort_nodes(touched, &mut mark);
                if same_tx {
                    // Inside their transactions: no multi-leg event.
                    settle(
                        touched,
                        layer,
                        &best,
                        &old_ready,
                        &mut entries,
                        &mut first_entry,
                        next,
                        |_, _, won| won,
                        Some((frontier, &runs)),
                    );
                } else {
                    multi.clear();
                    let wave: &[Front] = wave;
                    let wave_runs = &wave_runs;
                    settle(
                        touched,
                        layer,
                        &best,
                        &old_ready,
                        &mut entries,
                        &mut first_entry,
                        next,
                        |v, ev, won| {
                            self.first_sender(seed, v, ev, won, (wave, wave_runs), &mut multi)
                        },
                        None,
                    );
                }
                normal = next.len();
                if same_tx {
                    for f in next.iter() {
                        made.insert((f.node, f.ready - 1), f.entry);
                    }
                }
                side_fronts(
                    conts,
                    layer,
                    time,
                    &best,
                    &first_entry,
                    &mut entries,
                    &mut made,
                    next,
                );
                std::mem::swap(wave, next);
                if wave.is_empty() {
                    break;
                }
                same_tx = true;
            }
            // Over budget, and the next layer would have work to do.
            let more = || {
                frontier.iter().any(
                    |&Front {
                         node: u, ready: r, ..
                     }| {
                        !self.absorbs(u, seed)
                            && g.out_edges(u).last().is_some_and(|o| !time || o.event >= r)
                    },
                )
            };
            if self
                .cfg
                .max_edges_per_seed
                .is_some_and(|b| scanned >= b && layer < self.cfg.max_hops && more())
            {
                truncated = true;
                break;
            }
        }
        let hops = Hops {
            firsts: Vec::new(),
            best,
            first_entry,
            old_ready,
            entries,
            mark,
            bufs,
            edges_scanned: scanned,
            truncated,
            streamed: false,
            sparse: None,
        };
        if gave_up {
            self.give_back(hops);
            return None;
        }
        Some(hops)
    }

    /// Whether a probe from `seed` with `limit` is sure to give up at the
    /// check before its second layer, which compares the entries scanned
    /// so far plus the out-edge words of the frontier with the limit. The
    /// seed sends from the start, so every receiver of its out-edges (but
    /// itself) is reached in the first layer and is in that frontier: the
    /// out-edge words of the distinct receivers seen so far are a lower
    /// bound of the check, and once over the limit, the first layer (for
    /// a busy address, its whole out-list) need not be searched. The
    /// decision is the check's own; only its cost changes. (Probes run
    /// without a work budget, so no budget stops the search before that
    /// check.)
    ///
    /// The receivers are counted once each with a bit per node; a first
    /// pass that counts them as often as they occur (an upper bound of the
    /// same sum) spares a seed with a small neighbourhood, the usual one,
    /// that bitset.
    pub(super) fn second_layer_over(&self, seed: u32, limit: u64) -> bool {
        let g = self.g;
        let words = |v: u32| {
            if v == seed {
                0
            } else {
                g.out_range(v).len() as u64
            }
        };
        let mut most = 0u64;
        for o in g.out_edges(seed) {
            if o.target != NONE {
                most += words(o.target);
            } else {
                most += g
                    .multi_outputs(o.event)
                    .map(|s| words(g.slot_node(s)))
                    .sum::<u64>();
            }
            if most > limit {
                break;
            }
        }
        if most <= limit {
            return false;
        }
        // Zeroed pages: only those touched are mapped.
        let mark = &mut vec![0u64; g.address_count().div_ceil(64)][..];
        let mut ahead = 0u64;
        // The out-edge words of `v`, if not counted yet.
        let mut add = |v: u32| {
            let (w, b) = (v as usize / 64, 1u64 << (v % 64));
            if v == seed || mark[w] & b != 0 {
                return 0;
            }
            mark[w] |= b;
            g.out_range(v).len() as u64
        };
        for o in g.out_edges(seed) {
            if o.target != NONE {
                ahead += add(o.target);
            } else {
                for s in g.multi_outputs(o.event) {
                    ahead += add(g.slot_node(s));
                }
            }
            if ahead > limit {
                break;
            }
        }
        ahead > limit
    }
}

#[cfg(test)]
mod tests {
    use super::sort_nodes;

    /// Both ways of sorting improved nodes give the comparison sort's order
    /// and leave the bitmap clear for the next wave.
    #[test]
    fn sort_nodes_by_bitmap_and_by_comparison() {
        let n = 10_000u32;
        let mut mark = vec![0u64; (n as usize).div_ceil(64)];
        // Distinct nodes in a scrambled order (7919 is prime to n): all of
        // them and the smallest list read from the bitmap, and the largest
        // list sorted by comparison.
        for (count, step) in [(n as usize, 7919u32), (64, 7919), (63, 7919)] {
            let mut nodes: Vec<u32> = (0..n).map(|i| (i * step) % n).take(count).collect();
            let mut want = nodes.clone();
            want.sort_unstable();
            sort_nodes(&mut nodes, &mut mark);
            assert_eq!(nodes, want, "{count} nodes");
            assert!(mark.iter().all(|&w| w == 0));
        }
    }
}
