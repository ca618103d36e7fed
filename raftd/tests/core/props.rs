//! Randomized schedules (delivery order, loss, partitions, crashes, proposals) checked
//! for election safety, committed entries never changing, log matching and, once every
//! fault is healed, progress; for at most one acting leader when leases are on and time
//! runs alike everywhere; for one seed giving one run; and for bugs never crashing the
//! core. `PROP_BUGS=<names>` runs the safety properties against a broken core.

use proptest::prelude::*;
use raftd::core::testkit::{node_ids, Cluster};
use raftd::core::{Bug, BugSet, Request, Role};

#[derive(Debug, Clone)]
enum Action {
    Tick(usize),
    TickAll,
    Deliver(usize),
    Drop(usize),
    Stabilize(usize),
    Partition(u8),
    Heal,
    Crash(usize),
    Restart(usize),
    Write(usize),
    Acquire(usize),
    Read(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..5usize).prop_map(Action::Tick),
        6 => Just(Action::TickAll),
        10 => any::<usize>().prop_map(Action::Deliver),
        2 => any::<usize>().prop_map(Action::Drop),
        3 => (1..40usize).prop_map(Action::Stabilize),
        1 => any::<u8>().prop_map(Action::Partition),
        1 => Just(Action::Heal),
        1 => (0..5usize).prop_map(Action::Crash),
        2 => (0..5usize).prop_map(Action::Restart),
        3 => (0..5usize).prop_map(Action::Write),
        1 => (0..5usize).prop_map(Action::Acquire),
        1 => (0..5usize).prop_map(Action::Read),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    nodes: usize,
    pre_vote: bool,
    check_quorum: bool,
    lease: bool,
    seed: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(3usize), Just(5)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(nodes, pre_vote, check_quorum, lease, seed)| Setup {
            nodes,
            pre_vote,
            check_quorum,
            lease,
            seed,
        })
}

/// `PROP_BUGS=vote-twice` (any bug names) runs the schedules against a broken core, to
/// watch the property find the bug.
fn cluster(s: &Setup) -> Cluster {
    let bugs = std::env::var("PROP_BUGS").unwrap_or_default();
    let bugs = BugSet::parse(&bugs).unwrap_or_else(|e| panic!("PROP_BUGS: {e}"));
    Cluster::new(s.nodes, s.seed, |c| {
        c.election_ticks_min = 4;
        c.election_ticks_max = 8;
        c.heartbeat_ticks = 1;
        c.pre_vote = s.pre_vote;
        c.check_quorum = s.check_quorum || s.lease;
        c.lease_ticks = s.lease.then_some(3);
        c.max_entries_per_append = 3;
        c.bugs = bugs.clone();
    })
}

fn apply(c: &mut Cluster, ids: &[String], a: &Action, next_req: &mut u64) {
    let node = |i: usize| ids[i % ids.len()].clone();
    *next_req += 1;
    match a {
        Action::Tick(i) => c.tick(&node(*i)),
        Action::TickAll => c.tick_all(),
        Action::Deliver(p) if !c.in_flight().is_empty() => {
            c.deliver_at(p % c.in_flight().len());
        }
        Action::Drop(p) if !c.in_flight().is_empty() => {
            c.drop_at(p % c.in_flight().len());
        }
        Action::Deliver(_) | Action::Drop(_) => {}
        Action::Stabilize(n) => {
            c.stabilize(*n);
        }
        Action::Partition(mask) => {
            let (a, b): (Vec<_>, Vec<_>) = ids
                .iter()
                .cloned()
                .enumerate()
                .partition(|(i, _)| mask & (1 << i) != 0);
            let strip =
                |v: Vec<(usize, String)>| v.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
            c.heal();
            c.partition(&[strip(a), strip(b)]);
        }
        Action::Heal => c.heal(),
        Action::Crash(i) => c.crash(&node(*i)),
        Action::Restart(i) if !c.is_up(&node(*i)) => c.restart(&node(*i)),
        Action::Restart(_) => {}
        Action::Write(i) => {
            let id = format!("w{next_req}");
            let _ = c.propose(
                &node(*i),
                *next_req,
                Request::Write {
                    id,
                    token: None,
                    election: None,
                },
            );
        }
        Action::Acquire(i) => {
            let request = Request::Acquire {
                election: "e".into(),
                client: format!("p{i}"),
                ttl_ticks: 6,
            };
            let _ = c.propose(&node(*i), *next_req, request);
        }
        Action::Read(i) => {
            let _ = c.propose(&node(*i), *next_req, Request::Read);
        }
    }
}

/// After healing and restarting everyone, a leader emerges and a write commits.
fn converges(c: &mut Cluster, ids: &[String]) -> Result<(), String> {
    c.heal();
    for id in ids {
        if !c.is_up(id) {
            c.restart(id);
        }
    }
    for round in 0..300u64 {
        c.tick_all();
        c.stabilize(10_000);
        let Some(leader) = c.leader() else { continue };
        let req = 1_000_000 + round;
        let write = Request::Write {
            id: format!("final{round}"),
            token: None,
            election: None,
        };
        if c.propose(&leader, req, write).is_err() {
            continue;
        }
        for _ in 0..20 {
            c.stabilize(10_000);
            if c.take_responses(&leader)
                .iter()
                .any(|(r, resp)| *r == req && resp.is_ok())
            {
                return Ok(());
            }
            c.tick_all();
        }
    }
    Err(format!(
        "no write committed after healing; leaders {:?}",
        c.leaders()
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_keep_raft_safe(s in setup(), actions in prop::collection::vec(action(), 1..300)) {
        let ids = node_ids(s.nodes);
        let mut c = cluster(&s);
        let mut next_req = 0;
        for a in &actions {
            apply(&mut c, &ids, a, &mut next_req);
            prop_assert!(c.violations().is_empty(), "after {a:?}: {:?}", c.violations());
        }
        prop_assert_eq!(c.check_log_matching(), vec![]);
        converges(&mut c, &ids).map_err(TestCaseError::fail)?;
        prop_assert!(c.violations().is_empty(), "{:?}", c.violations());
        let leaders = c.leaders();
        prop_assert!(leaders.iter().all(|(id, _)| c.status(id).is_some_and(|st| st.role == Role::Leader)));
    }
}

/// Time passes for everyone alike (a lease assumes clocks run at one rate), while
/// messages are delayed, reordered, lost, partitioned, and nodes crash and restart.
fn uniform_time_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => Just(Action::TickAll),
        10 => any::<usize>().prop_map(Action::Deliver),
        2 => any::<usize>().prop_map(Action::Drop),
        3 => (1..40usize).prop_map(Action::Stabilize),
        1 => any::<u8>().prop_map(Action::Partition),
        1 => Just(Action::Heal),
        1 => (0..5usize).prop_map(Action::Crash),
        2 => (0..5usize).prop_map(Action::Restart),
        2 => (0..5usize).prop_map(Action::Write),
        1 => (0..5usize).prop_map(Action::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn leases_keep_leadership_exclusive(
        nodes in prop_oneof![Just(3usize), Just(5)],
        pre_vote in any::<bool>(),
        seed in any::<u64>(),
        actions in prop::collection::vec(uniform_time_action(), 1..400),
    ) {
        let s = Setup { nodes, pre_vote, check_quorum: true, lease: true, seed };
        let ids = node_ids(s.nodes);
        let mut c = cluster(&s);
        let mut next_req = 0;
        let mut acting_seen = 0;
        for a in &actions {
            apply(&mut c, &ids, a, &mut next_req);
            let acting: Vec<_> =
                ids.iter().filter(|id| c.status(id).is_some_and(|st| st.acting_leader)).collect();
            prop_assert!(acting.len() <= 1, "after {a:?}: acting leaders {acting:?}");
            acting_seen += acting.len();
        }
        prop_assert!(c.violations().is_empty(), "{:?}", c.violations());
        if std::env::var("PROP_VERBOSE").is_ok() { eprintln!("acting-leader observations: {acting_seen} of {}", actions.len()); }
    }
}

/// Everything observable about a run, for comparing two runs.
fn fingerprint(c: &mut Cluster, ids: &[String]) -> String {
    let mut out = String::new();
    for id in ids {
        out += &format!(
            "{:?}\n{:?}\n",
            c.status(id),
            c.node(id).map(|n| n.log_entries().to_vec())
        );
    }
    out += &format!("{:?}\n{:?}\n", c.take_all_responses(), c.in_flight());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn one_seed_one_run(s in setup(), actions in prop::collection::vec(action(), 1..200)) {
        let ids = node_ids(s.nodes);
        let runs: Vec<String> = (0..2)
            .map(|_| {
                let mut c = cluster(&s);
                let mut next_req = 0;
                for a in &actions {
                    apply(&mut c, &ids, a, &mut next_req);
                }
                fingerprint(&mut c, &ids)
            })
            .collect();
        prop_assert_eq!(&runs[0], &runs[1]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// A server runs with bugs switched on: broken protocol states must not trip the
    /// core's assertions (which would crash it instead of showing the anomaly).
    #[test]
    fn bugs_never_crash_the_core(
        s in setup(),
        bug_mask in 1u16..(1 << Bug::ALL.len()),
        actions in prop::collection::vec(action(), 1..300),
    ) {
        let bugs: BugSet = Bug::ALL.into_iter().enumerate().filter(|(i, _)| bug_mask & (1 << i) != 0).map(|(_, b)| b).collect();
        let ids = node_ids(s.nodes);
        let mut c = Cluster::new(s.nodes, s.seed, |cfg| {
            cfg.election_ticks_min = 4;
            cfg.election_ticks_max = 8;
            cfg.heartbeat_ticks = 1;
            cfg.pre_vote = s.pre_vote;
            cfg.check_quorum = s.check_quorum || (s.lease && !bugs.has(Bug::LeaseWithoutQuorumCheck));
            cfg.lease_ticks = s.lease.then_some(3);
            cfg.bugs = bugs.clone();
        });
        let mut next_req = 0;
        for a in &actions {
            apply(&mut c, &ids, a, &mut next_req);
        }
        for id in &ids {
            if !c.is_up(id) {
                c.restart(id);
            }
        }
        c.heal();
        for _ in 0..30 {
            c.tick_all();
            c.stabilize(2_000);
        }
    }
}
