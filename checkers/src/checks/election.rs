//! election-safety: at most one leader per term.

use crate::facts::History;
use crate::intern::{FxHashMap, NO_SYM};
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{Findings, Report};

/// `same-term-leaders`: two different nodes report `role: leader` with the same term in
/// ok `status` ops. One anomaly per (term, second node), citing the first observation.
pub fn check(h: &History, _: &Guarantees, findings: &mut Findings) -> Report {
    let mut first = FxHashMap::<u64, (u32, u64)>::default();
    let mut reported = FxHashMap::<(u64, u32), ()>::default();
    let mut unnamed = 0u64;
    for s in h.statuses.iter().filter(|s| s.is_leader) {
        let Some(term) = s.term else { continue };
        if s.node == NO_SYM {
            unnamed += 1;
            continue;
        }
        let (node0, op0) = *first.entry(term).or_insert((s.node, s.span.comp));
        if node0 == s.node || reported.insert((term, s.node), ()).is_some() {
            continue;
        }
        let op = s.span.comp;
        findings.add(
            AnomalyKind::SameTermLeaders,
            Severity::Violation,
            &[op0, op],
            || {
                format!(
                    "{} (op {op0}) and {} (op {op}) both reported being leader of term {term}: \
                 two leaders were elected in one term",
                    h.node_name(node0),
                    h.node_name(s.node)
                )
            },
        );
    }
    let note = (unnamed > 0)
        .then(|| format!("{unnamed} leader observations name no node and were not compared"));
    Report {
        note,
        ..Report::default()
    }
}
