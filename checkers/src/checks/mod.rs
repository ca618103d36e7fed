//! Every checker, and `check`, which runs them all (each under `catch_unwind`) and
//! composes their verdicts.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::facts::History;
use crate::result::{
    Anomaly, AnomalyKind, CheckResult, CheckerResult, Counts, Guarantees, Severity, Validity,
    ANOMALIES_LISTED_PER_KIND_MAX,
};

pub use exercised::{exercised, NOTHING_EXERCISED};

pub mod availability;
pub mod election;
pub mod exercised;
pub mod fencing;
pub mod leaders;
pub mod lost;

pub const ELECTION_SAFETY: &str = "election-safety";
pub const CONCURRENT_LEADERS: &str = "concurrent-leaders";
pub const FENCING: &str = "fencing";
pub const LOST_WRITES: &str = "lost-writes";
pub const AVAILABILITY: &str = "availability";

/// What a checker says besides its anomalies.
#[derive(Debug, Default)]
pub struct Report {
    /// Set when the checker could not tell; violations make it invalid regardless.
    pub unknown: bool,
    pub note: Option<String>,
    pub figures: Option<serde_json::Value>,
}

/// Collects one checker's anomalies, listing at most a bounded number per kind.
pub struct Findings {
    checker: &'static str,
    listed: Vec<Anomaly>,
    found: BTreeMap<AnomalyKind, u64>,
    violations: u64,
}

impl Findings {
    fn new(checker: &'static str) -> Findings {
        Findings {
            checker,
            listed: Vec::new(),
            found: BTreeMap::new(),
            violations: 0,
        }
    }

    /// Records an anomaly; the message is only built if the anomaly is listed.
    pub fn add(
        &mut self,
        kind: AnomalyKind,
        severity: Severity,
        ops: &[u64],
        message: impl FnOnce() -> String,
    ) {
        assert!(
            !ops.is_empty(),
            "an anomaly must cite the ops that prove it"
        );
        let n = self.found.entry(kind).or_insert(0);
        *n += 1;
        if severity == Severity::Violation {
            self.violations += 1;
        }
        if *n <= ANOMALIES_LISTED_PER_KIND_MAX {
            let mut ops = ops.to_vec();
            ops.sort_unstable();
            ops.dedup();
            self.listed.push(Anomaly {
                kind,
                checker: self.checker.to_string(),
                severity,
                ops,
                message: message(),
                linearizable_through: None,
            });
        }
    }
}

type CheckerFn = fn(&History, &Guarantees, &mut Findings) -> Report;

const CHECKERS: [(&str, CheckerFn); 5] = [
    (ELECTION_SAFETY, election::check),
    (CONCURRENT_LEADERS, leaders::check),
    (FENCING, fencing::check),
    (LOST_WRITES, lost::check),
    (AVAILABILITY, availability::check),
];

/// Runs every checker on the history and composes the verdict:
/// invalid beats unknown beats valid.
pub fn check(history: &History, guarantees: &Guarantees) -> CheckResult {
    let mut result = CheckResult {
        valid: Validity::Valid,
        checkers: BTreeMap::new(),
        anomalies: Vec::new(),
        guarantees: *guarantees,
        counts: Counts {
            ops: history.op_count,
            ..Counts::default()
        },
        exercised: None,
        reason: None,
        harness_error: None,
        left_behind: None,
    };
    for (name, checker) in CHECKERS {
        let (checker_result, findings) = run_one(name, checker, history, guarantees);
        result.valid = result.valid.and(checker_result.valid);
        for (kind, n) in &findings.found {
            *result.counts.anomalies.entry(*kind).or_insert(0) += n;
            let more = n.saturating_sub(ANOMALIES_LISTED_PER_KIND_MAX);
            if more > 0 {
                *result.counts.not_listed.entry(*kind).or_insert(0) += more;
            }
        }
        result.anomalies.extend(findings.listed);
        result.checkers.insert(name.to_string(), checker_result);
    }
    let exercised = exercised(history);
    // No evidence is never valid: a history in which no client op got through says
    // nothing about the system.
    if exercised.client_ops_ok == 0 {
        result.valid = result.valid.and(Validity::Unknown);
        result.reason = Some(NOTHING_EXERCISED.to_string());
    }
    result.exercised = Some(exercised);
    result
}

fn run_one(
    name: &'static str,
    checker: CheckerFn,
    history: &History,
    guarantees: &Guarantees,
) -> (CheckerResult, Findings) {
    let mut findings = Findings::new(name);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        checker(history, guarantees, &mut findings)
    }));
    let report = outcome.unwrap_or_else(|panic| Report {
        unknown: true,
        note: Some(format!("the checker failed: {}", panic_message(&*panic))),
        figures: None,
    });
    let valid = if findings.violations > 0 {
        Validity::Invalid
    } else if report.unknown {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let result = CheckerResult {
        valid,
        note: report.note,
        anomalies: findings.found.clone(),
        figures: report.figures,
    };
    (result, findings)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// Nanoseconds as milliseconds, for sentences and figures.
pub(crate) fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boom(_: &History, _: &Guarantees, _: &mut Findings) -> Report {
        panic!("boom at op 3")
    }

    #[test]
    fn a_panicking_checker_is_unknown_with_its_message() {
        let (r, _) = run_one("boom", boom, &History::default(), &Guarantees::default());
        assert_eq!(r.valid, Validity::Unknown);
        assert!(r.note.unwrap().contains("boom at op 3"));
    }

    #[test]
    fn findings_list_a_bounded_number_per_kind() {
        let mut f = Findings::new("x");
        for i in 0..250 {
            f.add(AnomalyKind::LostWrite, Severity::Violation, &[i], || {
                format!("{i}")
            });
        }
        assert_eq!(f.listed.len() as u64, ANOMALIES_LISTED_PER_KIND_MAX);
        assert_eq!(f.found[&AnomalyKind::LostWrite], 250);
    }
}
