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
//!
//! # Files
//! * `mod.rs`: the public types: [`SyntheticConfig`], [`SyntheticCase`],
//!   [`GroundTruth`], [`ClusterTruth`], [`SyntheticSource`].
//! * `laundering`: the generator of the laundering flows, which records
//!   their ground truth as it goes.
//! * `oracle`: the value models' definitions that the laundering generator
//!   applies to each flow: the independent implementation the tracer is
//!   checked against. It does not use `crate::trace`'s value code (the
//!   only code it shares with it is `types::mul_div_floor`, the rounding
//!   primitive), so a bug there cannot hide itself in the truth.
//! * `background`: power-law background traffic; `clustering`: the
//!   background part that exercises [`crate::cluster`].
//! * `primitives`: addresses, transaction ids, blocks and random numbers.
// Casts here are of small random counts and of indices below the
// configured sizes; amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

mod background;
mod clustering;
mod laundering;
mod oracle;
mod primitives;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Result;
use crate::graph::{FlowGraph, GraphBuilder};
use crate::sources::{Record, Source};
use crate::trace::{Cluster, Model, ValueMap};
use crate::types::{Address, Amount, Asset, AssetInfo, Chain, ClusterName, TxId};
use background::{Background, TruthLog};
use laundering::Launder;
use oracle::Ledger;
use primitives::{BTC_START, ETH_START, derived, fresh, wallet_address, wallet_size};

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
    pub cluster: ClusterName,
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
    pub cluster: ClusterName,
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
        let mut map: BTreeMap<(Address, ClusterName), ExpectedFinding> = BTreeMap::new();
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
            ledger: Ledger::default(),
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

#[cfg(test)]
mod tests {
    use super::{EXCHANGES, SyntheticCase, SyntheticConfig, USDT};
    use crate::types::{Address, Asset, Chain};

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
}
