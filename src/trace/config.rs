//! What a trace is asked for: the [`TraceConfig`] with its value [`Model`]s
//! and hop [`Search`], the target [`Cluster`]s, and the plan a trace
//! derives from the settings.

use serde::Serialize;

use super::stream::STREAM_MAX_HOPS;
use crate::error::{Error, Result};
use crate::types::{Address, ClusterName};

/// A value attribution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Model {
    /// Any taint taints every later outflow wholly (upper bound).
    Poison,
    /// Outflows carry the sender's tainted share, rounded down.
    Haircut,
    /// Outflows spend the oldest received value first.
    Fifo,
}

impl Model {
    /// All models, in report order.
    pub const ALL: [Model; 3] = [Model::Poison, Model::Haircut, Model::Fifo];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Model::Poison => "poison",
            Model::Haircut => "haircut",
            Model::Fifo => "fifo",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = Error;
    fn from_str(s: &str) -> Result<Model> {
        match s {
            "poison" => Ok(Model::Poison),
            "haircut" => Ok(Model::Haircut),
            "fifo" => Ok(Model::Fifo),
            _ => Err(Error::Parse {
                what: "model",
                input: s.to_owned(),
                reason: "expected poison, haircut or fifo".into(),
            }),
        }
    }
}

/// A named set of addresses that the trace looks for (an exchange, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cluster {
    /// The name reported in findings.
    pub name: ClusterName,
    /// The member addresses.
    pub members: Vec<Address>,
}

impl Cluster {
    /// A cluster from a name and members.
    pub fn new(name: impl Into<ClusterName>, members: Vec<Address>) -> Cluster {
        Cluster {
            name: name.into(),
            members,
        }
    }
}

/// How the hop search runs: a tuning choice, not part of the answer. Both
/// searches give every address the same fewest hops and earliest arrival,
/// and every finding the same evidence path (ties broken in the order
/// [`Finding::path`](crate::Finding::path) documents), so the same
/// findings, values and counts; only the cost differs. Not in reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Search {
    /// The frontier search, except for seeds that reach far when there are
    /// several of them: with at least [`AUTO_STREAM_SEEDS`] seeds in the
    /// graph (and settings the stream search can honour), each seed's
    /// frontier search first runs as a probe that gives up before a layer
    /// whose addresses have more out-edges than remain of a sixteenth of
    /// its chain's events; if at least
    /// [`AUTO_STREAM_SEEDS`] seeds give up, they go through the stream
    /// search, else they run the frontier search to the end. A seed with
    /// a small neighbourhood (the usual investigation) so costs what it
    /// reaches, and what a probe wastes is bounded by its limit. The choice
    /// depends only on the graph and the seeds, not on the threads.
    #[default]
    Auto,
    /// A layered search per seed from its frontier: costs what the seed
    /// reaches (the out-edges scanned), whatever the graph's size.
    Frontier,
    /// One pass over all events in time order per group of up to eight
    /// seeds, each seed a byte per address: costs the graph's events per
    /// pass, shared by the group. Needs `time_respecting`, no
    /// `max_edges_per_seed` and `max_hops` at most [`STREAM_MAX_HOPS`].
    Stream,
}

impl std::str::FromStr for Search {
    type Err = Error;
    /// `auto`, `frontier` or `stream`.
    fn from_str(s: &str) -> Result<Search> {
        match s {
            "auto" => Ok(Search::Auto),
            "frontier" => Ok(Search::Frontier),
            "stream" => Ok(Search::Stream),
            _ => Err(Error::Parse {
                what: "search",
                input: s.to_owned(),
                reason: "expected auto, frontier or stream".into(),
            }),
        }
    }
}

/// Trace parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceConfig {
    /// The most hops a finding may be away from its seed (default 10).
    /// Zero finds only clusters that contain a seed.
    pub max_hops: u32,
    /// Whether value must arrive before it can leave (default true). Off, hop
    /// counts are plain reachability; value models always respect time.
    pub time_respecting: bool,
    /// Which value models to compute (default all three).
    pub models: Vec<Model>,
    /// Whether cluster members absorb taint instead of passing it on
    /// (default true).
    pub stop_at_clusters: bool,
    /// A work budget per seed: the hop search stops after the first layer
    /// at which it has scanned this many adjacency entries (default: none).
    /// The result is then marked `truncated` for that seed and a warning says
    /// so; what was found up to that layer is exact, clusters further out
    /// are missing. The budget is checked between layers, so the result does
    /// not depend on the number of threads.
    pub max_edges_per_seed: Option<u64>,
    /// How the hop search runs (default [`Search::Auto`]); it changes the
    /// cost only, so reports leave it out.
    #[serde(skip)]
    pub search: Search,
}

impl TraceConfig {
    /// Checks the settings against the documented caps: `max_hops` at most
    /// [`MAX_HOPS`](crate::limits::MAX_HOPS).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.max_hops > crate::limits::MAX_HOPS {
            return Err(Error::config(
                "max_hops",
                format!(
                    "{} is over the cap of {} (limits::MAX_HOPS), which bounds the length of evidence paths",
                    self.max_hops,
                    crate::limits::MAX_HOPS
                ),
            ));
        }
        if self.search == Search::Stream && !self.stream_applies() {
            return Err(Error::config(
                "search",
                format!(
                    "stream needs time_respecting, no max_edges_per_seed and max_hops of at \
                 most {STREAM_MAX_HOPS} (have time_respecting {}, max_edges_per_seed {:?}, \
                 max_hops {})",
                    self.time_respecting, self.max_edges_per_seed, self.max_hops
                ),
            ));
        }
        Ok(())
    }

    fn stream_applies(&self) -> bool {
        self.time_respecting
            && self.max_edges_per_seed.is_none()
            && self.max_hops <= STREAM_MAX_HOPS
    }

    /// How the hops of `seeds` distinct seeds in the graph are searched.
    pub(super) fn plan_for(&self, seeds: usize) -> Plan {
        match self.search {
            Search::Auto if self.stream_applies() && seeds >= AUTO_STREAM_SEEDS => Plan::Probe,
            Search::Stream => Plan::Stream,
            _ => Plan::Frontier,
        }
    }
}

/// With [`Search::Auto`], the fewest seeds that are probed, and the fewest
/// far-reaching ones that go through the stream search: a pass reads every
/// event of the graph whether it carries one seed or eight, so fewer seeds
/// leave that cost to too few of them, and their frontier searches cost
/// less. A fresh [`Tracer`](crate::trace::Tracer) also builds the stream
/// search's index (8 bytes per event) before its first pass.
pub const AUTO_STREAM_SEEDS: usize = 4;

/// How a trace runs its hop searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// The frontier search for every seed.
    Frontier,
    /// The stream search for every seed.
    Stream,
    /// [`Search::Auto`]'s probe, then the stream search for the seeds that
    /// gave up if there are enough of them.
    Probe,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            max_hops: 10,
            time_respecting: true,
            models: Model::ALL.to_vec(),
            stop_at_clusters: true,
            max_edges_per_seed: None,
            search: Search::Auto,
        }
    }
}

setters!(TraceConfig {
    with_max_hops => max_hops: u32,
    with_time_respecting => time_respecting: bool,
    with_models => models: Vec<Model>,
    with_stop_at_clusters => stop_at_clusters: bool,
    with_max_edges_per_seed => max_edges_per_seed: Option<u64>,
    with_search => search: Search,
});

#[cfg(test)]
mod tests {
    use super::{AUTO_STREAM_SEEDS, Plan, STREAM_MAX_HOPS, Search, TraceConfig};

    /// An explicit stream search with settings it cannot honour is refused
    /// with the settings named; `Auto` then runs the frontier search.
    #[test]
    fn stream_search_refuses_what_it_cannot_honour() {
        let stream = TraceConfig {
            search: Search::Stream,
            ..TraceConfig::default()
        };
        assert!(stream.check().is_ok());
        assert_eq!(stream.plan_for(1), Plan::Stream);
        for bad in [
            TraceConfig {
                time_respecting: false,
                ..stream.clone()
            },
            TraceConfig {
                max_edges_per_seed: Some(10),
                ..stream.clone()
            },
            TraceConfig {
                max_hops: STREAM_MAX_HOPS + 1,
                ..stream.clone()
            },
        ] {
            let msg = bad.check().unwrap_err().to_string();
            assert!(msg.contains("setting search: stream needs"), "{msg}");
            let auto = TraceConfig {
                search: Search::Auto,
                ..bad
            };
            assert!(auto.check().is_ok());
            assert_eq!(auto.plan_for(6), Plan::Frontier);
        }
        // Auto probes from AUTO_STREAM_SEEDS seeds on, whatever the hop limit.
        let auto = TraceConfig::default();
        assert_eq!(auto.plan_for(AUTO_STREAM_SEEDS), Plan::Probe);
        assert_eq!(auto.plan_for(AUTO_STREAM_SEEDS - 1), Plan::Frontier);
        let short = TraceConfig {
            max_hops: 2,
            ..auto
        };
        assert_eq!(short.plan_for(6), Plan::Probe);
        let frontier = TraceConfig {
            search: Search::Frontier,
            ..short
        };
        assert_eq!(frontier.plan_for(6), Plan::Frontier);
    }
}
