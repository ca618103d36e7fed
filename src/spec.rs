//! The test specification: raw `splitbrain run` flags (stage one, clap) turned into a
//! validated, typed `TestSpec` (stage two) that the lifecycle, `test.json` and `replay`
//! share. Every rejected flag says what is wrong and what would be right.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use nemesis::{FaultKind, NemesisKind, Swarm, SWARM_FIRST_FAULT_HEALED_MS};
use serde::{Deserialize, Serialize};
use workloads::{Descriptor, FencingMode, WorkloadKind};

/// The system a run tests when neither --system nor --system-file names one.
pub const DEFAULT_SYSTEM: &str = "raftd";

/// Bounds on the flags, named with their unit last.
pub const NODES_MIN: usize = 3;
pub const NODES_MAX: usize = 9;
pub const TIME_LIMIT_SECS_MAX: u64 = 24 * 60 * 60;
pub const NEMESIS_INTERVAL_MS_MIN: u64 = 100;
pub const NEMESIS_DURATION_MS_MIN: u64 = 50;
pub const NEMESIS_MS_MAX: u64 = 60 * 60 * 1000;
pub const RATE_HZ_MAX: f64 = 10_000.0;
pub const CONCURRENCY_MAX: usize = 256;
pub const RECOVERY_SECS_MAX: u64 = 600;
/// Half the lock cycles stall (up to twice the TTL), so that a run of the default length
/// has stale holders for fencing to stop on every system: at 0.1, 60 s under faults gave
/// raftd about 15 grants, one stall, and often no stale holder at all.
pub const DEFAULT_STALL_PROBABILITY: f64 = 0.5;
/// The stall probability of runs whose `test.json` predates the flag.
const LEGACY_STALL_PROBABILITY: f64 = 0.1;
/// The fault interval and hold when only the other of the two is given.
pub const DEFAULT_NEMESIS_INTERVAL_MS: i64 = 5000;
pub const DEFAULT_NEMESIS_DURATION_MS: i64 = 3000;

/// Stage one: `splitbrain run`'s flags as the user typed them. Text flags stay text here
/// so that stage two can reject them with a message naming the flag and the valid values.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// The system under test: raftd (the default), etcd, zookeeper, redis-sentinel or
    /// redlock.
    #[arg(value_name = "NAME", long)]
    pub system: Option<String>,
    /// A system of your own that serves the node protocol, described by a system file
    /// (docs/protocol.md), in place of --system.
    #[arg(value_name = "PATH", long = "system-file", conflicts_with = "system")]
    pub system_file: Option<PathBuf>,
    /// Number of nodes, 3 to 9. Default: drawn from the seed among 3, 4 and 5, so that
    /// an even cluster's quorum is tested too (a majority of 4 is 3, not 2); the
    /// reproduce line names the size drawn.
    #[arg(value_name = "N", long, allow_negative_numbers = true)]
    pub nodes: Option<i64>,
    /// Where nodes run: auto, docker, netns, local (raftd only) or sim (raftd only: its
    /// cores in a deterministic simulation, simulated time, network, disks and clocks).
    #[arg(value_name = "KIND", long, default_value = "auto")]
    pub runtime: String,
    /// Faults to inject, comma-separated: partition, pause, kill, clock, packet (or finer
    /// names such as partition-halves, pause-leader, clock-strobe, packet-delay); all; or
    /// none.
    #[arg(value_name = "FAULTS", long, default_value = "all")]
    pub nemesis: String,
    /// How long the workload and nemesis run, in seconds.
    #[arg(
        value_name = "SECS",
        long = "time-limit",
        default_value_t = 60,
        allow_negative_numbers = true
    )]
    pub time_limit_secs: i64,
    /// Mean time between the starts of two faults, in milliseconds. Default: drawn from
    /// the seed with each fault's hold (swarm testing; the run prints what it drew), and
    /// with `--nemesis all` the mix of faults too. Given, with or without
    /// --nemesis-duration-ms, the schedule keeps to it (5000 when only the other is given).
    #[arg(
        value_name = "MS",
        long = "nemesis-interval-ms",
        allow_negative_numbers = true
    )]
    pub nemesis_interval_ms: Option<i64>,
    /// How long each fault stays in force, in milliseconds. Default: drawn from the seed
    /// (see --nemesis-interval-ms); 3000 when only the interval is given.
    #[arg(
        value_name = "MS",
        long = "nemesis-duration-ms",
        allow_negative_numbers = true
    )]
    pub nemesis_duration_ms: Option<i64>,
    /// Client operations per second, over all clients.
    #[arg(
        value_name = "HZ",
        long = "rate",
        default_value_t = 20.0,
        allow_negative_numbers = true
    )]
    pub rate_hz: f64,
    /// Number of concurrent client processes.
    #[arg(
        value_name = "N",
        long,
        default_value_t = 5,
        allow_negative_numbers = true
    )]
    pub concurrency: i64,
    /// Chance that a client stalls between acquiring a grant and using it, as a
    /// garbage-collection pause would, at its worst: until another client has been granted
    /// the lock, then a little more (at most five times the grant's TTL in all), so the
    /// stalled holder's writes come after a newer grant and only fencing keeps them out.
    #[arg(
        value_name = "P",
        long = "stall-probability",
        default_value_t = DEFAULT_STALL_PROBABILITY,
        allow_negative_numbers = true
    )]
    pub stall_probability: f64,
    /// Seconds to let the cluster recover after the faults end, before the final reads.
    #[arg(
        value_name = "SECS",
        long = "recovery-secs",
        default_value_t = 5,
        allow_negative_numbers = true
    )]
    pub recovery_secs: i64,
    /// Seed for every random choice of the run (default: random, always printed).
    #[arg(value_name = "N", long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Enable a deliberate bug in raftd (repeatable; raftd only).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Leader leases (raftd): the test then claims exclusive leadership.
    #[arg(long, overrides_with = "no_lease")]
    pub lease: bool,
    /// No leader leases: two leaders in different terms are then only an observation.
    #[arg(long = "no-lease", overrides_with = "lease")]
    pub no_lease: bool,
    /// Fencing of writes: grant (the default: the store checks the current grant), write
    /// (the store rejects tokens older than one it has seen) or none (unfenced writes).
    /// A system file's system enforces what its file claims.
    #[arg(value_name = "MODE", long)]
    pub fencing: Option<String>,
    /// What the clients do: election (lock cycles and writes, judged by the election
    /// rules and the lock model) or register (reads, writes and compare-and-sets of a
    /// few registers, judged by the register model: raftd, etcd, zookeeper). Default:
    /// election.
    #[arg(value_name = "NAME", long)]
    pub workload: Option<String>,
    /// An option of the system under test, repeatable: redis-sentinel's
    /// min-replicas-to-write=N and wait=N, redlock's appendfsync=none|always|everysec|no
    /// (docs/redis-sentinel.md, docs/redlock.md).
    #[arg(value_name = "KEY=VALUE", long = "system-option")]
    pub system_options: Vec<String>,
    /// Where results land.
    #[arg(value_name = "DIR", long = "results", default_value = "results")]
    pub results: PathBuf,
    /// A custom docker image for the nodes, used as is.
    #[arg(long)]
    pub image: Option<String>,
    /// Test a cluster of your own that already runs (etcd or zookeeper), given by its
    /// client endpoints. Nothing is started and no fault injected: use --nemesis none.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub endpoints: Option<String>,
    /// Spread the nodes over these Docker hosts, round-robin (repeat the flag or give a
    /// comma list): unix:///PATH, tcp://HOST:PORT, https://HOST:PORT, ssh://USER@HOST.
    /// Every fault then goes through the Docker API (docs/hosts.md).
    #[arg(long = "docker-host", value_name = "URL")]
    pub docker_hosts: Vec<String>,
    /// Place nodes on Docker hosts by their position in the --docker-host list (from 1):
    /// `n1=1,n2=1,n3=2`. Nodes not named are spread round-robin.
    #[arg(long, value_name = "NODE=HOST,...")]
    pub place: Option<String>,
}

/// A system of [`workloads::SYSTEMS`], by name: what a spec knows of the system under
/// test before an adapter is built.
#[derive(Clone, Copy)]
pub struct SystemKind(&'static Descriptor);

impl SystemKind {
    /// The system registered under `name`.
    pub fn find(name: &str) -> Option<SystemKind> {
        Descriptor::find(name).map(SystemKind)
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn descriptor(self) -> &'static Descriptor {
        self.0
    }

    /// The system a system file describes (read once per process and path).
    pub fn from_file(path: &std::path::Path) -> Result<SystemKind, workloads::file::FileError> {
        workloads::file::Loaded::descriptor(path).map(SystemKind)
    }
}

impl PartialEq for SystemKind {
    fn eq(&self, other: &SystemKind) -> bool {
        self.name() == other.name() && self.0.file == other.0.file
    }
}

impl Eq for SystemKind {}

impl std::hash::Hash for SystemKind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name().hash(h)
    }
}

impl std::fmt::Debug for SystemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How `test.json` names a system: a built-in one by name, one of a system file by
/// name and file, so that `replay` reads the file again.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SystemRef {
    BuiltIn(String),
    File { name: String, file: PathBuf },
}

impl Serialize for SystemKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.file {
            None => SystemRef::BuiltIn(self.name().to_string()),
            Some(file) => SystemRef::File {
                name: self.name().to_string(),
                file: file.to_path_buf(),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SystemKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SystemKind, D::Error> {
        match SystemRef::deserialize(d)? {
            SystemRef::BuiltIn(name) => SystemKind::find(&name).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown system {name:?}; expected one of {}",
                    Descriptor::names()
                ))
            }),
            SystemRef::File { name, file } => {
                let kind = SystemKind::from_file(&file).map_err(serde::de::Error::custom)?;
                if kind.name() != name {
                    return Err(serde::de::Error::custom(format!(
                        "the system file {} now names the system {:?}, not {name:?}",
                        file.display(),
                        kind.name()
                    )));
                }
                Ok(kind)
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeChoice {
    Auto,
    Docker,
    Netns,
    Local,
    Sim,
}

impl RuntimeChoice {
    pub const ALL: [RuntimeChoice; 5] = [
        RuntimeChoice::Auto,
        RuntimeChoice::Docker,
        RuntimeChoice::Netns,
        RuntimeChoice::Local,
        RuntimeChoice::Sim,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RuntimeChoice::Auto => "auto",
            RuntimeChoice::Docker => "docker",
            RuntimeChoice::Netns => "netns",
            RuntimeChoice::Local => "local",
            RuntimeChoice::Sim => "sim",
        }
    }
}

/// Stage two: a validated test. Everything a run does follows from this and the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    pub system: SystemKind,
    pub nodes: usize,
    pub runtime: RuntimeChoice,
    /// `--nemesis` as given, normalised: lowercase names joined by commas.
    pub nemesis: String,
    /// What those names stand for, in the nemesis crate's canonical order; empty is `none`.
    pub nemesis_kinds: Vec<NemesisKind>,
    pub time_limit_secs: u64,
    /// The interval and duration given, or the defaults when the seed draws them.
    pub nemesis_interval_ms: u64,
    pub nemesis_duration_ms: u64,
    /// What the seed draws beside each fault: the timings when neither
    /// --nemesis-interval-ms nor --nemesis-duration-ms was given, the mix of faults too
    /// under `--nemesis all`. Absent from the `test.json` of runs older than swarms: off.
    #[serde(default)]
    pub swarm: Swarm,
    pub rate_hz: f64,
    pub concurrency: usize,
    /// Absent from the `test.json` of runs older than the flag: they used the default.
    #[serde(default = "default_stall_probability")]
    pub stall_probability: f64,
    pub recovery_secs: u64,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub lease: bool,
    pub fencing: FencingMode,
    /// Absent from the `test.json` of runs older than the flag: they ran the election.
    #[serde(default)]
    pub workload: WorkloadKind,
    /// `--system-option`s, checked against the system's own list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_options: BTreeMap<String, String>,
    pub results: PathBuf,
    pub image: Option<String>,
    /// A running cluster's client endpoints (`host:port`); empty: splitbrain starts one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// Docker hosts the nodes are spread over (`--docker-host`); empty: this machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docker_hosts: Vec<String>,
    /// Nodes placed on a host by hand (`--place`): node → position in `docker_hosts`,
    /// from 1. The others are spread round-robin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub placement: BTreeMap<String, usize>,
}

/// A flag the user got wrong: which one, and a sentence saying what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct SpecError {
    pub flag: &'static str,
    pub message: String,
}

fn bad(flag: &'static str, message: impl Into<String>) -> SpecError {
    SpecError {
        flag,
        message: message.into(),
    }
}

fn one_of<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|t| name(*t)).collect::<Vec<_>>().join(", ")
}

impl TestSpec {
    /// Validates raw flags.
    pub fn from_args(args: &RunArgs) -> Result<TestSpec, SpecError> {
        let system = match &args.system_file {
            Some(path) => {
                SystemKind::from_file(path).map_err(|e| bad("--system-file", e.to_string()))?
            }
            None => parse_system(args.system.as_deref().unwrap_or(DEFAULT_SYSTEM))?,
        };
        let docker_hosts = check_docker_hosts(&args.docker_hosts)?;
        let runtime = match (parse_runtime(&args.runtime)?, docker_hosts.is_empty()) {
            (RuntimeChoice::Auto, false) => RuntimeChoice::Docker,
            (RuntimeChoice::Docker, _) | (_, true) => parse_runtime(&args.runtime)?,
            (other, false) => {
                return Err(bad(
                    "--docker-host",
                    format!(
                        "Docker hosts run docker containers, not --runtime {}; drop one of them",
                        other.name()
                    ),
                ))
            }
        };
        let endpoints = check_endpoints(args.endpoints.as_deref())?;
        let seed = args.seed.unwrap_or_else(rand::random);
        let spec = TestSpec {
            system,
            // A cluster of the user's own has as many nodes as it has endpoints.
            nodes: match (endpoints.len(), args.nodes) {
                (0, Some(n)) => check_nodes(n)?,
                (0, None) => drawn_nodes(seed),
                (n, _) => n,
            },
            runtime,
            nemesis: normalise_nemesis(&args.nemesis),
            nemesis_kinds: without_refused(
                system,
                runtime,
                !docker_hosts.is_empty(),
                &args.nemesis,
                parse_nemesis(&args.nemesis)?,
            ),
            time_limit_secs: check_range(
                "--time-limit",
                args.time_limit_secs,
                1,
                TIME_LIMIT_SECS_MAX,
                "seconds",
            )?,
            nemesis_interval_ms: check_range(
                "--nemesis-interval-ms",
                args.nemesis_interval_ms
                    .unwrap_or(DEFAULT_NEMESIS_INTERVAL_MS),
                NEMESIS_INTERVAL_MS_MIN,
                NEMESIS_MS_MAX,
                "milliseconds",
            )?,
            nemesis_duration_ms: check_range(
                "--nemesis-duration-ms",
                args.nemesis_duration_ms
                    .unwrap_or(DEFAULT_NEMESIS_DURATION_MS),
                NEMESIS_DURATION_MS_MIN,
                NEMESIS_MS_MAX,
                "milliseconds",
            )?,
            swarm: swarm_of(args),
            rate_hz: check_rate(args.rate_hz)?,
            concurrency: check_range(
                "--concurrency",
                args.concurrency,
                1,
                CONCURRENCY_MAX as u64,
                "client processes",
            )? as usize,
            stall_probability: check_probability("--stall-probability", args.stall_probability)?,
            recovery_secs: check_range(
                "--recovery-secs",
                args.recovery_secs,
                0,
                RECOVERY_SECS_MAX,
                "seconds",
            )?,
            seed,
            bugs: check_bugs(system, &args.bugs)?,
            lease: check_lease(system, args)?,
            fencing: check_fencing(system, args.fencing.as_deref())?,
            workload: check_workload(system, args.workload.as_deref())?,
            system_options: check_system_options(system, &args.system_options)?,
            results: check_results(&args.results)?,
            image: check_image(runtime, args.image.as_deref())?,
            endpoints,
            placement: BTreeMap::new(),
            docker_hosts,
        };
        let mut spec = spec;
        spec.placement = check_placement(args.place.as_deref(), &spec)?;
        spec.check_combination()?;
        Ok(spec)
    }

    /// Rules that involve more than one flag.
    fn check_combination(&self) -> Result<(), SpecError> {
        if !self.endpoints.is_empty() {
            self.check_endpoints_combination()?;
        }
        if !self.docker_hosts.is_empty() {
            if !self.endpoints.is_empty() {
                return Err(bad(
                    "--docker-host",
                    "--endpoints names a running cluster, so there is nothing to place on Docker hosts; drop one of them",
                ));
            }
            for (kind, why) in runtime_refused(self.runtime, true) {
                if self.nemesis_kinds.iter().any(|k| k.fault_kind() == kind) {
                    return Err(bad(
                        "--nemesis",
                        format!("{kind} faults are not available with --docker-host: {why}"),
                    ));
                }
            }
        }
        self.check_room_for_a_fault()?;
        if self.runtime == RuntimeChoice::Local && !self.system.descriptor().runs_local {
            return Err(bad(
                "--runtime",
                format!(
                    "the local runtime runs plain processes on loopback, which {} cannot; use --runtime docker or netns",
                    self.system.name()
                ),
            ));
        }
        if self.runtime == RuntimeChoice::Sim
            && self.system.name() != workloads::raftd::DESCRIPTOR.name
        {
            return Err(bad(
                "--runtime",
                format!(
                    "the sim runtime simulates raftd's core only; {} cannot run in it; use --runtime docker or netns, or --system raftd",
                    self.system.name()
                ),
            ));
        }
        Ok(())
    }

    /// A test that asks for faults must have time for one: a run in which none fits
    /// would end with a verdict that says nothing about them.
    fn check_room_for_a_fault(&self) -> Result<(), SpecError> {
        if self.nemesis_kinds.is_empty() {
            return Ok(());
        }
        let needed_ms = self.first_fault_healed_ms();
        if self.time_limit_secs.saturating_mul(1000) >= needed_ms {
            return Ok(());
        }
        if self.swarm != Swarm::Off {
            return Err(bad(
                "--time-limit",
                format!(
                    "{} s is too short for --nemesis {}: the fastest tempo the seed may draw heals its first fault {needed_ms} ms in, so no fault might be injected and the run would say nothing about them; use --time-limit {} or more, or --nemesis none",
                    self.time_limit_secs,
                    self.nemesis_flag(),
                    needed_ms.div_ceil(1000),
                ),
            ));
        }
        Err(bad(
            "--time-limit",
            format!(
                "{} s is too short for --nemesis {}: with --nemesis-interval-ms {} and --nemesis-duration-ms {} the first fault may start {} ms in and heal {needed_ms} ms in, so no fault might be injected and the run would say nothing about them; use --time-limit {} or more, a shorter --nemesis-interval-ms, or --nemesis none",
                self.time_limit_secs,
                self.nemesis_flag(),
                self.nemesis_interval_ms,
                self.nemesis_duration_ms,
                needed_ms - self.nemesis_duration_ms,
                needed_ms.div_ceil(1000),
            ),
        ))
    }

    /// The latest the first fault of any schedule drawn from this spec has healed. The
    /// nemesis crate draws fault k at k intervals plus up to half an interval of jitter,
    /// and the first slot always takes a fault, so a time limit this long holds one for
    /// every seed (`a_time_limit_that_fits_a_fault_holds_one_for_every_seed` ties the two).
    /// A swarm draws only tempos and holds that fit, the fastest and shortest at least.
    pub fn first_fault_healed_ms(&self) -> u64 {
        if self.swarm != Swarm::Off {
            return SWARM_FIRST_FAULT_HEALED_MS;
        }
        self.nemesis_interval_ms
            .saturating_add(self.nemesis_interval_ms / 2)
            .saturating_add(self.nemesis_duration_ms)
    }

    /// The schedule spec this test's nemesis is drawn from.
    pub fn schedule_spec(&self) -> nemesis::ScheduleSpec {
        nemesis::ScheduleSpec::new(
            self.seed,
            self.node_names(),
            self.time_limit_secs * 1000,
            self.nemesis_interval_ms,
            self.nemesis_duration_ms,
            self.nemesis_kinds.clone(),
        )
        .swarm(self.swarm)
    }

    /// A cluster of the user's own: etcd or ZooKeeper, no faults, no image.
    fn check_endpoints_combination(&self) -> Result<(), SpecError> {
        if !self.system.descriptor().external {
            let external: Vec<&str> = workloads::SYSTEMS
                .iter()
                .filter(|d| d.external)
                .map(|d| d.name)
                .collect();
            return Err(bad(
                "--endpoints",
                format!(
                    "a cluster of your own must be one of {}; {} clusters are started by splitbrain",
                    external.join(", "),
                    self.system.name()
                ),
            ));
        }
        if !self.nemesis_kinds.is_empty() {
            return Err(bad(
                "--nemesis",
                format!(
                    "{} needs access to the nodes, which a cluster of your own (--endpoints) does not give; use --nemesis none",
                    self.nemesis_flag()
                ),
            ));
        }
        if self.image.is_some() {
            return Err(bad(
                "--image",
                "--endpoints names a running cluster, so there is no image to run; drop --image",
            ));
        }
        Ok(())
    }

    /// Warnings that do not stop the run.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.nodes.is_multiple_of(2) {
            out.push(format!(
                "--nodes {}: an even cluster tolerates no more failures than {} nodes; odd sizes are recommended",
                self.nodes,
                self.nodes - 1
            ));
        }
        out
    }

    /// The nemesis part of a results directory name: `all`, `none` or `partition+kill`.
    pub fn nemesis_label(&self) -> String {
        self.nemesis.replace(',', "+")
    }

    /// The `--nemesis` value that reproduces this spec.
    pub fn nemesis_flag(&self) -> String {
        self.nemesis.clone()
    }

    /// The fault kinds `--nemesis all` left out because the system (or, for packet
    /// faults, the runtime) cannot take them, each with the reason.
    pub fn left_out(&self) -> Vec<(FaultKind, String)> {
        if self.nemesis != "all" {
            return Vec::new();
        }
        let mut refused = self.system.descriptor().refused_faults();
        refused.extend(runtime_refused(self.runtime, !self.docker_hosts.is_empty()));
        refused.into_iter().collect()
    }

    /// The runtime primitives the nemesis needs, in `FaultKind::ALL` order.
    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|f| self.nemesis_kinds.iter().any(|k| k.fault_kind() == *f))
            .collect()
    }

    /// The flags that give this spec: a spec from elsewhere (`replay`'s test.json) is
    /// validated by turning it back into flags, so it takes the one path flags take.
    pub fn to_args(&self) -> RunArgs {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let file = self.system.descriptor().file;
        RunArgs {
            system: file.is_none().then(|| self.system.name().into()),
            system_file: file.map(std::path::Path::to_path_buf),
            nodes: Some(int(self.nodes as u64)),
            runtime: self.runtime.name().into(),
            nemesis: self.nemesis.clone(),
            time_limit_secs: int(self.time_limit_secs),
            nemesis_interval_ms: (self.swarm == Swarm::Off).then(|| int(self.nemesis_interval_ms)),
            nemesis_duration_ms: (self.swarm == Swarm::Off).then(|| int(self.nemesis_duration_ms)),
            rate_hz: self.rate_hz,
            concurrency: int(self.concurrency as u64),
            stall_probability: self.stall_probability,
            recovery_secs: int(self.recovery_secs),
            seed: Some(self.seed),
            bugs: self.bugs.clone(),
            // Both set as the spec has it: a lease on a system without one is refused.
            lease: self.lease,
            no_lease: !self.lease,
            fencing: Some(self.fencing.name().into()),
            workload: Some(self.workload.name().into()),
            system_options: self
                .system_options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            results: self.results.clone(),
            image: self.image.clone(),
            endpoints: (!self.endpoints.is_empty()).then(|| self.endpoints.join(",")),
            docker_hosts: self.docker_hosts.clone(),
            place: (!self.placement.is_empty()).then(|| placement_text(&self.placement)),
        }
    }

    /// The node names, `n1` … `nN`.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("n{i}")).collect()
    }

    /// The exact command that runs this test again, seed included.
    pub fn command_line(&self) -> String {
        let mut words = vec![
            "splitbrain run".to_string(),
            match self.system.descriptor().file {
                Some(file) => format!("--system-file {}", shell_quote(&file.display().to_string())),
                None => format!("--system {}", self.system.name()),
            },
            format!("--nodes {}", self.nodes),
            format!("--runtime {}", self.runtime.name()),
            format!("--nemesis {}", self.nemesis_flag()),
            format!("--time-limit {}", self.time_limit_secs),
        ];
        // A drawn mix and timing follow from the seed.
        if self.swarm == Swarm::Off {
            words.push(format!(
                "--nemesis-interval-ms {}",
                self.nemesis_interval_ms
            ));
            words.push(format!(
                "--nemesis-duration-ms {}",
                self.nemesis_duration_ms
            ));
        }
        words.extend([
            format!("--rate {}", self.rate_hz),
            format!("--concurrency {}", self.concurrency),
            format!("--stall-probability {}", self.stall_probability),
            format!("--recovery-secs {}", self.recovery_secs),
        ]);
        words.extend(self.bugs.iter().map(|b| format!("--bug {b}")));
        if self.system.descriptor().lease_switch {
            words.push(if self.lease { "--lease" } else { "--no-lease" }.into());
        }
        words.push(format!("--fencing {}", self.fencing.name()));
        if self.workload != WorkloadKind::Election {
            words.push(format!("--workload {}", self.workload.name()));
        }
        for (k, v) in &self.system_options {
            words.push(format!(
                "--system-option {}",
                shell_quote(&format!("{k}={v}"))
            ));
        }
        if self.results.as_path() != std::path::Path::new("results") {
            words.push(format!(
                "--results {}",
                shell_quote(&self.results.display().to_string())
            ));
        }
        if let Some(image) = &self.image {
            words.push(format!("--image {}", shell_quote(image)));
        }
        if !self.endpoints.is_empty() {
            words.push(format!(
                "--endpoints {}",
                shell_quote(&self.endpoints.join(","))
            ));
        }
        for host in &self.docker_hosts {
            words.push(format!("--docker-host {}", shell_quote(host)));
        }
        if !self.placement.is_empty() {
            words.push(format!("--place {}", placement_text(&self.placement)));
        }
        words.push(format!("--seed {}", self.seed));
        words.join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c));
    if plain && !s.is_empty() {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn fault_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Partition => "partition",
        FaultKind::Pause => "pause",
        FaultKind::Kill => "kill",
        FaultKind::Clock => "clock",
        FaultKind::Packet => "packet",
        FaultKind::PowerLoss => "power-loss",
        FaultKind::CrashPoint => "crash-point",
    }
}

fn parse_system(s: &str) -> Result<SystemKind, SpecError> {
    SystemKind::find(&s.trim().to_ascii_lowercase()).ok_or_else(|| {
        bad(
            "--system",
            format!(
                "unknown system {s:?}; expected one of {}",
                Descriptor::names()
            ),
        )
    })
}

pub fn parse_runtime(s: &str) -> Result<RuntimeChoice, SpecError> {
    RuntimeChoice::ALL
        .into_iter()
        .find(|k| k.name() == s.trim().to_ascii_lowercase())
        .ok_or_else(|| {
            bad(
                "--runtime",
                format!(
                    "unknown runtime {s:?}; expected one of {}",
                    one_of(&RuntimeChoice::ALL, RuntimeChoice::name)
                ),
            )
        })
}

/// The workload asked for, if the system serves what it needs.
fn check_workload(system: SystemKind, flag: Option<&str>) -> Result<WorkloadKind, SpecError> {
    let Some(flag) = flag else {
        return Ok(WorkloadKind::Election);
    };
    let workload: WorkloadKind = flag
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|why| bad("--workload", why))?;
    if workload == WorkloadKind::Register && !system.descriptor().registers {
        let serving: Vec<&str> = workloads::SYSTEMS
            .iter()
            .filter(|d| d.registers)
            .map(|d| d.name)
            .collect();
        return Err(bad(
            "--workload",
            format!(
                "{} serves no registers; the register workload runs on {}",
                system.name(),
                serving.join(", ")
            ),
        ));
    }
    Ok(workload)
}

/// The fencing asked for, within what the system can be tested under: a system file's
/// system enforces what its file claims, Redlock runs only unfenced, and the default is
/// the first mode the system allows (`grant` where it allows all).
fn check_fencing(system: SystemKind, flag: Option<&str>) -> Result<FencingMode, SpecError> {
    let asked = flag.map(parse_fencing).transpose()?;
    let allowed = system.descriptor().fencing;
    let Some(&default) = allowed.first() else {
        return Ok(asked.unwrap_or_default());
    };
    match asked {
        Some(mode) if !allowed.contains(&mode) => {
            let why = match system.descriptor().file {
                Some(file) => format!(
                    "{} enforces fencing {} (claims.fencing in {}); drop --fencing or change the file",
                    system.name(),
                    default.name(),
                    file.display()
                ),
                None => format!(
                    "{} can be tested only with fencing {}; drop --fencing",
                    system.name(),
                    one_of(allowed, FencingMode::name)
                ),
            };
            Err(bad("--fencing", why))
        }
        Some(mode) => Ok(mode),
        None => Ok(default),
    }
}

fn parse_fencing(s: &str) -> Result<FencingMode, SpecError> {
    FencingMode::ALL
        .into_iter()
        .find(|k| k.name() == s.trim().to_ascii_lowercase())
        .ok_or_else(|| {
            bad(
                "--fencing",
                format!(
                    "unknown fencing {s:?}; expected one of {}",
                    one_of(&FencingMode::ALL, FencingMode::name)
                ),
            )
        })
}

/// `partition,pause`, `all`, `none` or any finer name the nemesis knows
/// (`partition-halves`, `pause-leader`, …), in any order.
pub fn parse_nemesis(s: &str) -> Result<Vec<NemesisKind>, SpecError> {
    nemesis::parse_nemeses(&normalise_nemesis(s)).map_err(|e| bad("--nemesis", e.to_string()))
}

/// `all` is every fault the system can take: a fault kind the system refuses wherever it
/// runs (etcd's clock) is left out of it, and [`TestSpec::left_out`] says so. A fault
/// named on its own is kept, to be refused with the reason.
fn without_refused(
    system: SystemKind,
    runtime: RuntimeChoice,
    docker_hosts: bool,
    flag: &str,
    kinds: Vec<NemesisKind>,
) -> Vec<NemesisKind> {
    if normalise_nemesis(flag) != "all" {
        return kinds;
    }
    let mut refused = system.descriptor().refused_faults();
    refused.extend(runtime_refused(runtime, docker_hosts));
    kinds
        .into_iter()
        .filter(|k| !refused.contains_key(&k.fault_kind()))
        .collect()
}

/// The faults a runtime cannot make whatever the system: packet faults need a network
/// namespace per node, and power-loss faults a FUSE disk per node mounted as root, which
/// the local runtime (and `auto` without root, which is local or docker, and docker
/// enters namespaces as root) does not have. On Docker hosts reached through their API,
/// neither: both live in a thread or a mount of this machine.
fn runtime_refused(runtime: RuntimeChoice, docker_hosts: bool) -> Vec<(FaultKind, String)> {
    if docker_hosts {
        return vec![
            (FaultKind::Packet, HOSTS_PACKET_REASON.to_string()),
            (FaultKind::PowerLoss, HOSTS_POWER_LOSS_REASON.to_string()),
            (FaultKind::CrashPoint, HOSTS_CRASH_POINT_REASON.to_string()),
        ];
    }
    let no_namespaces = match runtime {
        RuntimeChoice::Local => true,
        RuntimeChoice::Auto => !crate::runtime::is_root(),
        RuntimeChoice::Docker | RuntimeChoice::Netns | RuntimeChoice::Sim => false,
    };
    if !no_namespaces {
        return Vec::new();
    }
    vec![
        (
            FaultKind::Packet,
            crate::runtime::local::PACKET_REASON.to_string(),
        ),
        (
            FaultKind::PowerLoss,
            crate::runtime::local::POWER_LOSS_REASON.to_string(),
        ),
    ]
}

fn normalise_nemesis(s: &str) -> String {
    s.split(',')
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// The sizes a run without `--nodes` draws from.
pub const DRAWN_NODES: [usize; 3] = [3, 4, 5];

/// The cluster size of a run without `--nodes`: one of [`DRAWN_NODES`], from the seed.
/// What the seed draws beside each fault: nothing when the user gave a timing, the
/// timing when they named the faults, and the mix of faults too under `all`.
fn swarm_of(args: &RunArgs) -> Swarm {
    let nemesis = normalise_nemesis(&args.nemesis);
    if args.nemesis_interval_ms.is_some() || args.nemesis_duration_ms.is_some() || nemesis == "none"
    {
        Swarm::Off
    } else if nemesis == "all" {
        Swarm::Full
    } else {
        Swarm::Timing
    }
}

pub fn drawn_nodes(seed: u64) -> usize {
    /// Keeps this draw apart from every other the seed makes.
    const NODES_SALT: u64 = 0x006e_6f64_6573;
    let i = workloads::seed::mix(seed, NODES_SALT) % DRAWN_NODES.len() as u64;
    DRAWN_NODES[i as usize]
}

fn check_nodes(n: i64) -> Result<usize, SpecError> {
    match usize::try_from(n) {
        Ok(n) if (NODES_MIN..=NODES_MAX).contains(&n) => Ok(n),
        _ => Err(bad(
            "--nodes",
            format!("{n} nodes is out of range; use {NODES_MIN} to {NODES_MAX} (odd recommended, e.g. 3 or 5)"),
        )),
    }
}

fn check_range(
    flag: &'static str,
    v: i64,
    min: u64,
    max: u64,
    unit: &str,
) -> Result<u64, SpecError> {
    match u64::try_from(v) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad(
            flag,
            format!("{v} is out of range; use {min} to {max} {unit}"),
        )),
    }
}

fn check_rate(hz: f64) -> Result<f64, SpecError> {
    if hz.is_finite() && hz > 0.0 && hz <= RATE_HZ_MAX {
        Ok(hz)
    } else {
        Err(bad(
            "--rate",
            format!("{hz} is not a usable rate; use a number of operations per second above 0 and at most {RATE_HZ_MAX}"),
        ))
    }
}

fn default_stall_probability() -> f64 {
    LEGACY_STALL_PROBABILITY
}

fn check_probability(flag: &'static str, p: f64) -> Result<f64, SpecError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(bad(
            flag,
            format!("{p} is not a probability; use a number from 0 to 1"),
        ))
    }
}

/// `KEY=VALUE` options of the system, each a name it lists with a value its check
/// takes; a key given twice keeps the last value, as flags do.
fn check_system_options(
    system: SystemKind,
    given: &[String],
) -> Result<BTreeMap<String, String>, SpecError> {
    let known = system.descriptor().options;
    let names = || {
        known
            .iter()
            .map(|o| format!("{} ({})", o.name, o.help))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut out = BTreeMap::new();
    for option in given {
        let Some((key, value)) = option.split_once('=') else {
            return Err(bad(
                "--system-option",
                format!("{option:?} is not KEY=VALUE"),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(o) = known.iter().find(|o| o.name == key) else {
            return Err(bad(
                "--system-option",
                if known.is_empty() {
                    format!(
                        "{} takes no system option (asked for {key:?})",
                        system.name()
                    )
                } else {
                    format!(
                        "{} has no option {key:?}; it takes: {}",
                        system.name(),
                        names()
                    )
                },
            ));
        };
        (o.check)(value).map_err(|why| {
            bad(
                "--system-option",
                format!("{key}={value}: {why} ({})", o.help),
            )
        })?;
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// The bugs asked for, each once, from the system's catalogue.
fn check_bugs(system: SystemKind, bugs: &[String]) -> Result<Vec<String>, SpecError> {
    if bugs.is_empty() {
        return Ok(Vec::new());
    }
    let known = system.descriptor().bugs;
    if known.is_empty() {
        let with_bugs: Vec<&str> = workloads::SYSTEMS
            .iter()
            .filter(|d| !d.bugs.is_empty())
            .map(|d| d.name)
            .collect();
        return Err(bad(
            "--bug",
            format!(
                "bugs can only be enabled in {}, not {}; drop --bug or use --system {}",
                with_bugs.join(", "),
                system.name(),
                with_bugs.first().copied().unwrap_or("raftd"),
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for bug in bugs {
        if !known.contains(&bug.as_str()) {
            return Err(bad(
                "--bug",
                format!(
                    "unknown bug {bug:?}; {} knows: {}",
                    system.name(),
                    known.join(", ")
                ),
            ));
        }
        if !out.contains(bug) {
            out.push(bug.clone());
        }
    }
    Ok(out)
}

fn check_lease(system: SystemKind, args: &RunArgs) -> Result<bool, SpecError> {
    if system.descriptor().lease_switch {
        return Ok(!args.no_lease);
    }
    if args.lease {
        return Err(bad(
            "--lease",
            format!(
                "{} decides its own leader leases, which --lease cannot switch; drop --lease",
                system.name()
            ),
        ));
    }
    Ok(false)
}

fn check_results(dir: &std::path::Path) -> Result<PathBuf, SpecError> {
    if dir.as_os_str().is_empty() {
        return Err(bad(
            "--results",
            "the results directory is empty; give a path such as results",
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(bad(
            "--results",
            format!(
                "{} exists and is not a directory; give a directory",
                dir.display()
            ),
        ));
    }
    Ok(dir.to_path_buf())
}

/// Why power-loss faults are not offered on Docker hosts.
pub const HOSTS_CRASH_POINT_REASON: &str =
    "crash points are not armed on nodes of Docker hosts reached through their API yet";
pub const HOSTS_POWER_LOSS_REASON: &str = "a node's power-loss disk is a FUSE mount of this machine, which a container on a Docker host reached through its API cannot use";

/// Why packet faults are not offered on Docker hosts.
pub const HOSTS_PACKET_REASON: &str = "they hold packets in a thread of the controller inside each node's network namespace, which a Docker host reached through its API does not give";

/// `--docker-host` values, each checked, comma lists split.
fn check_docker_hosts(values: &[String]) -> Result<Vec<String>, SpecError> {
    let hosts = crate::runtime::hosts::parse_hosts(values).map_err(|e| {
        bad(
            "--docker-host",
            e.trim_start_matches("--docker-host ").to_string(),
        )
    })?;
    Ok(hosts.into_iter().map(|h| h.url).collect())
}

/// `--place n1=1,n2=2`: each node of the cluster at most once, each host a position in
/// the `--docker-host` list.
fn check_placement(
    text: Option<&str>,
    spec: &TestSpec,
) -> Result<BTreeMap<String, usize>, SpecError> {
    let Some(text) = text else {
        return Ok(BTreeMap::new());
    };
    let hosts = spec.docker_hosts.len();
    if hosts == 0 {
        return Err(bad(
            "--place",
            "places nodes on Docker hosts; give them with --docker-host",
        ));
    }
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((node, host)) = item.split_once('=') else {
            return Err(bad(
                "--place",
                format!("{item:?} is not NODE=HOST, e.g. n1=2"),
            ));
        };
        let node = node.trim();
        if !spec.node_names().iter().any(|n| n == node) {
            return Err(bad(
                "--place",
                format!(
                    "{node:?} is not a node of this cluster (n1 to n{})",
                    spec.nodes
                ),
            ));
        }
        let host = host
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|h| (1..=hosts).contains(h))
            .ok_or_else(|| {
                bad(
                    "--place",
                    format!(
                        "{item:?}: a host is its position in the --docker-host list, 1 to {hosts}"
                    ),
                )
            })?;
        if out.insert(node.to_string(), host).is_some() {
            return Err(bad("--place", format!("{node} is placed twice")));
        }
    }
    Ok(out)
}

fn placement_text(placement: &BTreeMap<String, usize>) -> String {
    placement
        .iter()
        .map(|(n, h)| format!("{n}={h}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `host:port,…` as given to `--endpoints`, each checked.
fn check_endpoints(text: Option<&str>) -> Result<Vec<String>, SpecError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let parsed =
        crate::runtime::external::parse_endpoints(text).map_err(|e| bad("--endpoints", e))?;
    if parsed.len() > NODES_MAX {
        return Err(bad(
            "--endpoints",
            format!(
                "{} endpoints is more than {NODES_MAX}; name at most {NODES_MAX}",
                parsed.len()
            ),
        ));
    }
    Ok(parsed
        .into_iter()
        .map(|(host, port)| match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        })
        .collect())
}

fn check_image(runtime: RuntimeChoice, image: Option<&str>) -> Result<Option<String>, SpecError> {
    let Some(image) = image else { return Ok(None) };
    let ok_chars = image
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c));
    // A reference starts with a letter or digit; `--help` would be read as a flag.
    let ok_start = image.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok_start || !ok_chars {
        return Err(bad(
            "--image",
            format!("{image:?} is not a docker image reference; use a name such as my-raft:dev"),
        ));
    }
    if !matches!(runtime, RuntimeChoice::Auto | RuntimeChoice::Docker) {
        return Err(bad(
            "--image",
            format!(
                "a custom image needs the docker runtime, not {}; use --runtime docker",
                runtime.name()
            ),
        ));
    }
    Ok(Some(image.to_string()))
}

impl fmt::Display for TestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} × {} nodes, nemesis {}, {} s, seed {}",
            self.system.name(),
            self.nodes,
            self.nemesis_flag(),
            self.time_limit_secs,
            self.seed
        )?;
        let by_runtime: Vec<FaultKind> =
            runtime_refused(self.runtime, !self.docker_hosts.is_empty())
                .into_iter()
                .map(|(fault, _)| fault)
                .collect();
        for (fault, _) in self.left_out() {
            let who = match by_runtime.contains(&fault) {
                true => format!("the {} runtime", self.runtime.name()),
                false => self.system.name().to_string(),
            };
            write!(f, " (without {}: {who} cannot take it)", fault_name(fault))?;
        }
        Ok(())
    }
}

/// `--seed`: a whole number that fits 64 bits, or a message saying so.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not a seed; use a whole number from 0 to {}",
            u64::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RunArgs {
        RunArgs {
            system: Some("raftd".into()),
            nodes: Some(5),
            runtime: "auto".into(),
            nemesis: "all".into(),
            time_limit_secs: 60,
            nemesis_interval_ms: Some(5000),
            nemesis_duration_ms: Some(3000),
            rate_hz: 20.0,
            concurrency: 5,
            recovery_secs: 5,
            seed: Some(7),
            fencing: Some("grant".into()),
            system_options: Vec::new(),
            results: "results".into(),
            ..RunArgs::default()
        }
    }

    #[test]
    fn docker_hosts_run_docker_without_packet_faults_and_are_replayed() {
        let mut a = args();
        a.docker_hosts = vec![
            "unix:///var/run/docker.sock,tcp://10.0.0.12:2375".into(),
            "ssh://ops@rack2".into(),
        ];
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(
            spec.runtime,
            RuntimeChoice::Docker,
            "auto is docker on docker hosts"
        );
        assert_eq!(spec.docker_hosts.len(), 3);
        assert!(
            !spec.fault_kinds().contains(&FaultKind::Packet),
            "all leaves packet out"
        );
        let line = spec.command_line();
        assert!(
            line.contains("--docker-host unix:///var/run/docker.sock --docker-host tcp://10.0.0.12:2375 --docker-host ssh://ops@rack2"),
            "{line}"
        );
        assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
        let mut placed = a.clone();
        placed.place = Some("n3=3, n1=2".into());
        let spec = TestSpec::from_args(&placed).unwrap();
        assert_eq!(
            spec.placement,
            BTreeMap::from([("n1".into(), 2), ("n3".into(), 3)])
        );
        assert!(
            spec.command_line().contains("--place n1=2,n3=3"),
            "{}",
            spec.command_line()
        );
        assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
        type Edit = fn(&mut RunArgs);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                |a| a.docker_hosts = vec!["docker.example:2375".into()],
                "--docker-host",
                "no scheme",
            ),
            (
                |a| a.docker_hosts = vec!["tcp://a:1,tcp://a:1".into()],
                "--docker-host",
                "twice",
            ),
            (
                |a| a.runtime = "netns".into(),
                "--docker-host",
                "--runtime netns",
            ),
            (
                |a| a.nemesis = "partition,packet-delay".into(),
                "--nemesis",
                "not available with --docker-host",
            ),
            (|a| a.place = Some("n9=1".into()), "--place", "not a node"),
            (|a| a.place = Some("n1=4".into()), "--place", "1 to 3"),
            (|a| a.place = Some("n1=1,n1=2".into()), "--place", "twice"),
            (|a| a.place = Some("n1".into()), "--place", "NODE=HOST"),
            (
                |a| {
                    a.docker_hosts.clear();
                    a.place = Some("n1=1".into());
                },
                "--place",
                "--docker-host",
            ),
        ];
        for (edit, flag, says) in cases {
            let mut b = a.clone();
            edit(&mut b);
            let e = TestSpec::from_args(&b).unwrap_err();
            assert_eq!(e.flag, flag, "{e}");
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn all_is_every_fault_the_system_can_take_and_says_what_it_left_out() {
        let mut a = args();
        a.system = Some("etcd".into());
        a.runtime = "netns".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(
            spec.fault_kinds(),
            [
                FaultKind::Partition,
                FaultKind::Pause,
                FaultKind::Kill,
                FaultKind::Packet,
                FaultKind::PowerLoss
            ]
        );
        assert_eq!(spec.left_out().len(), 2);
        assert!(
            spec.to_string().contains(
                "(without clock: etcd cannot take it) (without crash-point: etcd cannot take it)"
            ),
            "{spec}"
        );
        assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
        // Named on its own, a fault the system cannot take is still the system's to refuse.
        a.nemesis = "partition,clock".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(spec.fault_kinds().contains(&FaultKind::Clock));
        assert!(spec.left_out().is_empty());
        // raftd takes every fault.
        let mut a = args();
        a.runtime = "netns".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.fault_kinds(), FaultKind::ALL.to_vec());
        assert!(spec.left_out().is_empty());
    }

    #[test]
    fn all_leaves_packet_faults_out_where_the_runtime_has_no_namespace_per_node() {
        let mut a = args();
        a.runtime = "local".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(!spec.fault_kinds().contains(&FaultKind::Packet));
        assert!(!spec.fault_kinds().contains(&FaultKind::PowerLoss));
        assert!(spec.fault_kinds().contains(&FaultKind::Partition));
        assert_eq!(spec.left_out().len(), 2);
        assert!(
            spec.to_string().contains(
                "(without packet: the local runtime cannot take it) \
                 (without power-loss: the local runtime cannot take it)"
            ),
            "{spec}"
        );
        assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
        // Named on its own, it is kept, for the runtime to refuse with its reason.
        a.nemesis = "packet-delay".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.fault_kinds(), [FaultKind::Packet]);
        a.runtime = "sim".into();
        a.nemesis = "all".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(spec.fault_kinds().contains(&FaultKind::Packet));
    }

    #[test]
    fn system_options_are_checked_against_the_system_s_list_and_come_back_from_test_json() {
        let mut a = args();
        a.system = Some("redis-sentinel".into());
        a.fencing = None;
        a.system_options = vec!["wait=1".into(), "min-replicas-to-write = 2".into()];
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.system_options["wait"], "1");
        assert_eq!(spec.system_options["min-replicas-to-write"], "2");
        assert!(
            spec.command_line().contains("--system-option wait=1"),
            "{}",
            spec.command_line()
        );
        let json = serde_json::to_string(&spec).unwrap();
        let back: TestSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(TestSpec::from_args(&back.to_args()).unwrap(), spec);
        for (given, named) in [
            ("wiat=1", "it takes: min-replicas-to-write"),
            ("wait=lots", "\"lots\" is not a whole number"),
            ("wait", "is not KEY=VALUE"),
        ] {
            a.system_options = vec![given.into()];
            let e = TestSpec::from_args(&a).unwrap_err();
            assert_eq!(e.flag, "--system-option");
            assert!(e.message.contains(named), "{given}: {e}");
        }
        // raftd's protections: on or off, and nothing else.
        let mut a = args();
        a.system_options = vec!["pre-vote=off".into(), "check-quorum=on".into()];
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(spec.command_line().contains("--system-option pre-vote=off"));
        a.system_options = vec!["pre-vote=maybe".into()];
        let e = TestSpec::from_args(&a).unwrap_err();
        assert!(e.message.contains("neither on nor off"), "{e}");
        for bad in ["append-batch=0", "append-batch=lots"] {
            a.system_options = vec![bad.into()];
            let e = TestSpec::from_args(&a).unwrap_err();
            assert!(
                e.message.contains("not a whole number of at least 1"),
                "{bad}: {e}"
            );
        }
        a.system_options = vec!["append-batch=1".into()];
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(spec
            .command_line()
            .contains("--system-option append-batch=1"));
        // A system without options says so.
        let mut a = args();
        a.system = Some("etcd".into());
        a.nemesis = "partition".into();
        a.system_options = vec!["wait=1".into()];
        let e = TestSpec::from_args(&a).unwrap_err();
        assert!(e.message.contains("etcd takes no system option"), "{e}");
    }

    #[test]
    fn redlock_runs_unfenced_and_refuses_any_other_fencing() {
        let mut a = args();
        a.system = Some("redlock".into());
        a.nemesis = "pause".into();
        a.fencing = None;
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.fencing, FencingMode::None);
        a.fencing = Some("grant".into());
        let e = TestSpec::from_args(&a).unwrap_err();
        assert_eq!(e.flag, "--fencing");
        assert!(e.message.contains("only with fencing none"), "{e}");
        a.fencing = Some("none".into());
        assert!(TestSpec::from_args(&a).is_ok());
    }

    #[test]
    fn a_system_file_spec_names_its_file_and_comes_back_from_test_json() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bully/system.toml");
        let mut a = args();
        a.system = None;
        a.system_file = Some(file.clone());
        a.nemesis = "partition".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.system.name(), "bully");
        // The file claims fence-on-grant; the spec takes it without --fencing.
        assert_eq!(spec.fencing, FencingMode::Grant);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["system"]["name"], "bully");
        assert_eq!(
            json["system"]["file"],
            file.canonicalize().unwrap().to_str().unwrap()
        );
        let back: TestSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, spec);
        assert_eq!(TestSpec::from_args(&back.to_args()).unwrap(), spec);
        assert!(
            spec.command_line().contains("--system-file /"),
            "{}",
            spec.command_line()
        );
        // A file that now names another system is refused, not silently run.
        let mut moved = json;
        moved["system"]["name"] = "other".into();
        let e = serde_json::from_value::<TestSpec>(moved)
            .unwrap_err()
            .to_string();
        assert!(e.contains("now names the system \"bully\""), "{e}");
        // Built-in systems stay a plain name.
        let raftd = serde_json::to_value(TestSpec::from_args(&args()).unwrap()).unwrap();
        assert_eq!(raftd["system"], "raftd");
    }

    #[test]
    fn the_register_workload_runs_where_registers_are_served_and_round_trips() {
        let mut a = args();
        a.workload = Some("Register".into());
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.workload, WorkloadKind::Register);
        assert!(spec.command_line().contains("--workload register"));
        assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["workload"], "register");
        // A test.json from before the flag ran the election.
        let mut old = json;
        old.as_object_mut().unwrap().remove("workload");
        let old: TestSpec = serde_json::from_value(old).unwrap();
        assert_eq!(old.workload, WorkloadKind::Election);
        assert!(!old.command_line().contains("--workload"));
        a.system = Some("redlock".into());
        a.fencing = Some("none".into());
        a.lease = false;
        a.no_lease = false;
        a.runtime = "docker".into();
        let e = TestSpec::from_args(&a).unwrap_err();
        assert_eq!(e.flag, "--workload");
        assert!(
            e.message.contains("redlock serves no registers")
                && e.message.contains("raftd, etcd, zookeeper"),
            "{e}"
        );
        a.system = None;
        a.workload = Some("queue".into());
        let e = TestSpec::from_args(&a).unwrap_err();
        assert_eq!(e.flag, "--workload");
        assert!(e.message.contains("election, register"), "{e}");
    }

    #[test]
    fn without_nodes_a_run_draws_its_size_from_the_seed_and_names_it() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..30 {
            let mut a = args();
            a.nodes = None;
            a.seed = Some(seed);
            let spec = TestSpec::from_args(&a).unwrap();
            assert!(DRAWN_NODES.contains(&spec.nodes), "{}", spec.nodes);
            assert_eq!(
                TestSpec::from_args(&a).unwrap().nodes,
                spec.nodes,
                "seed {seed}"
            );
            assert!(
                spec.command_line()
                    .contains(&format!("--nodes {}", spec.nodes)),
                "{}",
                spec.command_line()
            );
            assert_eq!(TestSpec::from_args(&spec.to_args()).unwrap(), spec);
            seen.insert(spec.nodes);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            DRAWN_NODES,
            "every size drawn"
        );
        // A size given is kept whatever the seed.
        let mut a = args();
        a.nodes = Some(7);
        assert_eq!(TestSpec::from_args(&a).unwrap().nodes, 7);
    }

    #[test]
    fn defaults_validate() {
        let spec = TestSpec::from_args(&args()).unwrap();
        assert_eq!(spec.fault_kinds(), FaultKind::ALL.to_vec());
        assert!(spec.lease);
        assert_eq!(spec.seed, 7);
        assert_eq!(spec.nemesis_label(), "all");
    }

    #[test]
    fn each_bad_flag_is_named() {
        type Edit = fn(&mut RunArgs);
        let cases: Vec<(Edit, &str)> = vec![
            (|a| a.system = Some("mysql".into()), "--system"),
            (|a| a.nodes = Some(2), "--nodes"),
            (|a| a.nodes = Some(10), "--nodes"),
            (|a| a.runtime = "k8s".into(), "--runtime"),
            (|a| a.nemesis = "partition,flood".into(), "--nemesis"),
            (|a| a.nemesis = "none,kill".into(), "--nemesis"),
            (|a| a.time_limit_secs = 0, "--time-limit"),
            (|a| a.rate_hz = f64::NAN, "--rate"),
            (|a| a.concurrency = 0, "--concurrency"),
            (|a| a.stall_probability = 1.5, "--stall-probability"),
            (|a| a.stall_probability = f64::NAN, "--stall-probability"),
            (|a| a.bugs = vec!["nope".into()], "--bug"),
            (|a| a.fencing = Some("sometimes".into()), "--fencing"),
            (|a| a.image = Some("bad image".into()), "--image"),
            (|a| a.image = Some("--help".into()), "--image"),
            (|a| a.time_limit_secs = 3, "--time-limit"),
        ];
        for (edit, flag) in cases {
            let mut a = args();
            edit(&mut a);
            let e = TestSpec::from_args(&a).unwrap_err();
            assert_eq!(e.flag, flag, "{e}");
        }
    }

    #[test]
    fn endpoints_take_etcd_or_zookeeper_and_no_faults() {
        let mut a = args();
        a.system = Some("etcd".into());
        a.nemesis = "none".into();
        a.endpoints = Some("127.0.0.1:2379,127.0.0.1:22379".into());
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(spec.nodes, 2, "as many nodes as endpoints");
        assert!(
            spec.command_line()
                .contains("--endpoints 127.0.0.1:2379,127.0.0.1:22379"),
            "{}",
            spec.command_line()
        );
        type Edit = fn(&mut RunArgs);
        let cases: Vec<(Edit, &str)> = vec![
            (|a| a.nemesis = "kill".into(), "--nemesis"),
            (|a| a.system = Some("raftd".into()), "--endpoints"),
            (|a| a.endpoints = Some("localhost".into()), "--endpoints"),
            (|a| a.image = Some("mine:1".into()), "--image"),
        ];
        for (edit, flag) in cases {
            let mut b = a.clone();
            edit(&mut b);
            let e = TestSpec::from_args(&b).unwrap_err();
            assert_eq!(e.flag, flag, "{e}");
        }
    }

    #[test]
    fn unknown_bug_lists_valid_ones() {
        let mut a = args();
        a.bugs = vec!["nope".into()];
        let e = TestSpec::from_args(&a).unwrap_err().to_string();
        assert!(
            e.contains("no-fencing") && e.contains("wall-clock-lease"),
            "{e}"
        );
    }

    #[test]
    fn bugs_need_raftd_and_local_needs_raftd() {
        let mut a = args();
        a.system = Some("etcd".into());
        a.bugs = vec!["no-fencing".into()];
        assert_eq!(TestSpec::from_args(&a).unwrap_err().flag, "--bug");
        for (runtime, why) in [("local", "loopback"), ("sim", "raftd's core")] {
            let mut a = args();
            a.system = Some("etcd".into());
            a.runtime = runtime.into();
            let e = TestSpec::from_args(&a).unwrap_err();
            assert_eq!(e.flag, "--runtime");
            assert!(e.message.contains(why), "{e}");
        }
        let mut a = args();
        a.runtime = "sim".into();
        assert_eq!(TestSpec::from_args(&a).unwrap().runtime, RuntimeChoice::Sim);
    }

    #[test]
    fn nemesis_lists_parse_and_label_the_run() {
        let mut a = args();
        a.nemesis = " Kill, partition ".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert_eq!(
            spec.fault_kinds(),
            vec![FaultKind::Partition, FaultKind::Kill]
        );
        assert_eq!(spec.nemesis_label(), "kill+partition");
        a.nemesis = "none".into();
        let spec = TestSpec::from_args(&a).unwrap();
        assert!(spec.nemesis_kinds.is_empty() && spec.fault_kinds().is_empty());
    }

    #[test]
    fn command_line_round_trips_through_json() {
        let mut a = args();
        a.bugs = vec!["no-fencing".into()];
        a.no_lease = true;
        let spec = TestSpec::from_args(&a).unwrap();
        let cmd = spec.command_line();
        assert!(
            cmd.contains("--seed 7")
                && cmd.contains("--bug no-fencing")
                && cmd.contains("--no-lease"),
            "{cmd}"
        );
        let back: TestSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn test_json_spells_fencing_as_the_flag_does() {
        for mode in FencingMode::ALL {
            let mut a = args();
            a.fencing = Some(mode.name().to_uppercase());
            let spec = TestSpec::from_args(&a).unwrap();
            assert_eq!(spec.fencing, mode);
            let json = serde_json::to_value(&spec).unwrap();
            assert_eq!(json["fencing"], mode.name());
        }
    }

    #[test]
    fn a_time_limit_too_short_for_any_fault_names_both_flags() {
        let mut a = args();
        a.nemesis = "kill".into();
        a.time_limit_secs = 3;
        let e = TestSpec::from_args(&a).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.flag, "--time-limit", "{text}");
        assert!(
            text.contains("--nemesis-interval-ms 5000") && text.contains("--time-limit 11"),
            "{text}"
        );
        a.nemesis = "none".into();
        assert!(TestSpec::from_args(&a).is_ok(), "no faults asked for");
        a.nemesis = "kill".into();
        a.time_limit_secs = 11;
        assert!(TestSpec::from_args(&a).is_ok());
    }

    #[test]
    fn a_time_limit_that_fits_a_fault_holds_one_for_every_seed() {
        for (interval_ms, duration_ms) in [(5000, 3000), (1000, 500), (2000, 1200), (101, 50)] {
            let mut a = args();
            a.nemesis_interval_ms = Some(interval_ms);
            a.nemesis_duration_ms = Some(duration_ms);
            let mut spec = TestSpec::from_args(&a).unwrap();
            spec.time_limit_secs = spec.first_fault_healed_ms().div_ceil(1000);
            for seed in 0..200 {
                spec.seed = seed;
                let drawn = nemesis::Schedule::generate(&spec.schedule_spec()).unwrap();
                assert!(
                    !drawn.events.is_empty(),
                    "seed {seed}, {interval_ms}/{duration_ms} ms, {} s",
                    spec.time_limit_secs
                );
            }
        }
    }

    #[test]
    fn without_a_timing_the_seed_draws_it_and_the_reproduce_line_leaves_it_to_the_seed() {
        let mut a = args();
        a.nemesis_interval_ms = None;
        a.nemesis_duration_ms = None;
        let all = TestSpec::from_args(&a).unwrap();
        assert_eq!(all.swarm, Swarm::Full);
        let line = all.command_line();
        assert!(!line.contains("--nemesis-interval-ms"), "{line}");
        assert_eq!(TestSpec::from_args(&all.to_args()), Ok(all.clone()));
        a.nemesis = "kill,partition".into();
        assert_eq!(TestSpec::from_args(&a).unwrap().swarm, Swarm::Timing);
        a.nemesis = "none".into();
        assert_eq!(TestSpec::from_args(&a).unwrap().swarm, Swarm::Off);
        a.nemesis = "all".into();
        a.nemesis_duration_ms = Some(2000);
        let fixed = TestSpec::from_args(&a).unwrap();
        assert_eq!(fixed.swarm, Swarm::Off);
        assert_eq!(
            (fixed.nemesis_interval_ms, fixed.nemesis_duration_ms),
            (5000, 2000)
        );
        assert!(fixed.command_line().contains("--nemesis-interval-ms 5000"));
        // A swarm fits a fault into a few seconds, for every seed.
        let mut short = all;
        short.time_limit_secs = SWARM_FIRST_FAULT_HEALED_MS.div_ceil(1000);
        assert!(short.check_room_for_a_fault().is_ok());
        for seed in 0..200 {
            short.seed = seed;
            let drawn = nemesis::Schedule::generate(&short.schedule_spec()).unwrap();
            assert!(!drawn.events.is_empty(), "seed {seed}");
        }
        short.time_limit_secs = 2;
        let e = short.check_room_for_a_fault().unwrap_err();
        assert!(e.message.contains("fastest tempo"), "{e}");
    }

    #[test]
    fn a_spec_turned_back_into_flags_validates_to_itself() {
        let mut raftd = args();
        raftd.bugs = vec!["no-fencing".into()];
        raftd.no_lease = true;
        raftd.stall_probability = 0.25;
        let mut etcd = args();
        etcd.system = Some("etcd".into());
        etcd.nemesis = "none".into();
        etcd.endpoints = Some("127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379".into());
        for a in [args(), raftd, etcd] {
            let spec = TestSpec::from_args(&a).unwrap();
            assert_eq!(TestSpec::from_args(&spec.to_args()), Ok(spec));
        }
        let mut spec = TestSpec::from_args(&args()).unwrap();
        spec.stall_probability = 7.5;
        let e = TestSpec::from_args(&spec.to_args()).unwrap_err();
        assert_eq!(e.flag, "--stall-probability");
    }
}
