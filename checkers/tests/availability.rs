//! availability: figures and leaderless windows, and one violation, `no-recovery`.

use checkers::{AnomalyKind, OpType, Role, Severity, Validity, F};

use crate::support::*;

#[test]
fn failover_and_counts_are_measured() {
    let mut h = H::new();
    h.status(0, "n1", Role::Leader, 1);
    h.write(1, "w1", None, OpType::Ok);
    h.nemesis(F::Kill); // fault starts at op 4 (1 ms steps)
    h.status(0, "n2", Role::Follower, 1);
    let no_leader = Some(checkers::Value {
        leader: Some(None),
        ..status(Role::Follower, 1)
    });
    h.inv(0, F::Status, None);
    h.ok(0, F::Status, no_leader);
    h.write(1, "w2", None, OpType::Fail);
    h.status(0, "n2", Role::Leader, 2);
    h.write(1, "w3", None, OpType::Ok);
    h.nemesis(F::Start);
    h.read_ids(2, None, &["w1", "w3"]);
    let r = h.check(LAX);
    assert_eq!(r.valid, Validity::Valid, "{:#?}", r.anomalies);
    let fig = r.checkers["availability"].figures.as_ref().unwrap();
    assert_eq!(fig["faults"], 1);
    assert_eq!(fig["ops"]["write"]["ok"], 2);
    assert_eq!(fig["ops"]["write"]["fail"], 1);
    // Op i happens at i + 1 ms: the fault is invoked at op 4 (5 ms), the next leader is
    // seen at op 13 (14 ms) and the first ok write invoked after it completes at op 15.
    assert_eq!(fig["failover_to_ok_write_ms"]["max"], 11.0);
    assert_eq!(fig["failover_to_leader_ms"]["max"], 9.0);
    assert_eq!(fig["leadership"]["terms"], 2);
    assert_eq!(fig["leadership"]["elections"], 2);
    assert_eq!(fig["leaderless_windows"]["count"], 1);
    // Two observations without a leader (n2's follower status counts: it names none).
    let listed = found(&r, AnomalyKind::LeaderlessWindow);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].severity, Severity::Observation);
}

/// A system that elects no leader (Redlock's instances) has no leaderless windows and no
/// failover to a leader to report: every window would be the whole run.
#[test]
fn a_leaderless_system_gets_no_leadership_figures() {
    let mut h = H::new();
    h.status(0, "n1", Role::Other("primary".into()), 0);
    h.write(1, "w1", None, OpType::Ok);
    h.nemesis(F::Kill);
    h.status(0, "n2", Role::Other("primary".into()), 0);
    h.write(1, "w2", None, OpType::Ok);
    h.nemesis(F::Start);
    h.read_ids(2, None, &["w1", "w2"]);
    let leaderless = checkers::Guarantees {
        leaderless: true,
        ..LAX
    };
    let r = h.check(leaderless);
    assert_eq!(r.valid, Validity::Valid, "{:#?}", r.anomalies);
    let fig = r.checkers["availability"].figures.as_ref().unwrap();
    for gone in ["leadership", "leaderless_windows", "failover_to_leader_ms"] {
        assert!(fig.get(gone).is_none(), "{gone} in {fig}");
    }
    assert_eq!(fig["faults"], 1);
    assert!(fig["failover_to_ok_write_ms"]["max"].as_f64().unwrap() > 0.0);
    assert!(found(&r, AnomalyKind::LeaderlessWindow).is_empty());
    // The same history from a system with leaders: one window, the whole run.
    let r = h.check(LAX);
    let fig = r.checkers["availability"].figures.as_ref().unwrap();
    assert_eq!(fig["leaderless_windows"]["count"], 1);
}

#[test]
fn a_never_completed_invoke_counts_as_info() {
    let mut h = H::new();
    h.inv(0, F::Write, Some(write("w1", None)));
    h.read_ids(1, None, &[]);
    let r = h.check(STRICT);
    let fig = r.checkers["availability"].figures.as_ref().unwrap();
    assert_eq!(fig["ops"]["write"]["info"], 1);
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn failover_counts_from_the_fault_to_the_first_completion_invoked_after_it() {
    use checkers::checks::availability::{failover_ns, percentile};
    // Faults invoked at index 10 (time 100) and 50 (time 500); events as (invocation
    // index, completion time).
    let faults = [(10, 100), (50, 500)];
    let events = vec![(9, 105), (11, 180), (12, 140), (49, 900)];
    // The event at index 9 completes first but was invoked before the fault.
    assert_eq!(failover_ns(&faults, events), [Some(40), None]);
    assert_eq!(percentile(&[], 50), None);
    let sorted: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&sorted, 50), Some(50));
    assert_eq!(percentile(&sorted, 99), Some(99));
    assert_eq!(percentile(&[7], 99), Some(7));
}

/// A cluster that served, was cut and healed, then for `tried_ms` failed every call
/// (writes timing out, a status still answered by a node alone); `ok_after` calls ok at
/// the end if set, and the heal ended `heal` (ok: the faults ended).
fn served_then_stuck(tried_ms: u64, ok_after: bool, heal: OpType) -> checkers::CheckResult {
    let mut h = H::new();
    h.status(0, "n1", Role::Leader, 1);
    h.write(1, "w1", None, OpType::Ok);
    h.nemesis(F::Partition);
    h.write(1, "w2", None, OpType::Info);
    h.nemesis_as(F::Heal, None, heal);
    for i in 0..5 {
        h.inv(2 + i, F::Write, Some(write(&format!("x{i}"), None)));
        h.advance(tried_ms / 5);
        h.done(
            2 + i,
            OpType::Info,
            F::Write,
            Some(write(&format!("x{i}"), None)),
        );
        h.status(0, "n2", Role::Leader, 2);
    }
    h.inv(9, F::Read, None);
    h.done(9, OpType::Fail, F::Read, None);
    if ok_after {
        h.write(1, "w3", None, OpType::Ok);
    }
    h.check(LAX)
}

#[test]
fn a_cluster_that_serves_nothing_long_after_the_heal_has_not_recovered() {
    let r = served_then_stuck(11_000, false, OpType::Ok);
    assert_eq!(r.valid, Validity::Invalid, "{:#?}", r.anomalies);
    let a = assert_one(&r, AnomalyKind::NoRecovery, Severity::Violation);
    assert_eq!(a.checker, "availability");
    assert!(
        a.message.contains("1 calls failed and 5 timed out"),
        "{}",
        a.message
    );
    assert!(a.message.contains("it had served 1 calls"), "{}", a.message);
    // The heal, the first call after it and the last.
    assert_eq!(a.ops.len(), 3, "{a:?}");
}

#[test]
fn recovery_is_not_judged_too_soon_after_an_ok_call_or_while_a_fault_may_hold() {
    assert_none(
        &served_then_stuck(9_000, false, OpType::Ok),
        AnomalyKind::NoRecovery,
    );
    assert_none(
        &served_then_stuck(11_000, true, OpType::Ok),
        AnomalyKind::NoRecovery,
    );
    // A heal that ended info may not have happened: calls may still face the cut.
    assert_none(
        &served_then_stuck(11_000, false, OpType::Info),
        AnomalyKind::NoRecovery,
    );
}

#[test]
fn a_system_that_never_served_has_not_failed_to_recover() {
    let mut h = H::new();
    h.nemesis(F::Partition);
    h.nemesis(F::Heal);
    h.inv(1, F::Write, Some(write("x", None)));
    h.advance(12_000);
    h.done(1, OpType::Info, F::Write, Some(write("x", None)));
    let r = h.check(LAX);
    assert_none(&r, AnomalyKind::NoRecovery);
    assert_eq!(r.valid, Validity::Unknown, "{:#?}", r.anomalies);
}

/// Served for a moment after the heal, then nothing to the end: what a cluster does
/// whose leader, elected just after the heal, can commit nothing.
#[test]
fn a_cluster_that_stops_serving_soon_after_the_heal_has_not_recovered() {
    let stuck = |calls: u64, ms: u64| {
        let mut h = H::new();
        h.write(1, "w1", None, OpType::Ok);
        h.nemesis(F::Kill);
        h.nemesis(F::Start);
        let (_, served) = h.write(1, "w2", None, OpType::Ok);
        for i in 0..calls {
            h.advance(ms / calls);
            h.write(2 + i, &format!("x{i}"), None, OpType::Info);
        }
        (h.check(LAX), served)
    };
    let (r, served) = stuck(4, 12_000);
    let a = assert_one(&r, AnomalyKind::NoRecovery, Severity::Violation);
    assert!(
        a.message
            .contains(&format!("after its last call served (op {served})")),
        "{}",
        a.message
    );
    assert!(
        a.message.contains("0 calls failed and 4 timed out"),
        "{}",
        a.message
    );
    assert!(a.ops.contains(&served), "{a:?}");
    // Two calls are too few to say, however long they took.
    assert_none(&stuck(2, 12_000).0, AnomalyKind::NoRecovery);
}
