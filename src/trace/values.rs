//! The value models (poison, haircut, FIFO; see the module docs of
//! [`crate::trace`]): one pass per seed over the events that touch tainted
//! addresses, in time order. The pass reads of the hop search only the
//! [`Reached`] view (which addresses are fewer than `max_hops` hops away),
//! never the search's entries or arrays.
//!
//! Cost: O(R log R) time for the R events touching tainted addresses (a
//! heap of one cursor per followed address), and a holding per (tainted
//! address, asset): its balance, tainted share and, with FIFO, its queue
//! of lots (16 bytes + a flag per lot).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};

use super::config::Model;
use super::hops::Reached;
use super::results::ValueMap;
use super::tracer::Ctx;
use crate::graph::{NONE, OutList};
use crate::types::{Amount, Asset, mul_div_floor};

/// Tainted amounts under each model (poison is always computed: it decides
/// which addresses the pass must follow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Taint {
    poison: u128,
    haircut: u128,
    fifo: u128,
}

impl Taint {
    fn get(&self, m: Model) -> u128 {
        match m {
            Model::Poison => self.poison,
            Model::Haircut => self.haircut,
            Model::Fifo => self.fifo,
        }
    }
    fn add(&mut self, o: &Taint) {
        self.poison = self.poison.saturating_add(o.poison);
        self.haircut = self.haircut.saturating_add(o.haircut);
        self.fifo = self.fifo.saturating_add(o.fifo);
    }
}

/// The holdings of one tainted address in one asset.
#[derive(Debug, Default)]
struct Holding {
    balance: u128,
    haircut: u128,
    poisoned: bool,
    /// FIFO lots (amount, tainted), oldest first; amounts sum to `balance`.
    lots: VecDeque<(u128, bool)>,
}

impl Holding {
    /// Takes `y` out; FIFO pieces are appended to `pieces`.
    fn debit(&mut self, y: u128, fifo: bool, pieces: &mut Vec<(u128, bool)>) -> Taint {
        if y > self.balance {
            // Cannot happen once opening balances are known; treated as an
            // unseen clean opening just in case (conservative for taint).
            let short = y - self.balance;
            self.balance = y;
            if fifo {
                self.lots.push_front((short, false));
            }
        }
        let h = if self.balance == 0 {
            0
        } else {
            mul_div_floor(y, self.haircut, self.balance)
        };
        self.balance -= y;
        self.haircut -= h;
        let f = if fifo {
            take_oldest(&mut self.lots, y, pieces)
        } else {
            0
        };
        Taint {
            poison: if self.poisoned { y } else { 0 },
            haircut: h,
            fifo: f,
        }
    }

    fn credit(&mut self, y: u128, t: &Taint, pieces: &[(u128, bool)]) {
        self.balance = self.balance.saturating_add(y);
        self.haircut = self.haircut.saturating_add(t.haircut);
        self.poisoned |= t.poison > 0;
        for &(a, b) in pieces {
            match self.lots.back_mut() {
                Some(last) if last.1 == b => last.0 += a,
                _ => self.lots.push_back((a, b)),
            }
        }
    }
}

/// Takes `need` from the front of a FIFO queue of (amount, tainted) lots,
/// appending the pieces taken to `out`; returns the tainted part.
fn take_oldest(
    queue: &mut VecDeque<(u128, bool)>,
    mut need: u128,
    out: &mut Vec<(u128, bool)>,
) -> u128 {
    let mut tainted = 0u128;
    while need > 0 {
        let Some(front) = queue.front_mut() else {
            break;
        };
        let take = front.0.min(need);
        push_lot(out, take, front.1);
        if front.1 {
            tainted += take;
        }
        front.0 -= take;
        need -= take;
        if front.0 == 0 {
            queue.pop_front();
        }
    }
    tainted
}

fn push_lot(v: &mut Vec<(u128, bool)>, a: u128, b: bool) {
    if a == 0 {
        return;
    }
    match v.last_mut() {
        Some(last) if last.1 == b => last.0 += a,
        _ => v.push((a, b)),
    }
}

/// The next event a followed address must see: its next inflow or outflow,
/// but nothing after its last outflow (later inflows change no outflow).
fn next_relevant(ins: &[u32], outs: OutList<'_>, i: usize, j: usize) -> u32 {
    match outs.get(j) {
        None => NONE,
        Some(o) => ins.get(i).copied().unwrap_or(NONE).min(o.event),
    }
}

/// What the value pass of one seed found: per cluster (by index) and
/// asset, the tainted value its members received from non-members.
pub(super) struct Values {
    per_cluster: FxHashMap<u32, BTreeMap<Asset, Taint>>,
    /// Events the pass processed.
    pub(super) events: u64,
}

impl Values {
    /// Cluster `ci`'s value under `models`, per asset; assets where every
    /// model's value is zero are left out.
    pub(super) fn cluster_value(&self, ci: u32, models: &[Model]) -> ValueMap {
        let mut value = ValueMap::new();
        if let Some(per_asset) = self.per_cluster.get(&ci) {
            for (asset, t) in per_asset {
                let m: BTreeMap<Model, Amount> = models
                    .iter()
                    .map(|&model| (model, Amount::new(t.get(model))))
                    .collect();
                if m.values().any(|a| !a.is_zero()) {
                    value.insert(*asset, m);
                }
            }
        }
        value
    }
}

impl Ctx<'_> {
    /// Whether taint received by `n` can leave it again: `n` is no absorbing
    /// member, is fewer than `max_hops` hops away, and sends at all (a sink
    /// such as `fees` needs no bookkeeping).
    pub(super) fn propagates(&self, n: u32, seed: u32, reached: Reached<'_>) -> bool {
        !self.absorbs(n, seed)
            && !self.g.out_edges(n).is_empty()
            && reached.hops_to(n).is_some_and(|d| d < self.cfg.max_hops)
    }

    /// The clean holding of `n` in `asset` just before event `e`, with the
    /// unseen opening balance (largest overdraft over the whole history).
    fn opening_holding(&self, n: u32, asset: u32, e: u32, fifo: bool) -> Holding {
        let g = self.g;
        let (ins, outs) = (g.in_events(n), g.out_edges(n));
        let (mut i, mut j) = (0, 0);
        // A fetched opening balance is held from the start; only spending
        // beyond it is inferred.
        let (mut bal, mut opening, mut bal_before_e, mut opening_before_e) =
            (g.known_opening(n, asset).unwrap_or(0), 0u128, None, 0u128);
        loop {
            let next_in = ins.get(i).copied().unwrap_or(NONE);
            let next_out = outs.get(j);
            let f = next_in.min(next_out.map_or(NONE, |o| o.event));
            if f == NONE {
                break;
            }
            // The receiver of a one-to-one `f`: `n` if it received in `f`,
            // else the one its out-edge names.
            let receiver = match next_out {
                Some(o) if f != next_in => o.target,
                _ => n,
            };
            if f == next_in {
                i += 1;
            }
            if next_out.is_some_and(|o| o.event == f) {
                j = outs.next_pos(j);
            }
            if f >= e && bal_before_e.is_none() {
                bal_before_e = Some(bal);
                opening_before_e = opening;
            }
            if g.asset_index(f) != asset {
                continue;
            }
            let sum = |l: crate::graph::Legs<'_>| -> u128 {
                l.filter(|&(a, _)| a == n)
                    .map(|(_, v)| v)
                    .fold(0, u128::saturating_add)
            };
            let (ins_f, outs_f) = g.legs(f, receiver);
            let (out, inn) = (sum(ins_f), sum(outs_f));
            if out > bal {
                opening += out - bal;
                bal = 0;
            } else {
                bal -= out;
            }
            bal = bal.saturating_add(inn);
        }
        let before = bal_before_e.unwrap_or(bal);
        let balance = before + (opening - opening_before_e);
        let mut h = Holding {
            balance,
            ..Holding::default()
        };
        if fifo && balance > 0 {
            h.lots.push_back((balance, false));
        }
        h
    }

    pub(super) fn values(&self, seed: u32, reached: Reached<'_>, n_clusters: usize) -> Values {
        let g = self.g;
        let fifo = self.models.contains(&Model::Fifo);
        let mut per_cluster: FxHashMap<u32, BTreeMap<Asset, Taint>> = FxHashMap::default();
        if self.models.is_empty() || n_clusters == 0 {
            return Values {
                per_cluster,
                events: 0,
            };
        }
        let mut holdings: FxHashMap<(u32, u32), Holding> = FxHashMap::default();
        let mut followed: FxHashSet<u32> = FxHashSet::default();
        // Cursor entries: (event, node, next in-index, next out-index).
        let mut heap: BinaryHeap<Reverse<(u32, u32, u32, u32)>> = BinaryHeap::new();
        let push_cursor = |heap: &mut BinaryHeap<Reverse<(u32, u32, u32, u32)>>,
                           n: u32,
                           after: Option<u32>,
                           seed_only_out: bool| {
            let ins = g.in_events(n);
            let outs = g.out_edges(n);
            let (i, j) = match after {
                None => (ins.len(), 0),
                Some(e) => (
                    if seed_only_out {
                        ins.len()
                    } else {
                        ins.partition_point(|&x| x <= e)
                    },
                    outs.partition_point(|x| x <= e),
                ),
            };
            let next = next_relevant(ins, outs, i, j);
            if next != NONE {
                heap.push(Reverse((next, n, i as u32, j as u32)));
            }
        };
        push_cursor(&mut heap, seed, None, true);
        followed.insert(seed);
        let mut last = NONE;
        let mut events = 0u64;
        let mut in_taints: Vec<(u128, Taint)> = Vec::new();
        let mut pieces: Vec<(u128, bool)> = Vec::new();
        let mut piece_ends: Vec<usize> = Vec::new();
        let mut out_pieces: Vec<(u128, bool)> = Vec::new();
        let mut fifo_q: VecDeque<(u128, bool)> = VecDeque::new();
        let mut input_members: Vec<u32> = Vec::new();
        while let Some(Reverse((e, n, i, j))) = heap.pop() {
            // Advance this cursor, learning the receiver of a one-to-one `e`
            // on the way (`n` itself, or the target of `n`'s out-edge).
            let mut receiver = NONE;
            {
                let ins = g.in_events(n);
                let outs = g.out_edges(n);
                let (mut i, mut j) = (i as usize, j as usize);
                if ins.get(i) == Some(&e) {
                    receiver = n;
                    i += 1;
                }
                if let Some(o) = outs.get(j).filter(|o| o.event == e) {
                    if o.target != NONE {
                        receiver = o.target;
                    }
                    j = outs.next_pos(j);
                }
                if n == seed {
                    i = ins.len();
                }
                let next = next_relevant(ins, outs, i, j);
                if next != NONE {
                    heap.push(Reverse((next, n, i as u32, j as u32)));
                }
            }
            if e == last {
                continue;
            }
            last = e;
            events += 1;
            let asset_ix = g.asset_index(e);
            let (ins, outs) = g.legs(e, receiver);
            // Input side.
            in_taints.clear();
            pieces.clear();
            piece_ends.clear();
            input_members.clear();
            let mut any_poison = false;
            for (x, y) in ins {
                let t = if x == seed {
                    if fifo {
                        push_lot(&mut pieces, y, true);
                    }
                    Taint {
                        poison: y,
                        haircut: y,
                        fifo: y,
                    }
                } else if let Some(h) = holdings.get_mut(&(x, asset_ix)) {
                    h.debit(y, fifo, &mut pieces)
                } else {
                    if fifo {
                        push_lot(&mut pieces, y, false);
                    }
                    Taint::default()
                };
                any_poison |= t.poison > 0;
                in_taints.push((y, t));
                piece_ends.push(pieces.len());
                if !self.cfg.stop_at_clusters
                    && let Some(cs) = self.membership.get(&x)
                {
                    input_members.extend(cs);
                }
            }
            if !any_poison {
                // Only clean inflows to followed addresses: update balances.
                for (v, y) in outs {
                    if let Some(h) = holdings.get_mut(&(v, asset_ix)) {
                        h.credit(y, &Taint::default(), &[(y, false)]);
                    }
                }
                continue;
            }
            // Output side.
            let simple = !g.is_multi(e);
            let total_in: u128 = in_taints
                .iter()
                .map(|(y, _)| *y)
                .fold(0, u128::saturating_add);
            let mut hc_left: u128 = in_taints
                .iter()
                .map(|(_, t)| t.haircut)
                .fold(0, u128::saturating_add);
            let mut bal_left = total_in;
            fifo_q.clear();
            if !simple && fifo {
                fifo_q.extend(pieces.iter().copied());
            }
            for (v, o) in outs {
                out_pieces.clear();
                let t = if simple {
                    out_pieces.extend_from_slice(&pieces);
                    in_taints[0].1
                } else {
                    let h = if bal_left == 0 {
                        0
                    } else {
                        mul_div_floor(o, hc_left, bal_left)
                    };
                    bal_left = bal_left.saturating_sub(o);
                    hc_left -= h;
                    let f = if fifo {
                        take_oldest(&mut fifo_q, o, &mut out_pieces)
                    } else {
                        0
                    };
                    Taint {
                        poison: o,
                        haircut: h,
                        fifo: f,
                    }
                };
                // Count into clusters.
                if let Some(cs) = self.membership.get(&v)
                    && v != seed
                {
                    let asset = g.asset_of(e);
                    for c in cs {
                        if !input_members.contains(c) {
                            per_cluster
                                .entry(*c)
                                .or_default()
                                .entry(asset)
                                .or_default()
                                .add(&t);
                        }
                    }
                }
                if v == seed {
                    continue;
                }
                if let Some(h) = holdings.get_mut(&(v, asset_ix)) {
                    h.credit(o, &t, &out_pieces);
                } else if t.poison > 0 && self.propagates(v, seed, reached) {
                    let mut h = self.opening_holding(v, asset_ix, e, fifo);
                    h.credit(o, &t, &out_pieces);
                    holdings.insert((v, asset_ix), h);
                    if followed.insert(v) {
                        push_cursor(&mut heap, v, Some(e), false);
                    }
                }
            }
        }
        Values {
            per_cluster,
            events,
        }
    }
}
