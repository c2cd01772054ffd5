//! Small constructors for hand-built graphs.
#![allow(dead_code)] // each test binary uses a different subset

#[cfg(feature = "ethereum")]
pub mod anvil;
#[cfg(feature = "bitcoin")]
pub mod esplora;
pub mod replay;

use std::path::PathBuf;

use fundtrace::{
    Address, Amount, Asset, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain, Leg,
    Position, Record, Special, Timestamp, Transfer, TxId, UtxoTx,
};

/// A mainnet P2PKH address whose hash is `n` repeated.
pub fn btc(n: u16) -> Address {
    let mut h = [0u8; 20];
    h[..2].copy_from_slice(&n.to_be_bytes());
    h[19] = 0xb7;
    Address::bitcoin(BitcoinNetwork::Mainnet, BitcoinKind::P2pkh, &h).unwrap()
}

/// An Ethereum address derived from `n`.
pub fn eth(n: u16) -> Address {
    let mut b = [0u8; 20];
    b[..2].copy_from_slice(&n.to_be_bytes());
    b[19] = 0xe7;
    Address::ethereum(b)
}

pub fn coinbase() -> Address {
    Address::special(Chain::Bitcoin, Special::Coinbase)
}

pub fn mint() -> Address {
    Address::special(Chain::Ethereum, Special::Mint)
}

pub fn block(chain: Chain, h: u64) -> BlockRef {
    BlockRef {
        chain,
        height: BlockHeight(h),
        time: Timestamp(1_600_000_000 + h * 600),
    }
}

pub fn txid(chain: Chain, h: u64, idx: u32, sub: u32) -> TxId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&h.to_be_bytes());
    b[8..12].copy_from_slice(&idx.to_be_bytes());
    b[12..16].copy_from_slice(&sub.to_be_bytes());
    TxId::new(chain, b)
}

/// A Bitcoin transaction at block `h`, index `idx`.
pub fn utxo(h: u64, idx: u32, ins: &[(Address, u128)], outs: &[(Address, u128)]) -> Record {
    let leg = |&(address, a): &(Address, u128)| Leg {
        address,
        amount: Amount::new(a),
    };
    Record::Utxo(UtxoTx {
        tx: txid(Chain::Bitcoin, h, idx, 0),
        block: block(Chain::Bitcoin, h),
        index: idx,
        asset: Asset::Btc,
        inputs: ins.iter().map(leg).collect(),
        outputs: outs.iter().map(leg).collect(),
    })
}

/// An Ether transfer at block `h`, transaction `idx`, order `sub` inside it.
pub fn xfer(h: u64, idx: u32, sub: u32, from: Address, to: Address, amount: u128) -> Record {
    token(h, idx, sub, Asset::Eth, from, to, amount)
}

pub fn token(
    h: u64,
    idx: u32,
    sub: u32,
    asset: Asset,
    from: Address,
    to: Address,
    amount: u128,
) -> Record {
    Record::Transfer(Transfer {
        tx: txid(Chain::Ethereum, h, idx, 0),
        block: block(Chain::Ethereum, h),
        position: Position { index: idx, sub },
        asset,
        from,
        to,
        amount: Amount::new(amount),
    })
}

/// Value of `finding` for `asset` under model name `m` ("poison", …), 0 if absent.
pub fn value(f: &fundtrace::Finding, asset: Asset, m: fundtrace::Model) -> u128 {
    f.value
        .get(&asset)
        .and_then(|v| v.get(&m))
        .map_or(0, |a| a.get())
}

/// The real-data fixtures: `tests/data` in this repository (see its
/// `PROVENANCE.md` files and `SHA256SUMS`), or the folder `FUNDTRACE_DATA`
/// names instead (a larger copy with the same layout). `None` (the caller
/// skips) when the folder is missing, as in the published crate, which leaves
/// `tests/data` out; with `CI=true` a missing folder fails the test. A missing
/// file inside the folder always fails the test that reads it.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FUNDTRACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "test data folder {} is missing (tests/data, or set FUNDTRACE_DATA)",
            dir.display()
        );
    }
    eprintln!("skipping: test data folder {} not found", dir.display());
    None
}

/// `target/<profile>/examples/<name>`: cargo builds examples before tests.
pub fn example(name: &str) -> std::process::Command {
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop(); // deps/
    dir.pop(); // <profile>/
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    std::process::Command::new(path)
}
