//! Pure conversion of Ethereum JSON-RPC results (ethers types) to transfers.
//!
//! Nothing here does I/O: the live source, the replay tests and callers with
//! their own ethers data all go through [`convert_block`]. What a block yields,
//! per transaction in block order:
//!
//! 1. the **fee**, `gasUsed × effectiveGasPrice` (or `gasPrice` before London),
//!    from the sender to the `fees` pseudo-address. It is paid whether or not
//!    the transaction succeeds, and it comes first because gas is bought
//!    before execution;
//! 2. if the transaction succeeded: its **native value**, to `to` or, for a
//!    contract creation, to the receipt's `contractAddress`;
//! 3. if it succeeded and traces are given: the **internal value transfers**,
//!    in trace order: `call` frames with value (a `callcode`, `delegatecall`
//!    or `staticcall` frame moves nothing to another account), `create` frames
//!    with value, and self-destructs paying their balance to the beneficiary;
//!    a frame that reverted, or whose parent reverted, moves nothing;
//! 4. if it succeeded: the **ERC-20 `Transfer` logs** in log order, each token
//!    its own asset (topic0 `0xddf252ad…b3ef`, exactly three topics and 32 bytes
//!    of data; an ERC-721 `Transfer` has four topics and is counted, not read
//!    as an amount).
//!
//! After the transactions come **new value**: block and uncle rewards (from
//! Parity-style traces) and, after Shanghai, validator withdrawals (Gwei,
//! converted to wei), all from the `mint` pseudo-address. Their transaction id
//! is the block hash, since no transaction carries them.
//!
//! A receipt's `status` says whether a transaction succeeded. Before Byzantium
//! (block 4,370,000) receipts have no status: the top-level trace frame's error
//! decides when traces are given; without traces the transaction is taken as
//! successful and counted under `status_unknown`.

use std::collections::BTreeMap;

use ethers_core::types::{
    Action, Block, CallType, H256, Log, RewardType, Trace, Transaction, TransactionReceipt, U256,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sources::{Record, Transfer};
use crate::types::{
    Address, Amount, Asset, BlockHeight, BlockRef, Chain, Position, Special, Timestamp, TxId,
};

/// keccak256("Transfer(address,address,uint256)"), the topic0 of ERC-20 and
/// ERC-721 `Transfer` events.
pub const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// Wei per Gwei: withdrawal amounts are given in Gwei.
const WEI_PER_GWEI: u128 = 1_000_000_000;

/// What kind of value movement an [`EthTransfer`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum EthKind {
    /// The transaction fee, to the `fees` pseudo-address.
    Fee,
    /// The transaction's own value.
    Native,
    /// A value-moving trace frame below the top level.
    Internal {
        /// Path of the frame in the call tree (ethereum-etl's `trace_address`).
        trace_address: Vec<u32>,
        /// `call`, `create` or `suicide`.
        frame: FrameKind,
    },
    /// An ERC-20 `Transfer` log.
    Token {
        /// The log's index in the block.
        log_index: u64,
    },
    /// A block or uncle reward (Parity-style traces).
    Reward {
        /// `block` or `uncle`.
        reward: &'static str,
    },
    /// A validator withdrawal (post-Shanghai).
    Withdrawal {
        /// The withdrawal's index.
        index: u64,
    },
}

/// The kind of a value-moving trace frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// A plain call with value.
    Call,
    /// A contract creation with value (the new contract receives it).
    Create,
    /// A self-destruct paying the contract's balance to its beneficiary.
    Suicide,
    /// A block or uncle reward.
    Reward,
}

impl FrameKind {
    /// ethereum-etl's `trace_type` for this kind.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Call => "call",
            FrameKind::Create => "create",
            FrameKind::Suicide => "suicide",
            FrameKind::Reward => "reward",
        }
    }
}

/// One value movement of an Ethereum block, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EthTransfer {
    /// What it is.
    #[serde(flatten)]
    pub kind: EthKind,
    /// The transaction, or the block hash for rewards and withdrawals.
    pub tx: TxId,
    /// Position in the block (transaction index, then order in the transaction).
    pub position: Position,
    /// ETH or the token.
    pub asset: Asset,
    /// Sender.
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Base units (wei or token units).
    pub amount: Amount,
}

impl EthTransfer {
    /// The chain-neutral transfer.
    pub fn to_transfer(&self, block: BlockRef) -> Transfer {
        Transfer {
            tx: self.tx,
            block,
            position: self.position,
            asset: self.asset,
            from: self.from,
            to: self.to,
            amount: self.amount,
        }
    }
}

/// A value-moving frame from a trace, whether or not it took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFrame {
    /// The transaction hash (`None` for rewards).
    pub tx_hash: Option<[u8; 32]>,
    /// Index of the transaction in the block (`None` for rewards).
    pub tx_index: Option<u32>,
    /// Path in the call tree; empty for the top-level frame.
    pub trace_address: Vec<u32>,
    /// What the frame does.
    pub kind: FrameKind,
    /// `block`/`uncle` for rewards.
    pub reward: Option<&'static str>,
    /// Sender (the `mint` pseudo-address for rewards).
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Wei.
    pub amount: Amount,
    /// False if the frame or one of its parents failed: it moved nothing.
    pub ok: bool,
}

/// Traces of one block, in either of the two formats nodes serve.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockTraces {
    /// `trace_block` (OpenEthereum, Erigon, Nethermind, reth, anvil).
    Parity(Vec<Trace>),
    /// `debug_traceBlockByNumber` with `callTracer` (geth), one frame per
    /// transaction in block order.
    Geth(Vec<GethFrame>),
}

/// A geth `callTracer` frame.
///
/// Our own type rather than ethers' `CallFrame`, which requires `from` and
/// `input` on every frame: geth before 1.10 reported a self-destruct as a bare
/// `{"type": "SELFDESTRUCT"}` (mainnet block 1011973), and such a block must
/// still load.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GethFrame {
    /// `CALL`, `CREATE`, `CREATE2`, `SELFDESTRUCT`, `DELEGATECALL`, …
    #[serde(rename = "type")]
    pub typ: String,
    /// Caller (absent on old self-destruct frames).
    #[serde(default)]
    pub from: Option<ethers_core::types::Address>,
    /// Callee, created contract or beneficiary.
    #[serde(default)]
    pub to: Option<ethers_core::types::Address>,
    /// Wei moved (absent when none).
    #[serde(default)]
    pub value: Option<U256>,
    /// Set when the frame failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Sub-calls.
    #[serde(default)]
    pub calls: Vec<GethFrame>,
}

/// The fields of a transaction receipt that value needs.
///
/// Our own type rather than ethers' `TransactionReceipt`, which requires
/// `from` and `to`: OpenEthereum's `eth_getBlockReceipts` answers (mainnet
/// block 483920) have neither. `From<TransactionReceipt>` is provided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction.
    pub transaction_hash: H256,
    /// The block the receipt belongs to (checked against the block).
    #[serde(default)]
    pub block_hash: Option<H256>,
    /// 1 success, 0 failure; absent before Byzantium.
    #[serde(default)]
    pub status: Option<ethers_core::types::U64>,
    /// Gas used by the transaction.
    #[serde(default)]
    pub gas_used: Option<U256>,
    /// Price paid per gas (absent before London).
    #[serde(default)]
    pub effective_gas_price: Option<U256>,
    /// The created contract, for a creation.
    #[serde(default)]
    pub contract_address: Option<ethers_core::types::Address>,
    /// Event logs.
    #[serde(default)]
    pub logs: Vec<Log>,
}

impl From<TransactionReceipt> for Receipt {
    fn from(r: TransactionReceipt) -> Receipt {
        Receipt {
            transaction_hash: r.transaction_hash,
            block_hash: r.block_hash,
            status: r.status,
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            logs: r.logs,
        }
    }
}

/// Everything fetched for one block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockData {
    /// The block with full transactions.
    pub block: Block<Transaction>,
    /// One receipt per transaction (any order).
    pub receipts: Vec<Receipt>,
    /// Traces, if the node serves them.
    pub traces: Option<BlockTraces>,
}

/// What [`convert_block`] found besides transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockCounts {
    /// Transactions.
    pub transactions: u64,
    /// Transactions whose receipt says they failed (they pay their fee only).
    pub failed_transactions: u64,
    /// Pre-Byzantium transactions without traces, taken as successful.
    pub status_unknown: u64,
    /// ERC-721 `Transfer` logs (four topics), not read as amounts.
    pub nft_transfers: u64,
    /// `Transfer` logs with three topics but not 32 bytes of data, skipped.
    pub malformed_transfer_logs: u64,
    /// ERC-20 amounts above 2^128 - 1, skipped (and named in a note).
    pub token_amounts_too_large: u64,
    /// Self-destruct frames that do not say who got how much.
    pub selfdestruct_value_unknown: u64,
}

impl BlockCounts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &BlockCounts) {
        self.transactions += other.transactions;
        self.failed_transactions += other.failed_transactions;
        self.status_unknown += other.status_unknown;
        self.nft_transfers += other.nft_transfers;
        self.malformed_transfer_logs += other.malformed_transfer_logs;
        self.token_amounts_too_large += other.token_amounts_too_large;
        self.selfdestruct_value_unknown += other.selfdestruct_value_unknown;
    }

    /// As named counters for a report.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        [
            ("transactions", self.transactions),
            ("failed_transactions", self.failed_transactions),
            ("status_unknown", self.status_unknown),
            ("nft_transfers", self.nft_transfers),
            ("malformed_transfer_logs", self.malformed_transfer_logs),
            ("token_amounts_too_large", self.token_amounts_too_large),
            (
                "selfdestruct_value_unknown",
                self.selfdestruct_value_unknown,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// One converted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedBlock {
    /// Height and time.
    pub block: BlockRef,
    /// The block hash.
    pub hash: [u8; 32],
    /// Value movements in block order.
    pub transfers: Vec<EthTransfer>,
    /// Whether traces were given (internal transfers and rewards are seen).
    pub traced: bool,
    /// Counts for the report.
    pub counts: BlockCounts,
    /// Things worth a warning, each naming the block and transaction.
    pub notes: Vec<String>,
}

impl ConvertedBlock {
    /// The transfers as chain-neutral records.
    pub fn records(&self) -> Vec<Record> {
        self.transfers
            .iter()
            .map(|t| Record::Transfer(t.to_transfer(self.block)))
            .collect()
    }
}

/// What an event log is, as far as value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTransfer {
    /// An ERC-20 transfer: the token contract, sender, receiver and amount.
    Erc20 {
        /// Token contract.
        token: [u8; 20],
        /// Sender.
        from: [u8; 20],
        /// Receiver.
        to: [u8; 20],
        /// Base units.
        amount: Amount,
    },
    /// An ERC-721 transfer (four topics): not a fungible amount.
    Nft,
    /// A `Transfer` log with three topics whose data is not one 32-byte word.
    Malformed,
    /// An ERC-20 transfer whose amount does not fit in 128 bits.
    TooLarge,
    /// Not a `Transfer` log, or a log removed by a reorganisation.
    Other,
}

/// Classifies one log.
pub fn log_transfer(log: &Log) -> LogTransfer {
    if log.removed == Some(true) || log.topics.first().map(|t| t.0) != Some(TRANSFER_TOPIC) {
        return LogTransfer::Other;
    }
    match log.topics.len() {
        4 => LogTransfer::Nft,
        3 if log.data.len() == 32 => {
            let word = |t: &H256| {
                let mut a = [0u8; 20];
                a.copy_from_slice(&t.0[12..]);
                a
            };
            let value = U256::from_big_endian(&log.data);
            match u256_amount(value) {
                Some(amount) => LogTransfer::Erc20 {
                    token: log.address.0,
                    from: word(&log.topics[1]),
                    to: word(&log.topics[2]),
                    amount,
                },
                None => LogTransfer::TooLarge,
            }
        }
        3 => LogTransfer::Malformed,
        _ => LogTransfer::Other,
    }
}

/// A U256 as an amount, if it fits in 128 bits.
pub fn u256_amount(v: U256) -> Option<Amount> {
    (v.bits() <= 128).then(|| Amount::new(v.as_u128()))
}

fn eth(a: ethers_core::types::Address) -> Address {
    Address::ethereum(a.0)
}

/// Value-moving frames of Parity-style traces (`trace_block`), in trace
/// order, rewards included. A frame is `ok` unless it or a parent has an
/// error.
///
/// # Errors
/// [`Error::AmountOverflow`] for a value above 2^128 - 1 wei (more ether than
/// exists).
pub fn parity_frames(traces: &[Trace]) -> Result<Vec<ValueFrame>> {
    let mut out = Vec::new();
    // Failed frames of the current transaction, by trace address.
    let mut failed: Vec<(Option<H256>, Vec<usize>)> = Vec::new();
    for t in traces {
        let under_failed = failed
            .iter()
            .any(|(h, a)| *h == t.transaction_hash && t.trace_address.starts_with(a));
        if t.error.is_some() {
            failed.push((t.transaction_hash, t.trace_address.clone()));
        }
        let ok = !under_failed && t.error.is_none();
        let amount = |v: U256| {
            u256_amount(v).ok_or_else(|| Error::AmountOverflow {
                context: format!(
                    "in trace of tx {:?} at {:?} (block {})",
                    t.transaction_hash, t.trace_address, t.block_number
                ),
            })
        };
        let (kind, reward, from, to, value) = match &t.action {
            Action::Call(c) => {
                if c.call_type != CallType::Call || c.value.is_zero() {
                    continue;
                }
                (FrameKind::Call, None, eth(c.from), eth(c.to), c.value)
            }
            Action::Create(c) => {
                if c.value.is_zero() {
                    continue;
                }
                let to = match &t.result {
                    Some(ethers_core::types::Res::Create(r)) => eth(r.address),
                    // A failed creation has no address; it moves nothing.
                    _ => Address::special(Chain::Ethereum, Special::Burn),
                };
                let ok = ok && matches!(t.result, Some(ethers_core::types::Res::Create(_)));
                out.push(frame(
                    t,
                    FrameKind::Create,
                    None,
                    eth(c.from),
                    to,
                    amount(c.value)?,
                    ok,
                ));
                continue;
            }
            Action::Suicide(s) => {
                if s.balance.is_zero() {
                    continue;
                }
                (
                    FrameKind::Suicide,
                    None,
                    eth(s.address),
                    eth(s.refund_address),
                    s.balance,
                )
            }
            Action::Reward(r) => {
                if r.value.is_zero() {
                    continue;
                }
                let name = match r.reward_type {
                    RewardType::Block => "block",
                    RewardType::Uncle => "uncle",
                    RewardType::EmptyStep => "empty_step",
                    RewardType::External => "external",
                };
                (
                    FrameKind::Reward,
                    Some(name),
                    Address::special(Chain::Ethereum, Special::Mint),
                    eth(r.author),
                    r.value,
                )
            }
        };
        out.push(frame(t, kind, reward, from, to, amount(value)?, ok));
    }
    Ok(out)
}

fn frame(
    t: &Trace,
    kind: FrameKind,
    reward: Option<&'static str>,
    from: Address,
    to: Address,
    amount: Amount,
    ok: bool,
) -> ValueFrame {
    ValueFrame {
        tx_hash: t.transaction_hash.map(|h| h.0),
        tx_index: t.transaction_position.and_then(|p| u32::try_from(p).ok()),
        trace_address: t
            .trace_address
            .iter()
            .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect(),
        kind,
        reward,
        from,
        to,
        amount,
        ok,
    }
}

/// Value-moving frames of geth `callTracer` traces, one root frame per
/// transaction in block order (`tx_hashes[i]` names transaction `i`).
/// Returns the frames and the number of self-destructs whose value is not
/// reported (old geth).
///
/// # Errors
/// [`Error::AmountOverflow`] for a value above 2^128 - 1 wei.
pub fn geth_frames(roots: &[GethFrame], tx_hashes: &[[u8; 32]]) -> Result<(Vec<ValueFrame>, u64)> {
    let mut out = Vec::new();
    let mut unknown = 0u64;
    for (i, root) in roots.iter().enumerate() {
        let mut path = Vec::new();
        walk_geth(
            root,
            i,
            tx_hashes.get(i).copied(),
            &mut path,
            true,
            &mut out,
            &mut unknown,
        )?;
    }
    Ok((out, unknown))
}

fn walk_geth(
    f: &GethFrame,
    tx_index: usize,
    tx_hash: Option<[u8; 32]>,
    path: &mut Vec<u32>,
    parent_ok: bool,
    out: &mut Vec<ValueFrame>,
    unknown: &mut u64,
) -> Result<()> {
    let ok = parent_ok && f.error.is_none();
    let typ = f.typ.to_ascii_uppercase();
    let kind = match typ.as_str() {
        "CALL" => Some(FrameKind::Call),
        "CREATE" | "CREATE2" => Some(FrameKind::Create),
        "SELFDESTRUCT" => Some(FrameKind::Suicide),
        _ => None,
    };
    if let Some(kind) = kind {
        match (f.from, f.to, f.value) {
            (Some(from), Some(to), Some(v)) if !v.is_zero() => {
                let amount = u256_amount(v).ok_or_else(|| Error::AmountOverflow {
                    context: format!("in geth trace of tx {tx_index} at {path:?}"),
                })?;
                out.push(ValueFrame {
                    tx_hash,
                    tx_index: u32::try_from(tx_index).ok(),
                    trace_address: path.clone(),
                    kind,
                    reward: None,
                    from: eth(from),
                    to: eth(to),
                    amount,
                    ok,
                });
            }
            (_, _, Some(v)) if v.is_zero() => {}
            (_, _, None) if kind == FrameKind::Suicide => *unknown += 1,
            _ => {}
        }
    }
    for (k, c) in f.calls.iter().enumerate() {
        path.push(u32::try_from(k).unwrap_or(u32::MAX));
        walk_geth(c, tx_index, tx_hash, path, ok, out, unknown)?;
        path.pop();
    }
    Ok(())
}

fn block_error(height: u64, reason: impl Into<String>) -> Error {
    Error::InvalidRecord {
        context: format!("in ethereum block {height}"),
        reason: reason.into(),
    }
}

/// Converts one block with its receipts (and traces, if any) to transfers.
///
/// # Errors
/// [`Error::InvalidRecord`] naming the block when it has no number or hash
/// (a pending block), when a transaction has no receipt or a receipt belongs
/// to no transaction, or when traces do not match the transactions;
/// [`Error::AmountOverflow`] for a value or fee above 2^128 - 1.
pub fn convert_block(data: &BlockData) -> Result<ConvertedBlock> {
    let b = &data.block;
    let height = b
        .number
        .ok_or_else(|| block_error(0, "block has no number (pending?)"))?
        .as_u64();
    let hash = b
        .hash
        .ok_or_else(|| block_error(height, "block has no hash (pending?)"))?
        .0;
    if b.timestamp.bits() > 64 {
        return Err(block_error(height, "timestamp does not fit in 64 bits"));
    }
    crate::limits::check_block_txs(b.transactions.len(), || {
        format!("in ethereum block {height}")
    })?;
    let block = BlockRef {
        chain: Chain::Ethereum,
        height: BlockHeight(height),
        time: Timestamp(b.timestamp.as_u64()),
    };
    let mut counts = BlockCounts {
        transactions: b.transactions.len() as u64,
        ..BlockCounts::default()
    };
    let mut notes = Vec::new();

    // Receipts by transaction hash.
    let mut receipts: BTreeMap<[u8; 32], &Receipt> = BTreeMap::new();
    for r in &data.receipts {
        if let Some(h) = r.block_hash.filter(|h| h.0 != hash) {
            return Err(block_error(
                height,
                format!(
                    "the receipt of tx {:?} belongs to block {h:?}, not {:?}",
                    r.transaction_hash,
                    H256(hash)
                ),
            ));
        }
        if receipts.insert(r.transaction_hash.0, r).is_some() {
            return Err(block_error(
                height,
                format!("two receipts for tx {:?}", r.transaction_hash),
            ));
        }
    }
    if receipts.len() != b.transactions.len() {
        return Err(block_error(
            height,
            format!(
                "{} receipts for {} transactions",
                receipts.len(),
                b.transactions.len()
            ),
        ));
    }

    // Internal frames by transaction index.
    let tx_hashes: Vec<[u8; 32]> = b.transactions.iter().map(|t| t.hash.0).collect();
    let (frames, rewards) = match &data.traces {
        None => (Vec::new(), Vec::new()),
        Some(BlockTraces::Parity(traces)) => {
            if let Some(t) = traces
                .iter()
                .find(|t| t.block_number != height || t.block_hash.0 != hash)
            {
                return Err(block_error(
                    height,
                    format!(
                        "trace of block {} ({:?}) served for this block",
                        t.block_number, t.block_hash
                    ),
                ));
            }
            let all = parity_frames(traces)?;
            let (rewards, frames) = all.into_iter().partition(|f| f.tx_hash.is_none());
            (frames, rewards)
        }
        Some(BlockTraces::Geth(roots)) => {
            if roots.len() != b.transactions.len() {
                return Err(block_error(
                    height,
                    format!(
                        "{} geth traces for {} transactions",
                        roots.len(),
                        b.transactions.len()
                    ),
                ));
            }
            let (frames, unknown) = geth_frames(roots, &tx_hashes)?;
            counts.selfdestruct_value_unknown += unknown;
            (frames, Vec::new())
        }
    };
    let mut frames_by_tx: BTreeMap<[u8; 32], Vec<&ValueFrame>> = BTreeMap::new();
    for f in &frames {
        let h = f.tx_hash.expect("partitioned: frames have tx hashes");
        if !tx_hashes.contains(&h) {
            return Err(block_error(
                height,
                format!(
                    "trace names tx 0x{} which is not in the block",
                    crate::types::hex(&h)
                ),
            ));
        }
        frames_by_tx.entry(h).or_default().push(f);
    }
    // Top-level trace failure, for receipts without status.
    let top_failed = |h: &[u8; 32]| -> Option<bool> {
        match &data.traces {
            Some(BlockTraces::Parity(ts)) => ts
                .iter()
                .find(|t| t.transaction_hash.map(|x| x.0) == Some(*h) && t.trace_address.is_empty())
                .map(|t| t.error.is_some()),
            Some(BlockTraces::Geth(roots)) => tx_hashes
                .iter()
                .position(|x| x == h)
                .and_then(|i| roots.get(i))
                .map(|r| r.error.is_some()),
            None => None,
        }
    };

    let fees = Address::special(Chain::Ethereum, Special::Fees);
    let mint = Address::special(Chain::Ethereum, Special::Mint);
    let mut transfers = Vec::new();
    for (i, tx) in b.transactions.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| block_error(height, "too many transactions"))?;
        let txid = TxId::new(Chain::Ethereum, tx.hash.0);
        let r = receipts
            .get(&tx.hash.0)
            .ok_or_else(|| block_error(height, format!("no receipt for tx {txid}")))?;
        let mut sub = 0u32;
        let mut push = |kind: EthKind, asset: Asset, from: Address, to: Address, amount: Amount| {
            transfers.push(EthTransfer {
                kind,
                tx: txid,
                position: Position { index, sub },
                asset,
                from,
                to,
                amount,
            });
            sub += 1;
        };
        let from = eth(tx.from);

        // 1. The fee.
        let price = r
            .effective_gas_price
            .or(tx.gas_price)
            .ok_or_else(|| block_error(height, format!("no gas price for tx {txid}")))?;
        let gas = r
            .gas_used
            .ok_or_else(|| block_error(height, format!("receipt of tx {txid} has no gasUsed")))?;
        let fee = gas
            .checked_mul(price)
            .and_then(u256_amount)
            .ok_or_else(|| Error::AmountOverflow {
                context: format!("fee of tx {txid} in ethereum block {height}"),
            })?;
        if !fee.is_zero() {
            push(EthKind::Fee, Asset::Eth, from, fees, fee);
        }

        // Did it succeed?
        let ok = match r.status.map(|s| s.as_u64()) {
            Some(1) => true,
            Some(0) => false,
            Some(s) => {
                return Err(block_error(
                    height,
                    format!("receipt of tx {txid} has status {s}"),
                ));
            }
            None => match top_failed(&tx.hash.0) {
                Some(failed) => !failed,
                None => {
                    counts.status_unknown += 1;
                    true
                }
            },
        };
        if !ok {
            counts.failed_transactions += 1;
            continue;
        }

        // 2. The native value.
        if !tx.value.is_zero() {
            let amount = u256_amount(tx.value).ok_or_else(|| Error::AmountOverflow {
                context: format!("value of tx {txid} in ethereum block {height}"),
            })?;
            let to = tx.to.or(r.contract_address).ok_or_else(|| {
                block_error(
                    height,
                    format!("tx {txid} creates a contract but its receipt has no contractAddress"),
                )
            })?;
            push(EthKind::Native, Asset::Eth, from, eth(to), amount);
        }

        // 3. Internal transfers.
        for f in frames_by_tx.get(&tx.hash.0).into_iter().flatten() {
            if f.trace_address.is_empty() || !f.ok {
                continue;
            }
            push(
                EthKind::Internal {
                    trace_address: f.trace_address.clone(),
                    frame: f.kind,
                },
                Asset::Eth,
                f.from,
                f.to,
                f.amount,
            );
        }

        // 4. Token transfers.
        for log in &r.logs {
            match log_transfer(log) {
                LogTransfer::Erc20 {
                    token,
                    from,
                    to,
                    amount,
                } => {
                    let log_index = log
                        .log_index
                        .filter(|v| v.bits() <= 64)
                        .map(|v| v.as_u64())
                        .ok_or_else(|| {
                            block_error(height, format!("a log of tx {txid} has no logIndex"))
                        })?;
                    push(
                        EthKind::Token { log_index },
                        Asset::Erc20(token),
                        Address::ethereum(from),
                        Address::ethereum(to),
                        amount,
                    );
                }
                LogTransfer::Nft => counts.nft_transfers += 1,
                LogTransfer::Malformed => counts.malformed_transfer_logs += 1,
                LogTransfer::TooLarge => {
                    counts.token_amounts_too_large += 1;
                    notes.push(format!(
                        "ethereum block {height} tx {txid}: token {:?} amount above 2^128 - 1 skipped",
                        log.address
                    ));
                }
                LogTransfer::Other => {}
            }
        }
    }

    // New value: rewards, then withdrawals.
    let index = u32::try_from(b.transactions.len()).unwrap_or(u32::MAX);
    let block_tx = TxId::new(Chain::Ethereum, hash);
    let mut sub = 0u32;
    for f in rewards.iter().filter(|f| f.ok) {
        transfers.push(EthTransfer {
            kind: EthKind::Reward {
                reward: f.reward.unwrap_or("block"),
            },
            tx: block_tx,
            position: Position { index, sub },
            asset: Asset::Eth,
            from: mint,
            to: f.to,
            amount: f.amount,
        });
        sub += 1;
    }
    for w in b.withdrawals.iter().flatten() {
        let amount = u256_amount(w.amount)
            .and_then(|a| a.get().checked_mul(WEI_PER_GWEI))
            .map(Amount::new)
            .ok_or_else(|| Error::AmountOverflow {
                context: format!("withdrawal {} in ethereum block {height}", w.index),
            })?;
        if amount.is_zero() {
            continue;
        }
        transfers.push(EthTransfer {
            kind: EthKind::Withdrawal {
                index: w.index.as_u64(),
            },
            tx: block_tx,
            position: Position { index, sub },
            asset: Asset::Eth,
            from: mint,
            to: eth(w.address),
            amount,
        });
        sub += 1;
    }
    Ok(ConvertedBlock {
        block,
        hash,
        transfers,
        traced: data.traces.is_some(),
        counts,
        notes,
    })
}

/// Parses a `debug_traceBlockByNumber` result: an array whose items are
/// either `{"result": frame, "txHash": …}` (geth 1.11 and later) or bare
/// frames (older geth).
///
/// # Errors
/// [`Error::Parse`] naming the block and the item.
pub fn parse_geth_block_traces(height: u64, items: &[serde_json::Value]) -> Result<Vec<GethFrame>> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let frame = v.get("result").unwrap_or(v);
            if let Some(e) = v.get("error").filter(|_| v.get("result").is_none()) {
                return Err(Error::Parse {
                    what: "geth trace",
                    input: format!("block {height} item {i}"),
                    reason: format!("the node could not trace the transaction: {e}"),
                });
            }
            GethFrame::deserialize(frame).map_err(|e| Error::Parse {
                what: "geth trace",
                input: format!("block {height} item {i}"),
                reason: e.to_string(),
            })
        })
        .collect()
}
