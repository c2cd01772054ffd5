//! The tracer against the synthetic generator's ground truth, the value
//! invariants, and thread-count independence.
#![cfg(feature = "synthetic")]

use std::collections::BTreeMap;

use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
use fundtrace::{
    Amount, Asset, FlowGraph, Model, TraceConfig, TraceOutcome, TraceReport, trace_seeds,
};

fn case(transfers: u64, extra_seeds: usize) -> (SyntheticCase, FlowGraph) {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers,
        extra_seeds,
        ..SyntheticConfig::default()
    });
    let g = c.graph().unwrap();
    (c, g)
}

/// The `k` busiest addresses by outgoing events (pseudo-addresses left out).
fn hubs(g: &FlowGraph, k: usize) -> Vec<fundtrace::Address> {
    let mut v: Vec<_> = g
        .addresses()
        .iter()
        .filter(|a| a.as_special().is_none())
        .map(|a| (g.outgoing(g.node(a).unwrap()).count(), *a))
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().take(k).map(|h| h.1).collect()
}

fn in_pool(threads: usize, f: impl FnOnce() -> TraceOutcome + Send) -> TraceOutcome {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn check_truth(c: &SyntheticCase, g: &FlowGraph, max_hops: u32) {
    let cfg = TraceConfig::default().with_max_hops(max_hops);
    let out = trace_seeds(g, &c.seeds, &c.clusters, &cfg).unwrap();
    let expected = c.truth.expected(max_hops);
    assert!(!expected.is_empty());
    let got: BTreeMap<_, _> = out
        .findings
        .iter()
        .map(|f| ((f.seed, f.cluster.clone()), f))
        .collect();
    for e in &expected {
        let f = got.get(&(e.seed, e.cluster.clone())).unwrap_or_else(|| {
            panic!("max_hops {max_hops}: {} -> {} not found", e.seed, e.cluster)
        });
        assert_eq!(f.min_hops, e.min_hops, "hops {} -> {}", e.seed, e.cluster);
        assert_eq!(f.value, e.value, "value {} -> {}", e.seed, e.cluster);
        // The evidence path is as long as the hop count and starts at the seed.
        assert_eq!(f.path.len(), f.min_hops as usize);
        assert_eq!(f.path[0].from, f.seed);
        assert_eq!(f.path.last().unwrap().to, f.member);
        for w in f.path.windows(2) {
            assert_eq!(w[0].to, w[1].from);
            assert!(w[0].height <= w[1].height, "time order along the path");
        }
    }
    // Nothing beyond the truth.
    assert_eq!(out.findings.len(), expected.len(), "max_hops {max_hops}");
    // What each seed sent.
    for s in &out.seeds {
        assert_eq!(&s.sent, &c.truth.sent[&s.seed], "sent by {}", s.seed);
    }
}

#[test]
fn findings_equal_ground_truth() {
    let (c, g) = case(200_000, 2);
    assert_eq!(c.seeds.len(), 6);
    check_truth(&c, &g, 10);
    check_truth(&c, &g, 3);
    check_truth(&c, &g, 1);
    // The case exercises every model difference: haircut below poison (mixing,
    // clean-plus-tainted wallets) and FIFO different from haircut.
    let all = c.truth.expected(10);
    let vals = || all.iter().flat_map(|e| e.value.values());
    assert!(vals().any(|m| m[&Model::Haircut] < m[&Model::Poison]));
    assert!(vals().any(|m| m[&Model::Fifo] != m[&Model::Haircut]));
    assert!(all.iter().any(|e| {
        e.value
            .contains_key(&Asset::Erc20(fundtrace::synthetic::USDT))
    }));
    assert!(c.truth.deposits.iter().any(|d| d.hops >= 5));
}

#[test]
fn default_case_seeds_are_kim_sang_man() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 20_000,
        ..SyntheticConfig::default()
    });
    let seeds: Vec<String> = c.seeds.iter().map(|s| s.plain()).collect();
    assert_eq!(seeds, fundtrace::synthetic::KIM_SANG_MAN);
    // Every seed reaches at least one exchange.
    let g = c.graph().unwrap();
    let out = trace_seeds(&g, &c.seeds, &c.clusters, &TraceConfig::default()).unwrap();
    for s in &c.seeds {
        assert!(out.findings.iter().any(|f| f.seed == *s), "{s}");
    }
}

#[test]
fn value_invariants_hold() {
    let (c, g) = case(100_000, 2);
    let out = trace_seeds(&g, &c.seeds, &c.clusters, &TraceConfig::default()).unwrap();
    let mut into: BTreeMap<(fundtrace::Address, Asset), (u128, u128)> = BTreeMap::new();
    for f in &out.findings {
        for (asset, m) in &f.value {
            let p = m[&Model::Poison].get();
            let h = m[&Model::Haircut].get();
            let ff = m[&Model::Fifo].get();
            assert!(
                h <= p,
                "haircut {h} > poison {p} for {} -> {}",
                f.seed,
                f.cluster
            );
            assert!(
                ff <= p,
                "fifo {ff} > poison {p} for {} -> {}",
                f.seed,
                f.cluster
            );
            let e = into.entry((f.seed, *asset)).or_default();
            e.0 += h;
            e.1 += ff;
        }
    }
    for ((seed, asset), (h, ff)) in into {
        let sent = out.seeds.iter().find(|s| s.seed == seed).unwrap().sent[&asset].get();
        assert!(
            h <= sent && ff <= sent,
            "{seed} {asset}: haircut {h} fifo {ff} sent {sent}"
        );
    }
}

#[test]
fn one_and_two_threads_agree_exactly() {
    let (c, g) = case(150_000, 2);
    for cfg in [
        TraceConfig::default(),
        TraceConfig::default().with_time_respecting(false),
        TraceConfig::default()
            .with_stop_at_clusters(false)
            .with_max_hops(4),
    ] {
        let one = in_pool(1, || trace_seeds(&g, &c.seeds, &c.clusters, &cfg).unwrap());
        let two = in_pool(2, || trace_seeds(&g, &c.seeds, &c.clusters, &cfg).unwrap());
        let j1 = TraceReport::new(&g, &c.seeds, &c.clusters, &cfg, one.clone())
            .to_json()
            .unwrap();
        let j2 = TraceReport::new(&g, &c.seeds, &c.clusters, &cfg, two.clone())
            .to_json()
            .unwrap();
        assert_eq!(j1, j2);
        assert_eq!(one.stats, two.stats);
    }
}

/// Background hubs have frontiers large enough for the parallel expansion
/// path; the result must still equal the single-threaded one.
#[test]
fn large_frontiers_agree_across_threads() {
    let (c, g) = case(150_000, 0);
    let seeds = hubs(&g, 3);
    let cfg = TraceConfig::default()
        .with_stop_at_clusters(false)
        .with_max_hops(6);
    let one = in_pool(1, || trace_seeds(&g, &seeds, &c.clusters, &cfg).unwrap());
    let two = in_pool(2, || trace_seeds(&g, &seeds, &c.clusters, &cfg).unwrap());
    assert!(
        one.seeds.iter().any(|s| s.reached > 5_000),
        "{:?}",
        one.seeds.iter().map(|s| s.reached).collect::<Vec<_>>()
    );
    assert_eq!(one, two);
    // Time-respecting hop counts are never below plain reachability ones.
    let plain = cfg.clone().with_time_respecting(false);
    let p = trace_seeds(&g, &seeds, &c.clusters, &plain).unwrap();
    for f in &one.findings {
        let q = p
            .findings
            .iter()
            .find(|x| x.seed == f.seed && x.cluster == f.cluster)
            .unwrap();
        assert!(q.min_hops <= f.min_hops);
    }
    let _ = Amount::ZERO;
}

/// A tracer reused across traces (its arrays reset between searches) gives
/// exactly what fresh traces give, in any order of calls.
#[test]
fn reused_tracer_equals_fresh_traces() {
    let (c, g) = case(60_000, 2);
    let tracer = fundtrace::Tracer::new(&g, &c.clusters).unwrap();
    let configs = [
        TraceConfig::default(),
        TraceConfig::default()
            .with_time_respecting(false)
            .with_max_hops(4),
        TraceConfig::default().with_stop_at_clusters(false),
        // The stream search without value models keeps no per-node arrays,
        // with them it does: the tracer's pool holds both kinds, and every
        // search must get what it needs from it.
        TraceConfig::default()
            .with_search(fundtrace::trace::Search::Stream)
            .with_models(vec![]),
        TraceConfig::default().with_search(fundtrace::trace::Search::Stream),
        TraceConfig::default().with_models(vec![]),
    ];
    for round in 0..2 {
        for cfg in &configs {
            let fresh = trace_seeds(&g, &c.seeds, &c.clusters, cfg).unwrap();
            let reused = tracer.trace(&c.seeds, cfg).unwrap();
            assert_eq!(fresh, reused, "round {round}");
            // One seed at a time too.
            for s in &c.seeds {
                let one = tracer.trace(std::slice::from_ref(s), cfg).unwrap();
                let f: Vec<_> = fresh
                    .findings
                    .iter()
                    .filter(|f| f.seed == *s)
                    .cloned()
                    .collect();
                assert_eq!(one.findings, f);
            }
        }
    }
}

/// The stream search with more seeds than one pass carries (so several
/// passes, grouped differently on 1 and 2 threads) gives what the frontier
/// search gives, evidence paths included, and the same on any number of
/// threads.
#[test]
fn stream_search_with_many_seeds_matches_frontier_search() {
    use fundtrace::trace::Search;
    let (c, g) = case(150_000, 2);
    let mut seeds = c.seeds.clone();
    seeds.extend(hubs(&g, 14));
    assert_eq!(seeds.len(), 20);
    for (stop_at_clusters, max_hops) in [(true, 10), (false, 5)] {
        let cfg = |search| {
            TraceConfig::default()
                .with_stop_at_clusters(stop_at_clusters)
                .with_max_hops(max_hops)
                .with_search(search)
        };
        let stream1 = in_pool(1, || {
            trace_seeds(&g, &seeds, &c.clusters, &cfg(Search::Stream)).unwrap()
        });
        let stream2 = in_pool(2, || {
            trace_seeds(&g, &seeds, &c.clusters, &cfg(Search::Stream)).unwrap()
        });
        assert_eq!(stream1, stream2);
        let frontier = trace_seeds(&g, &seeds, &c.clusters, &cfg(Search::Frontier)).unwrap();
        let unnamed = |o: &TraceOutcome| {
            o.seeds
                .iter()
                .map(|s| fundtrace::SeedSummary {
                    search: None,
                    ..s.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(unnamed(&stream2), unnamed(&frontier));
        assert!(
            stream2
                .seeds
                .iter()
                .all(|s| s.search == Some(Search::Stream))
        );
        assert!(frontier.seeds.iter().filter(|s| s.reached > 1_000).count() >= 10);
        for f in &frontier.findings {
            let mut txs: Vec<_> = f.path.iter().map(|p| p.tx).collect();
            txs.dedup();
            assert_eq!(
                txs.len(),
                f.min_hops as usize,
                "{} -> {}",
                f.seed,
                f.cluster
            );
        }
        assert_eq!(stream2.findings, frontier.findings);
        assert!(!frontier.findings.is_empty());
    }
}

/// `Search::Auto` streams only seeds that reach far, and only when enough
/// of them do: the real seeds (small neighbourhoods) get the frontier
/// search, hubs the stream search, and the outcome is exactly that of the
/// search each seed got, on any number of threads.
#[test]
fn auto_search_streams_far_reaching_seeds_only() {
    use fundtrace::trace::{AUTO_STREAM_SEEDS, Search};
    let (c, g) = case(150_000, 2);
    let cfg = |search| TraceConfig::default().with_search(search);
    let streamed = |o: &TraceOutcome| {
        o.seeds
            .iter()
            .filter(|s| s.search == Some(Search::Stream))
            .count()
    };
    let run = |seeds: &[fundtrace::Address], search| {
        let one = in_pool(1, || {
            trace_seeds(&g, seeds, &c.clusters, &cfg(search)).unwrap()
        });
        let two = in_pool(2, || {
            trace_seeds(&g, seeds, &c.clusters, &cfg(search)).unwrap()
        });
        assert_eq!(one, two);
        assert_eq!(one.stats, two.stats);
        two
    };
    let hubs = hubs(&g, AUTO_STREAM_SEEDS + 2);
    // The generator's seeds: all probes finish.
    assert!(c.seeds.len() >= AUTO_STREAM_SEEDS);
    let auto = run(&c.seeds, Search::Auto);
    assert_eq!(streamed(&auto), 0);
    assert_eq!(auto, run(&c.seeds, Search::Frontier));
    assert!(!auto.findings.is_empty());
    // Hubs: every probe gives up.
    let auto = run(&hubs, Search::Auto);
    assert_eq!(streamed(&auto), hubs.len());
    let stream = run(&hubs, Search::Stream);
    assert_eq!(auto, stream);
    assert_eq!(auto.stats, stream.stats);
    // Both kinds together: each seed gets its own search.
    let mut mixed = c.seeds.clone();
    mixed.extend(&hubs);
    let auto = run(&mixed, Search::Auto);
    assert_eq!(streamed(&auto), hubs.len());
    let frontier = run(&c.seeds, Search::Frontier);
    let of = |o: &TraceOutcome, seeds: &[fundtrace::Address]| {
        o.findings
            .iter()
            .filter(|f| seeds.contains(&f.seed))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&auto, &c.seeds), frontier.findings);
    assert_eq!(of(&auto, &hubs), stream.findings);
    // Too few far-reaching seeds: they run the frontier search to the end.
    let mut few = c.seeds.clone();
    few.extend(&hubs[..AUTO_STREAM_SEEDS - 1]);
    let auto = run(&few, Search::Auto);
    assert_eq!(streamed(&auto), 0);
    assert_eq!(auto, run(&few, Search::Frontier));
}

/// Without value models the stream search resolves only the members'
/// entries and the paths of the findings; every finding (hops, first
/// arrival, member, path), every summary and the counts must equal those of
/// the full resolution a trace with value models makes.
#[test]
fn stream_search_without_value_models_keeps_every_finding() {
    use fundtrace::trace::Search;
    let (c, g) = case(150_000, 2);
    let mut seeds = c.seeds.clone();
    seeds.extend(hubs(&g, 6));
    for stop_at_clusters in [true, false] {
        let cfg = |models: Vec<fundtrace::Model>| {
            TraceConfig::default()
                .with_search(Search::Stream)
                .with_stop_at_clusters(stop_at_clusters)
                .with_models(models)
        };
        for threads in [1, 2] {
            let full = in_pool(threads, || {
                trace_seeds(&g, &seeds, &c.clusters, &cfg(TraceConfig::default().models)).unwrap()
            });
            let sparse = in_pool(threads, || {
                trace_seeds(&g, &seeds, &c.clusters, &cfg(vec![])).unwrap()
            });
            assert!(full.findings.iter().any(|f| f.path.len() >= 3));
            let hops_only = |o: &TraceOutcome| {
                o.findings
                    .iter()
                    .map(|f| {
                        let mut f = f.clone();
                        f.value = Default::default();
                        f
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(hops_only(&full), hops_only(&sparse));
            assert_eq!(full.seeds, sparse.seeds);
            assert_eq!(full.stats.edges_scanned, sparse.stats.edges_scanned);
        }
    }
}

/// The evidence does not depend on what else was traced: each seed's
/// findings, paths included, are byte for byte the same traced alone and in
/// a batch of eight, with each search and on one or two threads.
#[test]
fn findings_do_not_depend_on_the_batch() {
    use fundtrace::trace::Search;
    let (c, g) = case(150_000, 0);
    let mut batch = c.seeds.clone();
    batch.extend(hubs(&g, 8 - batch.len()));
    assert_eq!(batch.len(), 8);
    let json = |o: &TraceOutcome, seed: &fundtrace::Address| {
        let mine: Vec<_> = o.findings.iter().filter(|f| f.seed == *seed).collect();
        serde_json::to_vec(&mine).unwrap()
    };
    let cfg = |search| TraceConfig::default().with_search(search);
    let mut runs = Vec::new();
    for search in [Search::Auto, Search::Frontier, Search::Stream] {
        for threads in [1, 2] {
            let o = in_pool(threads, || {
                trace_seeds(&g, &batch, &c.clusters, &cfg(search)).unwrap()
            });
            runs.push((format!("batch of 8, {search:?}, {threads} threads"), o));
        }
    }
    // Both searches ran in the batches (Auto streams the hubs).
    assert!(
        runs[0]
            .1
            .seeds
            .iter()
            .any(|s| s.search == Some(Search::Stream))
    );
    let mut compared = 0;
    for seed in &batch {
        for search in [Search::Frontier, Search::Stream] {
            let alone =
                trace_seeds(&g, std::slice::from_ref(seed), &c.clusters, &cfg(search)).unwrap();
            let want = json(&alone, seed);
            for (name, o) in &runs {
                assert!(
                    json(o, seed) == want,
                    "{seed}: {name} differs from the seed alone with {search:?}"
                );
            }
            compared += alone.findings.len();
        }
    }
    assert!(compared > 20, "{compared} findings compared");
}
