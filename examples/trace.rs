//! The program investigators run: load data, trace seeds to exchange
//! clusters, print the findings, write reports.
//!
//! With no arguments it traces the built-in default case: KIM Sang Man's four
//! OFAC-listed addresses through a synthetic mixed Bitcoin/Ethereum case whose
//! exchanges are anchored on real hot wallets.
//!
//! ```text
//! cargo run --release --example trace -- [OPTIONS]
//! ```
//! Run with `--help` for the options.

#[path = "common/progress.rs"]
mod progress;
#[path = "common/trace_args.rs"]
mod trace_args;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use trace_args::{Args, Input, parse_args};

use fundtrace::synthetic::SyntheticCase;
use fundtrace::{Address, Cluster, Finding, FlowGraph, GraphBuilder, TraceReport, trace_seeds};

fn run(args: Args) -> Result<(), String> {
    let t0 = Instant::now();
    #[cfg(feature = "ethereum")]
    let mut eth_openings: Option<(String, u64)> = None;
    let mut builder = GraphBuilder::new();
    let mut case_seeds = Vec::new();
    let mut case_clusters = Vec::new();
    // Busy addresses a crawl stopped at: traced as stop points and reported.
    #[allow(unused_mut)] // pushed to only with feature `bitcoin`
    let mut busy_clusters: Vec<Cluster> = Vec::new();
    for input in &args.inputs {
        match input {
            Input::Synthetic(cfg) => {
                eprintln!(
                    "generating synthetic case: {} transfers, seed {}",
                    cfg.transfers, cfg.seed
                );
                let case = SyntheticCase::generate(cfg);
                let mut src = case.source();
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records", stats.records);
                case_seeds.extend(case.seeds.iter().copied());
                case_clusters.extend(case.clusters.iter().cloned());
            }
            #[cfg(feature = "bitcoin")]
            Input::BitcoinBlocks(paths) => {
                use fundtrace::sources::bitcoin::{BlkOptions, BlkSource};
                let mut opts = BlkOptions::new(args.btc.network);
                opts.heights = args.btc.heights.clone();
                eprintln!(
                    "indexing Bitcoin block files: {}",
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut src = BlkSource::open(paths, opts).map_err(|e| e.to_string())?;
                eprintln!(
                    "  best chain: {} blocks from height {}",
                    src.chain_len(),
                    src.first_height()
                );
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records", stats.records);
                for w in fundtrace::Source::warnings(&src) {
                    eprintln!("warning: {w}");
                }
            }
            #[cfg(feature = "bitcoin")]
            Input::BitcoinJson(paths) => {
                use fundtrace::sources::bitcoin::CoreFileSource;
                let mut src =
                    CoreFileSource::open(paths, args.btc.network).map_err(|e| e.to_string())?;
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!(
                    "  loaded {} records from recorded Bitcoin Core answers",
                    stats.records
                );
            }
            #[cfg(feature = "bitcoin")]
            Input::BitcoinRpc(url) => {
                use fundtrace::sources::bitcoin::{CoreRpc, CoreRpcSource, HttpOptions};
                let mut rpc = CoreRpc::new(url, args.btc.network, HttpOptions::default());
                if let Some(c) = &args.btc.cookie {
                    rpc = rpc.with_cookie(c).map_err(|e| e.to_string())?;
                }
                let range = args.btc.heights.clone().expect("checked when parsing");
                eprintln!(
                    "reading blocks {}..={} from {url}",
                    range.start(),
                    range.end()
                );
                let mut src = CoreRpcSource::new(rpc, range);
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records", stats.records);
            }
            #[cfg(feature = "bitcoin")]
            Input::Esplora(url) => {
                use fundtrace::sources::bitcoin::{Esplora, HttpOptions};
                let e = Esplora::new(url, args.btc.network, HttpOptions::default());
                let (recs, pending) = e.records(&args.btc.txs).map_err(|e| e.to_string())?;
                for p in pending {
                    eprintln!(
                        "warning: {p} is unconfirmed and has no place in time order; left out"
                    );
                }
                let stats = builder
                    .load(&mut fundtrace::MemorySource::new(
                        format!("esplora:{url}"),
                        recs,
                    ))
                    .map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records from {url}", stats.records);
            }
            #[cfg(feature = "bitcoin")]
            Input::Crawl(url) => {
                use fundtrace::sources::bitcoin::{Esplora, HttpOptions};
                use fundtrace::sources::crawl::{CrawlConfig, crawl};
                if args.seeds.is_empty() {
                    return Err("--crawl needs seeds: --seed, --seeds or --sdn".into());
                }
                #[allow(unused_mut)] // changed only with feature `cache`
                let http = HttpOptions {
                    requests_per_second: args.btc.rps,
                    ..HttpOptions::default()
                };
                let mut esplora = Esplora::new(url, args.btc.network, http);
                #[cfg(feature = "cache")]
                if let Some(path) = &args.btc.cache {
                    let cache = fundtrace::sources::cache::AnswerCache::open(path)
                        .map_err(|e| format!("--cache: {e}"))?;
                    esplora = esplora.with_cache(std::sync::Arc::new(cache));
                }
                let mut stop_at: std::collections::HashSet<Address> = args
                    .clusters
                    .iter()
                    .flat_map(|c| c.members.iter().copied())
                    .collect();
                if let Some(l) = &args.labels {
                    stop_at.extend(l.exchanges().into_values().flatten());
                }
                if !args.config.stop_at_clusters {
                    stop_at.clear();
                }
                let cfg = CrawlConfig::default()
                    .with_max_hops(args.config.max_hops)
                    .with_busy(args.btc.busy)
                    .with_max_requests(args.btc.max_requests)
                    .with_from_block(fundtrace::BlockHeight(args.btc.from_block))
                    .with_stop_at(stop_at);
                eprintln!("crawling from {} seeds through {url}", args.seeds.len());
                let mut src = crawl(&[&esplora], &args.seeds, &cfg).map_err(|e| e.to_string())?;
                let r = src.report().clone();
                eprintln!(
                    "  {} hop rounds: fetched {} addresses, {} transactions, {} requests; {} stops",
                    r.rounds,
                    r.fetched,
                    r.transactions,
                    r.requests,
                    r.stops.len()
                );
                for s in r.busy() {
                    busy_clusters
                        .push(Cluster::new(format!("busy {}", s.address), vec![s.address]));
                }
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records", stats.records);
                for w in fundtrace::Source::warnings(&src) {
                    eprintln!("warning: {w}");
                }
            }
            #[cfg(feature = "ethereum")]
            Input::EthRpc(url) => {
                use fundtrace::sources::ethereum::{EthRpc, EthRpcSource, RpcOptions, TraceMode};
                let mut rpc =
                    EthRpc::connect(url, RpcOptions::default()).map_err(|e| e.to_string())?;
                if !args.eth_traces {
                    rpc = rpc.with_traces(TraceMode::Off);
                }
                eprintln!("reading Ethereum blocks {:?} from {url}", args.eth_blocks);
                let mut src = EthRpcSource::new(rpc, args.eth_blocks);
                let loaded = builder.load(&mut src);
                if let Err(e) = loaded {
                    return Err(format!(
                        "{e}\n(blocks before {} are complete; resume with --eth-blocks {}..)",
                        src.resume_from(),
                        src.resume_from()
                    ));
                }
                for w in fundtrace::Source::warnings(&src) {
                    eprintln!("warning: {w}");
                }
                if let Some((from, _)) = src.loaded() {
                    eth_openings = Some((url.clone(), from));
                }
            }
            #[cfg(feature = "ethereum")]
            Input::EthEtl(dir) => {
                let mut src = fundtrace::sources::ethereum::EtlSource::open(dir)
                    .map_err(|e| e.to_string())?;
                let stats = builder.load(&mut src).map_err(|e| e.to_string())?;
                eprintln!("  loaded {} records from {}", stats.records, dir.display());
                for w in fundtrace::Source::warnings(&src) {
                    eprintln!("warning: {w}");
                }
            }
        }
    }
    let synthetic_only = args.inputs.iter().all(|i| matches!(i, Input::Synthetic(_)));
    if !synthetic_only
        && (args.seeds.is_empty() || (args.clusters.is_empty() && args.labels.is_none()))
        && case_seeds.is_empty()
    {
        return Err("with real data, give --seed/--seeds and --cluster or --labels".into());
    }
    #[allow(unused_mut)] // mutated only with feature `ethereum`
    let mut graph: FlowGraph = match &args.load {
        Some(path) => {
            let (g, case) = FlowGraph::load(path).map_err(|e| e.to_string())?;
            eprintln!(
                "loaded snapshot {} ({:.1} s)",
                path.display(),
                t0.elapsed().as_secs_f64()
            );
            case_seeds = case.seeds;
            case_clusters = case.clusters;
            g
        }
        None => {
            let t = Instant::now();
            let g = builder.freeze().map_err(|e| e.to_string())?;
            eprintln!("froze the graph in {:.1} s", t.elapsed().as_secs_f64());
            g
        }
    };
    let mem = graph.memory_use();
    eprintln!(
        "graph: {} addresses, {} events, {} legs, {:.1} MiB traversal + {:.1} MiB address book ({:.1} s){}",
        graph.address_count(),
        graph.event_count(),
        graph.leg_count(),
        mem.traversal_bytes as f64 / (1 << 20) as f64,
        mem.book_bytes as f64 / (1 << 20) as f64,
        t0.elapsed().as_secs_f64(),
        resident()
    );
    let seeds = if args.seeds.is_empty() {
        case_seeds
    } else {
        args.seeds.clone()
    };
    let mut clustering = None;
    let clusters = if !args.clusters.is_empty() {
        args.clusters.clone()
    } else if let Some(labels) = &args.labels {
        let t = Instant::now();
        let c = fundtrace::cluster::Clustering::build(
            &graph,
            labels,
            &fundtrace::cluster::ClusterConfig::default(),
        );
        let st = c.stats();
        let found = c.exchange_clusters();
        eprintln!(
            "clustering: {} exchange clusters, {} members; {} multi-input transactions, {} coinjoins skipped, {} merges refused, {} deposit addresses ({:.2} s)",
            found.len(),
            found.iter().map(|c| c.members.len()).sum::<usize>(),
            st.multi_input_txs,
            st.coinjoins,
            st.refused,
            st.deposits,
            t.elapsed().as_secs_f64()
        );
        clustering = Some(c);
        found
    } else {
        case_clusters
    };
    let mut clusters = clusters;
    clusters.extend(busy_clusters);
    if let Some(path) = &args.save {
        let case = fundtrace::snapshot::CaseInfo {
            seeds: seeds.clone(),
            clusters: clusters.clone(),
        };
        graph.save(path, &case).map_err(|e| e.to_string())?;
        eprintln!("saved snapshot {}", path.display());
    }
    #[cfg(feature = "ethereum")]
    if let Some((url, from)) = eth_openings.filter(|(_, from)| *from > 0) {
        use fundtrace::sources::ethereum::{EthRpc, RpcOptions};
        let tracer = fundtrace::Tracer::new(&graph, &clusters).map_err(|e| e.to_string())?;
        let holders = tracer.value_holders(&seeds, &args.config);
        drop(tracer);
        let rpc = EthRpc::connect(&url, RpcOptions::default()).map_err(|e| e.to_string())?;
        let balances = rpc
            .opening_balances(&holders, from - 1)
            .map_err(|e| e.to_string())?;
        graph = graph.with_opening_balances(balances);
        let kept = graph.opening_balances().len();
        eprintln!("opening balances: {kept} fetched at block {}", from - 1);
    }
    let t1 = Instant::now();
    let outcome =
        trace_seeds(&graph, &seeds, &clusters, &args.config).map_err(|e| e.to_string())?;
    eprintln!(
        "traced {} seeds to {} clusters: {} findings ({:.3} s)",
        seeds.len(),
        clusters.len(),
        outcome.findings.len(),
        t1.elapsed().as_secs_f64()
    );
    let mut report = TraceReport::new(&graph, &seeds, &clusters, &args.config, outcome);
    if let Some(c) = &clustering {
        report.add_member_evidence(c);
    }
    if let Some(labels) = &args.labels {
        report.add_screening(labels);
        for h in &report.screening {
            let f = &report.findings[h.finding];
            eprintln!(
                "screening: {} (hop {}) on the path {} -> {} is labelled {}",
                h.address,
                h.hop,
                f.seed,
                f.cluster,
                h.labels
                    .iter()
                    .map(|l| l.text.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        print_table(&graph, &report);
    }
    if let Some(p) = &args.json {
        let json = report.to_json().map_err(|e| e.to_string())?;
        std::fs::write(p, json + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &args.csv {
        let f = std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?;
        report
            .write_csv(std::io::BufWriter::new(f))
            .map_err(|e| e.to_string())?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &args.dot {
        std::fs::write(p, report.to_dot()).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn units(graph: &FlowGraph, asset: &fundtrace::Asset, v: fundtrace::Amount) -> String {
    match graph.asset_info(asset) {
        Some(info) => v.format_units(info.decimals),
        None => v.to_string(),
    }
}

fn symbol(graph: &FlowGraph, asset: &fundtrace::Asset) -> String {
    graph
        .asset_info(asset)
        .map_or_else(|| asset.to_string(), |i| i.symbol.clone())
}

fn short(a: &Address) -> String {
    let p = a.plain();
    if p.len() > 16 {
        format!("{}…{}", &p[..8], &p[p.len() - 6..])
    } else {
        p
    }
}

fn print_table(graph: &FlowGraph, report: &TraceReport) {
    let mut out = std::io::stdout().lock();
    let models = &report.meta.parameters.models;
    let head: Vec<String> = models.iter().map(|m| m.name().to_string()).collect();
    let _ = writeln!(
        out,
        "{:<18} {:<10} {:>4}  {:<20}  {:<6} {}",
        "seed",
        "cluster",
        "hops",
        "first arrival",
        "asset",
        head.join(" / ")
    );
    for f in &report.findings {
        let arrival = f.first_arrival.as_ref().map_or("-".to_string(), |a| {
            format!("{} #{}", &a.time_utc[..10], a.height)
        });
        let mut first = true;
        let rows: Vec<_> = if f.value.is_empty() {
            vec![None]
        } else {
            f.value.iter().map(Some).collect()
        };
        for row in rows {
            let (asset, vals) = match row {
                Some((asset, m)) => (
                    symbol(graph, asset),
                    models
                        .iter()
                        .map(|k| units(graph, asset, m[k]))
                        .collect::<Vec<_>>()
                        .join(" / "),
                ),
                None => ("-".into(), "no value arrived in time order".into()),
            };
            if first {
                let _ = writeln!(
                    out,
                    "{:<18} {:<10} {:>4}  {:<20}  {:<6} {}",
                    short(&f.seed),
                    f.cluster,
                    f.min_hops,
                    arrival,
                    asset,
                    vals
                );
                first = false;
            } else {
                let _ = writeln!(
                    out,
                    "{:<18} {:<10} {:>4}  {:<20}  {:<6} {}",
                    "", "", "", "", asset, vals
                );
            }
        }
    }
    if let Some(f) = strongest(&report.findings) {
        let _ = writeln!(
            out,
            "\nstrongest finding (fewest hops, then earliest arrival): {} -> {} via {}",
            f.seed, f.cluster, f.member
        );
        for (i, s) in f.path.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} -> {}\n     tx {} (block {}, {}), {} {}",
                i + 1,
                s.from,
                s.to,
                s.tx,
                s.height,
                s.time,
                units(graph, &s.asset, s.amount),
                symbol(graph, &s.asset)
            );
        }
    }
    if report.findings.is_empty() {
        let _ = writeln!(
            out,
            "no cluster reached within {} hops",
            report.meta.parameters.max_hops
        );
    }
}

/// Fewest hops, then earliest first arrival, then report order.
fn strongest(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().min_by_key(|f| {
        (
            f.min_hops,
            f.first_arrival.as_ref().map(|a| (a.time, a.height)),
        )
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n(run with --help for the options)");
            return ExitCode::from(2);
        }
    };
    if !args.quiet {
        progress::install();
    }
    let result = match args.threads {
        Some(n) => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
            Ok(pool) => pool.install(|| run(args)),
            Err(e) => Err(format!("cannot start {n} threads: {e}")),
        },
        None => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The process's resident and peak resident memory, where the system says
/// (Linux); empty elsewhere.
fn resident() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return String::new();
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(r), Some(p)) => format!("; resident {} MiB, peak {} MiB", r / 1024, p / 1024),
        _ => String::new(),
    }
}
