//! ZooKeeper: node specs, then every client call against a three-server ensemble on
//! loopback.

use std::collections::BTreeSet;

use checkers::{AnomalyKind, OpType, Validity};
use workloads::system::{FencingMode, System, SystemOptions};
use workloads::zookeeper::ZkSystem;
use workloads::{Cluster, Outcome};

use super::procs::{loopback_topology, ProcCluster};

#[test]
fn specs_carry_zoo_cfg_myid_and_a_small_heap() {
    let system = ZkSystem::new(FencingMode::Grant);
    assert_eq!(system.ports().extra_ports, 1, "the election port");
    let topology = loopback_topology(3, 1);
    let specs = system
        .node_specs(&topology, &SystemOptions::default())
        .unwrap();
    let spec = &specs[2];
    assert_eq!(spec.data_dir, "/data/n3");
    assert_eq!(spec.command[0], "/usr/bin/java");
    assert!(spec.command.iter().any(|a| a == "-Xmx128m"));
    // A JVM killed by SIGKILL must leave no perf-data file in the host's /tmp.
    assert!(spec.command.iter().any(|a| a == "-XX:-UsePerfData"));
    assert_eq!(spec.command.last().unwrap(), "/data/n3/zoo.cfg");
    let files: std::collections::BTreeMap<_, _> = spec.files.iter().cloned().collect();
    assert_eq!(files["/data/n3/myid"], "3\n");
    let cfg = &files["/data/n3/zoo.cfg"];
    assert!(
        cfg.contains("tickTime=500\n") && cfg.contains("dataDir=/data/n3\n"),
        "{cfg}"
    );
    assert!(cfg.contains("4lw.commands.whitelist=srvr"), "{cfg}");
    for (i, node) in topology.nodes.iter().enumerate() {
        let line = format!(
            "server.{}=127.0.0.1:{}:{}\n",
            i + 1,
            node.peer_port,
            node.extra_ports[0]
        );
        assert!(cfg.contains(&line), "{cfg}");
    }
    assert_eq!(
        system.refused_faults().into_keys().collect::<Vec<_>>(),
        [nemesis::FaultKind::CrashPoint],
        "clock faults go through libfaketime; ZooKeeper has no crash points"
    );
    let g = system.guarantees(&SystemOptions::default());
    assert!(!g.exclusive_leadership && g.fence_on_grant);
}

#[test]
fn a_topology_without_election_ports_is_refused() {
    let system = ZkSystem::new(FencingMode::Grant);
    let err = system
        .node_specs(&loopback_topology(3, 0), &SystemOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("election port"), "{err}");
}

async fn started(fencing: FencingMode) -> (ZkSystem, ProcCluster, Cluster) {
    let system = ZkSystem::new(fencing);
    let zk = ProcCluster::start(&system, 3, SystemOptions::default());
    let cluster = zk.clients(&system).await;
    zk.wait_for_leader(&cluster).await;
    (system, zk, cluster)
}

/// Every call of the client, on one ensemble (a JVM ensemble is slow to start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_exclusive_fenced_released_and_statuses_agree() {
    let (_system, _zk, cluster) = started(FencingMode::Grant).await;
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
    let local = cluster.clients()[2]
        .read_local()
        .await
        .ok()
        .expect("local read");
    assert_eq!(local.len(), 2);

    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.clear();
        for c in cluster.clients() {
            statuses.push(c.status().await.ok().expect("status"));
        }
    }
    let leaders = statuses
        .iter()
        .filter(|s| s.role == checkers::Role::Leader)
        .count();
    assert_eq!(leaders, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| s.term == statuses[0].term && s.term > Some(0)));
    assert!(statuses.iter().all(|s| s.leader.is_some()), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_ends_with_its_time() {
    let (_system, _zk, cluster) = started(FencingMode::Write).await;
    let c = &cluster.clients()[0];
    let token = c
        .acquire("e1", "p1", 1000)
        .await
        .ok()
        .expect("acquire")
        .token;
    assert!(c.write("w1", Some(token), Some("e1")).await.is_ok());
    assert_eq!(
        c.write("w2", Some(token - 1), Some("e1")).await,
        Outcome::fail("stale-token"),
        "write fencing refuses a token below one it accepted"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.holding("e1", token).await == Outcome::Ok(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the grant outlived its time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        c.acquire("e1", "p2", 1000).await.is_ok(),
        "free once it ended"
    );
}

async fn stalling_history(fencing: FencingMode) -> (ZkSystem, Vec<checkers::Op>) {
    let (system, _zk, cluster) = started(fencing).await;
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
