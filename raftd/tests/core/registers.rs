//! Registers: writes and compare-and-sets through the log, linearizable reads through a
//! read-index round or the lease, and the bugs that reach them.

use raftd::core::{Bug, BugSet, Request, Response, Role};

use crate::support::{answer, ask, cluster, elect, role, run};

fn read(key: &str) -> Request {
    Request::RegisterRead { key: key.into() }
}

fn set(key: &str, value: i64) -> Request {
    Request::RegisterWrite {
        key: key.into(),
        value,
    }
}

fn cas(key: &str, from: i64, to: i64) -> Request {
    Request::RegisterCas {
        key: key.into(),
        from,
        to,
    }
}

fn value(v: Option<i64>) -> Option<Response> {
    Some(Response::Register { value: v })
}

#[test]
fn writes_and_compare_and_sets_commit_and_every_node_applies_them() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    assert_eq!(
        ask(&mut c, "n1", 1, cas("r0", 0, 1)),
        Some(Response::CasMismatch { current: None }),
        "a key never written matches nothing"
    );
    assert_eq!(
        ask(&mut c, "n1", 2, set("r0", 3)),
        Some(Response::RegisterSet)
    );
    assert_eq!(
        ask(&mut c, "n1", 3, cas("r0", 2, 9)),
        Some(Response::CasMismatch { current: Some(3) })
    );
    assert_eq!(
        ask(&mut c, "n1", 4, cas("r0", 3, 4)),
        Some(Response::RegisterSet)
    );
    assert_eq!(
        ask(&mut c, "n1", 5, set("r1", -1)),
        Some(Response::RegisterSet)
    );
    assert_eq!(ask(&mut c, "n1", 6, read("r0")), value(Some(4)));
    assert_eq!(ask(&mut c, "n1", 7, read("r1")), value(Some(-1)));
    assert_eq!(ask(&mut c, "n1", 8, read("r2")), value(None));
    run(&mut c, 2);
    for id in ["n1", "n2", "n3"] {
        let sm = c.node(id).unwrap().state_machine();
        assert_eq!(
            (sm.register("r0"), sm.register("r1")),
            (Some(4), Some(-1)),
            "{id}"
        );
        assert_eq!(sm.registers().len(), 2, "{id}: a mismatch writes no key");
    }
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}

#[test]
fn a_register_read_waits_for_a_quorum_round_and_a_cut_off_leader_serves_none() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, set("r0", 7));
    c.propose("n1", 2, read("r0")).unwrap();
    assert_eq!(
        answer(&mut c, "n1", 2),
        None,
        "not before the heartbeat round"
    );
    c.stabilize(1000);
    assert_eq!(answer(&mut c, "n1", 2), value(Some(7)));

    // Cut off, n1 cannot confirm a round: the read waits while n2 takes over and
    // overwrites the register, and n1, deposed, says so rather than answer 7.
    c.isolate("n1");
    c.propose("n1", 3, read("r0")).unwrap();
    for _ in 0..5 {
        c.tick("n1");
        c.stabilize(1000);
    }
    assert_eq!(answer(&mut c, "n1", 3), None);
    elect(&mut c, "n2");
    assert_eq!(
        ask(&mut c, "n2", 1, set("r0", 8)),
        Some(Response::RegisterSet)
    );
    c.heal();
    run(&mut c, 2);
    assert_eq!(
        answer(&mut c, "n1", 3),
        Some(Response::NotLeader {
            leader: Some("n2".into())
        })
    );
    assert_eq!(ask(&mut c, "n2", 2, read("r0")), value(Some(8)));
    assert_eq!(
        c.propose("n1", 4, read("r0")),
        Err(raftd::core::ProposeError::NotLeader {
            leader: Some("n2".into())
        })
    );
}

#[test]
fn under_a_lease_a_register_read_needs_no_round() {
    let mut c = cluster(3, |cfg| {
        cfg.check_quorum = true;
        cfg.lease_ticks = Some(5);
    });
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, set("r0", 2));
    run(&mut c, 2);
    assert!(c.status("n1").unwrap().lease_valid);
    c.propose("n1", 2, read("r0")).unwrap();
    assert_eq!(
        answer(&mut c, "n1", 2),
        value(Some(2)),
        "at once, under the lease"
    );
}

#[test]
fn registers_come_back_after_every_node_restarts() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, set("r0", 5));
    ask(&mut c, "n1", 2, cas("r0", 5, 6));
    ask(&mut c, "n1", 3, cas("r0", 5, 7));
    run(&mut c, 2);
    for id in ["n1", "n2", "n3"] {
        c.crash(id);
    }
    for id in ["n1", "n2", "n3"] {
        c.restart(id);
        let sm = c.node(id).unwrap().state_machine();
        assert_eq!(sm.register("r0"), Some(6), "{id}: replayed from its log");
    }
    elect(&mut c, "n3");
    assert_eq!(ask(&mut c, "n3", 1, read("r0")), value(Some(6)));
}

#[test]
fn an_empty_key_is_refused() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    for r in [read(""), set("", 1), cas("", 1, 2)] {
        assert!(
            matches!(
                c.propose("n1", 1, r),
                Err(raftd::core::ProposeError::Invalid(_))
            ),
            "refused"
        );
    }
}

/// A leader cut off from the quorum is handed a register write and two compare-and-sets;
/// n2 then leads. Returns the cluster and n1's answers before the new leader.
fn registers_at_a_cut_off_leader(
    bug: Option<Bug>,
) -> (raftd::core::testkit::Cluster, Vec<Option<Response>>) {
    let mut c = cluster(3, |cfg| cfg.bugs = bug.into_iter().collect::<BugSet>());
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, set("r0", 1));
    c.isolate("n1");
    c.propose("n1", 2, set("r0", 2)).unwrap();
    c.propose("n1", 3, cas("r0", 2, 3)).unwrap();
    c.propose("n1", 4, cas("r0", 2, 4)).unwrap();
    c.stabilize(100);
    let answers = c.take_responses("n1");
    let early = (2..=4)
        .map(|r| {
            answers
                .iter()
                .find(|(id, _)| *id == r)
                .map(|(_, a)| a.clone())
        })
        .collect();
    elect(&mut c, "n2");
    c.heal();
    run(&mut c, 3);
    (c, early)
}

#[test]
fn early_ack_acknowledges_register_writes_that_are_then_lost() {
    let (mut c, early) = registers_at_a_cut_off_leader(None);
    assert_eq!(early, [None, None, None], "no answer before commit");
    assert_eq!(ask(&mut c, "n2", 1, read("r0")), value(Some(1)));

    let (mut c, early) = registers_at_a_cut_off_leader(Some(Bug::EarlyAck));
    // The compare-and-sets are judged against the leader's log, uncommitted tail and all.
    assert_eq!(
        early,
        [
            Some(Response::RegisterSet),
            Some(Response::RegisterSet),
            Some(Response::CasMismatch { current: Some(3) }),
        ]
    );
    assert_eq!(role(&c, "n2"), Some(Role::Leader));
    assert_eq!(
        ask(&mut c, "n2", 1, read("r0")),
        value(Some(1)),
        "acknowledged 2 then 3, yet the register holds 1"
    );
}

/// n1 holds a lease and is cut off while n2 or n3 takes over and sets r0 to 2; then n1
/// is asked for r0. Returns n1's answer, or why it refused.
fn lease_read_at_a_cut_off_leader(bug: Option<Bug>) -> Result<Option<Response>, String> {
    let mut c = cluster(3, |cfg| {
        cfg.lease_ticks = Some(5);
        cfg.check_quorum = bug.is_none();
        cfg.bugs = bug.into_iter().collect::<BugSet>();
    });
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, set("r0", 1));
    run(&mut c, 2);
    c.isolate("n1");
    run(&mut c, 40);
    let leader = c
        .leaders()
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| id != "n1")
        .expect("n2 and n3 elect a leader");
    assert_eq!(
        ask(&mut c, &leader, 1, set("r0", 2)),
        Some(Response::RegisterSet)
    );
    c.propose("n1", 2, read("r0")).map_err(|e| e.to_string())?;
    c.stabilize(1000);
    Ok(answer(&mut c, "n1", 2))
}

#[test]
fn lease_without_quorum_check_serves_a_stale_register_read() {
    match lease_read_at_a_cut_off_leader(None) {
        Err(refused) => assert!(refused.contains("not the leader"), "{refused}"),
        Ok(answer) => assert_eq!(answer, None, "no read served without a quorum"),
    }
    assert_eq!(
        lease_read_at_a_cut_off_leader(Some(Bug::LeaseWithoutQuorumCheck)),
        Ok(value(Some(1))),
        "served under its lease, after another leader set 2"
    );
}
