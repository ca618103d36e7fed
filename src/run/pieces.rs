//! Where the parts of splitbrain plug into a run, one function each: the runtime (where
//! nodes run), the system adapter (what they run), the nemesis schedule, the workload,
//! the checkers and the report. The lifecycle speaks only to this module, so a change in
//! any part's API is absorbed here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use checkers::Recorder;
use nemesis::{Capabilities, FaultKind, FaultRuntime};
use workloads::system::{ImageKind, Topology};
use workloads::CancellationToken;
use workloads::{System, SystemOptions};

use crate::runtime::{self, Runtime, RuntimeConfig, RuntimeKind};
use crate::spec::{fault_name, RuntimeChoice, SystemKind, TestSpec};

/// The names `--bug` accepts: raftd's catalogue.
pub fn known_bugs() -> Vec<String> {
    raftd::core::Bug::ALL
        .iter()
        .map(|b| b.name().to_string())
        .collect()
}

/// Why a run cannot begin: the user's request cannot be met (exit 2), or the harness
/// itself is broken (exit 3, never a verdict).
pub enum SelectError {
    Usage(String),
    Harness(anyhow::Error),
}

/// Everything decided before anything is created: the runtime and why, the system
/// adapter, the guarantees the test claims and the faults on offer.
pub struct Selection {
    pub runtime_kind: RuntimeKind,
    pub runtime_name: String,
    pub runtime_reason: String,
    pub system: Arc<dyn System>,
    pub options: SystemOptions,
    pub guarantees: checkers::Guarantees,
    pub capabilities: Capabilities,
    pub system_version: String,
}

pub async fn select(spec: &TestSpec) -> Result<Selection, SelectError> {
    if !spec.endpoints.is_empty() {
        return select_external(spec);
    }
    let wanted = match spec.runtime {
        RuntimeChoice::Auto => RuntimeKind::Auto,
        RuntimeChoice::Docker => RuntimeKind::Docker,
        RuntimeChoice::Netns => RuntimeKind::Netns,
        RuntimeChoice::Local => RuntimeKind::Local,
        RuntimeChoice::Sim => {
            return Err(SelectError::Usage(
                "--runtime sim: the simulation starts no cluster; `run` hands it to the simulator before this point".into(),
            ))
        }
    };
    let (kind, reason) = runtime::resolve_kind(wanted).await;
    if spec.image.is_some() && kind != RuntimeKind::Docker {
        return Err(SelectError::Usage(format!(
            "--image: a custom image needs docker, but the runtime is {kind} ({reason})"
        )));
    }
    if kind == RuntimeKind::Local && spec.system != SystemKind::Raftd {
        return Err(SelectError::Usage(format!(
            "--runtime: {reason}, and the local runtime runs raftd only, not {}; start docker or run as root for netns",
            spec.system.name()
        )));
    }
    let (system, image, version) = system_for(spec).map_err(SelectError::Harness)?;
    let options = SystemOptions {
        bugs: spec.bugs.clone(),
        lease: spec.lease,
        fencing: spec.fencing,
        seed: spec.seed,
        ..SystemOptions::default()
    };
    let guarantees = system.guarantees(&options);
    let mut capabilities = runtime::capabilities(kind, &image);
    for (fault, why) in system.refused_faults() {
        capabilities.supported.remove(&fault);
        capabilities.refused.insert(fault, why);
    }
    Ok(Selection {
        runtime_kind: kind,
        runtime_name: kind.to_string(),
        runtime_reason: reason,
        system,
        options,
        guarantees,
        capabilities,
        system_version: version,
    })
}

/// A cluster of the user's own (`--endpoints`): no runtime is created and no fault is
/// on offer; the adapter talks to the endpoints as to nodes it started.
fn select_external(spec: &TestSpec) -> Result<Selection, SelectError> {
    let fencing = spec.fencing;
    let system: Arc<dyn System> = match spec.system {
        SystemKind::Etcd => Arc::new(workloads::etcd::EtcdSystem::new(fencing)),
        SystemKind::Zookeeper => Arc::new(workloads::zookeeper::ZkSystem::new(fencing)),
        SystemKind::Raftd => {
            return Err(SelectError::Usage(
                "--endpoints: a cluster of your own must be etcd or zookeeper".into(),
            ))
        }
    };
    let options = SystemOptions {
        fencing,
        seed: spec.seed,
        ..SystemOptions::default()
    };
    let guarantees = system.guarantees(&options);
    Ok(Selection {
        // Never created: `start` runs no runtime for a cluster of the user's own.
        runtime_kind: RuntimeKind::Local,
        runtime_name: "external".into(),
        runtime_reason: format!(
            "--endpoints names a running cluster: {}",
            spec.endpoints.join(",")
        ),
        system,
        options,
        guarantees,
        capabilities: runtime::external::capabilities(),
        system_version: format!("{} (your own cluster)", spec.system.name()),
    })
}

/// The adapter for the spec's system, the image its faults are decided by, and its
/// version. A custom image (`--image`) of raftd runs raftd as its program, so it takes
/// raftd's faults (the clock through raftd's admin call) like the built-in image.
fn system_for(spec: &TestSpec) -> anyhow::Result<(Arc<dyn System>, ImageKind, String)> {
    match spec.system {
        SystemKind::Raftd => {
            let binary = match (find_raftd(), &spec.image) {
                (Ok(binary), _) => binary,
                // The custom image brings its own raftd; the host needs none.
                (Err(_), Some(_)) => PathBuf::from(runtime::images::RAFTD_IN_IMAGE),
                (Err(e), None) => return Err(e),
            };
            let image = ImageKind::Raftd {
                binary: binary.clone(),
            };
            let version = match &spec.image {
                Some(custom) => format!("raftd in the custom image {custom}"),
                None => host_version(&binary.display().to_string(), "raftd"),
            };
            Ok((
                Arc::new(workloads::raftd::RaftdSystem::new(binary)),
                image,
                version,
            ))
        }
        SystemKind::Etcd => Ok((
            Arc::new(workloads::etcd::EtcdSystem::new(spec.fencing)),
            ImageKind::Etcd,
            host_version(workloads::etcd::ETCD_PROGRAM, "etcd"),
        )),
        SystemKind::Zookeeper => Ok((
            Arc::new(workloads::zookeeper::ZkSystem::new(spec.fencing)),
            ImageKind::Zookeeper,
            zookeeper_version(),
        )),
    }
}

/// The first line `PROGRAM --version` prints: the nodes run the host's own build of a
/// system (images are assembled from host files), so the host's version is theirs.
fn host_version(program: &str, name: &str) -> String {
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
        .unwrap_or_else(|| format!("{name} (version unknown: {program} --version failed)"))
}

/// ZooKeeper's version from its jar's Maven properties (the JVM would take seconds).
fn zookeeper_version() -> String {
    let jar = crate::runtime::images::ZOOKEEPER_JAR;
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

/// The raftd binary: `$SPLITBRAIN_RAFTD`, else next to this executable (cargo puts every
/// workspace binary in one directory; test executables sit one level deeper, in `deps`).
pub fn find_raftd() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SPLITBRAIN_RAFTD") {
        let p = PathBuf::from(p);
        anyhow::ensure!(
            p.is_file(),
            "SPLITBRAIN_RAFTD={} is not a file",
            p.display()
        );
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("raftd");
        if candidate.is_file() {
            return Ok(candidate.canonicalize()?);
        }
        tried.push(candidate.display().to_string());
    }
    if let Some(built) = build_raftd_beside(&exe) {
        return Ok(built);
    }
    anyhow::bail!(
        "cannot find the raftd binary (tried {}); build it with `cargo build -p raftd` or set SPLITBRAIN_RAFTD",
        tried.join(", ")
    )
}

/// `cargo run -- run` builds splitbrain alone; when this executable sits in a cargo
/// target directory of the workspace, build raftd into the same profile directory.
fn build_raftd_beside(exe: &Path) -> Option<PathBuf> {
    let profile_dir = exe.parent()?;
    let profile = profile_dir.file_name()?.to_str()?;
    let target = profile_dir.parent()?;
    let workspace = target.parent()?;
    let is_workspace = target.file_name()? == "target"
        && workspace.join("raftd").join("Cargo.toml").is_file()
        && matches!(profile, "debug" | "release");
    if !is_workspace {
        return None;
    }
    eprintln!("splitbrain: building raftd (cargo build -p raftd, {profile} profile)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", "raftd", "--bin", "raftd"])
        .current_dir(workspace);
    if profile == "release" {
        cmd.arg("--release");
    }
    let ok = cmd.status().is_ok_and(|s| s.success());
    let built = profile_dir.join("raftd");
    (ok && built.is_file()).then_some(built)
}

/// A nemesis schedule, and how it is stored in `test.json`.
pub struct Schedule {
    pub schedule: nemesis::Schedule,
    pub json: serde_json::Value,
    pub summary: String,
}

impl Schedule {
    fn new(schedule: nemesis::Schedule) -> Schedule {
        Schedule {
            json: serde_json::to_value(&schedule).unwrap_or_default(),
            summary: schedule.summary(),
            schedule,
        }
    }
}

/// Draws a schedule from the seed, refusing faults the runtime or system cannot inject.
pub fn new_schedule(spec: &TestSpec, sel: &Selection) -> Result<Schedule, String> {
    refuse_unsupported(&spec.fault_kinds(), &sel.capabilities)?;
    let drawn = nemesis::Schedule::generate(&nemesis::ScheduleSpec::new(
        spec.seed,
        spec.node_names(),
        spec.time_limit_secs * 1000,
        spec.nemesis_interval_ms,
        spec.nemesis_duration_ms,
        spec.nemesis_kinds.clone(),
    ))
    .map_err(|e| e.to_string())?;
    refuse_empty(spec, &drawn)?;
    Ok(Schedule::new(drawn))
}

/// A test that asks for faults and has none scheduled would end with a verdict that
/// says nothing about them: it does not start. (`TestSpec` refuses time limits too short
/// for any seed; this catches a schedule from a file.)
fn refuse_empty(spec: &TestSpec, schedule: &nemesis::Schedule) -> Result<(), String> {
    if spec.nemesis_kinds.is_empty() || !schedule.events.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} asks for faults but the schedule holds none: --time-limit {} s leaves no room for a fault with --nemesis-interval-ms {} and --nemesis-duration-ms {}; use --time-limit {} or more, or --nemesis none",
        spec.nemesis_flag(),
        schedule.time_limit_ms / 1000,
        schedule.interval_ms,
        schedule.duration_ms,
        spec.first_fault_healed_ms().div_ceil(1000),
    ))
}

/// The schedule of an earlier run, checked against what this runtime can inject.
pub fn schedule_from_json(
    spec: &TestSpec,
    sel: &Selection,
    json: serde_json::Value,
) -> Result<Schedule, String> {
    let schedule: nemesis::Schedule = serde_json::from_value(json)
        .map_err(|e| format!("the schedule in test.json cannot be read: {e}"))?;
    schedule.check().map_err(|e| e.to_string())?;
    if schedule.nodes != spec.node_names() {
        return Err(format!(
            "the schedule names nodes {:?} but the spec has {} nodes",
            schedule.nodes, spec.nodes
        ));
    }
    schedule
        .check_capabilities(&sel.capabilities)
        .map_err(|e| e.to_string())?;
    refuse_empty(spec, &schedule)?;
    Ok(Schedule::new(schedule))
}

fn refuse_unsupported(faults: &[FaultKind], caps: &Capabilities) -> Result<(), String> {
    let Some(refused) = faults.iter().find(|f| !caps.supported.contains(f)) else {
        return Ok(());
    };
    let why = caps
        .refused
        .get(refused)
        .map_or("no reason given", String::as_str);
    let usable: Vec<&str> = faults
        .iter()
        .filter(|f| caps.supported.contains(f))
        .map(|f| fault_name(*f))
        .collect();
    let instead = if usable.is_empty() {
        "none".to_string()
    } else {
        usable.join(",")
    };
    Err(format!(
        "{} faults cannot be injected here: {why}; leave them out, e.g. --nemesis {instead}",
        fault_name(*refused)
    ))
}

/// A started cluster and everything a run does to it.
pub struct Running {
    runtime: Arc<dyn Runtime>,
    topology: Topology,
    workload: workloads::Election,
    /// What the nemesis may have left in force, for the final phase.
    faults: tokio::sync::Mutex<nemesis::FaultState>,
    /// The schedule as it ran (leader targets filled in), once the nemesis is done.
    ran: std::sync::Mutex<Option<nemesis::Schedule>>,
}

/// Creates the runtime, plans addresses, starts every node, and connects the workload.
pub async fn start(
    spec: &TestSpec,
    sel: &Selection,
    run_id: &str,
    dir: &Path,
    recorder: &Recorder,
) -> anyhow::Result<Running> {
    let cfg = RuntimeConfig::new(run_id, dir)?;
    let rt: Arc<dyn Runtime> = if spec.endpoints.is_empty() {
        Arc::from(runtime::create(sel.runtime_kind, cfg).await?)
    } else {
        Arc::new(runtime::external::ExternalRuntime::new(
            run_id,
            &spec.endpoints,
        )?)
    };
    let ports = sel.system.ports();
    let wanted_ports = runtime::NodePorts {
        client: ports.client_port,
        peer: ports.peer_port,
        extra: (0..ports.extra_ports)
            .map(|i| ports.peer_port + 1 + i as u16)
            .collect(),
    };
    let running = async {
        let topology = rt.plan(spec.nodes, &wanted_ports).await?;
        if spec.endpoints.is_empty() {
            let mut specs = sel.system.node_specs(&topology, &sel.options)?;
            in_image_programs(&mut specs, spec.image.as_deref());
            rt.start_cluster(specs).await?;
        }
        let clients = workloads::Cluster::connect(sel.system.as_ref(), &topology).await?;
        let workload = workloads::Election::new(workload_params(spec), clients, recorder.clone())?;
        anyhow::Ok((topology, workload))
    }
    .await;
    match running {
        Ok((topology, workload)) => Ok(Running {
            runtime: rt,
            topology,
            workload,
            faults: Default::default(),
            ran: Default::default(),
        }),
        Err(e) => {
            // Whatever was created is this run's to remove.
            if let Err(t) = rt.teardown().await {
                eprintln!("splitbrain: warning: teardown after a failed start: {t}");
            }
            Err(e)
        }
    }
}

/// The raftd adapter names the host's binary as the program; inside a container it sits
/// at `RAFTD_IN_IMAGE`, and the process runtimes map any program named `raftd` back to
/// the host binary, so the in-image path serves every runtime. A custom image (`--image`)
/// must hold raftd at that same path.
fn in_image_programs(specs: &mut [workloads::system::NodeSpec], custom_image: Option<&str>) {
    for spec in specs {
        if let (ImageKind::Raftd { .. }, Some(program)) = (&spec.image, spec.command.first_mut()) {
            *program = runtime::images::RAFTD_IN_IMAGE.to_string();
        }
        if let Some(image) = custom_image {
            spec.image = ImageKind::Custom {
                image: image.to_string(),
            };
        }
    }
}

fn workload_params(spec: &TestSpec) -> workloads::WorkloadParams {
    workloads::WorkloadParams {
        rate_hz: spec.rate_hz,
        concurrency: spec.concurrency,
        stall_probability: spec.stall_probability,
        seed: spec.seed,
        ..workloads::WorkloadParams::default()
    }
}

/// Removes whatever a run with this id created, for when `start` was cut short.
pub async fn teardown_run(run_id: &str) {
    match crate::clean::teardown_run(run_id).await {
        Ok(_) => {}
        Err(e) => eprintln!(
            "splitbrain: warning: cleaning up run {run_id}: {e}; `splitbrain clean` removes what is left"
        ),
    }
}

/// The nemesis asks the workload's clients who leads.
struct Probe<'a>(&'a workloads::Cluster);

#[async_trait::async_trait]
impl nemesis::LeaderProbe for Probe<'_> {
    async fn leader(&self) -> Option<String> {
        self.0.leader().await
    }
}

/// How often a leader is asked for while waiting for the first one.
const LEADER_POLL_MS: u64 = 200;

impl Running {
    pub fn topology_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.topology).unwrap_or_default()
    }

    /// Waits until some node reports itself leader; returns its name.
    pub async fn wait_for_leader(&self, within: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(leader) = self.workload.cluster().leader().await {
                return Ok(leader);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no node reported itself leader"
            );
            tokio::time::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
        }
    }

    /// Runs the client workload until `stop` is cancelled.
    pub async fn workload(&self, stop: CancellationToken) -> anyhow::Result<()> {
        self.workload.run(stop).await?;
        Ok(())
    }

    /// Runs the nemesis schedule until it ends or `stop` is cancelled.
    pub async fn nemesis(
        &self,
        schedule: Schedule,
        recorder: Recorder,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let rt: Arc<dyn FaultRuntime> = self.runtime.clone();
        let probe = Probe(self.workload.cluster());
        let result =
            nemesis::run_schedule(&schedule.schedule, rt.as_ref(), &recorder, &probe, &stop).await;
        match result {
            Ok(outcome) => {
                *self.faults.lock().await = outcome.state;
                *self.ran.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.schedule);
                Ok(())
            }
            Err(nemesis::RunError::History { source, state }) => {
                *self.faults.lock().await = *state;
                // The io error stays in the chain: a full disk is told from it.
                Err(anyhow::Error::new(source).context("could not record a nemesis op"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The schedule as it ran, leader targets filled in (replay runs exactly this).
    pub fn schedule_as_run(&self) -> Option<serde_json::Value> {
        let ran = self.ran.lock().unwrap_or_else(|e| e.into_inner());
        ran.as_ref().and_then(|s| serde_json::to_value(s).ok())
    }

    /// Heal, resume, start, clock reset — each recorded.
    pub async fn final_phase(&self, recorder: &Recorder) -> anyhow::Result<()> {
        let rt: Arc<dyn FaultRuntime> = self.runtime.clone();
        let mut faults = self.faults.lock().await;
        nemesis::final_phase(rt.as_ref(), recorder, &mut faults).await?;
        Ok(())
    }

    /// A linearizable read, then a read from every node, recorded.
    pub async fn final_reads(&self) -> anyhow::Result<workloads::FinalReads> {
        Ok(self.workload.final_reads().await?)
    }

    pub async fn teardown(&self) -> anyhow::Result<()> {
        self.runtime.teardown().await?;
        Ok(())
    }
}

/// The number of violations the checkers find in `history`.
pub fn violations_in(history: &checkers::History, guarantees: checkers::Guarantees) -> usize {
    let result = checkers::check(history, &guarantees);
    result
        .counts
        .anomalies
        .iter()
        .filter(|(kind, _)| {
            result
                .anomalies
                .iter()
                .any(|a| a.kind == **kind && a.severity == checkers::Severity::Violation)
        })
        .map(|(_, n)| *n as usize)
        .sum()
}

/// What the checkers made of a history.
pub struct Checked {
    pub verdict: checkers::Validity,
    /// Faults the nemesis injected (partition, pause, kill and clock ops that ended ok).
    pub faults_injected: usize,
}

/// Checks `dir/history.jsonl` and writes `dir/results.json`.
pub fn check_and_write(dir: &Path, guarantees: checkers::Guarantees) -> anyhow::Result<Checked> {
    let history = checkers::History::from_path(&dir.join("history.jsonl"))?;
    let faults_injected = history
        .nemesis
        .iter()
        .filter(|op| op.kind == checkers::OpType::Ok)
        .filter(|op| {
            use checkers::F;
            matches!(op.f, F::Partition | F::Pause | F::Kill | F::Clock)
        })
        .count();
    let result = checkers::check(&history, &guarantees);
    checkers::write_results(&dir.join("results.json"), &result)?;
    Ok(Checked {
        verdict: result.valid,
        faults_injected,
    })
}

pub fn write_report(dir: &Path) -> anyhow::Result<()> {
    crate::report::write_report(dir)
}

pub fn write_index(root: &Path) -> anyhow::Result<()> {
    crate::report::write_index(root)
}
