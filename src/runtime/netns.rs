//! The netns runtime: one network namespace per node, each with a veth into a bridge that
//! lives in a namespace of its own (`sb-<runid>-br`), plus one veth to the host so the
//! controller reaches every node. Node processes run from the host's binaries.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use nemesis::PacketShape;
use tokio::sync::Mutex;
use workloads::system::{NodeAddr, NodeSpec, Topology};

use super::packet::{NodeNet, Shaper};
use super::powerfs::{mount_disk, sync_disk};
use super::procs::{prepare, ProcCluster, ProcNode};
use super::subnet::{self, Net};
use super::{
    cluster_capabilities, iptables, netns_path, node_object_name, require, NodePorts, Runtime,
    RuntimeConfig, RuntimeError, RuntimeKind, NODES_MAX,
};

/// Bound on one `ip` invocation.
const IP_CALL_TIMEOUT_MS: u64 = 10_000;

struct NetPlan {
    topology: Topology,
    ips: BTreeMap<String, Ipv4Addr>,
}

pub struct NetnsRuntime {
    procs: ProcCluster,
    plan: Mutex<Option<NetPlan>>,
    grudge: Mutex<Grudge>,
    shaper: Shaper,
}

/// Run `ip ARGS`, returning its error output as the reason on failure.
pub async fn ip(args: &[&str]) -> Result<(), RuntimeError> {
    let what = format!("ip {}", args.join(" "));
    let out = tokio::time::timeout(
        Duration::from_millis(IP_CALL_TIMEOUT_MS),
        tokio::process::Command::new("ip")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| RuntimeError::Timeout {
        what: what.clone(),
        after_ms: IP_CALL_TIMEOUT_MS,
    })?
    .map_err(|e| RuntimeError::Command {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(RuntimeError::Command {
            what,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

impl NetnsRuntime {
    pub fn new(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        if !super::is_root() {
            return Err(RuntimeError::Unsupported(
                "the netns runtime needs root (it creates namespaces, veths and iptables rules)"
                    .into(),
            ));
        }
        Ok(NetnsRuntime {
            shaper: Shaper::new(&cfg.run_id),
            procs: ProcCluster::new(cfg),
            plan: Mutex::new(None),
            grudge: Mutex::new(Grudge::default()),
        })
    }

    fn run_id(&self) -> &str {
        &self.procs.cfg.run_id
    }

    fn bridge_ns(&self) -> String {
        format!("{}br", node_object_name(self.run_id(), ""))
    }

    fn host_link(&self) -> String {
        format!("{}h", node_object_name(self.run_id(), ""))
    }

    async fn choose_subnet(&self) -> Net {
        let mut taken = subnet::host_routes();
        taken.extend(super::daemon::existing_subnets().await);
        subnet::candidates(&taken)
            .into_iter()
            .next()
            .unwrap_or(Net {
                addr: Ipv4Addr::new(10, 213, 0, 0),
                prefix: 24,
            })
    }

    /// The bridge namespace with its bridge, and the host's veth into it (address .1).
    async fn make_bridge(&self, net: &Net) -> Result<(), RuntimeError> {
        let br = self.bridge_ns();
        let host = self.host_link();
        self.procs.record(|st| {
            st.netns.push(br.clone());
            st.host_links.push(host.clone());
        })?;
        ip(&["netns", "add", &br]).await?;
        ip(&["-n", &br, "link", "set", "lo", "up"]).await?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]).await?;
        ip(&["-n", &br, "link", "set", "br0", "up"]).await?;
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", "up0", "netns", &br,
        ])
        .await?;
        ip(&["-n", &br, "link", "set", "up0", "master", "br0", "up"]).await?;
        let gw = format!("{}/{}", net.host(1), net.prefix);
        ip(&["addr", "add", &gw, "dev", &host]).await?;
        ip(&["link", "set", &host, "up"]).await
    }

    async fn make_node(
        &self,
        index: usize,
        name: &str,
        addr: Ipv4Addr,
        net: &Net,
    ) -> Result<(), RuntimeError> {
        let br = self.bridge_ns();
        let ns = node_object_name(self.run_id(), name);
        self.procs.record(|st| st.netns.push(ns.clone()))?;
        ip(&["netns", "add", &ns]).await?;
        ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
        let port = format!("v{index}");
        ip(&[
            "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])
        .await?;
        ip(&["-n", &br, "link", "set", &port, "master", "br0", "up"]).await?;
        let cidr = format!("{addr}/{}", net.prefix);
        ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]).await?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).await?;
        let gw = net.host(1).to_string();
        ip(&["-n", &ns, "route", "add", "default", "via", &gw]).await
    }
}

#[async_trait]
impl Runtime for NetnsRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Netns
    }

    fn run_id(&self) -> &str {
        &self.procs.cfg.run_id
    }

    async fn plan(&self, n: usize, ports: &NodePorts) -> Result<Topology, RuntimeError> {
        if n == 0 || n > NODES_MAX {
            return Err(RuntimeError::Plan(format!(
                "{n} nodes: expected 1 to {NODES_MAX}"
            )));
        }
        let mut plan = self.plan.lock().await;
        if plan.is_some() {
            return Err(RuntimeError::Plan(
                "this runtime already planned a cluster".into(),
            ));
        }
        self.procs.record(|_| {})?;
        let net = self.choose_subnet().await;
        self.make_bridge(&net).await?;
        let mut nodes = Vec::new();
        let mut ips = BTreeMap::new();
        for i in 1..=n {
            let name = format!("n{i}");
            let addr = net.host(1 + i as u32);
            self.make_node(i, &name, addr, &net).await?;
            ips.insert(name.clone(), addr);
            nodes.push(NodeAddr {
                bind: None,
                name,
                host: addr.to_string(),
                client_port: ports.client,
                peer_port: ports.peer,
                extra_ports: ports.extra.clone(),
            });
        }
        let topology = Topology { nodes };
        *plan = Some(NetPlan {
            topology: topology.clone(),
            ips,
        });
        Ok(topology)
    }

    async fn start_cluster(&self, specs: Vec<NodeSpec>) -> Result<(), RuntimeError> {
        let plan = self.plan.lock().await;
        let plan = plan
            .as_ref()
            .ok_or_else(|| RuntimeError::Plan("start_cluster before plan".into()))?;
        let mut nodes = Vec::new();
        for spec in &specs {
            let addr = plan
                .topology
                .nodes
                .iter()
                .find(|a| a.name == spec.name)
                .ok_or_else(|| RuntimeError::UnknownNode(spec.name.clone()))?
                .clone();
            let ns = netns_path(&node_object_name(self.run_id(), &spec.name));
            if self.procs.cfg.power_loss {
                mount_disk(&self.procs.disks, self.run_id(), &spec.name)?;
            }
            let launch = prepare(&self.procs.cfg, spec, Some(ns))?;
            // The files a node starts with are on its disk before it runs.
            sync_disk(&self.procs.disks, self.run_id(), &spec.name)?;
            nodes.push(ProcNode {
                launch,
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

    async fn node_netns(&self, name: &str) -> Result<Option<PathBuf>, RuntimeError> {
        let plan = self.plan.lock().await;
        match plan.as_ref() {
            Some(p) if p.ips.contains_key(name) => {
                Ok(Some(netns_path(&node_object_name(self.run_id(), name))))
            }
            _ => Err(RuntimeError::UnknownNode(name.into())),
        }
    }

    async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError> {
        self.procs.is_paused(name).await
    }

    async fn teardown(&self) -> Result<(), RuntimeError> {
        // A hold thread inside a namespace would keep it alive after `ip netns del`.
        self.shaper.shutdown().await;
        self.procs.kill_all().await;
        self.procs.disks.unmount_all();
        super::leftovers::teardown_run(self.run_id())
            .await
            .map(|_| ())
    }

    async fn settle_disks(&self) -> Result<(), RuntimeError> {
        super::powerfs::settle_disks(&self.procs.disks, self.run_id())
    }
}

#[async_trait]
impl FaultRuntime for NetnsRuntime {
    fn capabilities(&self) -> Capabilities {
        self.procs.capabilities()
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        tracing::info!(run = %Runtime::run_id(self), drops = ?grudge.drops, "partition");
        require(&self.capabilities(), FaultKind::Partition)?;
        let plan = self.plan.lock().await;
        let plan = plan
            .as_ref()
            .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
        super::check_grudge(&plan.ips, grudge)?;
        let mut work = Vec::new();
        for name in plan.ips.keys() {
            let drops = iptables::dropped_addrs(grudge, name, &plan.ips);
            let ns = netns_path(&node_object_name(self.run_id(), name));
            let run_id = self.run_id().to_string();
            work.push(async move { iptables::apply(&ns, &run_id, &drops).await });
        }
        for r in futures_util::future::join_all(work).await {
            r?;
        }
        *self.grudge.lock().await = grudge.clone();
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

    async fn power_loss(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.procs.power_loss(nodes).await
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

    async fn packet(&self, shape: &PacketShape) -> Result<(), FaultError> {
        tracing::info!(run = %Runtime::run_id(self), params = %shape.params, links = shape.links.len(), "packet");
        require(&self.capabilities(), FaultKind::Packet)?;
        let nodes: BTreeMap<String, NodeNet> = {
            let plan = self.plan.lock().await;
            let plan = plan
                .as_ref()
                .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
            plan.ips
                .iter()
                .map(|(name, ip)| {
                    let netns = netns_path(&node_object_name(self.run_id(), name));
                    let net = NodeNet {
                        netns: Some(netns),
                        ip: *ip,
                    };
                    (name.clone(), net)
                })
                .collect()
        };
        Ok(self.shaper.apply(shape, &nodes).await?)
    }

    async fn packet_heal(&self) -> Result<(), FaultError> {
        tracing::info!(run = %Runtime::run_id(self), "packet heal");
        Ok(self.shaper.heal().await?)
    }
}
