//! election-safety: same-term-leaders, vote-changed, incomplete-leader and
//! diverged-commit.

use checkers::{
    AnomalyKind::{DivergedCommit, IncompleteLeader, SameTermLeaders, VoteChanged},
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

#[test]
fn a_leader_short_of_an_earlier_terms_commit_is_found() {
    let mut h = H::new();
    // n1 leads term 4 and commits up to 40; n3, cut off, stops at 12.
    let (_, a) = h.log_status(0, "n1", Role::Leader, 4, 40, 41);
    h.log_status(1, "n2", Role::Follower, 4, 40, 41);
    h.log_status(2, "n3", Role::Candidate, 9, 12, 12);
    // n3 wins term 9 without the entries 13 to 40 (its no-op is 13).
    let (_, b) = h.log_status(2, "n3", Role::Leader, 9, 12, 13);
    h.log_status(2, "n3", Role::Leader, 9, 12, 14);
    let r = h.check(LAX);
    let an = assert_one(&r, IncompleteLeader, Severity::Violation);
    assert_eq!(an.ops, vec![a, b]);
    assert!(
        an.message.contains("n3")
            && an.message.contains("term 9")
            && an.message.contains("index 13")
            && an.message.contains("index 40")
            && an.message.contains("n1"),
        "{}",
        an.message
    );
    assert_eq!(r.valid, checkers::Validity::Invalid);
}

#[test]
fn a_leader_behind_a_commit_of_its_own_term_or_a_later_one_is_not() {
    let mut h = H::new();
    // The leader of term 2 reports its log before it commits 30 in term 2: legal.
    h.log_status(0, "n1", Role::Leader, 2, 5, 6);
    h.log_status(1, "n2", Role::Follower, 2, 30, 30);
    // A later term's commit says nothing of an earlier leader, which may be stale.
    h.log_status(1, "n2", Role::Follower, 3, 50, 50);
    h.log_status(0, "n1", Role::Leader, 2, 30, 31);
    // The leader of term 4 holds everything committed before.
    h.log_status(2, "n3", Role::Leader, 4, 50, 51);
    // A leader whose system reports no last index is not compared.
    h.status(0, "n1", Role::Leader, 5);
    let r = h.check(STRICT);
    assert_none(&r, IncompleteLeader);
    assert_eq!(
        r.checkers["election-safety"].valid,
        checkers::Validity::Valid
    );
}

#[test]
fn leaders_without_a_log_to_compare_are_noted() {
    let mut h = H::new();
    h.status(0, "n1", Role::Leader, 3);
    let r = h.check(STRICT);
    let note = r.checkers["election-safety"]
        .note
        .clone()
        .unwrap_or_default();
    assert!(
        note.contains("leader completeness was not checked"),
        "{note}"
    );
}

/// Raft's figure 8 as the statuses show it: n3 committed index 13 with its entry of term
/// 5 (counting replicas of an older term's entry), and a later leader's followers report
/// index 13 committed with an entry of term 6.
#[test]
fn two_nodes_committing_different_terms_at_one_index_is_found() {
    let mut h = H::new();
    // Runs [term, first index]: n3 holds term 5 from 10 and term 7 from 17.
    let (_, a) = h.runs_status(0, "n3", 7, 13, &[[2, 1], [5, 10], [7, 17]]);
    // n1 and n2 hold term 6 at 13 (the new leader's first entry), term 8 from 14.
    let (_, b) = h.runs_status(1, "n1", 8, 15, &[[2, 1], [5, 10], [6, 13], [8, 14]]);
    h.runs_status(2, "n2", 8, 15, &[[2, 1], [5, 10], [6, 13], [8, 14]]);
    let r = h.check(LAX);
    let an = assert_one(&r, DivergedCommit, Severity::Violation);
    assert_eq!(an.ops, vec![a, b]);
    assert!(
        an.message.contains("index 13")
            && an.message.contains("term 5")
            && an.message.contains("term 6")
            && an.message.contains("n3")
            && an.message.contains("n1"),
        "{}",
        an.message
    );
}

/// Runs that differ only above a commit index, or reports of one committed prefix as it
/// grows, agree.
#[test]
fn logs_that_differ_only_where_uncommitted_agree() {
    let mut h = H::new();
    // n1 and n3 disagree at 13 but n3 has committed only up to 12.
    h.runs_status(0, "n3", 7, 12, &[[2, 1], [5, 10], [7, 17]]);
    h.runs_status(1, "n1", 8, 15, &[[2, 1], [5, 10], [6, 13], [8, 14]]);
    // The same prefix, reported again longer, and a report of only its recent runs.
    h.runs_status(2, "n2", 8, 20, &[[2, 1], [5, 10], [6, 13], [8, 14]]);
    h.runs_status(2, "n2", 9, 30, &[[6, 13], [8, 14], [9, 25]]);
    // Runs out of order make no claim.
    h.runs_status(0, "n3", 9, 30, &[[9, 1], [2, 5]]);
    let r = h.check(STRICT);
    assert_none(&r, DivergedCommit);
}
