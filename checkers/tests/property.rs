//! Property tests: histories of a correct reference model (`checkers::synth`) are
//! valid under every guarantee; one planted anomaly of any kind is found as that kind.

use checkers::synth::{generate_ops, generate_to, SynthConfig};
use checkers::{check, AnomalyKind, History, Op, OpType, Process, Role, Validity, Value, F};
use proptest::prelude::*;

use crate::support::STRICT;

fn history(seed: u64, ops: u64) -> Vec<Op> {
    generate_ops(&SynthConfig::small(seed, ops))
}

fn verdict(ops: &[Op]) -> checkers::CheckResult {
    check(&History::from_ops(ops).unwrap(), &STRICT)
}

/// The final reads: the model ends with one invoke/ok read pair per node.
fn final_reads(ops: &[Op]) -> std::ops::Range<usize> {
    let n = ops.len();
    assert!(ops[n - 1].f == F::Read && ops[n - 10].f == F::Read);
    n - 10..n
}

fn nth_index(ops: &[Op], pick: u64, pred: impl Fn(&Op) -> bool) -> Option<usize> {
    let found: Vec<usize> = (0..ops.len()).filter(|&i| pred(&ops[i])).collect();
    (!found.is_empty()).then(|| found[pick as usize % found.len()])
}

/// The index of the invoke that `ops[c]` completes.
fn invoke_of(ops: &[Op], c: usize) -> usize {
    (0..c)
        .rev()
        .find(|&i| ops[i].process == ops[c].process)
        .expect("a completion has an invoke")
}

fn is_ok(op: &Op, f: F) -> bool {
    op.kind == OpType::Ok && op.f == f
}

fn write_token(op: &Op) -> Option<u64> {
    op.value.as_ref().and_then(Value::token)
}

fn write_id(op: &Op) -> String {
    op.value
        .as_ref()
        .and_then(|v| v.id.clone())
        .expect("writes carry ids")
}

/// One whole op to append: process offset, f, node, completion value, invoke value.
type Step<'a> = (u64, F, Option<&'a str>, Value, Option<Value>);

/// Appends whole ops (invoke and completion) by fresh processes after the history.
fn append(ops: &mut Vec<Op>, steps: &[Step<'_>]) {
    for (p, f, node, done, inv) in steps {
        for (kind, value) in [
            (OpType::Invoke, inv.clone()),
            (OpType::Ok, Some(done.clone())),
        ] {
            let last = ops.last().expect("a history");
            ops.push(Op {
                index: last.index + 1,
                time: last.time + 1,
                process: Process::Client(1_000_000 + p),
                kind,
                f: *f,
                node: node.map(str::to_string),
                value,
                error: None,
            });
        }
    }
}

fn leader(term: u64) -> Value {
    Value {
        role: Some(Role::Leader),
        term: Some(term),
        ..Value::default()
    }
}

fn token(t: u64) -> Value {
    Value {
        token: Some(Some(t)),
        ..Value::default()
    }
}

/// Plants one anomaly; `None` if this history lacks the ops it needs.
fn plant(ops: &mut Vec<Op>, kind: AnomalyKind, pick: u64) -> Option<()> {
    use AnomalyKind::*;
    let reads = final_reads(ops);
    match kind {
        SameTermLeaders => {
            let a = nth_index(ops, pick, |o| {
                is_ok(o, F::Status)
                    && o.value
                        .as_ref()
                        .is_some_and(|v| v.role == Some(Role::Leader))
            })?;
            let (node, term) = (ops[a].node.clone(), ops[a].value.as_ref()?.term?);
            let b = nth_index(ops, pick / 7, |o| is_ok(o, F::Status) && o.node != node)?;
            ops[b].value = Some(leader(term));
        }
        VoteChanged => {
            // A voter whose vote is gone after a restart, in the same term.
            let vote = |v: Option<&str>| Value {
                role: Some(Role::Follower),
                term: Some(1000 + pick % 5),
                vote: Some(v.map(str::to_string)),
                ..Value::default()
            };
            let forgot = pick.is_multiple_of(2);
            let second = if forgot { None } else { Some("n3") };
            append(
                ops,
                &[
                    (0, F::Status, Some("n2"), vote(Some("n1")), None),
                    (0, F::Status, Some("n2"), vote(second), None),
                ],
            );
        }
        IncompleteLeader => {
            // A node that fell behind wins a later term, its log short of a commit.
            let term = 1000 + pick % 5;
            let follower = Value {
                role: Some(Role::Follower),
                term: Some(term),
                commit: Some(500 + pick % 100),
                last_index: Some(600),
                ..Value::default()
            };
            let short = Value {
                last_index: Some(499),
                commit: Some(300),
                ..leader(term + 1 + pick % 3)
            };
            append(
                ops,
                &[
                    (0, F::Status, Some("n2"), follower, None),
                    (1, F::Status, Some("n3"), short, None),
                ],
            );
        }
        DivergedCommit => {
            // Two nodes committed different terms at one index.
            let at = 5000 + pick % 100;
            let with = |first_term: u64| Value {
                role: Some(Role::Follower),
                term: Some(2000),
                commit: Some(at),
                terms: Some(vec![[first_term, at]]),
                ..Value::default()
            };
            append(
                ops,
                &[
                    (0, F::Status, Some("n2"), with(1500), None),
                    (1, F::Status, Some("n3"), with(1501), None),
                ],
            );
        }
        DualLeadership => {
            let s = |p, n, t| (p, F::Status, Some(n), leader(t), None);
            append(
                ops,
                &[
                    s(0, "n1", 1000),
                    s(1, "n2", 1001),
                    s(0, "n1", 1000),
                    s(1, "n2", 1001),
                ],
            );
        }
        DualHolders => {
            let holding = Value {
                holding: Some(true),
                ..Value::default()
            };
            append(
                ops,
                &[
                    (0, F::Acquire, None, token(1_000_000), None),
                    (1, F::Acquire, None, token(1_000_001), None),
                    (0, F::Holding, None, holding.clone(), Some(token(1_000_000))),
                    (1, F::Holding, None, holding, Some(token(1_000_001))),
                ],
            );
        }
        DuplicateToken => {
            let a = nth_index(ops, 0, |o| is_ok(o, F::Acquire))?;
            let b = nth_index(ops, pick, |o| {
                is_ok(o, F::Acquire) && o.index > ops[a].index
            })?;
            ops[b].value = ops[a].value.clone();
        }
        StaleTokenAccepted | StaleGrantWrite => {
            // An ok fenced write invoked after the first ok fenced write completed and
            // after the first grant: with token 0, every earlier token is newer.
            let first = nth_index(ops, 0, |o| is_ok(o, F::Write) && write_token(o).is_some())?;
            let w = nth_index(ops, pick, |o| {
                is_ok(o, F::Write) && write_token(o).is_some() && o.index > ops[first].index
            })?;
            let inv = invoke_of(ops, w);
            if inv < first {
                return None;
            }
            for i in [inv, w] {
                ops[i].value.as_mut()?.token = Some(Some(0));
            }
        }
        LostWrite => {
            let w = nth_index(ops, pick, |o| {
                is_ok(o, F::Write) && (o.index as usize) < reads.start
            })?;
            let id = write_id(&ops[w]);
            for r in reads {
                let v = ops[r].value.as_mut();
                if let Some(v) = v {
                    if let Some(ids) = v.ids.as_mut() {
                        ids.retain(|x| *x != id);
                    }
                    if let Some(log) = v.log.as_mut() {
                        log.retain(|e| e.id != id);
                    }
                }
            }
        }
        FailedWriteApplied => {
            let w = nth_index(ops, pick, |o| is_ok(o, F::Write))?;
            ops[w].kind = OpType::Fail;
            ops[w].error = Some("planted".into());
        }
        PhantomWrite => {
            // The second node's final read is an `ids` read.
            let v = ops[reads.start + 3].value.as_mut()?;
            v.ids.as_mut()?.push("ghost".into());
        }
        LogDivergence => {
            let log = ops[reads.start + 1].value.as_mut()?.log.as_mut()?;
            if log.len() < 2 {
                return None;
            }
            let i = pick as usize % (log.len() - 1);
            log.swap(i, i + 1);
        }
        // Needs seconds of healed time between observations; tests/leaders.rs plants it.
        LeaderlessWindow | StaleLeader => return None,
        // Needs ten seconds of calls after the heal; tests/availability.rs plants it.
        NoRecovery => return None,
        // Checked beside the rules, from the raw lock ops (checkers::linear::lock).
        NotLinearizable => return None,
    }
    Some(())
}

const PLANTABLE: [AnomalyKind; 13] = [
    AnomalyKind::SameTermLeaders,
    AnomalyKind::VoteChanged,
    AnomalyKind::IncompleteLeader,
    AnomalyKind::DivergedCommit,
    AnomalyKind::DualLeadership,
    AnomalyKind::DualHolders,
    AnomalyKind::DuplicateToken,
    AnomalyKind::StaleTokenAccepted,
    AnomalyKind::StaleGrantWrite,
    AnomalyKind::LostWrite,
    AnomalyKind::FailedWriteApplied,
    AnomalyKind::PhantomWrite,
    AnomalyKind::LogDivergence,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn reference_model_histories_are_valid(seed in any::<u64>(), n in 100u64..1500) {
        let ops = history(seed, n);
        let r = verdict(&ops);
        prop_assert_eq!(r.valid, Validity::Valid, "seed {}: {:#?}", seed, r.anomalies);
        prop_assert!(ops.iter().any(|o| o.process == Process::Nemesis) || n < 400);
    }

    #[test]
    fn a_planted_anomaly_is_found(seed in any::<u64>(), n in 300u64..1500, which in 0..PLANTABLE.len(), pick in any::<u64>()) {
        let mut ops = history(seed, n);
        let kind = PLANTABLE[which];
        prop_assume!(plant(&mut ops, kind, pick).is_some());
        let r = verdict(&ops);
        prop_assert!(r.count(kind) >= 1, "seed {} pick {}: {} not found: {:#?}", seed, pick, kind, r.anomalies);
        prop_assert_eq!(r.valid, Validity::Invalid);
    }
}

#[test]
fn jsonl_and_in_memory_histories_check_alike() {
    let cfg = SynthConfig::small(7, 3000);
    let mut bytes = Vec::new();
    let n = generate_to(&cfg, &mut bytes).unwrap();
    let from_file = check(&History::read(bytes.as_slice()).unwrap(), &STRICT);
    let ops = generate_ops(&cfg);
    assert_eq!(ops.len() as u64, n);
    assert_eq!(from_file, verdict(&ops));
    assert_eq!(from_file.valid, Validity::Valid);
    // Same seed, same bytes.
    let mut again = Vec::new();
    generate_to(&cfg, &mut again).unwrap();
    assert_eq!(bytes, again);
}

#[test]
fn the_model_exercises_every_op() {
    let ops = history(3, 5000);
    for f in [
        F::Status,
        F::Acquire,
        F::Holding,
        F::Release,
        F::Write,
        F::Read,
    ] {
        assert!(ops.iter().any(|o| is_ok(o, f)), "no ok {f:?}");
    }
    assert!(ops.iter().any(|o| o.kind == OpType::Info));
    assert!(ops
        .iter()
        .any(|o| o.f == F::Write && o.kind == OpType::Fail));
    assert!(ops.iter().filter(|o| o.process == Process::Nemesis).count() > 10);
}
