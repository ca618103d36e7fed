//! The executor: applies a schedule's faults at their times through a runtime, records
//! each as nemesis ops in the history, tracks what may be in force, and undoes it all in
//! the final phase.

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use checkers::history::Process;
use checkers::recorder::{OpDraft, Recorder};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::primitive::{FaultState, Primitive};
use crate::runtime::FaultRuntime;
use crate::schedule::{Schedule, ScheduleError};
use crate::stepper::{Due, Stepper};

/// The longest one runtime call may take before its op is recorded `info` with a timeout.
pub const FAULT_CALL_TIMEOUT_MS: u64 = 60_000;

/// How often the final phase tries an undo that failed, and how long it waits between.
pub const FINAL_UNDO_ATTEMPTS: usize = 5;
pub const FINAL_UNDO_RETRY_MS: u64 = 1000;

/// Who leads now, as far as the workload side knows. Faults aimed at the leader ask it
/// when they start.
#[async_trait]
pub trait LeaderProbe: Send + Sync {
    /// The node that leads now, or `None` if no leader is known.
    async fn leader(&self) -> Option<String>;
}

/// A probe that never knows a leader: leader-aimed faults are recorded as failed.
pub struct NoLeaderProbe;

#[async_trait]
impl LeaderProbe for NoLeaderProbe {
    async fn leader(&self) -> Option<String> {
        None
    }
}

/// What a run of the schedule left behind.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// What may still be in force; hand it to `final_phase`.
    pub state: FaultState,
    /// The schedule as it ran, every leader target filled with the node it hit; replaying
    /// it repeats the run's faults exactly.
    pub schedule: Schedule,
    /// Whether the stop signal cut the schedule short.
    pub stopped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the nemesis schedule cannot run: {0}")]
    Invalid(#[from] ScheduleError),
    /// The history could not be written; the run must abort. `state` says what may still
    /// be in force, for the final phase.
    #[error("could not record a nemesis op in the history: {source}")]
    History {
        source: io::Error,
        state: Box<FaultState>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FinalPhaseError {
    #[error("could not restore the cluster after the faults: {}", .0.join("; "))]
    NotRestored(Vec<String>),
    #[error("could not record a nemesis op in the history: {0}")]
    History(#[from] io::Error),
}

/// Apply every event of `schedule` at its time (counted from this call), recording
/// each as nemesis ops, and undo each at its heal time. Returns early, leaving faults in
/// force, once `stop` is cancelled; `final_phase` undoes what is left either way.
/// What is due when is the [`Stepper`]'s to say; this only waits, asks and calls.
pub async fn run_schedule(
    schedule: &Schedule,
    runtime: &dyn FaultRuntime,
    recorder: &Recorder,
    leader_probe: &dyn LeaderProbe,
    stop: &CancellationToken,
) -> Result<RunOutcome, RunError> {
    schedule.check()?;
    schedule.check_capabilities(&runtime.capabilities())?;
    let start = Instant::now();
    let elapsed_ns = || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut stepper = Stepper::new(schedule);
    let mut stopped = false;
    while !stepper.is_done() {
        if stop.is_cancelled() {
            stopped = true;
            break;
        }
        let recorded = match stepper.poll(elapsed_ns()) {
            Due::Done => break,
            Due::At(at_ns) => {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => {
                        stopped = true;
                        break;
                    }
                    _ = due(start, at_ns) => {}
                }
                Ok(())
            }
            Due::AskLeader { deadline_ns } => {
                let left = Duration::from_nanos(deadline_ns.saturating_sub(elapsed_ns()));
                let leader = timeout(left, leader_probe.leader()).await.ok().flatten();
                stepper.leader(elapsed_ns(), leader.as_deref());
                Ok(())
            }
            Due::Skip { f, reason } => recorder
                .record(OpDraft::invoke(Process::Nemesis, f, None))
                .and_then(|_| recorder.record(OpDraft::info(Process::Nemesis, f, None, reason)))
                .map(drop),
            Due::Call(primitive) => call(recorder, &primitive, runtime)
                .await
                .map(|result| stepper.called(&primitive, result.is_ok())),
        };
        if let Err(source) = recorded {
            return Err(RunError::History {
                source,
                state: Box::new(stepper.into_state()),
            });
        }
    }
    Ok(RunOutcome {
        schedule: stepper.as_run(),
        state: stepper.into_state(),
        stopped,
    })
}

/// Wait until `at_ns` after `start`; a time past what the clock can represent never
/// comes, leaving only the stop signal.
async fn due(start: Instant, at_ns: u64) {
    match start.checked_add(Duration::from_nanos(at_ns)) {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Undo everything that may be in force — heal the network, resume paused nodes, start
/// killed ones, reset clocks — recording each as nemesis ops, so final reads can run.
/// What could not be undone stays in `state` and is named in the error.
pub async fn final_phase(
    runtime: &dyn FaultRuntime,
    recorder: &Recorder,
    state: &mut FaultState,
) -> Result<(), FinalPhaseError> {
    let mut failures = Vec::new();
    for primitive in state.undo() {
        // An undo can meet a node still starting (its admin port not yet open, after a
        // start just before): it is tried again, each try recorded, before it counts as
        // failed.
        let mut failed = None;
        for attempt in 0..FINAL_UNDO_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(FINAL_UNDO_RETRY_MS)).await;
            }
            match call(recorder, &primitive, runtime).await? {
                Ok(()) => {
                    state.succeeded(&primitive);
                    failed = None;
                    break;
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            failures.push(format!("{}: {e}", primitive.describe()));
        }
    }
    if failures.is_empty() {
        assert!(
            state.is_clear(),
            "a clean final phase leaves nothing in force"
        );
        Ok(())
    } else {
        Err(FinalPhaseError::NotRestored(failures))
    }
}

/// Record an invoke, make the call with a bounded wait, and record `ok` or `info` with
/// the error. The outer error is the history's; the inner, the runtime's.
async fn call(
    recorder: &Recorder,
    primitive: &Primitive,
    runtime: &dyn FaultRuntime,
) -> io::Result<Result<(), String>> {
    let (f, value) = (primitive.f(), primitive.value());
    recorder.record(OpDraft::invoke(Process::Nemesis, f, value.clone()))?;
    let bound = Duration::from_millis(FAULT_CALL_TIMEOUT_MS);
    let result = match timeout(bound, primitive.call(runtime)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("timeout after {FAULT_CALL_TIMEOUT_MS} ms")),
    };
    match &result {
        Ok(()) => recorder.record(OpDraft::ok(Process::Nemesis, f, value))?,
        Err(e) => {
            tracing::warn!(f = f.name(), error = %e, "nemesis call failed");
            recorder.record(OpDraft::info(Process::Nemesis, f, value, e.clone()))?
        }
    };
    Ok(result)
}
