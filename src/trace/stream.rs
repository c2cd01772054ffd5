//! The time-ordered hop search ([`Search::Stream`](crate::trace::Search::Stream)): one pass over all
//! events in time order carries the searches of up to [`LANES`] seeds at
//! once.
//!
//! Every address has one byte per seed ("lane"): the fewest hops over which
//! value from that seed has reached it so far (`UNREACHED` if not). An
//! event with a reached sender offers each lane `hops + 1` to its
//! receivers (or, inside a transaction that paid the sender, the hops of
//! that arrival: a hop is one transaction), and a receiver whose byte it
//! lowers gets an entry, as in the layered search. Because events come in
//! time order, an arrival can only be spent by later events, so the pass
//! respects time without searching adjacency lists; the price is reading
//! every event once, whether or not a seed reached it. That pays when the
//! seeds reach much of the graph, and several seeds share one pass.
//!
//! The eight lanes of an address are one `u64`, compared and lowered with
//! SWAR arithmetic on 7-bit values (so hop limits up to
//! [`STREAM_MAX_HOPS`]). A lane holds its hops plus an offset that puts
//! the hop limit at 0x7e, one below `UNREACHED`: adding a hop then
//! saturates at `UNREACHED`, so one addition both counts the hop and
//! drops lanes that have reached the limit.
//!
//! Same result as the layered search for every address: its fewest hops,
//! its earliest arrival, and (for the value models) whether it passes
//! taint on; and the same evidence paths, because both break ties in the
//! order [`Finding::path`](crate::Finding::path) documents: a multi-leg
//! event's predecessor is its first sender (in input order) that offers
//! the fewest hops, and a sender's arrival kept for the rest of its
//! transaction names a predecessor only where it offers fewer hops than
//! the sender's fewest-hop entry.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::events::chain_runs;
use super::events::{FWD, MULTI};
use super::hops::{Buffers, Entry, Hops, Scratch, Sparse};
use super::lanes::{
    NOWHERE, Swar, UNREACHED, Words, byte, hop_offset, inc, lanes, lt, min8, spread,
};
use super::tracer::Ctx;
use crate::graph::{NONE, prefetch};

/// Seeds per pass.
pub(super) const LANES: usize = 8;

/// The largest [`TraceConfig::max_hops`](crate::trace::TraceConfig::max_hops)
/// the stream search handles.
pub const STREAM_MAX_HOPS: u32 = 125;

/// The arrivals of the current transaction at addresses that send later
/// in it, per lane: the fewest hops and the entry, so that those sends
/// continue in the same hop.
#[derive(Default)]
struct TxLocal {
    nodes: Vec<u32>,
    hops: Vec<u64>,
    entry: Vec<[u32; LANES]>,
    /// Node -> position, once there are more than `SCAN` nodes.
    index: FxHashMap<u32, u32>,
}

impl TxLocal {
    const SCAN: usize = 16;

    #[inline]
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn get(&self, n: u32) -> Option<usize> {
        if self.nodes.len() <= Self::SCAN {
            self.nodes.iter().position(|&x| x == n)
        } else {
            self.index.get(&n).map(|&k| k as usize)
        }
    }

    fn get_or_insert(&mut self, n: u32) -> usize {
        if let Some(k) = self.get(n) {
            return k;
        }
        let k = self.nodes.len();
        self.nodes.push(n);
        self.hops.push(NOWHERE);
        self.entry.push([NONE; LANES]);
        if k == Self::SCAN {
            self.index = (0u32..).zip(&self.nodes).map(|(i, &x)| (x, i)).collect();
        } else if k > Self::SCAN {
            self.index.insert(n, k as u32);
        }
        k
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.hops.clear();
        self.entry.clear();
        if !self.index.is_empty() {
            self.index = FxHashMap::default();
        }
    }
}

/// One seed's search in a pass.
struct Lane {
    seed: u32,
    best: Vec<AtomicU64>,
    first_entry: Vec<u32>,
    old_ready: Vec<AtomicU32>,
    mark: Vec<u64>,
    entries: Vec<Entry>,
    /// Per entry: the sender whose fewest-hop entry before the entry's
    /// event is its predecessor, or [`KNOWN`] if that is already set; with
    /// [`SIDE`] for a side entry. Keeping the lookups for after the pass
    /// keeps its random reads to the lane words (the per-lane arrays are
    /// too large to stay in cache beside them).
    from: Vec<u32>,
    /// For a trace without value models ([`Sparse`]): the entries of
    /// cluster members that are not side entries, in order, noted during
    /// the pass so that the resolution need not read every entry again
    /// (16 bytes each).
    member_entries: Vec<u32>,
    /// Entries before this one are noted in `member_entries`.
    checked: usize,
    /// Nodes reached, without the seed.
    reached: u64,
    bufs: Buffers,
}

/// Entries younger than this many are left for the next
/// [`Lane::note_members`]: their membership bits, prefetched as they were
/// made, may not have arrived yet.
const NOTE_LAG: usize = 32;

impl Lane {
    /// Notes in `member_entries` the members' entries up to `lag` before
    /// the last, that are not side entries.
    #[inline]
    fn note_members(&mut self, ctx: &Ctx<'_>, lag: usize) {
        let end = self.entries.len().saturating_sub(lag);
        if end <= self.checked {
            return;
        }
        let (entries, from) = (
            &self.entries[self.checked..end],
            &self.from[self.checked..end],
        );
        for ((k, en), &f) in (self.checked..).zip(entries).zip(from) {
            if f & SIDE == 0 && ctx.is_member(en.node) {
                self.member_entries.push(k as u32);
            }
        }
        self.checked = end;
    }

    /// The resolution of a trace without value models ([`Sparse`]): the
    /// fewest-hop entry (its last non-side one) and the earliest arrival
    /// (its first) of each member reached, in entry order, from the
    /// entries noted by [`Lane::note_members`].
    fn sparse(&mut self, ctx: &Ctx<'_>) -> Sparse {
        let Lane {
            seed,
            entries,
            from,
            member_entries,
            reached,
            ..
        } = self;
        let mut members: Vec<(u32, u32, u32)> = Vec::new();
        let mut index: FxHashMap<u32, u32> = FxHashMap::default();
        if ctx.is_member(*seed) {
            index.insert(*seed, 0);
            members.push((*seed, 0, 0));
        }
        for &k in member_entries.iter() {
            let en = &entries[k as usize];
            let v = en.node;
            let i = *index.entry(v).or_insert_with(|| {
                members.push((v, NONE, en.event + 1));
                members.len() as u32 - 1
            });
            members[i as usize].1 = k;
        }
        Sparse {
            reached: *reached,
            members,
            index,
            from: std::mem::take(from),
        }
    }

    /// Sets each entry's predecessor, each address's fewest-hop entry and
    /// its earliest arrival, in entry order; returns a bit per entry, set
    /// for the fewest-hop entry of its address ([`Hops::firsts`]). An entry's predecessor is its
    /// sender's fewest-hop entry before the entry's event, so the entries
    /// of one event are resolved before any of them counts as its node's.
    ///
    /// The entries' nodes and senders lie far apart: their words
    /// `ENTRIES_AHEAD` entries on are prefetched.
    fn resolve(&mut self) -> Vec<u64> {
        const ENTRIES_AHEAD: usize = 16;
        let Lane {
            best,
            first_entry: cur,
            entries,
            from,
            ..
        } = self;
        let n = entries.len();
        let mut firsts = vec![0u64; n.div_ceil(64)];
        firsts[0] = 1;
        let mut i = 1;
        while i < n {
            let e = entries[i].event;
            let mut j = i;
            while j < n && entries[j].event == e {
                if let Some(a) = entries.get(j + ENTRIES_AHEAD) {
                    prefetch(&cur[a.node as usize]);
                    prefetch(&best[a.node as usize]);
                    let f = from[j + ENTRIES_AHEAD] & !SIDE;
                    if f != KNOWN {
                        prefetch(&cur[f as usize]);
                    }
                }
                let f = from[j] & !SIDE;
                if f != KNOWN {
                    entries[j].pred = cur[f as usize];
                }
                j += 1;
            }
            for k in i..j {
                if from[k] & SIDE != 0 {
                    continue;
                }
                let v = entries[k].node as usize;
                let old = cur[v];
                if old == NONE {
                    best[v].store(u64::from(e + 1) << 32, Ordering::Relaxed);
                } else {
                    firsts[old as usize / 64] &= !(1 << (old % 64));
                }
                firsts[k / 64] |= 1 << (k % 64);
                cur[v] = k as u32;
            }
            i = j;
        }
        from.clear();
        firsts
    }
}

/// What one sender offers its receivers: per lane, the hops and whether
/// they come from an arrival in the same transaction (else from the
/// sender's fewest-hop entry).
#[derive(Clone, Copy)]
struct Offer {
    node: u32,
    hops: u64,
    /// Byte mask (0xff) of the lanes whose hops are a same-transaction
    /// continuation.
    cont: u64,
    /// Per lane of `cont`: the entry of that arrival.
    cont_entry: [u32; LANES],
}

/// Where the predecessor entries of an arrival come from, per lane: a
/// known entry (a same-transaction arrival), or a sender whose fewest-hop
/// entry before the event it is (looked up after the pass, see
/// [`Lane::from`]).
enum Src<'a> {
    /// A one-to-one event's sender.
    One(Offer),
    /// A multi-leg event's senders, of which the first that is not the
    /// receiver `v` and offers `hops` in a lane is that lane's.
    Scan {
        offers: &'a [Offer],
        hops: u64,
        v: u32,
    },
    /// A multi-leg event's senders, and per lane the one that won.
    Pick {
        offers: &'a [Offer],
        pick: [u32; LANES],
    },
}

/// In [`Lane::from`]: the entry's predecessor is already set.
pub(super) const KNOWN: u32 = !SIDE;
/// In [`Lane::from`]: a side entry (an arrival kept for the rest of its
/// transaction that is not its address's fewest-hop one).
pub(super) const SIDE: u32 = 1 << 31;

impl Src<'_> {
    /// The lane-`l` value for [`Lane::from`] and the predecessor entry
    /// (`NONE` until resolved).
    #[inline]
    fn pred(&self, l: usize) -> (u32, u32) {
        match self {
            Src::One(o) => o.pred(l),
            Src::Scan { offers, hops, v } => offers
                .iter()
                .find(|o| o.node != *v && byte(o.hops, l) == byte(*hops, l))
                .map_or((KNOWN, NONE), |o| o.pred(l)),
            Src::Pick { offers, pick } => offers[pick[l] as usize].pred(l),
        }
    }
}

impl Offer {
    /// See [`Src::pred`].
    #[inline]
    fn pred(&self, l: usize) -> (u32, u32) {
        if byte(self.cont, l) != 0 {
            (KNOWN, self.cont_entry[l])
        } else {
            (self.node, NONE)
        }
    }
}

/// Relaxations per lane: a byte each in `bytes` (one per relaxation from
/// a live lane), added to `scanned` before a byte can overflow.
#[derive(Default)]
struct Tally {
    bytes: u64,
    n: u32,
    scanned: [u64; LANES],
}

impl Tally {
    /// Adds counts of at most 255 relaxations per lane, a byte each.
    fn add_bytes(&mut self, bytes: u64) {
        for (l, s) in self.scanned.iter_mut().enumerate() {
            *s += (bytes >> (8 * l)) & 0xff;
        }
    }

    fn flush(&mut self) {
        self.add_bytes(self.bytes);
        self.bytes = 0;
        self.n = 0;
    }

    /// Counts a relaxation in the lanes of `live` (a mask from [`lt`]).
    #[inline]
    fn add(&mut self, live: u64) {
        self.bytes += live >> 7;
        self.n += 1;
        if self.n == 255 {
            self.flush();
        }
    }
}

/// Prefetches the words of the nodes of event `e` (if any): sender and
/// receiver, or a multi-leg event's first slots.
#[inline]
fn prefetch_event<W: Words>(ev: &[AtomicU64], e: usize, words: &W, slot_addr: &[u32]) {
    if let Some(a) = ev.get(e) {
        let w = a.load(Ordering::Relaxed);
        if w & MULTI == 0 {
            words.prefetch(w as u32);
            words.prefetch((w >> 32) as u32 & !(FWD >> 32) as u32);
        } else {
            let s = (w >> 32) as usize;
            let end = (s + 4).min(slot_addr.len());
            for &n in slot_addr.get(s..end).unwrap_or(&[]) {
                words.prefetch(n);
            }
        }
    }
}

/// How many events ahead the words of their nodes are prefetched.
const EVENTS_AHEAD: usize = 32;

impl Ctx<'_> {
    /// Up to this many senders of a multi-leg event are compared per
    /// receiver; more are ranked per lane once.
    const SCAN_OFFERS: usize = 16;

    /// What `u` offers in an event of the current transaction: lanes that
    /// reached it, plus one hop (or the hops of an arrival inside the
    /// transaction), without lanes in which it absorbs; lanes past
    /// `max_hops` are unreached (see [`hop_offset`]).
    #[inline]
    fn offer(&self, u: u32, hu: u64, local: &TxLocal, seeds: &[u32]) -> Offer {
        let mut hops = inc(hu);
        let mut cont = 0;
        let mut cont_entry = [NONE; LANES];
        if !local.is_empty()
            && let Some(k) = local.get(u)
        {
            cont = spread(lt(local.hops[k], hops));
            hops = (local.hops[k] & cont) | (hops & !cont);
            cont_entry = local.entry[k];
        }
        if self.cfg.stop_at_clusters && self.is_member(u) {
            for (l, &s) in seeds.iter().enumerate() {
                if s != u {
                    hops |= UNREACHED << (8 * l);
                }
            }
        }
        Offer {
            node: u,
            hops,
            cont,
            cont_entry,
        }
    }

    /// The pass over `events` while no arrival is kept for the rest of a
    /// transaction (`TxLocal` empty), up to the first event that needs
    /// more than a plain transfer's handling: a multi-leg event, one that
    /// pays a later sender of its transaction ([`FWD`]), or one from an
    /// absorbing member (with `ABSORB`). Returns that event (or the end).
    ///
    /// A plain transfer offers its receiver the sender's hops plus one;
    /// most receivers already have as few. This loop keeps only that
    /// work in registers, which is most of the pass on account chains:
    /// lane words of the pass's own width, nodes masked into the padded
    /// words (no bounds checks), the hop limit in the offset (no compare),
    /// and the tally flushed once per 255 events.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn plain_run<W: Words, const ABSORB: bool>(
        &self,
        ev: &[AtomicU64],
        events: std::ops::Range<usize>,
        words: &mut W,
        lane: &mut [Lane],
        off: u32,
        sparse: bool,
        tally: &mut Tally,
    ) -> usize {
        // At most 255 events between flushes: a byte per lane cannot
        // overflow.
        const CHUNK: usize = 255;
        let words = words.lanes_mut();
        let mask = words.len() - 1;
        let words = &mut words[..=mask];
        let mut e = events.start;
        while e < events.end {
            let stop = (e + CHUNK).min(events.end);
            let mut bytes = W::W::ZERO;
            // Near the end of the events, the chunk's own (prefetched
            // again, to no use).
            let ahead = ev
                .get(e + EVENTS_AHEAD..stop + EVENTS_AHEAD)
                .unwrap_or(&ev[e..stop]);
            let at = self.plain_chunk::<W::W, ABSORB>(
                ev,
                e..stop,
                ahead,
                words,
                mask,
                lane,
                off,
                sparse,
                &mut bytes,
            );
            tally.add_bytes(bytes.into());
            if sparse {
                for ln in lane.iter_mut() {
                    ln.note_members(self, NOTE_LAG);
                }
            }
            if at < stop {
                return at;
            }
            e = stop;
        }
        events.end
    }

    /// [`Ctx::plain_run`] over at most 255 events, whose nodes' words are
    /// prefetched from `ahead`, as many events; the relaxations per lane
    /// are added to `bytes`. Returns the first event it does not handle,
    /// or the end.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn plain_chunk<T: Swar, const ABSORB: bool>(
        &self,
        ev: &[AtomicU64],
        events: std::ops::Range<usize>,
        ahead: &[AtomicU64],
        words: &mut [T],
        mask: usize,
        lane: &mut [Lane],
        off: u32,
        sparse: bool,
        bytes: &mut T,
    ) -> usize {
        let two = T::ONES.add(T::ONES);
        let start = events.start;
        let mut acc = *bytes;
        for (i, (a, x)) in ev[events.clone()].iter().zip(ahead).enumerate() {
            // The sender and receiver of the event `EVENTS_AHEAD` on (for
            // a multi-leg one, a word that may be of no use; the mask also
            // drops the flags).
            let x = x.load(Ordering::Relaxed) as usize;
            prefetch(&words[x & mask]);
            prefetch(&words[(x >> 32) & mask]);
            let w = a.load(Ordering::Relaxed);
            if w & (MULTI | FWD) != 0 {
                *bytes = acc;
                return start + i;
            }
            let u = w as usize & mask;
            let hu = words[u];
            // Lanes below the limit (a byte below 0x7e): adding two
            // leaves its high bit clear.
            let live = hu.add(two).not().and(T::HIGH);
            if live == T::ZERO {
                continue;
            }
            if ABSORB && self.is_member(u as u32) {
                *bytes = acc;
                return start + i;
            }
            acc = acc.add(live.shr7());
            let hops = inc(hu);
            // A receiver that is its sender gains nothing: its hops are
            // below the offer in every lane.
            let v = (w >> 32) as usize & mask;
            let hv = words[v];
            let improved = lt(hops, hv);
            if improved == T::ZERO {
                continue;
            }
            words[v] = min8(hops, hv);
            let (hops, hv): (u64, u64) = (hops.into(), hv.into());
            if sparse {
                // For `Lane::note_members`, a while later.
                self.prefetch_member(v as u32);
            }
            // The predecessor in each lane is `u`'s entry before the
            // event, looked up after the pass.
            for l in lanes(improved.into()) {
                let ln = &mut lane[l];
                ln.reached += u64::from(byte(hv, l) == UNREACHED as u32);
                ln.entries.push(Entry {
                    node: v as u32,
                    layer: byte(hops, l) - off,
                    event: (start + i) as u32,
                    pred: NONE,
                });
                ln.from.push(u as u32);
            }
        }
        *bytes = acc;
        events.end
    }

    /// Time-ordered hop searches from `seeds` (distinct, at most [`LANES`])
    /// in one pass over the events; `words` is a word per address, all
    /// [`NOWHERE`], and is left so.
    pub(super) fn stream_hops<W: Words>(
        &self,
        ev: &[AtomicU64],
        seeds: &[u32],
        words: &mut W,
    ) -> Vec<Hops> {
        debug_assert!(seeds.len() <= W::LANES);
        let g = self.g;
        let c = &g.cols;
        // Without value models a trace needs the findings only: the
        // members' entries are resolved, not every entry (see `Sparse`).
        let sparse = self.models.is_empty();
        let mut lane: Vec<Lane> = seeds
            .iter()
            .map(|&s| {
                let Scratch {
                    best,
                    first_entry,
                    old_ready,
                    mark,
                    entries,
                    mut bufs,
                } = if sparse {
                    self.start_light(s)
                } else {
                    self.start_search(s)
                };
                // Its senders' list, kept from an earlier search.
                let mut from = std::mem::take(&mut bufs.from);
                from.push(KNOWN);
                Lane {
                    seed: s,
                    best,
                    first_entry,
                    old_ready,
                    mark,
                    entries,
                    from,
                    member_entries: Vec::new(),
                    checked: 1,
                    reached: 0,
                    bufs,
                }
            })
            .collect();
        let off = hop_offset(self.cfg.max_hops);
        for (l, &s) in seeds.iter().enumerate() {
            let w = words.word(s);
            words.set_word(s, (w & !(0xff << (8 * l))) | u64::from(off) << (8 * l));
        }
        let mut local = TxLocal::default();
        let mut tally = Tally::default();
        let mut offers: Vec<Offer> = Vec::new();
        // The plain-transfer loop, with absorbing members or without.
        let plain_run = if self.cfg.stop_at_clusters {
            Self::plain_run::<W, true>
        } else {
            Self::plain_run::<W, false>
        };
        // Value stays on its chain (every address of a record is on the
        // record's chain), and each chain's events are one run: only the
        // runs of the seeds' chains can reach anything.
        let runs: Vec<std::ops::Range<usize>> = chain_runs(g)
            .into_iter()
            .filter(|(chain, _)| {
                seeds
                    .iter()
                    .any(|&s| g.addresses()[s as usize].chain() == *chain)
            })
            .map(|(_, r)| r)
            .collect();
        for run in runs {
            local.clear();
            // Multi-leg events before `e`.
            let mut rank = c.multi.rank(run.start) as usize;
            let end = run.end;
            let mut next = run.start;
            while next < end {
                // Arrivals kept for the rest of a transaction end with it;
                // with none kept, plain transfers take the tight loop, so
                // an event handled below is never one.
                if !local.is_empty() && c.tx_start.get(next) {
                    local.clear();
                }
                if local.is_empty() {
                    next = plain_run(
                        self,
                        ev,
                        next..end,
                        words,
                        &mut lane,
                        off,
                        sparse,
                        &mut tally,
                    );
                    if next == end {
                        break;
                    }
                }
                let e = next;
                next += 1;
                prefetch_event(ev, e + EVENTS_AHEAD, words, &c.slot_addr);
                let w = ev[e].load(Ordering::Relaxed);
                if w & MULTI != 0 {
                    let start = (w >> 32) as usize;
                    let n_in = c.m_nin[rank] as usize;
                    rank += 1;
                    let end = e + 1 + c.m_extra[rank] as usize;
                    for &n in &c.slot_addr[start..end] {
                        words.prefetch(n);
                    }
                    offers.clear();
                    for &u in &c.slot_addr[start..start + n_in] {
                        let hu = words.word(u);
                        if hu == NOWHERE && local.is_empty() {
                            continue;
                        }
                        let o = self.offer(u, hu, &local, seeds);
                        let live = lt(o.hops, NOWHERE);
                        if live != 0 {
                            tally.add(live);
                            offers.push(o);
                        }
                    }
                    if offers.is_empty() {
                        continue;
                    }
                    let fwd = g.forwards(e as u32);
                    let outputs = &c.slot_addr[start + n_in..end];
                    if offers.len() <= Self::SCAN_OFFERS {
                        // A receiver gets the best offer of the other senders:
                        // a few words to compare.
                        let all = offers.iter().fold(NOWHERE, |a, o| min8(a, o.hops));
                        for &v in outputs {
                            let hops = if offers.iter().any(|o| o.node == v) {
                                offers
                                    .iter()
                                    .filter(|o| o.node != v)
                                    .fold(NOWHERE, |a, o| min8(a, o.hops))
                            } else {
                                all
                            };
                            let src = Src::Scan {
                                offers: &offers,
                                hops,
                                v,
                            };
                            self.arrive(
                                &mut lane, words, &mut local, v, e as u32, hops, off, fwd, &src,
                            );
                        }
                        continue;
                    }
                    // Many senders: per lane the best offer, and the best from
                    // another sender (for a receiver that is the best's
                    // sender); the first in input order wins a tie.
                    // (hops, sender, offer)
                    let mut best = [(UNREACHED as u32, NONE, 0u32); LANES];
                    let mut second = best;
                    for (l, (b, s2)) in best
                        .iter_mut()
                        .zip(&mut second)
                        .enumerate()
                        .take(seeds.len())
                    {
                        for (i, o) in (0u32..).zip(&offers) {
                            let h = byte(o.hops, l);
                            if h >= UNREACHED as u32 {
                                continue;
                            }
                            if h < b.0 {
                                if b.1 != o.node {
                                    *s2 = *b;
                                }
                                *b = (h, o.node, i);
                            } else if o.node != b.1 && h < s2.0 {
                                *s2 = (h, o.node, i);
                            }
                        }
                    }
                    for &v in outputs {
                        let mut hops = NOWHERE;
                        let mut pick = [0u32; LANES];
                        for l in 0..seeds.len() {
                            let (h, _, i) = if best[l].1 == v { second[l] } else { best[l] };
                            hops &= !(0xff << (8 * l));
                            hops |= u64::from(h) << (8 * l);
                            pick[l] = i;
                        }
                        let src = Src::Pick {
                            offers: &offers,
                            pick,
                        };
                        self.arrive(
                            &mut lane, words, &mut local, v, e as u32, hops, off, fwd, &src,
                        );
                    }
                    continue;
                }
                let u = w as u32;
                let hu = words.word(u);
                if hu == NOWHERE && local.is_empty() {
                    continue;
                }
                let o = self.offer(u, hu, &local, seeds);
                let live = lt(o.hops, NOWHERE);
                if live == 0 {
                    continue;
                }
                tally.add(live);
                let v = (w >> 32) as u32 & !(FWD >> 32) as u32;
                if v == u {
                    continue;
                }
                let fwd = w & FWD != 0;
                let src = Src::One(o);
                self.arrive(
                    &mut lane, words, &mut local, v, e as u32, o.hops, off, fwd, &src,
                );
            }
        }
        tally.flush();
        if sparse {
            for ln in &mut lane {
                ln.note_members(self, 0);
            }
        }
        let resolved: Vec<(Vec<u64>, Option<Sparse>)> = lane
            .par_iter_mut()
            .map(|ln| {
                if sparse {
                    (Vec::new(), Some(ln.sparse(self)))
                } else {
                    (ln.resolve(), None)
                }
            })
            .collect();
        // Leave the words as found: through the entries' nodes, or when
        // they are many, in one sequential fill.
        let touched: usize = lane.iter().map(|ln| ln.entries.len()).sum();
        let n = g.address_count();
        if touched > n / 16 {
            words.fill_nowhere(n);
        } else {
            for ln in &lane {
                for en in &ln.entries {
                    words.set_word(en.node, NOWHERE);
                }
            }
        }
        lane.into_iter()
            .zip(tally.scanned)
            .zip(resolved)
            .map(|((mut ln, k), (firsts, sparse))| {
                // A full resolution leaves the senders' list empty: kept
                // for its capacity (a sparse one goes on in `Sparse`).
                if ln.from.capacity() > ln.bufs.from.capacity() {
                    ln.bufs.from = ln.from;
                }
                Hops {
                    firsts,
                    best: ln.best,
                    first_entry: ln.first_entry,
                    old_ready: ln.old_ready,
                    entries: ln.entries,
                    mark: ln.mark,
                    bufs: ln.bufs,
                    edges_scanned: k,
                    truncated: false,
                    streamed: true,
                    sparse,
                }
            })
            .collect()
    }

    /// Value reaches `v` in event `e` with `hops` per lane (the predecessor
    /// entries come from `src`): lanes it reaches in fewer hops than
    /// before get an entry, and if `e` pays an address that sends later in
    /// its transaction (`fwd`), the arrival is kept for those sends.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn arrive<W: Words>(
        &self,
        lane: &mut [Lane],
        words: &mut W,
        local: &mut TxLocal,
        v: u32,
        e: u32,
        hops: u64,
        off: u32,
        fwd: bool,
        src: &Src<'_>,
    ) {
        let hv = words.word(v);
        let improved = lt(hops, hv);
        // The common case: nothing to record.
        if improved == 0 && !fwd {
            return;
        }
        let mut made = [NONE; LANES];
        if improved != 0 {
            words.set_word(v, min8(hops, hv));
            for l in lanes(improved) {
                let (from, pred) = src.pred(l);
                let ln = &mut lane[l];
                ln.reached += u64::from(byte(hv, l) == UNREACHED as u32);
                made[l] = ln.entries.len() as u32;
                ln.entries.push(Entry {
                    node: v,
                    layer: byte(hops, l) - off,
                    event: e,
                    pred,
                });
                ln.from.push(from);
            }
        }
        if fwd {
            let live = lt(hops, NOWHERE);
            if live == 0 {
                return;
            }
            let k = local.get_or_insert(v);
            let better = lt(hops, local.hops[k]);
            for l in lanes(better) {
                let ln = &mut lane[l];
                if ln.seed == v {
                    continue;
                }
                let idx = if made[l] != NONE {
                    made[l]
                } else {
                    let (from, pred) = src.pred(l);
                    let idx = ln.entries.len() as u32;
                    ln.entries.push(Entry {
                        node: v,
                        layer: byte(hops, l) - off,
                        event: e,
                        pred,
                    });
                    ln.from.push(from | SIDE);
                    idx
                };
                local.hops[k] &= !(0xff << (8 * l));
                local.hops[k] |= u64::from(byte(hops, l)) << (8 * l);
                local.entry[k][l] = idx;
            }
        }
    }
}
