//! The ZooKeeper adapter: node specs for an ensemble (zoo.cfg and myid per node, on the
//! JVM under libfaketime's control), and a client that takes leadership with the
//! ephemeral-sequential recipe and fences writes with a multi that checks the
//! candidate's znode.

pub mod srvr;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use checkers::{ErrorCode, LogEntry, Role};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::client::{Client, Grant, NodeStatus, Outcome, Written, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::etcd::refuse_raftd_options;
use crate::system::{
    validate_topology, ClockControl, Descriptor, FencingMode, Guarantees, Image, ImagePart,
    ImageRecipe, NodeAddr, NodePorts, NodeSpec, Setup, System, SystemError, SystemOptions,
    Topology,
};

/// Ports when the runtime picks them itself: clients, quorum traffic, leader election.
pub const ZK_CLIENT_PORT: u16 = 2181;
pub const ZK_QUORUM_PORT: u16 = 2888;
/// Where the JVM and ZooKeeper's jars sit inside the node (Debian's paths).
pub const JAVA_PROGRAM: &str = "/usr/bin/java";
pub const ZK_CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
/// The jars the classpath names; the image holds them and what their manifests name.
const ZK_JARS: [&str; 2] = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
];
/// libfaketime, at Debian's path on this machine and inside the node.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// ZooKeeper as splitbrain knows it.
pub static DESCRIPTOR: Descriptor = Descriptor {
    name: "zookeeper",
    bugs: &[],
    registers: true,
    lease_switch: false,
    runs_local: false,
    clock: &clock,
    docker: true,
    external: true,
    build: &|setup: &Setup| Ok(Arc::new(ZkSystem::new(setup.fencing))),
    file: None,
    fencing: &[],
    options: &[],
    crash_points: None,
};

/// How a node's wall clock moves.
fn clock() -> ClockControl {
    // The JVM reads the wall clock through libc, which libfaketime intercepts.
    ClockControl::Faketime {
        library: LIBFAKETIME.into(),
    }
}

/// The image: Debian's ZooKeeper on the JVM it depends on, with libfaketime for the
/// clock.
pub fn image() -> ImageRecipe {
    ImageRecipe {
        name: "zookeeper".into(),
        parts: vec![
            ImagePart::Jvm {
                java: JAVA_PROGRAM.into(),
                package: "zookeeper".into(),
            },
            ImagePart::Jars {
                roots: ZK_JARS.iter().map(Into::into).collect(),
                package: "zookeeper".into(),
            },
            ImagePart::Program {
                host: LIBFAKETIME.into(),
                at: LIBFAKETIME.into(),
                package: Some("libfaketime".into()),
                optional: false,
            },
        ],
    }
}

/// ZooKeeper's version from its jar's Maven properties (the JVM would take seconds).
fn version_of_jar() -> String {
    let jar = ZK_JARS[0];
    std::process::Command::new("unzip")
        .args([
            "-p",
            jar,
            "META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties",
        ])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("version="))
                .map(|v| format!("zookeeper {}", v.trim()))
        })
        .unwrap_or_else(|| format!("zookeeper (version unknown: no Maven version in {jar})"))
}

pub const ZK_MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// The session timeout of each node's own client session (status aside, every call but
/// a grant goes through it).
pub const PLAIN_SESSION_TIMEOUT_MS: u64 = 4000;
/// Bound on the grants a system remembers; the oldest go first.
pub const GRANTS_REMEMBERED_MAX: usize = 10_000;
/// How many znodes one multi-read fetches in the final reads.
pub const READ_BATCH_MAX: usize = 200;
/// Attempts of a write-fenced write whose fence changed under it.
pub const FENCE_ATTEMPTS_MAX: usize = 3;

/// ZooKeeper's timing: ticks of `tick_ms`; a follower gives up on a silent leader after
/// `sync_limit_ticks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkTuning {
    pub tick_ms: u64,
    pub init_limit_ticks: u64,
    pub sync_limit_ticks: u64,
    /// The JVM's heap bound.
    pub heap_mb: u64,
}

impl Default for ZkTuning {
    fn default() -> Self {
        ZkTuning {
            tick_ms: 500,
            init_limit_ticks: 20,
            sync_limit_ticks: 2,
            heap_mb: 128,
        }
    }
}

/// A grant as its acquire left it: the candidate's znode and the session that owns it.
#[derive(Clone)]
struct ZkGrant {
    /// `…/election/<name>/c-0000000007`.
    path: String,
    /// Dropped when the grant's time is up or it is released, which ends the session
    /// and with it the ephemeral znode.
    session: Option<zk::Client>,
}

#[derive(Default)]
struct Shared {
    grants: Mutex<BTreeMap<u64, ZkGrant>>,
    /// The node that reported itself leader of each epoch.
    leaders: Mutex<HashMap<u64, String>>,
    /// Whether the namespace's parent znodes exist.
    prepared: AtomicBool,
}

impl Shared {
    fn grants(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ZkGrant>> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, token: u64, grant: ZkGrant) {
        let mut grants = self.grants();
        grants.insert(token, grant);
        while grants.len() > GRANTS_REMEMBERED_MAX {
            grants.pop_first();
        }
    }

    fn path_of(&self, token: u64) -> Option<String> {
        self.grants().get(&token).map(|g| g.path.clone())
    }

    /// Ends the grant's session (closing it deletes the candidate's znode).
    fn end_session(&self, token: u64) -> Option<zk::Client> {
        self.grants().get_mut(&token).and_then(|g| g.session.take())
    }
}

/// ZooKeeper as a system under test.
#[derive(Clone)]
pub struct ZkSystem {
    pub tuning: ZkTuning,
    pub client_timeout_ms: u64,
    pub fencing: FencingMode,
    /// Every znode the test touches lives under this path.
    pub namespace: String,
    shared: Arc<Shared>,
}

impl ZkSystem {
    pub fn new(fencing: FencingMode) -> ZkSystem {
        ZkSystem {
            tuning: ZkTuning::default(),
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            fencing,
            namespace: format!("/splitbrain-{:016x}", rand::random::<u64>()),
            shared: Arc::default(),
        }
    }

    fn election_dir(&self, election: &str) -> String {
        format!("{}/election/{election}", self.namespace)
    }

    fn writes_dir(&self) -> String {
        format!("{}/writes", self.namespace)
    }

    fn fence_path(&self, election: &str) -> String {
        format!("{}/fence-{election}", self.namespace)
    }

    fn registers_dir(&self) -> String {
        format!("{}/registers", self.namespace)
    }

    fn register_path(&self, key: &str) -> String {
        format!("{}/{key}", self.registers_dir())
    }

    /// zoo.cfg of node `index`: every server with its quorum and election ports.
    fn config(&self, index: usize, topology: &Topology, data_dir: &str) -> String {
        let node = &topology.nodes[index];
        let t = &self.tuning;
        let mut lines = vec![
            format!("tickTime={}", t.tick_ms),
            format!("initLimit={}", t.init_limit_ticks),
            format!("syncLimit={}", t.sync_limit_ticks),
            format!("dataDir={data_dir}"),
            format!("clientPort={}", node.client_port),
            format!("clientPortAddress={}", node.listen_host()),
            "maxClientCnxns=0".into(),
            "4lw.commands.whitelist=srvr,stat,mntr".into(),
            "admin.enableServer=false".into(),
            "standaloneEnabled=false".into(),
            "reconfigEnabled=false".into(),
            // Sessions as short as two ticks, so that grants can be short.
            format!("minSessionTimeout={}", 2 * t.tick_ms),
            // Give up on an unreachable peer's election port quickly.
            "cnxTimeout=1000".into(),
        ];
        if node.bind.is_some() {
            // Its own server line names its host's address, which is not its own.
            lines.push("quorumListenOnAllIPs=true".into());
        }
        for (i, peer) in topology.nodes.iter().enumerate() {
            lines.push(format!(
                "server.{}={}:{}:{}",
                i + 1,
                peer.host,
                peer.peer_port,
                peer.extra_ports[0]
            ));
        }
        lines.join("\n") + "\n"
    }

    fn node_spec(&self, index: usize, topology: &Topology, options: &SystemOptions) -> NodeSpec {
        let node = &topology.nodes[index];
        let data_dir = format!("{}/{}", options.data_root.trim_end_matches('/'), node.name);
        let config_path = format!("{data_dir}/zoo.cfg");
        let command = vec![
            JAVA_PROGRAM.to_string(),
            format!("-Xmx{}m", self.tuning.heap_mb),
            "-XX:+UseSerialGC".into(),
            // No /tmp/hsperfdata_<user>/<pid>: a node killed by SIGKILL would leave it
            // behind on the host (the process runtimes share its /tmp).
            "-XX:-UsePerfData".into(),
            "-XX:TieredStopAtLevel=1".into(),
            "-Dzookeeper.admin.enableServer=false".into(),
            "-cp".into(),
            ZK_CLASSPATH.into(),
            ZK_MAIN_CLASS.into(),
            config_path.clone(),
        ];
        NodeSpec {
            name: node.name.clone(),
            image: Image::Recipe(image()),
            clock: clock(),
            command,
            env: Vec::new(),
            files: vec![
                (config_path, self.config(index, topology, &data_dir)),
                (format!("{data_dir}/myid"), format!("{}\n", index + 1)),
            ],
            data_dir,
        }
    }
}

#[async_trait]
impl System for ZkSystem {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: ZK_CLIENT_PORT,
            peer_port: ZK_QUORUM_PORT,
            extra_ports: 1,
        }
    }

    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError> {
        validate_topology(topology)?;
        refuse_raftd_options("zookeeper", options)?;
        if let Some(node) = topology.nodes.iter().find(|n| n.extra_ports.is_empty()) {
            return Err(SystemError::BadTopology(format!(
                "node {} has no election port (ZooKeeper needs one extra port)",
                node.name
            )));
        }
        Ok((0..topology.nodes.len())
            .map(|i| self.node_spec(i, topology, options))
            .collect())
    }

    fn guarantees(&self, _options: &SystemOptions) -> Guarantees {
        Guarantees {
            // A deposed leader may still answer `srvr` as leader of its old epoch.
            exclusive_leadership: false,
            fence_on_grant: true,
            leaderless: false,
        }
    }

    fn version(&self) -> String {
        version_of_jar()
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        if self.client_timeout_ms == 0 {
            return Err(SystemError::BadOption("client_timeout_ms is 0".into()));
        }
        Ok(Box::new(ZkClient {
            node: node.name.clone(),
            addr: format!("{}:{}", node.host, node.client_port),
            timeout: Duration::from_millis(self.client_timeout_ms),
            system: self.clone(),
            session: tokio::sync::Mutex::new(None),
            last_epoch: AtomicU64::new(0),
        }))
    }
}

/// A client of one ZooKeeper server. Its session opens on first use, and again after
/// it expires.
pub struct ZkClient {
    node: String,
    addr: String,
    timeout: Duration,
    system: ZkSystem,
    session: tokio::sync::Mutex<Option<zk::Client>>,
    last_epoch: AtomicU64,
}

/// What went wrong with a call: a ZooKeeper error, or no answer within the bound.
#[derive(Debug)]
enum ZkFault {
    Zk(zk::Error),
    Timeout,
    /// No session could be opened: nothing was sent.
    NoSession,
}

impl From<zk::Error> for ZkFault {
    fn from(e: zk::Error) -> Self {
        ZkFault::Zk(e)
    }
}

impl ZkFault {
    fn name(&self) -> String {
        match self {
            ZkFault::Timeout => ErrorCode::Timeout.into(),
            ZkFault::NoSession => ErrorCode::Unreachable.into(),
            ZkFault::Zk(zk::Error::ConnectionLoss) => ErrorCode::ConnectionLost.into(),
            ZkFault::Zk(zk::Error::SessionExpired) => ErrorCode::SessionExpired.into(),
            ZkFault::Zk(e) => format!("zk-{e}").replace(' ', "-"),
        }
    }

    /// Only a call that never reached a server certainly did not happen.
    fn write_outcome<T>(self) -> Outcome<T> {
        match self {
            ZkFault::NoSession => Outcome::fail(self.name()),
            _ => Outcome::info(self.name()),
        }
    }

    fn read_outcome<T>(self) -> Outcome<T> {
        Outcome::fail(self.name())
    }
}

#[derive(Serialize, Deserialize)]
struct StoredWrite {
    #[serde(default)]
    token: Option<u64>,
}

fn sequence_of(child: &str) -> Option<i64> {
    child.rsplit('-').next()?.parse().ok()
}

/// The lowest candidate of an election, by sequence number.
fn lowest(children: &[String]) -> Option<&String> {
    children
        .iter()
        .filter(|c| sequence_of(c).is_some())
        .min_by_key(|c| sequence_of(c))
}

impl ZkClient {
    async fn bounded<T, F>(&self, call: F) -> Result<T, ZkFault>
    where
        F: std::future::Future<Output = Result<T, zk::Error>>,
    {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r.map_err(ZkFault::Zk),
            Err(_) => Err(ZkFault::Timeout),
        }
    }

    async fn connect(&self, session_timeout: Duration) -> Result<zk::Client, ZkFault> {
        let connecting = zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(self.timeout / 2)
            .connect(&self.addr);
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => {
                tracing::debug!(addr = %self.addr, error = %e, "no ZooKeeper session");
                Err(ZkFault::NoSession)
            }
            Err(_) => Err(ZkFault::NoSession),
        }
    }

    /// This node's session, opened if there is none or the last one ended.
    async fn session(&self) -> Result<zk::Client, ZkFault> {
        let mut slot = self.session.lock().await;
        if let Some(client) = slot.as_ref() {
            if !client.state().is_terminated() {
                return Ok(client.clone());
            }
        }
        let client = self
            .connect(Duration::from_millis(PLAIN_SESSION_TIMEOUT_MS))
            .await?;
        *slot = Some(client.clone());
        drop(slot);
        self.prepare(&client).await?;
        Ok(client)
    }

    /// Creates the namespace's parent znodes once per system.
    async fn prepare(&self, client: &zk::Client) -> Result<(), ZkFault> {
        let shared = &self.system.shared;
        if shared.prepared.load(Ordering::Acquire) {
            return Ok(());
        }
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for dir in [
            self.system.writes_dir(),
            format!("{}/election", self.system.namespace),
            self.system.registers_dir(),
        ] {
            match self.bounded(client.mkdir(&dir, &options)).await {
                Ok(()) | Err(ZkFault::Zk(zk::Error::NodeExists)) => {}
                Err(e) => return Err(e),
            }
        }
        shared.prepared.store(true, Ordering::Release);
        Ok(())
    }

    /// The candidates of `election` after a sync, so that the read is no older than the
    /// leader's state when the sync reached it.
    async fn candidates(&self, client: &zk::Client, dir: &str) -> Result<Vec<String>, ZkFault> {
        self.bounded(client.sync(dir)).await?;
        match self.bounded(client.list_children(dir)).await {
            Ok(children) => Ok(children),
            Err(ZkFault::Zk(zk::Error::NoNode)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Creates this candidate's znode in a session of its own and waits, watching its
    /// predecessor, until it is the lowest — or the client's bound passes.
    async fn campaign(&self, dir: &str, client_name: &str, ttl_ms: u64) -> Outcome<Grant> {
        let deadline = Instant::now() + self.timeout;
        let session = match self.connect(Duration::from_millis(ttl_ms)).await {
            Ok(s) => s,
            Err(e) => return Outcome::fail(e.name()),
        };
        let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        let created = match self
            .bounded(session.mkdir(
                dir,
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            ))
            .await
        {
            Ok(()) | Err(ZkFault::Zk(zk::Error::NodeExists)) => {
                self.bounded(session.create(&format!("{dir}/c-"), client_name.as_bytes(), &options))
                    .await
            }
            Err(e) => Err(e),
        };
        let (stat, sequence) = match created {
            Ok(c) => c,
            // Dropping the session ends whatever it may have created.
            Err(e) => return e.write_outcome(),
        };
        let name = format!("c-{sequence}");
        let token = stat.czxid as u64;
        let path = format!("{dir}/{name}");
        loop {
            let children = match self.bounded(session.list_children(dir)).await {
                Ok(c) => c,
                Err(e) => return e.write_outcome(),
            };
            if lowest(&children) == Some(&name) {
                self.remember_grant(token, path, session, ttl_ms);
                return Outcome::Ok(Grant { token });
            }
            let ours = sequence.into_i64();
            let Some(predecessor) = children
                .iter()
                .filter(|c| sequence_of(c).is_some_and(|s| s < ours))
                .max_by_key(|c| sequence_of(c))
            else {
                return Outcome::info(ErrorCode::LostCandidate);
            };
            let watched = self
                .bounded(session.check_and_watch_stat(&format!("{dir}/{predecessor}")))
                .await;
            match watched {
                Ok((None, _)) => continue,
                Ok((Some(_), watcher)) => {
                    if tokio::time::timeout_at(deadline, watcher.changed())
                        .await
                        .is_err()
                    {
                        return Outcome::info(ErrorCode::Timeout);
                    }
                }
                Err(e) => return e.write_outcome(),
            }
        }
    }

    /// Keeps the grant's session for `ttl_ms`, then ends it: a grant lives as long as
    /// the caller asked, as a holder's session would once the holder stalls.
    fn remember_grant(&self, token: u64, path: String, session: zk::Client, ttl_ms: u64) {
        let shared = Arc::clone(&self.system.shared);
        shared.remember(
            token,
            ZkGrant {
                path,
                session: Some(session),
            },
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ttl_ms)).await;
            drop(shared.end_session(token));
        });
    }

    async fn fenced_write(
        &self,
        client: &zk::Client,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Outcome<Written> {
        let path = format!("{}/{id}", self.system.writes_dir());
        let data = serde_json::to_vec(&StoredWrite { token }).unwrap_or_default();
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let written = Written {
            id: id.to_string(),
            token,
        };
        let (Some(token), Some(election)) = (token, election) else {
            return self.plain_create(client, &path, &data, written).await;
        };
        match self.system.fencing {
            FencingMode::None => self.plain_create(client, &path, &data, written).await,
            FencingMode::Grant => {
                let Some(candidate) = self.system.shared.path_of(token) else {
                    return Outcome::fail(ErrorCode::UnknownGrant);
                };
                let mut writer = match client.new_check_writer(&candidate, None) {
                    Ok(w) => w,
                    Err(e) => return Outcome::fail(ZkFault::Zk(e).name()),
                };
                if let Err(e) = writer.add_create(&path, &data, &options) {
                    return Outcome::fail(ZkFault::Zk(e).name());
                }
                match tokio::time::timeout(self.timeout, writer.commit()).await {
                    Ok(Ok(_)) => Outcome::Ok(written),
                    Ok(Err(zk::CheckWriteError::CheckFailed { .. })) => {
                        Outcome::fail(ErrorCode::StaleToken)
                    }
                    Ok(Err(zk::CheckWriteError::OperationFailed { source, .. })) => {
                        Outcome::fail(ZkFault::Zk(source).name())
                    }
                    Ok(Err(zk::CheckWriteError::RequestFailed { source })) => {
                        ZkFault::Zk(source).write_outcome()
                    }
                    Err(_) => Outcome::info(ErrorCode::Timeout),
                }
            }
            FencingMode::Write => {
                self.write_fenced_write(client, election, token, &path, &data, written)
                    .await
            }
        }
    }

    async fn plain_create(
        &self,
        client: &zk::Client,
        path: &str,
        data: &[u8],
        written: Written,
    ) -> Outcome<Written> {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.bounded(client.create(path, data, &options)).await {
            Ok(_) => Outcome::Ok(written),
            Err(e) => e.write_outcome(),
        }
    }

    /// A fence znode holds the largest token accepted; a write raises it and creates its
    /// znode in one multi, conditional on the fence's version as read.
    async fn write_fenced_write(
        &self,
        client: &zk::Client,
        election: &str,
        token: u64,
        path: &str,
        data: &[u8],
        written: Written,
    ) -> Outcome<Written> {
        let fence = self.system.fence_path(election);
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let stored = token.to_string();
        for _ in 0..FENCE_ATTEMPTS_MAX {
            let current = match self.bounded(client.get_data(&fence)).await {
                Ok((bytes, stat)) => {
                    let seen: u64 = String::from_utf8_lossy(&bytes).trim().parse().unwrap_or(0);
                    if seen > token {
                        return Outcome::fail(ErrorCode::StaleToken);
                    }
                    Some(stat.version)
                }
                Err(ZkFault::Zk(zk::Error::NoNode)) => None,
                Err(e) => return e.read_outcome(),
            };
            let mut writer = client.new_multi_writer();
            let staged = match current {
                Some(version) => writer.add_set_data(&fence, stored.as_bytes(), Some(version)),
                None => writer.add_create(&fence, stored.as_bytes(), &options),
            }
            .and_then(|_| writer.add_create(path, data, &options));
            if let Err(e) = staged {
                return Outcome::fail(ZkFault::Zk(e).name());
            }
            match tokio::time::timeout(self.timeout, writer.commit()).await {
                Ok(Ok(_)) => return Outcome::Ok(written),
                // The fence moved between the read and the multi: nothing was applied.
                Ok(Err(zk::MultiWriteError::OperationFailed { index: 0, .. })) => continue,
                Ok(Err(zk::MultiWriteError::OperationFailed { source, .. })) => {
                    return Outcome::fail(ZkFault::Zk(source).name())
                }
                Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
                    return ZkFault::Zk(source).write_outcome()
                }
                Err(_) => return Outcome::info(ErrorCode::Timeout),
            }
        }
        Outcome::fail(ErrorCode::FenceContended)
    }

    /// Every write, ordered by the zxid that created it.
    async fn read_writes(&self, sync: bool) -> Outcome<Vec<LogEntry>> {
        let client = match self.session().await {
            Ok(c) => c,
            Err(e) => return e.read_outcome(),
        };
        match self.fetch_writes(&client, sync).await {
            Ok(log) => Outcome::Ok(log),
            Err(e) => e.read_outcome(),
        }
    }

    async fn fetch_writes(
        &self,
        client: &zk::Client,
        sync: bool,
    ) -> Result<Vec<LogEntry>, ZkFault> {
        let dir = self.system.writes_dir();
        if sync {
            self.bounded(client.sync(&dir)).await?;
        }
        let children = self.bounded(client.list_children(&dir)).await?;
        let mut entries: Vec<(i64, LogEntry)> = Vec::with_capacity(children.len());
        for batch in children.chunks(READ_BATCH_MAX) {
            let mut reader = client.new_multi_reader();
            for child in batch {
                reader.add_get_data(&format!("{dir}/{child}"))?;
            }
            let results = self.bounded(reader.commit()).await?;
            for (child, result) in batch.iter().zip(results) {
                let zk::MultiReadResult::Data { data, stat } = result else {
                    // Writes are never deleted; a missing one is an error of the read.
                    return Err(ZkFault::Zk(zk::Error::UnexpectedError(format!(
                        "no data for {child}"
                    ))));
                };
                let stored: StoredWrite = serde_json::from_slice(&data).map_err(|e| {
                    ZkFault::Zk(zk::Error::UnexpectedError(format!("{child}: {e}")))
                })?;
                entries.push((
                    stat.czxid,
                    LogEntry {
                        id: child.clone(),
                        token: stored.token,
                    },
                ));
            }
        }
        entries.sort_by_key(|(czxid, _)| *czxid);
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }
}

#[async_trait]
impl Client for ZkClient {
    fn node(&self) -> &str {
        &self.node
    }

    async fn status(&self) -> Outcome<NodeStatus> {
        let answer = match tokio::time::timeout(self.timeout, srvr::ask(&self.addr)).await {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => return Outcome::fail(e),
            Err(_) => return Outcome::fail(ErrorCode::Timeout),
        };
        let report = srvr::parse(&answer);
        let shared = &self.system.shared;
        if let Some(epoch) = report.epoch() {
            self.last_epoch.store(epoch, Ordering::Relaxed);
        }
        let term = self.last_epoch.load(Ordering::Relaxed);
        let mut leaders = shared.leaders.lock().unwrap_or_else(|e| e.into_inner());
        let role = match report.mode.as_deref() {
            Some("leader") => {
                leaders.insert(term, self.node.clone());
                Role::Leader
            }
            Some("follower") => Role::Follower,
            Some(other) => Role::Other(other.to_string()),
            // Not serving: looking for a leader.
            None => Role::Candidate,
        };
        let leader = match role {
            Role::Leader | Role::Follower => leaders.get(&term).cloned(),
            _ => None,
        };
        Outcome::Ok(NodeStatus {
            role,
            term: Some(term),
            leader,
            applied: report.zxid,
            commit: report.zxid,
            vote: None,
            last_index: None,
            terms: None,
        })
    }

    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        let session = match self.session().await {
            Ok(c) => c,
            Err(e) => return Outcome::fail(e.name()),
        };
        let dir = self.system.election_dir(election);
        match self.candidates(&session, &dir).await {
            Ok(children) if children.is_empty() => self.campaign(&dir, client, ttl_ms).await,
            Ok(_) => Outcome::fail(ErrorCode::Held),
            Err(e) => Outcome::fail(e.name()),
        }
    }

    async fn holding(&self, election: &str, token: u64) -> Outcome<bool> {
        let Some(path) = self.system.shared.path_of(token) else {
            return Outcome::Ok(false);
        };
        let session = match self.session().await {
            Ok(c) => c,
            Err(e) => return e.read_outcome(),
        };
        let dir = self.system.election_dir(election);
        match self.candidates(&session, &dir).await {
            Ok(children) => {
                let ours = path.rsplit('/').next().unwrap_or_default();
                Outcome::Ok(lowest(&children).is_some_and(|c| c == ours))
            }
            Err(e) => e.read_outcome(),
        }
    }

    async fn release(&self, _election: &str, token: u64) -> Outcome<()> {
        let Some(path) = self.system.shared.path_of(token) else {
            return Outcome::fail(ErrorCode::NotHolder);
        };
        let session = match self.session().await {
            Ok(c) => c,
            Err(e) => return Outcome::fail(e.name()),
        };
        let outcome = match self.bounded(session.delete(&path, None)).await {
            Ok(()) => Outcome::Ok(()),
            Err(ZkFault::Zk(zk::Error::NoNode)) => Outcome::fail(ErrorCode::NotHolder),
            Err(e) => e.write_outcome(),
        };
        drop(self.system.shared.end_session(token));
        outcome
    }

    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Outcome<Written> {
        let session = match self.session().await {
            Ok(c) => c,
            Err(e) => return Outcome::fail(e.name()),
        };
        self.fenced_write(&session, id, token, election).await
    }

    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        self.read_writes(true).await
    }

    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        self.read_writes(false).await
    }

    /// A `sync` then the znode's data, as the write log's read: no older than the
    /// leader's state when the sync reached it.
    async fn reg_read(&self, key: &str) -> Outcome<Option<i64>> {
        let client = match self.session().await {
            Ok(c) => c,
            Err(e) => return e.read_outcome(),
        };
        let path = self.system.register_path(key);
        if let Err(e) = self.bounded(client.sync(&path)).await {
            return e.read_outcome();
        }
        match self.bounded(client.get_data(&path)).await {
            Ok((data, _)) => match register_value(&data) {
                Some(v) => Outcome::Ok(Some(v)),
                None => Outcome::fail(ErrorCode::MalformedAnswer),
            },
            Err(ZkFault::Zk(zk::Error::NoNode)) => Outcome::Ok(None),
            Err(e) => e.read_outcome(),
        }
    }

    /// `setData` of the znode, or its creation when it does not exist yet.
    async fn reg_write(&self, key: &str, value: i64) -> Outcome<()> {
        let client = match self.session().await {
            Ok(c) => c,
            Err(e) => return Outcome::fail(e.name()),
        };
        let path = self.system.register_path(key);
        let data = value.to_string();
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for _ in 0..FENCE_ATTEMPTS_MAX {
            match self
                .bounded(client.set_data(&path, data.as_bytes(), None))
                .await
            {
                Ok(_) => return Outcome::Ok(()),
                Err(ZkFault::Zk(zk::Error::NoNode)) => {}
                Err(e) => return e.write_outcome(),
            }
            match self
                .bounded(client.create(&path, data.as_bytes(), &options))
                .await
            {
                Ok(_) => return Outcome::Ok(()),
                // Another writer created it first: set it now.
                Err(ZkFault::Zk(zk::Error::NodeExists)) => {}
                Err(e) => return e.write_outcome(),
            }
        }
        Outcome::fail(ErrorCode::FenceContended)
    }

    /// The znode's data and version, then `setData` conditional on that version: a
    /// version that moved in between is a mismatch, and nothing was set.
    async fn reg_cas(&self, key: &str, from: i64, to: i64) -> Outcome<()> {
        let client = match self.session().await {
            Ok(c) => c,
            Err(e) => return Outcome::fail(e.name()),
        };
        let path = self.system.register_path(key);
        let version = match self.bounded(client.get_data(&path)).await {
            Ok((data, stat)) if register_value(&data) == Some(from) => stat.version,
            Ok(_) | Err(ZkFault::Zk(zk::Error::NoNode)) => {
                return Outcome::fail(ErrorCode::CasMismatch)
            }
            Err(e) => return e.read_outcome(),
        };
        let set = client.set_data(&path, to.to_string().as_bytes(), Some(version));
        match self.bounded(set).await {
            Ok(_) => Outcome::Ok(()),
            Err(ZkFault::Zk(zk::Error::BadVersion | zk::Error::NoNode)) => {
                Outcome::fail(ErrorCode::CasMismatch)
            }
            Err(e) => e.write_outcome(),
        }
    }
}

/// A register's value as its znode stores it: the decimal integer.
fn register_value(stored: &[u8]) -> Option<i64> {
    std::str::from_utf8(stored).ok()?.trim().parse().ok()
}
