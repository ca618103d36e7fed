//! election-safety: at most one leader per term, the vote that guarantees it, and that
//! whoever wins holds every entry already committed (Raft's leader completeness).

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
    let votes = votes(h, findings);
    let compared = completeness(h, findings);
    let runs = diverged_commits(h, findings);
    let mut notes = Vec::new();
    if first.is_empty() {
        notes.push("no ok status reported a leader with its term: nothing to compare".to_string());
    }
    if unnamed > 0 {
        notes.push(format!(
            "{unnamed} leader observations name no node and were not compared"
        ));
    }
    if votes == 0 && !first.is_empty() {
        notes.push("no ok status reported a vote: votes were not compared".to_string());
    }
    if runs == 0 && !first.is_empty() {
        notes.push(
            "no ok status reported its log's terms with a commit index: committed entries \
             were not compared across nodes"
                .to_string(),
        );
    }
    if compared == 0 && !first.is_empty() {
        notes.push(
            "no ok status reported a leader's last log index with commit indexes to compare: \
             leader completeness was not checked"
                .to_string(),
        );
    }
    Report {
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        ..Report::default()
    }
}

/// `vote-changed`: one node reported two different votes in one term, where a vote, once
/// cast, must stand for the rest of the term (it is what keeps a voter from electing two
/// leaders of one term). Two different candidates are a change whatever the order; a
/// vote and then none is one when the report of none was invoked after the report of the
/// vote completed (before that, "none" may be the earlier state). One anomaly per (node,
/// term), citing the first report of a vote. Returns how many reports carried a vote.
fn votes(h: &History, findings: &mut Findings) -> u64 {
    #[derive(Default)]
    struct Term {
        /// The first report of a vote, in completion order: (candidate, its op).
        first: Option<(u32, u64)>,
        reported: bool,
    }
    let mut terms = FxHashMap::<(u32, u64), Term>::default();
    let mut reports = 0;
    for s in &h.statuses {
        let (Some(vote), Some(term)) = (s.vote, s.term) else {
            continue;
        };
        if s.node == NO_SYM {
            continue;
        }
        reports += 1;
        let t = terms.entry((s.node, term)).or_default();
        let Some((first, op0)) = t.first else {
            if vote != NO_SYM {
                t.first = Some((vote, s.span.comp));
            }
            continue;
        };
        let changed = if vote == NO_SYM {
            s.span.inv > op0
        } else {
            vote != first
        };
        if !changed || t.reported {
            continue;
        }
        t.reported = true;
        let op = s.span.comp;
        findings.add(
            AnomalyKind::VoteChanged,
            Severity::Violation,
            &[op0, op],
            || {
                let now = if vote == NO_SYM {
                    "no vote".to_string()
                } else {
                    format!("a vote for {}", h.node_name(vote))
                };
                format!(
                    "{} reported a vote for {} in term {term} (op {op0}) and later {now} in \
                     the same term (op {op}): its vote did not hold (lost in a restart, or \
                     cast twice), so it can help elect two leaders of one term",
                    h.node_name(s.node),
                    h.node_name(first),
                )
            },
        );
    }
    reports
}

/// `incomplete-leader`: a node reported leading term `T` with a log that ends before an
/// index that a node reported committed while in an earlier term. A node learns a commit
/// index from a leader of its term or an earlier one, so those entries were committed
/// before `T`, and Raft's leader completeness puts them in the log of every leader of a
/// later term from its election on; a leader never drops an entry of its own log, so its
/// last index at any report while leading `T` must reach them. (A report in `T` itself
/// proves nothing: the leader of `T` commits entries it appends after the report.) This
/// is what a vote granted without comparing logs breaks: a node that fell behind wins
/// and would overwrite committed entries. One anomaly per (node, term), citing the commit
/// report and the leader's. Returns how many leader reports were compared.
fn completeness(h: &History, findings: &mut Findings) -> u64 {
    // The highest commit reported in each term: (commit, its op, the node reporting).
    let mut by_term = std::collections::BTreeMap::<u64, (u64, u64, u32)>::new();
    for s in &h.statuses {
        let (Some(term), Some(commit)) = (s.term, s.commit) else {
            continue;
        };
        let best = by_term.entry(term).or_insert((commit, s.span.comp, s.node));
        if commit > best.0 {
            *best = (commit, s.span.comp, s.node);
        }
    }
    // The highest commit reported in any term up to each term, ascending by term.
    let mut up_to = Vec::with_capacity(by_term.len());
    let mut best: Option<(u64, u64, u32)> = None;
    for (term, here) in by_term {
        if best.is_none_or(|b| here.0 > b.0) {
            best = Some(here);
        }
        up_to.extend(best.map(|b| (term, b)));
    }
    let mut reported = FxHashMap::<(u32, u64), ()>::default();
    let mut compared = 0;
    for s in h.statuses.iter().filter(|s| s.is_leader) {
        let (Some(term), Some(last)) = (s.term, s.last_index) else {
            continue;
        };
        if s.node == NO_SYM {
            continue;
        }
        // The last term before `term` reported with a commit.
        let i = up_to.partition_point(|&(t, _)| t < term);
        if i == 0 {
            continue;
        }
        compared += 1;
        let (commit, op0, by) = up_to[i - 1].1;
        if last >= commit || reported.insert((s.node, term), ()).is_some() {
            continue;
        }
        let op = s.span.comp;
        findings.add(
            AnomalyKind::IncompleteLeader,
            Severity::Violation,
            &[op0, op],
            || {
                format!(
                    "{} reported leading term {term} with a log ending at index {last} (op \
                     {op}), but {} had reported entries up to index {commit} committed in an \
                     earlier term (op {op0}): a leader lacking committed \
                     entries was elected, and it can overwrite them",
                    h.node_name(s.node),
                    h.node_name(by)
                )
            },
        );
    }
    compared
}

/// `diverged-commit`: two nodes reported different terms for one log index that each had
/// committed. A committed entry never changes (state machine safety), and an entry's term
/// names it (log matching: two logs holding an index with one term agree up to it), so
/// every status's committed runs must agree wherever they overlap. This is what a leader
/// that commits an older term's entries by counting replicas breaks once a later leader
/// overwrites them; raftd then keeps its committed entries and its status shows them
/// beside everyone else's. One anomaly per index, citing the first two reports. Returns
/// how many statuses carried runs.
fn diverged_commits(h: &History, findings: &mut Findings) -> u64 {
    // Committed runs seen so far, by first index: (last index, term, op, node).
    let mut known = std::collections::BTreeMap::<u64, (u64, u64, u64, u32)>::new();
    let mut reported = FxHashMap::<u64, ()>::default();
    let mut carried = 0;
    for s in &h.statuses {
        let Some(at) = s.committed_runs else {
            continue;
        };
        carried += 1;
        let op = s.span.comp;
        for &(term, first, last) in h.committed_runs[at as usize].iter() {
            // Any known run overlapping [first, last] with another term disagrees.
            let from = known
                .range(..=first)
                .next_back()
                .map_or(first, |(&start, _)| start);
            let clash = known
                .range(from..=last)
                .find(|(&start, &(end, t, _, _))| end >= first && start <= last && t != term)
                .map(|(&start, &v)| (start.max(first), v));
            if let Some((index, (_, t0, op0, node0))) = clash {
                if reported.insert(index, ()).is_none() {
                    findings.add(
                        AnomalyKind::DivergedCommit,
                        Severity::Violation,
                        &[op0, op],
                        || {
                            format!(
                                "{} reported index {index} committed with an entry of term \
                                 {t0} (op {op0}), and {} reported it committed with an entry \
                                 of term {term} (op {op}): a committed entry was replaced",
                                h.node_name(node0),
                                h.node_name(s.node)
                            )
                        },
                    );
                }
                continue;
            }
            // Agreeing: keep the longest committed stretch of each run.
            let entry = known.entry(first).or_insert((last, term, op, s.node));
            if last > entry.0 && entry.1 == term {
                entry.0 = last;
            }
        }
    }
    carried
}
