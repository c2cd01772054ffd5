//! Where and when value moves: transaction ids, blocks, heights, times,
//! positions inside a block, and balances known before a graph's first
//! block.
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use super::{Address, Amount, Asset, Chain, decode_hex, hex};
use crate::error::{Error, Result};

/// A transaction id: the chain and the 32-byte hash as explorers show it
/// (for Bitcoin, the byte-reversed double SHA-256 that block explorers print).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    chain: Chain,
    hash: [u8; 32],
}

impl TxId {
    /// A transaction id from its displayed bytes.
    pub fn new(chain: Chain, hash: [u8; 32]) -> TxId {
        TxId { chain, hash }
    }

    /// Parses 64 hex digits (an optional `0x` is accepted for any chain).
    ///
    /// # Errors
    /// [`Error::InvalidTxId`] if the text is not 64 hex digits.
    pub fn parse(chain: Chain, s: &str) -> Result<TxId> {
        let body = s.strip_prefix("0x").unwrap_or(s);
        let hash = decode_hex::<32>(body).ok_or_else(|| Error::InvalidTxId {
            input: s.to_owned(),
            reason: "expected 64 hex digits".into(),
        })?;
        Ok(TxId { chain, hash })
    }

    /// The chain of the transaction.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The 32 bytes, in displayed order.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.hash
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chain {
            Chain::Ethereum => write!(f, "0x{}", hex(&self.hash)),
            Chain::Bitcoin => f.write_str(&hex(&self.hash)),
        }
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({}:{self})", self.chain)
    }
}

impl Serialize for TxId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A block height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockHeight(pub u64);

impl fmt::Display for BlockHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A block timestamp in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// RFC 3339 in UTC, to the second (`2023-05-23T00:00:00Z`).
    pub fn to_rfc3339(self) -> String {
        // Civil-from-days by Howard Hinnant ("chrono-Compatible Low-Level Date
        // Algorithms"), valid for the whole u64 range we can meet here.
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A block: its chain, height and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BlockRef {
    /// The chain.
    pub chain: Chain,
    /// Height of the block.
    pub height: BlockHeight,
    /// Timestamp from the block header.
    pub time: Timestamp,
}

/// Where inside a block a transfer happens: the transaction's index in the
/// block, then the transfer's order inside the transaction.
///
/// Within one Ethereum transaction the adapter numbers transfers in the order
/// value moves (the fee, bought before execution, then the native value, then
/// internal transfers in trace order, then token transfers in log order), so a
/// contract can forward what it received in the same transaction. Rewards and
/// withdrawals follow the block's last transaction. A UTXO transaction is one step (sub-index 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct Position {
    /// Index of the transaction in its block.
    pub index: u32,
    /// Order of the transfer inside the transaction.
    pub sub: u32,
}

/// A balance an address held before the first block of the graph, fetched
/// from a node (`eth_getBalance`, ERC-20 `balanceOf`) so that the value
/// models see it instead of inferring it (see
/// [`crate::trace`], "Unknown opening balances").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningBalance {
    /// Whose balance.
    pub address: Address,
    /// In which asset.
    pub asset: Asset,
    /// Base units.
    pub amount: Amount,
    /// The block at whose end the balance was read.
    pub at_block: BlockHeight,
    /// Where it came from (`eth_getBalance`, `balanceOf`, …).
    pub source: String,
}
