//! `splitbrain clean`: removes what runs left behind — containers, networks and volumes
//! labelled `splitbrain.run`, `sb-` network namespaces, processes recorded in run state
//! files, `/dev/shm/sb-*` faketime files and per-run data directories — and nothing else.
//! [`teardown_run`] is the same sweep for one run, used by runtimes and on Ctrl-C.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::runtime::state::{all_state_files, is_same_process, RunState};
use crate::runtime::{docker, validate_run_id, RuntimeError, NAME_PREFIX, RUN_LABEL};

#[derive(clap::Args, Debug)]
pub struct CleanArgs {
    /// Only remove what this run id created (default: every run's leftovers).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<String>,
}

/// How long clean waits for docker to answer before skipping docker objects.
const DOCKER_PING_TIMEOUT_MS: u64 = 2000;
/// How long a killed process gets to disappear.
const PROCESS_EXIT_TIMEOUT_MS: u64 = 5000;

pub fn run(args: CleanArgs) -> anyhow::Result<ExitCode> {
    if let Some(id) = &args.run {
        validate_run_id(id)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (removed, notes) = rt.block_on(sweep(args.run.as_deref()))?;
    for note in &notes {
        eprintln!("splitbrain clean: {note}");
    }
    if removed.is_empty() {
        println!("nothing to remove");
    }
    for item in &removed {
        println!("removed {item}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Remove everything one run created. Returns what was removed, one line each.
pub async fn teardown_run(run_id: &str) -> Result<Vec<String>, RuntimeError> {
    validate_run_id(run_id)?;
    clean(Some(run_id)).await
}

/// Remove leftovers of one run (`Some(id)`) or of every run (`None`).
pub async fn clean(run: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let (removed, notes) = sweep(run).await?;
    for note in notes {
        tracing::warn!("{note}");
    }
    Ok(removed)
}

/// What was removed, and notes on what could not be looked at.
async fn sweep(run: Option<&str>) -> Result<(Vec<String>, Vec<String>), RuntimeError> {
    let mut removed = Vec::new();
    let mut notes = Vec::new();
    match docker::ping(Duration::from_millis(DOCKER_PING_TIMEOUT_MS)).await {
        Ok(_) => removed.extend(clean_docker(run).await?),
        Err(why) => notes.push(format!(
            "docker does not answer ({why}); containers, networks and volumes were not checked"
        )),
    }
    let states = states_for(run);
    removed.extend(kill_tracked(&states).await);
    removed.extend(clean_netns(run).await);
    removed.extend(clean_host_links(run, &states).await);
    removed.extend(clean_files(run, &states));
    Ok((removed, notes))
}

/// The name prefix of a run's objects: `sb-<id>-`, or `sb-` for every run.
fn prefix(run: Option<&str>) -> String {
    match run {
        Some(id) => format!("{NAME_PREFIX}{id}-"),
        None => NAME_PREFIX.to_string(),
    }
}

fn label_filter(run: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match run {
        Some(id) => format!("{RUN_LABEL}={id}"),
        None => RUN_LABEL.to_string(),
    };
    HashMap::from([("label".to_string(), vec![label])])
}

async fn clean_docker(run: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let d = docker::connect().await?;
    let mut removed = Vec::new();
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
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone());
        let opts = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match d.remove_container(&id, Some(opts)).await {
            Ok(()) => removed.push(format!("container {}", name.trim_start_matches('/'))),
            Err(e) => tracing::warn!(%name, "cannot remove container: {e}"),
        }
    }
    let volumes = d
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(run)),
        }))
        .await?;
    for v in volumes.volumes.unwrap_or_default() {
        match d
            .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(()) => removed.push(format!("volume {}", v.name)),
            Err(e) => tracing::warn!(name = %v.name, "cannot remove volume: {e}"),
        }
    }
    let networks = d
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(run)),
        }))
        .await?;
    for n in networks {
        let Some(name) = n.name else { continue };
        match d.remove_network(&name).await {
            Ok(()) => removed.push(format!("network {name}")),
            Err(e) => tracing::warn!(%name, "cannot remove network: {e}"),
        }
    }
    Ok(removed)
}

fn states_for(run: Option<&str>) -> Vec<(PathBuf, RunState)> {
    all_state_files()
        .into_iter()
        .filter(|(id, _)| run.is_none_or(|r| r == id))
        .filter_map(|(_, path)| RunState::load(&path).ok().map(|s| (path, s)))
        .collect()
}

async fn kill_tracked(states: &[(PathBuf, RunState)]) -> Vec<String> {
    let mut removed = Vec::new();
    for (_, st) in states {
        for p in &st.processes {
            if !is_same_process(p) {
                continue;
            }
            if kill(Pid::from_raw(p.pid), Signal::SIGKILL).is_ok() {
                wait_gone(p.pid).await;
                crate::runtime::procs::remove_faketime_shm(p.pid);
                removed.push(format!(
                    "process {} (node {} of run {})",
                    p.pid, p.node, st.run_id
                ));
            }
        }
    }
    removed
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

/// Delete our namespaces, killing any process still inside one first.
async fn clean_netns(run: Option<&str>) -> Vec<String> {
    let pfx = prefix(run);
    let Some(list) = command_output("ip", &["netns", "list"]).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if !name.starts_with(&pfx) {
            continue;
        }
        if let Some(pids) = command_output("ip", &["netns", "pids", name]).await {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                    wait_gone(pid).await;
                    crate::runtime::procs::remove_faketime_shm(pid);
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

/// Host-side veth ends; deleting a namespace usually took them already.
async fn clean_host_links(run: Option<&str>, states: &[(PathBuf, RunState)]) -> Vec<String> {
    let pfx = prefix(run);
    let mut names: Vec<String> = states
        .iter()
        .flat_map(|(_, s)| s.host_links.iter().cloned())
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
        if command_output("ip", &["link", "del", &name])
            .await
            .is_some()
        {
            removed.push(format!("link {name}"));
        }
    }
    removed
}

fn clean_files(run: Option<&str>, states: &[(PathBuf, RunState)]) -> Vec<String> {
    let mut removed = Vec::new();
    let pfx = prefix(run);
    if let Ok(rd) = std::fs::read_dir("/dev/shm") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(&pfx)
                && e.path().is_file()
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed.push(format!("file {}", e.path().display()));
            }
        }
    }
    for (path, st) in states {
        for dir in st.dirs.iter().filter(|d| is_run_dir(d, &st.run_id)) {
            if dir.exists() && std::fs::remove_dir_all(dir).is_ok() {
                removed.push(format!("directory {}", dir.display()));
            }
        }
        if std::fs::remove_file(path).is_ok() {
            removed.push(format!("state file {}", path.display()));
        }
    }
    removed
}

/// Only ever delete a directory that is a run's own host dir (`/tmp/sb-<id>`).
fn is_run_dir(dir: &Path, run_id: &str) -> bool {
    dir == crate::runtime::host_run_dir(run_id)
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
        assert!(is_run_dir(Path::new("/tmp/sb-abc"), "abc"));
        assert!(!is_run_dir(Path::new("/home"), "abc"));
    }
}
