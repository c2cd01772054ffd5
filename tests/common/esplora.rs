//! A loopback Esplora server over real blocks, answering in Esplora's REST
//! format: `/address/:a` (stats), `/address/:a/txs/chain[/:last_seen]`
//! (25 per page, newest first), `/tx/:txid` and `/block/:hash/txids`.
//!
//! The JSON is built from the blocks by the `bitcoin` crate's decoder, with
//! Esplora's field names and types; `check_format` compares it with the real
//! recorded Esplora answers. Outputs are indexed under the address
//! fundtrace gives their script (a bare P2PK output under its P2PKH form);
//! a real Esplora server indexes a P2PK output under its script only.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::{Block, OutPoint, Script, Transaction, TxOut};
use fundtrace::sources::bitcoin::script_address;
use fundtrace::{Address, BitcoinNetwork, Special, UtxoTx};
use serde_json::{Value, json};

use super::replay::Replay;

/// Esplora's page size for `/address/:a/txs/chain`.
pub const PAGE: usize = 25;

/// The blocks of a blk-framed file (magic, length, block), which must be
/// in chain order from height `first`, with their heights.
pub fn read_blk_framed(path: &std::path::Path, first: u64) -> Vec<(u64, Block)> {
    let bytes = std::fs::read(path).unwrap();
    let mut out: Vec<(u64, Block)> = Vec::new();
    let mut off = 0;
    while off + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
        let block: Block =
            bitcoin::consensus::encode::deserialize(&bytes[off + 8..off + 8 + len]).unwrap();
        let height = match out.last() {
            Some((h, prev)) => {
                assert_eq!(
                    block.header.prev_blockhash,
                    prev.block_hash(),
                    "in chain order"
                );
                h + 1
            }
            None => first,
        };
        out.push((height, block));
        off += 8 + len;
    }
    out
}

/// A generated case's Bitcoin side, ready to serve: its UTXO transactions,
/// numbered densely in each block (the generator leaves gaps between
/// positions; a block's txids list has none), its Bitcoin seeds, and its
/// exchange clusters cut to their Bitcoin members.
#[cfg(feature = "synthetic")]
pub fn generated_bitcoin_case(
    transfers: u64,
) -> (Vec<UtxoTx>, Vec<Address>, Vec<fundtrace::Cluster>) {
    use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
    use fundtrace::{Chain, Cluster, Record};
    let case = SyntheticCase::generate(&SyntheticConfig {
        transfers,
        extra_seeds: 2,
        ..SyntheticConfig::default()
    });
    let mut txs: Vec<UtxoTx> = case
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Utxo(u) => Some(u),
            _ => None,
        })
        .collect();
    txs.sort_by_key(|t| (t.block.height, t.index));
    let mut last = None;
    let mut next = 0u32;
    for t in &mut txs {
        if last != Some(t.block.height) {
            last = Some(t.block.height);
            next = 0;
        }
        t.index = next;
        next += 1;
    }
    let bitcoin = |a: &&Address| a.chain() == Chain::Bitcoin;
    let seeds = case.seeds.iter().filter(bitcoin).copied().collect();
    let clusters = case
        .clusters
        .iter()
        .map(|c| {
            Cluster::new(
                c.name.clone(),
                c.members.iter().filter(bitcoin).copied().collect(),
            )
        })
        .filter(|c| !c.members.is_empty())
        .collect();
    (txs, seeds, clusters)
}

/// The answers, built once.
#[derive(Default)]
pub struct Esplora {
    txs: HashMap<String, Value>,
    /// Per address: txids, oldest first.
    history: HashMap<String, Vec<String>>,
    stats: HashMap<String, Value>,
    blocks: HashMap<String, Vec<String>>,
    /// While building, per address: funded count and sum, spent count and sum.
    sums: HashMap<String, [u64; 4]>,
}

/// A script-type test and Esplora's name for that type.
type ScriptKind = (fn(&Script) -> bool, &'static str);

/// Esplora's name for a script's type.
fn script_type(s: &Script) -> &'static str {
    let kinds: [ScriptKind; 8] = [
        (Script::is_p2pk, "p2pk"),
        (Script::is_p2pkh, "p2pkh"),
        (Script::is_p2sh, "p2sh"),
        (Script::is_p2wpkh, "v0_p2wpkh"),
        (Script::is_p2wsh, "v0_p2wsh"),
        (Script::is_p2tr, "v1_p2tr"),
        (Script::is_op_return, "op_return"),
        (Script::is_multisig, "multisig"),
    ];
    kinds
        .iter()
        .find(|(is, _)| is(s))
        .map_or("unknown", |(_, name)| name)
}

fn vout_json(o: &TxOut) -> Value {
    let mut v = json!({
        "scriptpubkey": hex(o.script_pubkey.as_bytes()),
        "scriptpubkey_asm": o.script_pubkey.to_asm_string(),
        "scriptpubkey_type": script_type(&o.script_pubkey),
        "value": o.value.to_sat(),
    });
    // Esplora states an address only for the standard types that have one.
    if let Ok(a) = bitcoin::Address::from_script(&o.script_pubkey, bitcoin::Network::Bitcoin) {
        v["scriptpubkey_address"] = json!(a.to_string());
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn our_address(s: &Script) -> String {
    script_address(s, BitcoinNetwork::Mainnet).plain()
}

impl Esplora {
    /// Builds the answers from `blocks`, given with their heights, in
    /// chain order. Every input must spend an output of an earlier block.
    pub fn new(blocks: &[(u64, Block)]) -> Esplora {
        let mut prevouts: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut out = Esplora::default();
        for (height, block) in blocks {
            let hash = block.block_hash().to_string();
            let mut ids = Vec::new();
            for tx in &block.txdata {
                let txid = tx.compute_txid().to_string();
                let mut touched: Vec<String> = Vec::new();
                let mut vin = Vec::new();
                let mut sum_in = 0u64;
                for i in &tx.input {
                    if tx.is_coinbase() {
                        vin.push(json!({
                            "txid": "0".repeat(64),
                            "vout": u32::MAX,
                            "prevout": null,
                            "scriptsig": hex(i.script_sig.as_bytes()),
                            "scriptsig_asm": i.script_sig.to_asm_string(),
                            "is_coinbase": true,
                            "sequence": i.sequence.0,
                        }));
                        continue;
                    }
                    let prev = prevouts
                        .remove(&i.previous_output)
                        .expect("every input spends an earlier output");
                    sum_in += prev.value.to_sat();
                    out.count(
                        our_address(&prev.script_pubkey),
                        true,
                        prev.value.to_sat(),
                        &mut touched,
                    );
                    let mut v = json!({
                        "txid": i.previous_output.txid.to_string(),
                        "vout": i.previous_output.vout,
                        "prevout": vout_json(&prev),
                        "scriptsig": hex(i.script_sig.as_bytes()),
                        "scriptsig_asm": i.script_sig.to_asm_string(),
                        "is_coinbase": false,
                        "sequence": i.sequence.0,
                    });
                    if !i.witness.is_empty() {
                        v["witness"] = json!(i.witness.iter().map(hex).collect::<Vec<_>>());
                    }
                    vin.push(v);
                }
                let mut sum_out = 0u64;
                for (n, o) in tx.output.iter().enumerate() {
                    sum_out += o.value.to_sat();
                    prevouts.insert(
                        OutPoint {
                            txid: tx.compute_txid(),
                            vout: u32::try_from(n).unwrap(),
                        },
                        o.clone(),
                    );
                    out.count(
                        our_address(&o.script_pubkey),
                        false,
                        o.value.to_sat(),
                        &mut touched,
                    );
                }
                let fee = if tx.is_coinbase() {
                    0
                } else {
                    sum_in - sum_out
                };
                let json = tx_json(tx, vin, fee, *height, &hash, block.header.time);
                out.insert_tx(&txid, json, touched);
                ids.push(txid);
            }
            out.blocks.insert(hash, ids);
        }
        out.fill_stats();
        out
    }

    /// Builds the answers from UTXO records (a generated case, say): each
    /// output's script is its address's, each input's outpoint is made up
    /// (the records do not say which output an input spends), and a
    /// `coinbase` input is a coinbase. Blocks get made-up hashes.
    pub fn from_records(txs: &[UtxoTx]) -> Esplora {
        let mut out = Esplora::default();
        let mut sorted: Vec<&UtxoTx> = txs.iter().collect();
        sorted.sort_by_key(|t| (t.block.height, t.index));
        let script = |a: &Address| -> bitcoin::ScriptBuf {
            a.plain()
                .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
                .expect("a standard address")
                .assume_checked()
                .script_pubkey()
        };
        let txout = |a: &Address, v: u128| TxOut {
            value: bitcoin::Amount::from_sat(u64::try_from(v).unwrap()),
            script_pubkey: script(a),
        };
        for t in sorted {
            let hash = format!("{:064x}", t.block.height.0);
            let txid = t.tx.to_string();
            let mut touched = Vec::new();
            let mut vin = Vec::new();
            for (i, l) in t.inputs.iter().enumerate() {
                if l.address.as_special() == Some(Special::Coinbase) {
                    vin.push(json!({
                        "txid": "0".repeat(64), "vout": u32::MAX, "prevout": null,
                        "scriptsig": "", "scriptsig_asm": "", "is_coinbase": true,
                        "sequence": u32::MAX,
                    }));
                    continue;
                }
                let sat = u64::try_from(l.amount.get()).unwrap();
                out.count(l.address.plain(), true, sat, &mut touched);
                vin.push(json!({
                    "txid": txid, "vout": 1_000 + i,
                    "prevout": vout_json(&txout(&l.address, l.amount.get())),
                    "scriptsig": "", "scriptsig_asm": "", "is_coinbase": false,
                    "sequence": u32::MAX,
                }));
            }
            let vout: Vec<Value> = t
                .outputs
                .iter()
                .map(|l| {
                    let sat = u64::try_from(l.amount.get()).unwrap();
                    out.count(l.address.plain(), false, sat, &mut touched);
                    vout_json(&txout(&l.address, l.amount.get()))
                })
                .collect();
            let fee = t.fee().map_or(0, |f| u64::try_from(f.get()).unwrap());
            out.insert_tx(
                &txid,
                json!({
                    "txid": txid, "version": 2, "locktime": 0, "vin": vin, "vout": vout,
                    "size": 0, "weight": 0, "fee": fee,
                    "status": {
                        "confirmed": true, "block_height": t.block.height.0,
                        "block_hash": hash, "block_time": t.block.time.0,
                    },
                }),
                touched,
            );
            let ids = out.blocks.entry(hash).or_default();
            while ids.len() < t.index as usize {
                ids.push(format!("{:064x}", u64::MAX - ids.len() as u64));
            }
            ids.push(txid);
        }
        out.fill_stats();
        out
    }

    /// Counts an output paid to `address` (or, `spent`, one it spends).
    fn count(&mut self, address: String, spent: bool, sat: u64, touched: &mut Vec<String>) {
        let s = self.sums.entry(address.clone()).or_default();
        let k = if spent { 2 } else { 0 };
        s[k] += 1;
        s[k + 1] += sat;
        touched.push(address);
    }

    /// Stores a transaction's answer and puts it in the history of every
    /// address it touched, once each.
    fn insert_tx(&mut self, txid: &str, json: Value, mut touched: Vec<String>) {
        self.txs.insert(txid.to_owned(), json);
        touched.sort();
        touched.dedup();
        for a in touched {
            self.history.entry(a).or_default().push(txid.to_owned());
        }
    }

    fn fill_stats(&mut self) {
        for (a, s) in std::mem::take(&mut self.sums) {
            let n = self.history[&a].len();
            self.stats.insert(
                a.clone(),
                json!({
                    "address": a,
                    "chain_stats": {
                        "funded_txo_count": s[0],
                        "funded_txo_sum": s[1],
                        "spent_txo_count": s[2],
                        "spent_txo_sum": s[3],
                        "tx_count": n,
                    },
                    "mempool_stats": {
                        "funded_txo_count": 0,
                        "funded_txo_sum": 0,
                        "spent_txo_count": 0,
                        "spent_txo_sum": 0,
                        "tx_count": 0,
                    },
                }),
            );
        }
    }

    /// The answer to `GET path` (the part after the API base).
    pub fn answer(&self, path: &str) -> (u16, String) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["address", a] => self.stats.get(*a).map_or_else(
                || (200, empty_stats(a).to_string()),
                |s| (200, s.to_string()),
            ),
            ["address", a, "txs", "chain"] => (200, self.page(a, None)),
            ["address", a, "txs", "chain", last] => (200, self.page(a, Some(last))),
            ["tx", id] => self
                .txs
                .get(*id)
                .map_or((404, "Transaction not found".into()), |t| {
                    (200, t.to_string())
                }),
            ["block", h, "txids"] => self
                .blocks
                .get(*h)
                .map_or((404, "Block not found".into()), |ids| {
                    (200, json!(ids).to_string())
                }),
            _ => (404, "Not found".into()),
        }
    }

    fn page(&self, a: &str, last_seen: Option<&str>) -> String {
        let Some(ids) = self.history.get(a) else {
            return "[]".into();
        };
        let newest_first = ids.iter().rev();
        let rest: Vec<&String> = match last_seen {
            None => newest_first.collect(),
            Some(l) => newest_first.skip_while(|t| *t != l).skip(1).collect(),
        };
        let page: Vec<&Value> = rest.iter().take(PAGE).map(|t| &self.txs[*t]).collect();
        json!(page).to_string()
    }

    /// Every transaction answer, for format checks.
    pub fn all_txs(&self) -> impl Iterator<Item = &Value> {
        self.txs.values()
    }

    /// Serves the answers under `/api` on loopback, counting requests by
    /// kind in the returned map's `stats`, `txs`, `tx` and `block` keys.
    pub fn serve(self: Arc<Self>) -> (Replay, Arc<std::sync::Mutex<HashMap<String, usize>>>) {
        let counts: Arc<std::sync::Mutex<HashMap<String, usize>>> = Arc::default();
        let c = counts.clone();
        let server = Replay::start(Arc::new(move |_, url, _, _| {
            let Some(path) = url.strip_prefix("/api") else {
                return (404, "Not found".into());
            };
            let kind = match path.split('/').nth(1) {
                Some("address") if path.contains("/txs") => "txs",
                Some("address") => "stats",
                Some(k) => k,
                None => "other",
            };
            *c.lock().unwrap().entry(kind.to_owned()).or_default() += 1;
            self.answer(path)
        }));
        (server, counts)
    }
}

fn empty_stats(a: &str) -> Value {
    let zero = json!({
        "funded_txo_count": 0, "funded_txo_sum": 0,
        "spent_txo_count": 0, "spent_txo_sum": 0, "tx_count": 0,
    });
    json!({ "address": a, "chain_stats": zero, "mempool_stats": zero })
}

fn tx_json(
    tx: &Transaction,
    vin: Vec<Value>,
    fee: u64,
    height: u64,
    hash: &str,
    time: u32,
) -> Value {
    json!({
        "txid": tx.compute_txid().to_string(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": tx.output.iter().map(vout_json).collect::<Vec<_>>(),
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "fee": fee,
        "status": {
            "confirmed": true,
            "block_height": height,
            "block_hash": hash,
            "block_time": time,
        },
    })
}

/// The JSON type of a value, for format comparisons (`null` is its own).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Field paths (`vin[].prevout.value`) and their JSON types in `v`.
fn shape(
    v: &Value,
    path: &str,
    out: &mut HashMap<String, std::collections::BTreeSet<&'static str>>,
) {
    out.entry(path.to_owned()).or_default().insert(kind(v));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                shape(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Checks that the served transactions have the real answers' format:
/// every field they carry exists in the real answers with the same type
/// (`prevout` may be null: a coinbase's), and every field of Esplora's
/// transaction format that the real answers carry on every transaction is
/// served too. `real` are the recorded answers (objects or arrays of them);
/// mempool.space's own additions (`vsize`, `feePerVsize`, …) are not
/// required.
pub fn check_format<'a>(served: impl Iterator<Item = &'a Value>, real: &[Value]) {
    let mut theirs = HashMap::new();
    for r in real {
        match r {
            Value::Array(a) => a.iter().for_each(|t| shape(t, "", &mut theirs)),
            t => shape(t, "", &mut theirs),
        }
    }
    let mut ours = HashMap::new();
    for t in served {
        shape(t, "", &mut ours);
    }
    for (path, kinds) in &ours {
        let Some(real_kinds) = theirs.get(path) else {
            panic!("served field {path} is not in the real answers");
        };
        for k in kinds {
            assert!(
                real_kinds.contains(k) || (*k == "null" && path == ".vin[].prevout"),
                "served field {path} is {k}, the real answers have {real_kinds:?}"
            );
        }
    }
    for path in [
        ".txid",
        ".version",
        ".locktime",
        ".vin",
        ".vin[].txid",
        ".vin[].vout",
        ".vin[].prevout",
        ".vin[].prevout.scriptpubkey",
        ".vin[].prevout.scriptpubkey_asm",
        ".vin[].prevout.scriptpubkey_type",
        ".vin[].prevout.value",
        ".vin[].scriptsig",
        ".vin[].scriptsig_asm",
        ".vin[].is_coinbase",
        ".vin[].sequence",
        ".vout",
        ".vout[].scriptpubkey",
        ".vout[].scriptpubkey_asm",
        ".vout[].scriptpubkey_type",
        ".vout[].value",
        ".size",
        ".weight",
        ".fee",
        ".status",
        ".status.confirmed",
    ] {
        assert!(theirs.contains_key(path), "the real answers lack {path}");
        assert!(ours.contains_key(path), "served answers lack {path}");
    }
}
