//! The docker runtime over several Docker hosts (`--docker-host`), everything through the
//! Docker API: images built on each host through its build API, nodes placed round-robin
//! (or where `--place` says), each behind a holder container that owns its network
//! namespace and publishes its ports (see [`super::sidecar`]), and every fault an API call — partitions by `exec` of
//! iptables in the holder, pause through the freezer, kill and start, and clocks by an
//! admin call or a control file written in the holder.
//!
//! Nodes reach each other, and the controller reaches them, at their host's address and
//! their own block of ports. Each host gets a bridge network of its own with a subnet
//! free on every host; a host on this machine is reached at that network's gateway.
//! Before any node starts, every holder checks that it reaches every other host's
//! address, and the controller checks the same, so a host whose ports cannot be reached
//! is named before the run begins.
//!
//! A watchdog pings every host each second; a host that stops answering ends the run
//! (its verdict is unknown, the message names the host and the nodes it held).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, HostConfig, Ipam, IpamConfig, NetworkCreateRequest, PortBinding,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, UploadToContainerOptions,
};
use bollard::Docker;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use tokio::sync::Mutex;
use workloads::system::{ClockControl, Image, NodeAddr, NodeSpec, Topology};

use super::docker::{files_tar, run_labels, spawn_log_follower};
use super::hosts::{self, HostUrl};
use super::procs::{clock_env, reapply_admin_clock};
use super::sidecar::{self, Reach};
use super::subnet::{self, Net};
use super::{
    clock_offset_text, cluster_capabilities, images, node_object_name, require, NodePorts, Runtime,
    RuntimeConfig, RuntimeError, RuntimeKind, NODES_MAX, NODE_LABEL,
};

/// Where a node's clock control file lives (a volume its holder shares).
const CLOCK_DIR: &str = "/run/splitbrain-clock";
const CLOCK_FILE: &str = "/run/splitbrain-clock/offset";
/// Ports per node: client, peer and extra ports, published as one block.
const PORTS_PER_NODE: u16 = 10;
/// The lowest port of any block.
const PORT_BASE_MIN: u16 = 20_000;
/// How often the watchdog pings every host.
const WATCHDOG_INTERVAL_MS: u64 = 1000;
/// How often container state is polled while waiting for a change.
const POLL_INTERVAL_MS: u64 = 20;
/// Seconds docker waits after SIGTERM before SIGKILL on a graceful stop.
const STOP_GRACE_S: i32 = 5;
/// How many subnets to try per host when another network takes ours first.
const NETWORK_CREATE_ATTEMPTS_MAX: usize = 8;

struct Host {
    url: HostUrl,
    docker: Docker,
}

/// What `plan` decided: each host's network and address, each node's host and ports.
struct Plan {
    topology: Topology,
    /// Per host: its network's subnet and the address its nodes are reached at.
    nets: Vec<(Net, String)>,
    placement: BTreeMap<String, usize>,
    reach: BTreeMap<String, Reach>,
}

struct Node {
    host: usize,
    container: String,
    holder: String,
    clock: ClockControl,
    addr: NodeAddr,
    last_log: Arc<std::sync::Mutex<String>>,
    log_task: Option<tokio::task::JoinHandle<()>>,
}

pub struct SpreadRuntime {
    cfg: RuntimeConfig,
    hosts: Vec<Host>,
    plan: Mutex<Option<Plan>>,
    nodes: Mutex<BTreeMap<String, Node>>,
    grudge: Mutex<Grudge>,
    offsets: Mutex<BTreeMap<String, i64>>,
    caps: std::sync::Mutex<Capabilities>,
    /// The first host found not answering, said as the run's end will say it.
    lost: Arc<std::sync::Mutex<Option<String>>>,
    watchdog: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SpreadRuntime {
    /// Connect to every host (each must answer) and record them for `clean`.
    pub async fn connect(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        let urls = hosts::parse_hosts(&cfg.docker_hosts).map_err(RuntimeError::Plan)?;
        let mut hosts = Vec::new();
        for url in urls {
            let docker = hosts::connect_checked(&url).await?;
            hosts.push(Host { url, docker });
        }
        if hosts.is_empty() {
            return Err(RuntimeError::Plan("no docker host given".into()));
        }
        let mut state = super::state::RunState::new(&cfg.run_id);
        state.docker_hosts = hosts.iter().map(|h| h.url.url.clone()).collect();
        state.save()?;
        Ok(SpreadRuntime {
            cfg,
            hosts,
            plan: Mutex::new(None),
            nodes: Mutex::new(BTreeMap::new()),
            grudge: Mutex::new(Grudge::default()),
            offsets: Mutex::new(BTreeMap::new()),
            caps: std::sync::Mutex::new(Capabilities::default()),
            lost: Arc::default(),
            watchdog: std::sync::Mutex::new(None),
        })
    }

    /// The hosts, as their URLs say them.
    pub fn host_urls(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.url.url.clone()).collect()
    }

    fn network_name(&self) -> String {
        format!("{}{}", super::NAME_PREFIX, self.cfg.run_id)
    }

    fn holder_name(&self, node: &str) -> String {
        format!("{}-net", node_object_name(&self.cfg.run_id, node))
    }

    /// A first port for this run's blocks, drawn from its id so that two runs on one
    /// host rarely collide (docker refuses a port that is taken, naming it).
    fn port_base(&self, n: usize) -> u16 {
        let span = (u16::MAX - PORT_BASE_MIN) / (PORTS_PER_NODE * (n as u16 + 1));
        let h = self
            .cfg
            .run_id
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        PORT_BASE_MIN + (h % span as u32) as u16 * PORTS_PER_NODE * (n as u16 + 1)
    }

    /// A bridge network on every host, each on a subnet that no host uses and that this
    /// machine does not route (hosts on this machine share its routing table).
    async fn create_networks(&self) -> Result<Vec<Net>, RuntimeError> {
        let mut taken = subnet::host_routes();
        for h in &self.hosts {
            taken.extend(super::daemon::subnets_of(&h.docker).await);
        }
        let mut nets = Vec::new();
        let mut candidates = subnet::candidates(&taken).into_iter();
        for h in &self.hosts {
            let mut last = String::from("no free /24 in 10.213.0.0/16");
            let mut made = None;
            for net in candidates.by_ref().take(NETWORK_CREATE_ATTEMPTS_MAX) {
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
                match h.docker.create_network(req).await {
                    Ok(_) => {
                        made = Some(net);
                        break;
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            let net = made.ok_or_else(|| {
                RuntimeError::Docker(format!(
                    "docker host {}: cannot create network: {last}",
                    h.url.url
                ))
            })?;
            nets.push(net);
        }
        Ok(nets)
    }

    async fn state_of(&self, host: usize, container: &str) -> Result<(bool, bool), RuntimeError> {
        let s = self.hosts[host]
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| self.host_error(host, e))?
            .state
            .unwrap_or_default();
        Ok((s.running == Some(true), s.paused == Some(true)))
    }

    async fn wait_state(
        &self,
        host: usize,
        container: &str,
        running: bool,
        paused: bool,
    ) -> Result<(), RuntimeError> {
        let what = format!("{container} running={running} paused={paused}");
        super::wait_until(
            &what,
            self.cfg.node_op_timeout,
            Duration::from_millis(POLL_INTERVAL_MS),
            || async { self.state_of(host, container).await.ok() == Some((running, paused)) },
        )
        .await
    }

    fn host_error(&self, host: usize, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Docker(format!("docker host {}: {e}", self.hosts[host].url.url))
    }

    /// The holder of one node: its network, published ports, NET_ADMIN, the clock volume.
    async fn create_holder(
        &self,
        name: &str,
        host: usize,
        reach: &Reach,
        publish_ip: &str,
        tag: &str,
    ) -> Result<String, RuntimeError> {
        let d = &self.hosts[host].docker;
        let holder = self.holder_name(name);
        let mut labels = run_labels(&self.cfg.run_id);
        labels.insert(NODE_LABEL.into(), name.to_string());
        let clock_volume = format!("{}-clock", node_object_name(&self.cfg.run_id, name));
        d.create_volume(VolumeCreateRequest {
            name: Some(clock_volume.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| self.host_error(host, e))?;
        let mut exposed = Vec::new();
        let mut bindings = HashMap::new();
        for port in reach.ports.0..=reach.ports.1 {
            let key = format!("{port}/tcp");
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(publish_ip.to_string()),
                    host_port: Some(port.to_string()),
                }]),
            );
        }
        let body = ContainerCreateBody {
            image: Some(tag.to_string()),
            cmd: Some(sidecar::command()),
            hostname: Some(name.to_string()),
            labels: Some(labels),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                network_mode: Some(self.network_name()),
                port_bindings: Some(bindings),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                binds: Some(vec![format!("{clock_volume}:{CLOCK_DIR}")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(holder.clone()),
            ..Default::default()
        };
        d.create_container(Some(opts), body)
            .await
            .map_err(|e| self.host_error(host, e))?;
        d.start_container(&holder, None)
            .await
            .map_err(|e| self.host_error(host, e))?;
        sidecar::write_clock(d, &holder, CLOCK_FILE, &clock_offset_text(0)).await?;
        Ok(holder)
    }

    async fn create_node(
        &self,
        spec: &NodeSpec,
        tag: &str,
        node: &Node,
    ) -> Result<(), RuntimeError> {
        let d = &self.hosts[node.host].docker;
        let mut labels = run_labels(&self.cfg.run_id);
        labels.insert(NODE_LABEL.into(), spec.name.clone());
        let volume = format!("{}-data", node.container);
        d.create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| self.host_error(node.host, e))?;
        let clock_volume = format!("{}-clock", node.container);
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(library) = spec.clock.preload_library() {
            env.extend(
                clock_env(&spec.clock, library, CLOCK_FILE)
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}")),
            );
        }
        let body = ContainerCreateBody {
            image: Some(tag.to_string()),
            cmd: Some(spec.command.clone()),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(vec![
                    format!("{volume}:{}", spec.data_dir),
                    format!("{clock_volume}:{CLOCK_DIR}"),
                ]),
                network_mode: Some(format!("container:{}", node.holder)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(node.container.clone()),
            ..Default::default()
        };
        d.create_container(Some(opts), body)
            .await
            .map_err(|e| self.host_error(node.host, e))?;
        if !spec.files.is_empty() {
            let tar = files_tar(&spec.files)?;
            let opts = UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            };
            d.upload_to_container(&node.container, Some(opts), bollard::body_full(tar.into()))
                .await
                .map_err(|e| self.host_error(node.host, e))?;
        }
        Ok(())
    }

    fn follow_logs(&self, node: &mut Node) {
        let path = self.cfg.node_log_path(&node.addr.name);
        node.log_task = Some(spawn_log_follower(
            self.hosts[node.host].docker.clone(),
            node.container.clone(),
            path,
            node.last_log.clone(),
        ));
    }

    async fn start_container(&self, node: &mut Node) -> Result<(), RuntimeError> {
        if self.state_of(node.host, &node.container).await?.0 {
            return Ok(());
        }
        self.hosts[node.host]
            .docker
            .start_container(&node.container, None)
            .await
            .map_err(|e| self.host_error(node.host, e))?;
        self.follow_logs(node);
        Ok(())
    }

    /// Every holder reaches every other host's address, and so does the controller:
    /// checked before any node starts. Nothing listens yet, so a refusal is an answer.
    async fn check_reach(&self, holders: &BTreeMap<usize, String>) -> Result<(), RuntimeError> {
        let plan = self.plan.lock().await;
        let plan = plan.as_ref().expect("planned before start");
        // One node of each host: its block's first port, on its host's address.
        let mut targets: BTreeMap<usize, &Reach> = BTreeMap::new();
        for (name, host) in &plan.placement {
            targets.entry(*host).or_insert(&plan.reach[name]);
        }
        let mut problems = Vec::new();
        for (from, holder) in holders {
            for (to, reach) in &targets {
                if from == to {
                    continue;
                }
                let d = &self.hosts[*from].docker;
                if let Err(why) = sidecar::probe(d, holder, &reach.addr, reach.ports.0).await {
                    problems.push(format!(
                        "containers on {} cannot reach {}:{} (published by {}): {why}",
                        self.hosts[*from].url.url,
                        reach.addr,
                        reach.ports.0,
                        self.hosts[*to].url.url
                    ));
                }
            }
        }
        for (to, reach) in &targets {
            let addr = format!("{}:{}", reach.addr, reach.ports.0);
            let connected = tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(&addr),
            )
            .await;
            let refused = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused;
            match connected {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if refused(&e) => {}
                Ok(Err(e)) => problems.push(format!(
                    "this machine cannot reach {addr} (published by {}): {e}",
                    self.hosts[*to].url.url
                )),
                Err(_) => problems.push(format!(
                    "this machine cannot reach {addr} (published by {}): no answer within 3 s",
                    self.hosts[*to].url.url
                )),
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(RuntimeError::Plan(format!(
            "the hosts cannot reach each other's published ports: {}. Every host's address \
             (the one in its URL; a host on this machine is reached at its run network's \
             gateway) must be reachable from every other host and from this machine on \
             ports {}-{}",
            problems.join("; "),
            plan.reach.values().map(|r| r.ports.0).min().unwrap_or(0),
            plan.reach.values().map(|r| r.ports.1).max().unwrap_or(0),
        )))
    }

    /// Ping every host each second; remember the first that does not answer.
    fn start_watchdog(&self, placement: BTreeMap<String, usize>) {
        let hosts: Vec<(String, Docker)> = self
            .hosts
            .iter()
            .map(|h| (h.url.url.clone(), h.docker.clone()))
            .collect();
        let lost = self.lost.clone();
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(WATCHDOG_INTERVAL_MS)).await;
                for (i, (url, docker)) in hosts.iter().enumerate() {
                    if let Err(why) = hosts::ping(docker).await {
                        let on: Vec<&str> = placement
                            .iter()
                            .filter(|(_, h)| **h == i)
                            .map(|(n, _)| n.as_str())
                            .collect();
                        let msg = format!(
                            "docker host {url} stopped answering {:.1} s after the cluster started ({why}); it ran {}",
                            t0.elapsed().as_secs_f64(),
                            on.join(", ")
                        );
                        tracing::warn!("{msg}");
                        *lost.lock().expect("lost lock") = Some(msg);
                        return;
                    }
                }
            }
        });
        *self.watchdog.lock().expect("watchdog lock") = Some(task);
    }

    async fn node_of(&self, name: &str) -> Result<(usize, String, String), RuntimeError> {
        let nodes = self.nodes.lock().await;
        let n = nodes
            .get(name)
            .ok_or_else(|| RuntimeError::UnknownNode(name.into()))?;
        Ok((n.host, n.container.clone(), n.holder.clone()))
    }

    async fn set_clock(&self, name: &str, offset_ms: i64) -> Result<(), FaultError> {
        let (clock, addr, host, holder) = {
            let nodes = self.nodes.lock().await;
            let n = nodes
                .get(name)
                .ok_or_else(|| FaultError::UnknownNode(name.into()))?;
            (n.clock.clone(), n.addr.clone(), n.host, n.holder.clone())
        };
        match &clock {
            ClockControl::Faketime { .. } | ClockControl::Preload { .. } => {
                let d = &self.hosts[host].docker;
                sidecar::write_clock(d, &holder, CLOCK_FILE, &clock_offset_text(offset_ms)).await?;
                Ok(())
            }
            _ => super::set_node_clock(&self.cfg.run_id, name, &clock, &addr, offset_ms).await,
        }
    }
}

#[async_trait]
impl Runtime for SpreadRuntime {
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
        let wanted = 2 + ports.extra.len();
        if wanted > PORTS_PER_NODE as usize {
            return Err(RuntimeError::Plan(format!(
                "a node with {wanted} ports: at most {PORTS_PER_NODE} on docker hosts"
            )));
        }
        let mut plan = self.plan.lock().await;
        if plan.is_some() {
            return Err(RuntimeError::Plan(
                "this runtime already planned a cluster".into(),
            ));
        }
        let nets = self.create_networks().await?;
        let nets: Vec<(Net, String)> = nets
            .into_iter()
            .zip(&self.hosts)
            .map(|(net, h)| {
                let addr = match (&h.url.name, h.url.is_local()) {
                    (Some(name), false) => name.clone(),
                    _ => net.host(1).to_string(),
                };
                (net, addr)
            })
            .collect();
        let base = self.port_base(n);
        let mut nodes = Vec::new();
        let mut placement = BTreeMap::new();
        let mut reach = BTreeMap::new();
        for i in 1..=n {
            let name = format!("n{i}");
            let host = match self.cfg.placement.get(&name) {
                Some(h) if (1..=self.hosts.len()).contains(h) => h - 1,
                _ => (i - 1) % self.hosts.len(),
            };
            let first = base + PORTS_PER_NODE * i as u16;
            let block: Vec<u16> = (0..wanted as u16).map(|k| first + k).collect();
            let addr = nets[host].1.clone();
            placement.insert(name.clone(), host);
            reach.insert(
                name.clone(),
                Reach {
                    addr: addr.clone(),
                    ports: (first, first + wanted as u16 - 1),
                },
            );
            nodes.push(NodeAddr {
                name,
                host: addr,
                client_port: block[0],
                peer_port: block[1],
                extra_ports: block[2..].to_vec(),
                bind: Some("0.0.0.0".into()),
            });
        }
        let topology = Topology { nodes };
        *plan = Some(Plan {
            topology: topology.clone(),
            nets,
            placement,
            reach,
        });
        Ok(topology)
    }

    async fn start_cluster(&self, specs: Vec<NodeSpec>) -> Result<(), RuntimeError> {
        let t0 = Instant::now();
        let (placement, reach, nets, topology) = {
            let plan = self.plan.lock().await;
            let plan = plan
                .as_ref()
                .ok_or_else(|| RuntimeError::Plan("start_cluster before plan".into()))?;
            (
                plan.placement.clone(),
                plan.reach.clone(),
                plan.nets.clone(),
                plan.topology.clone(),
            )
        };
        // Images, on each host that needs them, through its build API.
        let holder_image = Image::Recipe(sidecar::image());
        let mut tags: HashMap<(usize, Image), String> = HashMap::new();
        for (h, host) in self.hosts.iter().enumerate() {
            let wanted = specs
                .iter()
                .filter(|s| placement.get(&s.name) == Some(&h))
                .map(|s| &s.image)
                .chain(std::iter::once(&holder_image));
            for image in wanted {
                if tags.contains_key(&(h, image.clone())) {
                    continue;
                }
                let tag = images::ensure_image(&host.docker, image, self.cfg.image_build_timeout)
                    .await
                    .map_err(|e| self.host_error(h, e))?;
                tags.insert((h, image.clone()), tag);
            }
        }
        let images_ms = t0.elapsed().as_millis();
        let mut caps = cluster_capabilities(&specs);
        for (kind, why) in [
            (FaultKind::Packet, crate::spec::HOSTS_PACKET_REASON),
            (FaultKind::PowerLoss, crate::spec::HOSTS_POWER_LOSS_REASON),
            (FaultKind::CrashPoint, crate::spec::HOSTS_CRASH_POINT_REASON),
        ] {
            caps.supported.remove(&kind);
            caps.refused.insert(kind, why.to_string());
        }
        *self.caps.lock().expect("caps lock") = caps;
        // Holders first: they own the namespaces, publish the ports, and probe. Each is a
        // few API calls, so they are made together.
        let mut wanted = Vec::new();
        for spec in &specs {
            let host = *placement
                .get(&spec.name)
                .ok_or_else(|| RuntimeError::UnknownNode(spec.name.clone()))?;
            let publish_ip = if self.hosts[host].url.is_local() {
                nets[host].0.host(1).to_string()
            } else {
                String::new()
            };
            wanted.push((spec.name.clone(), host, publish_ip));
        }
        let made = wanted.iter().map(|(name, host, publish_ip)| {
            let tag = &tags[&(*host, holder_image.clone())];
            self.create_holder(name, *host, &reach[name], publish_ip, tag)
        });
        let made = futures_util::future::join_all(made).await;
        let mut holders = BTreeMap::new();
        let mut first_holder: BTreeMap<usize, String> = BTreeMap::new();
        for ((name, host, _), holder) in wanted.iter().zip(made) {
            let holder = holder?;
            first_holder.entry(*host).or_insert_with(|| holder.clone());
            holders.insert(name.clone(), holder);
        }
        self.check_reach(&first_holder).await?;
        let holders_ms = t0.elapsed().as_millis();
        let mut nodes = self.nodes.lock().await;
        for spec in &specs {
            let host = placement[&spec.name];
            let addr = topology
                .nodes
                .iter()
                .find(|a| a.name == spec.name)
                .cloned()
                .ok_or_else(|| RuntimeError::UnknownNode(spec.name.clone()))?;
            let node = Node {
                host,
                container: node_object_name(&self.cfg.run_id, &spec.name),
                holder: holders[&spec.name].clone(),
                clock: spec.clock.clone(),
                addr,
                last_log: Arc::default(),
                log_task: None,
            };
            self.create_node(spec, &tags[&(host, spec.image.clone())], &node)
                .await?;
            nodes.insert(spec.name.clone(), node);
        }
        let starts = nodes.values_mut().map(|node| self.start_container(node));
        for r in futures_util::future::join_all(starts).await {
            r?;
        }
        drop(nodes);
        self.start_watchdog(placement);
        tracing::info!(
            run = %self.cfg.run_id,
            hosts = self.hosts.len(),
            images_ms,
            holders_ms,
            started_ms = t0.elapsed().as_millis(),
            "cluster started on docker hosts"
        );
        Ok(())
    }

    async fn stop_node(&self, name: &str) -> Result<(), RuntimeError> {
        let (host, container, _) = self.node_of(name).await?;
        let d = &self.hosts[host].docker;
        if self.state_of(host, &container).await?.1 {
            d.unpause_container(&container)
                .await
                .map_err(|e| self.host_error(host, e))?;
        }
        let opts = bollard::query_parameters::StopContainerOptions {
            t: Some(STOP_GRACE_S),
            ..Default::default()
        };
        d.stop_container(&container, Some(opts))
            .await
            .map_err(|e| self.host_error(host, e))?;
        Ok(())
    }

    async fn start_node(&self, name: &str) -> Result<(), RuntimeError> {
        self.start(&[name.to_string()])
            .await
            .map_err(|e| RuntimeError::Plan(e.to_string()))
    }

    async fn node_netns(&self, name: &str) -> Result<Option<std::path::PathBuf>, RuntimeError> {
        // A namespace on another host is no path here.
        if !self.nodes.lock().await.contains_key(name) {
            return Err(RuntimeError::UnknownNode(name.into()));
        }
        Ok(None)
    }

    async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError> {
        let (host, container, _) = self.node_of(name).await?;
        Ok(self.state_of(host, &container).await?.1)
    }

    async fn teardown(&self) -> Result<(), RuntimeError> {
        if let Some(w) = self.watchdog.lock().expect("watchdog lock").take() {
            w.abort();
        }
        let tasks: Vec<_> = {
            let mut nodes = self.nodes.lock().await;
            nodes
                .values_mut()
                .filter_map(|n| n.log_task.take())
                .collect()
        };
        let result = super::leftovers::teardown_run(&self.cfg.run_id).await;
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                tracing::warn!("a log follower did not finish");
            }
        }
        result.map(|_| ())
    }

    fn lost(&self) -> Option<String> {
        self.lost.lock().expect("lost lock").clone()
    }

    fn limitations(&self) -> Vec<String> {
        vec![format!(
            "nodes on {} docker host{} ({}), every fault through the Docker API; packet faults are not available",
            self.hosts.len(),
            if self.hosts.len() == 1 { "" } else { "s" },
            self.host_urls().join(", ")
        )]
    }
}

#[async_trait]
impl FaultRuntime for SpreadRuntime {
    fn capabilities(&self) -> Capabilities {
        self.caps.lock().expect("caps lock").clone()
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, drops = ?grudge.drops, "partition");
        require(&self.capabilities(), FaultKind::Partition)?;
        let reach = {
            let plan = self.plan.lock().await;
            let plan = plan
                .as_ref()
                .ok_or_else(|| FaultError::Failed("no cluster planned".into()))?;
            super::check_grudge(&plan.reach, grudge)?;
            plan.reach.clone()
        };
        let targets: Vec<(usize, String, String)> = {
            let nodes = self.nodes.lock().await;
            nodes
                .iter()
                .map(|(name, n)| (n.host, n.holder.clone(), name.clone()))
                .collect()
        };
        let work = targets.iter().map(|(host, holder, name)| {
            let script = sidecar::rules(&self.cfg.run_id, grudge, name, &reach);
            let d = &self.hosts[*host].docker;
            async move { sidecar::restore(d, holder, &script).await }
        });
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
        super::check_nodes(&*self.nodes.lock().await, names)?;
        for name in names {
            let (host, c, _) = self.node_of(name).await?;
            let (running, paused) = self.state_of(host, &c).await?;
            if running && !paused {
                self.hosts[host]
                    .docker
                    .pause_container(&c)
                    .await
                    .map_err(|e| self.host_error(host, e))?;
                self.wait_state(host, &c, true, true).await?;
            }
        }
        Ok(())
    }

    async fn resume(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "resume");
        require(&self.capabilities(), FaultKind::Pause)?;
        super::check_nodes(&*self.nodes.lock().await, names)?;
        for name in names {
            let (host, c, _) = self.node_of(name).await?;
            if self.state_of(host, &c).await?.1 {
                self.hosts[host]
                    .docker
                    .unpause_container(&c)
                    .await
                    .map_err(|e| self.host_error(host, e))?;
                self.wait_state(host, &c, true, false).await?;
            }
        }
        Ok(())
    }

    async fn kill(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "kill");
        require(&self.capabilities(), FaultKind::Kill)?;
        super::check_nodes(&*self.nodes.lock().await, names)?;
        for name in names {
            let (host, c, _) = self.node_of(name).await?;
            if !self.state_of(host, &c).await?.0 {
                continue;
            }
            let opts = KillContainerOptions {
                signal: "SIGKILL".into(),
            };
            self.hosts[host]
                .docker
                .kill_container(&c, Some(opts))
                .await
                .map_err(|e| self.host_error(host, e))?;
            self.wait_state(host, &c, false, false).await?;
        }
        Ok(())
    }

    async fn start(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "start");
        let offsets = self.offsets.lock().await.clone();
        let mut nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let node = nodes.get_mut(name).expect("checked above");
            // The holder keeps the namespace, so the partition in force still holds.
            self.start_container(node).await?;
            let off = offsets.get(name).copied().unwrap_or(0);
            if let (ClockControl::AdminCall { path }, true) = (&node.clock, off != 0) {
                let (addr, path) = (node.addr.clone(), path.clone());
                tokio::spawn(async move { reapply_admin_clock(addr, path, off).await });
            }
        }
        Ok(())
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
