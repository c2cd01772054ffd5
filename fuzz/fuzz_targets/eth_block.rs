#![no_main]
//! Input: `block JSON 0xFF receipts JSON 0xFF Parity traces JSON` (later parts optional).
use ethers_core::types::{Block, Trace, Transaction};
use fundtrace::sources::ethereum::{BlockData, BlockTraces, Receipt, convert_block};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0xFF);
    let (b, r, t) = (parts.next().unwrap_or(&[]), parts.next(), parts.next());
    let Ok(block) = serde_json::from_slice::<Block<Transaction>>(b) else { return };
    let receipts = r
        .and_then(|r| serde_json::from_slice::<Vec<Receipt>>(r).ok())
        .unwrap_or_default();
    let traces = t
        .and_then(|t| serde_json::from_slice::<Vec<Trace>>(t).ok())
        .map(BlockTraces::Parity);
    let _ = convert_block(&BlockData { block, receipts, traces });
});
