//! Bitcoin Core block files (`blocks/blk*.dat`).
//!
//! Each record is `<network magic, 4 bytes> <length, u32 LE> <block>`.
//! Bitcoin Core 28 and later XOR every byte of its block files with an 8-byte
//! key kept in `blocks/xor.dat` (byte `i` of a file with `key[i % 8]`; an
//! all-zero key means none). Files are preallocated, so a file can end in
//! zero padding; blocks are stored in the order they arrived, not in height
//! order, and may include stale blocks.
//!
//! [`BlkSource`] reads in two passes. The first reads only the 88 bytes of
//! framing and header of every record and keeps a small index entry per
//! block (about 120 bytes); from it the best chain (most cumulative work) is
//! chosen. The second pass reads the chain's blocks one at a time, in height
//! order. Memory is the index plus one block plus the UTXO set, whatever the
//! number or size of the files.
//!
//! Each network has its own magic. Mainnet and regtest files carry one
//! each; testnet3, testnet4 and signet share their addresses (one
//! [`BitcoinNetwork::Testnet`]) but not their magic, so for `Testnet` the
//! first record of the first file tells which of the three the files hold.
//! A custom signet, whose magic comes from its challenge script, is not
//! recognised.
//!
//! A record cut off at the end of a file (a node that stopped while writing)
//! is reported as a warning naming file and offset; no half block is ever
//! returned. Anything else that breaks the format is an error with file and
//! offset.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use ::bitcoin::block::Header;
use ::bitcoin::consensus::encode::deserialize;
use ::bitcoin::hashes::Hash;
use ::bitcoin::pow::Work;
use ::bitcoin::{Block, BlockHash, Network};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

use super::convert::{BlockQueue, BlockSummary, Step, UtxoIndex, convert_block};
use crate::error::{Error, Result};
use crate::sources::{Record, Source};
use crate::types::BitcoinNetwork;

/// The largest record accepted: a block's serialised size cannot exceed its
/// weight limit of 4,000,000 units.
pub const MAX_BLOCK_BYTES: u32 = 4_000_000;

/// Reads `xor.dat`: 8 bytes; all zero means no obfuscation.
///
/// # Errors
/// [`Error::Io`], or [`Error::Corrupt`] if the file is not 8 bytes long.
pub fn read_xor_key(path: &Path) -> Result<[u8; 8]> {
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    <[u8; 8]>::try_from(b.as_slice()).map_err(|_| Error::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: format!("xor key must be 8 bytes, found {}", b.len()),
    })
}

/// A reader that undoes Bitcoin Core's XOR obfuscation by file position.
struct XorReader<R> {
    inner: R,
    key: [u8; 8],
    pos: u64,
}

impl<R: Read> Read for XorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.key != [0; 8] {
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b ^= self.key[((self.pos + i as u64) % 8) as usize];
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for XorReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// Where one block sits, and how it links to its parent.
#[derive(Debug, Clone, Copy)]
struct Entry {
    file: u32,
    offset: u64,
    len: u32,
    hash: BlockHash,
    prev: BlockHash,
    work: Work,
}

/// Scans one file's framing. Returns the entries and, if the file ends in a
/// cut-off record, a warning.
fn scan_file<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    file: u32,
    path: &Path,
    magic: [u8; 4],
    entries: &mut Vec<Entry>,
) -> Result<Option<String>> {
    let corrupt = |offset: u64, reason: String| Error::Corrupt {
        path: path.to_owned(),
        offset,
        reason,
    };
    let io = |e: std::io::Error| Error::io(path, e);
    let mut off = 0u64;
    while off < file_len {
        let left = file_len - off;
        let mut frame = [0u8; 8];
        let got = read_up_to(r, &mut frame).map_err(io)?;
        if frame[..got.min(4)].iter().all(|&b| b == 0)
            && got >= 4.min(usize::try_from(left).unwrap_or(usize::MAX))
        {
            // Zero padding of a preallocated file: the end of its data.
            return Ok(None);
        }
        if got < 8 {
            return Ok(Some(format!(
                "{}: truncated record at offset {off}: only {left} bytes left, no complete frame",
                path.display()
            )));
        }
        if frame[..4] != magic {
            return Err(corrupt(
                off,
                format!(
                    "expected network magic {} but found {}",
                    crate::types::hex(&magic),
                    crate::types::hex(&frame[..4])
                ),
            ));
        }
        let len = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if !(80..=MAX_BLOCK_BYTES).contains(&len) {
            return Err(corrupt(
                off,
                format!("record declares {len} bytes, outside 80..={MAX_BLOCK_BYTES}"),
            ));
        }
        if u64::from(len) > left - 8 {
            return Ok(Some(format!(
                "{}: truncated record at offset {off}: declared length {len}, only {} bytes left",
                path.display(),
                left - 8
            )));
        }
        let mut hb = [0u8; 80];
        r.read_exact(&mut hb).map_err(io)?;
        let header: Header = deserialize(&hb)
            .map_err(|e| corrupt(off + 8, format!("cannot decode block header: {e}")))?;
        entries.push(Entry {
            file,
            offset: off,
            len,
            hash: header.block_hash(),
            prev: header.prev_blockhash,
            work: header.work(),
        });
        off += 8 + u64::from(len);
        r.seek(SeekFrom::Start(off)).map_err(io)?;
    }
    Ok(None)
}

/// The P2P network whose magic and genesis block the files have: the one
/// `net` names, or for testnet the one whose magic starts the first file
/// that has data (testnet3 when none does).
///
/// # Errors
/// [`Error::Io`] if a file cannot be read, [`Error::Corrupt`] if the first
/// file of a testnet starts with no testnet's magic.
fn p2p_network(net: BitcoinNetwork, files: &[PathBuf], key: [u8; 8]) -> Result<Network> {
    let testnets = [Network::Testnet, Network::Testnet4, Network::Signet];
    match net {
        BitcoinNetwork::Mainnet => return Ok(Network::Bitcoin),
        BitcoinNetwork::Regtest => return Ok(Network::Regtest),
        _ => {}
    }
    for f in files {
        let file = File::open(f).map_err(|e| Error::io(f, e))?;
        let mut r = XorReader {
            inner: file,
            key,
            pos: 0,
        };
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut r, &mut magic).map_err(|e| Error::io(f, e))?;
        if got < 4 || magic == [0; 4] {
            // Empty, or preallocated and not written yet.
            continue;
        }
        return testnets
            .into_iter()
            .find(|n| n.magic().to_bytes() == magic)
            .ok_or_else(|| Error::Corrupt {
                path: f.clone(),
                offset: 0,
                reason: format!(
                    "expected the network magic of testnet3 ({}), testnet4 ({}) or signet ({}) \
                     but found {}",
                    crate::types::hex(&Network::Testnet.magic().to_bytes()),
                    crate::types::hex(&Network::Testnet4.magic().to_bytes()),
                    crate::types::hex(&Network::Signet.magic().to_bytes()),
                    crate::types::hex(&magic)
                ),
            });
    }
    Ok(Network::Testnet)
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Options for [`BlkSource::open`].
#[derive(Debug, Clone)]
pub struct BlkOptions {
    /// The network of the files. For [`BitcoinNetwork::Testnet`] the files'
    /// magic tells testnet3, testnet4 and signet apart.
    pub network: BitcoinNetwork,
    /// The XOR key; `None` reads `xor.dat` beside the files if there is one.
    pub xor_key: Option<[u8; 8]>,
    /// Height of the first block, for files that start mid-chain with blocks
    /// that carry no BIP34 height (before height 227,931 on mainnet).
    pub start_height: Option<u64>,
    /// Only emit records of blocks in this height range (earlier blocks are
    /// still read, so their outputs are known when later blocks spend them).
    pub heights: Option<RangeInclusive<u64>>,
}

impl BlkOptions {
    /// Options for `network` with everything else automatic.
    pub fn new(network: BitcoinNetwork) -> BlkOptions {
        BlkOptions {
            network,
            xor_key: None,
            start_height: None,
            heights: None,
        }
    }
}

/// Bitcoin Core block files as a [`Source`]: the best chain's blocks in
/// height order, converted to records. See the [module documentation](self).
pub struct BlkSource {
    name: String,
    files: Vec<PathBuf>,
    key: [u8; 8],
    chain: Vec<Entry>,
    first_height: u64,
    next: usize,
    heights: Option<RangeInclusive<u64>>,
    net: BitcoinNetwork,
    utxos: UtxoIndex,
    open: Option<(u32, XorReader<BufReader<File>>)>,
    queue: BlockQueue,
    warnings: Vec<String>,
    off_chain: u64,
}

impl BlkSource {
    /// Opens block files: each path is a `blk*.dat` file or a directory
    /// whose `blk*.dat` files are read in number order.
    ///
    /// # Errors
    /// [`Error::Io`] for unreadable files, [`Error::Corrupt`] for bad framing
    /// (wrong magic, impossible length, undecodable header), and
    /// [`Error::Config`] if the height of the first block cannot be told.
    pub fn open(paths: &[PathBuf], options: BlkOptions) -> Result<BlkSource> {
        Self::open_with(paths, options, UtxoIndex::new())
    }

    /// As [`BlkSource::open`], with a UTXO index that may carry a prevout
    /// provider for ranges that start mid-chain.
    ///
    /// # Errors
    /// As [`BlkSource::open`].
    pub fn open_with(
        paths: &[PathBuf],
        options: BlkOptions,
        utxos: UtxoIndex,
    ) -> Result<BlkSource> {
        let mut files = Vec::new();
        let mut key = options.xor_key;
        for p in paths {
            if p.is_dir() {
                let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(p)
                    .map_err(|e| Error::io(p, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter_map(|f| {
                        let name = f.file_name()?.to_str()?.to_owned();
                        let num = name
                            .strip_prefix("blk")?
                            .strip_suffix(".dat")?
                            .parse::<u64>()
                            .ok()?;
                        Some((num, f))
                    })
                    .collect();
                found.sort();
                files.extend(found.into_iter().map(|x| x.1));
                let xor = p.join("xor.dat");
                if key.is_none() && xor.exists() {
                    key = Some(read_xor_key(&xor)?);
                }
            } else {
                files.push(p.clone());
            }
        }
        let key = key.unwrap_or([0; 8]);
        let p2p = p2p_network(options.network, &files, key)?;
        let magic = p2p.magic().to_bytes();
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        let _span = tracing::info_span!("blk_index", files = files.len()).entered();
        for (i, f) in files.iter().enumerate() {
            tracing::debug!(file = %f.display(), done = i, blocks = entries.len(), "indexing block files");
            let file = File::open(f).map_err(|e| Error::io(f, e))?;
            let len = file.metadata().map_err(|e| Error::io(f, e))?.len();
            let mut r = XorReader {
                inner: BufReader::with_capacity(1 << 16, file),
                key,
                pos: 0,
            };
            let idx = u32::try_from(i).map_err(|_| Error::Capacity {
                what: "block files",
                limit: u64::from(u32::MAX),
            })?;
            if let Some(w) = scan_file(&mut r, len, idx, f, magic, &mut entries)? {
                warnings.push(w);
            }
        }
        let (chain, off_chain) = best_chain(&entries);
        tracing::info!(
            files = files.len(),
            blocks = entries.len(),
            best_chain = chain.len(),
            off_chain,
            "block files indexed"
        );
        let mut src = BlkSource {
            name: format!(
                "blk:{}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            files,
            key,
            chain,
            first_height: 0,
            next: 0,
            heights: options.heights,
            net: options.network,
            utxos,
            open: None,
            queue: BlockQueue::default(),
            warnings,
            off_chain,
        };
        if off_chain > 0 {
            src.warnings.push(format!(
                "{off_chain} blocks are not on the best chain and were skipped"
            ));
        }
        src.first_height = match src.chain.first() {
            None => 0,
            Some(first) if first.prev == BlockHash::all_zeros() => 0,
            Some(first) if first.prev == ::bitcoin::constants::genesis_block(p2p).block_hash() => 1,
            Some(first) => match options.start_height {
                Some(h) => h,
                None => {
                    let e = *first;
                    let block = src.read_block(&e)?;
                    block.bip34_block_height().map_err(|err| {
                        Error::config("start_height", format!(
                            "cannot tell the height of block {} at {}:{} ({err}); give the start height",
                            e.hash,
                            src.files[e.file as usize].display(),
                            e.offset
                        ))
                    })?
                }
            },
        };
        Ok(src)
    }

    /// Blocks on the chosen chain.
    pub fn chain_len(&self) -> usize {
        self.chain.len()
    }

    /// Height of the first block of the chain.
    pub fn first_height(&self) -> u64 {
        self.first_height
    }

    /// Totals over the blocks converted so far.
    pub fn totals(&self) -> BlockSummary {
        self.queue.totals()
    }

    /// Reads and converts the next block of the chain.
    fn step(&mut self) -> Result<Step> {
        let Some(&e) = self.chain.get(self.next) else {
            return Ok(Step::End);
        };
        let height = self.first_height + self.next as u64;
        if self.heights.as_ref().is_some_and(|r| height > *r.end()) {
            return Ok(Step::End);
        }
        self.next += 1;
        let block = self.read_block(&e)?;
        if block.block_hash() != e.hash {
            return Err(Error::Corrupt {
                path: self.files[e.file as usize].clone(),
                offset: e.offset,
                reason: "block changed since it was indexed".into(),
            });
        }
        let mut recs = Vec::with_capacity(block.txdata.len());
        let s = convert_block(&block, height, self.net, &mut self.utxos, &mut recs)?;
        Ok(
            if self.heights.as_ref().is_none_or(|r| r.contains(&height)) {
                Step::Block(s, recs)
            } else {
                Step::Skipped
            },
        )
    }

    fn read_block(&mut self, e: &Entry) -> Result<Block> {
        let path = &self.files[e.file as usize];
        if self.open.as_ref().is_none_or(|(f, _)| *f != e.file) {
            let file = File::open(path).map_err(|err| Error::io(path, err))?;
            self.open = Some((
                e.file,
                XorReader {
                    inner: BufReader::with_capacity(1 << 20, file),
                    key: self.key,
                    pos: 0,
                },
            ));
        }
        let (_, r) = self.open.as_mut().expect("opened above");
        r.seek(SeekFrom::Start(e.offset + 8))
            .map_err(|err| Error::io(path, err))?;
        let mut bytes = vec![0u8; e.len as usize];
        r.read_exact(&mut bytes)
            .map_err(|err| Error::io(path, err))?;
        decode_block(&bytes, path, e.offset)
    }
}

/// Decodes and checks one block: it must consume all its bytes, and its
/// merkle root and (for segwit blocks) witness commitment must match.
///
/// # Errors
/// [`Error::Corrupt`] naming `path` and `offset`.
pub fn decode_block(bytes: &[u8], path: &Path, offset: u64) -> Result<Block> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        offset,
        reason,
    };
    let block: Block =
        deserialize(bytes).map_err(|e| corrupt(format!("cannot decode block: {e}")))?;
    if !block.check_merkle_root() {
        return Err(corrupt(format!(
            "block {}: merkle root does not match its transactions",
            block.block_hash()
        )));
    }
    if !block.check_witness_commitment() {
        return Err(corrupt(format!(
            "block {}: witness commitment does not match",
            block.block_hash()
        )));
    }
    Ok(block)
}

/// `a + b`, saturating at 2^256 - 1. Headers in block files are untrusted: a
/// forged `bits` field claims work whose sum overflows (found by fuzzing;
/// `Work`'s own `+` panics in debug builds and wraps in release ones).
fn add_work(a: Work, b: Work) -> Work {
    let split = |w: Work| {
        let x = w.to_be_bytes();
        let (hi, lo) = x.split_at(16);
        (
            u128::from_be_bytes(hi.try_into().expect("16 bytes")),
            u128::from_be_bytes(lo.try_into().expect("16 bytes")),
        )
    };
    let ((ah, al), (bh, bl)) = (split(a), split(b));
    let (lo, carry) = al.overflowing_add(bl);
    let mut out = [0xffu8; 32];
    if let Some(hi) = ah
        .checked_add(bh)
        .and_then(|h| h.checked_add(u128::from(carry)))
    {
        out[..16].copy_from_slice(&hi.to_be_bytes());
        out[16..].copy_from_slice(&lo.to_be_bytes());
    }
    Work::from_be_bytes(out)
}

/// The chain with the most cumulative work, root first, and the number of
/// indexed blocks not on it. Duplicates of a block count once.
fn best_chain(entries: &[Entry]) -> (Vec<Entry>, u64) {
    let mut by_hash: FxHashMap<BlockHash, usize> = FxHashMap::default();
    for (i, e) in entries.iter().enumerate() {
        by_hash.entry(e.hash).or_insert(i);
    }
    let unique = by_hash.len();
    // Cumulative work per entry, computed parent-first with an explicit stack.
    let mut total: Vec<Option<Work>> = vec![None; entries.len()];
    for start in 0..entries.len() {
        let mut stack = vec![start];
        while let Some(&i) = stack.last() {
            if total[i].is_some() {
                stack.pop();
                continue;
            }
            match by_hash.get(&entries[i].prev) {
                Some(&p) if total[p].is_none() && p != i => stack.push(p),
                Some(&p) if p != i => {
                    total[i] = Some(add_work(
                        total[p].expect("parent computed"),
                        entries[i].work,
                    ));
                    stack.pop();
                }
                _ => {
                    total[i] = Some(entries[i].work);
                    stack.pop();
                }
            }
        }
    }
    let Some(tip) = (0..entries.len())
        .filter(|&i| by_hash[&entries[i].hash] == i)
        .max_by(|&a, &b| {
            total[a].cmp(&total[b]).then(b.cmp(&a)) // most work, then first seen
        })
    else {
        return (Vec::new(), 0);
    };
    let mut chain = vec![entries[tip]];
    let mut cur = tip;
    while let Some(&p) = by_hash.get(&entries[cur].prev) {
        if p == cur || chain.len() > entries.len() {
            break;
        }
        chain.push(entries[p]);
        cur = p;
    }
    chain.reverse();
    let off = (unique - chain.len()) as u64;
    (chain, off)
}

impl Source for BlkSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let mut queue = std::mem::take(&mut self.queue);
        let next = queue.next(|| self.step());
        self.queue = queue;
        next
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c = self.queue.counters();
        c.insert("blocks_off_best_chain".into(), self.off_chain);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn cumulative_work_saturates() {
        let w = |hi: u8, lo: u8| {
            let mut b = [0u8; 32];
            b[0] = hi;
            b[31] = lo;
            Work::from_be_bytes(b)
        };
        assert_eq!(add_work(w(0, 2), w(0, 3)), w(0, 5));
        // A carry from the low half into the high half.
        let mut lo = [0u8; 32];
        lo[16..].copy_from_slice(&[0xff; 16]);
        let mut want = [0u8; 32];
        want[15] = 1;
        assert_eq!(
            add_work(Work::from_be_bytes(lo), w(0, 1)),
            Work::from_be_bytes(want)
        );
        let max = Work::from_be_bytes([0xff; 32]);
        assert_eq!(add_work(max, w(0x80, 0)), max);
        assert_eq!(add_work(w(0x80, 0), w(0x80, 0)), max);
    }

    #[test]
    fn xor_reader_undoes_the_key() {
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        let plain: Vec<u8> = (0..20).collect();
        let enc: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 8])
            .collect();
        let mut r = XorReader {
            inner: Cursor::new(enc),
            key,
            pos: 0,
        };
        r.seek(SeekFrom::Start(5)).unwrap();
        let mut out = [0u8; 10];
        r.read_exact(&mut out).unwrap();
        assert_eq!(&out, &plain[5..15]);
    }

    #[test]
    fn framing_errors_name_the_offset() {
        let magic = Network::Bitcoin.magic().to_bytes();
        let p = Path::new("mem.dat");
        // Wrong magic.
        let mut data = vec![0xfa, 0xbf, 0xb5, 0xda, 80, 0, 0, 0];
        data.extend([0u8; 80]);
        let e = scan_file(
            &mut Cursor::new(&data),
            data.len() as u64,
            0,
            p,
            magic,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("mem.dat at offset 0") && e.to_string().contains("magic"),
            "{e}"
        );
        // A length beyond the block limit is refused before any allocation.
        let mut data = magic.to_vec();
        data.extend(u32::MAX.to_le_bytes());
        let e = scan_file(
            &mut Cursor::new(&data),
            data.len() as u64,
            0,
            p,
            magic,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("4294967295"), "{e}");
        // Zero padding ends the data.
        let data = vec![0u8; 100];
        let w = scan_file(&mut Cursor::new(&data), 100, 0, p, magic, &mut Vec::new()).unwrap();
        assert!(w.is_none());
    }
}
