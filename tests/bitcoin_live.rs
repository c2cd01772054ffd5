//! The live Bitcoin clients against a local HTTP server on 127.0.0.1 that
//! replays real recorded answers from the shared data, plus injected faults.
#![cfg(feature = "bitcoin")]

mod common;

use common::replay::{Handler, Replay};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fundtrace::sources::bitcoin::{CoreFileSource, CoreRpc, CoreRpcSource, Esplora, HttpOptions};
use fundtrace::{BitcoinNetwork, Error, FlowGraph, GraphBuilder, NodeFailure, Record, Source};

/// The kind of a node error; any other error fails the test.
fn failure(e: &Error) -> NodeFailure {
    match e {
        Error::Node { failure, .. } => failure.clone(),
        other => panic!("expected a node error, got {other:?}"),
    }
}

fn quick() -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_millis(800),
        retries: 2,
        backoff: Duration::from_millis(20),
        ..HttpOptions::default()
    }
}

/// Bitcoin Core answering from bitcoin-etl's recorded responses: an older
/// node (it refuses verbosity 3), with user `alice`, password `secret`.
fn core_handler(dir: PathBuf) -> Handler {
    core_handler_over(&[dir], |_, _| None)
}

/// Replaces an answer file's text (given its name and text), or keeps it (`None`).
trait Edit: Fn(&str, &str) -> Option<String> + Send + Sync + 'static {}
impl<F: Fn(&str, &str) -> Option<String> + Send + Sync + 'static> Edit for F {}

/// As [`core_handler`], over the files of several folders; `edit` may
/// replace an answer file's text (by file name) before it is served.
fn core_handler_over(dirs: &[PathBuf], edit: impl Edit) -> Handler {
    let files: HashMap<String, String> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    let want = format!("Basic {}", base64_of("alice:secret"));
    Arc::new(move |_m, _u, body, auth| {
        if auth != Some(want.as_str()) {
            return (401, String::new());
        }
        let req: serde_json::Value = serde_json::from_str(body).unwrap();
        let p = &req["params"];
        let ok = |text: &str| {
            (
                200,
                format!("{{\"result\":{text},\"error\":null,\"id\":\"x\"}}"),
            )
        };
        let err = |code: i64, msg: &str| {
            (
                500,
                format!(
                    "{{\"result\":null,\"error\":{{\"code\":{code},\"message\":\"{msg}\"}},\"id\":\"x\"}}"
                ),
            )
        };
        let file = match req["method"].as_str().unwrap() {
            "getblockhash" => format!("rpc_response_getblockhash_{}.json", p[0]),
            "getblock" if p[1] == 3 => return err(-8, "Verbosity value out of range"),
            "getblock" => format!("rpc_response_getblock_{}_2.json", p[0].as_str().unwrap()),
            "getrawtransaction" => format!(
                "rpc_response_getrawtransaction_{}.json",
                p[0].as_str().unwrap()
            ),
            m => return err(-32601, &format!("Method not found: {m}")),
        };
        match files.get(&file) {
            Some(t) => ok(&edit(&file, t).unwrap_or_else(|| t.clone())),
            None if req["method"] == "getblockhash" => err(-8, "Block height out of range"),
            None => err(-5, "No such mempool or blockchain transaction"),
        }
    })
}

fn base64_of(s: &str) -> String {
    // Test-side encoder, independent of the crate's (RFC 4648 alphabet).
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn drain(s: &mut dyn Source) -> Vec<Record> {
    let mut v = Vec::new();
    while let Some(r) = s.next_record().unwrap() {
        v.push(r);
    }
    v
}

#[test]
fn core_rpc_replay_equals_the_recorded_files() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let dir = d.join("bitcoin-etl/stream_50001_50002");
    let server = Replay::start(core_handler(dir.clone()));
    let rpc =
        CoreRpc::new(&server.url, BitcoinNetwork::Mainnet, quick()).with_user("alice", "secret");
    // The range runs past the node's tip (50002): it ends there.
    let mut live = CoreRpcSource::new(rpc.clone(), 50_001..=50_010);
    let from_live = drain(&mut live);
    let mut files = CoreFileSource::open(&[dir], BitcoinNetwork::Mainnet).unwrap();
    let from_files = drain(&mut files);
    assert_eq!(from_live.len(), 4);
    assert_eq!(from_live, from_files);
    let c = live.counters();
    assert_eq!((c["blocks"], c["inputs_with_unknown_prevout"]), (2, 0));
    // Credentials in the URL work too.
    let with_url = CoreRpc::new(
        &server.url.replace("http://", "http://alice:secret@"),
        BitcoinNetwork::Mainnet,
        quick(),
    );
    assert!(with_url.block_hash(50_001).unwrap().is_some());
    // Not found is Ok(None).
    assert!(rpc.block_hash(50_003).unwrap().is_none());
    let unknown: bitcoin::Txid = "00000000000000000000000000000000000000000000000000000000000000aa"
        .parse()
        .unwrap();
    assert!(rpc.raw_transaction(&unknown).unwrap().is_none());
}

#[test]
fn core_rpc_errors_are_clear() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let server = Replay::start(core_handler(d.join("bitcoin-etl/stream_50001_50002")));
    let wrong =
        CoreRpc::new(&server.url, BitcoinNetwork::Mainnet, quick()).with_user("alice", "guess");
    let err = wrong.block_hash(50_001).unwrap_err();
    assert_eq!(failure(&err), NodeFailure::Status(401));
    let e = err.to_string();
    assert!(e.contains("authentication failed"), "{e}");
    // A stopped node: nothing listens on the port.
    let port = {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let down = CoreRpc::new(
        &format!("http://127.0.0.1:{port}"),
        BitcoinNetwork::Mainnet,
        quick(),
    );
    let err = down.block_hash(1).unwrap_err();
    assert_eq!(failure(&err), NodeFailure::Connection);
    assert!(failure(&err).is_transient());
    let e = err.to_string();
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("getblockhash"),
        "{e}"
    );
}

#[test]
fn http_faults_retry_then_fail_with_the_url() {
    // Two 503s, then an answer: retried and succeeds.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let flaky = Replay::start(Arc::new(move |_, _, _, _| {
        if h.fetch_add(1, Ordering::SeqCst) < 2 {
            (503, "busy".into())
        } else {
            (200, "{\"result\":\"000000001c920d495e1eeef2452b6d1c6c229a919b28196c103ecffebabee141\",\"error\":null}".into())
        }
    }));
    let rpc = CoreRpc::new(&flaky.url, BitcoinNetwork::Mainnet, quick());
    assert!(rpc.block_hash(50_001).unwrap().is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Always 429: gives up after the retries, naming URL and request.
    let busy = Replay::start(Arc::new(|_, _, _, _| (429, "slow down".into())));
    let err = CoreRpc::new(&busy.url, BitcoinNetwork::Mainnet, quick())
        .block_hash(7)
        .unwrap_err();
    assert_eq!(failure(&err), NodeFailure::Status(429));
    let e = err.to_string();
    assert!(
        e.contains("http 429") && e.contains("gave up after 3 attempts") && e.contains(&busy.url),
        "{e}"
    );
    // Slower than the timeout.
    let slow = Replay::start(Arc::new(|_, _, _, _| {
        std::thread::sleep(Duration::from_millis(1_500));
        (200, "{}".into())
    }));
    let opts = HttpOptions {
        retries: 0,
        ..quick()
    };
    let err = CoreRpc::new(&slow.url, BitcoinNetwork::Mainnet, opts)
        .block_hash(7)
        .unwrap_err();
    assert_eq!(failure(&err), NodeFailure::Timeout);
    let e = err.to_string();
    assert!(e.contains("timed out"), "{e}");
    // Malformed and truncated answers.
    let junk = Replay::start(Arc::new(|_, _, _, _| (200, "{\"result\": \"0000".into())));
    let err = CoreRpc::new(&junk.url, BitcoinNetwork::Mainnet, quick())
        .block_hash(7)
        .unwrap_err();
    assert_eq!(failure(&err), NodeFailure::Malformed);
    let e = err.to_string();
    assert!(
        e.contains("malformed answer") && e.contains("getblockhash"),
        "{e}"
    );
    // An answer over the size limit is refused.
    let big = Replay::start(Arc::new(|_, _, _, _| {
        (200, format!("{{\"result\":\"{}\"}}", "0".repeat(10_000)))
    }));
    let small = HttpOptions {
        max_response: 1_000,
        ..quick()
    };
    let err = CoreRpc::new(&big.url, BitcoinNetwork::Mainnet, small)
        .block_hash(7)
        .unwrap_err();
    assert_eq!(failure(&err), NodeFailure::TooLarge);
    let e = err.to_string();
    assert!(e.contains("limit 1000 bytes"), "{e}");
    // The node's own error, with its code: Bitcoin Core's -5 for a block it
    // does not know is "not found" (None), any other code is an error.
    let refusing = Replay::start(Arc::new(|_, _, _, _| {
        (
            500,
            r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":"x"}"#
                .into(),
        )
    }));
    let err = CoreRpc::new(&refusing.url, BitcoinNetwork::Mainnet, quick())
        .block_hash(7)
        .unwrap_err();
    assert_eq!(
        failure(&err),
        NodeFailure::Rpc {
            code: -32601,
            message: "Method not found".into()
        }
    );
    assert!(!failure(&err).is_transient());
}

/// Esplora replaying mempool.space's recorded transactions. The block's
/// txid list is not in the data: this server makes one up (a placeholder
/// first, the transaction second) to show the index comes from it.
#[test]
fn esplora_replay() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let mut txs: HashMap<String, String> = HashMap::new();
    for f in std::fs::read_dir(d.join("esplora")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for t in if v.is_array() {
            v.as_array().unwrap().clone()
        } else {
            vec![v]
        } {
            txs.insert(t["txid"].as_str().unwrap().to_owned(), t.to_string());
        }
    }
    let confirmed = "50136231cb7e6fd3cd1e3e8ac4f4d1d2a3a1a5b7a58bca8fd33c2d1ff9bbd367";
    let confirmed = txs
        .keys()
        .find(|k| k.starts_with(&confirmed[..12]))
        .unwrap()
        .clone();
    let unconfirmed = txs
        .keys()
        .find(|k| k.starts_with("13f007241d78"))
        .unwrap()
        .clone();
    let block = "0000000000000000000341cc26cda4af82cd25f7063c448772228cbf2836915b";
    let c2 = confirmed.clone();
    let server = Replay::start(Arc::new(move |_, url, _, _| {
        if let Some(id) = url.strip_prefix("/api/tx/") {
            return txs
                .get(id)
                .map_or((404, "Transaction not found".into()), |t| (200, t.clone()));
        }
        if url == format!("/api/block/{block}/txids") {
            return (200, format!("[\"{}\",\"{c2}\"]", "ab".repeat(32)));
        }
        (404, String::new())
    }));
    let e = Esplora::new(
        &format!("{}/api", server.url),
        BitcoinNetwork::Mainnet,
        quick(),
    );
    assert_eq!(e.tx(&confirmed).unwrap().unwrap().computed_fee(), Some(106));
    let (recs, pending) = e
        .records(&[confirmed.clone(), unconfirmed.clone()])
        .unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(pending, vec![unconfirmed]);
    let Record::Utxo(u) = &recs[0] else {
        panic!("a utxo record")
    };
    assert_eq!((u.block.height.0, u.index), (836_361, 1));
    assert!(e.tx(&"00".repeat(32)).unwrap().is_none());
    let err = e.records(&["00".repeat(32)]).unwrap_err();
    assert_eq!(failure(&err), NodeFailure::NotFound);
    let err = err.to_string();
    assert!(err.contains("not found"), "{err}");
}

const H50001: &str = "000000001c920d495e1eeef2452b6d1c6c229a919b28196c103ecffebabee141";
const H50002: &str = "000000002066d7f9b134c30b5005b7bf5fbfa52f279883f1fde793dcdc964266";

fn events(g: &FlowGraph) -> Vec<fundtrace::graph::EventInfo> {
    g.events().map(|e| g.event(e)).collect()
}

/// The node fails mid-range (every request answered 500 after block 50001,
/// as when a node dies behind a proxy): the error names the block, nothing of
/// it is loaded, and a load resumed at `resume_from` gives the graph of an
/// uninterrupted one. A slow first answer is retried.
#[test]
fn core_rpc_source_dies_mid_range_and_resumes() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let dir = d.join("bitcoin-etl/stream_50001_50002");
    let rpc = |url: &str| {
        CoreRpc::new(url, BitcoinNetwork::Mainnet, quick()).with_user("alice", "secret")
    };
    let healthy = Replay::start(core_handler(dir.clone()));
    let mut b = GraphBuilder::new();
    b.load(&mut CoreRpcSource::new(rpc(&healthy.url), 50_001..=50_002))
        .unwrap();
    let whole = b.freeze().unwrap();

    let inner = core_handler(dir.clone());
    let down = Arc::new(AtomicUsize::new(0));
    let first_slow = Arc::new(AtomicUsize::new(0));
    let dying = Replay::start(Arc::new(move |m, u, body, auth| {
        // Block 50001 is served whole; the node dies when 50002 is asked for.
        if body.contains("\"getblockhash\"") && body.contains("[50002]") {
            down.store(1, Ordering::SeqCst);
        }
        if down.load(Ordering::SeqCst) > 0 {
            return (500, "<html>502 bad gateway</html>".into());
        }
        // The first getblock is slower than the timeout, then retried.
        if body.contains("\"getblock\"") && first_slow.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1_200));
        }
        inner(m, u, body, auth)
    }));
    let mut src = CoreRpcSource::new(rpc(&dying.url), 50_001..=50_002);
    let mut b = GraphBuilder::new();
    let e = b.load(&mut src).unwrap_err().to_string();
    assert!(
        e.contains("getblockhash [50002]")
            && e.contains("http 500; gave up after 3 attempts")
            && e.contains(&dying.url),
        "{e}"
    );
    assert_eq!(src.resume_from(), 50_002);
    assert_eq!(src.counters()["blocks"], 1);
    drop(dying);
    let mut rest = CoreRpcSource::new(rpc(&healthy.url), src.resume_from()..=50_002);
    b.load(&mut rest).unwrap();
    let resumed = b.freeze().unwrap();
    assert_eq!(events(&resumed), events(&whole));
    assert_eq!(resumed.address_count(), whole.address_count());
}

/// Answers that do not belong to the block asked for are refused, naming it:
/// a hash for another height, a block for another hash, header fields that do
/// not hash to the stated hash, and a block that does not link to the one
/// before it (a reorganisation during the load).
#[test]
fn core_rpc_source_refuses_blocks_that_do_not_match() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let stream = d.join("bitcoin-etl/stream_50001_50002");
    let load = |dirs: &[PathBuf], edit: Box<dyn Edit>, range: std::ops::RangeInclusive<u64>| {
        let server = Replay::start(core_handler_over(dirs, edit));
        let rpc = CoreRpc::new(&server.url, BitcoinNetwork::Mainnet, quick())
            .with_user("alice", "secret");
        let mut src = CoreRpcSource::new(rpc, range);
        let mut b = GraphBuilder::new();
        let err = b.load(&mut src).unwrap_err();
        let kind = match &err {
            Error::Node { failure, .. } => Some(failure.clone()),
            _ => None,
        };
        (err.to_string(), src.resume_from(), kind)
    };
    let only = std::slice::from_ref(&stream);
    // getblockhash 50002 answers 50001's hash.
    let (e, at, kind) = load(
        only,
        Box::new(|f, _| {
            (f == "rpc_response_getblockhash_50002.json").then(|| format!("\"{H50001}\""))
        }),
        50_001..=50_002,
    );
    assert_eq!(kind, Some(NodeFailure::Malformed));
    assert!(
        e.contains("the node says height 50001, expected 50002"),
        "{e}"
    );
    assert_eq!(at, 50_002);
    // getblock for 50001 answers block 50002 (genuine in itself).
    let b50002 =
        std::fs::read_to_string(stream.join(format!("rpc_response_getblock_{H50002}_2.json")))
            .unwrap();
    let (e, at, _) = load(
        only,
        Box::new(move |f, _| f.contains(H50001).then(|| b50002.clone())),
        50_001..=50_002,
    );
    assert!(
        e.contains(&format!(
            "getblock {H50001} (height 50001): the node answered with block {H50002}"
        )),
        "{e}"
    );
    assert_eq!(at, 50_001);
    // A changed nonce: the header no longer hashes to the stated hash.
    let (e, _, _) = load(
        only,
        Box::new(|f, t| {
            f.contains(H50001)
                .then(|| t.replace("\"nonce\": 56717043", "\"nonce\": 56717044"))
        }),
        50_001..=50_001,
    );
    assert!(
        e.contains(&format!("block {H50001}: its header fields hash to")),
        "{e}"
    );
    // Height 50001 answered with (real) block 1, relabelled: its header is
    // genuine, but block 50002 does not link to it.
    let block1 = "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048";
    let (e, at, kind) = load(
        &[stream.clone(), d.join("bitcoin-etl/block_1")],
        Box::new(move |f, t| {
            if f == "rpc_response_getblockhash_50001.json" {
                Some(format!("\"{block1}\""))
            } else {
                f.contains(block1)
                    .then(|| t.replace("\"height\": 1,", "\"height\": 50001,"))
            }
        }),
        50_001..=50_002,
    );
    assert!(
        e.contains(&format!("does not follow block {block1} at height 50001"))
            && e.contains("reorganised"),
        "{e}"
    );
    assert_eq!(kind, Some(NodeFailure::Reorganised));
    assert_eq!(at, 50_002);
}
