//! Node processes on this host (netns and local runtimes): launching a node's command with
//! its paths mapped onto a per-node directory, optionally inside a network namespace, and
//! the process faults (SIGSTOP/SIGCONT, SIGKILL and start again, clock).
//!
//! A node is a process group: its command starts one, and whatever that starts (a shell
//! that runs two programs) stays in it. Every signal goes to the whole group, as docker's
//! kill and pause reach every process of a container, and a killed or stopped node is
//! dead once no process of its group is left.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nemesis::runtime::{Capabilities, FaultError, FaultKind};
use nemesis::CrashPoint;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use workloads::system::{ClockControl, Image, NodeAddr, NodeSpec};

use super::state::{proc_stat, RunState, RUN_ENV};
use super::{
    admin_clock_call, clock_control_file, require, set_node_clock, write_clock_control,
    RuntimeConfig, RuntimeError,
};

/// How often state changes (stopped, exited) are polled for.
const POLL_INTERVAL_MS: u64 = 10;
/// How long a graceful stop waits after SIGTERM before SIGKILL.
const STOP_GRACE_MS: u64 = 5000;
/// PATH a node process gets (its environment is otherwise only what its spec says).
const NODE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Rewrites paths inside a node (data dir, files) to their host locations.
#[derive(Clone, Debug, Default)]
pub struct PathMap {
    /// (inside, host), longest inside path first so nested paths map correctly.
    pairs: Vec<(String, String)>,
}

impl PathMap {
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        PathMap { pairs }
    }

    /// Replace each mapped path where it appears as a whole path (not inside a longer name).
    pub fn apply(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (inside, host) in &self.pairs {
            out = replace_path(&out, inside, host);
        }
        out
    }
}

/// Replace `from` by `to` wherever `from` is not continued by a path-name character.
fn replace_path(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let after = &rest[i + from.len()..];
        let boundary = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'));
        out.push_str(&rest[..i]);
        out.push_str(if boundary { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// What it takes to (re)start one node process.
#[derive(Clone, Debug)]
pub struct Launch {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log_path: PathBuf,
    /// `/run/netns/<name>` for netns; None runs in the host's namespace.
    pub netns: Option<PathBuf>,
    /// The Debian package that brings `program`, named when it is missing.
    pub package: Option<String>,
}

/// The host program for a node's `command[0]`.
pub fn resolve_program(spec: &NodeSpec) -> Result<PathBuf, RuntimeError> {
    let first = spec
        .command
        .first()
        .ok_or_else(|| RuntimeError::Plan(format!("node {}: empty command", spec.name)))?;
    // A program the recipe places in the image runs from the host file it came from.
    if let Image::Recipe(recipe) = &spec.image {
        if let Some(host) = recipe.host_file(first) {
            return Ok(host.to_path_buf());
        }
    }
    if first.starts_with('/') {
        return Ok(PathBuf::from(first));
    }
    NODE_PATH
        .split(':')
        .map(|d| Path::new(d).join(first))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            RuntimeError::Plan(format!("node {}: no program {first} on PATH", spec.name))
        })
}

/// Lay out a node's host directory (data and files) and build its launch.
pub fn prepare(
    cfg: &RuntimeConfig,
    spec: &NodeSpec,
    netns: Option<PathBuf>,
) -> Result<Launch, RuntimeError> {
    let node_dir = super::state::ensure_run_dir(&cfg.run_id)?.join(&spec.name);
    let data = node_dir.join("data");
    let root = node_dir.join("root");
    for d in [&data, &root] {
        std::fs::create_dir_all(d).map_err(|e| RuntimeError::io(d, e))?;
    }
    let mut pairs = vec![(spec.data_dir.clone(), data.to_string_lossy().to_string())];
    for (path, _) in &spec.files {
        if !path.starts_with(&spec.data_dir) {
            pairs.push((path.clone(), format!("{}{path}", root.display())));
        }
    }
    let map = PathMap::new(pairs);
    for (path, contents) in &spec.files {
        let host = PathBuf::from(map.apply(path));
        if let Some(parent) = host.parent() {
            std::fs::create_dir_all(parent).map_err(|e| RuntimeError::io(parent, e))?;
        }
        std::fs::write(&host, map.apply(contents)).map_err(|e| RuntimeError::io(&host, e))?;
    }
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), NODE_PATH.into()),
        ("HOME".into(), node_dir.to_string_lossy().into()),
    ];
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), map.apply(v))));
    if let Some(library) = spec.clock.preload_library() {
        // Preloaded from the host file the recipe puts at the library's path, as the
        // command's program is.
        let library = spec.host_file(library);
        if let Image::Recipe(recipe) = &spec.image {
            super::images::need_file(&recipe.name, &library, recipe.package_of(&library))?;
        }
        let file = clock_control_file(&cfg.run_id, &spec.name);
        env.extend(clock_env(
            &spec.clock,
            &library.to_string_lossy(),
            &file.to_string_lossy(),
        ));
    }
    // Last, so the spec cannot override it: `clean` kills a recorded pid only if it
    // carries this.
    env.push((RUN_ENV.into(), cfg.run_id.clone()));
    let log_path = cfg.node_log_path(&spec.name);
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| RuntimeError::io(parent, e))?;
    }
    let program = resolve_program(spec)?;
    let package = match &spec.image {
        Image::Recipe(recipe) => recipe.package_of(&program).map(str::to_string),
        Image::Prebuilt { .. } | Image::Dockerfile { .. } | Image::Host => None,
    };
    Ok(Launch {
        name: spec.name.clone(),
        program,
        package,
        args: spec.command[1..].iter().map(|a| map.apply(a)).collect(),
        env,
        cwd: node_dir,
        log_path,
        netns,
    })
}

/// The environment that puts a node's programs under the library that moves their wall
/// clock, preloaded from `library` (the path the node sees it at) and reading
/// `control_file`; none for a clock moved otherwise.
pub fn clock_env(clock: &ClockControl, library: &str, control_file: &str) -> Vec<(String, String)> {
    match clock {
        ClockControl::Faketime { .. } => faketime_env(library, control_file),
        ClockControl::Preload { .. } => vec![
            ("LD_PRELOAD".into(), library.into()),
            ("SPLITBRAIN_CLOCK_FILE".into(), control_file.into()),
        ],
        ClockControl::AdminCall { .. } | ClockControl::Fixed { .. } => Vec::new(),
    }
}

/// The environment that puts a program under libfaketime (preloaded from `library`)
/// and its control file.
pub fn faketime_env(library: &str, control_file: &str) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), library.into()),
        ("FAKETIME_TIMESTAMP_FILE".into(), control_file.into()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        // The JVM hangs if its monotonic clock is faked; only the wall clock moves.
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("FAKETIME_FORCE_MONOTONIC_FIX".into(), "0".into()),
    ]
}

/// Start the process, in its namespace if any, output appended to its log file.
pub fn spawn(l: &Launch) -> Result<Child, RuntimeError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&l.log_path)
        .map_err(|e| RuntimeError::io(&l.log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| RuntimeError::io(&l.log_path, e))?;
    let mut cmd = Command::new(&l.program);
    cmd.args(&l.args)
        .env_clear()
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&l.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: a Ctrl-C at the terminal reaches the controller only,
        // which then tears the cluster down in order.
        .process_group(0)
        // A runtime dropped without its teardown (a panic, an early error return) still
        // takes its nodes with it; after a crash of the controller, `clean` does.
        .kill_on_drop(true);
    let ns_file = match &l.netns {
        Some(p) => Some(std::fs::File::open(p).map_err(|e| RuntimeError::io(p, e))?),
        None => None,
    };
    if let Some(f) = &ns_file {
        let fd = f.as_raw_fd();
        // SAFETY: setns is async-signal-safe; the fd stays open until spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().map_err(|e| {
        let hint = match &l.package {
            Some(package) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("; install the Debian package {package} (or run scripts/install-deps)")
            }
            _ => String::new(),
        };
        RuntimeError::Command {
            what: format!("start {} ({})", l.name, l.program.display()),
            reason: format!("{e}{hint}"),
        }
    })?;
    drop(ns_file);
    Ok(child)
}

/// One node process and how to restart it.
pub struct ProcNode {
    pub launch: Launch,
    pub addr: NodeAddr,
    pub clock: ClockControl,
    pub child: Option<Child>,
}

impl ProcNode {
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| c.id()).map(|p| p as i32)
    }

    /// Running (or stopped by a signal), as opposed to exited or never started.
    pub fn is_alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// The process side shared by the netns and local runtimes.
pub struct ProcCluster {
    pub cfg: RuntimeConfig,
    pub nodes: Mutex<BTreeMap<String, ProcNode>>,
    pub run_state: std::sync::Mutex<RunState>,
    pub offsets: Mutex<BTreeMap<String, i64>>,
    pub caps: std::sync::Mutex<Capabilities>,
    /// Each node's data directory, when the run has power-loss faults.
    pub disks: super::powerfs::PowerDisks,
    pub clock_deferred: super::DeferredClocks,
    crash_arms: super::CrashArms,
}

impl ProcCluster {
    pub fn new(cfg: RuntimeConfig) -> Self {
        let run_state = RunState::new(&cfg.run_id);
        ProcCluster {
            cfg,
            nodes: Mutex::new(BTreeMap::new()),
            run_state: std::sync::Mutex::new(run_state),
            disks: Default::default(),
            clock_deferred: Default::default(),
            offsets: Mutex::new(BTreeMap::new()),
            caps: std::sync::Mutex::new(Capabilities::default()),
            crash_arms: Default::default(),
        }
    }

    /// Update the state file (clean's record of what to remove after a crash).
    pub fn record(&self, f: impl FnOnce(&mut RunState)) -> Result<(), RuntimeError> {
        let mut st = self.run_state.lock().expect("run state lock");
        f(&mut st);
        st.save()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.caps.lock().expect("caps lock").clone()
    }

    fn require(&self, fault: FaultKind) -> Result<(), FaultError> {
        require(&self.capabilities(), fault)
    }

    /// Launch a node process and track its pid in the state file.
    pub fn launch(&self, node: &mut ProcNode) -> Result<(), RuntimeError> {
        let child = spawn(&node.launch)?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        node.child = Some(child);
        let name = node.launch.name.clone();
        self.record(|st| st.track(&name, pid))
    }

    /// Register and start every node.
    pub async fn start_all(&self, nodes: Vec<ProcNode>) -> Result<(), RuntimeError> {
        let mut map = self.nodes.lock().await;
        for mut n in nodes {
            if n.clock.preload_library().is_some() {
                let f = clock_control_file(&self.cfg.run_id, &n.launch.name);
                write_clock_control(&f, 0)?;
            }
            self.launch(&mut n)?;
            map.insert(n.launch.name.clone(), n);
        }
        Ok(())
    }

    pub async fn pause(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "pause");
        self.require(FaultKind::Pause)?;
        self.signal_and_wait(names, Signal::SIGSTOP, true).await
    }

    pub async fn resume(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "resume");
        self.require(FaultKind::Pause)?;
        self.signal_and_wait(names, Signal::SIGCONT, false).await?;
        self.apply_deferred_clock(names).await;
        Ok(())
    }

    async fn signal_and_wait(
        &self,
        names: &[String],
        sig: Signal,
        stopped: bool,
    ) -> Result<(), FaultError> {
        let mut nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        let mut pids = Vec::new();
        for name in names {
            let node = nodes.get_mut(name).expect("checked above");
            if !node.is_alive() {
                continue; // a killed node is neither paused nor running: nothing to do
            }
            if let Some(pid) = node.pid() {
                killpg(Pid::from_raw(pid), sig)
                    .map_err(|e| FaultError::Failed(format!("{sig} to {name}: {e}")))?;
                pids.push(pid);
            }
        }
        drop(nodes);
        for pid in pids {
            let what = format!(
                "pid {pid} to be {}",
                if stopped { "stopped" } else { "running" }
            );
            super::wait_until(&what, self.cfg.node_op_timeout, poll(), || async move {
                match proc_stat(pid) {
                    Some((s, _)) => (s == 'T') == stopped,
                    None => true,
                }
            })
            .await?;
        }
        Ok(())
    }

    pub async fn is_paused(&self, name: &str) -> Result<bool, RuntimeError> {
        let mut nodes = self.nodes.lock().await;
        let node = nodes
            .get_mut(name)
            .ok_or_else(|| RuntimeError::UnknownNode(name.into()))?;
        if !node.is_alive() {
            return Ok(false);
        }
        Ok(node
            .pid()
            .and_then(proc_stat)
            .is_some_and(|(s, _)| s == 'T'))
    }

    /// SIGKILL and reap; a node already dead is left as is.
    pub async fn kill(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "kill");
        self.require(FaultKind::Kill)?;
        let mut nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let node = nodes.get_mut(name).expect("checked above");
            let pid = node.pid();
            let members = pid.map(group_members).unwrap_or_default();
            if let Some(child) = node.child.as_mut() {
                if let Some(pid) = pid {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.start_kill();
                tokio::time::timeout(self.cfg.node_op_timeout, child.wait())
                    .await
                    .map_err(|_| FaultError::Failed(format!("{name} did not die after SIGKILL")))?
                    .map_err(|e| FaultError::Failed(format!("reaping {name}: {e}")))?;
            }
            if let Some(pid) = pid {
                wait_group_gone(pid, self.cfg.node_op_timeout)
                    .await
                    .map_err(|left| {
                        FaultError::Failed(format!(
                            "{name}: processes {left:?} of its group outlived SIGKILL"
                        ))
                    })?;
            }
            for member in members {
                remove_faketime_shm(member);
            }
        }
        Ok(())
    }

    /// Start dead nodes again (running ones are left alone); reapplies clock offsets.
    /// Arms `point` on each node (one down or paused runs unarmed when it comes back).
    pub async fn crash_point(&self, names: &[String], point: CrashPoint) -> Result<(), FaultError> {
        self.require(FaultKind::CrashPoint)?;
        let path = self.cfg.crash_points.clone().unwrap_or_default();
        super::check_nodes(&*self.nodes.lock().await, names)?;
        for name in names {
            let addr = self.answering(name).await;
            self.crash_arms
                .arm(&path, name, point, addr.as_ref())
                .await?;
        }
        Ok(())
    }

    /// Disarms `point` on each node that runs, and starts those that died.
    pub async fn crash_point_heal(
        &self,
        names: &[String],
        point: CrashPoint,
    ) -> Result<(), FaultError> {
        self.require(FaultKind::CrashPoint)?;
        let path = self.cfg.crash_points.clone().unwrap_or_default();
        super::check_nodes(&*self.nodes.lock().await, names)?;
        let mut dead = Vec::new();
        for name in names {
            let addr = self.answering(name).await;
            if self
                .crash_arms
                .disarm(&path, name, point, addr.as_ref())
                .await?
            {
                dead.push(name.clone());
            }
        }
        if dead.is_empty() {
            Ok(())
        } else {
            self.start(&dead).await
        }
    }

    /// The node's client address, if its process runs unpaused.
    async fn answering(&self, name: &str) -> Option<NodeAddr> {
        let mut nodes = self.nodes.lock().await;
        let n = nodes.get_mut(name)?;
        let paused = n.pid().and_then(proc_stat).is_some_and(|(s, _)| s == 'T');
        (n.is_alive() && !paused).then(|| n.addr.clone())
    }

    pub async fn start(&self, names: &[String]) -> Result<(), FaultError> {
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, "start");
        for name in names {
            self.crash_arms.forget(name).await;
        }
        let mut nodes = self.nodes.lock().await;
        super::check_nodes(&nodes, names)?;
        for name in names {
            let node = nodes.get_mut(name).expect("checked above");
            if node.is_alive() {
                continue;
            }
            self.launch(node)?;
        }
        drop(nodes);
        // A new process starts at offset 0, and is given any other by the start.
        self.clock_deferred.take(names).await;
        self.reapply_clock(names).await;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub async fn stop(&self, name: &str) -> Result<(), RuntimeError> {
        let mut nodes = self.nodes.lock().await;
        let node = nodes
            .get_mut(name)
            .ok_or_else(|| RuntimeError::UnknownNode(name.into()))?;
        let Some(pid) = node.pid() else { return Ok(()) };
        let members = group_members(pid);
        let child = node.child.as_mut().expect("pid implies child");
        let group = Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGCONT);
        let _ = killpg(group, Signal::SIGTERM);
        let grace = Duration::from_millis(STOP_GRACE_MS);
        let graceful = tokio::time::timeout(grace, child.wait()).await.is_ok()
            && wait_group_gone(pid, grace).await.is_ok();
        if !graceful {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.start_kill();
            let _ = tokio::time::timeout(self.cfg.node_op_timeout, child.wait()).await;
            let _ = wait_group_gone(pid, self.cfg.node_op_timeout).await;
        }
        for member in members {
            remove_faketime_shm(member);
        }
        Ok(())
    }

    pub async fn clock(&self, offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError> {
        self.require(FaultKind::Clock)?;
        {
            let nodes = self.nodes.lock().await;
            super::check_nodes(&nodes, offsets_ms.keys())?;
        }
        for (name, off) in offsets_ms {
            self.set_clock(name, *off).await?;
            self.offsets.lock().await.insert(name.clone(), *off);
        }
        Ok(())
    }

    pub async fn clock_reset(&self) -> Result<(), FaultError> {
        self.require(FaultKind::Clock)?;
        let names: Vec<String> = self.nodes.lock().await.keys().cloned().collect();
        for name in names {
            self.set_clock(&name, 0).await?;
        }
        self.offsets.lock().await.clear();
        Ok(())
    }

    async fn set_clock(&self, name: &str, offset_ms: i64) -> Result<(), FaultError> {
        let (clock, addr, down) = {
            let mut nodes = self.nodes.lock().await;
            let n = nodes
                .get_mut(name)
                .ok_or_else(|| FaultError::UnknownNode(name.into()))?;
            let paused = n.pid().and_then(proc_stat).is_some_and(|(s, _)| s == 'T');
            (n.clock.clone(), n.addr.clone(), !n.is_alive() || paused)
        };
        if down && matches!(clock, ClockControl::AdminCall { .. }) {
            self.clock_deferred.defer(name).await;
            return Ok(());
        }
        set_node_clock(&self.cfg.run_id, name, &clock, &addr, offset_ms).await
    }

    /// Sets the offsets deferred while `names` were paused, now that they answer.
    async fn apply_deferred_clock(&self, names: &[String]) {
        for name in self.clock_deferred.take(names).await {
            let off = self.offsets.lock().await.get(&name).copied().unwrap_or(0);
            if let Err(e) = self.set_clock(&name, off).await {
                tracing::warn!(node = %name, offset_ms = off, "could not set a deferred clock offset: {e}");
            }
        }
    }

    /// A restarted node forgets an offset set through its admin call: set it again once
    /// the node answers.
    async fn reapply_clock(&self, names: &[String]) {
        let offsets = self.offsets.lock().await.clone();
        let nodes = self.nodes.lock().await;
        for name in names {
            let (Some(off), Some(node)) = (offsets.get(name), nodes.get(name)) else {
                continue;
            };
            let ClockControl::AdminCall { path } = &node.clock else {
                continue;
            };
            if *off == 0 {
                continue;
            }
            let (addr, path, off) = (node.addr.clone(), path.clone(), *off);
            tokio::spawn(async move { reapply_admin_clock(addr, path, off).await });
        }
    }

    /// Kill every process; the state file and directories go with the run's cleanup.
    /// SIGKILL, then forget what the nodes wrote since their last fsync.
    pub async fn power_loss(&self, names: &[String]) -> Result<(), FaultError> {
        self.require(FaultKind::PowerLoss)?;
        self.kill(names).await?;
        let lost = self.disks.lose(names).map_err(FaultError::Failed)?;
        tracing::info!(run = %self.cfg.run_id, nodes = ?names, files = lost, "power loss");
        Ok(())
    }

    pub async fn kill_all(&self) {
        let mut nodes = self.nodes.lock().await;
        for node in nodes.values_mut() {
            let pid = node.pid();
            let members = pid.map(group_members).unwrap_or_default();
            if let Some(child) = node.child.as_mut() {
                if let Some(pid) = pid {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.start_kill();
                let _ = tokio::time::timeout(self.cfg.node_op_timeout, child.wait()).await;
            }
            if let Some(pid) = pid {
                let _ = wait_group_gone(pid, self.cfg.node_op_timeout).await;
            }
            for member in members {
                remove_faketime_shm(member);
            }
        }
        nodes.clear();
    }
}

/// How long a restarted raftd gets to come up before its clock offset is given up on.
const CLOCK_REAPPLY_WINDOW_MS: u64 = 15_000;

pub async fn reapply_admin_clock(addr: NodeAddr, path: String, offset_ms: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(CLOCK_REAPPLY_WINDOW_MS);
    while tokio::time::Instant::now() < deadline {
        if admin_clock_call(&addr.host, addr.client_port, &path, offset_ms)
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (host, port) = (&addr.host, addr.client_port);
    tracing::warn!(%host, port, offset_ms, "could not restore the clock offset after a restart");
}

/// libfaketime keeps a shared-memory segment and a semaphore per process in /dev/shm and
/// removes them at exit — which SIGKILL skips. Remove those of a process we killed.
pub fn remove_faketime_shm(pid: i32) {
    for name in [
        format!("/dev/shm/faketime_shm_{pid}"),
        format!("/dev/shm/sem.faketime_sem_{pid}"),
    ] {
        let _ = std::fs::remove_file(name);
    }
}

/// The live processes of process group `pgid` (zombies aside), the leader first if live.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return members;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name: state, ppid, pgrp, …
        let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let live = fields.first().is_some_and(|s| *s != "Z" && *s != "X");
        if live && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            members.push(pid);
        }
    }
    members.sort_by_key(|p| (*p != pgid, *p));
    members
}

/// Waits until no live process is left in group `pgid`; the ones left when `bound` ran
/// out otherwise.
async fn wait_group_gone(pgid: i32, bound: Duration) -> Result<(), Vec<i32>> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let left = group_members(pgid);
        if left.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(left);
        }
        tokio::time::sleep(poll()).await;
    }
}

fn poll() -> Duration {
    Duration::from_millis(POLL_INTERVAL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process runtimes preload the host file the recipe builds the image's clock
    /// library from, and name the host's control file.
    #[test]
    fn a_preloaded_clock_library_resolves_to_its_host_file() {
        use workloads::system::{NodeAddr, SystemOptions, Topology};
        use workloads::System;
        let dir = tempfile::tempdir().unwrap();
        let shim = dir.path().join("libsplitbrain_clock.so");
        std::fs::write(&shim, "").unwrap();
        let topology = Topology {
            nodes: vec![NodeAddr {
                bind: None,
                name: "n1".into(),
                host: "10.9.0.2".into(),
                client_port: 6379,
                peer_port: 26379,
                extra_ports: Vec::new(),
            }],
        };
        let system = workloads::redis_sentinel::SentinelSystem::new(&shim);
        let spec = system
            .node_specs(&topology, &SystemOptions::default())
            .unwrap()
            .remove(0);
        let run_id = super::super::new_run_id();
        let cfg = RuntimeConfig::new(&run_id, &dir.path().join("results")).unwrap();
        let launch = prepare(&cfg, &spec, None);
        std::fs::remove_file(&shim).unwrap();
        let missing = prepare(&cfg, &spec, None);
        let _ = std::fs::remove_dir_all(super::super::host_run_dir(&run_id));
        let env = launch.unwrap().env;
        let value = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(value("LD_PRELOAD"), Some(shim.display().to_string()));
        let control = clock_control_file(&run_id, "n1");
        assert_eq!(
            value("SPLITBRAIN_CLOCK_FILE"),
            Some(control.display().to_string())
        );
        let text = missing.unwrap_err().to_string();
        assert!(text.contains(&shim.display().to_string()), "{text}");
        assert!(text.contains("cargo build"), "{text}");
    }

    #[test]
    fn path_map_respects_boundaries() {
        let m = PathMap::new(vec![
            ("/data".into(), "/tmp/x/data".into()),
            ("/conf/zoo.cfg".into(), "/tmp/x/root/conf/zoo.cfg".into()),
        ]);
        assert_eq!(m.apply("--data-dir /data"), "--data-dir /tmp/x/data");
        assert_eq!(m.apply("dataDir=/data/zk\n"), "dataDir=/tmp/x/data/zk\n");
        assert_eq!(m.apply("/database"), "/database");
        assert_eq!(m.apply("/conf/zoo.cfg"), "/tmp/x/root/conf/zoo.cfg");
    }
}
