//! The trace example's command line: its help text, the inputs it names
//! and the parsed arguments.

use std::path::PathBuf;

use fundtrace::synthetic::SyntheticConfig;
use fundtrace::{Address, Cluster, Model, TraceConfig};

pub const HELP: &str = "\
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
  --rps N                at most N requests per second to the index (default: no limit)
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
pub enum Input {
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
pub struct Args {
    pub inputs: Vec<Input>,
    pub seeds: Vec<Address>,
    pub clusters: Vec<Cluster>,
    pub config: TraceConfig,
    pub threads: Option<usize>,
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub dot: Option<PathBuf>,
    pub save: Option<PathBuf>,
    pub load: Option<PathBuf>,
    pub labels: Option<fundtrace::LabelSet>,
    pub quiet: bool,
    #[cfg(feature = "bitcoin")]
    pub btc: Btc,
    #[cfg(feature = "ethereum")]
    pub eth_blocks: fundtrace::sources::ethereum::BlockRange,
    #[cfg(feature = "ethereum")]
    pub eth_traces: bool,
}

pub fn parse_args() -> Result<Option<Args>, String> {
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
            Long("rps") => {
                let n = num(text(&mut p)?, "--rps")?;
                btc.rps = Some(u32::try_from(n).map_err(|_| format!("--rps {n}: too large"))?);
            }
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
pub struct Btc {
    pub network: fundtrace::BitcoinNetwork,
    pub heights: Option<std::ops::RangeInclusive<u64>>,
    pub json: Vec<PathBuf>,
    pub rpc: Option<String>,
    pub cookie: Option<PathBuf>,
    pub esplora: Option<String>,
    pub txs: Vec<String>,
    pub crawl: bool,
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub cache: Option<PathBuf>,
    pub busy: u64,
    pub rps: Option<u32>,
    pub max_requests: Option<u64>,
    pub from_block: u64,
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
            rps: None,
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
