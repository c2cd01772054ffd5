//! Address clustering: which addresses belong to one owner, above all to one
//! exchange, each with the evidence that put it there.
//!
//! [`Clustering::build`] runs over a frozen [`FlowGraph`] and a [`LabelSet`] and gives a
//! [`Clustering`]: disjoint groups of addresses (a union-find over the graph's
//! nodes, petgraph's [`UnionFind`]), the exchange deposit clusters among them
//! ([`Clustering::exchange_clusters`], ready for [`trace_seeds`](crate::trace_seeds)), and
//! for every member its [`Evidence`]. Three sources of membership:
//!
//! * **Labels.** Every address with an exchange label ([`Category::Exchange`]
//!   and a known exchange name) belongs to that exchange, on any chain. An
//!   address labelled with two different exchanges is left out of both, with
//!   a warning.
//! * **Common-input ownership** (Bitcoin; Meiklejohn et al., "A Fistful of
//!   Bitcoins", IMC 2013): the distinct input addresses of one transaction
//!   (pseudo-addresses such as `unknown` left out) are spent by one owner and
//!   belong together, except in CoinJoin-shaped transactions, whose inputs
//!   belong to different people ([`ClusterConfig::coinjoin`] lists the
//!   shapes and thresholds).
//! * **Deposit forwarding** (Ethereum; Victor, "Address clustering
//!   heuristics for Ethereum", FC 2020): an address *D* is a deposit address
//!   of exchange *X* when it forwards what it received to an address labelled
//!   *X* within [`ClusterConfig::deposit_max_blocks`] blocks, and the amount
//!   forwarded differs from what arrived by at most
//!   [`ClusterConfig::deposit_tolerance_hundredths`] hundredths of one whole
//!   unit of the asset (default 0.01 ETH = 10^16 wei; for an ERC-20 token the
//!   same 0.01 whole tokens, 10^(decimals − 2) base units, decimals from
//!   [`FlowGraph::asset_info`], 18 when unknown). "What it received" is one
//!   receipt, or the sum of the receipts since *D*'s previous outflow of the
//!   asset. ERC-20 sweeps count like ether ones. With
//!   [`ClusterConfig::deposit_exclusive`] (the default) every outflow of *D*
//!   other than gas must go to addresses labelled *X*: a deposit address pays
//!   nobody else. *D*'s senders are the exchange's customers, not members.
//!   Arithmetic is exact integer arithmetic.
//!
//! # Super-cluster guard
//! A transaction whose inputs lie in groups labelled with two different
//! exchanges merges nothing; it is reported as a [`RefusedMerge`]. (One
//! mislabelled or shared input would otherwise fuse two exchanges, and then
//! everything both of them touch.) A deposit address that forwards to two
//! exchanges is refused the same way.
//!
//! # Determinism
//! Transactions are processed in the graph's time order, which does not
//! depend on the order sources were loaded; groups, members and reports are
//! sorted by address. The deposit scan runs on rayon and is sorted before use,
//! so the result is the same for any number of threads.
//!
//! # Example
//! ```
//! use fundtrace::cluster::{ClusterConfig, Clustering, Evidence};
//! use fundtrace::{Address, Amount, Asset, BlockHeight, BlockRef, Chain, FlowGraph, LabelSet};
//! use fundtrace::{Leg, Record, Timestamp, TxId, UtxoTx};
//!
//! let hot: Address = "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo".parse()?;
//! let deposit: Address = "1FCNgfZWpYMeYhy9t18AAkTBu8AsdoAc1Z".parse()?;
//! let payee: Address = "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ".parse()?;
//! // The exchange spends its hot wallet together with a deposit address.
//! let tx = Record::Utxo(UtxoTx {
//!     tx: TxId::new(Chain::Bitcoin, [1; 32]),
//!     block: BlockRef { chain: Chain::Bitcoin, height: BlockHeight(800_000), time: Timestamp(1_690_000_000) },
//!     index: 1,
//!     asset: Asset::Btc,
//!     inputs: vec![Leg { address: hot, amount: Amount::new(700) }, Leg { address: deposit, amount: Amount::new(300) }],
//!     outputs: vec![Leg { address: payee, amount: Amount::new(900) }],
//! });
//! let graph = FlowGraph::from_records("example", vec![tx])?;
//! let csv = "chain,address,label,category\nbitcoin,34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo,Binance 1,exchange\n";
//! let labels = LabelSet::parse("labels.csv", csv.as_bytes())?;
//!
//! let clustering = Clustering::build(&graph, &labels, &ClusterConfig::default());
//! let binance = &clustering.exchange_clusters()[0];
//! assert_eq!(binance.name, "binance");
//! assert_eq!(binance.members.len(), 2);
//! assert!(matches!(clustering.evidence(&deposit), Some(Evidence::CommonInput { joined_with, .. }) if *joined_with == hot));
//! assert!(matches!(clustering.evidence(&hot), Some(Evidence::Label(_))));
//! # Ok::<(), fundtrace::Error>(())
//! ```
// Index casts: the graph builder refuses graphs past 2^31 addresses or events
// or 2^32 - 100,001 legs (see `limits`), so u32/usize index casts cannot
// truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;

use petgraph::unionfind::UnionFind;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::graph::{EventInfo, FlowGraph, NONE};
use crate::labels::{Category, Label, LabelSet};
use crate::trace::Cluster;
use crate::types::{Address, Amount, Asset, Chain, TxId};

/// Thresholds of the clustering heuristics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Apply the Bitcoin common-input-ownership heuristic (default true).
    pub common_input: bool,
    /// Apply the Ethereum deposit-address heuristic (default true).
    pub deposits: bool,
    /// The most blocks between a receipt and its forward (default 10,000,
    /// about 33 hours of Ethereum blocks; exchanges sweep within hours).
    pub deposit_max_blocks: u64,
    /// The largest difference between what arrived and what was forwarded,
    /// in hundredths of one whole unit of the asset (default 1: 0.01 ETH =
    /// 10^16 wei, or 0.01 whole tokens). It covers the gas a deposit address
    /// pays for its own sweep (21,000 gas at up to ~470 gwei) and the dust
    /// exchanges leave behind.
    pub deposit_tolerance_hundredths: u64,
    /// Require every outflow of a deposit address, other than to
    /// pseudo-addresses (gas), to go to addresses labelled with the same
    /// exchange (default true). Ordinary wallets that once paid an exchange
    /// directly then do not count as its deposit addresses.
    pub deposit_exclusive: bool,
    /// Whirlpool: exactly this many inputs and this many outputs, all of one
    /// value (default 5, Samourai Whirlpool's 5-in/5-out mixes).
    pub whirlpool_size: usize,
    /// Wasabi: at least this many inputs (default 10) ...
    pub wasabi_min_inputs: usize,
    /// ... and at least this many outputs whose value another output repeats
    /// (default 10; Wasabi 1.x rounds have dozens of outputs of one
    /// denomination, WabiSabi rounds several standard denominations).
    pub wasabi_min_equal_outputs: usize,
    /// JoinMarket: at least this many outputs of one value (default 3: a
    /// taker and two makers), at most as many other (change) outputs, and at
    /// least as many inputs as equal outputs. Values below 2 make ordinary
    /// payments look like CoinJoins.
    pub joinmarket_min_equal_outputs: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            common_input: true,
            deposits: true,
            deposit_max_blocks: 10_000,
            deposit_tolerance_hundredths: 1,
            deposit_exclusive: true,
            whirlpool_size: 5,
            wasabi_min_inputs: 10,
            wasabi_min_equal_outputs: 10,
            joinmarket_min_equal_outputs: 3,
        }
    }
}

setters!(ClusterConfig {
    with_common_input => common_input: bool,
    with_deposits => deposits: bool,
    with_deposit_max_blocks => deposit_max_blocks: u64,
    with_deposit_tolerance_hundredths => deposit_tolerance_hundredths: u64,
    with_deposit_exclusive => deposit_exclusive: bool,
    with_whirlpool_size => whirlpool_size: usize,
    with_wasabi_min_inputs => wasabi_min_inputs: usize,
    with_wasabi_min_equal_outputs => wasabi_min_equal_outputs: usize,
    with_joinmarket_min_equal_outputs => joinmarket_min_equal_outputs: usize,
});

/// The CoinJoin shapes that the common-input heuristic skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CoinJoinKind {
    /// Samourai Whirlpool: n inputs, n outputs of one value.
    Whirlpool,
    /// Wasabi (1.x one denomination, 2.x WabiSabi several): many inputs,
    /// many outputs of repeated values.
    Wasabi,
    /// JoinMarket: p ≥ 3 outputs of one value, at most p change outputs.
    JoinMarket,
}

impl ClusterConfig {
    /// The CoinJoin shape of a transaction, if it has one. Inputs and outputs
    /// to pseudo-addresses (`unknown`, `fees`, `burn`) do not count. The
    /// shapes, checked in this order (n inputs; of the outputs, p share the
    /// most common value and r repeat some other output's value):
    ///
    /// * **Whirlpool**: n = m = p = [`whirlpool_size`](Self::whirlpool_size) (5);
    /// * **Wasabi**: n ≥ [`wasabi_min_inputs`](Self::wasabi_min_inputs) (10) and
    ///   r ≥ [`wasabi_min_equal_outputs`](Self::wasabi_min_equal_outputs) (10);
    /// * **JoinMarket**: p ≥ [`joinmarket_min_equal_outputs`](Self::joinmarket_min_equal_outputs)
    ///   (3), at most p other outputs (change, possibly none) and n ≥ p
    ///   (every participant brings at least one input).
    ///
    /// A transaction with fewer than 2 inputs or 2 outputs is never a CoinJoin.
    ///
    /// ```
    /// use fundtrace::cluster::{ClusterConfig, CoinJoinKind};
    /// use fundtrace::{Address, Amount, Asset, BlockHeight, BlockRef, Chain, EventInfo, Timestamp, TxId};
    /// let who = |i: u8| Address::ethereum([i; 20]); // any addresses will do
    /// let event = EventInfo {
    ///     tx: TxId::new(Chain::Bitcoin, [0; 32]),
    ///     block: BlockRef { chain: Chain::Bitcoin, height: BlockHeight(1), time: Timestamp(1) },
    ///     asset: Asset::Btc,
    ///     inputs: (1..=5).map(|i| (who(i), Amount::new(1_001_000))).collect(),
    ///     outputs: (6..=10).map(|i| (who(i), Amount::new(1_000_000))).collect(),
    /// };
    /// assert_eq!(ClusterConfig::default().coinjoin(&event), Some(CoinJoinKind::Whirlpool));
    /// ```
    pub fn coinjoin(&self, event: &EventInfo) -> Option<CoinJoinKind> {
        let n_in = event
            .inputs
            .iter()
            .filter(|(a, _)| a.as_special().is_none())
            .count();
        let mut outs: Vec<u128> = event
            .outputs
            .iter()
            .filter(|(a, _)| a.as_special().is_none())
            .map(|(_, v)| v.get())
            .collect();
        self.shape(n_in, &mut outs)
    }

    fn shape(&self, n_in: usize, outs: &mut [u128]) -> Option<CoinJoinKind> {
        if n_in < 2 || outs.len() < 2 {
            return None;
        }
        outs.sort_unstable();
        let (mut most, mut repeated, mut run) = (0usize, 0usize, 1usize);
        for i in 1..=outs.len() {
            if i < outs.len() && outs[i] == outs[i - 1] {
                run += 1;
                continue;
            }
            most = most.max(run);
            if run >= 2 {
                repeated += run;
            }
            run = 1;
        }
        let m = outs.len();
        let w = self.whirlpool_size;
        if n_in == w && m == w && most == w {
            return Some(CoinJoinKind::Whirlpool);
        }
        if n_in >= self.wasabi_min_inputs && repeated >= self.wasabi_min_equal_outputs {
            return Some(CoinJoinKind::Wasabi);
        }
        if most >= self.joinmarket_min_equal_outputs && m - most <= most && n_in >= most {
            return Some(CoinJoinKind::JoinMarket);
        }
        None
    }

    /// The deposit tolerance in base units of `asset`:
    /// `hundredths × 10^decimals / 100`, rounded down (saturating).
    pub fn deposit_tolerance(&self, graph: &FlowGraph, asset: &Asset) -> u128 {
        let decimals = asset
            .native_decimals()
            .or_else(|| graph.asset_info(asset).map(|i| i.decimals))
            .unwrap_or(18);
        let unit = 10u128.checked_pow(u32::from(decimals)).unwrap_or(u128::MAX);
        unit.saturating_mul(u128::from(self.deposit_tolerance_hundredths)) / 100
    }
}

/// Why an address is a member of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Evidence {
    /// An exchange label, with its source file and location.
    Label(Label),
    /// Spent as an input of `tx` together with `joined_with` (the first
    /// transaction that joined it).
    CommonInput {
        /// The transaction.
        tx: TxId,
        /// Another input address of it (the first other one, in input order).
        joined_with: Address,
    },
    /// Forwarded what it received to a labelled exchange address (the first
    /// such forward).
    DepositForward {
        /// The (earliest) receipt that the forward matches.
        received_tx: TxId,
        /// The forward.
        forward_tx: TxId,
        /// The labelled exchange address it forwarded to.
        hot_wallet: Address,
        /// The asset.
        asset: Asset,
        /// Blocks between the (earliest) receipt and the forward.
        blocks_later: u64,
        /// Receipts summed (1 when one receipt matches).
        receipts: u32,
        /// What arrived, in base units.
        received: Amount,
        /// What was forwarded, in base units.
        forwarded: Amount,
    },
}

/// A merge that the super-cluster guard refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedMerge {
    /// The transaction that would have merged (for a deposit address: its
    /// forward to the second exchange).
    pub tx: TxId,
    /// The exchange labels that would have been fused, sorted.
    pub labels: Vec<String>,
    /// The addresses involved: the transaction's distinct inputs, or the
    /// deposit address.
    pub addresses: Vec<Address>,
}

/// A transaction skipped as CoinJoin-shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoinJoinTx {
    /// The transaction.
    pub tx: TxId,
    /// Its shape.
    pub kind: CoinJoinKind,
}

/// An entity: a group of addresses believed to have one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    /// The exchange, when the group has an exchange-labelled member.
    pub exchange: Option<String>,
    /// The members, sorted.
    pub members: Vec<Address>,
}

/// Counts, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClusterStats {
    /// Bitcoin transactions with two or more distinct input addresses.
    pub multi_input_txs: u64,
    /// Of those, the ones skipped as CoinJoin-shaped.
    pub coinjoins: u64,
    /// Of those, the ones the guard refused.
    pub refused: u64,
    /// Addresses that sent to a labelled exchange address on Ethereum.
    pub deposit_candidates: u64,
    /// Of those, the ones found to be deposit addresses.
    pub deposits: u64,
}

/// The outcome of [`Clustering::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clustering {
    entities: Vec<Entity>,
    members: BTreeMap<Address, (u32, Evidence)>,
    refused: Vec<RefusedMerge>,
    coinjoins: Vec<CoinJoinTx>,
    warnings: Vec<String>,
    stats: ClusterStats,
}

impl Clustering {
    /// The exchange deposit clusters, one per exchange name, sorted by name;
    /// members sorted. Feed them to [`trace_seeds`](crate::trace_seeds).
    pub fn exchange_clusters(&self) -> Vec<Cluster> {
        let mut v: Vec<Cluster> = self
            .entities
            .iter()
            .filter_map(|g| {
                g.exchange
                    .as_ref()
                    .map(|n| Cluster::new(n.clone(), g.members.clone()))
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Why `address` is in its group; `None` if it is in none (an unlabelled
    /// address that no heuristic joined to another).
    pub fn evidence(&self, address: &Address) -> Option<&Evidence> {
        self.members.get(address).map(|(_, e)| e)
    }

    /// The group of `address`, if it is in one.
    pub fn entity_of(&self, address: &Address) -> Option<&Entity> {
        self.group_index(address).map(|i| &self.entities[i])
    }

    /// The index in [`entities`](Self::entities) of the entity of `address`.
    pub fn group_index(&self, address: &Address) -> Option<usize> {
        self.members.get(address).map(|(g, _)| *g as usize)
    }

    /// Every entity: exchange clusters and unlabelled groups of two or more
    /// addresses, sorted by their first member.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// Merges the super-cluster guard refused, in time order.
    pub fn refused(&self) -> &[RefusedMerge] {
        &self.refused
    }

    /// Transactions skipped as CoinJoin-shaped, in time order.
    pub fn coinjoins(&self) -> &[CoinJoinTx] {
        &self.coinjoins
    }

    /// Problems that did not stop clustering (conflicting labels).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Counts.
    pub fn stats(&self) -> ClusterStats {
        self.stats
    }
}

/// A group before it is published: its exchange and its (address, node)
/// members (`NONE` for labelled addresses the graph does not hold).
type RawGroup = (Option<u32>, Vec<(Address, u32)>);

/// A deposit address found, before it is applied.
struct DepositFound {
    node: u32,
    exchange: u32,
    evidence: Evidence,
}

enum DepositOutcome {
    Member(DepositFound),
    Refused(RefusedMerge),
}

impl Clustering {
    /// Clusters the graph's addresses with the labels and heuristics described in
    /// the [module documentation](self).
    ///
    /// Runs on the current rayon thread pool; the result is the same for any
    /// number of threads and any load order of the graph's sources.
    ///
    /// # Complexity
    /// O(L α(N)) for the common-input pass over L input legs; for deposits,
    /// the receipts within the block window of each forward to a labelled
    /// address; O(N log N) to sort the groups.
    pub fn build(graph: &FlowGraph, labels: &LabelSet, config: &ClusterConfig) -> Clustering {
        let n = graph.address_count();
        let _span = tracing::info_span!("cluster", addresses = n).entered();
        let addrs = graph.addresses();
        let mut warnings = Vec::new();
        let mut stats = ClusterStats::default();

        // Exchange labels: name index per address; two names: left out.
        let exchanges = labels.exchanges();
        let names: Vec<String> = exchanges.keys().cloned().collect();
        let mut entity_of: BTreeMap<Address, Vec<u32>> = BTreeMap::new();
        for (i, list) in exchanges.values().enumerate() {
            for a in list {
                entity_of.entry(*a).or_default().push(i as u32);
            }
        }
        entity_of.retain(|a, es| {
            if es.len() > 1 {
                let shown: Vec<&str> = es.iter().map(|&e| names[e as usize].as_str()).collect();
                warnings.push(format!(
                    "address {a} carries the exchange labels {}; left out of all of them",
                    shown.join(", ")
                ));
                false
            } else {
                true
            }
        });

        let special: Vec<bool> = addrs.iter().map(|a| a.as_special().is_some()).collect();
        let mut node_label = vec![NONE; n];
        let mut anchor = vec![NONE; names.len()];
        let mut uf = UnionFind::<u32>::new(n);
        let mut root_label = vec![NONE; n];
        let mut off_graph: Vec<(Address, u32)> = Vec::new();
        for (a, es) in &entity_of {
            let e = es[0];
            match graph.node(a) {
                Some(node) => {
                    let node = node.index() as u32;
                    node_label[node as usize] = e;
                    if anchor[e as usize] == NONE {
                        anchor[e as usize] = node;
                    } else {
                        uf.union(anchor[e as usize], node);
                    }
                }
                None => off_graph.push((*a, e)),
            }
        }
        for (e, &a) in anchor.iter().enumerate() {
            if a != NONE {
                let r = uf.find_mut(a);
                root_label[r as usize] = e as u32;
            }
        }

        // Common-input ownership, in time order.
        let mut refused = Vec::new();
        let mut coinjoins = Vec::new();
        let mut joined: Vec<(u32, u32)> = vec![(NONE, NONE); n];
        if config.common_input {
            let mut seen = vec![NONE; n];
            let mut ins: Vec<u32> = Vec::new();
            let mut outs: Vec<u128> = Vec::new();
            let mut labs: Vec<u32> = Vec::new();
            for e in 0..graph.event_count() as u32 {
                if graph.input_count(e) < 2 || graph.asset_of(e).chain() != Chain::Bitcoin {
                    continue;
                }
                ins.clear();
                let mut n_in = 0usize;
                for (a, _) in graph.inputs(e) {
                    if special[a as usize] {
                        continue;
                    }
                    n_in += 1;
                    if seen[a as usize] != e {
                        seen[a as usize] = e;
                        ins.push(a);
                    }
                }
                if ins.len() < 2 {
                    continue;
                }
                stats.multi_input_txs += 1;
                outs.clear();
                for (a, v) in graph.outputs(e) {
                    if !special[a as usize] {
                        outs.push(v);
                    }
                }
                if let Some(kind) = config.shape(n_in, &mut outs) {
                    stats.coinjoins += 1;
                    coinjoins.push(CoinJoinTx {
                        tx: graph.txid_of(e),
                        kind,
                    });
                    continue;
                }
                labs.clear();
                for &a in &ins {
                    let l = root_label[uf.find_mut(a) as usize];
                    if l != NONE && !labs.contains(&l) {
                        labs.push(l);
                    }
                }
                if labs.len() > 1 {
                    stats.refused += 1;
                    let mut names_here: Vec<String> =
                        labs.iter().map(|&l| names[l as usize].clone()).collect();
                    names_here.sort();
                    let mut involved: Vec<Address> =
                        ins.iter().map(|&a| addrs[a as usize]).collect();
                    involved.sort();
                    refused.push(RefusedMerge {
                        tx: graph.txid_of(e),
                        labels: names_here,
                        addresses: involved,
                    });
                    continue;
                }
                let first = ins[0];
                for &a in &ins[1..] {
                    uf.union(first, a);
                }
                let r = uf.find_mut(first);
                root_label[r as usize] = labs.first().copied().unwrap_or(NONE);
                for (j, &a) in ins.iter().enumerate() {
                    if joined[a as usize].0 == NONE {
                        joined[a as usize] = (e, if j == 0 { ins[1] } else { first });
                    }
                }
            }
        }

        // Deposit addresses on Ethereum.
        let mut deposit_evidence: FxHashMap<u32, Evidence> = FxHashMap::default();
        if config.deposits {
            let mut cands: Vec<(u32, u32, u32)> = Vec::new(); // (deposit, exchange, forward event)
            for (node, &x) in node_label.iter().enumerate() {
                if x == NONE || addrs[node].chain() != Chain::Ethereum {
                    continue;
                }
                for &f in graph.in_events(node as u32) {
                    if graph.input_count(f) != 1 || graph.asset_of(f).chain() != Chain::Ethereum {
                        continue;
                    }
                    let Some((d, _)) = graph.inputs(f).next() else {
                        continue;
                    };
                    if special[d as usize] || node_label[d as usize] != NONE {
                        continue;
                    }
                    cands.push((d, x, f));
                }
            }
            cands.par_sort_unstable();
            cands.dedup();
            let groups: Vec<&[(u32, u32, u32)]> = cands.chunk_by(|a, b| a.0 == b.0).collect();
            stats.deposit_candidates = groups.len() as u64;
            let ctx = DepositCtx {
                graph,
                config,
                node_label: &node_label,
                special: &special,
                names: &names,
            };
            let mut outcomes: Vec<(Address, DepositOutcome)> = groups
                .par_iter()
                .filter_map(|g| ctx.deposit_of(g).map(|o| (addrs[g[0].0 as usize], o)))
                .collect();
            outcomes.sort_by_key(|a| a.0);
            for (_, o) in outcomes {
                match o {
                    DepositOutcome::Member(found) => {
                        stats.deposits += 1;
                        let a = anchor[found.exchange as usize];
                        uf.union(a, found.node);
                        let r = uf.find_mut(a);
                        root_label[r as usize] = found.exchange;
                        deposit_evidence.insert(found.node, found.evidence);
                    }
                    DepositOutcome::Refused(r) => refused.push(r),
                }
            }
        }

        // Groups: every set of two or more addresses, and every labelled one.
        let mut by_root: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for node in 0..n as u32 {
            if !special[node as usize] {
                let r = uf.find_mut(node);
                by_root.entry(r).or_default().push(node);
            }
        }
        let mut raw: Vec<RawGroup> = by_root
            .into_iter()
            .filter(|(r, m)| m.len() >= 2 || root_label[*r as usize] != NONE)
            .map(|(r, m)| {
                let l = root_label[r as usize];
                let mut v: Vec<(Address, u32)> =
                    m.into_iter().map(|x| (addrs[x as usize], x)).collect();
                v.sort_unstable();
                ((l != NONE).then_some(l), v)
            })
            .collect();
        let mut of_exchange: BTreeMap<u32, usize> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, (l, _))| l.map(|l| (l, i)))
            .collect();
        for (a, e) in off_graph {
            match of_exchange.get(&e) {
                Some(&i) => raw[i].1.push((a, NONE)),
                None => {
                    of_exchange.insert(e, raw.len());
                    raw.push((Some(e), vec![(a, NONE)]));
                }
            }
        }
        for (_, v) in &mut raw {
            v.sort_unstable();
        }
        raw.sort_by(|a, b| a.1[0].0.cmp(&b.1[0].0));
        let exchange_label = |a: &Address, e: u32| {
            labels
                .get(a)
                .iter()
                .find(|l| {
                    l.category == Category::Exchange
                        && l.entity.as_deref() == Some(names[e as usize].as_str())
                })
                .cloned()
        };
        let mut entities = Vec::with_capacity(raw.len());
        let mut members = BTreeMap::new();
        for (gi, (label, list)) in raw.into_iter().enumerate() {
            for &(a, node) in &list {
                let lab = entity_of.get(&a).map(|es| es[0]);
                let evidence = if let Some(l) = lab.and_then(|e| exchange_label(&a, e)) {
                    Evidence::Label(l)
                } else if let Some(ev) = deposit_evidence.remove(&node) {
                    ev
                } else if node != NONE && joined[node as usize].0 != NONE {
                    let (e, with) = joined[node as usize];
                    Evidence::CommonInput {
                        tx: graph.txid_of(e),
                        joined_with: addrs[with as usize],
                    }
                } else {
                    // Unreachable by construction: every union records why.
                    continue;
                };
                members.insert(a, (gi as u32, evidence));
            }
            entities.push(Entity {
                exchange: label.map(|l| names[l as usize].clone()),
                members: list.into_iter().map(|(a, _)| a).collect(),
            });
        }
        tracing::info!(
            entities = entities.len(),
            members = members.len(),
            multi_input_txs = stats.multi_input_txs,
            coinjoins = stats.coinjoins,
            refused = stats.refused,
            deposits = stats.deposits,
            "clustered"
        );
        Clustering {
            entities,
            members,
            refused,
            coinjoins,
            warnings,
            stats,
        }
    }
}

struct DepositCtx<'a> {
    graph: &'a FlowGraph,
    config: &'a ClusterConfig,
    node_label: &'a [u32],
    special: &'a [bool],
    names: &'a [String],
}

impl DepositCtx<'_> {
    /// Decides one candidate deposit address from its forwards to labelled
    /// addresses, `(deposit, exchange, forward event)` sorted.
    fn deposit_of(&self, cands: &[(u32, u32, u32)]) -> Option<DepositOutcome> {
        let g = self.graph;
        let d = cands[0].0;
        if self.config.deposit_exclusive {
            let x = cands[0].1;
            for o in g.out_edges(d) {
                for (to, _) in g.outputs_to(o.event, o.target) {
                    let to = to as usize;
                    if !self.special[to] && self.node_label[to] != x {
                        return None;
                    }
                }
            }
        }
        // First matching forward per exchange.
        let mut first: BTreeMap<u32, (u32, Evidence)> = BTreeMap::new();
        for &(_, x, f) in cands {
            if first.contains_key(&x) {
                continue;
            }
            if let Some(ev) = self.match_forward(d, f) {
                first.insert(x, (f, ev));
            }
        }
        let mut it = first.into_iter();
        let (x, (_, evidence)) = it.next()?;
        let rest: Vec<(u32, (u32, Evidence))> = it.collect();
        if rest.is_empty() {
            return Some(DepositOutcome::Member(DepositFound {
                node: d,
                exchange: x,
                evidence,
            }));
        }
        let mut labels: Vec<String> = std::iter::once(x)
            .chain(rest.iter().map(|r| r.0))
            .map(|l| self.names[l as usize].clone())
            .collect();
        labels.sort();
        let tx = rest.iter().map(|r| r.1.0).min().unwrap_or(cands[0].2);
        Some(DepositOutcome::Refused(RefusedMerge {
            tx: g.txid_of(tx),
            labels,
            addresses: vec![g.addresses()[d as usize]],
        }))
    }

    /// Whether forward `f` by `d` passes on what `d` received: one receipt,
    /// or the sum of those since `d`'s previous outflow of the asset, within
    /// the block window and the tolerance. Walks receipts newest first.
    fn match_forward(&self, d: u32, f: u32) -> Option<Evidence> {
        let g = self.graph;
        let asset = g.asset_of(f);
        let (to, forwarded) = g.outputs(f).next()?;
        let fb = g.block_of(f);
        let lowest = fb.height.0.saturating_sub(self.config.deposit_max_blocks);
        let tol = self.config.deposit_tolerance(g, &asset);
        let close = |a: u128| a.abs_diff(forwarded) <= tol;
        // The previous outflow of this asset to a real address bounds the sum.
        let outs = g.out_edges(d);
        let k = outs.partition_point(|x| x < f);
        let boundary = outs
            .prefix(k)
            .iter()
            .rev()
            .find(|o| {
                g.asset_of(o.event) == asset
                    && g.outputs_to(o.event, o.target)
                        .any(|(a, _)| !self.special[a as usize])
            })
            .map(|o| o.event);
        let ins = g.in_events(d);
        let upto = ins.partition_point(|&r| r < f);
        let mut sum = Some(0u128);
        let mut count = 0u32;
        for &r in ins[..upto].iter().rev() {
            let rb = g.block_of(r);
            if rb.height.0 < lowest {
                break;
            }
            if g.asset_of(r) != asset {
                continue;
            }
            let mut received = 0u128;
            // `r` is one of `d`'s receipts: a one-to-one one pays `d`.
            for (a, v) in g.outputs_to(r, d) {
                if a == d {
                    received = received.saturating_add(v);
                }
            }
            if boundary.is_some_and(|b| r < b) {
                sum = None;
            }
            sum = sum.and_then(|s| s.checked_add(received));
            count = count.saturating_add(1);
            let (hit, amount, receipts) = if close(received) {
                (true, received, 1)
            } else {
                match sum {
                    Some(s) if close(s) => (true, s, count),
                    _ => (false, 0, 0),
                }
            };
            if hit {
                return Some(Evidence::DepositForward {
                    received_tx: g.txid_of(r),
                    forward_tx: g.txid_of(f),
                    hot_wallet: g.addresses()[to as usize],
                    asset,
                    blocks_later: fb.height.0.saturating_sub(rb.height.0),
                    receipts,
                    received: Amount::new(amount),
                    forwarded: Amount::new(forwarded),
                });
            }
        }
        None
    }
}
