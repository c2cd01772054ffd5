//! Bitcoin Core RPC JSON: `getblock <hash> 2` and `3`, `getrawtransaction
//! <txid> true`, from files or a live node (the same conversion for both).
//!
//! Each transaction's `hex` is decoded with the `bitcoin` crate and checked
//! against its `txid`; the block's `merkleroot` is checked against the
//! decoded transactions. Verbosity 3 carries each input's previous output
//! (`prevout`), which then needs no other provider. Values are parsed from
//! the JSON text as exact decimals (8 places), never through floats.

use ::bitcoin::consensus::encode::deserialize;
use ::bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::convert::{
    BlockQueue, BlockSummary, Prevout, Step, UtxoIndex, convert_transactions, script_address,
};
use crate::error::{Error, Result};
use crate::sources::Record;
use crate::types::BitcoinNetwork;

/// A block as `getblock` (verbosity 2 or 3) describes it, decoded.
#[derive(Debug, Clone)]
pub struct CoreBlock {
    /// Block hash.
    pub hash: ::bitcoin::BlockHash,
    /// The previous block's hash (`None` for the genesis block).
    pub prev: Option<::bitcoin::BlockHash>,
    /// Height.
    pub height: u64,
    /// Header time.
    pub time: u64,
    /// Transactions in block order.
    pub txs: Vec<Transaction>,
    /// Previous outputs given by verbosity 3, per transaction and input.
    pub prevouts: Vec<(OutPoint, Prevout)>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct GetBlock<'a> {
    hash: String,
    height: u64,
    time: u64,
    merkleroot: String,
    #[serde(borrow)]
    tx: Vec<TxEntry<'a>>,
    // The other header fields, to check that they hash to `hash`.
    version: Option<i32>,
    previousblockhash: Option<String>,
    bits: Option<String>,
    nonce: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TxEntry<'a> {
    Full(#[serde(borrow)] GetTx<'a>),
    Id(#[allow(dead_code)] String),
}

#[derive(Deserialize)]
struct GetTx<'a> {
    txid: String,
    hex: Option<String>,
    #[serde(borrow, default)]
    vin: Vec<Vin<'a>>,
}

#[derive(Deserialize)]
struct Vin<'a> {
    #[serde(borrow, default)]
    prevout: Option<PrevoutJson<'a>>,
}

#[derive(Deserialize)]
struct PrevoutJson<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(rename = "scriptPubKey")]
    script_pub_key: ScriptPubKey,
}

#[derive(Deserialize)]
struct ScriptPubKey {
    hex: String,
}

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::Parse {
        what: "bitcoin core json",
        input: what.to_owned(),
        reason: reason.into(),
    }
}

/// The `result` of a JSON-RPC envelope, or the whole text if it is a bare
/// result (as files saved from `bitcoin-cli` are).
fn result_of<'a>(json: &'a str, what: &str) -> Result<&'a str> {
    let env: Envelope<'_> =
        serde_json::from_str(json).map_err(|e| bad(what, format!("malformed json: {e}")))?;
    if let Some(err) = env.error.filter(|e| !e.is_null()) {
        return Err(bad(what, format!("the node answered with an error: {err}")));
    }
    Ok(env.result.map_or(json, |r| r.get()))
}

/// Parses a BTC amount as Bitcoin Core prints it (`50.00000000`) into
/// satoshi, exactly.
///
/// # Errors
/// [`Error::Parse`] for negative numbers, exponents, more than 8 decimals or
/// values past 21 million BTC.
pub fn parse_btc(text: &str) -> Result<u64> {
    let err = |r: &str| Error::Parse {
        what: "btc amount",
        input: text.to_owned(),
        reason: r.to_owned(),
    };
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err("expected a plain non-negative decimal"));
    }
    if frac.len() > 8 {
        return Err(err("more than 8 decimal places"));
    }
    let w: u64 = whole.parse().map_err(|_| err("too large"))?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<8}")
            .parse()
            .map_err(|_| err("bad decimals"))?
    };
    let sat = w
        .checked_mul(100_000_000)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(|| err("too large"))?;
    if sat > 21_000_000 * 100_000_000 {
        return Err(err("more than 21 million BTC"));
    }
    Ok(sat)
}

fn decode_tx(hex: &str, txid: &str, what: &str) -> Result<Transaction> {
    let bytes = ::bitcoin::hex::FromHex::from_hex(hex)
        .map_err(|e: ::bitcoin::hex::HexToBytesError| bad(what, format!("tx {txid}: hex: {e}")))?;
    let bytes: Vec<u8> = bytes;
    let tx: Transaction =
        deserialize(&bytes).map_err(|e| bad(what, format!("tx {txid}: cannot decode: {e}")))?;
    if tx.compute_txid().to_string() != txid {
        return Err(bad(
            what,
            format!("tx hex decodes to {}, not {txid}", tx.compute_txid()),
        ));
    }
    Ok(tx)
}

/// Parses a `getblock` answer of verbosity 2 or 3. `what` names the file or
/// request in errors.
///
/// # Errors
/// [`Error::Parse`] for malformed JSON, verbosity 0 or 1, undecodable or
/// mismatching transactions, a wrong merkle root, or a node error.
pub fn parse_getblock(json: &str, what: &str, net: BitcoinNetwork) -> Result<CoreBlock> {
    let body = result_of(json, what)?;
    let b: GetBlock<'_> =
        serde_json::from_str(body).map_err(|e| bad(what, format!("not a getblock answer: {e}")))?;
    let hash: ::bitcoin::BlockHash = b
        .hash
        .parse()
        .map_err(|e| bad(what, format!("block hash: {e}")))?;
    let mut txs = Vec::with_capacity(b.tx.len());
    let mut prevouts = Vec::new();
    for entry in &b.tx {
        let t = match entry {
            TxEntry::Full(t) => t,
            TxEntry::Id(_) => {
                return Err(bad(
                    what,
                    "transactions are ids only (verbosity 1); ask for verbosity 2 or 3",
                ));
            }
        };
        let hex = t
            .hex
            .as_deref()
            .ok_or_else(|| bad(what, format!("tx {} has no hex field", t.txid)))?;
        let tx = decode_tx(hex, &t.txid, what)?;
        for (i, vin) in t.vin.iter().enumerate() {
            if let (Some(p), Some(input)) = (&vin.prevout, tx.input.get(i)) {
                let script = ScriptBuf::from_hex(&p.script_pub_key.hex).map_err(|e| {
                    bad(
                        what,
                        format!("tx {} input {i}: prevout script: {e}", t.txid),
                    )
                })?;
                let value = parse_btc(p.value.get())?;
                prevouts.push((
                    input.previous_output,
                    Prevout {
                        address: script_address(&script, net),
                        value,
                    },
                ));
            }
        }
        txs.push(tx);
    }
    let root =
        ::bitcoin::merkle_tree::calculate_root(txs.iter().map(|t| t.compute_txid().to_raw_hash()))
            .map(::bitcoin::TxMerkleNode::from_raw_hash);
    let Some(root) = root.filter(|r| r.to_string() == b.merkleroot) else {
        return Err(bad(
            what,
            format!(
                "block {hash}: merkle root of the transactions does not match {}",
                b.merkleroot
            ),
        ));
    };
    let prev: Option<::bitcoin::BlockHash> = b
        .previousblockhash
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| bad(what, format!("previousblockhash: {e}")))?;
    check_header(&b, hash, prev, root, what)?;
    Ok(CoreBlock {
        hash,
        prev,
        height: b.height,
        time: b.time,
        txs,
        prevouts,
    })
}

/// Rebuilds the 80-byte header from the answer's fields and checks that it
/// hashes to the stated block hash, so an answer cannot pair one block's
/// hash with another block's contents.
fn check_header(
    b: &GetBlock<'_>,
    hash: ::bitcoin::BlockHash,
    prev: Option<::bitcoin::BlockHash>,
    merkle_root: ::bitcoin::TxMerkleNode,
    what: &str,
) -> Result<()> {
    let (Some(version), Some(bits), Some(nonce)) = (b.version, b.bits.as_deref(), b.nonce) else {
        return Err(bad(
            what,
            format!("block {hash}: version, bits or nonce missing, so the hash cannot be checked"),
        ));
    };
    let prev_blockhash =
        prev.unwrap_or_else(<::bitcoin::BlockHash as ::bitcoin::hashes::Hash>::all_zeros);
    let bits =
        u32::from_str_radix(bits, 16).map_err(|e| bad(what, format!("bits {bits:?}: {e}")))?;
    let time = u32::try_from(b.time)
        .map_err(|_| bad(what, format!("time {} does not fit a header", b.time)))?;
    let header = ::bitcoin::block::Header {
        version: ::bitcoin::block::Version::from_consensus(version),
        prev_blockhash,
        merkle_root,
        time,
        bits: ::bitcoin::CompactTarget::from_consensus(bits),
        nonce,
    };
    let got = header.block_hash();
    if got != hash {
        return Err(bad(
            what,
            format!("block {hash}: its header fields hash to {got}, not to the stated hash"),
        ));
    }
    Ok(())
}

/// Parses a `getrawtransaction <txid> true` answer (or a bare transaction
/// object with `txid` and `hex`).
///
/// # Errors
/// [`Error::Parse`] for malformed JSON, a missing or mismatching `hex`.
pub fn parse_getrawtransaction(json: &str, what: &str) -> Result<Transaction> {
    #[derive(Deserialize)]
    struct Raw {
        txid: String,
        hex: String,
    }
    let body = result_of(json, what)?;
    let r: Raw = serde_json::from_str(body)
        .map_err(|e| bad(what, format!("not a getrawtransaction answer: {e}")))?;
    decode_tx(&r.hex, &r.txid, what)
}

/// Adds every output of `tx` to `utxos` (a funding transaction whose
/// outputs a later block spends).
pub fn add_outputs(tx: &Transaction, net: BitcoinNetwork, utxos: &mut UtxoIndex) {
    let txid: Txid = tx.compute_txid();
    for (vout, o) in tx.output.iter().enumerate() {
        let op = OutPoint {
            txid,
            vout: u32::try_from(vout).unwrap_or(u32::MAX),
        };
        utxos.insert(
            op,
            Prevout {
                address: script_address(&o.script_pubkey, net),
                value: o.value.to_sat(),
            },
        );
    }
}

/// Converts a parsed block: its verbosity-3 prevouts go into `utxos` first,
/// then the transactions go through the same conversion as raw blocks.
///
/// # Errors
/// Only a prevout provider's failure.
pub fn convert_core_block(
    b: &CoreBlock,
    net: BitcoinNetwork,
    utxos: &mut UtxoIndex,
    out: &mut Vec<Record>,
) -> Result<BlockSummary> {
    for (op, p) in &b.prevouts {
        utxos.insert(*op, *p);
    }
    convert_transactions(b.txs.iter(), b.height, b.time, net, utxos, out)
}

/// What a folder of recorded answers holds.
#[derive(Debug, Default)]
pub struct CoreFiles {
    /// `getblock` answers, sorted by height.
    pub blocks: Vec<CoreBlock>,
    /// `getrawtransaction` answers.
    pub transactions: Vec<Transaction>,
    /// Files that hold no block or transaction answer, and why.
    pub skipped: Vec<String>,
}

/// Reads recorded Bitcoin Core answers: each path is a JSON file or a
/// folder of them. `getblock` and `getrawtransaction` answers are told
/// apart by content; other answers (`getblockhash`, …) are ignored.
///
/// # Errors
/// [`Error::Io`], or a parse error naming the file.
pub fn read_core_files(paths: &[std::path::PathBuf], net: BitcoinNetwork) -> Result<CoreFiles> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    let mut out = CoreFiles::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
        let what = f.display().to_string();
        match classify(&text, &what)? {
            Kind::Block => out.blocks.push(parse_getblock(&text, &what, net)?),
            Kind::Tx => out
                .transactions
                .push(parse_getrawtransaction(&text, &what)?),
            Kind::Other(why) => out.skipped.push(format!("skipped {what}: {why}")),
        }
    }
    out.blocks.sort_by_key(|b| b.height);
    Ok(out)
}

enum Kind {
    Block,
    Tx,
    Other(&'static str),
}

fn classify(text: &str, what: &str) -> Result<Kind> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    match (values.next(), values.next()) {
        (Some(Err(e)), _) => return Err(bad(what, format!("malformed json: {e}"))),
        (Some(Ok(_)), Some(_)) => {
            return Ok(Kind::Other(
                "several json values (json lines), not one answer",
            ));
        }
        (Some(Ok(v)), None) if !v.get().starts_with('{') => {
            return Ok(Kind::Other("not a json object"));
        }
        (None, _) => return Ok(Kind::Other("empty")),
        _ => {}
    }
    #[derive(Deserialize)]
    struct Probe {
        tx: Option<serde::de::IgnoredAny>,
        vin: Option<serde::de::IgnoredAny>,
    }
    let body = result_of(text, what)?;
    Ok(match serde_json::from_str::<Probe>(body) {
        Ok(Probe { tx: Some(_), .. }) => Kind::Block,
        Ok(Probe { vin: Some(_), .. }) => Kind::Tx,
        _ => Kind::Other("neither a getblock nor a getrawtransaction answer"),
    })
}

/// Recorded Core answers as a [`Source`](crate::Source), blocks in height
/// order; `getrawtransaction` answers supply previous outputs.
pub struct CoreFileSource {
    name: String,
    files: std::vec::IntoIter<CoreBlock>,
    net: BitcoinNetwork,
    utxos: UtxoIndex,
    queue: BlockQueue,
    skipped: Vec<String>,
}

impl CoreFileSource {
    /// Reads the answers at `paths` (see [`read_core_files`]).
    ///
    /// # Errors
    /// As [`read_core_files`].
    pub fn open(paths: &[std::path::PathBuf], net: BitcoinNetwork) -> Result<CoreFileSource> {
        let f = read_core_files(paths, net)?;
        let mut utxos = UtxoIndex::new();
        for t in &f.transactions {
            add_outputs(t, net, &mut utxos);
        }
        Ok(CoreFileSource {
            name: format!(
                "bitcoin-core-json:{}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            files: f.blocks.into_iter(),
            net,
            utxos,
            queue: BlockQueue::default(),
            skipped: f.skipped,
        })
    }
}

impl crate::sources::Source for CoreFileSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let (files, net, utxos) = (&mut self.files, self.net, &mut self.utxos);
        self.queue.next(|| {
            let Some(b) = files.next() else {
                return Ok(Step::End);
            };
            let mut recs = Vec::new();
            let s = convert_core_block(&b, net, utxos, &mut recs)?;
            Ok(Step::Block(s, recs))
        })
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.queue.counters()
    }

    fn warnings(&self) -> Vec<String> {
        self.skipped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_decimals_are_exact() {
        assert_eq!(parse_btc("50.00000000").unwrap(), 5_000_000_000);
        assert_eq!(parse_btc("0.00000001").unwrap(), 1);
        assert_eq!(
            parse_btc("20999999.97690000").unwrap(),
            2_099_999_997_690_000
        );
        assert_eq!(parse_btc("0.1").unwrap(), 10_000_000);
        for bad in ["-1", "1e3", "0.000000001", "", ".5", "21000001", "1.2.3"] {
            assert!(parse_btc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_errors_and_wrong_verbosity_are_clear() {
        let e = parse_getblock(
            r#"{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}"#,
            "req",
            BitcoinNetwork::Mainnet,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Block not found") && e.contains("req"), "{e}");
        let v1 = r#"{"hash":"000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f","height":0,"time":1,"merkleroot":"x","tx":["4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"]}"#;
        let e = parse_getblock(v1, "v1.json", BitcoinNetwork::Mainnet)
            .unwrap_err()
            .to_string();
        assert!(e.contains("verbosity 1"), "{e}");
        let e = parse_getblock("{\"hash\": ", "cut.json", BitcoinNetwork::Mainnet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.json") && e.contains("malformed json"),
            "{e}"
        );
    }
}
