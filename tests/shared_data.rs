//! The test data itself, and the built-in case's real identifiers checked
//! against it. The data is `tests/data` (`FUNDTRACE_DATA` overrides for the
//! identifier checks); `tests/data/SHA256SUMS` must list exactly the data
//! files there. With `CI=true` a missing data folder is a failure, not a skip.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[cfg(feature = "synthetic")]
use fundtrace::synthetic::{EXCHANGES, KIM_SANG_MAN};

fn read(dir: &Path, rel: &str) -> String {
    let p = dir.join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[cfg(feature = "synthetic")]
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

#[cfg(feature = "synthetic")]
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

/// This repository's `tests/data`, whatever `FUNDTRACE_DATA` says: the
/// listing checked here is the repository's own. `None` (skip) when it is
/// missing, as in the published crate; with `CI=true` that is a failure.
fn repo_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "test data folder {} is missing",
        dir.display()
    );
    eprintln!("skipping: test data folder {} not found", dir.display());
    None
}

/// The (SHA-256 in hex, path relative to `tests/data`) pairs of `SHA256SUMS`,
/// in `sha256sum`'s text format.
fn sums(dir: &Path) -> Vec<(String, String)> {
    read(dir, "SHA256SUMS")
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let n = i + 1;
            let (hash, path) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS:{n}: not `<sha256>  <path>`: {line:?}"));
            assert!(
                hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "SHA256SUMS:{n}: not a lower-case SHA-256: {hash:?}"
            );
            assert!(
                !path.starts_with('/')
                    && path
                        .split('/')
                        .all(|c| !c.is_empty() && c != "." && c != ".."),
                "SHA256SUMS:{n}: not a plain relative path: {path:?}"
            );
            (hash.to_owned(), path.to_owned())
        })
        .collect()
}

/// Every file under `dir` except the `PROVENANCE.md` files and the top
/// `SHA256SUMS`, as `/`-joined paths relative to `root`.
fn data_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            data_files(root, &p, out);
            continue;
        }
        if e.file_name() == "PROVENANCE.md" || p == root.join("SHA256SUMS") {
            continue;
        }
        let rel: Vec<&str> = p
            .strip_prefix(root)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_str().expect("UTF-8 file name"))
            .collect();
        out.insert(rel.join("/"));
    }
}

/// `SHA256SUMS` lists each data file once, and nothing that is not there;
/// each top-level folder has its `PROVENANCE.md`.
#[test]
fn sha256sums_lists_exactly_the_data_files() {
    let Some(dir) = repo_data() else {
        return;
    };
    let listed = sums(&dir);
    let names: BTreeSet<String> = listed.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(names.len(), listed.len(), "a path is listed twice");
    let mut found = BTreeSet::new();
    data_files(&dir, &dir, &mut found);
    let missing: Vec<_> = names.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "listed in SHA256SUMS, not in tests/data: {missing:?}"
    );
    let unlisted: Vec<_> = found.difference(&names).collect();
    assert!(
        unlisted.is_empty(),
        "in tests/data, not listed in SHA256SUMS: {unlisted:?}"
    );
    let tops: BTreeSet<&str> = found.iter().map(|p| p.split('/').next().unwrap()).collect();
    for top in tops {
        assert!(
            dir.join(top).join("PROVENANCE.md").is_file(),
            "tests/data/{top} has no PROVENANCE.md"
        );
    }
}

/// The sums themselves, with the SHA-256 of the `bitcoin` crate (a direct
/// dependency; its `hashes` module is `bitcoin_hashes`).
#[cfg(feature = "bitcoin")]
#[test]
fn sha256sums_match_the_files() {
    use bitcoin::hashes::{Hash, sha256};
    let Some(dir) = repo_data() else {
        return;
    };
    for (want, rel) in sums(&dir) {
        let p = dir.join(&rel);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(sha256::Hash::hash(&bytes).to_string(), want, "{rel}");
    }
}
