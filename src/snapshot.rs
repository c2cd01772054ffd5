//! Snapshots: a frozen [`FlowGraph`] (with its address book, and optionally
//! the seeds and clusters of a case) saved to one file and loaded back.
//!
//! # Format (version 2, little-endian)
//! ```text
//! "FTSNAP\0\x01"  magic (8 bytes)
//! u32             format version (2; version 1 is read too)
//! sections        u32 tag, u64 length, bytes — in a fixed order
//! u32             CRC-32 (IEEE) of every byte before it
//! ```
//! Arrays are stored as their elements' little-endian bytes; the address
//! book as fixed 35-byte records; source summaries, asset infos, seeds and
//! clusters, and (from version 2) known opening balances as JSON. A file whose checksum, magic, version or section
//! layout does not match is refused with an error naming the file and the
//! offset; nothing of it is used. The checksum is checked before anything
//! is decoded.

use std::io::Write;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{AmountColumn, BlockInfo, FlowGraph, OutEdge};
use crate::trace::Cluster;
use crate::types::{ADDRESS_BYTES, Address, Asset, BlockHeight, Chain, Timestamp, TxId};

const MAGIC: &[u8; 8] = b"FTSNAP\0\x01";
/// The snapshot format version this crate writes. It reads this one and
/// version 1, which had no opening balances.
pub const FORMAT_VERSION: u32 = 2;

/// What a snapshot may carry besides the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// Seeds of the case.
    pub seeds: Vec<Address>,
    /// Target clusters of the case.
    pub clusters: Vec<Cluster>,
}

// Section tags, in file order.
const SECTIONS: [&str; 16] = [
    "addresses",
    "txids",
    "assets",
    "asset_info",
    "blocks",
    "ev_tx",
    "ev_asset",
    "ev_leg",
    "ev_nin",
    "leg_addr",
    "leg_small",
    "leg_big",
    "out_off",
    "out_adj",
    "in_off",
    "in_adj",
];
const META: &str = "meta";

#[derive(Serialize, Deserialize)]
struct Meta {
    sources: Vec<crate::graph::SourceSummary>,
    stats: crate::graph::LoadStats,
    case: CaseInfo,
    /// Known opening balances (version 2 on; absent in version 1).
    #[serde(default)]
    openings: Vec<crate::graph::OpeningBalance>,
}

fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl FlowGraph {
    /// Writes the graph (and `case`) to `path` as a snapshot.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: &Path, case: &CaseInfo) -> Result<()> {
        let bytes = self.to_snapshot_bytes(case)?;
        let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        f.write_all(&bytes).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))
    }

    /// The snapshot as bytes.
    ///
    /// # Errors
    /// [`Error::Report`] if the JSON parts cannot be encoded (they can).
    pub fn to_snapshot_bytes(&self, case: &CaseInfo) -> Result<Vec<u8>> {
        let mut out =
            Vec::with_capacity(self.memory_use().traversal_bytes + self.memory_use().book_bytes);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let section = |out: &mut Vec<u8>, tag: u32, body: &dyn Fn(&mut Vec<u8>)| {
            out.extend_from_slice(&tag.to_le_bytes());
            let at = out.len();
            out.extend_from_slice(&0u64.to_le_bytes());
            body(out);
            let len = (out.len() - at - 8) as u64;
            out[at..at + 8].copy_from_slice(&len.to_le_bytes());
        };
        let g = self;
        let infos: Vec<_> = g.asset_info.values().cloned().collect();
        let blocks: Vec<(Chain, u64, u64, u32)> = g
            .blocks
            .iter()
            .map(|b| (b.chain, b.height.0, b.time.0, b.first_event))
            .collect();
        let meta = Meta {
            sources: g.sources.clone(),
            stats: g.stats,
            case: case.clone(),
            openings: g.opening_list.clone(),
        };
        let (infos_json, blocks_json, meta_json) = (json(&infos)?, json(&blocks)?, json(&meta)?);
        let mut tag = 0u32;
        let mut next = |out: &mut Vec<u8>, body: &dyn Fn(&mut Vec<u8>)| {
            section(out, tag, body);
            tag += 1;
        };
        next(&mut out, &|o| {
            g.addresses
                .iter()
                .for_each(|a| o.extend_from_slice(&a.to_bytes()))
        });
        next(&mut out, &|o| {
            g.txids.iter().for_each(|t| {
                o.push(t.chain().code());
                o.extend_from_slice(t.bytes());
            })
        });
        next(&mut out, &|o| {
            g.assets
                .iter()
                .for_each(|a| o.extend_from_slice(&asset_bytes(a)))
        });
        next(&mut out, &|o| o.extend_from_slice(&infos_json));
        next(&mut out, &|o| o.extend_from_slice(&blocks_json));
        next(&mut out, &|o| put_u32s(o, &g.ev_tx));
        next(&mut out, &|o| put_u32s(o, &g.ev_asset));
        next(&mut out, &|o| put_u32s(o, &g.ev_leg));
        next(&mut out, &|o| put_u32s(o, &g.ev_nin));
        next(&mut out, &|o| put_u32s(o, &g.leg_addr));
        next(&mut out, &|o| {
            g.leg_amt
                .small
                .iter()
                .for_each(|x| o.extend_from_slice(&x.to_le_bytes()))
        });
        next(&mut out, &|o| {
            g.leg_amt
                .big
                .iter()
                .for_each(|x| o.extend_from_slice(&x.to_le_bytes()))
        });
        next(&mut out, &|o| put_u32s(o, &g.out_off));
        next(&mut out, &|o| {
            g.out_adj.iter().for_each(|e| {
                o.extend_from_slice(&e.event.to_le_bytes());
                o.extend_from_slice(&e.target.to_le_bytes());
            })
        });
        next(&mut out, &|o| put_u32s(o, &g.in_off));
        next(&mut out, &|o| put_u32s(o, &g.in_adj));
        next(&mut out, &|o| o.extend_from_slice(&meta_json));
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Loads a snapshot written by [`FlowGraph::save`].
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Corrupt`] naming
    /// the file and offset if it is truncated, changed, of another format
    /// version or inconsistent.
    pub fn load(path: &Path) -> Result<(FlowGraph, CaseInfo)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_snapshot_bytes(&bytes).map_err(|(offset, reason)| Error::Corrupt {
            path: path.to_owned(),
            offset,
            reason,
        })
    }

    /// Decodes snapshot bytes; on error, the offset and what is wrong.
    pub fn from_snapshot_bytes(
        b: &[u8],
    ) -> std::result::Result<(FlowGraph, CaseInfo), (u64, String)> {
        if b.len() < 16 || &b[..8] != MAGIC {
            return Err((0, "not a fundtrace snapshot (magic bytes differ)".into()));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err((
                8,
                format!(
                    "snapshot format version {version}; this build reads versions 1 to {FORMAT_VERSION}"
                ),
            ));
        }
        let body_end = b.len() - 4;
        let stored = u32::from_le_bytes(b[body_end..].try_into().expect("4 bytes"));
        let actual = crc32fast::hash(&b[..body_end]);
        if stored != actual {
            return Err((
                body_end as u64,
                format!(
                    "checksum mismatch (stored {stored:08x}, computed {actual:08x}): the file was changed or cut short"
                ),
            ));
        }
        let mut at = 12usize;
        let mut sections: Vec<&[u8]> = Vec::with_capacity(SECTIONS.len() + 1);
        for (i, name) in SECTIONS.iter().chain([&META]).enumerate() {
            let head = b
                .get(at..at + 12)
                .filter(|_| at + 12 <= body_end)
                .ok_or((at as u64, format!("section {name} missing")))?;
            let tag = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
            let len = u64::from_le_bytes(head[4..].try_into().expect("8 bytes"));
            if tag as usize != i {
                return Err((
                    at as u64,
                    format!("expected section {name} (tag {i}), found tag {tag}"),
                ));
            }
            let len = usize::try_from(len)
                .map_err(|_| (at as u64, format!("section {name} too long")))?;
            let start = at + 12;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= body_end)
                .ok_or((at as u64, format!("section {name} runs past the end")))?;
            sections.push(&b[start..end]);
            at = end;
        }
        if at != body_end {
            return Err((at as u64, "bytes after the last section".into()));
        }
        let off =
            |i: usize| -> u64 { (sections[i].as_ptr() as usize - b.as_ptr() as usize) as u64 };
        let bad = |i: usize, r: &str| {
            (
                off(i),
                format!("section {}: {r}", SECTIONS.get(i).copied().unwrap_or(META)),
            )
        };
        let u32s = |i: usize| -> std::result::Result<Vec<u32>, (u64, String)> {
            let s = sections[i];
            if s.len() % 4 != 0 {
                return Err(bad(i, "length is not a multiple of 4"));
            }
            Ok(s.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect())
        };
        let s0 = sections[0];
        if s0.len() % ADDRESS_BYTES != 0 {
            return Err(bad(0, "length is not a multiple of the record size"));
        }
        let addresses = s0
            .chunks_exact(ADDRESS_BYTES)
            .map(|c| Address::from_bytes(c.try_into().expect("35 bytes")))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(0, "an address record is not valid"))?;
        if sections[1].len() % 33 != 0 {
            return Err(bad(1, "length is not a multiple of 33"));
        }
        let txids = sections[1]
            .chunks_exact(33)
            .map(|c| {
                let chain = match c[0] {
                    0 => Chain::Bitcoin,
                    1 => Chain::Ethereum,
                    _ => return None,
                };
                Some(TxId::new(chain, c[1..].try_into().expect("32 bytes")))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(1, "a transaction id has an unknown chain"))?;
        if sections[2].len() % 21 != 0 {
            return Err(bad(2, "length is not a multiple of 21"));
        }
        let assets = sections[2]
            .chunks_exact(21)
            .map(|c| asset_from(c.try_into().expect("21 bytes")))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(2, "an asset record is not valid"))?;
        let infos: Vec<crate::types::AssetInfo> =
            serde_json::from_slice(sections[3]).map_err(|e| bad(3, &e.to_string()))?;
        let blocks: Vec<(Chain, u64, u64, u32)> =
            serde_json::from_slice(sections[4]).map_err(|e| bad(4, &e.to_string()))?;
        let (ev_tx, ev_asset, ev_leg, ev_nin, leg_addr) =
            (u32s(5)?, u32s(6)?, u32s(7)?, u32s(8)?, u32s(9)?);
        if sections[10].len() % 8 != 0
            || sections[11].len() % 16 != 0
            || sections[13].len() % 8 != 0
        {
            return Err(bad(10, "amount or adjacency sections have a bad length"));
        }
        let small: Vec<u64> = sections[10]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let big: Vec<u128> = sections[11]
            .chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes")))
            .collect();
        let (out_off, in_off, in_adj) = (u32s(12)?, u32s(14)?, u32s(15)?);
        let out_adj: Vec<OutEdge> = sections[13]
            .chunks_exact(8)
            .map(|c| OutEdge {
                event: u32::from_le_bytes(c[..4].try_into().expect("4 bytes")),
                target: u32::from_le_bytes(c[4..].try_into().expect("4 bytes")),
            })
            .collect();
        let meta: Meta =
            serde_json::from_slice(sections[16]).map_err(|e| bad(16, &e.to_string()))?;

        // Consistency: every index in range, offsets monotone and closed.
        let (n_addr, n_ev, n_leg) = (addresses.len(), ev_tx.len(), leg_addr.len());
        let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
        check(
            ev_asset.len() == n_ev && ev_nin.len() == n_ev && ev_leg.len() == n_ev + 1,
            6,
            "event columns differ in length",
        )?;
        check(
            ev_tx.iter().all(|&t| (t as usize) < txids.len()),
            5,
            "transaction index out of range",
        )?;
        check(
            ev_asset.iter().all(|&a| (a as usize) < assets.len()),
            6,
            "asset index out of range",
        )?;
        check(
            ev_leg.windows(2).all(|w| w[0] <= w[1])
                && ev_leg.last().is_some_and(|&l| l as usize == n_leg),
            7,
            "leg offsets are not monotone",
        )?;
        check(
            ev_nin
                .iter()
                .zip(ev_leg.windows(2))
                .all(|(&n, w)| n <= w[1] - w[0]),
            8,
            "more inputs than legs",
        )?;
        check(
            leg_addr.iter().all(|&a| (a as usize) < n_addr),
            9,
            "address index out of range",
        )?;
        check(small.len() == n_leg, 10, "one amount per leg expected")?;
        check(
            small
                .iter()
                .all(|&s| s & (1 << 63) == 0 || ((s & !(1 << 63)) as usize) < big.len()),
            11,
            "large amount index out of range",
        )?;
        for (i, (offs, len)) in [
            (12usize, (&out_off, out_adj.len())),
            (14, (&in_off, in_adj.len())),
        ] {
            check(
                offs.len() == n_addr + 1
                    && offs.windows(2).all(|w| w[0] <= w[1])
                    && offs.last().is_some_and(|&l| l as usize == len),
                i,
                "adjacency offsets inconsistent",
            )?;
        }
        check(
            out_adj.iter().all(|e| {
                (e.event as usize) < n_ev
                    && (e.target == crate::graph::NONE || (e.target as usize) < n_addr)
            }),
            13,
            "adjacency entry out of range",
        )?;
        check(
            in_adj.iter().all(|&e| (e as usize) < n_ev),
            15,
            "adjacency entry out of range",
        )?;
        check(
            blocks.windows(2).all(|w| w[0].3 < w[1].3)
                && blocks.first().is_none_or(|b| b.3 == 0)
                && (n_ev == 0 || !blocks.is_empty()),
            4,
            "block table inconsistent",
        )?;

        if u32::try_from(n_addr).map_or(true, |n| n == crate::graph::NONE) {
            return Err(bad(0, "more addresses than a graph can hold"));
        }
        let index: FxHashMap<Address, u32> =
            addresses.iter().zip(0u32..).map(|(a, i)| (*a, i)).collect();
        if index.len() != n_addr {
            return Err(bad(0, "an address occurs twice"));
        }
        if version < 2 && !meta.openings.is_empty() {
            return Err(bad(16, "opening balances in a version 1 snapshot"));
        }
        let mut g = FlowGraph {
            addresses,
            index,
            txids,
            assets,
            asset_info: infos.into_iter().map(|i| (i.asset, i)).collect(),
            blocks: blocks
                .into_iter()
                .map(|(chain, h, t, first_event)| BlockInfo {
                    chain,
                    height: BlockHeight(h),
                    time: Timestamp(t),
                    first_event,
                })
                .collect(),
            ev_tx,
            ev_asset,
            ev_leg,
            ev_nin,
            leg_addr,
            leg_amt: AmountColumn { small, big },
            out_off,
            out_adj,
            in_off,
            in_adj,
            sources: meta.sources,
            stats: meta.stats,
            openings: rustc_hash::FxHashMap::default(),
            opening_list: Vec::new(),
        };
        let n = meta.openings.len();
        if g.set_opening_balances(meta.openings) != n {
            return Err(bad(
                16,
                "an opening balance names an address or asset not in the graph, or one twice",
            ));
        }
        Ok((g, meta.case))
    }
}

fn asset_bytes(a: &Asset) -> [u8; 21] {
    let mut b = [0u8; 21];
    match a {
        Asset::Btc => b[0] = 1,
        Asset::Eth => b[0] = 2,
        Asset::Erc20(c) => {
            b[0] = 3;
            b[1..].copy_from_slice(c);
        }
    }
    b
}

fn asset_from(b: &[u8; 21]) -> Option<Asset> {
    match b[0] {
        1 => Some(Asset::Btc),
        2 => Some(Asset::Eth),
        3 => Some(Asset::Erc20(b[1..].try_into().ok()?)),
        _ => None,
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Report {
        format: "snapshot",
        reason: e.to_string(),
    })
}
