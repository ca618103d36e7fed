//! The raftd adapter: node specs carrying raftd's flags. raftd is the node protocol's
//! reference implementation (docs/protocol.md), so its client is the protocol's own.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::built::Built;
use crate::client::{Client, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::protocol::ProtocolClient;
use crate::system::{
    program_version, validate_topology, ClockControl, Descriptor, FencingMode, Guarantees, Image,
    ImagePart, ImageRecipe, NodeAddr, NodePorts, NodeSpec, Setup, System, SystemError,
    SystemOptions, Topology,
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
        Ok(std::sync::Arc::new(RaftdSystem::new(binary)))
    },
    file: None,
    fencing: &[],
    options: &[],
};

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
        }
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
        flag("listen", format!("{}:{}", node.host, node.client_port));
        flag("peer-listen", format!("{}:{}", node.host, node.peer_port));
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
        if leases_on(options) {
            flag("lease-ticks", t.lease_ticks.to_string());
        }
        let mut bugs: std::collections::BTreeSet<String> = options.bugs.iter().cloned().collect();
        bugs.extend(fencing_bugs(options.fencing).iter().map(|b| b.to_string()));
        let exposure = Exposure::for_bugs(&options.bugs);
        for bug in bugs {
            flag("bug", bug);
        }
        flag("seed", node_seed(options.seed, index).to_string());
        if options.fencing == FencingMode::Grant {
            argv.push("--fence-on-grant".into());
        }
        if exposure.no_check_quorum {
            argv.push("--no-check-quorum".into());
        }
        if exposure.no_pre_vote {
            argv.push("--no-pre-vote".into());
        }
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
    ///   that hear a leader, or a node just restarted under a lease, ignore candidates.
    pub fn for_bugs(bugs: &[String]) -> Self {
        let mut e = Exposure::default();
        for bug in bugs {
            match bug.as_str() {
                "lease-without-quorum-check" => {
                    e.no_check_quorum = true;
                    e.lease_without_check_quorum = true;
                }
                "no-step-down" => e.no_check_quorum = true,
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

/// Whether the nodes run with leader leases: as asked, unless a bug rules them out.
pub fn leases_on(options: &SystemOptions) -> bool {
    options.lease && Exposure::for_bugs(&options.bugs).allows_lease()
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
pub const RAFTD_BUGS: [&str; 9] = [
    "vote-twice",
    "no-log-check",
    "no-step-down",
    "commit-old-term",
    "forget-vote",
    "early-ack",
    "no-fencing",
    "wall-clock-lease",
    "lease-without-quorum-check",
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
            exclusive_leadership: leases_on(options),
            // What a user of a lock needs, whatever raftd is asked to enforce: a test
            // with weaker fencing is expected to fail this.
            fence_on_grant: true,
            leaderless: false,
        }
    }

    fn version(&self) -> String {
        program_version(&self.binary, "raftd")
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        let client = ProtocolClient::new(node, self.client_timeout_ms)?;
        Ok(Box::new(client))
    }
}
