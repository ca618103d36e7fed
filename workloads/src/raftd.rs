//! The raftd adapter: node specs carrying raftd's flags. raftd is the node protocol's
//! reference implementation (docs/protocol.md), so its client is the protocol's own.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use checkers::{ErrorCode, LogEntry};

use crate::built::Built;
use crate::client::{Client, Grant, NodeStatus, Outcome, Written, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::protocol::ProtocolClient;
use crate::system::{
    program_version, validate_topology, ClockControl, Descriptor, FencingMode, Guarantees, Image,
    ImagePart, ImageRecipe, NodeAddr, NodePorts, NodeSpec, Setup, System, SystemError,
    SystemOption, SystemOptions, Topology,
};

/// raftd as splitbrain knows it.
pub static DESCRIPTOR: Descriptor = Descriptor {
    name: "raftd",
    bugs: &RAFTD_BUGS,
    registers: true,
    lease_switch: true,
    runs_local: true,
    clock: &clock,
    docker: true,
    external: false,
    build: &|setup: &Setup| {
        let binary = match (find_binary(), &setup.image) {
            (Ok(binary), _) => binary,
            // The user's image brings its own raftd; this machine needs none.
            (Err(_), Some(_)) => PathBuf::from(RAFTD_IN_IMAGE),
            (Err(e), None) => return Err(e),
        };
        let mut system = RaftdSystem::new(binary);
        system.pre_vote = Switch::from_options(&setup.options, "pre-vote");
        system.check_quorum = Switch::from_options(&setup.options, "check-quorum");
        system.append_batch = setup
            .options
            .get("append-batch")
            .and_then(|v| v.parse().ok());
        Ok(std::sync::Arc::new(system))
    },
    file: None,
    fencing: &[],
    options: &[
        SystemOption {
            name: "pre-vote",
            help: "on or off: a pre-vote round before each campaign (default: drawn from the seed, off where a bug needs it off)",
            check: check_switch,
        },
        SystemOption {
            name: "check-quorum",
            help: "on or off: a leader steps down without a quorum's contact (default: on under a lease, which needs it, else drawn from the seed; off where a bug needs it off)",
            check: check_switch,
        },
        SystemOption {
            name: "append-batch",
            help: "most entries one append carries, 1 or more (default: drawn from the seed among 1, 4 and 64, raftd's own; a batch of one splits a new leader's older entries from its first entry of its own term)",
            check: check_append_batch,
        },
    ],
    crash_points: Some(RAFTD_CRASH_POINT_PATH),
};

fn check_append_batch(value: &str) -> Result<(), String> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err(format!("{value:?} is not a whole number of at least 1")),
    }
}

/// The append batches a seed draws from: 64 is raftd's own; with one or four a new
/// leader's older entries can reach a quorum before its entry of its own term.
pub const APPEND_BATCHES: [u64; 3] = [1, 4, 64];

fn check_switch(value: &str) -> Result<(), String> {
    Switch::parse(value).map(|_| ())
}

/// Whether one of raftd's protections is on, off, or drawn from the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Switch {
    #[default]
    Drawn,
    On,
    Off,
}

impl Switch {
    pub fn parse(value: &str) -> Result<Switch, String> {
        match value {
            "on" => Ok(Switch::On),
            "off" => Ok(Switch::Off),
            _ => Err(format!("{value:?} is neither on nor off")),
        }
    }

    /// The switch `--system-option NAME=…` gave, or drawn.
    fn from_options(options: &std::collections::BTreeMap<String, String>, name: &str) -> Switch {
        options
            .get(name)
            .and_then(|v| Switch::parse(v).ok())
            .unwrap_or_default()
    }
}

/// Keeps the protections' draws apart from every other draw of the seed.
const PRE_VOTE_SALT: u64 = 0x7072_652d_766f_7465;
const CHECK_QUORUM_SALT: u64 = 0x0063_6865_636b_2d71;
const APPEND_BATCH_SALT: u64 = 0x6170_7065_6e64_2d62;

/// raftd's protections as a run starts it: what the user set, else what a bug needs
/// off, else what a claimed lease needs on, else a coin the seed tosses — a bug that one
/// protection hides in one configuration is a bug all the same, and users ship others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protections {
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Leader leases: asked for, and check-quorum on (or the bug that keeps a lease
    /// without it).
    pub lease: bool,
    /// Most entries per append (`--max-entries-per-append`).
    pub append_batch: u64,
    pre_vote_why: &'static str,
    check_quorum_why: &'static str,
    append_batch_why: &'static str,
}

impl Protections {
    pub fn of(
        pre_vote: Switch,
        check_quorum: Switch,
        append_batch: Option<u64>,
        options: &SystemOptions,
    ) -> Protections {
        let exposure = Exposure::for_bugs(&options.bugs);
        let coin = |salt: u64| crate::seed::mix(options.seed, salt) & 1 == 1;
        let (pre_vote, pre_vote_why) = match pre_vote {
            Switch::On => (true, "set"),
            Switch::Off => (false, "set"),
            Switch::Drawn if exposure.no_pre_vote => (false, "the bug needs it off"),
            Switch::Drawn => (coin(PRE_VOTE_SALT), "drawn from the seed"),
        };
        let (check_quorum, check_quorum_why) = match check_quorum {
            Switch::On => (true, "set"),
            Switch::Off => (false, "set"),
            Switch::Drawn if exposure.no_check_quorum => (false, "the bug needs it off"),
            Switch::Drawn if options.lease => (true, "the lease needs it"),
            Switch::Drawn => (coin(CHECK_QUORUM_SALT), "drawn from the seed"),
        };
        let (append_batch, append_batch_why) = match append_batch {
            Some(n) => (n, "set"),
            None if exposure.one_entry_per_append => (1, "the bug needs it"),
            None => {
                let i =
                    crate::seed::mix(options.seed, APPEND_BATCH_SALT) % APPEND_BATCHES.len() as u64;
                (APPEND_BATCHES[i as usize], "drawn from the seed")
            }
        };
        Protections {
            pre_vote,
            check_quorum,
            lease: options.lease && (check_quorum || exposure.lease_without_check_quorum),
            append_batch,
            pre_vote_why,
            check_quorum_why,
            append_batch_why,
        }
    }

    fn describe(&self, options: &SystemOptions) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        let lease = if self.lease {
            "lease on".to_string()
        } else if options.lease {
            "no lease (check-quorum is off)".to_string()
        } else {
            "no lease".to_string()
        };
        format!(
            "raftd: pre-vote {} ({}), check-quorum {} ({}), {lease}, {} per append ({})",
            on(self.pre_vote),
            self.pre_vote_why,
            on(self.check_quorum),
            self.check_quorum_why,
            match self.append_batch {
                1 => "1 entry".to_string(),
                n => format!("{n} entries"),
            },
            self.append_batch_why,
        )
    }
}

/// How a node's wall clock moves.
fn clock() -> ClockControl {
    ClockControl::AdminCall {
        path: RAFTD_CLOCK_PATH.into(),
    }
}

/// Where raftd sits inside its image, and the program every node's command names (the
/// process runtimes run the host binary the recipe maps it to). A user's image
/// (`--image`) must hold raftd at this path too.
pub const RAFTD_IN_IMAGE: &str = "/usr/local/bin/raftd";

/// raftd's admin call that offsets its wall clock (raftd/API.md).
pub const RAFTD_CLOCK_PATH: &str = "/admin/clock";
/// The admin call that arms raftd's crash points (raftd/API.md).
pub const RAFTD_CRASH_POINT_PATH: &str = "/admin/crash-point";

/// The raftd binary as splitbrain builds it.
pub const RAFTD: Built = Built {
    what: "the raftd binary",
    file: "raftd",
    package: "raftd",
    member: "raftd",
    target: &["--bin", "raftd"],
    env: "SPLITBRAIN_RAFTD",
};

/// The raftd binary: `$SPLITBRAIN_RAFTD`, else next to the running executable, else
/// built there when that directory is this workspace's target ([`Built::find`]).
pub fn find_binary() -> Result<PathBuf, SystemError> {
    RAFTD.find()
}

/// raftd's timing, in ticks of `tick_ms`. The defaults are tuned for fast tests: an
/// election within a second of a leader's loss, with the lease a margin shorter than the
/// shortest election timeout so that bounded clock drift cannot overlap two leaders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftdTuning {
    pub tick_ms: u64,
    pub election_ticks_min: u64,
    pub election_ticks_max: u64,
    pub heartbeat_ticks: u64,
    /// Used when `SystemOptions::lease` is on.
    pub lease_ticks: u64,
    /// How long raftd lets a request wait for its commit before answering 504; below
    /// the client's timeout, so that raftd's own verdict usually arrives first.
    pub request_timeout_ms: u64,
}

impl Default for RaftdTuning {
    fn default() -> Self {
        RaftdTuning {
            tick_ms: 50,
            election_ticks_min: 10,
            election_ticks_max: 20,
            heartbeat_ticks: 2,
            lease_ticks: 8,
            request_timeout_ms: 1000,
        }
    }
}

impl RaftdTuning {
    /// The same bounds raftd's own configuration checks, caught before any node starts.
    pub fn validate(&self) -> Result<(), SystemError> {
        let bad = |what: String| Err(SystemError::BadOption(what));
        if self.tick_ms == 0 {
            return bad("raftd tick_ms is 0; it must be at least 1".into());
        }
        if self.heartbeat_ticks == 0 || self.election_ticks_min <= self.heartbeat_ticks {
            return bad(format!(
                "raftd heartbeat_ticks ({}) must be at least 1 and below election_ticks_min ({})",
                self.heartbeat_ticks, self.election_ticks_min
            ));
        }
        if self.election_ticks_max <= self.election_ticks_min {
            return bad(format!(
                "raftd election_ticks_max ({}) must exceed election_ticks_min ({})",
                self.election_ticks_max, self.election_ticks_min
            ));
        }
        if self.lease_ticks == 0 || self.lease_ticks >= self.election_ticks_min {
            return bad(format!(
                "raftd lease_ticks ({}) must be at least 1 and below election_ticks_min ({})",
                self.lease_ticks, self.election_ticks_min
            ));
        }
        if self.request_timeout_ms == 0 {
            return bad("raftd request_timeout_ms is 0; it must be at least 1".into());
        }
        Ok(())
    }
}

/// The built-in Raft election service.
#[derive(Clone, Debug)]
pub struct RaftdSystem {
    /// The raftd binary on this machine; images and commands place it at [`RAFTD_IN_IMAGE`].
    pub binary: PathBuf,
    pub tuning: RaftdTuning,
    pub client_timeout_ms: u64,
    pub pre_vote: Switch,
    pub check_quorum: Switch,
    /// Most entries per append, or drawn from the seed ([`APPEND_BATCHES`]).
    pub append_batch: Option<u64>,
}

/// Port raftd serves clients on when the runtime picks ports itself.
pub const RAFTD_CLIENT_PORT: u16 = 8080;
/// Port raftd's peers talk on when the runtime picks ports itself.
pub const RAFTD_PEER_PORT: u16 = 7000;

impl RaftdSystem {
    /// The image: the binary this machine built (no Debian package brings it).
    pub fn image(&self) -> ImageRecipe {
        ImageRecipe {
            name: "raftd".into(),
            parts: vec![ImagePart::Program {
                host: self.binary.clone(),
                at: RAFTD_IN_IMAGE.into(),
                package: None,
                optional: false,
            }],
        }
    }

    pub fn new(binary: impl Into<PathBuf>) -> RaftdSystem {
        RaftdSystem {
            binary: binary.into(),
            tuning: RaftdTuning::default(),
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            pre_vote: Switch::Drawn,
            check_quorum: Switch::Drawn,
            append_batch: None,
        }
    }

    /// The protections this run starts raftd with.
    pub fn protections(&self, options: &SystemOptions) -> Protections {
        Protections::of(self.pre_vote, self.check_quorum, self.append_batch, options)
    }

    fn node_command(
        &self,
        index: usize,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Vec<String> {
        let node = &topology.nodes[index];
        let t = &self.tuning;
        let mut argv = vec![RAFTD_IN_IMAGE.to_string()];
        let mut flag = |name: &str, value: String| {
            argv.push(format!("--{name}"));
            argv.push(value);
        };
        flag("id", node.name.clone());
        flag("data-dir", data_dir(options, &node.name));
        flag(
            "listen",
            format!("{}:{}", node.listen_host(), node.client_port),
        );
        flag(
            "peer-listen",
            format!("{}:{}", node.listen_host(), node.peer_port),
        );
        for peer in &topology.nodes {
            flag(
                "peer",
                format!(
                    "{}={}:{}/{}:{}",
                    peer.name, peer.host, peer.peer_port, peer.host, peer.client_port
                ),
            );
        }
        flag("tick-ms", t.tick_ms.to_string());
        flag("election-ticks-min", t.election_ticks_min.to_string());
        flag("election-ticks-max", t.election_ticks_max.to_string());
        flag("heartbeat-ticks", t.heartbeat_ticks.to_string());
        flag("request-timeout-ms", t.request_timeout_ms.to_string());
        let protections = self.protections(options);
        if protections.lease {
            flag("lease-ticks", t.lease_ticks.to_string());
        }
        let mut bugs: std::collections::BTreeSet<String> = options.bugs.iter().cloned().collect();
        bugs.extend(fencing_bugs(options.fencing).iter().map(|b| b.to_string()));
        for bug in bugs {
            flag("bug", bug);
        }
        flag("seed", node_seed(options.seed, index).to_string());
        if options.fencing == FencingMode::Grant {
            argv.push("--fence-on-grant".into());
        }
        if !protections.check_quorum {
            argv.push("--no-check-quorum".into());
        }
        if !protections.pre_vote {
            argv.push("--no-pre-vote".into());
        }
        argv.push("--max-entries-per-append".into());
        argv.push(protections.append_batch.to_string());
        argv
    }
}

/// How a run with bugs starts raftd: with the protections that would hide a bug switched
/// off, since a cluster without them is where the bug does its harm (as Jepsen runs a
/// system in the configuration that exposes what it tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// `--no-check-quorum`, and so no leases (raftd takes a lease only with
    /// check-quorum) unless the bug is the lease accepted without it.
    pub no_check_quorum: bool,
    /// `--no-pre-vote`.
    pub no_pre_vote: bool,
    /// The lease is kept although check-quorum is off.
    pub lease_without_check_quorum: bool,
    /// One entry per append: a new leader's first entry of its term must reach a
    /// follower apart from the older tail it sends, or the tail commits with it as Raft
    /// allows (`commit-old-term`).
    pub one_entry_per_append: bool,
}

impl Exposure {
    /// What `bugs` need switched off:
    /// - `lease-without-quorum-check`: the bug's other half is a lease accepted without
    ///   check-quorum, which is what lets a cut-off leader keep its lease (with
    ///   check-quorum on it steps down before anyone else wins);
    /// - `no-step-down`: a leader that ignores higher terms still steps down by
    ///   check-quorum (the higher-term answers it ignores are no acknowledgements), so the
    ///   bug only shows as a leader that never steps down in a cluster without it;
    /// - `vote-twice`, `forget-vote`, `no-log-check`: they need a candidate in a term
    ///   where a voter already voted, or a candidate that fell behind, to be heard.
    ///   Pre-vote keeps a cut-off node from raising its term (so two candidates rarely
    ///   share one, and a lagging node never disrupts), and check-quorum makes followers
    ///   that hear a leader, or a node just restarted under a lease, ignore candidates;
    /// - `commit-old-term`: one entry per append, or a new leader's no-op reaches each
    ///   follower with the older tail and commits it as Raft allows.
    pub fn for_bugs(bugs: &[String]) -> Self {
        let mut e = Exposure::default();
        for bug in bugs {
            match bug.as_str() {
                "lease-without-quorum-check" => {
                    e.no_check_quorum = true;
                    e.lease_without_check_quorum = true;
                }
                "no-step-down" => e.no_check_quorum = true,
                "commit-old-term" => e.one_entry_per_append = true,
                "vote-twice" | "forget-vote" | "no-log-check" => {
                    e.no_check_quorum = true;
                    e.no_pre_vote = true;
                }
                _ => {}
            }
        }
        e
    }

    /// Whether leases can be on.
    pub fn allows_lease(self) -> bool {
        !self.no_check_quorum || self.lease_without_check_quorum
    }
}

/// Fencing `none` is raftd's `no-fencing` bug: its state machine then takes any token.
fn fencing_bugs(fencing: FencingMode) -> &'static [&'static str] {
    match fencing {
        FencingMode::None => &["no-fencing"],
        FencingMode::Grant | FencingMode::Write => &[],
    }
}

fn data_dir(options: &SystemOptions, node: &str) -> String {
    format!("{}/{node}", options.data_root.trim_end_matches('/'))
}

/// Each node's own seed, so that nodes of one run draw different election timeouts.
fn node_seed(seed: u64, index: usize) -> u64 {
    crate::seed::mix(seed, index as u64 + 1)
}

/// raftd's catalogue of deliberate bugs, by name. Kept here rather than taken from the
/// raftd crate so that this crate builds without raftd's; a test checks the two agree.
pub const RAFTD_BUGS: [&str; 10] = [
    "vote-twice",
    "no-log-check",
    "no-step-down",
    "commit-old-term",
    "forget-vote",
    "early-ack",
    "no-fencing",
    "wall-clock-lease",
    "lease-without-quorum-check",
    "ack-before-sync",
];

fn validate_bugs(bugs: &[String]) -> Result<(), SystemError> {
    for bug in bugs {
        if !RAFTD_BUGS.contains(&bug.as_str()) {
            return Err(SystemError::BadOption(format!(
                "unknown raftd bug {bug:?}; known bugs: {}",
                RAFTD_BUGS.join(", ")
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl System for RaftdSystem {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: RAFTD_CLIENT_PORT,
            peer_port: RAFTD_PEER_PORT,
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
        validate_bugs(&options.bugs)?;
        if self.check_quorum == Switch::Off && options.lease && !self.protections(options).lease {
            return Err(SystemError::BadOption(
                "check-quorum=off leaves raftd no lease (a lease needs check-quorum); add --no-lease or drop the option".into(),
            ));
        }
        if options.data_root.is_empty() {
            return Err(SystemError::BadOption("data_root is empty".into()));
        }
        let specs = (0..topology.nodes.len())
            .map(|i| NodeSpec {
                name: topology.nodes[i].name.clone(),
                image: Image::Recipe(self.image()),
                clock: clock(),
                command: self.node_command(i, topology, options),
                env: Vec::new(),
                data_dir: data_dir(options, &topology.nodes[i].name),
                files: Vec::new(),
            })
            .collect();
        Ok(specs)
    }

    fn guarantees(&self, options: &SystemOptions) -> Guarantees {
        Guarantees {
            exclusive_leadership: self.protections(options).lease,
            // What a user of a lock needs, whatever raftd is asked to enforce: a test
            // with weaker fencing is expected to fail this.
            fence_on_grant: true,
            leaderless: false,
        }
    }

    fn configuration(&self, options: &SystemOptions) -> Option<String> {
        Some(self.protections(options).describe(options))
    }

    fn version(&self) -> String {
        program_version(&self.binary, "raftd")
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        let client = RaftdClient::new(node, self.client_timeout_ms)?;
        Ok(Box::new(client))
    }
}

/// raftd's client: the node protocol's calls, and raftd's registers (raftd/API.md:
/// `GET /registers/{key}`, `PUT /registers/{key}`, `POST /registers/{key}/cas`), whose
/// answers map onto outcomes as every other call's do: 409 `cas-mismatch` and 421
/// `not-leader` (with its leader) fail, a timeout or a connection lost after sending is
/// unknown.
#[derive(Clone, Debug)]
pub struct RaftdClient {
    protocol: ProtocolClient,
}

/// The answer of every register call.
#[derive(Deserialize)]
struct RegisterAnswer {
    value: Option<i64>,
}

impl RaftdClient {
    /// A client of `node` at `http://HOST:CLIENT_PORT`.
    pub fn new(node: &NodeAddr, client_timeout_ms: u64) -> Result<RaftdClient, SystemError> {
        Ok(RaftdClient {
            protocol: ProtocolClient::new(node, client_timeout_ms)?,
        })
    }

    /// The path of register `key`, or a failure when raftd would refuse the key (nothing
    /// is sent).
    fn register_path(key: &str) -> Result<String, Outcome<()>> {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if key.is_empty() || !key.chars().all(url_safe) {
            return Err(Outcome::fail(ErrorCode::BadRequest));
        }
        Ok(format!("/registers/{key}"))
    }
}

#[async_trait]
impl Client for RaftdClient {
    fn node(&self) -> &str {
        self.protocol.node()
    }

    async fn status(&self) -> Outcome<NodeStatus> {
        self.protocol.status().await
    }

    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        self.protocol.acquire(election, client, ttl_ms).await
    }

    async fn holding(&self, election: &str, token: u64) -> Outcome<bool> {
        self.protocol.holding(election, token).await
    }

    async fn release(&self, election: &str, token: u64) -> Outcome<()> {
        self.protocol.release(election, token).await
    }

    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Outcome<Written> {
        self.protocol.write(id, token, election).await
    }

    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        self.protocol.read().await
    }

    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        self.protocol.read_local().await
    }

    async fn reg_read(&self, key: &str) -> Outcome<Option<i64>> {
        let path = match Self::register_path(key) {
            Ok(p) => p,
            Err(refused) => return refused.map(|()| None),
        };
        self.protocol
            .get::<RegisterAnswer>(&path)
            .await
            .map(|a| a.value)
    }

    async fn reg_write(&self, key: &str, value: i64) -> Outcome<()> {
        let path = match Self::register_path(key) {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let body = serde_json::json!({ "value": value });
        self.protocol
            .put::<_, RegisterAnswer>(&path, &body)
            .await
            .map(|_| ())
    }

    async fn reg_cas(&self, key: &str, from: i64, to: i64) -> Outcome<()> {
        let path = match Self::register_path(key) {
            Ok(p) => p + "/cas",
            Err(refused) => return refused,
        };
        let body = serde_json::json!({ "from": from, "to": to });
        self.protocol
            .post::<_, RegisterAnswer>(&path, &body)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::client::Failure;

    const TIMEOUT_MS: u64 = 2000;

    fn loopback(port: u16) -> NodeAddr {
        NodeAddr {
            bind: None,
            name: "n1".into(),
            host: "127.0.0.1".into(),
            client_port: port,
            peer_port: 1,
            extra_ports: Vec::new(),
        }
    }

    /// A one-node raftd served in this process on loopback; returns its client port.
    async fn one_node_raftd(dir: &std::path::Path) -> u16 {
        use raftd::server::{bind, driver::DriverSetup, run, ServerConfig};
        let mut core = raftd::core::Config::new("n1", vec!["n1".into()]);
        core.tick_ms = 10;
        let config = ServerConfig {
            setup: DriverSetup {
                core,
                data_dir: dir.to_path_buf(),
                client_addrs: Default::default(),
            },
            listen: "127.0.0.1:0".into(),
            peer_listen: "127.0.0.1:0".into(),
            raft_addrs: Vec::new(),
            request_timeout: Duration::from_millis(1000),
        };
        let bound = bind(&config).await.unwrap();
        let port = bound.client_addr().unwrap().port();
        tokio::spawn(run(config, bound));
        port
    }

    /// A server that answers every request with `status` and `body`, or never (`None`).
    async fn scripted(answer: Option<(u16, &'static str)>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                match answer {
                    Some((status, body)) => {
                        let text = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(text.as_bytes()).await;
                    }
                    None => held.push(s),
                }
            }
        });
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registers_of_a_real_raftd_read_write_and_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let port = one_node_raftd(dir.path()).await;
        let c = RaftdClient::new(&loopback(port), TIMEOUT_MS).unwrap();
        // The node elects itself within a few ticks; until then it answers not-leader.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match c.reg_read("r0").await {
                Outcome::Ok(v) => {
                    assert_eq!(v, None, "a key never written reads null");
                    break;
                }
                other => assert!(std::time::Instant::now() < deadline, "{other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mismatch = Outcome::fail(ErrorCode::CasMismatch);
        assert_eq!(
            c.reg_cas("r0", 0, 1).await,
            mismatch,
            "an absent key never matches"
        );
        assert_eq!(c.reg_write("r0", 3).await, Outcome::Ok(()));
        assert_eq!(c.reg_read("r0").await, Outcome::Ok(Some(3)));
        assert_eq!(c.reg_cas("r0", 2, 4).await, mismatch);
        assert_eq!(
            c.reg_read("r0").await,
            Outcome::Ok(Some(3)),
            "a mismatch changes nothing"
        );
        assert_eq!(c.reg_cas("r0", 3, -4).await, Outcome::Ok(()));
        assert_eq!(c.reg_read("r0").await, Outcome::Ok(Some(-4)));
        assert_eq!(c.reg_read("r1").await, Outcome::Ok(None), "keys are apart");
        // A key raftd would refuse is refused here, before anything is sent.
        assert_eq!(
            c.reg_write("a/b", 1).await,
            Outcome::fail(ErrorCode::BadRequest)
        );
        assert_eq!(c.reg_read("").await, Outcome::fail(ErrorCode::BadRequest));
    }

    #[tokio::test]
    async fn register_refusals_fail_with_the_leader_and_silence_is_unknown() {
        let body = r#"{"error":"not-leader","reason":"ask n3","leader":"n3","leader_addr":"10.0.0.4:8080"}"#;
        let c = RaftdClient::new(&loopback(scripted(Some((421, body))).await), 500).unwrap();
        let not_leader = Failure {
            error: "not-leader".into(),
            leader: Some("n3".into()),
        };
        assert_eq!(
            c.reg_write("r1", 2).await,
            Outcome::Fail(not_leader.clone())
        );
        assert_eq!(c.reg_read("r1").await, Outcome::Fail(not_leader.clone()));
        assert_eq!(c.reg_cas("r1", 1, 2).await, Outcome::Fail(not_leader));
        let body = r#"{"error":"timeout","reason":"proposed; the outcome is unknown"}"#;
        let c = RaftdClient::new(&loopback(scripted(Some((504, body))).await), 500).unwrap();
        assert_eq!(c.reg_cas("r1", 1, 2).await, Outcome::info("timeout"));
        let c = RaftdClient::new(&loopback(scripted(None).await), 300).unwrap();
        assert_eq!(c.reg_write("r1", 2).await, Outcome::info("timeout"));
        assert_eq!(c.reg_cas("r1", 1, 2).await, Outcome::info("timeout"));
    }
}
