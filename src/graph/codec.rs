//! The snapshot encoding of the traversal [`Columns`]: each column is one
//! section of little-endian elements, exactly as the graph holds it, so
//! writing is a copy and reading a copy and a check. [`Columns::encode`]
//! writes the sections named in [`COLUMN_SECTIONS`], in that order;
//! [`Columns::decode`] reads them back and refuses columns that are
//! inconsistent, naming the section. The file around them (magic, version,
//! section headers, checksum, address book) is [`crate::snapshot`]'s.

// Index casts: a decoded column is checked against the event and address
// counts, which stay below 2^32, before it is indexed.
#![allow(clippy::cast_possible_truncation)]

use rayon::prelude::*;

use super::adjacency::OutList;
use super::columns::{AmountColumn, AssetColumn, Columns, RankBits};
use super::ids::{NONE, RECV};
use crate::types::Asset;

/// A decoding error: the offset in the file and what is wrong.
pub(crate) type Bad = (u64, String);

/// The sections of the columns, in file order: the asset column (native
/// bits with the event count, native runs, other events' asset indices,
/// out-of-line asset indices), then the multi-leg and transaction-start
/// bits, the multi-leg events' extra slots and input counts, the slots'
/// nodes, amounts and large amounts, and the adjacency (offsets and words,
/// out then in).
pub(crate) const COLUMN_SECTIONS: [&str; 15] = [
    "native",
    "native_runs",
    "other_asset",
    "asset_wide",
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

/// Writes one section to the output: its header, then the bytes the
/// body writes.
pub(crate) type SectionWriter<'a> = &'a mut dyn FnMut(&mut Vec<u8>, &dyn Fn(&mut Vec<u8>));

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

/// Appends (event, index) pairs, little-endian.
fn put_pairs(out: &mut Vec<u8>, v: &[(u32, u32)]) {
    out.reserve(v.len() * 8);
    for &(e, a) in v {
        out.extend_from_slice(&e.to_le_bytes());
        out.extend_from_slice(&a.to_le_bytes());
    }
}

impl Columns {
    /// Writes the columns to `out` as the sections of [`COLUMN_SECTIONS`],
    /// in order: `section(out, body)` writes one section's header and
    /// calls `body` for its bytes. Linear in the columns' bytes, which it
    /// copies once.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, section: SectionWriter<'_>) {
        let c = self;
        section(out, &|o| {
            o.extend_from_slice(&(c.asset.len() as u64).to_le_bytes());
            put_all(o, &c.asset.native.words);
        });
        section(out, &|o| put_pairs(o, &c.asset.runs));
        section(out, &|o| put_all(o, &c.asset.other));
        section(out, &|o| put_pairs(o, &c.asset.wide));
        section(out, &|o| put_all(o, &c.multi.words));
        section(out, &|o| put_all(o, &c.tx_start.words));
        section(out, &|o| put_all(o, &c.m_extra));
        section(out, &|o| put_all(o, &c.m_nin));
        section(out, &|o| put_all(o, &c.slot_addr));
        section(out, &|o| put_all(o, &c.slot_amt.small));
        section(out, &|o| put_all(o, &c.slot_amt.big));
        section(out, &|o| put_all(o, &c.out_off));
        section(out, &|o| put_all(o, &c.out_adj));
        section(out, &|o| put_all(o, &c.in_off));
        section(out, &|o| put_all(o, &c.in_adj));
    }

    /// Decodes the columns from their sections (in the order of
    /// [`COLUMN_SECTIONS`]) and checks them against a graph of `n_addr`
    /// addresses, `n_tx` transactions and `assets`: every index in range,
    /// offsets closed, adjacency lists in strict time order, and every
    /// one-to-one event named by exactly one out-edge of its sender (the
    /// graph finds its receiver there). `bad(i, what)` makes the error for
    /// section `i`. Linear in the bytes, in parallel over sections' elements
    /// and nodes; no column is allocated before its section's length is
    /// known to fit the file.
    pub(crate) fn decode(
        sections: &[&[u8]],
        n_addr: usize,
        n_tx: usize,
        assets: &[Asset],
        bad: &dyn Fn(usize, &str) -> Bad,
    ) -> std::result::Result<Columns, Bad> {
        let check = |ok: bool, i: usize, what: &str| if ok { Ok(()) } else { Err(bad(i, what)) };
        let len_err = |i: usize| bad(i, "length is not a multiple of the element size");
        let asset = asset_column(sections, assets, bad)?;
        let n_ev = asset.len();
        let multi = u64s(sections[4])
            .and_then(|w| RankBits::from_words(w, n_ev))
            .ok_or_else(|| bad(4, "not one bit per event"))?;
        let tx_start = u64s(sections[5])
            .and_then(|w| RankBits::from_words(w, n_ev))
            .ok_or_else(|| bad(5, "not one bit per event"))?;
        check(
            (n_ev == 0 || tx_start.get(0)) && tx_start.ones() as usize == n_tx,
            5,
            "transaction starts do not match the transaction ids",
        )?;
        let m_extra = u32s(sections[6]).ok_or_else(|| len_err(6))?;
        let m_nin = u32s(sections[7]).ok_or_else(|| len_err(7))?;
        let n_multi = multi.ones() as usize;
        check(
            m_extra.len() == n_multi + 1
                && m_extra[0] == 0
                && m_extra.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] >= 2),
            6,
            "leg counts of multi-leg events inconsistent",
        )?;
        check(
            m_nin.len() == n_multi
                && m_nin
                    .iter()
                    .zip(m_extra.windows(2))
                    .all(|(&n, w)| n >= 1 && n <= w[1] - w[0]),
            7,
            "input counts of multi-leg events inconsistent",
        )?;
        let slot_addr = u32s(sections[8]).ok_or_else(|| len_err(8))?;
        let n_slots = n_ev as u64 + u64::from(m_extra[n_multi]);
        check(
            slot_addr.len() as u64 == n_slots,
            8,
            "slot count does not match the events",
        )?;
        check(
            slot_addr.iter().all(|&a| (a as usize) < n_addr),
            8,
            "address index out of range",
        )?;
        let small = u64s(sections[9]).ok_or_else(|| len_err(9))?;
        let big = u128s(sections[10]).ok_or_else(|| len_err(10))?;
        check(
            small.len() == slot_addr.len(),
            9,
            "one amount per slot expected",
        )?;
        let slot_amt = AmountColumn { small, big };
        check(
            slot_amt.is_consistent(),
            10,
            "large amount index out of range",
        )?;
        let out_off = u32s(sections[11]).ok_or_else(|| len_err(11))?;
        let out_adj = u32s(sections[12]).ok_or_else(|| len_err(12))?;
        let in_off = u32s(sections[13]).ok_or_else(|| len_err(13))?;
        let in_adj = u32s(sections[14]).ok_or_else(|| len_err(14))?;
        check(
            offsets_ok(&out_off, n_addr, out_adj.len()),
            11,
            "adjacency offsets inconsistent",
        )?;
        check(
            offsets_ok(&in_off, n_addr, in_adj.len()),
            13,
            "adjacency offsets inconsistent",
        )?;
        check(
            (0..n_addr).into_par_iter().with_min_len(4096).all(|n| {
                let list = &in_adj[in_off[n] as usize..in_off[n + 1] as usize];
                list.last().is_none_or(|&e| (e as usize) < n_ev)
                    && list.windows(2).all(|w| w[0] < w[1])
            }),
            14,
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
        let n_ev32 =
            u32::try_from(n_ev).map_err(|_| bad(4, "more events than a graph can hold"))?;
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
                    12,
                    "out-edge out of range, out of order or not its sender's",
                ));
            }
            Some(k) => check(
                k == n_ev - n_multi,
                12,
                "a one-to-one event has no out-edge",
            )?,
        }
        Ok(cols)
    }
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
    v.len()
        .is_multiple_of(2)
        .then(|| v.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// Decodes and checks the asset column (sections 0 to 3).
fn asset_column(
    sections: &[&[u8]],
    assets: &[Asset],
    bad: &dyn Fn(usize, &str) -> Bad,
) -> std::result::Result<AssetColumn, Bad> {
    let len_err = |i: usize| bad(i, "length is not a multiple of the element size");
    let s = sections[0];
    let n_ev = s
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < RECV as usize)
        .ok_or_else(|| bad(0, "event count missing or too large"))?;
    let native = u64s(&s[8..])
        .and_then(|w| RankBits::from_words(w, n_ev))
        .ok_or_else(|| bad(0, "not one bit per event"))?;
    let runs = pairs(sections[1]).ok_or_else(|| len_err(1))?;
    let other = decode(sections[2], u16::from_le_bytes).ok_or_else(|| len_err(2))?;
    let wide = pairs(sections[3]).ok_or_else(|| len_err(3))?;
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
            1,
            "asset columns inconsistent (native runs, other events or out-of-line entries)",
        ))
    }
}

/// Decodes a section of fixed-size records in parallel; `None` if its
/// length is not a multiple of the record size or a record is not valid
/// (`fill` stands in for an invalid record until the result is dropped).
pub(crate) fn par_decode<T: Copy + Send + Sync, const N: usize>(
    s: &[u8],
    fill: T,
    f: impl Fn(&[u8; N]) -> Option<T> + Sync,
) -> Option<Vec<T>> {
    if !s.len().is_multiple_of(N) {
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
