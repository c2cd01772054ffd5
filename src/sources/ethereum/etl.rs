//! ethereum-etl and BigQuery (`bigquery-public-data.crypto_ethereum`) CSV
//! exports.
//!
//! A folder holds some of these files, with ethereum-etl's column names
//! (BigQuery's `receipt_*` and `block_timestamp` columns are read too):
//!
//! | file | used for |
//! |---|---|
//! | `transactions.csv` | transactions: sender, receiver, value, gas price |
//! | `receipts.csv` | status, gas used, effective gas price, created contract (or the `receipt_*` columns of a BigQuery transactions export) |
//! | `blocks.csv` | block hash and timestamp |
//! | `logs.csv` | raw logs: ERC-20 and ERC-721 `Transfer`s are told apart by their topics |
//! | `token_transfers.csv` | decoded token transfers, when there is no `logs.csv` |
//! | `traces.csv` | internal transfers, failures and rewards (Parity style) |
//!
//! Rows become the same ethers structures the live source fetches and go
//! through the same [`convert_block`], so the rules are the same: fee first,
//! then the native value, internal transfers and token transfers of
//! successful transactions, then rewards. Without `transactions.csv`, the
//! traces alone give every ETH movement (top-level frames included) and
//! tokens come from the token file, but fees are not seen.
//!
//! Caveats the source reports as warnings: `token_transfers.csv` lists ERC-721
//! transfers like ERC-20 ones (ethereum-etl does not tell them apart), so
//! without `logs.csv` a token id can be read as an amount; without receipts
//! neither fees nor failures are known; blocks without a timestamp get time 0.
//!
//! The rows are read one at a time and kept grouped by block as ethers
//! structures (about 1 KB per transaction); blocks are converted to records
//! one at a time as they are handed out. Memory therefore grows with the
//! export: split very large exports by block range.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use ethers_core::types::{
    Action, Block, Bytes, Call, CallType, Create, CreateResult, H160, H256, Log, Res, Reward,
    RewardType, Suicide, Trace, Transaction, U64, U256,
};

use super::convert::{BlockCounts, BlockData, BlockTraces, Receipt, convert_block, parity_frames};
use crate::error::{Error, Result};
use crate::sources::{Record, Source, Transfer};
use crate::types::{BlockHeight, BlockRef, Chain, Position, Timestamp, TxId};

/// A [`Source`] over an ethereum-etl or BigQuery CSV export folder.
#[derive(Debug)]
pub struct EtlSource {
    dir: PathBuf,
    /// The rows grouped by block, converted one block at a time.
    blocks: std::collections::btree_map::IntoIter<u64, BlockRows>,
    has_txs: bool,
    has_traces: bool,
    /// Records of the block being handed out.
    records: VecDeque<Record>,
    warnings: Vec<String>,
    counts: BlockCounts,
    transfers: u64,
}

#[derive(Debug, Default)]
struct BlockRows {
    hash: Option<H256>,
    time: Option<u64>,
    txs: Vec<Transaction>,
    receipts: BTreeMap<H256, Receipt>,
    logs: Vec<(H256, Log)>,
    traces: Vec<(usize, Vec<usize>, Trace)>,
}

/// Reads the CSV file at `path` row by row, handing each to `f` ready to
/// read (with its file and line for errors); `false` if there is no file.
/// Rows are not kept: memory is one row at a time.
fn each_row(path: &Path, mut f: impl FnMut(&Ctx<'_>) -> Result<()>) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| csv_error(path, &e))?;
    let cols: FxHashMap<String, usize> = rdr
        .headers()
        .map_err(|e| csv_error(path, &e))?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_owned(), i))
        .collect();
    let _span = tracing::info_span!("read_csv", file = %path.display()).entered();
    let mut row = csv::StringRecord::new();
    let mut rows = 0u64;
    while rdr.read_record(&mut row).map_err(|e| csv_error(path, &e))? {
        rows += 1;
        if rows.is_multiple_of(1 << 16) {
            tracing::debug!(rows, "rows read");
        }
        row.trim();
        let line = row
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        f(&Ctx {
            path,
            line,
            cols: &cols,
            row: &row,
        })?;
    }
    tracing::info!(file = %path.display(), rows, "csv read");
    Ok(true)
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    match e.kind() {
        csv::ErrorKind::Io(io) => Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        _ => Error::InputLine {
            path: path.to_owned(),
            line: e
                .position()
                .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX)),
            reason: e.to_string(),
        },
    }
}

struct Ctx<'a> {
    path: &'a Path,
    line: usize,
    cols: &'a FxHashMap<String, usize>,
    row: &'a csv::StringRecord,
}

impl Ctx<'_> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::InputLine {
            path: self.path.to_owned(),
            line: self.line,
            reason: reason.into(),
        }
    }

    fn get(&self, col: &str) -> Option<&str> {
        self.cols
            .get(col)
            .and_then(|&i| self.row.get(i))
            .filter(|v| !v.is_empty() && *v != "None" && *v != "null")
    }

    fn need(&self, col: &str) -> Result<&str> {
        self.get(col)
            .ok_or_else(|| self.err(format!("column {col} is missing or empty")))
    }

    /// A comma-separated column (missing or empty: no items), each item
    /// read with `item`; an item it refuses is an error "`col` item "x"
    /// `refused`".
    fn list<T>(
        &self,
        col: &str,
        refused: &str,
        item: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>> {
        self.get(col)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| item(t).ok_or_else(|| self.err(format!("{col} item {t:?} {refused}"))))
            .collect()
    }

    /// A column that must be there, read with `read` (`Ctx::u64`, …).
    fn required<T>(&self, col: &str, read: fn(&Self, &str) -> Result<Option<T>>) -> Result<T> {
        read(self, col)?.ok_or_else(|| self.err(format!("column {col} is missing or empty")))
    }

    fn u64(&self, col: &str) -> Result<Option<u64>> {
        self.get(col)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| self.err(format!("{col} {v:?} is not an integer")))
            })
            .transpose()
    }

    fn u256(&self, col: &str) -> Result<Option<U256>> {
        self.get(col)
            .map(|v| {
                let v = v.strip_suffix(".0").unwrap_or(v);
                match v.strip_prefix("0x") {
                    Some(h) => U256::from_str_radix(h, 16).ok(),
                    None => U256::from_dec_str(v).ok(),
                }
                .ok_or_else(|| self.err(format!("{col} {v:?} is not an unsigned 256-bit integer")))
            })
            .transpose()
    }

    fn addr(&self, col: &str) -> Result<Option<H160>> {
        self.get(col)
            .map(|v| {
                crate::types::Address::parse(v)
                    .ok()
                    .and_then(|a| a.ethereum_bytes())
                    .map(H160)
                    .ok_or_else(|| self.err(format!("{col} {v:?} is not an ethereum address")))
            })
            .transpose()
    }

    fn hash(&self, col: &str) -> Result<Option<H256>> {
        self.get(col)
            .map(|v| {
                v.strip_prefix("0x")
                    .and_then(crate::types::decode_hex::<32>)
                    .map(H256)
                    .ok_or_else(|| self.err(format!("{col} {v:?} is not a 32-byte hash")))
            })
            .transpose()
    }

    fn bytes(&self, col: &str) -> Result<Bytes> {
        match self.get(col) {
            None => Ok(Bytes::new()),
            Some(v) => v
                .parse::<Bytes>()
                .map_err(|_| self.err(format!("{col} is not hex data"))),
        }
    }

    /// `block_timestamp` as seconds: an integer (ethereum-etl) or BigQuery's
    /// `YYYY-MM-DD HH:MM:SS[.ffffff] UTC`.
    fn time(&self, col: &str) -> Result<Option<u64>> {
        let Some(v) = self.get(col) else {
            return Ok(None);
        };
        if let Ok(n) = v.parse::<u64>() {
            return Ok(Some(n));
        }
        parse_utc(v)
            .map(Some)
            .ok_or_else(|| self.err(format!("{col} {v:?} is neither seconds nor a UTC time")))
    }
}

/// Seconds since 1970 of `YYYY-MM-DD HH:MM:SS[.f][ UTC]` (also with `T`/`Z`).
fn parse_utc(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches(" UTC").trim_end_matches('Z');
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

impl EtlSource {
    /// Reads the export in `dir`.
    ///
    /// # Errors
    /// [`Error::InputLine`] naming the file and line of a malformed row;
    /// [`Error::Io`]; [`Error::Parse`] when the folder holds none of the files.
    pub fn open(dir: impl AsRef<Path>) -> Result<EtlSource> {
        let dir = dir.as_ref().to_owned();
        let mut blocks: BTreeMap<u64, BlockRows> = BTreeMap::new();
        let mut warnings = Vec::new();
        let f = |name: &str| dir.join(name);

        let has = |name: &str| f(name).exists();
        let has_txs = has("transactions.csv");
        let has_logs = has("logs.csv");
        let has_tokens = !has_logs && has("token_transfers.csv");
        let has_traces = has("traces.csv");
        if !(has_txs || has_traces || has_tokens || has_logs) {
            return Err(Error::Parse {
                what: "ethereum-etl folder",
                input: dir.display().to_string(),
                reason: "none of transactions.csv, traces.csv, logs.csv, token_transfers.csv"
                    .into(),
            });
        }

        each_row(&f("blocks.csv"), |c| {
            let n = c.required("number", Ctx::u64)?;
            let b = blocks.entry(n).or_default();
            b.hash = c.hash("hash")?;
            b.time = c.time("timestamp")?;
            Ok(())
        })?;

        // Receipts: receipts.csv, or BigQuery's receipt_* columns.
        let mut receipts: BTreeMap<H256, Receipt> = BTreeMap::new();
        each_row(&f("receipts.csv"), |c| {
            let h = c.required("transaction_hash", Ctx::hash)?;
            receipts.insert(h, receipt(c, h, "")?);
            Ok(())
        })?;

        let mut seen: std::collections::BTreeSet<H256> = std::collections::BTreeSet::new();
        let mut no_receipt = 0u64;
        each_row(&f("transactions.csv"), |c| {
            let n = c.required("block_number", Ctx::u64)?;
            let hash = c.required("hash", Ctx::hash)?;
            let index = c.required("transaction_index", Ctx::u64)?;
            let tx = Transaction {
                hash,
                from: c.required("from_address", Ctx::addr)?,
                to: c.addr("to_address")?,
                value: c.u256("value")?.unwrap_or_default(),
                gas_price: c.u256("gas_price")?,
                gas: c.u256("gas")?.unwrap_or_default(),
                transaction_index: Some(U64::from(index)),
                block_number: Some(U64::from(n)),
                block_hash: c.hash("block_hash")?,
                input: c.bytes("input")?,
                ..Transaction::default()
            };
            let r = match receipts.remove(&hash) {
                Some(r) => r,
                None if c.get("receipt_gas_used").is_some() => receipt(c, hash, "receipt_")?,
                None => {
                    no_receipt += 1;
                    Receipt {
                        transaction_hash: hash,
                        gas_used: Some(U256::zero()),
                        ..Receipt::default()
                    }
                }
            };
            let b = blocks.entry(n).or_default();
            if b.hash.is_none() {
                b.hash = tx.block_hash;
            }
            if b.time.is_none() {
                b.time = c.time("block_timestamp")?;
            }
            if !seen.insert(hash) {
                return Err(c.err(format!("transaction {hash:?} appears twice")));
            }
            b.receipts.insert(hash, r);
            b.txs.push(tx);
            Ok(())
        })?;
        if no_receipt > 0 {
            warnings.push(format!(
                "{}: {no_receipt} transactions without receipts: their fees are not seen and \
                 their success is taken from traces, or assumed",
                dir.display()
            ));
        }

        each_row(&f("logs.csv"), |c| {
            let n = c.required("block_number", Ctx::u64)?;
            let h = c.required("transaction_hash", Ctx::hash)?;
            let topics = c.list("topics", "is not 32 bytes", |t| {
                t.strip_prefix("0x")
                    .and_then(crate::types::decode_hex::<32>)
                    .map(H256)
            })?;
            let log = Log {
                address: c.required("address", Ctx::addr)?,
                topics,
                data: c.bytes("data")?,
                log_index: c.u256("log_index")?,
                transaction_hash: Some(h),
                ..Log::default()
            };
            blocks.entry(n).or_default().logs.push((h, log));
            Ok(())
        })?;
        if has_tokens {
            warnings.push(format!(
                "{}: token transfers come from token_transfers.csv, which does not tell ERC-721 \
                 from ERC-20 transfers; export logs.csv to keep NFT token ids out of amounts",
                dir.display()
            ));
            each_row(&f("token_transfers.csv"), |c| {
                let n = c.required("block_number", Ctx::u64)?;
                let h = c.required("transaction_hash", Ctx::hash)?;
                let word = |a: H160| {
                    let mut w = [0u8; 32];
                    w[12..].copy_from_slice(&a.0);
                    H256(w)
                };
                let from = c.required("from_address", Ctx::addr)?;
                let to = c.required("to_address", Ctx::addr)?;
                let value = c.required("value", Ctx::u256)?;
                let mut data = [0u8; 32];
                value.to_big_endian(&mut data);
                let log = Log {
                    address: c.required("token_address", Ctx::addr)?,
                    topics: vec![H256(super::convert::TRANSFER_TOPIC), word(from), word(to)],
                    data: Bytes::from(data.to_vec()),
                    log_index: c.u256("log_index")?,
                    transaction_hash: Some(h),
                    ..Log::default()
                };
                let b = blocks.entry(n).or_default();
                if b.time.is_none() {
                    b.time = c.time("block_timestamp")?;
                }
                b.logs.push((h, log));
                Ok(())
            })?;
        }
        each_row(&f("traces.csv"), |c| {
            let (n, index, trace) = trace_row(c)?;
            let b = blocks.entry(n).or_default();
            if b.time.is_none() {
                b.time = c.time("block_timestamp")?;
            }
            if b.hash.is_none() {
                b.hash = c.hash("block_hash")?;
            }
            b.traces.push((index, trace.trace_address.clone(), trace));
            Ok(())
        })?;

        if !has_txs {
            warnings.push(format!(
                "{}: no transactions.csv: fees are not seen",
                dir.display()
            ));
        }
        let no_time = blocks.values().filter(|b| b.time.is_none()).count();
        if no_time > 0 {
            warnings.push(format!(
                "{}: {no_time} blocks without a timestamp (add blocks.csv): their time shows as 0",
                dir.display()
            ));
        }
        Ok(EtlSource {
            dir,
            blocks: blocks.into_iter(),
            has_txs,
            has_traces,
            records: VecDeque::new(),
            warnings,
            counts: BlockCounts::default(),
            transfers: 0,
        })
    }

    /// Converts the next block into records; false when none is left.
    fn convert_next(&mut self) -> Result<bool> {
        let Some((n, mut b)) = self.blocks.next() else {
            return Ok(false);
        };
        let time = b.time.unwrap_or(0);
        // Logs into their receipts (or kept for the trace-only path).
        b.logs.sort_by_key(|(_, l)| l.log_index.unwrap_or_default());
        b.traces.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
        let hash = b.hash.unwrap_or_default();
        for (_, _, t) in &mut b.traces {
            t.block_hash = hash;
        }
        if self.has_txs {
            for (h, log) in b.logs {
                let r = b.receipts.get_mut(&h).ok_or_else(|| Error::InvalidRecord {
                    context: format!("in ethereum block {n} of {}", self.dir.display()),
                    reason: format!("a token transfer names tx {h:?}, not in transactions.csv"),
                })?;
                r.logs.push(log);
            }
            b.txs.sort_by_key(|t| t.transaction_index);
            let data = BlockData {
                block: Block {
                    number: Some(U64::from(n)),
                    hash: Some(hash),
                    timestamp: U256::from(time),
                    transactions: b.txs,
                    ..Block::default()
                },
                receipts: b.receipts.into_values().collect(),
                traces: (!b.traces.is_empty() || self.has_traces)
                    .then(|| BlockTraces::Parity(b.traces.into_iter().map(|t| t.2).collect())),
            };
            let converted = convert_block(&data)?;
            self.counts.add(&converted.counts);
            self.warnings.extend(converted.notes.iter().cloned());
            self.transfers += converted.transfers.len() as u64;
            self.records.extend(converted.records());
        } else {
            let block = BlockRef {
                chain: Chain::Ethereum,
                height: BlockHeight(n),
                time: Timestamp(time),
            };
            let out = trace_only_block(block, hash, &b.traces, &b.logs, &mut self.counts)?;
            self.transfers += out.len() as u64;
            self.records.extend(out.into_iter().map(Record::Transfer));
        }
        Ok(true)
    }
}

fn receipt(c: &Ctx<'_>, hash: H256, prefix: &str) -> Result<Receipt> {
    let col = |s: &str| format!("{prefix}{s}");
    Ok(Receipt {
        transaction_hash: hash,
        status: c.u64(&col("status"))?.map(U64::from),
        gas_used: Some(c.u256(&col("gas_used"))?.unwrap_or_default()),
        effective_gas_price: c.u256(&col("effective_gas_price"))?,
        contract_address: c.addr(&col("contract_address"))?,
        ..Receipt::default()
    })
}

fn trace_row(c: &Ctx<'_>) -> Result<(u64, usize, Trace)> {
    let n = c.required("block_number", Ctx::u64)?;
    let kind = c.need("trace_type")?;
    let value = c.u256("value")?.unwrap_or_default();
    let zero = H160::zero();
    let from = c.addr("from_address")?;
    let to = c.addr("to_address")?;
    let (action, result) = match kind {
        "call" => {
            let call_type = match c.get("call_type").unwrap_or("call") {
                "call" => CallType::Call,
                "callcode" => CallType::CallCode,
                "delegatecall" => CallType::DelegateCall,
                "staticcall" => CallType::StaticCall,
                other => return Err(c.err(format!("unknown call_type {other:?}"))),
            };
            (
                Action::Call(Call {
                    from: from.unwrap_or(zero),
                    to: to.unwrap_or(zero),
                    value,
                    gas: c.u256("gas")?.unwrap_or_default(),
                    input: c.bytes("input")?,
                    call_type,
                }),
                Some(Res::None),
            )
        }
        "create" => (
            Action::Create(Create {
                from: from.unwrap_or(zero),
                value,
                gas: c.u256("gas")?.unwrap_or_default(),
                init: c.bytes("input")?,
            }),
            to.map(|a| {
                Res::Create(CreateResult {
                    gas_used: U256::zero(),
                    code: Bytes::new(),
                    address: a,
                })
            }),
        ),
        "suicide" => (
            Action::Suicide(Suicide {
                address: from.unwrap_or(zero),
                refund_address: to.unwrap_or(zero),
                balance: value,
            }),
            None,
        ),
        "reward" => (
            Action::Reward(Reward {
                author: to.ok_or_else(|| c.err("a reward without to_address"))?,
                value,
                reward_type: match c.get("reward_type").unwrap_or("block") {
                    "block" => RewardType::Block,
                    "uncle" => RewardType::Uncle,
                    "emptyStep" | "empty_step" => RewardType::EmptyStep,
                    "external" => RewardType::External,
                    other => return Err(c.err(format!("unknown reward_type {other:?}"))),
                },
            }),
            None,
        ),
        other => return Err(c.err(format!("unknown trace_type {other:?}"))),
    };
    let trace_address = c.list("trace_address", "is not an integer", |t| {
        t.parse::<usize>().ok()
    })?;
    let index = c.u64("transaction_index")?;
    let error = c.get("error").map(str::to_owned).or_else(|| {
        // ethereum-etl marks a failed frame or parent with status 0; without
        // an error text the frame is still a failure.
        (c.get("status") == Some("0") && c.get("transaction_hash").is_some())
            .then(|| "failed (status 0)".to_owned())
    });
    let trace = Trace {
        action,
        result,
        trace_address,
        subtraces: 0,
        transaction_position: index.and_then(|i| usize::try_from(i).ok()),
        transaction_hash: c.hash("transaction_hash")?,
        block_number: n,
        block_hash: H256::zero(),
        action_type: match kind {
            "call" => ethers_core::types::ActionType::Call,
            "create" => ethers_core::types::ActionType::Create,
            "suicide" => ethers_core::types::ActionType::Suicide,
            _ => ethers_core::types::ActionType::Reward,
        },
        error,
    };
    let index = index.map_or(usize::MAX, |i| usize::try_from(i).unwrap_or(usize::MAX));
    Ok((n, index, trace))
}

/// A block known only from traces (and token transfers): every value frame
/// that took effect, top level included, then tokens per transaction, then
/// rewards.
fn trace_only_block(
    block: BlockRef,
    hash: H256,
    traces: &[(usize, Vec<usize>, Trace)],
    logs: &[(H256, Log)],
    counts: &mut BlockCounts,
) -> Result<Vec<Transfer>> {
    let list: Vec<Trace> = traces.iter().map(|t| t.2.clone()).collect();
    let frames = parity_frames(&list)?;
    let mut out = Vec::new();
    let mut subs: BTreeMap<u32, u32> = BTreeMap::new();
    let mut index_of: BTreeMap<[u8; 32], u32> = BTreeMap::new();
    let mut next_sub = |index: u32| {
        let s = subs.entry(index).or_insert(0);
        let v = *s;
        *s += 1;
        v
    };
    let rewards_index = u32::MAX;
    for f in frames.iter().filter(|f| f.ok) {
        let (tx, index) = match (f.tx_hash, f.tx_index) {
            (Some(h), Some(i)) => {
                index_of.insert(h, i);
                (TxId::new(Chain::Ethereum, h), i)
            }
            _ => (TxId::new(Chain::Ethereum, hash.0), rewards_index),
        };
        out.push(Transfer {
            tx,
            block,
            position: Position {
                index,
                sub: next_sub(index),
            },
            asset: crate::types::Asset::Eth,
            from: f.from,
            to: f.to,
            amount: f.amount,
        });
    }
    for (h, log) in logs {
        use super::convert::LogTransfer;
        match super::convert::log_transfer(log) {
            LogTransfer::Erc20 {
                token,
                from,
                to,
                amount,
            } => {
                // Without transactions.csv the index comes from the traces;
                // failing that, tokens are ordered by log index after them.
                let index = index_of.get(&h.0).copied().unwrap_or(rewards_index - 1);
                out.push(Transfer {
                    tx: TxId::new(Chain::Ethereum, h.0),
                    block,
                    position: Position {
                        index,
                        sub: next_sub(index),
                    },
                    asset: crate::types::Asset::Erc20(token),
                    from: crate::types::Address::ethereum(from),
                    to: crate::types::Address::ethereum(to),
                    amount,
                });
            }
            LogTransfer::Nft => counts.nft_transfers += 1,
            LogTransfer::Malformed => counts.malformed_transfer_logs += 1,
            LogTransfer::TooLarge => counts.token_amounts_too_large += 1,
            LogTransfer::Other => {}
        }
    }
    out.sort_by_key(|t| t.position);
    Ok(out)
}

impl Source for EtlSource {
    fn name(&self) -> String {
        format!("ethereum-etl:{}", self.dir.display())
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.records.pop_front() {
                return Ok(Some(r));
            }
            if !self.convert_next()? {
                return Ok(None);
            }
        }
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut counters = self.counts.to_map();
        counters.insert("transfers".into(), self.transfers);
        counters
    }
}

#[cfg(test)]
mod tests {
    use super::parse_utc;

    #[test]
    fn bigquery_timestamps() {
        // Block 17173049: 1683029999 = 2023-05-02 12:19:59 UTC.
        assert_eq!(parse_utc("2023-05-02 12:19:59 UTC"), Some(1_683_029_999));
        assert_eq!(parse_utc("2023-05-02T12:19:59Z"), Some(1_683_029_999));
        assert_eq!(
            parse_utc("2016-06-23 08:12:42.000000 UTC"),
            Some(1_466_669_562)
        );
        assert_eq!(parse_utc("1970-01-01 00:00:00 UTC"), Some(0));
        assert_eq!(parse_utc("2023-13-02 12:19:59 UTC"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }
}
