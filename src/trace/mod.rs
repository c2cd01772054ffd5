//! The trace: from seed addresses to target clusters, over a frozen
//! [`FlowGraph`](crate::graph::FlowGraph).
//!
//! [`Tracer::trace`] (or [`trace_seeds`] for one call) runs one independent
//! traversal per seed (in parallel with rayon)
//! and returns, for every (seed, cluster) pair reached within
//! [`TraceConfig::max_hops`], a [`Finding`]: the minimum hop count, the
//! earliest arrival, the value that got there under each requested [`Model`],
//! and one shortest evidence path.
//!
//! # Hops and time
//! A hop is one transaction (a UTXO transaction with n inputs and m outputs is
//! one hop from each input address to each output address; value that a
//! contract forwards inside the Ethereum transaction that paid it reaches the
//! receiver in the same hop, after each layer is closed over such
//! same-transaction continuations). With
//! [`TraceConfig::time_respecting`] (the default), value that arrived at an
//! address in event *e* can only leave in a later event; events are ordered by
//! block, then position in block, then order inside the transaction. The
//! traversal is a layered earliest-arrival search: layer *h* holds, for every
//! address, the earliest arrival over paths of at most *h* hops, so
//! `min_hops` is exact under the time constraint and `first_arrival` is the
//! earliest arrival over paths of at most `max_hops` hops. For several
//! seeds that reach far, [`Search::Stream`] gets the same hop counts and
//! arrivals from one pass over the events in time order per group of up to
//! eight seeds (see [`Search`]).
//!
//! # Value models
//! All three run in one pass over the events that touch tainted addresses, in
//! time order, per seed and per asset. Every outflow of a seed is wholly
//! tainted.
//! * **poison**: once an address has received tainted value, each later
//!   outflow is wholly tainted. An upper bound: it can exceed what the seeds
//!   sent.
//! * **haircut**: an address's balance carries a tainted share; an outflow of
//!   `y` carries `floor(y × tainted / balance)`. Rounding is down, and the
//!   remainder (under one base unit per outflow) stays with the sender, so
//!   taint is conserved exactly and never created.
//! * **FIFO** (first in, first out; Anderson et al., "Bitcoin Redux", WEIS
//!   2018): an address's received value forms a queue; outflows take the
//!   oldest value first.
//!
//! A UTXO transaction is a pass-through account that receives all its inputs
//! (in input order) and at once pays its outputs in output order, the fee leg
//! last: under poison every output is wholly tainted if any input is; under
//! haircut each output takes its share with the same rounding; under FIFO the
//! first inputs' value fills the first outputs.
//!
//! **Unknown opening balances.** When the graph starts mid-history an
//! address may spend more than the graph shows it received. The shortfall is
//! an unseen opening balance: its size is the largest overdraft over the
//! address's whole history in the graph, it is clean, and it is the oldest
//! value the address holds (FIFO spends it first; haircut counts it in the
//! balance). A UTXO transaction whose inputs are short has an input from the
//! `unknown` pseudo-address for the difference, also clean.
//!
//! **Neighbourhood.** Taint leaves an address only while that address is
//! fewer than `max_hops` hops from the seed; with
//! [`TraceConfig::stop_at_clusters`] (the default) members of target clusters
//! absorb what they receive and pass nothing on, because value inside an
//! exchange can no longer be attributed. Value counted into a cluster is the
//! tainted value its members received from non-members.
//!
//! # Determinism
//! Results do not depend on the number of threads: frontier relaxations use
//! atomic minimums, ties are broken by sorting, and outputs are sorted.
//!
//! # Files
//! * `config`: [`TraceConfig`], [`Model`], [`Search`], [`Cluster`].
//! * `results`: [`Finding`], [`Arrival`], [`PathStep`], [`SeedSummary`],
//!   [`TraceStats`], [`TraceOutcome`].
//! * `tracer`: [`Tracer`] and [`trace_seeds`]: targets, planning, probes, the
//!   pools of search arrays.
//! * `hops`: what a hop search leaves (its entries and per-node arrays),
//!   and `Reached`, the one view of it that the value models read.
//! * `frontier`: the layered frontier search ([`Search::Frontier`]).
//! * `stream`: the time-ordered stream search ([`Search::Stream`]), with
//!   `lanes` (its SWAR lane arithmetic and per-address lane words) and
//!   `events` (its per-event index).
//! * `paths`: evidence paths.
//! * `findings`: one seed's findings from its hops and values.
//! * `values`: the value models.
// Index casts: the builder refuses graphs past 2^31 addresses or events or
// 2^32 - 100,001 legs (`Error::Capacity`, see `limits`), so u32/usize index
// casts cannot truncate. Amounts are never cast.
#![allow(clippy::cast_possible_truncation)]

mod config;
mod events;
mod findings;
mod frontier;
mod hops;
mod lanes;
mod paths;
mod results;
mod stream;
mod tracer;
mod values;

pub use config::{AUTO_STREAM_SEEDS, Cluster, Model, Search, TraceConfig};
pub use results::{Arrival, Finding, PathStep, SeedSummary, TraceOutcome, TraceStats, ValueMap};
pub use stream::STREAM_MAX_HOPS;
pub use tracer::{Tracer, trace_seeds};
