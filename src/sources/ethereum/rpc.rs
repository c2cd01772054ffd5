//! Live ingestion over Ethereum JSON-RPC.
//!
//! [`EthRpc`] is a blocking client over the crate's HTTP layer (retries,
//! batches; see [`super::transport`]). Its answers decode into `ethers-core`
//! types, so an embedder's ethers code reads them as its own; [`EthRpc::request`]
//! makes any other call.
//!
//! For each block it fetches the block with its transactions, the receipts
//! (`eth_getBlockReceipts` when the node has it, else one JSON-RPC batch of
//! `eth_getTransactionReceipt` calls, else single calls) and the traces
//! (`trace_block`, else `debug_traceBlockByNumber` with `callTracer`, else
//! none, which the source reports). What the node lacks is found out once and
//! remembered.
//!
//! [`EthRpcSource`] fetches up to [`RpcOptions::concurrency`] blocks at once
//! (one thread each) and hands a block's records over only when the whole
//! block has been fetched and converted: a block is loaded whole or not at
//! all. When a block fails after the retries, the error names it, the blocks
//! before it have all been yielded, and [`EthRpcSource::resume_from`] says
//! where a new source (or the same one, called again) carries on; the graph
//! builder drops any duplicate, so a resumed load gives the same graph as an
//! uninterrupted one. Progress goes out as `tracing` events: one at DEBUG
//! level per window of blocks, one at INFO level at the end of the range.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ethers_core::types::{Block, Bytes, Transaction, U64, U256};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::convert::{BlockData, BlockTraces, Receipt, convert_block, parse_geth_block_traces};
use super::transport::{CallError, JsonRpc, RpcOptions, decode};
use crate::error::{Error, NodeFailure, Result};
use crate::sources::http::Failed;
use crate::sources::parallel_map;
use crate::sources::{Record, Source};
use crate::types::{Address, Amount, Asset, BlockHeight, OpeningBalance};

/// Which trace API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TraceMode {
    /// `trace_block`, else `debug_traceBlockByNumber`, else none (default).
    #[default]
    Auto,
    /// Only `trace_block`.
    Parity,
    /// Only `debug_traceBlockByNumber` with `callTracer`.
    Geth,
    /// No traces: internal transfers and block rewards are not seen.
    Off,
}

/// What the node was found to support.
#[derive(Debug, Clone, Copy, Default)]
struct Caps {
    block_receipts: Option<bool>,
    batch: Option<bool>,
    parity: Option<bool>,
    geth: Option<bool>,
}

/// A blocking Ethereum JSON-RPC client.
#[derive(Debug)]
pub struct EthRpc {
    rpc: JsonRpc,
    endpoint: String,
    traces: TraceMode,
    caps: Mutex<Caps>,
}

/// A block number as JSON-RPC takes it.
fn qty(n: u64) -> String {
    format!("{n:#x}")
}

impl EthRpc {
    /// A client for the node at `url` (`http://…`; `https://` with the `tls`
    /// feature).
    ///
    /// # Errors
    /// [`Error::Node`] when the URL is not usable.
    pub fn connect(url: &str, opts: RpcOptions) -> Result<EthRpc> {
        let rpc = JsonRpc::new(url, opts).map_err(|f| Error::Node {
            endpoint: url.to_owned(),
            context: "connect".into(),
            failure: f.failure,
            reason: f.reason,
        })?;
        Ok(EthRpc {
            rpc,
            endpoint: url.to_owned(),
            traces: TraceMode::Auto,
            caps: Mutex::new(Caps::default()),
        })
    }

    /// Chooses the trace API (default [`TraceMode::Auto`]).
    pub fn with_traces(mut self, mode: TraceMode) -> EthRpc {
        self.traces = mode;
        self
    }

    /// The node's URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The options in use.
    pub fn options(&self) -> &RpcOptions {
        self.rpc.options()
    }

    /// The error for a failed call: the node, `context` (method and block or
    /// address) and what failed.
    fn fail(&self, context: String, e: &CallError) -> Error {
        self.node_error(context, e.failure(), e.to_string())
    }

    /// An [`Error::Node`] for this node.
    fn node_error(&self, context: String, failure: NodeFailure, reason: String) -> Error {
        Error::Node {
            endpoint: self.endpoint.clone(),
            context,
            failure,
            reason,
        }
    }

    /// Any JSON-RPC call, its result decoded as `R` (an `ethers-core` type,
    /// `serde_json::Value`, …), with the client's retries.
    ///
    /// # Errors
    /// [`Error::Node`] naming the method, with the node's error or why the
    /// answer did not decode.
    pub fn request<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> Result<R> {
        self.rpc
            .call(method, &params)
            .map_err(|e| self.fail(method.to_owned(), &e))
    }

    fn caps(&self) -> Caps {
        *self
            .caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_caps(&self, f: impl FnOnce(&mut Caps)) {
        f(&mut self
            .caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Whether the last blocks were traced: `Some(false)` once the node was
    /// found to have no trace API (or traces are off).
    pub fn traces_available(&self) -> Option<bool> {
        let c = self.caps();
        match self.traces {
            TraceMode::Off => Some(false),
            TraceMode::Parity => c.parity,
            TraceMode::Geth => c.geth,
            TraceMode::Auto => match (c.parity, c.geth) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// The number of the newest block.
    ///
    /// # Errors
    /// [`Error::Node`] naming the node.
    pub fn head(&self) -> Result<u64> {
        let n: U64 = self.request("eth_blockNumber", ())?;
        Ok(n.as_u64())
    }

    /// Fetches one block with receipts and (if available) traces. The
    /// calls (the block, its receipts and its traces, less those the node is
    /// known to lack) go as one JSON-RPC batch when the node takes batches
    /// (one round trip), else at once on as many threads. A call the node
    /// turns out to lack is remembered, and what it was for is fetched
    /// another way (receipts per transaction, the next trace API).
    ///
    /// # Errors
    /// [`Error::Node`] naming the block and the method when the node fails
    /// after the retries or answers something that does not decode.
    pub fn fetch_block(&self, n: u64) -> Result<BlockData> {
        let caps = self.caps();
        let block_call = ("eth_getBlockByNumber", serde_json::json!([qty(n), true]));
        let mut calls = vec![block_call];
        let want_receipts = caps.block_receipts != Some(false);
        if want_receipts {
            calls.push(("eth_getBlockReceipts", serde_json::json!([qty(n)])));
        }
        let trace_call = match self.traces {
            TraceMode::Off => None,
            TraceMode::Parity if caps.parity != Some(false) => Some("trace_block"),
            TraceMode::Geth if caps.geth != Some(false) => Some("debug_traceBlockByNumber"),
            TraceMode::Auto if caps.parity != Some(false) && caps.geth != Some(true) => {
                Some("trace_block")
            }
            TraceMode::Auto if caps.geth != Some(false) => Some("debug_traceBlockByNumber"),
            _ => None,
        };
        match trace_call {
            Some("trace_block") => calls.push(("trace_block", serde_json::json!([qty(n)]))),
            Some(m) => calls.push((m, serde_json::json!([qty(n), { "tracer": "callTracer" }]))),
            None => {}
        }
        let mut answers = self.answer(&calls, n)?.into_iter();
        // One answer per call, in the calls' order.
        let mut next = || {
            answers.next().unwrap_or_else(|| {
                Err(CallError::Other(Failed::new(
                    NodeFailure::Malformed,
                    "an answer is missing",
                )))
            })
        };
        let ctx = |m: &str| format!("{m} for block {n}");
        let block: Option<Block<Transaction>> = next()
            .and_then(|raw| decode("eth_getBlockByNumber", &raw))
            .map_err(|e| self.fail(ctx("eth_getBlockByNumber"), &e))?;
        let block = self.check_block(n, block)?;
        let receipts = if want_receipts {
            match next() {
                Ok(raw) => {
                    let r: Vec<Receipt> = decode("eth_getBlockReceipts", &raw)
                        .map_err(|e| self.fail(ctx("eth_getBlockReceipts"), &e))?;
                    self.set_caps(|c| c.block_receipts = Some(true));
                    Some(r)
                }
                Err(e) if e.method_missing() && caps.block_receipts != Some(true) => {
                    self.set_caps(|c| c.block_receipts = Some(false));
                    None
                }
                Err(e) => return Err(self.fail(ctx("eth_getBlockReceipts"), &e)),
            }
        } else {
            None
        };
        let receipts = match receipts {
            Some(r) => r,
            None => self.receipts_per_tx(n, &block)?,
        };
        let traces = match trace_call {
            None => None,
            Some(method) => match next() {
                Ok(raw) if method == "trace_block" => {
                    let t = decode(method, &raw).map_err(|e| self.fail(ctx(method), &e))?;
                    self.set_caps(|c| c.parity = Some(true));
                    Some(BlockTraces::Parity(t))
                }
                Ok(raw) => {
                    let items: Vec<serde_json::Value> =
                        decode(method, &raw).map_err(|e| self.fail(ctx(method), &e))?;
                    self.set_caps(|c| c.geth = Some(true));
                    Some(BlockTraces::Geth(parse_geth_block_traces(n, &items)?))
                }
                Err(e)
                    if e.method_missing()
                        && method == "trace_block"
                        && caps.parity != Some(true) =>
                {
                    self.set_caps(|c| c.parity = Some(false));
                    // With Auto, geth's API next, as without batches.
                    match self.traces {
                        TraceMode::Auto => self.block_traces(n)?,
                        _ => None,
                    }
                }
                Err(e)
                    if e.method_missing() && method != "trace_block" && caps.geth != Some(true) =>
                {
                    self.set_caps(|c| c.geth = Some(false));
                    None
                }
                Err(e) => return Err(self.fail(ctx(method), &e)),
            },
        };
        Ok(BlockData {
            block,
            receipts,
            traces,
        })
    }

    /// The answers to `calls` for block `n`, in order: one batch when the
    /// node takes batches, else each call on its own thread, all at once.
    fn answer(
        &self,
        calls: &[(&str, serde_json::Value)],
        n: u64,
    ) -> Result<Vec<std::result::Result<Box<RawValue>, CallError>>> {
        if self.caps().batch != Some(false) {
            match self.rpc.batch(calls) {
                Ok(answers) => {
                    self.set_caps(|c| c.batch = Some(true));
                    return Ok(answers
                        .into_iter()
                        .map(|a| a.map_err(CallError::Rpc))
                        .collect());
                }
                Err(CallError::BatchUnsupported(_)) => self.set_caps(|c| c.batch = Some(false)),
                Err(e) => {
                    let names: Vec<&str> = calls.iter().map(|(m, _)| *m).collect();
                    return Err(self.fail(format!("{} for block {n}", names.join(", ")), &e));
                }
            }
        }
        Ok(parallel_map(calls, calls.len(), |(m, p)| {
            self.rpc.call_raw(m, p)
        }))
    }

    /// The block of an `eth_getBlockByNumber` answer for block `n`, checked
    /// to be that block.
    fn check_block(&self, n: u64, block: Option<Block<Transaction>>) -> Result<Block<Transaction>> {
        let ctx = || format!("eth_getBlockByNumber for block {n}");
        let block = block.ok_or_else(|| {
            self.node_error(
                ctx(),
                NodeFailure::NotFound,
                "the node has no such block".into(),
            )
        })?;
        if block.number.map(|x| x.as_u64()) != Some(n) {
            return Err(self.node_error(
                ctx(),
                NodeFailure::Malformed,
                format!("the node answered with block {:?}", block.number),
            ));
        }
        Ok(block)
    }

    fn receipts_per_tx(&self, n: u64, block: &Block<Transaction>) -> Result<Vec<Receipt>> {
        let method = "eth_getTransactionReceipt";
        let err = |failure: NodeFailure, reason: String| {
            self.node_error(format!("{method} for block {n}"), failure, reason)
        };
        let failed = |h: &ethers_core::types::H256, e: &CallError| {
            err(e.failure(), format!("tx {h:?}: {e}"))
        };
        let no_receipt = |h: &ethers_core::types::H256| {
            err(NodeFailure::NotFound, format!("no receipt for tx {h:?}"))
        };
        let hashes: Vec<_> = block.transactions.iter().map(|t| t.hash).collect();
        let mut out = Vec::with_capacity(hashes.len());
        if self.caps().batch != Some(false) {
            let size = self.options().batch_size.max(1);
            let mut batched = true;
            for chunk in hashes.chunks(size) {
                let calls: Vec<(&str, serde_json::Value)> = chunk
                    .iter()
                    .map(|h| (method, serde_json::json!([h])))
                    .collect();
                match self.rpc.batch(&calls) {
                    Ok(answers) => {
                        self.set_caps(|c| c.batch = Some(true));
                        for (h, a) in chunk.iter().zip(answers) {
                            let raw = a.map_err(|e| failed(h, &CallError::Rpc(e)))?;
                            let r: Option<Receipt> =
                                decode(method, &raw).map_err(|e| failed(h, &e))?;
                            out.push(r.ok_or_else(|| no_receipt(h))?);
                        }
                    }
                    Err(CallError::BatchUnsupported(_)) if out.is_empty() => {
                        self.set_caps(|c| c.batch = Some(false));
                        batched = false;
                        break;
                    }
                    Err(e) => return Err(err(e.failure(), e.to_string())),
                }
            }
            if batched {
                return Ok(out);
            }
        }
        let answers = parallel_map(&hashes, self.options().concurrency, |h| {
            self.rpc.call::<Option<Receipt>>(method, &[h])
        });
        for (h, a) in hashes.iter().zip(answers) {
            let r = a.map_err(|e| failed(h, &e))?;
            out.push(r.ok_or_else(|| no_receipt(h))?);
        }
        Ok(out)
    }

    /// Traces of one block as the node serves them, or `None` when it has no
    /// trace API.
    ///
    /// # Errors
    /// [`Error::Node`] naming the block.
    pub fn block_traces(&self, n: u64) -> Result<Option<BlockTraces>> {
        let caps = self.caps();
        let (try_parity, try_geth) = match self.traces {
            TraceMode::Off => return Ok(None),
            TraceMode::Parity => (true, false),
            TraceMode::Geth => (false, true),
            TraceMode::Auto => (caps.parity != Some(false), caps.geth != Some(false)),
        };
        if try_parity && caps.geth != Some(true) {
            match self.rpc.call("trace_block", &[qty(n)]) {
                Ok(t) => {
                    self.set_caps(|c| c.parity = Some(true));
                    return Ok(Some(BlockTraces::Parity(t)));
                }
                Err(e) if e.method_missing() && caps.parity != Some(true) => {
                    self.set_caps(|c| c.parity = Some(false));
                }
                Err(e) => return Err(self.fail(format!("trace_block for block {n}"), &e)),
            }
        }
        if try_geth {
            let params = (qty(n), serde_json::json!({ "tracer": "callTracer" }));
            match self
                .rpc
                .call::<Vec<serde_json::Value>>("debug_traceBlockByNumber", &params)
            {
                Ok(items) => {
                    self.set_caps(|c| c.geth = Some(true));
                    return parse_geth_block_traces(n, &items).map(|f| Some(BlockTraces::Geth(f)));
                }
                Err(e) if e.method_missing() && self.caps().geth != Some(true) => {
                    self.set_caps(|c| c.geth = Some(false));
                }
                Err(e) => {
                    return Err(self.fail(format!("debug_traceBlockByNumber for block {n}"), &e));
                }
            }
        }
        Ok(None)
    }

    /// Opening balances for the value models: the balance of each (address,
    /// asset) at the end of block `at` (the block before the first one
    /// loaded), fetched [`RpcOptions::concurrency`] at a time. Pairs that are
    /// not Ethereum addresses and assets are left out. Pass what
    /// [`crate::Tracer::value_holders`] lists, and give the result to the
    /// graph builder.
    ///
    /// # Errors
    /// As [`EthRpc::balance_at`], for the first pair that fails.
    pub fn opening_balances(
        &self,
        holders: &[(Address, Asset)],
        at: u64,
    ) -> Result<Vec<OpeningBalance>> {
        let eth: Vec<&(Address, Asset)> = holders
            .iter()
            .filter(|(a, asset)| {
                a.ethereum_bytes().is_some() && asset.chain() == crate::types::Chain::Ethereum
            })
            .collect();
        parallel_map(&eth, self.options().concurrency, |&&(a, asset)| {
            let amount = self.balance_at(&a, asset, at)?;
            Ok(OpeningBalance {
                address: a,
                asset,
                amount,
                at_block: BlockHeight(at),
                source: match asset {
                    Asset::Eth => "eth_getBalance".to_owned(),
                    _ => "balanceOf (eth_call)".to_owned(),
                },
            })
        })
        .into_iter()
        .collect()
    }

    /// The balance of `who` in `asset` at the end of block `at`: `eth_getBalance`
    /// for ETH, `balanceOf` through `eth_call` for an ERC-20 token.
    ///
    /// # Errors
    /// [`Error::Node`] naming the address and block; [`Error::Parse`] for a
    /// non-Ethereum address or asset.
    pub fn balance_at(&self, who: &Address, asset: Asset, at: u64) -> Result<Amount> {
        let holder = who.ethereum_bytes().ok_or_else(|| Error::Parse {
            what: "ethereum address",
            input: who.to_string(),
            reason: "balances can only be fetched for ethereum addresses".into(),
        })?;
        let holder = ethers_core::types::Address::from(holder);
        let block = qty(at);
        let ctx = |m: &str| format!("{m} of {who} ({asset}) at block {at}");
        let value: U256 = match asset {
            Asset::Eth => self
                .rpc
                .call("eth_getBalance", &(holder, &block))
                .map_err(|e| self.fail(ctx("eth_getBalance"), &e))?,
            Asset::Erc20(token) => {
                let token = ethers_core::types::Address::from(token);
                // balanceOf(address) = 0x70a08231, then the holder as one word.
                let mut data = vec![0x70, 0xa0, 0x82, 0x31];
                data.extend_from_slice(&[0u8; 12]);
                data.extend_from_slice(holder.as_bytes());
                let call = serde_json::json!({ "to": token, "data": Bytes::from(data) });
                let out: Bytes = self
                    .rpc
                    .call("eth_call", &(call, &block))
                    .map_err(|e| self.fail(ctx("balanceOf"), &e))?;
                if out.is_empty() {
                    // No answer: a token deployed after `at` had no balances yet.
                    let code: Bytes = self
                        .rpc
                        .call("eth_getCode", &(token, &block))
                        .map_err(|e| self.fail(ctx("eth_getCode"), &e))?;
                    if code.is_empty() {
                        return Ok(Amount::ZERO);
                    }
                }
                if out.len() != 32 {
                    return Err(self.node_error(
                        ctx("balanceOf"),
                        NodeFailure::Malformed,
                        format!("expected 32 bytes, got {}", out.len()),
                    ));
                }
                U256::from_big_endian(&out)
            }
            other => {
                return Err(Error::Parse {
                    what: "asset",
                    input: other.to_string(),
                    reason: "not an ethereum asset".into(),
                });
            }
        };
        super::convert::u256_amount(value).ok_or_else(|| Error::AmountOverflow {
            context: ctx("balance"),
        })
    }
}

/// Which blocks an [`EthRpcSource`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockRange {
    /// `from..=to`.
    Range(u64, u64),
    /// From a block to the node's head when reading starts.
    ToHead(u64),
    /// From a block on, forever: waits for new blocks, keeping
    /// `confirmations` blocks behind the head (reorganisations deeper than
    /// that are not handled).
    Follow {
        /// First block.
        from: u64,
        /// Blocks to stay behind the head.
        confirmations: u64,
        /// How often to ask for the head while waiting.
        poll: Duration,
    },
}

impl BlockRange {
    /// Parses `FROM..TO`, `FROM..` (to the head) or `..TO` (from genesis).
    ///
    /// # Errors
    /// [`Error::Parse`] naming the input.
    pub fn parse(s: &str) -> Result<BlockRange> {
        let bad = |reason: &str| Error::Parse {
            what: "block range",
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| bad("expected FROM..TO, FROM.. or ..TO"))?;
        let b = b.strip_prefix('=').unwrap_or(b);
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| bad("not a block number"))
        };
        let from = if a.trim().is_empty() { 0 } else { num(a)? };
        if b.trim().is_empty() {
            return Ok(BlockRange::ToHead(from));
        }
        let to = num(b)?;
        if to < from {
            return Err(bad("the range is empty"));
        }
        Ok(BlockRange::Range(from, to))
    }
}

/// A [`Source`] over a block range of a live node.
pub struct EthRpcSource {
    rpc: EthRpc,
    range: BlockRange,
    next: u64,
    end: Option<u64>,
    queue: VecDeque<Record>,
    pending: Option<Error>,
    counts: super::convert::BlockCounts,
    blocks: u64,
    untraced: u64,
    transfers: u64,
    notes: Vec<String>,
    started: Option<Instant>,
    /// The number and hash of the last block loaded.
    last_hash: Option<(u64, [u8; 32])>,
}

impl std::fmt::Debug for EthRpcSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthRpcSource")
            .field("endpoint", &self.rpc.endpoint)
            .field("range", &self.range)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl EthRpcSource {
    /// A source reading `range` from `rpc`.
    pub fn new(rpc: EthRpc, range: BlockRange) -> EthRpcSource {
        let next = match range {
            BlockRange::Range(f, _) | BlockRange::ToHead(f) => f,
            BlockRange::Follow { from, .. } => from,
        };
        EthRpcSource {
            rpc,
            range,
            next,
            end: match range {
                BlockRange::Range(_, t) => Some(t),
                _ => None,
            },
            queue: VecDeque::new(),
            pending: None,
            counts: super::convert::BlockCounts::default(),
            blocks: 0,
            untraced: 0,
            transfers: 0,
            notes: Vec::new(),
            started: None,
            last_hash: None,
        }
    }

    /// The first block not yet handed over whole: where a resumed load
    /// starts, after an error or an early stop. Earlier blocks were
    /// delivered completely, nothing of this one or later ones was.
    pub fn resume_from(&self) -> u64 {
        self.queue
            .front()
            .and_then(|r| r.block())
            .map_or(self.next, |b| b.height.0)
    }

    /// The client.
    pub fn rpc(&self) -> &EthRpc {
        &self.rpc
    }

    /// The blocks loaded so far, as `(first, last)`; `None` before the first.
    pub fn loaded(&self) -> Option<(u64, u64)> {
        let first = match self.range {
            BlockRange::Range(f, _) | BlockRange::ToHead(f) => f,
            BlockRange::Follow { from, .. } => from,
        };
        (self.next > first).then(|| (first, self.next - 1))
    }

    /// Checks that block `n` links to the block loaded before it, if that
    /// was `n - 1`: a mismatch means the chain was reorganised during the
    /// load (or the node answers from two chains).
    fn check_link(&self, n: u64, d: &BlockData) -> Result<()> {
        match self.last_hash {
            Some((prev, hash)) if prev + 1 == n && d.block.parent_hash.0 != hash => {
                Err(Error::Node {
                    endpoint: self.rpc.endpoint.clone(),
                    context: format!("eth_getBlockByNumber for block {n}"),
                    failure: NodeFailure::Reorganised,
                    reason: format!(
                        "its parent hash {:?} is not the hash {:?} of block {prev} loaded before it: \
                         the chain was reorganised during the load; restart from an earlier block",
                        d.block.parent_hash,
                        ethers_core::types::H256(hash)
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Fetches the next window of blocks; false at the end of the range.
    fn fill(&mut self) -> Result<bool> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let last = match self.range {
            BlockRange::Range(_, to) => to,
            BlockRange::ToHead(_) => match self.end {
                Some(e) => e,
                None => {
                    let h = self.rpc.head()?;
                    self.end = Some(h);
                    h
                }
            },
            BlockRange::Follow {
                confirmations,
                poll,
                ..
            } => loop {
                let h = self.rpc.head()?.saturating_sub(confirmations);
                if h >= self.next {
                    break h;
                }
                std::thread::sleep(poll);
            },
        };
        if self.next > last {
            tracing::info!(
                endpoint = %self.rpc.endpoint,
                blocks = self.blocks,
                blocks_without_traces = self.untraced,
                transfers = self.transfers,
                seconds = started.elapsed().as_secs_f64(),
                "ethereum blocks loaded"
            );
            return Ok(false);
        }
        let conc = self.rpc.options().concurrency.max(1);
        let window_end = last.min(self.next.saturating_add(2 * conc as u64 - 1));
        let numbers: Vec<u64> = (self.next..=window_end).collect();
        let rpc = &self.rpc;
        let fetched: Vec<(u64, Result<BlockData>)> =
            parallel_map(&numbers, conc, |&n| (n, rpc.fetch_block(n)));
        for (n, data) in fetched {
            let converted = data.and_then(|d| {
                self.check_link(n, &d)?;
                convert_block(&d)
            });
            match converted {
                Ok(c) => {
                    if !c.traced {
                        self.untraced += 1;
                    }
                    self.counts.add(&c.counts);
                    self.notes.extend(c.notes.iter().cloned());
                    self.transfers += c.transfers.len() as u64;
                    self.queue.extend(c.records());
                    self.blocks += 1;
                    self.next = n + 1;
                    self.last_hash = Some((n, c.hash));
                }
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        let total = match self.range {
            BlockRange::Range(a, b) => Some(b - a + 1),
            BlockRange::ToHead(a) => self.end.map(|e| e.saturating_sub(a) + 1),
            BlockRange::Follow { .. } => None,
        };
        tracing::debug!(
            endpoint = %self.rpc.endpoint,
            blocks = self.blocks,
            total,
            last_block = self.next.saturating_sub(1),
            transfers = self.transfers,
            seconds = started.elapsed().as_secs_f64(),
            "ethereum blocks fetched"
        );
        Ok(true)
    }
}

impl Source for EthRpcSource {
    fn name(&self) -> String {
        match self.loaded() {
            Some((a, b)) => format!("ethereum-rpc:{} blocks {a}..={b}", self.rpc.endpoint),
            None => format!("ethereum-rpc:{}", self.rpc.endpoint),
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                return Ok(Some(r));
            }
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self.notes.clone();
        if self.untraced > 0 {
            w.push(format!(
                "{} of {} ethereum blocks were read without traces ({}): internal transfers \
                 and block rewards in them are not seen",
                self.untraced,
                self.blocks,
                match self.rpc.traces {
                    TraceMode::Off => "traces turned off",
                    _ => "the node has neither trace_block nor debug_traceBlockByNumber",
                }
            ));
        }
        if self.counts.status_unknown > 0 {
            w.push(format!(
                "{} pre-Byzantium transactions without traces were taken as successful",
                self.counts.status_unknown
            ));
        }
        if self.counts.selfdestruct_value_unknown > 0 {
            w.push(format!(
                "{} self-destructs did not say who received how much (old geth traces)",
                self.counts.selfdestruct_value_unknown
            ));
        }
        w
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut m = self.counts.to_map();
        m.insert("blocks".into(), self.blocks);
        m.insert("blocks_without_traces".into(), self.untraced);
        m.insert("transfers".into(), self.transfers);
        m
    }
}
