//! concurrent-leaders: overlaps of *certain* leadership and hold intervals, so it never
//! guesses. All intervals are in op indices, which order events exactly as the
//! controller saw them (times can tie; indices cannot).

use crate::facts::History;
use crate::faults::FaultsEnd;
use crate::history::Process;
use crate::intern::{FxHashMap, Sym, NO_SYM};
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{Findings, Report};

/// A stretch of ops during which something certainly held. `start < end`.
#[derive(Clone, Copy, Debug)]
struct Interval {
    start: u64,
    end: u64,
    /// Who holds: a node (leadership) or an acquire op's index (a grant).
    who: u64,
    /// The term of a leadership, the token of a grant.
    tag: u64,
}

/// How long two nodes may both certainly lead with every fault healed before the older
/// one is a `stale-leader`: a leader that hears of a higher term must step down, and on a
/// healed network the newer leader's heartbeats reach it within a heartbeat interval
/// (tens to a few hundred milliseconds in raftd, etcd and ZooKeeper).
pub const STALE_LEADER_GRACE_MS: u64 = 2000;

pub fn check(h: &History, g: &Guarantees, findings: &mut Findings) -> Report {
    let leaderships = dual_leadership(h, g, findings);
    let stale = stale_leaders(h, findings);
    duplicate_tokens(h, findings);
    let holds = dual_holders(h, findings);
    let mut notes = Vec::new();
    if leaderships == 0 {
        notes.push(
            "no node was seen leading one term twice: no certain leadership to compare".to_string(),
        );
    }
    if let Some(why) = stale {
        notes.push(why);
    }
    if h.acquires.is_empty() {
        notes.push("no grant was acquired: no holds to compare".to_string());
    } else if holds == 0 {
        notes.push(
            "no grant was seen held (an ok holding of true after its acquire): no certain holds to compare"
                .to_string(),
        );
    }
    Report {
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        ..Report::default()
    }
}

/// A node's certain leadership of one term: from the completion of the earliest
/// observation (op index, time) to the invocation of the latest; Raft cannot regain
/// leadership within a term. Only terms seen led twice, in that order, have one.
struct LeaderSpan {
    node: Sym,
    term: u64,
    first: (u64, u64),
    last: (u64, u64),
}

fn leader_spans(h: &History) -> Vec<LeaderSpan> {
    let mut spans = FxHashMap::<(Sym, u64), LeaderSpan>::default();
    for s in h
        .statuses
        .iter()
        .filter(|s| s.is_leader && s.node != NO_SYM)
    {
        let Some(term) = s.term else { continue };
        let e = spans.entry((s.node, term)).or_insert(LeaderSpan {
            node: s.node,
            term,
            first: (u64::MAX, 0),
            last: (0, 0),
        });
        if s.span.comp < e.first.0 {
            e.first = (s.span.comp, s.span.comp_time);
        }
        if s.span.inv >= e.last.0 {
            e.last = (s.span.inv, s.span.inv_time);
        }
    }
    spans
        .into_values()
        .filter(|l| l.first.0 < l.last.0)
        .collect()
}

/// Certain leaderships, in op indices.
fn leader_intervals(h: &History) -> Vec<Interval> {
    leader_spans(h)
        .into_iter()
        .map(|l| Interval {
            start: l.first.0,
            end: l.last.0,
            who: u64::from(l.node),
            tag: l.term,
        })
        .collect()
}

/// Certain leaderships in nanoseconds since the run's start, clipped to `from..to`, with
/// the ops that bound each: `(interval, first op, last op)`.
fn leader_times_within(spans: &[LeaderSpan], from: u64, to: u64) -> Vec<(Interval, u64, u64)> {
    spans
        .iter()
        .filter_map(|l| {
            let (start, end) = (l.first.1.max(from), l.last.1.min(to));
            (start < end).then_some((
                Interval {
                    start,
                    end,
                    who: u64::from(l.node),
                    tag: l.term,
                },
                l.first.0,
                l.last.0,
            ))
        })
        .collect()
}

/// The longest overlap of two certain leaders in one stretch without faults.
struct StaleOverlap {
    /// The older term's leadership, the stale one.
    old: Interval,
    new: Interval,
    /// How long both led, in nanoseconds.
    together: u64,
    stretch: (u64, u64),
    /// The ops bounding the old leadership, then the new one's.
    cited: [u64; 4],
}

/// `stale-leader` (violation): while no fault was in force — after the last nemesis op
/// completed (every fault healed, paused nodes resumed, killed ones restarted, clocks
/// reset), or in a stretch between faults where every fault so far had been undone —
/// two nodes both certainly led at once for longer than [`STALE_LEADER_GRACE_MS`]. Raft
/// lets an old leader linger only while it cannot hear the new one; once the network is
/// whole it must step down.
///
/// A stretch opens only once the faults before it really ended (every fault undone by an
/// undo that ended ok), and closes when the next fault is invoked: while a partition may
/// still hold, an isolated old leader that keeps its term is legal. Returns why the rule
/// was not applied after the last fault, if it was not.
fn stale_leaders(h: &History, findings: &mut Findings) -> Option<String> {
    let mut stretches: Vec<(u64, u64)> = h.quiet.clone();
    let mut not_checked = None;
    match &h.faults {
        FaultsEnd::NoFaults => stretches.push((0, u64::MAX)),
        FaultsEnd::Ended { time, .. } => stretches.push((*time, u64::MAX)),
        FaultsEnd::NotEnded { why } => {
            not_checked = Some(format!(
                "stale-leader not checked after the last fault: the faults may not have ended ({why})"
            ));
        }
    }
    let spans = leader_spans(h);
    let grace = STALE_LEADER_GRACE_MS * 1_000_000;
    let mut worst: Option<StaleOverlap> = None;
    for &(from, to) in &stretches {
        if to.saturating_sub(from) <= grace {
            continue;
        }
        let timed = leader_times_within(&spans, from, to);
        let ops: FxHashMap<(u64, u64), (u64, u64)> = timed
            .iter()
            .map(|(i, first, last)| ((i.who, i.tag), (*first, *last)))
            .collect();
        overlaps(timed.into_iter().map(|(i, _, _)| i).collect(), |a, b| {
            let together = a.end.min(b.end) - b.start;
            if together > grace && worst.as_ref().is_none_or(|w| together > w.together) {
                // The older term is the stale one.
                let (old, new) = if a.tag <= b.tag { (*a, *b) } else { (*b, *a) };
                let (o, n) = (ops[&(old.who, old.tag)], ops[&(new.who, new.tag)]);
                worst = Some(StaleOverlap {
                    old,
                    new,
                    together,
                    stretch: (from, to),
                    cited: [o.0, o.1, n.0, n.1],
                });
            }
        });
    }
    let Some(StaleOverlap {
        old,
        new,
        together,
        stretch: (from, to),
        cited,
    }) = worst
    else {
        return not_checked;
    };
    findings.add(AnomalyKind::StaleLeader, Severity::Violation, &cited, || {
        let (no, nn) = (h.node_name(old.who as Sym), h.node_name(new.who as Sym));
        let when = if to != u64::MAX {
            format!(
                "between faults, with every earlier fault undone by an undo that ended ok \
                 (from {:.3} s until the next fault at {:.3} s),",
                from as f64 / 1e9,
                to as f64 / 1e9
            )
        } else {
            match &h.faults {
                FaultsEnd::Ended { index, time } => format!(
                    "with every fault undone by an undo that ended ok (the last nemesis op at op {index}, {:.3} s)",
                    *time as f64 / 1e9
                ),
                _ => "with no fault in the history".to_string(),
            }
        };
        format!(
            "{no} went on claiming leadership of term {} while {nn} led term {}: {when} \
             both were certainly leader at once for {:.1} s (ops {} to {} and {} to {}); \
             a leader must step down once it hears of a higher term",
            old.tag,
            new.tag,
            together as f64 / 1e9,
            cited[0],
            cited[1],
            cited[2],
            cited[3]
        )
    });
    not_checked
}

/// Sweeps intervals by start and yields, for each, an earlier-started interval of a
/// different holder that overlaps it (the one reaching furthest), if any.
fn overlaps(mut intervals: Vec<Interval>, mut found: impl FnMut(&Interval, &Interval)) {
    intervals.sort_unstable_by_key(|i| (i.start, i.end));
    // The two furthest-reaching intervals so far, of different holders.
    let mut best: [Option<Interval>; 2] = [None, None];
    for i in &intervals {
        let partner = best.iter().flatten().find(|b| b.who != i.who);
        if let Some(b) = partner.filter(|b| b.end > i.start) {
            found(b, i);
        }
        best = push_best(best, *i);
    }
}

fn push_best(best: [Option<Interval>; 2], i: Interval) -> [Option<Interval>; 2] {
    let mut all: Vec<Interval> = best.into_iter().flatten().collect();
    all.push(i);
    all.sort_unstable_by_key(|x| std::cmp::Reverse(x.end));
    let first = all[0];
    let second = all.iter().copied().find(|x| x.who != first.who);
    [Some(first), second]
}

/// Returns how many certain leaderships there were.
fn dual_leadership(h: &History, g: &Guarantees, findings: &mut Findings) -> usize {
    let severity = if g.exclusive_leadership {
        Severity::Violation
    } else {
        Severity::Observation
    };
    let intervals = leader_intervals(h);
    let n = intervals.len();
    overlaps(intervals, |a, b| {
        let ops = [a.start, a.end, b.start, b.end];
        findings.add(AnomalyKind::DualLeadership, severity, &ops, || {
            let (na, nb) = (h.node_name(a.who as Sym), h.node_name(b.who as Sym));
            let lease = if g.exclusive_leadership {
                "; the test claims exclusive leadership, so a lease or fence failed"
            } else {
                "; legal in Raft without leases (the older leader cannot commit), but clients of the older one can be misled"
            };
            format!(
                "{na} (term {}) and {nb} (term {}) were both leader at once: {na} certainly from op {} to op {}, \
                 {nb} certainly from op {} to op {}{lease}",
                a.tag, b.tag, a.start, a.end, b.start, b.end
            )
        });
    });
    n
}

/// `duplicate-token`: two different ok acquisitions of one token in one election.
fn duplicate_tokens(h: &History, findings: &mut Findings) {
    let mut first = FxHashMap::<(Sym, u64), (u64, Process)>::default();
    for a in &h.acquires {
        let (op0, p0) = *first
            .entry((a.election, a.token))
            .or_insert((a.span.comp, a.process));
        if op0 == a.span.comp {
            continue;
        }
        findings.add(AnomalyKind::DuplicateToken, Severity::Violation, &[op0, a.span.comp], || {
            format!(
                "token {} was granted twice{}: to process {p0} at op {op0} and to process {} at op {}; \
                 fencing tokens must be unique per grant",
                a.token,
                election_suffix(h, a.election),
                a.process,
                a.span.comp
            )
        });
    }
}

fn election_suffix(h: &History, election: Sym) -> String {
    match h.election_name(election) {
        "" => String::new(),
        name => format!(" in election {name:?}"),
    }
}

/// A process that acquired token T holds it from the acquire's completion up to the
/// invocation of its latest ok `holding` of T that returned true.
fn hold_intervals(h: &History) -> Vec<(Interval, Sym, Process)> {
    let mut latest = FxHashMap::<(Process, u64), u64>::default();
    for x in &h.holdings {
        let e = latest.entry((x.process, x.token)).or_insert(0);
        *e = (*e).max(x.span.inv);
    }
    let mut out = Vec::new();
    for a in &h.acquires {
        let Some(&end) = latest.get(&(a.process, a.token)) else {
            continue;
        };
        if end > a.span.comp {
            let i = Interval {
                start: a.span.comp,
                end,
                who: a.span.comp,
                tag: a.token,
            };
            out.push((i, a.election, a.process));
        }
    }
    out
}

/// `dual-holders`: the certain hold intervals of two different grants overlap. Returns
/// how many certain holds there were.
fn dual_holders(h: &History, findings: &mut Findings) -> usize {
    let holds = hold_intervals(h);
    let n = holds.len();
    let mut by_election = FxHashMap::<Sym, Vec<Interval>>::default();
    let mut process_of = FxHashMap::<u64, Process>::default();
    for (i, election, p) in holds {
        by_election.entry(election).or_default().push(i);
        process_of.insert(i.who, p);
    }
    let mut elections: Vec<_> = by_election.into_iter().collect();
    elections.sort_unstable_by_key(|(e, _)| *e);
    for (election, intervals) in elections {
        overlaps(intervals, |a, b| {
            let ops = [a.start, a.end, b.start, b.end];
            findings.add(AnomalyKind::DualHolders, Severity::Violation, &ops, || {
                format!(
                    "process {} (token {}) and process {} (token {}) held the lock at once{}: \
                     the first certainly from op {} to op {}, the second from op {} to op {}",
                    process_of[&a.who],
                    a.tag,
                    process_of[&b.who],
                    b.tag,
                    election_suffix(h, election),
                    a.start,
                    a.end,
                    b.start,
                    b.end
                )
            });
        });
    }
    n
}
