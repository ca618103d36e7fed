//! lost-writes: lost-write, failed-write-applied, phantom-write, log-divergence, unknown.

use checkers::{AnomalyKind::*, OpType, Severity, Validity, F};

use crate::support::*;

#[test]
fn an_acknowledged_write_missing_from_the_final_read_is_lost() {
    let mut h = H::new();
    let (i, o) = h.write(0, "w1", None, OpType::Ok);
    h.write(0, "w2", None, OpType::Ok);
    let (_, read) = h.read_ids(1, Some("n2"), &["w2"]);
    let r = h.check(LAX);
    let a = assert_one(&r, LostWrite, Severity::Violation);
    assert_eq!(a.ops, vec![i, o, read]);
    assert!(
        a.message.contains("w1") && a.message.contains("n2"),
        "{}",
        a.message
    );
}

#[test]
fn an_info_write_missing_from_the_final_read_is_fine() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Info);
    h.write(1, "w2", None, OpType::Ok);
    h.read_ids(2, None, &["w2"]);
    let r = h.check(STRICT);
    assert_eq!(r.valid, Validity::Valid, "{:#?}", r.anomalies);
}

#[test]
fn a_read_taken_during_a_fault_is_not_final() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.nemesis(F::Partition);
    h.read_ids(1, Some("n5"), &[]); // a minority node's stale view, during the fault
    h.nemesis(F::Heal);
    h.read_ids(1, Some("n1"), &["w1"]);
    let r = h.check(STRICT);
    assert_none(&r, LostWrite);
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn a_write_completing_after_the_read_began_may_be_missing() {
    let mut h = H::new();
    h.inv(0, F::Write, Some(write("w1", None)));
    h.inv(1, F::Read, None);
    h.ok(0, F::Write, Some(write("w1", None)));
    h.ok(
        1,
        F::Read,
        Some(checkers::Value {
            ids: Some(vec![]),
            ..Default::default()
        }),
    );
    assert_none(&h.check(STRICT), LostWrite);
}

#[test]
fn no_final_read_means_unknown() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.read_ids(1, None, &["w1"]);
    h.nemesis(F::Kill);
    let r = h.check(LAX);
    assert_eq!(r.checkers["lost-writes"].valid, Validity::Unknown);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.checkers["lost-writes"]
        .note
        .as_ref()
        .unwrap()
        .contains("final read"));
}

#[test]
fn a_failed_write_present_is_found() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Fail);
    h.read_ids(1, None, &["w1"]);
    let a = assert_one(&h.check(LAX), FailedWriteApplied, Severity::Violation);
    assert!(a.message.contains("w1"), "{}", a.message);
}

#[test]
fn a_failed_write_absent_is_fine() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Fail);
    h.read_ids(1, None, &[]);
    assert_eq!(h.check(STRICT).valid, Validity::Valid);
}

#[test]
fn an_id_no_write_carried_is_a_phantom() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.read_ids(1, None, &["w1", "zz9"]);
    let a = assert_one(&h.check(LAX), PhantomWrite, Severity::Violation);
    assert!(a.message.contains("zz9"), "{}", a.message);
}

#[test]
fn an_info_write_present_is_not_a_phantom() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Info);
    h.read_ids(1, None, &["w1"]);
    assert_eq!(h.check(STRICT).valid, Validity::Valid);
}

#[test]
fn logs_disagreeing_on_their_common_prefix_diverge() {
    let mut h = H::new();
    for (p, id) in [(0, "a"), (1, "b"), (2, "c")] {
        h.write(p, id, Some(1), OpType::Info);
    }
    h.read_log(3, Some("n1"), &[("a", Some(1)), ("b", Some(1))]);
    h.read_log(
        3,
        Some("n2"),
        &[("a", Some(1)), ("c", Some(1)), ("b", Some(1))],
    );
    let a = assert_one(&h.check(LAX), LogDivergence, Severity::Violation);
    assert!(
        a.message.contains("n1") && a.message.contains("n2") && a.message.contains("position 1"),
        "{}",
        a.message
    );
}

#[test]
fn logs_agreeing_on_their_common_prefix_do_not() {
    let mut h = H::new();
    for (p, id) in [(0, "a"), (1, "b"), (2, "c")] {
        h.write(p, id, Some(1), OpType::Info);
    }
    h.read_log(3, Some("n1"), &[("a", Some(1))]);
    h.read_log(
        3,
        Some("n2"),
        &[("a", Some(1)), ("b", Some(1)), ("c", Some(1))],
    );
    h.read_log(3, Some("n3"), &[("a", Some(1)), ("b", Some(1))]);
    let r = h.check(STRICT);
    assert_none(&r, LogDivergence);
    assert_eq!(r.valid, Validity::Valid);
}

/// w1 acknowledged, a partition, its heal ended `heal` (`None`: no heal), then a read
/// that lacks w1.
fn read_after_heal(heal: Option<OpType>) -> (H, Option<u64>) {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.nemesis(F::Partition);
    let at = heal.map(|kind| h.nemesis_as(F::Heal, None, kind));
    h.read_ids(1, Some("n5"), &[]);
    (h, at)
}

#[test]
fn a_read_after_a_heal_that_ended_ok_is_final() {
    let (h, _) = read_after_heal(Some(OpType::Ok));
    let r = h.check(LAX);
    assert_one(&r, LostWrite, Severity::Violation);
    assert_eq!(r.exercised.unwrap().final_reads, 1);
}

#[test]
fn a_read_after_a_heal_that_ended_info_is_not_final() {
    let (h, heal) = read_after_heal(Some(OpType::Info));
    let r = h.check(LAX);
    assert_none(&r, LostWrite);
    let lost = &r.checkers["lost-writes"];
    assert_eq!(lost.valid, Validity::Unknown);
    assert_eq!(r.valid, Validity::Unknown);
    let note = lost.note.clone().unwrap();
    assert!(
        note.contains("no final read")
            && note.contains(&format!("its heal at op {} ended info", heal.unwrap()))
            && note.contains("cut-off side"),
        "{note}"
    );
    assert_eq!(r.exercised.unwrap().final_reads, 0);
}

#[test]
fn a_read_with_no_heal_after_the_partition_is_not_final() {
    let (h, _) = read_after_heal(None);
    let r = h.check(LAX);
    assert_none(&r, LostWrite);
    assert_eq!(r.checkers["lost-writes"].valid, Validity::Unknown);
    let note = r.checkers["lost-writes"].note.clone().unwrap();
    assert!(note.contains("no heal that ended ok followed it"), "{note}");
}

#[test]
fn a_read_after_a_heal_that_never_completed_is_not_final() {
    let (h, _) = read_after_heal(Some(OpType::Invoke));
    let r = h.check(LAX);
    assert_none(&r, LostWrite);
    assert_eq!(r.checkers["lost-writes"].valid, Validity::Unknown);
}

#[test]
fn without_writes_or_reads_nothing_could_be_lost() {
    let mut h = H::new();
    h.status(0, "n1", checkers::Role::Leader, 1);
    let r = h.check(LAX);
    assert_eq!(r.checkers["lost-writes"].valid, Validity::Valid);
    assert!(r.checkers["lost-writes"]
        .note
        .as_ref()
        .unwrap()
        .contains("nothing could be lost"));
}
