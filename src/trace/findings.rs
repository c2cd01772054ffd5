//! One seed's findings: from its hop search and its values to a
//! [`Finding`] per cluster reached, and the seed's [`SeedSummary`].

use std::collections::BTreeMap;

use super::config::Search;
use super::frontier::NODES_AHEAD;
use super::hops::Hops;
use super::results::{Arrival, Finding, SeedSummary, TraceStats};
use super::tracer::Ctx;
use crate::graph::prefetch;
use crate::types::{Address, Amount, Asset, ClusterName};

pub(super) struct SeedResult {
    pub(super) summary: SeedSummary,
    pub(super) findings: Vec<Finding>,
    pub(super) stats: TraceStats,
}

impl SeedResult {
    /// For a seed that is not in the graph.
    pub(super) fn absent(seed: Address) -> SeedResult {
        SeedResult {
            summary: SeedSummary {
                seed,
                in_graph: false,
                sent: BTreeMap::new(),
                reached: 0,
                truncated: false,
                search: None,
            },
            findings: Vec::new(),
            stats: TraceStats::default(),
        }
    }
}

impl Ctx<'_> {
    pub(super) fn trace_seed(
        &self,
        seed_addr: Address,
        seed: u32,
        clusters: &[ClusterName],
        mut hops: Hops,
    ) -> SeedResult {
        let g = self.g;
        let values = self.values(seed, hops.reached(), clusters.len());
        let sent: BTreeMap<Asset, Amount> = g
            .sent_by(seed)
            .into_iter()
            .map(|(a, v)| (g.assets[a as usize], Amount::new(v)))
            .collect();
        // Per cluster: the member with fewest hops, then the earliest
        // arrival at those hops (the end of its evidence path), then the
        // first output leg of that event; and the earliest arrival of any
        // member (ties the same way). Nothing here depends on node numbers.
        let mut best: Vec<Option<(u32, u32, u32)>> = vec![None; clusters.len()];
        let mut earliest: Vec<Option<(u32, u32)>> = vec![None; clusters.len()];
        // Whether `a`'s first output leg in `ev` comes before `b`'s.
        let first_paid = |ev: u32, a: u32, b: u32| {
            g.outputs(ev).map(|(n, _)| n).find(|&n| n == a || n == b) == Some(a)
        };
        // Only reached nodes can be findings: walk the search's entries (each
        // node at its first entry) rather than every member of every cluster.
        // The choices below are minimums, so the order does not matter.
        let mut reached = 0u64;
        // `n` reached in `d` hops, first at those hops in event `ev`, and
        // first of all with ready event `r`.
        let mut consider = |n: u32, d: u32, ev: u32, r: u32| {
            let Some(cs) = self.membership.get(&n) else {
                return;
            };
            for &c in cs {
                let b = &mut best[c as usize];
                if b.is_none_or(|(bd, be, bn)| {
                    (d, ev) < (bd, be) || ((d, ev) == (bd, be) && n != bn && first_paid(ev, n, bn))
                }) {
                    *b = Some((d, ev, n));
                }
                if n != seed {
                    let ea = &mut earliest[c as usize];
                    if ea.is_none_or(|(er, en)| {
                        r < er || (r == er && n != en && first_paid(r - 1, n, en))
                    }) {
                        *ea = Some((r, n));
                    }
                }
            }
        };
        if let Some(sp) = &hops.sparse {
            reached = sp.reached;
            for &(n, k, r) in &sp.members {
                let e = &hops.entries[k as usize];
                consider(n, e.layer, e.event, r);
            }
        } else {
            for (i, e) in hops.entries.iter().enumerate() {
                // The entries' nodes lie far apart.
                if hops.firsts.is_empty()
                    && let Some(a) = hops.entries.get(i + NODES_AHEAD)
                {
                    prefetch(&hops.first_entry[a.node as usize]);
                }
                let n = e.node;
                if !hops.is_first(i) {
                    continue;
                }
                if n != seed {
                    reached += 1;
                }
                if self.is_member(n) {
                    consider(n, e.layer, e.event, hops.ready(n));
                }
            }
        }
        let targets: Vec<u32> = best.iter().flatten().map(|&(_, _, m)| m).collect();
        hops.resolve_paths(&targets, g.address_count());
        let mut findings = Vec::new();
        for (ci, c) in clusters.iter().enumerate() {
            let Some((d, _, member)) = best[ci] else {
                continue;
            };
            let first_arrival = earliest[ci].map(|(r, n)| {
                let ev = r - 1;
                let b = g.block_of(ev);
                Arrival {
                    chain: b.chain,
                    height: b.height,
                    time: b.time,
                    time_utc: b.time.to_rfc3339(),
                    tx: g.txid_of(ev),
                    member: g.addresses()[n as usize],
                }
            });
            let value = values.cluster_value(ci as u32, self.models);
            findings.push(Finding {
                seed: seed_addr,
                cluster: c.clone(),
                min_hops: d,
                first_arrival,
                value,
                member: g.addresses()[member as usize],
                path: self.path(&hops, member),
            });
        }
        let result = SeedResult {
            summary: SeedSummary {
                seed: seed_addr,
                in_graph: true,
                sent,
                reached,
                truncated: hops.truncated,
                search: Some(if hops.streamed {
                    Search::Stream
                } else {
                    Search::Frontier
                }),
            },
            findings,
            stats: TraceStats {
                edges_scanned: hops.edges_scanned,
                events_valued: values.events,
            },
        };
        self.give_back(hops);
        result
    }
}
