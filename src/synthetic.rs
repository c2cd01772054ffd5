//! Deterministic synthetic cases with ground truth (feature `synthetic`).
//!
//! [`SyntheticCase::generate`] builds a mixed Bitcoin/Ethereum case from a
//! seed number: seed wallets that launder through peel chains, fan-out /
//! fan-in, many-to-many mixing transactions, ERC-20 (USDT-like) hops and
//! wallets that mix tainted with clean funds, ending at exchange deposit
//! addresses that later sweep to hot wallets; around it, power-law background
//! traffic of any size from 10^3 to 10^8 transfers. The same config always
//! gives the same records, on any machine (ChaCha8 random numbers, integer
//! arithmetic only).
//!
//! # Ground truth
//! Laundering flows use fresh addresses that background traffic never
//! touches, and each fresh address is reached by exactly one path, so every
//! deposit's hop distance is known by construction. The value each deposit
//! receives under poison, haircut and FIFO is worked out while the flow is
//! built, by applying the models' definitions to that one path (a few
//! accounts and transactions), independently of the graph and the tracer.
//! [`GroundTruth::expected`] turns the deposits into the findings a trace
//! with a given `max_hops` must report.
//!
//! # Clustering truth
//! Part of the background (about a fifth of its transfers) exists for the
//! clustering heuristics of [`crate::cluster`], and
//! [`SyntheticCase::cluster_truth`] says who owns what ([`ClusterTruth`]):
//! * Bitcoin wallets that own 2 to 8 addresses and spend several of them
//!   in one transaction (and sometimes consolidate all of them);
//! * CoinJoin-shaped transactions (Whirlpool 5×5, JoinMarket with 3 to 7
//!   participants, Wasabi with 10 to 30) whose inputs come from different
//!   wallets and must not be merged;
//! * Ethereum deposit addresses that receive one or two customer payments,
//!   in ether or the USDT-like token, and sweep them to their exchange's hot
//!   wallet 5 to 1,500 blocks later (ether: what arrived minus the gas the
//!   sweep pays; token: all of it, after the hot wallet sent the gas);
//! * customers paying a hot wallet directly, and hot wallets paying out
//!   (on Bitcoin out of the hot wallet and a few deposit addresses at once).
//!
//! The existing background adds more: exchange deposit pools that
//! consolidate into their hot wallet (common-input evidence for the pools),
//! equal-output mixing transactions of unrelated users, and pool deposit
//! addresses that pay their hot wallet amounts unrelated to what they got.
//!
//! # Size
//! "Transfers" counts account transfers plus UTXO inputs and outputs (each
//! is a transfer in the sense of the design). Background records are made
//! lazily by [`SyntheticCase::source`], so a large case need not be held in
//! memory as records.
//!
//! The default case uses KIM Sang Man's four addresses (OFAC SDN entry 43377)
//! as seeds and six real exchange hot wallets as cluster anchors; see
//! [`EXCHANGES`].
// Casts here are of small random counts and of indices below the
// configured sizes; amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Result;
use crate::graph::{FlowGraph, GraphBuilder};
use crate::sources::{Leg, Record, Source, Transfer, UtxoTx};
use crate::trace::{Cluster, Model, ValueMap};
use crate::types::{
    Address, Amount, Asset, AssetInfo, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain,
    Position, Special, Timestamp, TxId, mul_div_floor,
};

/// KIM Sang Man's addresses as OFAC lists them (SDN entry 43377, designated
/// 2023-05-23): two Bitcoin addresses and one Ethereum address tagged ETH,
/// another tagged ETH, USDT and USDC. Source: `ofac/kim_sang_man_43377_addresses.csv`
/// in the project's shared data.
pub const KIM_SANG_MAN: [&str; 4] = [
    "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
    "1FCNgfZWpYMeYhy9t18AAkTBu8AsdoAc1Z",
    "0x97b1043abd9e6fc31681635166d430a458d14f9c",
    "0xb6f5ec1a0a9cd1526536d3f0426c429529471f40",
];

/// Real exchange hot wallets used as cluster anchors: (exchange, Bitcoin
/// wallet, Ethereum wallet). Sources, in the project's shared label data:
/// GraphSense tag packs `exchange-wallets-{binance,bitfinexcom,kucoin,huobi,bybit}.yaml`
/// (proof-of-reserve wallets, 2022-11) and, for OKX's Ethereum wallet, the
/// Etherscan export `brianleect_etherscan_exchange_labels_2023-06.csv` (name tag "OKX")
/// with the Bitcoin wallet from `exchange-wallets-okx.yaml`.
pub const EXCHANGES: [(&str, &str, &str); 6] = [
    (
        "binance",
        "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo",
        "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8",
    ),
    (
        "bitfinex",
        "1Kr6QSydW9bFQG1mXiPNNu6WpJGmUa9i1g",
        "0x77134cbc06cb00b66f4c7e623d5fdbf6777635ec",
    ),
    (
        "kucoin",
        "bc1qgrxsrmrhsapvh9addyx6sh8j4rw0sn9xtur9uq",
        "0xd6216fc19db775df9774a6e33526131da7d19a2c",
    ),
    (
        "okx",
        "16rF2zwSJ9goQ9fZfYoti5LsUqqegb5RnA",
        "0x6cc5f688a315f3dc28a7781717a9a798a59fda7b",
    ),
    (
        "huobi",
        "143gLvWYUojXaWZRrxquRKpVNTkhmr415B",
        "0xa929022c9107643515f5c777ce9a910f0d1e490c",
    ),
    (
        "bybit",
        "bc1q2qqqt87kh33s0er58akh7v9cwjgd83z5smh9rp",
        "0x1Db92e2EeBC8E0c075a02BeA49a2935BcD2dFCF4",
    ),
];

/// The USDT contract on Ethereum mainnet (6 decimals); the synthetic token
/// borrows its identity.
pub const USDT: [u8; 20] = [
    0xda, 0xc1, 0x7f, 0x95, 0x8d, 0x2e, 0xe5, 0x23, 0xa2, 0x20, 0x62, 0x06, 0x99, 0x45, 0x97, 0xc1,
    0x3d, 0x83, 0x1e, 0xc7,
];

const BTC_START: u64 = 790_000;
const ETH_START: u64 = 17_000_000;
const BTC_T0: u64 = 1_683_000_000;
const ETH_T0: u64 = 1_681_000_000;
/// Laundering transactions take block positions from here on, so they
/// never collide with background ones.
const LAUNDER_INDEX: u32 = 1_000_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntheticConfig {
    /// Random seed: the same number gives the same case.
    pub seed: u64,
    /// Approximate number of transfers in all (laundering plus background).
    pub transfers: u64,
    /// Synthetic seed wallets added to KIM Sang Man's four (alternating
    /// Bitcoin and Ethereum).
    pub extra_seeds: usize,
    /// How many times each laundering pattern runs per seed.
    pub repeat: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 43_377,
            transfers: 200_000,
            extra_seeds: 0,
            repeat: 2,
        }
    }
}

/// One deposit that received seed value, with what it received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TruthDeposit {
    /// The seed whose value it is.
    pub seed: Address,
    /// The exchange (cluster name).
    pub cluster: String,
    /// The deposit address.
    pub address: Address,
    /// Hops from the seed.
    pub hops: u32,
    /// The asset.
    pub asset: Asset,
    /// Tainted value under poison.
    pub poison: Amount,
    /// Under haircut.
    pub haircut: Amount,
    /// Under FIFO.
    pub fifo: Amount,
}

/// A finding the trace must report, from the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedFinding {
    /// The seed.
    pub seed: Address,
    /// The cluster.
    pub cluster: String,
    /// Fewest hops.
    pub min_hops: u32,
    /// Value per asset and model.
    pub value: ValueMap,
}

/// What the generator knows about where seed value went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    /// Every deposit that received seed value.
    pub deposits: Vec<TruthDeposit>,
    /// What each seed sent, per asset.
    pub sent: BTreeMap<Address, BTreeMap<Asset, Amount>>,
}

impl GroundTruth {
    /// The findings a trace with `max_hops` (time-respecting, stopping at
    /// clusters) must report, sorted by seed then cluster name.
    pub fn expected(&self, max_hops: u32) -> Vec<ExpectedFinding> {
        let mut map: BTreeMap<(Address, String), ExpectedFinding> = BTreeMap::new();
        for d in self.deposits.iter().filter(|d| d.hops <= max_hops) {
            let f = map
                .entry((d.seed, d.cluster.clone()))
                .or_insert_with(|| ExpectedFinding {
                    seed: d.seed,
                    cluster: d.cluster.clone(),
                    min_hops: d.hops,
                    value: ValueMap::new(),
                });
            f.min_hops = f.min_hops.min(d.hops);
            let v = f.value.entry(d.asset).or_default();
            for (m, a) in [
                (Model::Poison, d.poison),
                (Model::Haircut, d.haircut),
                (Model::Fifo, d.fifo),
            ] {
                let e = v.entry(m).or_insert(Amount::ZERO);
                *e = e
                    .checked_add(a)
                    .expect("synthetic amounts stay far below u128::MAX");
            }
        }
        map.into_values().collect()
    }
}

/// Who owns what, for evaluating [`crate::cluster`]; from
/// [`SyntheticCase::cluster_truth`].
///
/// Laundering addresses are in none of these lists: their owners hide on
/// purpose, and the tracer's truth ([`GroundTruth`]) covers them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterTruth {
    /// Bitcoin owners of two or more addresses: each exchange by name (its
    /// hot wallet and its background deposit pool) and each background
    /// wallet as `wallet-N`. Addresses sorted.
    pub owners: BTreeMap<String, Vec<Address>>,
    /// Bitcoin background users that own one address each, sorted.
    pub singletons: Vec<Address>,
    /// Ethereum deposit addresses (background pools, laundering deposits and
    /// sweeping deposits) → the exchange that owns them.
    pub deposits: BTreeMap<Address, String>,
    /// The deposits that forward what they received to their exchange's hot
    /// wallet within 1,500 blocks: what the deposit heuristic is meant to find.
    pub swept: BTreeSet<Address>,
    /// The CoinJoin-shaped background transactions, in the order made.
    pub coinjoins: Vec<TxId>,
}

/// A generated case: seeds, clusters, ground truth, and its records.
#[derive(Debug, Clone)]
pub struct SyntheticCase {
    /// The configuration it was made from.
    pub config: SyntheticConfig,
    /// Seed wallets: KIM Sang Man's four, then any extra ones.
    pub seeds: Vec<Address>,
    /// One cluster per exchange: its hot wallets and all its deposit addresses.
    pub clusters: Vec<Cluster>,
    /// Where the seed value went.
    pub truth: GroundTruth,
    laundering: Vec<Record>,
    launder_deposits: Vec<Vec<Address>>,
    launder_swept: Vec<(Address, usize)>,
    plan: Plan,
}

#[derive(Debug, Clone)]
struct Plan {
    seed: u64,
    btc_budget: u64,
    eth_budget: u64,
    extra_btc_budget: u64,
    extra_eth_budget: u64,
    /// Background Bitcoin wallets with several addresses, numbered `1..=wallets`.
    wallets: u64,
    btc_blocks: u64,
    eth_blocks: u64,
    population: u64,
    hot_btc: Vec<Address>,
    hot_eth: Vec<Address>,
    pool_btc: Vec<Vec<Address>>,
    pool_eth: Vec<Vec<Address>>,
}

impl SyntheticCase {
    /// Generates the case described by `config`.
    pub fn generate(config: &SyntheticConfig) -> SyntheticCase {
        let transfers = config.transfers.max(1_000);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let pool = (transfers / 4_000).clamp(8, 50_000);
        let mut hot_btc = Vec::new();
        let mut hot_eth = Vec::new();
        let mut pool_btc = Vec::new();
        let mut pool_eth = Vec::new();
        for (k, (_, b, e)) in EXCHANGES.iter().enumerate() {
            hot_btc.push(Address::parse(b).expect("anchor addresses are valid (tested)"));
            hot_eth.push(Address::parse(e).expect("anchor addresses are valid (tested)"));
            pool_btc.push(
                (0..pool)
                    .map(|j| derived(Chain::Bitcoin, 1 + k as u64, j))
                    .collect::<Vec<_>>(),
            );
            pool_eth.push(
                (0..pool)
                    .map(|j| derived(Chain::Ethereum, 1 + k as u64, j))
                    .collect::<Vec<_>>(),
            );
        }
        let mut seeds: Vec<Address> = KIM_SANG_MAN
            .iter()
            .map(|s| Address::parse(s).expect("OFAC addresses are valid (tested)"))
            .collect();
        for i in 0..config.extra_seeds {
            seeds.push(if i % 2 == 0 {
                fresh(&mut rng, Chain::Bitcoin)
            } else {
                fresh(&mut rng, Chain::Ethereum)
            });
        }
        let btc_blocks_guess = (transfers / 2 / 3_000).max(1_000);
        let eth_blocks_guess = (transfers / 2 / 300).max(2_000);
        let mut l = Launder {
            rng,
            records: Vec::new(),
            truth: GroundTruth::default(),
            accts: FxHashMap::default(),
            deposits: vec![Vec::new(); EXCHANGES.len()],
            next_index: FxHashMap::default(),
            tx_counter: 0,
            population: (transfers / 8).max(200),
            hot_btc: hot_btc.clone(),
            hot_eth: hot_eth.clone(),
            swept_eth: Vec::new(),
        };
        l.records.push(Record::AssetInfo(AssetInfo {
            asset: Asset::Erc20(USDT),
            symbol: "USDT".into(),
            decimals: 6,
        }));
        for (i, &s) in seeds.iter().enumerate() {
            match s.chain() {
                Chain::Bitcoin => {
                    let start = BTC_START + btc_blocks_guess / 10 + 40 * i as u64;
                    l.bitcoin_seed(s, start, config.repeat);
                }
                _ => {
                    let start = ETH_START + eth_blocks_guess / 10 + 400 * i as u64;
                    l.ethereum_seed(s, start, config.repeat);
                }
            }
        }
        let launder_transfers: u64 = l.records.iter().map(transfer_count).sum();
        let bg = transfers.saturating_sub(launder_transfers);
        // A fifth of the background is the clustering traffic.
        let extra = bg / 5;
        let main = bg - extra;
        let extra_btc = extra / 2;
        let clusters = EXCHANGES
            .iter()
            .enumerate()
            .map(|(k, (name, _, _))| {
                let mut m = vec![hot_btc[k], hot_eth[k]];
                m.extend(&pool_btc[k]);
                m.extend(&pool_eth[k]);
                m.extend(&l.deposits[k]);
                Cluster::new(*name, m)
            })
            .collect();
        SyntheticCase {
            config: config.clone(),
            seeds,
            clusters,
            truth: l.truth,
            launder_deposits: l.deposits,
            launder_swept: l.swept_eth,
            laundering: l.records,
            plan: Plan {
                seed: config.seed,
                btc_budget: main / 2,
                eth_budget: main - main / 2,
                extra_btc_budget: extra_btc,
                extra_eth_budget: extra - extra_btc,
                wallets: (extra_btc / 100).clamp(80, 1_000_000),
                btc_blocks: btc_blocks_guess,
                eth_blocks: eth_blocks_guess,
                population: l.population,
                hot_btc,
                hot_eth,
                pool_btc,
                pool_eth,
            },
        }
    }

    /// A streaming source of all the case's records (laundering first, then
    /// background, made lazily).
    pub fn source(&self) -> SyntheticSource<'_> {
        SyntheticSource {
            case: self,
            next_launder: 0,
            bg: Background::new(&self.plan),
            buf: VecDeque::new(),
        }
    }

    /// All records in a vector (for small cases).
    pub fn records(&self) -> Vec<Record> {
        let mut s = self.source();
        let mut v = Vec::new();
        while let Ok(Some(r)) = s.next_record() {
            v.push(r);
        }
        v
    }

    /// Who owns which addresses, for evaluating clustering. Runs the
    /// background generator once more (without keeping its records), so it
    /// costs about as much as generating the records.
    pub fn cluster_truth(&self) -> ClusterTruth {
        let p = &self.plan;
        let mut t = ClusterTruth::default();
        for (k, (name, _, _)) in EXCHANGES.iter().enumerate() {
            let mut v = vec![p.hot_btc[k]];
            v.extend(&p.pool_btc[k]);
            v.sort();
            v.dedup();
            t.owners.insert((*name).to_owned(), v);
            for a in &p.pool_eth[k] {
                t.deposits.insert(*a, (*name).to_owned());
            }
            for a in &self.launder_deposits[k] {
                if a.chain() == Chain::Ethereum {
                    t.deposits.insert(*a, (*name).to_owned());
                }
            }
        }
        for &(a, _) in &self.launder_swept {
            t.swept.insert(a);
        }
        for w in 1..=p.wallets {
            let mut v: Vec<Address> = (0..wallet_size(w)).map(|j| wallet_address(w, j)).collect();
            v.sort();
            t.owners.insert(format!("wallet-{w}"), v);
        }
        t.singletons = (1..=p.population)
            .map(|i| derived(Chain::Bitcoin, 0, i))
            .collect();
        t.singletons.sort();
        let mut bg = Background::new(p);
        bg.log = Some(TruthLog::default());
        let mut buf = VecDeque::new();
        while bg.step(p, &mut buf) {
            buf.clear();
        }
        if let Some(log) = bg.log {
            for (a, k) in log.swept {
                t.deposits.insert(a, EXCHANGES[k].0.to_owned());
                t.swept.insert(a);
            }
            t.coinjoins = log.coinjoins;
        }
        t
    }

    /// Loads the case into a frozen graph.
    ///
    /// # Errors
    /// None in practice: generated records are consistent; the signature
    /// follows [`GraphBuilder`].
    pub fn graph(&self) -> Result<FlowGraph> {
        let mut b = GraphBuilder::new();
        b.load(&mut self.source())?;
        b.freeze()
    }
}

fn transfer_count(r: &Record) -> u64 {
    match r {
        Record::Transfer(_) => 1,
        Record::Utxo(u) => (u.inputs.len() + u.outputs.len()) as u64,
        _ => 0,
    }
}

/// Streams a [`SyntheticCase`]'s records.
pub struct SyntheticSource<'a> {
    case: &'a SyntheticCase,
    next_launder: usize,
    bg: Background,
    buf: VecDeque<Record>,
}

impl Source for SyntheticSource<'_> {
    fn name(&self) -> String {
        format!(
            "synthetic:seed={},transfers={}",
            self.case.config.seed, self.case.config.transfers
        )
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        if let Some(r) = self.case.laundering.get(self.next_launder) {
            self.next_launder += 1;
            return Ok(Some(r.clone()));
        }
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Ok(Some(r));
            }
            if !self.bg.step(&self.case.plan, &mut self.buf) {
                return Ok(None);
            }
        }
    }
}

// ------------------------------------------------------------------------
// Helpers: addresses, ids, numbers
// ------------------------------------------------------------------------

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn bytes20(a: u64, b: u64) -> [u8; 20] {
    let mut out = [0u8; 20];
    let (x, y, z) = (
        splitmix(a ^ splitmix(b)),
        splitmix(b ^ 0x5151),
        splitmix(a.wrapping_add(b)),
    );
    out[..8].copy_from_slice(&x.to_le_bytes());
    out[8..16].copy_from_slice(&y.to_le_bytes());
    out[16..].copy_from_slice(&z.to_le_bytes()[..4]);
    out
}

fn btc_addr(h: [u8; 20], segwit: bool) -> Address {
    let kind = if segwit {
        BitcoinKind::P2wpkh
    } else {
        BitcoinKind::P2pkh
    };
    Address::bitcoin(BitcoinNetwork::Mainnet, kind, &h)
        .expect("20-byte programs fit P2PKH and P2WPKH")
}

/// A stable address for (chain, namespace, index): background population
/// (namespace 0) and exchange deposit pools (namespace 1 + exchange).
fn derived(chain: Chain, ns: u64, i: u64) -> Address {
    let b = bytes20(
        ns.wrapping_mul(0x1_0000_0001) ^ u64::from(chain.code()) << 60,
        i,
    );
    match chain {
        Chain::Bitcoin => btc_addr(b, i % 3 != 0),
        _ => Address::ethereum(b),
    }
}

/// Namespace of the background wallets' addresses.
const WALLET_NS: u64 = 0xba11e7;
/// Namespace of the sweeping deposit addresses (plus the exchange index).
const SWEEP_NS: u64 = 0x5eed_0000;
/// Block positions of the clustering traffic and of sweeps, apart from the
/// rest of the background (from 0) and the laundering (`LAUNDER_INDEX`).
const EXTRA_INDEX: u32 = 500_000;
const SWEEP_INDEX: u32 = 700_000;

/// How many addresses background wallet `w` owns: 2 to 8.
fn wallet_size(w: u64) -> u64 {
    2 + splitmix(w ^ 0x5175) % 7
}

/// Address `j` of background wallet `w`.
fn wallet_address(w: u64, j: u64) -> Address {
    derived(Chain::Bitcoin, WALLET_NS, w * 16 + j)
}

/// Sweeping deposit address `j` of exchange `k`.
fn sweep_deposit(k: usize, j: u64) -> Address {
    derived(Chain::Ethereum, SWEEP_NS + k as u64, j)
}

fn fresh(rng: &mut ChaCha8Rng, chain: Chain) -> Address {
    let mut b = [0u8; 20];
    rng.fill_bytes(&mut b);
    match chain {
        Chain::Bitcoin => btc_addr(b, b[0] & 1 == 0),
        _ => Address::ethereum(b),
    }
}

/// Uniform in `lo..=hi` (integers only, so the same on every platform).
fn range(rng: &mut impl RngCore, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo + 1;
    lo + ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64
}

/// Log-uniform in `1..=n`: P(i) ~ 1/i, the heavy tail of real address activity.
fn zipf(rng: &mut impl RngCore, n: u64) -> u64 {
    let bits = 64 - n.leading_zeros() as u64;
    let k = range(rng, 0, bits.saturating_sub(1));
    let lo = 1u64 << k;
    let hi = ((lo << 1) - 1).min(n);
    range(rng, lo, hi)
}

/// Log-uniform amount in `lo..=hi`.
fn amount(rng: &mut impl RngCore, lo: u128, hi: u128) -> u128 {
    let ratio = u64::try_from(hi / lo.max(1)).unwrap_or(u64::MAX);
    let jitter = u64::try_from(lo.saturating_sub(1)).unwrap_or(u64::MAX);
    u128::from(zipf(rng, ratio)) * lo + u128::from(range(rng, 0, jitter))
}

fn block(chain: Chain, h: u64) -> BlockRef {
    let time = match chain {
        Chain::Bitcoin => BTC_T0 + (h - BTC_START) * 600,
        _ => ETH_T0 + (h - ETH_START) * 12,
    };
    BlockRef {
        chain,
        height: BlockHeight(h),
        time: Timestamp(time),
    }
}

fn txid(chain: Chain, ns: u64, n: u64) -> TxId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&splitmix(n ^ ns).to_be_bytes());
    b[8..16].copy_from_slice(&n.to_be_bytes());
    b[16..24].copy_from_slice(&ns.to_be_bytes());
    b[24..].copy_from_slice(&splitmix(n.wrapping_add(ns)).to_be_bytes());
    TxId::new(chain, b)
}

// ------------------------------------------------------------------------
// The models' definitions applied to one path (ground truth)
// ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct T3 {
    p: u128,
    h: u128,
    f: u128,
}

type Lots = Vec<(u128, bool)>;

/// One laundering account: balance, haircut taint, poison flag, FIFO lots.
#[derive(Debug, Clone, Default)]
struct Acct {
    bal: u128,
    hc: u128,
    poisoned: bool,
    lots: VecDeque<(u128, bool)>,
}

impl Acct {
    fn receive(&mut self, y: u128, t: T3, lots: &Lots) {
        self.bal += y;
        self.hc += t.h;
        self.poisoned |= t.p > 0;
        self.lots.extend(lots.iter().copied());
    }

    fn send(&mut self, y: u128) -> (T3, Lots) {
        assert!(
            y <= self.bal,
            "laundering accounts only spend what they hold"
        );
        let h = mul_div_floor(y, self.hc, self.bal);
        self.bal -= y;
        self.hc -= h;
        let (mut need, mut f, mut out) = (y, 0, Vec::new());
        while need > 0 {
            let front = self.lots.front_mut().expect("lots sum to the balance");
            let take = front.0.min(need);
            out.push((take, front.1));
            if front.1 {
                f += take;
            }
            front.0 -= take;
            need -= take;
            if front.0 == 0 {
                self.lots.pop_front();
            }
        }
        (
            T3 {
                p: if self.poisoned { y } else { 0 },
                h,
                f,
            },
            out,
        )
    }
}

struct Launder {
    rng: ChaCha8Rng,
    records: Vec<Record>,
    truth: GroundTruth,
    /// Laundering accounts (per address and asset) and whose seed they carry.
    accts: FxHashMap<(Address, Asset), Acct>,
    deposits: Vec<Vec<Address>>,
    next_index: FxHashMap<(Chain, u64), u32>,
    tx_counter: u64,
    population: u64,
    hot_btc: Vec<Address>,
    hot_eth: Vec<Address>,
    /// Ethereum deposits that sweep what they got to their hot wallet.
    swept_eth: Vec<(Address, usize)>,
}

/// Where a leg's value goes in the truth bookkeeping.
#[derive(Clone, Copy)]
enum Dest {
    /// A laundering account, `hops` from the seed.
    Acct,
    /// An exchange deposit address: recorded in the truth.
    Deposit { exchange: usize, hops: u32 },
    /// Clean or irrelevant (fees, background): not tracked.
    Untracked,
}

impl Launder {
    fn index(&mut self, chain: Chain, h: u64) -> u32 {
        let i = self.next_index.entry((chain, h)).or_insert(LAUNDER_INDEX);
        *i += 1;
        *i - 1
    }

    fn next_txid(&mut self, chain: Chain) -> TxId {
        self.tx_counter += 1;
        txid(chain, 0xfeed, self.tx_counter)
    }

    fn background(&mut self, chain: Chain) -> Address {
        let i = zipf(&mut self.rng, self.population);
        derived(chain, 0, i)
    }

    fn new_deposit(&mut self, chain: Chain) -> (usize, Address) {
        let k = range(&mut self.rng, 0, EXCHANGES.len() as u64 - 1) as usize;
        let a = fresh(&mut self.rng, chain);
        self.deposits[k].push(a);
        (k, a)
    }

    /// What `from` sends of `y`: the seed sends pure taint; a laundering
    /// account its model shares; anyone else clean value.
    fn debit(&mut self, seed: Address, from: Address, asset: Asset, y: u128) -> (T3, Lots) {
        if from == seed {
            return (T3 { p: y, h: y, f: y }, vec![(y, true)]);
        }
        match self.accts.get_mut(&(from, asset)) {
            Some(a) => a.send(y),
            None => (T3::default(), vec![(y, false)]),
        }
    }

    #[allow(clippy::too_many_arguments)] // the truth bookkeeping of one leg; a struct would only rename them
    fn credit(
        &mut self,
        seed: Address,
        to: Address,
        asset: Asset,
        y: u128,
        t: T3,
        lots: &Lots,
        dest: Dest,
    ) {
        match dest {
            Dest::Acct => self
                .accts
                .entry((to, asset))
                .or_default()
                .receive(y, t, lots),
            Dest::Deposit { exchange, hops } => self.truth.deposits.push(TruthDeposit {
                seed,
                cluster: EXCHANGES[exchange].0.to_owned(),
                address: to,
                hops,
                asset,
                poison: Amount::new(t.p),
                haircut: Amount::new(t.h),
                fifo: Amount::new(t.f),
            }),
            Dest::Untracked => {}
        }
    }

    /// One Bitcoin transaction. `ins` are (address, amount); `outs` are
    /// (address, amount, destination). The fee is the difference, paid last.
    fn btc_tx(
        &mut self,
        seed: Address,
        h: u64,
        ins: &[(Address, u128)],
        outs: &[(Address, u128, Dest)],
    ) {
        let asset = Asset::Btc;
        let mut in_t = Vec::new();
        let mut queue: VecDeque<(u128, bool)> = VecDeque::new();
        for &(a, y) in ins {
            let (t, lots) = self.debit(seed, a, asset, y);
            queue.extend(lots);
            in_t.push(t);
        }
        let total: u128 = ins.iter().map(|x| x.1).sum();
        let out_sum: u128 = outs.iter().map(|x| x.1).sum();
        assert!(
            out_sum <= total,
            "laundering transactions pay no more than their inputs"
        );
        let any = in_t.iter().any(|t| t.p > 0);
        let (mut bal, mut hc) = (total, in_t.iter().map(|t| t.h).sum::<u128>());
        for &(a, o, dest) in outs {
            let hh = mul_div_floor(o, hc, bal);
            bal -= o;
            hc -= hh;
            let (mut need, mut f, mut lots) = (o, 0, Vec::new());
            while need > 0 {
                let front = queue.front_mut().expect("queue holds all input value");
                let take = front.0.min(need);
                lots.push((take, front.1));
                if front.1 {
                    f += take;
                }
                front.0 -= take;
                need -= take;
                if front.0 == 0 {
                    queue.pop_front();
                }
            }
            let t = T3 {
                p: if any { o } else { 0 },
                h: hh,
                f,
            };
            self.credit(seed, a, asset, o, t, &lots, dest);
        }
        let index = self.index(Chain::Bitcoin, h);
        let tx = self.next_txid(Chain::Bitcoin);
        let leg = |address: Address, y: u128| Leg {
            address,
            amount: Amount::new(y),
        };
        self.records.push(Record::Utxo(UtxoTx {
            tx,
            block: block(Chain::Bitcoin, h),
            index,
            asset,
            inputs: ins.iter().map(|&(a, y)| leg(a, y)).collect(),
            outputs: outs.iter().map(|&(a, y, _)| leg(a, y)).collect(),
        }));
    }

    /// One Ethereum transaction: a transfer of `asset` and, if `gas > 0`, an
    /// ETH fee paid by the sender after it (order 1 inside the transaction).
    #[allow(clippy::too_many_arguments)] // one call site per pattern; a struct would only rename them
    fn eth_tx(
        &mut self,
        seed: Address,
        h: u64,
        asset: Asset,
        from: Address,
        to: Address,
        y: u128,
        dest: Dest,
        gas: u128,
    ) {
        let (t, lots) = self.debit(seed, from, asset, y);
        self.credit(seed, to, asset, y, t, &lots, dest);
        let index = self.index(Chain::Ethereum, h);
        let tx = self.next_txid(Chain::Ethereum);
        let mk = |sub: u32, asset: Asset, from: Address, to: Address, y: u128| {
            Record::Transfer(Transfer {
                tx,
                block: block(Chain::Ethereum, h),
                position: Position { index, sub },
                asset,
                from,
                to,
                amount: Amount::new(y),
            })
        };
        self.records.push(mk(0, asset, from, to, y));
        if gas > 0 {
            let _ = self.debit(seed, from, Asset::Eth, gas);
            self.records.push(mk(
                1,
                Asset::Eth,
                from,
                Address::special(Chain::Ethereum, Special::Fees),
                gas,
            ));
        }
    }

    fn fee(&mut self) -> u128 {
        u128::from(range(&mut self.rng, 2_000, 40_000))
    }

    fn gas(&mut self) -> u128 {
        u128::from(range(&mut self.rng, 21_000, 60_000)) * 30_000_000_000
    }

    fn sweep_btc(&mut self, seed: Address, h: u64, exchange: usize, dep: Address, y: u128) {
        let fee = self.fee();
        let hot = self.hot_btc[exchange];
        self.btc_tx(seed, h, &[(dep, y)], &[(hot, y - fee, Dest::Untracked)]);
    }

    fn bitcoin_seed(&mut self, s: Address, start: u64, repeat: usize) {
        let funding: u128 = 50 * 100_000_000;
        let otc = self.background(Chain::Bitcoin);
        let mut h = start;
        self.btc_tx(s, h, &[(otc, funding)], &[(s, funding, Dest::Untracked)]);
        let mut sent = 0u128;
        for _ in 0..repeat {
            // Peel chain: each step pays a deposit and moves the change on.
            h += 1;
            let x = 8 * 100_000_000 + u128::from(range(&mut self.rng, 0, 100_000_000));
            sent += x;
            let len = range(&mut self.rng, 3, 8);
            let (mut holder, mut bal) = (s, x);
            for step in 1..=len as u32 {
                h += range(&mut self.rng, 1, 3);
                let (k, dep) = self.new_deposit(Chain::Bitcoin);
                let pay = bal * u128::from(range(&mut self.rng, 5, 30)) / 100;
                let fee = self.fee();
                let next = fresh(&mut self.rng, Chain::Bitcoin);
                let change = bal - pay - fee;
                self.btc_tx(
                    s,
                    h,
                    &[(holder, bal)],
                    &[
                        (
                            dep,
                            pay,
                            Dest::Deposit {
                                exchange: k,
                                hops: step,
                            },
                        ),
                        (next, change, Dest::Acct),
                    ],
                );
                self.sweep_btc(s, h + 6, k, dep, pay);
                holder = next;
                bal = change;
            }

            // Fan-out, one shuffle hop each, fan-in, deposit.
            h += 1;
            let x = 5 * 100_000_000;
            sent += x;
            let k_fan = range(&mut self.rng, 3, 12) as usize;
            let fee = self.fee();
            let part = (x - fee) / k_fan as u128;
            let fans: Vec<Address> = (0..k_fan)
                .map(|_| fresh(&mut self.rng, Chain::Bitcoin))
                .collect();
            let outs: Vec<_> = fans.iter().map(|&a| (a, part, Dest::Acct)).collect();
            self.btc_tx(s, h, &[(s, x)], &outs);
            h += 1;
            let mut shuffled = Vec::new();
            for &f in &fans {
                let g = fresh(&mut self.rng, Chain::Bitcoin);
                let fee = self.fee();
                self.btc_tx(s, h, &[(f, part)], &[(g, part - fee, Dest::Acct)]);
                shuffled.push((g, part - fee));
            }
            h += 2;
            let collector = fresh(&mut self.rng, Chain::Bitcoin);
            let total: u128 = shuffled.iter().map(|x| x.1).sum();
            let fee = self.fee();
            self.btc_tx(s, h, &shuffled, &[(collector, total - fee, Dest::Acct)]);
            h += 1;
            let (k, dep) = self.new_deposit(Chain::Bitcoin);
            let fee2 = self.fee();
            let amt = total - fee - fee2;
            self.btc_tx(
                s,
                h,
                &[(collector, total - fee)],
                &[(
                    dep,
                    amt,
                    Dest::Deposit {
                        exchange: k,
                        hops: 4,
                    },
                )],
            );
            self.sweep_btc(s, h + 3, k, dep, amt);

            // Many-to-many mixing: equal outputs, the tainted input among clean ones.
            h += 1;
            let d: u128 = 100_000_000;
            let c: u128 = 3_000;
            let pre_fee = self.fee();
            sent += d + c + pre_fee;
            let m = fresh(&mut self.rng, Chain::Bitcoin);
            self.btc_tx(s, h, &[(s, d + c + pre_fee)], &[(m, d + c, Dest::Acct)]);
            h += 1;
            let n = range(&mut self.rng, 4, 9) as usize;
            let pos = range(&mut self.rng, 0, n as u64) as usize;
            let mut ins: Vec<(Address, u128)> = (0..n)
                .map(|_| (self.background(Chain::Bitcoin), d + c))
                .collect();
            ins.insert(pos, (m, d + c));
            ins.dedup_by_key(|x| x.0);
            let outs_addr: Vec<Address> = (0..ins.len())
                .map(|_| fresh(&mut self.rng, Chain::Bitcoin))
                .collect();
            let outs: Vec<_> = outs_addr.iter().map(|&a| (a, d, Dest::Acct)).collect();
            self.btc_tx(s, h, &ins, &outs);
            h += 2;
            for &q in &outs_addr {
                if self.rng.next_u32() % 4 == 0 {
                    continue; // this participant keeps its coins
                }
                let (k, dep) = self.new_deposit(Chain::Bitcoin);
                let fee = self.fee();
                self.btc_tx(
                    s,
                    h,
                    &[(q, d)],
                    &[(
                        dep,
                        d - fee,
                        Dest::Deposit {
                            exchange: k,
                            hops: 3,
                        },
                    )],
                );
                self.sweep_btc(s, h + 4, k, dep, d - fee);
            }
        }
        self.truth
            .sent
            .entry(s)
            .or_default()
            .insert(Asset::Btc, Amount::new(sent));
    }

    fn ethereum_seed(&mut self, s: Address, start: u64, repeat: usize) {
        let usdt = Asset::Erc20(USDT);
        let eth: u128 = 1_000_000_000_000_000_000;
        let mut h = start;
        let treasury = self.background(Chain::Ethereum);
        self.eth_tx(
            s,
            h,
            Asset::Eth,
            treasury,
            s,
            10_000 * eth,
            Dest::Untracked,
            0,
        );
        self.eth_tx(
            s,
            h,
            usdt,
            treasury,
            s,
            5_000_000_000_000,
            Dest::Untracked,
            0,
        );
        let mut sent_eth = 0u128;
        let mut sent_usdt = 0u128;
        for _ in 0..repeat {
            // Hop chain: each fresh account forwards all it holds minus gas.
            h += 3;
            let x = (100 + u128::from(range(&mut self.rng, 0, 900))) * eth;
            let len = range(&mut self.rng, 2, 7) as u32;
            let g0 = self.gas();
            sent_eth += x + g0;
            let mut holder = fresh(&mut self.rng, Chain::Ethereum);
            self.eth_tx(s, h, Asset::Eth, s, holder, x, Dest::Acct, g0);
            let mut bal = x;
            for step in 2..=len + 1 {
                h += range(&mut self.rng, 1, 20);
                let g = self.gas();
                let y = bal - g;
                if step == len + 1 {
                    let (k, dep) = self.new_deposit(Chain::Ethereum);
                    self.eth_tx(
                        s,
                        h,
                        Asset::Eth,
                        holder,
                        dep,
                        y,
                        Dest::Deposit {
                            exchange: k,
                            hops: step,
                        },
                        g,
                    );
                    let g2 = self.gas();
                    let hot = self.hot_eth[k];
                    self.eth_tx(s, h + 30, Asset::Eth, dep, hot, y - g2, Dest::Untracked, g2);
                    self.swept_eth.push((dep, k));
                } else {
                    let next = fresh(&mut self.rng, Chain::Ethereum);
                    self.eth_tx(s, h, Asset::Eth, holder, next, y, Dest::Acct, g);
                    holder = next;
                    bal = y;
                }
            }

            // Fan-out to fresh accounts, each depositing.
            h += 5;
            let k_fan = range(&mut self.rng, 3, 10);
            for _ in 0..k_fan {
                let x = (10 + u128::from(range(&mut self.rng, 0, 90))) * eth;
                let g = self.gas();
                sent_eth += x + g;
                let f = fresh(&mut self.rng, Chain::Ethereum);
                self.eth_tx(s, h, Asset::Eth, s, f, x, Dest::Acct, g);
                let g = self.gas();
                let (k, dep) = self.new_deposit(Chain::Ethereum);
                self.eth_tx(
                    s,
                    h + 2,
                    Asset::Eth,
                    f,
                    dep,
                    x - g,
                    Dest::Deposit {
                        exchange: k,
                        hops: 2,
                    },
                    g,
                );
            }

            // USDT hops: gas comes from a clean gas station, the token from the seed.
            h += 5;
            let y = u128::from(range(&mut self.rng, 50_000, 900_000)) * 1_000_000;
            let g = self.gas();
            sent_usdt += y;
            sent_eth += g;
            let len = range(&mut self.rng, 2, 5) as u32;
            let mut holder = fresh(&mut self.rng, Chain::Ethereum);
            self.eth_tx(s, h, usdt, s, holder, y, Dest::Acct, g);
            for step in 2..=len + 1 {
                h += range(&mut self.rng, 1, 10);
                let station = self.background(Chain::Ethereum);
                let gas = self.gas();
                self.eth_tx(s, h, Asset::Eth, station, holder, gas, Dest::Untracked, 0);
                h += 1;
                if step == len + 1 {
                    let (k, dep) = self.new_deposit(Chain::Ethereum);
                    self.eth_tx(
                        s,
                        h,
                        usdt,
                        holder,
                        dep,
                        y,
                        Dest::Deposit {
                            exchange: k,
                            hops: step,
                        },
                        gas,
                    );
                } else {
                    let next = fresh(&mut self.rng, Chain::Ethereum);
                    self.eth_tx(s, h, usdt, holder, next, y, Dest::Acct, gas);
                    holder = next;
                }
            }

            // A wallet that held clean ether receives tainted ether, then pays
            // two deposits: poison, haircut and FIFO all differ here.
            h += 5;
            let w = fresh(&mut self.rng, Chain::Ethereum);
            let clean = (50 + u128::from(range(&mut self.rng, 0, 50))) * eth;
            let otc = self.background(Chain::Ethereum);
            self.eth_tx(s, h, Asset::Eth, otc, w, clean, Dest::Acct, 0);
            h += 2;
            let t = (20 + u128::from(range(&mut self.rng, 0, 60))) * eth + 123_456_789;
            let g0 = self.gas();
            sent_eth += t + g0;
            self.eth_tx(s, h, Asset::Eth, s, w, t, Dest::Acct, g0);
            h += 2;
            let y1 = (clean + t) * u128::from(range(&mut self.rng, 20, 70)) / 100;
            let g1 = self.gas();
            let (k1, d1) = self.new_deposit(Chain::Ethereum);
            self.eth_tx(
                s,
                h,
                Asset::Eth,
                w,
                d1,
                y1,
                Dest::Deposit {
                    exchange: k1,
                    hops: 2,
                },
                g1,
            );
            h += 2;
            let g2 = self.gas();
            let rest = clean + t - y1 - g1 - g2;
            let (k2, d2) = self.new_deposit(Chain::Ethereum);
            self.eth_tx(
                s,
                h,
                Asset::Eth,
                w,
                d2,
                rest,
                Dest::Deposit {
                    exchange: k2,
                    hops: 2,
                },
                g2,
            );
        }
        let e = self.truth.sent.entry(s).or_default();
        e.insert(Asset::Eth, Amount::new(sent_eth));
        e.insert(usdt, Amount::new(sent_usdt));
    }
}

// ------------------------------------------------------------------------
// Background traffic
// ------------------------------------------------------------------------

struct Background {
    rng: ChaCha8Rng,
    btc_left: u64,
    eth_left: u64,
    btc_h: u64,
    eth_h: u64,
    btc_index: u32,
    eth_index: u32,
    btc_per_block: u64,
    eth_per_block: u64,
    btc_in_block: u64,
    eth_in_block: u64,
    tx: u64,
    /// The clustering traffic draws its own numbers, so the rest of the
    /// background is the same sequence with or without it.
    rng2: ChaCha8Rng,
    extra_btc_left: u64,
    extra_eth_left: u64,
    /// (height, next index) of the clustering traffic's positions.
    extra_btc_pos: (u64, u32),
    extra_eth_pos: (u64, u32),
    sweep_pos: (u64, u32),
    tx2: u64,
    /// Sweeps waiting for their block, by (height, sequence number).
    pending: BTreeMap<(u64, u64), Sweep>,
    sweep_seq: u64,
    next_deposit: Vec<u64>,
    /// What [`SyntheticCase::cluster_truth`] collects.
    log: Option<TruthLog>,
}

/// A deposit address's sweep, due at a later block.
struct Sweep {
    exchange: usize,
    deposit: Address,
    asset: Asset,
    total: u128,
}

#[derive(Default)]
struct TruthLog {
    swept: Vec<(Address, usize)>,
    coinjoins: Vec<TxId>,
}

/// Pushes an Ethereum transaction: a transfer, then its gas (if any) paid by the sender.
#[allow(clippy::too_many_arguments)] // one transaction's fields; a struct would only rename them
fn eth_pair(
    out: &mut VecDeque<Record>,
    tx: TxId,
    b: BlockRef,
    index: u32,
    asset: Asset,
    from: Address,
    to: Address,
    y: u128,
    gas: u128,
) -> u64 {
    let mk = |sub, asset, to, y| {
        Record::Transfer(Transfer {
            tx,
            block: b,
            position: Position { index, sub },
            asset,
            from,
            to,
            amount: Amount::new(y),
        })
    };
    out.push_back(mk(0, asset, to, y));
    if gas == 0 {
        return 1;
    }
    out.push_back(mk(
        1,
        Asset::Eth,
        Address::special(Chain::Ethereum, Special::Fees),
        gas,
    ));
    2
}

/// `n` distinct wallets out of `1..=max` (`n` well below `max`).
fn distinct_wallets(r: &mut ChaCha8Rng, n: u64, max: u64) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    while (v.len() as u64) < n.min(max) {
        let w = range(r, 1, max);
        if !v.contains(&w) {
            v.push(w);
        }
    }
    v
}

impl Background {
    fn new(p: &Plan) -> Background {
        Background {
            rng: ChaCha8Rng::seed_from_u64(p.seed ^ 0xb0b0_b0b0),
            btc_left: p.btc_budget,
            eth_left: p.eth_budget,
            btc_h: BTC_START,
            eth_h: ETH_START,
            btc_index: 0,
            eth_index: 0,
            btc_per_block: (p.btc_budget / p.btc_blocks).max(1),
            eth_per_block: (p.eth_budget / p.eth_blocks).max(1),
            btc_in_block: 0,
            eth_in_block: 0,
            tx: 0,
            rng2: ChaCha8Rng::seed_from_u64(p.seed ^ 0xc1c1_c1c1),
            extra_btc_left: p.extra_btc_budget,
            extra_eth_left: p.extra_eth_budget,
            extra_btc_pos: (0, EXTRA_INDEX),
            extra_eth_pos: (0, EXTRA_INDEX),
            sweep_pos: (0, SWEEP_INDEX),
            tx2: 0,
            pending: BTreeMap::new(),
            sweep_seq: 0,
            next_deposit: vec![0; EXCHANGES.len()],
            log: None,
        }
    }

    /// Makes the next background transaction; false when the budget is spent.
    fn step(&mut self, p: &Plan, out: &mut VecDeque<Record>) -> bool {
        self.sweeps(p, out, false);
        let main = self.btc_left > 0 || self.eth_left > 0;
        let extra = self.extra_btc_left > 0 || self.extra_eth_left > 0;
        if !main && !extra {
            self.sweeps(p, out, true);
            return !out.is_empty();
        }
        if extra && (!main || self.rng2.next_u32() % 5 == 0) {
            let btc = self.extra_eth_left == 0
                || (self.extra_btc_left > 0 && self.rng2.next_u32() % 2 == 0);
            if btc {
                self.extra_bitcoin(p, out);
            } else {
                self.extra_ethereum(p, out);
            }
            return true;
        }
        let btc = self.eth_left == 0 || (self.btc_left > 0 && self.rng.next_u32() % 2 == 0);
        if btc {
            self.bitcoin(p, out)
        } else {
            self.ethereum(p, out)
        }
        true
    }

    fn bitcoin(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
        let r = &mut self.rng;
        if self.btc_in_block >= self.btc_per_block {
            self.btc_h += 1;
            self.btc_index = 0;
            self.btc_in_block = 0;
        }
        let who = |r: &mut ChaCha8Rng| derived(Chain::Bitcoin, 0, zipf(r, p.population));
        let k = range(r, 0, EXCHANGES.len() as u64 - 1) as usize;
        let pool = &p.pool_btc[k];
        let dep = |r: &mut ChaCha8Rng| pool[range(r, 0, pool.len() as u64 - 1) as usize];
        let mut ins: Vec<(Address, u128)> = Vec::new();
        let mut outs: Vec<(Address, u128)> = Vec::new();
        let fee = u128::from(range(r, 500, 50_000));
        if self.btc_index == 0 {
            let miner = derived(Chain::Bitcoin, 0, zipf(r, 64));
            let v = 625_000_000 + u128::from(range(r, 0, 50_000_000));
            ins.push((Address::special(Chain::Bitcoin, Special::Coinbase), v));
            outs.push((miner, v));
        } else {
            match range(r, 0, 99) {
                0..=54 => {
                    let s = who(r);
                    let n = if range(r, 0, 9) < 7 {
                        1
                    } else {
                        range(r, 2, 5)
                    };
                    let total = amount(r, 10_000, 1_000_000_000);
                    for i in 0..n {
                        ins.push((s, total / u128::from(n) + u128::from(i)));
                    }
                    let sum: u128 = ins.iter().map(|x| x.1).sum();
                    let pay = sum * u128::from(range(r, 10, 90)) / 100;
                    outs.push((who(r), pay));
                    outs.push((s, sum - pay - fee.min(sum - pay)));
                }
                55..=69 => {
                    let s = who(r);
                    let v = amount(r, 100_000, 500_000_000);
                    outs.push((dep(r), v));
                    ins.push((s, v + fee));
                }
                70..=79 => {
                    let n = range(r, 2, 40.min(pool.len() as u64)) as usize;
                    let mut total = 0;
                    for _ in 0..n {
                        let v = amount(r, 100_000, 100_000_000);
                        total += v;
                        ins.push((dep(r), v));
                    }
                    outs.push((p.hot_btc[k], total - fee.min(total)));
                }
                80..=89 => {
                    let n = range(r, 1, 20);
                    let mut total = 0;
                    for _ in 0..n {
                        let v = amount(r, 50_000, 200_000_000);
                        total += v;
                        outs.push((who(r), v));
                    }
                    ins.push((p.hot_btc[k], total + fee));
                }
                _ => {
                    let n = range(r, 3, 12);
                    let d = u128::from(range(r, 1, 10)) * 10_000_000;
                    for _ in 0..n {
                        ins.push((who(r), d + 1_000));
                        outs.push((who(r), d));
                    }
                }
            }
        }
        let used = (ins.len() + outs.len()) as u64;
        self.btc_left = self.btc_left.saturating_sub(used);
        self.btc_in_block += used;
        self.tx += 1;
        let leg = |(address, y): (Address, u128)| Leg {
            address,
            amount: Amount::new(y),
        };
        out.push_back(Record::Utxo(UtxoTx {
            tx: txid(Chain::Bitcoin, 0xb7c0, self.tx),
            block: block(Chain::Bitcoin, self.btc_h),
            index: self.btc_index,
            asset: Asset::Btc,
            inputs: ins.into_iter().map(leg).collect(),
            outputs: outs.into_iter().map(leg).collect(),
        }));
        self.btc_index += 1;
    }

    fn ethereum(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
        let r = &mut self.rng;
        if self.eth_in_block >= self.eth_per_block {
            self.eth_h += 1;
            self.eth_index = 0;
            self.eth_in_block = 0;
        }
        let who = |r: &mut ChaCha8Rng| derived(Chain::Ethereum, 0, zipf(r, p.population));
        let k = range(r, 0, EXCHANGES.len() as u64 - 1) as usize;
        let pool = &p.pool_eth[k];
        let dep = pool[range(r, 0, pool.len() as u64 - 1) as usize];
        let usdt = range(r, 0, 2) == 0;
        let asset = if usdt { Asset::Erc20(USDT) } else { Asset::Eth };
        let v = if usdt {
            amount(r, 1_000_000, 100_000_000_000)
        } else {
            amount(r, 1_000_000_000_000_000, 50_000_000_000_000_000_000)
        };
        let (from, to) = match range(r, 0, 99) {
            0..=74 => (who(r), who(r)),
            75..=84 => (who(r), dep),
            85..=94 => (dep, p.hot_eth[k]),
            _ => (p.hot_eth[k], who(r)),
        };
        let gas = u128::from(range(r, 21_000, 80_000)) * 20_000_000_000;
        self.tx += 1;
        let tx = txid(Chain::Ethereum, 0xe7c0, self.tx);
        let b = block(Chain::Ethereum, self.eth_h);
        let index = self.eth_index;
        let mk = |sub, asset, from, to, y| {
            Record::Transfer(Transfer {
                tx,
                block: b,
                position: Position { index, sub },
                asset,
                from,
                to,
                amount: Amount::new(y),
            })
        };
        out.push_back(mk(0, asset, from, to, v));
        out.push_back(mk(
            1,
            Asset::Eth,
            from,
            Address::special(Chain::Ethereum, Special::Fees),
            gas,
        ));
        self.eth_left = self.eth_left.saturating_sub(2);
        self.eth_in_block += 2;
        self.eth_index += 1;
    }
}

// ------------------------------------------------------------------------
// Clustering traffic (see "Clustering truth" in the module documentation)
// ------------------------------------------------------------------------

impl Background {
    /// One Bitcoin transaction of the clustering traffic.
    fn extra_bitcoin(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
        if self.extra_btc_pos.0 != self.btc_h {
            self.extra_btc_pos = (self.btc_h, EXTRA_INDEX);
        }
        let r = &mut self.rng2;
        let who = |r: &mut ChaCha8Rng| derived(Chain::Bitcoin, 0, zipf(r, p.population));
        let mut ins: Vec<(Address, u128)> = Vec::new();
        let mut outs: Vec<(Address, u128)> = Vec::new();
        let mut coinjoin = false;
        match range(r, 0, 99) {
            // An exchange pays customers out of its hot wallet and a few
            // deposit addresses at once, the change back to the hot wallet.
            0..=4 => {
                let k = range(r, 0, EXCHANGES.len() as u64 - 1) as usize;
                let pool = &p.pool_btc[k];
                ins.push((p.hot_btc[k], amount(r, 100_000_000, 10_000_000_000)));
                for _ in 0..range(r, 1, 5) {
                    let dep = pool[range(r, 0, pool.len() as u64 - 1) as usize];
                    if !ins.iter().any(|x| x.0 == dep) {
                        ins.push((dep, amount(r, 100_000, 100_000_000)));
                    }
                }
                let mut left: u128 = ins.iter().map(|x| x.1).sum::<u128>() / 2;
                for _ in 0..range(r, 2, 10) {
                    let v = left * u128::from(range(r, 5, 40)) / 100;
                    left -= v;
                    outs.push((who(r), v));
                }
                let fee = u128::from(range(r, 1_000, 20_000));
                let total: u128 = ins.iter().map(|x| x.1).sum();
                let paid: u128 = outs.iter().map(|x| x.1).sum();
                outs.push((p.hot_btc[k], total - paid - fee));
            }
            // A wallet spends one or several of its addresses (coin selection
            // over a window of them), pays someone and keeps the change.
            5..=69 => {
                let w = range(r, 1, p.wallets);
                let size = wallet_size(w);
                let n = if range(r, 0, 3) == 0 {
                    1
                } else {
                    range(r, 2, size)
                };
                let j0 = range(r, 0, size - 1);
                for t in 0..n {
                    ins.push((
                        wallet_address(w, (j0 + t) % size),
                        amount(r, 20_000, 200_000_000),
                    ));
                }
                let sum: u128 = ins.iter().map(|x| x.1).sum();
                let fee = u128::from(range(r, 500, 10_000));
                let pay = sum * u128::from(range(r, 10, 90)) / 100;
                outs.push((who(r), pay));
                let change = wallet_address(w, range(r, 0, size - 1));
                outs.push((change, sum - pay - fee.min(sum - pay)));
            }
            // A wallet consolidates all its addresses into one of them.
            70..=74 => {
                let w = range(r, 1, p.wallets);
                let size = wallet_size(w);
                for j in 0..size {
                    ins.push((wallet_address(w, j), amount(r, 20_000, 50_000_000)));
                }
                let sum: u128 = ins.iter().map(|x| x.1).sum();
                let fee = u128::from(range(r, 500, 10_000));
                outs.push((wallet_address(w, range(r, 0, size - 1)), sum - fee));
            }
            // Whirlpool: five wallets, one input each, five equal outputs.
            75..=84 => {
                coinjoin = true;
                let d: u128 = [1_000_000, 5_000_000, 50_000_000][range(r, 0, 2) as usize];
                for w in distinct_wallets(r, 5, p.wallets) {
                    let j = range(r, 0, wallet_size(w) - 1);
                    ins.push((
                        wallet_address(w, j),
                        d + u128::from(range(r, 1_000, 10_000)),
                    ));
                }
                for _ in 0..5 {
                    outs.push((who(r), d));
                }
            }
            // JoinMarket: a taker and makers; makers may bring two inputs
            // and get change, the taker pays the fees and gets none.
            85..=94 => {
                coinjoin = true;
                let n = range(r, 3, 7);
                let d = amount(r, 1_000_000, 500_000_000);
                for (i, w) in distinct_wallets(r, n, p.wallets).into_iter().enumerate() {
                    let size = wallet_size(w);
                    let j = range(r, 0, size - 1);
                    let fee = u128::from(range(r, 1_000, 3_000));
                    let change = if i == 0 {
                        0
                    } else {
                        u128::from(range(r, 10_000, 30_000_000))
                    };
                    let v = d + fee + change;
                    if range(r, 0, 2) == 0 {
                        ins.push((wallet_address(w, j), v / 2));
                        ins.push((wallet_address(w, (j + 1) % size), v - v / 2));
                    } else {
                        ins.push((wallet_address(w, j), v));
                    }
                    outs.push((who(r), d));
                    if change > 0 {
                        outs.push((wallet_address(w, range(r, 0, size - 1)), change));
                    }
                }
            }
            // Wasabi: 10 to 30 wallets, equal 0.1 BTC outputs and change.
            _ => {
                coinjoin = true;
                let n = range(r, 10, 30);
                let d: u128 = 10_000_000;
                for w in distinct_wallets(r, n, p.wallets) {
                    let size = wallet_size(w);
                    let v = d + u128::from(range(r, 10_000, 50_000_000));
                    let fee = u128::from(range(r, 1_000, 5_000));
                    ins.push((wallet_address(w, range(r, 0, size - 1)), v));
                    outs.push((who(r), d));
                    outs.push((wallet_address(w, range(r, 0, size - 1)), v - d - fee));
                }
            }
        }
        self.tx2 += 1;
        let tx = txid(Chain::Bitcoin, 0xc1b0, self.tx2);
        if coinjoin && let Some(log) = &mut self.log {
            log.coinjoins.push(tx);
        }
        let used = (ins.len() + outs.len()) as u64;
        self.extra_btc_left = self.extra_btc_left.saturating_sub(used);
        let leg = |(address, y): (Address, u128)| Leg {
            address,
            amount: Amount::new(y),
        };
        out.push_back(Record::Utxo(UtxoTx {
            tx,
            block: block(Chain::Bitcoin, self.btc_h),
            index: self.extra_btc_pos.1,
            asset: Asset::Btc,
            inputs: ins.into_iter().map(leg).collect(),
            outputs: outs.into_iter().map(leg).collect(),
        }));
        self.extra_btc_pos.1 += 1;
    }

    /// One Ethereum transaction (or two) of the clustering traffic.
    fn extra_ethereum(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
        if self.extra_eth_pos.0 != self.eth_h {
            self.extra_eth_pos = (self.eth_h, EXTRA_INDEX);
        }
        let b = block(Chain::Ethereum, self.eth_h);
        let r = &mut self.rng2;
        let who = |r: &mut ChaCha8Rng| derived(Chain::Ethereum, 0, zipf(r, p.population));
        let gas = |r: &mut ChaCha8Rng| u128::from(range(r, 21_000, 60_000)) * 20_000_000_000;
        let k = range(r, 0, EXCHANGES.len() as u64 - 1) as usize;
        let usdt = range(r, 0, 3) == 0;
        let asset = if usdt { Asset::Erc20(USDT) } else { Asset::Eth };
        let value = |r: &mut ChaCha8Rng| {
            if usdt {
                amount(r, 10_000_000, 100_000_000_000)
            } else {
                amount(r, 10_000_000_000_000_000, 100_000_000_000_000_000_000)
            }
        };
        let mut txs: Vec<(Address, Address, u128, u128)> = Vec::new();
        match range(r, 0, 99) {
            // Customers pay a fresh deposit address once or twice; it sweeps later.
            0..=84 => {
                let j = self.next_deposit[k];
                self.next_deposit[k] += 1;
                let dep = sweep_deposit(k, j);
                let payments = if range(r, 0, 3) == 0 { 2 } else { 1 };
                let mut total = 0u128;
                for _ in 0..payments {
                    let v = value(r);
                    total += v;
                    let g = gas(r);
                    txs.push((who(r), dep, v, g));
                }
                let due = self.eth_h + range(r, 5, 1_500);
                self.pending.insert(
                    (due, self.sweep_seq),
                    Sweep {
                        exchange: k,
                        deposit: dep,
                        asset,
                        total,
                    },
                );
                self.sweep_seq += 1;
            }
            // A customer pays the hot wallet directly.
            85..=94 => {
                let v = value(r);
                let g = gas(r);
                txs.push((who(r), p.hot_eth[k], v, g));
            }
            // The hot wallet pays a customer out.
            _ => {
                let v = value(r);
                let g = gas(r);
                txs.push((p.hot_eth[k], who(r), v, g));
            }
        }
        for (from, to, v, g) in txs {
            self.tx2 += 1;
            let tx = txid(Chain::Ethereum, 0xc1e0, self.tx2);
            let index = self.extra_eth_pos.1;
            self.extra_eth_pos.1 += 1;
            let used = eth_pair(out, tx, b, index, asset, from, to, v, g);
            self.extra_eth_left = self.extra_eth_left.saturating_sub(used);
        }
    }

    /// Emits the sweeps due by the current Ethereum block (all of them with `all`).
    fn sweeps(&mut self, p: &Plan, out: &mut VecDeque<Record>, all: bool) {
        loop {
            let Some(entry) = self.pending.first_entry() else {
                return;
            };
            if !all && entry.key().0 > self.eth_h {
                return;
            }
            let ((due, _), s) = entry.remove_entry();
            if self.sweep_pos.0 != due {
                self.sweep_pos = (due, SWEEP_INDEX);
            }
            let b = block(Chain::Ethereum, due);
            let g = u128::from(range(&mut self.rng2, 21_000, 60_000)) * 20_000_000_000;
            let hot = p.hot_eth[s.exchange];
            let mut used = 0;
            let mut send = |bg: &mut Background, asset, from, to, y, gas| {
                bg.tx2 += 1;
                let tx = txid(Chain::Ethereum, 0xc1e0, bg.tx2);
                let index = bg.sweep_pos.1;
                bg.sweep_pos.1 += 1;
                used += eth_pair(out, tx, b, index, asset, from, to, y, gas);
            };
            if s.asset == Asset::Eth {
                // The deposit pays its own gas out of what it got.
                send(self, Asset::Eth, s.deposit, hot, s.total - g, g);
            } else {
                // The hot wallet first sends the deposit the gas for its token sweep.
                send(self, Asset::Eth, hot, s.deposit, g, g);
                send(self, s.asset, s.deposit, hot, s.total, g);
            }
            self.extra_eth_left = self.extra_eth_left.saturating_sub(used);
            if let Some(log) = &mut self.log {
                log.swept.push((s.deposit, s.exchange));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse() {
        for (_, b, e) in EXCHANGES {
            assert_eq!(Address::parse(b).unwrap().chain(), Chain::Bitcoin);
            assert_eq!(Address::parse(e).unwrap().chain(), Chain::Ethereum);
        }
        assert_eq!(
            Asset::Erc20(USDT).to_string(),
            "ERC20:0xdac17f958d2ee523a2206206994597c13d831ec7"
        );
    }

    #[test]
    fn same_seed_same_case() {
        let cfg = SyntheticConfig {
            transfers: 5_000,
            ..SyntheticConfig::default()
        };
        let (a, b) = (SyntheticCase::generate(&cfg), SyntheticCase::generate(&cfg));
        assert_eq!(a.records(), b.records());
        assert_eq!(a.truth, b.truth);
        let other = SyntheticCase::generate(&SyntheticConfig { seed: 1, ..cfg });
        assert_ne!(a.records(), other.records());
    }

    #[test]
    fn zipf_stays_in_range() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        for n in [1u64, 2, 3, 1_000, u64::from(u32::MAX)] {
            for _ in 0..1_000 {
                let x = zipf(&mut r, n);
                assert!((1..=n).contains(&x), "{x} of {n}");
            }
        }
    }
}
