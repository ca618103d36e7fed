//! fencing: ok writes carrying a token older than one already known to be superseded,
//! found with single-pass running maxima (never all pairs).

use crate::facts::{History, Write};
use crate::history::{OpType, Process};
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{Findings, Report};

/// The largest token seen so far and the op that showed it.
#[derive(Clone, Copy, Debug)]
struct Witness {
    token: u64,
    op: u64,
    what: Seen,
}

#[derive(Clone, Copy, Debug)]
enum Seen {
    Write(u32),
    Grant(Process),
}

pub fn check(h: &History, g: &Guarantees, findings: &mut Findings) -> Report {
    let writes: Vec<&Write> = h
        .writes
        .iter()
        .filter(|w| w.kind == OpType::Ok && w.token.is_some())
        .collect();
    // `writes` is in completion order; visit the same writes in invocation order and,
    // before each, fold in every write and grant that completed before it was invoked.
    let mut by_inv: Vec<&Write> = writes.clone();
    by_inv.sort_unstable_by_key(|w| w.span.inv);
    let (mut wi, mut ai) = (0, 0);
    let mut max_write: Option<Witness> = None;
    let mut max_grant: Option<Witness> = None;
    for w in by_inv {
        while wi < writes.len() && writes[wi].span.comp < w.span.inv {
            let c = writes[wi];
            let seen = Witness {
                token: c.token.unwrap_or(0),
                op: c.span.comp,
                what: Seen::Write(c.id),
            };
            max_write = max_of(max_write, seen);
            wi += 1;
        }
        while ai < h.acquires.len() && h.acquires[ai].span.comp < w.span.inv {
            let a = &h.acquires[ai];
            let seen = Witness {
                token: a.token,
                op: a.span.comp,
                what: Seen::Grant(a.process),
            };
            max_grant = max_of(max_grant, seen);
            ai += 1;
        }
        let token = w.token.unwrap_or(0);
        if let Some(m) = max_write.filter(|m| m.token > token) {
            stale_token(h, w, m, findings);
        }
        if let Some(m) = max_grant.filter(|m| m.token > token) {
            stale_grant(h, g, w, m, findings);
        }
    }
    let mut notes = Vec::new();
    if writes.is_empty() {
        notes.push(if h.acquires.is_empty() {
            "no ok write carried a token and no grant was acquired: nothing to compare"
        } else {
            "no ok write carried a token: nothing to compare with the grants"
        });
    }
    if h.elections.len() > 1 {
        notes.push("acquires name several elections; tokens are compared as if they were one");
    }
    Report {
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        ..Report::default()
    }
}

/// Writes with a token, whatever their outcome, invoked after an ok acquire of a larger
/// token had completed: a holder acting on a grant that had been superseded.
pub fn superseded_writes(h: &History) -> u64 {
    let mut by_inv: Vec<(u64, u64)> = h
        .writes
        .iter()
        .filter_map(|w| w.token.map(|t| (w.span.inv, t)))
        .collect();
    by_inv.sort_unstable();
    // Acquires are in completion order.
    let (mut ai, mut max_grant, mut n) = (0, None::<u64>, 0);
    for (inv, token) in by_inv {
        while ai < h.acquires.len() && h.acquires[ai].span.comp < inv {
            max_grant = max_grant.max(Some(h.acquires[ai].token));
            ai += 1;
        }
        if max_grant.is_some_and(|m| m > token) {
            n += 1;
        }
    }
    n
}

fn max_of(current: Option<Witness>, seen: Witness) -> Option<Witness> {
    match current {
        Some(c) if c.token >= seen.token => Some(c),
        _ => Some(seen),
    }
}

/// `stale-token-accepted`: an ok write with token t was invoked after an ok write with a
/// larger token had completed.
fn stale_token(h: &History, w: &Write, m: Witness, findings: &mut Findings) {
    let ops = [m.op, w.span.inv, w.span.comp];
    findings.add(AnomalyKind::StaleTokenAccepted, Severity::Violation, &ops, || {
        let newer = match m.what {
            Seen::Write(id) => format!("write {} with the newer token {}", h.id_name(id), m.token),
            Seen::Grant(_) => format!("a write with the newer token {}", m.token),
        };
        format!(
            "write {} with token {} was accepted (invoked at op {}, ok at op {}) after {newer} had completed at op {}: \
             the store accepted a stale token",
            h.id_name(w.id),
            w.token.unwrap_or(0),
            w.span.inv,
            w.span.comp,
            m.op
        )
    });
}

/// `stale-grant-write`: an ok write with token t was invoked after an ok acquire of a
/// larger token had completed.
fn stale_grant(h: &History, g: &Guarantees, w: &Write, m: Witness, findings: &mut Findings) {
    let severity = if g.fence_on_grant {
        Severity::Violation
    } else {
        Severity::Observation
    };
    let ops = [m.op, w.span.inv, w.span.comp];
    findings.add(AnomalyKind::StaleGrantWrite, severity, &ops, || {
        let holder = match m.what {
            Seen::Grant(p) => format!("process {p}"),
            Seen::Write(_) => "another process".to_string(),
        };
        let why = if g.fence_on_grant {
            "the store did not fence the old holder, though the test claims fence-on-grant"
        } else {
            "legal without fence-on-grant, since no store can reject a token it has not yet seen"
        };
        format!(
            "write {} with token {} was accepted (invoked at op {}, ok at op {}) after token {} had been granted to {holder} at op {}; {why}",
            h.id_name(w.id),
            w.token.unwrap_or(0),
            w.span.inv,
            w.span.comp,
            m.token,
            m.op
        )
    });
}
