//! The stream search's lane arithmetic: an address's hops from up to eight
//! seeds are the bytes ("lanes") of one word, compared, lowered and
//! incremented together with SWAR (SIMD within a register) arithmetic on
//! 7-bit values; and the per-address lane words ([`Words`]), 8 bytes per
//! address for eight lanes or 4 for four.

use rayon::prelude::*;

use super::stream::STREAM_MAX_HOPS;
use crate::graph::prefetch;

/// A lane's byte for an address not (yet) reached.
pub(super) const UNREACHED: u64 = 0x7f;
/// All lanes unreached.
pub(super) const NOWHERE: u64 = UNREACHED * ONES;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte where `a < b` (bytes at most 0x7f). Per byte
/// `(a | 0x80) - b` stays in 1..=255, so no borrow crosses bytes, and its
/// high bit is clear exactly when `a < b`.
#[inline(always)]
pub(super) fn lt<T: Swar>(a: T, b: T) -> T {
    a.or(T::HIGH).sub(b).not().and(T::HIGH)
}

/// 0xff in each byte whose high bit is set in `m` (a mask from [`lt`]).
#[inline(always)]
pub(super) fn spread<T: Swar>(m: T) -> T {
    m.spread()
}

/// Byte-wise minimum.
#[inline(always)]
pub(super) fn min8<T: Swar>(a: T, b: T) -> T {
    let s = spread(lt(a, b));
    a.and(s).or(b.and(s.not()))
}

/// Adds one hop to each reached lane; unreached lanes stay unreached.
/// Per byte (at most 0x7f) the sum is at most 0x80, which only an
/// unreached byte reaches and which is put back to 0x7f.
#[inline(always)]
pub(super) fn inc<T: Swar>(a: T) -> T {
    let x = a.add(T::ONES);
    x.sub(x.and(T::HIGH).shr7())
}

/// The offset added to each lane's hops (see the module docs): the hop
/// limit `max_hops` (at most [`STREAM_MAX_HOPS`]) is stored as 0x7e.
#[inline]
pub(super) fn hop_offset(max_hops: u32) -> u32 {
    0x7e - max_hops.min(STREAM_MAX_HOPS)
}

/// A lane word: `u64` for eight lanes, or in the plain-transfer loop of a
/// pass of four seeds or fewer `u32` (its constants fit in
/// instructions). The primitives of [`lt`], [`min8`] and [`inc`].
pub(super) trait Swar: Copy + Eq + Into<u64> + Send {
    /// 0x01 in each byte.
    const ONES: Self;
    /// 0x80 in each byte.
    const HIGH: Self;
    /// No bit set.
    const ZERO: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn not(self) -> Self;
    fn shr7(self) -> Self;
    /// 0xff in each byte whose high bit is set in `self`.
    fn spread(self) -> Self;
}

macro_rules! swar {
    ($t:ty) => {
        impl Swar for $t {
            const ONES: Self = ONES as $t;
            const HIGH: Self = HIGH as $t;
            const ZERO: Self = 0;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn and(self, o: Self) -> Self {
                self & o
            }
            #[inline(always)]
            fn or(self, o: Self) -> Self {
                self | o
            }
            #[inline(always)]
            fn not(self) -> Self {
                !self
            }
            #[inline(always)]
            fn shr7(self) -> Self {
                self >> 7
            }
            #[inline(always)]
            fn spread(self) -> Self {
                (self >> 7).wrapping_mul(0xff)
            }
        }
    };
}
swar!(u32);
swar!(u64);

/// The lanes set in `m` (a mask from [`lt`]), lowest first.
#[inline]
pub(super) fn lanes(m: u64) -> impl Iterator<Item = usize> {
    let mut m = m;
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let l = m.trailing_zeros() as usize / 8;
            m &= m - 1;
            l
        })
    })
}

#[inline]
pub(super) fn byte(w: u64, l: usize) -> u32 {
    ((w >> (8 * l)) & 0xff) as u32
}

/// The lane words of all addresses, as `u64` (eight lanes) or `u32`
/// (four): a pass of four seeds or fewer keeps half the bytes in cache.
/// Read and written as eight lanes, the absent ones unreached.
pub(super) trait Words: Send {
    /// Lanes held.
    const LANES: usize;
    /// A word of `LANES` lanes.
    type W: Swar;
    /// The words, a power of two of them (at least one per address), so
    /// that a node masked with `len - 1` indexes them without a bounds
    /// check.
    fn lanes_mut(&mut self) -> &mut [Self::W];
    /// All of `n` addresses unreached, filled in parallel (8 or 4 bytes
    /// per address, mostly first-touch page faults), padded with
    /// zeros to a power of two. The padding is allocated zeroed and never
    /// written, so it stays unmapped: only prefetches reach it (a node is
    /// always below `n`).
    fn fresh(n: usize) -> Self;
    fn word(&self, n: u32) -> u64;
    fn set_word(&mut self, n: u32, w: u64);
    fn prefetch(&self, n: u32);
    /// Sets the first `n` addresses unreached (the padding never changes).
    fn fill_nowhere(&mut self, n: usize);
}

impl Words for Vec<u64> {
    const LANES: usize = 8;
    type W = u64;
    #[inline]
    fn lanes_mut(&mut self) -> &mut [u64] {
        self
    }
    fn fresh(n: usize) -> Self {
        let mut w = vec![0; n.max(1).next_power_of_two()];
        w[..n]
            .par_iter_mut()
            .with_min_len(1 << 16)
            .for_each(|x| *x = NOWHERE);
        w
    }
    #[inline]
    fn word(&self, n: u32) -> u64 {
        self[n as usize]
    }
    #[inline]
    fn set_word(&mut self, n: u32, w: u64) {
        self[n as usize] = w;
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        prefetch(&self[n as usize]);
    }
    fn fill_nowhere(&mut self, n: usize) {
        self[..n].fill(NOWHERE);
    }
}

impl Words for Vec<u32> {
    const LANES: usize = 4;
    type W = u32;
    #[inline]
    fn lanes_mut(&mut self) -> &mut [u32] {
        self
    }
    fn fresh(n: usize) -> Self {
        let mut w = vec![0; n.max(1).next_power_of_two()];
        w[..n]
            .par_iter_mut()
            .with_min_len(1 << 16)
            .for_each(|x| *x = NOWHERE as u32);
        w
    }
    #[inline]
    fn word(&self, n: u32) -> u64 {
        u64::from(self[n as usize]) | (NOWHERE & !0xffff_ffff)
    }
    #[inline]
    fn set_word(&mut self, n: u32, w: u64) {
        self[n as usize] = w as u32;
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        prefetch(&self[n as usize]);
    }
    fn fill_nowhere(&mut self, n: usize) {
        self[..n].fill(NOWHERE as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::{NOWHERE, byte, inc, lanes, lt, min8};

    fn word(b: [u8; 8]) -> u64 {
        u64::from_le_bytes(b)
    }

    #[test]
    fn swar_matches_byte_arithmetic() {
        let vals = [0u8, 1, 2, 7, 63, 64, 100, 124, 125, 126, 0x7f];
        for &a in &vals {
            for &b in &vals {
                let (x, y) = (
                    word([a, b, a, b, a, b, a, b]),
                    word([b, a, b, a, a, b, b, a]),
                );
                let lt_bytes: Vec<bool> =
                    (0..8).map(|l| (lt(x, y) >> (8 * l + 7)) & 1 == 1).collect();
                let want: Vec<bool> = (0..8).map(|l| byte(x, l) < byte(y, l)).collect();
                assert_eq!(lt_bytes, want, "{a} {b}");
                let m = min8(x, y);
                for l in 0..8 {
                    assert_eq!(byte(m, l), byte(x, l).min(byte(y, l)));
                    let i = byte(inc(x), l);
                    let want = if byte(x, l) == 0x7f {
                        0x7f
                    } else {
                        byte(x, l) + 1
                    };
                    assert_eq!(i, want);
                }
            }
        }
        let m = lt(word([0, 5, 0x7f, 3, 0x7f, 0x7f, 1, 0]), NOWHERE);
        assert_eq!(lanes(m).collect::<Vec<_>>(), vec![0, 1, 3, 6, 7]);
    }
}
