//! The trace-only index of forwarding events: a bit per event whose
//! receiver sends on inside the same transaction (a contract forwarding
//! what it was paid), and a bit per node that pays such an event. Derived
//! from the columns when a graph is frozen or loaded, never stored; only
//! the trace reads it ([`FlowGraph::forwards`],
//! [`FlowGraph::pays_forwarders`]). Costs a bit per event and a bit per
//! node.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::FlowGraph;
use super::adjacency::OutList;
use super::columns::Columns;

/// The events a receiver of which sends in a later event of the same
/// transaction, as a bit per event: where value moves on inside the
/// transaction that brought it, in the same hop. Per node, its incoming
/// events are merged with its outgoing ones (both in time order): an
/// incoming event is marked when the node's next outgoing event after it is
/// still inside its transaction. Linear in the adjacency, in parallel over
/// nodes. Also returns a bit per node: it sends in a marked event (the
/// senders of one-to-one events are their slots; of multi-leg events, their
/// input slots).
pub(crate) fn forwarding_events(cols: &Columns, n_events: usize) -> (Vec<u64>, Vec<u64>) {
    let zeros = |n: usize| -> Vec<AtomicU64> {
        (0..n.div_ceil(64))
            .into_par_iter()
            .with_min_len(1 << 14)
            .map(|_| AtomicU64::new(0))
            .collect()
    };
    let bits = zeros(n_events);
    let nodes = cols.out_off.len().saturating_sub(1);
    (0..nodes)
        .into_par_iter()
        .with_min_len(1 << 12)
        .for_each(|n| {
            let ins = &cols.in_adj[cols.in_off[n] as usize..cols.in_off[n + 1] as usize];
            let outs = OutList {
                words: &cols.out_adj[cols.out_off[n] as usize..cols.out_off[n + 1] as usize],
            };
            if ins.is_empty() || outs.is_empty() {
                return;
            }
            let mut next = outs.iter().peekable();
            for &e in ins {
                while next.next_if(|o| o.event <= e).is_some() {}
                let Some(o) = next.peek() else {
                    break;
                };
                if (o.event as usize) < cols.tx_start.next_one(e as usize + 1) {
                    bits[e as usize / 64].fetch_or(1 << (e % 64), Ordering::Relaxed);
                }
            }
        });
    let bits: Vec<u64> = bits.into_iter().map(AtomicU64::into_inner).collect();
    let payers = zeros(nodes);
    bits.par_iter().enumerate().for_each(|(w, &word)| {
        let mut b = word;
        while b != 0 {
            let e = (w * 64) as u32 + b.trailing_zeros();
            b &= b - 1;
            let (s, m, _) = cols.slots(e);
            for &n in &cols.slot_addr[s..m] {
                payers[n as usize / 64].fetch_or(1 << (n % 64), Ordering::Relaxed);
            }
        }
    });
    (
        bits,
        payers.into_iter().map(AtomicU64::into_inner).collect(),
    )
}

impl FlowGraph {
    /// Whether a receiver of `e` sends in a later event of `e`'s
    /// transaction (see [`forwarding_events`]).
    #[inline]
    pub(crate) fn forwards(&self, e: u32) -> bool {
        self.forwards
            .get(e as usize / 64)
            .is_some_and(|w| w & (1 << (e % 64)) != 0)
    }

    /// Whether `n` sends in an event of [`FlowGraph::forwards`].
    #[inline]
    pub(crate) fn pays_forwarders(&self, n: u32) -> bool {
        self.pays_forwarders
            .get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::FlowGraph;
    use crate::types::Address;

    /// An arrival is marked as forwarding when its receiver spends from
    /// the same transaction after it; the payers of such arrivals are marked
    /// as paying forwarders.
    #[test]
    fn forwarding_bits_mark_arrivals_their_receiver_spends_from_in_their_transaction() {
        use crate::sources::{Record, Transfer};
        use crate::types::{Amount, BlockHeight, BlockRef, Chain, Position, Timestamp, TxId};
        let addr = |n: u8| Address::ethereum([n; 20]);
        let t = |h: u64, sub: u32, from: u8, to: u8| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&h.to_be_bytes());
            Record::Transfer(Transfer {
                tx: TxId::new(Chain::Ethereum, id),
                block: BlockRef {
                    chain: Chain::Ethereum,
                    height: BlockHeight(h),
                    time: Timestamp(1_600_000_000 + h),
                },
                position: Position { index: 0, sub },
                asset: crate::types::Asset::Eth,
                from: addr(from),
                to: addr(to),
                amount: Amount::new(10),
            })
        };
        // Events in time order: 0: 1 -> 2 (tx 1); 1: 1 -> 2, 2: 2 -> 3, 3: 3 -> 1
        // (tx 2: 2 forwards, 3 forwards, 1 does not: nothing after); 4: 2 -> 4 (tx 3).
        let g = FlowGraph::from_records(
            "fwd",
            vec![
                t(1, 0, 1, 2),
                t(2, 0, 1, 2),
                t(2, 1, 2, 3),
                t(2, 2, 3, 1),
                t(3, 0, 2, 4),
            ],
        )
        .unwrap();
        let marked: Vec<u32> = (0..5).filter(|&e| g.forwards(e)).collect();
        assert_eq!(marked, [1, 2]);
        let n = |a: u8| g.node(&addr(a)).unwrap().0;
        assert!(g.pays_forwarders(n(1)) && g.pays_forwarders(n(2)));
        assert!(!g.pays_forwarders(n(3)) && !g.pays_forwarders(n(4)));
    }
}
