//! The laundering flows: from each seed through peel chains, fan-out /
//! fan-in, mixing transactions, ERC-20 hops and wallets that mix in clean
//! funds, to exchange deposit addresses. Each flow uses fresh addresses,
//! and the [`oracle`](super::oracle) works out the value each deposit
//! receives as the flow is built.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::RngCore;
use rustc_hash::FxHashMap;

use super::oracle::{Ledger, Lots, T3};
use super::primitives::LAUNDER_INDEX;
use super::primitives::{block, derived, fresh, range, txid, zipf};
use super::{EXCHANGES, GroundTruth, TruthDeposit, USDT};
use crate::sources::{Leg, Record, Transfer, UtxoTx};
use crate::types::{Address, Amount, Asset, Chain, Position, Special, TxId};

pub(super) struct Launder {
    pub(super) rng: ChaCha8Rng,
    pub(super) records: Vec<Record>,
    pub(super) truth: GroundTruth,
    /// Laundering accounts (per address and asset) and the models applied
    /// to them.
    pub(super) ledger: Ledger,
    pub(super) deposits: Vec<Vec<Address>>,
    pub(super) next_index: FxHashMap<(Chain, u64), u32>,
    pub(super) tx_counter: u64,
    pub(super) population: u64,
    pub(super) hot_btc: Vec<Address>,
    pub(super) hot_eth: Vec<Address>,
    /// Ethereum deposits that sweep what they got to their hot wallet.
    pub(super) swept_eth: Vec<(Address, usize)>,
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
            Dest::Acct => self.ledger.receive(to, asset, y, t, lots),
            Dest::Deposit { exchange, hops } => self.truth.deposits.push(TruthDeposit {
                seed,
                cluster: EXCHANGES[exchange].0.into(),
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
        let amounts: Vec<u128> = outs.iter().map(|x| x.1).collect();
        let shares = self.ledger.utxo(seed, asset, ins, &amounts);
        for (&(a, o, dest), (t, lots)) in outs.iter().zip(shares) {
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
        let (t, lots) = self.ledger.debit(seed, from, asset, y);
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
            let _ = self.ledger.debit(seed, from, Asset::Eth, gas);
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

    pub(super) fn bitcoin_seed(&mut self, s: Address, start: u64, repeat: usize) {
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
                if self.rng.next_u32().is_multiple_of(4) {
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

    pub(super) fn ethereum_seed(&mut self, s: Address, start: u64, repeat: usize) {
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
