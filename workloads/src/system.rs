//! What a system under test asks of a runtime: the nodes to run, each with its image,
//! command, environment, ports and data directory.

use std::path::{Path, PathBuf};

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
    /// The address the node binds its ports to, when that is not `host`: a node behind
    /// published ports on a Docker host binds `0.0.0.0` and is reached at its host's
    /// address. `None`: it binds `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

impl NodeAddr {
    /// The address the node listens on.
    pub fn listen_host(&self) -> &str {
        self.bind.as_deref().unwrap_or(&self.host)
    }
}

/// The addresses of every node of a cluster, in node order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub nodes: Vec<NodeAddr>,
}

/// What a node runs: an image splitbrain assembles from this machine's files by a
/// recipe, or one the user built.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Image {
    /// Assembled from host files (no registry is ever needed); the process runtimes run
    /// the same files in place.
    Recipe(ImageRecipe),
    /// An image the user built (`--image`, a system file's `docker.image`); used as is,
    /// by the docker runtime only.
    Prebuilt { image: String },
    /// Built by the docker runtime from a user's Dockerfile (a system file's
    /// `docker.dockerfile`): the context directory is sent as it is, and the tag is
    /// `splitbrain/<name>:<hash of the context>`.
    Dockerfile {
        name: String,
        context: PathBuf,
        /// The Dockerfile's path within the context.
        dockerfile: String,
    },
    /// Nothing to assemble: the command runs this machine's programs as they are (a
    /// system file's `node.command` on the process runtimes).
    Host,
}

/// How to assemble a system's image from this machine's files: `FROM scratch` plus the
/// parts, each with the libraries it loads. The runtime knows how to gather each kind of
/// part; which parts a system needs is the adapter's to say.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRecipe {
    /// The image's short name: the tag is `splitbrain/<name>:<hash of its contents>`.
    pub name: String,
    pub parts: Vec<ImagePart>,
}

/// One part of an image recipe. A host file that is missing is asked for by the Debian
/// package named here (`None`: a file splitbrain builds itself, such as raftd).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImagePart {
    /// A program or shared library, and every library `ldd` says it loads, placed at
    /// `at` inside the image. An `optional` one that is missing is left out.
    Program {
        host: PathBuf,
        at: String,
        package: Option<String>,
        optional: bool,
    },
    /// The JVM `java` resolves to on this machine: its tree (without docs and headers),
    /// the libraries it loads, and `java` itself at the same path.
    Jvm { java: PathBuf, package: String },
    /// Jars, and transitively every jar their manifests' `Class-Path` names (read with
    /// `unzip`); a missing root is asked for by `package`.
    Jars {
        roots: Vec<PathBuf>,
        package: String,
    },
}

impl ImageRecipe {
    /// The host file the recipe places at `path` inside the node (a program, or a
    /// library preloaded into one): the process runtimes run a node's command, and
    /// preload its clock library, from it.
    pub fn host_file(&self, path: &str) -> Option<&Path> {
        self.parts.iter().find_map(|part| match part {
            ImagePart::Program { host, at, .. } if at == path => Some(host.as_path()),
            _ => None,
        })
    }

    /// The Debian package that brings a host file of this recipe, if one is named.
    pub fn package_of(&self, file: &Path) -> Option<&str> {
        self.parts.iter().find_map(|part| match part {
            ImagePart::Program { host, package, .. } if host == file => package.as_deref(),
            ImagePart::Jvm { java, package } if java == file => Some(package.as_str()),
            ImagePart::Jars { roots, package } if roots.iter().any(|r| r == file) => {
                Some(package.as_str())
            }
            _ => None,
        })
    }
}

impl NodeSpec {
    /// The program that runs `command[0]` on this machine (the process runtimes).
    pub fn host_program(&self) -> Option<PathBuf> {
        Some(self.host_file(self.command.first()?))
    }

    /// The file on this machine for `path` inside the node (the process runtimes): the
    /// host file the recipe places at that path, else the path itself.
    pub fn host_file(&self, path: &str) -> PathBuf {
        let mapped = match &self.image {
            Image::Recipe(recipe) => recipe.host_file(path),
            Image::Prebuilt { .. } | Image::Dockerfile { .. } | Image::Host => None,
        };
        mapped.map_or_else(|| PathBuf::from(path), Path::to_path_buf)
    }
}

/// How a node's wall clock can be moved: said by the adapter, carried out by the
/// runtime, so that no runtime knows any system.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockControl {
    /// An HTTP call the node serves on its client port: `POST <path>` with the JSON body
    /// `{"offset_ms": N, "rate": 1.0}`, answered 2xx once the offset is in force
    /// (raftd's `/admin/clock`).
    AdminCall { path: String },
    /// libfaketime preloaded from `library` (its path inside the node): the runtime
    /// writes the offset to a control file the library reads. Only a dynamically linked
    /// program that reads the clock through libc is moved (a JVM; not Go, nor
    /// a program whose allocator reads the clock while libfaketime starts, as Debian's
    /// jemalloc-linked Redis does: [`ClockControl::Preload`] moves those).
    Faketime { library: String },
    /// splitbrain's own wall-clock shim (libsplitbrain_clock.so) preloaded from
    /// `library` (its path inside the node); moves the wall clock of any dynamically
    /// linked program reading it through libc, including programs whose allocator reads
    /// the clock at start (Debian's jemalloc-linked Redis), which libfaketime cannot.
    /// The runtime writes the offset to a control file, as for libfaketime, and names it
    /// in `SPLITBRAIN_CLOCK_FILE`.
    Preload { library: String },
    /// There is no way; the reason is quoted to a user who asks for clock faults.
    Fixed { reason: String },
}

impl ClockControl {
    /// The library preloaded into the node's programs to move their clock, for the
    /// controls that read a control file the runtime writes.
    pub fn preload_library(&self) -> Option<&str> {
        match self {
            ClockControl::Faketime { library } | ClockControl::Preload { library } => Some(library),
            ClockControl::AdminCall { .. } | ClockControl::Fixed { .. } => None,
        }
    }
}

/// Everything a runtime needs to run node `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub image: Image,
    /// How its wall clock moves, for clock faults.
    pub clock: ClockControl,
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
    /// The nodes run in containers (docker), not as this machine's processes.
    #[serde(default)]
    pub in_container: bool,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            bugs: Vec::new(),
            lease: true,
            fencing: FencingMode::Grant,
            seed: 0,
            data_root: "/data".to_string(),
            in_container: false,
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
    /// Something the nodes are built from is not on this machine.
    #[error("{what} is missing: {reason}")]
    Missing { what: String, reason: String },
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
    /// What splitbrain knows of the system without an adapter.
    fn descriptor(&self) -> &'static Descriptor;
    /// `raftd`, `etcd`, `zookeeper`: used in result directory names and `test.json`.
    fn name(&self) -> &'static str {
        self.descriptor().name
    }
    fn ports(&self) -> NodePorts;
    /// One spec per node of `topology`, in node order. Refuses options the system
    /// cannot honour (an unknown bug, a fencing mode it cannot provide).
    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError>;
    fn guarantees(&self, options: &SystemOptions) -> Guarantees;
    /// The fault kinds this system cannot take wherever it runs, each with the reason.
    fn refused_faults(&self) -> std::collections::BTreeMap<nemesis::FaultKind, String> {
        self.descriptor().refused_faults()
    }
    /// What its nodes run, for `test.json`: the nodes run this machine's build (images
    /// are assembled from its files), so this machine's version is theirs.
    fn version(&self) -> String;
    /// Which optional parts of the node protocol it serves.
    fn serves(&self) -> Serves {
        Serves::default()
    }
    /// How the nodes are configured where the seed or the test decides it, one line for
    /// the run's banner (raftd: which protections are on, and why).
    fn configuration(&self, _options: &SystemOptions) -> Option<String> {
        None
    }
    /// A client bound to `node`. Building it sends nothing.
    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn crate::client::Client>, SystemError>;
}

/// The optional parts of the node protocol (docs/protocol.md) a system serves; the
/// workload asks nothing else of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serves {
    /// `acquire`, `holding`, `release`: without them every cycle is a plain write.
    pub locks: bool,
    /// A node's own view (`read_local`): without it there are no per-node final reads.
    pub read_local: bool,
    /// Some node leads: a run waits for a leader before it starts, and leader-aimed
    /// faults have a target. Redlock's independent Redis nodes have none; a run of it
    /// waits for every node to answer `status` instead.
    pub leaders: bool,
}

impl Default for Serves {
    fn default() -> Self {
        Serves {
            locks: true,
            read_local: true,
            leaders: true,
        }
    }
}

/// What splitbrain knows of a system before it builds the adapter: its name, what a
/// user may ask of it, and how to build the adapter. Every system is one of these in
/// [`crate::SYSTEMS`] or read from a system file ([`crate::file`]); no runtime, spec or
/// matrix code names a system.
pub struct Descriptor {
    /// `--system NAME`; also the name in `test.json` and in results directory names.
    pub name: &'static str,
    /// Bugs that can be switched on by name (`--bug`); empty for a system with none.
    pub bugs: &'static [&'static str],
    /// It serves registers (`reg_read`, `reg_write`, `reg_cas`): `--workload register`
    /// can run on it.
    pub registers: bool,
    /// Its leader leases are switched by `--lease`/`--no-lease`; otherwise it decides
    /// its own and `--lease` is refused.
    pub lease_switch: bool,
    /// Its nodes can run as plain processes on loopback (the `local` runtime): they take
    /// the ports the runtime gives and reach each peer at the address the topology names,
    /// so that per-pair proxies can cut them.
    pub runs_local: bool,
    /// Its nodes can run in containers without `--image` (a system file's needs a
    /// `[docker]` section).
    pub docker: bool,
    /// `--endpoints` may name a running cluster of it, which a client reaches with no
    /// more than the addresses.
    pub external: bool,
    /// How its nodes' wall clocks move; every node spec carries it.
    pub clock: &'static (dyn Fn() -> ClockControl + Sync),
    /// The adapter for a test.
    pub build: &'static Build,
    /// The system file it was read from; `None` for a built-in system.
    pub file: Option<&'static Path>,
    /// The fencing modes it can be tested under, the first its default; empty for all
    /// of them (the default `grant`). Redlock gives no token a store could check, so it
    /// runs only as `none`.
    pub fencing: &'static [FencingMode],
    /// Its options (`--system-option KEY=VALUE`), each checked before anything starts.
    pub options: &'static [SystemOption],
    /// The admin call on its client port that arms crash points (raftd's
    /// `/admin/crash-point`); `None` for a system without them.
    pub crash_points: Option<&'static str>,
}

/// One option of a system, set with `--system-option KEY=VALUE` or a matrix's
/// `system_options`, and handed to its adapter in [`Setup::options`].
pub struct SystemOption {
    pub name: &'static str,
    /// What it does and what it takes, for `--help` and for a refusal.
    pub help: &'static str,
    /// Checks a value: the reason it is wrong, or nothing.
    pub check: fn(&str) -> Result<(), String>,
}

impl std::fmt::Debug for SystemOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemOption")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A [`SystemOption::check`] for a whole number in `[min, max]`.
pub fn check_count(value: &str, min: u64, max: u64) -> Result<(), String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("{value:?} is not a whole number in [{min}, {max}]")),
    }
}

/// How a [`Descriptor`] builds its adapter.
pub type Build = dyn Fn(&Setup) -> Result<std::sync::Arc<dyn System>, SystemError> + Sync;

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptor")
            .field("name", &self.name)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// What building an adapter takes from the user's request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub fencing: FencingMode,
    /// `--system-option`s, each already checked against [`Descriptor::options`].
    pub options: std::collections::BTreeMap<String, String>,
    /// The user's own image (`--image`): the adapter then needs no host files.
    pub image: Option<String>,
}

impl Descriptor {
    /// The system registered under `name`.
    pub fn find(name: &str) -> Option<&'static Descriptor> {
        crate::SYSTEMS.iter().copied().find(|d| d.name == name)
    }

    /// The fault kinds it cannot take wherever it runs, each with the reason, quoted to
    /// the user when a schedule needs one: clock faults where its clock cannot move.
    pub fn refused_faults(&self) -> std::collections::BTreeMap<nemesis::FaultKind, String> {
        let mut refused = std::collections::BTreeMap::new();
        if let ClockControl::Fixed { reason } = (self.clock)() {
            refused.insert(nemesis::FaultKind::Clock, reason);
        }
        if self.crash_points.is_none() {
            refused.insert(
                nemesis::FaultKind::CrashPoint,
                format!(
                    "{} has no crash points (places in its own code where it dies on purpose, as raftd's POST /admin/crash-point arms)",
                    self.name
                ),
            );
        }
        refused
    }

    /// Every registered name, for messages: `raftd, etcd, zookeeper`.
    pub fn names() -> String {
        crate::SYSTEMS
            .iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first line `PROGRAM --version` prints, or why there is none.
pub fn program_version(program: &Path, name: &str) -> String {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{name} (version unknown: {} --version failed)",
                program.display()
            )
        })
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
