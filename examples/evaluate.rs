//! How good is the clustering? Precision and recall of the two heuristics of
//! `fundtrace::cluster` against the synthetic generator's ground truth.
//!
//! ```text
//! cargo run --release --example evaluate -- [--transfers N] [--seed N]
//! ```
//!
//! It generates the default synthetic case (10^6 transfers unless
//! `--transfers` says otherwise), labels only the twelve real hot wallets the
//! case is anchored on (`synthetic::EXCHANGES`, one Bitcoin and one Ethereum
//! wallet per exchange) as exchanges, runs `cluster` with the default
//! thresholds and compares with `SyntheticCase::cluster_truth`:
//!
//! * **Deposit heuristic.** A prediction is a pair (address *D*, exchange
//!   *X*) for every member whose evidence is a deposit forward. Precision:
//!   the share of predicted pairs whose *D* the truth lists as a deposit
//!   address of *X*. Recall: the share of the truth's sweeping deposit
//!   addresses (those that forward what they received to their hot wallet,
//!   the behaviour the heuristic looks for) that occur in the data and are
//!   predicted with their exchange. The share of *all* deposit addresses
//!   found (pool addresses that pay their hot wallet unrelated amounts,
//!   laundering deposits that never sweep) is printed for information.
//! * **Multi-input clustering, pairwise.** The universe is every Bitcoin
//!   address in the data whose owner the truth knows: background wallets
//!   (2 to 8 addresses), exchanges (hot wallet and deposit pool) and
//!   single-address users; laundering addresses are left out. Over the
//!   unordered pairs of that universe, a pair is *predicted* when both
//!   addresses are in one clustering group and *true* when they have one
//!   owner. Precision = |predicted ∩ true| / |predicted|, recall =
//!   |predicted ∩ true| / |true| (the standard pairwise measure; every
//!   group of n addresses counts n(n−1)/2 pairs).
//!
//! It also prints how many of the generated CoinJoin-shaped transactions the
//! heuristic recognised. Exit status 2 for bad arguments.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use fundtrace::cluster::{ClusterConfig, Clustering, Evidence};
use fundtrace::synthetic::{EXCHANGES, SyntheticCase, SyntheticConfig};
use fundtrace::{Chain, LabelSet};

const HELP: &str = "\
evaluate: precision and recall of the clustering heuristics on a synthetic case

USAGE: evaluate [--transfers N] [--seed N]

  --transfers N   size of the synthetic case in transfers (default 1000000)
  --seed N        random seed of the case (default 43377)
  -h, --help      this text
";

fn parse_args() -> Result<Option<SyntheticConfig>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut cfg = SyntheticConfig {
        transfers: 1_000_000,
        ..SyntheticConfig::default()
    };
    let num = |p: &mut lexopt::Parser, flag: &str| -> Result<u64, String> {
        let v = p.value().map_err(|e| format!("{flag}: {e}"))?;
        let s = v.to_string_lossy().into_owned();
        s.parse()
            .map_err(|_| format!("{flag}: expected a whole number, got {s:?}"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("transfers") => {
                cfg.transfers = num(&mut p, "--transfers")?;
                if cfg.transfers == 0 {
                    return Err("--transfers: must be at least 1".into());
                }
            }
            Long("seed") => cfg.seed = num(&mut p, "--seed")?,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Some(cfg))
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn main() -> ExitCode {
    let cfg = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("evaluate: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evaluate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &SyntheticConfig) -> fundtrace::Result<()> {
    let t0 = Instant::now();
    let case = SyntheticCase::generate(cfg);
    let graph = case.graph()?;
    let truth = case.cluster_truth();
    let t_gen = t0.elapsed();

    // Labels: the hot wallets only.
    let mut csv = String::from("chain,address,label,category,entity\n");
    for (name, btc, eth) in EXCHANGES {
        csv.push_str(&format!(
            "bitcoin,{btc},{name} hot wallet,exchange,{name}\n"
        ));
        csv.push_str(&format!(
            "ethereum,{eth},{name} hot wallet,exchange,{name}\n"
        ));
    }
    let labels = LabelSet::parse("hot-wallets.csv", csv.as_bytes())?;
    let t1 = Instant::now();
    let clustering = Clustering::build(&graph, &labels, &ClusterConfig::default());
    let t_cluster = t1.elapsed();

    println!(
        "case: {} transfers requested, seed {}; {} events, {} addresses",
        cfg.transfers,
        cfg.seed,
        graph.event_count(),
        graph.address_count()
    );

    // (a) Deposit heuristic.
    let mut predicted = 0u64;
    let mut correct = 0u64;
    let mut found_swept = 0u64;
    let mut found_any = 0u64;
    for c in clustering.exchange_clusters() {
        for m in &c.members {
            if let Some(Evidence::DepositForward { .. }) = clustering.evidence(m) {
                predicted += 1;
                if truth.deposits.get(m).is_some_and(|d| c.name == *d) {
                    correct += 1;
                    found_any += 1;
                    if truth.swept.contains(m) {
                        found_swept += 1;
                    }
                }
            }
        }
    }
    let swept_in_data = truth
        .swept
        .iter()
        .filter(|a| graph.node(a).is_some())
        .count() as u64;
    let all_in_data = truth
        .deposits
        .keys()
        .filter(|a| graph.node(a).is_some())
        .count() as u64;
    println!(
        "deposit heuristic: precision {:.4} ({correct}/{predicted} pairs), recall {:.4} ({found_swept}/{swept_in_data} sweeping deposits)",
        ratio(correct, predicted),
        ratio(found_swept, swept_in_data)
    );
    println!(
        "  all deposit addresses in the data, sweeping or not: {found_any}/{all_in_data} found"
    );

    // (b) Multi-input clustering, pairwise.
    let mut owner: HashMap<fundtrace::Address, u64> = HashMap::new();
    for (i, list) in truth.owners.values().enumerate() {
        for a in list {
            owner.insert(*a, i as u64);
        }
    }
    let base = truth.owners.len() as u64;
    for (i, a) in truth.singletons.iter().enumerate() {
        owner.insert(*a, base + i as u64);
    }
    let mut cell: HashMap<(usize, u64), u64> = HashMap::new();
    let mut pred: HashMap<usize, u64> = HashMap::new();
    let mut own: HashMap<u64, u64> = HashMap::new();
    let mut universe = 0u64;
    for a in graph.addresses() {
        if a.chain() != Chain::Bitcoin || a.as_special().is_some() {
            continue;
        }
        let Some(&o) = owner.get(a) else { continue };
        universe += 1;
        *own.entry(o).or_default() += 1;
        if let Some(g) = clustering.group_index(a) {
            *pred.entry(g).or_default() += 1;
            *cell.entry((g, o)).or_default() += 1;
        }
    }
    let tp: u64 = cell.values().map(|&n| pairs(n)).sum();
    // Recall by kind of owner: exchanges, then background wallets.
    let n_exchanges = EXCHANGES.len() as u64;
    let exchange_owner: Vec<bool> = truth
        .owners
        .keys()
        .map(|n| !n.starts_with("wallet-"))
        .collect();
    let kind_of = |o: u64| usize::try_from(o).is_ok_and(|i| exchange_owner[i]);
    let mut by_kind = [(0u64, 0u64); 2];
    for (&(_, o), &n) in &cell {
        if o < base {
            by_kind[usize::from(!kind_of(o))].0 += pairs(n);
        }
    }
    for (&o, &n) in &own {
        if o < base {
            by_kind[usize::from(!kind_of(o))].1 += pairs(n);
        }
    }
    let pp: u64 = pred.values().map(|&n| pairs(n)).sum();
    let tt: u64 = own.values().map(|&n| pairs(n)).sum();
    println!(
        "multi-input clustering: precision {:.4} ({tp}/{pp} pairs), recall {:.4} ({tp}/{tt} pairs) over {universe} addresses",
        ratio(tp, pp),
        ratio(tp, tt)
    );

    println!(
        "  recall by owner: {n_exchanges} exchanges {:.4} ({}/{} pairs), {} wallets {:.4} ({}/{} pairs)",
        ratio(by_kind[0].0, by_kind[0].1),
        by_kind[0].0,
        by_kind[0].1,
        truth.owners.len() as u64 - n_exchanges,
        ratio(by_kind[1].0, by_kind[1].1),
        by_kind[1].0,
        by_kind[1].1
    );

    let detected: std::collections::HashSet<_> =
        clustering.coinjoins().iter().map(|c| c.tx).collect();
    let caught = truth
        .coinjoins
        .iter()
        .filter(|t| detected.contains(t))
        .count();
    let s = clustering.stats();
    println!(
        "coinjoins: {caught}/{} generated recognised; {} skipped in all; {} multi-input transactions; {} merges refused",
        truth.coinjoins.len(),
        s.coinjoins,
        s.multi_input_txs,
        clustering.refused().len()
    );
    println!(
        "time: generate + load + truth {:.2} s, cluster {:.2} s",
        t_gen.as_secs_f64(),
        t_cluster.as_secs_f64()
    );
    Ok(())
}
