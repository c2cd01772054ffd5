#![no_main]
//! Input: first byte picks the file (transactions.csv / traces.csv / token_transfers.csv),
//! the rest is its content; the folder is opened with `EtlSource::open` and drained.
use fundtrace::Source;
use fundtrace::sources::ethereum::EtlSource;
use libfuzzer_sys::fuzz_target;

mod common;

const NAMES: [&str; 3] = ["transactions.csv", "traces.csv", "token_transfers.csv"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let d = common::scratch_dir();
    for n in NAMES {
        let _ = std::fs::remove_file(d.join(n));
    }
    std::fs::write(d.join(NAMES[usize::from(sel) % 3]), body).unwrap();
    let Ok(mut src) = EtlSource::open(d) else { return };
    while let Ok(Some(_)) = src.next_record() {}
    let _ = src.warnings();
    let _ = src.counters();
});
