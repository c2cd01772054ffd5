//! The Bitcoin adapter (feature `bitcoin`): decoded blocks to records.
//!
//! All consensus decoding, hashing and script classification comes from the
//! `bitcoin` crate. [`convert`] is the pure part (blocks and scripts to
//! records and addresses) and is tested offline; [`blk`] reads Bitcoin Core
//! block files; [`utxostore`] supplies previous outputs for a range that
//! starts mid-chain.
//!
//! Each transaction becomes one [`UtxoTx`](crate::UtxoTx): inputs carry the
//! address and value of the output they spend, coinbase inputs come from the
//! `coinbase` pseudo-address, the fee (inputs minus outputs) goes to `fees`.

pub mod blk;
pub mod convert;
pub mod core_json;
pub mod esplora;
pub mod indexer;
pub mod live;
pub mod utxostore;

use crate::types::BitcoinNetwork;
pub use blk::{BlkOptions, BlkSource, decode_block};
pub use convert::{
    BlockSummary, Prevout, PrevoutProvider, UtxoIndex, convert_block, convert_transactions,
    script_address, txid_of,
};

pub use core_json::{CoreFileSource, parse_getblock, parse_getrawtransaction};
pub use esplora::{EsploraTx, parse_esplora};
pub use indexer::AddressStats;
pub use live::{CoreRpc, CoreRpcSource, Esplora, HttpOptions};
pub use utxostore::UtxoStore;

/// Parses a network name: `mainnet` (or `main`, `bitcoin`), `testnet` (or
/// `testnet3`, `test`), `testnet4`, `signet`, `regtest`. Testnet3, testnet4
/// and signet are one [`BitcoinNetwork::Testnet`]: their addresses are the
/// same, and block files tell them apart by their magic.
///
/// # Errors
/// [`Error::Parse`](crate::Error::Parse) for other names.
pub fn parse_network(name: &str) -> crate::Result<BitcoinNetwork> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "mainnet" | "main" | "bitcoin" => BitcoinNetwork::Mainnet,
        "testnet" | "testnet3" | "test" | "testnet4" | "signet" => BitcoinNetwork::Testnet,
        "regtest" => BitcoinNetwork::Regtest,
        _ => {
            return Err(crate::Error::Parse {
                what: "bitcoin network",
                input: name.to_owned(),
                reason: "expected mainnet, testnet, testnet4, signet or regtest".into(),
            });
        }
    })
}
