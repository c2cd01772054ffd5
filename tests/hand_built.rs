//! Hand-built graphs whose answers are worked out in the comments.

mod common;

use common::*;
use fundtrace::{
    Asset, Chain, Cluster, FlowGraph, Model, Record, TraceConfig, TraceOutcome, trace_seeds,
};

fn run(
    records: Vec<Record>,
    seed: fundtrace::Address,
    clusters: &[Cluster],
    cfg: &TraceConfig,
) -> TraceOutcome {
    let g = FlowGraph::from_records("hand", records).unwrap();
    trace_seeds(&g, &[seed], clusters, cfg).unwrap()
}

fn finding<'a>(o: &'a TraceOutcome, cluster: &str) -> Option<&'a fundtrace::Finding> {
    o.findings.iter().find(|f| f.cluster == cluster)
}

/// Peel chain: S holds 10,000 sat (from a coinbase) and peels off deposits.
///
/// ```text
/// h1  coinbase -> S 10,000
/// h2  S 10,000 -> D1 1,000 + P1 8,990   (fee 10)
/// h3  P1 8,990 -> D2 2,000 + P2 6,980   (fee 10)
/// h4  P2 6,980 -> D3 3,000 + P3 3,970   (fee 10)
/// ```
/// Cluster X = {D1, D3}: reached at 1 hop (D1), value 1,000 + 3,000 = 4,000
/// under every model (only tainted value ever enters the chain).
/// Cluster Y = {D2}: 2 hops, 2,000; path S -(h2)-> P1 -(h3)-> D2.
#[test]
fn peel_chain() {
    let (s, p1, p2, p3) = (btc(1), btc(2), btc(3), btc(4));
    let (d1, d2, d3) = (btc(11), btc(12), btc(13));
    let recs = vec![
        utxo(1, 0, &[(coinbase(), 10_000)], &[(s, 10_000)]),
        utxo(2, 1, &[(s, 10_000)], &[(d1, 1_000), (p1, 8_990)]),
        utxo(3, 1, &[(p1, 8_990)], &[(d2, 2_000), (p2, 6_980)]),
        utxo(4, 1, &[(p2, 6_980)], &[(d3, 3_000), (p3, 3_970)]),
    ];
    let clusters = [Cluster::new("X", vec![d1, d3]), Cluster::new("Y", vec![d2])];
    let o = run(recs, s, &clusters, &TraceConfig::default());
    let x = finding(&o, "X").unwrap();
    assert_eq!(x.min_hops, 1);
    assert_eq!(x.member, d1);
    for m in Model::ALL {
        assert_eq!(value(x, Asset::Btc, m), 4_000, "{m:?}");
    }
    let arr = x.first_arrival.as_ref().unwrap();
    assert_eq!((arr.height.0, arr.member), (2, d1));
    let y = finding(&o, "Y").unwrap();
    assert_eq!(y.min_hops, 2);
    assert_eq!(value(y, Asset::Btc, Model::Haircut), 2_000);
    let hops: Vec<_> = y
        .path
        .iter()
        .map(|p| (p.from, p.to, p.height.0, p.amount.get()))
        .collect();
    assert_eq!(hops, vec![(s, p1, 2, 8_990), (p1, d2, 3, 2_000)]);
    // Seed sent 10,000: the tainted value into all clusters (6,000) is below it.
    assert_eq!(o.seeds[0].sent[&Asset::Btc].get(), 10_000);
}

/// A mixing transaction with one clean and one tainted input.
///
/// ```text
/// h1  coinbase -> C 400 ; coinbase -> S 600          (C is clean)
/// h2  S 600 -> T 600                                  (T wholly tainted)
/// h3  [C 400, T 600] -> [O1 500, O2 500]              (no fee)
/// ```
/// poison: both outputs wholly tainted, 500 each.
/// haircut: tainted share 600/1000; O1 = floor(500·600/1000) = 300, then
///   the rest (balance 500, taint 300) gives O2 = floor(500·300/500) = 300.
/// FIFO: the queue is C's 400 clean then T's 600 tainted (input order);
///   O1 takes 400 clean + 100 tainted = 100, O2 takes 500 tainted = 500.
#[test]
fn mixing_transaction_haircut_share() {
    let (s, c, t, o1, o2) = (btc(1), btc(2), btc(3), btc(4), btc(5));
    let recs = vec![
        utxo(1, 0, &[(coinbase(), 1_000)], &[(c, 400), (s, 600)]),
        utxo(2, 1, &[(s, 600)], &[(t, 600)]),
        utxo(3, 1, &[(c, 400), (t, 600)], &[(o1, 500), (o2, 500)]),
    ];
    let clusters = [Cluster::new("O1", vec![o1]), Cluster::new("O2", vec![o2])];
    let out = run(recs, s, &clusters, &TraceConfig::default());
    let f1 = finding(&out, "O1").unwrap();
    let f2 = finding(&out, "O2").unwrap();
    assert_eq!((f1.min_hops, f2.min_hops), (2, 2));
    assert_eq!(value(f1, Asset::Btc, Model::Poison), 500);
    assert_eq!(value(f2, Asset::Btc, Model::Poison), 500);
    assert_eq!(value(f1, Asset::Btc, Model::Haircut), 300);
    assert_eq!(value(f2, Asset::Btc, Model::Haircut), 300);
    assert_eq!(value(f1, Asset::Btc, Model::Fifo), 100);
    assert_eq!(value(f2, Asset::Btc, Model::Fifo), 500);
}

/// An outflow before the tainted inflow must not carry taint.
///
/// ```text
/// h1  mint -> A 100           (clean)
/// h2  A 50 -> X               (before any taint reaches A)
/// h3  S 30 -> A               (A: 50 clean, then 30 tainted)
/// h4  A 40 -> Y
/// ```
/// Time-respecting: X is not reached; Y at 2 hops. For Y: poison 40;
/// haircut floor(40·30/80) = 15; FIFO takes the oldest 40 of A's 50 clean = 0
/// (FIFO can be below haircut). Without time order X is reached at 2 hops,
/// but the value models still respect time: no value for X.
#[test]
fn outflow_before_taint_is_clean() {
    let (s, a, x, y) = (eth(1), eth(2), eth(3), eth(4));
    let recs = vec![
        xfer(1, 0, 0, mint(), a, 100),
        xfer(1, 1, 0, mint(), s, 1_000),
        xfer(2, 0, 0, a, x, 50),
        xfer(3, 0, 0, s, a, 30),
        xfer(4, 0, 0, a, y, 40),
    ];
    let clusters = [Cluster::new("X", vec![x]), Cluster::new("Y", vec![y])];
    let o = run(recs.clone(), s, &clusters, &TraceConfig::default());
    assert!(finding(&o, "X").is_none());
    let fy = finding(&o, "Y").unwrap();
    assert_eq!(fy.min_hops, 2);
    assert_eq!(value(fy, Asset::Eth, Model::Poison), 40);
    assert_eq!(value(fy, Asset::Eth, Model::Haircut), 15);
    assert_eq!(value(fy, Asset::Eth, Model::Fifo), 0);

    let plain = TraceConfig::default().with_time_respecting(false);
    let o = run(recs, s, &clusters, &plain);
    let fx = finding(&o, "X").unwrap();
    assert_eq!(fx.min_hops, 2);
    assert!(fx.value.is_empty());
}

/// Within one Ethereum transaction a contract forwards what it received.
///
/// ```text
/// h5 tx0 sub0: S 7 -> K (contract)   sub1: K 7 -> D (internal transfer)
/// ```
/// D is 1 hop away (a hop is one transaction), with all 7 tainted under
/// every model; the evidence path shows both transfers.
#[test]
fn forwarding_inside_one_transaction() {
    let (s, k, d) = (eth(1), eth(2), eth(3));
    let recs = vec![xfer(5, 0, 0, s, k, 7), xfer(5, 0, 1, k, d, 7)];
    let o = run(
        recs,
        s,
        &[Cluster::new("D", vec![d])],
        &TraceConfig::default(),
    );
    let f = finding(&o, "D").unwrap();
    assert_eq!(f.min_hops, 1);
    for m in Model::ALL {
        assert_eq!(value(f, Asset::Eth, m), 7);
    }
    assert_eq!(f.path.len(), 2);
    assert_eq!(f.path[0].tx, f.path[1].tx);
}

/// Unknown opening balance: the graph starts mid-history.
///
/// ```text
/// h1  S 10 -> B           (B never seen receiving before)
/// h2  B 5 -> Z1
/// h3  B 20 -> Z2          (B had at least 15 the graph does not show)
/// ```
/// B's largest overdraft is 15, so B opens with 15 clean, the oldest value.
/// At h1: balance 25, haircut taint 10, FIFO lots [15 clean, 10 tainted].
/// Z1: poison 5; haircut floor(5·10/25) = 2; FIFO 5 of the clean 15 = 0.
/// Z2: poison 20; haircut: balance 20, taint 8 -> 8; FIFO [10 clean,
/// 10 tainted] -> 10. Haircut total 10 = what S sent.
#[test]
fn unknown_opening_balance_is_clean_and_oldest() {
    let (s, b, z1, z2) = (eth(1), eth(2), eth(3), eth(4));
    let recs = vec![
        xfer(1, 0, 0, s, b, 10),
        xfer(2, 0, 0, b, z1, 5),
        xfer(3, 0, 0, b, z2, 20),
    ];
    let clusters = [Cluster::new("Z1", vec![z1]), Cluster::new("Z2", vec![z2])];
    let o = run(recs, s, &clusters, &TraceConfig::default());
    let f1 = finding(&o, "Z1").unwrap();
    let f2 = finding(&o, "Z2").unwrap();
    assert_eq!(
        [Model::Poison, Model::Haircut, Model::Fifo].map(|m| value(f1, Asset::Eth, m)),
        [5, 2, 0]
    );
    assert_eq!(
        [Model::Poison, Model::Haircut, Model::Fifo].map(|m| value(f2, Asset::Eth, m)),
        [20, 8, 10]
    );
}

/// A UTXO transaction whose inputs the source could not value: the shortfall
/// is a clean input from `unknown`, placed after the known inputs.
///
/// ```text
/// h2  S 300 -> T
/// h3  [T 300] -> [D 1,000]      (inputs short by 700)
/// ```
/// haircut floor(1000·300/1000) = 300; FIFO: T's 300 tainted first = 300.
#[test]
fn short_inputs_are_clean() {
    let (s, t, d) = (btc(1), btc(2), btc(3));
    let recs = vec![
        utxo(2, 1, &[(s, 300)], &[(t, 300)]),
        utxo(3, 1, &[(t, 300)], &[(d, 1_000)]),
    ];
    let g = FlowGraph::from_records("short", recs).unwrap();
    assert_eq!(g.load_stats().short_inputs, 1);
    let o = trace_seeds(
        &g,
        &[s],
        &[Cluster::new("D", vec![d])],
        &TraceConfig::default(),
    )
    .unwrap();
    let f = finding(&o, "D").unwrap();
    assert_eq!(value(f, Asset::Btc, Model::Poison), 1_000);
    assert_eq!(value(f, Asset::Btc, Model::Haircut), 300);
    assert_eq!(value(f, Asset::Btc, Model::Fifo), 300);
}

/// A 7,000-input consolidation costs 7,000 + 1 legs, not 7,000 × outputs
/// edges, and is one hop.
///
/// ```text
/// h1  coinbase -> S 7,000,000
/// h2  S -> [A_0 … A_6999, 1,000 each]       (fan-out, one transaction)
/// h3  [A_0 … A_6999] -> [D 6,999,000]        (fee 1,000)
/// ```
/// D is 2 hops away and all of its 6,999,000 is tainted under every model.
#[test]
fn seven_thousand_inputs_stay_linear() {
    let s = btc(1);
    let d = btc(2);
    let many: Vec<_> = (0..7_000u16).map(|i| (btc(100 + i), 1_000u128)).collect();
    let recs = vec![
        utxo(1, 0, &[(coinbase(), 7_000_000)], &[(s, 7_000_000)]),
        utxo(2, 1, &[(s, 7_000_000)], &many),
        utxo(3, 1, &many, &[(d, 6_999_000)]),
    ];
    let g = FlowGraph::from_records("big", recs).unwrap();
    // coinbase tx 2 legs; fan-out 1 + 7,000; consolidation 7,000 + 1 + fee leg.
    assert_eq!(g.leg_count(), 2 + 7_001 + 7_002);
    assert!(g.adjacency_count() <= g.leg_count());
    let pg = g.to_petgraph();
    assert!(pg.edge_count() <= g.leg_count());
    let mem = g.memory_use();
    assert!(mem.traversal_bytes < 64 * g.leg_count() + 4096, "{mem:?}");
    let o = trace_seeds(
        &g,
        &[s],
        &[Cluster::new("D", vec![d])],
        &TraceConfig::default(),
    )
    .unwrap();
    let f = finding(&o, "D").unwrap();
    assert_eq!(f.min_hops, 2);
    for m in Model::ALL {
        assert_eq!(value(f, Asset::Btc, m), 6_999_000);
    }
}

/// ERC-20 value is its own asset and never added to ETH.
#[test]
fn tokens_are_separate_assets() {
    let usdt = Asset::Erc20([0xda; 20]);
    let (s, d) = (eth(1), eth(2));
    let recs = vec![xfer(1, 0, 0, s, d, 5), token(1, 1, 0, usdt, s, d, 9)];
    let o = run(
        recs,
        s,
        &[Cluster::new("D", vec![d])],
        &TraceConfig::default(),
    );
    let f = finding(&o, "D").unwrap();
    assert_eq!(value(f, Asset::Eth, Model::Poison), 5);
    assert_eq!(value(f, usdt, Model::Poison), 9);
}

/// A shorter path that is not time-respecting must not win.
///
/// ```text
/// h1  A -> M (clean, before taint)
/// h2  S -> A
/// h3  S -> B ; h4 B -> C ; h5 C -> M
/// ```
/// S -> A -> M would be 2 hops, but A -> M happened first; the
/// time-respecting distance of M is 3 (S, B, C, M).
#[test]
fn min_hops_respect_time() {
    let (s, a, b, c, m) = (eth(1), eth(2), eth(3), eth(4), eth(5));
    let recs = vec![
        xfer(1, 0, 0, mint(), a, 10),
        xfer(1, 1, 0, a, m, 1),
        xfer(2, 0, 0, s, a, 1),
        xfer(3, 0, 0, s, b, 1),
        xfer(4, 0, 0, b, c, 1),
        xfer(5, 0, 0, c, m, 1),
    ];
    let cl = [Cluster::new("M", vec![m])];
    let o = run(recs.clone(), s, &cl, &TraceConfig::default());
    assert_eq!(finding(&o, "M").unwrap().min_hops, 3);
    let o = run(
        recs.clone(),
        s,
        &cl,
        &TraceConfig::default().with_max_hops(2),
    );
    assert!(finding(&o, "M").is_none());
    let o = run(
        recs,
        s,
        &cl,
        &TraceConfig::default().with_time_respecting(false),
    );
    assert_eq!(finding(&o, "M").unwrap().min_hops, 2);
}

/// Fewer hops can arrive later than more hops: min_hops and first_arrival
/// are reported independently, and the path is a shortest one.
///
/// ```text
/// h1 S -> A ; h2 A -> B ; h3 B -> D     (3 hops, arrives h3)
/// h9 S -> D                             (1 hop, arrives h9)
/// ```
#[test]
fn fewest_hops_and_earliest_arrival_differ() {
    let (s, a, b, d) = (eth(1), eth(2), eth(3), eth(4));
    let recs = vec![
        xfer(1, 0, 0, s, a, 5),
        xfer(2, 0, 0, a, b, 5),
        xfer(3, 0, 0, b, d, 5),
        xfer(9, 0, 0, s, d, 1),
    ];
    let o = run(
        recs,
        s,
        &[Cluster::new("D", vec![d])],
        &TraceConfig::default(),
    );
    let f = finding(&o, "D").unwrap();
    assert_eq!(f.min_hops, 1);
    assert_eq!(f.first_arrival.as_ref().unwrap().height.0, 3);
    assert_eq!(f.path.len(), 1);
    assert_eq!(f.path[0].height.0, 9);
    assert_eq!(value(f, Asset::Eth, Model::Poison), 6);
}

/// Members absorb taint by default: value does not pass through one cluster
/// into another, and moves inside a cluster are not counted twice.
///
/// ```text
/// h1 S 10 -> Dep (deposit, exchange E) ; h2 Dep 10 -> Hot (E) ; h3 Hot 10 -> W (cluster F)
/// ```
#[test]
fn clusters_absorb() {
    let (s, dep, hot, w) = (eth(1), eth(2), eth(3), eth(4));
    let recs = vec![
        xfer(1, 0, 0, s, dep, 10),
        xfer(2, 0, 0, dep, hot, 10),
        xfer(3, 0, 0, hot, w, 10),
    ];
    let cl = [
        Cluster::new("E", vec![dep, hot]),
        Cluster::new("F", vec![w]),
    ];
    let o = run(recs.clone(), s, &cl, &TraceConfig::default());
    let e = finding(&o, "E").unwrap();
    assert_eq!(value(e, Asset::Eth, Model::Poison), 10);
    assert!(finding(&o, "F").is_none());
    let through = TraceConfig::default().with_stop_at_clusters(false);
    let o = run(recs, s, &cl, &through);
    assert_eq!(
        value(finding(&o, "E").unwrap(), Asset::Eth, Model::Poison),
        10
    );
    let f = finding(&o, "F").unwrap();
    assert_eq!(f.min_hops, 3);
    assert_eq!(value(f, Asset::Eth, Model::Haircut), 10);
}

#[test]
fn bad_input_never_panics() {
    // Malformed addresses are errors that name the input.
    let e = "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfX"
        .parse::<fundtrace::Address>()
        .unwrap_err();
    assert!(
        e.to_string().contains("1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfX"),
        "{e}"
    );
    assert!("0x123".parse::<fundtrace::Address>().is_err());
    // Empty graph: empty report, a warning for the unknown seed.
    let g = FlowGraph::from_records("empty", vec![]).unwrap();
    let o = trace_seeds(
        &g,
        &[btc(1)],
        &[Cluster::new("X", vec![btc(2)])],
        &TraceConfig::default(),
    )
    .unwrap();
    assert!(o.findings.is_empty());
    assert!(o.warnings.iter().any(|w| w.contains("does not occur")));
    assert!(!o.seeds[0].in_graph);
    // max_hops 0: nothing is reached.
    let recs = vec![xfer(1, 0, 0, eth(1), eth(2), 5)];
    let o = run(
        recs.clone(),
        eth(1),
        &[Cluster::new("X", vec![eth(2)])],
        &TraceConfig::default().with_max_hops(0),
    );
    assert!(o.findings.is_empty());
    // No seeds, no clusters, no models: empty, no panic.
    let g = FlowGraph::from_records("one", recs).unwrap();
    assert!(
        trace_seeds(&g, &[], &[], &TraceConfig::default())
            .unwrap()
            .findings
            .is_empty()
    );
    let none = TraceConfig::default().with_models(vec![]);
    let o = trace_seeds(&g, &[eth(1)], &[Cluster::new("X", vec![eth(2)])], &none).unwrap();
    assert_eq!(o.findings[0].min_hops, 1);
    assert!(o.findings[0].value.is_empty());
    // Two clusters with one name are refused.
    let two = [
        Cluster::new("X", vec![eth(2)]),
        Cluster::new("X", vec![eth(3)]),
    ];
    let err = trace_seeds(&g, &[eth(1)], &two, &TraceConfig::default()).unwrap_err();
    assert!(
        err.to_string().contains("two clusters are named \"X\""),
        "{err}"
    );
    // A record mixing chains is refused with its transaction named.
    let bad = xfer(1, 0, 0, eth(1), btc(2), 5);
    let err = FlowGraph::from_records("mixed", vec![bad]).unwrap_err();
    assert!(err.to_string().contains("is not on ethereum"), "{err}");
}

#[test]
fn duplicates_and_conflicts() {
    let r = xfer(1, 0, 0, eth(1), eth(2), 5);
    let g = FlowGraph::from_records("dup", vec![r.clone(), r.clone()]).unwrap();
    assert_eq!(g.event_count(), 1);
    assert_eq!(g.load_stats().duplicates_dropped, 1);
    let other = xfer(1, 0, 0, eth(1), eth(3), 5);
    let err = FlowGraph::from_records("conflict", vec![r.clone(), other])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("ethereum block 1 index 0 sub 0"),
        "{err}"
    );
    // Two transactions claiming one position in a block (at different
    // steps inside it) cannot both be right.
    let mut second = xfer(1, 0, 1, eth(2), eth(3), 5);
    if let Record::Transfer(t) = &mut second {
        t.tx = fundtrace::TxId::new(Chain::Ethereum, [0xab; 32]);
    }
    let err = FlowGraph::from_records("two at one", vec![r, second])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("ethereum block 1 index 0 sub 1")
            && err.contains("two transactions at one position"),
        "{err}"
    );
}

/// The freeze compares events and lays them out in parallel blocks: a
/// duplicate next to a block edge is still dropped, and of several
/// conflicts the one reported is the first in time order, whatever the
/// number of threads.
#[test]
fn duplicates_and_conflicts_across_parallel_blocks() {
    let n = 140_000u32;
    let at = |i: u32| {
        xfer(
            u64::from(i / 1_000) + 1,
            i % 1_000,
            0,
            eth((i % 900) as u16),
            eth(900 + (i % 800) as u16),
            u128::from(i) + 1,
        )
    };
    // Every record twice and the first three times, so that pairs of
    // copies straddle the edges of the blocks.
    let mut recs: Vec<_> = (0..n).flat_map(|i| [at(i), at(i)]).collect();
    recs.push(at(0));
    let in_pool = |threads: usize, recs: Vec<Record>| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| FlowGraph::from_records("dups", recs))
    };
    for threads in [1, 3] {
        let g = in_pool(threads, recs.clone()).unwrap();
        assert_eq!(g.event_count(), n as usize, "{threads} threads");
        assert_eq!(
            g.load_stats().duplicates_dropped,
            u64::from(n) + 1,
            "{threads} threads"
        );
    }
    // Two different movements at one position, late in time and earlier
    // (the earlier one loaded last).
    let moved = |i: u32| {
        xfer(
            u64::from(i / 1_000) + 1,
            i % 1_000,
            0,
            eth(1_800),
            eth(1_801),
            7,
        )
    };
    let mut conflicting = recs.clone();
    conflicting.push(moved(135_000));
    conflicting.push(moved(100_250));
    // Two transactions at one position (another step of it), likewise.
    let other_tx = |i: u32| {
        let mut r = xfer(
            u64::from(i / 1_000) + 1,
            i % 1_000,
            1,
            eth(1_800),
            eth(1_801),
            7,
        );
        if let Record::Transfer(t) = &mut r {
            t.tx = fundtrace::TxId::new(Chain::Ethereum, [(i % 251) as u8 + 1; 32]);
        }
        r
    };
    let mut two_txs = recs;
    two_txs.push(other_tx(120_500));
    two_txs.push(other_tx(60_250));
    for threads in [1, 3] {
        let err = in_pool(threads, conflicting.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("ethereum block 101 index 250 sub 0")
                && err.contains("two different movements"),
            "{threads} threads: {err}"
        );
        let err = in_pool(threads, two_txs.clone()).err().unwrap().to_string();
        assert!(
            err.contains("ethereum block 61 index 250 sub 1")
                && err.contains("two transactions at one position"),
            "{threads} threads: {err}"
        );
    }
}

/// Records loaded in any order, from several sources, give the same graph.
#[test]
fn load_order_does_not_matter() {
    let recs = vec![
        utxo(1, 0, &[(coinbase(), 10_000)], &[(btc(1), 10_000)]),
        utxo(
            2,
            1,
            &[(btc(1), 10_000)],
            &[(btc(2), 4_000), (btc(3), 5_990)],
        ),
        xfer(7, 0, 0, eth(1), eth(2), 3),
        xfer(8, 2, 0, eth(2), eth(3), 2),
    ];
    let cl = [
        Cluster::new("B", vec![btc(3)]),
        Cluster::new("E", vec![eth(3)]),
    ];
    let fwd = run(recs.clone(), btc(1), &cl, &TraceConfig::default());
    let mut rev = recs.clone();
    rev.reverse();
    let mut b = fundtrace::GraphBuilder::new();
    b.load(&mut fundtrace::MemorySource::new("a", rev[..2].to_vec()))
        .unwrap();
    b.load(&mut fundtrace::MemorySource::new("b", rev[2..].to_vec()))
        .unwrap();
    let g = b.freeze().unwrap();
    assert_eq!(g.sources().len(), 2);
    assert_eq!(g.sources()[0].blocks[&Chain::Ethereum].0.0, 7);
    let back = trace_seeds(&g, &[btc(1)], &cl, &TraceConfig::default()).unwrap();
    assert_eq!(fwd.findings, back.findings);
}

/// A work budget stops the search between layers: a chain S → 1 → 2 → 3 → X
/// (X in cluster "x", 4 hops away). Each address sends once, so layer k
/// scans one adjacency entry. With a budget of 2 edges the search stops
/// after layer 2: nothing found, the seed marked truncated, a warning given.
/// With a budget of 4 or none it finds X at 4 hops.
#[test]
fn work_budget_truncates_between_layers() {
    let x = eth(99);
    let recs = vec![
        xfer(1, 0, 0, eth(10), eth(1), 100),
        xfer(2, 0, 0, eth(1), eth(2), 100),
        xfer(3, 0, 0, eth(2), eth(3), 100),
        xfer(4, 0, 0, eth(3), x, 100),
    ];
    let clusters = [Cluster::new("x", vec![x])];
    let cfg = |b: Option<u64>| TraceConfig::default().with_max_edges_per_seed(b);
    let cut = run(recs.clone(), eth(10), &clusters, &cfg(Some(2)));
    assert!(cut.findings.is_empty());
    assert!(cut.seeds[0].truncated);
    assert!(
        cut.warnings.iter().any(|w| w.contains("budget of 2 edges")),
        "{:?}",
        cut.warnings
    );
    for b in [Some(4), None] {
        let full = run(recs.clone(), eth(10), &clusters, &cfg(b));
        assert!(!full.seeds[0].truncated);
        assert_eq!(finding(&full, "x").unwrap().min_hops, 4);
        assert_eq!(
            value(finding(&full, "x").unwrap(), Asset::Eth, Model::Haircut),
            100
        );
    }
}

/// `max_hops` is capped at `limits::MAX_HOPS`, which bounds every evidence
/// path: a chain exactly that long is found with a path of that many steps;
/// one hop more is refused before any work.
#[test]
fn hop_cap_bounds_report_paths() {
    use fundtrace::limits::MAX_HOPS;
    let n = u64::from(MAX_HOPS); // a chain over addresses 0..=n
    let addr = |i: u64| eth(u16::try_from(i).unwrap());
    let recs: Vec<_> = (0..n)
        .map(|i| xfer(i + 1, 0, 0, addr(i), addr(i + 1), 100))
        .collect();
    let end = addr(n);
    let clusters = [Cluster::new("end", vec![end])];
    let cfg = TraceConfig::default().with_max_hops(MAX_HOPS);
    let out = run(recs.clone(), addr(0), &clusters, &cfg);
    let f = finding(&out, "end").unwrap();
    assert_eq!(f.min_hops, MAX_HOPS);
    assert_eq!(f.path.len(), MAX_HOPS as usize);
    let g = FlowGraph::from_records("chain", recs).unwrap();
    let over = TraceConfig::default().with_max_hops(MAX_HOPS + 1);
    let err = trace_seeds(&g, &[addr(0)], &clusters, &over).unwrap_err();
    assert!(
        matches!(
            err,
            fundtrace::Error::Config {
                setting: "max_hops",
                ..
            }
        ),
        "{err:?}"
    );
    let e = err.to_string();
    assert!(
        e.contains(&format!(
            "setting max_hops: {} is over the cap of {MAX_HOPS}",
            MAX_HOPS + 1
        )),
        "{e}"
    );
}

/// The stream search stores a lane's hops with an offset that puts the
/// hop limit one below "unreached", so that adding a hop drops lanes at
/// the limit. On a chain of transfers, at the smallest and largest limits
/// it takes, the address `max_hops` away is found in that many hops and
/// the next one is not, as in the frontier search.
#[test]
fn stream_hop_limit_at_its_bounds() {
    use fundtrace::trace::{STREAM_MAX_HOPS, Search};
    let n = u64::from(STREAM_MAX_HOPS) + 2;
    let addr = |i: u64| eth(u16::try_from(i).unwrap());
    let recs: Vec<_> = (0..n)
        .map(|i| xfer(i + 1, 0, 0, addr(i), addr(i + 1), 100))
        .collect();
    let g = FlowGraph::from_records("chain", recs).unwrap();
    for max_hops in [1, 2, STREAM_MAX_HOPS - 1, STREAM_MAX_HOPS] {
        let at = addr(u64::from(max_hops));
        let past = addr(u64::from(max_hops) + 1);
        let clusters = [
            Cluster::new("at", vec![at]),
            Cluster::new("past", vec![past]),
        ];
        for stop_at_clusters in [false, true] {
            for search in [Search::Stream, Search::Frontier] {
                let cfg = TraceConfig::default()
                    .with_max_hops(max_hops)
                    .with_stop_at_clusters(stop_at_clusters)
                    .with_search(search);
                let out = trace_seeds(&g, &[addr(0)], &clusters, &cfg).unwrap();
                let f = finding(&out, "at").unwrap_or_else(|| panic!("{max_hops} {search:?}"));
                assert_eq!(f.min_hops, max_hops, "{search:?}");
                assert_eq!(f.path.len(), max_hops as usize, "{search:?}");
                assert!(finding(&out, "past").is_none(), "{max_hops} {search:?}");
                assert_eq!(
                    out.seeds[0].reached,
                    u64::from(max_hops),
                    "{max_hops} {search:?}"
                );
            }
        }
    }
}

/// A hop is one transaction. In tx T (block 2) A pays a forwarding contract
/// F, which passes the value on to B inside T (an internal transfer); in tx U
/// (block 3) B pays X. S → A is one hop, A → F → B together one more, B → X a
/// third: X is 3 hops from S, and the evidence path shows all four transfers.
/// Had F forwarded in a later transaction, B would be 3 hops away and X 4.
#[test]
fn a_hop_is_one_transaction() {
    let (s, a, f, b, x) = (eth(1), eth(2), eth(3), eth(4), eth(99));
    let clusters = [Cluster::new("x", vec![x])];
    let same_tx = vec![
        xfer(1, 0, 0, s, a, 100),
        xfer(2, 0, 0, a, f, 100), // tx T: A → F ...
        xfer(2, 0, 1, f, b, 100), // ... and F → B inside T
        xfer(3, 0, 0, b, x, 100),
    ];
    for time_respecting in [true, false] {
        let cfg = TraceConfig::default().with_time_respecting(time_respecting);
        let out = run(same_tx.clone(), s, &clusters, &cfg);
        let fx = finding(&out, "x").unwrap();
        assert_eq!(fx.min_hops, 3);
        assert_eq!(fx.path.len(), 4);
        assert_eq!(fx.path[2].from, f);
        assert_eq!(fx.path[1].tx, fx.path[2].tx);
        let cut = run(same_tx.clone(), s, &clusters, &cfg.clone().with_max_hops(2));
        assert!(finding(&cut, "x").is_none());
    }
    let later = vec![
        xfer(1, 0, 0, s, a, 100),
        xfer(2, 0, 0, a, f, 100),
        xfer(3, 0, 0, f, b, 100), // F forwards in its own transaction
        xfer(4, 0, 0, b, x, 100),
    ];
    let out = run(later, s, &clusters, &TraceConfig::default());
    assert_eq!(finding(&out, "x").unwrap().min_hops, 4);
}

/// The same-transaction closure over a wave large enough to be split over
/// threads: in one transaction S pays 3,000 contracts, each of which
/// forwards to its own receiver inside that transaction. Every receiver is
/// one hop from S, and one thread and two give the same outcome.
#[test]
fn wide_same_transaction_closure_is_one_hop_on_any_thread_count() {
    let n = 3_000u16;
    let s = eth(1);
    let mut recs = Vec::new();
    for i in 0..n {
        let (c, d) = (eth(1_000 + i), eth(10_000 + i));
        recs.push(xfer(1, 0, 2 * u32::from(i), s, c, 10));
        recs.push(xfer(1, 0, 2 * u32::from(i) + 1, c, d, 10));
    }
    let receivers: Vec<_> = (0..n).map(|i| eth(10_000 + i)).collect();
    let clusters = [
        Cluster::new("receivers", receivers),
        Cluster::new("last", vec![eth(10_000 + n - 1)]),
    ];
    let g = FlowGraph::from_records("wide", recs).unwrap();
    let run_on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| trace_seeds(&g, &[s], &clusters, &TraceConfig::default()).unwrap())
    };
    let one = run_on(1);
    assert_eq!(one, run_on(2));
    for name in ["receivers", "last"] {
        let f = finding(&one, name).unwrap();
        assert_eq!(f.min_hops, 1, "{name}");
        assert_eq!(f.path.len(), 2, "{name}: S -> contract -> receiver");
    }
    assert_eq!(
        value(
            finding(&one, "receivers").unwrap(),
            Asset::Eth,
            Model::Poison
        ),
        10 * u128::from(n)
    );
}

/// A forward inside a transaction counts from every arrival in it, not only
/// from the first arrival at the forwarder. S pays router R in tx T (block
/// 1); later, in tx U (block 2), S pays R again and R passes it on to B
/// inside U. S → R → B in U is one transaction, so B is one hop from S,
/// although R's first arrival (in T) came earlier and the arrival in U did
/// not improve it. The path shows both transfers of U.
#[test]
fn forward_from_a_later_arrival_is_the_same_hop() {
    let (s, r, b) = (eth(1), eth(2), eth(3));
    let clusters = [Cluster::new("b", vec![b])];
    let recs = vec![
        xfer(1, 0, 0, s, r, 100), // tx T: R's first arrival
        xfer(2, 0, 0, s, r, 50),  // tx U: S → R ...
        xfer(2, 0, 1, r, b, 50),  // ... and R → B inside U
    ];
    for time_respecting in [true, false] {
        let cfg = TraceConfig::default().with_time_respecting(time_respecting);
        let out = run(recs.clone(), s, &clusters, &cfg);
        let fb = finding(&out, "b").unwrap();
        assert_eq!(fb.min_hops, 1, "time_respecting {time_respecting}");
        assert_eq!(fb.path.len(), 2);
        assert_eq!(fb.path[0].tx, fb.path[1].tx);
        assert_eq!(fb.path[1].from, r);
    }
}

/// Where several shortest evidence paths tie, the one shown follows one
/// documented order, whatever the search, the batch or the threads: the
/// earliest arrival at the fewest hops, then at each step back the lowest
/// (block, transaction, position).
///
/// ```text
/// Bitcoin (seed S):
/// h1  coinbase -> B 5 ; coinbase -> B 5 ; coinbase -> E 5   (B, E receive often:
///                                                        low node numbers)
/// h2  S 100 -> [A 50, B 50]
/// h3  [A 50, B 55] -> [F 40, E 60]                      (cluster X = {E, F})
/// ```
/// X is reached at 2 hops in h3 from A or from B: A's input comes first,
/// so the path is S -> A -> F, and F (the first output paid) is the member
/// shown, though B and E have the lower node numbers.
///
/// ```text
/// Ethereum (seed 1), one hop is one transaction:
/// h1 tx0  1 -> 0 ; 0 -> 2 ; 1 -> 2 ; 2 -> 3               (cluster Y = {3})
/// h2 tx0  1 -> 5 ; 6 -> 4 ; h2 tx1 6 -> 6 ; 1 -> 4        (cluster Z = {4})
/// ```
/// Y: 2 first got the money in the first event (via 0), so 3's path is
/// 1 -> 0 -> 2 -> 3, not 1 -> 2 -> 3 (which ends in the same event).
/// Z: reached in one hop, earliest in h2 tx1's second transfer.
#[test]
fn evidence_paths_break_ties_in_one_order() {
    use fundtrace::trace::Search;
    let (s, a, b, e, f) = (btc(1), btc(2), btc(3), btc(4), btc(5));
    let mut recs = vec![
        utxo(1, 0, &[(coinbase(), 5)], &[(b, 5)]),
        utxo(1, 1, &[(coinbase(), 5)], &[(b, 5)]),
        utxo(1, 2, &[(coinbase(), 5)], &[(e, 5)]),
        utxo(1, 3, &[(coinbase(), 100)], &[(s, 100)]),
        utxo(2, 0, &[(s, 100)], &[(a, 50), (b, 50)]),
        utxo(3, 0, &[(a, 50), (b, 55)], &[(f, 40), (e, 60)]),
    ];
    let x = |n| eth(n);
    for (h, idx, legs) in [
        (1, 0, vec![(1, 0), (0, 2), (1, 2), (2, 3)]),
        (2, 0, vec![(1, 5), (6, 4)]),
        (2, 1, vec![(6, 6), (1, 4)]),
    ] {
        for (sub, (from, to)) in (0u32..).zip(legs) {
            recs.push(xfer(h, idx, sub, x(from), x(to), 1));
        }
    }
    let g = FlowGraph::from_records("hand", recs).unwrap();
    // B and E got low numbers: the old order (by node) would pick them.
    assert!(g.node(&b).unwrap() < g.node(&a).unwrap());
    assert!(g.node(&e).unwrap() < g.node(&f).unwrap());
    let clusters = [
        Cluster::new("X", vec![e, f]),
        Cluster::new("Y", vec![x(3)]),
        Cluster::new("Z", vec![x(4)]),
    ];
    let batch = [s, x(1), a, b, x(0), x(2), x(6), btc(9)];
    let mut outcomes = Vec::new();
    for search in [Search::Frontier, Search::Stream, Search::Auto] {
        let cfg = TraceConfig::default().with_search(search);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for seeds in [&batch[..], &[s], &[x(1)]] {
                let o = pool.install(|| trace_seeds(&g, seeds, &clusters, &cfg).unwrap());
                outcomes.push((
                    format!("{search:?}, {threads} threads, {} seeds", seeds.len()),
                    o,
                ));
            }
        }
    }
    let steps = |o: &TraceOutcome, seed, cluster: &str| {
        let f = o
            .findings
            .iter()
            .find(|f| f.seed == seed && f.cluster == cluster)
            .unwrap();
        (
            f.member,
            f.path
                .iter()
                .map(|p| (p.from, p.to, p.height.0))
                .collect::<Vec<_>>(),
        )
    };
    let traced = |o: &TraceOutcome, seed| o.seeds.iter().any(|t| t.seed == seed);
    for (name, o) in &outcomes {
        if traced(o, s) {
            assert_eq!(steps(o, s, "X"), (f, vec![(s, a, 2), (a, f, 3)]), "{name}");
        }
        if traced(o, x(1)) {
            assert_eq!(
                steps(o, x(1), "Y"),
                (
                    x(3),
                    vec![(x(1), x(0), 1), (x(0), x(2), 1), (x(2), x(3), 1)]
                ),
                "{name}"
            );
            assert_eq!(steps(o, x(1), "Z"), (x(4), vec![(x(1), x(4), 2)]), "{name}");
        }
        for seed in [s, x(1)].into_iter().filter(|&t| traced(o, t)) {
            let mine = |o: &TraceOutcome| {
                let v: Vec<_> = o.findings.iter().filter(|f| f.seed == seed).collect();
                serde_json::to_vec(&v).unwrap()
            };
            assert!(mine(o) == mine(&outcomes[0].1), "{name}, seed {seed}");
        }
    }
}
