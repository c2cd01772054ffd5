//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in fundtrace.
///
/// Every variant names what failed: the input text, file and offset, block or
/// address. Messages are lower case and carry their context, so they read well
/// after a `: ` in a caller's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address string could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// The text as given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// An Ethereum address in mixed case whose EIP-55 checksum does not match.
    #[error("invalid address {input:?}: eip-55 checksum mismatch (expected {expected})")]
    BadChecksum {
        /// The text as given.
        input: String,
        /// The correctly checksummed form of the same bytes.
        expected: String,
    },
    /// A transaction id could not be parsed.
    #[error("invalid transaction id {input:?}: {reason}")]
    InvalidTxId {
        /// The text as given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// Some other value (amount, asset, chain name, option) could not be parsed.
    #[error("invalid {what} {input:?}: {reason}")]
    Parse {
        /// What was being parsed ("amount", "asset", …).
        what: &'static str,
        /// The text as given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// Checked arithmetic on amounts overflowed.
    #[error("amount overflow {context}")]
    AmountOverflow {
        /// Where it happened (transaction, address).
        context: String,
    },
    /// A record is internally inconsistent (for example its legs mix chains).
    #[error("invalid record {context}: {reason}")]
    InvalidRecord {
        /// The record: transaction id and block.
        context: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two sources (or one source twice) describe the same position differently.
    #[error("conflicting records at {position}: {reason}")]
    Conflict {
        /// Chain, block and position in block.
        position: String,
        /// What differs.
        reason: String,
    },
    /// A graph grew past a documented capacity.
    #[error("capacity exceeded: {what} (limit {limit})")]
    Capacity {
        /// What ran out.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// Bytes in a file that are not what the format requires.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A setting (trace parameter, cluster list, source option) that cannot
    /// be used.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting, as the API names it (`max_hops`, `clusters`, …).
        setting: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line in a text input file.
    #[error("{path}:{line}: {reason}")]
    InputLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A live server (Ethereum JSON-RPC, Bitcoin Core RPC, Esplora) failed
    /// after the client's retries, refused the request, or answered
    /// something that does not decode or does not fit the request.
    #[error("node {endpoint}: {context}: {reason}")]
    Node {
        /// The server's URL (without credentials).
        endpoint: String,
        /// The method or path and the block, transaction or address it was for.
        context: String,
        /// What kind of failure it is, for callers that act on it.
        failure: NodeFailure,
        /// What went wrong, in words, after any retries.
        reason: String,
    },
    /// An answer cache file that cannot be used (feature `cache`).
    #[error("answer cache {path}: {reason}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing a report failed.
    #[error("cannot write {format} report: {reason}")]
    Report {
        /// "json", "csv" or "dot".
        format: &'static str,
        /// The underlying failure.
        reason: String,
    },
}

/// The kind of an [`Error::Node`]: what a caller may act on (wait and try
/// again, try another method, restart from an earlier block) without reading
/// the message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeFailure {
    /// The URL cannot be used by this build (its scheme, or `https://`
    /// without the `tls` feature).
    Url,
    /// A stage of the request took longer than the timeout, on every try.
    Timeout,
    /// No connection could be made, or it was lost mid-answer, on every try
    /// (this includes a host name that does not resolve and a TLS failure).
    Connection,
    /// The server answered with this HTTP status: a 429 or 5xx after the
    /// retries, or a status that is not retried (401, 403, 404, …).
    Status(u16),
    /// The server's own error for the call: a JSON-RPC error object, or
    /// Bitcoin Core's `error`.
    Rpc {
        /// The error code (`-32601`: no such method; Bitcoin Core `-5`: no
        /// such transaction or block).
        code: i64,
        /// The server's message.
        message: String,
    },
    /// The answer was larger than the client accepts.
    TooLarge,
    /// The answer does not decode, or does not fit the request (another
    /// block than the one asked for, a result of the wrong length).
    Malformed,
    /// The server does not have what was asked for (a block past its tip, a
    /// transaction it does not know).
    NotFound,
    /// The chain changed under the load: a block does not link to the one
    /// loaded before it. Restart from an earlier block.
    Reorganised,
}

impl NodeFailure {
    /// Whether trying again later may succeed: a timeout, a lost
    /// connection, HTTP 429 or 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            NodeFailure::Timeout | NodeFailure::Connection => true,
            NodeFailure::Status(s) => *s == 429 || (500..600).contains(s),
            _ => false,
        }
    }
}

/// Short for `std::result::Result<T, fundtrace::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            setting,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
