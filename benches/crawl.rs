//! The crawl against a loopback Esplora server: a generated case's Bitcoin
//! transactions (over 10^4) served in Esplora's format, crawled from its
//! Bitcoin seeds with its exchange clusters as stops.
//!
//! - `crawl/cold`: a fresh client each time, every answer fetched over
//!   loopback HTTP (throughput in requests);
//! - `crawl/cached` (feature `cache`): the same crawl answered from a
//!   filled answer cache, no request sent (throughput in answers used).
//!
//! Addresses fetched, transactions and requests per crawl are printed on
//! stderr, so addresses/s and requests/s follow from the times.
//!
//! ```text
//! cargo bench --all-features --bench crawl
//! ```

#[path = "../tests/common/esplora.rs"]
mod esplora;
// The tests' loopback server; the benchmark uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/replay.rs"]
mod replay;

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fundtrace::sources::bitcoin::{Esplora, HttpOptions};
use fundtrace::sources::crawl::{CrawlConfig, crawl};
use fundtrace::{Address, BitcoinNetwork};

fn bench(c: &mut Criterion) {
    let (txs, seeds, clusters) = esplora::generated_bitcoin_case(150_000);
    let members: HashSet<Address> = clusters
        .iter()
        .flat_map(|c| c.members.iter().copied())
        .collect();
    let server = Arc::new(esplora::Esplora::from_records(&txs));
    let (http, _) = server.serve();
    let api = format!("{}/api", http.url);
    let cfg = CrawlConfig::default()
        .with_busy(u64::MAX)
        .with_stop_at(members);
    let client = || Esplora::new(&api, BitcoinNetwork::Mainnet, HttpOptions::default());
    let probe = client();
    let crawled = crawl(&[&probe], &seeds, &cfg).expect("crawls");
    let r = crawled.report();
    eprintln!(
        "crawl: {} transactions served; {} addresses fetched, {} transactions, {} requests, {} stops",
        txs.len(),
        r.fetched,
        r.transactions,
        r.requests,
        r.stops.len()
    );
    let mut group = c.benchmark_group("crawl");
    group.sample_size(10);
    group.throughput(Throughput::Elements(r.requests));
    group.bench_function("cold", |b| {
        b.iter(|| {
            let e = client();
            black_box(crawl(&[&e], &seeds, &cfg).expect("crawls").report().fetched)
        })
    });
    #[cfg(feature = "cache")]
    {
        use fundtrace::sources::cache::AnswerCache;
        let path = std::env::temp_dir().join(format!(
            "fundtrace-bench-crawl-{}.sqlite",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let cache = Arc::new(AnswerCache::open(&path).expect("opens"));
        let e = client().with_cache(cache.clone());
        crawl(&[&e], &seeds, &cfg).expect("crawls");
        eprintln!("crawl: the cache holds {} answers", cache.used());
        group.throughput(Throughput::Elements(cache.used() as u64));
        group.bench_function("cached", |b| {
            b.iter(|| {
                let e = client().with_cache(cache.clone());
                let out = crawl(&[&e], &seeds, &cfg).expect("crawls");
                assert_eq!(out.report().requests, 0);
                black_box(out.report().fetched)
            })
        });
        drop(cache);
        let _ = std::fs::remove_file(&path);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
