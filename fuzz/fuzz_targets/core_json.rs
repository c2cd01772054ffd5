#![no_main]
//! Input: JSON text fed to the Bitcoin Core `getblock` / `getrawtransaction` parsers and the
//! Esplora parser.
use fundtrace::sources::bitcoin::core_json::convert_core_block;
use fundtrace::sources::bitcoin::{UtxoIndex, parse_esplora, parse_getblock, parse_getrawtransaction};
use fundtrace::types::BitcoinNetwork;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let net = BitcoinNetwork::Mainnet;
    if let Ok(b) = parse_getblock(text, "fuzz", net) {
        let mut utxos = UtxoIndex::new();
        let mut out = Vec::new();
        let _ = convert_core_block(&b, net, &mut utxos, &mut out);
    }
    let _ = parse_getrawtransaction(text, "fuzz");
    if let Ok(txs) = parse_esplora(text, "fuzz", net) {
        for (i, tx) in txs.iter().enumerate() {
            let _ = tx.computed_fee();
            let _ = tx.to_record(i as u32);
        }
    }
});
