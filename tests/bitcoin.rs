//! The Bitcoin adapter on real chain data from the shared data folder
//! (`FUNDTRACE_DATA`; with `CI=true` a missing folder fails).
#![cfg(feature = "bitcoin")]

mod common;

use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::deserialize;
use bitcoin::hashes::Hash;
use fundtrace::sources::bitcoin::{
    BlkOptions, BlkSource, UtxoIndex, UtxoStore, convert_block, decode_block,
};
use fundtrace::{
    Asset, BitcoinNetwork, Cluster, GraphBuilder, Model, Record, Source, TraceConfig, trace_seeds,
};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fundtrace-btc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (file, tx count, inputs, outputs) from the data's PROVENANCE.md.
const RAW: [(&str, usize, usize, usize); 4] = [
    (
        "mainnet_702861_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw",
        2_500,
        6_518,
        6_015,
    ),
    (
        "mainnet_574200_0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.raw",
        3_315,
        5_055,
        8_150,
    ),
    (
        "mainnet_540107_00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.raw",
        230,
        7_033,
        472,
    ),
    (
        "testnet3_924634_000000000000045e0b1660b6445b5e5c5ab63c9a4f956be7e1e69be04fa4497b.raw",
        15,
        0,
        0,
    ),
];

#[test]
fn raw_blocks_decode_and_check() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    for (name, txs, ins, outs) in RAW {
        let path = d.join("raw_blocks").join(name);
        let bytes = std::fs::read(&path).unwrap();
        // Decoding checks that every byte is consumed, the merkle root and
        // the witness commitment.
        let block = decode_block(&bytes, &path, 0).unwrap();
        let stem = name.strip_suffix(".raw").unwrap();
        let (prefix, hash) = stem.rsplit_once('_').unwrap();
        assert_eq!(block.block_hash().to_string(), hash, "{name}");
        let height: u64 = prefix.rsplit_once('_').unwrap().1.parse().unwrap();
        assert_eq!(block.bip34_block_height().unwrap(), height, "{name}");
        assert_eq!(block.txdata.len(), txs, "{name}");
        if ins > 0 {
            assert_eq!(
                block.txdata.iter().map(|t| t.input.len()).sum::<usize>(),
                ins,
                "{name}"
            );
            assert_eq!(
                block.txdata.iter().map(|t| t.output.len()).sum::<usize>(),
                outs,
                "{name}"
            );
        }
        // Conversion: one record per transaction, every output a leg; without
        // history, every non-coinbase input's previous output is unknown.
        let net = if name.starts_with("testnet") {
            BitcoinNetwork::Testnet
        } else {
            BitcoinNetwork::Mainnet
        };
        let mut recs = Vec::new();
        let s = convert_block(&block, height, net, &mut UtxoIndex::new(), &mut recs).unwrap();
        assert_eq!(recs.len(), txs);
        assert_eq!(
            s.outputs,
            block
                .txdata
                .iter()
                .map(|t| t.output.len() as u64)
                .sum::<u64>()
        );
        // Inputs spending outputs of the same block are resolved; the rest are unknown.
        assert!(s.unknown_inputs <= s.inputs);
    }
}

fn blocks_1_to_255(d: &Path) -> PathBuf {
    d.join("blk_files/mainnet_blocks_1_to_255_blkframed.dat")
}

/// Block 9's coinbase pays 12cbQLTF… (a bare P2PK output shown as its
/// P2PKH address). From it, tx f4184fc5… (block 170) pays Hal Finney
/// 10 BTC at 1 hop; the later spends in the file, worked out from the file
/// and listed in its PROVENANCE.md, sit at these distances.
#[test]
fn blocks_1_to_255_trace_from_the_block_9_coinbase() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let mut src = BlkSource::open(
        &[blocks_1_to_255(&d)],
        BlkOptions::new(BitcoinNetwork::Mainnet),
    )
    .unwrap();
    assert_eq!(src.first_height(), 1);
    assert_eq!(src.chain_len(), 255);
    let mut b = GraphBuilder::new();
    b.load(&mut src).unwrap();
    let g = b.freeze().unwrap();
    let c = &g.sources()[0].counters;
    assert_eq!(c["blocks"], 255);
    assert_eq!(c["transactions"], 262);
    assert_eq!(
        c["inputs_with_unknown_prevout"], 0,
        "every input resolves inside the file"
    );
    assert_eq!(
        g.sources()[0].blocks[&fundtrace::Chain::Bitcoin],
        (fundtrace::BlockHeight(1), fundtrace::BlockHeight(255))
    );

    let seed: fundtrace::Address = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S".parse().unwrap();
    let expect = [
        (
            "hal",
            "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3",
            1,
            1_000_000_000u128,
            170u64,
            "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16",
        ),
        (
            "h181",
            "1DUDsfc23Dv9sPMEk5RsrtfzCw5ofi5sVW",
            1,
            1_000_000_000,
            181,
            "a16f3ce4dd5deb92d98ef5cf8afeaf0775ebca408f708b2146c4fb42b41e14be",
        ),
        (
            "h182",
            "1LzBzVqEeuQyjD2mRWHes3dgWrT9titxvq",
            1,
            100_000_000,
            182,
            "591e91f809d716912ca1d4a9295e70c3e78bab077683f79350f101da64588073",
        ),
        (
            "h183",
            "13HtsYzne8xVPdGDnmJX8gHgBZerAfJGEf",
            1,
            100_000_000,
            183,
            "12b5633bad1f9c167d523ad1aa1947b2732a865bf5414eab2f9e5ae5d5c191ba",
        ),
        (
            "h187",
            "15NUwyBYrZcnUgTagsm1A7M2yL2GntpuaZ",
            2,
            100_000_000,
            187,
            "4385fcf8b14497d0659adccfe06ae7e38e0b5dc95ff8a13d7c62035994a0cd79",
        ),
        (
            "h221",
            "1BDvQZjaAJH4ecZ8aL3fYgTi7rnn3o2thE",
            2,
            100_000_000,
            221,
            "298ca2045d174f8a158961806ffc4ef96fad02d71a6b84d9fa0491813a776160",
        ),
        (
            "h248",
            "1ByLSV2gLRcuqUmfdYcpPQH8Npm8cccsFg",
            1,
            1_000_000_000,
            248,
            "828ef3b079f9c23829c56fe86e85b4a69d9e06e5b54ea597eef5fb3ffef509fe",
        ),
    ];
    let clusters: Vec<Cluster> = expect
        .iter()
        .map(|(n, a, ..)| Cluster::new(*n, vec![a.parse().unwrap()]))
        .collect();
    // Each recipient is its own "cluster" here, and the 2-hop spends go
    // through 1-hop recipients: let taint pass through clusters.
    let cfg = TraceConfig::default().with_stop_at_clusters(false);
    let out = trace_seeds(&g, &[seed], &clusters, &cfg).unwrap();
    assert_eq!(out.findings.len(), expect.len());
    for (f, (name, _, hops, sat, height, tx)) in out.findings.iter().zip(expect) {
        assert_eq!(f.cluster, name);
        assert_eq!(f.min_hops, hops, "{name}");
        for m in Model::ALL {
            assert_eq!(f.value[&Asset::Btc][&m].get(), sat, "{name} {m:?}");
        }
        let last = f.path.last().unwrap();
        assert_eq!(
            (last.height.0, last.tx.to_string()),
            (height, tx.to_string()),
            "{name}"
        );
    }
}

#[test]
fn block_277647_with_utxostore_fees() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let store = UtxoStore::load(
        &d.join("blk_files/mainnet_277647.utxostore"),
        BitcoinNetwork::Mainnet,
    )
    .unwrap();
    assert_eq!(store.len(), 732);
    let mut src = BlkSource::open_with(
        &[d.join("blk_files/mainnet_277647_blkframed.dat")],
        BlkOptions::new(BitcoinNetwork::Mainnet),
        UtxoIndex::with_provider(Box::new(store)),
    )
    .unwrap();
    // Mid-chain start: the height comes from BIP34.
    assert_eq!(src.first_height(), 277_647);
    let mut recs = Vec::new();
    while let Some(r) = src.next_record().unwrap() {
        recs.push(r);
    }
    let t = src.totals();
    assert_eq!((t.txs, t.inputs, t.unknown_inputs), (213, 732, 0));
    // PROVENANCE.md: fees add to 4,737,355 sat; the coinbase pays 25 BTC + fees.
    assert_eq!(t.fees, 4_737_355);
    assert_eq!(t.coinbase_value, 2_500_000_000 + 4_737_355);
    // In the graph, the fee legs to `fees` add to the same.
    let mut b = GraphBuilder::new();
    b.load(&mut fundtrace::MemorySource::new("277647", recs))
        .unwrap();
    let g = b.freeze().unwrap();
    let fees = g
        .node(&fundtrace::Address::special(
            fundtrace::Chain::Bitcoin,
            fundtrace::Special::Fees,
        ))
        .unwrap();
    let total: u128 = g
        .incoming(fees)
        .map(|e| {
            g.event(e)
                .outputs
                .iter()
                .filter(|o| o.0.as_special().is_some())
                .map(|o| o.1.get())
                .sum::<u128>()
        })
        .sum();
    assert_eq!(total, 4_737_355);
}

#[test]
fn truncated_testnet_file_yields_401_blocks_and_a_warning() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let path = d.join("blk_files/testnet3_blk00000_first100000bytes.dat");
    let mut src = BlkSource::open(&[path], BlkOptions::new(BitcoinNetwork::Testnet)).unwrap();
    assert_eq!(src.first_height(), 0);
    assert_eq!(src.chain_len(), 401);
    let w = src.warnings();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("testnet3_blk00000_first100000bytes.dat") && w[0].contains("offset 95027"),
        "{w:?}"
    );
    assert!(w[0].contains("6033"), "{w:?}");
    let mut n = 0;
    while src.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(src.counters()["blocks"], 401);
    assert!(n >= 401);
    // With the wrong network the magic does not match: a clear error.
    let e = BlkSource::open(
        &[d.join("blk_files/testnet3_blk00000_first100000bytes.dat")],
        BlkOptions::new(BitcoinNetwork::Mainnet),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("at offset 0") && e.contains("magic f9beb4d9"),
        "{e}"
    );
}

/// Testnet3, testnet4 and signet are one address network; the files' magic
/// says which of them they hold. The testnet3 file with every record's magic
/// rewritten to testnet4's or signet's reads the same; a file whose first
/// record has no testnet magic, or that changes magic midway, is refused
/// naming file and offset.
#[test]
fn testnet_block_files_are_told_apart_by_their_magic() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let original =
        std::fs::read(d.join("blk_files/testnet3_blk00000_first100000bytes.dat")).unwrap();
    // The offsets of the records' magic, up to the cut-off one at the end.
    let mut offsets = Vec::new();
    let mut off = 0usize;
    while off + 8 <= original.len() {
        offsets.push(off);
        let len = u32::from_le_bytes(original[off + 4..off + 8].try_into().unwrap()) as usize;
        off += 8 + len;
    }
    assert_eq!(offsets.len(), 402, "401 whole records and the cut-off one");
    let dir = tmpdir("testnets");
    let with_magic = |name: &str, magic: [u8; 4], records: usize| {
        let mut data = original.clone();
        for &o in offsets.iter().take(records) {
            data[o..o + 4].copy_from_slice(&magic);
        }
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let read = |p: PathBuf| {
        let mut src = BlkSource::open(&[p], BlkOptions::new(BitcoinNetwork::Testnet))?;
        let mut recs = Vec::new();
        while let Some(r) = src.next_record()? {
            recs.push(r);
        }
        Ok::<_, fundtrace::Error>((src.chain_len(), src.first_height(), recs))
    };
    let testnet3 = read(d.join("blk_files/testnet3_blk00000_first100000bytes.dat")).unwrap();
    assert_eq!(testnet3.0, 401);
    for (name, magic) in [
        ("testnet4.dat", [0x1c, 0x16, 0x3f, 0x28]),
        ("signet.dat", [0x0a, 0x03, 0xcf, 0x40]),
    ] {
        let got = read(with_magic(name, magic, offsets.len())).unwrap();
        assert_eq!(got, testnet3, "{name}");
    }
    // Mainnet's magic on a testnet: refused at offset 0, naming the three.
    let e = read(with_magic("mainnet.dat", [0xf9, 0xbe, 0xb4, 0xd9], 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mainnet.dat at offset 0")
            && e.contains("testnet3 (0b110907), testnet4 (1c163f28) or signet (0a03cf40)")
            && e.contains("found f9beb4d9"),
        "{e}"
    );
    // Testnet4's magic on the first record only: the second is refused.
    let e = read(with_magic("mixed.dat", [0x1c, 0x16, 0x3f, 0x28], 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("mixed.dat at offset {}", offsets[1]))
            && e.contains("expected network magic 1c163f28 but found 0b110907"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Splits the 1–255 file into records, for rewriting it in other layouts.
fn frames(d: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(blocks_1_to_255(d)).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push(bytes[at..at + 8 + len].to_vec());
        at += 8 + len;
    }
    out
}

fn all_records(src: &mut BlkSource) -> Vec<Record> {
    let mut v = Vec::new();
    while let Some(r) = src.next_record().unwrap() {
        v.push(r);
    }
    v
}

/// A Bitcoin Core 28+ `blocks/` directory: blocks spread over several files
/// out of height order, an obfuscation key in `xor.dat`, zero padding, and
/// a stale block (a competing block 6) that must be skipped.
#[test]
fn core_blocks_directory_with_xor_key_and_disorder() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let reference = all_records(
        &mut BlkSource::open(
            &[blocks_1_to_255(&d)],
            BlkOptions::new(BitcoinNetwork::Mainnet),
        )
        .unwrap(),
    );
    let mut fr = frames(&d);
    // A stale competitor of block 6: same parent, another nonce.
    let mut stale = fr[5].clone();
    stale[8 + 76] ^= 0xff;
    // Reverse order within three files, plus the stale block.
    fr.reverse();
    let key = [0x3a, 0x11, 0x7f, 0x00, 0xc4, 0x5e, 0x99, 0x02];
    let dir = tmpdir("xor");
    std::fs::write(dir.join("xor.dat"), key).unwrap();
    for (i, chunk) in fr.chunks(100).enumerate() {
        let mut bytes: Vec<u8> = chunk.concat();
        if i == 1 {
            bytes.extend(&stale);
        }
        bytes.extend(vec![0u8; 4096]); // preallocated tail
        let enc: Vec<u8> = bytes
            .iter()
            .enumerate()
            .map(|(j, b)| b ^ key[j % 8])
            .collect();
        std::fs::write(dir.join(format!("blk{i:05}.dat")), enc).unwrap();
    }
    let mut src = BlkSource::open(
        std::slice::from_ref(&dir),
        BlkOptions::new(BitcoinNetwork::Mainnet),
    )
    .unwrap();
    assert_eq!(src.chain_len(), 255);
    assert!(
        src.warnings()
            .iter()
            .any(|w| w.contains("1 blocks are not on the best chain")),
        "{:?}",
        src.warnings()
    );
    assert_eq!(all_records(&mut src), reference);
    // Height range: blocks 170..=181 only, with inputs still resolved.
    let mut opts = BlkOptions::new(BitcoinNetwork::Mainnet);
    opts.heights = Some(170..=181);
    let mut src = BlkSource::open(std::slice::from_ref(&dir), opts).unwrap();
    let recs = all_records(&mut src);
    assert!(
        recs.iter()
            .all(|r| (170..=181).contains(&r.block().unwrap().height.0))
    );
    assert_eq!(src.counters()["blocks"], 12);
    assert_eq!(src.counters()["inputs_with_unknown_prevout"], 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn corrupt_block_files_give_clear_errors() {
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let fr = frames(&d);
    let dir = tmpdir("corrupt");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let open = |p: PathBuf| BlkSource::open(&[p], BlkOptions::new(BitcoinNetwork::Mainnet));
    let read_all = |p: PathBuf| -> Result<usize, fundtrace::Error> {
        let mut s = open(p)?;
        let mut n = 0;
        while s.next_record()?.is_some() {
            n += 1;
        }
        Ok(n)
    };
    // A flipped byte inside a transaction: the merkle root no longer matches.
    let mut bytes = fr[..3].concat();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    let e = read_all(write("flipped.dat", &bytes))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("flipped.dat") && e.contains("merkle root"),
        "{e}"
    );
    // Wrong magic in the middle of a file.
    let mut bytes = fr[..3].concat();
    let second = fr[0].len();
    bytes[second] = 0x0b;
    let e = open(write("magic.dat", &bytes)).err().unwrap().to_string();
    assert!(
        e.contains(&format!("at offset {second}")) && e.contains("magic"),
        "{e}"
    );
    // A length field past the end of the file: a warning, no half block.
    let mut bytes = fr[..3].concat();
    bytes.truncate(bytes.len() - 10);
    let s = open(write("short.dat", &bytes)).unwrap();
    assert_eq!(s.chain_len(), 2);
    assert!(
        s.warnings()[0].contains("short.dat") && s.warnings()[0].contains("truncated record"),
        "{:?}",
        s.warnings()
    );
    // A varint claiming 2^32 transactions: refused without a large allocation.
    let mut block = fr[0][8..88].to_vec();
    block.extend([0xff, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);
    let mut rec = fr[0][..4].to_vec();
    rec.extend(u32::try_from(block.len()).unwrap().to_le_bytes());
    rec.extend(&block);
    let e = read_all(write("huge.dat", &rec)).unwrap_err().to_string();
    assert!(
        e.contains("huge.dat") && e.contains("cannot decode block"),
        "{e}"
    );
    // The same bytes decoded directly: an error, not an allocation of 2^32 entries.
    assert!(deserialize::<bitcoin::Block>(&block).is_err());
    let _ = bitcoin::BlockHash::all_zeros();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Bitcoin Core `getblock … 2` answers recorded by bitcoin-etl, converted
/// and compared field by field with bitcoin-etl's own expected export.
#[test]
fn core_getblock_json_matches_bitcoin_etl() {
    use fundtrace::sources::bitcoin::CoreFileSource;
    use std::collections::BTreeMap;
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let mut compared = 0;
    for folder in [
        "block_0",
        "block_1",
        "block_with_transactions",
        "block_without_transactions",
        "stream_50001_50002",
    ] {
        let dir = d.join("bitcoin-etl").join(folder);
        let mut src =
            CoreFileSource::open(std::slice::from_ref(&dir), BitcoinNetwork::Mainnet).unwrap();
        let mut recs: BTreeMap<String, fundtrace::UtxoTx> = BTreeMap::new();
        while let Some(r) = src.next_record().unwrap() {
            if let Record::Utxo(u) = r {
                recs.insert(u.tx.to_string(), u);
            }
        }
        let blocks = std::fs::read_to_string(dir.join("expected_blocks.json")).unwrap();
        for line in blocks.lines().filter(|l| !l.trim().is_empty()) {
            let b: serde_json::Value = serde_json::from_str(line).unwrap();
            let n = recs
                .values()
                .filter(|u| u.block.height.0 == b["number"].as_u64().unwrap())
                .count();
            assert_eq!(
                n as u64,
                b["transaction_count"].as_u64().unwrap(),
                "{folder} block {}",
                b["number"]
            );
        }
        let mut unknown_expected = 0;
        let text = std::fs::read_to_string(dir.join("expected_transactions.json")).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let t: serde_json::Value = serde_json::from_str(line).unwrap();
            let hash = t["hash"].as_str().unwrap();
            let u = recs
                .get(hash)
                .unwrap_or_else(|| panic!("{folder}: tx {hash} missing"));
            assert_eq!(u.block.height.0, t["block_number"].as_u64().unwrap());
            assert_eq!(u.index as u64, t["index"].as_u64().unwrap(), "{hash}");
            let outs = t["outputs"].as_array().unwrap();
            assert_eq!(u.outputs.len(), outs.len(), "{hash}");
            for (leg, o) in u.outputs.iter().zip(outs) {
                assert_eq!(
                    leg.amount.get(),
                    o["value"].as_u64().unwrap() as u128,
                    "{hash}"
                );
                assert_eq!(
                    leg.address.plain(),
                    o["addresses"][0].as_str().unwrap(),
                    "{hash}"
                );
            }
            let ins = t["inputs"].as_array().unwrap();
            if t["is_coinbase"].as_bool().unwrap() {
                assert_eq!(u.inputs.len(), 1);
                assert_eq!(u.inputs[0].address.to_string(), "bitcoin:coinbase");
            } else if ins.iter().all(|i| i["value"].is_u64()) {
                assert_eq!(u.inputs.len(), ins.len(), "{hash}");
                for (leg, i) in u.inputs.iter().zip(ins) {
                    assert_eq!(
                        leg.amount.get(),
                        i["value"].as_u64().unwrap() as u128,
                        "{hash}"
                    );
                    assert_eq!(
                        leg.address.plain(),
                        i["addresses"][0].as_str().unwrap(),
                        "{hash}"
                    );
                }
                let fee = u.fee().unwrap().get();
                assert_eq!(fee, t["fee"].as_u64().unwrap() as u128, "{hash}");
                let sum_in: u128 = u.inputs.iter().map(|l| l.amount.get()).sum();
                assert_eq!(sum_in, t["input_value"].as_u64().unwrap() as u128, "{hash}");
            } else {
                // bitcoin-etl could not value these inputs either.
                assert!(u.inputs.is_empty(), "{hash}");
                unknown_expected += ins.len() as u64;
            }
            let sum_out: u128 = u.outputs.iter().map(|l| l.amount.get()).sum();
            assert_eq!(
                sum_out,
                t["output_value"].as_u64().unwrap() as u128,
                "{hash}"
            );
            compared += 1;
        }
        assert_eq!(
            src.counters()["inputs_with_unknown_prevout"],
            unknown_expected,
            "{folder}"
        );
    }
    assert_eq!(compared, 1 + 1 + 4 + 1 + 4);
}

/// mempool.space's Esplora answers: values, fees and addresses agree with the
/// JSON's own fields (the parser refuses any disagreement), and the
/// confirmed transaction becomes a record in block 836361.
#[test]
fn esplora_answers_agree_with_their_own_fields() {
    use fundtrace::sources::bitcoin::parse_esplora;
    let Some(d) = common::data_dir().map(|d| d.join("chain/bitcoin")) else {
        return;
    };
    let mut seen = 0;
    for f in std::fs::read_dir(d.join("esplora")).unwrap() {
        let p = f.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        let raw = if raw.is_array() {
            raw.as_array().unwrap().clone()
        } else {
            vec![raw]
        };
        let txs = parse_esplora(&text, &p.display().to_string(), BitcoinNetwork::Mainnet).unwrap();
        assert_eq!(txs.len(), raw.len());
        for (t, r) in txs.iter().zip(&raw) {
            assert_eq!(t.txid.to_string(), r["txid"].as_str().unwrap());
            assert_eq!(t.computed_fee(), r["fee"].as_u64(), "{}", t.txid);
            for (o, ro) in t.outputs.iter().zip(r["vout"].as_array().unwrap()) {
                assert_eq!(o.1, ro["value"].as_u64().unwrap());
                match ro["scriptpubkey_address"].as_str() {
                    Some(a) => assert_eq!(o.0.plain(), a),
                    None => assert_eq!(ro["scriptpubkey_type"], "op_return", "{}", t.txid),
                }
            }
            for ((_, p), ri) in t.inputs.iter().zip(r["vin"].as_array().unwrap()) {
                let p = p.unwrap();
                assert_eq!(p.value, ri["prevout"]["value"].as_u64().unwrap());
                assert_eq!(
                    p.address.plain(),
                    ri["prevout"]["scriptpubkey_address"].as_str().unwrap()
                );
            }
            match r["status"]["confirmed"].as_bool().unwrap() {
                true => {
                    let rec = t.to_record(0).unwrap();
                    assert_eq!(
                        rec.block.height.0,
                        r["status"]["block_height"].as_u64().unwrap()
                    );
                    assert_eq!(
                        rec.fee().unwrap().get(),
                        u128::from(r["fee"].as_u64().unwrap())
                    );
                    // Both outputs are OP_RETURN: the value is burnt, and visible.
                    assert!(
                        rec.outputs
                            .iter()
                            .all(|o| o.address.to_string() == "bitcoin:burn")
                    );
                }
                false => assert!(t.to_record(0).is_none()),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
}

/// Fuzzing reproducer (cargo fuzz, target `blk_file`): a block file whose
/// forged headers claim so much work that the cumulative sum overflowed
/// 256 bits (a debug-build panic in `Work`'s `+`, a silent wrap in release).
/// Reading it must end without a panic.
#[test]
fn fuzz_regression_blk_work_overflow() {
    let dir = std::env::temp_dir().join(format!("fundtrace-fuzzreg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("blk00000.dat");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz_regressions/blk_work_overflow.dat"
        ),
        &f,
    )
    .unwrap();
    let mut opts = fundtrace::sources::bitcoin::BlkOptions::new(fundtrace::BitcoinNetwork::Mainnet);
    opts.xor_key = Some([0; 8]);
    if let Ok(mut src) =
        fundtrace::sources::bitcoin::BlkSource::open(std::slice::from_ref(&f), opts)
    {
        while let Ok(Some(_)) = src.next_record() {}
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A block with more transactions than `limits::MAX_TXS_PER_BLOCK` is
/// refused, naming the block, before anything of it is converted.
#[test]
fn block_over_the_transaction_cap_is_refused() {
    use fundtrace::limits::MAX_TXS_PER_BLOCK;
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::ONE,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![],
    };
    let txs = vec![tx; MAX_TXS_PER_BLOCK + 1];
    let mut out = Vec::new();
    let e = fundtrace::sources::bitcoin::convert_transactions(
        txs.iter(),
        777,
        1,
        BitcoinNetwork::Mainnet,
        &mut UtxoIndex::new(),
        &mut out,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("in bitcoin block 777")
            && e.contains(&format!(
                "{} transactions, over the cap of {MAX_TXS_PER_BLOCK}",
                MAX_TXS_PER_BLOCK + 1
            )),
        "{e}"
    );
    assert!(out.is_empty());
    // At the cap, the block converts.
    let s = fundtrace::sources::bitcoin::convert_transactions(
        txs[..MAX_TXS_PER_BLOCK].iter(),
        777,
        1,
        BitcoinNetwork::Mainnet,
        &mut UtxoIndex::new(),
        &mut out,
    )
    .unwrap();
    assert_eq!(s.txs, MAX_TXS_PER_BLOCK as u64);
}
