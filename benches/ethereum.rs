#![allow(missing_docs)] // criterion_main! generates an undocumented `main`
//! Live Ethereum ingestion from a local anvil node: blocks/s and transfers/s.
//!
//! What is measured is the whole path a real load takes: JSON-RPC over HTTP
//! on loopback (block with transactions, receipts, traces), decoding into
//! ethers types, conversion to transfers and the [`EthRpcSource`] windowing,
//! with every record read. The node's own time is included: anvil answers
//! from memory, so this is close to an upper bound for a local node and far
//! above what a remote provider allows.
//!
//! * `traces_conc8`: default options (`TraceMode::Auto`, which finds
//!   `trace_block`; 8 blocks fetched at once).
//! * `traces_conc1`: the same, one block at a time (latency-bound).
//! * `no_traces_conc8`: `TraceMode::Off`, 8 at once: no `trace_block` calls,
//!   and no internal transfers.
//!
//! Data (setup, not timed): a fresh anvil chain. Block 1 deploys a small
//! ERC-20 token and two forwarder contracts, block 2 hands tokens to the ten
//! dev accounts, then 2,000 blocks (`FUNDTRACE_BENCH_ETH_BLOCKS` to change)
//! of six transactions each: ETH between dev accounts, ETH to a fresh
//! address, an ERC-20 transfer between dev accounts, one to a fresh address,
//! and ETH sent to each forwarder, which passes it on in an internal call.
//! Throughput is blocks per second; one run of each variant is also timed by
//! hand and printed on stderr with transfers per second and the counters.
//!
//! anvil comes from `FUNDTRACE_ANVIL`, else from `.tools/anvil` (install it
//! with `sh tests/anvil.sh`); without it the benchmark says so and does
//! nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fundtrace::sources::ethereum::{BlockRange, EthRpc, EthRpcSource, RpcOptions, TraceMode};
use fundtrace::{Record, Source};
use serde_json::{Value, json};

/// Creation code of `MiniToken`, compiled with solc-js 0.8.37 (optimizer 200
/// runs, evmVersion paris). Deploy data: this ++ the 32-byte `supply`.
///
/// ```solidity
/// contract MiniToken {
///     event Transfer(address indexed from, address indexed to, uint256 value);
///     mapping(address => uint256) public balanceOf;
///     uint256 public totalSupply;
///     constructor(uint256 supply) {
///         totalSupply = supply;
///         balanceOf[msg.sender] = supply;
///         emit Transfer(address(0), msg.sender, supply);
///     }
///     function decimals() external pure returns (uint8) { return 6; }
///     function symbol() external pure returns (string memory) { return "MUSD"; }
///     function transfer(address to, uint256 amount) external returns (bool) {
///         uint256 bal = balanceOf[msg.sender];
///         require(bal >= amount, "insufficient balance");
///         unchecked { balanceOf[msg.sender] = bal - amount; }
///         balanceOf[to] += amount;
///         emit Transfer(msg.sender, to, amount);
///         return true;
///     }
/// }
/// ```
const MINI_TOKEN: &str = "0x6080604052348015600f57600080fd5b5060405161037b38038061037b833981016040819052602c916078565b600181905533600081815260208181526040808320859055518481527fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef910160405180910390a3506090565b600060208284031215608957600080fd5b5051919050565b6102dc8061009f6000396000f3fe608060405234801561001057600080fd5b50600436106100575760003560e01c806318160ddd1461005c578063313ce5671461007857806370a082311461008757806395d89b41146100a7578063a9059cbb146100cd575b600080fd5b61006560015481565b6040519081526020015b60405180910390f35b6040516006815260200161006f565b6100656100953660046101eb565b60006020819052908152604090205481565b6040805180820182526004815263135554d160e21b6020820152905161006f919061020d565b6100e06100db36600461025b565b6100f0565b604051901515815260200161006f565b336000908152602081905260408120548281101561014b5760405162461bcd60e51b8152602060048201526014602482015273696e73756666696369656e742062616c616e636560601b604482015260640160405180910390fd5b3360009081526020819052604080822085840390556001600160a01b03861682528120805485929061017e908490610285565b90915550506040518381526001600160a01b0385169033907fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef9060200160405180910390a360019150505b92915050565b80356001600160a01b03811681146101e657600080fd5b919050565b6000602082840312156101fd57600080fd5b610206826101cf565b9392505050565b602081526000825180602084015260005b8181101561023b576020818601810151604086840101520161021e565b506000604082850101526040601f19601f83011684010191505092915050565b6000806040838503121561026e57600080fd5b610277836101cf565b946020939093013593505050565b808201808211156101c957634e487b7160e01b600052601160045260246000fdfea2646970667358221220e1e46e19c92243300dd6ce86d811ff3a76311ced9a14819935856bf016a4358864736f6c63430008250033";

/// Creation code of `Forwarder` (same compiler and settings). Deploy data:
/// this ++ the target address as a 32-byte word.
///
/// ```solidity
/// contract Forwarder {
///     address payable public immutable target;
///     constructor(address payable _target) { target = _target; }
///     receive() external payable {
///         (bool ok, ) = target.call{value: msg.value}("");
///         require(ok, "forward failed");
///     }
/// }
/// ```
const FORWARDER: &str = "0x60a0604052348015600f57600080fd5b506040516101f63803806101f6833981016040819052602c91603c565b6001600160a01b0316608052606a565b600060208284031215604d57600080fd5b81516001600160a01b0381168114606357600080fd5b9392505050565b60805161016c61008a60003960008181602b015260f8015261016c6000f3fe6080604052600436106100225760003560e01c8063d4b83992146100e657600080fd5b366100e15760007f00000000000000000000000000000000000000000000000000000000000000006001600160a01b03163460405160006040518083038185875af1925050503d8060008114610094576040519150601f19603f3d011682016040523d82523d6000602084013e610099565b606091505b50509050806100df5760405162461bcd60e51b815260206004820152600e60248201526d199bdc9dd85c990819985a5b195960921b604482015260640160405180910390fd5b005b600080fd5b3480156100f257600080fd5b5061011a7f000000000000000000000000000000000000000000000000000000000000000081565b6040516001600160a01b03909116815260200160405180910390f3fea2646970667358221220ba726ec33275b632d20eaabf244b6334c7ac0d40d90af009aa634a8ee512c63864736f6c63430008250033";

/// `transfer(address,uint256)`.
const TRANSFER_SELECTOR: &str = "a9059cbb";
/// Legacy gas price of every transaction: 2 gwei (anvil's base fee starts at 1).
const GAS_PRICE: &str = "0x77359400";

// ---------------------------------------------------------------------------
// The node: the tests' harness (binary lookup, free port, private cache,
// stop by PID).

#[allow(dead_code)] // the bench uses part of the tests' harness
#[path = "../tests/common/anvil.rs"]
mod anvil;
use anvil::{Anvil, raw_call};

/// JSON-RPC batches for setting up the chain.
trait Rpc {
    /// One JSON-RPC batch; the results in call order. Panics on any error.
    fn batch(&self, calls: &[(&str, Value)]) -> Vec<Value>;
    fn call(&self, method: &str, params: Value) -> Value {
        self.batch(&[(method, params)]).remove(0)
    }
}

impl Rpc for Anvil {
    fn batch(&self, calls: &[(&str, Value)]) -> Vec<Value> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
            .collect();
        let body = Value::Array(body).to_string();
        let answer = raw_call(self.port, &body)
            .unwrap_or_else(|| panic!("anvil gave no answer to a batch of {}", calls.len()));
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&answer) else {
            panic!("not a JSON-RPC batch answer: {answer:.300}");
        };
        let mut out = vec![Value::Null; calls.len()];
        for item in items {
            let i = item["id"]
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < calls.len())
                .unwrap_or_else(|| panic!("answer with a bad id: {item}"));
            if let Some(e) = item.get("error") {
                panic!("{} failed: {e} ({})", calls[i].0, calls[i].1);
            }
            out[i] = item["result"].clone();
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Traffic.

/// A 32-byte ABI word: `hex` (no `0x`) left-padded with zeros.
fn word(hex: &str) -> String {
    format!("{:0>64}", hex.trim_start_matches("0x"))
}

fn erc20_transfer(to: &str, amount: u128) -> String {
    format!(
        "0x{TRANSFER_SELECTOR}{}{}",
        word(to),
        word(&format!("{amount:x}"))
    )
}

/// A never-used address, the same for the same `k` (splitmix64 output).
fn fresh(k: u64) -> String {
    let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xf00d;
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let s = format!("{:016x}{:016x}{:016x}", next(), next(), next());
    format!("0x{}", &s[..40])
}

/// A legacy transaction from an unlocked dev account with an explicit nonce
/// and gas limit (no estimation).
fn tx(from: &str, nonce: &mut u64, to: Option<&str>, value: u128, data: &str, gas: u64) -> Value {
    let mut t = json!({
        "from": from,
        "nonce": format!("{:#x}", *nonce),
        "gas": format!("{gas:#x}"),
        "gasPrice": GAS_PRICE,
        "value": format!("{value:#x}"),
        "data": data,
    });
    if let Some(to) = to {
        t["to"] = json!(to);
    }
    *nonce += 1;
    json!([t])
}

/// Sends the transactions, mines them into one block, returns their hashes.
fn mine_block(node: &Anvil, txs: Vec<Value>) -> Vec<Value> {
    let calls: Vec<(&str, Value)> = txs
        .into_iter()
        .map(|t| ("eth_sendTransaction", t))
        .collect();
    let hashes = node.batch(&calls);
    node.call("evm_mine", json!([]));
    hashes
}

/// Receipts of mined transactions; panics unless all succeeded.
fn receipts_ok(node: &Anvil, hashes: &[Value]) -> Vec<Value> {
    let calls: Vec<(&str, Value)> = hashes
        .iter()
        .map(|h| ("eth_getTransactionReceipt", json!([h])))
        .collect();
    let receipts = node.batch(&calls);
    for r in &receipts {
        assert_eq!(r["status"], "0x1", "a setup transaction failed: {r}");
    }
    receipts
}

struct Traffic {
    head: u64,
    transactions: u64,
    forwarded: u64,
}

fn generate(node: &Anvil, traffic_blocks: u64) -> Traffic {
    let accounts: Vec<String> = node
        .call("eth_accounts", json!([]))
        .as_array()
        .expect("eth_accounts is an array")
        .iter()
        .map(|a| a.as_str().expect("an address").to_owned())
        .collect();
    assert!(
        accounts.len() >= 10,
        "anvil has {} dev accounts",
        accounts.len()
    );
    let accounts = &accounts[..10];
    let mut nonces = [0u64; 10];
    let mut transactions = 0u64;
    node.call("evm_setAutomine", json!([false]));

    // Block 1: the token (10^30 units to account 0) and two forwarders, one
    // to a fresh address, one to dev account 9.
    let a0 = accounts[0].as_str();
    let supply: u128 = 10u128.pow(30);
    let deploys = vec![
        tx(
            a0,
            &mut nonces[0],
            None,
            0,
            &format!("{MINI_TOKEN}{}", word(&format!("{supply:x}"))),
            1_000_000,
        ),
        tx(
            a0,
            &mut nonces[0],
            None,
            0,
            &format!("{FORWARDER}{}", word(&fresh(u64::MAX))),
            500_000,
        ),
        tx(
            a0,
            &mut nonces[0],
            None,
            0,
            &format!("{FORWARDER}{}", word(&accounts[9])),
            500_000,
        ),
    ];
    transactions += deploys.len() as u64;
    let hashes = mine_block(node, deploys);
    let created: Vec<String> = receipts_ok(node, &hashes)
        .iter()
        .map(|r| {
            r["contractAddress"]
                .as_str()
                .expect("a contract address")
                .to_owned()
        })
        .collect();
    let (token, forwarders) = (
        created[0].as_str(),
        [created[1].as_str(), created[2].as_str()],
    );

    // Block 2: 10^24 token units to each other dev account.
    let grants: Vec<Value> = accounts[1..]
        .iter()
        .map(|to| {
            tx(
                a0,
                &mut nonces[0],
                Some(token),
                0,
                &erc20_transfer(to, 10u128.pow(24)),
                100_000,
            )
        })
        .collect();
    transactions += grants.len() as u64;
    let hashes = mine_block(node, grants);
    receipts_ok(node, &hashes);

    // The traffic: six transactions a block, senders in rotation.
    let mut forwarded = 0;
    for b in 0..traffic_blocks {
        let mut txs = Vec::with_capacity(6);
        let wei = u128::from(1 + b % 97) * 10u128.pow(13);
        let units = u128::from(1 + b % 1000) * 1_000_000;
        for k in 0..6u64 {
            let s = usize::try_from((b * 6 + k) % 10).expect("small");
            let peer = usize::try_from((b * 6 + k + 1 + b % 9) % 10).expect("small");
            let (from, nonce) = (accounts[s].as_str(), &mut nonces[s]);
            txs.push(match k {
                0 => tx(from, nonce, Some(&accounts[peer]), wei, "0x", 21_000),
                1 => tx(from, nonce, Some(&fresh(2 * b)), wei, "0x", 21_000),
                2 => tx(
                    from,
                    nonce,
                    Some(token),
                    0,
                    &erc20_transfer(&accounts[peer], units),
                    100_000,
                ),
                3 => tx(
                    from,
                    nonce,
                    Some(token),
                    0,
                    &erc20_transfer(&fresh(2 * b + 1), units),
                    100_000,
                ),
                _ => {
                    forwarded += 1;
                    let f = forwarders[usize::from(k == 5)];
                    tx(from, nonce, Some(f), wei, "0x", 100_000)
                }
            });
        }
        transactions += txs.len() as u64;
        mine_block(node, txs);
    }

    // Everything mined, and the last block's transactions all succeeded.
    let head = node.call("eth_blockNumber", json!([]));
    let head = u64::from_str_radix(head.as_str().expect("hex").trim_start_matches("0x"), 16)
        .expect("a block number");
    assert_eq!(head, 2 + traffic_blocks, "blocks mined");
    let last = node.call("eth_getBlockReceipts", json!([format!("{head:#x}")]));
    for r in last.as_array().expect("receipts") {
        assert_eq!(r["status"], "0x1", "a traffic transaction failed: {r}");
    }
    Traffic {
        head,
        transactions,
        forwarded,
    }
}

// ---------------------------------------------------------------------------
// Ingestion.

fn ingest(url: &str, concurrency: usize, traces: TraceMode, head: u64) -> BTreeMap<String, u64> {
    let opts = RpcOptions {
        concurrency,
        ..RpcOptions::default()
    };
    let rpc = EthRpc::connect(url, opts)
        .expect("connect")
        .with_traces(traces);
    let mut src = EthRpcSource::new(rpc, BlockRange::Range(1, head));
    let mut transfers = 0u64;
    while let Some(r) = src.next_record().expect("ingestion") {
        transfers += u64::from(matches!(r, Record::Transfer(_)));
        black_box(r);
    }
    let counters = src.counters();
    assert_eq!(counters["transfers"], transfers, "transfers counted");
    counters
}

fn bench(c: &mut Criterion) {
    let Some(node) = Anvil::start(&[]) else {
        return;
    };
    let traffic_blocks = std::env::var("FUNDTRACE_BENCH_ETH_BLOCKS")
        .ok()
        .map(|v| v.parse().expect("FUNDTRACE_BENCH_ETH_BLOCKS is a number"))
        .unwrap_or(2_000);
    let t = Instant::now();
    let traffic = generate(&node, traffic_blocks);
    let setup = t.elapsed();
    eprintln!(
        "ethereum setup: {} blocks, {} transactions ({} through forwarders) in {:.1} s",
        traffic.head,
        traffic.transactions,
        traffic.forwarded,
        setup.as_secs_f64()
    );

    let variants = [
        ("traces_conc8", 8, TraceMode::Auto),
        ("traces_conc1", 1, TraceMode::Auto),
        ("no_traces_conc8", 8, TraceMode::Off),
    ];
    let head = traffic.head;
    let mut one_run = Vec::new();
    let mut with_traces = None;
    for (name, conc, mode) in variants {
        let t = Instant::now();
        let counters = ingest(&node.url, conc, mode, head);
        let secs = t.elapsed().as_secs_f64();
        let (blocks, transfers) = (counters["blocks"], counters["transfers"]);
        assert_eq!(blocks, head, "blocks ingested");
        assert_eq!(
            counters["transactions"], traffic.transactions,
            "transactions"
        );
        assert_eq!(counters["failed_transactions"], 0, "failed transactions");
        if mode == TraceMode::Off {
            let seen = with_traces.expect("a traced run first");
            assert!(
                seen >= transfers + traffic.forwarded,
                "internal transfers seen with traces: {seen} vs {transfers}"
            );
        } else {
            assert_eq!(
                counters["blocks_without_traces"], 0,
                "anvil has trace_block"
            );
            with_traces = Some(transfers);
        }
        eprintln!(
            "ethereum {name}: {blocks} blocks, {transfers} transfers in {secs:.2} s: \
             {:.0} blocks/s, {:.0} transfers/s; counters {counters:?}",
            blocks as f64 / secs,
            transfers as f64 / secs,
        );
        one_run.push(Duration::from_secs_f64(secs));
    }

    let mut g = c.benchmark_group("ethereum_ingest");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(head));
    for ((name, conc, mode), once) in variants.into_iter().zip(one_run) {
        g.measurement_time((once * 12).max(Duration::from_secs(5)));
        g.bench_function(name, |b| b.iter(|| ingest(&node.url, conc, mode, head)));
    }
    g.finish();
    drop(node);
}

criterion_group!(benches, bench);
criterion_main!(benches);
