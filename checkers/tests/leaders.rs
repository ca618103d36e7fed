//! concurrent-leaders: dual-leadership, dual-holders, duplicate-token.

use checkers::{AnomalyKind::*, OpType, Role, Severity, Validity, F};

use crate::support::*;

/// n1 (term 1) and n2 (term 2) each answer as leader, one status op each, at `h`'s now.
fn both_lead(h: &mut H) {
    h.status(0, "n1", Role::Leader, 1);
    h.status(1, "n2", Role::Leader, 2);
}

/// n1 certainly leads term 1 from its first observation's completion to its second's
/// invocation; n2 (term 2) likewise, overlapping it.
fn overlapping_leaders() -> H {
    let mut h = H::new();
    both_lead(&mut h);
    both_lead(&mut h);
    h
}

#[test]
fn overlapping_certain_leaderships_are_an_observation_by_default() {
    let h = overlapping_leaders();
    let r = h.check(LAX);
    let a = assert_one(&r, DualLeadership, Severity::Observation);
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(a.ops, vec![1, 3, 4, 6]);
    assert!(
        a.message.contains("n1 (term 1)") && a.message.contains("n2 (term 2)"),
        "{}",
        a.message
    );
}

#[test]
fn overlapping_certain_leaderships_violate_exclusive_leadership() {
    let r = overlapping_leaders().check(STRICT);
    assert_one(&r, DualLeadership, Severity::Violation);
    assert_eq!(r.checkers["concurrent-leaders"].valid, Validity::Invalid);
}

#[test]
fn overlapping_single_observations_give_no_certain_interval() {
    let mut h = H::new();
    // Each node observed as leader once, the observations concurrent: no certainty.
    let i1 = h.inv(0, checkers::F::Status, None);
    let i2 = h.inv(1, checkers::F::Status, None);
    h.op(checkers::OpDraft::ok(
        checkers::Process::Client(0),
        checkers::F::Status,
        Some(status(Role::Leader, 1)),
    )
    .with_node("n1"));
    h.op(checkers::OpDraft::ok(
        checkers::Process::Client(1),
        checkers::F::Status,
        Some(status(Role::Leader, 2)),
    )
    .with_node("n2"));
    assert!(i1 < i2);
    // And two concurrent observations of one node give an empty interval.
    let mut g = H::new();
    g.inv(0, checkers::F::Status, None);
    g.inv(1, checkers::F::Status, None);
    for p in [0, 1] {
        g.op(checkers::OpDraft::ok(
            checkers::Process::Client(p),
            checkers::F::Status,
            Some(status(Role::Leader, 1)),
        )
        .with_node("n1"));
    }
    g.status(2, "n2", Role::Leader, 2);
    g.status(2, "n2", Role::Leader, 2);
    assert_none(&h.check(STRICT), DualLeadership);
    assert_none(&g.check(STRICT), DualLeadership);
}

#[test]
fn successive_leaderships_do_not_overlap() {
    let mut h = H::new();
    h.status(0, "n1", Role::Leader, 1);
    both_lead(&mut h);
    h.status(1, "n2", Role::Leader, 2);
    let r = h.check(STRICT);
    assert_none(&r, DualLeadership);
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn overlapping_holds_of_two_grants_are_found() {
    let mut h = H::new();
    h.acquire(1, 1);
    h.acquire(2, 2);
    h.holding(1, 1, true); // process 1 still holds token 1 after token 2 was granted
    h.holding(2, 2, true);
    let r = h.check(LAX);
    let a = assert_one(&r, DualHolders, Severity::Violation);
    assert!(
        a.message.contains("process 1 (token 1)") && a.message.contains("process 2 (token 2)"),
        "{}",
        a.message
    );
}

#[test]
fn holds_that_end_before_the_next_grant_do_not_overlap() {
    let mut h = H::new();
    h.acquire(1, 1);
    h.holding(1, 1, true);
    h.acquire(2, 2);
    h.holding(1, 1, false);
    h.holding(2, 2, true);
    assert_none(&h.check(STRICT), DualHolders);
}

#[test]
fn one_token_granted_twice_is_found() {
    let mut h = H::new();
    let (_, a) = h.acquire(1, 5);
    let (_, b) = h.acquire(2, 5);
    let r = h.check(LAX);
    let an = assert_one(&r, DuplicateToken, Severity::Violation);
    assert_eq!(an.ops, vec![a, b]);
}

#[test]
fn distinct_tokens_are_not_duplicates() {
    let mut h = H::new();
    h.acquire(1, 5);
    h.acquire(2, 6);
    assert_none(&h.check(STRICT), DuplicateToken);
}

/// n1 (term 1) and n2 (term 2) both observed as leader, twice each, `gap_ms` apart,
/// after a partition healed.
fn leaders_after_heal(gap_ms: u64) -> H {
    let mut h = H::new();
    h.nemesis(F::Partition);
    h.nemesis(F::Heal);
    both_lead(&mut h);
    h.advance(gap_ms);
    both_lead(&mut h);
    h
}

#[test]
fn a_leader_that_never_steps_down_after_the_heal_is_a_stale_leader() {
    let h = leaders_after_heal(3000);
    // Claimed or not, exclusive leadership is not what this breaks: it is a violation
    // either way.
    for g in [LAX, STRICT] {
        let r = h.check(g);
        let a = assert_one(&r, StaleLeader, Severity::Violation);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(a.checker, "concurrent-leaders");
        assert_eq!(a.ops, vec![5, 7, 8, 10]);
        assert!(
            a.message
                .contains("n1 went on claiming leadership of term 1 while n2 led term 2"),
            "{}",
            a.message
        );
    }
}

#[test]
fn a_short_overlap_after_the_heal_is_no_stale_leader() {
    // 1.5 s of overlap: within the grace a healed leader has to hear of the new term.
    let r = leaders_after_heal(1500).check(LAX);
    assert_none(&r, StaleLeader);
    assert_one(&r, DualLeadership, Severity::Observation);
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn an_overlap_while_a_fault_is_in_force_is_no_stale_leader() {
    // The same long overlap, but a partition holds until the very end: the old leader
    // may simply not hear the new one.
    let mut h = H::new();
    h.nemesis(F::Partition);
    both_lead(&mut h);
    h.advance(5000);
    both_lead(&mut h);
    h.nemesis(F::Heal);
    let r = h.check(LAX);
    assert_none(&r, StaleLeader);
    assert_one(&r, DualLeadership, Severity::Observation);
}

#[test]
fn only_the_healed_part_of_an_overlap_counts() {
    // 4 s of overlap in all, but only 1 s of it after the last fault healed.
    let mut h = H::new();
    h.nemesis(F::Partition);
    both_lead(&mut h);
    h.advance(3000);
    h.nemesis(F::Heal);
    h.advance(1000);
    both_lead(&mut h);
    assert_none(&h.check(LAX), StaleLeader);
}

/// n1 (term 1) and n2 (term 2) both certainly leader for 3 s after `undo` of a partition
/// ended `kind` (`Invoke`: the undo never completed; `None`: no undo at all).
fn leaders_after_undo(undo: Option<OpType>) -> (H, Option<u64>) {
    let mut h = H::new();
    h.nemesis(F::Partition);
    let at = undo.map(|kind| h.nemesis_as(F::Heal, None, kind));
    both_lead(&mut h);
    h.advance(3000);
    both_lead(&mut h);
    (h, at)
}

fn leaders_note(r: &checkers::CheckResult) -> String {
    r.checkers["concurrent-leaders"]
        .note
        .clone()
        .unwrap_or_default()
}

#[test]
fn the_stale_leader_window_opens_after_a_heal_that_ended_ok() {
    let (h, _) = leaders_after_undo(Some(OpType::Ok));
    let r = h.check(LAX);
    let a = assert_one(&r, StaleLeader, Severity::Violation);
    assert!(
        a.message
            .contains("every fault undone by an undo that ended ok"),
        "{}",
        a.message
    );
    assert!(
        !leaders_note(&r).contains("stale-leader"),
        "{}",
        leaders_note(&r)
    );
}

#[test]
fn no_stale_leader_while_a_heal_that_ended_info_may_have_left_the_partition() {
    let (h, heal) = leaders_after_undo(Some(OpType::Info));
    let r = h.check(LAX);
    assert_none(&r, StaleLeader);
    assert_one(&r, DualLeadership, Severity::Observation);
    assert_eq!(r.valid, Validity::Valid);
    let note = leaders_note(&r);
    assert!(
        note.contains("stale-leader not checked")
            && note.contains(&format!("its heal at op {} ended info", heal.unwrap())),
        "{note}"
    );
}

#[test]
fn no_stale_leader_when_the_heal_never_completed() {
    let (h, heal) = leaders_after_undo(Some(OpType::Invoke));
    let r = h.check(LAX);
    assert_none(&r, StaleLeader);
    let note = leaders_note(&r);
    assert!(
        note.contains(&format!("its heal at op {} never completed", heal.unwrap())),
        "{note}"
    );
}

#[test]
fn no_stale_leader_when_no_heal_followed_the_partition() {
    let (h, _) = leaders_after_undo(None);
    let r = h.check(LAX);
    assert_none(&r, StaleLeader);
    let note = leaders_note(&r);
    assert!(
        note.contains(
            "the partition at op 0 may still be in force: no heal that ended ok followed it"
        ),
        "{note}"
    );
}

#[test]
fn a_heal_that_ended_info_then_one_that_ended_ok_ends_the_partition() {
    let mut h = H::new();
    h.nemesis(F::Partition);
    h.nemesis_as(F::Heal, None, OpType::Info);
    h.nemesis_as(F::Heal, None, OpType::Ok);
    both_lead(&mut h);
    h.advance(3000);
    both_lead(&mut h);
    assert_one(&h.check(LAX), StaleLeader, Severity::Violation);
}

/// Two leaders for 3 s after a partition whose heal ended `kind`, then another
/// partition that the history never heals.
fn leaders_between_faults(kind: OpType) -> checkers::CheckResult {
    let (mut h, _) = leaders_after_undo(Some(kind));
    h.advance(100);
    h.nemesis(F::Partition);
    h.check(LAX)
}

#[test]
fn a_stale_leader_between_faults_is_found_once_every_earlier_fault_was_undone() {
    let r = leaders_between_faults(OpType::Ok);
    let a = assert_one(&r, StaleLeader, Severity::Violation);
    assert!(a.message.contains("between faults"), "{}", a.message);
    // The faults never ended: the stretch after the last one is not looked at.
    assert!(
        leaders_note(&r).contains("stale-leader not checked after the last fault"),
        "{}",
        leaders_note(&r)
    );
    // A heal that may not have happened opens no stretch.
    assert_none(&leaders_between_faults(OpType::Info), StaleLeader);
}

#[test]
fn two_leaders_of_which_the_next_fault_cuts_the_overlap_short_are_no_stale_leader() {
    let mut h = H::new();
    h.nemesis(F::Partition);
    h.nemesis(F::Heal);
    both_lead(&mut h);
    h.advance(1500);
    h.nemesis(F::Partition);
    h.advance(1500);
    both_lead(&mut h);
    assert_none(&h.check(LAX), StaleLeader);
}

/// Two leaders for 3 s after a fault `f` of `nodes` and its undo `undo` of `undo_nodes`
/// ended `kind`.
fn leaders_after(
    f: F,
    undo: F,
    fault_nodes: &[&str],
    undo_nodes: &[&str],
    kind: OpType,
) -> checkers::CheckResult {
    let value = |n: &[&str]| (!n.is_empty()).then(|| nodes(n));
    leaders_after_values(f, undo, value(fault_nodes), value(undo_nodes), kind)
}

/// As `leaders_after`, with the fault's and the undo's values given whole.
fn leaders_after_values(
    f: F,
    undo: F,
    fault_value: Option<checkers::Value>,
    undo_value: Option<checkers::Value>,
    kind: OpType,
) -> checkers::CheckResult {
    let mut h = H::new();
    h.nemesis_as(f, fault_value, OpType::Ok);
    h.nemesis_as(undo, undo_value, kind);
    both_lead(&mut h);
    h.advance(3000);
    both_lead(&mut h);
    h.check(LAX)
}

#[test]
fn every_fault_kind_ends_only_with_its_undo_ended_ok() {
    for (f, undo, fault_nodes, undo_nodes) in [
        (F::Pause, F::Resume, &["n1"][..], &["n1"][..]),
        (F::Kill, F::Start, &["n1", "n3"][..], &["n1", "n3"][..]),
        (F::Clock, F::ClockReset, &[][..], &[][..]),
    ] {
        let r = leaders_after(f, undo, fault_nodes, undo_nodes, OpType::Ok);
        assert_eq!(r.count(StaleLeader), 1, "{f:?} undone ok: {r:#?}");
        let r = leaders_after(f, undo, fault_nodes, undo_nodes, OpType::Info);
        assert_none(&r, StaleLeader);
        assert!(
            leaders_note(&r).contains("stale-leader not checked"),
            "{f:?}"
        );
    }
    // A resume of another node leaves the paused one paused.
    let r = leaders_after(F::Pause, F::Resume, &["n1", "n2"], &["n1"], OpType::Ok);
    assert_none(&r, StaleLeader);
    assert!(
        leaders_note(&r).contains("the pause of n2 at op 0 may still be in force"),
        "{}",
        leaders_note(&r)
    );
}

#[test]
fn a_leader_aimed_fault_that_found_no_leader_is_not_in_force() {
    // Recorded as an invoke and an info with no value: nothing reached the runtime.
    let mut h = H::new();
    h.nemesis_as(F::Pause, None, OpType::Info);
    both_lead(&mut h);
    h.advance(3000);
    both_lead(&mut h);
    assert_one(&h.check(LAX), StaleLeader, Severity::Violation);
}

/// A packet fault's value: its shaping and the links it shapes.
fn packet_value(links: &[[&str; 2]]) -> checkers::Value {
    checkers::Value {
        packet: Some(serde_json::json!({"kind": "loss", "percent": 30})),
        links: Some(
            links
                .iter()
                .map(|l| l.iter().map(|s| s.to_string()).collect())
                .collect(),
        ),
        ..checkers::Value::default()
    }
}

#[test]
fn a_packet_fault_ends_only_with_a_packet_heal_ended_ok() {
    let after = |heal: OpType| {
        let packet = Some(packet_value(&[["n1", "n2"]]));
        leaders_after_values(F::Packet, F::PacketHeal, packet, None, heal)
    };
    assert_eq!(after(OpType::Ok).count(StaleLeader), 1);
    let r = after(OpType::Info);
    assert_none(&r, StaleLeader);
    assert!(
        leaders_note(&r).contains("the packet fault at op 0 may still be in force"),
        "{}",
        leaders_note(&r)
    );
}
