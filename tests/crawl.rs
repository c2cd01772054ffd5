//! The crawl against a loopback Esplora server over real blocks: it must
//! give the findings a whole-chain load gives, while fetching a small part
//! of the chain.
#![cfg(feature = "bitcoin")]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use bitcoin::Block;
use common::esplora::{Esplora as Server, check_format};
use fundtrace::sources::bitcoin::{BlkOptions, BlkSource, Esplora, HttpOptions};
use fundtrace::sources::crawl::{CrawlConfig, StopReason, crawl};
use fundtrace::{
    Address, BitcoinNetwork, Cluster, FlowGraph, GraphBuilder, Source, TraceConfig, TraceOutcome,
    trace_seeds,
};

/// Blocks 1–255 from the blk-framed file, with their heights.
fn blocks_1_to_255(d: &Path) -> Vec<(u64, Block)> {
    let blocks = common::esplora::read_blk_framed(
        &d.join("blk_files/mainnet_blocks_1_to_255_blkframed.dat"),
        1,
    );
    assert_eq!(blocks.len(), 255);
    blocks
}

/// Requests served, by kind (see `common::esplora::Esplora::serve`).
type Counts = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// The loopback Esplora over blocks 1–255, and its request counts; `None`
/// (the test skips) without the test data.
fn block9_server() -> Option<(common::replay::Replay, Counts)> {
    let d = common::data_dir()?.join("chain/bitcoin");
    Some(Arc::new(Server::new(&blocks_1_to_255(&d))).serve())
}

/// Block 9's coinbase recipient.
fn block9_seed() -> Address {
    "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap()
}

/// An Esplora client for a loopback server at `url`.
fn client(url: &str, opts: HttpOptions) -> Esplora {
    Esplora::new(&format!("{url}/api"), BitcoinNetwork::Mainnet, opts)
}

fn whole_chain(d: &Path) -> FlowGraph {
    let mut src = BlkSource::open(
        &[d.join("blk_files/mainnet_blocks_1_to_255_blkframed.dat")],
        BlkOptions::new(BitcoinNetwork::Mainnet),
    )
    .unwrap();
    let mut b = GraphBuilder::new();
    b.load(&mut src).unwrap();
    b.freeze().unwrap()
}

/// The recipients the blk-file test names, each its own cluster.
fn clusters() -> Vec<Cluster> {
    [
        ("hal", "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3"),
        ("h181", "1DUDsfc23Dv9sPMEk5RsrtfzCw5ofi5sVW"),
        ("h182", "1LzBzVqEeuQyjD2mRWHes3dgWrT9titxvq"),
        ("h183", "13HtsYzne8xVPdGDnmJX8gHgBZerAfJGEf"),
        ("h187", "15NUwyBYrZcnUgTagsm1A7M2yL2GntpuaZ"),
        ("h221", "1BDvQZjaAJH4ecZ8aL3fYgTi7rnn3o2thE"),
        ("h248", "1ByLSV2gLRcuqUmfdYcpPQH8Npm8cccsFg"),
    ]
    .iter()
    .map(|(n, a)| Cluster::new(*n, vec![a.parse().unwrap()]))
    .collect()
}

fn quick() -> HttpOptions {
    HttpOptions {
        retries: 0,
        ..HttpOptions::default()
    }
}

fn real_esplora_answers(d: &Path) -> Vec<serde_json::Value> {
    let mut real = Vec::new();
    for f in std::fs::read_dir(d.join("esplora")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        real.push(serde_json::from_str(&text).unwrap());
    }
    real
}

/// The served transactions have the format of the recorded real Esplora
/// answers, field by field.
#[test]
fn the_loopback_esplora_answers_in_the_real_format() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let server = Server::new(&blocks_1_to_255(&d));
    check_format(server.all_txs(), &real_esplora_answers(&d));
    // And the format check is not vacuous: a renamed field fails it.
    let mut t = server.all_txs().next().unwrap().clone();
    t["blockheight"] = t["status"]["block_height"].take();
    let bad =
        std::panic::catch_unwind(|| check_format(std::iter::once(&t), &real_esplora_answers(&d)));
    assert!(bad.is_err());
}

fn trace(g: &FlowGraph, seed: Address, stop_at_clusters: bool) -> TraceOutcome {
    let cfg = TraceConfig::default().with_stop_at_clusters(stop_at_clusters);
    trace_seeds(g, &[seed], &clusters(), &cfg).unwrap()
}

/// Crawling from block 9's coinbase recipient gives exactly the findings of
/// the whole blk-file load (hops, first arrival, paths, all three models'
/// values), with and without clusters absorbing, and fetches a small part
/// of the chain.
#[test]
fn crawl_from_the_block_9_coinbase_matches_the_whole_chain() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let whole = whole_chain(&d);
    let server = Arc::new(Server::new(&blocks_1_to_255(&d)));
    let (http, counts) = server.serve();
    let seed: Address = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap();
    let members: HashSet<Address> = clusters()
        .iter()
        .flat_map(|c| c.members.iter().copied())
        .collect();
    for absorb in [false, true] {
        let esplora = Esplora::new(
            &format!("{}/api", http.url),
            BitcoinNetwork::Mainnet,
            quick(),
        );
        let mut cfg = CrawlConfig::default();
        if absorb {
            cfg = cfg.with_stop_at(members.clone());
        }
        let mut crawled = crawl(&[&esplora], &[seed], &cfg).unwrap();
        let report = crawled.report().clone();
        let mut b = GraphBuilder::new();
        b.load(&mut crawled).unwrap();
        let g = b.freeze().unwrap();
        let want = trace(&whole, seed, absorb);
        let got = trace(&g, seed, absorb);
        // With clusters absorbing, the two recipients two hops out are
        // reached only through recipients one hop out.
        assert_eq!(got.findings.len(), if absorb { 5 } else { 7 });
        assert_eq!(got.findings, want.findings, "absorb {absorb}");
        // A small part of the chain: of 262 transactions, what the seed's
        // neighbourhood touches.
        assert!(
            report.transactions * 5 < 262,
            "{} transactions fetched",
            report.transactions
        );
        assert!(report.fetched > 0 && report.fetched * 5 < whole.address_count() as u64);
        assert_eq!(report.requests, esplora.requests());
        assert!(!report.truncated);
        if absorb {
            let stopped: HashSet<Address> = report
                .stops
                .iter()
                .filter(|s| s.reason == StopReason::StopAt)
                .map(|s| s.address)
                .collect();
            assert!(!stopped.is_empty() && stopped.is_subset(&members));
        }
    }
    // Every request was one Esplora serves; each block's txids once per client.
    let counts = counts.lock().unwrap().clone();
    assert!(
        counts
            .keys()
            .all(|k| ["stats", "txs", "block"].contains(&k.as_str())),
        "{counts:?}"
    );
}

/// An address with more transactions than the busy limit is a stop,
/// reported with its count, and its history is not paged through.
#[test]
fn busy_addresses_stop_the_crawl_and_are_reported() {
    let Some((http, counts)) = block9_server() else {
        return;
    };
    let seed = block9_seed();
    let esplora = client(&http.url, quick());
    // The seed's own count is over the limit too: seeds are fetched anyway.
    let crawled = crawl(&[&esplora], &[seed], &CrawlConfig::default().with_busy(1)).unwrap();
    let report = crawled.report();
    let busy: Vec<_> = report.busy().collect();
    assert!(!busy.is_empty());
    for s in &busy {
        assert!(matches!(s.reason, StopReason::Busy { transactions } if transactions > 1));
        assert_eq!(s.hops, 1, "nothing past a busy address is reached");
    }
    assert!(
        crawled
            .warnings()
            .iter()
            .any(|w| w.contains("over the busy limit")),
        "{:?}",
        crawled.warnings()
    );
    // A count for every address reached; history pages (one each, for at
    // most 25 transactions) only for those fetched, never the busy ones.
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts["stats"] as u64, report.fetched + busy.len() as u64);
    assert_eq!(counts["txs"] as u64, report.fetched);
}

/// `requests_per_second` paces the requests: the crawl's requests cannot
/// all go faster than the rate allows (a lower bound, whatever the machine).
#[test]
fn requests_are_paced() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let server = Arc::new(Server::new(&blocks_1_to_255(&d)));
    let (http, _) = server.serve();
    let seed: Address = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap();
    let opts = HttpOptions {
        requests_per_second: Some(40),
        ..quick()
    };
    let esplora = Esplora::new(&format!("{}/api", http.url), BitcoinNetwork::Mainnet, opts);
    let t = std::time::Instant::now();
    let crawled = crawl(&[&esplora], &[seed], &CrawlConfig::default()).unwrap();
    let n = crawled.report().requests;
    assert!(n > 10);
    // n requests at 40 per second: the last goes (n - 1) / 40 s after the first.
    let least = std::time::Duration::from_millis((n - 1) * 1000 / 40);
    assert!(t.elapsed() >= least, "{n} requests in {:?}", t.elapsed());
}

/// A request budget stops the crawl; the report says so and lists what
/// was not fetched.
#[test]
fn a_request_budget_truncates_the_crawl() {
    let Some((http, _)) = block9_server() else {
        return;
    };
    let seed = block9_seed();
    let esplora = client(&http.url, quick());
    let crawled = crawl(
        &[&esplora],
        &[seed],
        &CrawlConfig::default().with_max_requests(Some(3)),
    )
    .unwrap();
    let report = crawled.report();
    assert!(report.truncated);
    assert!(report.stops.iter().any(|s| s.reason == StopReason::Budget));
    assert!(
        crawled
            .warnings()
            .iter()
            .any(|w| w.contains("request budget ran out"))
    );
}

/// A server that dies mid-crawl gives an error naming the server, the
/// request and the address.
#[test]
fn a_failing_server_is_a_clear_error() {
    let seed: Address = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap();
    let broken = common::replay::Replay::start(Arc::new(|_, url, _, _| {
        if url.ends_with("/txs/chain") {
            (200, "[{\"txid\": \"00".into())
        } else {
            (
                200,
                r#"{"address":"x","chain_stats":{"funded_txo_count":1,"funded_txo_sum":5,"spent_txo_count":0,"spent_txo_sum":0,"tx_count":1},"mempool_stats":{"funded_txo_count":0,"funded_txo_sum":0,"spent_txo_count":0,"spent_txo_sum":0,"tx_count":0}}"#.into(),
            )
        }
    }));
    let esplora = Esplora::new(
        &format!("{}/api", broken.url),
        BitcoinNetwork::Mainnet,
        quick(),
    );
    let e = crawl(&[&esplora], &[seed], &CrawlConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&broken.url)
            && e.contains("/address/12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S/txs/chain"),
        "{e}"
    );
}

/// A generated case's Bitcoin transactions served the same way: crawling
/// from its Bitcoin seeds gives the findings of loading them all.
#[cfg(feature = "synthetic")]
#[test]
fn crawl_of_a_generated_case_matches_the_whole_chain() {
    use fundtrace::Record;
    let (txs, seeds, clusters) = common::esplora::generated_bitcoin_case(150_000);
    assert!(txs.len() >= 10_000, "{} transactions", txs.len());
    assert!(seeds.len() >= 2);
    let whole =
        FlowGraph::from_records("generated", txs.iter().cloned().map(Record::Utxo).collect())
            .unwrap();
    let members: HashSet<Address> = clusters
        .iter()
        .flat_map(|c| c.members.iter().copied())
        .collect();
    let (http, _) = Arc::new(Server::from_records(&txs)).serve();
    let esplora = client(&http.url, quick());
    let cfg = CrawlConfig::default()
        .with_busy(u64::MAX)
        .with_stop_at(members);
    let mut crawled = crawl(&[&esplora], &seeds, &cfg).unwrap();
    let report = crawled.report().clone();
    let mut b = GraphBuilder::new();
    b.load(&mut crawled).unwrap();
    let g = b.freeze().unwrap();
    let tc = TraceConfig::default();
    let want = trace_seeds(&whole, &seeds, &clusters, &tc).unwrap();
    let got = trace_seeds(&g, &seeds, &clusters, &tc).unwrap();
    assert!(!want.findings.is_empty());
    assert_eq!(got.findings, want.findings);
    eprintln!("{report:?} of {} transactions", txs.len());
    assert!(report.transactions * 5 < txs.len() as u64, "{report:?}");
}

/// The value models need each fetched address's whole history: its clean
/// inflows after the money arrived (FIFO spends the oldest first) and its
/// holding from before (the haircut share). A crawl that kept only what an
/// address sends, or only what happened after the money arrived, would get
/// these values wrong.
#[test]
fn the_crawl_keeps_the_history_the_value_models_need() {
    use common::{btc, coinbase, utxo, value};
    use fundtrace::{Asset, Model, Record};
    let (seed, x, y, z, m1, m2) = (btc(1), btc(2), btc(3), btc(4), btc(5), btc(6));
    let recs = vec![
        utxo(1, 0, &[(coinbase(), 100)], &[(seed, 100)]),
        utxo(2, 0, &[(coinbase(), 2_000)], &[(y, 2_000)]),
        // Before the money arrives: x holds 1,000 clean.
        utxo(5, 1, &[(y, 2_000)], &[(x, 1_000), (y, 1_000)]),
        // The money arrives at x and at z.
        utxo(10, 1, &[(seed, 100)], &[(x, 50), (z, 10), (seed, 40)]),
        // A clean inflow to z after it.
        utxo(11, 1, &[(y, 1_000)], &[(z, 10), (y, 990)]),
        // x pays its tainted 50 on; z pays 10 of its 20.
        utxo(12, 1, &[(x, 50)], &[(m1, 50)]),
        utxo(12, 2, &[(z, 20)], &[(m2, 10), (z, 10)]),
    ];
    let txs: Vec<fundtrace::UtxoTx> = recs
        .iter()
        .map(|r| match r {
            Record::Utxo(u) => u.clone(),
            _ => unreachable!(),
        })
        .collect();
    let whole = FlowGraph::from_records("hand-built", recs).unwrap();
    let clusters = vec![Cluster::new("m1", vec![m1]), Cluster::new("m2", vec![m2])];
    let server = Arc::new(Server::from_records(&txs));
    let (http, _) = server.serve();
    let esplora = Esplora::new(
        &format!("{}/api", http.url),
        BitcoinNetwork::Mainnet,
        quick(),
    );
    let cfg = CrawlConfig::default().with_stop_at([m1, m2].into_iter().collect());
    let mut crawled = crawl(&[&esplora], &[seed], &cfg).unwrap();
    let mut b = GraphBuilder::new();
    b.load(&mut crawled).unwrap();
    let g = b.freeze().unwrap();
    let tc = TraceConfig::default();
    let want = trace_seeds(&whole, &[seed], &clusters, &tc).unwrap();
    let got = trace_seeds(&g, &[seed], &clusters, &tc).unwrap();
    assert_eq!(got.findings, want.findings);
    // The values are the ones the whole history gives. x held 1,000 clean
    // before the 50 tainted came: haircut sends 50 × 50/1,050, FIFO the
    // clean first. z's tainted 10 came before its clean 10: FIFO sends it
    // first, haircut half.
    let f = |name: &str| got.findings.iter().find(|f| f.cluster == name).unwrap();
    assert_eq!(value(f("m1"), Asset::Btc, Model::Poison), 50);
    assert_eq!(value(f("m1"), Asset::Btc, Model::Haircut), 2);
    assert_eq!(value(f("m1"), Asset::Btc, Model::Fifo), 0);
    assert_eq!(value(f("m2"), Asset::Btc, Model::Fifo), 10);
    assert_eq!(value(f("m2"), Asset::Btc, Model::Haircut), 5);
    // y is never reached, so its history is not fetched.
    assert!(!crawled.report().stops.iter().any(|s| s.address == y));
    assert_eq!(crawled.report().fetched, 3, "seed, x and z");
}

#[cfg(feature = "cache")]
mod cached {
    use super::*;
    use fundtrace::sources::cache::AnswerCache;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tmp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("fundtrace-crawl-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// Crawls with `cache` through `url`; the graph, the findings as JSON
    /// and the requests the client sent.
    fn run(url: &str, cache: &Arc<AnswerCache>) -> fundtrace::Result<(FlowGraph, String, u64)> {
        let seed: Address = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap();
        let esplora = Esplora::new(&format!("{url}/api"), BitcoinNetwork::Mainnet, quick())
            .with_cache(cache.clone());
        let mut crawled = crawl(&[&esplora], &[seed], &CrawlConfig::default())?;
        let mut b = GraphBuilder::new();
        b.load(&mut crawled)?;
        let g = b.freeze()?;
        let json = serde_json::to_string(&trace(&g, seed, false).findings).unwrap();
        Ok((g, json, esplora.requests()))
    }

    /// A rerun of the same case from its cache sends no request and gives
    /// byte-identical findings; the graph's source names the cache file
    /// and the digest of the answers used, the same both times.
    #[test]
    fn a_rerun_from_the_cache_sends_no_request() {
        let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
            return;
        };
        let server = Arc::new(Server::new(&blocks_1_to_255(&d)));
        let (http, _) = server.serve();
        let path = tmp("rerun.sqlite");
        let (g1, first, sent) =
            run(&http.url, &Arc::new(AnswerCache::open(&path).unwrap())).unwrap();
        assert!(sent > 0);
        let before = http.hits.load(Ordering::SeqCst);
        let (g2, second, sent) =
            run(&http.url, &Arc::new(AnswerCache::open(&path).unwrap())).unwrap();
        assert_eq!(sent, 0);
        assert_eq!(
            http.hits.load(Ordering::SeqCst),
            before,
            "no request reached the server"
        );
        assert_eq!(first, second);
        let (d1, d2) = (&g1.sources()[0].details, &g2.sources()[0].details);
        assert_eq!(d1["cache"], path.display().to_string());
        assert_eq!(d1["cache_answers_sha256"].len(), 64);
        assert_eq!(d1, d2);
        let _ = std::fs::remove_file(&path);
    }

    /// A server that fails midway stops the crawl with an error naming the
    /// request; the crawl resumed through a healthy server with the same
    /// cache fetches nothing twice and ends with the uninterrupted crawl's
    /// graph.
    #[test]
    fn a_crawl_resumes_from_its_cache_after_a_failure() {
        let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
            return;
        };
        let server = Arc::new(Server::new(&blocks_1_to_255(&d)));
        // The uninterrupted crawl, without a cache file of its own.
        let (whole_http, _) = server.clone().serve();
        let whole_path = tmp("whole.sqlite");
        let (whole, whole_json, whole_sent) = run(
            &whole_http.url,
            &Arc::new(AnswerCache::open(&whole_path).unwrap()),
        )
        .unwrap();
        // A server that answers 6 requests, then fails until it is
        // "restarted" (the same URL, as a resumed case would use).
        let served = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, dn, srv) = (served.clone(), down.clone(), server.clone());
        let flaky = common::replay::Replay::start(Arc::new(move |_, url, _, _| {
            if dn.load(Ordering::SeqCst) {
                return (503, "gone".into());
            }
            if s.fetch_add(1, Ordering::SeqCst) + 1 == 6 {
                dn.store(true, Ordering::SeqCst);
            }
            srv.answer(url.strip_prefix("/api").unwrap_or(url))
        }));
        let path = tmp("resume.sqlite");
        let cache = Arc::new(AnswerCache::open(&path).unwrap());
        let Err(e) = run(&flaky.url, &cache) else {
            panic!("the server fails midway, so the crawl must fail");
        };
        let e = e.to_string();
        assert!(e.contains(&flaky.url) && e.contains("http 503"), "{e}");
        assert_eq!(cache.stats().stored, 6);
        drop(cache);
        down.store(false, Ordering::SeqCst);
        let (resumed, json, sent) =
            run(&flaky.url, &Arc::new(AnswerCache::open(&path).unwrap())).unwrap();
        assert_eq!(
            sent,
            whole_sent - 6,
            "the 6 stored answers are not fetched again"
        );
        assert_eq!(json, whole_json);
        assert_eq!(resumed.event_count(), whole.event_count());
        assert_eq!(resumed.address_count(), whole.address_count());
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&whole_path);
    }

    /// A file that is not an answer cache is refused, naming it.
    #[test]
    fn a_foreign_cache_file_is_refused() {
        let path = tmp("foreign.sqlite");
        std::fs::write(&path, b"not a database, not even close; just text").unwrap();
        let e = AnswerCache::open(&path).unwrap_err().to_string();
        assert!(e.contains("foreign.sqlite"), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
