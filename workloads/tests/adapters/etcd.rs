//! etcd: node specs, then every client call against a three-member cluster on loopback.

use std::collections::BTreeSet;

use checkers::{AnomalyKind, OpType, Validity};
use nemesis::FaultKind;
use workloads::etcd::EtcdSystem;
use workloads::system::{FencingMode, System, SystemOptions};
use workloads::{Cluster, Outcome};

use super::procs::{loopback_topology, ProcCluster};

fn has_flag(command: &[String], flag: &str, value: &str) -> bool {
    command.windows(2).any(|w| w[0] == flag && w[1] == value)
}

#[test]
fn specs_carry_a_static_cluster_pre_vote_and_fast_timeouts() {
    let system = EtcdSystem::new(FencingMode::Grant);
    let topology = loopback_topology(3, 0);
    let specs = system
        .node_specs(&topology, &SystemOptions::default())
        .unwrap();
    assert_eq!(specs.len(), 3);
    let n2 = &topology.nodes[1];
    let cmd = &specs[1].command;
    assert_eq!(cmd[0], "/usr/bin/etcd");
    assert!(has_flag(cmd, "--name", "n2"));
    assert!(has_flag(cmd, "--data-dir", "/data/n2"));
    assert_eq!(specs[1].data_dir, "/data/n2");
    assert!(cmd.iter().any(|a| a == "--pre-vote"));
    assert!(has_flag(cmd, "--heartbeat-interval", "50"));
    assert!(has_flag(cmd, "--election-timeout", "500"));
    let url = format!("http://127.0.0.1:{}", n2.client_port);
    assert!(has_flag(cmd, "--listen-client-urls", &url));
    let initial = cmd
        .windows(2)
        .find(|w| w[0] == "--initial-cluster")
        .map(|w| w[1].clone())
        .unwrap();
    for node in &topology.nodes {
        let member = format!("{}=http://127.0.0.1:{}", node.name, node.peer_port);
        assert!(initial.contains(&member), "{initial}");
    }
}

#[test]
fn raftd_bugs_and_clock_faults_are_refused_with_reasons() {
    let system = EtcdSystem::new(FencingMode::Grant);
    let options = SystemOptions {
        bugs: vec!["vote-twice".into()],
        ..SystemOptions::default()
    };
    let err = system
        .node_specs(&loopback_topology(3, 0), &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("raftd") && err.contains("vote-twice"), "{err}");
    let refused = system.refused_faults();
    assert!(refused[&FaultKind::Clock].contains("vDSO"));
    assert!(refused[&FaultKind::CrashPoint].contains("etcd has no crash points"));
    assert_eq!(refused.len(), 2, "partitions, pauses and kills are fine");
    let g = system.guarantees(&SystemOptions::default());
    assert!(!g.exclusive_leadership && g.fence_on_grant);
}

async fn started(fencing: FencingMode) -> (EtcdSystem, ProcCluster, Cluster) {
    let system = EtcdSystem::new(fencing);
    let etcd = ProcCluster::start(&system, 3, SystemOptions::default());
    let cluster = etcd.clients(&system).await;
    etcd.wait_for_leader(&cluster).await;
    (system, etcd, cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_exclusive_fenced_and_released() {
    let (_system, _etcd, cluster) = started(FencingMode::Grant).await;
    let (a, b) = (&cluster.clients()[0], &cluster.clients()[1]);
    let token = match a.acquire("e1", "p1", 5000).await {
        Outcome::Ok(g) => g.token,
        other => panic!("acquire: {other:?}"),
    };
    assert_eq!(b.acquire("e1", "p2", 5000).await, Outcome::fail("held"));
    assert_eq!(b.holding("e1", token).await, Outcome::Ok(true));
    assert!(b.write("w1", Some(token), Some("e1")).await.is_ok());
    assert!(a.write("w2", None, None).await.is_ok());
    assert_eq!(a.release("e1", token).await, Outcome::Ok(()));
    assert_eq!(a.holding("e1", token).await, Outcome::Ok(false));
    assert_eq!(
        a.write("w3", Some(token), Some("e1")).await,
        Outcome::fail("stale-token"),
        "a released grant fences its holder off"
    );
    let next = b
        .acquire("e1", "p2", 5000)
        .await
        .ok()
        .expect("free again")
        .token;
    assert!(next > token, "tokens grow: {next} after {token}");
    let log = a.read().await.ok().expect("read");
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["w1", "w2"]);
    assert_eq!(log[0].token, Some(token));
    let local = cluster.clients()[2].read_local().await;
    assert!(local.is_ok(), "{local:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_fencing_rejects_tokens_below_the_largest_seen() {
    let (_system, _etcd, cluster) = started(FencingMode::Write).await;
    let c = &cluster.clients()[0];
    assert!(c.write("w1", Some(10), Some("e1")).await.is_ok());
    assert!(
        c.write("w2", Some(10), Some("e1")).await.is_ok(),
        "equal is fine"
    );
    assert!(c.write("w3", Some(12), Some("e1")).await.is_ok());
    assert_eq!(
        c.write("w4", Some(11), Some("e1")).await,
        Outcome::fail("stale-token")
    );
    let ids: Vec<String> = c
        .read()
        .await
        .ok()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["w1", "w2", "w3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_one_leader_whom_the_others_follow() {
    let (_system, _etcd, cluster) = started(FencingMode::Grant).await;
    // Each member learns the others' ids from their own answers: ask everyone twice.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.clear();
        for c in cluster.clients() {
            statuses.push(c.status().await.ok().expect("status"));
        }
    }
    let leaders: Vec<_> = statuses
        .iter()
        .filter(|s| s.role == checkers::Role::Leader)
        .collect();
    assert_eq!(leaders.len(), 1, "{statuses:?}");
    let term = leaders[0].term;
    // A settled cluster settles its leader's claim: its term is known.
    assert!(term.is_some_and(|t| t > 0), "{statuses:?}");
    for s in &statuses {
        assert_eq!(s.term, term);
        assert!(s.leader.is_some(), "{statuses:?}");
        assert!(s.applied.is_some() && s.commit.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_member_refuses_or_times_out_and_never_fails_a_write_falsely() {
    let (_system, etcd, cluster) = started(FencingMode::Grant).await;
    let leader = cluster.leader().await.unwrap();
    let i = etcd.index_of(&leader);
    etcd.signal(i, "STOP");
    let outcome = cluster.clients()[i].write("w1", None, None).await;
    etcd.signal(i, "CONT");
    assert_eq!(
        outcome,
        Outcome::info("timeout"),
        "a frozen member cannot answer"
    );
}

async fn stalling_history(fencing: FencingMode) -> (EtcdSystem, Vec<checkers::Op>) {
    let (system, _etcd, cluster) = started(fencing).await;
    // etcd counts lease TTLs in whole seconds.
    let ops = super::run_workload(cluster, super::stalling_params(5, 1000), 6).await;
    (system, ops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_holders_get_in_unfenced_and_are_fenced_off_by_grant() {
    let (system, ops) = stalling_history(FencingMode::None).await;
    let guarantees = system.guarantees(&SystemOptions::default());
    let (valid, kinds) = super::violations(&ops, &guarantees);
    assert_eq!(valid, Validity::Invalid, "{kinds:?}");
    assert!(kinds.contains(&AnomalyKind::StaleGrantWrite), "{kinds:?}");
    let fencing = BTreeSet::from([
        AnomalyKind::StaleGrantWrite,
        AnomalyKind::StaleTokenAccepted,
    ]);
    assert!(kinds.is_subset(&fencing), "{kinds:?}");

    let (system, ops) = stalling_history(FencingMode::Grant).await;
    let rejected = ops
        .iter()
        .filter(|op| op.kind == OpType::Fail && op.error.as_deref() == Some("stale-token"))
        .count();
    assert!(
        rejected > 0,
        "stalled holders' writes were tried and rejected"
    );
    let (valid, kinds) = super::violations(&ops, &system.guarantees(&SystemOptions::default()));
    assert_eq!(valid, Validity::Valid, "{kinds:?}");
}
