//! Snapshots: a frozen [`FlowGraph`] (with its address book, and optionally
//! the seeds and clusters of a case) saved to one file and loaded back.
//!
//! # Format (version 6, little-endian)
//! ```text
//! "FTSNAP\0\x01"  magic (8 bytes)
//! u32             format version (6, the only one read)
//! sections        u32 tag, u64 length, bytes — in a fixed order
//! u32             CRC-32 (IEEE) of every byte before it
//! ```
//! The sections: the address book as fixed 35-byte records, transaction
//! ids as 33-byte records, assets as 21-byte records, asset infos and the
//! block table as JSON, the traversal columns exactly as the frozen graph
//! holds them (written and checked by the graph, see [`crate::graph`]), so
//! loading is a copy and a check, and last the source summaries, load
//! counts, case and known opening balances as JSON. A file whose checksum,
//! magic, version or section layout does not match, or whose columns are
//! inconsistent, is refused with an error naming the file and the offset;
//! nothing of it is used. The version is checked first, then the checksum,
//! before anything is decoded. A file of another format version (older or
//! newer) is refused with the version found and the one supported; it can
//! be rebuilt from its sources.
//!
//! # Cost
//! Saving copies the graph once into a buffer of its size and writes it;
//! loading reads the file (in parallel parts on Unix), checks its
//! checksum, and decodes and checks each section in one linear pass.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{
    AddressIndex, BlockInfo, COLUMN_SECTIONS, Columns, FlowGraph, RECV, Stored, par_decode,
};
use crate::trace::Cluster;
use crate::types::{ADDRESS_BYTES, Address, Asset, BlockHeight, Chain, Timestamp, TxId};

const MAGIC: &[u8; 8] = b"FTSNAP\0\x01";
/// The snapshot format version this crate writes, and the only one it
/// reads (see the [module documentation](self)).
pub const FORMAT_VERSION: u32 = 6;

/// What a snapshot may carry besides the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// Seeds of the case.
    pub seeds: Vec<Address>,
    /// Target clusters of the case.
    pub clusters: Vec<Cluster>,
}

// Section tags, in file order: the address book and tables, then the
// traversal columns (`COLUMN_SECTIONS`), then `META`.
const HEAD_SECTIONS: [&str; 5] = ["addresses", "txids", "assets", "asset_info", "blocks"];

const META: &str = "meta";

#[derive(Serialize, Deserialize)]
struct Meta {
    sources: Vec<crate::graph::SourceSummary>,
    stats: crate::graph::LoadStats,
    case: CaseInfo,
    /// Known opening balances.
    #[serde(default)]
    openings: Vec<crate::types::OpeningBalance>,
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
        g.cols.encode(&mut out, &mut next);
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
        if version != FORMAT_VERSION {
            return Err((
                8,
                format!(
                    "snapshot format version {version}; this build reads only version {FORMAT_VERSION} (rebuild the snapshot from its sources)"
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
        let names: Vec<&str> = HEAD_SECTIONS
            .iter()
            .chain(COLUMN_SECTIONS.iter())
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
        if !s0.len().is_multiple_of(ADDRESS_BYTES) {
            return Err(bad(0, "length is not a multiple of the record size"));
        }
        let addresses = par_decode(s0, Address::ethereum([0; 20]), Address::from_bytes)
            .ok_or_else(|| bad(0, "an address record is not valid"))?;
        if !sections[1].len().is_multiple_of(33) {
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
        if !sections[2].len().is_multiple_of(21) {
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
        // checked (its table fill is one thread's work).
        let head = HEAD_SECTIONS.len();
        let (cols, index) = rayon::join(
            || {
                Columns::decode(
                    &sections[head..meta_at],
                    n_addr,
                    txids.len(),
                    &assets,
                    &|i, r| bad(head + i, r),
                )
            },
            || AddressIndex::build(&addresses),
        );
        let cols = cols?;
        let index = index.ok_or_else(|| bad(0, "an address occurs twice"))?;
        let n_ev = cols.asset.len();
        check(
            blocks.windows(2).all(|w| w[0].3 < w[1].3)
                && blocks.first().is_none_or(|b| b.3 == 0)
                && blocks.last().is_none_or(|b| (b.3 as usize) < n_ev)
                && (n_ev == 0 || !blocks.is_empty()),
            4,
            "block table inconsistent",
        )?;

        let stored = Stored {
            addresses,
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
            sources: meta.sources,
            stats: meta.stats,
        };
        let mut g = FlowGraph::from_stored(stored, index);
        let n = meta.openings.len();
        if g.put_opening_balances(meta.openings) != n {
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
/// the threads.
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
    use super::read_in_parts;

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
