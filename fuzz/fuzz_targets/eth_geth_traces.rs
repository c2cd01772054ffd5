#![no_main]
//! Input: a `debug_traceBlockByNumber` (callTracer) result array.
use fundtrace::sources::ethereum::convert::{geth_frames, parse_geth_block_traces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(items) = serde_json::from_slice::<Vec<serde_json::Value>>(data) else { return };
    let Ok(frames) = parse_geth_block_traces(0, &items) else { return };
    let hashes: Vec<[u8; 32]> = (0..frames.len()).map(|i| [i as u8; 32]).collect();
    let _ = geth_frames(&frames, &hashes);
});
