//! Labels read from the real files in the test data, `tests/data`
//! (`FUNDTRACE_DATA` overrides; see `labels/PROVENANCE.md` there). With
//! `CI=true` a missing data folder is a failure, not a skip.
//!
//! The per-file numbers were counted independently of fundtrace with a
//! Python script (PyYAML and the csv module; base58check, BIP-173/350 and
//! EIP-55 checks from the PyPI packages `base58`, `bech32`, `pycryptodome`),
//! applying the same rule: BTC/ETH/USDT/USDC/OMNI (or no currency) keep the
//! record if the address is a valid Bitcoin or Ethereum address of the
//! stated chain; any other currency or chain is unsupported.

mod common;

use std::path::Path;

use fundtrace::labels::{LabelFormat, LabelSkip, SourceLocation};
use fundtrace::seeds::ofac;
use fundtrace::{Address, Category, Error, LabelSet};

fn load(dir: &Path, rel: &str) -> LabelSet {
    LabelSet::load(&dir.join("labels").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

const BRIANLEECT: &str = "etherscan/brianleect_etherscan_exchange_labels_2023-06.csv";
const DAWSBOT: &str = "etherscan/dawsbot_evm_exchange_labels_2024-06.csv";

#[test]
fn binance_and_okx_come_out_as_exchanges() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut set = LabelSet::new();
    for f in [
        "graphsense/exchange-wallets-binance.yaml",
        "graphsense/exchange-wallets-okx.yaml",
        "graphsense/etherscan-wordcloud-exchange.yaml",
        BRIANLEECT,
        DAWSBOT,
    ] {
        set.merge(load(&dir, f));
    }
    assert_eq!(set.reports().len(), 5);
    let exchanges = set.exchanges();
    let binance_btc = addr("34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo");
    let binance_eth = addr("0xbe0eb53f46cd790cd13851d5eff43d12404d33e8");
    let okx_eth = addr("0x6cc5f688a315f3dc28a7781717a9a798a59fda7b");
    assert!(exchanges["binance"].contains(&binance_btc));
    assert!(exchanges["binance"].contains(&binance_eth));
    assert!(exchanges["okx"].contains(&okx_eth));
    // The OKX pack's actor id is `okex`: it is filed under `okx` too.
    assert!(exchanges["okx"].contains(&addr("16rF2zwSJ9goQ9fZfYoti5LsUqqegb5RnA")));
    assert!(!exchanges.contains_key("okex"));

    // Provenance: the Binance pack lists 34xp4v… first (tag 0), and
    // 0xbe0eb5… at tags 4, 37 and 84 (`grep -n`, PyYAML); the Etherscan
    // exports have it on line 74 (`binance;cold-wallet`) and line 447
    // (`Binance 7`, slug `cold-wallet` only: the name tag gives the exchange).
    let btc = set.get(&binance_btc);
    assert_eq!(btc.len(), 1);
    assert_eq!(btc[0].file, "exchange-wallets-binance.yaml");
    assert_eq!(btc[0].location, SourceLocation::Tag(0));
    assert_eq!(btc[0].category, Category::Exchange);
    let eth = set.get(&binance_eth);
    let places: Vec<(&str, SourceLocation)> =
        eth.iter().map(|l| (l.file.as_str(), l.location)).collect();
    for want in [
        ("exchange-wallets-binance.yaml", SourceLocation::Tag(4)),
        ("exchange-wallets-binance.yaml", SourceLocation::Tag(37)),
        ("exchange-wallets-binance.yaml", SourceLocation::Tag(84)),
        ("etherscan-wordcloud-exchange.yaml", SourceLocation::Tag(97)),
        (
            "brianleect_etherscan_exchange_labels_2023-06.csv",
            SourceLocation::Line(74),
        ),
        (
            "dawsbot_evm_exchange_labels_2024-06.csv",
            SourceLocation::Line(447),
        ),
    ] {
        assert!(places.contains(&want), "{want:?} not in {places:?}");
    }
    assert!(
        eth.iter()
            .all(|l| l.entity.as_deref() == Some("binance") && l.category == Category::Exchange)
    );

    // OKX's Ethereum wallet in the Etherscan exports: brianleect line 561
    // (`derivatives;okx`, matched `okx`), dawsbot line 746 (`okx`).
    let okx = set.get(&okx_eth);
    let from_exports: Vec<_> = okx
        .iter()
        .filter(|l| {
            l.file.ends_with("exchange_labels_2023-06.csv")
                || l.file.ends_with("exchange_labels_2024-06.csv")
        })
        .collect();
    assert_eq!(from_exports.len(), 2);
    for l in &from_exports {
        assert_eq!(l.entity.as_deref(), Some("okx"));
        assert_eq!(l.category, Category::Exchange);
        assert_eq!(l.text, "OKX");
    }
    assert!(
        from_exports
            .iter()
            .any(|l| l.location == SourceLocation::Line(561))
    );
    assert!(
        from_exports
            .iter()
            .any(|l| l.location == SourceLocation::Line(746))
    );
}

#[test]
fn tornado_cash_is_a_mixer_and_matches_the_sdn_entry() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let set = load(&dir, "graphsense/tornado_cash.yaml");
    assert_eq!(set.len(), 39);
    assert!(set.iter().all(|l| l.category == Category::Mixer));
    assert!(set.iter().all(|l| l.entity.as_deref() == Some("tornado")));
    // 38 distinct: tags 5 and 38 are the same address, the second with a
    // trailing space (`0x4736dCf1…cFBa9D `).
    assert_eq!(set.addresses_in(Category::Mixer).len(), 38);
    // Every seed of SDN entry 39796 (Tornado Cash) in SDN.CSV of 2023-05-23
    // is labelled a mixer by the pack.
    let sdn = ofac::load(&dir.join("ofac/sdn_csv_2023-05-23_digital_currency_rows.csv"))
        .unwrap()
        .select(&[ofac::EntitySelector::number(39796)])
        .unwrap();
    let seeds = sdn.seeds();
    assert_eq!(seeds.len(), 12);
    for s in seeds {
        assert!(
            set.get(&s.address)
                .iter()
                .any(|l| l.category == Category::Mixer),
            "{}",
            s.address
        );
    }
    // Etherscan's mixer labels: `Tornado.Cash: 0.1 ETH` and friends.
    let etherscan = load(&dir, "graphsense/etherscan-wordcloud-mixing_service.yaml");
    assert_eq!(etherscan.len(), 61);
    assert!(etherscan.iter().all(|l| l.category == Category::Mixer));
}

/// (file, records, loaded, unsupported, mismatched, invalid), checked in Python.
const COUNTS: [(&str, usize, usize, usize, usize, usize); 23] = [
    ("graphsense/blender_io.yaml", 45, 45, 0, 0, 0),
    (
        "graphsense/etherscan-wordcloud-exchange.yaml",
        646,
        646,
        0,
        0,
        0,
    ),
    (
        "graphsense/etherscan-wordcloud-mixing_service.yaml",
        61,
        61,
        0,
        0,
        0,
    ),
    // ETH 32 + BTC 4 loaded; BEP2 25, BEP20 16, TRX 9 unsupported.
    ("graphsense/exchange-wallets-binance.yaml", 86, 36, 50, 0, 0),
    // 114 tags name another currency; 8 USDT tags hold neither bitcoin nor
    // ethereum addresses: 5 are other chains' formats (Solana, Tezos,
    // Algorand, SLP, Tron), 3 are no format we know (below).
    (
        "graphsense/exchange-wallets-bitfinexcom.yaml",
        135,
        13,
        119,
        0,
        3,
    ),
    ("graphsense/exchange-wallets-bybit.yaml", 8, 8, 0, 0, 0),
    (
        "graphsense/exchange-wallets-cryptocom.yaml",
        10,
        10,
        0,
        0,
        0,
    ),
    ("graphsense/exchange-wallets-deribit.yaml", 18, 16, 2, 0, 0),
    ("graphsense/exchange-wallets-huobi.yaml", 58, 21, 37, 0, 0),
    // 12 tags name TRX or KCS; of 12 USDT tags without a bitcoin or ethereum
    // address, 1 is Tron and 11 are pieces of an Algorand address split over
    // several tags, or EOS account names.
    ("graphsense/exchange-wallets-kucoin.yaml", 59, 35, 13, 0, 11),
    ("graphsense/exchange-wallets-okx.yaml", 36, 36, 0, 0, 0),
    (
        "graphsense/exchange-wallets-swissborg.yaml",
        14,
        14,
        0,
        0,
        0,
    ),
    ("graphsense/lazarus.yaml", 21, 21, 0, 0, 0),
    ("graphsense/lazarus2.yaml", 6, 6, 0, 0, 0),
    ("graphsense/sinbad_io.yaml", 2, 2, 0, 0, 0),
    ("graphsense/tornado_cash.yaml", 39, 39, 0, 0, 0),
    ("graphsense/usdt_blacklist.yaml", 774, 774, 0, 0, 0),
    ("graphsense/walletexplorer.yaml", 386, 386, 0, 0, 0),
    (BRIANLEECT, 658, 658, 0, 0, 0),
    // 118 rows on bsc 52, celo 38, arbitrum 17, optimism 7, base 2, gnosis 2.
    (DAWSBOT, 877, 759, 118, 0, 0),
    // Two addresses whose mixed case fails EIP-55 (lines 1825, 6902).
    (
        "forta/ethereum_mainnet_etherscan_malicious_labels.csv",
        7780,
        7778,
        0,
        0,
        2,
    ),
    // 753 contracts and their 753 deployers.
    (
        "forta/ethereum_mainnet_malicious_smart_contracts.csv",
        1506,
        1506,
        0,
        0,
        0,
    ),
    (
        "forta/ethereum_mainnet_phishing_scams.csv",
        6726,
        6724,
        0,
        0,
        2,
    ),
];

#[test]
fn loaded_and_skipped_counts_per_file() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut all = LabelSet::new();
    for (file, records, loaded, unsupported, mismatched, invalid) in COUNTS {
        let set = load(&dir, file);
        let r = &set.reports()[0];
        assert_eq!(
            (
                r.records,
                r.loaded,
                r.unsupported(),
                r.mismatched(),
                r.invalid()
            ),
            (records, loaded, unsupported, mismatched, invalid),
            "{file}"
        );
        assert_eq!(r.loaded + r.skipped.len(), r.records, "{file}");
        assert_eq!(set.len(), loaded, "{file}");
        all.merge(set);
    }
    assert_eq!(all.reports().len(), COUNTS.len());
    assert_eq!(
        all.len(),
        COUNTS.iter().map(|c| c.2).sum::<usize>(),
        "merge keeps every label"
    );
}

#[test]
fn skipped_records_say_why() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let bitfinex = load(&dir, "graphsense/exchange-wallets-bitfinexcom.yaml");
    let invalid: Vec<&str> = bitfinex.reports()[0]
        .skipped
        .iter()
        .filter(|s| matches!(s.reason, LabelSkip::InvalidAddress { .. }))
        .map(|s| s.raw.as_str())
        .collect();
    assert_eq!(
        invalid,
        [
            "ED53MNSH3LQSScnT9SXzwKZg2weC8yds5X5G97Yvk3M5jFX",
            "1UJSCYLh44UYhkm1WwXAwT2W8nirTD74VzPsdhfsstY8S3u",
            "965c8b57b7f36fe9a40ce6188d444ca78708e4d83843b108f7f53d0fe5332076",
        ]
    );
    // A Polygon-tagged 0x address is about Polygon, not Ethereum.
    let first = &bitfinex.reports()[0].skipped[0];
    assert_eq!(first.location, SourceLocation::Tag(7));
    assert_eq!(first.reason.to_string(), "unsupported chain polygon");

    let forta = load(
        &dir,
        "forta/ethereum_mainnet_etherscan_malicious_labels.csv",
    );
    let bad = &forta.reports()[0].skipped;
    assert_eq!(bad[0].location, SourceLocation::Line(1825));
    assert!(
        bad[0].reason.to_string().contains("eip-55"),
        "{}",
        bad[0].reason
    );
    assert_eq!(bad[1].location, SourceLocation::Line(6902));
}

#[test]
fn categories_are_normalised() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let count = |set: &LabelSet, c: Category| set.iter().filter(|l| l.category == c).count();
    // WalletExplorer (Python: exchange 120, service 133, wallet_service 2,
    // gambling 58, mixing_service 37, miner 20, market 16).
    let we = load(&dir, "graphsense/walletexplorer.yaml");
    assert_eq!(count(&we, Category::Exchange), 120);
    assert_eq!(count(&we, Category::Service), 135);
    assert_eq!(count(&we, Category::Gambling), 58);
    assert_eq!(count(&we, Category::Mixer), 37);
    assert_eq!(count(&we, Category::Miner), 20);
    assert_eq!(count(&we, Category::Market), 16);
    // Lazarus packs: category `user` with `abuse: sanction`.
    let lazarus = load(&dir, "graphsense/lazarus.yaml");
    assert_eq!(count(&lazarus, Category::Sanctioned), 21);
    // Tether's blacklist is not a sanctions list.
    let usdt = load(&dir, "graphsense/usdt_blacklist.yaml");
    assert_eq!(count(&usdt, Category::Other), 774);
    // Forta: phish-hack 7568 (after the 2 invalid), exploit 139 + heist 71.
    let forta = load(
        &dir,
        "forta/ethereum_mainnet_etherscan_malicious_labels.csv",
    );
    assert_eq!(count(&forta, Category::Scam), 7568);
    assert_eq!(count(&forta, Category::Exploit), 210);
    // Contracts and deployers: phish-hack 593 rows; exploit 76, heist 40 and
    // 44 without a label (from DeFi hack collections) → 160 rows; two labels
    // a row.
    let contracts = load(&dir, "forta/ethereum_mainnet_malicious_smart_contracts.csv");
    assert_eq!(count(&contracts, Category::Scam), 1186);
    assert_eq!(count(&contracts, Category::Exploit), 320);
    assert_eq!(
        contracts.reports()[0].format,
        LabelFormat::FortaMaliciousContracts
    );
    let phishing = load(&dir, "forta/ethereum_mainnet_phishing_scams.csv");
    assert_eq!(count(&phishing, Category::Scam), 6724);
    // Lenders in the Etherscan exchange set are services, not exchanges.
    let daws = load(&dir, DAWSBOT);
    assert!(!daws.exchanges().contains_key("nexo"));
    assert!(
        daws.iter()
            .any(|l| l.entity.as_deref() == Some("nexo") && l.category == Category::Service)
    );
}

#[test]
fn an_actor_pack_is_not_a_tag_pack() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let p = dir.join("labels/graphsense/graphsense.actorpack.exchange-etc.trimmed.yaml");
    let e = LabelSet::load(&p).unwrap_err();
    assert!(matches!(e, Error::InputLine { .. }));
    assert!(e.to_string().contains("actor pack"), "{e}");
    assert!(e.to_string().contains("graphsense.actorpack"), "{e}");
}

#[test]
fn label_csv_rules_offline() {
    let csv = "\
chain,address,label,category
bitcoin,34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo,Binance cold wallet,exchange
btc,0xbe0eb53f46cd790cd13851d5eff43d12404d33e8,Binance 7,exchange
tron,TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY,KuCoin,exchange
,0x8589427373D6D84E98730D7795D8f6f8731FDA16,Tornado Cash,mixing_service
ethereum,0x8589427373D6D84E98730D7795D8f6f8731FDA17,typo,scam
ethereum,0x97b1043abd9e6fc31681635166d430a458d14f9c,KIM Sang Man,sanctioned
";
    let set = LabelSet::parse("my_labels.csv", csv.as_bytes()).unwrap();
    let r = &set.reports()[0];
    assert_eq!(r.format, LabelFormat::LabelCsv);
    assert_eq!((r.records, r.loaded), (6, 3));
    // A BTC-labelled 0x address (line 3), Tron (line 4), a bad checksum (line 6).
    assert_eq!(r.skipped[0].location, SourceLocation::Line(3));
    assert!(matches!(r.skipped[0].reason, LabelSkip::Mismatch { .. }));
    assert!(matches!(
        &r.skipped[1].reason,
        LabelSkip::UnsupportedChain { chain } if chain == "tron"
    ));
    assert!(matches!(
        r.skipped[2].reason,
        LabelSkip::InvalidAddress { .. }
    ));
    assert_eq!(set.exchanges()["binance"].len(), 1);
    let mixer = addr("0x8589427373d6d84e98730d7795d8f6f8731fda16");
    assert_eq!(set.get(&mixer)[0].category, Category::Mixer);
    assert_eq!(set.get(&mixer)[0].location, SourceLocation::Line(5));
    let kim = addr("0x97b1043abd9e6fc31681635166d430a458d14f9c");
    assert_eq!(set.get(&kim)[0].category, Category::Sanctioned);
    assert!(
        set.get(&addr("1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ"))
            .is_empty()
    );

    // A tag pack whose header says BTC but whose tag is an 0x address.
    let yaml = "category: exchange\ncurrency: BTC\nactor: binance\ntags:\n- address: '0xbe0eb53f46cd790cd13851d5eff43d12404d33e8'\n";
    let set = LabelSet::parse("p.yaml", yaml.as_bytes()).unwrap();
    assert_eq!(set.reports()[0].mismatched(), 1);
    assert!(set.is_empty());

    // Errors name the file and line; never a panic on garbage.
    let e = LabelSet::parse("bad.csv", b"who,what\n1,2\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.csv:1:"), "{e}");
    let e = LabelSet::parse("bad.yaml", b"tags:\n- address: [1, 2\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.yaml:"), "{e}");
    assert!(LabelSet::parse("x.yaml", &[0xff; 64]).is_err());
    assert!(LabelSet::parse("x.csv", &[0xff; 64]).is_err());
    let missing = LabelSet::load(Path::new("/nonexistent/labels.csv")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}
