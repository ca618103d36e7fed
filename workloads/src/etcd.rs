//! The etcd adapter: node specs for a static etcd cluster (pre-vote, fast timeouts), and
//! a gRPC client that takes leadership through etcd's election API on a lease and fences
//! writes with transactions on the leader key's create revision.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use checkers::{ErrorCode, LogEntry, Role};
use etcd_client::{
    Compare, CompareOp, ConnectOptions, GetOptions, LeaderKey, ResignOptions, SortOrder,
    SortTarget, Txn, TxnOp, TxnOpResponse,
};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Grant, NodeStatus, Outcome, Written, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::system::{
    program_version, validate_topology, ClockControl, Descriptor, FencingMode, Guarantees, Image,
    ImagePart, ImageRecipe, NodeAddr, NodePorts, NodeSpec, Setup, System, SystemError,
    SystemOptions, Topology,
};

/// Port etcd serves clients on when the runtime picks ports itself.
/// How long a claim to lead may take to settle with a linearizable read (see `status`).
const STATUS_SETTLE_TIMEOUT: Duration = Duration::from_millis(1000);

pub const ETCD_CLIENT_PORT: u16 = 2379;
/// Port etcd's members talk raft on when the runtime picks ports itself.
pub const ETCD_PEER_PORT: u16 = 2380;
/// The etcd binary inside the node (Debian's etcd-server, at the same path in the image).
pub const ETCD_PROGRAM: &str = "/usr/bin/etcd";
/// etcd's command-line client, put in the image for whoever inspects a node.
const ETCDCTL_PROGRAM: &str = "/usr/bin/etcdctl";

/// etcd as splitbrain knows it.
pub static DESCRIPTOR: Descriptor = Descriptor {
    name: "etcd",
    bugs: &[],
    registers: true,
    lease_switch: false,
    runs_local: false,
    clock: &clock,
    docker: true,
    external: true,
    build: &|setup: &Setup| Ok(Arc::new(EtcdSystem::new(setup.fencing))),
    file: None,
    fencing: &[],
    options: &[],
    crash_points: None,
};

/// How a node's wall clock moves.
fn clock() -> ClockControl {
    ClockControl::Fixed {
        reason: ETCD_CLOCK_REFUSAL.into(),
    }
}

/// The image: Debian's etcd-server, and etcdctl where it is installed.
pub fn image() -> ImageRecipe {
    let program = |path: &str, package: &str, optional: bool| ImagePart::Program {
        host: path.into(),
        at: path.into(),
        package: Some(package.into()),
        optional,
    };
    ImageRecipe {
        name: "etcd".into(),
        parts: vec![
            program(ETCD_PROGRAM, "etcd-server", false),
            program(ETCDCTL_PROGRAM, "etcd-client", true),
        ],
    }
}
/// Bound on the grants a system remembers for fencing and release; the oldest go first.
pub const GRANTS_REMEMBERED_MAX: usize = 10_000;

/// Why etcd cannot take clock faults, quoted to the user.
pub const ETCD_CLOCK_REFUSAL: &str = "etcd is a Go program: Go reads the wall clock through \
the vDSO, which libfaketime cannot intercept, and etcd has no clock-offset hook";

/// etcd's raft timing in milliseconds, tuned for fast tests: a new leader within about a
/// second of the old one's loss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdTuning {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
}

impl Default for EtcdTuning {
    fn default() -> Self {
        EtcdTuning {
            heartbeat_interval_ms: 50,
            election_timeout_ms: 500,
        }
    }
}

impl EtcdTuning {
    /// etcd refuses an election timeout under five heartbeats; say so before it starts.
    pub fn validate(&self) -> Result<(), SystemError> {
        if self.heartbeat_interval_ms == 0
            || self.election_timeout_ms < 5 * self.heartbeat_interval_ms
        {
            return Err(SystemError::BadOption(format!(
                "etcd election_timeout_ms ({}) must be at least 5 × heartbeat_interval_ms ({}), which must be at least 1",
                self.election_timeout_ms, self.heartbeat_interval_ms
            )));
        }
        Ok(())
    }
}

/// What one acquire left behind: enough to fence, check and release the grant from any
/// node's client (the workload sends a holder's later calls wherever the leader is).
#[derive(Clone, Debug)]
struct HeldKey {
    election: String,
    key: Vec<u8>,
    lease: i64,
}

/// State every client of one system shares.
#[derive(Debug, Default)]
struct Shared {
    /// Grants by token (the leader key's create revision).
    grants: Mutex<BTreeMap<u64, HeldKey>>,
    /// Member ids as each node's own answers revealed them, to name leaders.
    members: Mutex<HashMap<u64, String>>,
}

impl Shared {
    fn remember(&self, token: u64, held: HeldKey) {
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.insert(token, held);
        while grants.len() > GRANTS_REMEMBERED_MAX {
            grants.pop_first();
        }
    }

    fn grant(&self, token: u64) -> Option<HeldKey> {
        let grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.get(&token).cloned()
    }

    fn member(&self, id: u64) -> Option<String> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.get(&id).cloned()
    }

    fn saw_member(&self, id: u64, name: &str) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.insert(id, name.to_string());
    }
}

/// etcd as a system under test.
#[derive(Clone, Debug)]
pub struct EtcdSystem {
    pub tuning: EtcdTuning,
    pub client_timeout_ms: u64,
    /// How the clients fence writes (the server knows nothing of it).
    pub fencing: FencingMode,
    /// Every key the test touches lives under this prefix, so a run on the user's own
    /// cluster sees neither old runs' keys nor anyone else's.
    pub namespace: String,
    shared: Arc<Shared>,
}

impl EtcdSystem {
    /// An adapter whose keys live under a fresh namespace.
    pub fn new(fencing: FencingMode) -> EtcdSystem {
        EtcdSystem {
            tuning: EtcdTuning::default(),
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            fencing,
            namespace: format!("splitbrain/{:016x}", rand::random::<u64>()),
            shared: Arc::default(),
        }
    }

    fn node_command(
        &self,
        index: usize,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Vec<String> {
        let node = &topology.nodes[index];
        let peers: Vec<String> = topology
            .nodes
            .iter()
            .map(|p| format!("{}=http://{}:{}", p.name, p.host, p.peer_port))
            .collect();
        let client_url = format!("http://{}:{}", node.host, node.client_port);
        let peer_url = format!("http://{}:{}", node.host, node.peer_port);
        let mut argv = vec![ETCD_PROGRAM.to_string()];
        let mut flag = |name: &str, value: String| {
            argv.push(format!("--{name}"));
            argv.push(value);
        };
        flag("name", node.name.clone());
        flag("data-dir", data_dir(options, &node.name));
        let listen = |port: u16| format!("http://{}:{port}", node.listen_host());
        flag("listen-client-urls", listen(node.client_port));
        flag("advertise-client-urls", client_url);
        flag("listen-peer-urls", listen(node.peer_port));
        flag("initial-advertise-peer-urls", peer_url);
        flag("initial-cluster", peers.join(","));
        flag("initial-cluster-state", "new".into());
        flag(
            "initial-cluster-token",
            format!("splitbrain-{:x}", options.seed),
        );
        flag(
            "heartbeat-interval",
            self.tuning.heartbeat_interval_ms.to_string(),
        );
        flag(
            "election-timeout",
            self.tuning.election_timeout_ms.to_string(),
        );
        flag("logger", "zap".into());
        flag("log-outputs", "stderr".into());
        argv.push("--pre-vote".into());
        argv
    }

    fn election_prefix(&self, election: &str) -> String {
        format!("{}/election/{election}", self.namespace)
    }
}

fn data_dir(options: &SystemOptions, node: &str) -> String {
    format!("{}/{node}", options.data_root.trim_end_matches('/'))
}

/// Refuses raftd's options, which mean nothing to another system.
pub(crate) fn refuse_raftd_options(
    system: &str,
    options: &SystemOptions,
) -> Result<(), SystemError> {
    if !options.bugs.is_empty() {
        return Err(SystemError::BadOption(format!(
            "bugs can only be switched on in raftd, not {system} (asked for: {})",
            options.bugs.join(", ")
        )));
    }
    if options.data_root.is_empty() {
        return Err(SystemError::BadOption("data_root is empty".into()));
    }
    Ok(())
}

#[async_trait]
impl System for EtcdSystem {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: ETCD_CLIENT_PORT,
            peer_port: ETCD_PEER_PORT,
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
        refuse_raftd_options("etcd", options)?;
        Ok((0..topology.nodes.len())
            .map(|i| NodeSpec {
                name: topology.nodes[i].name.clone(),
                image: Image::Recipe(image()),
                clock: clock(),
                command: self.node_command(i, topology, options),
                env: Vec::new(),
                data_dir: data_dir(options, &topology.nodes[i].name),
                files: Vec::new(),
            })
            .collect())
    }

    fn guarantees(&self, _options: &SystemOptions) -> Guarantees {
        Guarantees {
            // etcd promises no leader lease to observers: a deposed leader may still
            // report itself leader of its old term.
            exclusive_leadership: false,
            fence_on_grant: true,
            leaderless: false,
        }
    }

    fn version(&self) -> String {
        program_version(std::path::Path::new(ETCD_PROGRAM), "etcd")
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        Ok(Box::new(EtcdClient::new(self, node).await?))
    }
}

/// A client of one etcd member. Two channels: one that asks etcd to refuse requests at
/// once when the member knows no leader (so a cut-off member fails fast instead of
/// hanging), one without that for the member's own view (status, serializable reads).
#[derive(Clone)]
pub struct EtcdClient {
    node: String,
    timeout: Duration,
    fencing: FencingMode,
    system: EtcdSystem,
    ops: etcd_client::Client,
    local: etcd_client::Client,
}

impl EtcdClient {
    /// A client of `node`; the channels connect on first use.
    pub async fn new(system: &EtcdSystem, node: &NodeAddr) -> Result<EtcdClient, SystemError> {
        if system.client_timeout_ms == 0 {
            return Err(SystemError::BadOption("client_timeout_ms is 0".into()));
        }
        let timeout = Duration::from_millis(system.client_timeout_ms);
        let endpoint = format!("http://{}:{}", node.host, node.client_port);
        let connect = |require_leader: bool| {
            let options = ConnectOptions::new()
                .with_connect_timeout(timeout / 2)
                .with_timeout(timeout)
                .with_require_leader(require_leader);
            etcd_client::Client::connect([endpoint.clone()], Some(options))
        };
        let failed = |e: etcd_client::Error| SystemError::Client {
            node: node.name.clone(),
            reason: e.to_string(),
        };
        Ok(EtcdClient {
            node: node.name.clone(),
            timeout,
            fencing: system.fencing,
            system: system.clone(),
            ops: connect(true).await.map_err(failed)?,
            local: connect(false).await.map_err(failed)?,
        })
    }

    fn writes_prefix(&self) -> String {
        format!("{}/writes/", self.system.namespace)
    }

    fn register_key(&self, key: &str) -> String {
        format!("{}/registers/{key}", self.system.namespace)
    }

    fn fence_key(&self, election: &str) -> String {
        format!("{}/fence/{election}", self.system.namespace)
    }

    /// Runs `call` within the client's bound; a timeout is `Err(None)`.
    async fn bounded<T, F>(&self, call: F) -> Result<T, Option<etcd_client::Error>>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        }
    }

    /// The first-created key of an election: the current leader's, if any.
    async fn leader_key(&self, election: &str) -> Outcome<Option<etcd_client::KeyValue>> {
        let prefix = format!("{}/", self.system.election_prefix(election));
        let options = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Create, SortOrder::Ascend)
            .with_limit(1);
        let mut kv = self.ops.kv_client();
        match self.bounded(kv.get(prefix, Some(options))).await {
            Ok(mut answer) => Outcome::Ok(answer.take_kvs().into_iter().next()),
            Err(e) => read_failure(e),
        }
    }

    async fn campaign(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        let ttl_secs = ttl_ms.div_ceil(1000).max(1) as i64;
        let mut lease = self.ops.lease_client();
        let lease_id = match self.bounded(lease.grant(ttl_secs, None)).await {
            Ok(answer) => answer.id(),
            // A lease alone takes no leadership: nothing happened that matters.
            Err(e) => return Outcome::fail(error_name(&e)),
        };
        let name = self.system.election_prefix(election);
        let mut elections = self.ops.election_client();
        match self
            .bounded(elections.campaign(name, client, lease_id))
            .await
        {
            Ok(answer) => match answer.leader() {
                Some(leader) if leader.rev() > 0 => {
                    let token = leader.rev() as u64;
                    let held = HeldKey {
                        election: election.to_string(),
                        key: leader.key().to_vec(),
                        lease: leader.lease(),
                    };
                    self.system.shared.remember(token, held);
                    Outcome::Ok(Grant { token })
                }
                _ => Outcome::info(ErrorCode::MalformedAnswer),
            },
            Err(e) => {
                // Whether we led for an instant is unknown; give the lease back so the
                // queued key does not outlive this call.
                let mut lease = self.ops.lease_client();
                tokio::spawn(async move {
                    let _ = lease.revoke(lease_id).await;
                });
                write_failure(e)
            }
        }
    }

    fn put_write(&self, id: &str, token: Option<u64>) -> TxnOp {
        let value = serde_json::json!({ "token": token }).to_string();
        TxnOp::put(format!("{}{id}", self.writes_prefix()), value, None)
    }

    /// The transaction that commits a write under fencing mode `self.fencing`.
    fn write_txn(
        &self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Result<Txn, String> {
        let put = self.put_write(id, token);
        let (Some(token), Some(election)) = (token, election) else {
            return Ok(Txn::new().and_then([put]));
        };
        match self.fencing {
            FencingMode::None => Ok(Txn::new().and_then([put])),
            FencingMode::Grant => {
                let held = self
                    .system
                    .shared
                    .grant(token)
                    .ok_or(ErrorCode::UnknownGrant.name())?;
                let compare = Compare::create_revision(held.key, CompareOp::Equal, token as i64);
                Ok(Txn::new().when([compare]).and_then([put]))
            }
            FencingMode::Write => {
                let fence = self.fence_key(election);
                let stored = fence_value(token);
                let raise = TxnOp::put(fence.clone(), stored.clone(), None);
                let first = Txn::new()
                    .when([Compare::create_revision(fence.clone(), CompareOp::Equal, 0)])
                    .and_then([raise.clone(), put.clone()]);
                // Fixed-width decimal compares as bytes in numeric order: `≤ token`.
                let not_above = Compare::value(fence, CompareOp::Less, fence_value(token + 1));
                Ok(Txn::new()
                    .when([not_above])
                    .and_then([raise, put])
                    .or_else([TxnOp::txn(first)]))
            }
        }
    }
}

/// A token as the fence key stores it: fixed width, so byte order is numeric order.
fn fence_value(token: u64) -> String {
    format!("{token:020}")
}

/// Whether a transaction, or the one nested in its else branch, took its then branch.
fn txn_succeeded(answer: &etcd_client::TxnResponse) -> bool {
    answer.succeeded()
        || answer.op_responses().iter().any(|r| match r {
            TxnOpResponse::Txn(inner) => inner.succeeded(),
            _ => false,
        })
}

/// etcd's answers that mean the request was refused before it was proposed.
const REFUSALS: [&str; 5] = [
    "etcdserver: no leader",
    "etcdserver: too many requests",
    "etcdserver: not capable",
    "etcdserver: unhealthy cluster",
    "etcdserver: requested lease not found",
];

fn error_name(e: &Option<etcd_client::Error>) -> String {
    let Some(e) = e else {
        return ErrorCode::Timeout.into();
    };
    let text = e.to_string();
    if let Some(refusal) = REFUSALS.iter().find(|r| text.contains(*r)) {
        return refusal.trim_start_matches("etcdserver: ").replace(' ', "-");
    }
    if is_unreachable(&text) {
        return ErrorCode::Unreachable.into();
    }
    match e {
        // tonic's codes, named through Debug so this crate needs no tonic of its own.
        etcd_client::Error::GRpcStatus(s) => match format!("{:?}", s.code()).as_str() {
            "DeadlineExceeded" | "Cancelled" => ErrorCode::Timeout.into(),
            "Unavailable" => ErrorCode::Unavailable.into(),
            other => format!("grpc-{}", other.to_ascii_lowercase()),
        },
        etcd_client::Error::TransportError(_) => ErrorCode::ConnectionLost.into(),
        _ => "error".into(),
    }
}

/// A connection that was never made: nothing was sent.
fn is_unreachable(text: &str) -> bool {
    [
        "Connection refused",
        "tcp connect error",
        "error trying to connect",
        "No route to host",
    ]
    .iter()
    .any(|s| text.contains(s))
}

/// A read that did not answer changed nothing: it failed.
fn read_failure<T>(e: Option<etcd_client::Error>) -> Outcome<T> {
    Outcome::fail(error_name(&e))
}

/// A write that did not answer may still commit: unknown, unless etcd refused it
/// before proposing or it never left.
fn write_failure<T>(e: Option<etcd_client::Error>) -> Outcome<T> {
    let name = error_name(&e);
    let refused = e.as_ref().is_some_and(|e| {
        let text = e.to_string();
        REFUSALS.iter().any(|r| text.contains(r)) || is_unreachable(&text)
    });
    if refused {
        Outcome::fail(name)
    } else {
        Outcome::info(name)
    }
}

#[derive(Deserialize)]
struct StoredWrite {
    #[serde(default)]
    token: Option<u64>,
}

#[async_trait]
impl Client for EtcdClient {
    fn node(&self) -> &str {
        &self.node
    }

    async fn status(&self) -> Outcome<NodeStatus> {
        let mut maintenance = self.local.maintenance_client();
        let mut answer = match self.bounded(maintenance.status()).await {
            Ok(a) => a,
            Err(e) => return read_failure(e),
        };
        let Some(own) = answer.header().map(|h| h.member_id()) else {
            return Outcome::fail(ErrorCode::MalformedAnswer);
        };
        // etcd answers a status's leader from its raft state, which changes at the
        // election, but its term from the last entry it applied: a new leader answers
        // "leader" with the term before its own until its first entry of its term is
        // applied (seen for 200 ms, twice in a row), which reads as two leaders of one
        // term. A linearizable read through the node settles it: the read index needs an
        // entry of the leader's term committed, and the read waits until the node has
        // applied it. So a claim to lead counts with its term only when a status after
        // such a read still claims it; otherwise the node leads in a term not known.
        let mut term = Some(answer.raft_term());
        if answer.leader() == own {
            let settled = tokio::time::timeout(
                self.timeout.min(STATUS_SETTLE_TIMEOUT),
                self.local.kv_client().get(
                    self.writes_prefix(),
                    Some(GetOptions::new().with_count_only()),
                ),
            )
            .await;
            term = None;
            if matches!(settled, Ok(Ok(_))) {
                answer = match self.bounded(maintenance.status()).await {
                    Ok(a) => a,
                    Err(e) => return read_failure(e),
                };
                term = Some(answer.raft_term());
            }
        }
        let shared = &self.system.shared;
        shared.saw_member(own, &self.node);
        let leader_id = answer.leader();
        let role = if leader_id == own {
            Role::Leader
        } else if leader_id == 0 {
            Role::Candidate
        } else {
            Role::Follower
        };
        Outcome::Ok(NodeStatus {
            role,
            term,
            leader: if leader_id == 0 {
                None
            } else {
                shared.member(leader_id)
            },
            applied: Some(answer.raft_applied_index()),
            commit: Some(answer.raft_index()),
            // etcd keeps its vote to itself.
            vote: None,
            last_index: None,
            terms: None,
        })
    }

    /// Held if the election has a leader key; else a campaign on a fresh lease of
    /// `ttl_ms` (rounded up to whole seconds, as etcd counts them), never kept alive: the
    /// grant ends when the lease does, as a stalled holder's would.
    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        match self.leader_key(election).await {
            Outcome::Ok(None) => self.campaign(election, client, ttl_ms).await,
            Outcome::Ok(Some(_)) => Outcome::fail(ErrorCode::Held),
            Outcome::Fail(f) => Outcome::Fail(f),
            Outcome::Info(e) => Outcome::fail(e),
        }
    }

    async fn holding(&self, election: &str, token: u64) -> Outcome<bool> {
        self.leader_key(election)
            .await
            .map(|kv| kv.is_some_and(|kv| kv.create_revision() as u64 == token))
    }

    async fn release(&self, _election: &str, token: u64) -> Outcome<()> {
        let Some(held) = self.system.shared.grant(token) else {
            return Outcome::fail(ErrorCode::NotHolder);
        };
        let key = LeaderKey::new()
            .with_name(self.system.election_prefix(&held.election))
            .with_key(held.key)
            .with_rev(token as i64)
            .with_lease(held.lease);
        let mut elections = self.ops.election_client();
        match self
            .bounded(elections.resign(Some(ResignOptions::new().with_leader(key))))
            .await
        {
            Ok(_) => Outcome::Ok(()),
            Err(e) => write_failure(e),
        }
    }

    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Outcome<Written> {
        let txn = match self.write_txn(id, token, election) {
            Ok(txn) => txn,
            Err(error) => return Outcome::fail(error),
        };
        let mut kv = self.ops.kv_client();
        match self.bounded(kv.txn(txn)).await {
            Ok(answer) if txn_succeeded(&answer) => Outcome::Ok(Written {
                id: id.to_string(),
                token,
            }),
            Ok(_) => Outcome::fail(ErrorCode::StaleToken),
            Err(e) => write_failure(e),
        }
    }

    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        self.read_writes(&self.ops, GetOptions::new()).await
    }

    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        self.read_writes(&self.local, GetOptions::new().with_serializable())
            .await
    }

    /// A linearizable get of the register's key (etcd's default consistency).
    async fn reg_read(&self, key: &str) -> Outcome<Option<i64>> {
        let mut kv = self.ops.kv_client();
        match self.bounded(kv.get(self.register_key(key), None)).await {
            Ok(answer) => match answer.kvs().first() {
                None => Outcome::Ok(None),
                Some(kv) => match register_value(kv.value()) {
                    Some(v) => Outcome::Ok(Some(v)),
                    None => Outcome::fail(ErrorCode::MalformedAnswer),
                },
            },
            Err(e) => read_failure(e),
        }
    }

    async fn reg_write(&self, key: &str, value: i64) -> Outcome<()> {
        let mut kv = self.ops.kv_client();
        let put = kv.put(self.register_key(key), value.to_string(), None);
        match self.bounded(put).await {
            Ok(_) => Outcome::Ok(()),
            Err(e) => write_failure(e),
        }
    }

    /// One transaction: put `to` if the key's value is `from` (a key that does not exist
    /// never compares equal).
    async fn reg_cas(&self, key: &str, from: i64, to: i64) -> Outcome<()> {
        let key = self.register_key(key);
        let txn = Txn::new()
            .when([Compare::value(
                key.clone(),
                CompareOp::Equal,
                from.to_string(),
            )])
            .and_then([TxnOp::put(key, to.to_string(), None)]);
        let mut kv = self.ops.kv_client();
        match self.bounded(kv.txn(txn)).await {
            Ok(answer) if answer.succeeded() => Outcome::Ok(()),
            Ok(_) => Outcome::fail(ErrorCode::CasMismatch),
            Err(e) => write_failure(e),
        }
    }
}

/// A register's value as its key stores it: the decimal integer.
fn register_value(stored: &[u8]) -> Option<i64> {
    std::str::from_utf8(stored).ok()?.parse().ok()
}

impl EtcdClient {
    /// Every write under the namespace, in the order etcd created their keys.
    async fn read_writes(
        &self,
        client: &etcd_client::Client,
        options: GetOptions,
    ) -> Outcome<Vec<LogEntry>> {
        let prefix = self.writes_prefix();
        let options = options
            .with_prefix()
            .with_sort(SortTarget::Create, SortOrder::Ascend);
        let mut kv = client.kv_client();
        let answer = match self.bounded(kv.get(prefix.clone(), Some(options))).await {
            Ok(a) => a,
            Err(e) => return read_failure(e),
        };
        let mut log = Vec::with_capacity(answer.kvs().len());
        for kv in answer.kvs() {
            let (Ok(key), Ok(stored)) = (
                kv.key_str(),
                serde_json::from_slice::<StoredWrite>(kv.value()),
            ) else {
                return Outcome::fail(ErrorCode::MalformedAnswer);
            };
            let id = key.strip_prefix(prefix.as_str()).unwrap_or(key);
            log.push(LogEntry {
                id: id.to_string(),
                token: stored.token,
            });
        }
        Outcome::Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_values_sort_as_bytes_in_numeric_order() {
        let tokens = [0u64, 9, 10, 99, 100, 12_345, u64::MAX];
        for pair in tokens.windows(2) {
            assert!(fence_value(pair[0]).as_bytes() < fence_value(pair[1]).as_bytes());
        }
        assert_eq!(fence_value(7).len(), fence_value(u64::MAX).len());
    }

    #[test]
    fn refusals_fail_and_everything_else_of_a_write_is_unknown() {
        let refused = etcd_client::Error::InvalidArgs("etcdserver: no leader".into());
        assert_eq!(
            write_failure::<()>(Some(refused)),
            Outcome::fail(ErrorCode::NoLeader)
        );
        let refused =
            etcd_client::Error::InvalidArgs("tcp connect error: Connection refused".into());
        assert_eq!(
            write_failure::<()>(Some(refused)),
            Outcome::fail(ErrorCode::Unreachable)
        );
        assert_eq!(write_failure::<()>(None), Outcome::info(ErrorCode::Timeout));
        let odd = etcd_client::Error::Internal("stream reset".into());
        assert_eq!(write_failure::<()>(Some(odd)), Outcome::info("error"));
        assert_eq!(read_failure::<()>(None), Outcome::fail(ErrorCode::Timeout));
    }

    #[test]
    fn tuning_is_checked_the_way_etcd_checks_it() {
        assert!(EtcdTuning::default().validate().is_ok());
        let bad = EtcdTuning {
            heartbeat_interval_ms: 100,
            election_timeout_ms: 400,
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("election_timeout_ms"), "{err}");
    }
}
