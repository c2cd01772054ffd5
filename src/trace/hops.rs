//! What a hop search leaves: its entries (one per improvement of an
//! address's arrival) with the per-node arrays that index them ([`Hops`]),
//! the reusable storage it runs in ([`Scratch`], [`Buffers`]), and the
//! view the value models read of it ([`Reached`]).
//!
//! Memory: per node of the graph, 8 bytes (`best`) + 4 (`first_entry`) +
//! 4 (`old_ready`) + 1 bit (`mark`), reused between searches; 16 bytes per
//! entry.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::frontier::{Cont, Front, NODES_AHEAD};
use crate::graph::{NONE, prefetch};

/// One improvement of an address's arrival, at one layer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) node: u32,
    pub(super) layer: u32,
    /// The event that delivered it (`NONE` for the seed).
    pub(super) event: u32,
    /// The entry of the predecessor whose relaxation made this one.
    pub(super) pred: u32,
}

/// The result of one hop search from a seed (frontier or stream): an entry
/// per improvement of an address's arrival, in the order made (the seed's
/// first), with the per-node arrays that find an address's fewest-hop entry
/// and earliest arrival in O(1). Handed back to the pool as a [`Scratch`]
/// ([`Hops::into_scratch`]), which costs O(entries).
pub(crate) struct Hops {
    /// Per node, packed: first event it may send in (arrival event + 1; 0 for
    /// the seed) in the high half; in the low half 0 once settled, or the
    /// predecessor's entry + 1 while a layer is being relaxed. `u64::MAX`:
    /// unreached.
    pub(super) best: Vec<AtomicU64>,
    /// Per node: index of its first (fewest-hop) entry, `NONE` if unreached.
    pub(super) first_entry: Vec<u32>,
    /// Per node improved in the current wave from an earlier arrival: that
    /// arrival's ready event (written by the relaxation that first lowered
    /// the word, read when the node is settled; stale otherwise).
    pub(super) old_ready: Vec<AtomicU32>,
    pub(super) entries: Vec<Entry>,
    /// Bit per entry, set for its node's first entry, when the search kept
    /// it (the stream search does; empty otherwise): [`Hops::is_first`]
    /// then reads it instead of the node's `first_entry`, far away.
    pub(super) firsts: Vec<u64>,
    /// Bit per node, all clear between uses: sorts improved nodes.
    pub(super) mark: Vec<u64>,
    /// Kept for the next search.
    pub(super) bufs: Buffers,
    pub(super) edges_scanned: u64,
    /// Stopped on the work budget.
    pub(super) truncated: bool,
    /// Made by the stream search.
    pub(super) streamed: bool,
    /// Made by the stream search for a trace without value models, which
    /// needs no more than the findings: see [`Sparse`].
    pub(super) sparse: Option<Sparse>,
}

/// What a stream search without value models resolves after its pass: of
/// its entries, only those of target-cluster members. Every node reached
/// has its entries (and the search its fewest hops), but the per-node
/// arrays (`best`, `first_entry`) are not used, so not even allocated
/// ([`Scratch::light`]): the members' fewest-hop entries and earliest
/// arrivals are kept here, and an entry's predecessor is set only where
/// the pass knew it ([`Hops::resolve_paths`] finds the rest of a
/// finding's path).
pub(crate) struct Sparse {
    /// Nodes reached, without the seed.
    pub(super) reached: u64,
    /// The members reached (and the seed, if a member): node, fewest-hop
    /// entry, ready event (arrival event + 1; 0 for the seed).
    pub(super) members: Vec<(u32, u32, u32)>,
    /// Position in `members` by node.
    pub(super) index: FxHashMap<u32, u32>,
    /// Per entry, as `Lane::from` in the stream search.
    pub(super) from: Vec<u32>,
}

/// The per-node arrays of one hop search, sized for the whole graph. They
/// are reused: after a search only the nodes it touched (those with an
/// entry) are reset, so a search costs what it visits, not the graph's size.
pub(crate) struct Scratch {
    pub(super) best: Vec<AtomicU64>,
    pub(super) first_entry: Vec<u32>,
    pub(super) old_ready: Vec<AtomicU32>,
    pub(super) mark: Vec<u64>,
    /// Empty; kept for its capacity.
    pub(super) entries: Vec<Entry>,
    pub(super) bufs: Buffers,
}

/// The growing lists of one hop search, empty between uses and kept for
/// their capacity, so that a search does not reallocate them (and take
/// their page faults again).
#[derive(Default)]
pub(super) struct Buffers {
    /// The next layer's nodes to expand.
    pub(super) frontier: Vec<Front>,
    /// The nodes being expanded.
    pub(super) wave: Vec<Front>,
    /// What `settle` makes of the nodes a wave improved.
    pub(super) next: Vec<Front>,
    /// The nodes a wave improved.
    pub(super) touched: Vec<u32>,
    /// The forwarded arrivals a wave relaxed.
    pub(super) conts: Vec<Cont>,
    /// The stream search's per-entry senders (see `Lane::from`), kept
    /// for its capacity: 4 bytes per entry of a seed's search.
    pub(super) from: Vec<u32>,
}

impl Buffers {
    pub(super) fn clear(&mut self) {
        self.frontier.clear();
        self.wave.clear();
        self.next.clear();
        self.touched.clear();
        self.conts.clear();
        self.from.clear();
    }
}

impl Scratch {
    /// Without the per-node arrays, for a stream search without value
    /// models ([`Sparse`]), which needs only the entries' room.
    pub(super) fn light() -> Scratch {
        Scratch {
            best: Vec::new(),
            first_entry: Vec::new(),
            old_ready: Vec::new(),
            mark: Vec::new(),
            entries: Vec::new(),
            bufs: Buffers::default(),
        }
    }

    /// Whether it holds the per-node arrays (of a graph with nodes).
    pub(super) fn is_light(&self) -> bool {
        self.best.is_empty()
    }

    /// Filled in parallel: the arrays (16 bytes per node) are mostly
    /// first-touch page faults.
    pub(super) fn new(n: usize) -> Scratch {
        let mut best = Vec::with_capacity(n);
        let mut first_entry = Vec::with_capacity(n);
        let mut old_ready = Vec::with_capacity(n);
        const MIN: usize = 1 << 16;
        rayon::join(
            || {
                best.par_extend(
                    (0..n)
                        .into_par_iter()
                        .with_min_len(MIN)
                        .map(|_| AtomicU64::new(u64::MAX)),
                );
            },
            || {
                rayon::join(
                    || first_entry.par_extend(rayon::iter::repeat_n(NONE, n).with_min_len(MIN)),
                    || {
                        old_ready.par_extend(
                            (0..n)
                                .into_par_iter()
                                .with_min_len(MIN)
                                .map(|_| AtomicU32::new(NONE)),
                        )
                    },
                )
            },
        );
        Scratch {
            best,
            first_entry,
            old_ready,
            mark: vec![0; n.div_ceil(64)],
            entries: Vec::new(),
            bufs: Buffers::default(),
        }
    }
}

impl Hops {
    /// Resets what the search touched and hands the arrays back.
    pub(super) fn into_scratch(self) -> Scratch {
        let Hops {
            best,
            mut first_entry,
            old_ready,
            mut entries,
            mark,
            mut bufs,
            sparse,
            ..
        } = self;
        let was_sparse = sparse.is_some();
        if let Some(sp) = sparse
            && sp.from.capacity() > bufs.from.capacity()
        {
            bufs.from = sp.from;
        }
        // A sparse search left the arrays as it found them.
        if !was_sparse {
            for (i, e) in entries.iter().enumerate() {
                // The entries' nodes lie far apart.
                if let Some(a) = entries.get(i + NODES_AHEAD) {
                    prefetch(&best[a.node as usize]);
                    prefetch(&first_entry[a.node as usize]);
                }
                let n = e.node as usize;
                best[n].store(u64::MAX, Ordering::Relaxed);
                first_entry[n] = NONE;
            }
        }
        entries.clear();
        bufs.clear();
        Scratch {
            best,
            first_entry,
            old_ready,
            mark,
            entries,
            bufs,
        }
    }
}

impl Hops {
    pub(super) fn dist(&self, n: u32) -> Option<u32> {
        let e = self.first_entry[n as usize];
        (e != NONE).then(|| self.entries[e as usize].layer)
    }

    /// Whether entry `i` is its node's first (fewest-hop) entry.
    #[inline]
    pub(super) fn is_first(&self, i: usize) -> bool {
        match self.firsts.get(i / 64) {
            Some(w) => w & (1 << (i % 64)) != 0,
            None => self.first_entry[self.entries[i].node as usize] as usize == i,
        }
    }

    pub(super) fn ready(&self, n: u32) -> u32 {
        match &self.sparse {
            Some(sp) => sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].2),
            None => (self.best[n as usize].load(Ordering::Relaxed) >> 32) as u32,
        }
    }

    /// `n`'s fewest-hop entry, `NONE` if unreached (for a [`Sparse`]
    /// search: if not a member).
    pub(super) fn first_entry_of(&self, n: u32) -> u32 {
        match &self.sparse {
            Some(sp) => sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].1),
            None => self.first_entry[n as usize],
        }
    }
}

/// What the value models read of a hop search: the fewest hops to each
/// address it reached. Nothing else of the search (its entries, paths or
/// which search ran) enters the values, so both searches give the same
/// values. Each lookup is O(1).
#[derive(Clone, Copy)]
pub(super) struct Reached<'a> {
    hops: &'a Hops,
}

impl Hops {
    /// The view of this search that the value models read. Not for a
    /// [`Sparse`] search, which keeps no per-node arrays.
    pub(super) fn reached(&self) -> Reached<'_> {
        Reached { hops: self }
    }
}

impl Reached<'_> {
    /// The fewest hops from the seed to `n`, `None` if it was not reached.
    pub(super) fn hops_to(&self, n: u32) -> Option<u32> {
        self.hops.dist(n)
    }
}
