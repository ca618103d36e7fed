//! fencing: stale-token-accepted, stale-grant-write.

use checkers::{AnomalyKind::*, OpType, Severity, Validity, F};

use crate::support::*;

#[test]
fn a_stale_token_accepted_after_a_newer_write_is_found() {
    let mut h = H::new();
    let (_, newer) = h.write(2, "w2", Some(2), OpType::Ok);
    let (i, o) = h.write(1, "w1", Some(1), OpType::Ok);
    let r = h.check(LAX);
    let a = assert_one(&r, StaleTokenAccepted, Severity::Violation);
    assert_eq!(a.ops, vec![newer, i, o]);
    assert!(
        a.message.contains("w1") && a.message.contains("w2") && a.message.contains("token 1"),
        "{}",
        a.message
    );
}

#[test]
fn a_stale_write_concurrent_with_the_newer_one_is_not() {
    let mut h = H::new();
    h.inv(1, F::Write, Some(write("w1", Some(1))));
    h.write(2, "w2", Some(2), OpType::Ok);
    h.ok(1, F::Write, Some(write("w1", Some(1))));
    // And a stale write that was rejected is fine too.
    h.write(3, "w3", Some(1), OpType::Fail);
    let r = h.check(STRICT);
    assert_none(&r, StaleTokenAccepted);
    assert_none(&r, StaleGrantWrite);
}

fn write_after_newer_grant() -> H {
    let mut h = H::new();
    h.acquire(1, 1);
    h.acquire(2, 2);
    h.write(1, "w1", Some(1), OpType::Ok);
    h
}

#[test]
fn a_write_under_a_superseded_grant_is_an_observation_without_fence_on_grant() {
    let r = write_after_newer_grant().check(LAX);
    assert_one(&r, StaleGrantWrite, Severity::Observation);
    assert_eq!(r.checkers["fencing"].valid, Validity::Valid);
}

#[test]
fn a_write_under_a_superseded_grant_violates_fence_on_grant() {
    let r = write_after_newer_grant().check(STRICT);
    let a = assert_one(&r, StaleGrantWrite, Severity::Violation);
    assert!(
        a.message.contains("token 2") && a.message.contains("process 2"),
        "{}",
        a.message
    );
}

#[test]
fn a_write_invoked_before_the_newer_grant_completed_is_not() {
    let mut h = H::new();
    h.acquire(1, 1);
    h.inv(2, F::Acquire, None);
    h.inv(1, F::Write, Some(write("w1", Some(1))));
    h.ok(2, F::Acquire, Some(token_value(2)));
    h.ok(1, F::Write, Some(write("w1", Some(1))));
    assert_none(&h.check(STRICT), StaleGrantWrite);
}
