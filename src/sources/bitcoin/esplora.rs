//! Esplora (Blockstream, mempool.space) `/api/tx/:txid` JSON.
//!
//! Values are integers in satoshi. Each input carries its previous output
//! (`prevout`), so no other provider is needed. Addresses are derived from
//! the scripts with the same [`script_address`] as raw blocks, and checked
//! against the `scriptpubkey_address` fields the server sends: a mismatch is
//! an error, not a silent choice. The fee is checked against `fee`.
//!
//! Esplora's transaction JSON does not say where in its block a transaction
//! sits; the caller passes that index (a live client reads it from
//! `/block/:hash/txids`). Unconfirmed transactions have no block and give no
//! record.

use ::bitcoin::{OutPoint, ScriptBuf, Txid};
use serde::Deserialize;

use super::convert::{Prevout, script_address, txid_of};
use crate::error::{Error, Result};
use crate::sources::{Leg, UtxoTx};
use crate::types::{
    Address, Amount, Asset, BitcoinNetwork, BlockHeight, BlockRef, Chain, Special, Timestamp, TxId,
};

#[derive(Deserialize)]
struct TxJson {
    txid: String,
    vin: Vec<VinJson>,
    vout: Vec<VoutJson>,
    #[serde(default)]
    fee: Option<u64>,
    status: Option<StatusJson>,
}

#[derive(Deserialize)]
struct VinJson {
    txid: String,
    vout: u32,
    #[serde(default)]
    is_coinbase: bool,
    prevout: Option<VoutJson>,
}

#[derive(Deserialize)]
struct VoutJson {
    scriptpubkey: String,
    #[serde(default)]
    scriptpubkey_address: Option<String>,
    value: u64,
}

#[derive(Deserialize)]
struct StatusJson {
    confirmed: bool,
    block_height: Option<u64>,
    block_hash: Option<String>,
    block_time: Option<u64>,
}

/// Where a confirmed transaction was mined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mined {
    /// Block height.
    pub height: u64,
    /// Block hash, as Esplora shows it.
    pub hash: String,
    /// Block time.
    pub time: u64,
}

/// One Esplora transaction, checked and converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsploraTx {
    /// The transaction id.
    pub txid: TxId,
    /// Whether it is a coinbase transaction.
    pub coinbase: bool,
    /// Each input's outpoint and previous output (none for a coinbase).
    pub inputs: Vec<(OutPoint, Option<Prevout>)>,
    /// Each output's address and value.
    pub outputs: Vec<(Address, u64)>,
    /// The fee the server states.
    pub fee: Option<u64>,
    /// The block, if confirmed.
    pub mined: Option<Mined>,
}

impl EsploraTx {
    /// Inputs minus outputs, when every input's value is known.
    pub fn computed_fee(&self) -> Option<u64> {
        if self.coinbase {
            return Some(0);
        }
        let mut sum_in = 0u64;
        for (_, p) in &self.inputs {
            sum_in = sum_in.checked_add(p.as_ref()?.value)?;
        }
        let sum_out = self
            .outputs
            .iter()
            .try_fold(0u64, |a, o| a.checked_add(o.1))?;
        sum_in.checked_sub(sum_out)
    }

    /// The transaction as a record, for a confirmed transaction at `index`
    /// in its block; `None` if unconfirmed.
    pub fn to_record(&self, index: u32) -> Option<UtxoTx> {
        let m = self.mined.as_ref()?;
        let leg = |address: Address, v: u64| Leg {
            address,
            amount: Amount::new(u128::from(v)),
        };
        let sum_out: u64 = self
            .outputs
            .iter()
            .map(|o| o.1)
            .fold(0, u64::saturating_add);
        let inputs = if self.coinbase {
            vec![leg(
                Address::special(Chain::Bitcoin, Special::Coinbase),
                sum_out,
            )]
        } else {
            self.inputs
                .iter()
                .filter_map(|(_, p)| p.map(|p| leg(p.address, p.value)))
                .collect()
        };
        Some(UtxoTx {
            tx: self.txid,
            block: BlockRef {
                chain: Chain::Bitcoin,
                height: BlockHeight(m.height),
                time: Timestamp(m.time),
            },
            index,
            asset: Asset::Btc,
            inputs,
            outputs: self.outputs.iter().map(|&(a, v)| leg(a, v)).collect(),
        })
    }
}

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::Parse {
        what: "esplora json",
        input: what.to_owned(),
        reason: reason.into(),
    }
}

fn output(o: &VoutJson, net: BitcoinNetwork, what: &str, place: &str) -> Result<(Address, u64)> {
    let script = ScriptBuf::from_hex(&o.scriptpubkey)
        .map_err(|e| bad(what, format!("{place}: script: {e}")))?;
    let address = script_address(&script, net);
    if let Some(stated) = &o.scriptpubkey_address
        && address.plain() != *stated
    {
        return Err(bad(
            what,
            format!(
                "{place}: script pays {}, but the server says {stated}",
                address.plain()
            ),
        ));
    }
    Ok((address, o.value))
}

/// Parses one Esplora transaction object, or an array of them. `what`
/// names the file or request in errors.
///
/// # Errors
/// [`Error::Parse`] for malformed JSON, bad scripts, an address or fee that
/// disagrees with the server's own fields.
pub fn parse_esplora(json: &str, what: &str, net: BitcoinNetwork) -> Result<Vec<EsploraTx>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<TxJson>),
        One(Box<TxJson>),
    }
    let parsed: OneOrMany =
        serde_json::from_str(json).map_err(|e| bad(what, format!("malformed json: {e}")))?;
    let list = match parsed {
        OneOrMany::Many(v) => v,
        OneOrMany::One(t) => vec![*t],
    };
    let mut out = Vec::with_capacity(list.len());
    for t in list {
        let txid: Txid = t
            .txid
            .parse()
            .map_err(|e| bad(what, format!("txid {}: {e}", t.txid)))?;
        let coinbase = t.vin.iter().any(|v| v.is_coinbase);
        let mut inputs = Vec::with_capacity(t.vin.len());
        for (i, v) in t.vin.iter().enumerate() {
            let prev: Txid = v
                .txid
                .parse()
                .map_err(|e| bad(what, format!("tx {} input {i}: {e}", t.txid)))?;
            let prevout = match &v.prevout {
                Some(p) if !v.is_coinbase => {
                    let (address, value) =
                        output(p, net, what, &format!("tx {} input {i}", t.txid))?;
                    Some(Prevout { address, value })
                }
                _ => None,
            };
            inputs.push((
                OutPoint {
                    txid: prev,
                    vout: v.vout,
                },
                prevout,
            ));
        }
        let outputs = t
            .vout
            .iter()
            .enumerate()
            .map(|(i, o)| output(o, net, what, &format!("tx {} output {i}", t.txid)))
            .collect::<Result<Vec<_>>>()?;
        let mined = match t.status {
            Some(StatusJson {
                confirmed: true,
                block_height: Some(height),
                block_hash,
                block_time: Some(time),
            }) => Some(Mined {
                height,
                hash: block_hash.unwrap_or_default(),
                time,
            }),
            Some(StatusJson {
                confirmed: true, ..
            }) => {
                return Err(bad(
                    what,
                    format!("tx {}: confirmed without block height and time", t.txid),
                ));
            }
            _ => None,
        };
        let e = EsploraTx {
            txid: txid_of(&txid),
            coinbase,
            inputs,
            outputs,
            fee: t.fee,
            mined,
        };
        if let (Some(stated), Some(computed)) = (e.fee, e.computed_fee())
            && stated != computed
            && !coinbase
        {
            return Err(bad(
                what,
                format!(
                    "tx {}: fee {stated} stated, inputs minus outputs is {computed}",
                    t.txid
                ),
            ));
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &str = r#"{"txid":"b6a53d8a8025c0831f4f8df0ba5ac3a2f2d6ad3eaf1ab1bc6c5e2bf1e3a1f698","vin":[],"vout":[],"status":{"confirmed":false}}"#;

    #[test]
    fn malformed_and_inconsistent_answers_are_errors() {
        let e = parse_esplora("[{", "cut.json", BitcoinNetwork::Mainnet)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.json") && e.contains("malformed"), "{e}");
        assert!(
            parse_esplora(TX, "ok", BitcoinNetwork::Mainnet).unwrap()[0]
                .mined
                .is_none()
        );
        let lying = r#"{"txid":"b6a53d8a8025c0831f4f8df0ba5ac3a2f2d6ad3eaf1ab1bc6c5e2bf1e3a1f698","vin":[],
            "vout":[{"scriptpubkey":"76a9149d32ef812385f3811634e0c0117dd153a5de10a488ac","scriptpubkey_address":"1BoatSLRHtKNngkdXEeobR76b53LETtpyT","value":5}],
            "status":{"confirmed":false}}"#;
        let e = parse_esplora(lying, "lying.json", BitcoinNetwork::Mainnet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("1FLC7Bag7okAkKPCyZbgZZg3Hh1EuGZ5Rd") && e.contains("server says"),
            "{e}"
        );
    }
}
