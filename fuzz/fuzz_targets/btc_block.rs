#![no_main]
//! Input: a raw consensus-encoded block. Goes through `decode_block` (merkle checks) and,
//! since random bytes rarely pass those, also straight through `bitcoin`'s decoder into
//! `convert_block`.
use fundtrace::sources::bitcoin::{UtxoIndex, convert_block, decode_block};
use fundtrace::types::BitcoinNetwork;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let checked = decode_block(data, Path::new("fuzz"), 0).ok();
    let block = checked.or_else(|| bitcoin::consensus::deserialize::<bitcoin::Block>(data).ok());
    let Some(block) = block else { return };
    for net in [BitcoinNetwork::Mainnet, BitcoinNetwork::Testnet] {
        let mut utxos = UtxoIndex::new();
        let mut out = Vec::new();
        let _ = convert_block(&block, 1, net, &mut utxos, &mut out);
    }
});
