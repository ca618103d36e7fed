//! raftd's memory under concurrent reads of a large log: a single-node raftd on
//! 127.0.0.1 (release binary, fsync on) gets about `READ_LOG_MB` MB of writes, then
//! `READ_CLIENTS` concurrent `GET /read?local=true`, then as many linearizable `GET /read`;
//! for each burst it prints raftd's resident memory before, its peak (VmHWM, reset just
//! before the burst through /proc/PID/clear_refs) and what it still holds 10 s later.
//!
//! `cargo bench -p raftd --bench read_memory` (`READ_LOG_MB`, `READ_CLIENTS` and
//! `READ_SETTLE_SECS` change the sizes).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Http;

/// Bytes of a write id: long ids reach a large log with few requests.
const ID_BYTES: usize = 230;
/// Threads writing at once while the log is filled.
const FILL_CLIENTS: usize = 32;
/// Bound on each socket operation of the bench's clients.
const SOCKET_TIMEOUT_MS: u64 = 60_000;
/// Bound on raftd coming up.
const START_MS_MAX: u64 = 10_000;

/// Bound on one answer from raftd.
const SOCKET_TIMEOUT: Duration = Duration::from_millis(SOCKET_TIMEOUT_MS);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The raftd under test; killed when dropped.
struct Node {
    child: Child,
    addr: String,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = raftd::ports::loopback_ports(2).expect("free loopback ports");
        let addr = format!("127.0.0.1:{}", ports[0]);
        let data_dir = dir.path().join("n1").display().to_string();
        let peer = format!("127.0.0.1:{}", ports[1]);
        let args: Vec<String> = [
            "--id",
            "n1",
            "--data-dir",
            &data_dir,
            "--listen",
            &addr,
            "--peer-listen",
            &peer,
        ]
        .map(String::from)
        .to_vec();
        let child = Node::spawn(&args);
        let node = Node {
            child,
            addr,
            args,
            _dir: dir,
        };
        node.wait_leading();
        node
    }

    fn spawn(args: &[String]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_raftd"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn raftd")
    }

    /// A fresh process on the same data, so that a measurement starts from a clean heap.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Node::spawn(&self.args);
        self.wait_leading();
    }

    fn wait_leading(&self) {
        let deadline = Instant::now() + Duration::from_millis(START_MS_MAX);
        while !self.leads() {
            assert!(Instant::now() < deadline, "raftd did not lead within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn leads(&self) -> bool {
        let Ok(mut conn) = Http::connect(&self.addr, SOCKET_TIMEOUT) else {
            return false;
        };
        matches!(conn.call("GET", "/status", ""), Ok((200, body)) if body.contains("\"role\":\"leader\""))
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    fn kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("raftd's /proc status");
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Resets VmHWM to the current RSS, so that the next reading is the peak from now.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .expect("reset the peak RSS through clear_refs");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes unique ids of `ID_BYTES` until the log's JSON holds about `bytes`; returns the
/// number of writes.
fn fill(node: &Node, bytes: u64) -> u64 {
    // `{"id":"…","token":null},` in the answer of /read.
    let record_bytes = ID_BYTES as u64 + 26;
    let writes = bytes.div_ceil(record_bytes);
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..FILL_CLIENTS)
        .map(|_| {
            let (addr, next) = (node.addr.clone(), next.clone());
            std::thread::spawn(move || {
                let mut conn = Http::connect(&addr, SOCKET_TIMEOUT).expect("connect to raftd");
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= writes {
                        return;
                    }
                    let id = format!("{k:0>width$}", width = ID_BYTES);
                    let body = format!("{{\"id\":\"{id}\"}}");
                    let (status, answer) = conn.call("POST", "/write", &body).expect("a write");
                    assert_eq!(status, 200, "write {k}: {answer}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a writer thread");
    }
    writes
}

/// One GET with `Connection: close`, its body counted and dropped; returns the status
/// and the body's bytes.
fn read_all(addr: &str, path: &str) -> (u16, u64) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, 0);
    };
    s.set_read_timeout(Some(Duration::from_millis(SOCKET_TIMEOUT_MS)))
        .expect("read timeout");
    let req = format!("GET {path} HTTP/1.1\r\nhost: raftd\r\nconnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, 0);
    }
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    // An answer cut short still shows its status; a connection that never answers is 0.
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..n.min(64)]);
        }
        total += n as u64;
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, total)
}

/// `clients` concurrent reads of `path`; prints raftd's memory before, at its peak and
/// `settle` later.
fn burst(node: &Node, path: &str, clients: usize, settle: Duration) {
    let before = node.kib("VmRSS");
    node.reset_peak();
    let start = Arc::new(Barrier::new(clients));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, start, path) = (node.addr.clone(), start.clone(), path.to_string());
            std::thread::spawn(move || {
                start.wait();
                read_all(&addr, &path)
            })
        })
        .collect();
    let answers: Vec<(u16, u64)> = threads
        .into_iter()
        .map(|t| t.join().expect("a reader thread"))
        .collect();
    let elapsed = started.elapsed();
    let peak = node.kib("VmHWM");
    let mut statuses = std::collections::BTreeMap::new();
    for (status, _) in &answers {
        *statuses.entry(*status).or_insert(0) += 1;
    }
    let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{n}x {s}")).collect();
    let bytes = answers.iter().map(|(_, b)| b).max().copied().unwrap_or(0);
    std::thread::sleep(settle);
    let after = node.kib("VmRSS");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{clients} concurrent GET {path}: answered {} (0: no answer), {:.1} MB the largest, in {:.2} s; \
         raftd RSS {:.1} MiB before, peak {:.1} MiB, {:.1} MiB {} s later",
        statuses.join(", "),
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        mib(before),
        mib(peak),
        mib(after),
        settle.as_secs()
    );
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let log_mb = env_or("READ_LOG_MB", if quick { 1 } else { 10 });
    let clients = env_or("READ_CLIENTS", if quick { 20 } else { 200 }) as usize;
    let settle = Duration::from_secs(env_or("READ_SETTLE_SECS", if quick { 0 } else { 10 }));
    let mut node = Node::start();
    let started = Instant::now();
    let writes = fill(&node, log_mb * 1_000_000);
    println!(
        "single-node raftd on loopback: {writes} writes of {ID_BYTES}-byte ids ({log_mb} MB of log) in {:.1} s",
        started.elapsed().as_secs_f64(),
    );
    for path in ["/read?local=true", "/read"] {
        node.restart();
        burst(&node, path, clients, settle);
    }
}
