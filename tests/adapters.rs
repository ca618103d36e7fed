//! `splitbrain run` against etcd, ZooKeeper, Redis Sentinel and Redlock: short docker runs that
//! must come out valid, an unfenced lock that must be caught, and `--endpoints` against a
//! cluster this test starts itself on loopback; and the register workload on raftd, etcd
//! and ZooKeeper.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use workloads::etcd::EtcdSystem;
use workloads::system::{FencingMode, NodeAddr, System, SystemOptions, Topology};

struct Ran {
    code: i32,
    stderr: String,
    dir: Option<PathBuf>,
}

impl Ran {
    fn json(&self, file: &str) -> serde_json::Value {
        let dir = self.dir.as_ref().expect("the run made a results directory");
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{file} in {}: {e}\n{}", dir.display(), self.stderr));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
    }

    fn violations(&self) -> Vec<String> {
        let results = self.json("results.json");
        results["anomalies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["severity"] == "violation")
            .map(|a| a["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// The clock shim Redis nodes preload, built once for every run of this binary.
fn clock_library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        std::env::var_os("SPLITBRAIN_CLOCK_LIB")
            .map(PathBuf::from)
            .unwrap_or_else(common::clock_library)
    })
}

fn run(results: &Path, args: &[&str]) -> Ran {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("run")
        .args(args)
        .env("SPLITBRAIN_CLOCK_LIB", clock_library())
        .arg("--results")
        .arg(results)
        .output()
        .expect("splitbrain runs");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir: std::fs::canonicalize(results.join("latest")).ok(),
    }
}

/// A short docker run of `system`: 3 nodes, `secs` seconds. Extra args add to these.
fn short_docker_run(results: &Path, system: &str, secs: &str, extra: &[&str]) -> Ran {
    let mut args = vec![
        "--system",
        system,
        "--nodes",
        "3",
        "--runtime",
        "docker",
        "--time-limit",
        secs,
        "--nemesis-interval-ms",
        "4000",
        "--nemesis-duration-ms",
        "2000",
        "--recovery-secs",
        "3",
        "--seed",
        "11",
    ];
    args.extend_from_slice(extra);
    run(results, &args)
}

fn assert_valid(ran: &Ran) {
    let results = ran.json("results.json");
    // What was found, in the failure message, since the run's directory goes with the test.
    let found: Vec<String> = results["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["severity"] == "violation")
        .map(|a| format!("{}: {}", a["kind"], a["message"]))
        .collect();
    assert_eq!(ran.code, 0, "{found:#?}\n{}", ran.stderr);
    assert_eq!(results["valid"], true, "{found:#?}");
    let test = ran.json("test.json");
    assert_eq!(test["guarantees"]["fence_on_grant"], true);
    assert_eq!(test["guarantees"]["exclusive_leadership"], false);
}

/// tests/run.rs runs etcd under partitions and kills; this adds pauses and an isolated
/// leader.
#[test]
fn etcd_under_pauses_and_an_isolated_leader_is_valid() {
    let results = tempfile::tempdir().unwrap();
    let nemesis = ["--nemesis", "pause,partition-isolate-leader"];
    let ran = short_docker_run(results.path(), "etcd", "15", &nemesis);
    assert_valid(&ran);
    let ops = std::fs::read_to_string(ran.dir.as_ref().unwrap().join("history.jsonl")).unwrap();
    assert!(
        ops.contains(r#""f":"pause""#),
        "the nemesis paused a member"
    );
}

#[test]
fn zookeeper_under_pauses_and_clock_jumps_is_valid() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "zookeeper",
        "15",
        &["--nemesis", "pause,clock"],
    );
    assert_valid(&ran);
}

/// Redis with a Sentinel beside each node, without faults: one primary all along, and
/// every acknowledged write in every final read (the primary's and each node's own).
/// Both durability options on: every write waits for a replica, and the primary would
/// refuse writes without one.
#[test]
fn redis_sentinel_without_faults_is_valid() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "redis-sentinel",
        "10",
        &[
            "--nemesis",
            "none",
            "--system-option",
            "wait=1",
            "--system-option",
            "min-replicas-to-write=1",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let outcome = ran.json("results.json");
    assert_eq!(outcome["valid"], true, "{}", ran.stderr);
    let checkers = &outcome["checkers"];
    let writes = &checkers["availability"]["figures"]["ops"]["write"];
    assert!(writes["ok"].as_u64().unwrap() > 50, "{writes}");
    assert_eq!(checkers["lost-writes"]["figures"]["final_reads"], 4);
    let test = ran.json("test.json");
    assert_eq!(test["spec"]["system_options"]["wait"], "1", "{test}");
    // Redis promises no lease and serves no lock.
    assert_eq!(test["guarantees"]["exclusive_leadership"], false);
    assert_eq!(test["guarantees"]["fence_on_grant"], false);
}

/// Clock faults reach Redis through splitbrain's preloaded shim (libfaketime hangs
/// Debian's jemalloc-linked redis-server at start). The run takes them, the history
/// records them done, and the nodes' Sentinels saw their clocks jump: a Sentinel whose
/// clock moves more than 2 s between two timer ticks (or back) enters TILT mode and logs
/// `+tilt`.
#[test]
fn redis_sentinel_takes_clock_jumps() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "redis-sentinel",
        "10",
        &["--nemesis", "clock"],
    );
    // A verdict, whichever: Redis promises nothing under clock jumps.
    assert!(ran.code == 0 || ran.code == 1, "{}", ran.stderr);
    for refusal in ["cannot be injected", "unsupported"] {
        assert!(!ran.stderr.contains(refusal), "{}", ran.stderr);
    }
    let dir = ran.dir.as_ref().unwrap();
    let ops = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let jumps_done = ops
        .lines()
        .filter(|l| l.contains(r#""process":"nemesis","type":"ok","f":"clock""#))
        .count();
    assert!(jumps_done > 0, "no clock fault done:\n{}", ran.stderr);
    let tilted = ["n1", "n2", "n3"].iter().any(|n| {
        let log = dir.join("nodes").join(n).join(format!("{n}.log"));
        std::fs::read_to_string(log).is_ok_and(|text| text.contains("+tilt"))
    });
    assert!(tilted, "no Sentinel saw its clock jump:\n{}", ran.stderr);
}

/// The primary cut off from the other nodes, but not from its clients, acknowledges
/// writes until the majority's Sentinels promote a replica; made a replica itself after
/// the heal, it drops them. A partition of 10 s outlasts a failover even when the first
/// attempt finds no replica fit to promote (their last INFO too old) and the next waits
/// twice the failover timeout (6 s).
#[test]
fn redis_sentinel_loses_the_writes_an_isolated_primary_acknowledged() {
    let results = tempfile::tempdir().unwrap();
    let ran = run(
        results.path(),
        &[
            "--system",
            "redis-sentinel",
            "--nodes",
            "3",
            "--runtime",
            "docker",
            "--nemesis",
            "partition-isolate-leader",
            "--time-limit",
            "30",
            "--nemesis-interval-ms",
            "12000",
            "--nemesis-duration-ms",
            "10000",
            "--recovery-secs",
            "3",
            "--seed",
            "11",
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let kinds = ran.violations();
    assert!(kinds.iter().any(|k| k == "lost-write"), "{kinds:?}");
    // The recovery point counts them against the partitions that cost them.
    let results = ran.json("results.json");
    let rpo = &results["checkers"]["lost-writes"]["figures"]["rpo"];
    assert_eq!(
        rpo["lost_acknowledged"], results["counts"]["anomalies"]["lost-write"],
        "{rpo}"
    );
    assert!(rpo["max_per_fault"].as_u64().unwrap() > 0, "{rpo}");
}

/// Redlock over independent Redis primaries, with no fault and no holder stalling: the
/// lock holds, and every grant's writes land while it is valid.
#[test]
fn redlock_without_faults_or_stalls_is_valid() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "redlock",
        "10",
        &["--nemesis", "none", "--stall-probability", "0"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let outcome = ran.json("results.json");
    assert_eq!(outcome["valid"], true, "{}", ran.stderr);
    let acquired = &outcome["checkers"]["availability"]["figures"]["ops"]["acquire"]["ok"];
    assert!(acquired.as_u64().unwrap() > 10, "{acquired}");
    let test = ran.json("test.json");
    assert_eq!(test["spec"]["fencing"], "none");
    assert_eq!(test["guarantees"]["fence_on_grant"], true);
    // Nothing leads, so no leaderless window is reported.
    assert_eq!(test["guarantees"]["leaderless"], true);
    let figures = &outcome["checkers"]["availability"]["figures"];
    assert!(figures.get("leaderless_windows").is_none(), "{figures}");
}

/// A Redlock holder that stalls past its validity (a garbage-collection pause) still
/// writes, and nothing stops the write: Redlock has no token for the store to check.
#[test]
fn a_redlock_holder_stalled_past_its_validity_is_caught() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "redlock",
        "15",
        &["--nemesis", "none", "--stall-probability", "0.5"],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let kinds = ran.violations();
    assert!(kinds.iter().any(|k| k == "stale-grant-write"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "not-linearizable"), "{kinds:?}");
}

/// Holders stall past their grant now and then (the workload's stalls); with nothing
/// fencing their writes, one gets in after a newer grant.
#[test]
fn an_unfenced_etcd_lock_is_caught() {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        "etcd",
        "25",
        &[
            "--fencing",
            "none",
            "--nemesis",
            "none",
            "--rate",
            "60",
            "--concurrency",
            "8",
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let kinds = ran.violations();
    assert!(kinds.iter().any(|k| k == "stale-grant-write"), "{kinds:?}");
}

/// `count` distinct loopback ports, free when chosen and outside the ephemeral range (so
/// no port-0 socket or outgoing connection takes one before its node binds it).
fn free_ports(count: usize) -> Vec<u16> {
    raftd::ports::loopback_ports(count).expect("free loopback ports")
}

/// A three-member etcd on loopback, as a user's own cluster; killed on drop.
struct OwnEtcd {
    topology: Topology,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl OwnEtcd {
    fn start() -> OwnEtcd {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(6);
        let topology = Topology {
            nodes: (0..3)
                .map(|i| NodeAddr {
                    bind: None,
                    name: format!("n{}", i + 1),
                    host: "127.0.0.1".into(),
                    client_port: ports[2 * i],
                    peer_port: ports[2 * i + 1],
                    extra_ports: Vec::new(),
                })
                .collect(),
        };
        let options = SystemOptions {
            data_root: dir.path().display().to_string(),
            ..SystemOptions::default()
        };
        let specs = EtcdSystem::new(FencingMode::Grant)
            .node_specs(&topology, &options)
            .unwrap();
        let children = specs
            .iter()
            .map(|s| {
                Command::new(&s.command[0])
                    .args(&s.command[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start etcd")
            })
            .collect();
        OwnEtcd {
            topology,
            children,
            _dir: dir,
        }
    }

    fn endpoints(&self) -> String {
        let eps: Vec<String> = self
            .topology
            .nodes
            .iter()
            .map(|n| format!("{}:{}", n.host, n.client_port))
            .collect();
        eps.join(",")
    }
}

impl Drop for OwnEtcd {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn endpoints_run_against_a_cluster_of_ones_own_and_leave_it_running() {
    let mut etcd = OwnEtcd::start();
    let endpoints = etcd.endpoints();
    let results = tempfile::tempdir().unwrap();
    let ran = run(
        results.path(),
        &[
            "--system",
            "etcd",
            "--endpoints",
            &endpoints,
            "--nemesis",
            "none",
            "--time-limit",
            "5",
            "--recovery-secs",
            "0",
            "--seed",
            "3",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let test = ran.json("test.json");
    assert_eq!(test["runtime"]["name"], "external");
    assert_eq!(test["spec"]["nodes"], 3);
    assert_eq!(ran.json("results.json")["valid"], true);
    // Every line says what happened to a cluster of one's own, and nothing else.
    for truth in [
        "using your cluster of 3 etcd endpoints",
        "no faults: ",
        "final phase: no fault is in force, nothing to undo",
        "leaving your cluster running",
    ] {
        assert!(
            ran.stderr.contains(truth),
            "missing {truth:?}:\n{}",
            ran.stderr
        );
    }
    for claim in ["starting 3", "image", "tearing down", "heal", "clock reset"] {
        assert!(
            !ran.stderr.contains(claim),
            "claims {claim:?}:\n{}",
            ran.stderr
        );
    }
    for child in &mut etcd.children {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the user's cluster still runs"
        );
    }

    let refused = run(
        results.path(),
        &[
            "--system",
            "etcd",
            "--endpoints",
            &endpoints,
            "--nemesis",
            "kill",
        ],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--endpoints"), "{}", refused.stderr);
}

/// The register workload (reads, writes and compare-and-sets of a few keys) on `system`,
/// judged by the register model: valid, with enough ops of every kind read.
fn assert_registers_linearizable(system: &str, nemesis: &str) {
    let results = tempfile::tempdir().unwrap();
    let ran = short_docker_run(
        results.path(),
        system,
        "20",
        &[
            "--workload",
            "register",
            "--nemesis",
            nemesis,
            "--rate",
            "40",
        ],
    );
    let outcome = ran.json("results.json");
    assert_eq!(ran.code, 0, "{:#?}\n{}", ran.violations(), ran.stderr);
    assert_eq!(outcome["valid"], true, "{:#?}", ran.violations());
    let model = &outcome["checkers"]["register-model"];
    assert_eq!(model["valid"], true, "{model}");
    let exercised = outcome["exercised"]["register_ops_ok"].as_u64().unwrap();
    assert!(exercised > 100, "{exercised} register ops ok");
    assert!(outcome["exercised"]["faults_injected"].as_u64().unwrap() > 0);
    let history = std::fs::read_to_string(ran.dir.as_ref().unwrap().join("history.jsonl")).unwrap();
    for shape in [
        r#""type":"ok","f":"cas""#,
        r#""type":"ok","f":"write""#,
        r#""type":"ok","f":"read""#,
    ] {
        assert!(history.contains(shape), "no {shape} in the history");
    }
    let test = ran.json("test.json");
    assert_eq!(test["spec"]["workload"], "register");
    let command = test["command"].as_str().unwrap_or_default();
    assert!(command.contains("--workload register"), "{command}");
}

#[test]
fn etcd_registers_are_linearizable_under_partitions_kills_and_pauses() {
    assert_registers_linearizable("etcd", "partition,kill,pause");
}

#[test]
fn zookeeper_registers_are_linearizable_under_partitions_kills_and_pauses() {
    assert_registers_linearizable("zookeeper", "partition,kill,pause");
}

#[test]
fn raftd_registers_are_linearizable_under_every_fault() {
    assert_registers_linearizable("raftd", "all");
}
