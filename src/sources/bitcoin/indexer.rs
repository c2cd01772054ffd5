//! Esplora as a crawl [`Indexer`]: an address's counts from `/address/:a`,
//! its confirmed history from `/address/:a/txs/chain[/:last_seen_txid]`
//! (newest first, a page at a time), and each transaction's place in its
//! block from `/block/:hash/txids`, fetched once per block.
//!
//! Addresses are asked for in the form fundtrace shows them. A bare P2PK
//! output is shown as the P2PKH address of its key; Esplora servers index
//! it under its own script, so its history is not found through that
//! address.

use std::sync::Arc;

use serde::Deserialize;

use super::esplora::{EsploraTx, parse_esplora};
use super::live::{BlockPositions, Esplora, node_err};
use crate::error::{NodeFailure, Result};
use crate::sources::Record;
use crate::sources::crawl::Indexer;
use crate::types::{Address, BlockHeight, Chain};

/// An address's confirmed counts, as Esplora's `/address/:a` gives them
/// (`chain_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AddressStats {
    /// Outputs paid to the address.
    pub funded_txo_count: u64,
    /// Their value, in satoshi.
    pub funded_txo_sum: u64,
    /// Those outputs spent.
    pub spent_txo_count: u64,
    /// Their value, in satoshi.
    pub spent_txo_sum: u64,
    /// Transactions that pay or spend from the address.
    pub tx_count: u64,
}

#[derive(Deserialize)]
struct StatsJson {
    chain_stats: AddressStats,
}

impl Esplora {
    /// `/address/:a`: the address's confirmed counts.
    ///
    /// # Errors
    /// [`Error::Node`](crate::Error::Node) for transport failures and
    /// malformed answers, naming the request.
    pub fn address_stats(&self, address: &str) -> Result<AddressStats> {
        let path = format!("/address/{address}");
        let text = self.get(&path)?.ok_or_else(|| {
            node_err(
                &self.base,
                format!("GET {path}"),
                NodeFailure::NotFound,
                "http 404",
            )
        })?;
        let s: StatsJson = serde_json::from_str(&text).map_err(|e| {
            node_err(
                &self.base,
                format!("GET {path}"),
                NodeFailure::Malformed,
                format!("malformed answer: {e}"),
            )
        })?;
        Ok(s.chain_stats)
    }

    /// `/address/:a/txs/chain[/:last_seen]`: one page of the address's
    /// confirmed transactions, newest first, after `last_seen` if given.
    ///
    /// # Errors
    /// [`Error::Node`](crate::Error::Node) for transport failures;
    /// [`Error::Parse`](crate::Error::Parse) for transactions that do not
    /// check out, naming the request.
    pub fn address_txs(&self, address: &str, last_seen: Option<&str>) -> Result<Vec<EsploraTx>> {
        let path = match last_seen {
            None => format!("/address/{address}/txs/chain"),
            Some(t) => format!("/address/{address}/txs/chain/{t}"),
        };
        let Some(text) = self.get(&path)? else {
            return Ok(Vec::new());
        };
        parse_esplora(&text, &format!("{}{path}", self.base), self.net)
    }

    /// The index of `tx` in its block, from the block's txids (fetched once
    /// per block).
    fn index_in_block(&self, tx: &EsploraTx, hash: &str) -> Result<u32> {
        let slot: BlockPositions = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(hash.to_owned())
            .or_default()
            .clone();
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let positions = match &*slot {
            Some(p) => p.clone(),
            None => {
                let ids = self.block_txids(hash)?.ok_or_else(|| {
                    node_err(
                        &self.base,
                        format!("GET /block/{hash}/txids"),
                        NodeFailure::NotFound,
                        "not found",
                    )
                })?;
                let p: Arc<std::collections::HashMap<String, u32>> = Arc::new(
                    ids.into_iter()
                        .enumerate()
                        .map(|(i, t)| (t, u32::try_from(i).unwrap_or(u32::MAX)))
                        .collect(),
                );
                *slot = Some(p.clone());
                p
            }
        };
        let id = tx.txid.to_string();
        positions.get(&id).copied().ok_or_else(|| {
            node_err(
                &self.base,
                format!("GET /block/{hash}/txids"),
                NodeFailure::Malformed,
                format!("tx {id} is not in the txids of block {hash}"),
            )
        })
    }
}

impl Indexer for Esplora {
    fn name(&self) -> String {
        format!("esplora:{}", self.base)
    }

    fn serves(&self, address: &Address) -> bool {
        address.chain() == Chain::Bitcoin && address.as_special().is_none()
    }

    fn tx_count(&self, address: &Address) -> Result<Option<u64>> {
        Ok(Some(self.address_stats(&address.plain())?.tx_count))
    }

    fn history(
        &self,
        address: &Address,
        from: BlockHeight,
        known: Option<u64>,
    ) -> Result<Vec<Record>> {
        let a = address.plain();
        let mut out = Vec::new();
        let mut last: Option<String> = None;
        let mut seen = 0u64;
        loop {
            let page = self.address_txs(&a, last.as_deref())?;
            let Some(tail) = page.last() else { break };
            let mut older = false;
            for tx in &page {
                let request = || match &last {
                    None => format!("GET /address/{a}/txs/chain"),
                    Some(t) => format!("GET /address/{a}/txs/chain/{t}"),
                };
                let Some(m) = &tx.mined else {
                    return Err(node_err(
                        &self.base,
                        request(),
                        NodeFailure::Malformed,
                        format!("unconfirmed tx {} in the confirmed history", tx.txid),
                    ));
                };
                if m.height < from.0 {
                    older = true;
                    continue;
                }
                let index = self.index_in_block(tx, &m.hash)?;
                out.extend(tx.to_record(index).map(Record::Utxo));
            }
            seen += page.len() as u64;
            if older || known.is_some_and(|k| seen >= k) {
                break;
            }
            let next = tail.txid.to_string();
            if last.as_deref() == Some(next.as_str()) {
                break;
            }
            last = Some(next);
        }
        Ok(out)
    }

    fn requests(&self) -> u64 {
        Esplora::requests(self)
    }

    fn details(&self) -> std::collections::BTreeMap<String, String> {
        #[cfg(feature = "cache")]
        if let Some(c) = self.cache() {
            return c.details();
        }
        std::collections::BTreeMap::new()
    }
}
