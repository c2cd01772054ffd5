//! Background traffic: power-law payments among a population of
//! addresses on both chains, made lazily block by block, with exchange
//! deposit pools that consolidate into their hot wallets.

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::primitives::{
    BTC_START, ETH_START, EXTRA_INDEX, SWEEP_INDEX, amount, block, derived, range, txid, zipf,
};
use super::{EXCHANGES, Plan, USDT};
use crate::sources::{Leg, Record, Transfer, UtxoTx};
use crate::types::{Address, Amount, Asset, BlockRef, Chain, Position, Special, TxId};

pub(super) struct Background {
    pub(super) rng: ChaCha8Rng,
    pub(super) btc_left: u64,
    pub(super) eth_left: u64,
    pub(super) btc_h: u64,
    pub(super) eth_h: u64,
    pub(super) btc_index: u32,
    pub(super) eth_index: u32,
    pub(super) btc_per_block: u64,
    pub(super) eth_per_block: u64,
    pub(super) btc_in_block: u64,
    pub(super) eth_in_block: u64,
    pub(super) tx: u64,
    /// The clustering traffic draws its own numbers, so the rest of the
    /// background is the same sequence with or without it.
    pub(super) rng2: ChaCha8Rng,
    pub(super) extra_btc_left: u64,
    pub(super) extra_eth_left: u64,
    /// (height, next index) of the clustering traffic's positions.
    pub(super) extra_btc_pos: (u64, u32),
    pub(super) extra_eth_pos: (u64, u32),
    pub(super) sweep_pos: (u64, u32),
    pub(super) tx2: u64,
    /// Sweeps waiting for their block, by (height, sequence number).
    pub(super) pending: BTreeMap<(u64, u64), Sweep>,
    pub(super) sweep_seq: u64,
    pub(super) next_deposit: Vec<u64>,
    /// What [`SyntheticCase::cluster_truth`](super::SyntheticCase::cluster_truth) collects.
    pub(super) log: Option<TruthLog>,
}

/// A deposit address's sweep, due at a later block.
pub(super) struct Sweep {
    pub(super) exchange: usize,
    pub(super) deposit: Address,
    pub(super) asset: Asset,
    pub(super) total: u128,
}

#[derive(Default)]
pub(super) struct TruthLog {
    pub(super) swept: Vec<(Address, usize)>,
    pub(super) coinjoins: Vec<TxId>,
}

/// Pushes an Ethereum transaction: a transfer, then its gas (if any) paid by the sender.
#[allow(clippy::too_many_arguments)] // one transaction's fields; a struct would only rename them
pub(super) fn eth_pair(
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
pub(super) fn distinct_wallets(r: &mut ChaCha8Rng, n: u64, max: u64) -> Vec<u64> {
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
    pub(super) fn new(p: &Plan) -> Background {
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
    pub(super) fn step(&mut self, p: &Plan, out: &mut VecDeque<Record>) -> bool {
        self.sweeps(p, out, false);
        let main = self.btc_left > 0 || self.eth_left > 0;
        let extra = self.extra_btc_left > 0 || self.extra_eth_left > 0;
        if !main && !extra {
            self.sweeps(p, out, true);
            return !out.is_empty();
        }
        if extra && (!main || self.rng2.next_u32().is_multiple_of(5)) {
            let btc = self.extra_eth_left == 0
                || (self.extra_btc_left > 0 && self.rng2.next_u32().is_multiple_of(2));
            if btc {
                self.extra_bitcoin(p, out);
            } else {
                self.extra_ethereum(p, out);
            }
            return true;
        }
        let btc =
            self.eth_left == 0 || (self.btc_left > 0 && self.rng.next_u32().is_multiple_of(2));
        if btc {
            self.bitcoin(p, out)
        } else {
            self.ethereum(p, out)
        }
        true
    }

    pub(super) fn bitcoin(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
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

    pub(super) fn ethereum(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
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
