//! raftd processes: clusters of them in a temporary directory on free ports of
//! 127.0.0.1, each node's stderr in a log file shown when a test panics.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use std::time::{Duration, Instant};

use super::http::{request, Answer};
use super::proxy::Link;
use super::{wait_for, POLL_INTERVAL_MS, WAIT_MS_MAX};

/// How much of each node's log a failing test prints.
const LOG_TAIL_LINES: usize = 40;

pub struct Node {
    pub id: String,
    /// The client (HTTP) address.
    pub addr: String,
    pub args: Vec<String>,
    pub log: PathBuf,
    pub child: Option<Child>,
}

/// A cluster of raftd processes; every process is killed when it drops, even on panic.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Empty unless the cluster was started partitionable.
    pub links: Vec<Link>,
    /// Holds the data directories and logs until the cluster drops.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes with 20 ms ticks and `extra` flags on each; waits until each
    /// serves.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with(n, extra, false)
    }

    /// Starts `n` nodes whose peer traffic runs through cuttable proxies, one per
    /// ordered pair, so that a test can partition them.
    pub fn start_partitionable(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with(n, extra, true)
    }

    fn start_with(n: usize, extra: &[&str], proxied: bool) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(2 * n);
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let client = |i: usize| format!("127.0.0.1:{}", ports[2 * i]);
        let peer = |i: usize| format!("127.0.0.1:{}", ports[2 * i + 1]);
        let mut links = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let data_dir = dir.path().join(&ids[i]).display().to_string();
            let mut args: Vec<String> = [
                "--id",
                &ids[i],
                "--data-dir",
                &data_dir,
                "--listen",
                &client(i),
                "--peer-listen",
                &peer(i),
                "--tick-ms",
                "20",
                "--seed",
                "7",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for (j, id) in ids.iter().enumerate() {
                let raft_addr = if proxied && i != j {
                    let link = Link::start(i, j, peer(j));
                    let addr = link.addr.clone();
                    links.push(link);
                    addr
                } else {
                    peer(j)
                };
                args.push("--peer".into());
                args.push(format!("{id}={raft_addr}/{}", client(j)));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            nodes.push(Node {
                id: ids[i].clone(),
                addr: client(i),
                args,
                log: dir.path().join(format!("{}.log", ids[i])),
                child: None,
            });
        }
        let mut cluster = Cluster {
            nodes,
            links,
            _dir: dir,
        };
        for i in 0..n {
            cluster.start_node(i);
        }
        for i in 0..n {
            cluster.wait_serving(i);
        }
        cluster
    }

    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} is already running", node.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_raftd"))
            .args(&node.args)
            .env("RAFTD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        node.child = Some(child);
    }

    /// SIGKILL, and reaped.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to node `i`.
    pub fn signal_node(&self, i: usize, signal: &str) {
        let pid = self.pid(i);
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Cuts (or heals) every link to and from node `i`.
    pub fn isolate(&self, i: usize, cut: bool) {
        assert!(
            !self.links.is_empty(),
            "the cluster was not started partitionable"
        );
        for l in self.links.iter().filter(|l| l.from == i || l.to == i) {
            l.set_cut(cut);
        }
    }

    pub fn pid(&self, i: usize) -> u32 {
        let node = &self.nodes[i];
        node.child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", node.id))
            .id()
    }

    /// Whether node `i`'s process is still running.
    pub fn alive(&mut self, i: usize) -> bool {
        self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Node `i`'s exit code, once its process has ended on its own (`None` while it
    /// runs, or if it was never started).
    pub fn exit_code(&mut self, i: usize) -> Option<i32> {
        let status = self.nodes[i].child.as_mut()?.try_wait().ok()??;
        status.code()
    }

    pub fn addr(&self, i: usize) -> &str {
        &self.nodes[i].addr
    }

    /// The status of node `i`, if it answers with a 200.
    pub fn status(&self, i: usize) -> Option<Value> {
        request(self.addr(i), "GET", "/status", b"")
            .ok()
            .filter(|a| a.status == 200)
            .map(|a| a.body)
    }

    /// Waits until node `i` answers `/status`.
    pub fn wait_serving(&self, i: usize) {
        let what = format!("{} to serve /status", self.nodes[i].id);
        wait_for(WAIT_MS_MAX, &what, || self.status(i));
    }

    /// Waits until one node reports itself leader and every node in `among` names it;
    /// returns its index. It led when its status was taken: by the time the caller asks
    /// it anything it may not any more (see [`Cluster::at_leader`]).
    pub fn wait_leader(&self, among: &[usize]) -> usize {
        self.wait_leader_status(among).0
    }

    /// [`Cluster::wait_leader`], with the leader's status from the same round.
    pub fn wait_leader_status(&self, among: &[usize]) -> (usize, Value) {
        wait_for(WAIT_MS_MAX, "a leader all nodes agree on", || {
            let statuses: Vec<(usize, Value)> = among
                .iter()
                .map(|&i| self.status(i).map(|s| (i, s)))
                .collect::<Option<_>>()?;
            let leaders: Vec<usize> = statuses
                .iter()
                .filter(|(_, s)| s["role"] == "leader")
                .map(|(i, _)| *i)
                .collect();
            let [leader] = leaders[..] else { return None };
            let id = &self.nodes[leader].id;
            let agreed = statuses.iter().all(|(_, s)| s["leader"] == id.as_str());
            let status = statuses.into_iter().find(|(i, _)| *i == leader)?.1;
            agreed.then_some((leader, status))
        })
    }

    /// Sends `op` to the node that all of `among` agree leads and returns that node and
    /// its answer. When the answer says leadership moved under the request (421, 503,
    /// 504, or no answer at all) it sends `op` again to whoever leads then, until another
    /// answer comes, bounded by `WAIT_MS_MAX`: on a busy machine leadership can move
    /// between finding the leader and asking it. A 504 may still take effect, so `op` must
    /// be safe to send again: a read; an acquire or a release, whose repeat answers
    /// `held` or `not-holder`; or a write whose id may then be in the log twice (compare
    /// with [`distinct`](super::distinct)).
    pub fn at_leader(
        &self,
        among: &[usize],
        what: &str,
        mut op: impl FnMut(&str) -> std::io::Result<Answer>,
    ) -> (usize, Answer) {
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS_MAX);
        loop {
            let leader = self.wait_leader(among);
            let answer = op(self.addr(leader));
            match &answer {
                Ok(a) if !matches!(a.status, 421 | 503 | 504) => {
                    return (leader, answer.expect("matched Ok"))
                }
                _ => assert!(
                    Instant::now() < deadline,
                    "no leader among {among:?} served {what} within {WAIT_MS_MAX} ms; the last \
                     answer, from {}: {answer:?}",
                    self.nodes[leader].id
                ),
            }
            // A leader that cannot serve yet (503 while its lease is void) answers at once.
            std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
        }
    }

    /// `POST path` of `body` at the leader, as [`Cluster::at_leader`] sends it.
    pub fn post_at_leader(&self, among: &[usize], path: &str, body: &Value) -> (usize, Answer) {
        let bytes = serde_json::to_vec(body).unwrap();
        self.at_leader(among, &format!("POST {path} {body}"), |a| {
            request(a, "POST", path, &bytes)
        })
    }

    /// A linearizable `GET /read`, as [`Cluster::at_leader`] sends it.
    pub fn read_at_leader(&self, among: &[usize]) -> (usize, Answer) {
        self.at_leader(among, "GET /read", |a| request(a, "GET", "/read", b""))
    }

    /// The last lines of node `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..self.nodes.len() {
                eprintln!(
                    "---- {} log (last {LOG_TAIL_LINES} lines) ----\n{}",
                    self.nodes[i].id,
                    self.log_tail(i)
                );
            }
        }
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }
}

/// `count` distinct loopback ports, free when chosen and outside the ephemeral range (so
/// no port-0 socket or outgoing connection takes one before its node binds it).
fn free_ports(count: usize) -> Vec<u16> {
    raftd::ports::loopback_ports(count).expect("free loopback ports")
}

/// Runs raftd with `args` to completion; returns its exit code and stderr.
pub fn run_raftd(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raftd"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
