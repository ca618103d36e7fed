//! What a system under test asks of a runtime: the nodes to run, each with its image,
//! command, environment, ports and data directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a node can be reached, as the runtime assigned it before any node starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// `n1` … `nN`.
    pub name: String,
    /// The address peers and clients use (a container's or namespace's IP, or 127.0.0.1).
    pub host: String,
    /// The client port.
    pub client_port: u16,
    /// The peer port (raft / quorum traffic).
    pub peer_port: u16,
    /// Extra ports some systems need (ZooKeeper's election port); empty otherwise.
    #[serde(default)]
    pub extra_ports: Vec<u16>,
}

/// The addresses of every node of a cluster, in node order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub nodes: Vec<NodeAddr>,
}

/// Which image (docker) or program tree (netns, local) a node runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// The raftd binary built by cargo, at this path on the host.
    Raftd { binary: PathBuf },
    /// Debian's etcd-server.
    Etcd,
    /// Debian's ZooKeeper on its JVM, with libfaketime.
    Zookeeper,
    /// An image the user built; used as is.
    Custom { image: String },
}

/// Everything a runtime needs to run node `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub image: ImageKind,
    /// argv, program first, as it runs inside the node.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The directory inside the node that must survive kill and start.
    pub data_dir: String,
    /// Files to write before the node first starts: (path inside the node, contents).
    #[serde(default)]
    pub files: Vec<(String, String)>,
}

/// How writes are fenced, as the user asked for it. `Grant`: the store rejects a write
/// whose token is not the current grant's (an etcd compare-and-put on the leader key).
/// `Write`: the store rejects a write whose token is below the largest it has accepted.
/// `None`: the store checks nothing (the naive lock, expected to fail `fence_on_grant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FencingMode {
    #[default]
    Grant,
    Write,
    None,
}

impl FencingMode {
    pub const ALL: [FencingMode; 3] = [FencingMode::Grant, FencingMode::Write, FencingMode::None];

    pub fn name(self) -> &'static str {
        match self {
            FencingMode::Grant => "grant",
            FencingMode::Write => "write",
            FencingMode::None => "none",
        }
    }
}

impl std::str::FromStr for FencingMode {
    type Err = SystemError;

    fn from_str(s: &str) -> Result<Self, SystemError> {
        FencingMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                SystemError::BadOption(format!("fencing mode {s:?} is none of grant, write, none"))
            })
    }
}

/// What the user asked of the system under test, common to every adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemOptions {
    /// Bugs to switch on by name (raftd only; other systems refuse any).
    #[serde(default)]
    pub bugs: Vec<String>,
    /// Leader leases (raftd: `--lease-ticks`); on by default.
    pub lease: bool,
    pub fencing: FencingMode,
    /// Seeds the system's own randomness (raftd's election timeouts) where it has any.
    pub seed: u64,
    /// The directory, inside the node, under which each node keeps its data in a
    /// subdirectory named after it. Local runtimes point it at their temporary directory.
    pub data_root: String,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            bugs: Vec::new(),
            lease: true,
            fencing: FencingMode::Grant,
            seed: 0,
            data_root: "/data".to_string(),
        }
    }
}

/// The guarantees a test holds a system to, decided by the adapter and the user's
/// options (docs/design.md: not by what the system advertises); the checkers' own type.
pub use checkers::Guarantees;

/// The ports each node of a system listens on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePorts {
    /// The client port a runtime should use when it picks ports itself (containers).
    pub client_port: u16,
    pub peer_port: u16,
    /// How many extra ports each node needs (ZooKeeper's election port); 0 otherwise.
    pub extra_ports: usize,
}

/// Errors of the system seam. They are the harness's own (bad options, a client that
/// cannot be built), never the behaviour of the system under test.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("bad system option: {0}")]
    BadOption(String),
    #[error("bad topology: {0}")]
    BadTopology(String),
    #[error("cannot build a client for {node}: {reason}")]
    Client { node: String, reason: String },
}

/// A system under test: what to run for each node, what it guarantees, which faults it
/// cannot take, and how to open a client to one of its nodes.
///
/// A system whose clients must know the user's options takes them when it is built
/// (etcd's fencing lives in its client's compare-and-put transactions, not in the
/// server). Tokens are whatever the system orders grants by: raftd's grant log index,
/// etcd's leader-key create revision, ZooKeeper's czxid of the ephemeral-sequential node.
#[async_trait::async_trait]
pub trait System: Send + Sync {
    /// `raftd`, `etcd`, `zookeeper`: used in result directory names and `test.json`.
    fn name(&self) -> &'static str;
    fn ports(&self) -> NodePorts;
    /// One spec per node of `topology`, in node order. Refuses options the system
    /// cannot honour (an unknown bug, a fencing mode it cannot provide).
    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError>;
    fn guarantees(&self, options: &SystemOptions) -> Guarantees;
    /// The fault kinds this system cannot take wherever it runs, each with the reason,
    /// quoted to the user when a schedule needs one.
    fn refused_faults(&self) -> std::collections::BTreeMap<nemesis::FaultKind, String>;
    /// A client bound to `node`. Building it sends nothing.
    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn crate::client::Client>, SystemError>;
}

/// Checks a topology has nodes and that their names are unique and non-empty.
pub fn validate_topology(topology: &Topology) -> Result<(), SystemError> {
    if topology.nodes.is_empty() {
        return Err(SystemError::BadTopology("it has no nodes".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for node in &topology.nodes {
        if node.name.is_empty() || node.name.contains(char::is_whitespace) {
            return Err(SystemError::BadTopology(format!(
                "node name {:?} is empty or holds whitespace",
                node.name
            )));
        }
        if !names.insert(node.name.as_str()) {
            return Err(SystemError::BadTopology(format!(
                "node name {} appears twice",
                node.name
            )));
        }
    }
    Ok(())
}
