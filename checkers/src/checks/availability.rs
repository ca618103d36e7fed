//! availability: figures — leaderless windows, failover times, terms and elections, and
//! op outcomes per `f` (register ops as `register-read`, `register-write`,
//! `register-cas`) — and one violation, `no-recovery`: a system that, though every fault
//! was undone, was not serving when the history ended, its clients' calls failing for at
//! least [`RECOVERY_BOUND_MS`]. An ok write, for failover, is an election write or a
//! register write or compare-and-set.

use serde_json::{json, Map, Value};

use crate::facts::{History, StatusObs};
use crate::history::{OpType, F};
use crate::intern::FxHashMap;
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{ms, Findings, Report};

use crate::faults::{fault_starts, FaultsEnd};

/// How long clients must have gone on trying, after every fault was undone, without one
/// call served, for `no-recovery`: the simulator's liveness bound, and the time the final
/// reads are given.
pub const RECOVERY_BOUND_MS: u64 = 10_000;
/// The fewest calls that must have failed or timed out in that time: one call that hangs
/// is thin evidence.
pub const RECOVERY_CALLS_MIN: u64 = 3;

pub fn check(h: &History, g: &Guarantees, findings: &mut Findings) -> Report {
    let mut figures = Map::new();
    figures.insert("ops".into(), outcomes(h));
    if !g.leaderless {
        figures.insert("leadership".into(), leadership(h));
        figures.insert("leaderless_windows".into(), leaderless_windows(h, findings));
    }
    let faults: Vec<(u64, u64)> = fault_starts(&h.nemesis)
        .map(|n| (n.index, n.time))
        .collect();
    figures.insert("faults".into(), json!(faults.len()));
    let writes = h
        .writes
        .iter()
        .filter(|w| w.kind == OpType::Ok)
        .map(|w| (w.span.inv, w.span.comp_time))
        .chain(h.register_changes_ok.iter().copied());
    figures.insert(
        "failover_to_ok_write_ms".into(),
        failover(&faults, writes.collect()),
    );
    if !g.leaderless {
        let leaders = h
            .statuses
            .iter()
            .filter(|s| s.is_leader)
            .map(|s| (s.span.inv, s.span.comp_time));
        figures.insert(
            "failover_to_leader_ms".into(),
            failover(&faults, leaders.collect()),
        );
    }
    no_recovery(h, findings);
    Report {
        figures: Some(Value::Object(figures)),
        ..Report::default()
    }
}

/// `no-recovery`: every fault was undone by an undo that ended ok, the system had served
/// calls, and it was not serving when the history ended: from the end of the faults, or
/// from the last call served after it, to the end, at least [`RECOVERY_CALLS_MIN`] calls
/// (every `f` but `status`) failed or timed out over at least [`RECOVERY_BOUND_MS`], and
/// none was served. A cluster that a bug left with a leader that can commit nothing, say,
/// where final reads alone could only say "unknown".
fn no_recovery(h: &History, findings: &mut Findings) {
    let FaultsEnd::Ended {
        index: healed,
        time: healed_at,
    } = h.faults
    else {
        return;
    };
    let a = &h.after_nemesis;
    let (Some((first, _)), Some((last, last_at))) = (a.first_failed, a.last_failed) else {
        return;
    };
    let (from, from_at) = a.last_ok.unwrap_or((healed, healed_at));
    let stuck_ns = last_at.saturating_sub(from_at);
    let failed = a.failed_since;
    let served = h.calls_ok();
    if served == 0
        || failed.fail + failed.info < RECOVERY_CALLS_MIN
        || stuck_ns < RECOVERY_BOUND_MS * 1_000_000
    {
        return;
    }
    let since = match a.last_ok {
        None => format!("after every fault was undone (op {healed})"),
        Some(_) => format!(
            "after its last call served (op {from}), {} ms after every fault was undone \
             (op {healed})",
            ms(from_at - healed_at)
        ),
    };
    findings.add(
        AnomalyKind::NoRecovery,
        Severity::Violation,
        &[healed, from, first, last],
        || {
            format!(
                "the system served no call in the {} ms {since} to the end of the history: \
                 {} calls failed and {} timed out or ended unknown (ops {first} to {last}); \
                 it had served {served} calls",
                ms(stuck_ns),
                failed.fail,
                failed.info,
            )
        },
    );
}

fn outcomes(h: &History) -> Value {
    let mut m = Map::new();
    for f in F::ALL {
        let o = h.outcomes(f);
        if o.ok + o.fail + o.info > 0 {
            m.insert(
                f.name().into(),
                json!({"ok": o.ok, "fail": o.fail, "info": o.info}),
            );
        }
        let o = h.register_by_f[f as usize];
        if o.ok + o.fail + o.info > 0 {
            m.insert(
                format!("register-{}", f.name()),
                json!({"ok": o.ok, "fail": o.fail, "info": o.info}),
            );
        }
    }
    Value::Object(m)
}

/// Terms seen, elections (distinct term and leader pairs) and leader changes.
fn leadership(h: &History) -> Value {
    let (terms, elections, changes) = leadership_counts(h);
    json!({"terms": terms, "elections": elections, "leader_changes": changes})
}

/// Terms seen, elections (distinct term and leader pairs) and leader changes, in that
/// order: the one count both the figures and `exercised` use.
pub fn leadership_counts(h: &History) -> (u64, u64, u64) {
    let mut terms = FxHashMap::<u64, ()>::default();
    let mut elections = FxHashMap::<(u64, u32), ()>::default();
    let mut changes = 0u64;
    let mut last_leader: Option<(u32, Option<u64>)> = None;
    for s in &h.statuses {
        if let Some(t) = s.term {
            terms.insert(t, ());
        }
        if !s.is_leader {
            continue;
        }
        if let Some(t) = s.term {
            elections.insert((t, s.node), ());
        }
        if last_leader.is_some_and(|l| l != (s.node, s.term)) {
            changes += 1;
        }
        last_leader = Some((s.node, s.term));
    }
    (terms.len() as u64, elections.len() as u64, changes)
}

/// A leaderless window runs from an ok status naming no leader to the next naming one.
/// Windows of two or more such observations are listed as observations.
fn leaderless_windows(h: &History, findings: &mut Findings) -> Value {
    let mut windows: Vec<(StatusObs, StatusObs, u64)> = Vec::new();
    let mut open: Option<(StatusObs, u64)> = None;
    for s in &h.statuses {
        match (&mut open, s.knows_leader) {
            (None, false) => open = Some((*s, 1)),
            (Some((_, n)), false) => *n += 1,
            (Some((start, n)), true) => {
                windows.push((*start, *s, *n));
                open = None;
            }
            (None, true) => {}
        }
    }
    let still_open = open.is_some();
    let mut durations: Vec<u64> = windows
        .iter()
        .map(|(a, b, _)| b.span.comp_time - a.span.comp_time)
        .collect();
    if let Some((start, _)) = open {
        durations.push(h.last_time.saturating_sub(start.span.comp_time));
    }
    for (a, b, n) in windows.iter().filter(|w| w.2 >= 2) {
        let ops = [a.span.comp, b.span.comp];
        let d = b.span.comp_time - a.span.comp_time;
        findings.add(
            AnomalyKind::LeaderlessWindow,
            Severity::Observation,
            &ops,
            || {
                format!(
                "no observed node knew of a leader from op {} to op {} ({} ms, {n} observations)",
                a.span.comp,
                b.span.comp,
                ms(d)
            )
            },
        );
    }
    json!({
        "count": durations.len(),
        "total_ms": ms(durations.iter().sum()),
        "max_ms": ms(durations.iter().copied().max().unwrap_or(0)),
        "open_at_end": still_open,
    })
}

/// Failover figures over every fault start: `measured`, `never`, and nearest-rank `p50`,
/// `p99` and `max` in ms.
fn failover(faults: &[(u64, u64)], events: Vec<(u64, u64)>) -> Value {
    let times = failover_ns(faults, events);
    let mut took: Vec<u64> = times.iter().flatten().copied().collect();
    took.sort_unstable();
    json!({
        "measured": took.len(),
        "never": times.len() - took.len(),
        "p50": percentile(&took, 50).map(ms),
        "p99": percentile(&took, 99).map(ms),
        "max": took.last().map(|&t| ms(t)),
    })
}

/// Failover time, the one definition (docs/design.md): for each fault, from its start
/// (the nemesis invocation) to the earliest completion among the events invoked after
/// it, in index order; `None` when none completed. An event invoked before the fault
/// may have been served by the old leader and says nothing about recovery.
///
/// `faults` are (invocation index, invocation time), `events` (invocation index,
/// completion time); times in ns, the result in the faults' order.
pub fn failover_ns(faults: &[(u64, u64)], mut events: Vec<(u64, u64)>) -> Vec<Option<u64>> {
    events.sort_unstable_by_key(|e| e.0);
    // suffix_min[i]: the earliest completion among events[i..].
    let mut suffix_min = vec![u64::MAX; events.len() + 1];
    for i in (0..events.len()).rev() {
        suffix_min[i] = suffix_min[i + 1].min(events[i].1);
    }
    faults
        .iter()
        .map(|&(index, time)| {
            let i = events.partition_point(|e| e.0 <= index);
            match suffix_min[i] {
                u64::MAX => None,
                t => Some(t.saturating_sub(time)),
            }
        })
        .collect()
}

/// Nearest-rank percentile `p` (0 to 100) of sorted values.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p as usize * sorted.len()).div_ceil(100);
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}
