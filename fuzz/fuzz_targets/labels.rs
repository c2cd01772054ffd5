#![no_main]
//! Input: a label file, parsed as named CSV and as named YAML (format detection included).
use fundtrace::LabelSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["fuzz.csv", "fuzz.yaml"] {
        if let Ok(set) = LabelSet::parse(name, data) {
            let _ = set.exchanges();
        }
    }
});
