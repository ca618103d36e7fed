//! The executor: applies a schedule's faults at their times through a runtime, records
//! each as nemesis ops in the history, tracks what may be in force, and undoes it all in
//! the final phase.

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use checkers::history::{Process, F};
use checkers::recorder::{OpDraft, Recorder};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use crate::fault::Fault;
use crate::primitive::{FaultState, Primitive};
use crate::runtime::FaultRuntime;
use crate::schedule::{Action, Schedule, ScheduleError, Step};

/// The longest one runtime call may take before its op is recorded `info` with a timeout.
pub const FAULT_CALL_TIMEOUT_MS: u64 = 60_000;
/// The longest a leader-aimed fault waits for the probe to name a leader before it is
/// recorded `info` and skipped.
pub const LEADER_WAIT_MS: u64 = 5_000;
/// How often the probe is asked while no leader is known.
pub const LEADER_POLL_INTERVAL_MS: u64 = 250;

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
    let mut exec = Executor {
        runtime,
        recorder,
        probe: leader_probe,
        nodes: &schedule.nodes,
        state: FaultState::default(),
        applied: vec![None; schedule.events.len()],
    };
    let mut stopped = false;
    for step in schedule.timeline() {
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                stopped = true;
                break;
            }
            _ = due(start, step.at_ms) => {}
        }
        if let Err(source) = exec.step(schedule, step).await {
            return Err(RunError::History {
                source,
                state: Box::new(exec.state),
            });
        }
    }
    let mut ran = schedule.clone();
    for (event, applied) in ran.events.iter_mut().zip(exec.applied) {
        if let Some(fault) = applied {
            event.fault = fault;
        }
    }
    Ok(RunOutcome {
        state: exec.state,
        schedule: ran,
        stopped,
    })
}

/// Wait until `at_ms` after `start`; a time past what the clock can represent never
/// comes, leaving only the stop signal.
async fn due(start: Instant, at_ms: u64) {
    match start.checked_add(Duration::from_millis(at_ms)) {
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
        match call(recorder, &primitive, runtime).await? {
            Ok(()) => state.succeeded(&primitive),
            Err(e) => failures.push(format!("{}: {e}", primitive.describe())),
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

struct Executor<'a> {
    runtime: &'a dyn FaultRuntime,
    recorder: &'a Recorder,
    probe: &'a dyn LeaderProbe,
    nodes: &'a [String],
    state: FaultState,
    /// Per event, the fault as it went to the runtime (leader filled in); `None` until
    /// then, and for ever if its leader could not be found.
    applied: Vec<Option<Fault>>,
}

impl Executor<'_> {
    /// A start whose call fails is in the history as `info` and its fault stays marked
    /// in force, so its heal and the final phase still undo it; the executor goes on.
    async fn step(&mut self, schedule: &Schedule, step: Step) -> io::Result<()> {
        if step.action == Action::Apply {
            let fault = &schedule.events[step.event].fault;
            match self.resolve(fault).await {
                Ok(resolved) => self.applied[step.event] = Some(resolved),
                Err(reason) => {
                    // Nothing reaches the runtime, so there is nothing to undo later.
                    let f = fault_op(fault);
                    self.recorder
                        .record(OpDraft::invoke(Process::Nemesis, f, None))?;
                    self.recorder
                        .record(OpDraft::info(Process::Nemesis, f, None, reason))?;
                    return Ok(());
                }
            }
        }
        let Some(fault) = &self.applied[step.event] else {
            return Ok(());
        };
        let primitive = Primitive::for_step(fault, step.action, self.nodes)
            .expect("a checked schedule with its leader resolved gives its primitives");
        if let Some(primitive) = primitive {
            self.state.starting(&primitive);
            if call(self.recorder, &primitive, self.runtime).await?.is_ok() {
                self.state.succeeded(&primitive);
            }
        }
        Ok(())
    }

    /// The fault with its leader filled in, or why the leader is not known.
    async fn resolve(&self, fault: &Fault) -> Result<Fault, String> {
        if !fault.needs_leader() {
            return Ok(fault.clone());
        }
        let leader = self.find_leader().await?;
        Ok(fault.with_leader(&leader))
    }

    /// Ask the probe until it names a leader, for a bounded time: right after a kill or
    /// a heal the cluster may take an election or two to have one again.
    async fn find_leader(&self) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
        let poll = Duration::from_millis(LEADER_POLL_INTERVAL_MS);
        loop {
            match timeout_at(deadline, self.probe.leader()).await {
                Ok(Some(leader)) if self.nodes.contains(&leader) => return Ok(leader),
                Ok(Some(leader)) => {
                    return Err(format!(
                        "the leader probe named {leader}, which is not a node of the cluster"
                    ))
                }
                Ok(None) if Instant::now() + poll < deadline => sleep(poll).await,
                Ok(None) | Err(_) => {
                    return Err(format!("no leader known within {LEADER_WAIT_MS} ms"))
                }
            }
        }
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

/// The history `f` of a fault's start.
fn fault_op(fault: &Fault) -> F {
    match fault {
        Fault::Partition { .. } => F::Partition,
        Fault::Pause { .. } => F::Pause,
        Fault::Kill { .. } => F::Kill,
        Fault::ClockJump { .. } | Fault::ClockStrobe { .. } => F::Clock,
    }
}
