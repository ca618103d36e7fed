//! raftd's figures: the core's throughput (messages stepped per second, in memory, no
//! disk), how long the core takes to elect a new leader after losing one (seeded, no
//! faults but the loss), and a real 3-node cluster on loopback: write throughput with one
//! client and with 16, and the time to a new leader after a SIGKILL of the leader.
//!
//! `cargo bench -p raftd --bench raftd` (`RAFTD_BENCH_SEEDS`, `RAFTD_BENCH_SECS` and
//! `RAFTD_BENCH_KILLS` change the sizes).

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Http;
use raftd::core::{Config, Message, RawNode, Request, Role};

/// Bound on one answer from a node.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Percentile `p` (0 to 100) of sorted values.
fn pct<T: Copy>(sorted: &[T], p: f64) -> T {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ---- The core in memory -------------------------------------------------------------

/// N cores with an instant, lossless network and no disk: the driver does exactly what
/// `RawNode`'s contract says, minus the I/O.
struct Mesh {
    nodes: Vec<Option<RawNode>>,
    ids: Vec<String>,
    net: VecDeque<Message>,
    stepped: u64,
    answered: u64,
    /// Ticks so far, and the tick at which each node last sent anything.
    tick: u64,
    last_sent: Vec<u64>,
}

impl Mesh {
    fn new(n: usize, seed: u64) -> Self {
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let nodes = ids
            .iter()
            .map(|id| {
                let mut cfg = Config::new(id.clone(), ids.clone());
                cfg.seed = seed;
                Some(RawNode::new(cfg).expect("default config is valid"))
            })
            .collect();
        Mesh {
            nodes,
            ids,
            net: VecDeque::new(),
            stepped: 0,
            answered: 0,
            tick: 0,
            last_sent: vec![0; n],
        }
    }

    fn drain_ready(&mut self, i: usize) {
        let Some(node) = self.nodes[i].as_mut() else {
            return;
        };
        while node.has_ready() {
            let mut rd = node.ready();
            if !rd.messages.is_empty() || !rd.persisted_messages.is_empty() {
                self.last_sent[i] = self.tick;
            }
            self.net.extend(std::mem::take(&mut rd.messages));
            let proof = rd.persist.durable();
            self.net.extend(rd.persisted_messages.take(proof));
            self.answered += rd.responses.len() as u64;
            node.advance(rd);
        }
    }

    /// Delivers everything in flight (and what that causes).
    fn deliver_all(&mut self) {
        while let Some(m) = self.net.pop_front() {
            let Some(i) = self.ids.iter().position(|id| *id == m.to) else {
                continue;
            };
            if let Some(node) = self.nodes[i].as_mut() {
                node.step(m).expect("well-formed message");
                self.stepped += 1;
                self.drain_ready(i);
            }
        }
    }

    fn tick_all(&mut self) {
        self.tick += 1;
        for i in 0..self.nodes.len() {
            if let Some(node) = self.nodes[i].as_mut() {
                node.tick();
                self.drain_ready(i);
            }
        }
        self.deliver_all();
    }

    /// The live leader of the highest term, with that term.
    fn leader(&self) -> Option<(usize, u64)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n.status())))
            .filter(|(_, s)| s.role == Role::Leader)
            .map(|(i, s)| (i, s.term))
            .max_by_key(|(_, t)| *t)
    }

    fn elect(&mut self) -> (usize, u64) {
        for _ in 0..10_000 {
            if let Some(l) = self.leader() {
                return l;
            }
            self.tick_all();
        }
        panic!("no leader in 10,000 ticks");
    }
}

/// Messages stepped per second with a leader replicating writes as fast as the cores go.
fn core_throughput(n: usize) {
    let mut mesh = Mesh::new(n, 1);
    let (leader, _) = mesh.elect();
    let started = Instant::now();
    let (stepped0, answered0) = (mesh.stepped, mesh.answered);
    let mut req = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..32 {
            req += 1;
            let w = Request::Write {
                id: format!("w{req}"),
                token: None,
                election: None,
            };
            mesh.nodes[leader]
                .as_mut()
                .expect("leader up")
                .propose(req, w)
                .expect("the leader takes writes");
        }
        mesh.drain_ready(leader);
        mesh.deliver_all();
        if req.is_multiple_of(1024) {
            mesh.tick_all();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let stepped = (mesh.stepped - stepped0) as f64;
    let answered = (mesh.answered - answered0) as f64;
    println!(
        "core, {n} nodes: {:.2} M messages stepped/s, {:.0} k writes committed/s (batches of 32, one thread)",
        stepped / secs / 1e6,
        answered / secs / 1e3
    );
}

/// The raftd binary's `--tick-ms` default.
const SERVER_TICK_MS: u64 = 50;

/// Ticks from losing the leader to a new leader, over seeds, with raftd's default
/// timing (10 to 20 ticks, heartbeats every 2, pre-vote and check-quorum on).
fn election_after_loss(n: usize, seeds: u64) {
    let cfg = Config::new("n1", vec!["n1".into()]);
    let (min, max, tick_ms) = (
        cfg.election_ticks_min,
        cfg.election_ticks_max,
        SERVER_TICK_MS,
    );
    let mut ticks: Vec<u64> = Vec::new();
    let mut since_contact: Vec<u64> = Vec::new();
    for seed in 0..seeds {
        let mut mesh = Mesh::new(n, seed);
        let (old, term) = mesh.elect();
        // A settled cluster, then the leader dies at a tick drawn from the seed.
        for _ in 0..(30 + seed % 7) {
            mesh.tick_all();
        }
        mesh.nodes[old] = None;
        mesh.net.retain(|m| m.from != mesh.ids[old]);
        let silent = mesh.tick - mesh.last_sent[old];
        let mut waited = 0;
        loop {
            mesh.tick_all();
            waited += 1;
            if mesh.leader().is_some_and(|(_, t)| t > term) {
                break;
            }
            assert!(waited < 100 * max, "seed {seed}: no new leader");
        }
        ticks.push(waited);
        since_contact.push(waited + silent);
    }
    let sources = [
        ("the crash", &mut ticks),
        ("the followers' last contact", &mut since_contact),
    ];
    for (what, t) in sources {
        t.sort_unstable();
        let within = t.iter().filter(|t| (min..=2 * max).contains(*t)).count();
        println!(
            "new leader after the leader's loss, {n} nodes, {seeds} seeds, from {what}: p50 {} ms, \
             p99 {} ms, max {} ms; {:.2}% within [{} ms, {} ms] (min timeout, 2x max timeout)",
            pct(t, 50.0) * tick_ms,
            pct(t, 99.0) * tick_ms,
            t.last().unwrap() * tick_ms,
            100.0 * within as f64 / t.len() as f64,
            min * tick_ms,
            2 * max * tick_ms
        );
    }
}

// ---- A real cluster on loopback -----------------------------------------------------

/// A 3-node raftd cluster of release binaries on loopback, killed on drop.
struct Cluster {
    children: Vec<Option<Child>>,
    args: Vec<Vec<String>>,
    clients: Vec<String>,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let ports = raftd::ports::loopback_ports(6).expect("free ports");
        let peers: Vec<String> = (0..3)
            .map(|i| {
                format!(
                    "n{}=127.0.0.1:{}/127.0.0.1:{}",
                    i + 1,
                    ports[2 * i + 1],
                    ports[2 * i]
                )
            })
            .collect();
        let args: Vec<Vec<String>> = (0..3)
            .map(|i| {
                let mut a = vec![
                    "--id".to_string(),
                    format!("n{}", i + 1),
                    "--data-dir".into(),
                    dir.join(format!("n{}", i + 1)).display().to_string(),
                    "--listen".into(),
                    format!("127.0.0.1:{}", ports[2 * i]),
                    "--peer-listen".into(),
                    format!("127.0.0.1:{}", ports[2 * i + 1]),
                ];
                for p in &peers {
                    a.push("--peer".into());
                    a.push(p.clone());
                }
                a
            })
            .collect();
        let clients = (0..3)
            .map(|i| format!("127.0.0.1:{}", ports[2 * i]))
            .collect();
        let mut c = Cluster {
            children: vec![None, None, None],
            args,
            clients,
        };
        for i in 0..3 {
            c.spawn(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let child = Command::new(env!("CARGO_BIN_EXE_raftd"))
            .args(&self.args[i])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn raftd");
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The node reporting itself leader in the highest term, polled every 5 ms.
    fn wait_leader(&self, above_term: u64, bound: Duration) -> Option<(usize, u64)> {
        let started = Instant::now();
        while started.elapsed() < bound {
            let mut best: Option<(usize, u64)> = None;
            for (i, addr) in self.clients.iter().enumerate() {
                if self.children[i].is_none() {
                    continue;
                }
                let Ok(mut conn) = Http::connect(addr, HTTP_TIMEOUT) else {
                    continue;
                };
                let Ok((200, body)) = conn.call("GET", "/status", "") else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let term = v["term"].as_u64().unwrap_or(0);
                if v["role"] == "leader" && term > above_term && best.is_none_or(|(_, t)| term > t)
                {
                    best = Some((i, term));
                }
            }
            if best.is_some() {
                return best;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}

/// `clients` threads writing unique ids to the leader, each one request at a time, for
/// `secs`; prints writes per second and latency percentiles.
fn write_throughput(cluster: &Cluster, leader: usize, clients: usize, secs: u64) {
    let addr = cluster.clients[leader].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0u64));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (addr, stop) = (addr.clone(), stop.clone());
            let (latencies, failures) = (latencies.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut conn = Http::connect(&addr, HTTP_TIMEOUT).expect("connect to the leader");
                let mut mine = Vec::new();
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let body = format!("{{\"id\":\"c{c}-{k}\"}}");
                    let t = Instant::now();
                    match conn.call("POST", "/write", &body) {
                        Ok((200, _)) => mine.push(t.elapsed()),
                        _ => *failures.lock().unwrap() += 1,
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "3-node raftd on loopback, {clients} client(s): {:.0} acknowledged writes/s; latency p50 {:.2} ms, p99 {:.2} ms; {} failed",
        lat.len() as f64 / elapsed,
        ms(pct(&lat, 50.0)),
        ms(pct(&lat, 99.0)),
        failures.lock().unwrap()
    );
}

/// SIGKILL the leader, time until another node reports itself leader of a higher term.
fn failover(cluster: &mut Cluster, kills: u64) {
    let mut times = Vec::new();
    let (mut leader, mut term) = cluster
        .wait_leader(0, Duration::from_secs(10))
        .expect("a leader");
    for _ in 0..kills {
        cluster.kill(leader);
        let t = Instant::now();
        let (next, next_term) = cluster
            .wait_leader(term, Duration::from_secs(10))
            .expect("a new leader within 10 s");
        times.push(t.elapsed());
        cluster.spawn(leader);
        // Let the restarted node catch up before the next kill.
        std::thread::sleep(Duration::from_millis(1500));
        (leader, term) = (next, next_term);
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_millis();
    println!(
        "3-node raftd on loopback, SIGKILL of the leader x{kills}: new leader after p50 {} ms, p99 {} ms, max {} ms \
         (default timing: 50 ms ticks, elections after 10-20 ticks)",
        ms(pct(&times, 50.0)),
        ms(pct(&times, 99.0)),
        ms(*times.last().unwrap())
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too, so keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let seeds = env_or("RAFTD_BENCH_SEEDS", if quick { 50 } else { 10_000 });
    let secs = env_or("RAFTD_BENCH_SECS", if quick { 1 } else { 10 });
    let kills = env_or("RAFTD_BENCH_KILLS", if quick { 2 } else { 30 });
    for n in [3, 5] {
        core_throughput(n);
    }
    for n in [3, 5] {
        election_after_loss(n, seeds);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cluster = Cluster::start(dir.path());
    let (leader, _) = cluster
        .wait_leader(0, Duration::from_secs(10))
        .expect("a leader within 10 s");
    write_throughput(&cluster, leader, 1, secs);
    write_throughput(&cluster, leader, 16, secs);
    failover(&mut cluster, kills);
}
