//! The petgraph adapter of a [`FlowGraph`]: its visit traits
//! (address-to-address neighbours, ignoring time), so
//! `petgraph::visit::Bfs` and friends run on the graph directly, and
//! [`FlowGraph::to_petgraph`], an export to a `DiGraph`.
//!
//! # Why not `petgraph::csr::Csr`
//! petgraph's CSR keeps one edge per (source, target) pair sorted by target;
//! a flow graph is a multigraph whose adjacency must be sorted by time and
//! whose UTXO transactions are hyperedges, so the graph keeps its own
//! layout and implements the traits over it.

use ::petgraph::graph::DiGraph;
use ::petgraph::visit::{GraphBase, IntoNeighbors, NodeCount, NodeIndexable, VisitMap, Visitable};

use super::FlowGraph;
use super::adjacency::OutIter;
use super::ids::{EventId, NONE, NodeId};
use crate::types::{Address, Amount, TxId};

impl FlowGraph {
    /// Exports to a petgraph `DiGraph`: one node per address and per
    /// multi-leg UTXO transaction, one edge per leg (a one-to-one transfer is
    /// a direct edge). The size stays linear in the number of legs.
    pub fn to_petgraph(&self) -> DiGraph<PetNode, PetEdge> {
        let mut g = DiGraph::with_capacity(self.addresses.len(), self.leg_count());
        for &a in &self.addresses {
            g.add_node(PetNode::Address(a));
        }
        for e in 0..self.event_count() as u32 {
            let ev = EventId(e);
            let edge = |amount: u128| PetEdge {
                event: ev,
                amount: Amount::new(amount),
            };
            if !self.is_multi(e) {
                let (Some((a, v)), Some((b, _))) = (self.inputs(e).next(), self.outputs(e).next())
                else {
                    continue;
                };
                g.add_edge(ni(a), ni(b), edge(v));
            } else {
                let t = g.add_node(PetNode::Transaction(self.txid_of(e)));
                for (a, v) in self.inputs(e) {
                    g.add_edge(ni(a), t, edge(v));
                }
                for (b, v) in self.outputs(e) {
                    g.add_edge(t, ni(b), edge(v));
                }
            }
        }
        g
    }
}

/// A node of the graph exported by [`FlowGraph::to_petgraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PetNode {
    /// An address.
    Address(Address),
    /// A multi-leg UTXO transaction.
    Transaction(TxId),
}

/// An edge of the graph exported by [`FlowGraph::to_petgraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PetEdge {
    /// The event the leg belongs to.
    pub event: EventId,
    /// The leg's amount.
    pub amount: Amount,
}

impl GraphBase for FlowGraph {
    type NodeId = NodeId;
    type EdgeId = EventId;
}

impl NodeCount for FlowGraph {
    fn node_count(&self) -> usize {
        self.addresses.len()
    }
}

impl NodeIndexable for FlowGraph {
    fn node_bound(&self) -> usize {
        self.addresses.len()
    }
    fn to_index(&self, a: NodeId) -> usize {
        a.index()
    }
    fn from_index(&self, i: usize) -> NodeId {
        NodeId(u32::try_from(i).expect("node indices fit in u32 by construction"))
    }
}

/// A set of visited nodes, a bit per node (petgraph's `VisitMap` for [`FlowGraph`]).
#[derive(Debug, Clone)]
pub struct NodeSet(Vec<u64>);

impl VisitMap<NodeId> for NodeSet {
    fn visit(&mut self, n: NodeId) -> bool {
        let (w, b) = (n.index() / 64, n.index() % 64);
        let first = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        first
    }
    fn is_visited(&self, n: &NodeId) -> bool {
        self.0[n.index() / 64] & (1 << (n.index() % 64)) != 0
    }
    fn unvisit(&mut self, n: NodeId) -> bool {
        let was = self.is_visited(&n);
        self.0[n.index() / 64] &= !(1 << (n.index() % 64));
        was
    }
}

impl Visitable for FlowGraph {
    type Map = NodeSet;
    fn visit_map(&self) -> NodeSet {
        NodeSet(vec![0; self.addresses.len().div_ceil(64)])
    }
    fn reset_map(&self, map: &mut NodeSet) {
        map.0.iter_mut().for_each(|w| *w = 0);
        map.0.resize(self.addresses.len().div_ceil(64), 0);
    }
}

impl<'a> IntoNeighbors for &'a FlowGraph {
    type Neighbors = Neighbors<'a>;
    /// Receivers of every event `a` sends in, in time order (a receiver may
    /// repeat); time is not respected here, use [`crate::trace_seeds`] for that.
    fn neighbors(self, a: NodeId) -> Neighbors<'a> {
        Neighbors {
            g: self,
            edges: self.out_edges(a.0).iter(),
            legs: 0..0,
        }
    }
}

/// Iterator over the receivers of a node's outgoing events.
pub struct Neighbors<'a> {
    g: &'a FlowGraph,
    edges: OutIter<'a>,
    legs: std::ops::Range<usize>,
}

impl Iterator for Neighbors<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        loop {
            if let Some(i) = self.legs.next() {
                return Some(NodeId(self.g.slot_node(i)));
            }
            let o = self.edges.next()?;
            if o.target != NONE {
                return Some(NodeId(o.target));
            }
            self.legs = self.g.multi_outputs(o.event);
        }
    }
}

fn ni(i: u32) -> ::petgraph::graph::NodeIndex {
    ::petgraph::graph::NodeIndex::new(i as usize)
}
