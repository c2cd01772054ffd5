//! Reports: what a trace found and everything needed to reproduce it.
//!
//! A [`TraceReport`] is written as JSON ([`TraceReport::to_json`]), as CSV of
//! findings ([`TraceReport::write_csv`]) or as a Graphviz DOT drawing of the
//! evidence paths ([`TraceReport::to_dot`]). The output holds no timings or
//! other run-dependent data, so the same inputs give byte-identical files
//! whatever the number of threads.

mod screen;

pub use screen::{ScreenHit, screen};

use std::collections::BTreeMap;
use std::io::Write;

use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::cluster::{Clustering, Evidence};
use crate::error::{Error, Result};
use crate::graph::{FlowGraph, LoadStats, SourceSummary};
use crate::labels::LabelSet;
use crate::trace::{Cluster, Finding, Model, SeedSummary, TraceConfig, TraceOutcome};
use crate::types::OpeningBalance;
use crate::types::{Address, AssetInfo, ClusterName};

/// The inputs of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportMeta {
    /// `fundtrace <version>`.
    pub crate_version: String,
    /// The trace parameters.
    pub parameters: TraceConfig,
    /// The sources loaded and the blocks they span.
    pub sources: Vec<SourceSummary>,
    /// The seeds as given (in order, duplicates kept).
    pub seeds: Vec<Address>,
    /// The target clusters: name, size and how many members the data holds.
    pub clusters: Vec<ClusterMeta>,
    /// Size of the graph and what loading skipped.
    pub graph: GraphMeta,
    /// Ticker and decimals of the assets in the graph, where known.
    pub assets: Vec<AssetInfo>,
    /// Opening balances fetched from a node for the value models (absent
    /// when none were: then openings are inferred, see
    /// [`crate::trace`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opening_balances: Vec<OpeningBalance>,
}

/// A target cluster as the report describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMeta {
    /// Its name.
    pub name: ClusterName,
    /// Number of member addresses given.
    pub members: usize,
    /// How many of them occur in the loaded data.
    pub members_in_graph: usize,
}

/// Size of the graph a report was computed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphMeta {
    /// Distinct addresses.
    pub addresses: usize,
    /// Events (transfers and UTXO transactions).
    pub events: usize,
    /// Legs.
    pub legs: usize,
    /// What loading counted and skipped.
    pub load: LoadStats,
}

/// A complete trace report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    /// The inputs.
    pub meta: ReportMeta,
    /// One entry per (seed, cluster) pair reached.
    pub findings: Vec<Finding>,
    /// Per seed: found in the data or not, value sent, addresses reached.
    pub seeds: Vec<SeedSummary>,
    /// Problems that did not stop the trace.
    pub warnings: Vec<String>,
    /// Why each finding's member (and first-arrival member) belongs to its
    /// cluster, when the clusters came from [`crate::cluster`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub member_evidence: BTreeMap<Address, Evidence>,
    /// Sanctioned or otherwise labelled addresses on the evidence paths.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub screening: Vec<ScreenHit>,
}

impl TraceReport {
    /// Adds, for every finding, the evidence that put its member (and its
    /// first-arrival member) into the cluster.
    pub fn add_member_evidence(&mut self, clustering: &Clustering) {
        for f in &self.findings {
            let members =
                std::iter::once(f.member).chain(f.first_arrival.as_ref().map(|a| a.member));
            for m in members {
                if let Some(e) = clustering.evidence(&m) {
                    self.member_evidence.insert(m, e.clone());
                }
            }
        }
    }

    /// Adds the screening of the findings' evidence paths against `labels`.
    pub fn add_screening(&mut self, labels: &LabelSet) {
        self.screening = screen(&self.findings, labels);
    }

    /// Assembles a report from a trace's inputs and outcome.
    pub fn new(
        graph: &FlowGraph,
        seeds: &[Address],
        clusters: &[Cluster],
        config: &TraceConfig,
        outcome: TraceOutcome,
    ) -> TraceReport {
        let mut assets: Vec<AssetInfo> = graph
            .assets()
            .iter()
            .filter_map(|a| graph.asset_info(a).cloned())
            .collect();
        assets.sort_by_key(|a| a.asset);
        TraceReport {
            meta: ReportMeta {
                crate_version: format!("fundtrace {}", env!("CARGO_PKG_VERSION")),
                parameters: config.clone(),
                sources: graph.sources().to_vec(),
                seeds: seeds.to_vec(),
                clusters: clusters
                    .iter()
                    .map(|c| ClusterMeta {
                        name: c.name.clone(),
                        members: c.members.len(),
                        members_in_graph: c
                            .members
                            .iter()
                            .filter(|m| graph.node(m).is_some())
                            .count(),
                    })
                    .collect(),
                graph: GraphMeta {
                    addresses: graph.address_count(),
                    events: graph.event_count(),
                    legs: graph.leg_count(),
                    load: graph.load_stats(),
                },
                assets,
                opening_balances: graph.opening_balances().to_vec(),
            },
            findings: outcome.findings,
            seeds: outcome.seeds,
            warnings: outcome.warnings,
            member_evidence: BTreeMap::new(),
            screening: Vec::new(),
        }
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    /// [`Error::Report`] if serialisation fails (it does not for reports
    /// built by this crate).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Report {
            format: "json",
            reason: e.to_string(),
        })
    }

    /// Writes one CSV row per finding and asset: seed, cluster, hops, first
    /// arrival, member, asset, the value under each model (empty where a
    /// model was not requested), and the path as `address >tx> address …`.
    ///
    /// # Errors
    /// [`Error::Report`] if writing fails.
    pub fn write_csv<W: Write>(&self, w: W) -> Result<()> {
        let err = |e: csv::Error| Error::Report {
            format: "csv",
            reason: e.to_string(),
        };
        let mut out = csv::Writer::from_writer(w);
        out.write_record([
            "seed",
            "cluster",
            "min_hops",
            "first_arrival_chain",
            "first_arrival_height",
            "first_arrival_time",
            "first_arrival_tx",
            "member",
            "asset",
            "poison",
            "haircut",
            "fifo",
            "path",
        ])
        .map_err(err)?;
        for f in &self.findings {
            let fa = f.first_arrival.as_ref();
            let path = path_text(f);
            let mut rows: Vec<(String, BTreeMap<Model, String>)> = f
                .value
                .iter()
                .map(|(a, m)| {
                    (
                        a.to_string(),
                        m.iter().map(|(k, v)| (*k, v.to_string())).collect(),
                    )
                })
                .collect();
            if rows.is_empty() {
                rows.push((String::new(), BTreeMap::new()));
            }
            for (asset, vals) in rows {
                let v = |m: Model| vals.get(&m).cloned().unwrap_or_default();
                out.write_record([
                    f.seed.to_string(),
                    f.cluster.to_string(),
                    f.min_hops.to_string(),
                    fa.map(|a| a.chain.to_string()).unwrap_or_default(),
                    fa.map(|a| a.height.to_string()).unwrap_or_default(),
                    fa.map(|a| a.time_utc.clone()).unwrap_or_default(),
                    fa.map(|a| a.tx.to_string()).unwrap_or_default(),
                    f.member.to_string(),
                    asset,
                    v(Model::Poison),
                    v(Model::Haircut),
                    v(Model::Fifo),
                    path.clone(),
                ])
                .map_err(err)?;
            }
        }
        out.flush().map_err(|e| Error::Report {
            format: "csv",
            reason: e.to_string(),
        })
    }

    /// The evidence subgraph (every finding's path) as Graphviz DOT: seeds,
    /// intermediate addresses and cluster members as nodes, one edge per hop
    /// labelled with its transaction, block and amount.
    pub fn to_dot(&self) -> String {
        let mut g: DiGraph<String, String> = DiGraph::new();
        let mut nodes: BTreeMap<Address, NodeIndex> = BTreeMap::new();
        let mut edges: BTreeMap<(Address, Address, String), ()> = BTreeMap::new();
        let mut node = |g: &mut DiGraph<String, String>, a: Address, role: &str| -> NodeIndex {
            *nodes
                .entry(a)
                .or_insert_with(|| g.add_node(format!("{role}{a}")))
        };
        for f in &self.findings {
            node(&mut g, f.seed, "seed ");
        }
        for f in &self.findings {
            for step in &f.path {
                let a = node(&mut g, step.from, "");
                let role = if step.to == f.member {
                    format!("{} ", f.cluster)
                } else {
                    String::new()
                };
                let b = node(&mut g, step.to, &role);
                let label = format!(
                    "tx {}\nblock {}\n{} {}",
                    short(&step.tx.to_string()),
                    step.height,
                    step.amount,
                    step.asset
                );
                if edges
                    .insert((step.from, step.to, label.clone()), ())
                    .is_none()
                {
                    g.add_edge(a, b, label);
                }
            }
        }
        format!("{}", Dot::with_config(&g, &[Config::GraphContentOnly]))
            .lines()
            .fold(String::from("digraph evidence {\n    rankdir=LR;\n    node [shape=box, fontname=monospace];\n"), |mut s, l| {
                s.push_str(l);
                s.push('\n');
                s
            })
            + "}\n"
    }
}

fn short(s: &str) -> String {
    if s.len() > 18 {
        format!("{}…{}", &s[..10], &s[s.len() - 6..])
    } else {
        s.to_owned()
    }
}

/// `seed >tx> address >tx> member`, tx ids in full.
pub(crate) fn path_text(f: &Finding) -> String {
    let mut s = f.seed.to_string();
    for p in &f.path {
        s.push_str(&format!(" >{}> {}", p.tx, p.to));
    }
    s
}
