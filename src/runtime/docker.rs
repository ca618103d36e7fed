//! The docker runtime: one private bridge network per run with static container
//! addresses, a named volume per node for its data, images built locally, and faults
//! applied from the host (iptables through `nsenter` into each container's network
//! namespace, the cgroup freezer for pause, SIGKILL for kill).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use nemesis::{CrashPoint, PacketShape};

use super::packet::{NodeNet, Shaper};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use workloads::system::{ClockControl, Image, NodeAddr, NodeSpec, Topology};

use super::procs::{clock_env, reapply_admin_clock};
use super::subnet::{self, Net};
use super::{
    clock_control_file, cluster_capabilities, images, iptables, node_object_name, require,
    set_node_clock, write_clock_control, NodePorts, Runtime, RuntimeConfig, RuntimeError,
    RuntimeKind, NODES_MAX, NODE_LABEL, RUN_LABEL,
};

/// Where a container sees its clock control file (a node under libfaketime or
/// splitbrain's clock shim).
pub const CLOCK_FILE_IN_CONTAINER: &str = "/run/splitbrain-clock";
/// How many subnets to try when another network takes ours first.
const NETWORK_CREATE_ATTEMPTS_MAX: usize = 8;
/// How often container state is polled while waiting for a change.
const POLL_INTERVAL_MS: u64 = 20;
/// Seconds docker waits after SIGTERM before SIGKILL on a graceful stop.
const STOP_GRACE_S: i32 = 5;

use super::daemon::{connect, existing_subnets, CONTROLLER_LABEL};

pub fn run_labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (RUN_LABEL.to_string(), run_id.to_string()),
        (
            CONTROLLER_LABEL.to_string(),
            super::state::Controller::current().label(),
        ),
    ])
}

struct DockerPlan {
    network: String,
    topology: Topology,
    ips: BTreeMap<String, Ipv4Addr>,
}

struct DockerNode {
    container: String,
    clock: ClockControl,
    addr: NodeAddr,
    /// The newest log timestamp written, so a re-attached follower skips what we have.
    last_log: Arc<std::sync::Mutex<String>>,
    log_task: Option<tokio::task::JoinHandle<()>>,
}

pub struct DockerRuntime {
    docker: Docker,
    cfg: RuntimeConfig,
    plan: Mutex<Option<DockerPlan>>,
    nodes: Mutex<BTreeMap<String, DockerNode>>,
    grudge: Mutex<Grudge>,
    offsets: Mutex<BTreeMap<String, i64>>,
    caps: std::sync::Mutex<Capabilities>,
    shaper: Shaper,
    /// The packet fault in force, applied again when a node starts in a new namespace.
    packet: Mutex<Option<PacketShape>>,
    /// Each node's data directory, when the run has power-loss faults.
    disks: super::powerfs::PowerDisks,
    clock_deferred: super::DeferredClocks,
    crash_arms: super::CrashArms,
}

impl DockerRuntime {
    pub async fn connect(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        Ok(DockerRuntime {
            docker: connect().await?,
            plan: Mutex::new(None),
            nodes: Mutex::new(BTreeMap::new()),
            grudge: Mutex::new(Grudge::default()),
            offsets: Mutex::new(BTreeMap::new()),
            caps: std::sync::Mutex::new(Capabilities::default()),
            shaper: Shaper::new(&cfg.run_id),
            disks: Default::default(),
            clock_deferred: Default::default(),
            crash_arms: Default::default(),
            packet: Mutex::new(None),
            cfg,
        })
    }

    fn network_name(&self) -> String {
        format!("{}{}", super::NAME_PREFIX, self.cfg.run_id)
    }

    fn volume_name(&self, node: &str) -> String {
        format!("{}-data", node_object_name(&self.cfg.run_id, node))
    }

    async fn create_network(&self) -> Result<Net, RuntimeError> {
        let mut taken = subnet::host_routes();
        taken.extend(existing_subnets().await);
        let mut last = String::from("no free /24 in 10.213.0.0/16");
        for net in subnet::candidates(&taken)
            .into_iter()
            .take(NETWORK_CREATE_ATTEMPTS_MAX)
        {
            let req = NetworkCreateRequest {
                name: self.network_name(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(net.to_string()),
                        gateway: Some(net.host(1).to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(run_labels(&self.cfg.run_id)),
                ..Default::default()
            };
            match self.docker.create_network(req).await {
                Ok(_) => return Ok(net),
                Err(e) => last = e.to_string(),
            }
        }
        Err(RuntimeError::Docker(format!(
            "cannot create network: {last}"
        )))
    }

    async fn container_pid(&self, container: &str) -> Result<Option<i64>, RuntimeError> {
        let info = self.docker.inspect_container(container, None).await?;
        let state = info.state.unwrap_or_default();
        Ok(if state.running == Some(true) {
            state.pid.filter(|p| *p > 0)
        } else {
            None
        })
    }

    async fn state_of(&self, container: &str) -> Result<(bool, bool), RuntimeError> {
        let s = self
            .docker
            .inspect_container(container, None)
            .await?
            .state
            .unwrap_or_default();
        Ok((s.running == Some(true), s.paused == Some(true)))
    }

    async fn wait_state(
        &self,
        container: &str,
        running: bool,
        paused: bool,
    ) -> Result<(), RuntimeError> {
        let what = format!("{container} running={running} paused={paused}");
        super::wait_until(
            &what,
            self.cfg.node_op_timeout,
            Duration::from_millis(POLL_INTERVAL_MS),
            || async { self.state_of(container).await.ok() == Some((running, paused)) },
        )
        .await
    }

    async fn create_node(
        &self,
        spec: &NodeSpec,
        tag: &str,
        plan: &DockerPlan,
    ) -> Result<DockerNode, RuntimeError> {
        let addr = plan
            .topology
            .nodes
            .iter()
            .find(|a| a.name == spec.name)
            .ok_or_else(|| RuntimeError::UnknownNode(spec.name.clone()))?
            .clone();
        let container = node_object_name(&self.cfg.run_id, &spec.name);
        let mut volume = self.volume_name(&spec.name);
        let mut labels = run_labels(&self.cfg.run_id);
        labels.insert(NODE_LABEL.into(), spec.name.clone());
        if self.cfg.power_loss {
            // The data directory is a power-loss disk on the host, bound in for a volume.
            volume = super::powerfs::mount_disk(&self.disks, &self.cfg.run_id, &spec.name)?;
        } else {
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await?;
        }
        let body = self.container_body(spec, tag, plan, &volume, labels)?;
        let opts = CreateContainerOptions {
            name: Some(container.clone()),
            ..Default::default()
        };
        self.docker.create_container(Some(opts), body).await?;
        if !spec.files.is_empty() {
            let tar = files_tar(&spec.files)?;
            let opts = UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            };
            self.docker
                .upload_to_container(&container, Some(opts), bollard::body_full(tar.into()))
                .await?;
        }
        super::powerfs::sync_disk(&self.disks, &self.cfg.run_id, &spec.name)?;
        Ok(DockerNode {
            container,
            clock: spec.clock.clone(),
            addr,
            last_log: Arc::new(std::sync::Mutex::new(String::new())),
            log_task: None,
        })
    }

    /// The container of one node: its image and command, data volume, static address
    /// and, for a clock moved by a preloaded library, its control file and environment.
    fn container_body(
        &self,
        spec: &NodeSpec,
        tag: &str,
        plan: &DockerPlan,
        volume: &str,
        labels: HashMap<String, String>,
    ) -> Result<ContainerCreateBody, RuntimeError> {
        let mut binds = vec![format!("{volume}:{}", spec.data_dir)];
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(library) = spec.clock.preload_library() {
            let file = clock_control_file(&self.cfg.run_id, &spec.name);
            write_clock_control(&file, 0)?;
            binds.push(format!("{}:{CLOCK_FILE_IN_CONTAINER}", file.display()));
            env.extend(
                clock_env(&spec.clock, library, CLOCK_FILE_IN_CONTAINER)
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}")),
            );
        }
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(plan.ips[&spec.name].to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(ContainerCreateBody {
            image: Some(tag.to_string()),
            cmd: Some(spec.command.clone()),
            env: Some(env),
            hostname: Some(spec.name.clone()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(plan.network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(plan.network.clone(), endpoint)])),
            }),
            ..Default::default()
        })
    }

    /// Follow a container's output into its log file until the container stops.
    fn follow_logs(&self, node: &mut DockerNode) {
        let path = self.cfg.node_log_path(&node.addr.name);
        node.log_task = Some(spawn_log_follower(
            self.docker.clone(),
            node.container.clone(),
            path,
            node.last_log.clone(),
        ));
    }

    async fn start_container(&self, node: &mut DockerNode) -> Result<(), RuntimeError> {
        let (running, _) = self.state_of(&node.container).await?;
        if running {
            return Ok(());
        }
        self.docker.start_container(&node.container, None).await?;
        self.follow_logs(node);
        Ok(())
    }

    /// Install the grudge's drops for one node (its namespace is new after each start).
    async fn apply_rules(
        &self,
        name: &str,
        grudge: &Grudge,
        plan: &DockerPlan,
    ) -> Result<(), RuntimeError> {
        let container = node_object_name(&self.cfg.run_id, name);
        let Some(pid) = self.container_pid(&container).await? else {
            // Stopped: its namespace is gone with its rules; start() installs them again.
            return Ok(());
        };
        let drops = iptables::dropped_addrs(grudge, name, &plan.ips);
        let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        iptables::apply(&ns, &self.cfg.run_id, &drops).await
    }

    /// Put `shape` in force on the running containers' namespaces.
    async fn apply_packet(&self, shape: &PacketShape) -> Result<(), FaultError> {
        let ips = {
            let plan = self.plan.lock().await;
            let plan = plan
                .as_ref()
                .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
            plan.ips.clone()
        };
        let mut nodes = BTreeMap::new();
        for (name, ip) in ips {
            let container = node_object_name(&self.cfg.run_id, &name);
            let netns = self
                .container_pid(&container)
                .await?
                .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net")));
            nodes.insert(name, NodeNet { netns, ip });
        }
        Ok(self.shaper.apply(shape, &nodes).await?)
    }

    async fn set_clock(&self, name: &str, offset_ms: i64) -> Result<(), FaultError> {
        let (clock, addr, container) = {
            let nodes = self.nodes.lock().await;
            let n = nodes
                .get(name)
                .ok_or_else(|| FaultError::UnknownNode(name.into()))?;
            (n.clock.clone(), n.addr.clone(), n.container.clone())
        };
        if matches!(clock, ClockControl::AdminCall { .. }) {
            let (running, paused) = self.state_of(&container).await?;
            if !running || paused {
                self.clock_deferred.defer(name).await;
                return Ok(());
            }
        }
        set_node_clock(&self.cfg.run_id, name, &clock, &addr, offset_ms).await
    }

    /// The node's client address, if its process runs unpaused.
    async fn answering(&self, name: &str) -> Result<Option<NodeAddr>, FaultError> {
        let (addr, container) = {
            let nodes = self.nodes.lock().await;
            let n = nodes
                .get(name)
                .ok_or_else(|| FaultError::UnknownNode(name.into()))?;
            (n.addr.clone(), n.container.clone())
        };
        let (running, paused) = self.state_of(&container).await?;
        Ok((running && !paused).then_some(addr))
    }

    /// Sets the offsets deferred while `names` were paused, now that they answer.
    async fn apply_deferred_clock(&self, names: &[String]) {
        for name in self.clock_deferred.take(names).await {
            let off = self.offsets.lock().await.get(&name).copied().unwrap_or(0);
            if let Err(e) = self.set_clock(&name, off).await {
                tracing::warn!(node = %name, offset_ms = off, "could not set a deferred clock offset: {e}");
            }
        }
    }
}

/// A tar of the node's files, for upload before its first start.
pub(super) fn files_tar(files: &[(String, String)]) -> Result<Vec<u8>, RuntimeError> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let rel = path.trim_start_matches('/');
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(contents.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, rel, contents.as_bytes())
            .map_err(|e| RuntimeError::io(path, e))?;
    }
    b.into_inner().map_err(|e| RuntimeError::io("files tar", e))
}

/// Follow a container's output into `path` from a second ago until the container stops
/// (seconds resolution: the second of overlap is filtered out by timestamp, `last`).
pub(super) fn spawn_log_follower(
    docker: Docker,
    container: String,
    path: PathBuf,
    last: Arc<std::sync::Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    let since = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i32)
        .saturating_sub(1);
    tokio::spawn(async move {
        if let Err(e) = copy_logs(docker, &container, &path, last, since).await {
            tracing::warn!(%container, "log follower: {e}");
        }
    })
}

/// `2026-11-22T10:12:54.1234Z` → fixed width with nine fraction digits, so strings compare
/// in time order.
fn normalise_ts(ts: &str) -> String {
    let ts = ts.trim_end_matches('Z');
    let (whole, frac) = ts.split_once('.').unwrap_or((ts, ""));
    format!("{whole}.{:0<9}", &frac[..frac.len().min(9)])
}

async fn copy_logs(
    docker: Docker,
    container: &str,
    path: &std::path::Path,
    last: Arc<std::sync::Mutex<String>>,
    since: i32,
) -> Result<(), RuntimeError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| RuntimeError::io(parent, e))?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| RuntimeError::io(path, e))?;
    let opts = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since,
        timestamps: true,
        ..Default::default()
    };
    let mut stream = docker.logs(container, Some(opts));
    while let Some(item) = stream.next().await {
        let Ok(out) = item else { break };
        let bytes = out.into_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let ts = normalise_ts(text.split_whitespace().next().unwrap_or(""));
        {
            let mut l = last.lock().expect("log lock");
            if *l >= ts {
                continue;
            }
            *l = ts;
        }
        file.write_all(&bytes)
            .await
            .map_err(|e| RuntimeError::io(path, e))?;
    }
    file.flush().await.map_err(|e| RuntimeError::io(path, e))
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn run_id(&self) -> &str {
        &self.cfg.run_id
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
        let net = self.create_network().await?;
        let mut nodes = Vec::new();
        let mut ips = BTreeMap::new();
        for i in 1..=n {
            let name = format!("n{i}");
            let ip = net.host(1 + i as u32);
            ips.insert(name.clone(), ip);
            nodes.push(NodeAddr {
                bind: None,
                name,
                host: ip.to_string(),
                client_port: ports.client,
                peer_port: ports.peer,
                extra_ports: ports.extra.clone(),
            });
        }
        let topology = Topology { nodes };
        *plan = Some(DockerPlan {
            network: self.network_name(),
            topology: topology.clone(),
            ips,
        });
        Ok(topology)
    }

    async fn start_cluster(&self, specs: Vec<NodeSpec>) -> Result<(), RuntimeError> {
        let plan_guard = self.plan.lock().await;
        let plan = plan_guard
            .as_ref()
            .ok_or_else(|| RuntimeError::Plan("start_cluster before plan".into()))?;
        let t0 = std::time::Instant::now();
        let mut tags: HashMap<Image, String> = HashMap::new();
        for spec in &specs {
            if !tags.contains_key(&spec.image) {
                let tag =
                    images::ensure_image(&self.docker, &spec.image, self.cfg.image_build_timeout)
                        .await?;
                tags.insert(spec.image.clone(), tag);
            }
        }
        let images_ms = t0.elapsed().as_millis();
        *self.caps.lock().expect("caps lock") =
            super::with_crash_points(cluster_capabilities(&specs), &self.cfg);
        let mut nodes = self.nodes.lock().await;
        let creates = specs
            .iter()
            .map(|spec| self.create_node(spec, &tags[&spec.image], plan));
        for (spec, node) in specs
            .iter()
            .zip(futures_util::future::join_all(creates).await)
        {
            nodes.insert(spec.name.clone(), node?);
        }
        let created_ms = t0.elapsed().as_millis();
        // Starting containers one by one costs a network setup each; overlap them.
        let starts = nodes.values_mut().map(|node| self.start_container(node));
        for r in futures_util::future::join_all(starts).await {
            r?;
        }
        tracing::info!(
            run = %self.cfg.run_id,
            images_ms,
            created_ms,
            started_ms = t0.elapsed().as_millis(),
            "docker cluster started"
        );
        Ok(())
    }

    async fn stop_node(&self, name: &str) -> Result<(), RuntimeError> {
        let container = {
            let nodes = self.nodes.lock().await;
            nodes
                .get(name)
                .ok_or_else(|| RuntimeError::UnknownNode(name.into()))?
                .container
                .clone()
        };
        let (_, paused) = self.state_of(&container).await?;
        if paused {
            self.docker.unpause_container(&container).await?;
        }
        let opts = bollard::query_parameters::StopContainerOptions {
            t: Some(STOP_GRACE_S),
            ..Default::default()
        };
        self.docker.stop_container(&container, Some(opts)).await?;
        Ok(())
    }

    async fn start_node(&self, name: &str) -> Result<(), RuntimeError> {
        self.start(&[name.to_string()])
            .await
            .map_err(|e| RuntimeError::Plan(e.to_string()))
    }

    async fn node_netns(&self, name: &str) -> Result<Option<PathBuf>, RuntimeError> {
        let container = node_object_name(&self.cfg.run_id, name);
        if !self.nodes.lock().await.contains_key(name) {
            return Err(RuntimeError::UnknownNode(name.into()));
        }
        Ok(self
            .container_pid(&container)
            .await?
            .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net"))))
    }

    async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError> {
        if !self.nodes.lock().await.contains_key(name) {
            return Err(RuntimeError::UnknownNode(name.into()));
        }
        Ok(self
            .state_of(&node_object_name(&self.cfg.run_id, name))
            .await?
            .1)
    }

    async fn teardown(&self) -> Result<(), RuntimeError> {
        // A hold thread inside a container's namespace would keep that namespace alive.
        self.shaper.shutdown().await;
        let tasks: Vec<_> = {
            let mut nodes = self.nodes.lock().await;
            nodes
                .values_mut()
                .filter_map(|n| n.log_task.take())
                .collect()
        };
        let result = super::leftovers::teardown_run(&self.cfg.run_id)
            .await
            .map(|_| ());
        self.disks.unmount_all();
        // The containers are gone, so each follower's stream has ended or soon will.
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                tracing::warn!("a log follower did not finish");
            }
        }
        result
    }

    async fn settle_disks(&self) -> Result<(), RuntimeError> {
        super::powerfs::settle_disks(&self.disks, &self.cfg.run_id)
    }
}

#[async_trait]
impl FaultRuntime for DockerRuntime {
    fn capabilities(&self) -> Capabilities {
        self.caps.lock().expect("caps lock").clone()
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        tracing::info!(run = %Runtime::run_id(self), drops = ?grudge.drops, "partition");
        require(&self.capabilities(), FaultKind::Partition)?;
        let plan = self.plan.lock().await;
        let plan = plan
            .as_ref()
            .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
        super::check_grudge(&plan.ips, grudge)?;
        let work = plan
            .ips
            .keys()
            .map(|name| self.apply_rules(name, grudge, plan));
        for r in futures_util::future::join_all(work).await {
            r?;
        }
        *self.grudge.lock().await = grudge.clone();
        Ok(())
    }

    async fn heal(&self) -> Result<(), FaultError> {
        self.partition(&Grudge::default()).await
    }

    async fn pause(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "pause");
        require(&self.capabilities(), FaultKind::Pause)?;
        let nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let c = &nodes[name].container;
            let (running, paused) = self.state_of(c).await?;
            if running && !paused {
                self.docker
                    .pause_container(c)
                    .await
                    .map_err(RuntimeError::from)?;
                self.wait_state(c, true, true).await?;
            }
        }
        Ok(())
    }

    async fn resume(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "resume");
        require(&self.capabilities(), FaultKind::Pause)?;
        let nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let c = &nodes[name].container;
            if self.state_of(c).await?.1 {
                self.docker
                    .unpause_container(c)
                    .await
                    .map_err(RuntimeError::from)?;
                self.wait_state(c, true, false).await?;
            }
        }
        drop(nodes);
        self.apply_deferred_clock(names).await;
        Ok(())
    }

    async fn kill(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "kill");
        require(&self.capabilities(), FaultKind::Kill)?;
        let nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let c = &nodes[name].container;
            if !self.state_of(c).await?.0 {
                continue;
            }
            let opts = KillContainerOptions {
                signal: "SIGKILL".into(),
            };
            self.docker
                .kill_container(c, Some(opts))
                .await
                .map_err(RuntimeError::from)?;
            self.wait_state(c, false, false).await?;
        }
        Ok(())
    }

    async fn power_loss(&self, names: &[String]) -> Result<(), FaultError> {
        require(&self.capabilities(), FaultKind::PowerLoss)?;
        self.kill(names).await?;
        self.disks
            .lose(names)
            .map(|_| ())
            .map_err(FaultError::Failed)
    }

    async fn crash_point(&self, names: &[String], point: CrashPoint) -> Result<(), FaultError> {
        require(&self.capabilities(), FaultKind::CrashPoint)?;
        let path = self.cfg.crash_points.clone().unwrap_or_default();
        super::check_nodes(&*self.nodes.lock().await, names)?;
        for name in names {
            let addr = self.answering(name).await?;
            self.crash_arms
                .arm(&path, name, point, addr.as_ref())
                .await?;
        }
        Ok(())
    }

    async fn crash_point_heal(
        &self,
        names: &[String],
        point: CrashPoint,
    ) -> Result<(), FaultError> {
        require(&self.capabilities(), FaultKind::CrashPoint)?;
        let path = self.cfg.crash_points.clone().unwrap_or_default();
        super::check_nodes(&*self.nodes.lock().await, names)?;
        let mut dead = Vec::new();
        for name in names {
            let addr = self.answering(name).await?;
            if self
                .crash_arms
                .disarm(&path, name, point, addr.as_ref())
                .await?
            {
                dead.push(name.clone());
            }
        }
        if dead.is_empty() {
            Ok(())
        } else {
            self.start(&dead).await
        }
    }

    async fn start(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "start");
        for name in names {
            self.crash_arms.forget(name).await;
        }
        let grudge = self.grudge.lock().await.clone();
        let offsets = self.offsets.lock().await.clone();
        {
            let plan = self.plan.lock().await;
            let plan = plan
                .as_ref()
                .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
            let mut nodes = self.nodes.lock().await;
            super::check_nodes(&nodes, names)?;
            for name in names {
                let node = nodes.get_mut(name).expect("checked above");
                self.start_container(node).await?;
                self.apply_rules(name, &grudge, plan).await?;
                let off = offsets.get(name).copied().unwrap_or(0);
                if let (ClockControl::AdminCall { path }, true) = (&node.clock, off != 0) {
                    let (addr, path) = (node.addr.clone(), path.clone());
                    tokio::spawn(async move { reapply_admin_clock(addr, path, off).await });
                }
            }
        }
        // A new process starts at offset 0, and is given any other by the start.
        self.clock_deferred.take(names).await;
        // A started container has a new namespace, without the packet shaping.
        let shape = self.packet.lock().await.clone();
        if let Some(shape) = shape {
            self.apply_packet(&shape).await?;
        }
        Ok(())
    }

    async fn packet(&self, shape: &PacketShape) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, params = %shape.params, links = shape.links.len(), "packet");
        require(&self.capabilities(), FaultKind::Packet)?;
        *self.packet.lock().await = Some(shape.clone());
        self.apply_packet(shape).await
    }

    async fn packet_heal(&self) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, "packet heal");
        *self.packet.lock().await = None;
        Ok(self.shaper.heal().await?)
    }

    async fn clock(&self, offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError> {
        require(&self.capabilities(), FaultKind::Clock)?;
        super::check_nodes(&*self.nodes.lock().await, offsets_ms.keys())?;
        for (name, off) in offsets_ms {
            self.set_clock(name, *off).await?;
            self.offsets.lock().await.insert(name.clone(), *off);
        }
        Ok(())
    }

    async fn clock_reset(&self) -> Result<(), FaultError> {
        require(&self.capabilities(), FaultKind::Clock)?;
        let names: Vec<String> = self.nodes.lock().await.keys().cloned().collect();
        for name in names {
            self.set_clock(&name, 0).await?;
        }
        self.offsets.lock().await.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_normalise_to_fixed_width() {
        assert_eq!(
            normalise_ts("2026-11-22T10:12:54.12Z"),
            "2026-11-22T10:12:54.120000000"
        );
        assert!(
            normalise_ts("2026-11-22T10:12:54.9Z") > normalise_ts("2026-11-22T10:12:54.123456789Z")
        );
    }
}
