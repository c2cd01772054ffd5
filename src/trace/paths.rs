//! Evidence paths: from a member's fewest-hop entry back to the seed, a
//! [`PathStep`] per transfer. Costs O(path length), except that a stream
//! search without value models first resolves the predecessors it left
//! open, in one backward scan of its entries.

use rustc_hash::FxHashMap;

use super::hops::{Entry, Hops};
use super::results::PathStep;
use super::stream::{KNOWN, SIDE};
use super::tracer::Ctx;
use crate::graph::NONE;
use crate::types::Amount;

impl Hops {
    /// Sets the predecessors along the paths to `nodes` (members of a
    /// [`Sparse`](super::hops::Sparse) search; otherwise nothing to do), as the full resolution
    /// of the stream search would: an entry's predecessor is its sender's
    /// last non-side entry in an earlier event (the seed's is its only
    /// entry). Those lie before the entry, so one scan from the last
    /// target back to the seed answers every query, including the ones each
    /// answer raises in turn.
    pub(super) fn resolve_paths(&mut self, nodes: &[u32], n_nodes: usize) {
        let Some(sp) = &mut self.sparse else {
            return;
        };
        let entries = &mut self.entries;
        // Bit per node with a query (zeroed pages: only those touched are
        // mapped).
        let mark = &mut vec![0u64; n_nodes.div_ceil(64)][..];
        let seed = entries[0].node;
        // Per sender: (event bound, asking entry).
        let mut pending: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        // Follows `k`'s known predecessors to the first entry that needs a
        // lookup, and files it.
        let from = &mut sp.from;
        let ask = |k: u32,
                   entries: &mut [Entry],
                   from: &mut [u32],
                   pending: &mut FxHashMap<u32, Vec<(u32, u32)>>,
                   mark: &mut [u64]| {
            let mut k = k as usize;
            while k != 0 {
                let f = from[k] & !SIDE;
                if f == KNOWN {
                    match entries[k].pred {
                        NONE => return,
                        p => k = p as usize,
                    }
                    continue;
                }
                from[k] = KNOWN | (from[k] & SIDE);
                if f == seed {
                    entries[k].pred = 0;
                    k = 0;
                    continue;
                }
                pending
                    .entry(f)
                    .or_default()
                    .push((entries[k].event, k as u32));
                mark[f as usize / 64] |= 1 << (f % 64);
                return;
            }
        };
        let mut top = 0;
        for &n in nodes {
            let k = sp.index.get(&n).map_or(NONE, |&i| sp.members[i as usize].1);
            if k != NONE {
                top = top.max(k as usize);
                ask(k, entries, from, &mut pending, mark);
            }
        }
        let mut j = top;
        while j > 0 && !pending.is_empty() {
            let n = entries[j].node;
            if mark[n as usize / 64] & (1 << (n % 64)) != 0 && from[j] & SIDE == 0 {
                let ev = entries[j].event;
                let asks = pending.get_mut(&n).map(std::mem::take).unwrap_or_default();
                let (now, later): (Vec<_>, Vec<_>) = asks.into_iter().partition(|&(b, _)| ev < b);
                if later.is_empty() {
                    pending.remove(&n);
                    mark[n as usize / 64] &= !(1 << (n % 64));
                } else {
                    pending.insert(n, later);
                }
                if !now.is_empty() {
                    for &(_, k) in &now {
                        entries[k as usize].pred = j as u32;
                    }
                    ask(j as u32, entries, from, &mut pending, mark);
                }
            }
            j -= 1;
        }
        for n in pending.into_keys() {
            mark[n as usize / 64] &= !(1 << (n % 64));
        }
    }
}

impl Ctx<'_> {
    pub(super) fn path(&self, hops: &Hops, member: u32) -> Vec<PathStep> {
        let g = self.g;
        let mut steps = Vec::new();
        let mut e = hops.first_entry_of(member);
        while e != NONE {
            let ent = hops.entries[e as usize];
            if ent.pred == NONE {
                break;
            }
            let from = hops.entries[ent.pred as usize].node;
            let block = g.block_of(ent.event);
            // The entry's event paid its node: a one-to-one one pays only it.
            let amount: u128 = g
                .outputs_to(ent.event, ent.node)
                .filter(|&(a, _)| a == ent.node)
                .map(|(_, v)| v)
                .fold(0u128, |a, b| a.saturating_add(b));
            steps.push(PathStep {
                from: g.addresses()[from as usize],
                to: g.addresses()[ent.node as usize],
                tx: g.txid_of(ent.event),
                height: block.height,
                time: block.time,
                asset: g.asset_of(ent.event),
                amount: Amount::new(amount),
            });
            e = ent.pred;
        }
        steps.reverse();
        steps
    }
}
