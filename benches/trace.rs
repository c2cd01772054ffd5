#![allow(missing_docs)] // criterion_main! generates an undocumented `main`
//! Graph build and trace on synthetic cases of 10^5, 10^6 (and, with
//! `FUNDTRACE_BENCH_LARGE=1`, 10^7) transfers; with
//! `FUNDTRACE_BENCH_HUGE=1`, only 10^8 (about 14 GiB at its peak, over
//! 20 minutes).
//!
//! At 10^8 the records are not held in memory (they would not fit next to
//! the graph): the case is streamed into the builder once, and the load and
//! the freeze of that one build are timed and printed with the resident
//! memory, not repeated by criterion; `build`, `end_to_end` and
//! `snapshot_load` are left out, the traversal and trace benchmarks run as
//! at the other sizes.
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
//!   `hops/time` is the time-respecting search as the default
//!   (`Search::Auto`) runs it, `hops/time_frontier` and `hops/time_stream`
//!   each of its two searches alone, `hops/plain` plain
//!   reachability, each through a fresh `trace` call (which allocates and
//!   fills its per-address search arrays, one set per seed running at once)
//!   and, as `*_reused_tracer`, on a `Tracer` that keeps them between runs;
//!   `hops/petgraph_bfs_digraph` is
//!   `petgraph::visit::Bfs` over
//!   the same graph exported as a `DiGraph` (the baseline),
//!   `hops/petgraph_bfs_flowgraph` the same `Bfs` over our frozen graph
//!   through petgraph's traits.
//!
//! * `growth/seeds/k` and `growth/max_hops/h`: the time-respecting hop
//!   search from the first k hubs (10 hops), and from all six to h hops.
//!
//! Every benchmark of ours runs on a 2-thread pool and, as `*_1t`, on one
//! thread (the growth points on 2 only); the petgraph baselines are
//! sequential.
//!
//! Bytes per transfer of the frozen graph are printed on stderr.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
use fundtrace::{Address, FlowGraph, GraphBuilder, MemorySource, Record, TraceConfig, trace_seeds};
use petgraph::visit::{Bfs, IntoNeighbors};

fn sizes() -> Vec<u64> {
    if std::env::var_os("FUNDTRACE_BENCH_HUGE").is_some() {
        return vec![100_000_000];
    }
    let mut v = vec![100_000, 1_000_000];
    if std::env::var_os("FUNDTRACE_BENCH_LARGE").is_some() {
        v.push(10_000_000);
    }
    v
}

/// Resident and peak resident memory of this process in MiB (Linux).
fn resident() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Counts transfers (account transfers plus UTXO inputs and outputs) of
/// the records passing through.
struct Counting<S> {
    inner: S,
    transfers: u64,
}

impl<S: fundtrace::Source> fundtrace::Source for Counting<S> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn next_record(&mut self) -> fundtrace::Result<Option<Record>> {
        let r = self.inner.next_record()?;
        if let Some(r) = &r {
            self.transfers += transfers_in(std::slice::from_ref(r));
        }
        Ok(r)
    }
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
    let one = pool(1);
    let two = pool(2);
    for &n in &sizes() {
        let cfg = SyntheticConfig {
            transfers: n,
            extra_seeds: 2,
            ..SyntheticConfig::default()
        };
        let huge = n >= 100_000_000;
        let case = SyntheticCase::generate(&cfg);
        let records = if huge { Vec::new() } else { case.records() };
        let t = std::time::Instant::now();
        let mut builder = GraphBuilder::new();
        let mut source = Counting {
            inner: case.source(),
            transfers: 0,
        };
        builder.load(&mut source).expect("synthetic cases load");
        let loaded = t.elapsed();
        let t = std::time::Instant::now();
        let graph = two
            .install(|| builder.freeze())
            .expect("synthetic cases freeze");
        let frozen = t.elapsed();
        let transfers = source.transfers;
        drop(source);
        let (rss, peak) = resident();
        eprintln!(
            "size {n}: generate and load {:.1} s, freeze {:.1} s (2 threads); resident {rss:.0} MiB, peak {peak:.0} MiB",
            loaded.as_secs_f64(),
            frozen.as_secs_f64()
        );
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
        if !huge {
            let case_info = fundtrace::snapshot::CaseInfo {
                seeds: case.seeds.clone(),
                clusters: case.clusters.clone(),
            };
            graph.save(&snap, &case_info).expect("saves");
            eprintln!(
                "size {n}: snapshot {} bytes",
                std::fs::metadata(&snap).map(|m| m.len()).unwrap_or(0)
            );
        }
        let tracer = fundtrace::Tracer::new(&graph, &case.clusters).expect("distinct names");
        let depth3 = TraceConfig::default().with_max_hops(3);
        // Every benchmark on 2 threads, then on 1 ("_1t"): the ratio is the
        // parallel scaling.
        for (suffix, threads) in [("", &two), ("_1t", &one)] {
            let name = |base: &str| format!("{base}{suffix}");
            if !huge {
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
                                trace_seeds(
                                    &g,
                                    &case.seeds,
                                    &case.clusters,
                                    &TraceConfig::default(),
                                )
                                .expect("traces"),
                            )
                        })
                    })
                });
                group.bench_function(name("snapshot_load"), |b| {
                    b.iter(|| threads.install(|| black_box(FlowGraph::load(&snap).expect("loads"))))
                });
            }
            group.bench_function(name("trace6"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        black_box(
                            trace_seeds(
                                &graph,
                                &case.seeds,
                                &case.clusters,
                                &TraceConfig::default(),
                            )
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
                                .trace(&case.seeds, &TraceConfig::default())
                                .expect("traces"),
                        )
                    })
                })
            });
            group.bench_function(name("depth3_one_seed_reused_tracer"), |b| {
                b.iter(|| {
                    threads.install(|| {
                        black_box(tracer.trace(&case.seeds[..1], &depth3).expect("traces"))
                    })
                })
            });
        }

        // Hop traversal from hubs.
        let seeds = hubs(&graph, 6);
        let hop_cfg = TraceConfig::default()
            .with_stop_at_clusters(false)
            .with_models(vec![]);
        let plain_cfg = hop_cfg.clone().with_time_respecting(false);
        // The default (`Search::Auto`) probes each hub with the frontier
        // search, and as all six give up, runs the stream search; each
        // search alone on the same seeds, for comparison.
        let frontier_cfg = hop_cfg
            .clone()
            .with_search(fundtrace::trace::Search::Frontier);
        let stream_cfg = hop_cfg
            .clone()
            .with_search(fundtrace::trace::Search::Stream);
        let auto = trace_seeds(&graph, &seeds, &case.clusters, &hop_cfg).expect("traces");
        let scanned = auto.stats.edges_scanned;
        eprintln!(
            "size {n}: the default search streamed {} of the 6 hubs",
            auto.seeds
                .iter()
                .filter(|s| s.search == Some(fundtrace::trace::Search::Stream))
                .count()
        );
        let scanned_plain = trace_seeds(&graph, &seeds, &case.clusters, &plain_cfg)
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
        let scanned_frontier = trace_seeds(&graph, &seeds, &case.clusters, &frontier_cfg)
            .expect("traces")
            .stats
            .edges_scanned;
        eprintln!("size {n}: edges scanned from 6 hubs by the frontier search: {scanned_frontier}");
        for (name, cfg, edges) in [
            ("time", &hop_cfg, scanned),
            ("time_frontier", &frontier_cfg, scanned_frontier),
            ("time_stream", &stream_cfg, scanned),
            ("plain", &plain_cfg, scanned_plain),
        ] {
            group.throughput(Throughput::Elements(edges));
            group.bench_function(BenchmarkId::new("hops", name), |b| {
                b.iter(|| {
                    two.install(|| {
                        black_box(trace_seeds(&graph, &seeds, &case.clusters, cfg).expect("traces"))
                    })
                })
            });
            group.bench_function(BenchmarkId::new("hops", format!("{name}_1t")), |b| {
                b.iter(|| {
                    one.install(|| {
                        black_box(trace_seeds(&graph, &seeds, &case.clusters, cfg).expect("traces"))
                    })
                })
            });
            for (suffix, threads) in [("", &two), ("_1t", &one)] {
                let id = BenchmarkId::new("hops", format!("{name}_reused_tracer{suffix}"));
                group.bench_function(id, |b| {
                    b.iter(|| {
                        threads.install(|| black_box(tracer.trace(&seeds, cfg).expect("traces")))
                    })
                });
            }
        }
        group.throughput(Throughput::Elements(pg_edges));
        group.bench_function(BenchmarkId::new("hops", "petgraph_bfs_digraph"), |b| {
            b.iter(|| black_box(bfs_edges(&pg, &pg_starts)))
        });
        group.throughput(Throughput::Elements(fg_edges));
        group.bench_function(BenchmarkId::new("hops", "petgraph_bfs_flowgraph"), |b| {
            b.iter(|| black_box(bfs_edges(&graph, &fg_starts)))
        });
        if !huge {
            // How the time-respecting search grows with the number of seeds
            // (10 hops) and with the hop limit (6 seeds), on 2 threads.
            let points = [1usize, 2, 4, 6]
                .map(|k| (format!("seeds/{k}"), k, hop_cfg.max_hops))
                .into_iter()
                .chain([1u32, 2, 3, 5].map(|h| (format!("max_hops/{h}"), 6, h)));
            for (name, k, h) in points {
                let cfg = hop_cfg.clone().with_max_hops(h);
                let edges = trace_seeds(&graph, &seeds[..k], &case.clusters, &cfg)
                    .expect("traces")
                    .stats
                    .edges_scanned;
                eprintln!("size {n}: growth {name}: {edges} entries scanned");
                group.throughput(Throughput::Elements(edges));
                group.bench_function(BenchmarkId::new("growth", name), |b| {
                    b.iter(|| {
                        two.install(|| {
                            black_box(
                                trace_seeds(&graph, &seeds[..k], &case.clusters, &cfg)
                                    .expect("traces"),
                            )
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
