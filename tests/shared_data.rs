//! The built-in case's real identifiers, checked against the shared data
//! (`FUNDTRACE_DATA`, default `../shared/data`). With `CI=true` a missing
//! data folder is a failure, not a skip.
#![cfg(feature = "synthetic")]

mod common;

use fundtrace::synthetic::{EXCHANGES, KIM_SANG_MAN};

fn read(dir: &std::path::Path, rel: &str) -> String {
    let p = dir.join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn kim_sang_man_addresses_match_ofac_records() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let table = read(&dir, "ofac/kim_sang_man_43377_addresses.csv");
    let row = read(&dir, "ofac/sdn_csv_2023-05-23_kim_sang_man_43377_row.csv");
    assert!(row.starts_with("43377,"));
    for a in KIM_SANG_MAN {
        assert!(
            table.to_lowercase().contains(&a.to_lowercase()),
            "{a} not in the OFAC table"
        );
        assert!(
            row.to_lowercase().contains(&a.to_lowercase()),
            "{a} not in the SDN.CSV row"
        );
        fundtrace::Address::parse(a).unwrap();
    }
}

#[test]
fn exchange_anchors_come_from_the_label_files() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut labels = String::new();
    for f in ["binance", "bitfinexcom", "kucoin", "okx", "huobi", "bybit"] {
        labels.push_str(&read(
            &dir,
            &format!("labels/graphsense/exchange-wallets-{f}.yaml"),
        ));
    }
    labels.push_str(&read(
        &dir,
        "labels/etherscan/brianleect_etherscan_exchange_labels_2023-06.csv",
    ));
    let labels = labels.to_lowercase();
    for (name, btc, eth) in EXCHANGES {
        assert!(
            labels.contains(&btc.to_lowercase()),
            "{name} bitcoin anchor {btc} not in the labels"
        );
        assert!(
            labels.contains(&eth.to_lowercase()),
            "{name} ethereum anchor {eth} not in the labels"
        );
    }
}
