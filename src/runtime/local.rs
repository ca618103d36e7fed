//! The local runtime: raftd processes on loopback with distinct ports, for machines with
//! neither docker nor root. Partitions go through per-pair proxies owned by the
//! controller: node i's address for peer j is the proxy (i→j), so a grudge cuts exactly
//! the directions it names. Client traffic is never cut, and only raftd runs here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use tokio::sync::Mutex;
use workloads::system::{NodeAddr, NodeSpec, Topology};

use super::procs::{prepare, ProcCluster, ProcNode};
use super::proxy::{Pair, ProxyMesh};
use super::{
    cluster_capabilities, require, NodePorts, Runtime, RuntimeConfig, RuntimeError, RuntimeKind,
    NODES_MAX,
};

/// Bound on a cut taking effect (live connections through cut proxies closing).
const CUT_TIMEOUT_MS: u64 = 5000;

pub struct LocalRuntime {
    procs: ProcCluster,
    topology: Mutex<Option<Topology>>,
    mesh: Mutex<Option<ProxyMesh>>,
}

/// Ports for the nodes, outside the ephemeral range so that the proxies (bound to port 0)
/// and the nodes' own outgoing connections can never take one before its node binds it.
fn free_ports(n: usize) -> Result<Vec<u16>, RuntimeError> {
    raftd::ports::loopback_ports(n).map_err(|e| RuntimeError::io("127.0.0.1", e))
}

/// Replace `127.0.0.1:<from>` by `127.0.0.1:<to>` where the port is not followed by a
/// digit; returns the new string and how many were replaced.
pub fn replace_addr(s: &str, from: u16, to: u16) -> (String, usize) {
    let pat = format!("127.0.0.1:{from}");
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut count = 0;
    while let Some(i) = rest.find(&pat) {
        let after = &rest[i + pat.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&pat);
        } else {
            out.push_str(&format!("127.0.0.1:{to}"));
            count += 1;
        }
        rest = after;
    }
    out.push_str(rest);
    (out, count)
}

/// The proxies a grudge cuts. "a drops what comes from b" cuts what b sends over the
/// connections b dials to a: the pair (b→a). A node never drops itself.
pub fn cut_pairs(grudge: &Grudge) -> BTreeSet<Pair> {
    grudge
        .drops
        .iter()
        .flat_map(|(a, froms)| {
            froms
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (b.clone(), a.clone()))
        })
        .collect()
}

impl LocalRuntime {
    pub fn new(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        Ok(LocalRuntime {
            procs: ProcCluster::new(cfg),
            topology: Mutex::new(None),
            mesh: Mutex::new(None),
        })
    }

    /// Point node `me`'s peer addresses at its proxies.
    fn route_through_proxies(
        spec: &NodeSpec,
        topo: &Topology,
        mesh: &ProxyMesh,
    ) -> Result<NodeSpec, RuntimeError> {
        let mut spec = spec.clone();
        for peer in topo.nodes.iter().filter(|a| a.name != spec.name) {
            let proxy = mesh
                .port(&spec.name, &peer.name)
                .expect("the mesh has every ordered pair");
            let mut total = 0;
            for arg in spec.command.iter_mut() {
                let (new, n) = replace_addr(arg, peer.peer_port, proxy);
                *arg = new;
                total += n;
            }
            if total == 0 {
                return Err(RuntimeError::Plan(format!(
                    "node {}'s command never names peer {}'s address 127.0.0.1:{}, so the \
                     local runtime cannot route it through a proxy",
                    spec.name, peer.name, peer.peer_port
                )));
            }
        }
        Ok(spec)
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Local
    }

    fn run_id(&self) -> &str {
        &self.procs.cfg.run_id
    }

    async fn plan(&self, n: usize, _ports: &NodePorts) -> Result<Topology, RuntimeError> {
        if n == 0 || n > NODES_MAX {
            return Err(RuntimeError::Plan(format!(
                "{n} nodes: expected 1 to {NODES_MAX}"
            )));
        }
        let mut topo = self.topology.lock().await;
        if topo.is_some() {
            return Err(RuntimeError::Plan(
                "this runtime already planned a cluster".into(),
            ));
        }
        let ports = free_ports(2 * n)?;
        let nodes: Vec<NodeAddr> = (0..n)
            .map(|i| NodeAddr {
                bind: None,
                name: format!("n{}", i + 1),
                host: "127.0.0.1".into(),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                extra_ports: Vec::new(),
            })
            .collect();
        let peers: Vec<(String, u16)> = nodes
            .iter()
            .map(|a| (a.name.clone(), a.peer_port))
            .collect();
        *self.mesh.lock().await = Some(ProxyMesh::bind(&peers).await?);
        let t = Topology { nodes };
        *topo = Some(t.clone());
        self.procs.record(|_| {})?;
        Ok(t)
    }

    async fn start_cluster(&self, specs: Vec<NodeSpec>) -> Result<(), RuntimeError> {
        let topo = self.topology.lock().await;
        let topo = topo
            .as_ref()
            .ok_or_else(|| RuntimeError::Plan("start_cluster before plan".into()))?;
        let mesh = self.mesh.lock().await;
        let mesh = mesh.as_ref().expect("plan binds the mesh");
        let mut nodes = Vec::new();
        for spec in &specs {
            let addr = topo
                .nodes
                .iter()
                .find(|a| a.name == spec.name)
                .ok_or_else(|| RuntimeError::UnknownNode(spec.name.clone()))?
                .clone();
            let routed = Self::route_through_proxies(spec, topo, mesh)?;
            nodes.push(ProcNode {
                launch: prepare(&self.procs.cfg, &routed, None)?,
                addr,
                clock: spec.clock.clone(),
                child: None,
            });
        }
        *self.procs.caps.lock().expect("caps lock") =
            super::with_crash_points(cluster_capabilities(&specs), &self.procs.cfg);
        self.procs.start_all(nodes).await
    }

    async fn stop_node(&self, name: &str) -> Result<(), RuntimeError> {
        self.procs.stop(name).await
    }

    async fn start_node(&self, name: &str) -> Result<(), RuntimeError> {
        self.procs
            .start(&[name.to_string()])
            .await
            .map_err(|e| RuntimeError::Plan(e.to_string()))
    }

    async fn node_netns(&self, _name: &str) -> Result<Option<PathBuf>, RuntimeError> {
        Ok(None)
    }

    async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError> {
        self.procs.is_paused(name).await
    }

    async fn teardown(&self) -> Result<(), RuntimeError> {
        if let Some(mesh) = self.mesh.lock().await.take() {
            mesh.shutdown();
        }
        self.procs.kill_all().await;
        super::leftovers::teardown_run(self.run_id())
            .await
            .map(|_| ())
    }

    fn limitations(&self) -> Vec<String> {
        vec![
            "partitions cut raftd's peer connections only (through per-pair proxies); \
             clients still reach every node"
                .into(),
            "a one-way cut stops what the dialer sends on its own connections; replies on \
             connections the other side dialed still flow"
                .into(),
            "only raftd runs here: the other built-in systems need docker or netns".into(),
        ]
    }
}

/// Why the local runtime cannot shape packets.
pub const PACKET_REASON: &str = "the local runtime runs every node on the host's loopback, \
     where there is no link per node to shape; packet faults need a network namespace per \
     node (--runtime netns, as root, or docker)";

/// Why the local runtime cannot lose unsynced writes.
pub const POWER_LOSS_REASON: &str = "the local runtime keeps each node's data in a plain \
     host directory; power-loss faults need a FUSE disk per node, mounted as root \
     (--runtime netns or docker)";

/// `caps` without packet and power-loss faults, with the local runtime's reasons.
pub fn without_packet(mut caps: Capabilities) -> Capabilities {
    caps.supported.remove(&FaultKind::Packet);
    caps.refused
        .insert(FaultKind::Packet, PACKET_REASON.to_string());
    caps.supported.remove(&FaultKind::PowerLoss);
    caps.refused
        .insert(FaultKind::PowerLoss, POWER_LOSS_REASON.to_string());
    caps
}

#[async_trait]
impl FaultRuntime for LocalRuntime {
    fn capabilities(&self) -> Capabilities {
        without_packet(self.procs.capabilities())
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        tracing::info!(run = %Runtime::run_id(self), drops = ?grudge.drops, "partition");
        require(&self.capabilities(), FaultKind::Partition)?;
        let topo = self
            .topology
            .lock()
            .await
            .clone()
            .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
        let known: BTreeMap<String, ()> = topo.nodes.iter().map(|a| (a.name.clone(), ())).collect();
        super::check_grudge(&known, grudge)?;
        let cut = cut_pairs(grudge);
        let mesh = self.mesh.lock().await;
        let mesh = mesh
            .as_ref()
            .ok_or_else(|| FaultError::Failed("no proxies".into()))?;
        mesh.set_cut(&cut, Duration::from_millis(CUT_TIMEOUT_MS))
            .await?;
        Ok(())
    }

    async fn heal(&self) -> Result<(), FaultError> {
        self.partition(&Grudge::default()).await
    }

    async fn pause(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.procs.pause(nodes).await
    }

    async fn resume(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.procs.resume(nodes).await
    }

    async fn kill(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.procs.kill(nodes).await
    }

    async fn start(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.procs.start(nodes).await
    }

    async fn clock(&self, offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError> {
        self.procs.clock(offsets_ms).await
    }

    async fn clock_reset(&self) -> Result<(), FaultError> {
        self.procs.clock_reset().await
    }

    async fn crash_point(
        &self,
        nodes: &[String],
        point: nemesis::CrashPoint,
    ) -> Result<(), FaultError> {
        self.procs.crash_point(nodes, point).await
    }

    async fn crash_point_heal(
        &self,
        nodes: &[String],
        point: nemesis::CrashPoint,
    ) -> Result<(), FaultError> {
        self.procs.crash_point_heal(nodes, point).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_way_grudge_cuts_one_pair() {
        let mut g = Grudge::default();
        g.drops.insert(
            "n1".into(),
            BTreeSet::from(["n2".to_string(), "n1".to_string()]),
        );
        let cut = cut_pairs(&g);
        assert_eq!(cut, BTreeSet::from([("n2".to_string(), "n1".to_string())]));
    }

    #[test]
    fn addresses_replace_only_whole_ports() {
        let (s, n) = replace_addr("--peer n2=127.0.0.1:1234/127.0.0.1:12345", 1234, 5000);
        assert_eq!(s, "--peer n2=127.0.0.1:5000/127.0.0.1:12345");
        assert_eq!(n, 1);
    }
}
