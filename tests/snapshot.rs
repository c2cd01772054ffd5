//! Snapshots: save, load, same report; damaged files refused.
#![cfg(feature = "synthetic")]

use fundtrace::snapshot::CaseInfo;
use fundtrace::synthetic::{SyntheticCase, SyntheticConfig};
mod common;

use fundtrace::{Amount, Asset, FlowGraph, OpeningBalance, TraceConfig, TraceReport, trace_seeds};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fundtrace-snap-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn report(g: &FlowGraph, case: &CaseInfo) -> String {
    let cfg = TraceConfig::default();
    let out = trace_seeds(g, &case.seeds, &case.clusters, &cfg).unwrap();
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
    let next = fundtrace::snapshot::FORMAT_VERSION + 1;
    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&next.to_le_bytes());
    std::fs::write(&path, &future).unwrap();
    let e = FlowGraph::load(&path).unwrap_err().to_string();
    assert!(
        e.contains(&format!("version {next}")) && e.contains("at offset 8"),
        "{e}"
    );
    // Consistent checksum but an index out of range: still refused.
    let mut bad = bytes.clone();
    // The first address record's tag byte sits right after the first section header.
    bad[12 + 12] = 9;
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(e.1.contains("address record"), "{e:?}");
    // An address twice (the second record copied over the first): refused
    // at the address section, as is a transaction id of an unknown chain.
    let mut bad = bytes.clone();
    bad.copy_within(24 + 35..24 + 70, 24);
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(
        e.1.contains("addresses") && e.1.contains("occurs twice") && e.0 == 24,
        "{e:?}"
    );
    let mut bad = bytes.clone();
    let at = section_at(&bad, 1);
    bad[at + 12 + 33 * 7] = 2;
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(
        e.1.contains("unknown chain") && e.0 == (at + 12) as u64,
        "{e:?}"
    );
    // An out-edge that names another event than its sender's: refused with
    // the section named (the graph looks receivers up there).
    let mut bad = bytes.clone();
    let at = section_at(&bad, 17);
    let first = u32::from_le_bytes(bad[at + 12..at + 16].try_into().unwrap());
    bad[at + 12..at + 16].copy_from_slice(&(first ^ 1).to_le_bytes());
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(e.1.contains("out_adj") && e.1.contains("out-edge"), "{e:?}");
    // An event word marked as a receiver word: refused the same way.
    let mut bad = bytes.clone();
    bad[at + 12 + 3] |= 0x80;
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(e.1.contains("out_adj") && e.1.contains("out-edge"), "{e:?}");
    // An event's native bit cleared: the other events' column no longer
    // matches, refused with the asset columns named.
    let mut bad = bytes.clone();
    let at = section_at(&bad, 5);
    bad[at + 12 + 8] ^= 1;
    reseal(&mut bad);
    let e = FlowGraph::from_snapshot_bytes(&bad).err().unwrap();
    assert!(
        e.1.contains("native_runs") && e.1.contains("asset"),
        "{e:?}"
    );
    assert!(
        FlowGraph::load(&tmp("missing.snap"))
            .unwrap_err()
            .to_string()
            .contains("missing.snap")
    );
    std::fs::remove_file(path).unwrap();
}

/// Offset of the header of section `index` (walking the headers).
fn section_at(bytes: &[u8], index: usize) -> usize {
    let mut at = 12usize;
    for _ in 0..index {
        let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap());
        at += 12 + usize::try_from(len).unwrap();
    }
    at
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

/// Known opening balances travel with the snapshot and give the same report
/// after loading.
#[test]
fn opening_balances_are_kept() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 20_000,
        ..SyntheticConfig::default()
    });
    let g = c.graph().unwrap();
    let case = CaseInfo {
        seeds: c.seeds.clone(),
        clusters: c.clusters.clone(),
    };
    let plain = g.to_snapshot_bytes(&case).unwrap();
    let holders = {
        let tracer = fundtrace::Tracer::new(&g, &case.clusters).unwrap();
        tracer.value_holders(&case.seeds, &TraceConfig::default())
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
            at_block: fundtrace::BlockHeight(99),
            source: "test".into(),
        })
        .collect();
    let g = g.with_opening_balances(balances.clone());
    assert_eq!(g.opening_balances(), &balances[..]);
    let with = report(&g, &case);
    // Given to the builder before the freeze, with one for an address not
    // in the graph (dropped): the same graph and report.
    let mut b = fundtrace::GraphBuilder::new();
    b.load(&mut c.source()).unwrap();
    let stranger = OpeningBalance {
        address: "bitcoin:1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
            .parse()
            .unwrap(),
        ..balances[0].clone()
    };
    b.add_opening_balances(balances.iter().cloned().chain([stranger]));
    let built = b.freeze().unwrap();
    assert_eq!(built.opening_balances(), &balances[..]);
    assert_eq!(report(&built, &case), with);
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
}

/// A file of an older format version (the crate reads only the current
/// one) is refused before anything is decoded, with the file, the version
/// found and the version supported named; so is one of a newer version.
#[test]
fn other_format_versions_are_refused() {
    let c = SyntheticCase::generate(&SyntheticConfig {
        transfers: 1_000,
        ..SyntheticConfig::default()
    });
    let bytes = c
        .graph()
        .unwrap()
        .to_snapshot_bytes(&CaseInfo::default())
        .unwrap();
    let now = fundtrace::snapshot::FORMAT_VERSION;
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), now);
    let path = tmp("old-version.snap");
    for version in [1, 2, now - 1, now + 1] {
        let mut other = bytes.clone();
        other[8..12].copy_from_slice(&version.to_le_bytes());
        reseal(&mut other);
        std::fs::write(&path, &other).unwrap();
        let e = FlowGraph::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("old-version.snap")
                && e.contains(&format!("format version {version};"))
                && e.contains(&format!("reads only version {now}"))
                && e.contains("at offset 8"),
            "{e}"
        );
    }
    std::fs::remove_file(path).unwrap();
}

/// Recomputes the trailing checksum after a deliberate change, so that the
/// decoders, not the checksum, have to catch it.
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

/// More assets than the compact asset column holds inline (65,535): the
/// rest are kept out of line, read back per event and survive a snapshot.
#[test]
fn assets_past_the_inline_column() {
    let n = 70_000u32;
    let asset = |i: u32| {
        let mut c = [0u8; 20];
        c[..4].copy_from_slice(&i.to_be_bytes());
        Asset::Erc20(c)
    };
    let records: Vec<_> = (0..n)
        .map(|i| {
            let (h, idx) = (u64::from(i / 1_000) + 1, i % 1_000);
            common::token(
                h,
                idx,
                0,
                asset(i),
                common::eth((i % 500) as u16),
                common::eth(500 + (i % 700) as u16),
                u128::from(i) + 1,
            )
        })
        .collect();
    let g = FlowGraph::from_records("tokens", records).unwrap();
    assert_eq!(g.assets().len(), n as usize);
    for (i, e) in (0u32..).zip(g.events()) {
        let info = g.event(e);
        assert_eq!(info.asset, asset(i));
        assert_eq!(info.outputs[0].1, Amount::new(u128::from(i) + 1));
    }
    let bytes = g.to_snapshot_bytes(&CaseInfo::default()).unwrap();
    let (back, _) = FlowGraph::from_snapshot_bytes(&bytes).unwrap();
    for e in g.events().step_by(7) {
        assert_eq!(back.event(e), g.event(e));
    }
    assert_eq!(back.to_snapshot_bytes(&CaseInfo::default()).unwrap(), bytes);
}

/// A freeze cuts the events into one run per thread and joins the runs'
/// columns: the frozen graph, byte for byte, must not depend on the number
/// of threads. The synthetic case has both chains, multi-leg events, tokens
/// and large amounts; the hand-built one has a large amount in every other
/// event and more assets than the inline asset column holds, so every run
/// joins large amounts and out-of-line assets onto earlier ones, and blocks
/// of 1,000 events go on across the joins.
#[test]
fn freeze_is_the_same_on_any_number_of_threads() {
    let synthetic = SyntheticCase::generate(&SyntheticConfig {
        transfers: 50_000,
        extra_seeds: 2,
        ..SyntheticConfig::default()
    })
    .records();
    let asset = |i: u32| {
        let mut c = [0u8; 20];
        c[..4].copy_from_slice(&i.to_be_bytes());
        Asset::Erc20(c)
    };
    let amount = |i: u32| {
        if i.is_multiple_of(2) {
            u128::MAX - u128::from(i)
        } else {
            u128::from(i) + 1
        }
    };
    let hand_built: Vec<_> = (0..70_000u32)
        .map(|i| {
            common::token(
                u64::from(i / 1_000) + 1,
                i % 1_000,
                0,
                asset(i % 66_000),
                common::eth((i % 500) as u16),
                common::eth(500 + (i % 700) as u16),
                amount(i),
            )
        })
        .collect();
    for (name, records) in [("synthetic", synthetic), ("hand-built", hand_built)] {
        let bytes = |threads: usize| {
            let g = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| FlowGraph::from_records(name, records.clone()))
                .unwrap();
            g.to_snapshot_bytes(&CaseInfo::default()).unwrap()
        };
        let one = bytes(1);
        for threads in [2, 3, 7] {
            assert!(bytes(threads) == one, "{name}: {threads} threads");
        }
        if name == "hand-built" {
            let (g, _) = FlowGraph::from_snapshot_bytes(&one).unwrap();
            for (i, e) in (0u32..).zip(g.events()).step_by(13) {
                let info = g.event(e);
                assert_eq!(info.asset, asset(i % 66_000));
                assert_eq!(info.outputs[0].1, Amount::new(amount(i)));
            }
        }
    }
}
