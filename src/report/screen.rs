//! Screening: the labelled addresses (sanctioned, mixer, scam, exploit, …)
//! that lie on the findings' evidence paths. It reads the trace's findings
//! and the label set; nothing before the report depends on it.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::labels::{Category, Label, LabelSet};
use crate::trace::Finding;
use crate::types::Address;

/// A labelled address on a finding's evidence path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScreenHit {
    /// Index of the finding in the slice given to [`screen`].
    pub finding: usize,
    /// Position on the path: 0 for the path's first sender (the seed), i
    /// for the receiver of step i.
    pub hop: usize,
    /// The address.
    pub address: Address,
    /// Its labels other than exchange labels (sanctioned, mixer, scam, …).
    pub labels: Vec<Label>,
}

/// Lists the labelled addresses that lie on findings' evidence paths: every
/// address on a path, the seed included, that carries a label other than an
/// exchange label (sanctioned, mixer, scam, exploit, …). The finding's own
/// cluster member and exchange labels are not hits: reaching an exchange is
/// what a finding says already. Sorted by finding, then position on the path;
/// an address appears once per finding.
///
/// ```
/// use fundtrace::report::screen;
/// use fundtrace::LabelSet;
/// assert!(screen(&[], &LabelSet::new()).is_empty());
/// ```
pub fn screen(findings: &[Finding], labels: &LabelSet) -> Vec<ScreenHit> {
    let mut hits = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let start = f.path.first().map_or(f.seed, |s| s.from);
        let along = std::iter::once(start).chain(f.path.iter().map(|s| s.to));
        let mut seen = BTreeSet::new();
        for (hop, a) in along.enumerate() {
            if a == f.member || !seen.insert(a) {
                continue;
            }
            let found: Vec<Label> = labels
                .get(&a)
                .iter()
                .filter(|l| l.category != Category::Exchange)
                .cloned()
                .collect();
            if !found.is_empty() {
                hits.push(ScreenHit {
                    finding: i,
                    hop,
                    address: a,
                    labels: found,
                });
            }
        }
    }
    hits
}
