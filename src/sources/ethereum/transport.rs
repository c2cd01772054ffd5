//! JSON-RPC 2.0 over the crate's HTTP layer: single calls and batches.
//!
//! The HTTP layer ([`crate::sources::http`]) retries timeouts, broken
//! connections, HTTP 429 (honouring `Retry-After`) and 5xx. On top of it, a
//! JSON-RPC error that says "rate limit" is retried with the same backoff;
//! any other error object is handed to the caller as [`RpcError`], and an
//! answer that is not a JSON-RPC envelope fails with the method and the first
//! bytes of the answer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::NodeFailure;
use crate::sources::http::{Failed, Http, HttpOptions, check_url, snippet};

/// HTTP behaviour of the Ethereum JSON-RPC client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcOptions {
    /// Time allowed for each stage of a request: connecting, sending,
    /// waiting for the answer and reading it (default 30 s).
    pub timeout: Duration,
    /// Retries after a timeout, a broken connection, HTTP 429 or 5xx, or a
    /// rate-limit error (default 4).
    pub retries: u32,
    /// Wait before the first retry, doubled each time up to 10 s (default 250 ms).
    pub backoff: Duration,
    /// Largest answer accepted, in bytes (default 256 MiB).
    pub max_response: usize,
    /// Requests in flight at once: blocks fetched together, and per-transaction
    /// calls when the node has no batches (default 8).
    pub concurrency: usize,
    /// Requests per JSON-RPC batch, for per-transaction receipts (default 100).
    pub batch_size: usize,
    /// Most requests sent per second, retries included (default: no limit).
    pub requests_per_second: Option<u32>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(250),
            max_response: 256 << 20,
            concurrency: 8,
            batch_size: 100,
            requests_per_second: None,
        }
    }
}

/// A JSON-RPC error object, as the node sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    /// The error code (`-32601`: no such method).
    pub code: i64,
    /// The node's message.
    pub message: String,
    /// Anything the node added (revert data, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "json-rpc error {}: {}", self.code, self.message)
    }
}

impl RpcError {
    /// Whether the error means "this node has no such method".
    pub fn is_method_missing(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.code == -32601
            || m.contains("method not found")
            || m.contains("not supported")
            || m.contains("does not exist")
            || m.contains("not available")
            || m.contains("unsupported")
            || m.contains("not implemented")
    }

    /// Whether the error is a rate limit worth retrying.
    fn is_rate_limit(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.code == 429
            || self.code == -32005
            || m.contains("rate limit")
            || m.contains("too many requests")
    }
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The node answered with a JSON-RPC error object.
    Rpc(RpcError),
    /// The node answered a batch with something other than an array.
    BatchUnsupported(String),
    /// Anything else (transport, malformed or undecodable answer).
    Other(Failed),
}

impl CallError {
    /// The node's error object, if that is what came back.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            CallError::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the node said it has no such method.
    pub fn method_missing(&self) -> bool {
        self.rpc().is_some_and(RpcError::is_method_missing)
    }

    /// The kind of failure, for [`crate::Error::Node`].
    pub fn failure(&self) -> NodeFailure {
        match self {
            CallError::Rpc(e) => NodeFailure::Rpc {
                code: e.code,
                message: e.message.clone(),
            },
            CallError::BatchUnsupported(_) => NodeFailure::Malformed,
            CallError::Other(f) => f.failure.clone(),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rpc(e) => e.fmt(f),
            CallError::BatchUnsupported(r) => write!(f, "batch requests refused: {r}"),
            CallError::Other(e) => e.fmt(f),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Serialize)]
struct Request<'a, T> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: T,
}

/// A JSON-RPC 2.0 client over HTTP POST (see the module documentation).
#[derive(Debug)]
pub(crate) struct JsonRpc {
    http: Http,
    url: String,
    opts: RpcOptions,
    id: AtomicU64,
}

fn malformed(method: &str, reason: impl fmt::Display) -> CallError {
    CallError::Other(Failed::new(
        NodeFailure::Malformed,
        format!("malformed answer to {method}: {reason}"),
    ))
}

/// A request that could not be encoded (it cannot happen with the crate's
/// own parameter types, but a caller's may fail to serialize).
fn unencodable(what: &str, e: serde_json::Error) -> CallError {
    CallError::Other(Failed::new(
        NodeFailure::Malformed,
        format!("cannot encode the {what} request: {e}"),
    ))
}

impl JsonRpc {
    /// A client for `url` (`http://…`; `https://` needs the `tls` feature).
    ///
    /// # Errors
    /// [`NodeFailure::Url`] when the URL is not one this build can reach.
    pub fn new(url: &str, opts: RpcOptions) -> Result<JsonRpc, Failed> {
        check_url(url)?;
        let http = Http::new(
            HttpOptions {
                timeout: opts.timeout,
                retries: opts.retries,
                backoff: opts.backoff,
                max_response: opts.max_response as u64,
                requests_per_second: opts.requests_per_second,
            },
            // Up to three calls per block in flight (block, receipts,
            // traces): keep a connection for each, so none is reopened.
            opts.concurrency.max(1).saturating_mul(3),
        );
        Ok(JsonRpc {
            http,
            url: url.to_owned(),
            opts,
            id: AtomicU64::new(1),
        })
    }

    /// The options in use.
    pub fn options(&self) -> &RpcOptions {
        &self.opts
    }

    /// POSTs `body`; the answer's bytes. A non-2xx status that was not
    /// retried (a 500 with a JSON body is the node's answer) is an error
    /// unless its body is JSON.
    fn post(&self, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let reply = self
            .http
            .post_json(&self.url, body, &[])
            .map_err(CallError::Other)?;
        let node_answer = reply.ok() || (reply.status == 500 && looks_like_json(&reply.body));
        if !node_answer {
            return Err(CallError::Other(Failed::new(
                NodeFailure::Status(reply.status),
                format!("http status {}: {:?}", reply.status, snippet(&reply.body)),
            )));
        }
        Ok(reply.body)
    }

    /// One call; the raw result (`null` included).
    pub fn call_raw(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<Box<RawValue>, CallError> {
        let mut attempt = 0u32;
        loop {
            let body = serde_json::to_vec(&Request {
                jsonrpc: "2.0",
                id: self.id.fetch_add(1, Ordering::Relaxed),
                method,
                params,
            })
            .map_err(|e| unencodable(method, e))?;
            let out = self.post(&body)?;
            let env: Envelope = serde_json::from_slice(&out).map_err(|e| {
                malformed(method, format!("{e} (answer starts {:?})", snippet(&out)))
            })?;
            match (env.error, env.result) {
                (Some(e), _) if e.is_rate_limit() && attempt < self.opts.retries => {
                    std::thread::sleep(self.http.backoff(attempt, None));
                    attempt += 1;
                }
                (Some(e), _) => return Err(CallError::Rpc(e)),
                (None, Some(r)) => return Ok(r),
                (None, None) => return Err(malformed(method, "neither result nor error")),
            }
        }
    }

    /// One call, its result decoded as `R`.
    pub fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<R, CallError> {
        let raw = self.call_raw(method, params)?;
        decode(method, &raw)
    }

    /// Sends one JSON-RPC batch: `calls` as (method, params); answers in the
    /// same order, each a result or the node's error for that call.
    ///
    /// # Errors
    /// [`CallError::BatchUnsupported`] when the node answers a batch with
    /// anything but an array; transport failures as for single calls.
    pub fn batch(
        &self,
        calls: &[(&str, serde_json::Value)],
    ) -> Result<Vec<Result<Box<RawValue>, RpcError>>, CallError> {
        let first = self.id.fetch_add(calls.len() as u64, Ordering::Relaxed);
        let reqs: Vec<_> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| Request {
                jsonrpc: "2.0",
                id: first + i as u64,
                method: m,
                params: p,
            })
            .collect();
        let body = serde_json::to_vec(&reqs).map_err(|e| unencodable("batch", e))?;
        let out = self.post(&body)?;
        // Decoded straight from the bytes: each result stays raw text until
        // the caller decodes it into its type. A node without batches
        // answers with one object (an error) instead of an array.
        let is_array = out.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if !is_array && looks_like_json(&out) {
            return Err(CallError::BatchUnsupported(snippet(out.trim_ascii())));
        }
        let envs: Vec<Envelope> = serde_json::from_slice(&out)
            .map_err(|e| malformed("batch", format!("{e} (answer starts {:?})", snippet(&out))))?;
        let mut slots: Vec<Option<Result<Box<RawValue>, RpcError>>> =
            (0..calls.len()).map(|_| None).collect();
        for env in envs {
            let slot = env
                .id
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .and_then(|id| id.checked_sub(first))
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < calls.len())
                .ok_or_else(|| {
                    malformed("batch", format!("answer with unknown id {:?}", env.id))
                })?;
            slots[slot] = Some(match (env.error, env.result) {
                (Some(e), _) => Err(e),
                (None, Some(r)) => Ok(r),
                (None, None) => Err(RpcError {
                    code: 0,
                    message: "neither result nor error".into(),
                    data: None,
                }),
            });
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| malformed(calls[i].0, format!("batch answer lacks call {i}")))
            })
            .collect()
    }
}

fn looks_like_json(b: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok()
}

/// Decodes a raw result as `R`, naming the method on failure.
pub(crate) fn decode<R: DeserializeOwned>(method: &str, raw: &RawValue) -> Result<R, CallError> {
    serde_json::from_str(raw.get()).map_err(|err| {
        CallError::Other(Failed::new(
            NodeFailure::Malformed,
            format!(
                "cannot decode the {method} result: {err} (result starts {:?})",
                snippet(raw.get().as_bytes())
            ),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_missing_and_rate_limits_are_recognised() {
        let e = |code, message: &str| RpcError {
            code,
            message: message.into(),
            data: None,
        };
        assert!(e(-32601, "whatever").is_method_missing());
        assert!(
            e(
                -32000,
                "the method trace_block does not exist/is not available"
            )
            .is_method_missing()
        );
        assert!(!e(-32000, "header not found").is_method_missing());
        assert!(e(-32005, "limit exceeded").is_rate_limit());
        assert!(e(-32000, "Too Many Requests").is_rate_limit());
        assert!(!e(-32000, "execution reverted").is_rate_limit());
    }
}
