//! Snapshots: save, load, same report; damaged files refused.
#![cfg(feature = "synthetic")]

use fundtrace::snapshot::CaseInfo;
use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
use fundtrace::{Amount, FlowGraph, OpeningBalance, TraceConfig, TraceReport, trace};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fundtrace-snap-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn report(g: &FlowGraph, case: &CaseInfo) -> String {
    let cfg = TraceConfig::default();
    let out = trace(g, &case.seeds, &case.clusters, &cfg).unwrap();
    TraceReport::new(g, &case.seeds, &case.clusters, &cfg, out)
        .to_json()
        .unwrap()
}

#[test]
fn save_load_gives_the_same_report() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 50_000,
        extra_seeds: 2,
        ..SyntheticConfig::default()
    });
    let g = c.graph().unwrap();
    let case = CaseInfo {
        seeds: c.seeds.clone(),
        clusters: c.clusters.clone(),
    };
    let path = tmp("case.snap");
    g.save(&path, &case).unwrap();
    let (back, case_back) = FlowGraph::load(&path).unwrap();
    assert_eq!(case_back, case);
    assert_eq!(back.address_count(), g.address_count());
    assert_eq!(back.event_count(), g.event_count());
    assert_eq!(
        back.memory_use().traversal_bytes,
        g.memory_use().traversal_bytes
    );
    assert_eq!(report(&back, &case), report(&g, &case));
    // Every event reads back the same (addresses of every kind, big amounts, tokens).
    for id in g.events().step_by(97) {
        assert_eq!(back.event(id), g.event(id));
    }
    // Saving again gives the same bytes.
    assert_eq!(
        back.to_snapshot_bytes(&case).unwrap(),
        g.to_snapshot_bytes(&case).unwrap()
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn damaged_snapshots_are_refused() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 5_000,
        ..SyntheticConfig::default()
    });
    let g = c.graph().unwrap();
    let bytes = g.to_snapshot_bytes(&CaseInfo::default()).unwrap();
    let path = tmp("damaged.snap");
    // Cut short.
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let e = FlowGraph::load(&path).unwrap_err().to_string();
    assert!(e.contains("damaged.snap") && e.contains("checksum"), "{e}");
    // One byte changed in the middle.
    let mut changed = bytes.clone();
    let mid = changed.len() / 2;
    changed[mid] ^= 0x40;
    std::fs::write(&path, &changed).unwrap();
    let e = FlowGraph::load(&path).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
    // Not a snapshot; a future version.
    std::fs::write(&path, b"{\"json\": true}\n and more bytes").unwrap();
    assert!(
        FlowGraph::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a fundtrace snapshot")
    );
    let mut v3 = bytes.clone();
    v3[8] = 3;
    std::fs::write(&path, &v3).unwrap();
    let e = FlowGraph::load(&path).unwrap_err().to_string();
    assert!(e.contains("version 3") && e.contains("at offset 8"), "{e}");
    // Consistent checksum but an index out of range: still refused.
    let mut bad = bytes.clone();
    let body = bad.len() - 4;
    // The first address record's tag byte sits right after the first section header.
    bad[12 + 12] = 9;
    let crc = crc32(&bad[..body]);
    bad[body..].copy_from_slice(&crc.to_le_bytes());
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(e.1.contains("address record"), "{e:?}");
    assert!(
        FlowGraph::load(&tmp("missing.snap"))
            .unwrap_err()
            .to_string()
            .contains("missing.snap")
    );
    std::fs::remove_file(path).unwrap();
}

/// CRC-32 (IEEE), bit by bit: an independent check of the format's checksum.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Known opening balances travel with the snapshot (format version 2) and
/// give the same report after loading; a version 1 file, which has none,
/// still loads.
#[test]
fn opening_balances_are_kept_and_version_1_still_loads() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 20_000,
        ..SyntheticConfig::default()
    });
    let mut g = c.graph().unwrap();
    let case = CaseInfo {
        seeds: c.seeds.clone(),
        clusters: c.clusters.clone(),
    };
    let plain = g.to_snapshot_bytes(&case).unwrap();
    let holders = {
        let tracer = fundtrace::Tracer::new(&g);
        let targets = tracer.targets(&case.clusters).unwrap();
        tracer.value_holders(&case.seeds, &targets, &TraceConfig::default())
    };
    assert!(holders.len() > 10);
    let balances: Vec<OpeningBalance> = holders
        .iter()
        .step_by(3)
        .zip(1u128..)
        .map(|(&(address, asset), i)| OpeningBalance {
            address,
            asset,
            amount: Amount::new(i * 1_000_000_007),
            at_block: 99,
            source: "test".into(),
        })
        .collect();
    assert_eq!(g.set_opening_balances(balances.clone()), balances.len());
    let with = report(&g, &case);
    assert_ne!(
        with,
        report(&FlowGraph::from_snapshot_bytes(&plain).unwrap().0, &case)
    );
    let path = tmp("openings.snap");
    g.save(&path, &case).unwrap();
    let (back, _) = FlowGraph::load(&path).unwrap();
    assert_eq!(back.opening_balances(), g.opening_balances());
    assert_eq!(report(&back, &case), with);
    std::fs::remove_file(path).unwrap();

    // The same graph without openings, written as version 1.
    let mut v1 = plain.clone();
    v1[8] = 1;
    let body = v1.len() - 4;
    let crc = crc32(&v1[..body]);
    v1[body..].copy_from_slice(&crc.to_le_bytes());
    let (old, case_old) = FlowGraph::from_snapshot_bytes(&v1).unwrap();
    assert!(old.opening_balances().is_empty());
    assert_eq!(report(&old, &case_old), report(&g_without(&c), &case));
}

fn g_without(c: &SyntheticCase) -> FlowGraph {
    c.graph().unwrap()
}
