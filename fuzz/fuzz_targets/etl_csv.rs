#![no_main]
//! Input: first byte picks the file (transactions.csv / traces.csv / token_transfers.csv),
//! the rest is its content; the folder is opened with `EtlSource::open` and drained.
use fundtrace::Source;
use fundtrace::sources::ethereum::EtlSource;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

const NAMES: [&str; 3] = ["transactions.csv", "traces.csv", "token_transfers.csv"];

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fundtrace-fuzz-etl-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let d = dir();
    for n in NAMES {
        let _ = std::fs::remove_file(d.join(n));
    }
    std::fs::write(d.join(NAMES[usize::from(sel) % 3]), body).unwrap();
    let Ok(mut src) = EtlSource::open(d) else { return };
    while let Ok(Some(_)) = src.next_record() {}
    let _ = src.warnings();
    let _ = src.counters();
});
