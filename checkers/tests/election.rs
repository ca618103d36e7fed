//! election-safety: same-term-leaders.

use checkers::{AnomalyKind::SameTermLeaders, Role, Severity};

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
