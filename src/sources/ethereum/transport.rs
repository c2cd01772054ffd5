//! The HTTP transport under our ethers `Provider`.
//!
//! ethers' own `Http` transport reads every answer as JSON whatever its status,
//! so a 429 or a 503 page surfaces as a JSON syntax error and cannot be told
//! from a node that sends garbage. This transport sees the status: timeouts,
//! refused or broken connections, HTTP 429 and 5xx, and JSON-RPC "limit
//! exceeded" errors are retried with exponential backoff (honouring
//! `Retry-After`); anything else fails at once with the method and a piece of
//! the answer. It also sends JSON-RPC batches, which ethers does not.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ethers::providers::{JsonRpcClient, JsonRpcError, ProviderError, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// HTTP behaviour of the Ethereum JSON-RPC client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcOptions {
    /// Time allowed for one request, connection to last byte (default 30 s).
    pub timeout: Duration,
    /// Retries after a timeout, a broken connection, HTTP 429 or 5xx, or a
    /// rate-limit error (default 4).
    pub retries: u32,
    /// Wait before the first retry, doubled each time up to 10 s (default 250 ms).
    pub backoff: Duration,
    /// Largest answer accepted, in bytes (default 256 MiB).
    pub max_response: usize,
    /// Blocks fetched at once (default 8).
    pub concurrency: usize,
    /// Requests per JSON-RPC batch, for per-transaction receipts (default 100).
    pub batch_size: usize,
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
        }
    }
}

/// A transport failure, as ethers sees it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The node answered with a JSON-RPC error object.
    Rpc(JsonRpcError),
    /// The answer was not JSON, or not a JSON-RPC envelope.
    Malformed {
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// The result did not have the expected type.
    Decode {
        /// The method called.
        method: String,
        /// serde's error (with line and column).
        err: serde_json::Error,
        /// The start of the result.
        snippet: String,
    },
    /// A non-retryable HTTP status.
    Status {
        /// The status code.
        code: u16,
        /// The start of the body.
        body: String,
    },
    /// Retries ran out.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The node does not accept JSON-RPC batches.
    BatchUnsupported(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Rpc(e) => write!(f, "json-rpc error {}: {}", e.code, e.message),
            TransportError::Malformed { method, reason } => {
                write!(f, "malformed answer to {method}: {reason}")
            }
            TransportError::Decode {
                method,
                err,
                snippet,
            } => write!(
                f,
                "cannot decode the {method} result: {err} (result starts {snippet:?})"
            ),
            TransportError::Status { code, body } => write!(f, "http status {code}: {body:?}"),
            TransportError::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
            TransportError::BatchUnsupported(r) => write!(f, "batch requests refused: {r}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl RpcError for TransportError {
    fn as_error_response(&self) -> Option<&JsonRpcError> {
        match self {
            TransportError::Rpc(e) => Some(e),
            _ => None,
        }
    }

    fn as_serde_error(&self) -> Option<&serde_json::Error> {
        match self {
            TransportError::Decode { err, .. } => Some(err),
            _ => None,
        }
    }
}

impl From<TransportError> for ProviderError {
    fn from(e: TransportError) -> Self {
        ProviderError::JsonRpcClientError(Box::new(e))
    }
}

/// Whether a JSON-RPC error means "this node has no such method".
pub fn is_method_missing(e: &JsonRpcError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.code == -32601
        || m.contains("method not found")
        || m.contains("not supported")
        || m.contains("does not exist")
        || m.contains("not available")
        || m.contains("unsupported")
        || m.contains("not implemented")
}

/// Whether a JSON-RPC error is a rate limit worth retrying.
fn is_rate_limit(e: &JsonRpcError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.code == 429 || e.code == -32005 || m.contains("rate limit") || m.contains("too many requests")
}

/// JSON-RPC over HTTP POST with retries (see the module documentation).
#[derive(Debug)]
pub struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
    opts: RpcOptions,
    id: AtomicU64,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<JsonRpcError>,
}

#[derive(Serialize)]
struct Request<'a, T> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: T,
}

fn snippet(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(&s[..s.len().min(120)]);
    s.into_owned()
}

impl HttpTransport {
    /// A transport for `url` (`http://…`; `https://` needs the
    /// `ethereum-tls` feature).
    ///
    /// # Errors
    /// A message when the URL does not parse or the HTTP client cannot be built.
    pub fn new(url: &str, opts: RpcOptions) -> std::result::Result<HttpTransport, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid url {url:?}: {e}"))?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "ethereum-tls") => {}
            "https" => {
                return Err(format!(
                    "{url}: https needs the `ethereum-tls` feature (or a local tunnel)"
                ));
            }
            s => return Err(format!("{url}: unsupported scheme {s:?} (use http://)")),
        }
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .build()
            .map_err(|e| format!("cannot build the http client: {e}"))?;
        Ok(HttpTransport {
            client,
            url,
            opts,
            id: AtomicU64::new(1),
        })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The options in use.
    pub fn options(&self) -> &RpcOptions {
        &self.opts
    }

    fn next_id(&self) -> u64 {
        self.id.fetch_add(1, Ordering::Relaxed)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(Duration::from_secs(10));
        retry_after.map_or(exp, |r| r.min(Duration::from_secs(30)).max(exp))
    }

    /// One POST, with retries on transient failures; returns the body.
    async fn post(&self, body: Vec<u8>) -> std::result::Result<Vec<u8>, TransportError> {
        let mut attempt = 0u32;
        loop {
            let (last, retry_after) = match self.try_post(&body).await {
                Ok(b) => return Ok(b),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(msg, after)) => (msg, after),
            };
            if attempt >= self.opts.retries {
                return Err(TransportError::GaveUp {
                    attempts: attempt + 1,
                    last,
                });
            }
            tokio::time::sleep(self.backoff(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    async fn try_post(&self, body: &[u8]) -> std::result::Result<Vec<u8>, Failure> {
        let resp = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::Transient(describe(&e, self.opts.timeout), None))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if let Some(len) = resp.content_length() {
            if len > self.opts.max_response as u64 {
                return Err(Failure::Fatal(TransportError::Status {
                    code: status.as_u16(),
                    body: format!(
                        "answer of {len} bytes exceeds the limit of {}",
                        self.opts.max_response
                    ),
                }));
            }
        }
        let mut resp = resp;
        let mut out = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    out.extend_from_slice(&c);
                    if out.len() > self.opts.max_response {
                        return Err(Failure::Fatal(TransportError::Status {
                            code: status.as_u16(),
                            body: format!(
                                "answer exceeds the limit of {} bytes",
                                self.opts.max_response
                            ),
                        }));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Transient(describe(&e, self.opts.timeout), None));
                }
            }
        }
        if status.as_u16() == 429 || status.is_server_error() {
            // A 500 carrying a JSON-RPC error is the node's answer, not an outage.
            if status.as_u16() == 500
                && serde_json::from_slice::<Envelope>(&out).is_ok_and(|e| e.error.is_some())
            {
                return Ok(out);
            }
            return Err(Failure::Transient(
                format!("http status {} ({})", status.as_u16(), snippet(&out)),
                retry_after,
            ));
        }
        if !status.is_success() {
            return Err(Failure::Fatal(TransportError::Status {
                code: status.as_u16(),
                body: snippet(&out),
            }));
        }
        Ok(out)
    }

    /// One request; the raw result (`null` included).
    async fn call_raw(
        &self,
        method: &str,
        params: &(impl Serialize + Sync),
    ) -> std::result::Result<Box<RawValue>, TransportError> {
        let mut attempt = 0u32;
        loop {
            let body = serde_json::to_vec(&Request {
                jsonrpc: "2.0",
                id: self.next_id(),
                method,
                params,
            })
            .map_err(|e| TransportError::Malformed {
                method: method.to_owned(),
                reason: format!("cannot encode the request: {e}"),
            })?;
            let out = self.post(body).await?;
            let env: Envelope =
                serde_json::from_slice(&out).map_err(|e| TransportError::Malformed {
                    method: method.to_owned(),
                    reason: format!("{e} (answer starts {:?})", snippet(&out)),
                })?;
            match (env.error, env.result) {
                (Some(e), _) if is_rate_limit(&e) && attempt < self.opts.retries => {
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    attempt += 1;
                }
                (Some(e), _) => return Err(TransportError::Rpc(e)),
                (None, Some(r)) => return Ok(r),
                (None, None) => {
                    return Err(TransportError::Malformed {
                        method: method.to_owned(),
                        reason: "neither result nor error".into(),
                    });
                }
            }
        }
    }

    /// Sends one JSON-RPC batch: `calls` as (method, params); answers in the
    /// same order, each a result or the node's error for that call.
    ///
    /// # Errors
    /// [`TransportError::BatchUnsupported`] when the node answers a batch with
    /// anything but an array; transport failures as for single calls.
    pub async fn batch(
        &self,
        calls: &[(&str, serde_json::Value)],
    ) -> std::result::Result<Vec<std::result::Result<Box<RawValue>, JsonRpcError>>, TransportError>
    {
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
        let body = serde_json::to_vec(&reqs).map_err(|e| TransportError::Malformed {
            method: "batch".into(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let out = self.post(body).await?;
        let envs: Vec<Envelope> = match serde_json::from_slice::<serde_json::Value>(&out) {
            Ok(serde_json::Value::Array(items)) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| TransportError::Malformed {
                    method: "batch".into(),
                    reason: e.to_string(),
                })?,
            Ok(other) => {
                return Err(TransportError::BatchUnsupported(snippet(
                    other.to_string().as_bytes(),
                )));
            }
            Err(e) => {
                return Err(TransportError::Malformed {
                    method: "batch".into(),
                    reason: format!("{e} (answer starts {:?})", snippet(&out)),
                });
            }
        };
        let mut slots: Vec<Option<std::result::Result<Box<RawValue>, JsonRpcError>>> =
            (0..calls.len()).map(|_| None).collect();
        for env in envs {
            let slot = env
                .id
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .and_then(|id| id.checked_sub(first))
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < calls.len())
                .ok_or_else(|| TransportError::Malformed {
                    method: "batch".into(),
                    reason: format!("answer with unknown id {:?}", env.id),
                })?;
            slots[slot] = Some(match (env.error, env.result) {
                (Some(e), _) => Err(e),
                (None, Some(r)) => Ok(r),
                (None, None) => Err(JsonRpcError {
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
                s.ok_or_else(|| TransportError::Malformed {
                    method: calls[i].0.to_owned(),
                    reason: format!("batch answer lacks call {i}"),
                })
            })
            .collect()
    }
}

enum Failure {
    Transient(String, Option<Duration>),
    Fatal(TransportError),
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("timed out after {timeout:?}")
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        s
    }
}

/// Decodes a raw result as `R`, naming the method on failure.
pub fn decode<R: DeserializeOwned>(
    method: &str,
    raw: &RawValue,
) -> std::result::Result<R, TransportError> {
    serde_json::from_str(raw.get()).map_err(|err| TransportError::Decode {
        method: method.to_owned(),
        err,
        snippet: snippet(raw.get().as_bytes()),
    })
}

#[async_trait::async_trait]
impl JsonRpcClient for HttpTransport {
    type Error = TransportError;

    async fn request<T, R>(&self, method: &str, params: T) -> std::result::Result<R, TransportError>
    where
        T: fmt::Debug + Serialize + Send + Sync,
        R: DeserializeOwned + Send,
    {
        let raw = self.call_raw(method, &params).await?;
        decode(method, &raw)
    }
}
