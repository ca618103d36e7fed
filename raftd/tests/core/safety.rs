//! One test per safety property of the Raft paper (Figure 3).

use raftd::core::testkit::Violation;
use raftd::core::Role;

use crate::support::{applied_ids, ask, cluster, elect, run, term, write};

/// Election Safety: at most one leader can be elected in a given term — under repeated
/// partitions that force many elections.
#[test]
fn election_safety() {
    for seed in 0..20u64 {
        let mut c = raftd::core::testkit::Cluster::new(5, seed, |cfg| {
            cfg.election_ticks_min = 4;
            cfg.election_ticks_max = 8;
            cfg.heartbeat_ticks = 1;
            cfg.pre_vote = seed % 2 == 0;
        });
        let ids = c.ids();
        for round in 0..30usize {
            c.heal();
            let cut = &ids[round % 5];
            c.isolate(cut);
            if round % 3 == 0 {
                c.isolate(&ids[(round + 2) % 5]);
            }
            run(&mut c, 12);
        }
        assert!(
            c.violations().is_empty(),
            "seed {seed}: {:?}",
            c.violations()
        );
        let terms: std::collections::BTreeSet<_> =
            c.leaders().into_iter().map(|(_, t)| t).collect();
        assert!(
            terms.len() == c.leaders().len(),
            "two current leaders share a term"
        );
        assert!(
            terms.iter().max().copied().unwrap_or(0) >= 5,
            "seed {seed}: too few elections to mean anything"
        );
    }
}

/// Leader Append-Only: a leader never overwrites or deletes its entries, even when an
/// old leader with a conflicting log talks to it.
#[test]
fn leader_append_only() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    c.isolate("n1");
    c.propose("n1", 1, write("lost")).unwrap();
    c.stabilize(1000);
    c.heal();
    c.isolate("n1");
    elect(&mut c, "n2");
    let before = c.node("n2").unwrap().log_entries().to_vec();
    c.heal();
    // n1 still thinks it leads term 1 and sends its conflicting entry to n2.
    c.tick("n1");
    c.stabilize(1000);
    assert_eq!(
        &c.node("n2").unwrap().log_entries()[..before.len()],
        &before[..]
    );
    assert_eq!(c.node("n1").unwrap().status().role, Role::Follower);
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}

/// Log Matching: logs that agree on an entry's index and term agree on all before it,
/// after a leader's uncommitted suffix was replaced.
#[test]
fn log_matching() {
    let mut c = cluster(5, |_| {});
    elect(&mut c, "n1");
    c.partition(&[
        vec!["n1".into(), "n2".into()],
        vec!["n3".into(), "n4".into(), "n5".into()],
    ]);
    for i in 0..3 {
        c.propose("n1", i, write(&format!("old{i}"))).unwrap();
    }
    c.stabilize(1000);
    elect(&mut c, "n3");
    for i in 10..13 {
        c.propose("n3", i, write(&format!("new{i}"))).unwrap();
    }
    c.stabilize(1000);
    c.heal();
    run(&mut c, 3);
    assert_eq!(c.check_log_matching(), vec![]);
    let logs: Vec<_> = c
        .ids()
        .iter()
        .map(|id| c.node(id).unwrap().log_entries().to_vec())
        .collect();
    assert!(
        logs.windows(2).all(|w| w[0] == w[1]),
        "logs did not converge"
    );
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}

/// Leader Completeness: an entry committed in a term is in the log of every leader of a
/// later term — a node missing it cannot win.
#[test]
fn leader_completeness() {
    let mut c = cluster(3, |_| {});
    elect(&mut c, "n1");
    c.isolate("n3");
    assert!(ask(&mut c, "n1", 1, write("w1")).is_some_and(|a| a.is_ok()));
    c.crash("n1");
    c.heal();
    assert!(!c.elect("n3", 5), "n3 lacks w1 and must not lead");
    elect(&mut c, "n2");
    assert!(term(&c, "n2") > 1);
    run(&mut c, 2);
    assert_eq!(applied_ids(&c, "n3"), ["w1"]);
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}

/// State Machine Safety: no two nodes apply different commands at one index, across
/// leader changes and restarts.
#[test]
fn state_machine_safety() {
    let mut c = cluster(5, |_| {});
    let mut req = 0;
    for round in 0..6usize {
        c.heal();
        if round % 2 == 1 {
            c.crash(&c.ids()[(round + 1) % 5].clone());
        }
        // Whoever can win (a node missing committed entries cannot).
        let ids = c.ids();
        let leader = (0..5)
            .map(|k| ids[(round + k) % 5].clone())
            .find(|id| c.is_up(id) && c.elect(id, 5))
            .expect("someone wins");
        for _ in 0..3 {
            req += 1;
            let _ = c.propose(&leader, req, write(&format!("w{req}")));
        }
        c.isolate(&leader);
        c.stabilize(1000);
        for id in c.ids() {
            if !c.is_up(&id) {
                c.restart(&id);
            }
        }
    }
    c.heal();
    run(&mut c, 25);
    let ids = c.ids();
    let logs: Vec<Vec<String>> = ids.iter().map(|id| applied_ids(&c, id)).collect();
    for w in logs.windows(2) {
        let common = w[0].len().min(w[1].len());
        assert_eq!(w[0][..common], w[1][..common]);
    }
    assert!(!logs[0].is_empty());
    assert!(c
        .violations()
        .iter()
        .all(|v| !matches!(v, Violation::CommittedChanged { .. })));
    assert!(c.violations().is_empty(), "{:?}", c.violations());
}
