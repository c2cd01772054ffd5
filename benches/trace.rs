#![allow(missing_docs)] // criterion_main! generates an undocumented `main`
//! Graph build and trace on synthetic cases of 10^5, 10^6 (and, with
//! `FUNDTRACE_BENCH_LARGE=1`, 10^7) transfers.
//!
//! * `build`: records already in memory -> frozen graph.
//! * `end_to_end`: generate + load + freeze + 6-seed trace, all three models.
//! * `trace6`: the 6-seed trace alone (KIM Sang Man's four seeds and two
//!   synthetic ones), all three models, default parameters;
//!   `trace6_reused_tracer` the same on a `Tracer` kept between runs with
//!   its clusters resolved once (`Tracer::targets`), and
//!   `depth3_one_seed_reused_tracer` one seed to 3 hops on it.
//! * `hops/*`: hop traversal from the six busiest background addresses
//!   (big frontiers), taint passing through clusters, 10 hops, no value
//!   models; throughput is adjacency entries scanned per second.
//!   `hops/time` is the time-respecting search, `hops/plain` plain
//!   reachability, `hops/petgraph_bfs_digraph` is `petgraph::visit::Bfs` over
//!   the same graph exported as a `DiGraph` (the baseline),
//!   `hops/petgraph_bfs_flowgraph` the same `Bfs` over our frozen graph
//!   through petgraph's traits.
//!
//! Every benchmark of ours runs on a 2-thread pool and, as `*_1t`, on one
//! thread; the petgraph baselines are sequential.
//!
//! Bytes per transfer of the frozen graph are printed on stderr.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
use fundtrace::{Address, FlowGraph, GraphBuilder, MemorySource, Record, TraceConfig, trace};
use petgraph::visit::{Bfs, IntoNeighbors};

fn sizes() -> Vec<u64> {
    let mut v = vec![100_000, 1_000_000];
    if std::env::var_os("FUNDTRACE_BENCH_LARGE").is_some() {
        v.push(10_000_000);
    }
    v
}

fn transfers_in(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| match r {
            Record::Transfer(_) => 1,
            Record::Utxo(u) => (u.inputs.len() + u.outputs.len()) as u64,
            _ => 0,
        })
        .sum()
}

fn hubs(g: &FlowGraph, n: usize) -> Vec<Address> {
    let mut v: Vec<(usize, Address)> = g
        .addresses()
        .iter()
        .filter(|a| a.as_special().is_none())
        .map(|a| {
            (
                g.outgoing(g.node(a).expect("address of the graph")).count(),
                *a,
            )
        })
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().take(n).map(|x| x.1).collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Edges a petgraph `Bfs` walks from `starts` over `G`.
fn bfs_edges<G>(g: G, starts: &[G::NodeId]) -> u64
where
    G: IntoNeighbors + petgraph::visit::Visitable,
    G::NodeId: Copy + Eq + std::hash::Hash,
{
    let mut edges = 0u64;
    for &s in starts {
        let mut bfs = Bfs::new(g, s);
        while let Some(n) = bfs.next(g) {
            edges += g.neighbors(n).count() as u64;
        }
    }
    edges
}

fn bench(c: &mut Criterion) {
    for &n in &sizes() {
        let cfg = SyntheticConfig {
            transfers: n,
            extra_seeds: 2,
            ..SyntheticConfig::default()
        };
        let case = SyntheticCase::generate(&cfg);
        let records = case.records();
        let transfers = transfers_in(&records);
        let graph = case.graph().expect("synthetic cases load");
        let mem = graph.memory_use();
        eprintln!(
            "size {n}: {transfers} transfers, {} events, {} legs, {} addresses; traversal {:.1} B/transfer, with address book and tx ids {:.1} B/transfer",
            graph.event_count(),
            graph.leg_count(),
            graph.address_count(),
            mem.traversal_bytes as f64 / transfers as f64,
            (mem.traversal_bytes + mem.book_bytes) as f64 / transfers as f64
        );

        let mut group = c.benchmark_group(format!("{n}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(if n >= 10_000_000 { 20 } else { 8 }));

        group.throughput(Throughput::Elements(transfers));
        let snap = std::env::temp_dir().join(format!("fundtrace-bench-{n}.snap"));
        let case_info = fundtrace::snapshot::CaseInfo {
            seeds: case.seeds.clone(),
            clusters: case.clusters.clone(),
        };
        graph.save(&snap, &case_info).expect("saves");
        eprintln!(
            "size {n}: snapshot {} bytes",
            std::fs::metadata(&snap).map(|m| m.len()).unwrap_or(0)
        );
        let tracer = fundtrace::Tracer::new(&graph);
        let targets = tracer.targets(&case.clusters).expect("distinct names");
        let depth3 = TraceConfig {
            max_hops: 3,
            ..TraceConfig::default()
        };
        let one = pool(1);
        let two = pool(2);
        // Every benchmark on 2 threads, then on 1 ("_1t"): the ratio is the
        // parallel scaling.
        for (suffix, threads) in [("", &two), ("_1t", &one)] {
            let name = |base: &str| format!("{base}{suffix}");
            group.bench_function(name("build"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        let mut builder = GraphBuilder::new();
                        builder
                            .load(&mut MemorySource::new("bench", records.clone()))
                            .expect("loads");
                        black_box(builder.freeze().expect("freezes"))
                    })
                })
            });
            group.bench_function(name("end_to_end"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        let g = case.graph().expect("loads");
                        black_box(
                            trace(&g, &case.seeds, &case.clusters, &TraceConfig::default())
                                .expect("traces"),
                        )
                    })
                })
            });
            group.bench_function(name("snapshot_load"), |b| {
                b.iter(|| threads.install(|| black_box(FlowGraph::load(&snap).expect("loads"))))
            });
            group.bench_function(name("trace6"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        black_box(
                            trace(&graph, &case.seeds, &case.clusters, &TraceConfig::default())
                                .expect("traces"),
                        )
                    })
                })
            });
            group.bench_function(name("trace6_reused_tracer"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        black_box(
                            tracer
                                .trace_targets(&case.seeds, &targets, &TraceConfig::default())
                                .expect("traces"),
                        )
                    })
                })
            });
            group.bench_function(name("depth3_one_seed_reused_tracer"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        black_box(
                            tracer
                                .trace_targets(&case.seeds[..1], &targets, &depth3)
                                .expect("traces"),
                        )
                    })
                })
            });
        }

        // Hop traversal from hubs.
        let seeds = hubs(&graph, 6);
        let hop_cfg = TraceConfig {
            stop_at_clusters: false,
            models: vec![],
            ..TraceConfig::default()
        };
        let plain_cfg = TraceConfig {
            time_respecting: false,
            ..hop_cfg.clone()
        };
        let scanned = trace(&graph, &seeds, &case.clusters, &hop_cfg)
            .expect("traces")
            .stats
            .edges_scanned;
        let scanned_plain = trace(&graph, &seeds, &case.clusters, &plain_cfg)
            .expect("traces")
            .stats
            .edges_scanned;
        let pg = graph.to_petgraph();
        let pg_starts: Vec<_> = seeds
            .iter()
            .map(|s| petgraph::graph::NodeIndex::new(graph.node(s).expect("hub").index()))
            .collect();
        let fg_starts: Vec<_> = seeds.iter().map(|s| graph.node(s).expect("hub")).collect();
        let pg_edges = bfs_edges(&pg, &pg_starts);
        let fg_edges = bfs_edges(&graph, &fg_starts);
        eprintln!(
            "size {n}: edges scanned from 6 hubs: time {scanned}, plain {scanned_plain}, petgraph DiGraph bfs {pg_edges}, petgraph bfs on FlowGraph {fg_edges}"
        );
        for (name, cfg, edges) in [
            ("time", &hop_cfg, scanned),
            ("plain", &plain_cfg, scanned_plain),
        ] {
            group.throughput(Throughput::Elements(edges));
            group.bench_function(BenchmarkId::new("hops", name), |b| {
                b.iter(|| {
                    two.install(|| {
                        black_box(trace(&graph, &seeds, &case.clusters, cfg).expect("traces"))
                    })
                })
            });
            group.bench_function(BenchmarkId::new("hops", format!("{name}_1t")), |b| {
                b.iter(|| {
                    one.install(|| {
                        black_box(trace(&graph, &seeds, &case.clusters, cfg).expect("traces"))
                    })
                })
            });
        }
        group.throughput(Throughput::Elements(pg_edges));
        group.bench_function(BenchmarkId::new("hops", "petgraph_bfs_digraph"), |b| {
            b.iter(|| black_box(bfs_edges(&pg, &pg_starts)))
        });
        group.throughput(Throughput::Elements(fg_edges));
        group.bench_function(BenchmarkId::new("hops", "petgraph_bfs_flowgraph"), |b| {
            b.iter(|| black_box(bfs_edges(&graph, &fg_starts)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
