//! Addresses, transaction ids, blocks and random numbers for the
//! generator: all derived from integers, so the same config gives the same
//! case on any machine.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::RngCore;

use crate::types::{
    Address, BitcoinKind, BitcoinNetwork, BlockHeight, BlockRef, Chain, Timestamp, TxId,
};

pub(super) const BTC_START: u64 = 790_000;
pub(super) const ETH_START: u64 = 17_000_000;
pub(super) const BTC_T0: u64 = 1_683_000_000;
pub(super) const ETH_T0: u64 = 1_681_000_000;
/// Laundering transactions take block positions from here on, so they
/// never collide with background ones.
pub(super) const LAUNDER_INDEX: u32 = 1_000_000;

pub(super) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn bytes20(a: u64, b: u64) -> [u8; 20] {
    let mut out = [0u8; 20];
    let (x, y, z) = (
        splitmix(a ^ splitmix(b)),
        splitmix(b ^ 0x5151),
        splitmix(a.wrapping_add(b)),
    );
    out[..8].copy_from_slice(&x.to_le_bytes());
    out[8..16].copy_from_slice(&y.to_le_bytes());
    out[16..].copy_from_slice(&z.to_le_bytes()[..4]);
    out
}

pub(super) fn btc_addr(h: [u8; 20], segwit: bool) -> Address {
    let kind = if segwit {
        BitcoinKind::P2wpkh
    } else {
        BitcoinKind::P2pkh
    };
    Address::bitcoin(BitcoinNetwork::Mainnet, kind, &h)
        .expect("20-byte programs fit P2PKH and P2WPKH")
}

/// A stable address for (chain, namespace, index): background population
/// (namespace 0) and exchange deposit pools (namespace 1 + exchange).
pub(super) fn derived(chain: Chain, ns: u64, i: u64) -> Address {
    let b = bytes20(
        ns.wrapping_mul(0x1_0000_0001) ^ u64::from(chain.code()) << 60,
        i,
    );
    match chain {
        Chain::Bitcoin => btc_addr(b, !i.is_multiple_of(3)),
        _ => Address::ethereum(b),
    }
}

/// Namespace of the background wallets' addresses.
pub(super) const WALLET_NS: u64 = 0xba11e7;
/// Namespace of the sweeping deposit addresses (plus the exchange index).
pub(super) const SWEEP_NS: u64 = 0x5eed_0000;
/// Block positions of the clustering traffic and of sweeps, apart from the
/// rest of the background (from 0) and the laundering (`LAUNDER_INDEX`).
pub(super) const EXTRA_INDEX: u32 = 500_000;
pub(super) const SWEEP_INDEX: u32 = 700_000;

/// How many addresses background wallet `w` owns: 2 to 8.
pub(super) fn wallet_size(w: u64) -> u64 {
    2 + splitmix(w ^ 0x5175) % 7
}

/// Address `j` of background wallet `w`.
pub(super) fn wallet_address(w: u64, j: u64) -> Address {
    derived(Chain::Bitcoin, WALLET_NS, w * 16 + j)
}

/// Sweeping deposit address `j` of exchange `k`.
pub(super) fn sweep_deposit(k: usize, j: u64) -> Address {
    derived(Chain::Ethereum, SWEEP_NS + k as u64, j)
}

pub(super) fn fresh(rng: &mut ChaCha8Rng, chain: Chain) -> Address {
    let mut b = [0u8; 20];
    rng.fill_bytes(&mut b);
    match chain {
        Chain::Bitcoin => btc_addr(b, b[0] & 1 == 0),
        _ => Address::ethereum(b),
    }
}

/// Uniform in `lo..=hi` (integers only, so the same on every platform).
pub(super) fn range(rng: &mut impl RngCore, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo + 1;
    lo + ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64
}

/// Log-uniform in `1..=n`: P(i) ~ 1/i, the heavy tail of real address activity.
pub(super) fn zipf(rng: &mut impl RngCore, n: u64) -> u64 {
    let bits = 64 - n.leading_zeros() as u64;
    let k = range(rng, 0, bits.saturating_sub(1));
    let lo = 1u64 << k;
    let hi = ((lo << 1) - 1).min(n);
    range(rng, lo, hi)
}

/// Log-uniform amount in `lo..=hi`.
pub(super) fn amount(rng: &mut impl RngCore, lo: u128, hi: u128) -> u128 {
    let ratio = u64::try_from(hi / lo.max(1)).unwrap_or(u64::MAX);
    let jitter = u64::try_from(lo.saturating_sub(1)).unwrap_or(u64::MAX);
    u128::from(zipf(rng, ratio)) * lo + u128::from(range(rng, 0, jitter))
}

pub(super) fn block(chain: Chain, h: u64) -> BlockRef {
    let time = match chain {
        Chain::Bitcoin => BTC_T0 + (h - BTC_START) * 600,
        _ => ETH_T0 + (h - ETH_START) * 12,
    };
    BlockRef {
        chain,
        height: BlockHeight(h),
        time: Timestamp(time),
    }
}

pub(super) fn txid(chain: Chain, ns: u64, n: u64) -> TxId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&splitmix(n ^ ns).to_be_bytes());
    b[8..16].copy_from_slice(&n.to_be_bytes());
    b[16..24].copy_from_slice(&ns.to_be_bytes());
    b[24..].copy_from_slice(&splitmix(n.wrapping_add(ns)).to_be_bytes());
    TxId::new(chain, b)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::zipf;

    #[test]
    fn zipf_stays_in_range() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        for n in [1u64, 2, 3, 1_000, u64::from(u32::MAX)] {
            for _ in 0..1_000 {
                let x = zipf(&mut r, n);
                assert!((1..=n).contains(&x), "{x} of {n}");
            }
        }
    }
}
