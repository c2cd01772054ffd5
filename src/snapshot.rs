//! Snapshots: a frozen [`FlowGraph`] (with its address book, and optionally
//! the seeds and clusters of a case) saved to one file and loaded back.
//!
//! # Format (version 6, little-endian)
//! ```text
//! "FTSNAP\0\x01"  magic (8 bytes)
//! u32             format version (6; versions 1 to 5 are read too)
//! sections        u32 tag, u64 length, bytes — in a fixed order
//! u32             CRC-32 (IEEE) of every byte before it
//! ```
//! Arrays are stored as their elements' little-endian bytes, the traversal
//! columns exactly as the frozen graph holds them (see [`crate::graph`]),
//! so loading is a copy and a check; the address book as fixed 35-byte
//! records; source summaries, asset infos, seeds and clusters, and known
//! opening balances as JSON. A file whose checksum, magic, version or
//! section layout does not match, or whose columns are inconsistent, is
//! refused with an error naming the file and the offset; nothing of it is
//! used. The checksum is checked before anything is decoded.
//!
//! Versions 1 and 2 stored a wider layout (a column per event for its
//! transaction, asset, leg start and input count, and two slots per
//! transfer); they are read and converted, which costs a rebuild of the
//! adjacency. Version 1 had no opening balances. Version 3 stored a `u16`
//! asset index per event, and versions 3 and 4 an (event, receiver) pair
//! per out-edge; both are converted on load. Versions 1 to 5 numbered
//! addresses by first appearance alone; version 6 has the same layout as
//! version 5 with addresses in today's canonical order (by incoming events,
//! then first appearance: see [`crate::graph`]), and older files are
//! renumbered into it on load, so a trace of any of them equals one of a
//! fresh build.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{
    AddressIndex, AmountColumn, AssetColumn, BlockInfo, Columns, FlowGraph, Layout, NONE, OutList,
    RECV, RankBits, WIDE_ASSET,
};
use crate::trace::Cluster;
use crate::types::{ADDRESS_BYTES, Address, Asset, BlockHeight, Chain, Timestamp, TxId};

const MAGIC: &[u8; 8] = b"FTSNAP\0\x01";
/// The snapshot format version this crate writes. It reads this one and
/// versions 1 to 5 (see the [module documentation](self)).
pub const FORMAT_VERSION: u32 = 6;

/// What a snapshot may carry besides the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// Seeds of the case.
    pub seeds: Vec<Address>,
    /// Target clusters of the case.
    pub clusters: Vec<Cluster>,
}

// Section tags, in file order: the address book and tables, then (from
// version 3 on) the asset columns and the other traversal columns.
const HEAD_SECTIONS: [&str; 5] = ["addresses", "txids", "assets", "asset_info", "blocks"];

// Asset columns of versions 4 to 6.
const ASSET_SECTIONS: [&str; 4] = ["native", "native_runs", "other_asset", "asset_wide"];

// Asset columns of version 3: a `u16` asset index per event.
const V3_ASSET_SECTIONS: [&str; 2] = ["ev_asset", "asset_wide"];

// Traversal columns after the assets (versions 3 to 6).
const COLUMN_SECTIONS: [&str; 11] = [
    "multi",
    "tx_start",
    "m_extra",
    "m_nin",
    "slot_addr",
    "slot_small",
    "slot_big",
    "out_off",
    "out_adj",
    "in_off",
    "in_adj",
];

// Columns of versions 1 and 2.
const LEGACY_SECTIONS: [&str; 11] = [
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
    openings: Vec<crate::types::OpeningBalance>,
}

/// An integer the snapshot stores little-endian.
trait Le: Copy {
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le!(u16, u32, u64, u128);

/// Appends a column of integers, little-endian.
fn put_all<T: Le>(out: &mut Vec<u8>, v: &[T]) {
    out.reserve(std::mem::size_of_val(v));
    for &x in v {
        x.put(out);
    }
}

type Bad = (u64, String);

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
        let c = &g.cols;
        let pairs = |o: &mut Vec<u8>, v: &[(u32, u32)]| {
            v.iter().for_each(|&(e, a)| {
                o.extend_from_slice(&e.to_le_bytes());
                o.extend_from_slice(&a.to_le_bytes());
            })
        };
        next(&mut out, &|o| {
            o.extend_from_slice(&(c.asset.len() as u64).to_le_bytes());
            put_all(o, &c.asset.native.words);
        });
        next(&mut out, &|o| pairs(o, &c.asset.runs));
        next(&mut out, &|o| put_all(o, &c.asset.other));
        next(&mut out, &|o| pairs(o, &c.asset.wide));
        next(&mut out, &|o| put_all(o, &c.multi.words));
        next(&mut out, &|o| put_all(o, &c.tx_start.words));
        next(&mut out, &|o| put_all(o, &c.m_extra));
        next(&mut out, &|o| put_all(o, &c.m_nin));
        next(&mut out, &|o| put_all(o, &c.slot_addr));
        next(&mut out, &|o| put_all(o, &c.slot_amt.small));
        next(&mut out, &|o| put_all(o, &c.slot_amt.big));
        next(&mut out, &|o| put_all(o, &c.out_off));
        next(&mut out, &|o| put_all(o, &c.out_adj));
        next(&mut out, &|o| put_all(o, &c.in_off));
        next(&mut out, &|o| put_all(o, &c.in_adj));
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
        let bytes = read_file(path).map_err(|e| Error::io(path, e))?;
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
        let columns_of: &[&[&str]] = match version {
            4.. => &[&ASSET_SECTIONS, &COLUMN_SECTIONS],
            3 => &[&V3_ASSET_SECTIONS, &COLUMN_SECTIONS],
            _ => &[&LEGACY_SECTIONS],
        };
        let names: Vec<&str> = HEAD_SECTIONS
            .iter()
            .chain(columns_of.iter().flat_map(|c| c.iter()))
            .copied()
            .collect();
        let mut sections: Vec<&[u8]> = Vec::with_capacity(names.len() + 1);
        for (i, name) in names.iter().chain([&META]).enumerate() {
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
                format!("section {}: {r}", names.get(i).copied().unwrap_or(META)),
            )
        };
        let s0 = sections[0];
        if s0.len() % ADDRESS_BYTES != 0 {
            return Err(bad(0, "length is not a multiple of the record size"));
        }
        let addresses = par_decode(s0, Address::ethereum([0; 20]), Address::from_bytes)
            .ok_or_else(|| bad(0, "an address record is not valid"))?;
        if sections[1].len() % 33 != 0 {
            return Err(bad(1, "length is not a multiple of 33"));
        }
        let no_tx = TxId::new(Chain::Bitcoin, [0; 32]);
        let txids = par_decode(sections[1], no_tx, |c: &[u8; 33]| {
            let chain = match c[0] {
                0 => Chain::Bitcoin,
                1 => Chain::Ethereum,
                _ => return None,
            };
            Some(TxId::new(chain, c[1..].try_into().expect("32 bytes")))
        })
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
        let meta_at = names.len();
        let meta: Meta =
            serde_json::from_slice(sections[meta_at]).map_err(|e| bad(meta_at, &e.to_string()))?;
        let n_addr = addresses.len();
        if n_addr >= RECV as usize {
            return Err(bad(0, "more addresses than a graph can hold"));
        }
        let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
        // The address index is built while the columns are decoded and
        // checked (its table fill is one thread's work); a file of an older
        // version is renumbered first, and indexed after.
        let (cols, index) = rayon::join(
            || {
                if version >= 3 {
                    columns(&sections, version, n_addr, txids.len(), &assets, &bad)
                } else {
                    legacy_columns(&sections, n_addr, txids.len(), &assets, &bad)
                }
            },
            || (version >= 6).then(|| AddressIndex::build(&addresses)),
        );
        let mut cols = cols?;
        let mut addresses = addresses;
        if version < 6 {
            // Numbered by first appearance alone: into today's order.
            let by_new;
            (cols, by_new) = cols.renumber_by_incoming();
            addresses = by_new.iter().map(|&o| addresses[o as usize]).collect();
        }
        let index = index
            .unwrap_or_else(|| AddressIndex::build(&addresses))
            .ok_or_else(|| bad(0, "an address occurs twice"))?;
        let n_ev = cols.asset.len();
        check(
            blocks.windows(2).all(|w| w[0].3 < w[1].3)
                && blocks.first().is_none_or(|b| b.3 == 0)
                && blocks.last().is_none_or(|b| (b.3 as usize) < n_ev)
                && (n_ev == 0 || !blocks.is_empty()),
            4,
            "block table inconsistent",
        )?;

        if version < 2 && !meta.openings.is_empty() {
            return Err(bad(meta_at, "opening balances in a version 1 snapshot"));
        }
        let (forwards, pays_forwarders) = crate::graph::forwarding_events(&cols, n_ev);
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
            cols,
            forwards,
            pays_forwarders,
            sources: meta.sources,
            stats: meta.stats,
            openings: rustc_hash::FxHashMap::default(),
            opening_list: Vec::new(),
        };
        let n = meta.openings.len();
        if g.set_opening_balances(meta.openings) != n {
            return Err(bad(
                meta_at,
                "an opening balance names an address or asset not in the graph, or one twice",
            ));
        }
        Ok((g, meta.case))
    }
}

/// Reads a whole file. On Unix, a large file is read in parallel parts,
/// each by positioned reads into its own part of the buffer: the copy out
/// of the page cache and the faults of the fresh buffer are split across
/// the threads, which halves the read of a 10^7-transfer snapshot on two.
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    read_in_parts(path, 8 << 20)
}

/// [`read_file`] with parts of `part` bytes (a file under two parts is
/// read whole, by one thread).
fn read_in_parts(path: &Path, part: usize) -> std::io::Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len >= 2 * part {
            let mut buf = vec![0u8; len];
            buf.par_chunks_mut(part)
                .enumerate()
                .try_for_each(|(i, chunk)| file.read_exact_at(chunk, (i * part) as u64))?;
            // A file that changed length under the read is read again whole
            // (the checksum refuses one that changed in place).
            if file.metadata()?.len() == len as u64 {
                return Ok(buf);
            }
        }
    }
    std::fs::read(path)
}

/// Decodes a section of fixed-size records in parallel; `None` if its
/// length is not a multiple of the record size or a record is not valid
/// (`fill` stands in for an invalid record until the result is dropped).
fn par_decode<T: Copy + Send + Sync, const N: usize>(
    s: &[u8],
    fill: T,
    f: impl Fn(&[u8; N]) -> Option<T> + Sync,
) -> Option<Vec<T>> {
    if s.len() % N != 0 {
        return None;
    }
    let invalid = std::sync::atomic::AtomicBool::new(false);
    let v: Vec<T> = s
        .par_chunks_exact(N)
        .with_min_len(1 << 14)
        .map(|c| {
            f(c.try_into().expect("N bytes")).unwrap_or_else(|| {
                invalid.store(true, std::sync::atomic::Ordering::Relaxed);
                fill
            })
        })
        .collect();
    (!invalid.into_inner()).then_some(v)
}

/// Decodes a section of fixed-size little-endian elements; `None` if its
/// length is not a multiple of the element size.
fn decode<T: Copy + Send + Sync, const N: usize>(
    s: &[u8],
    f: impl Fn([u8; N]) -> T + Sync,
) -> Option<Vec<T>> {
    par_decode(s, f([0; N]), |c| Some(f(*c)))
}

fn u32s(s: &[u8]) -> Option<Vec<u32>> {
    decode(s, u32::from_le_bytes)
}

fn u64s(s: &[u8]) -> Option<Vec<u64>> {
    decode(s, u64::from_le_bytes)
}

fn u128s(s: &[u8]) -> Option<Vec<u128>> {
    decode(s, u128::from_le_bytes)
}

/// Packs the (event, receiver or `NONE`) out-edges of versions 3 and 4
/// into words (see [`crate::graph::OutList`]), with word offsets; `None` if
/// an event or receiver does not fit. The caller checks the offsets.
fn pack_out_edges(off: &[u32], edges: &[(u32, u32)]) -> Option<(Vec<u32>, Vec<u32>)> {
    let mut words = Vec::with_capacity(edges.len() * 2);
    let mut offs = Vec::with_capacity(off.len());
    offs.push(0);
    for w in off.windows(2) {
        for &(e, t) in &edges[w[0] as usize..w[1] as usize] {
            if e & RECV != 0 || (t != NONE && t & RECV != 0) {
                return None;
            }
            words.push(e);
            if t != NONE {
                words.push(RECV | t);
            }
        }
        offs.push(u32::try_from(words.len()).ok()?);
    }
    words.shrink_to_fit();
    Some((offs, words))
}

/// Whether `offs` splits `len` entries over `n` nodes.
fn offsets_ok(offs: &[u32], n: usize, len: usize) -> bool {
    offs.len() == n + 1
        && offs.first() == Some(&0)
        && offs.windows(2).all(|w| w[0] <= w[1])
        && offs.last().is_some_and(|&l| l as usize == len)
}

/// Decodes (event, asset) pairs.
fn pairs(s: &[u8]) -> Option<Vec<(u32, u32)>> {
    let v = u32s(s)?;
    (v.len() % 2 == 0).then(|| v.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// Decodes and checks the asset column of a version 4 snapshot.
fn asset_column(
    sections: &[&[u8]],
    assets: &[Asset],
    bad: &dyn Fn(usize, &str) -> Bad,
) -> std::result::Result<AssetColumn, Bad> {
    let len_err = |i: usize| bad(i, "length is not a multiple of the element size");
    let s = sections[5];
    let n_ev = s
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < RECV as usize)
        .ok_or_else(|| bad(5, "event count missing or too large"))?;
    let native = u64s(&s[8..])
        .and_then(|w| RankBits::from_words(w, n_ev))
        .ok_or_else(|| bad(5, "not one bit per event"))?;
    let runs = pairs(sections[6]).ok_or_else(|| len_err(6))?;
    let other = decode(sections[7], u16::from_le_bytes).ok_or_else(|| len_err(7))?;
    let wide = pairs(sections[8]).ok_or_else(|| len_err(8))?;
    let col = AssetColumn {
        native,
        runs,
        other,
        wide,
    };
    if col.is_consistent(assets.len(), |a| assets[a as usize].is_native()) {
        Ok(col)
    } else {
        Err(bad(
            6,
            "asset columns inconsistent (native runs, other events or out-of-line entries)",
        ))
    }
}

/// Decodes and checks the `u16` asset column of a version 3 snapshot and
/// lays it out anew.
fn v3_asset_column(
    sections: &[&[u8]],
    assets: &[Asset],
    bad: &dyn Fn(usize, &str) -> Bad,
) -> std::result::Result<AssetColumn, Bad> {
    let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
    let len_err = |i: usize| bad(i, "length is not a multiple of the element size");
    let n_assets = assets.len();
    let ev_asset = decode(sections[5], u16::from_le_bytes).ok_or_else(|| len_err(5))?;
    let n_ev = ev_asset.len();
    check(n_ev < RECV as usize, 5, "too many events")?;
    let asset_wide = pairs(sections[6]).ok_or_else(|| len_err(6))?;
    check(
        ev_asset
            .iter()
            .all(|&a| a == WIDE_ASSET || (a as usize) < n_assets),
        5,
        "asset index out of range",
    )?;
    check(
        asset_wide.windows(2).all(|w| w[0].0 < w[1].0)
            && asset_wide.iter().all(|&(e, a)| {
                ev_asset.get(e as usize) == Some(&WIDE_ASSET) && (a as usize) < n_assets
            })
            && ev_asset.iter().filter(|&&a| a == WIDE_ASSET).count() == asset_wide.len(),
        6,
        "out-of-line assets do not match their events",
    )?;
    let mut col = AssetColumn::with_capacity(n_ev);
    let mut wide = asset_wide.iter();
    for &a in &ev_asset {
        let a = if a == WIDE_ASSET {
            wide.next().expect("counted above").1
        } else {
            u32::from(a)
        };
        col.push(a, assets[a as usize].is_native());
    }
    Ok(col)
}

/// Decodes and checks the traversal columns of a version 3 to 6 snapshot:
/// every index in range, offsets closed, adjacency lists in strict time
/// order, and every one-to-one event named by exactly one out-edge of its
/// sender (the graph finds its receiver there).
fn columns(
    sections: &[&[u8]],
    version: u32,
    n_addr: usize,
    n_tx: usize,
    assets: &[Asset],
    bad: &dyn Fn(usize, &str) -> Bad,
) -> std::result::Result<Columns, Bad> {
    let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
    let len_err = |i: usize| bad(i, "length is not a multiple of the element size");
    let (asset, sh) = if version >= 4 {
        (asset_column(sections, assets, bad)?, 2)
    } else {
        (v3_asset_column(sections, assets, bad)?, 0)
    };
    let n_ev = asset.len();
    // Sections after the asset columns, by their version 3 number.
    let sections = &sections[sh..];
    let bad = |i: usize, r: &str| bad(i + sh, r);
    let check = |ok: bool, i: usize, what: &str| check(ok, i + sh, what);
    let len_err = |i: usize| len_err(i + sh);
    let multi = u64s(sections[7])
        .and_then(|w| RankBits::from_words(w, n_ev))
        .ok_or_else(|| bad(7, "not one bit per event"))?;
    let tx_start = u64s(sections[8])
        .and_then(|w| RankBits::from_words(w, n_ev))
        .ok_or_else(|| bad(8, "not one bit per event"))?;
    check(
        (n_ev == 0 || tx_start.get(0)) && tx_start.ones() as usize == n_tx,
        8,
        "transaction starts do not match the transaction ids",
    )?;
    let m_extra = u32s(sections[9]).ok_or_else(|| len_err(9))?;
    let m_nin = u32s(sections[10]).ok_or_else(|| len_err(10))?;
    let n_multi = multi.ones() as usize;
    check(
        m_extra.len() == n_multi + 1
            && m_extra[0] == 0
            && m_extra.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] >= 2),
        9,
        "leg counts of multi-leg events inconsistent",
    )?;
    check(
        m_nin.len() == n_multi
            && m_nin
                .iter()
                .zip(m_extra.windows(2))
                .all(|(&n, w)| n >= 1 && n <= w[1] - w[0]),
        10,
        "input counts of multi-leg events inconsistent",
    )?;
    let slot_addr = u32s(sections[11]).ok_or_else(|| len_err(11))?;
    let n_slots = n_ev as u64 + u64::from(m_extra[n_multi]);
    check(
        slot_addr.len() as u64 == n_slots,
        11,
        "slot count does not match the events",
    )?;
    check(
        slot_addr.iter().all(|&a| (a as usize) < n_addr),
        11,
        "address index out of range",
    )?;
    let small = u64s(sections[12]).ok_or_else(|| len_err(12))?;
    let big = u128s(sections[13]).ok_or_else(|| len_err(13))?;
    check(
        small.len() == slot_addr.len(),
        12,
        "one amount per slot expected",
    )?;
    let slot_amt = AmountColumn { small, big };
    check(
        slot_amt.is_consistent(),
        13,
        "large amount index out of range",
    )?;
    let out_off = u32s(sections[14]).ok_or_else(|| len_err(14))?;
    let (out_off, out_adj) = if version >= 5 {
        (out_off, u32s(sections[15]).ok_or_else(|| len_err(15))?)
    } else {
        let edges = pairs(sections[15]).ok_or_else(|| len_err(15))?;
        check(
            offsets_ok(&out_off, n_addr, edges.len()),
            14,
            "adjacency offsets inconsistent",
        )?;
        pack_out_edges(&out_off, &edges).ok_or_else(|| bad(15, "out-edge out of range"))?
    };
    let in_off = u32s(sections[16]).ok_or_else(|| len_err(16))?;
    let in_adj = u32s(sections[17]).ok_or_else(|| len_err(17))?;
    check(
        offsets_ok(&out_off, n_addr, out_adj.len()),
        14,
        "adjacency offsets inconsistent",
    )?;
    check(
        offsets_ok(&in_off, n_addr, in_adj.len()),
        16,
        "adjacency offsets inconsistent",
    )?;
    check(
        (0..n_addr).into_par_iter().with_min_len(4096).all(|n| {
            let list = &in_adj[in_off[n] as usize..in_off[n + 1] as usize];
            list.last().is_none_or(|&e| (e as usize) < n_ev) && list.windows(2).all(|w| w[0] < w[1])
        }),
        17,
        "adjacency entry out of range or out of order",
    )?;
    let n_legs = n_slots + (n_ev - n_multi) as u64;
    let cols = Columns {
        asset,
        multi,
        tx_start,
        m_extra,
        m_nin,
        slot_addr,
        slot_amt,
        n_legs,
        out_off,
        out_adj,
        in_off,
        in_adj,
    };
    // Out-edges: entries in range and in strict time order, each an event
    // word (a word with `RECV` where an event should be is refused, so no
    // receiver word is stray) followed by a receiver word exactly when the
    // event is one-to-one; such an edge sits at its sender (its only slot)
    // and names a receiver. Lists are strictly increasing, so an event has
    // at most one edge at its sender and none elsewhere; as many such edges
    // as one-to-one events means each has exactly one. Checked per node,
    // in parallel. The sender of each one-to-one event (`NONE` for a
    // multi-leg one) is found first, in event order, so that the check of
    // an out-edge reads one word instead of the rank, leg count and slot of
    // its event, each a cache miss.
    let n_ev32 = u32::try_from(n_ev).map_err(|_| bad(7, "more events than a graph can hold"))?;
    let sender: Vec<u32> = (0..n_ev32)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|e| {
            if cols.multi.get(e as usize) {
                NONE
            } else {
                cols.slot_addr[cols.slots(e).0]
            }
        })
        .collect();
    let node_ok = |n: usize| -> Option<usize> {
        let (mut simple, mut prev) = (0usize, None);
        let list = OutList {
            words: &cols.out_adj[cols.out_off[n] as usize..cols.out_off[n + 1] as usize],
        };
        for o in list {
            let e = o.event;
            if e & RECV != 0 || e as usize >= n_ev || prev.is_some_and(|x| x >= e) {
                return None;
            }
            prev = Some(e);
            let from = sender[e as usize];
            let one_to_one = from != NONE;
            if one_to_one != (o.target != NONE) {
                return None;
            }
            if one_to_one {
                if o.target as usize >= n_addr || from as usize != n {
                    return None;
                }
                simple += 1;
            }
        }
        Some(simple)
    };
    let owned: Option<usize> = (0..n_addr)
        .into_par_iter()
        .with_min_len(4096)
        .map(node_ok)
        .try_reduce(|| 0, |a, b| Some(a + b));
    match owned {
        None => {
            return Err(bad(
                15,
                "out-edge out of range, out of order or not its sender's",
            ));
        }
        Some(k) => check(
            k == n_ev - n_multi,
            15,
            "a one-to-one event has no out-edge",
        )?,
    }
    Ok(cols)
}

/// Decodes the wide columns of a version 1 or 2 snapshot, checks them and
/// lays them out anew.
fn legacy_columns(
    sections: &[&[u8]],
    n_addr: usize,
    n_tx: usize,
    assets: &[Asset],
    bad: &dyn Fn(usize, &str) -> Bad,
) -> std::result::Result<Columns, Bad> {
    let n_assets = assets.len();
    let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
    let col = |i: usize| u32s(sections[i]).ok_or_else(|| bad(i, "length is not a multiple of 4"));
    let (ev_tx, ev_asset, ev_leg, ev_nin, leg_addr) = (col(5)?, col(6)?, col(7)?, col(8)?, col(9)?);
    let small = u64s(sections[10]).ok_or_else(|| bad(10, "length is not a multiple of 8"))?;
    let big = u128s(sections[11]).ok_or_else(|| bad(11, "length is not a multiple of 16"))?;
    let (n_ev, n_leg) = (ev_tx.len(), leg_addr.len());
    check(
        ev_asset.len() == n_ev && ev_nin.len() == n_ev && ev_leg.len() == n_ev + 1,
        6,
        "event columns differ in length",
    )?;
    // Transactions numbered in time order, each one run of events.
    check(
        ev_tx.first().is_none_or(|&t| t == 0)
            && ev_tx.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1)
            && ev_tx.last().map_or(0, |&t| t as usize + 1) == n_tx,
        5,
        "transactions are not numbered in time order",
    )?;
    check(
        ev_asset.iter().all(|&a| (a as usize) < n_assets),
        6,
        "asset index out of range",
    )?;
    check(
        ev_leg.first() == Some(&0)
            && ev_leg.windows(2).all(|w| w[0] <= w[1])
            && ev_leg.last().is_some_and(|&l| l as usize == n_leg),
        7,
        "leg offsets are not monotone",
    )?;
    check(
        ev_nin
            .iter()
            .zip(ev_leg.windows(2))
            .all(|(&n, w)| n >= 1 && n < w[1] - w[0]),
        8,
        "an event without an input or an output",
    )?;
    check(
        leg_addr.iter().all(|&a| (a as usize) < n_addr),
        9,
        "address index out of range",
    )?;
    check(small.len() == n_leg, 10, "one amount per leg expected")?;
    let amounts = AmountColumn { small, big };
    check(
        amounts.is_consistent(),
        11,
        "large amount index out of range",
    )?;
    let n_multi = ev_leg.windows(2).filter(|w| w[1] - w[0] != 2).count();
    let mut layout = Layout::with_capacity(n_ev, n_multi, n_leg - (n_ev - n_multi));
    let mut legs = Vec::new();
    for e in 0..n_ev {
        let r = ev_leg[e] as usize..ev_leg[e + 1] as usize;
        legs.clear();
        legs.extend(r.map(|l| (leg_addr[l], amounts.get(l))));
        let new_tx = e == 0 || ev_tx[e] != ev_tx[e - 1];
        layout
            .push(
                new_tx,
                ev_asset[e],
                assets[ev_asset[e] as usize].is_native(),
                ev_nin[e] as usize,
                &legs,
            )
            .map_err(|r| bad(9, &format!("event {e}: {r}")))?;
    }
    Ok(layout.finish(n_addr))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A file read in parallel parts is the file, whatever the part size
    /// (the last part short or not, one part, under two parts).
    #[test]
    fn parallel_read_is_the_file() {
        let path = std::env::temp_dir().join(format!("fundtrace-parts-{}.bin", std::process::id()));
        let data: Vec<u8> = (0..100_003u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
            .collect();
        std::fs::write(&path, &data).unwrap();
        for part in [1, 4096, 10_000, 50_001, 100_003, 1 << 20] {
            assert_eq!(read_in_parts(&path, part).unwrap(), data, "part {part}");
        }
        std::fs::write(&path, b"").unwrap();
        assert!(read_in_parts(&path, 1).unwrap().is_empty());
        std::fs::remove_file(&path).unwrap();
        assert!(read_in_parts(&path, 1).is_err());
    }
}
