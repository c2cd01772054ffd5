//! The stream search's index of the events: a word per event (8 bytes per
//! event, built once per [`Tracer`](crate::Tracer) in O(events + out-edge
//! words)), and the event run of each chain.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::graph::{FlowGraph, RECV, prefetch};
use crate::types::Chain;

/// In an [`event_words`] word: a multi-leg event (in the low half, which
/// for a one-to-one event holds its sender, a node below 2^31).
pub(super) const MULTI: u64 = 1 << 31;
/// In an [`event_words`] word of a one-to-one event: it pays an address
/// that sends later in its transaction ([`FlowGraph::forwards`]).
pub(super) const FWD: u64 = 1 << 63;

/// A word per event for the pass, so that it reads one sequential column:
/// a one-to-one event's sender (low half) and receiver (high half, which
/// the graph keeps only in the sender's adjacency), with [`FWD`]; a
/// multi-leg event's [`MULTI`] and first slot (high half). Built once per
/// [`Tracer`](crate::trace::Tracer), in parallel; 8 bytes per event.
///
/// A one-to-one event is in its sender's out-edges once, with its
/// receiver: one pass over all out-edges (parts of the nodes with about
/// equal out-edge words, as a few hubs hold many) fills in its word with
/// a plain read and write, as no other thread has that event. The
/// out-edges come node by node, so each event's word is a cache miss: the
/// word of the out-edge `OUT_AHEAD` words on is prefetched.
pub(super) fn event_words(g: &FlowGraph) -> Vec<AtomicU64> {
    const MIN: usize = 1 << 16;
    const OUT_AHEAD: usize = 32;
    let c = &g.cols;
    let words: Vec<AtomicU64> = (0..g.event_count() as u32)
        .into_par_iter()
        .with_min_len(MIN)
        .map(|e| {
            AtomicU64::new(if g.is_multi(e) {
                MULTI | (c.slots(e).0 as u64) << 32
            } else if g.forwards(e) {
                FWD
            } else {
                0
            })
        })
        .collect();
    let n = g.address_count();
    let (off, adj) = (&c.out_off, &c.out_adj);
    let total = off[n] as usize;
    let n_parts = 4 * rayon::current_num_threads().max(1);
    let mut cuts: Vec<usize> = (0..=n_parts)
        .map(|p| {
            off.partition_point(|&o| (o as usize) < total * p / n_parts)
                .min(n)
        })
        .collect();
    cuts[n_parts] = n;
    cuts.dedup();
    cuts.par_windows(2).for_each(|w| {
        let mut u = w[0];
        let end = off[w[1]] as usize;
        let mut p = off[u] as usize;
        while p < end {
            if let Some(&x) = adj.get(p + OUT_AHEAD)
                && x & RECV == 0
                && let Some(a) = words.get(x as usize)
            {
                prefetch(a);
            }
            while off[u + 1] as usize <= p {
                u += 1;
            }
            let x = adj[p] as usize;
            match adj.get(p + 1) {
                Some(&r) if r & RECV != 0 => {
                    let sr = u as u64 | u64::from(r & !RECV) << 32;
                    let a = &words[x];
                    a.store(a.load(Ordering::Relaxed) | sr, Ordering::Relaxed);
                    p += 2;
                }
                _ => p += 1,
            }
        }
    });
    words
}

/// The event run of each chain in the graph, in order: blocks, and so
/// events, are ordered by chain first.
pub(super) fn chain_runs(g: &FlowGraph) -> Vec<(Chain, std::ops::Range<usize>)> {
    let blocks = &g.blocks;
    let mut runs = Vec::new();
    let mut i = 0;
    while let Some(first) = blocks.get(i) {
        // A chain's blocks are one run: its end by binary search, so this
        // costs O(chains × log blocks), not a walk of the block table.
        let chain = first.chain;
        let j = i + blocks[i..].partition_point(|b| b.chain == chain);
        let end = blocks
            .get(j)
            .map_or(g.event_count(), |b| b.first_event as usize);
        runs.push((chain, first.first_event as usize..end));
        i = j;
    }
    runs
}
