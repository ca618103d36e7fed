//! Pre-vote, check-quorum, leases, Figure 8, fencing, grant expiry and read-index.

use raftd::core::testkit::Cluster;
use raftd::core::{Bug, BugSet, MessageBody, Request, Response, Role};

use crate::support::{
    acquire, answer, ask, cluster, deliver_if, deliver_only, elect, fenced, role, run, term, write,
};

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A node cut off for a long time rejoins: without pre-vote its inflated term deposes
/// the leader; with pre-vote nothing changes.
#[test]
fn pre_vote_prevents_disruption_by_a_rejoining_node() {
    for pre_vote in [false, true] {
        let mut c = cluster(3, |cfg| cfg.pre_vote = pre_vote);
        elect(&mut c, "n1");
        let t = term(&c, "n1");
        c.isolate("n3");
        for _ in 0..60 {
            c.tick("n3");
            c.stabilize(100);
        }
        c.heal();
        run(&mut c, 3);
        if pre_vote {
            assert_eq!(term(&c, "n3"), t, "pre-votes do not raise the term");
            assert_eq!((role(&c, "n1"), term(&c, "n1")), (Some(Role::Leader), t));
        } else {
            assert!(term(&c, "n3") > t + 1, "campaigns raised n3's term");
            assert!(term(&c, "n1") > t, "the rejoining node deposed the leader");
        }
    }
}

/// A leader that cannot hear from a quorum steps down within an election timeout,
/// but only with check-quorum.
#[test]
fn check_quorum_steps_down_a_cut_off_leader() {
    for check_quorum in [false, true] {
        let mut c = cluster(3, |cfg| cfg.check_quorum = check_quorum);
        elect(&mut c, "n1");
        c.isolate("n1");
        for _ in 0..9 {
            c.tick("n1");
            c.stabilize(100);
        }
        assert_eq!(
            role(&c, "n1"),
            Some(Role::Leader),
            "still within the timeout"
        );
        c.tick("n1");
        c.tick("n1");
        let want = if check_quorum {
            Role::Follower
        } else {
            Role::Leader
        };
        assert_eq!(role(&c, "n1"), Some(want));
    }
}

/// With a lease, followers that heard the leader recently ignore vote requests, and
/// the old leader's lease lapses before anyone can be elected: never two acting leaders.
#[test]
fn lease_refuses_votes_and_lapses_first() {
    let mut c = cluster(3, |cfg| {
        cfg.check_quorum = true;
        cfg.lease_ticks = Some(5);
    });
    elect(&mut c, "n1");
    run(&mut c, 2);
    assert!(
        c.status("n1").unwrap().acting_leader,
        "lease holds after a heartbeat round"
    );
    c.isolate("n1");
    let t = term(&c, "n2");
    c.campaign("n3");
    c.stabilize(100);
    assert_eq!(term(&c, "n2"), t, "n2 ignored the vote request");
    assert_ne!(role(&c, "n3"), Some(Role::Leader));
    let mut elected_at = None;
    for tick in 0..40 {
        run(&mut c, 1);
        let acting: Vec<_> = c
            .ids()
            .into_iter()
            .filter(|id| c.status(id).unwrap().acting_leader)
            .collect();
        assert!(
            acting.len() <= 1,
            "two acting leaders at tick {tick}: {acting:?}"
        );
        if c.leaders().iter().any(|(id, _)| id != "n1") {
            elected_at.get_or_insert(tick);
        }
    }
    assert!(
        elected_at.is_some_and(|t| t >= 8),
        "a new leader only after the window: {elected_at:?}"
    );
    let n1 = c.status("n1").unwrap();
    assert!(!n1.acting_leader && n1.role != Role::Leader);
}

/// Raft paper Figure 8: an old-term entry replicated on a majority is not committed by
/// counting; with `commit-old-term` it is, and a later leader then overwrites it.
pub fn figure8(bugs: BugSet) -> Cluster {
    figure8_delivered(bugs, false)
}

/// (a) to (c) of Figure 8. With `withhold`, n1 withholds its own term's entries (what
/// raftd's `leader-commit` crash point turns on) and every append reaches its follower;
/// without, the network loses n1's term-3 no-op wherever it could be taken.
fn figure8_delivered(bugs: BugSet, withhold: bool) -> Cluster {
    let mut c = cluster(5, |cfg| {
        cfg.max_entries_per_append = 1;
        cfg.bugs = bugs.clone();
    });
    // (a) n1 leads term 1 and gets entry 2 to n2 only.
    elect(&mut c, "n1");
    c.partition(&[ids(&["n1", "n2"]), ids(&["n3", "n4", "n5"])]);
    c.propose("n1", 1, write("a")).unwrap();
    c.stabilize(100);
    // (b) n1 crashes; n5 wins term 2 with n3 and n4, appends its no-op at 2, crashes.
    c.crash("n1");
    c.campaign("n5");
    deliver_only(&mut c, |m| {
        m.from != "n5" || !matches!(m.body, MessageBody::Append { .. })
    });
    assert_eq!(role(&c, "n5"), Some(Role::Leader));
    c.crash("n5");
    // (c) n1 restarts and wins term 3; entry 2 (term 1) reaches a majority, but n1's
    // term-3 no-op reaches no one who could take it, and nobody hears of n1's commit.
    c.heal();
    c.restart("n1");
    c.node_mut("n1").unwrap().withhold_own_term(withhold);
    c.campaign("n1");
    c.stabilize(100);
    c.campaign("n1");
    deliver_if(&mut c, |c, m| match &m.body {
        MessageBody::Append {
            entries,
            commit,
            prev_index,
            ..
        } => {
            let holds_2 = c.node(&m.to).is_some_and(|n| n.log_entries().len() >= 2);
            let no_op = entries.iter().any(|e| e.term == 3);
            *commit < 2 && (withhold || !(no_op && holds_2 && *prev_index == 2))
        }
        _ => true,
    });
    assert_eq!((role(&c, "n1"), term(&c, "n1")), (Some(Role::Leader), 3));
    c
}

#[test]
fn a_leader_withholding_its_own_term_sends_only_older_entries() {
    for (bugs, commit) in [
        (BugSet::none(), 1),
        ([Bug::CommitOldTerm].into_iter().collect(), 2),
    ] {
        let c = figure8_delivered(bugs, true);
        for id in ["n2", "n3", "n4"] {
            let log = c.node(id).unwrap().log_entries();
            assert!(
                log.iter().all(|e| e.term < 3),
                "{id} holds an entry of n1's own term: {log:?}"
            );
        }
        let with_entry_2 = ["n1", "n2", "n3", "n4"]
            .into_iter()
            .filter(|id| {
                c.node(id)
                    .unwrap()
                    .log_entries()
                    .get(1)
                    .is_some_and(|e| e.term == 1)
            })
            .count();
        assert!(
            with_entry_2 >= 3,
            "entry 2 (term 1) on {with_entry_2} nodes"
        );
        assert_eq!(c.status("n1").unwrap().commit, commit);
    }
    // The bug's commit is then lost, as in Figure 8 itself.
    let mut c = figure8_delivered([Bug::CommitOldTerm].into_iter().collect(), true);
    figure8_continue(&mut c);
    assert!(
        c.violations().iter().any(|v| matches!(
            v,
            raftd::core::testkit::Violation::CommittedChanged { index: 2, .. }
        )),
        "{:?}",
        c.violations()
    );
}

/// (d) of Figure 8: n1 crashes, n5 comes back and wins with its term-2 entry.
pub fn figure8_continue(c: &mut Cluster) {
    c.crash("n1");
    c.restart("n5");
    c.campaign("n5");
    c.stabilize(1000);
    c.campaign("n5");
    c.stabilize(1000);
    assert_eq!(role(c, "n5"), Some(Role::Leader));
    run(c, 2);
}

#[test]
fn figure8_old_term_entry_is_not_committed_by_counting() {
    let mut c = figure8(BugSet::none());
    let entry2 = c.node("n1").unwrap().log_entries()[1].clone();
    assert_eq!(entry2.term, 1);
    assert_eq!(
        c.status("n1").unwrap().commit,
        1,
        "a majority holds entry 2, yet it is not committed"
    );
    figure8_continue(&mut c);
    assert_eq!(
        c.node("n2").unwrap().log_entries()[1].term,
        2,
        "n5 replaced entry 2"
    );
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}

#[test]
fn fencing_rejects_stale_tokens() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    let Some(Response::Acquired { token: t1 }) = ask(&mut c, "n1", 1, acquire("e", "p1", 1000))
    else {
        panic!("acquire failed");
    };
    assert_eq!(
        ask(&mut c, "n1", 2, acquire("e", "p2", 1000)),
        Some(Response::Held {
            holder: "p1".into(),
            token: t1
        })
    );
    assert!(ask(&mut c, "n1", 3, fenced("a", t1, "e")).unwrap().is_ok());
    assert_eq!(
        ask(
            &mut c,
            "n1",
            4,
            Request::Release {
                election: "e".into(),
                token: t1 + 100
            }
        ),
        Some(Response::NotHolder)
    );
    assert_eq!(
        ask(
            &mut c,
            "n1",
            5,
            Request::Release {
                election: "e".into(),
                token: t1
            }
        ),
        Some(Response::Released)
    );
    let Some(Response::Acquired { token: t2 }) = ask(&mut c, "n1", 6, acquire("e", "p2", 1000))
    else {
        panic!("acquire failed");
    };
    assert!(t2 > t1, "tokens strictly increase");
    // Without fence-on-grant the old holder's token still passes until a newer one is used.
    assert!(ask(&mut c, "n1", 7, fenced("b", t1, "e")).unwrap().is_ok());
    assert!(ask(&mut c, "n1", 8, fenced("c", t2, "e")).unwrap().is_ok());
    assert_eq!(
        ask(&mut c, "n1", 9, fenced("d", t1, "e")),
        Some(Response::StaleToken)
    );
    assert_eq!(crate::support::applied_ids(&c, "n1"), ["a", "b", "c"]);
}

#[test]
fn fence_on_grant_rejects_the_previous_holder_at_once() {
    let mut c = cluster(3, |cfg| cfg.fence_on_grant = true);
    elect(&mut c, "n1");
    let Some(Response::Acquired { token: t1 }) = ask(&mut c, "n1", 1, acquire("e", "p1", 1000))
    else {
        panic!("acquire failed");
    };
    ask(
        &mut c,
        "n1",
        2,
        Request::Release {
            election: "e".into(),
            token: t1,
        },
    );
    let Some(Response::Acquired { token: t2 }) = ask(&mut c, "n1", 3, acquire("e", "p2", 1000))
    else {
        panic!("acquire failed");
    };
    assert_eq!(
        ask(&mut c, "n1", 4, fenced("b", t1, "e")),
        Some(Response::StaleToken)
    );
    assert!(ask(&mut c, "n1", 5, fenced("c", t2, "e")).unwrap().is_ok());
}

fn holding(c: &mut Cluster, node: &str, req: u64, election: &str, token: u64) -> bool {
    match ask(
        c,
        node,
        req,
        Request::Holding {
            election: election.into(),
            token,
        },
    ) {
        Some(Response::Holding { holding }) => holding,
        other => panic!("holding answered {other:?}"),
    }
}

#[test]
fn grants_expire_after_their_ttl_counted_by_the_leader() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    let Some(Response::Acquired { token }) = ask(&mut c, "n1", 1, acquire("e", "p1", 5)) else {
        panic!("acquire failed");
    };
    run(&mut c, 4);
    assert!(holding(&mut c, "n1", 2, "e", token));
    run(&mut c, 2);
    assert!(
        !holding(&mut c, "n1", 3, "e", token),
        "expired after 5 ticks"
    );
    assert!(
        matches!(ask(&mut c, "n1", 4, acquire("e", "p2", 5)), Some(Response::Acquired { token: t }) if t > token)
    );
}

#[test]
fn a_new_leader_restarts_grant_clocks() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    let Some(Response::Acquired { token }) = ask(&mut c, "n1", 1, acquire("f", "p1", 8)) else {
        panic!("acquire failed");
    };
    run(&mut c, 5);
    c.isolate("n1");
    elect(&mut c, "n2");
    for _ in 0..7 {
        c.tick("n2");
        c.tick("n3");
        c.stabilize(1000);
    }
    assert!(
        holding(&mut c, "n2", 2, "f", token),
        "12 ticks in all, but only 7 under n2"
    );
    for _ in 0..2 {
        c.tick("n2");
        c.tick("n3");
        c.stabilize(1000);
    }
    assert!(!holding(&mut c, "n2", 3, "f", token));
}

#[test]
fn read_index_needs_a_quorum_round() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    ask(&mut c, "n1", 1, write("w1"));
    c.propose("n1", 2, Request::Read).unwrap();
    assert_eq!(
        answer(&mut c, "n1", 2),
        None,
        "not before the heartbeat round"
    );
    c.stabilize(1000);
    assert_eq!(
        answer(&mut c, "n1", 2),
        Some(Response::Log {
            log: vec![raftd::core::WriteRecord {
                id: "w1".into(),
                token: None
            }]
            .into()
        })
    );
    // Cut off from the quorum, a leader cannot serve a read; once deposed it says so.
    c.isolate("n1");
    c.propose("n1", 3, Request::Read).unwrap();
    for _ in 0..5 {
        c.tick("n1");
        c.stabilize(1000);
    }
    assert_eq!(answer(&mut c, "n1", 3), None);
    elect(&mut c, "n2");
    c.heal();
    run(&mut c, 2);
    assert_eq!(
        answer(&mut c, "n1", 3),
        Some(Response::NotLeader {
            leader: Some("n2".into())
        })
    );
}

#[test]
fn lease_reads_need_no_round() {
    let mut c = cluster(3, |cfg| {
        cfg.check_quorum = true;
        cfg.lease_ticks = Some(5);
    });
    elect(&mut c, "n1");
    run(&mut c, 2);
    c.propose("n1", 1, Request::Read).unwrap();
    assert_eq!(
        answer(&mut c, "n1", 1),
        Some(Response::Log { log: vec![].into() })
    );
}

#[test]
fn a_deposed_leader_drops_its_proposals() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    c.isolate("n1");
    c.propose("n1", 1, write("w")).unwrap();
    c.stabilize(100);
    elect(&mut c, "n2");
    c.heal();
    run(&mut c, 2);
    assert_eq!(answer(&mut c, "n1", 1), Some(Response::Dropped));
    assert_eq!(
        c.propose("n1", 2, write("x")),
        Err(raftd::core::ProposeError::NotLeader {
            leader: Some("n2".into())
        })
    );
}

#[test]
fn a_voided_lease_needs_fresh_acknowledgements() {
    let mut c = cluster(3, |cfg| {
        cfg.check_quorum = true;
        cfg.lease_ticks = Some(5);
    });
    elect(&mut c, "n1");
    run(&mut c, 2);
    assert!(c.status("n1").unwrap().lease_valid);
    c.node_mut("n1").unwrap().void_lease();
    assert!(!c.status("n1").unwrap().lease_valid);
    c.propose("n1", 1, Request::Read).unwrap();
    assert_eq!(
        answer(&mut c, "n1", 1),
        None,
        "no lease read: a read-index round instead"
    );
    c.stabilize(1000);
    assert!(answer(&mut c, "n1", 1).is_some());
    run(&mut c, 1);
    assert!(c.status("n1").unwrap().lease_valid);
}
