//! The Ethereum adapter against a live node: anvil (started here on
//! 127.0.0.1, stopped by PID), real signed transactions, real blocks,
//! receipts and `trace_block` answers.
#![cfg(feature = "ethereum")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::anvil::{Anvil, raw_call};
use common::example;
use common::replay::Replay;
use ethers_core::types::transaction::eip2718::TypedTransaction;
use ethers_core::types::{H160, Signature, TransactionReceipt, TransactionRequest, U64, U256};
use fundtrace::cluster::{ClusterConfig, Clustering, Evidence};
use fundtrace::sources::ethereum::{BlockRange, EthRpc, EthRpcSource, RpcOptions};
use fundtrace::{
    Address, Asset, FlowGraph, GraphBuilder, LabelSet, Model, Record, Source, TraceConfig, Tracer,
};
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};

const CHAIN_ID: u64 = 31_337;
const ETH: u128 = 1_000_000_000_000_000_000;
/// anvil's first prefunded dev account (10,000 ETH at genesis); its key is
/// the well-known test key anvil prints at start.
const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

// Contracts, compiled with solc-js 0.8.37 (npm `solc@0.8.37`) from standard
// JSON with the optimizer on (200 runs) and evmVersion "paris" (no PUSH0).
// The creation code below embeds the metadata hash of these exact sources.
//
// contract MiniToken {            // a minimal ERC-20: transfer only, 6 decimals, symbol "MUSD"
//     event Transfer(address indexed from, address indexed to, uint256 value);
//     mapping(address => uint256) public balanceOf;
//     uint256 public totalSupply;
//     constructor(uint256 supply) {
//         totalSupply = supply; balanceOf[msg.sender] = supply;
//         emit Transfer(address(0), msg.sender, supply);
//     }
//     function transfer(address to, uint256 amount) external returns (bool) {
//         uint256 bal = balanceOf[msg.sender];
//         require(bal >= amount, "insufficient balance");
//         unchecked { balanceOf[msg.sender] = bal - amount; }
//         balanceOf[to] += amount; emit Transfer(msg.sender, to, amount); return true;
//     }
//     // plus decimals() -> 6 and symbol() -> "MUSD"
// }
// contract Forwarder {            // forwards every ETH payment to a fixed target
//     address payable public immutable target;
//     constructor(address payable _target) { target = _target; }
//     receive() external payable {
//         (bool ok, ) = target.call{value: msg.value}(""); require(ok, "forward failed");
//     }
// }
// contract Reverter { receive() external payable { revert("no ETH accepted"); } }
const MINI_TOKEN: &str = "6080604052348015600f57600080fd5b5060405161037b38038061037b833981016040819052602c916078565b600181905533600081815260208181526040808320859055518481527fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef910160405180910390a3506090565b600060208284031215608957600080fd5b5051919050565b6102dc8061009f6000396000f3fe608060405234801561001057600080fd5b50600436106100575760003560e01c806318160ddd1461005c578063313ce5671461007857806370a082311461008757806395d89b41146100a7578063a9059cbb146100cd575b600080fd5b61006560015481565b6040519081526020015b60405180910390f35b6040516006815260200161006f565b6100656100953660046101eb565b60006020819052908152604090205481565b6040805180820182526004815263135554d160e21b6020820152905161006f919061020d565b6100e06100db36600461025b565b6100f0565b604051901515815260200161006f565b336000908152602081905260408120548281101561014b5760405162461bcd60e51b8152602060048201526014602482015273696e73756666696369656e742062616c616e636560601b604482015260640160405180910390fd5b3360009081526020819052604080822085840390556001600160a01b03861682528120805485929061017e908490610285565b90915550506040518381526001600160a01b0385169033907fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef9060200160405180910390a360019150505b92915050565b80356001600160a01b03811681146101e657600080fd5b919050565b6000602082840312156101fd57600080fd5b610206826101cf565b9392505050565b602081526000825180602084015260005b8181101561023b576020818601810151604086840101520161021e565b506000604082850101526040601f19601f83011684010191505092915050565b6000806040838503121561026e57600080fd5b610277836101cf565b946020939093013593505050565b808201808211156101c957634e487b7160e01b600052601160045260246000fdfea2646970667358221220e1e46e19c92243300dd6ce86d811ff3a76311ced9a14819935856bf016a4358864736f6c63430008250033";
const FORWARDER: &str = "60a0604052348015600f57600080fd5b506040516101f63803806101f6833981016040819052602c91603c565b6001600160a01b0316608052606a565b600060208284031215604d57600080fd5b81516001600160a01b0381168114606357600080fd5b9392505050565b60805161016c61008a60003960008181602b015260f8015261016c6000f3fe6080604052600436106100225760003560e01c8063d4b83992146100e657600080fd5b366100e15760007f00000000000000000000000000000000000000000000000000000000000000006001600160a01b03163460405160006040518083038185875af1925050503d8060008114610094576040519150601f19603f3d011682016040523d82523d6000602084013e610099565b606091505b50509050806100df5760405162461bcd60e51b815260206004820152600e60248201526d199bdc9dd85c990819985a5b195960921b604482015260640160405180910390fd5b005b600080fd5b3480156100f257600080fd5b5061011a7f000000000000000000000000000000000000000000000000000000000000000081565b6040516001600160a01b03909116815260200160405180910390f3fea2646970667358221220ba726ec33275b632d20eaabf244b6334c7ac0d40d90af009aa634a8ee512c63864736f6c63430008250033";
const REVERTER: &str = "6080604052348015600f57600080fd5b50608180601d6000396000f3fe60806040523660465760405162461bcd60e51b815260206004820152600f60248201526e1b9bc8115512081858d8d95c1d1959608a1b604482015260640160405180910390fd5b600080fdfea26469706673582212202a812fff2d8c4a0fbaa263b5c3ec801d1c9e2a4a2ef41794027bf1a86e91bb7164736f6c63430008250033";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn word(v: U256) -> Vec<u8> {
    let mut w = [0u8; 32];
    v.to_big_endian(&mut w);
    w.to_vec()
}

fn addr_word(a: H160) -> Vec<u8> {
    let mut w = vec![0u8; 12];
    w.extend_from_slice(&a.0);
    w
}

/// A key and its address.
struct LocalWallet {
    key: SigningKey,
    address: H160,
}

impl LocalWallet {
    fn from_bytes(key: &[u8]) -> LocalWallet {
        let key = SigningKey::from_slice(key).unwrap();
        let address = ethers_core::utils::secret_key_to_address(&key);
        LocalWallet { key, address }
    }

    fn address(&self) -> H160 {
        self.address
    }

    /// Signs `tx` as EIP-155 asks (legacy transaction, chain id in `v`).
    fn sign(&self, tx: &TypedTransaction) -> Signature {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(tx.sighash().as_bytes())
            .unwrap();
        Signature {
            r: U256::from_big_endian(&sig.r().to_bytes()),
            s: U256::from_big_endian(&sig.s().to_bytes()),
            v: u64::from(recid.to_byte()) + 35 + 2 * CHAIN_ID,
        }
    }
}

/// Sends signed legacy transactions one at a time and waits for each
/// receipt, so (with anvil's automine) every transaction is its own block.
/// It speaks JSON-RPC through `raw_call` (std only), not through the client
/// under test.
struct Driver {
    port: u16,
    nonces: BTreeMap<H160, u64>,
}

impl Driver {
    fn new(url: &str) -> Driver {
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Driver {
            port,
            nonces: BTreeMap::new(),
        }
    }

    fn rpc<R: serde::de::DeserializeOwned>(&self, method: &str, params: Value) -> R {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = raw_call(self.port, &body.to_string())
            .unwrap_or_else(|| panic!("anvil gave no answer to {method}"));
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert!(v.get("error").is_none(), "{method}: {answer}");
        serde_json::from_value(v["result"].clone()).unwrap()
    }

    /// A fresh wallet from a fixed key (`n` in the last byte).
    fn wallet(n: u8) -> LocalWallet {
        let mut key = [0u8; 32];
        key[31] = n;
        key[0] = 0x5a;
        LocalWallet::from_bytes(&key)
    }

    fn dev() -> LocalWallet {
        LocalWallet::from_bytes(&unhex(DEV_KEY))
    }

    fn send(
        &mut self,
        from: &LocalWallet,
        to: Option<H160>,
        value: u128,
        data: Vec<u8>,
        gas_price: u64,
    ) -> TransactionReceipt {
        let nonce = self.nonces.entry(from.address()).or_insert(0);
        let mut req = TransactionRequest::new()
            .from(from.address())
            .value(U256::from(value))
            .data(data)
            .gas(1_000_000u64)
            .gas_price(gas_price)
            .nonce(*nonce)
            .chain_id(CHAIN_ID);
        if let Some(to) = to {
            req = req.to(to);
        }
        *nonce += 1;
        let tx: TypedTransaction = req.into();
        let raw = tx.rlp_signed(&from.sign(&tx));
        let hash: Value = self.rpc("eth_sendRawTransaction", json!([raw]));
        for _ in 0..500 {
            let r: Option<TransactionReceipt> =
                self.rpc("eth_getTransactionReceipt", json!([hash]));
            if let Some(r) = r {
                return r;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no receipt for {hash}");
    }

    fn pay(&mut self, from: &LocalWallet, to: H160, value: u128) -> TransactionReceipt {
        self.send(from, Some(to), value, Vec::new(), 0)
    }

    fn token_transfer(&mut self, from: &LocalWallet, token: H160, to: H160, amount: u128) -> u64 {
        let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
        data.extend(addr_word(to));
        data.extend(word(U256::from(amount)));
        let r = self.send(from, Some(token), 0, data, 0);
        assert_eq!(r.status.unwrap().as_u64(), 1);
        block(&r)
    }

    fn deploy(&mut self, from: &LocalWallet, code: &str, arg: Option<Vec<u8>>) -> H160 {
        let mut data = unhex(code);
        data.extend(arg.unwrap_or_default());
        let r = self.send(from, None, 0, data, 0);
        assert_eq!(r.status.unwrap().as_u64(), 1, "deployment failed");
        r.contract_address.unwrap()
    }

    fn head(&self) -> u64 {
        self.rpc::<U64>("eth_blockNumber", json!([])).as_u64()
    }
}

/// Runs `load` with `f` called on each "ethereum blocks fetched" event of
/// the source (its `blocks` field): how a test acts (stops the node,
/// reorganises the chain) at a chosen point of a load, through the source's
/// own `tracing` events.
fn on_blocks_fetched<R>(f: impl Fn(u64) + Send + Sync + 'static, load: impl FnOnce() -> R) -> R {
    use tracing_subscriber::layer::SubscriberExt;

    struct OnFetched<F>(F);
    #[derive(Default)]
    struct Fields {
        message: String,
        blocks: Option<u64>,
    }
    impl tracing::field::Visit for Fields {
        fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
            if field.name() == "blocks" {
                self.blocks = Some(value);
            }
        }
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.message = format!("{value:?}");
            }
        }
    }
    impl<S: tracing::Subscriber, F: Fn(u64) + 'static> tracing_subscriber::Layer<S> for OnFetched<F> {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            if let ("ethereum blocks fetched", Some(n)) = (fields.message.as_str(), fields.blocks) {
                (self.0)(n);
            }
        }
    }
    let subscriber = tracing_subscriber::registry().with(OnFetched(f));
    tracing::subscriber::with_default(subscriber, load)
}

fn block(r: &TransactionReceipt) -> u64 {
    r.block_number.unwrap().as_u64()
}

fn a(h: H160) -> Address {
    Address::ethereum(h.0)
}

fn quick() -> RpcOptions {
    RpcOptions {
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(10),
        ..RpcOptions::default()
    }
}

fn load(url: &str, range: BlockRange) -> (FlowGraph, BTreeMap<String, u64>, Vec<String>) {
    let rpc = EthRpc::connect(url, quick()).unwrap();
    let mut src = EthRpcSource::new(rpc, range);
    let mut b = GraphBuilder::new();
    b.load(&mut src).unwrap();
    (b.freeze().unwrap(), src.counters(), src.warnings())
}

/// What the case's addresses are, for the assertions.
struct Case {
    seed: Address,
    a: Address,
    b: Address,
    forwarder: Address,
    deposit: Address,
    deposit2: Address,
    hot: Address,
    token: Asset,
    /// Block of S → A (the first of the laundering).
    first_hop: u64,
    /// Block of B → deposit (first arrival at the exchange).
    deposit_block: u64,
    reverted_block: u64,
    fee_block: u64,
}

/// The laundering case, one transaction per block, gas price 0 (the node
/// runs with base fee 0) so every amount below is exact by hand; one last
/// transaction pays a real fee. D is the dev account, S the seed.
///
/// ```text
///  D deploys Forwarder(target B), D deploys Reverter R
///  D → S 10 ETH,  D → C 5 ETH,  D → B 6 ETH          (history before the case)
///  S → A 4 ETH                                         A: 4 tainted
///  C → A 4 ETH                                         A: 4 tainted + 4 clean
///  A → F 2 ETH, and inside the same tx F → B 2 ETH     (internal transfer)
///  A → R 1 ETH: reverts, status 0, moves nothing
///  A → B 3 ETH
///  B → DEP 8 ETH                                       DEP: deposit address
///  DEP → HOT 8 ETH                                     HOT: labelled exchange wallet
///  D deploys MiniToken (1,000,000 units to D)
///  D → A 300,000;  D → S 500,000;  S → A 200,000;  A → DEP 250,000;  DEP → HOT 250,000
///  C → DEP2 1 ETH;  DEP2 → HOT 1 ETH                   a second, clean customer's deposit
///  D → X 1 wei at 1 gwei per gas (a real fee)
/// ```
fn play(d: &mut Driver) -> Case {
    let dev = Driver::dev();
    let (s, c, b, aw, dep, hot, x, dep2) = (
        Driver::wallet(1),
        Driver::wallet(2),
        Driver::wallet(3),
        Driver::wallet(4),
        Driver::wallet(5),
        Driver::wallet(6),
        Driver::wallet(7),
        Driver::wallet(8),
    );
    let forwarder = d.deploy(&dev, FORWARDER, Some(addr_word(b.address())));
    let reverter = d.deploy(&dev, REVERTER, None);
    d.pay(&dev, s.address(), 10 * ETH);
    d.pay(&dev, c.address(), 5 * ETH);
    d.pay(&dev, b.address(), 6 * ETH);
    let first_hop = block(&d.pay(&s, aw.address(), 4 * ETH));
    d.pay(&c, aw.address(), 4 * ETH);
    d.pay(&aw, forwarder, 2 * ETH);
    let r = d.pay(&aw, reverter, ETH);
    assert_eq!(
        r.status.unwrap().as_u64(),
        0,
        "the payment to the Reverter must fail"
    );
    let reverted_block = block(&r);
    d.pay(&aw, b.address(), 3 * ETH);
    let deposit_block = block(&d.pay(&b, dep.address(), 8 * ETH));
    d.pay(&dep, hot.address(), 8 * ETH);
    let token = d.deploy(&dev, MINI_TOKEN, Some(word(U256::from(1_000_000u64))));
    d.token_transfer(&dev, token, aw.address(), 300_000);
    d.token_transfer(&dev, token, s.address(), 500_000);
    d.token_transfer(&s, token, aw.address(), 200_000);
    d.token_transfer(&aw, token, dep.address(), 250_000);
    d.token_transfer(&dep, token, hot.address(), 250_000);
    d.pay(&c, dep2.address(), ETH);
    d.pay(&dep2, hot.address(), ETH);
    let fee_block = block(&d.send(&dev, Some(x.address()), 1, Vec::new(), 1_000_000_000));
    Case {
        seed: a(s.address()),
        a: a(aw.address()),
        b: a(b.address()),
        forwarder: a(forwarder),
        deposit: a(dep.address()),
        deposit2: a(dep2.address()),
        hot: a(hot.address()),
        token: Asset::Erc20(token.0),
        first_hop,
        deposit_block,
        reverted_block,
        fee_block,
    }
}

fn labels(hot: &Address) -> LabelSet {
    let csv = format!(
        "chain,address,label,category,entity\nethereum,{},testex hot wallet,exchange,testex\n",
        hot.plain()
    );
    LabelSet::parse("live-labels.csv", csv.as_bytes()).unwrap()
}

fn v(f: &fundtrace::Finding, asset: Asset, m: Model) -> u128 {
    common::value(f, asset, m)
}

#[test]
fn laundering_case_on_a_live_node() {
    let Some(node) = Anvil::start(&["--block-base-fee-per-gas", "0"]) else {
        return;
    };
    let mut d = Driver::new(&node.url);
    let case = play(&mut d);
    let head = d.head();

    // Ingest the whole chain (the default range: genesis to head).
    let (g, counters, warnings) = load(&node.url, BlockRange::ToHead(0));
    assert_eq!(counters["blocks"], head + 1);
    assert_eq!(counters["failed_transactions"], 1);
    assert_eq!(
        counters["blocks_without_traces"], 0,
        "anvil serves trace_block"
    );
    assert!(warnings.is_empty(), "{warnings:?}");

    // The reverted payment moved nothing; the forwarder's internal transfer is there.
    let events: Vec<_> = g.events().map(|e| g.event(e)).collect();
    assert!(
        !events
            .iter()
            .any(|e| e.block.height.0 == case.reverted_block && e.asset == Asset::Eth),
        "a reverted transaction with gas price 0 moves nothing"
    );
    let internal: Vec<_> = events
        .iter()
        .filter(|e| e.inputs[0].0 == case.forwarder)
        .collect();
    assert_eq!(internal.len(), 1);
    assert_eq!(
        internal[0].outputs,
        vec![(case.b, fundtrace::Amount::new(2 * ETH))]
    );
    // The real fee: 21,000 gas at 1 gwei, to the fee sink.
    let fee: Vec<_> = events
        .iter()
        .filter(|e| {
            e.block.height.0 == case.fee_block && e.outputs[0].0.to_string() == "ethereum:fees"
        })
        .collect();
    assert_eq!(fee.len(), 1);
    assert_eq!(fee[0].outputs[0].1.get(), 21_000 * 1_000_000_000);

    // Only HOT is labelled; the deposit heuristic finds both deposit
    // addresses that sweep to it (they forward what they get).
    let l = labels(&case.hot);
    let clustering = Clustering::build(&g, &l, &ClusterConfig::default());
    for dep in [case.deposit, case.deposit2] {
        match clustering.evidence(&dep) {
            Some(Evidence::DepositForward { hot_wallet, .. }) => assert_eq!(*hot_wallet, case.hot),
            other => panic!("deposit evidence expected for {dep}, got {other:?}"),
        }
    }
    let clusters = clustering.exchange_clusters();
    assert_eq!(clusters.len(), 1);
    let mut members = clusters[0].members.clone();
    members.sort();
    let mut want = vec![case.hot, case.deposit, case.deposit2];
    want.sort();
    assert_eq!(members, want);
    let cfg = TraceConfig::default();
    let tracer = Tracer::new(&g, &clusters).unwrap();
    let out = tracer.trace(&[case.seed], &cfg).unwrap();
    assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
    let f = &out.findings[0];
    // Hops: the token path S → A → DEP is 2 hops; ETH needs 3 (S → A → B → DEP).
    assert_eq!(f.min_hops, 2);
    // First arrival: the ETH, B → DEP, before any token got there.
    let arrival = f.first_arrival.as_ref().unwrap();
    assert_eq!(arrival.height.0, case.deposit_block);
    assert_eq!(arrival.member, case.deposit);

    // Values, worked out by hand (base units):
    // poison: B is tainted once anything tainted arrives, so all 8 ETH are.
    assert_eq!(v(f, Asset::Eth, Model::Poison), 8 * ETH);
    // haircut: A holds 8 with 4 tainted; 2 to F carry 1, F passes its 1 to B
    // (B: 6 clean + 2 = 8 with 1 tainted); A (6 with 3) sends 3 carrying 1.5,
    // so B holds 11 with 2.5 tainted; 8 out carry floor(8e18 × 2.5e18 / 11e18).
    assert_eq!(v(f, Asset::Eth, Model::Haircut), 1_818_181_818_181_818_181);
    // FIFO: A's queue [4 T, 4 C] gives 2 T to F, then 2 T + 1 C to B; B's
    // queue [6 C, 2 T, 2 T, 1 C] spends 8 as 6 C + 2 T.
    assert_eq!(v(f, Asset::Eth, Model::Fifo), 2 * ETH);
    // Tokens: A holds 300,000 clean then 200,000 tainted and sends 250,000:
    // poison all, haircut 250,000 × 200,000 / 500,000, FIFO the clean ones first.
    assert_eq!(v(f, case.token, Model::Poison), 250_000);
    assert_eq!(v(f, case.token, Model::Haircut), 100_000);
    assert_eq!(v(f, case.token, Model::Fifo), 0);
    let full_values = f.value.clone();

    // Mid-history: load from S → A on. B's 6 ETH from before are unseen, so
    // the inferred opening (B's largest overdraft, 3 ETH) changes haircut and FIFO ...
    let (mid, _, _) = load(&node.url, BlockRange::Range(case.first_hop, head));
    let out = Tracer::new(&mid, &clusters)
        .unwrap()
        .trace(&[case.seed], &cfg)
        .unwrap();
    let f = &out.findings[0];
    // B: 3 inferred + 2 + 3 = 8 with 2.5 tainted; 8 out carry 2.5.
    assert_eq!(v(f, Asset::Eth, Model::Haircut), 5 * ETH / 2);
    assert_eq!(v(f, Asset::Eth, Model::Fifo), 4 * ETH);
    // ... and with the balances fetched at the block before, the values are
    // those of the full history.
    let holders = Tracer::new(&mid, &clusters)
        .unwrap()
        .value_holders(&[case.seed], &cfg);
    assert!(holders.contains(&(case.b, Asset::Eth)));
    assert!(holders.contains(&(case.a, case.token)));
    assert!(
        !holders
            .iter()
            .any(|(x, _)| *x == case.seed || *x == case.deposit)
    );
    let rpc = EthRpc::connect(&node.url, quick()).unwrap();
    let openings = rpc.opening_balances(&holders, case.first_hop - 1).unwrap();
    let b_opening = openings
        .iter()
        .find(|o| o.address == case.b && o.asset == Asset::Eth)
        .unwrap();
    assert_eq!(b_opening.amount.get(), 6 * ETH);
    assert_eq!(b_opening.source, "eth_getBalance");
    let mid = mid.with_opening_balances(openings);
    let out = Tracer::new(&mid, &clusters)
        .unwrap()
        .trace(&[case.seed], &cfg)
        .unwrap();
    assert_eq!(out.findings[0].value, full_values);
    let report = fundtrace::TraceReport::new(&mid, &[case.seed], &clusters, &cfg, out);
    assert!(report.to_json().unwrap().contains("\"opening_balances\""));
}

/// A forwarding server in front of the node, so that "the node" can be
/// stopped in the middle of ingestion (by dropping it) and come back.
fn front(node_port: u16) -> Replay {
    Replay::on_body(move |body| (200, raw_call(node_port, body).unwrap_or_default()))
}

/// The node goes away in the middle of ingestion: the error names the block
/// where loading stopped, every block before it was loaded whole, and a run
/// resumed from there ends with exactly the graph of an uninterrupted run.
#[test]
fn stopped_node_and_resumed_ingestion() {
    let Some(node) = Anvil::start(&["--block-base-fee-per-gas", "0"]) else {
        return;
    };
    let mut d = Driver::new(&node.url);
    let case = play(&mut d);
    let head = d.head();
    let (whole, _, _) = load(&node.url, BlockRange::Range(0, head));

    let front = front(node.port);
    let rpc = EthRpc::connect(
        &front.url,
        RpcOptions {
            concurrency: 1,
            ..quick()
        },
    )
    .unwrap();
    // Stop "the node" after the first 6 blocks have been loaded.
    let front = std::sync::Mutex::new(Some(front));
    let mut src = EthRpcSource::new(rpc, BlockRange::Range(0, head));
    let mut b = GraphBuilder::new();
    let err = on_blocks_fetched(
        move |blocks| {
            if blocks >= 6 {
                front.lock().unwrap().take();
            }
        },
        || b.load(&mut src),
    )
    .unwrap_err();
    let resume = src.resume_from();
    assert!(resume >= 6 && resume <= head, "{resume}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("for block {resume}")), "{msg}");
    assert!(
        msg.contains("cannot connect") || msg.contains("gave up"),
        "{msg}"
    );
    assert_eq!(src.loaded(), Some((0, resume - 1)));

    // The node is back (here: reached directly); carry on from `resume`.
    let rpc = EthRpc::connect(&node.url, quick()).unwrap();
    let mut rest = EthRpcSource::new(rpc, BlockRange::Range(resume, head));
    b.load(&mut rest).unwrap();
    let resumed = b.freeze().unwrap();
    let events = |g: &FlowGraph| g.events().map(|e| g.event(e)).collect::<Vec<_>>();
    assert_eq!(events(&resumed), events(&whole));
    assert_eq!(resumed.address_count(), whole.address_count());
    // Loading an overlapping range again adds nothing (duplicates are dropped).
    let mut b = GraphBuilder::new();
    for range in [
        BlockRange::Range(0, case.deposit_block),
        BlockRange::Range(3, head),
    ] {
        let rpc = EthRpc::connect(&node.url, quick()).unwrap();
        b.load(&mut EthRpcSource::new(rpc, range)).unwrap();
    }
    assert_eq!(events(&b.freeze().unwrap()), events(&whole));
}

/// Following the head: blocks mined after the source started arrive.
#[test]
fn follows_the_head() {
    let Some(node) = Anvil::start(&["--block-base-fee-per-gas", "0"]) else {
        return;
    };
    let mut d = Driver::new(&node.url);
    let dev = Driver::dev();
    let x = Driver::wallet(9);
    let first = block(&d.pay(&dev, x.address(), 7));
    let url = node.url.clone();
    let reader = std::thread::spawn(move || {
        let rpc = EthRpc::connect(&url, quick()).unwrap();
        let mut src = EthRpcSource::new(
            rpc,
            BlockRange::Follow {
                from: first,
                confirmations: 0,
                poll: Duration::from_millis(20),
            },
        );
        let mut seen = Vec::new();
        while seen.len() < 3 {
            if let Some(Record::Transfer(t)) = src.next_record().unwrap() {
                seen.push((t.block.height.0, t.amount.get()));
            }
        }
        seen
    });
    std::thread::sleep(Duration::from_millis(200));
    let second = block(&d.pay(&dev, x.address(), 8));
    let third = block(&d.pay(&dev, x.address(), 9));
    let seen = reader.join().unwrap();
    assert_eq!(seen, vec![(first, 7), (second, 8), (third, 9)]);
}

/// The trace example on the live node from mid-history: it fetches the
/// opening balances itself and reports the full-history values.
#[test]
fn trace_example_on_a_live_node() {
    let Some(node) = Anvil::start(&["--block-base-fee-per-gas", "0"]) else {
        return;
    };
    let mut d = Driver::new(&node.url);
    let case = play(&mut d);
    let dir = std::env::temp_dir().join(format!("fundtrace-live-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let labels = dir.join("labels.csv");
    std::fs::write(
        &labels,
        format!(
            "chain,address,label,category,entity\nethereum,{},testex hot wallet,exchange,testex\n",
            case.hot.plain()
        ),
    )
    .unwrap();
    let json = dir.join("report.json");
    let out = example("trace")
        .args([
            "--eth-rpc",
            &node.url,
            "--eth-blocks",
            &format!("{}..", case.first_hop),
        ])
        .args(["--seed", &case.seed.to_string(), "--quiet", "--json"])
        .arg(&json)
        .arg("--labels")
        .arg(&labels)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("opening balances:"), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let f = &r["findings"][0];
    assert_eq!(f["cluster"].as_str().unwrap(), "testex", "{r:#}");
    let value = |asset: &str, m: &str| {
        f["value"][asset][m]
            .to_string()
            .trim_matches('"')
            .to_owned()
    };
    assert_eq!(value("ETH", "haircut"), "1818181818181818181");
    assert_eq!(value("ETH", "fifo"), (2 * ETH).to_string());
    assert!(!r["meta"]["opening_balances"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The chain is reorganised while it is loaded: after blocks 0–3 are in,
/// the node reverts to block 2 and mines a different block 3 and more. The
/// next block fetched no longer links to the block 3 that was loaded, and the
/// load stops with an error naming the block instead of mixing two chains.
#[test]
fn reorganisation_during_a_load_is_refused() {
    let Some(node) = Anvil::start(&[]) else {
        return;
    };
    let call = |method: &str, params: &str| {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let answer = raw_call(node.port, &body).unwrap();
        assert!(!answer.contains("\"error\""), "{method}: {answer}");
        answer
    };
    for _ in 0..2 {
        call("evm_mine", "[]");
    }
    let snap: serde_json::Value = serde_json::from_str(&call("evm_snapshot", "[]")).unwrap();
    let snap = snap["result"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        call("evm_mine", "[]");
    }
    let rpc = EthRpc::connect(
        &node.url,
        RpcOptions {
            concurrency: 1, // windows of two blocks: 0–1, 2–3, 4–5, 6
            ..quick()
        },
    )
    .unwrap();
    let port = node.port;
    let mut src = EthRpcSource::new(rpc, BlockRange::Range(0, 6));
    let hook = move |blocks| {
        if blocks == 4 {
            // Blocks 0–3 are loaded: replace 3–6 by other blocks.
            let raw = |m: &str, params: &str| {
                let b = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{m}","params":{params}}}"#);
                raw_call(port, &b).unwrap()
            };
            raw("evm_revert", &format!(r#"["{snap}"]"#));
            raw("evm_setNextBlockTimestamp", "[4000000000]");
            for _ in 0..4 {
                raw("evm_mine", "[]");
            }
        }
    };
    let mut b = GraphBuilder::new();
    let err = on_blocks_fetched(hook, || b.load(&mut src)).unwrap_err();
    assert!(
        matches!(
            err,
            fundtrace::Error::Node {
                failure: fundtrace::NodeFailure::Reorganised,
                ..
            }
        ),
        "{err:?}"
    );
    let e = err.to_string();
    assert!(
        e.contains("eth_getBlockByNumber for block 4")
            && e.contains("is not the hash")
            && e.contains("of block 3 loaded before it")
            && e.contains("reorganised"),
        "{e}"
    );
    assert_eq!(src.resume_from(), 4);
    assert_eq!(src.loaded(), Some((0, 3)));
}
