//! election-safety: same-term-leaders and vote-changed.

use checkers::{
    AnomalyKind::{SameTermLeaders, VoteChanged},
    OpDraft, Process, Role, Severity, F,
};

use crate::support::*;

#[test]
fn two_leaders_in_one_term_are_found() {
    let mut h = H::new();
    let (_, a) = h.status(0, "n1", Role::Leader, 3);
    h.status(1, "n2", Role::Follower, 3);
    let (_, b) = h.status(1, "n2", Role::Leader, 3);
    let r = h.check(LAX);
    let an = assert_one(&r, SameTermLeaders, Severity::Violation);
    assert_eq!(an.ops, vec![a, b]);
    assert!(
        an.message.contains("n1") && an.message.contains("n2") && an.message.contains("term 3"),
        "{}",
        an.message
    );
}

#[test]
fn leaders_of_different_terms_or_one_node_twice_are_not() {
    let mut h = H::new();
    h.status(0, "n1", Role::Leader, 3);
    h.status(1, "n1", Role::Leader, 3);
    h.status(1, "n2", Role::Leader, 4);
    h.status(0, "n3", Role::Candidate, 4);
    let r = h.check(STRICT);
    assert_none(&r, SameTermLeaders);
    assert_eq!(
        r.checkers["election-safety"].valid,
        checkers::Validity::Valid
    );
}

#[test]
fn a_vote_forgotten_within_its_term_is_found() {
    let mut h = H::new();
    h.vote(0, "n3", 5, None);
    let (_, a) = h.vote(0, "n3", 5, Some("n1"));
    h.nemesis(F::Kill);
    let (_, b) = h.vote(0, "n3", 5, None);
    let r = h.check(LAX);
    let an = assert_one(&r, VoteChanged, Severity::Violation);
    assert_eq!(an.ops, vec![a, b]);
    assert!(
        an.message.contains("n3")
            && an.message.contains("n1")
            && an.message.contains("term 5")
            && an.message.contains("no vote"),
        "{}",
        an.message
    );
    assert_eq!(r.valid, checkers::Validity::Invalid);
}

#[test]
fn two_candidates_in_one_term_are_a_change_in_either_order() {
    let mut h = H::new();
    // Two observers whose reports overlap: order cannot excuse two different votes.
    h.op(OpDraft::invoke(Process::Client(0), F::Status, None).with_node("n2"));
    let (_, b) = h.vote(1, "n2", 7, Some("n3"));
    let a = h.op(OpDraft::ok(
        Process::Client(0),
        F::Status,
        Some(vote_status(7, Some("n1"))),
    )
    .with_node("n2"));
    let r = h.check(LAX);
    let an = assert_one(&r, VoteChanged, Severity::Violation);
    assert_eq!(an.ops, vec![b, a]);
}

#[test]
fn no_vote_overlapping_the_vote_or_in_a_new_term_is_not_a_change() {
    let mut h = H::new();
    // The report of no vote was invoked before the vote's report completed: it may be
    // the state before the vote.
    h.op(OpDraft::invoke(Process::Client(0), F::Status, None).with_node("n1"));
    h.vote(1, "n1", 2, Some("n2"));
    h.op(OpDraft::ok(Process::Client(0), F::Status, Some(vote_status(2, None))).with_node("n1"));
    // The same vote again, then a new term with no vote and another vote: all legal.
    h.vote(1, "n1", 2, Some("n2"));
    h.vote(1, "n1", 3, None);
    h.vote(1, "n1", 3, Some("n1"));
    // Systems that report no vote are never compared.
    h.status(2, "n1", Role::Follower, 3);
    let r = h.check(STRICT);
    assert_none(&r, VoteChanged);
    assert_eq!(
        r.checkers["election-safety"].valid,
        checkers::Validity::Valid
    );
}
