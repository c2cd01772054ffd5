//! The address index of a [`FlowGraph`]: address to node in one hash
//! lookup. The table holds node numbers only (4 bytes and a control byte a
//! bucket, at a load factor of at most 7/8); its keys are the graph's
//! address list itself, so no address is stored twice.

use rayon::prelude::*;

#[cfg(doc)]
use super::FlowGraph;
use crate::types::Address;

/// The address to node lookup of a [`FlowGraph`]: a hash table of node
/// numbers whose keys are the graph's address list itself, so a bucket takes
/// 4 bytes (and a control byte) instead of the 40 of a map that holds every
/// address a second time.
pub(crate) struct AddressIndex(hashbrown::HashTable<u32>);

fn address_hash(a: &Address) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(a)
}

impl AddressIndex {
    /// Indexes `addresses`, node `i` at place `i`; `None` if an address
    /// occurs twice. The hashes are computed in parallel, the table is
    /// filled in one pass at its final size.
    pub(crate) fn build(addresses: &[Address]) -> Option<AddressIndex> {
        let hashes = Self::hashes(addresses);
        let mut table = hashbrown::HashTable::with_capacity(addresses.len());
        for ((a, &h), i) in addresses.iter().zip(&hashes).zip(0u32..) {
            match table.entry(h, |&j| addresses[j as usize] == *a, |&j| hashes[j as usize]) {
                hashbrown::hash_table::Entry::Occupied(_) => return None,
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        Some(AddressIndex(table))
    }

    /// [`AddressIndex::build`] for addresses known to be distinct (the
    /// builder interned them): no address is compared.
    pub(crate) fn of_distinct(addresses: &[Address]) -> AddressIndex {
        let hashes = Self::hashes(addresses);
        let mut table = hashbrown::HashTable::with_capacity(addresses.len());
        for (&h, i) in hashes.iter().zip(0u32..) {
            table.insert_unique(h, i, |&j| hashes[j as usize]);
        }
        AddressIndex(table)
    }

    fn hashes(addresses: &[Address]) -> Vec<u64> {
        addresses
            .par_iter()
            .with_min_len(1 << 14)
            .map(address_hash)
            .collect()
    }

    /// The node of `a`, given the address list the index was built from.
    pub(crate) fn get(&self, addresses: &[Address], a: &Address) -> Option<u32> {
        self.0
            .find(address_hash(a), |&i| addresses[i as usize] == *a)
            .copied()
    }

    /// Heap bytes: a hashbrown table holds its entries plus one control
    /// byte per bucket, at a load factor of at most 7/8.
    pub(crate) fn bytes(&self) -> usize {
        self.0.capacity() * 8 / 7 * (size_of::<u32>() + 1)
    }
}
