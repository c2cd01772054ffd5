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
    /// Invalid trace parameters.
    #[error("invalid trace configuration: {0}")]
    Config(String),
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
    /// A node (Ethereum JSON-RPC) failed after its retries, or answered
    /// something that does not decode.
    #[error("node {endpoint}: {context}: {reason}")]
    Node {
        /// The node's URL.
        endpoint: String,
        /// The method and the block or address it was for.
        context: String,
        /// What went wrong, after any retries.
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

/// Short for `std::result::Result<T, fundtrace::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
