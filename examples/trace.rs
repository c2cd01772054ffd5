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

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
use fundtrace::{
    Address, Cluster, Finding, FlowGraph, GraphBuilder, Model, Source, TraceConfig, TraceReport,
    trace_seeds,
};

const HELP: &str = "\
trace: follow money from seed addresses to exchange clusters

USAGE: trace [OPTIONS]

Without data options, traces the built-in default case (KIM Sang Man's four
OFAC-listed addresses through a synthetic Bitcoin/Ethereum case).

DATA
  --synthetic N          generate a synthetic case of about N transfers
                         (default case: 200000)
  --synthetic-seed N     random seed of the synthetic case (default 43377)
  --btc-blocks PATH      Bitcoin Core blk*.dat file or blocks/ directory
                         (repeatable; feature `bitcoin`)
  --btc-network NAME     mainnet, testnet, testnet4, signet, regtest (default mainnet)
  --btc-height FROM..TO  only blocks in this height range (either end may be empty;
                         required with --btc-rpc)
  --btc-json PATH        recorded Bitcoin Core getblock/getrawtransaction answers
                         (a JSON file or a folder of them; repeatable)
  --btc-rpc URL          a live Bitcoin Core node (http://user:pass@host:port)
  --btc-cookie FILE      Bitcoin Core's .cookie file for --btc-rpc
  --esplora URL          an Esplora API (http://host:port/api), with --btc-tx or --crawl
  --btc-tx TXID          a transaction to fetch from --esplora (repeatable)
  --eth-rpc URL          a live Ethereum JSON-RPC node (http://host:port; feature `ethereum`);
                         with a range starting after genesis, the opening balances the
                         value models need are fetched at the block before it
  --eth-blocks FROM..TO  Ethereum blocks to read (FROM.. = to the head; default: the whole
                         chain the node has)
  --eth-etl DIR          an ethereum-etl / BigQuery CSV export folder (repeatable)
  --no-traces            do not ask the node for traces (internal transfers are then not seen)

CRAWL (fetch only the seeds' neighbourhood; feature `bitcoin`)
  --crawl                crawl from the seeds through --esplora instead of loading
                         whole chains: hop by hop, each reached address fetched once
                         with its history; clusters (--cluster, labelled exchanges)
                         and busy addresses are not crawled past
  --busy N               an address with more than N transactions is a service: the
                         crawl stops there and the trace reports it as a cluster
                         named 'busy ADDRESS' (default 1000)
  --max-requests N       request budget; when it runs out the report says so
  --from-block N         fetch history from this block on (default 0)
  --cache FILE           keep every answer in this SQLite file (feature `cache`): a rerun
                         sends no request, an interrupted crawl resumes where it stopped,
                         and the report names the file and a digest of the answers used

SEEDS AND TARGETS
  --seed ADDR            a seed address (repeatable; default: the case's seeds)
  --seeds FILE           seed addresses, one per line
  --sdn FILE             OFAC SDN list (SDN.CSV, sdn.xml or sdn_advanced.xml, detected);
                         its addresses become seeds (all entries, or those of --entity)
  --entity NUM|NAME      an SDN entry number or a name (repeatable)
  --labels FILE          GraphSense tag pack, label CSV, Etherscan or Forta export
                         (repeatable). Unless --cluster is given, the labelled
                         exchanges, grown by common-input ownership and deposit
                         forwarding, become the target clusters; evidence paths
                         are screened against all labels
  --cluster NAME=ADDR[,ADDR...]
                         a target cluster (repeatable; default: the case's exchanges)

TRACE
  --max-hops N           most hops from a seed (default 10)
  --model M              poison, haircut or fifo (repeatable; default all)
  --no-time-order        plain reachability instead of time-respecting hops
  --through-clusters     let taint pass through cluster members
  --max-edges N          work budget per seed: stop the search after the layer at which
                         it has scanned N edges (the report marks the seed truncated)
  --search S             auto, frontier or stream: how hops are searched (default auto:
                         the frontier search, and one pass over the events for the
                         seeds that reach far when at least four do)
  --threads N            worker threads (default: all cores)

SNAPSHOTS
  --save FILE            save the loaded graph (with the seeds and clusters) to FILE
  --load FILE            trace a saved graph instead of loading data

OUTPUT
  --json FILE            write the full report as JSON
  --csv FILE             write findings as CSV
  --dot FILE             write the evidence paths as Graphviz DOT
  --quiet                print no table and no progress
  -h, --help             this text
";

/// Where records come from. New adapters add variants here and a flag above.
#[derive(Debug)]
enum Input {
    Synthetic(SyntheticConfig),
    #[cfg(feature = "bitcoin")]
    BitcoinBlocks(Vec<PathBuf>),
    #[cfg(feature = "bitcoin")]
    BitcoinJson(Vec<PathBuf>),
    #[cfg(feature = "bitcoin")]
    BitcoinRpc(String),
    #[cfg(feature = "bitcoin")]
    Esplora(String),
    #[cfg(feature = "bitcoin")]
    Crawl(String),
    #[cfg(feature = "ethereum")]
    EthRpc(String),
    #[cfg(feature = "ethereum")]
    EthEtl(PathBuf),
}

#[derive(Debug)]
struct Args {
    inputs: Vec<Input>,
    seeds: Vec<Address>,
    clusters: Vec<Cluster>,
    config: TraceConfig,
    threads: Option<usize>,
    json: Option<PathBuf>,
    csv: Option<PathBuf>,
    dot: Option<PathBuf>,
    save: Option<PathBuf>,
    load: Option<PathBuf>,
    labels: Option<fundtrace::LabelSet>,
    quiet: bool,
    #[cfg(feature = "bitcoin")]
    btc: Btc,
    #[cfg(feature = "ethereum")]
    eth_blocks: fundtrace::sources::ethereum::BlockRange,
    #[cfg(feature = "ethereum")]
    eth_traces: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut synthetic = SyntheticConfig::default();
    let mut synthetic_set = false;
    #[cfg(feature = "bitcoin")]
    let mut btc_blocks: Vec<PathBuf> = Vec::new();
    #[cfg(feature = "bitcoin")]
    let mut btc = Btc::default();
    let mut models: Vec<Model> = Vec::new();
    let mut sdn: Option<PathBuf> = None;
    let mut entities: Vec<fundtrace::seeds::ofac::EntitySelector> = Vec::new();
    let mut labels = fundtrace::LabelSet::new();
    let mut labels_given = false;
    let mut a = Args {
        inputs: Vec::new(),
        seeds: Vec::new(),
        clusters: Vec::new(),
        config: TraceConfig::default(),
        threads: None,
        json: None,
        csv: None,
        dot: None,
        save: None,
        load: None,
        labels: None,
        quiet: false,
        #[cfg(feature = "bitcoin")]
        btc: Btc::default(),
        #[cfg(feature = "ethereum")]
        eth_blocks: fundtrace::sources::ethereum::BlockRange::ToHead(0),
        #[cfg(feature = "ethereum")]
        eth_traces: true,
    };
    let text = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "argument is not UTF-8".to_string())
    };
    let num = |s: String, what: &str| s.parse::<u64>().map_err(|e| format!("{what} {s:?}: {e}"));
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            Long("synthetic") => {
                synthetic.transfers = num(text(&mut p)?, "--synthetic")?;
                synthetic_set = true;
            }
            Long("synthetic-seed") => {
                synthetic.seed = num(text(&mut p)?, "--synthetic-seed")?;
                synthetic_set = true;
            }
            #[cfg(feature = "bitcoin")]
            Long("btc-blocks") => btc_blocks.push(text(&mut p)?.into()),
            #[cfg(feature = "bitcoin")]
            Long("btc-json") => btc.json.push(text(&mut p)?.into()),
            #[cfg(feature = "bitcoin")]
            Long("btc-rpc") => btc.rpc = Some(text(&mut p)?),
            #[cfg(feature = "bitcoin")]
            Long("btc-cookie") => btc.cookie = Some(text(&mut p)?.into()),
            #[cfg(feature = "bitcoin")]
            Long("esplora") => btc.esplora = Some(text(&mut p)?),
            #[cfg(feature = "bitcoin")]
            Long("crawl") => btc.crawl = true,
            #[cfg(all(feature = "bitcoin", feature = "cache"))]
            Long("cache") => btc.cache = Some(text(&mut p)?.into()),
            #[cfg(feature = "bitcoin")]
            Long("busy") => btc.busy = num(text(&mut p)?, "--busy")?,
            #[cfg(feature = "bitcoin")]
            Long("max-requests") => btc.max_requests = Some(num(text(&mut p)?, "--max-requests")?),
            #[cfg(feature = "bitcoin")]
            Long("from-block") => btc.from_block = num(text(&mut p)?, "--from-block")?,
            #[cfg(feature = "bitcoin")]
            Long("btc-tx") => btc.txs.push(text(&mut p)?),
            #[cfg(feature = "bitcoin")]
            Long("btc-network") => {
                btc.network = fundtrace::sources::bitcoin::parse_network(&text(&mut p)?)
                    .map_err(|e| format!("--btc-network: {e}"))?;
            }
            #[cfg(feature = "bitcoin")]
            Long("btc-height") => {
                btc.heights =
                    Some(parse_range(&text(&mut p)?).map_err(|e| format!("--btc-height: {e}"))?)
            }
            #[cfg(feature = "ethereum")]
            Long("eth-rpc") => a.inputs.push(Input::EthRpc(text(&mut p)?)),
            #[cfg(feature = "ethereum")]
            Long("eth-etl") => a.inputs.push(Input::EthEtl(text(&mut p)?.into())),
            #[cfg(feature = "ethereum")]
            Long("eth-blocks") => {
                a.eth_blocks = fundtrace::sources::ethereum::BlockRange::parse(&text(&mut p)?)
                    .map_err(|e| e.to_string())?;
            }
            #[cfg(feature = "ethereum")]
            Long("no-traces") => a.eth_traces = false,
            Long("sdn") => sdn = Some(PathBuf::from(text(&mut p)?)),
            Long("entity") => entities.push(
                text(&mut p)?
                    .parse()
                    .map_err(|e| format!("--entity: {e}"))?,
            ),
            Long("labels") => {
                let path = PathBuf::from(text(&mut p)?);
                labels
                    .merge(fundtrace::LabelSet::load(&path).map_err(|e| format!("--labels: {e}"))?);
                labels_given = true;
            }
            Long("seed") => {
                let s = text(&mut p)?;
                a.seeds
                    .push(Address::parse(&s).map_err(|e| format!("--seed: {e}"))?);
            }
            Long("seeds") => {
                let path = PathBuf::from(text(&mut p)?);
                a.seeds.extend(
                    fundtrace::seeds::read_address_list(&path)
                        .map_err(|e| format!("--seeds: {e}"))?,
                );
            }
            Long("cluster") => {
                let s = text(&mut p)?;
                let (name, members) = s
                    .split_once('=')
                    .ok_or(format!("--cluster {s:?}: expected NAME=ADDR[,ADDR...]"))?;
                let members = members
                    .split(',')
                    .filter(|m| !m.trim().is_empty())
                    .map(|m| Address::parse(m).map_err(|e| format!("--cluster {name}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                a.clusters.push(Cluster::new(name, members));
            }
            Long("max-hops") => {
                let n = num(text(&mut p)?, "--max-hops")?;
                a.config.max_hops =
                    u32::try_from(n).map_err(|_| format!("--max-hops {n}: too large"))?;
            }
            Long("model") => models.push(
                text(&mut p)?
                    .parse::<Model>()
                    .map_err(|e| format!("--model: {e}"))?,
            ),
            Long("no-time-order") => a.config.time_respecting = false,
            Long("through-clusters") => a.config.stop_at_clusters = false,
            Long("max-edges") => {
                a.config.max_edges_per_seed = Some(num(text(&mut p)?, "--max-edges")?);
            }
            Long("search") => {
                a.config.search = text(&mut p)?
                    .parse()
                    .map_err(|e| format!("--search: {e}"))?;
            }
            Long("threads") => {
                let n = num(text(&mut p)?, "--threads")?;
                if n == 0 {
                    return Err("--threads must be at least 1".into());
                }
                a.threads =
                    Some(usize::try_from(n).map_err(|_| format!("--threads {n}: too large"))?);
            }
            Long("json") => a.json = Some(text(&mut p)?.into()),
            Long("save") => a.save = Some(text(&mut p)?.into()),
            Long("load") => a.load = Some(text(&mut p)?.into()),
            Long("csv") => a.csv = Some(text(&mut p)?.into()),
            Long("dot") => a.dot = Some(text(&mut p)?.into()),
            Long("quiet") => a.quiet = true,
            other => return Err(other.unexpected().to_string()),
        }
    }
    if !models.is_empty() {
        a.config.models = models;
    }
    if !entities.is_empty() && sdn.is_none() {
        return Err("--entity needs --sdn FILE".into());
    }
    if let Some(path) = sdn {
        let list = fundtrace::seeds::ofac::load(&path).map_err(|e| format!("--sdn: {e}"))?;
        let list = if entities.is_empty() {
            list
        } else {
            list.select(&entities)
                .map_err(|e| format!("--entity: {e}"))?
        };
        for t in &list.truncated {
            eprintln!(
                "warning: SDN entry {} has cut-off remarks ({:?}); no fragment became a seed",
                t.number.0, t.fragment
            );
        }
        for s in &list.skipped {
            eprintln!(
                "note: SDN listing {} {:?} skipped: {:?}",
                s.listing.tag, s.listing.raw, s.reason
            );
        }
        let seeds = list.seeds();
        let listings: usize = seeds.iter().map(|s| s.listings.len()).sum();
        eprintln!(
            "SDN: {} seed addresses from {listings} listings",
            seeds.len()
        );
        a.seeds.extend(seeds.into_iter().map(|s| s.address));
    }
    if labels_given {
        a.labels = Some(labels);
    }
    #[cfg(feature = "bitcoin")]
    {
        if !btc_blocks.is_empty() {
            a.inputs.push(Input::BitcoinBlocks(btc_blocks));
        }
        if !btc.json.is_empty() {
            a.inputs.push(Input::BitcoinJson(btc.json.clone()));
        }
        if let Some(url) = &btc.rpc {
            if btc.heights.is_none() {
                return Err("--btc-rpc needs --btc-height FROM..TO".into());
            }
            a.inputs.push(Input::BitcoinRpc(url.clone()));
        }
        if btc.crawl {
            let url = btc
                .esplora
                .clone()
                .ok_or("--crawl needs an index to crawl: --esplora URL")?;
            a.inputs.push(Input::Crawl(url.clone()));
            if !btc.txs.is_empty() {
                a.inputs.push(Input::Esplora(url));
            }
        } else if let Some(url) = &btc.esplora {
            if btc.txs.is_empty() {
                return Err("--esplora needs at least one --btc-tx TXID or --crawl".into());
            }
            a.inputs.push(Input::Esplora(url.clone()));
        }
        a.btc = btc;
    }
    if a.load.is_some() && (!a.inputs.is_empty() || synthetic_set) {
        return Err("--load replaces the data options; give one or the other".into());
    }
    if a.load.is_none() && (a.inputs.is_empty() || synthetic_set) {
        a.inputs.push(Input::Synthetic(synthetic));
    }
    Ok(Some(a))
}

/// Bitcoin options shared by the Bitcoin inputs.
#[cfg(feature = "bitcoin")]
#[derive(Debug, Clone)]
struct Btc {
    network: fundtrace::BitcoinNetwork,
    heights: Option<std::ops::RangeInclusive<u64>>,
    json: Vec<PathBuf>,
    rpc: Option<String>,
    cookie: Option<PathBuf>,
    esplora: Option<String>,
    txs: Vec<String>,
    crawl: bool,
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    cache: Option<PathBuf>,
    busy: u64,
    max_requests: Option<u64>,
    from_block: u64,
}

#[cfg(feature = "bitcoin")]
impl Default for Btc {
    fn default() -> Self {
        Btc {
            network: fundtrace::BitcoinNetwork::Mainnet,
            heights: None,
            json: Vec::new(),
            rpc: None,
            cookie: None,
            esplora: None,
            txs: Vec::new(),
            crawl: false,
            cache: None,
            busy: 1_000,
            max_requests: None,
            from_block: 0,
        }
    }
}

/// `FROM..TO`, `FROM..` or `..TO` (inclusive).
#[cfg(feature = "bitcoin")]
fn parse_range(s: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or(format!("{s:?}: expected FROM..TO"))?;
    let num = |x: &str, d: u64| {
        if x.is_empty() {
            Ok(d)
        } else {
            x.parse::<u64>().map_err(|e| format!("{s:?}: {e}"))
        }
    };
    let (from, to) = (num(a, 0)?, num(b, u64::MAX)?);
    if from > to {
        return Err(format!("{s:?}: empty range"));
    }
    Ok(from..=to)
}

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
                for w in Source::warnings(&src) {
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
                let mut esplora = Esplora::new(url, args.btc.network, HttpOptions::default());
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
                for w in Source::warnings(&src) {
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
                for w in Source::warnings(&src) {
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
                for w in Source::warnings(&src) {
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
