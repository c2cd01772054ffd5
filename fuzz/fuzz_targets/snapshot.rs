#![no_main]
//! Input: a graph snapshot file, loaded with `FlowGraph::load`. The trailing CRC-32 is
//! recomputed first (inputs of 16+ bytes) so mutations reach the section decoders instead of
//! all failing the checksum.
use fundtrace::FlowGraph;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 16 {
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
    }
    let f = common::scratch_dir().join("fuzz.snap");
    std::fs::write(&f, &bytes).unwrap();
    if let Ok((g, _case)) = FlowGraph::load(&f) {
        let _ = g.event_count();
        for e in g.events() {
            let _ = g.event(e);
        }
        // Every one-to-one event's receiver is looked up in its sender's out-edges.
        let _ = g.to_petgraph();
    }
});
