#![no_main]
//! Input: a mode byte, then the content of a Bitcoin Core `blk00000.dat` (mainnet magic).
//!
//! * mode % 3 == 0: the file as given, XOR key forced to zero by option;
//! * mode % 3 == 1: 8 key bytes follow; the rest is plain content that is
//!   obfuscated with the key before it is written, and the key goes to
//!   `xor.dat` beside it, so the reader has to find and undo it;
//! * mode % 3 == 2: the next byte gives a length (0–15), that many bytes go
//!   to `xor.dat` (a key of the wrong size must be refused), the rest is the file.
use fundtrace::Source;
use fundtrace::sources::bitcoin::{BlkOptions, BlkSource};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let d = common::scratch_dir();
    let (blk, xor) = (d.join("blk00000.dat"), d.join("xor.dat"));
    let _ = std::fs::remove_file(&xor);
    let mut opts = BlkOptions::new(fundtrace::BitcoinNetwork::Mainnet);
    match mode % 3 {
        0 => {
            std::fs::write(&blk, rest).unwrap();
            opts.xor_key = Some([0; 8]);
        }
        1 => {
            if rest.len() < 8 {
                return;
            }
            let (key, plain) = rest.split_at(8);
            let obfuscated: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 8])
                .collect();
            std::fs::write(&xor, key).unwrap();
            std::fs::write(&blk, obfuscated).unwrap();
        }
        _ => {
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let n = usize::from(n % 16).min(rest.len());
            std::fs::write(&xor, &rest[..n]).unwrap();
            std::fs::write(&blk, &rest[n..]).unwrap();
        }
    }
    // Opened as a directory so that `xor.dat` is looked for.
    let Ok(mut src) = BlkSource::open(&[d.clone()], opts) else {
        return;
    };
    while let Ok(Some(_)) = src.next_record() {}
    let _ = src.warnings();
    let _ = src.counters();
});
