//! A local anvil node for tests: started on 127.0.0.1 with a free port and a
//! private cache folder, stopped by PID when dropped.
//!
//! The binary comes from `FUNDTRACE_ANVIL`, else from `.tools/anvil` where
//! `tests/anvil.sh` (part of the README's test command) installs the pinned
//! npm package `@foundry-rs/anvil-linux-amd64`. Missing, the tests that need
//! it skip, except with `CI=true`, where they fail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Anvil {
    child: Child,
    pub url: String,
    pub port: u16,
    cache: PathBuf,
}

pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FUNDTRACE_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("anvil is not installed: run `sh tests/anvil.sh` (the README's test command does)");
    }
    eprintln!("skipping: anvil not installed (run `sh tests/anvil.sh`)");
    None
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One raw JSON-RPC POST with std only (no client under test involved);
/// the body of a 200 answer. HTTP/1.0, so the answer is never chunked.
pub fn raw_call(port: u16, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let req = format!(
        "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200")
        .then(|| body.to_owned())
}

impl Anvil {
    /// Starts anvil with `extra` arguments; `None` when it is not installed.
    pub fn start(extra: &[&str]) -> Option<Anvil> {
        let bin = binary()?;
        for _ in 0..5 {
            let port = free_port();
            let cache =
                std::env::temp_dir().join(format!("fundtrace-anvil-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&cache).unwrap();
            let mut child = Command::new(&bin)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--silent",
                ])
                .arg("--cache-path")
                .arg(&cache)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken: try another
                }
                let ok = raw_call(
                    port,
                    r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#,
                )
                .is_some_and(|r| r.contains("\"result\""));
                if ok {
                    return Some(Anvil {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                        port,
                        cache,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&cache);
        }
        panic!("anvil did not start");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node: SIGTERM by PID, then SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}
