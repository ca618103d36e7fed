//! Runtimes: where nodes run (docker, netns, local) and the fault primitives each offers.
//!
//! A runtime first plans a cluster (assigns every node its address before any starts),
//! then starts it, injects faults through [`FaultRuntime`], and tears down everything it
//! created. Everything is named and labelled with the run id so `splitbrain clean` can
//! find what a crashed run left behind.

// The test lifecycle uses this API piece by piece; not every item has a caller yet.

pub mod daemon;
pub mod docker;
pub mod external;
pub mod hosts;
pub mod images;
pub mod iptables;
pub mod leftovers;
pub mod local;
pub mod netns;
pub mod packet;
pub mod powerfs;
pub mod procs;
pub mod proxy;
pub mod sidecar;
pub mod spread;
pub mod state;
pub mod subnet;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime};
use nemesis::CrashPoint;
use workloads::system::{ClockControl, NodeAddr, NodeSpec, Topology};

/// Docker label every container, network and volume of a run carries.
pub const RUN_LABEL: &str = "splitbrain.run";
/// Docker label naming the node a container or volume belongs to.
pub const NODE_LABEL: &str = "splitbrain.node";
/// Prefix of every name a run gives: `sb-<runid>-n1`, `sb-<runid>-br`, …
pub const NAME_PREFIX: &str = "sb-";
/// Length of a generated run id (hex digits); short because interface names are ≤ 15 bytes.
pub const RUN_ID_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("unknown runtime {0:?}: expected docker, netns, local or auto")]
    UnknownKind(String),
    #[error("bad run id {0:?}: expected 1 to 12 lowercase letters or digits")]
    BadRunId(String),
    #[error("docker: {0}")]
    Docker(String),
    #[error("image {image}: {reason}")]
    Image { image: String, reason: String },
    #[error("{what}: {reason}")]
    Command { what: String, reason: String },
    #[error("unknown node {0}")]
    UnknownNode(String),
    #[error("{0}")]
    Plan(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("timed out after {after_ms} ms waiting for {what}")]
    Timeout { what: String, after_ms: u64 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

impl From<RuntimeError> for FaultError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::UnknownNode(n) => FaultError::UnknownNode(n),
            other => FaultError::Failed(other.to_string()),
        }
    }
}

impl From<bollard::errors::Error> for RuntimeError {
    fn from(e: bollard::errors::Error) -> Self {
        RuntimeError::Docker(e.to_string())
    }
}

/// Where nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    Docker,
    Netns,
    Local,
    /// Docker if the daemon answers, else netns if root, else local.
    Auto,
}

impl FromStr for RuntimeKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" => Ok(RuntimeKind::Docker),
            "netns" => Ok(RuntimeKind::Netns),
            "local" => Ok(RuntimeKind::Local),
            "auto" => Ok(RuntimeKind::Auto),
            other => Err(RuntimeError::UnknownKind(other.to_string())),
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Netns => "netns",
            RuntimeKind::Local => "local",
            RuntimeKind::Auto => "auto",
        })
    }
}

/// How long `auto` waits for the docker daemon to answer a ping.
pub const DOCKER_PING_TIMEOUT_MS: u64 = 1500;

/// Resolve `auto` to a concrete runtime; returns the choice and a sentence saying why.
/// A concrete kind is returned as is.
pub async fn resolve_kind(kind: RuntimeKind) -> (RuntimeKind, String) {
    if kind != RuntimeKind::Auto {
        return (kind, format!("{kind} was asked for"));
    }
    match daemon::ping(Duration::from_millis(DOCKER_PING_TIMEOUT_MS)).await {
        Ok(version) => (
            RuntimeKind::Docker,
            format!("the docker daemon answered (engine {version})"),
        ),
        Err(why) if is_root() => (
            RuntimeKind::Netns,
            format!("docker is unavailable ({why}) and we run as root"),
        ),
        Err(why) => (
            RuntimeKind::Local,
            format!("docker is unavailable ({why}) and we are not root, so no network namespaces"),
        ),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// A fresh run id: 8 lowercase hex digits.
pub fn new_run_id() -> String {
    let n: u64 = rand::random();
    format!("{:0width$x}", n, width = 16)[..RUN_ID_LEN].to_string()
}

/// Run ids go into names of interfaces, chains and files: keep them short and plain.
pub fn validate_run_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id.len() <= 12
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::BadRunId(id.to_string()))
    }
}

/// `sb-<runid>-<node>`: the name of a node's container, namespace or process.
pub fn node_object_name(run_id: &str, node: &str) -> String {
    format!("{NAME_PREFIX}{run_id}-{node}")
}

/// Where `ip netns` keeps a named network namespace.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

/// The clock control file of a node whose clock a preloaded library moves (libfaketime
/// or splitbrain's shim), shared between host and node. Named after the run, so that
/// `splitbrain clean` finds it.
pub fn clock_control_file(run_id: &str, node: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/{NAME_PREFIX}{run_id}-{node}"))
}

/// Where a run's node data lives on the host for netns and local runtimes.
pub fn host_run_dir(run_id: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/{NAME_PREFIX}{run_id}"))
}

/// Per-run settings shared by every runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub run_id: String,
    /// Node logs go to `<results_dir>/nodes/<name>/<name>.log`.
    pub results_dir: PathBuf,
    pub image_build_timeout: Duration,
    /// Bound on waiting for a node's state change (stopped, paused, running).
    pub node_op_timeout: Duration,
    /// Docker hosts to spread the nodes over (`--docker-host`); empty: this machine's
    /// daemon, with faults applied from this machine.
    pub docker_hosts: Vec<String>,
    /// Nodes placed on a docker host by hand: node → position in `docker_hosts`, from 1.
    pub placement: BTreeMap<String, usize>,
    /// Whether the faults include power loss: each node's data directory is then a
    /// mount of [`powerfs`], which forgets unsynced writes when the node loses power.
    pub power_loss: bool,
    /// The admin call on each node's client port that arms crash points, for a system
    /// that serves them (raftd's `/admin/crash-point`).
    pub crash_points: Option<String>,
}

impl RuntimeConfig {
    pub fn new(run_id: &str, results_dir: &Path) -> Result<Self, RuntimeError> {
        validate_run_id(run_id)?;
        Ok(RuntimeConfig {
            run_id: run_id.to_string(),
            results_dir: results_dir.to_path_buf(),
            image_build_timeout: Duration::from_secs(300),
            node_op_timeout: Duration::from_secs(20),
            docker_hosts: Vec::new(),
            placement: BTreeMap::new(),
            power_loss: false,
            crash_points: None,
        })
    }

    pub fn node_log_path(&self, node: &str) -> PathBuf {
        self.results_dir
            .join("nodes")
            .join(node)
            .join(format!("{node}.log"))
    }
}

/// The ports every node listens on (docker and netns give each node its own address, so
/// all nodes use the same ports; local assigns distinct free ports and ignores these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePorts {
    pub client: u16,
    pub peer: u16,
    pub extra: Vec<u16>,
}

impl Default for NodePorts {
    fn default() -> Self {
        NodePorts {
            client: 8080,
            peer: 9090,
            extra: Vec::new(),
        }
    }
}

/// The most nodes a plan accepts (addresses come from one /24).
pub const NODES_MAX: usize = 100;

/// Node lifecycle; the faults come from [`FaultRuntime`].
#[async_trait]
pub trait Runtime: FaultRuntime {
    fn kind(&self) -> RuntimeKind;
    fn run_id(&self) -> &str;
    /// Assign every node its address (and create the network) before any node starts.
    async fn plan(&self, n: usize, ports: &NodePorts) -> Result<Topology, RuntimeError>;
    /// Prepare images or program trees and data, then start every node.
    async fn start_cluster(&self, specs: Vec<NodeSpec>) -> Result<(), RuntimeError>;
    /// Stop a node gracefully (SIGTERM, then SIGKILL after a bound); data is kept.
    async fn stop_node(&self, name: &str) -> Result<(), RuntimeError>;
    /// Start a stopped or killed node again on the same data.
    async fn start_node(&self, name: &str) -> Result<(), RuntimeError>;
    /// The network namespace a running node lives in (for diagnostics and tests).
    async fn node_netns(&self, name: &str) -> Result<Option<PathBuf>, RuntimeError>;
    /// Whether the node's process is stopped (SIGSTOP) or frozen (cgroup freezer).
    async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError>;
    /// Remove everything this run created: nodes, network, volumes, files.
    async fn teardown(&self) -> Result<(), RuntimeError>;
    /// Writes back everything the nodes wrote to their power-loss disks so far, as a
    /// machine in service has long since written back its setup: once the cluster
    /// serves, a power loss forgets only what the test itself made them write.
    async fn settle_disks(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// Plain sentences about what this runtime cannot do for the cluster it runs.
    fn limitations(&self) -> Vec<String> {
        Vec::new()
    }
    /// Why the run cannot go on, once a part it runs on is gone (a Docker host that
    /// stopped answering): the run ends and its verdict is unknown.
    fn lost(&self) -> Option<String> {
        None
    }
}

/// Build a runtime of a concrete kind (resolve `auto` first with [`resolve_kind`]).
pub async fn create(
    kind: RuntimeKind,
    cfg: RuntimeConfig,
) -> Result<Box<dyn Runtime>, RuntimeError> {
    match kind {
        RuntimeKind::Docker if !cfg.docker_hosts.is_empty() => {
            Ok(Box::new(spread::SpreadRuntime::connect(cfg).await?))
        }
        RuntimeKind::Docker => Ok(Box::new(docker::DockerRuntime::connect(cfg).await?)),
        RuntimeKind::Netns => Ok(Box::new(netns::NetnsRuntime::new(cfg)?)),
        RuntimeKind::Local => Ok(Box::new(local::LocalRuntime::new(cfg)?)),
        RuntimeKind::Auto => Err(RuntimeError::Plan(
            "resolve `auto` to a concrete runtime before creating it".into(),
        )),
    }
}

/// What a runtime can inject: every fault kind, the clock only into nodes whose adapter
/// says how to move it (the reason of any that cannot is kept).
pub fn cluster_capabilities(specs: &[NodeSpec]) -> Capabilities {
    let mut caps = Capabilities::default();
    caps.supported.extend(FaultKind::ALL);
    for spec in specs {
        if let ClockControl::Fixed { reason } = &spec.clock {
            caps.supported.remove(&FaultKind::Clock);
            caps.refused
                .entry(FaultKind::Clock)
                .or_insert_with(|| reason.clone());
        }
    }
    caps
}

/// Refuse a fault a runtime cannot make, quoting the reason.
pub fn require(caps: &Capabilities, fault: FaultKind) -> Result<(), FaultError> {
    if caps.supported.contains(&fault) {
        return Ok(());
    }
    let reason = caps
        .refused
        .get(&fault)
        .cloned()
        .unwrap_or_else(|| "no cluster is running".to_string());
    Err(FaultError::Unsupported { fault, reason })
}

/// Check every named node exists before acting on any.
pub fn check_nodes<'a, V>(
    known: &BTreeMap<String, V>,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), FaultError> {
    for n in names {
        if !known.contains_key(n) {
            return Err(FaultError::UnknownNode(n.clone()));
        }
    }
    Ok(())
}

/// Check a grudge names only known nodes.
pub fn check_grudge<V>(
    known: &BTreeMap<String, V>,
    grudge: &nemesis::runtime::Grudge,
) -> Result<(), FaultError> {
    for (a, drops) in &grudge.drops {
        check_nodes(known, std::iter::once(a))?;
        check_nodes(known, drops.iter())?;
    }
    Ok(())
}

/// The control-file contents for an offset: `+30.000` / `-1.500` (seconds). libfaketime
/// and splitbrain's shim both read a signed decimal number of seconds on the first line;
/// fractions are honoured.
pub fn clock_offset_text(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let abs = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}\n", abs / 1000, abs % 1000)
}

/// Write a clock control file in place: the same inode stays bind-mounted in a
/// container. The new line goes over the old one before the file is cut to its length,
/// so a node reading meanwhile sees the old offset or the new one (followed by the
/// rest of a longer old line, which both readers ignore), never an empty file, which
/// would read as no offset at all.
pub fn write_clock_control(path: &Path, offset_ms: i64) -> Result<(), RuntimeError> {
    use std::os::unix::fs::FileExt;
    let text = clock_offset_text(offset_ms);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| RuntimeError::io(path, e))?;
    f.write_all_at(text.as_bytes(), 0)
        .and_then(|()| f.set_len(text.len() as u64))
        .map_err(|e| RuntimeError::io(path, e))
}

/// Move node `name`'s wall clock to `offset_ms` the way its adapter says: an admin call
/// the node serves, or the control file of the library preloaded into a dynamically
/// linked program (libfaketime or splitbrain's shim).
pub async fn set_node_clock(
    run_id: &str,
    name: &str,
    clock: &ClockControl,
    addr: &NodeAddr,
    offset_ms: i64,
) -> Result<(), FaultError> {
    match clock {
        ClockControl::AdminCall { path } => {
            admin_clock_call(&addr.host, addr.client_port, path, offset_ms).await?
        }
        ClockControl::Faketime { .. } | ClockControl::Preload { .. } => {
            write_clock_control(&clock_control_file(run_id, name), offset_ms)?
        }
        ClockControl::Fixed { reason } => {
            return Err(FaultError::Unsupported {
                fault: FaultKind::Clock,
                reason: format!("node {name}: {reason}"),
            })
        }
    }
    Ok(())
}

/// Nodes whose clock offset changed while they were killed or paused. A clock moved by an
/// admin call cannot be moved on a node that answers nothing (the call would hold the
/// nemesis up for its timeout): the offset is taken at once and set when the node
/// resumes, or by the start of a new process.
#[derive(Default)]
pub struct DeferredClocks(tokio::sync::Mutex<std::collections::BTreeSet<String>>);

impl DeferredClocks {
    pub async fn defer(&self, name: &str) {
        self.0.lock().await.insert(name.to_string());
    }

    /// Those of `names` whose offset waits, which no longer wait.
    pub async fn take(&self, names: &[String]) -> Vec<String> {
        let mut waiting = self.0.lock().await;
        names
            .iter()
            .filter(|n| waiting.remove(*n))
            .cloned()
            .collect()
    }
}

/// How long a clock admin call may take.
pub const CLOCK_CALL_TIMEOUT_MS: u64 = 3000;

/// Set a node's clock offset through the admin call it serves on its client port
/// ([`ClockControl::AdminCall`]).
pub async fn admin_clock_call(
    host: &str,
    client_port: u16,
    path: &str,
    offset_ms: i64,
) -> Result<(), RuntimeError> {
    let body = serde_json::json!({"offset_ms": offset_ms, "rate": 1.0});
    admin_post(host, client_port, path, &body).await
}

/// POSTs `body` to the admin call `path` a node serves on its client port, bounded by
/// [`CLOCK_CALL_TIMEOUT_MS`]; anything but a 2xx answer is an error naming the URL.
async fn admin_post(
    host: &str,
    client_port: u16,
    path: &str,
    body: &serde_json::Value,
) -> Result<(), RuntimeError> {
    let url = format!("http://{host}:{client_port}{path}");
    let failed = |reason: String| RuntimeError::Command {
        what: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(CLOCK_CALL_TIMEOUT_MS))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resp = client
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(failed(format!("{status}: {text}")));
    }
    Ok(())
}

/// What `cluster_capabilities` allows, less crash points where the system serves none.
pub fn with_crash_points(mut caps: Capabilities, cfg: &RuntimeConfig) -> Capabilities {
    if cfg.crash_points.is_none() {
        caps.supported.remove(&FaultKind::CrashPoint);
        caps.refused.insert(
            FaultKind::CrashPoint,
            "the system serves no crash points".to_string(),
        );
    }
    caps
}

/// The crash points each node has armed, as the runtime armed them: a node's admin call
/// (`path`, [`RuntimeConfig::crash_points`]) takes the whole set, and a node started
/// again has none.
#[derive(Default)]
pub struct CrashArms(tokio::sync::Mutex<BTreeMap<String, std::collections::BTreeSet<CrashPoint>>>);

impl CrashArms {
    /// Adds `point` to `node`'s set, and sends the set to the node if it answers at
    /// `addr` (one down or paused runs unarmed when it comes back).
    pub async fn arm(
        &self,
        path: &str,
        node: &str,
        point: CrashPoint,
        addr: Option<&NodeAddr>,
    ) -> Result<(), FaultError> {
        let points = self.change(node, |set| set.insert(point)).await;
        match addr {
            Some(addr) => send_crash_points(addr, path, &points).await,
            None => Ok(()),
        }
    }

    /// Takes `point` out of `node`'s set and sends what stays armed to the node if it
    /// answers at `addr`; `true` when it does not, and must be started.
    pub async fn disarm(
        &self,
        path: &str,
        node: &str,
        point: CrashPoint,
        addr: Option<&NodeAddr>,
    ) -> Result<bool, FaultError> {
        let points = self.change(node, |set| set.remove(&point)).await;
        match addr {
            Some(addr) => send_crash_points(addr, path, &points).await.map(|()| false),
            None => Ok(true),
        }
    }

    async fn change(
        &self,
        node: &str,
        f: impl FnOnce(&mut std::collections::BTreeSet<CrashPoint>) -> bool,
    ) -> Vec<CrashPoint> {
        let mut arms = self.0.lock().await;
        let set = arms.entry(node.to_string()).or_default();
        f(set);
        set.iter().copied().collect()
    }

    /// `node` started again: nothing is armed in its new process.
    pub async fn forget(&self, node: &str) {
        self.0.lock().await.remove(node);
    }
}

/// Arms exactly `points` on a node through the admin call it serves on its client port.
async fn send_crash_points(
    addr: &NodeAddr,
    path: &str,
    points: &[CrashPoint],
) -> Result<(), FaultError> {
    let names: Vec<&str> = points.iter().map(|p| p.name()).collect();
    let body = serde_json::json!({ "points": names });
    Ok(admin_post(&addr.host, addr.client_port, path, &body).await?)
}

/// Poll `cond` every `interval` until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut cond: F,
) -> Result<(), RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::Timeout {
                what: what.to_string(),
                after_ms: timeout.as_millis() as u64,
            });
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_unknown_is_named() {
        assert_eq!("netns".parse::<RuntimeKind>().unwrap(), RuntimeKind::Netns);
        let e = "podman".parse::<RuntimeKind>().unwrap_err().to_string();
        assert!(e.contains("podman") && e.contains("docker, netns, local or auto"));
    }

    #[test]
    fn offset_text_has_sign_and_millis() {
        assert_eq!(clock_offset_text(30_000), "+30.000\n");
        assert_eq!(clock_offset_text(-1_500), "-1.500\n");
        assert_eq!(clock_offset_text(0), "+0.000\n");
    }

    #[test]
    fn a_control_file_is_rewritten_in_place_and_cut_to_the_new_line() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clock");
        write_clock_control(&file, -1_200_000).unwrap();
        let inode = std::fs::metadata(&file).unwrap().ino();
        write_clock_control(&file, 30_000).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+30.000\n");
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
        write_clock_control(&file, -1_200_000).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "-1200.000\n");
    }

    #[test]
    fn a_clock_that_cannot_move_is_refused_with_its_reason() {
        use workloads::System;
        let topology = Topology {
            nodes: (1..=3)
                .map(|i| NodeAddr {
                    bind: None,
                    name: format!("n{i}"),
                    host: format!("10.0.0.{i}"),
                    client_port: 2379,
                    peer_port: 2380,
                    extra_ports: vec![3888],
                })
                .collect(),
        };
        let options = workloads::SystemOptions::default();
        let etcd = workloads::etcd::EtcdSystem::new(Default::default());
        let c = cluster_capabilities(&etcd.node_specs(&topology, &options).unwrap());
        assert!(!c.supported.contains(&FaultKind::Clock));
        assert!(c.refused[&FaultKind::Clock].contains("vDSO"));
        assert!(c.supported.contains(&FaultKind::Partition));
        let zk = workloads::zookeeper::ZkSystem::new(Default::default());
        let c = cluster_capabilities(&zk.node_specs(&topology, &options).unwrap());
        assert_eq!(c.supported, FaultKind::ALL.into_iter().collect());
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(validate_run_id(&new_run_id()).is_ok());
        assert!(validate_run_id("a/b").is_err());
        assert!(validate_run_id("").is_err());
    }
}
