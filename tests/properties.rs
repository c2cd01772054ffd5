//! Property tests on random transfer sets: the value invariants and the
//! independence of results from threads, load order and snapshots.
//! Case counts are bounded so the suite stays fast.

mod common;

use std::collections::BTreeMap;

use common::*;
use fundtrace::snapshot::CaseInfo;
use fundtrace::trace::Search;
use fundtrace::{
    Address, Asset, Cluster, FlowGraph, GraphBuilder, MemorySource, Model, Record, TraceConfig,
    TraceOutcome, trace_seeds,
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
    /// An Ethereum transaction with several transfers (a contract call that
    /// forwards what it receives, say): (from, to, amount, token) each.
    EthTx(Vec<(u16, u16, u128, bool)>),
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
    let call =
        prop::collection::vec((0..n, 0..n, 1u128..1_000, any::<bool>()), 2..5).prop_map(Op::EthTx);
    prop_oneof![3 => eth, 2 => btc, 2 => call]
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
            .flat_map(|(i, o)| {
                let (h, idx) = (1 + i as u64 / 3, u32::try_from(i % 3).unwrap());
                let asset = |token: bool| if token { TOKEN } else { Asset::Eth };
                match o {
                    Op::Eth {
                        from,
                        to,
                        amount,
                        token,
                    } => vec![common::token(
                        h,
                        idx,
                        0,
                        asset(*token),
                        eth(*from),
                        eth(*to),
                        *amount,
                    )],
                    Op::Btc { ins, outs } => {
                        let ins: Vec<_> = ins.iter().map(|&(a, v)| (btc(a), v)).collect();
                        let outs: Vec<_> = outs.iter().map(|&(a, v)| (btc(a), v)).collect();
                        vec![utxo(h, idx, &ins, &outs)]
                    }
                    Op::EthTx(legs) => (0u32..)
                        .zip(legs)
                        .map(|(sub, &(from, to, amount, token))| {
                            common::token(h, idx, sub, asset(token), eth(from), eth(to), amount)
                        })
                        .collect(),
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

/// Fewest hops (and, when time-respecting, the earliest arrival event) from
/// `seed` to every other address, from the definitions alone: a hop is one
/// transaction, value that arrived in event a can leave in an event after
/// it (any event without time order), and leaving later in a's own
/// transaction costs no further hop. A fixpoint over (address, event of
/// arrival) pairs, each with its fewest hops, at most `max_hops`.
fn reference(
    g: &FlowGraph,
    seed: Address,
    max_hops: u32,
    time: bool,
) -> BTreeMap<Address, (u32, usize)> {
    let events: Vec<_> = g.events().map(|e| g.event(e)).collect();
    // (address, arrival event) -> fewest hops; the seed holds its value from
    // before the first event, outside any transaction.
    let mut facts: BTreeMap<(Address, Option<usize>), u32> = BTreeMap::new();
    facts.insert((seed, None), 0);
    loop {
        let mut changed = false;
        let known: Vec<_> = facts.iter().map(|(&k, &h)| (k, h)).collect();
        for ((u, arrived), k) in known {
            for (e, ev) in events.iter().enumerate() {
                if !ev.inputs.iter().any(|&(a, _)| a == u) {
                    continue;
                }
                let later = arrived.is_none_or(|a| e > a);
                if time && !later {
                    continue;
                }
                let same_tx = later && arrived.is_some_and(|a| events[a].tx == ev.tx);
                let hops = if same_tx { k } else { k + 1 };
                if hops > max_hops {
                    continue;
                }
                for &(v, _) in &ev.outputs {
                    if v == u {
                        continue;
                    }
                    let f = facts.entry((v, Some(e))).or_insert(u32::MAX);
                    if hops < *f {
                        *f = hops;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut out: BTreeMap<Address, (u32, usize)> = BTreeMap::new();
    for (&(v, arrived), &h) in &facts {
        let (Some(e), true) = (arrived, v != seed) else {
            continue;
        };
        let x = out.entry(v).or_insert((h, e));
        *x = (x.0.min(h), x.1.min(e));
    }
    out
}

fn run(g: &FlowGraph, c: &Case, cfg: &TraceConfig) -> TraceOutcome {
    let (seeds, clusters) = c.targets();
    trace_seeds(g, &seeds, &clusters, cfg).unwrap()
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
    fn hops_match_a_reference_search(c in case(), max_hops in 1u32..5) {
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let (seeds, _) = c.targets();
        // Every address its own cluster.
        let clusters: Vec<Cluster> = g
            .addresses()
            .iter()
            .map(|a| Cluster::new(a.to_string(), vec![*a]))
            .collect();
        let events: Vec<_> = g.events().map(|e| g.event(e)).collect();
        for (time_respecting, search) in
            [(true, Search::Frontier), (true, Search::Stream), (false, Search::Frontier)]
        {
            let cfg = TraceConfig::default().with_time_respecting(time_respecting).with_stop_at_clusters(false).with_max_hops(max_hops).with_models(vec![]).with_search(search);
            let out = trace_seeds(&g, &seeds, &clusters, &cfg).unwrap();
            for &seed in &seeds {
                if g.node(&seed).is_none() {
                    continue;
                }
                let want = reference(&g, seed, max_hops, time_respecting);
                let got: BTreeMap<Address, &fundtrace::Finding> = out
                    .findings
                    .iter()
                    .filter(|f| f.seed == seed && f.member != seed)
                    .map(|f| (f.member, f))
                    .collect();
                prop_assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "reached from {} (time {}, {:?})", seed, time_respecting, search
                );
                for (a, f) in &got {
                    let (hops, first) = want[a];
                    prop_assert_eq!(f.min_hops, hops, "{} -> {} (time {})", seed, a, time_respecting);
                    // The evidence path: from the seed to the member, one
                    // transfer after another, as many transactions as hops
                    // in time order (without it, a path can come back to a
                    // transaction at an earlier transfer: a further hop).
                    prop_assert_eq!(f.path.first().map(|p| p.from), Some(seed));
                    prop_assert_eq!(f.path.last().map(|p| p.to), Some(*a));
                    for w in f.path.windows(2) {
                        prop_assert_eq!(w[0].to, w[1].from);
                    }
                    let mut txs: Vec<_> = f.path.iter().map(|p| p.tx).collect();
                    txs.dedup();
                    if time_respecting {
                        prop_assert_eq!(txs.len(), hops as usize);
                    } else {
                        prop_assert!(txs.len() <= hops as usize && hops as usize <= f.path.len());
                    }
                    if time_respecting {
                        let arrival = f.first_arrival.as_ref().unwrap();
                        prop_assert_eq!(arrival.tx, events[first].tx, "{} -> {}", seed, a);
                    }
                }
            }
        }
    }

    #[test]
    fn stream_and_frontier_searches_agree(c in case(), max_hops in 1u32..12, stop in any::<bool>()) {
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let cfg = |search| TraceConfig::default().with_max_hops(max_hops).with_stop_at_clusters(stop).with_search(search);
        let frontier = run(&g, &c, &cfg(Search::Frontier));
        let stream = run(&g, &c, &cfg(Search::Stream));
        // The same summaries but for the search each names.
        for (s, f) in stream.seeds.iter().zip(&frontier.seeds) {
            let want = |x: Search| Some(x).filter(|_| s.in_graph);
            prop_assert_eq!(s.search, want(Search::Stream));
            prop_assert_eq!(f.search, want(Search::Frontier));
        }
        let unnamed = |o: &fundtrace::TraceOutcome| {
            o.seeds.iter().map(|s| fundtrace::SeedSummary { search: None, ..s.clone() }).collect::<Vec<_>>()
        };
        prop_assert_eq!(unnamed(&stream), unnamed(&frontier));
        prop_assert_eq!(&stream.warnings, &frontier.warnings);
        prop_assert_eq!(stream.findings.len(), frontier.findings.len());
        // Everything, the evidence path included: ties between shortest
        // paths are broken in one order, whatever the search.
        prop_assert_eq!(&stream.findings, &frontier.findings);
        for s in &stream.findings {
            prop_assert_eq!(s.path.first().map(|p| p.from), Some(s.seed).filter(|_| !s.path.is_empty()));
            prop_assert_eq!(s.path.last().map(|p| p.to), Some(s.member).filter(|_| !s.path.is_empty()));
            for w in s.path.windows(2) {
                prop_assert_eq!(w[0].to, w[1].from);
                prop_assert!(w[0].height <= w[1].height);
            }
            let mut txs: Vec<_> = s.path.iter().map(|p| p.tx).collect();
            txs.dedup();
            prop_assert_eq!(txs.len(), s.min_hops as usize);
        }
    }

    #[test]
    fn stream_search_finds_the_same_paths_without_value_models(c in case(), max_hops in 1u32..12, stop in any::<bool>()) {
        // Without value models the stream search resolves only the paths
        // of the findings; they must be the ones the full resolution finds.
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let cfg = |models| TraceConfig::default().with_max_hops(max_hops).with_stop_at_clusters(stop).with_search(Search::Stream).with_models(models);
        let full = run(&g, &c, &cfg(TraceConfig::default().models));
        let sparse = run(&g, &c, &cfg(vec![]));
        prop_assert_eq!(&full.seeds, &sparse.seeds);
        prop_assert_eq!(full.findings.len(), sparse.findings.len());
        for (f, s) in full.findings.iter().zip(&sparse.findings) {
            prop_assert_eq!(fundtrace::Finding { value: Default::default(), ..f.clone() }, s.clone());
        }
    }

    #[test]
    fn time_respecting_hops_never_beat_plain_reachability(c in case()) {
        let g = FlowGraph::from_records("prop", c.records()).unwrap();
        let timed = run(&g, &c, &TraceConfig::default());
        let plain = run(&g, &c, &TraceConfig::default().with_time_respecting(false));
        for f in &timed.findings {
            let p = plain.findings.iter().find(|p| p.seed == f.seed && p.cluster == f.cluster);
            prop_assert!(p.is_some(), "{} -> {} reached in time order only", f.seed, f.cluster);
            prop_assert!(p.unwrap().min_hops <= f.min_hops);
            // A step per transfer; transfers of one transaction in a row
            // are one hop.
            let mut txs: Vec<_> = f.path.iter().map(|s| s.tx).collect();
            txs.dedup();
            prop_assert_eq!(txs.len(), f.min_hops as usize);
        }
    }

    #[test]
    fn threads_load_order_and_snapshots_do_not_matter(c in case()) {
        let records = c.records();
        let g = FlowGraph::from_records("prop", records.clone()).unwrap();
        for cfg in [
            TraceConfig::default(),
            TraceConfig::default().with_stop_at_clusters(false),
            TraceConfig::default().with_search(Search::Stream),
        ] {
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
