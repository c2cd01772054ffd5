//! Property tests on random transfer sets: the value invariants and the
//! independence of results from threads, load order and snapshots.
//! Case counts are bounded so the suite stays fast.

mod common;

use std::collections::BTreeMap;

use common::*;
use fundtrace::snapshot::CaseInfo;
use fundtrace::{
    Address, Asset, Cluster, FlowGraph, GraphBuilder, MemorySource, Model, Record, TraceConfig,
    TraceOutcome, trace,
};
use proptest::prelude::*;

/// One random movement: an Ethereum transfer (ETH or a token) or a Bitcoin
/// transaction with a few inputs and outputs (its inputs may be short).
#[derive(Debug, Clone)]
enum Op {
    Eth {
        from: u16,
        to: u16,
        amount: u128,
        token: bool,
    },
    Btc {
        ins: Vec<(u16, u128)>,
        outs: Vec<(u16, u128)>,
    },
}

fn op(n: u16) -> impl Strategy<Value = Op> {
    let eth =
        (0..n, 0..n, 1u128..1_000, any::<bool>()).prop_map(|(from, to, amount, token)| Op::Eth {
            from,
            to,
            amount,
            token,
        });
    let legs = || prop::collection::vec((0..n, 1u128..1_000), 1..4);
    let btc = (legs(), legs()).prop_map(|(ins, outs)| Op::Btc { ins, outs });
    prop_oneof![3 => eth, 2 => btc]
}

#[derive(Debug, Clone)]
struct Case {
    ops: Vec<Op>,
    seeds: Vec<u16>,
    /// Per address index, the cluster it belongs to, if any: clusters are
    /// disjoint, as exchanges from labels and clustering are.
    clusters: Vec<Option<u8>>,
}

fn case() -> impl Strategy<Value = Case> {
    (4u16..14).prop_flat_map(|n| {
        (
            prop::collection::vec(op(n), 1..60),
            prop::collection::vec(0..n, 1..3),
            prop::collection::vec(prop::option::of(0u8..3), n as usize),
        )
            .prop_map(|(ops, seeds, clusters)| Case {
                ops,
                seeds,
                clusters,
            })
    })
}

const TOKEN: Asset = Asset::Erc20([0x7e; 20]);

impl Case {
    /// Records at distinct positions: three per block, in op order.
    fn records(&self) -> Vec<Record> {
        self.ops
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let (h, idx) = (1 + i as u64 / 3, u32::try_from(i % 3).unwrap());
                match o {
                    Op::Eth {
                        from,
                        to,
                        amount,
                        token,
                    } => {
                        let asset = if *token { TOKEN } else { Asset::Eth };
                        common::token(h, idx, 0, asset, eth(*from), eth(*to), *amount)
                    }
                    Op::Btc { ins, outs } => {
                        let ins: Vec<_> = ins.iter().map(|&(a, v)| (btc(a), v)).collect();
                        let outs: Vec<_> = outs.iter().map(|&(a, v)| (btc(a), v)).collect();
                        utxo(h, idx, &ins, &outs)
                    }
                }
            })
            .collect()
    }

    /// Seeds and clusters on both chains (index i means eth(i) and btc(i)).
    fn targets(&self) -> (Vec<Address>, Vec<Cluster>) {
        let seeds = self.seeds.iter().flat_map(|&s| [eth(s), btc(s)]).collect();
        let clusters = (0u8..3)
            .map(|c| {
                let members = (0u16..)
                    .zip(&self.clusters)
                    .filter(|(_, m)| **m == Some(c))
                    .flat_map(|(a, _)| [eth(a), btc(a)])
                    .collect();
                Cluster::new(format!("c{c}"), members)
            })
            .collect();
        (seeds, clusters)
    }
}

fn run(g: &FlowGraph, c: &Case, cfg: &TraceConfig) -> TraceOutcome {
    let (seeds, clusters) = c.targets();
    trace(g, &seeds, &clusters, cfg).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn value_invariants(c in case()) {
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let out = run(&g, &c, &TraceConfig::default());
        let mut into: BTreeMap<(Address, Asset), (u128, u128)> = BTreeMap::new();
        for f in &out.findings {
            for (asset, m) in &f.value {
                let (p, h, ff) = (m[&Model::Poison].get(), m[&Model::Haircut].get(), m[&Model::Fifo].get());
                prop_assert!(h <= p, "haircut {} > poison {} ({} -> {})", h, p, f.seed, f.cluster);
                prop_assert!(ff <= p, "fifo {} > poison {} ({} -> {})", ff, p, f.seed, f.cluster);
                let e = into.entry((f.seed, *asset)).or_default();
                e.0 += h;
                e.1 += ff;
            }
        }
        // Clusters absorb (the default), so no value is counted twice: what
        // all clusters received under haircut and FIFO stays within what the
        // seed sent.
        for ((seed, asset), (h, ff)) in into {
            let sent = out.seeds.iter().find(|s| s.seed == seed).unwrap().sent.get(&asset).map_or(0, |a| a.get());
            prop_assert!(h <= sent && ff <= sent, "{} {}: haircut {} fifo {} sent {}", seed, asset, h, ff, sent);
        }
    }

    #[test]
    fn time_respecting_hops_never_beat_plain_reachability(c in case()) {
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let timed = run(&g, &c, &TraceConfig::default());
        let plain = run(&g, &c, &TraceConfig { time_respecting: false, ..TraceConfig::default() });
        for f in &timed.findings {
            let p = plain.findings.iter().find(|p| p.seed == f.seed && p.cluster == f.cluster);
            prop_assert!(p.is_some(), "{} -> {} reached in time order only", f.seed, f.cluster);
            prop_assert!(p.unwrap().min_hops <= f.min_hops);
            prop_assert_eq!(f.path.len(), f.min_hops as usize);
        }
    }

    #[test]
    fn threads_load_order_and_snapshots_do_not_matter(c in case()) {
        let records = c.records();
        let g = FlowGraph::from_records("prop", records.clone()).unwrap();
        for cfg in [TraceConfig::default(), TraceConfig { stop_at_clusters: false, ..TraceConfig::default() }] {
            let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
            let one = pool(1).install(|| run(&g, &c, &cfg));
            let two = pool(2).install(|| run(&g, &c, &cfg));
            prop_assert_eq!(&one, &two);
            // Records in reverse order, split over two sources.
            let mut rev = records.clone();
            rev.reverse();
            let mut b = GraphBuilder::new();
            let half = rev.len() / 2;
            b.load(&mut MemorySource::new("a", rev[..half].to_vec())).unwrap();
            b.load(&mut MemorySource::new("b", rev[half..].to_vec())).unwrap();
            let g2 = b.freeze().unwrap();
            // The same graph, event for event and address for address.
            let events = |g: &FlowGraph| g.events().map(|e| g.event(e)).collect::<Vec<_>>();
            prop_assert_eq!(events(&g2), events(&g));
            prop_assert_eq!(g2.addresses(), g.addresses());
            let two_sources = run(&g2, &c, &cfg);
            prop_assert_eq!(&two_sources.findings, &one.findings);
            prop_assert_eq!(&two_sources.seeds, &one.seeds);
            // Snapshot round trip.
            let bytes = g.to_snapshot_bytes(&CaseInfo::default()).unwrap();
            let (g3, _) = FlowGraph::from_snapshot_bytes(&bytes).unwrap();
            prop_assert_eq!(&run(&g3, &c, &cfg), &one);
        }
    }
}
