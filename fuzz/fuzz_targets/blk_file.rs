#![no_main]
//! Input: the content of a Bitcoin Core `blk00000.dat` (mainnet magic, no XOR key).
use fundtrace::Source;
use fundtrace::sources::bitcoin::{BlkOptions, BlkSource};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn file() -> &'static PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fundtrace-fuzz-blk-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join("blk00000.dat")
    })
}

fuzz_target!(|data: &[u8]| {
    let f = file();
    std::fs::write(f, data).unwrap();
    let mut opts = BlkOptions::new(bitcoin::Network::Bitcoin);
    opts.xor_key = Some([0; 8]);
    let Ok(mut src) = BlkSource::open(&[f.clone()], opts) else { return };
    while let Ok(Some(_)) = src.next_record() {}
    let _ = src.warnings();
    let _ = src.counters();
});
