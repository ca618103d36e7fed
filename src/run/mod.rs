//! `splitbrain run` and `splitbrain replay`: one command that starts a cluster, attacks
//! it, and says, with the history as proof, whether leadership stayed safe.
//!
//! The lifecycle: validated spec → runtime chosen and faults checked against it → results
//! directory and `test.json` → cluster started → a leader awaited → workload and nemesis
//! until the time limit → final phase (heal, resume, start, clock reset) → recovery →
//! final reads → teardown → check → `results.json`, timeline, index → summary → exit code.
//!
//! Exit codes: 0 valid, 1 violations found, 2 bad usage, 3 unknown. An interrupted run
//! (Ctrl-C, SIGTERM) and a failure of the harness itself both end with 3: no verdict on
//! the system could be reached, and `results.json` says why (`reason`, `harness_error`).

mod lifecycle;
pub mod pieces;
mod progress;
pub mod results;
pub mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::spec::{RunArgs, RuntimeChoice, TestSpec};

pub const EXIT_VALID: u8 = 0;
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_USAGE: u8 = 2;
pub const EXIT_UNKNOWN: u8 = 3;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A results directory of an earlier run (its test.json is read).
    pub dir: PathBuf,
    /// Where the new run's results land (default: the original run's results root).
    #[arg(long = "results")]
    pub results: Option<PathBuf>,
    /// Run on another runtime than the original (auto, docker, netns, local, sim).
    #[arg(long)]
    pub runtime: Option<String>,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = match TestSpec::from_args(&args, &pieces::known_bugs()) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("splitbrain run: {e}");
            return Ok(ExitCode::from(EXIT_BAD_USAGE));
        }
    };
    execute(spec, None)
}

/// Runs the spec and the nemesis schedule of an earlier run again, into a new directory.
pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let doc = match results::read_test_doc(&args.dir) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("splitbrain replay: {e:#}");
            return Ok(ExitCode::from(EXIT_BAD_USAGE));
        }
    };
    let mut spec = doc.spec;
    if let Some(results) = args.results {
        spec.results = results;
    }
    if let Some(runtime) = &args.runtime {
        match crate::spec::parse_runtime(runtime) {
            Ok(r) => spec.runtime = r,
            Err(e) => {
                eprintln!("splitbrain replay: {e}");
                return Ok(ExitCode::from(EXIT_BAD_USAGE));
            }
        }
    }
    eprintln!(
        "splitbrain: replaying {} (seed {}, the same schedule)",
        args.dir.display(),
        spec.seed
    );
    execute(spec, Some(doc.schedule))
}

fn execute(spec: TestSpec, schedule: Option<serde_json::Value>) -> anyhow::Result<ExitCode> {
    for warning in spec.warnings() {
        eprintln!("splitbrain: warning: {warning}");
    }
    if spec.runtime == RuntimeChoice::Sim {
        // No cluster, no tokio: one simulated run on this thread.
        return Ok(ExitCode::from(crate::sim::run_spec(&spec, schedule)?));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(lifecycle::run_test(spec, schedule));
    // Workload tasks stuck on a dead node's socket must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitCode::from(code))
}
