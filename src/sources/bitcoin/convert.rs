//! Pure conversion of decoded Bitcoin blocks into records (no I/O).

use ::bitcoin::hashes::{Hash, hash160};
use ::bitcoin::{Block, OutPoint, Script};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Result;
use crate::sources::{Leg, Record, UtxoTx};
use crate::types::{
    Address, Amount, Asset, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain, Special,
    Timestamp, TxId,
};

/// Our network for a `bitcoin` crate network.
pub fn network_of(net: ::bitcoin::Network) -> BitcoinNetwork {
    match net {
        ::bitcoin::Network::Bitcoin => BitcoinNetwork::Mainnet,
        ::bitcoin::Network::Regtest => BitcoinNetwork::Regtest,
        _ => BitcoinNetwork::Testnet,
    }
}

/// The address an output script pays, as explorers show it:
///
/// * P2PKH, P2SH, P2WPKH, P2WSH and P2TR: their usual encoding;
/// * bare P2PK: the P2PKH address of the key (hash160 of the key bytes as
///   they appear in the script, compressed or not);
/// * OP_RETURN: the `burn` pseudo-address (the value is destroyed, and the
///   leg stays visible);
/// * anything else (bare multisig, future witness versions, non-standard
///   scripts): the pseudo-address `script-<hash160 of the script>`, stable
///   for the same script.
pub fn script_address(script: &Script, net: BitcoinNetwork) -> Address {
    let b = script.as_bytes();
    let made = if script.is_p2pkh() {
        Address::bitcoin(net, BitcoinKind::P2pkh, &b[3..23])
    } else if script.is_p2sh() {
        Address::bitcoin(net, BitcoinKind::P2sh, &b[2..22])
    } else if script.is_p2wpkh() {
        Address::bitcoin(net, BitcoinKind::P2wpkh, &b[2..22])
    } else if script.is_p2wsh() {
        Address::bitcoin(net, BitcoinKind::P2wsh, &b[2..34])
    } else if script.is_p2tr() {
        Address::bitcoin(net, BitcoinKind::P2tr, &b[2..34])
    } else if script.is_p2pk() {
        // OP_PUSHBYTES_33|65 <key> OP_CHECKSIG
        let key = &b[1..b.len() - 1];
        Address::bitcoin(
            net,
            BitcoinKind::P2pkh,
            hash160::Hash::hash(key).as_byte_array(),
        )
    } else if script.is_op_return() {
        return Address::special(Chain::Bitcoin, Special::Burn);
    } else {
        return Address::script(Chain::Bitcoin, hash160::Hash::hash(b).to_byte_array());
    };
    made.unwrap_or_else(|_| Address::script(Chain::Bitcoin, hash160::Hash::hash(b).to_byte_array()))
}

/// Our transaction id for a `bitcoin` txid (displayed byte order).
pub fn txid_of(txid: &::bitcoin::Txid) -> TxId {
    let mut b = txid.to_byte_array();
    b.reverse();
    TxId::new(Chain::Bitcoin, b)
}

/// An output being spent: who held it and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prevout {
    /// The address the output paid.
    pub address: Address,
    /// Its value in satoshi.
    pub value: u64,
}

/// Finds outputs that the adapter has not seen in the blocks it read (a
/// range that starts mid-chain). `Ok(None)`: not known to this provider.
pub trait PrevoutProvider: Send {
    /// The output `outpoint` refers to.
    ///
    /// # Errors
    /// The provider's own failures (I/O, a node's error).
    fn prevout(&mut self, outpoint: &OutPoint) -> Result<Option<Prevout>>;
}

/// Unspent outputs seen so far, so that inputs can be given the address and
/// value of what they spend. Spent outputs are dropped, so memory follows the
/// UTXO set, not the history. Misses go to an optional [`PrevoutProvider`].
#[derive(Default)]
pub struct UtxoIndex {
    map: FxHashMap<OutPoint, Prevout>,
    provider: Option<Box<dyn PrevoutProvider>>,
}

impl UtxoIndex {
    /// An empty index.
    pub fn new() -> UtxoIndex {
        UtxoIndex::default()
    }

    /// An empty index that asks `provider` for outputs it has not seen.
    pub fn with_provider(provider: Box<dyn PrevoutProvider>) -> UtxoIndex {
        UtxoIndex {
            map: FxHashMap::default(),
            provider: Some(provider),
        }
    }

    /// Number of unspent outputs held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no output is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds an output that a source knows from elsewhere (the `prevout`
    /// fields of `getblock` verbosity 3, a `getrawtransaction` answer).
    pub fn insert(&mut self, outpoint: OutPoint, prevout: Prevout) {
        self.map.insert(outpoint, prevout);
    }

    fn spend(&mut self, o: &OutPoint) -> Result<Option<Prevout>> {
        if let Some(p) = self.map.remove(o) {
            return Ok(Some(p));
        }
        match &mut self.provider {
            Some(p) => p.prevout(o),
            None => Ok(None),
        }
    }
}

/// What converting one block counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlockSummary {
    /// Block height.
    pub height: u64,
    /// Transactions.
    pub txs: u64,
    /// Inputs of non-coinbase transactions.
    pub inputs: u64,
    /// Outputs.
    pub outputs: u64,
    /// Inputs whose previous output was not known (value unknown).
    pub unknown_inputs: u64,
    /// Sum of the fees of transactions whose inputs were all known.
    pub fees: u64,
    /// Transactions whose fee is unknown (some input not known).
    pub unknown_fee_txs: u64,
    /// What the coinbase transaction paid out (subsidy plus fees).
    pub coinbase_value: u64,
}

impl BlockSummary {
    /// Adds another block's counts (the height becomes the other's).
    pub fn add(&mut self, o: &BlockSummary) {
        self.height = o.height;
        self.txs += o.txs;
        self.inputs += o.inputs;
        self.outputs += o.outputs;
        self.unknown_inputs += o.unknown_inputs;
        self.unknown_fee_txs += o.unknown_fee_txs;
        self.fees += o.fees;
        self.coinbase_value += o.coinbase_value;
    }

    /// The counts as source counters for reports, with `blocks` blocks.
    pub fn counters(&self, blocks: u64) -> std::collections::BTreeMap<String, u64> {
        [
            ("blocks", blocks),
            ("transactions", self.txs),
            ("inputs", self.inputs),
            ("outputs", self.outputs),
            ("inputs_with_unknown_prevout", self.unknown_inputs),
            ("transactions_with_unknown_fee", self.unknown_fee_txs),
            ("fees_sat", self.fees),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// What one step of a block-by-block source produced.
pub(crate) enum Step {
    /// No more blocks.
    End,
    /// A block was read (its outputs are known now) but is not emitted.
    Skipped,
    /// A block's records and counts.
    Block(BlockSummary, Vec<Record>),
}

/// The records of converted blocks, handed out one at a time, and the counts
/// over the blocks emitted: the bookkeeping every block-by-block source
/// shares. A block is queued whole or not at all.
#[derive(Debug, Default)]
pub(crate) struct BlockQueue {
    buf: std::collections::VecDeque<Record>,
    totals: BlockSummary,
    blocks: u64,
}

impl BlockQueue {
    /// The next record, calling `step` for further blocks as needed.
    pub(crate) fn next(
        &mut self,
        mut step: impl FnMut() -> Result<Step>,
    ) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Ok(Some(r));
            }
            match step()? {
                Step::End => return Ok(None),
                Step::Skipped => {}
                Step::Block(s, recs) => {
                    self.blocks += 1;
                    self.totals.add(&s);
                    self.buf.extend(recs);
                }
            }
        }
    }

    /// Whether every record of the blocks stepped so far was handed out.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Totals over the blocks emitted so far.
    pub(crate) fn totals(&self) -> BlockSummary {
        self.totals
    }

    /// The totals as source counters.
    pub(crate) fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.totals.counters(self.blocks)
    }
}

/// Converts a block into one [`UtxoTx`] record per transaction, in block
/// order, appending to `out`.
///
/// Inputs take the address and value of the output they spend (from `utxos`,
/// which this call updates: outputs are added, spent ones removed); a
/// coinbase input comes from the `coinbase` pseudo-address with the value of
/// the outputs. Inputs whose output is unknown are left out and counted:
/// the graph then shows the missing value as an input from `unknown`.
///
/// # Errors
/// Only a prevout provider's failure.
pub fn convert_block(
    block: &Block,
    height: u64,
    net: BitcoinNetwork,
    utxos: &mut UtxoIndex,
    out: &mut Vec<Record>,
) -> Result<BlockSummary> {
    convert_transactions(
        block.txdata.iter(),
        height,
        u64::from(block.header.time),
        net,
        utxos,
        out,
    )
}

/// The per-transaction part of [`convert_block`], for sources that have the
/// transactions of a block but not the block itself (Bitcoin Core's
/// `getblock` JSON). `txs` must be the whole block, in block order.
///
/// # Errors
/// Only a prevout provider's failure.
pub fn convert_transactions<'a>(
    txs: impl ExactSizeIterator<Item = &'a ::bitcoin::Transaction>,
    height: u64,
    time: u64,
    net: BitcoinNetwork,
    utxos: &mut UtxoIndex,
    out: &mut Vec<Record>,
) -> Result<BlockSummary> {
    crate::limits::check_block_txs(txs.len(), || format!("in bitcoin block {height}"))?;
    let bref = BlockRef {
        chain: Chain::Bitcoin,
        height: BlockHeight(height),
        time: Timestamp(time),
    };
    let mut s = BlockSummary {
        height,
        txs: txs.len() as u64,
        ..BlockSummary::default()
    };
    let coinbase = Address::special(Chain::Bitcoin, Special::Coinbase);
    for (index, tx) in txs.enumerate() {
        let txid = tx.compute_txid();
        let mut outputs = Vec::with_capacity(tx.output.len());
        let mut sum_out: u64 = 0;
        for (vout, o) in tx.output.iter().enumerate() {
            let address = script_address(&o.script_pubkey, net);
            let value = o.value.to_sat();
            sum_out = sum_out.saturating_add(value);
            outputs.push(Leg {
                address,
                amount: Amount::new(u128::from(value)),
            });
            if !o.script_pubkey.is_op_return() {
                let op = OutPoint {
                    txid,
                    vout: u32::try_from(vout).unwrap_or(u32::MAX),
                };
                utxos.map.insert(op, Prevout { address, value });
            }
        }
        s.outputs += tx.output.len() as u64;
        let mut inputs = Vec::with_capacity(tx.input.len());
        if tx.is_coinbase() {
            s.coinbase_value = sum_out;
            inputs.push(Leg {
                address: coinbase,
                amount: Amount::new(u128::from(sum_out)),
            });
        } else {
            s.inputs += tx.input.len() as u64;
            let mut sum_in: u64 = 0;
            let mut unknown = 0;
            for i in &tx.input {
                match utxos.spend(&i.previous_output)? {
                    Some(p) => {
                        sum_in = sum_in.saturating_add(p.value);
                        inputs.push(Leg {
                            address: p.address,
                            amount: Amount::new(u128::from(p.value)),
                        });
                    }
                    None => unknown += 1,
                }
            }
            s.unknown_inputs += unknown;
            if unknown == 0 {
                s.fees = s.fees.saturating_add(sum_in.saturating_sub(sum_out));
            } else {
                s.unknown_fee_txs += 1;
            }
        }
        out.push(Record::Utxo(UtxoTx {
            tx: txid_of(&txid),
            block: bref,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            asset: Asset::Btc,
            inputs,
            outputs,
        }));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::bitcoin::ScriptBuf;

    fn script(hex: &str) -> ScriptBuf {
        ScriptBuf::from_hex(hex).unwrap()
    }

    #[test]
    fn standard_scripts() {
        let m = BitcoinNetwork::Mainnet;
        // Outputs from the mempool.space fixtures in the shared data.
        assert_eq!(
            script_address(
                &script("76a9149d32ef812385f3811634e0c0117dd153a5de10a488ac"),
                m
            )
            .plain(),
            "1FLC7Bag7okAkKPCyZbgZZg3Hh1EuGZ5Rd"
        );
        assert_eq!(
            script_address(&script("0014fd6d15ff832c12f1ff04a5ccd5039f7227b260bd"), m).plain(),
            "bc1ql4k3tlur9sf0rlcy5hxd2qulwgnmyc9akehvth"
        );
        // OP_RETURN burns.
        assert_eq!(
            script_address(&script("6a0568656c6c6f"), m).as_special(),
            Some(Special::Burn)
        );
        // Bare multisig gets a stable script pseudo-address.
        let ms = script("5121020202020202020202020202020202020202020202020202020202020202020251ae");
        let a = script_address(&ms, m);
        assert_eq!(a, script_address(&ms, m));
        assert!(a.plain().starts_with("script-"));
    }

    #[test]
    fn p2pk_shows_as_p2pkh_of_the_key() {
        // The block 9 coinbase output pays this key (uncompressed P2PK); explorers
        // show 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S (DESIGN.md).
        let s = script(
            "410411db93e1dcdb8a016b49840f8c53bc1eb68a382e97b1482ecad7b148a6909a5cb2e0eaddfb84ccf9744464f82e160bfa9b8b64f9d4c03f999b8643f656b412a3ac",
        );
        assert_eq!(
            script_address(&s, BitcoinNetwork::Mainnet).plain(),
            "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"
        );
    }
}
