//! A real raftd cluster on 127.0.0.1, started from the adapter's own node specs as plain
//! processes in a temporary directory, killed on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use workloads::raftd::RaftdSystem;
use workloads::system::{NodeAddr, System, SystemOptions, Topology};
use workloads::Cluster;

/// How long a fresh cluster may take to elect its first leader.
pub const FIRST_LEADER_WAIT_MS: u64 = 15_000;

/// The raftd binary: `$SPLITBRAIN_RAFTD`, else built once by `cargo build -p raftd` into
/// the target directory this test runs from.
pub fn raftd_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(p) = std::env::var_os("SPLITBRAIN_RAFTD") {
            return PathBuf::from(p);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "raftd", "--bin", "raftd"])
            .current_dir(workspace)
            .status()
            .expect("run cargo build -p raftd");
        assert!(status.success(), "cargo build -p raftd failed");
        // This test runs as target/<profile>/deps/tests-<hash>; raftd is in target/debug.
        let exe = std::env::current_exe().unwrap();
        let target = exe.ancestors().nth(3).unwrap();
        let binary = target.join("debug").join("raftd");
        assert!(binary.is_file(), "no raftd at {}", binary.display());
        binary
    })
}

/// `count` distinct loopback ports, free when chosen and outside the ephemeral range (so
/// no port-0 socket or outgoing connection takes one before its node binds it).
fn free_ports(count: usize) -> Vec<u16> {
    raftd::ports::loopback_ports(count).expect("free loopback ports")
}

pub struct RaftdCluster {
    pub topology: Topology,
    pub system: RaftdSystem,
    pub dir: tempfile::TempDir,
    commands: Vec<Vec<String>>,
    children: Vec<Option<Child>>,
}

impl RaftdCluster {
    pub fn start(nodes: usize, options: SystemOptions) -> RaftdCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(2 * nodes);
        let topology = Topology {
            nodes: (0..nodes)
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
        let system = RaftdSystem::new(raftd_binary());
        let options = SystemOptions {
            data_root: dir.path().display().to_string(),
            ..options
        };
        let specs = system.node_specs(&topology, &options).expect("node specs");
        let mut cluster = RaftdCluster {
            topology,
            system,
            dir,
            commands: specs
                .into_iter()
                .map(|s| {
                    let mut command = s.command.clone();
                    command[0] = s.host_program().unwrap().display().to_string();
                    command
                })
                .collect(),
            children: Vec::new(),
        };
        for i in 0..nodes {
            let child = cluster.spawn(i);
            cluster.children.push(Some(child));
        }
        cluster
    }

    fn spawn(&self, i: usize) -> Child {
        let command = &self.commands[i];
        let log_path = self.dir.path().join(format!("n{}.log", i + 1));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", command[0]))
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to node `i`'s process.
    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.children[i].as_ref().expect("node running").id();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    pub fn index_of(&self, name: &str) -> usize {
        self.topology
            .nodes
            .iter()
            .position(|n| n.name == name)
            .expect("known node")
    }

    pub async fn clients(&self) -> Cluster {
        Cluster::connect(&self.system, &self.topology)
            .await
            .expect("clients")
    }

    /// Polls until some node says it leads; panics with the nodes' logs otherwise.
    pub async fn wait_for_leader(&self, cluster: &Cluster) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(FIRST_LEADER_WAIT_MS);
        while tokio::time::Instant::now() < deadline {
            if let Some(leader) = cluster.leader().await {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no leader within {FIRST_LEADER_WAIT_MS} ms; logs:\n{}",
            self.logs()
        );
    }

    pub fn logs(&self) -> String {
        (1..=self.commands.len())
            .map(|i| {
                let path = self.dir.path().join(format!("n{i}.log"));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- n{i}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for RaftdCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            // A stopped process still dies of SIGKILL; resume it anyway so nothing lingers.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
