//! Clustering traffic (see "Clustering truth" in the module documentation
//! of [`crate::synthetic`]): multi-address wallets, CoinJoins, Ethereum
//! deposit addresses that sweep to their exchange, and hot-wallet payouts.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use super::background::{Background, Sweep, distinct_wallets, eth_pair};
use super::primitives::{
    EXTRA_INDEX, SWEEP_INDEX, amount, block, derived, range, sweep_deposit, txid, wallet_address,
    wallet_size, zipf,
};
use super::{EXCHANGES, Plan, USDT};
use crate::sources::{Leg, Record, UtxoTx};
use crate::types::{Address, Amount, Asset, Chain};

impl Background {
    /// One Bitcoin transaction of the clustering traffic.
    pub(super) fn extra_bitcoin(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
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
    pub(super) fn extra_ethereum(&mut self, p: &Plan, out: &mut VecDeque<Record>) {
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
    pub(super) fn sweeps(&mut self, p: &Plan, out: &mut VecDeque<Record>, all: bool) {
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
