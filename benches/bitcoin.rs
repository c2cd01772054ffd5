#![allow(missing_docs)] // criterion_main! generates an undocumented `main`
//! Decoding real Bitcoin blocks into records: MB/s and transactions/s.
//!
//! * `decode`: consensus decoding with merkle-root and witness-commitment
//!   checks (`decode_block`).
//! * `decode_convert`: the same plus conversion to records, address
//!   extraction and prevout lookup in the UTXO index, one thread.
//! * `decode_convert_par`: decoding spread over threads with rayon, then
//!   conversion in block order (prevout lookups must follow the chain).
//!
//! Data: the four raw blocks of the test data, `tests/data` (`FUNDTRACE_DATA`
//! overrides), about 4.9 MB in all.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fundtrace::BitcoinNetwork;
use fundtrace::sources::bitcoin::{UtxoIndex, convert_block, decode_block};
use rayon::prelude::*;

fn blocks() -> Vec<(PathBuf, Vec<u8>, u64)> {
    let dir = std::env::var_os("FUNDTRACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
        .join("chain/bitcoin/raw_blocks");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "raw"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable block");
            let h = p
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .split('_')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            (p, bytes, h)
        })
        .collect();
    v.sort();
    v
}

fn net(p: &Path) -> BitcoinNetwork {
    if p.to_string_lossy().contains("testnet") {
        BitcoinNetwork::Testnet
    } else {
        BitcoinNetwork::Mainnet
    }
}

fn bench(c: &mut Criterion) {
    let blocks = blocks();
    let bytes: u64 = blocks.iter().map(|b| b.1.len() as u64).sum();
    let txs: u64 = blocks
        .iter()
        .map(|(p, b, _)| decode_block(b, p, 0).expect("valid").txdata.len() as u64)
        .sum();
    eprintln!("{} blocks, {bytes} bytes, {txs} transactions", blocks.len());
    for (unit, n) in [("bytes", bytes), ("txs", txs)] {
        let mut g = c.benchmark_group(format!("bitcoin_{unit}"));
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.throughput(if unit == "bytes" {
            Throughput::Bytes(n)
        } else {
            Throughput::Elements(n)
        });
        g.bench_function("decode", |b| {
            b.iter(|| {
                for (p, bytes, _) in &blocks {
                    black_box(decode_block(bytes, p, 0).expect("valid"));
                }
            })
        });
        g.bench_function("decode_convert", |b| {
            b.iter(|| {
                let mut utxos = UtxoIndex::new();
                let mut out = Vec::new();
                for (p, bytes, h) in &blocks {
                    let block = decode_block(bytes, p, 0).expect("valid");
                    black_box(
                        convert_block(&block, *h, net(p), &mut utxos, &mut out).expect("converts"),
                    );
                }
                out
            })
        });
        g.bench_function("decode_convert_par", |b| {
            b.iter(|| {
                let decoded: Vec<_> = blocks
                    .par_iter()
                    .map(|(p, bytes, _)| decode_block(bytes, p, 0).expect("valid"))
                    .collect();
                let mut utxos = UtxoIndex::new();
                let mut out = Vec::new();
                for (block, (p, _, h)) in decoded.iter().zip(&blocks) {
                    black_box(
                        convert_block(block, *h, net(p), &mut utxos, &mut out).expect("converts"),
                    );
                }
                out
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
