//! Runs cells: each as a child `splitbrain run` of the current executable, K at a time,
//! its output in a log file of its own, its verdict read back from the exit code and
//! `results.json`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use checkers::{Anomaly, CheckResult, Severity};

use super::file::Cell;
use crate::exit::Exit;

/// How often a waiting worker looks at its child.
const CHILD_POLL_MS: u64 = 100;
/// How long a child stopped with SIGTERM has to tear its cluster down before SIGKILL.
const TERM_GRACE_SECS: u64 = 60;

/// Set by SIGINT or SIGTERM: no new cell starts, and running ones are told to stop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // A second interrupt: leave at once. The children were already told to stop and
        // tear their clusters down on their own.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) }
    }
}

/// Routes SIGINT and SIGTERM to `STOP`. Children run in process groups of their own, so
/// a Ctrl-C reaches only the matrix, which then sends each running child one SIGTERM
/// (a second signal would make `run` skip its teardown).
pub fn install_stop_handler() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic and calls _exit.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            eprintln!("splitbrain matrix: warning: cannot handle {sig}: {e}");
        }
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A cell's verdict. `Error` is a cell that reached no verdict on the system because
/// it could not run (refused by `run`, crashed, timed out); it weighs like `Unknown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Violation,
    Unknown(String),
    Error(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Violation => "VIOLATION",
            Verdict::Unknown(_) => "unknown",
            Verdict::Error(_) => "error",
        }
    }

    /// The matrix's exit code if this were its worst cell.
    pub fn exit(&self) -> Exit {
        match self {
            Verdict::Valid => Exit::Valid,
            Verdict::Violation => Exit::Violations,
            Verdict::Unknown(_) | Verdict::Error(_) => Exit::Unknown,
        }
    }

    /// Larger is worse: violation > unknown (and error) > valid.
    fn weight(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Unknown(_) | Verdict::Error(_) => 1,
            Verdict::Violation => 2,
        }
    }
}

/// The exit code of a set of verdicts: the worst one's; none at all is valid.
pub fn worst_exit(verdicts: &[&Verdict]) -> Exit {
    verdicts
        .iter()
        .max_by_key(|v| v.weight())
        .map_or(Exit::Valid, |v| v.exit())
}

/// What running a cell produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub anomalies: Vec<Anomaly>,
    pub duration: Duration,
    /// The run's results directory, as the child printed it.
    pub results_dir: Option<PathBuf>,
    pub log: PathBuf,
}

impl Outcome {
    pub fn count(&self, severity: Severity) -> usize {
        self.anomalies
            .iter()
            .filter(|a| a.severity == severity)
            .count()
    }
}

/// Runs `cells` with at most `parallel` children at once; outcomes in `cells`' order.
/// `on_done` sees each outcome as it arrives (for progress lines).
pub fn run_cells(
    cells: &[Cell],
    results: &Path,
    logs: &Path,
    parallel: usize,
    on_done: &(dyn Fn(&Cell, &Outcome) + Sync),
) -> Vec<Outcome> {
    assert!(parallel >= 1, "at least one cell runs at a time");
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..cells.len()).collect());
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(cells.len()) {
            scope.spawn(|| loop {
                let next = queue.lock().expect("queue lock").pop_front();
                let Some(i) = next else { break };
                let outcome = if stopping() {
                    not_run(&cells[i], logs)
                } else {
                    run_cell(&cells[i], results, logs)
                };
                on_done(&cells[i], &outcome);
                outcomes.lock().expect("outcomes lock")[i] = Some(outcome);
            });
        }
    });
    let outcomes = outcomes.into_inner().expect("outcomes lock");
    outcomes
        .into_iter()
        .map(|o| o.expect("every queued cell ran"))
        .collect()
}

/// `cell-007-raftd-pause-1.log`: sorts by position, readable at a glance.
pub fn log_name(cell: &Cell) -> String {
    let safe: String = format!(
        "{}-{}-{}",
        cell.plan.system, cell.plan.nemesis, cell.plan.seed
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '+'
        }
    })
    .collect();
    format!("cell-{:03}-{safe}.log", cell.index + 1)
}

fn not_run(cell: &Cell, logs: &Path) -> Outcome {
    Outcome {
        verdict: Verdict::Unknown("not run: the matrix was interrupted".into()),
        anomalies: Vec::new(),
        duration: Duration::ZERO,
        results_dir: None,
        log: logs.join(log_name(cell)),
    }
}

fn run_cell(cell: &Cell, results: &Path, logs: &Path) -> Outcome {
    let started = Instant::now();
    let log = logs.join(log_name(cell));
    let status = spawn(cell, results, &log).and_then(|child| wait(child, cell.deadline_secs()));
    let duration = started.elapsed();
    let results_dir = results_dir_from_log(&log);
    let doc = results_dir
        .as_ref()
        .and_then(|d| checkers::read_results(&d.join("results.json")).ok());
    let verdict = match status {
        Ok(status) => verdict_of(status, doc.as_ref(), &log),
        Err(e) => Verdict::Error(e),
    };
    Outcome {
        verdict,
        anomalies: doc.map(|d| d.anomalies).unwrap_or_default(),
        duration,
        results_dir,
        log,
    }
}

fn spawn(cell: &Cell, results: &Path, log: &Path) -> Result<Child, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the splitbrain executable to run the cell: {e}"))?;
    let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot open {} twice: {e}", log.display()))?;
    Command::new(exe)
        .args(cell.plan.run_args(results))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start splitbrain run: {e}"))
}

/// Waits for the child; past the deadline it gets SIGTERM (so that it tears its cluster
/// down) and, after a grace period, SIGKILL.
fn wait(mut child: Child, deadline_secs: u64) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + Duration::from_secs(deadline_secs);
    let mut killed_at: Option<Instant> = None;
    let mut told_to_stop = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if killed_at.is_some() => {
                return Err(format!(
                    "stopped after {deadline_secs} s, its deadline (exit status {status})"
                ))
            }
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for splitbrain run: {e}")),
        }
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        if stopping() && !told_to_stop {
            // `run` tears down and records an unknown verdict with the reason.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            told_to_stop = true;
        }
        let now = Instant::now();
        match killed_at {
            None if now >= deadline => {
                // One SIGTERM only: a second one makes `run` skip its teardown.
                if !told_to_stop {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                    told_to_stop = true;
                }
                killed_at = Some(now);
            }
            Some(t) if now >= t + Duration::from_secs(TERM_GRACE_SECS) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(CHILD_POLL_MS));
    }
}

/// The child's summary names its results directory on a line `results: DIR`.
fn results_dir_from_log(log: &Path) -> Option<PathBuf> {
    let file = File::open(log).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("results: ").map(|p| PathBuf::from(p.trim())))
        .filter(|p| p.is_dir())
        .last()
}

fn verdict_of(status: ExitStatus, doc: Option<&CheckResult>, log: &Path) -> Verdict {
    let reason = || {
        let r = doc
            .and_then(|d| match (&d.reason, &d.harness_error) {
                (Some(r), Some(h)) => Some(format!("{r}: {h}")),
                (r, h) => r.clone().or_else(|| h.clone()),
            })
            .unwrap_or_else(|| last_line(log));
        format!("{r} (log: {})", log.display())
    };
    match status.code().map(|c| (c, Exit::from_code(c))) {
        Some((_, Some(Exit::Valid))) => Verdict::Valid,
        Some((_, Some(Exit::Violations))) => Verdict::Violation,
        Some((_, Some(Exit::Unknown))) => Verdict::Unknown(reason()),
        Some((_, Some(Exit::Usage))) => {
            Verdict::Error(format!("splitbrain run refused the cell: {}", reason()))
        }
        Some((c, None)) => Verdict::Error(format!("splitbrain run exited with {c}: {}", reason())),
        None => Verdict::Error(format!(
            "splitbrain run was killed ({status}): {}",
            reason()
        )),
    }
}

/// The last line of the log that says something, for a reason when nothing else does.
fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no output".into())
}
