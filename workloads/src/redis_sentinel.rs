//! The Redis Sentinel adapter: one Redis per node (node 1 the first primary, the others
//! its replicas) with a Sentinel beside it, and a client that finds the primary as real
//! clients do, by asking the Sentinels, and appends unique ids to a list on it.
//!
//! Sentinel fails over asynchronously: a primary cut off from the other nodes but not
//! from its clients keeps acknowledging writes until the majority's Sentinels promote a
//! replica; when the partition heals it is turned into a replica of the new primary and
//! drops what only it had. The test claims nothing Redis does not promise, so those
//! acknowledged writes show up as `lost-write` violations, and two primaries at once as
//! `dual-leadership` observations.
//!
//! Each node runs two processes: `/bin/sh -c "redis-sentinel … & exec redis-server …"`.
//! Docker kills and pauses a container whole; the process runtimes put each node in a
//! process group of its own and signal the group, so a kill, pause or stop takes the
//! node's Sentinel with its Redis there too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use checkers::{ErrorCode, LogEntry, Role};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::built::{CLOCK_SHIM, CLOCK_SHIM_IN_IMAGE};
use crate::client::{Client, Grant, NodeStatus, Outcome, Written, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::etcd::refuse_raftd_options;
use crate::redis_link::{remaining, Fault, Links};
use crate::system::{
    check_count, program_version, validate_topology, ClockControl, Descriptor, Guarantees, Image,
    ImagePart, ImageRecipe, NodeAddr, NodePorts, NodeSpec, Serves, Setup, System, SystemError,
    SystemOption, SystemOptions, Topology,
};

/// Redis's port when the runtime picks ports itself.
pub const REDIS_PORT: u16 = 6379;
/// The Sentinel's port (the topology's peer port: Sentinels are the quorum).
pub const SENTINEL_PORT: u16 = 26379;
/// Debian's programs, at the same paths inside the node.
pub const REDIS_SERVER_PROGRAM: &str = "/usr/bin/redis-server";
pub const REDIS_SENTINEL_PROGRAM: &str = "/usr/bin/redis-sentinel";
const REDIS_CLI_PROGRAM: &str = "/usr/bin/redis-cli";
/// The shell that starts a node's two processes (Debian's dash).
pub const SHELL_PROGRAM: &str = "/bin/sh";
/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "mymaster";
/// The list every write appends its id to.
pub const LOG_KEY: &str = "splitbrain:log";

/// Redis Sentinel as splitbrain knows it.
pub static DESCRIPTOR: Descriptor = Descriptor {
    name: "redis-sentinel",
    bugs: &[],
    registers: false,
    lease_switch: false,
    // Sentinels and replicas announce the addresses they see; behind the local
    // runtime's per-pair proxies those are not the ones peers must use.
    runs_local: false,
    clock: &clock,
    docker: true,
    external: false,
    build: &|setup: &Setup| {
        let shim = clock_shim_for(setup)?;
        Ok(Arc::new(SentinelSystem::with_options(shim, &setup.options)?))
    },
    file: None,
    fencing: &[],
    options: &[
        SystemOption {
            name: "min-replicas-to-write",
            help: "N: the primary refuses writes unless N replicas acknowledged it within min-replicas-max-lag (default 0: never refuses)",
            check: |v| check_count(v, 0, 8),
        },
        SystemOption {
            name: "min-replicas-max-lag",
            help: "seconds a replica may lag and still count for min-replicas-to-write (default 10)",
            check: |v| check_count(v, 1, 3600),
        },
        SystemOption {
            name: "wait",
            help: "N: after each write, WAIT until N replicas have it; a write that times out short of N is unknown, not ok (default 0: no WAIT)",
            check: |v| check_count(v, 0, 8),
        },
        SystemOption {
            name: "appendfsync",
            help: "always, everysec (default) or no: when the append-only file is synced",
            check: |v| match v {
                "always" | "everysec" | "no" => Ok(()),
                _ => Err(format!("{v:?} is none of always, everysec, no")),
            },
        },
    ],
    crash_points: None,
};

/// The lines every Redis server of splitbrain's starts its config with (Redis and
/// Sentinel alike): listening on `port` everywhere, in the foreground, logging to
/// stdout, its files in `data_dir`.
pub fn server_lines(port: u16, data_dir: &str) -> Vec<String> {
    vec![
        "bind 0.0.0.0".to_string(),
        format!("port {port}"),
        "protected-mode no".into(),
        "daemonize no".into(),
        "logfile \"\"".into(),
        format!("dir {data_dir}"),
    ]
}

/// The clock shim a Redis node's image carries: the one built on this machine, or, in the
/// user's own image (`--image`), the one it brings at the path the recipe would use.
pub fn clock_shim_for(setup: &Setup) -> Result<PathBuf, SystemError> {
    match (CLOCK_SHIM.find(), &setup.image) {
        (Ok(shim), _) => Ok(shim),
        (Err(_), Some(_)) => Ok(PathBuf::from(CLOCK_SHIM_IN_IMAGE)),
        (Err(e), None) => Err(e),
    }
}

/// How a node's wall clock moves: splitbrain's shim, preloaded into both processes.
/// libfaketime cannot move it: Debian's Redis is linked with jemalloc, which reads the
/// clock while libfaketime initialises, and under libfaketime redis-server hangs at start
/// ("Cannot recover from unexpected recursive calls to clock_gettime()").
pub fn clock() -> ClockControl {
    ClockControl::Preload {
        library: CLOCK_SHIM_IN_IMAGE.into(),
    }
}

/// The image: Debian's redis-server and redis-sentinel (the same binary under two
/// names), dash to start both, redis-cli for whoever inspects a node, and the clock shim
/// from `clock_shim` on this machine.
pub fn image(clock_shim: &Path) -> ImageRecipe {
    let program = |path: &str, package: &str, optional: bool| ImagePart::Program {
        host: path.into(),
        at: path.into(),
        package: Some(package.into()),
        optional,
    };
    ImageRecipe {
        name: "redis-sentinel".into(),
        parts: vec![
            program(SHELL_PROGRAM, "dash", false),
            program(REDIS_SERVER_PROGRAM, "redis-server", false),
            program(REDIS_SENTINEL_PROGRAM, "redis-sentinel", false),
            program(REDIS_CLI_PROGRAM, "redis-tools", true),
            // A shared library is a program part too: it comes with what it loads.
            ImagePart::Program {
                host: clock_shim.to_path_buf(),
                at: CLOCK_SHIM_IN_IMAGE.into(),
                package: None,
                optional: false,
            },
        ],
    }
}

/// Sentinel's timing and the primary's write conditions. The defaults are Redis's own
/// write behaviour (no replica required, `appendfsync everysec`) with a failover within
/// a few seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelTuning {
    /// `sentinel down-after-milliseconds`: how long a primary may be silent before a
    /// Sentinel deems it down.
    pub down_after_ms: u64,
    /// `sentinel failover-timeout`.
    pub failover_timeout_ms: u64,
    /// `min-replicas-to-write`: a primary refuses writes unless this many replicas
    /// acknowledged it within `min_replicas_max_lag_s` (0: it never refuses). Trades
    /// availability for a smaller window of lost writes.
    pub min_replicas_to_write: u32,
    /// `min-replicas-max-lag`, in seconds.
    pub min_replicas_max_lag_s: u32,
    /// `appendfsync`: `always`, `everysec` or `no` (the append-only file is on).
    pub appendfsync: String,
    /// After each write, `WAIT` for this many replicas (0: no `WAIT`). Redis documents
    /// that it does not make the store strongly consistent: the figures say what it buys.
    pub wait_replicas: u32,
}

impl Default for SentinelTuning {
    fn default() -> Self {
        SentinelTuning {
            down_after_ms: 1000,
            failover_timeout_ms: 3000,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 10,
            appendfsync: "everysec".into(),
            wait_replicas: 0,
        }
    }
}

impl SentinelTuning {
    /// The tuning `--system-option`s ask for (each value already checked by the
    /// descriptor's list), the defaults for the rest.
    pub fn from_options(
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<SentinelTuning, SystemError> {
        let mut t = SentinelTuning::default();
        let count = |key: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| SystemError::BadOption(format!("{key}={v}: not a whole number")))
        };
        for (key, v) in options {
            match key.as_str() {
                "min-replicas-to-write" => t.min_replicas_to_write = count(key, v)?,
                "min-replicas-max-lag" => t.min_replicas_max_lag_s = count(key, v)?,
                "wait" => t.wait_replicas = count(key, v)?,
                "appendfsync" => t.appendfsync = v.clone(),
                _ => {
                    return Err(SystemError::BadOption(format!(
                        "redis-sentinel has no option {key:?}"
                    )))
                }
            }
        }
        t.validate()?;
        Ok(t)
    }

    /// Replicas the options count on, against the cluster's size.
    pub fn validate_for(&self, nodes: usize) -> Result<(), SystemError> {
        let replicas = nodes.saturating_sub(1);
        for (key, n) in [
            ("min-replicas-to-write", self.min_replicas_to_write),
            ("wait", self.wait_replicas),
        ] {
            if n as usize > replicas {
                return Err(SystemError::BadOption(format!(
                    "{key}={n} asks for more replicas than {nodes} nodes have ({replicas}): no write could succeed"
                )));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), SystemError> {
        if self.down_after_ms == 0 || self.failover_timeout_ms == 0 {
            return Err(SystemError::BadOption(
                "Sentinel's down_after_ms and failover_timeout_ms must be at least 1".into(),
            ));
        }
        if !["always", "everysec", "no"].contains(&self.appendfsync.as_str()) {
            return Err(SystemError::BadOption(format!(
                "appendfsync {:?} is none of always, everysec, no",
                self.appendfsync
            )));
        }
        Ok(())
    }
}

/// Redis with Sentinel as a system under test.
#[derive(Clone, Debug)]
pub struct SentinelSystem {
    /// The clock shim on this machine; the image places it at [`CLOCK_SHIM_IN_IMAGE`].
    pub clock_shim: PathBuf,
    pub tuning: SentinelTuning,
    pub client_timeout_ms: u64,
    /// Node names by the `ip:port` of their Redis, as Sentinels name primaries.
    names: Arc<Mutex<HashMap<String, String>>>,
    /// Every node's Sentinel, `ip:port`.
    sentinels: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl SentinelSystem {
    pub fn new(clock_shim: impl Into<PathBuf>) -> SentinelSystem {
        SentinelSystem::with_tuning(clock_shim, SentinelTuning::default())
    }

    /// The system as `--system-option`s tune it.
    pub fn with_options(
        clock_shim: impl Into<PathBuf>,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<SentinelSystem, SystemError> {
        Ok(SentinelSystem::with_tuning(
            clock_shim,
            SentinelTuning::from_options(options)?,
        ))
    }

    pub fn with_tuning(clock_shim: impl Into<PathBuf>, tuning: SentinelTuning) -> SentinelSystem {
        SentinelSystem {
            clock_shim: clock_shim.into(),
            tuning,
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            names: Arc::default(),
            sentinels: Arc::default(),
        }
    }

    fn learn(&self, node: &NodeAddr) {
        let mut sentinels = self.sentinels.lock().unwrap_or_else(|e| e.into_inner());
        sentinels.insert(format!("{}:{}", node.host, node.peer_port));
        drop(sentinels);
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.insert(
            format!("{}:{}", node.host, node.client_port),
            node.name.clone(),
        );
    }

    fn sentinels(&self) -> Vec<String> {
        let sentinels = self.sentinels.lock().unwrap_or_else(|e| e.into_inner());
        sentinels.iter().cloned().collect()
    }

    fn name_of(&self, addr: &str) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.get(addr).cloned()
    }

    /// A majority of the Sentinels must agree a primary is down.
    pub fn quorum(nodes: usize) -> usize {
        nodes / 2 + 1
    }

    /// redis.conf of node `index`: every node but the first starts as a replica of it.
    pub fn redis_config(&self, index: usize, topology: &Topology, data_dir: &str) -> String {
        let node = &topology.nodes[index];
        let t = &self.tuning;
        let mut lines = server_lines(node.client_port, data_dir);
        lines.extend([
            "save \"\"".into(),
            "appendonly yes".into(),
            format!("appendfsync {}", t.appendfsync),
            // A full resync starts at once rather than waiting for more replicas.
            "repl-diskless-sync-delay 0".into(),
            "repl-ping-replica-period 1".into(),
            format!("replica-announce-ip {}", node.host),
            format!("replica-announce-port {}", node.client_port),
        ]);
        if t.min_replicas_to_write > 0 {
            lines.push(format!("min-replicas-to-write {}", t.min_replicas_to_write));
            lines.push(format!("min-replicas-max-lag {}", t.min_replicas_max_lag_s));
        }
        if index > 0 {
            let primary = &topology.nodes[0];
            lines.push(format!(
                "replicaof {} {}",
                primary.host, primary.client_port
            ));
        }
        lines.join("\n") + "\n"
    }

    /// sentinel.conf of node `index`: every Sentinel monitors node 1 at first.
    pub fn sentinel_config(&self, index: usize, topology: &Topology, data_dir: &str) -> String {
        let node = &topology.nodes[index];
        let primary = &topology.nodes[0];
        let t = &self.tuning;
        let quorum = Self::quorum(topology.nodes.len());
        let mut lines = server_lines(node.peer_port, data_dir);
        lines.extend([
            format!("sentinel announce-ip {}", node.host),
            format!("sentinel announce-port {}", node.peer_port),
            format!(
                "sentinel monitor {MASTER_NAME} {} {} {quorum}",
                primary.host, primary.client_port
            ),
            format!(
                "sentinel down-after-milliseconds {MASTER_NAME} {}",
                t.down_after_ms
            ),
            format!(
                "sentinel failover-timeout {MASTER_NAME} {}",
                t.failover_timeout_ms
            ),
            format!("sentinel parallel-syncs {MASTER_NAME} 1"),
        ]);
        lines.join("\n") + "\n"
    }

    fn node_spec(&self, index: usize, topology: &Topology, options: &SystemOptions) -> NodeSpec {
        let node = &topology.nodes[index];
        let data_dir = format!("{}/{}", options.data_root.trim_end_matches('/'), node.name);
        let redis_conf = format!("{data_dir}/redis.conf");
        let sentinel_conf = format!("{data_dir}/sentinel.conf");
        // Both configs live in the data directory: Sentinel rewrites its own and has
        // Redis rewrite its one (`CONFIG REWRITE`) when it reconfigures replication, and
        // both must survive a restart.
        let command = vec![
            SHELL_PROGRAM.to_string(),
            "-c".into(),
            format!(
                "{REDIS_SENTINEL_PROGRAM} {sentinel_conf} & exec {REDIS_SERVER_PROGRAM} {redis_conf}"
            ),
        ];
        NodeSpec {
            name: node.name.clone(),
            image: Image::Recipe(image(&self.clock_shim)),
            clock: clock(),
            command,
            env: Vec::new(),
            files: vec![
                (redis_conf, self.redis_config(index, topology, &data_dir)),
                (
                    sentinel_conf,
                    self.sentinel_config(index, topology, &data_dir),
                ),
            ],
            data_dir,
        }
    }
}

#[async_trait]
impl System for SentinelSystem {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: REDIS_PORT,
            peer_port: SENTINEL_PORT,
            extra_ports: 0,
        }
    }

    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError> {
        validate_topology(topology)?;
        self.tuning.validate()?;
        self.tuning.validate_for(topology.nodes.len())?;
        refuse_raftd_options("redis-sentinel", options)?;
        for node in &topology.nodes {
            self.learn(node);
        }
        Ok((0..topology.nodes.len())
            .map(|i| self.node_spec(i, topology, options))
            .collect())
    }

    fn guarantees(&self, _options: &SystemOptions) -> Guarantees {
        Guarantees {
            // Redis promises no lease: an isolated primary goes on answering as one.
            exclusive_leadership: false,
            // It serves no locks.
            fence_on_grant: false,
            leaderless: false,
        }
    }

    fn version(&self) -> String {
        program_version(std::path::Path::new(REDIS_SERVER_PROGRAM), "redis-server")
    }

    fn serves(&self) -> Serves {
        Serves {
            locks: false,
            read_local: true,
            leaders: true,
        }
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        if self.client_timeout_ms == 0 {
            return Err(SystemError::BadOption("client_timeout_ms is 0".into()));
        }
        self.learn(node);
        Ok(Box::new(SentinelClient {
            node: node.name.clone(),
            redis_addr: format!("{}:{}", node.host, node.client_port),
            sentinel_addr: format!("{}:{}", node.host, node.peer_port),
            timeout: Duration::from_millis(self.client_timeout_ms),
            system: self.clone(),
            links: Links::default(),
            last_epoch: AtomicU64::new(0),
        }))
    }
}

/// A client of one node: its Redis for its own view, its Sentinel to find the primary,
/// and the primary for writes and reads. Connections open on first use and are
/// dropped after any fault but an answer.
pub struct SentinelClient {
    node: String,
    redis_addr: String,
    sentinel_addr: String,
    timeout: Duration,
    system: SentinelSystem,
    links: Links,
    last_epoch: AtomicU64,
}

/// The primary as one Sentinel names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Primary {
    addr: String,
    /// `config-epoch` (only `SENTINEL MASTER` reports it).
    epoch: Option<u64>,
    /// The Sentinel is failing the primary over: its epoch may already be the new one
    /// while the address is still the old primary's.
    in_failover: bool,
}

/// The primary most Sentinels agree on: among the views of Sentinels not amid a failover
/// (all of them if every one is), those of the highest config epoch, and of those the
/// address named most often (ties: the first in `views`' order).
fn agreed(views: &[Primary]) -> Option<String> {
    let settled: Vec<&Primary> = views.iter().filter(|v| !v.in_failover).collect();
    let pool: Vec<&Primary> = if settled.is_empty() {
        views.iter().collect()
    } else {
        settled
    };
    let top = pool.iter().map(|v| v.epoch.unwrap_or(0)).max()?;
    let newest: Vec<&str> = pool
        .iter()
        .filter(|v| v.epoch.unwrap_or(0) == top)
        .map(|v| v.addr.as_str())
        .collect();
    let votes = |addr: &str| newest.iter().filter(|a| **a == addr).count();
    let most = newest.iter().map(|a| votes(a)).max()?;
    newest
        .iter()
        .find(|a| votes(a) == most)
        .map(|a| a.to_string())
}

impl SentinelClient {
    /// Sends `cmd` to `addr` and waits for its answer until `deadline`.
    async fn query<T: redis::FromRedisValue>(
        &self,
        addr: &str,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<T, Fault> {
        self.links.query(addr, cmd, deadline).await
    }

    /// The primary as this node's Sentinel names it.
    async fn primary(&self, deadline: Instant) -> Result<Option<String>, Fault> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(MASTER_NAME);
        let answer: Option<(String, u16)> = self.query(&self.sentinel_addr, &cmd, deadline).await?;
        Ok(answer.map(|(ip, port)| format!("{ip}:{port}")))
    }

    /// This node's Sentinel's view of the primary, with its config epoch.
    async fn sentinel_view(&self, deadline: Instant) -> Result<Primary, Fault> {
        self.view_of(&self.sentinel_addr, deadline).await
    }

    /// The primary as the Sentinels this client reaches agree on it ([`agreed`]): what a
    /// final read must come from, where a Sentinel beside a primary that was cut off may
    /// not have heard of the failover yet. Its own Sentinel is asked first.
    async fn agreed_primary(&self, deadline: Instant) -> Result<Option<String>, Fault> {
        let mut addrs = self.system.sentinels();
        addrs.retain(|a| *a != self.sentinel_addr);
        addrs.insert(0, self.sentinel_addr.clone());
        let mut views = Vec::new();
        let mut first_fault = None;
        for (i, addr) in addrs.iter().enumerate() {
            // Each Sentinel gets its share of what is left, so one that does not answer
            // leaves time for the others.
            let share = remaining(deadline) / (addrs.len() - i) as u32;
            match self.view_of(addr, Instant::now() + share).await {
                Ok(view) => views.push(view),
                Err(e) => {
                    first_fault.get_or_insert(e);
                }
            }
        }
        match (agreed(&views), first_fault) {
            (Some(addr), _) => Ok(Some(addr)),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }

    /// One Sentinel's view of the primary, with its config epoch.
    async fn view_of(&self, sentinel: &str, deadline: Instant) -> Result<Primary, Fault> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("master").arg(MASTER_NAME);
        let fields: Vec<String> = self.query(sentinel, &cmd, deadline).await?;
        let map: HashMap<&str, &str> = fields
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((k.as_str(), v.as_str())),
                _ => None,
            })
            .collect();
        let (Some(ip), Some(port)) = (map.get("ip"), map.get("port")) else {
            tracing::debug!(node = %self.node, "SENTINEL MASTER named no address");
            return Err(Fault::Malformed);
        };
        Ok(Primary {
            addr: format!("{ip}:{port}"),
            epoch: map.get("config-epoch").and_then(|e| e.parse().ok()),
            in_failover: map
                .get("flags")
                .is_some_and(|f| f.split(',').any(|f| f == "failover_in_progress")),
        })
    }

    async fn lrange(&self, addr: &str, deadline: Instant) -> Result<Vec<LogEntry>, Fault> {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(LOG_KEY).arg(0).arg(-1);
        let ids: Vec<String> = self.query(addr, &cmd, deadline).await?;
        Ok(ids
            .into_iter()
            .map(|id| LogEntry { id, token: None })
            .collect())
    }
}

/// What `INFO replication` says of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replication {
    /// `master` or `slave`.
    pub role: Option<String>,
    /// How far its replication stream goes (a replica's: how far it has processed).
    pub offset: Option<u64>,
    /// A replica's primary, `ip:port`, and whether its link to it is up.
    pub primary: Option<String>,
    pub link_up: bool,
}

/// Reads `INFO replication`'s `role:` and `master_repl_offset:` lines.
pub fn parse_replication(info: &str) -> Replication {
    let mut out = Replication::default();
    let (mut host, mut port) = (None, None);
    for line in info.lines() {
        let line = line.trim();
        if let Some(role) = line.strip_prefix("role:") {
            out.role = Some(role.to_string());
        } else if let Some(offset) = line.strip_prefix("master_repl_offset:") {
            out.offset = offset.parse().ok();
        } else if let Some(h) = line.strip_prefix("master_host:") {
            host = Some(h.to_string());
        } else if let Some(p) = line.strip_prefix("master_port:") {
            port = Some(p.to_string());
        } else if let Some(status) = line.strip_prefix("master_link_status:") {
            out.link_up = status == "up";
        }
    }
    if let (Some(host), Some(port)) = (host, port) {
        out.primary = Some(format!("{host}:{port}"));
    }
    out
}

#[async_trait]
impl Client for SentinelClient {
    fn node(&self) -> &str {
        &self.node
    }

    /// The node's own role, and its own Sentinel's view: the term is the Sentinel's
    /// config epoch, the leader the primary it names. A node leads a term only when it
    /// is a primary and its Sentinel names it: each epoch's failover promotes one
    /// replica, so two leaders never share a term, while an isolated primary whose
    /// Sentinel cannot learn of the failover leads its old epoch beside the new one.
    async fn status(&self) -> Outcome<NodeStatus> {
        let deadline = Instant::now() + self.timeout;
        let mut cmd = redis::cmd("INFO");
        cmd.arg("replication");
        let info: String = match self.query(&self.redis_addr, &cmd, deadline).await {
            Ok(info) => info,
            Err(e) => return e.read_outcome(),
        };
        let replication = parse_replication(&info);
        let view = self.sentinel_view(deadline).await.ok();
        if let Some(epoch) = view.as_ref().and_then(|v| v.epoch) {
            self.last_epoch.fetch_max(epoch, Ordering::Relaxed);
        }
        let named = view.as_ref().and_then(|v| self.system.name_of(&v.addr));
        let role = match replication.role.as_deref() {
            Some("master") if named.as_deref() == Some(self.node.as_str()) => Role::Leader,
            // A primary its own Sentinel does not name (yet, or any more).
            Some("master") => Role::Other("unconfirmed-master".into()),
            Some("slave") => Role::Follower,
            Some(other) => Role::Other(other.to_string()),
            None => return Outcome::fail(ErrorCode::MalformedAnswer),
        };
        // Offsets compare only within one replication stream: a primary its Sentinel
        // no longer names holds a history of its own until it is turned into a replica,
        // and a replica counts only while its link to the primary its Sentinel names is
        // up. Otherwise its final read waits.
        let in_stream = match role {
            Role::Leader => true,
            Role::Follower => {
                replication.link_up
                    && replication.primary.is_some()
                    && replication.primary.as_deref() == view.as_ref().map(|v| v.addr.as_str())
            }
            _ => false,
        };
        let applied = replication.offset.filter(|_| in_stream);
        Outcome::Ok(NodeStatus {
            role,
            term: Some(self.last_epoch.load(Ordering::Relaxed)),
            leader: named,
            applied,
            commit: replication.offset,
            vote: None,
            last_index: None,
            terms: None,
        })
    }

    async fn acquire(&self, _election: &str, _client: &str, _ttl_ms: u64) -> Outcome<Grant> {
        Outcome::fail("unsupported")
    }

    async fn holding(&self, _election: &str, _token: u64) -> Outcome<bool> {
        Outcome::fail("unsupported")
    }

    async fn release(&self, _election: &str, _token: u64) -> Outcome<()> {
        Outcome::fail("unsupported")
    }

    /// `RPUSH` on the primary this node's Sentinel names; acknowledged is ok.
    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        _election: Option<&str>,
    ) -> Outcome<Written> {
        let deadline = Instant::now() + self.timeout;
        let primary = match self.primary(deadline).await {
            Ok(Some(addr)) => addr,
            Ok(None) => return Outcome::fail(ErrorCode::NoLeader),
            // Nothing was written yet.
            Err(e) => return e.read_outcome(),
        };
        let mut connection = match self.links.connection(&primary, deadline).await {
            Ok(c) => c,
            Err(e) => return e.write_outcome(),
        };
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(LOG_KEY).arg(id);
        let pushed = self
            .links
            .query_on::<i64>(&mut connection, &primary, &cmd, deadline)
            .await;
        if let Err(e) = pushed {
            if let Fault::Refused { code, detail } = &e {
                tracing::debug!(node = %self.node, %primary, %code, %detail, "write refused");
            }
            return e.write_outcome();
        }
        let wanted = self.system.tuning.wait_replicas;
        if wanted > 0 {
            // On the connection the RPUSH went over, so it covers it: on another one
            // (the cached connection may have been dropped meanwhile) WAIT would have
            // no write to wait for and answer at once. Its timeout is what is left of
            // the call's bound (0 would wait for ever).
            let left_ms = remaining(deadline).as_millis().max(1) as u64;
            let mut wait = redis::cmd("WAIT");
            wait.arg(wanted).arg(left_ms);
            let waited = self
                .links
                .query_on::<i64>(&mut connection, &primary, &wait, deadline)
                .await;
            match waited {
                Ok(acked) if acked >= i64::from(wanted) => {}
                // The primary has it, too few replicas do: a real client cannot call
                // it durable, nor can it take it back.
                Ok(acked) => {
                    return Outcome::info(format!(
                        "redis-wait-short: {acked} of {wanted} replicas acknowledged"
                    ))
                }
                Err(e) => return Outcome::info(e.name()),
            }
        }
        Outcome::Ok(Written {
            id: id.to_string(),
            token,
        })
    }

    /// `LRANGE` on the primary the Sentinels agree on.
    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        let deadline = Instant::now() + self.timeout;
        let primary = match self.agreed_primary(deadline).await {
            Ok(Some(addr)) => addr,
            Ok(None) => return Outcome::fail(ErrorCode::NoLeader),
            Err(e) => return e.read_outcome(),
        };
        match self.lrange(&primary, deadline).await {
            Ok(log) => Outcome::Ok(log),
            Err(e) => e.read_outcome(),
        }
    }

    /// `LRANGE` on this node's own Redis.
    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        let deadline = Instant::now() + self.timeout;
        match self.lrange(&self.redis_addr, deadline).await {
            Ok(log) => Outcome::Ok(log),
            Err(e) => e.read_outcome(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a test pretends this machine's clock shim is.
    const SHIM: &str = "/build/libsplitbrain_clock.so";

    #[test]
    fn the_clock_moves_through_the_shim_the_image_carries() {
        // The clock moves; Redis has no crash points.
        assert_eq!(
            DESCRIPTOR.refused_faults().into_keys().collect::<Vec<_>>(),
            [nemesis::FaultKind::CrashPoint]
        );
        let system = SentinelSystem::new(SHIM);
        let specs = system
            .node_specs(&topology(3), &SystemOptions::default())
            .unwrap();
        for spec in &specs {
            assert_eq!(
                spec.clock,
                ClockControl::Preload {
                    library: CLOCK_SHIM_IN_IMAGE.into()
                }
            );
            // The process runtimes preload the host file the image is built from.
            assert_eq!(spec.host_file(CLOCK_SHIM_IN_IMAGE), Path::new(SHIM));
        }
    }

    fn topology(n: usize) -> Topology {
        Topology {
            nodes: (0..n)
                .map(|i| NodeAddr {
                    bind: None,
                    name: format!("n{}", i + 1),
                    host: format!("10.9.0.{}", i + 2),
                    client_port: REDIS_PORT,
                    peer_port: SENTINEL_PORT,
                    extra_ports: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn node_one_is_the_primary_and_every_sentinel_monitors_it_with_a_majority() {
        let system = SentinelSystem::new(SHIM);
        let specs = system
            .node_specs(&topology(5), &SystemOptions::default())
            .unwrap();
        assert_eq!(specs.len(), 5);
        for (i, spec) in specs.iter().enumerate() {
            let file = |suffix: &str| {
                spec.files
                    .iter()
                    .find(|(p, _)| p.ends_with(suffix))
                    .map(|(_, c)| c.clone())
                    .unwrap()
            };
            let redis = file("/redis.conf");
            assert_eq!(redis.contains("replicaof 10.9.0.2 6379"), i > 0, "{redis}");
            assert!(redis.contains(&format!("dir /data/n{}", i + 1)));
            let sentinel = file("/sentinel.conf");
            assert!(sentinel.contains("sentinel monitor mymaster 10.9.0.2 6379 3"));
            assert!(sentinel.contains("port 26379"));
            assert_eq!(spec.command[0], SHELL_PROGRAM);
            assert!(spec.command[2].contains(&format!("/data/n{}/sentinel.conf", i + 1)));
            assert!(spec.command[2].contains("& exec /usr/bin/redis-server"));
        }
    }

    #[test]
    fn min_replicas_to_write_is_written_only_when_asked() {
        let mut system = SentinelSystem::new(SHIM);
        let conf = system.redis_config(0, &topology(3), "/data/n1");
        assert!(!conf.contains("min-replicas-to-write"));
        system.tuning.min_replicas_to_write = 1;
        let conf = system.redis_config(0, &topology(3), "/data/n1");
        assert!(conf.contains("min-replicas-to-write 1\nmin-replicas-max-lag 10"));
    }

    #[test]
    fn info_replication_is_read() {
        let info = "# Replication\r\nrole:slave\r\nmaster_host:10.9.0.2\r\nmaster_port:6379\r\nmaster_link_status:up\r\nmaster_repl_offset:4242\r\n";
        assert_eq!(
            parse_replication(info),
            Replication {
                role: Some("slave".into()),
                offset: Some(4242),
                primary: Some("10.9.0.2:6379".into()),
                link_up: true,
            }
        );
    }

    #[test]
    fn the_primary_read_from_is_the_newest_settled_majority_view() {
        let view = |addr: &str, epoch: u64, in_failover: bool| Primary {
            addr: addr.into(),
            epoch: Some(epoch),
            in_failover,
        };
        // The failover leader has the new epoch but still the old address.
        let views = [
            view("n3", 3, false),
            view("n3", 4, true),
            view("n1", 4, false),
        ];
        assert_eq!(agreed(&views).as_deref(), Some("n1"));
        let views = [
            view("n2", 2, false),
            view("n1", 2, false),
            view("n1", 2, false),
        ];
        assert_eq!(agreed(&views).as_deref(), Some("n1"));
        assert_eq!(agreed(&[view("n2", 5, true)]).as_deref(), Some("n2"));
        assert_eq!(agreed(&[]), None);
    }

    #[test]
    fn bugs_are_refused() {
        let options = SystemOptions {
            bugs: vec!["no-fencing".into()],
            ..SystemOptions::default()
        };
        assert!(SentinelSystem::new(SHIM)
            .node_specs(&topology(3), &options)
            .is_err());
    }
}
