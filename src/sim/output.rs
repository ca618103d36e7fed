//! A simulated test's results directory, laid out as a real run's: test.json (with the
//! schedule that was run), history.jsonl, results.json and timeline.html.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use nemesis::Schedule;
use serde_json::json;

use super::run::{guarantees, SimRun};
use super::SimSpec;

/// What else test.json should say about how the schedule came to be.
pub struct Provenance<'a> {
    pub command: String,
    pub original: Option<&'a Schedule>,
    pub shrink_runs: Option<usize>,
}

/// Writes the run into a new directory under `root`; returns its path.
pub fn write_run_dir(
    root: &Path,
    spec: &SimSpec,
    run: &SimRun,
    schedule: &Schedule,
    how: &Provenance<'_>,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot create the results root {}", root.display()))?;
    let started = SystemTime::now();
    let label = spec.nemesis.replace(',', "+");
    let base = format!(
        "{}-raftd-sim-{label}-{}",
        crate::utc::compact(started),
        run.seed
    );
    let (name, dir) = new_dir(root, &base)?;
    let test = json!({
        "run_id": name,
        "started_at": crate::utc::rfc3339(started),
        "command": how.command,
        "seed": run.seed,
        "system": "raftd",
        "nemesis": spec.nemesis,
        "spec": spec,
        "guarantees": guarantees(spec),
        "runtime": {"name": "sim", "reason": "deterministic simulation: raftd's cores on one thread, simulated time, network, disks and clocks"},
        "versions": {"splitbrain": env!("CARGO_PKG_VERSION"), "system": "raftd core (simulated)"},
        "schedule": schedule,
        "schedule_summary": schedule.summary(),
        "original_schedule": how.original,
        "shrink_runs": how.shrink_runs,
        "simulated_ms": run.sim_ns / 1_000_000,
    });
    let text = serde_json::to_string_pretty(&test)? + "\n";
    write_atomic(&dir.join("test.json"), text.as_bytes())?;
    write_run_files(&dir, &spec.node_names(), run)?;
    point_latest(root, &name);
    Ok(dir)
}

/// Everything of a simulated run's directory but test.json, which must be there first
/// (the timeline reads it): history.jsonl, results.json, each node's log under
/// `nodes/<name>/` when the run kept them, and timeline.html.
pub fn write_run_files(dir: &Path, names: &[String], run: &SimRun) -> anyhow::Result<()> {
    write_atomic(&dir.join("history.jsonl"), &run.history_bytes())?;
    checkers::write_results(&dir.join("results.json"), &run.result)?;
    for (name, log) in names.iter().zip(&run.node_logs) {
        let node_dir = dir.join("nodes").join(name);
        std::fs::create_dir_all(&node_dir)
            .with_context(|| format!("cannot create {}", node_dir.display()))?;
        write_atomic(&node_dir.join("sim.log"), log.as_bytes())?;
    }
    crate::report::write_report(dir)?;
    Ok(())
}

/// Writes a file whole: a temporary file, fsynced, renamed into place, so that a crash
/// never leaves half of it for `check` or `report` to stumble on.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn new_dir(root: &Path, base: &str) -> anyhow::Result<(String, PathBuf)> {
    for n in 0..1000 {
        let name = if n == 0 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let dir = root.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((name, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!("{} already holds 1000 runs named {base}", root.display())
}

/// `results/latest` → the newest run; best effort, as a missing link loses nothing.
fn point_latest(root: &Path, name: &str) {
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(name, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, root.join("latest"));
    }
}
