//! The storage columns of a [`FlowGraph`] and the layout that fills them.
//!
//! Per event: a bit for "moves its chain's native coin" ([`AssetColumn`]),
//! a bit for "more than one input or output" and a bit for "first event of
//! its transaction", each a [`RankBits`] with a rank index (a `u32` per 64
//! events), so the transaction of an event is a population count away;
//! token events keep their asset index in a column of their own (`u16`,
//! larger indices out of line). Legs live in **slots** (node `u32`, amount
//! `u64` in an [`AmountColumn`]): a multi-leg event has one slot per leg
//! (inputs first), plus its input count and a running total of its extra
//! slots, from which any event's first slot follows; a one-to-one event
//! has a single slot, its sender and amount, because its receiver is
//! already the inline target of its out-edge. The adjacency is two offset
//! columns and two word columns: out-edges packed as [`OutList`] words (a
//! one-to-one event's entry is its event and its receiver, a multi-leg
//! event's entry its event alone), in-edges as events. For an ETH transfer
//! that is 12 bytes of slot, 8 of out-edge, 4 of in-edge and under half a
//! byte of event columns, instead of 52 in a plain event/leg layout.
//!
//! Amounts are stored as `u64` with values of 2^63 and more (common in
//! wei) kept out of line as `u128`, so no amount is ever truncated.
//!
//! How the columns are written to a snapshot and checked when read back
//! is in the `codec` module beside this one.

// Index casts: events, nodes and slots stay below 2^32 (see the builder's
// caps), so u32/usize index casts cannot truncate.
#![allow(clippy::cast_possible_truncation)]

use serde::Serialize;

use super::ids::{NONE, RECV};
#[cfg(doc)]
use super::{FlowGraph, adjacency::OutList};
use crate::types::{BlockHeight, Chain, Timestamp};

/// A bit per element with a rank index: the number of ones before each
/// 64-bit word, so `rank` is one lookup and one population count.
#[derive(Debug, Clone)]
pub(crate) struct RankBits {
    pub(crate) words: Vec<u64>,
    /// `ranks[w]`: ones in `words[..w]`; one entry more than `words`.
    ranks: Vec<u32>,
    len: usize,
}

impl Default for RankBits {
    fn default() -> RankBits {
        RankBits {
            words: Vec::new(),
            ranks: vec![0],
            len: 0,
        }
    }
}

impl RankBits {
    fn with_capacity(n: usize) -> RankBits {
        let mut r = RankBits::default();
        r.words.reserve(n.div_ceil(64));
        r.ranks.reserve(n.div_ceil(64));
        r
    }

    fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
            let last = *self.ranks.last().unwrap_or(&0);
            self.ranks.push(last);
        }
        if bit {
            let w = self.words.len() - 1;
            self.words[w] |= 1 << (self.len % 64);
            let r = self.ranks.len() - 1;
            self.ranks[r] += 1;
        }
        self.len += 1;
    }

    /// Appends `other`'s bits: word by word when this column ends on a word
    /// boundary (as the runs of a parallel freeze do), else bit by bit.
    fn append(&mut self, other: &RankBits) {
        if self.len.is_multiple_of(64) {
            let ones = self.ones();
            self.words.extend_from_slice(&other.words);
            self.ranks.extend(other.ranks[1..].iter().map(|r| r + ones));
            self.len += other.len;
        } else {
            for i in 0..other.len {
                self.push(other.get(i));
            }
        }
    }

    /// Rebuilds the index over stored words; `None` if `words` does not
    /// hold exactly `len` bits (bits past `len` must be zero) or counts
    /// overflow.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<RankBits> {
        if words.len() != len.div_ceil(64) {
            return None;
        }
        if !len.is_multiple_of(64) && words.last().is_some_and(|w| w >> (len % 64) != 0) {
            return None;
        }
        let mut ranks = Vec::with_capacity(words.len() + 1);
        let mut total = 0u32;
        ranks.push(0);
        for w in &words {
            total = total.checked_add(w.count_ones())?;
            ranks.push(total);
        }
        Some(RankBits { words, ranks, len })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Ones in `[0, i)`, for `i <= len`.
    #[inline]
    pub(crate) fn rank(&self, i: usize) -> u32 {
        let (w, b) = (i / 64, i % 64);
        let r = self.ranks[w];
        if b == 0 {
            r
        } else {
            r + (self.words[w] & ((1u64 << b) - 1)).count_ones()
        }
    }

    /// Hints that the word holding bit `i` will be read soon.
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            prefetch(w);
        }
    }

    /// The position of the first one at or after `from`, or `len` if none.
    /// Reads words from `from` until that one, so in a dense column it is
    /// a word or two away.
    #[inline]
    pub(crate) fn next_one(&self, from: usize) -> usize {
        let mut w = from / 64;
        let mut bits = match self.words.get(w) {
            Some(x) => x >> (from % 64) << (from % 64),
            None => return self.len,
        };
        while bits == 0 {
            w += 1;
            bits = match self.words.get(w) {
                Some(&x) => x,
                None => return self.len,
            };
        }
        w * 64 + bits.trailing_zeros() as usize
    }

    /// All ones.
    pub(crate) fn ones(&self) -> u32 {
        self.ranks[self.ranks.len() - 1]
    }

    pub(super) fn bytes(&self) -> usize {
        self.words.capacity() * 8 + self.ranks.capacity() * 4
    }

    fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
        self.ranks.shrink_to_fit();
    }
}

/// Asset indices at or above this are kept out of line.
pub(crate) const WIDE_ASSET: u16 = u16::MAX;

/// The asset index of each event. Most events move their chain's native
/// asset (BTC, ETH), so that is one bit per event, with the native asset
/// read from a run table (a new run starts where the native asset changes,
/// once per chain, as chains do not interleave in time order). Other events
/// (tokens) keep their index in a `u16` column indexed by rank among them,
/// with larger indices out of line.
#[derive(Debug, Default)]
pub(crate) struct AssetColumn {
    /// Per event: its asset is the native asset of its chain.
    pub(crate) native: RankBits,
    /// (first event, asset index) of each run of one native asset, in
    /// event order; each run starts at a native event.
    pub(crate) runs: Vec<(u32, u32)>,
    /// Asset index of each other event, in event order (`WIDE_ASSET`: see
    /// `wide`).
    pub(crate) other: Vec<u16>,
    /// (event, asset index) of the other events whose index does not fit
    /// `other`, in event order.
    pub(crate) wide: Vec<(u32, u32)>,
}

impl AssetColumn {
    pub(crate) fn with_capacity(events: usize) -> AssetColumn {
        AssetColumn {
            native: RankBits::with_capacity(events),
            ..AssetColumn::default()
        }
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.native.len
    }

    /// Appends the next event, `e` in the whole column (a part of the
    /// column that starts later than event 0 numbers its runs and
    /// out-of-line entries by the whole column's events).
    fn push_at(&mut self, e: u32, asset: u32, native: bool) {
        self.native.push(native);
        if native {
            if self.runs.last().is_none_or(|r| r.1 != asset) {
                self.runs.push((e, asset));
            }
            return;
        }
        match u16::try_from(asset) {
            Ok(a) if a < WIDE_ASSET => self.other.push(a),
            _ => {
                self.other.push(WIDE_ASSET);
                self.wide.push((e, asset));
            }
        }
    }

    /// Appends a part that continues this column (its runs and out-of-line
    /// entries already numbered by the whole column).
    fn append(&mut self, other: AssetColumn) {
        self.native.append(&other.native);
        let last = self.runs.last().map(|r| r.1);
        let mut runs = other.runs.into_iter().peekable();
        // A native asset that goes on across the join is one run.
        runs.next_if(|r| Some(r.1) == last);
        self.runs.extend(runs);
        self.other.extend_from_slice(&other.other);
        self.wide.extend_from_slice(&other.wide);
    }

    /// The asset index of event `e`.
    #[inline]
    pub(crate) fn get(&self, e: u32) -> u32 {
        if self.native.get(e as usize) {
            // One run per chain: a short scan from the end.
            return self
                .runs
                .iter()
                .rev()
                .find(|r| r.0 <= e)
                .map_or(NONE, |r| r.1);
        }
        let k = e as usize - self.native.rank(e as usize) as usize;
        let a = self.other[k];
        if a != WIDE_ASSET {
            return u32::from(a);
        }
        let w = &self.wide;
        w[w.partition_point(|x| x.0 < e)].1
    }

    /// Whether the parts agree (a loaded snapshot's columns): one `other`
    /// entry per non-native event, runs starting at native events in
    /// order, each event's index below `n_assets` and native exactly when
    /// `is_native` says so, out-of-line entries matching their markers.
    pub(crate) fn is_consistent(&self, n_assets: usize, is_native: impl Fn(u32) -> bool) -> bool {
        let n = self.len();
        let ones = self.native.ones() as usize;
        let first_native = (0..n).find(|&e| self.native.get(e));
        self.other.len() == n - ones
            && self
                .runs
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1)
            && self.runs.iter().all(|&(e, a)| {
                (e as usize) < n
                    && self.native.get(e as usize)
                    && (a as usize) < n_assets
                    && is_native(a)
            })
            && first_native.is_none_or(|e| self.runs.first().is_some_and(|r| r.0 as usize == e))
            && self
                .other
                .iter()
                .all(|&a| a == WIDE_ASSET || ((a as usize) < n_assets && !is_native(u32::from(a))))
            && self.wide.windows(2).all(|w| w[0].0 < w[1].0)
            && self.wide.iter().all(|&(e, a)| {
                (e as usize) < n
                    && !self.native.get(e as usize)
                    && self.other[e as usize - self.native.rank(e as usize) as usize] == WIDE_ASSET
                    && (a as usize) < n_assets
                    && (a as usize) >= usize::from(WIDE_ASSET)
                    && !is_native(a)
            })
            && self.other.iter().filter(|&&a| a == WIDE_ASSET).count() == self.wide.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.native.bytes()
            + self.runs.capacity() * 8
            + self.other.capacity() * 2
            + self.wide.capacity() * 8
    }

    fn shrink_to_fit(&mut self) {
        self.native.shrink_to_fit();
        self.runs.shrink_to_fit();
        self.other.shrink_to_fit();
        self.wide.shrink_to_fit();
    }
}

/// A part of the traversal columns of a [`FlowGraph`] under construction:
/// a freeze lays out each run of events into a part of its own with
/// [`Layout::push`], joins the parts in order with [`Layout::append`] and
/// completes them with the adjacency it wrote ([`Layout::seal`]).
pub(crate) struct Layout {
    /// Everything but the adjacency, which `seal` adds.
    cols: Columns,
    /// The whole column's number of the first event here.
    base: usize,
}

/// The traversal columns of a [`FlowGraph`] (see the [module
/// documentation](self)).
pub(crate) struct Columns {
    /// Per event, its asset index.
    pub(crate) asset: AssetColumn,
    /// Per event: it has more than one input or output leg.
    pub(crate) multi: RankBits,
    /// Per event: it is the first of its transaction.
    pub(crate) tx_start: RankBits,
    /// Per multi-leg event (by rank in `multi`), the extra slots of the
    /// multi-leg events before it (one entry more: the total at the end).
    pub(crate) m_extra: Vec<u32>,
    /// Per multi-leg event, its number of input legs.
    pub(crate) m_nin: Vec<u32>,
    /// Per slot, its node.
    pub(crate) slot_addr: Vec<u32>,
    /// Per slot, its amount.
    pub(crate) slot_amt: AmountColumn,
    /// Legs of all events (a one-to-one event has two in one slot).
    pub(crate) n_legs: u64,
    /// Per node, where its out-edge words start (one entry more).
    pub(crate) out_off: Vec<u32>,
    /// Out-edges of all nodes, packed (see [`OutList`]).
    pub(crate) out_adj: Vec<u32>,
    /// Per node, where its in-edge events start (one entry more).
    pub(crate) in_off: Vec<u32>,
    /// In-edges of all nodes: per node, the events it receives in, in
    /// time order.
    pub(crate) in_adj: Vec<u32>,
}

impl Columns {
    /// Slots of `e`: start, first output slot (= start + inputs), end. A
    /// one-to-one event has one slot and no output slot (start, start + 1,
    /// start + 1).
    #[inline]
    pub(crate) fn slots(&self, e: u32) -> (usize, usize, usize) {
        let r = self.multi.rank(e as usize) as usize;
        let start = e as usize + self.m_extra[r] as usize;
        if self.multi.get(e as usize) {
            (
                start,
                start + self.m_nin[r] as usize,
                e as usize + 1 + self.m_extra[r + 1] as usize,
            )
        } else {
            (start, start + 1, start + 1)
        }
    }
}

impl Columns {
    /// Empty columns with room for `events` events of which `multi` have
    /// more than two legs, using `slots` slots, after `extra` extra slots.
    fn with_room(events: usize, multi: usize, slots: usize, extra: u32) -> Columns {
        let mut m_extra = Vec::with_capacity(multi + 1);
        m_extra.push(extra);
        Columns {
            asset: AssetColumn::with_capacity(events),
            multi: RankBits::with_capacity(events),
            tx_start: RankBits::with_capacity(events),
            m_extra,
            m_nin: Vec::with_capacity(multi),
            slot_addr: Vec::with_capacity(slots),
            slot_amt: AmountColumn::with_capacity(slots),
            n_legs: 0,
            out_off: Vec::new(),
            out_adj: Vec::new(),
            in_off: Vec::new(),
            in_adj: Vec::new(),
        }
    }

    /// Completes the columns with their adjacency (offsets and words), at
    /// exact sizes (a snapshot's loaded columns are exact too).
    fn sealed(
        mut self,
        out_off: Vec<u32>,
        out_adj: Vec<u32>,
        in_off: Vec<u32>,
        in_adj: Vec<u32>,
    ) -> Columns {
        self.asset.shrink_to_fit();
        self.multi.shrink_to_fit();
        self.tx_start.shrink_to_fit();
        self.m_extra.shrink_to_fit();
        self.m_nin.shrink_to_fit();
        self.slot_addr.shrink_to_fit();
        self.slot_amt.small.shrink_to_fit();
        self.slot_amt.big.shrink_to_fit();
        self.out_off = out_off;
        self.out_adj = out_adj;
        self.in_off = in_off;
        self.in_adj = in_adj;
        self
    }
}

impl Layout {
    /// The part of the columns from event `base` on, `extra` being the
    /// running total of extra slots before it, with room for `events`
    /// events of which `multi` have more than two legs, using `slots`
    /// slots. The freeze writes the adjacency as it lays events out, so a
    /// part keeps no receivers: parts are joined in order with
    /// [`Layout::append`] and completed with [`Layout::seal`]. Every part
    /// but the last must hold a multiple of 64 events, so bit columns join
    /// word by word.
    pub(super) fn part(
        base: usize,
        extra: u32,
        events: usize,
        multi: usize,
        slots: usize,
    ) -> Layout {
        Layout {
            cols: Columns::with_room(events, multi, slots, extra),
            base,
        }
    }

    /// Appends the part that follows this one.
    pub(super) fn append(&mut self, other: Layout) {
        debug_assert_eq!(other.base, self.base + self.cols.asset.len());
        let (c, o) = (&mut self.cols, other.cols);
        debug_assert_eq!(c.m_extra.last(), o.m_extra.first());
        c.asset.append(o.asset);
        c.multi.append(&o.multi);
        c.tx_start.append(&o.tx_start);
        c.m_extra.extend_from_slice(&o.m_extra[1..]);
        c.m_nin.extend_from_slice(&o.m_nin);
        // The two largest columns, copied side by side.
        rayon::join(
            || c.slot_addr.extend_from_slice(&o.slot_addr),
            || c.slot_amt.append(&o.slot_amt),
        );
        c.n_legs += o.n_legs;
    }

    /// Appends the next event in time order: whether it starts a new
    /// transaction, its asset index and whether that is a native asset,
    /// and its legs (`n_in` inputs first,
    /// then outputs) as (node, amount). A one-to-one event keeps one slot
    /// (sender and amount; its receiver goes to the adjacency), any other
    /// event one slot per leg.
    pub(crate) fn push(
        &mut self,
        new_tx: bool,
        asset: u32,
        native: bool,
        n_in: usize,
        legs: &[(u32, u128)],
    ) -> std::result::Result<(), &'static str> {
        let c = &mut self.cols;
        if n_in == 0 || n_in >= legs.len() {
            return Err("an event needs at least one input and one output leg");
        }
        let e = self.base + c.asset.len();
        if e >= RECV as usize {
            return Err("too many events");
        }
        let e = e as u32;
        c.asset.push_at(e, asset, native);
        c.tx_start.push(new_tx || e == 0);
        if legs.len() == 2 {
            if legs[0].1 != legs[1].1 {
                return Err("a one-to-one event whose two legs differ in amount");
            }
            c.multi.push(false);
            c.slot_addr.push(legs[0].0);
            c.slot_amt.push(legs[0].1);
        } else {
            let extra = c.m_extra[c.m_extra.len() - 1]
                .checked_add(legs.len() as u32 - 1)
                .filter(|&x| u64::from(x) + u64::from(e) < u64::from(NONE))
                .ok_or("too many legs")?;
            c.multi.push(true);
            c.m_nin.push(n_in as u32);
            c.m_extra.push(extra);
            for &(a, v) in legs {
                c.slot_addr.push(a);
                c.slot_amt.push(v);
            }
        }
        c.n_legs += legs.len() as u64;
        Ok(())
    }

    /// Completes a freeze's joined parts with the adjacency they wrote.
    pub(super) fn seal(
        self,
        out_off: Vec<u32>,
        out_adj: Vec<u32>,
        in_off: Vec<u32>,
        in_adj: Vec<u32>,
    ) -> Columns {
        self.cols.sealed(out_off, out_adj, in_off, in_adj)
    }
}

/// Asks the processor to start loading the cache line holding `x`. Only a
/// hint: it never faults and has no effect on results (none off x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

/// Amounts as `u64`, with values of 2^63 and more stored out of line.
#[derive(Debug, Clone, Default)]
pub(crate) struct AmountColumn {
    pub(crate) small: Vec<u64>,
    pub(crate) big: Vec<u128>,
}

const BIG_FLAG: u64 = 1 << 63;

impl AmountColumn {
    fn with_capacity(n: usize) -> AmountColumn {
        AmountColumn {
            small: Vec::with_capacity(n),
            big: Vec::new(),
        }
    }

    fn push(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(s) if s < BIG_FLAG => self.small.push(s),
            _ => {
                self.small.push(BIG_FLAG | self.big.len() as u64);
                self.big.push(v);
            }
        }
    }

    /// Appends `other`, moving its out-of-line markers past this column's
    /// large amounts.
    fn append(&mut self, other: &AmountColumn) {
        let base = self.big.len() as u64;
        if base == 0 || other.big.is_empty() {
            self.small.extend_from_slice(&other.small);
        } else {
            self.small.extend(
                other
                    .small
                    .iter()
                    .map(|&s| if s & BIG_FLAG == 0 { s } else { s + base }),
            );
        }
        self.big.extend_from_slice(&other.big);
    }

    /// Whether every out-of-line marker points into `big` (a loaded
    /// snapshot's columns).
    pub(crate) fn is_consistent(&self) -> bool {
        self.small
            .iter()
            .all(|&s| s & BIG_FLAG == 0 || ((s & !BIG_FLAG) as usize) < self.big.len())
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> u128 {
        let s = self.small[i];
        if s & BIG_FLAG == 0 {
            u128::from(s)
        } else {
            self.big[(s & !BIG_FLAG) as usize]
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.small.len() * 8 + self.big.len() * 16
    }
}

/// A block as the graph knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct BlockInfo {
    pub(crate) chain: Chain,
    pub(crate) height: BlockHeight,
    pub(crate) time: Timestamp,
    pub(crate) first_event: u32,
}

#[cfg(test)]
mod tests {
    use super::{AssetColumn, RankBits, WIDE_ASSET};

    /// Native runs per chain, token indices inline and out of line, read
    /// back per event; the parts check as consistent, and a broken run
    /// table does not.
    #[test]
    fn asset_column_reads_back_every_kind_of_entry() {
        let wide = u32::from(WIDE_ASSET) + 5;
        // (asset index, native): BTC is 0 and ETH 1, tokens above.
        let events = [
            (0, true),
            (0, true),
            (2, false),
            (1, true),
            (wide, false),
            (1, true),
            (3, false),
            (wide + 1, false),
            (1, true),
        ];
        let mut col = AssetColumn::with_capacity(events.len());
        for (e, &(a, n)) in (0u32..).zip(&events) {
            col.push_at(e, a, n);
        }
        assert_eq!(col.runs, vec![(0, 0), (3, 1)]);
        assert_eq!(col.other.len(), 4);
        assert_eq!(col.wide, vec![(4, wide), (7, wide + 1)]);
        for (e, &(a, _)) in (0u32..).zip(&events) {
            assert_eq!(col.get(e), a, "event {e}");
        }
        let native = |a: u32| a < 2;
        assert!(col.is_consistent(wide as usize + 2, native));
        assert!(!col.is_consistent(wide as usize + 1, native));
        col.runs[1].0 = 2;
        assert!(!col.is_consistent(wide as usize + 2, native));
    }

    /// `next_one` agrees with ranks from every position, for sparse and
    /// dense bits and a run of zeros longer than a word.
    #[test]
    fn next_one_agrees_with_rank() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for density in [1u64, 4, 32] {
            let mut bits = RankBits::default();
            for i in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // A gap of zeros over a whole word in the middle.
                bits.push(!(100..230).contains(&i) && x.is_multiple_of(density));
            }
            for from in 0..=300 {
                // The first position after `from` whose rank grows.
                let want = (from..300)
                    .find(|&i| bits.rank(i + 1) > bits.rank(from))
                    .unwrap_or(300);
                assert_eq!(bits.next_one(from), want, "density {density}, from {from}");
            }
        }
    }
}
