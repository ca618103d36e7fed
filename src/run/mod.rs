//! `splitbrain run` and `splitbrain replay`: one command that starts a cluster, attacks
//! it, and says, with the history as proof, whether leadership stayed safe.
//!
//! The lifecycle: validated spec → runtime chosen and faults checked against it → free
//! space on the results and node-data disks → results directory and `test.json` → cluster
//! started → a leader awaited → workload and nemesis until the time limit → final phase
//! (heal, resume, start, clock reset) → recovery → final reads → history flushed and
//! fsynced → teardown → check → `results.json`, timeline, index → summary → exit code.
//!
//! Exit codes: 0 valid, 1 violations found, 2 bad usage, 3 unknown. An interrupted run
//! (Ctrl-C, SIGTERM), a failure of the harness itself (a full disk among them) and a run
//! that injected none of the faults it asked for all end with 3: no verdict on the system
//! could be reached, and `results.json` says why (`reason`, `harness_error`) where the
//! disk still takes it.

mod cluster;
pub mod conform;
mod disk;
mod interrupt;
mod lifecycle;
mod progress;
pub mod reporter;
pub mod results;
mod schedule;
mod select;
pub mod summary;
pub mod system;
mod verdict;

#[cfg(test)]
pub(crate) mod testing;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit::Exit;
use crate::spec::{RunArgs, RuntimeChoice, SpecError, TestSpec};
use reporter::Reporter;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A results directory of an earlier run (its test.json is read).
    pub dir: PathBuf,
    /// Where the new run's results land, as for `run` (the results root named in
    /// test.json is not used: a file does not decide where this command writes).
    #[arg(value_name = "DIR", long = "results", default_value = "results")]
    pub results: PathBuf,
    /// Run on another runtime than the original (auto, docker, netns, local, sim).
    #[arg(long)]
    pub runtime: Option<String>,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let report = Reporter::stderr();
    let spec = match TestSpec::from_args(&args) {
        Ok(spec) => spec,
        Err(e) => {
            report.refuse(&e.to_string());
            return Ok(ExitCode::from(Exit::Usage));
        }
    };
    execute(spec, None, report)
}

/// Runs the spec and the nemesis schedule of an earlier run again, into a new directory.
pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let report = Reporter::stderr();
    let refuse = |msg: String| {
        report.line(&format!("splitbrain replay: {msg}"));
        Ok(ExitCode::from(Exit::Usage))
    };
    let doc = match results::read_test_doc(&args.dir) {
        Ok(doc) => doc,
        Err(e) => return refuse(format!("{e:#}")),
    };
    let spec = match replay_spec(&doc.spec, &args) {
        Ok(spec) => spec,
        // What the command line gave is named as a flag of this command.
        Err(e) if e.flag == "--results" || (e.flag == "--runtime" && args.runtime.is_some()) => {
            return refuse(e.to_string())
        }
        Err(e) => {
            return refuse(format!(
                "the spec in {} cannot run: {e} (the file's spec.{})",
                args.dir.join("test.json").display(),
                spec_key(e.flag)
            ))
        }
    };
    report.say(&format!(
        "replaying {} (seed {}, the same schedule)",
        args.dir.display(),
        spec.seed
    ));
    execute(spec, Some(doc.schedule), report)
}

/// The file's spec with the command line's results root and runtime, validated as the
/// same flags given to `run` would be.
fn replay_spec(file: &TestSpec, args: &ReplayArgs) -> Result<TestSpec, SpecError> {
    let mut flags = file.to_args();
    flags.results = args.results.clone();
    if let Some(runtime) = &args.runtime {
        flags.runtime = runtime.clone();
    }
    TestSpec::from_args(&flags)
}

/// The key of test.json's spec that holds what a flag sets.
fn spec_key(flag: &str) -> String {
    match flag {
        "--time-limit" => "time_limit_secs".into(),
        "--rate" => "rate_hz".into(),
        "--bug" => "bugs".into(),
        "--no-lease" => "lease".into(),
        other => other.trim_start_matches('-').replace('-', "_"),
    }
}

fn execute(
    spec: TestSpec,
    schedule: Option<serde_json::Value>,
    report: Reporter,
) -> anyhow::Result<ExitCode> {
    for warning in spec.warnings() {
        report.warning(&warning);
    }
    if spec.runtime == RuntimeChoice::Sim {
        // A simulated run writes only its results; a real one checks its disks itself,
        // once it knows where its nodes keep their data.
        let results = disk::Disks::for_run(&spec.results, None);
        if let Some(low) = results.low(disk::DISK_FREE_BYTES_START_MIN) {
            report.say(&format!("harness error (not a verdict on raftd): {low}"));
            return Ok(ExitCode::from(Exit::Unknown));
        }
        // No cluster, no tokio: one simulated run on this thread.
        return Ok(ExitCode::from(crate::sim::run_spec(
            &spec, schedule, &report,
        )?));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(lifecycle::run_test(spec, schedule, report));
    // Workload tasks stuck on a dead node's socket must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitCode::from(code))
}
