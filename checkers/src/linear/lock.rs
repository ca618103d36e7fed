//! The `lock-model` checker: every lock op of the election workload (acquire, holding,
//! release, and with fence-on-grant the writes under a token) against the lease mutex,
//! one election at a time, beside the election rules in every run and every `check` of
//! a results directory. Any answer no single lock could have given is a violation,
//! whatever rule of ours it slips past; the anomaly cites the invocations and
//! completions the refutation needs.

use super::history as shapes;
use super::history::LockOp;
use super::{check, CheckOptions, LeaseMutex, Verdict};
use crate::intern::Interner;
use crate::result::{
    Anomaly, AnomalyKind, CheckResult, CheckerResult, Guarantees, Severity, Validity,
};

/// The checker's name in `results.json`.
pub const CHECKER: &str = "lock-model";

/// Checks a history's ok lock ops (its facts' [`LockOp`]s, with the elections' names)
/// and adds the checker, its anomalies and its verdict to `result`.
pub fn add_lock_model(
    ops: &[LockOp],
    elections: &Interner,
    guarantees: &Guarantees,
    options: &CheckOptions,
    result: &mut CheckResult,
) {
    let (checker, anomalies) = lock_model(ops, elections, guarantees, options);
    add_checker(result, CHECKER, checker, anomalies);
}

/// Adds a model checker's verdict, its anomalies and their counts to `result`.
pub(crate) fn add_checker(
    result: &mut CheckResult,
    name: &str,
    checker: CheckerResult,
    anomalies: Vec<Anomaly>,
) {
    result.valid = result.valid.and(checker.valid);
    for a in &anomalies {
        *result.counts.anomalies.entry(a.kind).or_insert(0) += 1;
    }
    result.anomalies.extend(anomalies);
    result.checkers.insert(name.to_string(), checker);
}

/// A model check's keys as a checker's findings: a `not-linearizable` violation per
/// refuted key, citing the ops its refutation needs and where the longest linearizable
/// prefix ends (`sentence(key, ops shown, the key's ops, ops in that prefix)` says what
/// no single object could have done), and `checker` invalid, or unknown with the keys
/// past their budget.
pub(crate) fn key_findings<K: std::fmt::Display>(
    name: &str,
    report: &super::Report<K>,
    indices: &[(u64, Option<u64>)],
    what: &str,
    sentence: impl Fn(&str, usize, usize) -> String,
    checker: &mut CheckerResult,
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut unknown = Vec::new();
    for key in &report.keys {
        match &key.verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown { reason } => unknown.push(format!("{what} {}: {reason}", key.key)),
            Verdict::NotLinearizable(ce) => {
                let (cited, shown) = cite(&ce.required, indices);
                anomalies.push(Anomaly {
                    kind: AnomalyKind::NotLinearizable,
                    checker: name.to_string(),
                    severity: Severity::Violation,
                    message: format!(
                        "{what} {}: {}",
                        key.key,
                        sentence(&shown, key.ops.len(), ce.longest_linearizable_prefix)
                    ),
                    ops: cited,
                    linearizable_through: ce.linearizable_through.and_then(|i| indices[i].1),
                });
            }
        }
    }
    if !anomalies.is_empty() {
        checker.valid = Validity::Invalid;
        checker
            .anomalies
            .insert(AnomalyKind::NotLinearizable, anomalies.len() as u64);
    } else if !unknown.is_empty() {
        checker.valid = Validity::Unknown;
        checker.note = Some(unknown.join("; "));
    }
    anomalies
}

/// The checker's verdict on `ops`, and a `not-linearizable` violation per election that
/// cannot be linearized.
pub fn lock_model(
    ops: &[LockOp],
    elections: &Interner,
    guarantees: &Guarantees,
    options: &CheckOptions,
) -> (CheckerResult, Vec<Anomaly>) {
    let result = |valid, note: String| CheckerResult {
        valid,
        note: Some(note),
        anomalies: Default::default(),
        figures: None,
    };
    let converted = match shapes::mutex_of(ops, elections, guarantees.fence_on_grant) {
        Ok(c) => c,
        Err(why) => {
            return (
                result(
                    Validity::Unknown,
                    format!("the lock ops cannot be read: {why}"),
                ),
                Vec::new(),
            )
        }
    };
    if converted.ops.is_empty() {
        return (
            result(
                Validity::Valid,
                "no lock op completed ok: nothing to hold to the mutex model".into(),
            ),
            Vec::new(),
        );
    }
    let report = check(&LeaseMutex, &converted.ops, options);
    let mut checker = CheckerResult {
        valid: Validity::Valid,
        note: None,
        anomalies: Default::default(),
        figures: None,
    };
    let sentence = |shown: &str, ops: usize, prefix: usize| {
        format!(
            "no single lock, even one whose grants lapse at any instant, could have answered these lock ops as they were answered (ops {shown}); the longest prefix of the election's {ops} lock ops that a lock could give holds {prefix}"
        )
    };
    let anomalies = key_findings(
        CHECKER,
        &report,
        &converted.indices,
        "election",
        sentence,
        &mut checker,
    );
    (checker, anomalies)
}

/// The history indices (invocations and completions) of the ops a refutation needs, and
/// the first few of them as a message names them.
pub(crate) fn cite(required: &[usize], indices: &[(u64, Option<u64>)]) -> (Vec<u64>, String) {
    let mut cited: Vec<u64> = required
        .iter()
        .flat_map(|&i| {
            let (invoke, done) = indices[i];
            std::iter::once(invoke).chain(done)
        })
        .collect();
    cited.sort_unstable();
    cited.dedup();
    /// Ops a message names; the anomaly's `ops` holds them all.
    const SHOWN_MAX: usize = 12;
    let mut shown: Vec<String> = cited.iter().take(SHOWN_MAX).map(u64::to_string).collect();
    if cited.len() > SHOWN_MAX {
        shown.push(format!("… {} ops in all", cited.len()));
    }
    (cited, shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history read as a results directory's would be: its facts, with the lock ops.
    fn lock_ops_of(lines: &[&str]) -> crate::History {
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{{\"index\":{i},\"time\":{},{l}}}\n", i * 10))
            .collect();
        crate::History::read(text.as_bytes()).unwrap()
    }

    const STRICT: Guarantees = Guarantees {
        exclusive_leadership: true,
        fence_on_grant: true,
        leaderless: false,
    };

    #[test]
    fn a_grant_that_holds_after_a_newer_one_is_a_violation_citing_its_ops() {
        let ops = lock_ops_of(&[
            r#""process":1000000,"type":"invoke","f":"status","node":"n1""#,
            r#""process":1000000,"type":"ok","f":"status","node":"n1","value":{"role":"leader","term":1}"#,
            r#""process":0,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
            r#""process":0,"type":"ok","f":"acquire","value":{"token":3}"#,
            r#""process":1,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
            r#""process":1,"type":"ok","f":"acquire","value":{"token":5}"#,
            r#""process":0,"type":"invoke","f":"write","value":{"id":"w0.1","token":3,"election":"e1"}"#,
            r#""process":0,"type":"ok","f":"write","value":{"id":"w0.1","token":3}"#,
        ]);
        assert_eq!(ops.lock_ops.len(), 3, "status ops are left behind");
        let (checker, anomalies) = lock_model(
            &ops.lock_ops,
            &ops.elections,
            &STRICT,
            &CheckOptions::default(),
        );
        assert_eq!(checker.valid, Validity::Invalid);
        assert_eq!(anomalies.len(), 1);
        let a = &anomalies[0];
        assert_eq!(a.kind, AnomalyKind::NotLinearizable);
        assert_eq!(a.severity, Severity::Violation);
        assert_eq!(
            a.ops,
            vec![4, 5, 6, 7],
            "the newer grant and the write under the older"
        );
        assert!(a.message.contains("election e1"), "{}", a.message);
        // Both grants can be linearized; the write under the older one cannot.
        assert_eq!(a.linearizable_through, Some(5));
        // Without fence-on-grant the write says nothing of its grant: a lapse explains it.
        let loose = Guarantees {
            fence_on_grant: false,
            leaderless: false,
            ..STRICT
        };
        assert_eq!(
            lock_model(
                &ops.lock_ops,
                &ops.elections,
                &loose,
                &CheckOptions::default()
            )
            .0
            .valid,
            Validity::Valid
        );
    }

    /// The lock ops the facts keep as they read a history are the ones a pass over its
    /// ops finds: the same model operations, cited by the same indices.
    #[test]
    fn the_facts_keep_the_lock_ops_a_pass_over_the_ops_finds() {
        for seed in 1..=5 {
            let mut ops =
                crate::synth::generate_ops(&crate::synth::SynthConfig::realistic(seed, 20_000));
            // The synthetic holdings and releases name no election; the workload's do.
            for op in &mut ops {
                if let (crate::F::Holding | crate::F::Release, Some(v)) = (op.f, op.value.as_mut())
                {
                    v.election.get_or_insert_with(|| "e1".to_string());
                }
            }
            let facts = crate::History::from_ops(&ops).unwrap();
            assert!(facts.lock_ops.len() > 50, "{}", facts.lock_ops.len());
            for fenced in [false, true] {
                let from_ops = shapes::mutex(&ops, fenced).unwrap();
                let from_facts =
                    shapes::mutex_of(&facts.lock_ops, &facts.elections, fenced).unwrap();
                assert_eq!(from_ops.ops, from_facts.ops, "seed {seed}");
                assert_eq!(from_ops.indices, from_facts.indices, "seed {seed}");
            }
            let from_ops = shapes::fenced_register(&ops).unwrap();
            let from_facts = shapes::fenced_register_of(&facts.lock_ops, &facts.elections).unwrap();
            assert_eq!(from_ops.ops, from_facts.ops, "seed {seed}");
        }
    }

    #[test]
    fn a_history_without_lock_ops_is_valid_and_says_so() {
        let ops = lock_ops_of(&[
            r#""process":0,"type":"invoke","f":"write","value":{"id":"w0.1","token":null}"#,
            r#""process":0,"type":"ok","f":"write","value":{"id":"w0.1","token":null}"#,
        ]);
        let mut result = CheckResult {
            valid: Validity::Valid,
            checkers: Default::default(),
            anomalies: Vec::new(),
            guarantees: STRICT,
            counts: Default::default(),
            exercised: None,
            reason: None,
            harness_error: None,
            left_behind: None,
        };
        add_lock_model(
            &ops.lock_ops,
            &ops.elections,
            &STRICT,
            &CheckOptions::default(),
            &mut result,
        );
        assert_eq!(result.valid, Validity::Valid);
        let c = &result.checkers[CHECKER];
        assert!(c.note.as_deref().unwrap().contains("no lock op"), "{c:?}");
    }
}
