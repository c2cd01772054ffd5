//! HTTP for the live clients: Bitcoin Core JSON-RPC, Esplora and Ethereum
//! JSON-RPC all go through one client.
//!
//! One blocking `ureq` agent per client, with pooled keep-alive connections.
//! Each stage of a request (connecting, sending, waiting for the answer,
//! reading it) has [`HttpOptions::timeout`]; a host-name lookup is bounded by
//! the system's resolver. There is deliberately no timeout over the whole
//! request: ureq can only bound a lookup by running it on a thread of its
//! own, and it looks the host up for every request, pooled connection or
//! not, so such a timeout would start a thread per request. Timeouts, refused or
//! dropped connections, HTTP 429 and 5xx answers are retried with exponential
//! backoff (doubled from [`HttpOptions::backoff`] up to 10 s, or longer when
//! the server sends `Retry-After`, up to 30 s); a 500 whose body is JSON is the
//! server's answer (a JSON-RPC error), not an outage, and is handed back. Any
//! other status is handed back for the caller to judge. Answers larger than
//! [`HttpOptions::max_response`] are refused.
//!
//! TLS: plain `http://` always; `https://` with the `tls` feature (rustls with
//! the ring provider, Mozilla's root certificates from `webpki-roots`).

use std::fmt;
use std::time::Duration;

use crate::error::NodeFailure;

/// HTTP behaviour of a live client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Time allowed for each stage of a request: connecting, sending,
    /// waiting for the answer and reading it (default 30 s).
    pub timeout: Duration,
    /// Retries after a timeout, a refused or dropped connection, HTTP 429 or
    /// 5xx (default 3).
    pub retries: u32,
    /// Wait before the first retry, doubled each time up to 10 s (default 250 ms).
    pub backoff: Duration,
    /// Largest answer accepted, in bytes (default 64 MiB: a 4 MB Bitcoin block
    /// at verbosity 3 is about 30 MB of JSON).
    pub max_response: u64,
    /// Most requests sent per second, over all threads of one client and
    /// its clones, retries included (default: no limit). Public servers
    /// document theirs.
    pub requests_per_second: Option<u32>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(250),
            max_response: 64 << 20,
            requests_per_second: None,
        }
    }
}

/// An answer that was not retried: its status and body.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`HttpOptions::max_response`] bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A request that failed for good: its kind and what happened, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    /// The kind, for callers that act on it.
    pub failure: NodeFailure,
    /// What happened.
    pub reason: String,
}

impl Failed {
    pub fn new(failure: NodeFailure, reason: impl Into<String>) -> Failed {
        Failed {
            failure,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A blocking HTTP client with retries (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    opts: HttpOptions,
    /// When the next request may go, for `requests_per_second`.
    next_slot: std::sync::Arc<std::sync::Mutex<std::time::Instant>>,
}

/// What one attempt ended with.
enum Attempt {
    Done(Reply),
    /// Worth another try: the failure if it is the last, what the answer
    /// said, and the server's `Retry-After`.
    Transient(Failed, Option<String>, Option<Duration>),
}

/// Longest wait between two attempts from our own backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait a server's `Retry-After` can ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The first bytes of an answer, for error messages.
pub(crate) fn snippet(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(&s[..s.len().min(120)]);
    s.into_owned()
}

/// Checks that `url` is one this build can reach: `http://`, or `https://`
/// with the `tls` feature.
///
/// # Errors
/// [`NodeFailure::Url`], the message naming the URL.
pub(crate) fn check_url(url: &str) -> Result<(), Failed> {
    let bad = |reason: String| Err(Failed::new(NodeFailure::Url, reason));
    let Some(scheme) = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()) else {
        return bad(format!("invalid url {url:?}: no scheme (use http://)"));
    };
    match scheme.as_str() {
        "http" => Ok(()),
        "https" if cfg!(feature = "tls") => Ok(()),
        "https" => bad(format!(
            "{url}: https needs the `tls` feature (or a local tunnel)"
        )),
        s => bad(format!("{url}: unsupported scheme {s:?} (use http://)")),
    }
}

impl Http {
    /// A client; `pool` is the number of idle connections kept open to one
    /// host: the most requests the caller has in flight at once, so that no
    /// connection is closed and opened again between two rounds.
    pub fn new(opts: HttpOptions, pool: usize) -> Http {
        let t = Some(opts.timeout);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(t)
            .timeout_send_request(t)
            .timeout_send_body(t)
            .timeout_recv_response(t)
            .timeout_recv_body(t)
            .http_status_as_error(false)
            .max_idle_connections_per_host(pool.max(1))
            .max_idle_connections(pool.max(1).saturating_mul(2))
            .build()
            .into();
        Http {
            agent,
            opts,
            next_slot: std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
        }
    }

    /// Waits for this request's slot under `requests_per_second`: slots are
    /// handed out one per `1 s / rate`, in the order requests ask.
    fn pace(&self) {
        let Some(rate) = self.opts.requests_per_second.filter(|r| *r > 0) else {
            return;
        };
        let gap = Duration::from_secs(1) / rate;
        let wait = {
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = std::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + gap;
            slot - now
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// GET `url` with retries.
    #[cfg_attr(
        not(feature = "bitcoin"),
        allow(dead_code, reason = "only the Bitcoin clients GET")
    )]
    ///
    /// # Errors
    /// Why the request failed, after the retries.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, Failed> {
        self.send(url, None, headers)
    }

    /// POST a JSON `body` to `url` with retries.
    ///
    /// # Errors
    /// Why the request failed, after the retries.
    pub fn post_json(
        &self,
        url: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Reply, Failed> {
        self.send(url, Some(body), headers)
    }

    fn send(
        &self,
        url: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Failed> {
        check_url(url)?;
        let mut attempt = 0u32;
        loop {
            self.pace();
            let (failed, detail, retry_after) = match self.attempt(url, body, headers)? {
                Attempt::Done(r) => return Ok(r),
                Attempt::Transient(failed, detail, after) => (failed, detail, after),
            };
            attempt += 1;
            if attempt > self.opts.retries {
                let reason = &failed.reason;
                let reason = match detail {
                    Some(d) => format!("{reason}; gave up after {attempt} attempts ({d})"),
                    None => format!("{reason}; gave up after {attempt} attempts"),
                };
                return Err(Failed { reason, ..failed });
            }
            std::thread::sleep(self.backoff(attempt - 1, retry_after));
        }
    }

    /// The wait before retry number `attempt + 1`: the backoff doubled per
    /// attempt up to 10 s, or the server's `Retry-After` (up to 30 s) if
    /// that is longer.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(MAX_BACKOFF);
        retry_after.map_or(exp, |r| r.min(MAX_RETRY_AFTER).max(exp))
    }

    fn attempt(
        &self,
        url: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Attempt, Failed> {
        let sent = match body {
            None => {
                let mut r = self.agent.get(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            Some(b) => {
                let mut r = self.agent.post(url).content_type("application/json");
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(b)
            }
        };
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return transient(e, self.opts.timeout).map(|f| Attempt::Transient(f, None, None));
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body_bytes = match resp
            .body_mut()
            .with_config()
            .limit(self.opts.max_response)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(Failed::new(
                    NodeFailure::TooLarge,
                    format!(
                        "cannot read the body (limit {} bytes): the answer is larger",
                        self.opts.max_response
                    ),
                ));
            }
            Err(e) => {
                return transient(e, self.opts.timeout).map(|f| Attempt::Transient(f, None, None));
            }
        };
        let retry = match status {
            429 | 502..=504 => true,
            // A JSON body on a 500 is the server's answer (Bitcoin Core and
            // JSON-RPC nodes send their errors so); without one it is a
            // failing server or proxy.
            500 => {
                body.is_none()
                    || serde_json::from_slice::<serde::de::IgnoredAny>(&body_bytes).is_err()
            }
            501..=599 => true,
            _ => false,
        };
        if retry {
            let text = snippet(&body_bytes);
            let detail = (!text.trim().is_empty()).then(|| format!("answer starts {text:?}"));
            return Ok(Attempt::Transient(
                Failed::new(NodeFailure::Status(status), format!("http {status}")),
                detail,
                retry_after,
            ));
        }
        Ok(Attempt::Done(Reply {
            status,
            body: body_bytes,
        }))
    }
}

/// A transport failure worth retrying, described; or, for anything else
/// (a bad URL, a TLS failure), the final error.
fn transient(e: ureq::Error, timeout: Duration) -> Result<Failed, Failed> {
    use std::io::ErrorKind as K;
    let again = |failure, reason: String| Ok(Failed::new(failure, reason));
    match e {
        ureq::Error::Timeout(stage) => again(
            NodeFailure::Timeout,
            format!("timed out after {timeout:?} ({stage})"),
        ),
        ureq::Error::Io(e) if e.kind() == K::TimedOut => {
            again(NodeFailure::Timeout, format!("timed out after {timeout:?}"))
        }
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            again(NodeFailure::Connection, format!("cannot connect: {e}"))
        }
        ureq::Error::Io(e) if matches!(e.kind(), K::ConnectionRefused | K::NotConnected) => {
            again(NodeFailure::Connection, format!("cannot connect: {e}"))
        }
        // A server restarting, or a connection dropped mid-answer.
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe
            ) =>
        {
            again(NodeFailure::Connection, format!("connection lost: {e}"))
        }
        ureq::Error::Protocol(p) => again(
            NodeFailure::Malformed,
            format!("malformed http answer: {p}"),
        ),
        ureq::Error::BadUri(_) => Err(Failed::new(NodeFailure::Url, e.to_string())),
        ureq::Error::LargeResponseHeader(..) => {
            Err(Failed::new(NodeFailure::TooLarge, e.to_string()))
        }
        e => Err(Failed::new(NodeFailure::Connection, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:8545").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("127.0.0.1:8545").is_err());
        assert_eq!(
            check_url("https://node.example").is_ok(),
            cfg!(feature = "tls")
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        let http = Http::new(
            HttpOptions {
                backoff: Duration::from_millis(100),
                ..HttpOptions::default()
            },
            1,
        );
        assert_eq!(http.backoff(0, None), Duration::from_millis(100));
        assert_eq!(http.backoff(2, None), Duration::from_millis(400));
        assert_eq!(http.backoff(30, None), MAX_BACKOFF);
        assert_eq!(
            http.backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            http.backoff(0, Some(Duration::from_secs(600))),
            MAX_RETRY_AFTER
        );
        // Retry-After never shortens our own backoff.
        assert_eq!(http.backoff(30, Some(Duration::from_secs(1))), MAX_BACKOFF);
    }
}
