//! The ids of a [`FlowGraph`](super::FlowGraph): [`NodeId`] for an address,
//! [`EventId`] for an event, and the two reserved words that bound them.
//!
//! Nodes and events are numbered densely from 0 and stay below [`RECV`]
//! (2^31): the builder refuses a graph with more than 2^31 addresses or
//! events, because a packed out-edge word uses the top bit to mark a
//! receiver (see [`OutList`](super::adjacency::OutList)).

/// A node (address) of a [`FlowGraph`](super::FlowGraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The dense index of the node, `0..graph.address_count()`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An event (one transfer, or one UTXO transaction) of a
/// [`FlowGraph`](super::FlowGraph). Ids are assigned in time order: a
/// smaller id happened earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub(crate) u32);

impl EventId {
    /// The dense index of the event, `0..graph.event_count()`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// No node, event or slot: the word that marks an absent one.
pub(crate) const NONE: u32 = u32::MAX;

/// Set in a packed out-edge word that holds a receiver (see
/// [`OutList`](super::adjacency::OutList)); every node and event id stays
/// below it, so at most 2^31 of each.
pub(crate) const RECV: u32 = 1 << 31;
