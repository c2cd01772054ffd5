//! btcd's `utxostore` test format as a [`PrevoutProvider`]: the outputs a
//! block spends, for tracing a block without its history.
//!
//! Records: `<txid, 32 bytes, internal order> <vout, u32 LE> <length, u32 LE>
//! <entry>`, where an entry is `VLQ(height << 1 | is_coinbase)`,
//! `VLQ(compressed amount)` and a compressed script, in the encodings of
//! Bitcoin Core's `compressor.cpp` and `serialize.h` (btcd
//! `blockchain/compress.go` implements the same).

use std::path::Path;

use ::bitcoin::hashes::Hash;
use ::bitcoin::{OutPoint, ScriptBuf, Txid};
use rustc_hash::FxHashMap;

use super::convert::{Prevout, PrevoutProvider, script_address};
use crate::error::{Error, Result};
use crate::types::BitcoinNetwork;

/// All outputs of a utxostore file, by outpoint.
#[derive(Debug, Clone, Default)]
pub struct UtxoStore {
    map: FxHashMap<OutPoint, Prevout>,
}

impl UtxoStore {
    /// Reads a utxostore file.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Corrupt`] naming the offset of a bad record.
    pub fn load(path: &Path, net: BitcoinNetwork) -> Result<UtxoStore> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, net).map_err(|(offset, reason)| Error::Corrupt {
            path: path.to_owned(),
            offset,
            reason,
        })
    }

    /// Parses the bytes of a utxostore file; on error, the offset of the bad
    /// record and what is wrong.
    pub fn parse(
        bytes: &[u8],
        net: BitcoinNetwork,
    ) -> std::result::Result<UtxoStore, (u64, String)> {
        let mut map = FxHashMap::default();
        let mut at = 0usize;
        while at < bytes.len() {
            let start = at as u64;
            let head = bytes
                .get(at..at + 40)
                .ok_or((start, "truncated record header".to_string()))?;
            let txid =
                Txid::from_byte_array(head[..32].try_into().expect("32 bytes by the slice above"));
            let vout = u32::from_le_bytes(head[32..36].try_into().expect("4 bytes"));
            let len = u32::from_le_bytes(head[36..40].try_into().expect("4 bytes")) as usize;
            at += 40;
            let entry = bytes
                .get(at..at + len)
                .ok_or((start, format!("entry of {len} bytes runs past the end")))?;
            at += len;
            let (value, script) = decode_entry(entry).map_err(|r| (start, r))?;
            map.insert(
                OutPoint { txid, vout },
                Prevout {
                    address: script_address(&script, net),
                    value,
                },
            );
        }
        Ok(UtxoStore { map })
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl PrevoutProvider for UtxoStore {
    fn prevout(&mut self, outpoint: &OutPoint) -> Result<Option<Prevout>> {
        Ok(self.map.get(outpoint).copied())
    }
}

/// Bitcoin Core's variable-length integer (`serialize.h`, `ReadVarInt`):
/// base 128, most significant group first, each continuation adding one.
fn read_vlq(b: &[u8], at: &mut usize) -> std::result::Result<u64, String> {
    let mut n: u64 = 0;
    loop {
        let byte = *b.get(*at).ok_or("truncated varint")?;
        *at += 1;
        n = n
            .checked_mul(128)
            .and_then(|n| n.checked_add(u64::from(byte & 0x7f)))
            .ok_or("varint overflows u64")?;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
        n = n.checked_add(1).ok_or("varint overflows u64")?;
    }
}

/// Core's `DecompressAmount`.
fn decompress_amount(mut x: u64) -> u64 {
    if x == 0 {
        return 0;
    }
    x -= 1;
    let mut e = x % 10;
    x /= 10;
    let mut n = if e < 9 {
        let d = x % 9 + 1;
        x /= 9;
        x.saturating_mul(10).saturating_add(d)
    } else {
        x.saturating_add(1)
    };
    while e > 0 {
        n = n.saturating_mul(10);
        e -= 1;
    }
    n
}

/// One entry: (value, script). Core's `ScriptCompression`: 0 P2PKH, 1 P2SH,
/// 2-3 compressed P2PK, 4-5 uncompressed P2PK (stored compressed), else a
/// raw script of `code - 6` bytes.
fn decode_entry(e: &[u8]) -> std::result::Result<(u64, ScriptBuf), String> {
    let mut at = 0;
    let _height_and_coinbase = read_vlq(e, &mut at)?;
    let value = decompress_amount(read_vlq(e, &mut at)?);
    let code = read_vlq(e, &mut at)?;
    let take = |at: usize, n: usize| {
        e.get(at..at + n)
            .ok_or_else(|| format!("script data truncated (type {code})"))
    };
    let mut s = Vec::new();
    match code {
        0 => {
            s.extend([0x76, 0xa9, 0x14]);
            s.extend(take(at, 20)?);
            s.extend([0x88, 0xac]);
        }
        1 => {
            s.extend([0xa9, 0x14]);
            s.extend(take(at, 20)?);
            s.push(0x87);
        }
        2 | 3 => {
            s.push(0x21);
            s.push(if code == 2 { 0x02 } else { 0x03 }); // the key's parity prefix
            s.extend(take(at, 32)?);
            s.push(0xac);
        }
        4 | 5 => {
            let mut compressed = vec![if code == 4 { 0x02 } else { 0x03 }];
            compressed.extend(take(at, 32)?);
            let key = ::bitcoin::secp256k1::PublicKey::from_slice(&compressed)
                .map_err(|err| format!("uncompressed key not on the curve: {err}"))?;
            s.push(0x41);
            s.extend(key.serialize_uncompressed());
            s.push(0xac);
        }
        n => {
            let len = usize::try_from(n - 6).map_err(|_| "script length overflows".to_string())?;
            s.extend(take(at, len)?);
        }
    }
    Ok((value, ScriptBuf::from_bytes(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_amount_compression_vectors() {
        // From Bitcoin Core's compress_tests.cpp: 0 -> 0, 1 sat -> 1,
        // 1 BTC -> 9, 50 BTC -> 50 (CompressAmount values 0x0, 0x1, 0x9, 0x32).
        assert_eq!(decompress_amount(0), 0);
        assert_eq!(decompress_amount(1), 1);
        assert_eq!(decompress_amount(9), 100_000_000);
        assert_eq!(decompress_amount(0x32), 5_000_000_000);
    }

    #[test]
    fn vlq() {
        // Core's serialize tests: 0x80 0x00 is 128; 0xff 0x7f is 16511.
        let mut at = 0;
        assert_eq!(read_vlq(&[0x80, 0x00], &mut at), Ok(128));
        at = 0;
        assert_eq!(read_vlq(&[0xff, 0x7f], &mut at), Ok(16_511));
        at = 0;
        assert!(read_vlq(&[0x80], &mut at).is_err());
    }
}
