//! The oracle: the value models' definitions (poison, haircut, FIFO; see
//! [`crate::trace`]) applied to the accounts and transactions of one
//! laundering flow, as the generator builds it. A second implementation on
//! purpose: it does not call the tracer's value code, so the ground truth
//! it gives checks that code rather than repeats it. Each flow is a few
//! accounts and transactions, so it favours plainness over speed: O(lots)
//! per transfer.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::types::{Address, Asset, mul_div_floor};

/// Tainted amounts under poison (`p`), haircut (`h`) and FIFO (`f`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct T3 {
    pub(super) p: u128,
    pub(super) h: u128,
    pub(super) f: u128,
}

/// FIFO pieces (amount, tainted), oldest first.
pub(super) type Lots = Vec<(u128, bool)>;

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

/// The laundering accounts of a case, per address and asset, and the
/// models applied to each transfer between them.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    accts: FxHashMap<(Address, Asset), Acct>,
}

impl Ledger {
    /// What `from` sends of `y`: the seed sends pure taint; a laundering
    /// account its model shares; anyone else clean value.
    pub(super) fn debit(
        &mut self,
        seed: Address,
        from: Address,
        asset: Asset,
        y: u128,
    ) -> (T3, Lots) {
        if from == seed {
            return (T3 { p: y, h: y, f: y }, vec![(y, true)]);
        }
        match self.accts.get_mut(&(from, asset)) {
            Some(a) => a.send(y),
            None => (T3::default(), vec![(y, false)]),
        }
    }

    /// Credits `y`, carrying `t` and `lots`, to the laundering account of
    /// `to`.
    pub(super) fn receive(&mut self, to: Address, asset: Asset, y: u128, t: T3, lots: &Lots) {
        self.accts
            .entry((to, asset))
            .or_default()
            .receive(y, t, lots);
    }

    /// One UTXO transaction as a pass-through account: debits the inputs
    /// `ins` (address, amount) in order, then returns what each output
    /// amount of `outs` carries, in order (the fee, the difference, is
    /// paid last and not returned). Poison: every output wholly if any
    /// input is; haircut: each output its share of what is left, rounded
    /// down; FIFO: the first inputs' value fills the first outputs.
    pub(super) fn utxo(
        &mut self,
        seed: Address,
        asset: Asset,
        ins: &[(Address, u128)],
        outs: &[u128],
    ) -> Vec<(T3, Lots)> {
        let mut in_t = Vec::new();
        let mut queue: VecDeque<(u128, bool)> = VecDeque::new();
        for &(a, y) in ins {
            let (t, lots) = self.debit(seed, a, asset, y);
            queue.extend(lots);
            in_t.push(t);
        }
        let total: u128 = ins.iter().map(|x| x.1).sum();
        let out_sum: u128 = outs.iter().sum();
        assert!(
            out_sum <= total,
            "laundering transactions pay no more than their inputs"
        );
        let any = in_t.iter().any(|t| t.p > 0);
        let (mut bal, mut hc) = (total, in_t.iter().map(|t| t.h).sum::<u128>());
        let mut shares = Vec::with_capacity(outs.len());
        for &o in outs {
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
            shares.push((t, lots));
        }
        shares
    }
}
