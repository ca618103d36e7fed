//! Integration tests of the runtimes (docker, netns, local) with real raftd nodes, and of
//! `splitbrain clean`. They need root, a docker daemon and a built raftd
//! (`cargo build -p raftd`, or SPLITBRAIN_RAFTD=/path/to/raftd).

mod common;

use splitbrain::runtime;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nemesis::runtime::Grudge;
use runtime::{NodePorts, Runtime, RuntimeConfig, RuntimeKind};
use serde_json::Value;
use workloads::system::{Image, ImagePart, ImageRecipe, NodeSpec, Topology};

/// Clusters share two cores; one at a time keeps elections honest.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LEADER_DEADLINE_S: u64 = 30;
const HTTP_TIMEOUT_MS: u64 = 1000;

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

fn raftd_binary() -> PathBuf {
    let p = std::env::var_os("SPLITBRAIN_RAFTD")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/raftd"));
    assert!(
        p.is_file(),
        "no raftd at {} — run `cargo build -p raftd` first",
        p.display()
    );
    p
}

fn raftd_specs(topo: &Topology, binary: &Path) -> Vec<NodeSpec> {
    topo.nodes
        .iter()
        .map(|me| {
            let mut command = vec![
                workloads::raftd::RAFTD_IN_IMAGE.to_string(),
                "--id".into(),
                me.name.clone(),
                "--data-dir".into(),
                "/data".into(),
                "--listen".into(),
                format!("{}:{}", me.host, me.client_port),
                "--peer-listen".into(),
                format!("{}:{}", me.host, me.peer_port),
            ];
            for p in &topo.nodes {
                command.push("--peer".into());
                command.push(format!(
                    "{}={}:{}/{}:{}",
                    p.name, p.host, p.peer_port, p.host, p.client_port
                ));
            }
            NodeSpec {
                name: me.name.clone(),
                image: Image::Recipe(ImageRecipe {
                    name: "raftd".into(),
                    parts: vec![ImagePart::Program {
                        host: binary.to_path_buf(),
                        at: workloads::raftd::RAFTD_IN_IMAGE.into(),
                        package: None,
                        optional: false,
                    }],
                }),
                clock: (workloads::raftd::DESCRIPTOR.clock)(),
                command,
                env: vec![("RUST_LOG".into(), "info".into())],
                data_dir: "/data".into(),
                files: vec![],
            }
        })
        .collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(HTTP_TIMEOUT_MS))
        .build()
        .unwrap()
}

fn addr_of<'a>(topo: &'a Topology, name: &str) -> &'a workloads::system::NodeAddr {
    topo.nodes.iter().find(|a| a.name == name).unwrap()
}

async fn status(topo: &Topology, name: &str) -> Option<Value> {
    let a = addr_of(topo, name);
    let r = http()
        .get(format!("http://{}:{}/status", a.host, a.client_port))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

/// The leader a majority agrees on, polled until `deadline`.
async fn wait_leader(
    topo: &Topology,
    among: &[String],
    deadline: Duration,
) -> Option<(String, u64)> {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        let mut votes: BTreeMap<(String, u64), usize> = BTreeMap::new();
        for n in among {
            if let Some(s) = status(topo, n).await {
                if let (Some(l), Some(t)) = (s["leader"].as_str(), s["term"].as_u64()) {
                    *votes.entry((l.to_string(), t)).or_default() += 1;
                }
            }
        }
        if let Some(((l, t), c)) = votes.into_iter().max_by_key(|(_, c)| *c) {
            let leader_says = status(topo, &l)
                .await
                .is_some_and(|s| s["role"] == "leader");
            if c * 2 > among.len() && leader_says && among.contains(&l) {
                return Some((l, t));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Every node's status and the tail of its log, for a test that is about to fail.
async fn dump_nodes(topo: &Topology, results: &Path) {
    for node in &topo.nodes {
        let n = &node.name;
        println!("{n}: {:?}", status(topo, n).await);
        let log = results.join(format!("nodes/{n}/{n}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        println!("{n} log tail:\n{}", tail.join("\n"));
    }
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn tcp_reachable(ns: &Path, to: SocketAddr) -> bool {
    common::in_netns(ns, move || {
        TcpStream::connect_timeout(&to, Duration::from_millis(700)).is_ok()
    })
}

fn udp_socket(ns: &Path, bind: SocketAddr) -> UdpSocket {
    common::in_netns(ns, move || {
        let s = UdpSocket::bind(bind).expect("bind udp");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s
    })
}

/// Whether a datagram from `a` reaches `b` (a few tries, since the first may race ARP).
fn udp_delivers(a: &UdpSocket, b: &UdpSocket) -> bool {
    let to = b.local_addr().unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..3 {
        a.send_to(b"ping", to).unwrap();
        if b.recv_from(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

fn grudge(pairs: &[(&str, &str)]) -> Grudge {
    let mut g = Grudge::default();
    for (a, b) in pairs {
        g.drops
            .entry(a.to_string())
            .or_insert_with(BTreeSet::new)
            .insert(b.to_string());
    }
    g
}

fn isolate(node: &str, n: usize) -> Grudge {
    let mut pairs = Vec::new();
    let others = names(n);
    for o in others.iter().filter(|o| *o != node) {
        pairs.push((node.to_string(), o.clone()));
        pairs.push((o.clone(), node.to_string()));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    grudge(&refs)
}

async fn make(kind: RuntimeKind, results: &Path) -> Box<dyn Runtime> {
    let id = runtime::new_run_id();
    let cfg = RuntimeConfig::new(&id, results).unwrap();
    runtime::create(kind, cfg).await.expect("create runtime")
}

/// From nothing to a cluster with a leader; returns the topology and the time it took.
async fn up(rt: &dyn Runtime, n: usize) -> (Topology, Duration) {
    let t0 = Instant::now();
    let topo = rt.plan(n, &NodePorts::default()).await.expect("plan");
    rt.start_cluster(raftd_specs(&topo, &raftd_binary()))
        .await
        .expect("start");
    let leader = wait_leader(&topo, &names(n), Duration::from_secs(LEADER_DEADLINE_S)).await;
    assert!(
        leader.is_some(),
        "no leader within {LEADER_DEADLINE_S} s on {}",
        rt.kind()
    );
    (topo, t0.elapsed())
}

async fn write(topo: &Topology, leader: &str, id: &str) -> bool {
    let a = addr_of(topo, leader);
    let body = serde_json::json!({"id": id, "token": null, "election": null});
    let r = http()
        .post(format!("http://{}:{}/write", a.host, a.client_port))
        .json(&body)
        .send()
        .await;
    r.is_ok_and(|r| r.status().is_success())
}

async fn local_log_has(topo: &Topology, name: &str, id: &str) -> bool {
    let a = addr_of(topo, name);
    let Ok(r) = http()
        .get(format!(
            "http://{}:{}/read?local=true",
            a.host, a.client_port
        ))
        .send()
        .await
    else {
        return false;
    };
    let Ok(v) = r.json::<Value>().await else {
        return false;
    };
    v["log"]
        .as_array()
        .is_some_and(|l| l.iter().any(|e| e["id"] == id))
}

async fn poll(deadline: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Partition, one-way, pause, kill and clock on a running 3-node cluster with namespaces.
async fn exercise_faults(rt: &dyn Runtime, topo: &Topology) {
    let ns: BTreeMap<String, PathBuf> = {
        let mut m = BTreeMap::new();
        for n in names(3) {
            m.insert(
                n.clone(),
                rt.node_netns(&n)
                    .await
                    .unwrap()
                    .expect("netns of a running node"),
            );
        }
        m
    };
    let peer = |n: &str| -> SocketAddr {
        let a = addr_of(topo, n);
        format!("{}:{}", a.host, a.peer_port).parse().unwrap()
    };

    // Isolation: n1 reaches no peer; heal restores it.
    assert!(
        tcp_reachable(&ns["n1"], peer("n2")),
        "n1 reaches n2 before any fault"
    );
    let t = Instant::now();
    rt.partition(&isolate("n1", 3)).await.unwrap();
    let apply = t.elapsed();
    assert!(
        !tcp_reachable(&ns["n1"], peer("n2")),
        "isolated n1 still reaches n2"
    );
    assert!(
        !tcp_reachable(&ns["n3"], peer("n1")),
        "n3 still reaches isolated n1"
    );
    assert!(
        tcp_reachable(&ns["n2"], peer("n3")),
        "n2 and n3 stay connected"
    );
    let t = Instant::now();
    rt.heal().await.unwrap();
    let heal = t.elapsed();
    assert!(
        tcp_reachable(&ns["n1"], peer("n2")),
        "n1 reaches n2 after heal"
    );
    println!(
        "[{}] partition applied in {:?}, healed in {:?}",
        rt.kind(),
        apply,
        heal
    );

    // One way: n1 drops what comes from n2, and only that.
    let ip = |n: &str| addr_of(topo, n).host.clone();
    let u1 = udp_socket(&ns["n1"], format!("{}:40001", ip("n1")).parse().unwrap());
    let u2 = udp_socket(&ns["n2"], format!("{}:40002", ip("n2")).parse().unwrap());
    assert!(
        udp_delivers(&u2, &u1) && udp_delivers(&u1, &u2),
        "both ways before"
    );
    rt.partition(&grudge(&[("n1", "n2")])).await.unwrap();
    assert!(!udp_delivers(&u2, &u1), "n1 must drop what n2 sends");
    assert!(udp_delivers(&u1, &u2), "n2 must still get what n1 sends");
    // Partition replaces the grudge in force.
    rt.partition(&grudge(&[("n2", "n1")])).await.unwrap();
    assert!(udp_delivers(&u2, &u1), "the old drop is gone");
    assert!(!udp_delivers(&u1, &u2), "the new drop is in force");
    rt.heal().await.unwrap();
    assert!(
        udp_delivers(&u2, &u1) && udp_delivers(&u1, &u2),
        "both ways after heal"
    );

    exercise_pause(rt, topo).await;
    exercise_kill(rt, topo).await;
    exercise_clock(rt, topo).await;
}

async fn exercise_pause(rt: &dyn Runtime, topo: &Topology) {
    let n2 = vec!["n2".to_string()];
    rt.pause(&n2).await.unwrap();
    assert!(rt.is_paused("n2").await.unwrap(), "n2 is paused");
    assert!(
        status(topo, "n2").await.is_none(),
        "a paused node answers nothing"
    );
    rt.pause(&n2).await.unwrap(); // idempotent
    rt.resume(&n2).await.unwrap();
    assert!(!rt.is_paused("n2").await.unwrap());
    assert!(
        poll(Duration::from_secs(5), async || status(topo, "n2")
            .await
            .is_some())
        .await,
        "n2 answers after resume"
    );
    rt.resume(&n2).await.unwrap(); // idempotent
}

async fn exercise_kill(rt: &dyn Runtime, topo: &Topology) {
    let (leader, _) = wait_leader(topo, &names(3), Duration::from_secs(LEADER_DEADLINE_S))
        .await
        .expect("leader");
    let id = format!("w-kill-{}", rt.run_id());
    assert!(
        poll(Duration::from_secs(10), async || {
            let (l, _) = wait_leader(topo, &names(3), Duration::from_secs(5))
                .await
                .unwrap_or((leader.clone(), 0));
            write(topo, &l, &id).await
        })
        .await,
        "an acknowledged write"
    );
    let victim = vec![leader.clone()];
    rt.kill(&victim).await.unwrap();
    assert!(
        status(topo, &leader).await.is_none(),
        "a killed node answers nothing"
    );
    rt.start(&victim).await.unwrap();
    assert!(
        poll(Duration::from_secs(20), async || local_log_has(
            topo, &leader, &id
        )
        .await)
        .await,
        "the restarted {leader} has its acknowledged write"
    );
}

async fn exercise_clock(rt: &dyn Runtime, topo: &Topology) {
    rt.clock(&BTreeMap::from([("n1".to_string(), 30_000)]))
        .await
        .unwrap();
    let s = status(topo, "n1").await.expect("n1 status");
    assert_eq!(s["clock_offset_ms"], 30_000, "raftd reports the offset");
    rt.clock_reset().await.unwrap();
    let s = status(topo, "n1").await.expect("n1 status");
    assert_eq!(s["clock_offset_ms"], 0);
    // A paused or killed node answers no admin call: its offset is taken (not an error
    // after a timeout that holds the nemesis up) and set once it runs again.
    let n2 = vec!["n2".to_string()];
    let offset = |ms: i64| BTreeMap::from([("n2".to_string(), ms)]);
    rt.pause(&n2).await.unwrap();
    rt.clock(&offset(20_000)).await.unwrap();
    rt.resume(&n2).await.unwrap();
    let s = status(topo, "n2").await.expect("n2 status");
    assert_eq!(s["clock_offset_ms"], 20_000, "set at the resume");
    rt.pause(&n2).await.unwrap();
    rt.clock_reset().await.unwrap();
    rt.resume(&n2).await.unwrap();
    let s = status(topo, "n2").await.expect("n2 status");
    assert_eq!(s["clock_offset_ms"], 0, "reset at the resume");
    rt.kill(&n2).await.unwrap();
    rt.clock(&offset(-5_000)).await.unwrap();
    rt.start(&n2).await.unwrap();
    assert!(
        poll(Duration::from_secs(20), async || status(topo, "n2")
            .await
            .is_some_and(|s| s["clock_offset_ms"] == -5_000))
        .await,
        "set once the restarted node answers"
    );
    rt.clock_reset().await.unwrap();
}

async fn docker_leftovers(run_id: &str) -> usize {
    let d = runtime::daemon::connect().await.unwrap();
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("splitbrain.run={run_id}")],
    )]);
    let c = d
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .len();
    let v = d
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap()
        .volumes
        .unwrap_or_default()
        .len();
    let n = d
        .list_networks(Some(bollard::query_parameters::ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap()
        .len();
    c + v + n
}

/// Collect the exit status of killed node processes that are our children, so no zombie
/// outlives the test.
fn reap(st: &runtime::state::RunState) {
    for p in &st.processes {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p.pid), None);
    }
}

fn netns_leftovers(run_id: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let pfx = format!("sb-{run_id}-");
    let ns = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&pfx))
        .count();
    let dir = runtime::host_run_dir(run_id).exists() as usize;
    let state = runtime::state::RunState::load(run_id)
        .expect("a trusted state file or none")
        .is_some() as usize;
    ns + dir + state
}

mod docker {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cluster_elects_and_takes_every_fault() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Docker, results.path()).await;
        let (topo, took) = up(rt.as_ref(), 3).await;
        println!("[docker] nothing to a 3-node leader in {took:?}");
        exercise_faults(rt.as_ref(), &topo).await;
        let id = rt.run_id().to_string();
        rt.teardown().await.unwrap();
        assert_eq!(
            docker_leftovers(&id).await,
            0,
            "teardown leaves nothing labelled"
        );
        let log = results.path().join("nodes/n1/n1.log");
        assert!(
            std::fs::metadata(&log).is_ok_and(|m| m.len() > 0),
            "n1's log was streamed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn five_nodes_elect() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Docker, results.path()).await;
        let (_, took) = up(rt.as_ref(), 5).await;
        println!("[docker] nothing to a 5-node leader in {took:?}");
        rt.teardown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn clean_removes_what_a_crashed_run_left() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Docker, results.path()).await;
        let id = rt.run_id().to_string();
        let topo = rt.plan(2, &NodePorts::default()).await.unwrap();
        rt.start_cluster(raftd_specs(&topo, &raftd_binary()))
            .await
            .unwrap();
        drop(rt); // a crash: no teardown
        assert!(
            docker_leftovers(&id).await >= 5,
            "containers, volumes and the network exist"
        );
        let removed = runtime::leftovers::clean(Some(&id)).await.unwrap();
        assert!(
            removed.iter().any(|r| r.starts_with("container ")),
            "{removed:?}"
        );
        assert_eq!(docker_leftovers(&id).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn images_run_their_programs() {
        let _g = serial().await;
        let d = runtime::daemon::connect().await.unwrap();
        let timeout = Duration::from_secs(300);
        let zk = runtime::images::ensure_image(
            &d,
            &Image::Recipe(workloads::zookeeper::image()),
            timeout,
        )
        .await
        .unwrap();
        let etcd =
            runtime::images::ensure_image(&d, &Image::Recipe(workloads::etcd::image()), timeout)
                .await
                .unwrap();
        let out = run_once(&d, &zk, &["/usr/bin/java", "-version"]).await;
        assert!(out.contains("version"), "java -version: {out}");
        let cp = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
        let out = run_once(
            &d,
            &zk,
            &["java", "-cp", cp, "org.apache.zookeeper.Version"],
        )
        .await;
        assert!(out.contains("3.8"), "zookeeper version: {out}");
        // A day back: the JVM's wall clock (its log decorations) shows yesterday.
        let log = ["/usr/bin/java", "-Xlog:os=info:stdout:time", "-version"];
        let out = run_with(&d, &zk, &log, Some(-86_400_000)).await;
        let yesterday = std::time::SystemTime::now() - Duration::from_secs(86_400);
        let day = &splitbrain::utc::rfc3339(yesterday)[..10];
        assert!(
            out.contains(&format!("[{day}T")),
            "faked JVM clock shows {day}: {out}"
        );
        let out = run_once(&d, &etcd, &["/usr/bin/etcd", "--version"]).await;
        assert!(out.contains("etcd Version"), "etcd --version: {out}");
    }

    /// Run a command in a fresh labelled container; its output, after removing it.
    async fn run_once(d: &bollard::Docker, image: &str, cmd: &[&str]) -> String {
        run_with(d, image, cmd, None).await
    }

    /// Like `run_once`, optionally with the JVM under a libfaketime control file holding
    /// this offset.
    async fn run_with(
        d: &bollard::Docker,
        image: &str,
        cmd: &[&str],
        offset_ms: Option<i64>,
    ) -> String {
        use futures_util::StreamExt;
        let id = runtime::new_run_id();
        let name = format!("sb-{id}-probe");
        let (mut env, mut binds) = (Vec::new(), Vec::new());
        if let Some(off) = offset_ms {
            let file = runtime::clock_control_file(&id, "probe");
            runtime::write_clock_control(&file, off).unwrap();
            let inside = runtime::docker::CLOCK_FILE_IN_CONTAINER;
            binds.push(format!("{}:{inside}", file.display()));
            env = runtime::procs::faketime_env(workloads::zookeeper::LIBFAKETIME, inside)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
        }
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.into()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            env: Some(env),
            labels: Some(runtime::docker::run_labels(&id)),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                binds: Some(binds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        d.create_container(Some(opts), body).await.unwrap();
        d.start_container(&name, None).await.unwrap();
        let mut wait = d.wait_container(
            &name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        while wait.next().await.is_some() {}
        let mut logs = d.logs(
            &name,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        );
        let mut out = String::new();
        while let Some(Ok(l)) = logs.next().await {
            out.push_str(&l.to_string());
        }
        runtime::leftovers::clean(Some(&id)).await.unwrap();
        out
    }
}

mod netns {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cluster_elects_and_takes_every_fault() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Netns, results.path()).await;
        let (topo, took) = up(rt.as_ref(), 3).await;
        println!("[netns] nothing to a 3-node leader in {took:?}");
        exercise_faults(rt.as_ref(), &topo).await;
        let id = rt.run_id().to_string();
        rt.teardown().await.unwrap();
        assert_eq!(
            netns_leftovers(&id),
            0,
            "teardown leaves no namespace, dir or state"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn five_nodes_elect() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Netns, results.path()).await;
        let (_, took) = up(rt.as_ref(), 5).await;
        println!("[netns] nothing to a 5-node leader in {took:?}");
        rt.teardown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn clean_removes_what_a_crashed_run_left() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Netns, results.path()).await;
        let id = rt.run_id().to_string();
        let topo = rt.plan(2, &NodePorts::default()).await.unwrap();
        rt.start_cluster(raftd_specs(&topo, &raftd_binary()))
            .await
            .unwrap();
        let (_, st) = runtime::state::RunState::load(&id)
            .unwrap()
            .expect("a state file");
        assert_eq!(st.processes.len(), 2);
        std::mem::forget(rt); // a crash: processes, namespaces and files stay behind
        assert!(netns_leftovers(&id) >= 3);
        let removed = runtime::leftovers::clean(Some(&id)).await.unwrap();
        assert!(
            removed.iter().any(|r| r.starts_with("process ")),
            "{removed:?}"
        );
        assert_eq!(netns_leftovers(&id), 0, "{removed:?}");
        for p in &st.processes {
            assert!(
                !runtime::state::is_same_process(p, &id),
                "process {} survived",
                p.pid
            );
        }
        reap(&st);
    }
}

mod local {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cluster_partitions_through_proxies() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Local, results.path()).await;
        let (topo, took) = up(rt.as_ref(), 3).await;
        println!("[local] nothing to a 3-node leader in {took:?}");
        let all = names(3);
        let (leader, term) = wait_leader(&topo, &all, Duration::from_secs(LEADER_DEADLINE_S))
            .await
            .unwrap();
        let t = Instant::now();
        rt.partition(&isolate(&leader, 3)).await.unwrap();
        println!("[local] partition applied in {:?}", t.elapsed());
        let rest: Vec<String> = all.iter().filter(|n| **n != leader).cloned().collect();
        let Some((new, new_term)) =
            wait_leader(&topo, &rest, Duration::from_secs(LEADER_DEADLINE_S)).await
        else {
            dump_nodes(&topo, results.path()).await;
            panic!("the majority side elects");
        };
        assert!(
            new != leader && new_term > term,
            "a new leader on the majority side"
        );
        let t = Instant::now();
        rt.heal().await.unwrap();
        println!("[local] healed in {:?}", t.elapsed());
        let (_, healed_term) = wait_leader(&topo, &all, Duration::from_secs(LEADER_DEADLINE_S))
            .await
            .expect("one leader after heal");
        assert!(healed_term >= new_term);
        exercise_pause(rt.as_ref(), &topo).await;
        exercise_kill(rt.as_ref(), &topo).await;
        exercise_clock(rt.as_ref(), &topo).await;
        let id = rt.run_id().to_string();
        rt.teardown().await.unwrap();
        assert_eq!(netns_leftovers(&id), 0);
    }

    /// A one-way cut through the proxies: the followers stop hearing the leader while
    /// it still hears them. They elect one of themselves in a higher term, and the old
    /// leader, which hears the new one's heartbeats, follows it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_way_cut_of_the_leaders_sends_elects_another() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Local, results.path()).await;
        let (topo, _) = up(rt.as_ref(), 3).await;
        let all = names(3);
        let (leader, term) = wait_leader(&topo, &all, Duration::from_secs(LEADER_DEADLINE_S))
            .await
            .unwrap();
        let rest: Vec<String> = all.iter().filter(|n| **n != leader).cloned().collect();
        let pairs: Vec<(&str, &str)> = rest.iter().map(|f| (f.as_str(), leader.as_str())).collect();
        rt.partition(&grudge(&pairs)).await.unwrap();
        let Some((new, new_term)) =
            wait_leader(&topo, &rest, Duration::from_secs(LEADER_DEADLINE_S)).await
        else {
            dump_nodes(&topo, results.path()).await;
            panic!("the followers elect one of themselves");
        };
        assert!(
            new != leader && new_term > term,
            "{new} in term {new_term} after {leader} in {term}"
        );
        // The old leader still hears: it learns the new term and follows the new leader.
        let follows = poll(Duration::from_secs(LEADER_DEADLINE_S), async || {
            status(&topo, &leader).await.is_some_and(|s| {
                s["role"] != "leader" && s["term"].as_u64().is_some_and(|t| t >= new_term)
            })
        })
        .await;
        assert!(follows, "{leader} did not step down while hearing {new}");
        rt.heal().await.unwrap();
        wait_leader(&topo, &all, Duration::from_secs(LEADER_DEADLINE_S))
            .await
            .expect("one leader after heal");
        let id = rt.run_id().to_string();
        rt.teardown().await.unwrap();
        assert_eq!(netns_leftovers(&id), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn five_nodes_elect() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(RuntimeKind::Local, results.path()).await;
        let (_, took) = up(rt.as_ref(), 5).await;
        println!("[local] nothing to a 5-node leader in {took:?}");
        rt.teardown().await.unwrap();
    }

    /// Another user who learns a run id can put a symlink at its data directory
    /// (`/tmp/sb-<id>`) before the run makes it; the run must refuse it rather than write
    /// node data as root wherever it points.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_a_data_dir_planted_before_it() {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let id = runtime::new_run_id();
        let planted = runtime::host_run_dir(&id);
        std::os::unix::fs::symlink(elsewhere.path(), &planted).unwrap();
        let cfg = RuntimeConfig::new(&id, results.path()).unwrap();
        let rt = runtime::create(RuntimeKind::Local, cfg).await.unwrap();
        let topo = rt.plan(1, &NodePorts::default()).await.unwrap();
        // The binary is never reached: the data directory comes first.
        let started = rt
            .start_cluster(raftd_specs(&topo, Path::new("/nonexistent/raftd")))
            .await;
        rt.teardown().await.unwrap();
        let wrote: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
        let _ = std::fs::remove_file(&planted);
        let err = started
            .expect_err("a planted data directory is refused")
            .to_string();
        assert!(
            wrote.is_empty(),
            "the run wrote through the symlink: {wrote:?}"
        );
        assert!(err.contains(&planted.display().to_string()), "{err}");
    }
}

#[tokio::test]
async fn auto_picks_docker_when_it_answers() {
    let (kind, why) = runtime::resolve_kind(RuntimeKind::Auto).await;
    assert_eq!(kind, RuntimeKind::Docker, "{why}");
    assert!(why.contains("docker"));
}

/// A controller that dies by SIGKILL mid-run (a child process running the test below)
/// leaves containers, a network, volumes, namespaces and processes; clean removes them all.
mod crash {
    use super::*;
    use std::io::BufRead;

    /// Set for the child: the results directory its runtimes write node logs to. The
    /// parent owns it, since the child dies by SIGKILL and removes nothing.
    const CHILD_ENV: &str = "SPLITBRAIN_CRASH_CHILD";
    const CHILD_READY_TIMEOUT_S: u64 = 120;

    /// Runs only as the child: starts a docker and a netns cluster, says so, then waits
    /// to be killed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by killed_controller_leaves_nothing_after_clean as its child"]
    async fn child_starts_clusters_then_waits() {
        let Some(results) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        for kind in [RuntimeKind::Docker, RuntimeKind::Netns] {
            let rt = make(kind, Path::new(&results)).await;
            let topo = rt.plan(2, &NodePorts::default()).await.unwrap();
            rt.start_cluster(raftd_specs(&topo, &raftd_binary()))
                .await
                .unwrap();
            println!("RUN {}", rt.run_id());
            std::mem::forget(rt);
        }
        println!("READY");
        tokio::time::sleep(Duration::from_secs(600)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_controller_leaves_nothing_after_clean() {
        let _g = serial().await;
        // The child's raftd processes become ours when it dies, so we can reap them
        // (this machine's init does not reap orphans).
        // SAFETY: prctl with these arguments only sets a flag on this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let results = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash::child_starts_clusters_then_waits",
                "--nocapture",
            ])
            .env(CHILD_ENV, results.path())
            .env("SPLITBRAIN_RAFTD", raftd_binary())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut runs = Vec::new();
        let end = Instant::now() + Duration::from_secs(CHILD_READY_TIMEOUT_S);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l == "READY" => break,
                Ok(l) => runs.extend(l.strip_prefix("RUN ").map(str::to_string)),
                Err(e) => {
                    let _ = child.kill();
                    panic!("child never got ready: {e}");
                }
            }
        }
        child.kill().unwrap(); // SIGKILL: no teardown runs
        child.wait().unwrap();
        assert_eq!(runs.len(), 2);
        let (docker_id, netns_id) = (&runs[0], &runs[1]);
        assert!(docker_leftovers(docker_id).await >= 5);
        assert!(netns_leftovers(netns_id) >= 3);
        let (_, st) = runtime::state::RunState::load(netns_id)
            .unwrap()
            .expect("a state file");
        for id in &runs {
            runtime::leftovers::clean(Some(id)).await.unwrap();
        }
        assert_eq!(docker_leftovers(docker_id).await, 0);
        assert_eq!(netns_leftovers(netns_id), 0);
        for p in &st.processes {
            assert!(
                !runtime::state::is_same_process(p, netns_id),
                "raftd {} survived",
                p.pid
            );
        }
        reap(&st);
    }
}

/// ZooKeeper nodes on the JVM: the spec's files (config, and `myid` inside the data dir)
/// land where the node expects them, and the ensemble forms.
mod zookeeper {
    use super::*;
    use std::io::{Read, Write};

    const ZK_DEADLINE_S: u64 = 90;

    fn zk_specs(topo: &Topology) -> Vec<NodeSpec> {
        let mut cfg = String::from(
            "tickTime=200\ninitLimit=50\nsyncLimit=10\ndataDir=/data\nclientPort=2181\n\
             4lw.commands.whitelist=*\nadmin.enableServer=false\n",
        );
        for (i, a) in topo.nodes.iter().enumerate() {
            cfg.push_str(&format!(
                "server.{}={}:{}:{}\n",
                i + 1,
                a.host,
                a.peer_port,
                a.extra_ports[0]
            ));
        }
        let cp = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
        topo.nodes
            .iter()
            .enumerate()
            .map(|(i, a)| NodeSpec {
                name: a.name.clone(),
                image: Image::Recipe(workloads::zookeeper::image()),
                clock: (workloads::zookeeper::DESCRIPTOR.clock)(),
                command: [
                    "/usr/bin/java",
                    "-Xmx128m",
                    "-XX:-UsePerfData",
                    "-cp",
                    cp,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    "/conf/zoo.cfg",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                env: vec![],
                data_dir: "/data".into(),
                files: vec![
                    ("/conf/zoo.cfg".into(), cfg.clone()),
                    ("/data/myid".into(), format!("{}\n", i + 1)),
                ],
            })
            .collect()
    }

    fn faketime_shm_files() -> BTreeSet<String> {
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains("faketime_"))
            .collect()
    }

    /// The `Mode:` line of a node's `srvr` answer, if it answers.
    fn mode(host: &str, port: u16) -> Option<String> {
        let addr: SocketAddr = format!("{host}:{port}").parse().ok()?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(1000))).ok()?;
        s.write_all(b"srvr").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.lines()
            .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
    }

    async fn ensemble_forms(kind: RuntimeKind) {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(kind, results.path()).await;
        let shm_before = faketime_shm_files();
        let ports = NodePorts {
            client: 2181,
            peer: 2888,
            extra: vec![3888],
        };
        let t0 = Instant::now();
        let topo = rt.plan(3, &ports).await.unwrap();
        rt.start_cluster(zk_specs(&topo)).await.unwrap();
        let caps = rt.capabilities();
        assert!(
            caps.supported.contains(&nemesis::runtime::FaultKind::Clock),
            "{caps:?}"
        );
        let formed = poll(Duration::from_secs(ZK_DEADLINE_S), async || {
            let modes: Vec<Option<String>> = topo
                .nodes
                .iter()
                .map(|a| mode(&a.host, a.client_port))
                .collect();
            modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count()
                == 1
                && modes
                    .iter()
                    .filter(|m| m.as_deref() == Some("follower"))
                    .count()
                    == 2
        })
        .await;
        println!(
            "[{kind}] nothing to a 3-node ZooKeeper ensemble in {:?}",
            t0.elapsed()
        );
        rt.clock(&BTreeMap::from([("n1".to_string(), -5_000)]))
            .await
            .unwrap();
        let file = runtime::clock_control_file(rt.run_id(), "n1");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "-5.000\n");
        rt.teardown().await.unwrap();
        assert!(!file.exists(), "teardown removes the clock control file");
        assert_eq!(
            faketime_shm_files(),
            shm_before,
            "libfaketime's segments of killed JVMs are removed"
        );
        assert!(
            formed,
            "no leader and two followers within {ZK_DEADLINE_S} s"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn docker_ensemble_forms() {
        ensemble_forms(RuntimeKind::Docker).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn netns_ensemble_forms() {
        ensemble_forms(RuntimeKind::Netns).await;
    }
}

/// etcd from Debian's binary: the cluster forms in an image with only etcd and its libraries.
mod etcd {
    use super::*;

    fn etcd_specs(topo: &Topology) -> Vec<NodeSpec> {
        let initial: Vec<String> = topo
            .nodes
            .iter()
            .map(|a| format!("{}=http://{}:{}", a.name, a.host, a.peer_port))
            .collect();
        topo.nodes
            .iter()
            .map(|a| {
                let client = format!("http://{}:{}", a.host, a.client_port);
                let peer = format!("http://{}:{}", a.host, a.peer_port);
                let command = vec![
                    "/usr/bin/etcd".to_string(),
                    "--name".into(),
                    a.name.clone(),
                    "--data-dir".into(),
                    "/data".into(),
                    "--listen-client-urls".into(),
                    client.clone(),
                    "--advertise-client-urls".into(),
                    client,
                    "--listen-peer-urls".into(),
                    peer.clone(),
                    "--initial-advertise-peer-urls".into(),
                    peer,
                    "--initial-cluster".into(),
                    initial.join(","),
                    "--initial-cluster-state".into(),
                    "new".into(),
                ];
                NodeSpec {
                    name: a.name.clone(),
                    image: Image::Recipe(workloads::etcd::image()),
                    clock: (workloads::etcd::DESCRIPTOR.clock)(),
                    command,
                    env: vec![],
                    data_dir: "/data".into(),
                    files: vec![],
                }
            })
            .collect()
    }

    async fn healthy(topo: &Topology) -> bool {
        for a in &topo.nodes {
            let url = format!("http://{}:{}/health", a.host, a.client_port);
            let Ok(r) = http().get(url).send().await else {
                return false;
            };
            let Ok(v) = r.json::<Value>().await else {
                return false;
            };
            if v["health"] != "true" {
                return false;
            }
        }
        true
    }

    async fn cluster_forms(kind: RuntimeKind) {
        let _g = serial().await;
        let results = tempfile::tempdir().unwrap();
        let rt = make(kind, results.path()).await;
        let ports = NodePorts {
            client: 2379,
            peer: 2380,
            extra: vec![],
        };
        let t0 = Instant::now();
        let topo = rt.plan(3, &ports).await.unwrap();
        rt.start_cluster(etcd_specs(&topo)).await.unwrap();
        let ok = poll(Duration::from_secs(LEADER_DEADLINE_S), async || {
            healthy(&topo).await
        })
        .await;
        println!(
            "[{kind}] nothing to a healthy 3-node etcd in {:?}",
            t0.elapsed()
        );
        let refused = rt.clock(&BTreeMap::from([("n1".to_string(), 1000)])).await;
        rt.teardown().await.unwrap();
        assert!(ok, "etcd did not become healthy");
        let why = refused
            .expect_err("clock faults are refused for etcd")
            .to_string();
        assert!(why.contains("vDSO"), "{why}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn docker_cluster_forms() {
        cluster_forms(RuntimeKind::Docker).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn netns_cluster_forms() {
        cluster_forms(RuntimeKind::Netns).await;
    }
}

/// `splitbrain clean` as users run it.
mod clean_cli {
    use super::*;

    fn binary() -> PathBuf {
        let exe = option_env!("CARGO_BIN_EXE_splitbrain").or(option_env!("CARGO_BIN_EXE_sbsnap"));
        PathBuf::from(exe.expect("cargo builds the splitbrain binary for integration tests"))
    }

    fn clean_cmd(args: &[&str]) -> std::process::Output {
        std::process::Command::new(binary())
            .arg("clean")
            .args(args)
            .output()
            .unwrap()
    }

    /// A run's labels as a controller that has ended left them: our pid, but another start.
    fn crashed_run_labels(id: &str) -> std::collections::HashMap<String, String> {
        let mut labels = runtime::docker::run_labels(id);
        let mut ended = runtime::state::Controller::current();
        ended.start_ticks += 1;
        labels.insert(runtime::daemon::CONTROLLER_LABEL.into(), ended.label());
        labels
    }

    async fn labelled_volume(d: &bollard::Docker, name: &str, labels: HashMap<String, String>) {
        d.create_volume(bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removes_one_runs_leftovers_and_says_what() {
        let _g = serial().await;
        let id = runtime::new_run_id();
        let d = runtime::daemon::connect().await.unwrap();
        let volume = format!("sb-{id}-n1-data");
        labelled_volume(&d, &volume, crashed_run_labels(&id)).await;
        let ns = format!("sb-{id}-n1");
        assert!(std::process::Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .unwrap()
            .success());
        let shm = runtime::clock_control_file(&id, "n1");
        runtime::write_clock_control(&shm, 0).unwrap();
        // Another run's object must survive a clean limited to this run.
        let other = runtime::new_run_id();
        let other_shm = runtime::clock_control_file(&other, "n1");
        runtime::write_clock_control(&other_shm, 0).unwrap();

        let out = clean_cmd(&["--run", &id]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let survived = other_shm.exists();
        let _ = std::fs::remove_file(&other_shm);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("removed volume {volume}")), "{text}");
        assert!(
            text.contains(&format!("removed network namespace {ns}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("removed file {}", shm.display())),
            "{text}"
        );
        assert!(survived, "clean --run touched another run's file");
        assert_eq!(docker_leftovers(&id).await, 0);
        assert_eq!(netns_leftovers(&id), 0);

        let again = clean_cmd(&["--run", &id]);
        assert_eq!(
            String::from_utf8_lossy(&again.stdout).trim(),
            "nothing to remove"
        );
    }

    /// The docker objects of a run whose controller (this test) still runs are left alone,
    /// with and without --run, until --force.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn skips_a_live_runs_docker_objects_until_forced() {
        let _g = serial().await;
        let id = runtime::new_run_id();
        let d = runtime::daemon::connect().await.unwrap();
        let volume = format!("sb-{id}-n1-data");
        labelled_volume(&d, &volume, runtime::docker::run_labels(&id)).await;
        let skip = format!(
            "skipped run {id}: its controller (pid {}) is still running; --force to remove it",
            std::process::id()
        );
        for args in [&["--run", id.as_str()][..], &[]] {
            let out = clean_cmd(args);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let left = docker_leftovers(&id).await;
            if !out.status.success() || !text.contains(&skip) || left != 1 {
                let _ = clean_cmd(&["--run", &id, "--force"]);
                panic!("clean {args:?}: {text} ({left} left)");
            }
        }
        let out = clean_cmd(&["--run", &id, "--force"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("removed volume {volume}")), "{text}");
        assert_eq!(docker_leftovers(&id).await, 0);
    }

    #[test]
    fn says_in_its_help_that_live_runs_are_skipped() {
        let out = clean_cmd(&["--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--force"), "{text}");
        assert!(text.contains("still running"), "{text}");
    }

    #[test]
    fn refuses_a_bad_run_id() {
        let out = clean_cmd(&["--run", "../etc"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad run id") && err.contains("../etc"),
            "{err}"
        );
    }
}
