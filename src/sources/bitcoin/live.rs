//! Live clients: Bitcoin Core JSON-RPC and Esplora REST, over plain HTTP.
//!
//! Both go through the same conversion as recorded files
//! ([`core_json`](super::core_json), [`esplora`](super::esplora)), and over
//! the crate's shared HTTP layer ([`crate::sources::http`]): timeouts,
//! refused or dropped connections, HTTP 429 and 5xx answers (but not Core's
//! JSON errors, which come as 500) are retried with backoff, and when retries
//! run out the error names the URL and the request. Answers larger than
//! [`HttpOptions::max_response`] are refused. `https://` needs the `tls`
//! feature.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ::bitcoin::{BlockHash, OutPoint, Transaction, Txid};
use base64::Engine;

use super::convert::{BlockQueue, Prevout, PrevoutProvider, Step, UtxoIndex, script_address};
use super::core_json::{CoreBlock, convert_core_block, parse_getblock, parse_getrawtransaction};
use super::esplora::{EsploraTx, parse_esplora};
use crate::error::{Error, NodeFailure, Result};
use crate::sources::{Record, Source};
use crate::types::BitcoinNetwork;

pub use crate::sources::http::HttpOptions;

/// The shared HTTP layer, with the answers these clients tell apart.
#[derive(Clone)]
pub(super) struct Http {
    inner: crate::sources::http::Http,
    /// Requests sent, shared by the clones of one client.
    requests: Arc<AtomicU64>,
}

enum Answer {
    Ok(String),
    NotFound,
    /// A non-retried status with its body (Core sends RPC errors as 500
    /// with a JSON body; those are answers, not transport failures).
    Status(u16, String),
}

/// An [`Error::Node`] for the server at `endpoint`.
pub(super) fn node_err(
    endpoint: &str,
    context: impl Into<String>,
    failure: NodeFailure,
    reason: impl Into<String>,
) -> Error {
    Error::Node {
        endpoint: endpoint.to_owned(),
        context: context.into(),
        failure,
        reason: reason.into(),
    }
}

impl Http {
    fn new(opts: HttpOptions) -> Http {
        Http {
            inner: crate::sources::http::Http::new(opts, 4),
            requests: Arc::default(),
        }
    }

    /// Sends with retries. `body` None: GET, else POST of JSON. Errors name
    /// `endpoint` and `what` was asked.
    fn request(
        &self,
        endpoint: &str,
        url: &str,
        body: Option<&str>,
        auth: Option<&str>,
        what: &str,
    ) -> Result<Answer> {
        let auth_header = auth.map(|a| ("Authorization", a));
        let headers = auth_header.as_slice();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = match body {
            None => self.inner.get(url, headers),
            Some(b) => self.inner.post_json(url, b.as_bytes(), headers),
        };
        let reply = sent.map_err(|f| node_err(endpoint, what, f.failure, f.reason))?;
        let ok = reply.ok();
        let text = String::from_utf8(reply.body).map_err(|e| {
            node_err(
                endpoint,
                what,
                NodeFailure::Malformed,
                format!("the answer is not utf-8: {e}"),
            )
        })?;
        Ok(match reply.status {
            _ if ok => Answer::Ok(text),
            404 => Answer::NotFound,
            s => Answer::Status(s, text),
        })
    }
}

/// A Bitcoin Core JSON-RPC client.
#[derive(Clone)]
pub struct CoreRpc {
    url: String,
    auth: Option<String>,
    http: Http,
    net: BitcoinNetwork,
}

/// An error the node itself returned (`{"code": …, "message": …}`).
fn rpc_error(url: &str, what: &str, err: &serde_json::Value) -> Error {
    let code = err.get("code").and_then(serde_json::Value::as_i64);
    let message = err
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let reason = match code {
        Some(c) => format!("the node answered with error {c}: {message}"),
        None => format!("the node answered with an error: {err}"),
    };
    let failure = match code {
        Some(code) => NodeFailure::Rpc {
            code,
            message: message.to_owned(),
        },
        None => NodeFailure::Malformed,
    };
    node_err(url, what, failure, reason)
}

impl CoreRpc {
    /// A client for `url` (`http://127.0.0.1:8332`). Credentials may be in
    /// the URL (`http://user:password@host:port`).
    pub fn new(url: &str, net: BitcoinNetwork, opts: HttpOptions) -> CoreRpc {
        let (url, auth) = match url.split_once("://").and_then(|(scheme, rest)| {
            let (cred, host) = rest.split_once('@')?;
            Some((format!("{scheme}://{host}"), cred.to_owned()))
        }) {
            Some((u, cred)) => (u, Some(basic(&cred))),
            None => (url.to_owned(), None),
        };
        CoreRpc {
            url,
            auth,
            http: Http::new(opts),
            net,
        }
    }

    /// Uses the credentials in Bitcoin Core's `.cookie` file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read.
    pub fn with_cookie(mut self, cookie: &Path) -> Result<CoreRpc> {
        let text = std::fs::read_to_string(cookie).map_err(|e| Error::io(cookie, e))?;
        self.auth = Some(basic(text.trim()));
        Ok(self)
    }

    /// Uses user and password.
    pub fn with_user(mut self, user: &str, password: &str) -> CoreRpc {
        self.auth = Some(basic(&format!("{user}:{password}")));
        self
    }

    /// One call; the `result` as JSON text, or `Ok(None)` when the node
    /// answers with an error whose code is in `not_found`.
    fn call(
        &self,
        method: &str,
        params: serde_json::Value,
        not_found: &[i64],
    ) -> Result<Option<String>> {
        let body = serde_json::json!({"jsonrpc": "1.0", "id": "fundtrace", "method": method, "params": params}).to_string();
        let what = format!("{method} {params}");
        let text = match self.http.request(
            &self.url,
            &self.url,
            Some(&body),
            self.auth.as_deref(),
            &what,
        )? {
            Answer::Ok(t) => t,
            Answer::Status(s @ (401 | 403), _) => {
                return Err(node_err(
                    &self.url,
                    what,
                    NodeFailure::Status(s),
                    format!("http {s}: authentication failed: check the user, password or cookie"),
                ));
            }
            Answer::Status(_, t) => t,
            Answer::NotFound => {
                return Err(node_err(
                    &self.url,
                    what,
                    NodeFailure::Status(404),
                    "http 404 (not a bitcoin core rpc endpoint?)",
                ));
            }
        };
        #[derive(serde::Deserialize)]
        struct Env<'a> {
            #[serde(borrow)]
            result: Option<&'a serde_json::value::RawValue>,
            error: Option<serde_json::Value>,
        }
        let env: Env<'_> = serde_json::from_str(&text).map_err(|e| {
            node_err(
                &self.url,
                &what,
                NodeFailure::Malformed,
                format!("malformed answer: {e}"),
            )
        })?;
        match env.error.filter(|e| !e.is_null()) {
            Some(err)
                if err
                    .get("code")
                    .and_then(|c| c.as_i64())
                    .is_some_and(|c| not_found.contains(&c)) =>
            {
                Ok(None)
            }
            Some(err) => Err(rpc_error(&self.url, &what, &err)),
            None => Ok(Some(env.result.map_or("null", |r| r.get()).to_owned())),
        }
    }

    /// `getblockhash`; `None` past the tip.
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures, malformed answers and the
    /// node's errors.
    pub fn block_hash(&self, height: u64) -> Result<Option<BlockHash>> {
        let Some(t) = self.call("getblockhash", serde_json::json!([height]), &[-8])? else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| {
            node_err(
                &self.url,
                format!("getblockhash {height}"),
                NodeFailure::Malformed,
                format!("malformed answer: {e}"),
            )
        };
        let s: String = serde_json::from_str(&t).map_err(|e| bad(&e))?;
        s.parse().map(Some).map_err(|e| bad(&e))
    }

    /// `getblock` at verbosity 3 (previous outputs included), or 2 on nodes
    /// older than Bitcoin Core 23 that refuse 3.
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures, malformed answers and the
    /// node's errors; the checks of
    /// [`parse_getblock`].
    pub fn block(&self, hash: &BlockHash) -> Result<Option<CoreBlock>> {
        let what = format!("getblock {hash}");
        for verbosity in [3, 2] {
            match self.call(
                "getblock",
                serde_json::json!([hash.to_string(), verbosity]),
                &[-5],
            ) {
                Ok(Some(t)) => return parse_getblock(&t, &what, self.net).map(Some),
                Ok(None) => return Ok(None),
                // Before Bitcoin Core 23: "Verbosity was 3, expected 0-2" (-8).
                Err(Error::Node {
                    failure: NodeFailure::Rpc { code: -8, .. },
                    ..
                }) if verbosity == 3 => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// `getrawtransaction <txid> true`; `None` if the node does not know it
    /// (without `-txindex` it only knows mempool and wallet transactions).
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures, malformed answers and the
    /// node's errors.
    pub fn raw_transaction(&self, txid: &Txid) -> Result<Option<Transaction>> {
        let Some(t) = self.call(
            "getrawtransaction",
            serde_json::json!([txid.to_string(), true]),
            &[-5],
        )?
        else {
            return Ok(None);
        };
        parse_getrawtransaction(&t, &format!("getrawtransaction {txid}")).map(Some)
    }
}

fn basic(cred: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(cred)
    )
}

impl PrevoutProvider for CoreRpc {
    fn prevout(&mut self, o: &OutPoint) -> Result<Option<Prevout>> {
        let Some(tx) = self.raw_transaction(&o.txid)? else {
            return Ok(None);
        };
        Ok(tx.output.get(o.vout as usize).map(|out| Prevout {
            address: script_address(&out.script_pubkey, self.net),
            value: out.value.to_sat(),
        }))
    }
}

/// Blocks from a live Bitcoin Core node as a [`Source`], a height range in
/// order; a block is converted whole or not at all.
///
/// Each block is checked before it is converted: it is the block asked for
/// (hash and height), its header fields hash to its hash, its transactions
/// to its merkle root, and it links to the block before it. A mismatch is an
/// error naming the block; [`CoreRpcSource::resume_from`] gives the height
/// to restart at.
pub struct CoreRpcSource {
    rpc: CoreRpc,
    next: u64,
    end: u64,
    utxos: UtxoIndex,
    queue: BlockQueue,
    /// The hash of the last block converted, to check the next one links to it.
    last: Option<BlockHash>,
}

impl CoreRpcSource {
    /// Reads blocks `heights` (the end is capped at the node's tip). Inputs
    /// spending outputs before the range are looked up with
    /// `getrawtransaction` unless the node gives them (verbosity 3).
    pub fn new(rpc: CoreRpc, heights: RangeInclusive<u64>) -> CoreRpcSource {
        let utxos = UtxoIndex::with_provider(Box::new(rpc.clone()));
        CoreRpcSource {
            rpc,
            next: *heights.start(),
            end: *heights.end(),
            utxos,
            queue: BlockQueue::default(),
            last: None,
        }
    }

    /// The height to restart at after an error or an early stop: the first
    /// block not yet handed over whole. Blocks before it were delivered
    /// completely and no record of it or later ones was, so a new source
    /// from this height, loaded into the same builder, gives the graph an
    /// uninterrupted load would have.
    pub fn resume_from(&self) -> u64 {
        if self.queue.is_empty() {
            self.next
        } else {
            self.next - 1
        }
    }
}

impl Source for CoreRpcSource {
    fn name(&self) -> String {
        format!("bitcoin-core-rpc:{}", self.rpc.url)
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let mut queue = std::mem::take(&mut self.queue);
        let next = queue.next(|| self.step());
        self.queue = queue;
        next
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.queue.counters()
    }
}

impl CoreRpcSource {
    /// Fetches and converts the next block of the range.
    fn step(&mut self) -> Result<Step> {
        if self.next > self.end {
            return Ok(Step::End);
        }
        let h = self.next;
        let Some(hash) = self.rpc.block_hash(h)? else {
            return Ok(Step::End);
        };
        let url = &self.rpc.url;
        let ctx = || format!("getblock {hash} (height {h})");
        let block = self.rpc.block(&hash)?.ok_or_else(|| {
            node_err(
                url,
                ctx(),
                NodeFailure::NotFound,
                "the node does not have it",
            )
        })?;
        if block.hash != hash {
            return Err(node_err(
                url,
                ctx(),
                NodeFailure::Malformed,
                format!("the node answered with block {}", block.hash),
            ));
        }
        if block.height != h {
            return Err(node_err(
                url,
                ctx(),
                NodeFailure::Malformed,
                format!("the node says height {}, expected {h}", block.height),
            ));
        }
        if let Some(last) = self.last
            && block.prev != Some(last)
        {
            return Err(node_err(
                url,
                ctx(),
                NodeFailure::Reorganised,
                format!(
                    "block {hash} at height {h} does not follow block {last} at height {}: \
                     the chain was reorganised during the load; restart from an earlier height",
                    h - 1
                ),
            ));
        }
        let mut recs = Vec::new();
        let s = convert_core_block(&block, self.rpc.net, &mut self.utxos, &mut recs)?;
        self.next += 1;
        self.last = Some(hash);
        Ok(Step::Block(s, recs))
    }
}

/// A block's transactions' indexes, by txid, once fetched; each block has
/// its own lock, so two workers never fetch the same block's txids.
pub(super) type BlockPositions = Arc<Mutex<Option<Arc<HashMap<String, u32>>>>>;

/// An Esplora REST client (`https://…/api` behind a tunnel, or a local
/// electrs/mempool backend).
#[derive(Clone)]
pub struct Esplora {
    pub(super) base: String,
    pub(super) http: Http,
    pub(super) net: BitcoinNetwork,
    /// Per block hash, each transaction's index: `/block/:hash/txids`
    /// fetched once per block.
    pub(super) blocks: Arc<Mutex<HashMap<String, BlockPositions>>>,
    /// Where answers are kept, if anywhere.
    #[cfg(feature = "cache")]
    pub(super) cache: Option<Arc<crate::sources::cache::AnswerCache>>,
}

impl Esplora {
    /// A client for the API base URL (`http://127.0.0.1:3002/api`).
    pub fn new(base: &str, net: BitcoinNetwork, opts: HttpOptions) -> Esplora {
        Esplora {
            base: base.trim_end_matches('/').to_owned(),
            http: Http::new(opts),
            net,
            blocks: Arc::default(),
            #[cfg(feature = "cache")]
            cache: None,
        }
    }

    /// Keeps every answer in `cache` and answers from it what it holds
    /// (feature `cache`): requests are keyed by this client's base URL and
    /// path.
    #[cfg(feature = "cache")]
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<crate::sources::cache::AnswerCache>) -> Esplora {
        self.cache = Some(cache);
        self
    }

    /// The answer cache, if one is set.
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&Arc<crate::sources::cache::AnswerCache>> {
        self.cache.as_ref()
    }

    /// Requests sent so far by this client and its clones.
    pub fn requests(&self) -> u64 {
        self.http.requests.load(Ordering::Relaxed)
    }

    pub(super) fn get(&self, path: &str) -> Result<Option<String>> {
        let url = format!("{}{path}", self.base);
        let what = format!("GET {path}");
        #[cfg(feature = "cache")]
        if let Some(c) = &self.cache
            && let Some(a) = c.get(&self.base, &what)?
        {
            return match a.status {
                404 => Ok(None),
                _ => String::from_utf8(a.body).map(Some).map_err(|e| {
                    node_err(
                        &self.base,
                        what,
                        NodeFailure::Malformed,
                        format!("the cached answer is not utf-8: {e}"),
                    )
                }),
            };
        }
        let answer = self.http.request(&self.base, &url, None, None, &what)?;
        #[cfg(feature = "cache")]
        if let Some(c) = &self.cache {
            let stored = match &answer {
                Answer::Ok(t) => Some((200, t.as_bytes())),
                Answer::NotFound => Some((404, &b""[..])),
                Answer::Status(..) => None,
            };
            if let Some((status, body)) = stored {
                c.put(
                    &self.base,
                    &what,
                    &crate::sources::cache::Answer {
                        status,
                        body: body.to_vec(),
                    },
                )?;
            }
        }
        match answer {
            Answer::Ok(t) => Ok(Some(t)),
            Answer::NotFound => Ok(None),
            Answer::Status(s, t) => Err(node_err(
                &self.base,
                what,
                NodeFailure::Status(s),
                format!("http {s}: {}", t.chars().take(200).collect::<String>()),
            )),
        }
    }

    /// `/tx/:txid`; `None` if the server does not know it.
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures; the checks of
    /// [`parse_esplora`].
    pub fn tx(&self, txid: &str) -> Result<Option<EsploraTx>> {
        let Some(t) = self.get(&format!("/tx/{txid}"))? else {
            return Ok(None);
        };
        Ok(
            parse_esplora(&t, &format!("{}/tx/{txid}", self.base), self.net)?
                .into_iter()
                .next(),
        )
    }

    /// `/block/:hash/txids`: the block's transaction ids in order.
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures and malformed answers; more ids than
    /// [`MAX_TXS_PER_BLOCK`](crate::limits::MAX_TXS_PER_BLOCK).
    pub fn block_txids(&self, hash: &str) -> Result<Option<Vec<String>>> {
        let Some(t) = self.get(&format!("/block/{hash}/txids"))? else {
            return Ok(None);
        };
        let list: Vec<String> = serde_json::from_str(&t).map_err(|e| {
            node_err(
                &self.base,
                format!("GET /block/{hash}/txids"),
                NodeFailure::Malformed,
                format!("malformed answer: {e}"),
            )
        })?;
        crate::limits::check_block_txs(list.len(), || {
            format!("in bitcoin block {hash} ({}/block/{hash}/txids)", self.base)
        })?;
        Ok(Some(list))
    }

    /// Fetches transactions and places each in its block (from the block's
    /// txids) as a record; unconfirmed ones are returned apart.
    ///
    /// # Errors
    /// [`Error::Node`] for transport failures and for a transaction or block
    /// the server does not know ([`NodeFailure::NotFound`]).
    pub fn records(&self, txids: &[String]) -> Result<(Vec<Record>, Vec<String>)> {
        let mut recs = Vec::new();
        let mut unconfirmed = Vec::new();
        let mut blocks: std::collections::HashMap<String, Vec<String>> = Default::default();
        for id in txids {
            let tx = self.tx(id)?.ok_or_else(|| {
                node_err(
                    &self.base,
                    format!("GET /tx/{id}"),
                    NodeFailure::NotFound,
                    "not found",
                )
            })?;
            let Some(m) = &tx.mined else {
                unconfirmed.push(id.clone());
                continue;
            };
            if !blocks.contains_key(&m.hash) {
                let list = self.block_txids(&m.hash)?.ok_or_else(|| {
                    node_err(
                        &self.base,
                        format!("GET /block/{}/txids", m.hash),
                        NodeFailure::NotFound,
                        "not found",
                    )
                })?;
                blocks.insert(m.hash.clone(), list);
            }
            let index = blocks[&m.hash]
                .iter()
                .position(|t| t == id)
                .ok_or_else(|| {
                    node_err(
                        &self.base,
                        format!("GET /block/{}/txids", m.hash),
                        NodeFailure::Malformed,
                        format!("tx {id} is not in the txids of block {}", m.hash),
                    )
                })?;
            recs.extend(
                tx.to_record(u32::try_from(index).unwrap_or(u32::MAX))
                    .map(Record::Utxo),
            );
        }
        Ok((recs, unconfirmed))
    }
}
