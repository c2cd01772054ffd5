//! Every answer a live client received, kept in one SQLite file per case
//! (feature `cache`).
//!
//! A crawl asks many servers many small questions. With an [`AnswerCache`]
//! each answer is stored, raw, as it arrives, keyed by the server and the
//! request, so that:
//! - a rerun of the same case sends no request and gives the same report;
//! - a crawl that was stopped (a killed process, a failing server) resumes
//!   without fetching again what it already has;
//! - the report can name the file and a digest of the answers the run used
//!   ([`AnswerCache::digest`]), so the numbers can be reproduced from the
//!   recorded inputs. The file opens in any SQLite tool: table `answers`
//!   holds `endpoint`, `request`, `status`, `body`, and the body's SHA-256.
//!
//! An entry whose body no longer matches its SHA-256 (a damaged file) is
//! fetched again and counted ([`CacheStats::refetched`]); a file that is not
//! a fundtrace answer cache, or one of another format version, is refused.
//!
//! Only answers are stored, never credentials: callers key requests by
//! method and path or parameters, not by headers.
//!
//! Cost: one indexed lookup per request, one insert (with its own commit,
//! so an interrupted run keeps every answer it received) per answer
//! fetched; the file is about the size of the answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The `format` a cache file declares in its `meta` table.
const FORMAT: &str = "fundtrace-answer-cache";
/// The version of the table layout.
const VERSION: &str = "1";

/// What a cache did during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from the file.
    pub hits: u64,
    /// Answers fetched and stored.
    pub stored: u64,
    /// Entries that failed their check and were fetched again, as
    /// `endpoint request`.
    pub refetched: Vec<String>,
}

/// A stored answer: the HTTP status and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status (200, or 404 for "not found", which is an answer too).
    pub status: u16,
    /// The body as received.
    pub body: Vec<u8>,
}

/// Answers kept in a SQLite file (see the [module documentation](self)).
/// Shared by a client's workers: each call takes the connection's lock.
#[derive(Debug)]
pub struct AnswerCache {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// The answers this run used: (endpoint, request) → SHA-256 of the body.
    used: Mutex<BTreeMap<(String, String), [u8; 32]>>,
    hits: AtomicU64,
    stored: AtomicU64,
    refetched: Mutex<Vec<String>>,
}

fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Cache {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl AnswerCache {
    /// Opens the cache file at `path`, creating it if it does not exist.
    ///
    /// # Errors
    /// [`Error::Cache`] naming the file when it cannot be opened or
    /// created, is not a SQLite database, or is not a fundtrace answer
    /// cache of this version.
    pub fn open(path: &Path) -> Result<AnswerCache> {
        let err = |e| sql_err(path, e);
        let conn = Connection::open(path).map_err(err)?;
        // WAL: an insert is durable at its commit without rewriting pages.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(err)?;
        if tables.is_empty() {
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE answers (
                     endpoint TEXT NOT NULL,
                     request TEXT NOT NULL,
                     status INTEGER NOT NULL,
                     body BLOB NOT NULL,
                     sha256 BLOB NOT NULL,
                     fetched_at INTEGER NOT NULL,
                     PRIMARY KEY (endpoint, request)
                 );",
            )
            .map_err(err)?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('format', ?1), ('version', ?2)",
                params![FORMAT, VERSION],
            )
            .map_err(err)?;
        } else {
            let meta = |key: &str| -> Result<Option<String>> {
                if !tables.iter().any(|t| t == "meta") {
                    return Ok(None);
                }
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
                    .map_err(err)
            };
            let refuse = |reason: String| Error::Cache {
                path: path.to_owned(),
                reason,
            };
            match meta("format")?.as_deref() {
                Some(FORMAT) => {}
                _ => {
                    return Err(refuse(format!(
                        "not a fundtrace answer cache (tables: {}); give another file",
                        tables.join(", ")
                    )));
                }
            }
            match meta("version")?.as_deref() {
                Some(VERSION) => {}
                v => {
                    return Err(refuse(format!(
                        "answer cache version {v:?}; this build reads version {VERSION}"
                    )));
                }
            }
        }
        Ok(AnswerCache {
            conn: Mutex::new(conn),
            path: path.to_owned(),
            used: Mutex::default(),
            hits: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            refetched: Mutex::default(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stored answer to `request` at `endpoint`, if there is one and it
    /// passes its check. An entry that fails it is counted in
    /// [`CacheStats::refetched`] and not returned, so the caller fetches it
    /// again (and [`AnswerCache::put`] replaces it).
    ///
    /// # Errors
    /// [`Error::Cache`] when the file cannot be read.
    pub fn get(&self, endpoint: &str, request: &str) -> Result<Option<Answer>> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT status, body, sha256 FROM answers WHERE endpoint = ?1 AND request = ?2",
                params![endpoint, request],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| sql_err(&self.path, e))?;
        let Some((status, body, sum)) = row else {
            return Ok(None);
        };
        let digest: [u8; 32] = Sha256::digest(&body).into();
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..600).contains(s));
        match status {
            Some(status) if digest[..] == sum[..] => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                self.note(endpoint, request, digest);
                Ok(Some(Answer { status, body }))
            }
            _ => {
                self.refetched
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!("{endpoint} {request}"));
                Ok(None)
            }
        }
    }

    /// Stores `answer` to `request` at `endpoint`, replacing any entry.
    ///
    /// # Errors
    /// [`Error::Cache`] when the file cannot be written.
    pub fn put(&self, endpoint: &str, request: &str, answer: &Answer) -> Result<()> {
        let digest: [u8; 32] = Sha256::digest(&answer.body).into();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO answers (endpoint, request, status, body, sha256, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    endpoint,
                    request,
                    i64::from(answer.status),
                    answer.body,
                    &digest[..],
                    now
                ],
            )
            .map_err(|e| sql_err(&self.path, e))?;
        self.stored.fetch_add(1, Ordering::Relaxed);
        self.note(endpoint, request, digest);
        Ok(())
    }

    fn note(&self, endpoint: &str, request: &str, digest: [u8; 32]) {
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((endpoint.to_owned(), request.to_owned()), digest);
    }

    /// The SHA-256, in hex, of the answers this run used: over each
    /// `endpoint`, `request` and body digest, sorted by endpoint and
    /// request, each field followed by a newline. The same answers give the
    /// same digest whatever order they were fetched in.
    pub fn digest(&self) -> String {
        let used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut h = Sha256::new();
        for ((endpoint, request), d) in used.iter() {
            h.update(endpoint.as_bytes());
            h.update(b"\n");
            h.update(request.as_bytes());
            h.update(b"\n");
            h.update(hex(d).as_bytes());
            h.update(b"\n");
        }
        hex(&h.finalize())
    }

    /// The answers used so far.
    pub fn used(&self) -> usize {
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            refetched: self
                .refetched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// The cache as report details: the file, the digest of the answers
    /// used and their count, and the entries fetched again.
    pub fn details(&self) -> BTreeMap<String, String> {
        let st = self.stats();
        let mut d = BTreeMap::from([
            ("cache".to_owned(), self.path.display().to_string()),
            ("cache_answers_sha256".to_owned(), self.digest()),
            ("cache_answers_used".to_owned(), self.used().to_string()),
        ]);
        if !st.refetched.is_empty() {
            d.insert("cache_refetched".to_owned(), st.refetched.join("; "));
        }
        d
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("fundtrace-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn answers_persist_and_the_digest_ignores_order() {
        let p = tmp("persist.sqlite");
        let a = |s: &str| Answer {
            status: 200,
            body: s.as_bytes().to_vec(),
        };
        let first = {
            let c = AnswerCache::open(&p).unwrap();
            c.put("http://x/api", "GET /tx/1", &a("one")).unwrap();
            c.put("http://x/api", "GET /tx/2", &a("two")).unwrap();
            assert_eq!(c.stats().stored, 2);
            c.digest()
        };
        let c = AnswerCache::open(&p).unwrap();
        assert_eq!(c.get("http://x/api", "GET /tx/2").unwrap(), Some(a("two")));
        assert_eq!(c.get("http://x/api", "GET /tx/1").unwrap(), Some(a("one")));
        assert_eq!(c.get("http://x/api", "GET /tx/3").unwrap(), None);
        assert_eq!(c.digest(), first, "the same answers, read in another order");
        assert_eq!(c.stats().hits, 2);
        drop(c);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn damaged_entries_are_fetched_again_and_foreign_files_refused() {
        let p = tmp("damaged.sqlite");
        let c = AnswerCache::open(&p).unwrap();
        let ok = Answer {
            status: 200,
            body: b"good".to_vec(),
        };
        c.put("e", "r", &ok).unwrap();
        c.conn()
            .execute("UPDATE answers SET body = x'6261640a'", [])
            .unwrap();
        assert_eq!(c.get("e", "r").unwrap(), None);
        assert_eq!(c.stats().refetched, vec!["e r".to_owned()]);
        c.put("e", "r", &ok).unwrap();
        assert_eq!(c.get("e", "r").unwrap(), Some(ok));
        drop(c);
        // Another program's database.
        let other = tmp("other.sqlite");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER);")
            .unwrap();
        let e = AnswerCache::open(&other).unwrap_err().to_string();
        assert!(
            e.contains("other.sqlite") && e.contains("not a fundtrace answer cache"),
            "{e}"
        );
        // Not a database at all.
        let junk = tmp("junk.sqlite");
        std::fs::write(&junk, vec![0x42u8; 4096]).unwrap();
        let e = AnswerCache::open(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.sqlite"), "{e}");
        for f in [&p, &other, &junk] {
            let _ = std::fs::remove_file(f);
        }
    }
}
