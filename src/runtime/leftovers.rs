//! What runs left behind, found and removed — containers, networks and volumes labelled
//! `splitbrain.run`, `sb-` network namespaces, processes recorded in run state files,
//! `/dev/shm/sb-*` clock control files and per-run data directories — and nothing else. The
//! sweep behind `splitbrain clean`.
//! [`teardown_run`] is the same sweep for one run, used by runtimes and on Ctrl-C.
//!
//! Clean runs as root, so nothing another user can plant may steer it: state files are
//! read only when trusted (see [`crate::runtime::state`]), every path is derived from a
//! validated run id, files and directories are removed only if we own them, a recorded
//! pid is killed only while it is still the process the run started, and a run whose
//! controller still runs is left alone unless `--force`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};

use super::daemon::{self, CONTROLLER_LABEL};
use super::state::{euid, is_same_process, trusted_states, Controller, RunState};
use super::{validate_run_id, RuntimeError, NAME_PREFIX, RUN_LABEL};

/// How long clean waits for docker to answer before skipping docker objects.
const DOCKER_PING_TIMEOUT_MS: u64 = 2000;
/// How long a killed process gets to disappear.
const PROCESS_EXIT_TIMEOUT_MS: u64 = 5000;

/// Remove everything one run created. Returns what was removed, one line each. Its own
/// controller calls this, so the run is removed even though its controller runs.
pub async fn teardown_run(run_id: &str) -> Result<Vec<String>, RuntimeError> {
    validate_run_id(run_id)?;
    let out = sweep(Some(run_id), true).await?;
    for note in &out.notes {
        tracing::warn!("{note}");
    }
    if !out.unreached.is_empty() {
        return Err(RuntimeError::Docker(out.unreached.join("; ")));
    }
    Ok(out.removed)
}

/// Remove leftovers of one run (`Some(id)`) or of every run (`None`), leaving runs whose
/// controller is another live process (see [`Scope::allows`]).
pub async fn clean(run: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let out = sweep(run, false).await?;
    for note in out.notes.iter().chain(&out.skipped) {
        tracing::warn!("{note}");
    }
    Ok(out.removed)
}

/// What a sweep did: removed, skipped (live runs), and notes on what was not trusted or
/// could not be looked at.
#[derive(Debug, Default)]
pub struct Sweep {
    pub removed: Vec<String>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
    /// Docker hosts a run used that did not answer, each with what is left there.
    pub unreached: Vec<String>,
}

pub async fn sweep(run: Option<&str>, force: bool) -> Result<Sweep, RuntimeError> {
    sweep_hosts(run, force, &[]).await
}

/// [`sweep`], reaching also `hosts` (Docker host URLs) besides this machine's daemon
/// and the hosts that runs' state files record.
pub async fn sweep_hosts(
    run: Option<&str>,
    force: bool,
    hosts: &[String],
) -> Result<Sweep, RuntimeError> {
    let mut out = Sweep::default();
    // Daemons already looked at (a host URL may name this machine's daemon).
    let mut seen = std::collections::BTreeSet::new();
    let docker_objects = match daemon::ping(Duration::from_millis(DOCKER_PING_TIMEOUT_MS)).await {
        Ok(_) => {
            let d = daemon::connect().await?;
            let objects = list_docker(&d, run, &mut out.notes).await?;
            seen.extend(daemon_id(&d).await);
            Some((d, String::new(), objects))
        }
        Err(why) => {
            out.notes.push(format!(
                "docker does not answer ({why}); containers, networks and volumes were not checked"
            ));
            None
        }
    };
    let (states, notes) = trusted_states(run);
    out.notes.extend(notes);
    let mut scope = Scope::new(run, force);
    for (_, st) in &states {
        scope.learn(&st.run_id, st.controller);
    }
    // Other Docker hosts: named here, or recorded by the runs that used them.
    let mut urls: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |url: &str, run_id: Option<&str>| match urls.iter_mut().find(|(u, _)| u == url) {
        Some((_, runs)) => runs.extend(run_id.map(str::to_string)),
        None => urls.push((
            url.to_string(),
            run_id.map(str::to_string).into_iter().collect(),
        )),
    };
    for h in hosts {
        add(h, None);
    }
    for (_, st) in &states {
        for h in &st.docker_hosts {
            add(h, Some(&st.run_id));
        }
    }
    let mut remote = Vec::new();
    let mut unreached_urls = std::collections::BTreeSet::new();
    for (url, runs) in urls {
        let listed = match reach_host(&url).await {
            Ok(d) => match list_docker(&d, run, &mut out.notes).await {
                Ok(objects) => Ok((d, objects)),
                Err(e) => Err(e.to_string()),
            },
            Err(why) => Err(why),
        };
        match listed {
            Ok((d, objects)) => {
                let id = daemon_id(&d).await;
                if id.as_ref().is_some_and(|id| seen.contains(id)) {
                    continue;
                }
                seen.extend(id);
                remote.push((d, url, objects));
            }
            Err(why) => {
                unreached_urls.insert(url.clone());
                let what = if runs.is_empty() {
                    format!(
                        "whatever {} left there (labelled {RUN_LABEL})",
                        run.map_or("any run".to_string(), |r| format!("run {r}"))
                    )
                } else {
                    runs.iter()
                        .map(|r| format!("run {r}'s containers, networks and volumes (labelled {RUN_LABEL}={r})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.unreached.push(format!(
                    "docker host {url} does not answer ({why}): {what} were not removed from it"
                ));
            }
        }
    }
    let all: Vec<_> = docker_objects.into_iter().chain(remote).collect();
    for (_, _, objects) in &all {
        for o in objects {
            scope.learn(&o.run_id, o.controller);
        }
    }
    for (d, url, objects) in all {
        out.removed
            .extend(remove_docker(&d, &url, objects, &mut scope).await);
    }
    let states: Vec<_> = states
        .into_iter()
        .filter(|(_, st)| scope.allows(&st.run_id))
        .collect();
    out.removed.extend(kill_tracked(&states).await);
    out.removed.extend(clean_netns(&mut scope).await);
    out.removed
        .extend(clean_host_links(&mut scope, &states).await);
    out.removed.extend(clean_files(
        &mut scope,
        &states,
        &unreached_urls,
        &mut out.notes,
    ));
    out.skipped = scope.skipped.into_values().collect();
    Ok(out)
}

/// Whether a run's controller still runs, from what records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Liveness {
    /// Every recorded controller is gone, or is this process.
    Ended,
    Running {
        pid: i32,
    },
    /// No state file or docker label names a controller.
    Unrecorded,
}

/// Which runs this sweep may touch.
struct Scope<'a> {
    run: Option<&'a str>,
    force: bool,
    controllers: BTreeMap<String, Vec<Controller>>,
    /// Run id → the sentence saying why it was skipped.
    skipped: BTreeMap<String, String>,
}

impl<'a> Scope<'a> {
    fn new(run: Option<&'a str>, force: bool) -> Self {
        Scope {
            run,
            force,
            controllers: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    fn learn(&mut self, run_id: &str, controller: Option<Controller>) {
        let known = self.controllers.entry(run_id.to_string()).or_default();
        known.extend(controller);
    }

    fn liveness(&self, run_id: &str) -> Liveness {
        let known = self
            .controllers
            .get(run_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if known.is_empty() {
            return Liveness::Unrecorded;
        }
        match known
            .iter()
            .find(|c| !c.is_this_process() && c.is_running())
        {
            Some(c) => Liveness::Running { pid: c.pid },
            None => Liveness::Ended,
        }
    }

    /// Whether to remove what run `run_id` left: always with --force; never a run whose
    /// controller is another live process; a run that records no controller only when
    /// named with --run. A skipped run is remembered with the reason.
    fn allows(&mut self, run_id: &str) -> bool {
        if validate_run_id(run_id).is_err() || self.run.is_some_and(|r| r != run_id) {
            return false;
        }
        if self.force {
            return true;
        }
        if self.skipped.contains_key(run_id) {
            return false;
        }
        let why = match self.liveness(run_id) {
            Liveness::Ended => return true,
            Liveness::Unrecorded if self.run.is_some() => return true,
            Liveness::Running { pid } => format!(
                "skipped run {run_id}: its controller (pid {pid}) is still running; \
                 --force to remove it"
            ),
            Liveness::Unrecorded => format!(
                "skipped run {run_id}: nothing records its controller (an older splitbrain \
                 made it); --run {run_id} or --force to remove it"
            ),
        };
        self.skipped.insert(run_id.to_string(), why);
        false
    }
}

/// The name prefix of a run's objects: `sb-<id>-`, or `sb-` for every run.
fn prefix(run: Option<&str>) -> String {
    match run {
        Some(id) => format!("{NAME_PREFIX}{id}-"),
        None => NAME_PREFIX.to_string(),
    }
}

/// The run id in a name `sb-<id>-<rest>` (namespaces, links, shm files), if it is one.
fn run_id_of(name: &str) -> Option<&str> {
    let (id, rest) = name.strip_prefix(NAME_PREFIX)?.split_once('-')?;
    (validate_run_id(id).is_ok() && !rest.is_empty()).then_some(id)
}

fn label_filter(run: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match run {
        Some(id) => format!("{RUN_LABEL}={id}"),
        None => RUN_LABEL.to_string(),
    };
    HashMap::from([("label".to_string(), vec![label])])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DockerKind {
    Container,
    Volume,
    Network,
}

/// A container, volume or network labelled with a run id.
#[derive(Debug)]
struct DockerObject {
    kind: DockerKind,
    /// What docker removes it by: a container's id, a volume's or network's name.
    key: String,
    name: String,
    run_id: String,
    controller: Option<Controller>,
}

impl DockerObject {
    fn new(
        kind: DockerKind,
        key: String,
        name: String,
        labels: Option<&HashMap<String, String>>,
    ) -> Self {
        let label = |k: &str| labels.and_then(|l| l.get(k)).cloned();
        DockerObject {
            kind,
            key,
            name,
            run_id: label(RUN_LABEL).unwrap_or_default(),
            controller: label(CONTROLLER_LABEL).and_then(|c| Controller::parse_label(&c)),
        }
    }
}

/// Every container, volume and network of the run(s), in the order they must go.
async fn list_docker(
    d: &bollard::Docker,
    run: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<Vec<DockerObject>, RuntimeError> {
    let mut out = Vec::new();
    let containers = d
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(run)),
            ..Default::default()
        }))
        .await?;
    for c in containers {
        let Some(id) = c.id else { continue };
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone());
        let name = name.trim_start_matches('/').to_string();
        out.push(DockerObject::new(
            DockerKind::Container,
            id,
            name,
            c.labels.as_ref(),
        ));
    }
    let volumes = d
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(run)),
        }))
        .await?;
    for v in volumes.volumes.unwrap_or_default() {
        let o = DockerObject::new(DockerKind::Volume, v.name.clone(), v.name, Some(&v.labels));
        out.push(o);
    }
    let networks = d
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(run)),
        }))
        .await?;
    for n in networks {
        let Some(name) = n.name else { continue };
        out.push(DockerObject::new(
            DockerKind::Network,
            name.clone(),
            name,
            n.labels.as_ref(),
        ));
    }
    out.retain(|o| {
        let ok = validate_run_id(&o.run_id).is_ok();
        if !ok {
            notes.push(format!(
                "ignored docker {:?} {}: its {RUN_LABEL} label {:?} is not a run id",
                o.kind, o.name, o.run_id
            ));
        }
        ok
    });
    Ok(out)
}

/// What tells two URLs of one daemon from two daemons: its id (which daemons sharing a
/// configuration directory share too) with its data root.
async fn daemon_id(d: &bollard::Docker) -> Option<String> {
    let info = d.info().await.ok()?;
    Some(format!(
        "{}:{}",
        info.id?,
        info.docker_root_dir.unwrap_or_default()
    ))
}

/// Connect to a recorded Docker host, if it answers.
async fn reach_host(url: &str) -> Result<bollard::Docker, String> {
    let host = super::hosts::HostUrl::parse(url)?;
    super::hosts::connect_checked(&host)
        .await
        .map_err(|e| e.to_string())
}

/// Remove the objects (of runs the scope allows) from one daemon: this machine's when
/// `host` is empty, else the Docker host it names.
async fn remove_docker(
    d: &bollard::Docker,
    host: &str,
    objects: Vec<DockerObject>,
    scope: &mut Scope<'_>,
) -> Vec<String> {
    let on = if host.is_empty() {
        String::new()
    } else {
        format!(" on {host}")
    };
    let mut removed = Vec::new();
    for o in objects {
        if !scope.allows(&o.run_id) {
            continue;
        }
        let done = match o.kind {
            DockerKind::Container => {
                let opts = RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                };
                d.remove_container(&o.key, Some(opts)).await
            }
            DockerKind::Volume => {
                d.remove_volume(&o.key, Some(RemoveVolumeOptions { force: true }))
                    .await
            }
            DockerKind::Network => d.remove_network(&o.key).await,
        };
        let what = match o.kind {
            DockerKind::Container => "container",
            DockerKind::Volume => "volume",
            DockerKind::Network => "network",
        };
        match done {
            Ok(()) => removed.push(format!("{what} {}{on}", o.name)),
            Err(e) => tracing::warn!(name = %o.name, "cannot remove {what}{on}: {e}"),
        }
    }
    removed
}

/// A process held by a pidfd: a signal sent through it reaches that process or none,
/// never a later one that reused its pid.
struct PidFd(OwnedFd);

impl PidFd {
    fn open(pid: i32) -> Option<Self> {
        if pid <= 0 {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a non-negative return is a descriptor that nothing else owns.
        (fd >= 0).then(|| PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    fn kill(&self) -> bool {
        // SAFETY: the descriptor is open for our lifetime; a null siginfo is allowed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        r == 0
    }
}

/// Kill the processes the states record that are still the ones their runs started.
/// The pidfd is opened before the check, so the check is about the process killed.
async fn kill_tracked(states: &[(PathBuf, RunState)]) -> Vec<String> {
    let mut removed = Vec::new();
    for (_, st) in states {
        for p in &st.processes {
            let Some(fd) = PidFd::open(p.pid) else {
                continue;
            };
            if !is_same_process(p, &st.run_id) || !fd.kill() {
                continue;
            }
            wait_gone(p.pid).await;
            remove_faketime_shm(p.pid);
            removed.push(format!(
                "process {} (node {} of run {})",
                p.pid, p.node, st.run_id
            ));
        }
    }
    removed
}

/// libfaketime's per-process files of a process we killed (it removes them at exit,
/// which SIGKILL skips); only if they are ours.
fn remove_faketime_shm(pid: i32) {
    for name in [
        format!("/dev/shm/faketime_shm_{pid}"),
        format!("/dev/shm/sem.faketime_sem_{pid}"),
    ] {
        let _ = remove_own_file(Path::new(&name));
    }
}

/// Remove a regular file (not a symlink) with one link that we own. In a sticky
/// directory (/dev/shm, /tmp) nobody else can swap a file we own between the check and
/// the unlink.
fn remove_own_file(path: &Path) -> Result<(), String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !m.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if m.uid() != euid() {
        return Err(format!("owned by uid {}, not {}", m.uid(), euid()));
    }
    if m.nlink() != 1 {
        return Err(format!("{} hard links", m.nlink()));
    }
    std::fs::remove_file(path).map_err(|e| e.to_string())
}

/// Wait (bounded) until a killed pid has gone or become a zombie.
async fn wait_gone(pid: i32) {
    let _ = crate::runtime::wait_until(
        "process exit",
        Duration::from_millis(PROCESS_EXIT_TIMEOUT_MS),
        Duration::from_millis(10),
        || async move {
            crate::runtime::state::proc_stat(pid).is_none_or(|(s, _)| s == 'Z' || s == 'X')
        },
    )
    .await;
}

async fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `pid` is in the network namespace bound at `ns`.
fn in_netns(pid: i32, ns: &Path) -> bool {
    let (Ok(a), Ok(b)) = (
        std::fs::metadata(format!("/proc/{pid}/ns/net")),
        std::fs::metadata(ns),
    ) else {
        return false;
    };
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Delete our namespaces, killing any process still inside one first. Only root can
/// name a namespace or move a process into one, so what is inside is the run's.
async fn clean_netns(scope: &mut Scope<'_>) -> Vec<String> {
    let pfx = prefix(scope.run);
    let Some(list) = command_output("ip", &["netns", "list"]).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(id) = run_id_of(name).filter(|_| name.starts_with(&pfx)) else {
            continue;
        };
        if !scope.allows(id) {
            continue;
        }
        let ns = super::netns_path(name);
        if let Some(pids) = command_output("ip", &["netns", "pids", name]).await {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                let Some(fd) = PidFd::open(pid) else { continue };
                if in_netns(pid, &ns) && fd.kill() {
                    wait_gone(pid).await;
                    remove_faketime_shm(pid);
                    removed.push(format!("process {pid} (in namespace {name})"));
                }
            }
        }
        if command_output("ip", &["netns", "del", name])
            .await
            .is_some()
        {
            removed.push(format!("network namespace {name}"));
        }
    }
    removed
}

/// Host-side veth ends (`sb-<id>-h`); deleting a namespace usually took them already.
async fn clean_host_links(scope: &mut Scope<'_>, states: &[(PathBuf, RunState)]) -> Vec<String> {
    let pfx = prefix(scope.run);
    let mut names: Vec<String> = states
        .iter()
        .flat_map(|(_, s)| {
            let own = prefix(Some(&s.run_id));
            s.host_links
                .iter()
                .filter(move |l| l.starts_with(&own) && l.len() < libc::IFNAMSIZ)
                .cloned()
        })
        .collect();
    if let Some(list) = command_output("ip", &["-o", "link", "show"]).await {
        for line in list.lines() {
            // "12: sb-abcd1234-h@if3: <…>"
            if let Some(name) = line.split(": ").nth(1).and_then(|n| n.split('@').next()) {
                if name.starts_with(&pfx) && name.ends_with("-h") {
                    names.push(name.to_string());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    let mut removed = Vec::new();
    for name in names {
        if !run_id_of(&name).is_some_and(|id| scope.allows(id)) {
            continue;
        }
        if command_output("ip", &["link", "del", &name])
            .await
            .is_some()
        {
            removed.push(format!("link {name}"));
        }
    }
    removed
}

/// `/dev/shm/sb-<id>-*` files, the data directory of each run with a state file (both
/// only if ours), then the state files.
fn clean_files(
    scope: &mut Scope<'_>,
    states: &[(PathBuf, RunState)],
    unreached: &std::collections::BTreeSet<String>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut removed = Vec::new();
    let pfx = prefix(scope.run);
    if let Ok(rd) = std::fs::read_dir("/dev/shm") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(id) = run_id_of(&name).filter(|_| name.starts_with(&pfx)) else {
                continue;
            };
            if !scope.allows(id) {
                continue;
            }
            match remove_own_file(&e.path()) {
                Ok(()) => removed.push(format!("file {}", e.path().display())),
                Err(why) => notes.push(format!("left {}: {why}", e.path().display())),
            }
        }
    }
    // Power-loss disks: FUSE mounts under a run's host directory, served by its
    // controller (dead after a crash, so detached lazily); a docker run has no state
    // file, so its directory goes with its mounts.
    let mut unmounted = BTreeSet::new();
    for point in crate::runtime::powerfs::mounts_under(Path::new("/tmp")) {
        let Some(id) = point
            .strip_prefix("/tmp")
            .ok()
            .and_then(|rest| rest.components().next())
            .and_then(|c| c.as_os_str().to_str())
            .and_then(|dir| dir.strip_prefix(NAME_PREFIX))
            .filter(|id| validate_run_id(id).is_ok())
            .map(str::to_string)
        else {
            continue;
        };
        if scope.run.is_some_and(|r| r != id) || !scope.allows(&id) {
            continue;
        }
        match crate::runtime::powerfs::lazy_unmount(&point) {
            Ok(()) => removed.push(format!("mount {}", point.display())),
            Err(e) => notes.push(format!("left mount {}: {e}", point.display())),
        }
        unmounted.insert(id);
    }
    for id in unmounted {
        if states.iter().any(|(_, st)| st.run_id == id) {
            continue;
        }
        let dir = crate::runtime::host_run_dir(&id);
        match remove_own_dir(&dir) {
            Ok(true) => removed.push(format!("directory {}", dir.display())),
            Ok(false) => {}
            Err(why) => notes.push(format!("left {}: {why}", dir.display())),
        }
    }
    for (path, st) in states {
        let dir = crate::runtime::host_run_dir(&st.run_id);
        match remove_own_dir(&dir) {
            Ok(true) => removed.push(format!("directory {}", dir.display())),
            Ok(false) => {}
            Err(why) => notes.push(format!("left {}: {why}", dir.display())),
        }
        // A host that did not answer keeps the record of it for the next clean.
        let unreached = st.docker_hosts.iter().any(|h| unreached.contains(h));
        if !unreached && std::fs::remove_file(path).is_ok() {
            removed.push(format!("state file {}", path.display()));
        }
    }
    removed
}

/// Remove a directory (not a symlink) we own, with all in it; Ok(false) if there is none.
/// `remove_dir_all` follows no symlink inside.
fn remove_own_dir(dir: &Path) -> Result<bool, String> {
    let m = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    if !m.file_type().is_dir() {
        return Err("not a directory".into());
    }
    if m.uid() != euid() {
        return Err(format!("owned by uid {}, not {}", m.uid(), euid()));
    }
    std::fs::remove_dir_all(dir).map_err(|e| e.to_string())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_scope_to_one_run() {
        assert_eq!(prefix(Some("abc")), "sb-abc-");
        assert_eq!(prefix(None), "sb-");
        assert_eq!(
            label_filter(Some("abc"))["label"],
            vec!["splitbrain.run=abc"]
        );
    }

    #[test]
    fn run_ids_come_only_from_plain_names() {
        assert_eq!(run_id_of("sb-abc123-n1"), Some("abc123"));
        assert_eq!(run_id_of("sb-abc-br"), Some("abc"));
        assert_eq!(run_id_of("sb-abc"), None);
        assert_eq!(run_id_of("sb-abc-"), None);
        assert_eq!(run_id_of("sb-../x-n1"), None);
        assert_eq!(run_id_of("sb-ABC-n1"), None);
        assert_eq!(run_id_of("eth0"), None);
    }

    #[test]
    fn live_and_unrecorded_runs_are_skipped_unless_forced() {
        let me = Controller::current();
        // A controller that is not this process and runs: pid 1.
        let other = Controller {
            pid: 1,
            start_ticks: crate::runtime::state::process_start_ticks(1).unwrap(),
        };
        let gone = Controller {
            pid: me.pid,
            start_ticks: me.start_ticks + 1,
        };
        let mut s = Scope::new(None, false);
        s.learn("live", Some(other));
        s.learn("ended", Some(gone));
        s.learn("mine", Some(me));
        s.learn("old", None);
        assert!(!s.allows("live"));
        assert!(s.allows("ended"));
        assert!(s.allows("mine"), "a controller may remove its own run");
        assert!(!s.allows("old"));
        assert!(!s.allows("never"));
        assert!(!s.allows("../etc"));
        assert!(s.skipped["live"].contains("its controller (pid 1) is still running; --force"));
        assert!(s.skipped["old"].contains("--run old or --force"));

        let mut named = Scope::new(Some("old"), false);
        named.learn("old", None);
        assert!(
            named.allows("old"),
            "a run named with --run needs no record"
        );
        assert!(!named.allows("ended"), "--run scopes to one run");
        let mut forced = Scope::new(None, true);
        forced.learn("live", Some(other));
        assert!(forced.allows("live") && forced.allows("old"));
    }
}
