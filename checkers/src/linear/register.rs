//! The `register-model` checker: every register op of a history (`read`, `write` and
//! `cas` naming a `key`, the `register` workload's) against the compare-and-set register,
//! key by key, in every run that has them and every `check` of its results directory.
//! Any answer no single register could have given is a violation; the anomaly cites the
//! invocations and completions the refutation needs and where the longest linearizable
//! prefix of the key ends.

use super::history as shapes;
use super::lock::{add_checker, key_findings};
use super::{check, CasRegister, CheckOptions};
use crate::history::{Op, F};
use crate::result::{Anomaly, CheckResult, CheckerResult, Validity};

/// The checker's name in `results.json`.
pub const CHECKER: &str = "register-model";

/// Whether `op` is a register op: a `cas`, or a `read` or `write` naming a key (the
/// election workload's writes and final reads name none).
pub fn is_register_op(op: &Op) -> bool {
    op.f == F::Cas
        || (matches!(op.f, F::Read | F::Write)
            && op.value.as_ref().is_some_and(|v| v.key.is_some()))
}

/// Checks the register ops among `ops` and adds the checker, its anomalies and its
/// verdict to `result`; a history without register ops gets no such checker.
pub fn add_register_model(ops: &[Op], options: &CheckOptions, result: &mut CheckResult) {
    let ops: Vec<Op> = ops
        .iter()
        .filter(|op| is_register_op(op))
        .cloned()
        .collect();
    if ops.is_empty() {
        return;
    }
    let (checker, anomalies) = register_model(&ops, options);
    add_checker(result, CHECKER, checker, anomalies);
}

/// The checker's verdict on `ops` (register ops only), and a `not-linearizable` violation
/// per key that cannot be linearized.
pub fn register_model(ops: &[Op], options: &CheckOptions) -> (CheckerResult, Vec<Anomaly>) {
    let mut checker = CheckerResult {
        valid: Validity::Valid,
        note: None,
        anomalies: Default::default(),
        figures: None,
    };
    let converted = match shapes::cas_register(ops) {
        Ok(c) => c,
        Err(why) => {
            checker.valid = Validity::Unknown;
            checker.note = Some(format!("the register ops cannot be read: {why}"));
            return (checker, Vec::new());
        }
    };
    let completed = converted.ops.iter().filter(|o| !o.is_info()).count();
    if completed == 0 {
        checker.valid = Validity::Unknown;
        checker.note = Some("no register op completed ok: nothing to hold to the model".into());
        return (checker, Vec::new());
    }
    let report = check(&CasRegister, &converted.ops, options);
    checker.figures = Some(serde_json::json!({
        "keys": report.keys.len(),
        "ops": converted.ops.len(),
        "ops_info": converted.ops.len() - completed,
    }));
    let sentence = |shown: &str, ops: usize, prefix: usize| {
        format!(
            "no single register could have answered these ops as they were answered (ops {shown}); the longest prefix of the key's {ops} ops that a register could give holds {prefix}"
        )
    };
    let anomalies = key_findings(
        CHECKER,
        &report,
        &converted.indices,
        "key",
        sentence,
        &mut checker,
    );
    (checker, anomalies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::AnomalyKind;

    fn ops_of(lines: &[&str]) -> Vec<Op> {
        super::super::register_ops(text_of(lines).as_bytes()).unwrap()
    }

    fn text_of(lines: &[&str]) -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{{\"index\":{i},\"time\":{},{l}}}\n", i * 10))
            .collect()
    }

    fn empty() -> CheckResult {
        CheckResult {
            valid: Validity::Valid,
            checkers: Default::default(),
            anomalies: Vec::new(),
            guarantees: Default::default(),
            counts: Default::default(),
            exercised: None,
            reason: None,
            harness_error: None,
            left_behind: None,
        }
    }

    #[test]
    fn a_lost_register_write_beside_election_writes_is_a_violation_citing_its_ops() {
        let lines = [
            r#""process":0,"type":"invoke","f":"write","value":{"id":"w0.1","token":null}"#,
            r#""process":0,"type":"ok","f":"write","value":{"id":"w0.1","token":null}"#,
            r#""process":1,"type":"invoke","f":"write","value":{"key":"r0","value":3}"#,
            r#""process":1,"type":"ok","f":"write","value":{"key":"r0","value":3}"#,
            r#""process":2,"type":"invoke","f":"cas","value":{"key":"r0","from":3,"to":4}"#,
            r#""process":2,"type":"fail","f":"cas","value":{"key":"r0","from":3,"to":4},"error":"cas-mismatch""#,
            r#""process":2,"type":"invoke","f":"read","value":{"key":"r0"}"#,
            r#""process":2,"type":"ok","f":"read","value":{"key":"r0","value":null}"#,
            r#""process":3,"type":"invoke","f":"read""#,
        ];
        let ops = ops_of(&lines);
        let mut result = empty();
        add_register_model(&ops, &CheckOptions::default(), &mut result);
        assert_eq!(result.valid, Validity::Invalid);
        let a = &result.anomalies[0];
        assert_eq!(a.kind, AnomalyKind::NotLinearizable);
        assert_eq!(
            a.ops,
            vec![2, 3, 6, 7],
            "the write and the read that missed it"
        );
        assert!(a.message.contains("key r0"), "{}", a.message);
        assert_eq!(a.linearizable_through, Some(3));
        // The rules read the same history: register ops are no election writes or reads.
        let facts = crate::History::read(text_of(&lines).as_bytes()).unwrap();
        assert_eq!(facts.writes.len(), 1, "the election's write only");
        assert_eq!(facts.register().ok, 2);
        assert_eq!(facts.register().fail, 1);
        assert!(
            ops.iter().all(|op| op.f != F::Read || op.value.is_some()),
            "a read naming no key is the election's final read, left behind"
        );
        assert_eq!(
            crate::checks::exercised::exercised(&facts).register_ops_ok,
            2
        );
    }

    #[test]
    fn a_history_without_register_ops_gets_no_checker_and_one_with_only_info_is_unknown() {
        let mut result = empty();
        let election = ops_of(&[
            r#""process":0,"type":"invoke","f":"write","value":{"id":"w0.1","token":null}"#,
            r#""process":0,"type":"ok","f":"write","value":{"id":"w0.1","token":null}"#,
        ]);
        add_register_model(&election, &CheckOptions::default(), &mut result);
        assert!(!result.checkers.contains_key(CHECKER));
        let unanswered = ops_of(&[
            r#""process":1,"type":"invoke","f":"write","value":{"key":"r0","value":3}"#,
            r#""process":1,"type":"info","f":"write","value":{"key":"r0","value":3},"error":"timeout""#,
        ]);
        add_register_model(&unanswered, &CheckOptions::default(), &mut result);
        assert_eq!(result.valid, Validity::Unknown);
        assert!(result.checkers[CHECKER]
            .note
            .as_deref()
            .unwrap()
            .contains("no register op"));
    }

    #[test]
    fn a_clean_register_history_is_valid_with_its_figures() {
        let ops = ops_of(&[
            r#""process":1,"type":"invoke","f":"write","value":{"key":"r0","value":1}"#,
            r#""process":1,"type":"ok","f":"write","value":{"key":"r0","value":1}"#,
            r#""process":2,"type":"invoke","f":"cas","value":{"key":"r0","from":1,"to":2}"#,
            r#""process":2,"type":"ok","f":"cas","value":{"key":"r0","from":1,"to":2}"#,
            r#""process":2,"type":"invoke","f":"read","value":{"key":"r0"}"#,
            r#""process":2,"type":"ok","f":"read","value":{"key":"r0","value":2}"#,
        ]);
        let (checker, anomalies) = register_model(&ops, &CheckOptions::default());
        assert_eq!(checker.valid, Validity::Valid);
        assert!(anomalies.is_empty());
        assert_eq!(checker.figures.unwrap()["ops"], 3);
    }
}
