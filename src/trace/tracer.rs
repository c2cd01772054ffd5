//! The [`Tracer`]: resolves clusters into targets, plans each trace
//! (frontier search, [`Search::Auto`](crate::trace::Search::Auto)'s probes, stream passes), keeps the
//! pools of search arrays between traces, and gathers the per-seed results
//! into a [`TraceOutcome`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::config::{AUTO_STREAM_SEEDS, Cluster, Model, Plan, TraceConfig};
use super::events;
use super::findings::SeedResult;
use super::hops::{Entry, Hops, Scratch};
use super::lanes::Words;
use super::results::{TraceOutcome, TraceStats};
use super::stream::LANES;
use crate::error::{Error, Result};
use crate::graph::{FlowGraph, NONE, NodeId, prefetch};
use crate::types::{Address, Asset, Chain, ClusterName};

/// A probe gives up before it would scan more than its chain's events
/// divided by this.
const PROBE_SHARE: usize = 16;

/// Traces every seed to every cluster: a [`Tracer`] made for this call.
///
/// Runs on the current rayon thread pool (wrap the call in
/// `ThreadPool::install` to choose the number of threads); the result is the
/// same for any number of threads.
///
/// # Errors
/// [`Error::Config`] if two clusters share a name (findings name clusters)
/// or a setting is over its cap ([`TraceConfig::check`]).
/// Seeds or cluster members absent from the graph are not errors: they are
/// reported as warnings.
///
/// # Complexity
/// Per seed, O(Σ over layers of the out-degree of improved addresses) for
/// hops, and O(R log R) for values, R being the events touching tainted
/// addresses; memory O(addresses) per concurrently traced seed.
///
/// ```
/// use fundtrace::{trace_seeds, Cluster, FlowGraph, TraceConfig};
/// let g = FlowGraph::from_records("empty", vec![])?;
/// let seed = "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ".parse()?;
/// let out = trace_seeds(&g, &[seed], &[Cluster::new("x", vec![])], &TraceConfig::default())?;
/// assert!(out.findings.is_empty());
/// // The seed is not in the graph, and the cluster has no member in it.
/// assert_eq!(out.warnings.len(), 2);
/// # Ok::<(), fundtrace::Error>(())
/// ```
pub fn trace_seeds(
    graph: &FlowGraph,
    seeds: &[Address],
    clusters: &[Cluster],
    config: &TraceConfig,
) -> Result<TraceOutcome> {
    Tracer::new(graph, clusters)?.trace(seeds, config)
}

/// A tracer bound to one graph and one set of clusters, keeping the
/// per-node search arrays between traces: the first trace on each thread
/// allocates them (linear in the graph's addresses), later ones reuse them
/// and pay only for what they visit. Use it for many traces on one graph;
/// [`trace_seeds`] makes a fresh one for one call.
///
/// ```
/// use fundtrace::{Cluster, FlowGraph, TraceConfig, Tracer};
/// let g = FlowGraph::from_records("empty", vec![])?;
/// let tracer = Tracer::new(&g, &[Cluster::new("x", vec![])])?;
/// let out = tracer.trace(&[], &TraceConfig::default())?;
/// assert!(out.findings.is_empty());
/// # Ok::<(), fundtrace::Error>(())
/// ```
pub struct Tracer<'g> {
    graph: &'g FlowGraph,
    /// The clusters, resolved against the graph.
    targets: Targets,
    pool: Mutex<Vec<Scratch>>,
    /// For [`Search::Stream`](crate::trace::Search::Stream): a word per event (see `events::event_words`).
    events: OnceLock<Vec<AtomicU64>>,
    /// For [`Search::Stream`](crate::trace::Search::Stream): per-address lane words, all unreached, of
    /// eight lanes and of four.
    words: Mutex<Vec<Vec<u64>>>,
    words4: Mutex<Vec<Vec<u32>>>,
}

impl<'g> Tracer<'g> {
    /// A tracer for tracing to `clusters` in `graph`: looks each member up
    /// in the address index once (in parallel); allocates no search arrays
    /// until the first trace.
    ///
    /// # Errors
    /// [`Error::Config`] if two clusters share a name (findings name
    /// clusters).
    pub fn new(graph: &'g FlowGraph, clusters: &[Cluster]) -> Result<Tracer<'g>> {
        Ok(Tracer {
            graph,
            targets: Targets::resolve(graph, clusters)?,
            pool: Mutex::new(Vec::new()),
            events: OnceLock::new(),
            words: Mutex::new(Vec::new()),
            words4: Mutex::new(Vec::new()),
        })
    }

    /// The graph this tracer reads.
    pub fn graph(&self) -> &'g FlowGraph {
        self.graph
    }
}

impl Targets {
    /// Resolves `clusters` against `graph`.
    fn resolve(graph: &FlowGraph, clusters: &[Cluster]) -> Result<Targets> {
        let mut names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::config(
                "clusters",
                format!("two clusters are named {:?}", w[0]),
            ));
        }
        // The lookups (a random read of the address index each) run in
        // parallel; the map is built in cluster order, so it is the same
        // on any number of threads.
        let resolved: Vec<Vec<u32>> = clusters
            .par_iter()
            .map(|c| {
                c.members
                    .iter()
                    .filter_map(|m| graph.node(m).map(|n| n.0))
                    .collect()
            })
            .collect();
        let mut membership: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        membership.reserve(resolved.iter().map(Vec::len).sum());
        let mut empty = Vec::new();
        for ((ci, c), nodes) in (0u32..).zip(clusters).zip(&resolved) {
            if nodes.is_empty() {
                empty.push(c.name.clone());
            }
            for &n in nodes {
                let v = membership.entry(n).or_default();
                if !v.contains(&ci) {
                    v.push(ci);
                }
            }
        }
        let mut warnings = Vec::new();
        if !empty.is_empty() {
            let shown: Vec<String> = empty.iter().take(10).map(|n| format!("{n:?}")).collect();
            let more = match empty.len() {
                n if n > 10 => format!(" and {} more", n - 10),
                _ => String::new(),
            };
            warnings.push(format!(
                "{} of {} clusters have no member in the loaded data: {}{more}",
                empty.len(),
                clusters.len(),
                shown.join(", ")
            ));
        }
        let mut members = vec![0u64; graph.address_count().div_ceil(64)];
        for &n in membership.keys() {
            members[n as usize / 64] |= 1 << (n % 64);
        }
        Ok(Targets {
            names: clusters.iter().map(|c| c.name.clone()).collect(),
            membership,
            members,
            warnings,
        })
    }
}

impl Tracer<'_> {
    /// Traces every seed to every cluster of this tracer.
    ///
    /// Runs on the current rayon thread pool (wrap the call in
    /// `ThreadPool::install` to choose the number of threads); the result is
    /// the same for any number of threads. Seeds or cluster members absent
    /// from the graph are not errors: they are reported as warnings.
    ///
    /// # Errors
    /// [`Error::Config`] for settings over the caps ([`TraceConfig::check`]).
    ///
    /// # Complexity
    /// Per seed, O(Σ over layers of the out-degree of improved addresses)
    /// for hops, and O(R log R) for values, R being the events touching
    /// tainted addresses; memory O(addresses) per concurrently traced seed.
    pub fn trace(&self, seeds: &[Address], config: &TraceConfig) -> Result<TraceOutcome> {
        config.check()?;
        let _span = tracing::info_span!("trace", seeds = seeds.len()).entered();
        let targets = &self.targets;
        let graph = self.graph;
        let mut models = config.models.clone();
        models.sort();
        models.dedup();
        let mut distinct: Vec<Address> = Vec::new();
        for s in seeds {
            if !distinct.contains(s) {
                distinct.push(*s);
            }
        }
        let ctx = self.ctx(config, &models);
        let nodes: Vec<Option<u32>> = distinct
            .iter()
            .map(|s| graph.node(s).map(|n| n.0))
            .collect();
        let in_graph = nodes.iter().flatten().count();
        let plan = config.plan_for(in_graph);
        // A probe's limit per chain: a sixteenth of the chain's events.
        let limits: Vec<(Chain, u64)> = match plan {
            Plan::Probe => events::chain_runs(graph)
                .into_iter()
                .map(|(chain, r)| (chain, (r.len() / PROBE_SHARE) as u64))
                .collect(),
            _ => Vec::new(),
        };
        // Per seed in parallel: seeds not in the graph, frontier searches
        // and probes that finish; the seeds still without a result then go
        // through the stream search, or (too few probes gave up) the
        // frontier search. Search arrays are handed back as each seed is
        // done, so at most a thread's or a stream batch's seeds hold them.
        let mut results: Vec<Option<SeedResult>> = distinct
            .par_iter()
            .zip(nodes.par_iter())
            .map(|(s, n)| {
                let Some(n) = *n else {
                    return Some(SeedResult::absent(*s));
                };
                let hops = match plan {
                    Plan::Frontier => Some(ctx.hops(n)),
                    Plan::Stream => None,
                    Plan::Probe => {
                        let chain = graph.addresses()[n as usize].chain();
                        let limit = limits
                            .iter()
                            .find(|(c, _)| *c == chain)
                            .map_or(0, |&(_, l)| l);
                        ctx.frontier(n, Some(limit))
                    }
                };
                hops.map(|h| ctx.trace_seed(*s, n, &targets.names, h))
            })
            .collect();
        let rest: Vec<(usize, u32)> = results
            .iter()
            .zip(&nodes)
            .enumerate()
            .filter_map(|(i, (r, n))| if r.is_none() { n.map(|n| (i, n)) } else { None })
            .collect();
        let done: Vec<SeedResult> = if plan == Plan::Stream || rest.len() >= AUTO_STREAM_SEEDS {
            // Batches of a pass of LANES seeds per thread.
            let batch = LANES * rayon::current_num_threads().max(1);
            let mut done = Vec::with_capacity(rest.len());
            for part in rest.chunks(batch) {
                let seeds: Vec<u32> = part.iter().map(|&(_, n)| n).collect();
                done.extend(self.stream_traces(&ctx, &seeds, |k, h| {
                    let (i, n) = part[k];
                    ctx.trace_seed(distinct[i], n, &targets.names, h)
                }));
            }
            done
        } else {
            rest.par_iter()
                .map(|&(i, n)| ctx.trace_seed(distinct[i], n, &targets.names, ctx.hops(n)))
                .collect()
        };
        for (&(i, _), r) in rest.iter().zip(done) {
            results[i] = Some(r);
        }
        let mut out = TraceOutcome {
            findings: Vec::new(),
            seeds: Vec::new(),
            warnings: Vec::new(),
            stats: TraceStats::default(),
        };
        for r in results.into_iter().flatten() {
            if !r.summary.in_graph {
                out.warnings.push(format!(
                    "seed {} does not occur in the loaded data",
                    r.summary.seed
                ));
            }
            if r.summary.truncated {
                out.warnings.push(format!(
                    "seed {}: the search stopped at its budget of {} edges; clusters further \
                     out are missing",
                    r.summary.seed,
                    config.max_edges_per_seed.unwrap_or(0)
                ));
            }
            out.stats.edges_scanned += r.stats.edges_scanned;
            out.stats.events_valued += r.stats.events_valued;
            out.findings.extend(r.findings);
            out.seeds.push(r.summary);
        }
        out.warnings.extend(targets.warnings.iter().cloned());
        tracing::info!(
            seeds = out.seeds.len(),
            findings = out.findings.len(),
            edges_scanned = out.stats.edges_scanned,
            events_valued = out.stats.events_valued,
            "traced"
        );
        Ok(out)
    }
}

impl Tracer<'_> {
    /// Stream searches from `seeds` (distinct nodes): groups of at most
    /// [`LANES`] seeds, at least as many groups as threads while
    /// there are seeds for them, a pass per group in parallel. Lanes are
    /// independent, so the grouping does not change any result. Each
    /// seed's search goes to `then` (with the seed's position in `seeds`)
    /// as soon as its group's pass is done, so a thread whose pass ends
    /// first goes on with its seeds and then helps with the others';
    /// results in the order of `seeds`.
    fn stream_traces<R: Send>(
        &self,
        ctx: &Ctx<'_>,
        seeds: &[u32],
        then: impl Fn(usize, Hops) -> R + Sync,
    ) -> Vec<R> {
        let events = self.events.get_or_init(|| events::event_words(self.graph));
        let threads = rayon::current_num_threads().max(1);
        let groups = seeds.len().div_ceil(LANES).max(threads.min(seeds.len()));
        let per = seeds.len().div_ceil(groups);
        let n = self.graph.address_count();
        let groups: Vec<Vec<R>> = seeds
            .par_chunks(per)
            .enumerate()
            .map(|(gi, group)| {
                let hops = if group.len() <= 4 {
                    self.pass(&self.words4, ctx, events, group, n)
                } else {
                    self.pass(&self.words, ctx, events, group, n)
                };
                hops.into_par_iter()
                    .enumerate()
                    .map(|(j, h)| then(gi * per + j, h))
                    .collect()
            })
            .collect();
        groups.into_iter().flatten().collect()
    }

    /// One stream pass, with lane words from `pool`.
    fn pass<W: Words>(
        &self,
        pool: &Mutex<Vec<W>>,
        ctx: &Ctx<'_>,
        events: &[AtomicU64],
        group: &[u32],
        n: usize,
    ) -> Vec<Hops> {
        let reused = pool.lock().ok().and_then(|mut p| p.pop());
        let mut words = reused.unwrap_or_else(|| W::fresh(n));
        let hops = ctx.stream_hops(events, group, &mut words);
        if let Ok(mut p) = pool.lock() {
            p.push(words);
        }
        hops
    }

    /// The per-trace context: the graph, the parameters and the members
    /// that absorb taint (with `stop_at_clusters`).
    fn ctx<'a>(&'a self, config: &'a TraceConfig, models: &'a [Model]) -> Ctx<'a> {
        Ctx {
            g: self.graph,
            cfg: config,
            models,
            membership: &self.targets.membership,
            members: &self.targets.members,
            pool: &self.pool,
        }
    }

    /// The (address, asset) pairs whose opening balance the value models use
    /// when tracing `seeds` to this tracer's clusters: addresses that pass taint on
    /// (reached in fewer than `max_hops` hops, not absorbing members, not
    /// seeds, not pseudo-addresses), in each asset they send. When the graph
    /// starts mid-history, fetch these balances at the block before its first
    /// and hand them to [`FlowGraph::with_opening_balances`]. Sorted.
    pub fn value_holders(&self, seeds: &[Address], config: &TraceConfig) -> Vec<(Address, Asset)> {
        let graph = self.graph;
        let ctx = self.ctx(config, &config.models);
        let seed_nodes: Vec<u32> = seeds
            .iter()
            .filter_map(|s| graph.node(s))
            .map(|n| n.0)
            .collect();
        let mut out: Vec<(Address, Asset)> = seed_nodes
            .par_iter()
            .flat_map_iter(|&seed| {
                let hops = ctx.hops(seed);
                let mut found = Vec::new();
                for (i, e) in hops.entries.iter().enumerate() {
                    let n = e.node;
                    if !hops.is_first(i)
                        || seed_nodes.contains(&n)
                        || !ctx.propagates(n, seed, hops.reached())
                    {
                        continue;
                    }
                    let a = graph.address(NodeId(n));
                    if a.as_special().is_some() {
                        continue;
                    }
                    for o in graph.out_edges(n) {
                        found.push((a, graph.asset_of(o.event)));
                    }
                }
                ctx.give_back(hops);
                found
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Clusters resolved against one graph (a [`Tracer`]'s).
#[derive(Debug, Clone)]
pub(super) struct Targets {
    names: Vec<ClusterName>,
    /// Node -> the clusters it belongs to.
    membership: FxHashMap<u32, Vec<u32>>,
    /// Bit per node: a key of `membership` (a cheap test before the map;
    /// with `stop_at_clusters`, the nodes that absorb taint).
    members: Vec<u64>,
    warnings: Vec<String>,
}

pub(super) struct Ctx<'a> {
    pub(super) g: &'a FlowGraph,
    pub(super) cfg: &'a TraceConfig,
    pub(super) models: &'a [Model],
    pub(super) membership: &'a FxHashMap<u32, Vec<u32>>,
    /// Bit per node: a member of a target cluster.
    pub(super) members: &'a [u64],
    pub(super) pool: &'a Mutex<Vec<Scratch>>,
}

impl Ctx<'_> {
    pub(super) fn take_scratch(&self) -> Scratch {
        let n = self.g.address_count();
        let reused = self.pool.lock().ok().and_then(|mut p| {
            let full = p.iter().rposition(|s| !s.is_light());
            full.map(|i| p.swap_remove(i)).or_else(|| p.pop())
        });
        match reused {
            Some(s) if !s.is_light() || n == 0 => s,
            Some(light) => Scratch {
                entries: light.entries,
                bufs: light.bufs,
                ..Scratch::new(n)
            },
            None => Scratch::new(n),
        }
    }

    /// Search room for a [`Sparse`](super::hops::Sparse) stream search: holding only `seed`'s
    /// entry, with per-node arrays if a reused one has them (left
    /// untouched), else without.
    pub(super) fn start_light(&self, seed: u32) -> Scratch {
        let reused = self.pool.lock().ok().and_then(|mut p| {
            let light = p.iter().rposition(Scratch::is_light);
            light.map(|i| p.swap_remove(i)).or_else(|| p.pop())
        });
        let mut s = reused.unwrap_or_else(Scratch::light);
        s.entries.push(Entry {
            node: seed,
            layer: 0,
            event: NONE,
            pred: NONE,
        });
        s
    }

    /// Search arrays holding only `seed`'s entry: layer 0, arrived before
    /// the first event.
    pub(super) fn start_search(&self, seed: u32) -> Scratch {
        let mut s = self.take_scratch();
        s.entries.push(Entry {
            node: seed,
            layer: 0,
            event: NONE,
            pred: NONE,
        });
        s.best[seed as usize].store(0, Ordering::Relaxed);
        s.first_entry[seed as usize] = 0;
        s
    }

    pub(super) fn give_back(&self, hops: Hops) {
        let s = hops.into_scratch();
        if let Ok(mut p) = self.pool.lock() {
            p.push(s);
        }
    }
}

/// The membership tests, shared by both hop searches, the value models and
/// the findings: O(1), a bit per node.
impl Ctx<'_> {
    /// Hints that `n`'s membership bit will be read soon.
    #[inline]
    pub(super) fn prefetch_member(&self, n: u32) {
        if let Some(w) = self.members.get(n as usize / 64) {
            prefetch(w);
        }
    }

    /// Whether `n` belongs to a target cluster.
    #[inline]
    pub(super) fn is_member(&self, n: u32) -> bool {
        self.members
            .get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Whether `n` keeps the taint it receives: a member, with
    /// `stop_at_clusters`, other than the seed searched from.
    #[inline]
    pub(super) fn absorbs(&self, n: u32, seed: u32) -> bool {
        self.cfg.stop_at_clusters && n != seed && self.is_member(n)
    }
}

#[cfg(all(test, feature = "synthetic"))]
mod tests {
    use crate::trace::TraceConfig;

    /// The probe's early give-up is a lower bound of the check before its
    /// second layer: whenever it gives up, the search it skips would have
    /// given up there too, so Auto's choice does not change.
    #[cfg(feature = "synthetic")]
    #[test]
    fn early_give_up_only_where_the_second_layer_check_would() {
        use crate::synthetic::{SyntheticCase, SyntheticConfig};
        let case = SyntheticCase::generate(&SyntheticConfig {
            transfers: 40_000,
            ..SyntheticConfig::default()
        });
        let g = case.graph().unwrap();
        let tracer = super::Tracer::new(&g, &case.clusters).unwrap();
        let one_layer = TraceConfig::default().with_max_hops(1);
        let ctx = tracer.ctx(&one_layer, &[]);
        let mut early = 0;
        // The busiest senders and a spread of the others.
        let mut nodes: Vec<u32> = (0..g.address_count() as u32).collect();
        nodes.sort_by_key(|&n| std::cmp::Reverse(g.out_range(n).len()));
        let picked: Vec<u32> = nodes[..20]
            .iter()
            .chain(nodes.iter().step_by(97))
            .copied()
            .collect();
        for &n in &picked {
            let hops = ctx.hops(n);
            let mut frontier: Vec<u32> = hops.entries[1..].iter().map(|e| e.node).collect();
            frontier.sort_unstable();
            frontier.dedup();
            let ahead: u64 = frontier.iter().map(|&v| g.out_range(v).len() as u64).sum();
            let check = hops.edges_scanned + ahead;
            ctx.give_back(hops);
            for limit in [
                0,
                check / 2,
                check.saturating_sub(1),
                check,
                check + 1,
                2 * check,
            ] {
                if ctx.second_layer_over(n, limit) {
                    assert!(check > limit, "node {n}: limit {limit}, check {check}");
                    early += 1;
                }
            }
        }
        assert!(early > 0);
    }
}
