//! A cluster of etcd or ZooKeeper nodes as plain processes on 127.0.0.1, started from an
//! adapter's own node specs in a temporary directory, killed on drop.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use workloads::system::{NodeAddr, NodeSpec, System, SystemOptions, Topology};
use workloads::Cluster;

/// How long a fresh cluster may take to elect its first leader (a JVM starts slowly).
pub const FIRST_LEADER_WAIT_MS: u64 = 40_000;

/// `count` distinct loopback ports, free when chosen and outside the ephemeral range (so
/// no port-0 socket or outgoing connection takes one before its node binds it).
pub fn free_ports(count: usize) -> Vec<u16> {
    raftd::ports::loopback_ports(count).expect("free loopback ports")
}

/// A loopback topology of `nodes` nodes, each with a client, a peer and `extra` ports.
pub fn loopback_topology(nodes: usize, extra: usize) -> Topology {
    let per = 2 + extra;
    let ports = free_ports(per * nodes);
    Topology {
        nodes: (0..nodes)
            .map(|i| NodeAddr {
                bind: None,
                name: format!("n{}", i + 1),
                host: "127.0.0.1".into(),
                client_port: ports[per * i],
                peer_port: ports[per * i + 1],
                extra_ports: ports[per * i + 2..per * (i + 1)].to_vec(),
            })
            .collect(),
    }
}

pub struct ProcCluster {
    pub topology: Topology,
    pub dir: tempfile::TempDir,
    specs: Vec<NodeSpec>,
    children: Vec<Option<Child>>,
}

impl ProcCluster {
    /// Starts every node of `system` on loopback; nothing of ours is in the specs but the
    /// temporary data root.
    pub fn start(system: &dyn System, nodes: usize, options: SystemOptions) -> ProcCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let topology = loopback_topology(nodes, system.ports().extra_ports);
        let options = SystemOptions {
            data_root: dir.path().display().to_string(),
            ..options
        };
        let specs = system.node_specs(&topology, &options).expect("node specs");
        for spec in &specs {
            std::fs::create_dir_all(&spec.data_dir).unwrap();
            for (path, contents) in &spec.files {
                let path = std::path::Path::new(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, contents).unwrap();
            }
        }
        let mut cluster = ProcCluster {
            topology,
            dir,
            specs,
            children: Vec::new(),
        };
        for i in 0..nodes {
            let child = cluster.spawn(i);
            cluster.children.push(Some(child));
        }
        cluster
    }

    fn spawn(&self, i: usize) -> Child {
        let spec = &self.specs[i];
        let log_path = self.dir.path().join(format!("{}.log", spec.name));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        Command::new(spec.host_program().unwrap())
            .args(&spec.command[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", spec.command[0]))
    }

    /// Sends `signal` (`STOP`, `CONT`) to node `i`'s process.
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

    pub async fn clients(&self, system: &dyn System) -> Cluster {
        Cluster::connect(system, &self.topology)
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
        self.specs
            .iter()
            .map(|spec| {
                let path = self.dir.path().join(format!("{}.log", spec.name));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {}\n{}", spec.name, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
