//! Runs the example programs as an investigator would.

mod common;

use common::example;
use std::path::PathBuf;

/// Checks that a run succeeded and reads the JSON report it wrote.
fn ok_json(out: &std::process::Output, json: &std::path::Path) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap()
}

/// Runs the trace example with `args`, `--quiet` and a JSON report to a
/// temporary file named `name`, and reads the report.
fn trace_report(name: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let j = tmp(name);
    let out = example("trace")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&j)
        .output()
        .unwrap();
    ok_json(&out, &j)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fundtrace-examples-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn trace_default_case_is_thread_independent() {
    let (j1, j2, csv, dot) = (tmp("t1.json"), tmp("t2.json"), tmp("t.csv"), tmp("t.dot"));
    let out = example("trace")
        .args(["--threads", "1", "--json"])
        .arg(&j1)
        .arg("--csv")
        .arg(&csv)
        .arg("--dot")
        .arg(&dot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for seed in ["1D6gG9iK", "1FCNgfZW", "0x97b104", "0xb6f5ec"] {
        assert!(table.contains(seed), "{seed} missing from\n{table}");
    }
    assert!(table.contains("strongest finding"));
    let out = example("trace")
        .args(["--threads", "2", "--quiet", "--json"])
        .arg(&j2)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (a, b) = (std::fs::read(&j1).unwrap(), std::fs::read(&j2).unwrap());
    assert!(a == b, "JSON differs between 1 and 2 threads");
    let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
    for key in ["crate_version", "parameters", "sources", "seeds"] {
        assert!(v["meta"][key] != serde_json::Value::Null, "meta.{key}");
    }
    let f = &v["findings"][0];
    for key in [
        "seed",
        "cluster",
        "min_hops",
        "first_arrival",
        "value",
        "path",
    ] {
        assert!(f[key] != serde_json::Value::Null, "findings[0].{key}");
    }
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("seed,cluster,min_hops")
    );
    assert!(
        std::fs::read_to_string(&dot)
            .unwrap()
            .starts_with("digraph evidence {")
    );
}

#[test]
fn trace_flags() {
    let seeds = tmp("seeds.txt");
    std::fs::write(&seeds, "# one seed\n1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ\n").unwrap();
    let v = trace_report(
        "flags.json",
        &[
            "--synthetic".as_ref(),
            "20000".as_ref(),
            "--seeds".as_ref(),
            seeds.as_os_str(),
            "--model".as_ref(),
            "haircut".as_ref(),
            "--max-hops".as_ref(),
            "3".as_ref(),
            "--no-time-order".as_ref(),
        ],
    );
    assert_eq!(
        v["meta"]["parameters"]["models"],
        serde_json::json!(["haircut"])
    );
    assert_eq!(v["meta"]["parameters"]["time_respecting"], false);
    assert_eq!(v["meta"]["seeds"].as_array().unwrap().len(), 1);
    for f in v["findings"].as_array().unwrap() {
        assert!(f["min_hops"].as_u64().unwrap() <= 3);
    }
    // Each hop search by name: the same findings and seeds, evidence
    // paths included; the report does not name the search (a cost
    // choice, not part of the answer).
    let mut reports = Vec::new();
    for search in ["frontier", "stream"] {
        let v = trace_report(
            &format!("search-{search}.json"),
            &["--synthetic", "20000", "--search", search].map(std::ffi::OsStr::new),
        );
        assert!(v["meta"]["parameters"].get("search").is_none());
        for s in v["seeds"].as_array().unwrap() {
            assert!(s.get("search").is_none(), "{s}");
        }
        reports.push(v);
    }
    assert!(!reports[0]["findings"].as_array().unwrap().is_empty());
    assert_eq!(reports[0]["findings"], reports[1]["findings"]);
    assert_eq!(reports[0]["seeds"], reports[1]["seeds"]);
    // A cluster given on the command line.
    let out = example("trace")
        .args([
            "--synthetic",
            "20000",
            "--seed",
            "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
        ])
        .args([
            "--cluster",
            "binance-hot=34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn trace_rejects_bad_arguments_clearly() {
    for (args, needle) in [
        (vec!["--seed", "0xZZ"], "0xZZ"),
        (vec!["--cluster", "nobody"], "NAME=ADDR"),
        (vec!["--model", "lifo"], "lifo"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--max-hops", "x"], "--max-hops"),
        (vec!["--seeds", "/nonexistent/seeds.txt"], "seeds.txt"),
        (vec!["--search", "sideways"], "sideways"),
        (
            vec!["--search", "stream", "--no-time-order"],
            "setting search: stream needs",
        ),
        (vec!["--frobnicate"], "frobnicate"),
    ] {
        let out = example("trace").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = example("trace").arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-hops"));
}

/// The Bitcoin adapter's acceptance run: the block 9 coinbase reaches Hal
/// Finney at 1 hop with 10 BTC (tx f4184fc5…, block 170).
#[cfg(feature = "bitcoin")]
#[test]
fn trace_bitcoin_blocks_1_to_255() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let file = dir.join("chain/bitcoin/blk_files/mainnet_blocks_1_to_255_blkframed.dat");
    let j = tmp("hal.json");
    let out = example("trace")
        .arg("--btc-blocks")
        .arg(&file)
        .args([
            "--seed",
            "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S",
            "--cluster",
            "hal=1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3",
            "--json",
        ])
        .arg(&j)
        .output()
        .unwrap();
    let v = ok_json(&out, &j);
    let f = &v["findings"][0];
    assert_eq!(f["cluster"], "hal");
    assert_eq!(f["min_hops"], 1);
    assert_eq!(f["value"]["BTC"]["poison"], "1000000000");
    assert_eq!(f["value"]["BTC"]["haircut"], "1000000000");
    assert_eq!(
        f["path"][0]["tx"],
        "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
    );
    assert_eq!(f["first_arrival"]["height"], 170);
    assert_eq!(
        v["meta"]["sources"][0]["counters"]["inputs_with_unknown_prevout"],
        0
    );
    // Real data without seeds or clusters is refused clearly.
    let out = example("trace")
        .arg("--btc-blocks")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster"));
    // A bad height range.
    let out = example("trace")
        .arg("--btc-blocks")
        .arg(&file)
        .args(["--btc-height", "9..1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty range"));
}

/// `--crawl` through a loopback Esplora over blocks 1–255 gives the
/// findings of loading the blk file, and reports the busy addresses it
/// stopped at as clusters.
#[cfg(feature = "bitcoin")]
#[test]
fn trace_crawl_matches_the_block_file_load() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let file = dir.join("chain/bitcoin/blk_files/mainnet_blocks_1_to_255_blkframed.dat");
    let server = std::sync::Arc::new(common::esplora::Esplora::new(
        &common::esplora::read_blk_framed(&file, 1),
    ));
    let (http, counts) = server.serve();
    let api = format!("{}/api", http.url);
    let target = [
        "--seed",
        "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S",
        "--cluster",
        "hal=1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3",
        "--cluster",
        "h187=15NUwyBYrZcnUgTagsm1A7M2yL2GntpuaZ",
    ];
    let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    let mut whole_args = vec![
        std::ffi::OsString::from("--btc-blocks"),
        file.into_os_string(),
    ];
    whole_args.extend(os(&target));
    let whole_refs: Vec<&std::ffi::OsStr> = whole_args.iter().map(|a| a.as_os_str()).collect();
    let whole = trace_report("whole.json", &whole_refs);
    let mut crawl_args = os(&["--crawl", "--esplora", &api]);
    crawl_args.extend(os(&target));
    let crawl_refs: Vec<&std::ffi::OsStr> = crawl_args.iter().map(|a| a.as_os_str()).collect();
    let crawled = trace_report("crawl.json", &crawl_refs);
    assert_eq!(crawled["findings"], whole["findings"]);
    assert_eq!(whole["findings"].as_array().unwrap().len(), 2);
    let src = &crawled["meta"]["sources"][0];
    assert!(
        src["name"].as_str().unwrap().starts_with("crawl:esplora:"),
        "{src}"
    );
    assert!(src["counters"]["requests"].as_u64().unwrap() > 0);
    assert!(counts.lock().unwrap()["txs"] > 0);
    // With a busy limit of 1, the addresses past one transaction are
    // stopped at and show up as clusters named after them.
    let mut busy_args = crawl_args.clone();
    busy_args.extend(os(&["--busy", "1"]));
    let busy_refs: Vec<&std::ffi::OsStr> = busy_args.iter().map(|a| a.as_os_str()).collect();
    let busy = trace_report("busy.json", &busy_refs);
    let names: Vec<&str> = busy["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cluster"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("busy ")), "{names:?}");
    // With --cache, a rerun sends no request and writes the same findings;
    // the report names the cache file and the digest of its answers.
    #[cfg(feature = "cache")]
    {
        let cache = tmp("crawl-cache.sqlite");
        let _ = std::fs::remove_file(&cache);
        let mut cached_args = crawl_args.clone();
        cached_args.extend([
            std::ffi::OsString::from("--cache"),
            cache.clone().into_os_string(),
        ]);
        let refs: Vec<&std::ffi::OsStr> = cached_args.iter().map(|a| a.as_os_str()).collect();
        let first = trace_report("cached1.json", &refs);
        let hits = http.hits.load(std::sync::atomic::Ordering::SeqCst);
        let second = trace_report("cached2.json", &refs);
        assert_eq!(http.hits.load(std::sync::atomic::Ordering::SeqCst), hits);
        assert_eq!(first["findings"], second["findings"]);
        assert_eq!(first["findings"], whole["findings"]);
        let details = &second["meta"]["sources"][0]["details"];
        assert_eq!(details["cache"], cache.display().to_string());
        assert_eq!(
            details["cache_answers_sha256"],
            first["meta"]["sources"][0]["details"]["cache_answers_sha256"]
        );
        assert_eq!(second["meta"]["sources"][0]["counters"]["requests"], 0);
        let _ = std::fs::remove_file(&cache);
    }
    // A crawl needs an index and seeds.
    let out = example("trace")
        .args(["--crawl", "--seed", "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--esplora"));
}

/// Seeds from OFAC's own files, clusters from exchange labels.
#[test]
fn trace_seeds_from_ofac_and_clusters_from_labels() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    for (sdn, entity) in [
        (
            "ofac/sdn_csv_2023-05-23_kim_sang_man_43377_row.csv",
            "43377",
        ),
        (
            "ofac/sdn_advanced_2025-11-19_kim_sang_man_43377_excerpt.xml",
            "KIM, Sang Man",
        ),
    ] {
        let j = tmp("sdn.json");
        let out = example("trace")
            .args(["--synthetic", "20000", "--sdn"])
            .arg(dir.join(sdn))
            .args(["--entity", entity, "--labels"])
            .arg(dir.join("labels/graphsense/exchange-wallets-binance.yaml"))
            .args(["--quiet", "--json"])
            .arg(&j)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("SDN: 4 seed addresses from 6 listings")
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
        // In each file's document order; compared as a set.
        let mut seeds: Vec<&str> = v["meta"]["seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        seeds.sort_unstable();
        assert_eq!(
            seeds,
            [
                "bitcoin:1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
                "bitcoin:1FCNgfZWpYMeYhy9t18AAkTBu8AsdoAc1Z",
                "ethereum:0x97b1043abd9e6fc31681635166d430a458d14f9c",
                "ethereum:0xb6f5ec1a0a9cd1526536d3f0426c429529471f40",
            ]
        );
        // The Binance tag pack gives one cluster, "binance", grown from the
        // synthetic case's Binance hot wallets by the clustering heuristics.
        assert_eq!(v["meta"]["clusters"][0]["name"], "binance");
        assert!(
            v["meta"]["clusters"][0]["members_in_graph"]
                .as_u64()
                .unwrap()
                > 2
        );
        // Each finding's member comes with the evidence that made it a member.
        let ev = v["member_evidence"].as_object().expect("member evidence");
        for f in v["findings"].as_array().unwrap() {
            let kind = ev[f["member"].as_str().unwrap()]["kind"].as_str().unwrap();
            assert!(
                ["label", "common_input", "deposit_forward"].contains(&kind),
                "{kind}"
            );
        }
    }
    let out = example("trace")
        .args(["--entity", "43377"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--entity needs --sdn"));
}

/// `--save` then `--load` gives the same report, byte for byte.
#[test]
fn trace_snapshot_round_trip() {
    let (snap, a, b) = (tmp("case.snap"), tmp("saved.json"), tmp("loaded.json"));
    let out = example("trace")
        .args(["--synthetic", "20000", "--quiet", "--save"])
        .arg(&snap)
        .arg("--json")
        .arg(&a)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = example("trace")
        .args(["--quiet", "--load"])
        .arg(&snap)
        .arg("--json")
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "reports differ after --load"
    );
    let out = example("trace")
        .args(["--synthetic", "1000", "--load"])
        .arg(&snap)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--load replaces the data options"));
}

/// The clustering evaluation on a small case: it prints precision and recall
/// of both heuristics, meeting the targets, and refuses bad arguments.
#[test]
fn evaluate_runs() {
    let out = example("evaluate")
        .args(["--transfers", "100000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // "<name>: precision 0.9990 (…), recall 0.9700 (…)"
    let figures = |prefix: &str| -> (f64, f64) {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{text}"));
        let after = |key: &str| -> f64 {
            let rest = &line[line.find(key).unwrap() + key.len()..];
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        (after("precision "), after("recall "))
    };
    for prefix in ["deposit heuristic:", "multi-input clustering:"] {
        let (p, r) = figures(prefix);
        assert!(
            p >= 0.99 && r >= 0.95,
            "{prefix} precision {p} recall {r}\n{text}"
        );
    }
    for bad in [
        vec!["--transfers", "many"],
        vec!["--transfers"],
        vec!["--frobnicate"],
    ] {
        let out = example("evaluate").args(&bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?} succeeded");
        assert!(!out.stderr.is_empty());
    }
}
