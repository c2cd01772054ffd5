//! Clustering on hand-built graphs whose answers are worked out by hand, and
//! its independence of thread count and load order.

mod common;

use common::{btc, eth, token, txid, utxo, xfer};
use fundtrace::cluster::{ClusterConfig, Clustering, CoinJoinKind, Evidence};
use fundtrace::report::screen;
use fundtrace::{
    Address, Amount, Asset, AssetInfo, Chain, FlowGraph, LabelSet, Record, TraceConfig, TxId,
    trace_seeds,
};

const ETH: u128 = 1_000_000_000_000_000_000;
/// 0.01 ETH, the default tolerance.
const CENT: u128 = ETH / 100;

/// Labels from `(address, category, entity)` rows.
fn labels(rows: &[(Address, &str, &str)]) -> LabelSet {
    let mut csv = String::from("chain,address,label,category,entity\n");
    for (a, cat, entity) in rows {
        csv.push_str(&format!(
            "{},{},{entity} wallet,{cat},{entity}\n",
            a.chain(),
            a.plain()
        ));
    }
    LabelSet::parse("test-labels.csv", csv.as_bytes()).unwrap()
}

fn run(records: Vec<Record>, l: &LabelSet) -> Clustering {
    let g = FlowGraph::from_records("hand", records).unwrap();
    Clustering::build(&g, l, &ClusterConfig::default())
}

fn fees() -> Address {
    Address::special(Chain::Ethereum, fundtrace::Special::Fees)
}

fn btx(h: u64, idx: u32) -> TxId {
    txid(Chain::Bitcoin, h, idx, 0)
}

fn etx(h: u64, idx: u32) -> TxId {
    txid(Chain::Ethereum, h, idx, 0)
}

fn members(c: &Clustering, a: &Address) -> Vec<Address> {
    c.entity_of(a)
        .map(|g| g.members.clone())
        .unwrap_or_default()
}

fn sorted(mut v: Vec<Address>) -> Vec<Address> {
    v.sort();
    v
}

/// tx 100/1: inputs 1 and 2 → 3. Then tx 101/1: inputs 2 and 4 → 5.
/// The first joins {1, 2}; the second adds 4 through 2. Single-input
/// spends (3 → 6) join nothing, and outputs are never joined.
#[test]
fn multi_input_transaction_joins_its_inputs() {
    let recs = vec![
        utxo(100, 1, &[(btc(1), 60), (btc(2), 40)], &[(btc(3), 90)]),
        utxo(101, 1, &[(btc(2), 10), (btc(4), 10)], &[(btc(5), 15)]),
        utxo(102, 1, &[(btc(3), 90)], &[(btc(6), 80)]),
    ];
    let c = run(recs, &LabelSet::new());
    assert_eq!(c.entities().len(), 1);
    assert_eq!(members(&c, &btc(1)), sorted(vec![btc(1), btc(2), btc(4)]));
    assert!(c.exchange_clusters().is_empty());
    // Each member keeps the first transaction that joined it.
    assert_eq!(
        c.evidence(&btc(1)),
        Some(&Evidence::CommonInput {
            tx: btx(100, 1),
            joined_with: btc(2)
        })
    );
    assert_eq!(
        c.evidence(&btc(2)),
        Some(&Evidence::CommonInput {
            tx: btx(100, 1),
            joined_with: btc(1)
        })
    );
    assert_eq!(
        c.evidence(&btc(4)),
        Some(&Evidence::CommonInput {
            tx: btx(101, 1),
            joined_with: btc(2)
        })
    );
    for a in [btc(3), btc(5), btc(6)] {
        assert_eq!(c.evidence(&a), None, "{a}");
    }
    assert_eq!(c.stats().multi_input_txs, 2);
    // With the heuristic off, nothing is joined.
    let g = FlowGraph::from_records(
        "hand",
        vec![utxo(100, 1, &[(btc(1), 60), (btc(2), 40)], &[(btc(3), 90)])],
    )
    .unwrap();
    let off = ClusterConfig::default().with_common_input(false);
    assert!(
        Clustering::build(&g, &LabelSet::new(), &off)
            .entities()
            .is_empty()
    );
}

/// Three CoinJoin shapes, each with inputs of five or more people: none may
/// merge. Controls that miss a shape by one rule do merge.
#[test]
fn coinjoin_shaped_transactions_do_not_merge() {
    let d = 1_000_000u128;
    // Whirlpool: 5 inputs (10..14), 5 outputs of 0.01 BTC.
    let whirlpool = utxo(
        200,
        1,
        &(10..15).map(|i| (btc(i), d + 2_000)).collect::<Vec<_>>(),
        &(20..25).map(|i| (btc(i), d)).collect::<Vec<_>>(),
    );
    // Wasabi: 12 inputs (30..42); 12 outputs of 0.1 BTC and 12 change outputs of
    // different values.
    let w = 10 * d;
    let wasabi = utxo(
        201,
        1,
        &(30..42)
            .map(|i| (btc(i), w + 50_000 + u128::from(i) * 1_000))
            .collect::<Vec<_>>(),
        &(50..62)
            .map(|i| (btc(i), w))
            .chain((62..74).map(|i| (btc(i), 40_000 + u128::from(i) * 1_000)))
            .collect::<Vec<_>>(),
    );
    // JoinMarket: 4 participants with 5 inputs (80..85), 4 equal outputs and
    // 3 change outputs (the taker gets none).
    let joinmarket = utxo(
        202,
        1,
        &[
            (btc(80), d + 5_000),
            (btc(81), d + 300_000),
            (btc(82), 600_000),
            (btc(83), d),
            (btc(84), d + 700_000),
        ],
        &[
            (btc(90), d),
            (btc(91), d),
            (btc(92), d),
            (btc(93), d),
            (btc(94), 299_000),
            (btc(95), 599_000),
            (btc(96), 699_000),
        ],
    );
    let c = run(vec![whirlpool, wasabi, joinmarket], &LabelSet::new());
    assert!(c.entities().is_empty(), "{:?}", c.entities());
    let kinds: Vec<_> = c.coinjoins().iter().map(|j| (j.tx, j.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (btx(200, 1), CoinJoinKind::Whirlpool),
            (btx(201, 1), CoinJoinKind::Wasabi),
            (btx(202, 1), CoinJoinKind::JoinMarket),
        ]
    );
    for i in [10, 30, 80, 84] {
        assert_eq!(c.evidence(&btc(i)), None);
    }

    // Controls. Only two equal outputs: a payment with change, inputs merge.
    let two_equal = utxo(
        300,
        1,
        &[(btc(1), d), (btc(2), d)],
        &[(btc(3), 900_000), (btc(4), 900_000), (btc(5), 150_000)],
    );
    // Three equal outputs but only two inputs: one payer (n < p), merges.
    let payroll = utxo(
        301,
        1,
        &[(btc(6), 2 * d), (btc(7), 2 * d)],
        &[(btc(8), d), (btc(9), d), (btc(10), d)],
    );
    // Four equal outputs but five other outputs: more change than
    // participants, not JoinMarket; merges.
    let mut outs: Vec<(Address, u128)> = (20..24).map(|i| (btc(i), d)).collect();
    outs.extend((24..29).map(|i| (btc(i), 10_000 + u128::from(i))));
    let batch = utxo(302, 1, &[(btc(11), 3 * d), (btc(12), 3 * d)], &outs);
    let c = run(vec![two_equal, payroll, batch], &LabelSet::new());
    assert!(c.coinjoins().is_empty());
    assert_eq!(members(&c, &btc(1)), vec![btc(1), btc(2)]);
    assert_eq!(members(&c, &btc(6)), vec![btc(6), btc(7)]);
    assert_eq!(members(&c, &btc(11)), vec![btc(11), btc(12)]);
}

/// `ClusterConfig::coinjoin` on an `EventInfo` agrees with the pass, and the
/// thresholds move the shapes.
#[test]
fn coinjoin_thresholds_are_configurable() {
    let d = 1_000_000u128;
    let rec = utxo(
        200,
        1,
        &(10..15).map(|i| (btc(i), d + 2_000)).collect::<Vec<_>>(),
        &(20..25).map(|i| (btc(i), d)).collect::<Vec<_>>(),
    );
    let g = FlowGraph::from_records("hand", vec![rec]).unwrap();
    let e = g.outgoing(g.node(&btc(10)).unwrap()).next().unwrap();
    let info = g.event(e);
    assert_eq!(
        ClusterConfig::default().coinjoin(&info),
        Some(CoinJoinKind::Whirlpool)
    );
    // A 5×5 with Whirlpool set to 8 is still JoinMarket-shaped (5 equal
    // outputs, no change, 5 inputs) ...
    let cfg = ClusterConfig::default().with_whirlpool_size(8);
    assert_eq!(cfg.coinjoin(&info), Some(CoinJoinKind::JoinMarket));
    // ... and with JoinMarket needing 6 equal outputs it is no CoinJoin:
    // all five inputs merge.
    let cfg = ClusterConfig::default()
        .with_whirlpool_size(8)
        .with_joinmarket_min_equal_outputs(6);
    assert_eq!(cfg.coinjoin(&info), None);
    let c = Clustering::build(&g, &LabelSet::new(), &cfg);
    assert_eq!(members(&c, &btc(10)).len(), 5);
}

/// Binance owns 1 and OKX owns 2. tx 100: 1 + 5 (5 joins Binance). tx 101:
/// 5 + 2 + 6 would fuse Binance and OKX: refused, nothing of it merges, 6
/// stays out. tx 102: 6 + 7 merges normally.
#[test]
fn two_exchanges_bridged_by_one_transaction_are_refused() {
    let l = labels(&[(btc(1), "exchange", "binance"), (btc(2), "exchange", "okx")]);
    let recs = vec![
        utxo(100, 1, &[(btc(1), 50), (btc(5), 50)], &[(btc(9), 90)]),
        utxo(
            101,
            1,
            &[(btc(5), 10), (btc(2), 10), (btc(6), 10)],
            &[(btc(9), 25)],
        ),
        utxo(102, 1, &[(btc(6), 10), (btc(7), 10)], &[(btc(9), 15)]),
    ];
    let c = run(recs, &l);
    assert_eq!(c.refused().len(), 1);
    let r = &c.refused()[0];
    assert_eq!(r.tx, btx(101, 1));
    assert_eq!(r.labels, vec!["binance".to_owned(), "okx".to_owned()]);
    assert_eq!(r.addresses, sorted(vec![btc(2), btc(5), btc(6)]));
    let ex = c.exchange_clusters();
    let names: Vec<&str> = ex.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["binance", "okx"]);
    assert_eq!(ex[0].members, sorted(vec![btc(1), btc(5)]));
    assert_eq!(ex[1].members, vec![btc(2)]);
    assert_eq!(members(&c, &btc(6)), sorted(vec![btc(6), btc(7)]));
    assert_eq!(c.entity_of(&btc(6)).unwrap().exchange, None);
    // Labels carry their source.
    match c.evidence(&btc(1)) {
        Some(Evidence::Label(label)) => {
            assert_eq!(label.file, "test-labels.csv");
            assert_eq!(label.location, fundtrace::labels::SourceLocation::Line(2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.stats().refused, 1);
}

/// An address labelled with two exchanges belongs to neither.
#[test]
fn an_address_with_two_exchange_labels_is_left_out() {
    let l = labels(&[
        (btc(1), "exchange", "binance"),
        (btc(1), "exchange", "okx"),
        (btc(2), "exchange", "okx"),
    ]);
    let c = run(vec![utxo(100, 1, &[(btc(2), 5)], &[(btc(3), 4)])], &l);
    let ex = c.exchange_clusters();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].members, vec![btc(2)]);
    assert!(
        c.warnings()[0].contains(&btc(1).to_string()),
        "{:?}",
        c.warnings()
    );
}

/// The hot wallet 100 is Binance's. Customer 1 pays D = 2 5 ETH at block
/// 1000; D forwards 5 ETH − 0.0005 ETH (and pays that as gas) at block 1500.
/// D is a Binance deposit address: 500 blocks, difference 0.0005 ETH. The
/// customer is not a member.
#[test]
fn deposit_forwarding_within_the_window_joins_the_exchange() {
    let hot = eth(100);
    let l = labels(&[(hot, "exchange", "binance")]);
    let gas = 5 * CENT / 100;
    let recs = vec![
        xfer(1000, 0, 0, eth(1), eth(2), 5 * ETH),
        xfer(1500, 0, 0, eth(2), hot, 5 * ETH - gas),
        xfer(1500, 0, 1, eth(2), fees(), gas),
    ];
    let c = run(recs, &l);
    let ex = c.exchange_clusters();
    assert_eq!(ex[0].members, sorted(vec![eth(2), hot]));
    assert_eq!(
        c.evidence(&eth(2)),
        Some(&Evidence::DepositForward {
            received_tx: etx(1000, 0),
            forward_tx: etx(1500, 0),
            hot_wallet: hot,
            asset: Asset::Eth,
            blocks_later: 500,
            receipts: 1,
            received: Amount::new(5 * ETH),
            forwarded: Amount::new(5 * ETH - gas),
        })
    );
    assert_eq!(c.evidence(&eth(1)), None);
    assert_eq!(c.stats().deposits, 1);
}

/// Boundaries, each D on its own: received at block 1000, forwarded to the
/// hot wallet 100 ...
/// * D 10: 10,000 blocks later, same amount → member (the window is inclusive);
/// * D 11: 10,001 blocks later → not;
/// * D 12: 0.01 ETH less → member (the tolerance is inclusive);
/// * D 13: 0.01 ETH + 1 wei less → not;
/// * D 14: two receipts, 2 + 3 ETH, then 5 ETH − gas → member, 2 receipts;
/// * D 15: forwards exactly, but also pays someone else → not (exclusive);
/// * D 16: forwards what it got, but only after forwarding to the exchange
///   once already: its receipts 1 ETH and later 7 ETH, forwards 1 ETH then
///   7 ETH → member on the first forward.
#[test]
fn deposit_forwarding_too_late_or_too_different_is_not_a_member() {
    let hot = eth(100);
    let l = labels(&[(hot, "exchange", "binance")]);
    let recs = vec![
        xfer(1000, 0, 0, eth(1), eth(10), 3 * ETH),
        xfer(11_000, 0, 0, eth(10), hot, 3 * ETH),
        xfer(1000, 1, 0, eth(1), eth(11), 3 * ETH),
        xfer(11_001, 0, 0, eth(11), hot, 3 * ETH),
        xfer(1000, 2, 0, eth(1), eth(12), 3 * ETH),
        xfer(1001, 2, 0, eth(12), hot, 3 * ETH - CENT),
        xfer(1000, 3, 0, eth(1), eth(13), 3 * ETH),
        xfer(1001, 3, 0, eth(13), hot, 3 * ETH - CENT - 1),
        xfer(1000, 4, 0, eth(1), eth(14), 2 * ETH),
        xfer(1002, 4, 0, eth(3), eth(14), 3 * ETH),
        xfer(1003, 4, 0, eth(14), hot, 5 * ETH - 1_000),
        xfer(1003, 4, 1, eth(14), fees(), 1_000),
        xfer(1000, 5, 0, eth(1), eth(15), 3 * ETH),
        xfer(1001, 5, 0, eth(15), hot, 3 * ETH),
        xfer(1002, 5, 0, eth(15), eth(4), ETH),
        xfer(1000, 6, 0, eth(1), eth(16), ETH),
        xfer(1001, 6, 0, eth(16), hot, ETH),
        xfer(1002, 6, 0, eth(1), eth(16), 7 * ETH),
        xfer(1003, 6, 0, eth(16), hot, 7 * ETH),
    ];
    let c = run(recs, &l);
    let binance = &c.exchange_clusters()[0];
    assert_eq!(
        binance.members,
        sorted(vec![hot, eth(10), eth(12), eth(14), eth(16)])
    );
    match c.evidence(&eth(14)) {
        Some(Evidence::DepositForward {
            receipts,
            received,
            received_tx,
            ..
        }) => {
            assert_eq!(*receipts, 2);
            assert_eq!(received.get(), 5 * ETH);
            assert_eq!(*received_tx, etx(1000, 4));
        }
        other => panic!("{other:?}"),
    }
    match c.evidence(&eth(16)) {
        Some(Evidence::DepositForward { forward_tx, .. }) => {
            assert_eq!(*forward_tx, etx(1001, 6));
        }
        other => panic!("{other:?}"),
    }
    // Without exclusivity, D 15 counts too; with a 10,001-block window, D 11.
    let g = FlowGraph::from_records(
        "hand",
        vec![
            xfer(1000, 5, 0, eth(1), eth(15), 3 * ETH),
            xfer(1001, 5, 0, eth(15), hot, 3 * ETH),
            xfer(1002, 5, 0, eth(15), eth(4), ETH),
            xfer(1000, 1, 0, eth(1), eth(11), 3 * ETH),
            xfer(11_001, 0, 0, eth(11), hot, 3 * ETH),
        ],
    )
    .unwrap();
    let cfg = ClusterConfig::default()
        .with_deposit_exclusive(false)
        .with_deposit_max_blocks(10_001);
    let c = Clustering::build(&g, &l, &cfg);
    assert_eq!(
        c.exchange_clusters()[0].members,
        sorted(vec![hot, eth(11), eth(15)])
    );
}

/// ERC-20 sweeps: a 6-decimal token (tolerance 0.01 token = 10,000 units)
/// and a token of unknown decimals (18 assumed: 10^16 units). The hot wallet
/// sends D the gas first, then D sweeps the tokens.
#[test]
fn erc20_sweeps_count() {
    let hot = eth(100);
    let l = labels(&[(hot, "exchange", "okx")]);
    let usdt = Asset::Erc20([0xda; 20]);
    let odd = Asset::Erc20([0x0d; 20]);
    let info = Record::AssetInfo(AssetInfo {
        asset: usdt,
        symbol: "USDT".into(),
        decimals: 6,
    });
    let recs = vec![
        info,
        // D 20: 1,000 USDT in, 999.99 out: member.
        token(500, 0, 0, usdt, eth(1), eth(20), 1_000_000_000),
        xfer(510, 0, 0, hot, eth(20), CENT / 10),
        token(511, 0, 0, usdt, eth(20), hot, 999_990_000),
        // D 21: 0.010001 USDT short: not a member.
        token(500, 1, 0, usdt, eth(1), eth(21), 1_000_000_000),
        token(511, 1, 0, usdt, eth(21), hot, 999_989_999),
        // D 22: unknown decimals, 0.01 × 10^18 short: member.
        token(500, 2, 0, odd, eth(1), eth(22), 5 * ETH),
        token(511, 2, 0, odd, eth(22), hot, 5 * ETH - CENT),
        // D 23: ether in, tokens out: assets never match.
        xfer(500, 3, 0, eth(1), eth(23), 1_000_000_000),
        token(511, 3, 0, usdt, eth(23), hot, 1_000_000_000),
    ];
    let c = run(recs, &l);
    assert_eq!(
        c.exchange_clusters()[0].members,
        sorted(vec![hot, eth(20), eth(22)])
    );
    match c.evidence(&eth(20)) {
        Some(Evidence::DepositForward {
            asset,
            received,
            forwarded,
            blocks_later,
            ..
        }) => {
            assert_eq!(*asset, usdt);
            assert_eq!(received.get() - forwarded.get(), 10_000);
            assert_eq!(*blocks_later, 11);
        }
        other => panic!("{other:?}"),
    }
    let g = FlowGraph::from_records("t", vec![]).unwrap();
    assert_eq!(
        ClusterConfig::default().deposit_tolerance(&g, &Asset::Eth),
        CENT
    );
    assert_eq!(
        ClusterConfig::default().deposit_tolerance(&g, &Asset::Btc),
        1_000_000
    );
}

/// A deposit address that forwards to two exchanges (exclusivity off) is
/// refused rather than fusing them.
#[test]
fn deposit_forwarding_to_two_exchanges_is_refused() {
    let l = labels(&[
        (eth(100), "exchange", "binance"),
        (eth(101), "exchange", "okx"),
    ]);
    let recs = vec![
        xfer(10, 0, 0, eth(1), eth(2), ETH),
        xfer(11, 0, 0, eth(2), eth(100), ETH),
        xfer(12, 0, 0, eth(1), eth(2), 2 * ETH),
        xfer(13, 0, 0, eth(2), eth(101), 2 * ETH),
    ];
    let g = FlowGraph::from_records("hand", recs).unwrap();
    let cfg = ClusterConfig::default().with_deposit_exclusive(false);
    let c = Clustering::build(&g, &l, &cfg);
    assert_eq!(c.refused().len(), 1);
    assert_eq!(c.refused()[0].tx, etx(13, 0));
    assert_eq!(c.refused()[0].labels, ["binance", "okx"]);
    assert_eq!(c.evidence(&eth(2)), None);
    // With exclusivity (the default) it is simply no deposit address.
    let c = Clustering::build(&g, &l, &ClusterConfig::default());
    assert!(c.refused().is_empty());
    assert_eq!(c.evidence(&eth(2)), None);
}

/// Seed 1 → 2 (sanctioned) → D 3 → hot 100 (Binance). D is found as a
/// deposit address; the trace reaches Binance through 2; screening lists 2
/// (hop 1) with its label, and neither the seed (unlabelled) nor the member.
#[test]
fn screening_lists_labelled_addresses_on_evidence_paths() {
    let hot = eth(100);
    let l = labels(&[(hot, "exchange", "binance"), (eth(2), "sanctioned", "ofac")]);
    let recs = vec![
        xfer(10, 0, 0, eth(1), eth(2), 4 * ETH),
        xfer(11, 0, 0, eth(2), eth(3), 4 * ETH),
        xfer(12, 0, 0, eth(3), hot, 4 * ETH),
    ];
    let g = FlowGraph::from_records("hand", recs).unwrap();
    let c = Clustering::build(&g, &l, &ClusterConfig::default());
    let clusters = c.exchange_clusters();
    let out = trace_seeds(&g, &[eth(1)], &clusters, &TraceConfig::default()).unwrap();
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].member, eth(3));
    assert_eq!(out.findings[0].min_hops, 2);
    let hits = screen(&out.findings, &l);
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].finding, hits[0].hop, hits[0].address),
        (0, 1, eth(2))
    );
    assert_eq!(hits[0].labels[0].category, fundtrace::Category::Sanctioned);
}

/// The same clustering for 1 and 2 threads, and for the records loaded in
/// reverse order (other node numbering), on a synthetic case with every
/// heuristic at work.
#[cfg(feature = "synthetic")]
#[test]
fn clustering_is_independent_of_threads_and_load_order() {
    use fundtrace::synthetic::{EXCHANGES, SyntheticCase, SyntheticConfig};
    let case = SyntheticCase::generate(&SyntheticConfig {
        transfers: 60_000,
        ..SyntheticConfig::default()
    });
    let rows: Vec<(Address, &str, &str)> = EXCHANGES
        .iter()
        .flat_map(|(n, b, e)| {
            [
                (b.parse().unwrap(), "exchange", *n),
                (e.parse().unwrap(), "exchange", *n),
            ]
        })
        .collect();
    let l = labels(&rows);
    let records = case.records();
    let g = FlowGraph::from_records("forward", records.clone()).unwrap();
    let mut reversed = records;
    reversed.reverse();
    let r = FlowGraph::from_records("reversed", reversed).unwrap();
    let cfg = ClusterConfig::default();
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| Clustering::build(&g, &l, &cfg));
    let two = pool(2).install(|| Clustering::build(&g, &l, &cfg));
    let rev = pool(2).install(|| Clustering::build(&r, &l, &cfg));
    // Every heuristic contributed.
    let s = one.stats();
    assert!(
        s.deposits > 100 && s.coinjoins > 10 && s.multi_input_txs > 100,
        "{s:?}"
    );
    assert!(one.entities().iter().any(|g| g.exchange.is_none()));
    assert_eq!(one, two);
    assert_eq!(one, rev);
    // The whole result serialises (evidence included) and is byte-identical.
    let json = serde_json::to_string(&one).unwrap();
    assert_eq!(json, serde_json::to_string(&rev).unwrap());
    assert!(json.contains("\"kind\":\"deposit_forward\""));
    assert_eq!(
        serde_json::to_string(&one.exchange_clusters()).unwrap(),
        serde_json::to_string(&rev.exchange_clusters()).unwrap()
    );
}
