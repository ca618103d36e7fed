//! The nemesis as a pure state machine: given the time since the schedule started and,
//! when asked, who leads, it says what to do next — wait, ask for the leader, record a
//! fault that could not be aimed, or call a primitive. It does no I/O and reads no clock,
//! so the tokio executor (real runs) and the simulator drive the very same logic.
//!
//! The driver's loop:
//! ```text
//! loop match stepper.poll(now_ns):
//!     Due::At(t)          wait until t (or stop), then poll again
//!     Due::AskLeader {..} ask who leads (bounded by the deadline), then stepper.leader(now_ns, answer)
//!     Due::Skip {f, reason}  record an invoke and an `info` of f with the reason
//!     Due::Call(p)        record p's invoke, call it, record ok or info, then stepper.called(&p, ok)
//!     Due::Done           the timeline is over; stepper.undo() lists what the final phase must call
//! ```

use checkers::history::F;

use crate::fault::Fault;
use crate::partition::PartitionPlan;
use crate::primitive::{FaultState, Primitive};
use crate::schedule::{Action, Schedule, Step};

/// The longest a leader-aimed fault waits for a leader to be known before it is recorded
/// `info` and skipped.
pub const LEADER_WAIT_MS: u64 = 5_000;
/// How often the leader is asked for while none is known.
pub const LEADER_POLL_INTERVAL_MS: u64 = 250;

const NS_PER_MS: u64 = 1_000_000;

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Due {
    /// Nothing is due before this instant (ns since the schedule started).
    At(u64),
    /// The step at hand aims at the leader: find out who leads, giving up at `deadline_ns`,
    /// and answer with [`Stepper::leader`].
    AskLeader { deadline_ns: u64 },
    /// The fault could not be aimed: record an invoke and an `info` of `f` with `reason`.
    /// Nothing reached the runtime, so there is nothing to undo.
    Skip { f: F, reason: String },
    /// Record the primitive's invoke, call it, record `ok` or `info`, and report the
    /// outcome with [`Stepper::called`].
    Call(Primitive),
    /// Every step of the timeline has been taken.
    Done,
}

/// Where a schedule's timeline stands.
#[derive(Clone, Debug)]
pub struct Stepper {
    schedule: Schedule,
    steps: Vec<Step>,
    next: usize,
    /// Per event, the fault as it went to the runtime (leader filled in); `None` until
    /// then, and for ever if its leader could not be found.
    applied: Vec<Option<Fault>>,
    state: FaultState,
    leader: LeaderWait,
    /// The `isolate-leader` partition in force, if any: its event and the leader it cut
    /// off, whom a [`Selector::CutLeader`](crate::targets::Selector::CutLeader) aims at.
    cut_leader: Option<(usize, String)>,
}

/// The leader question of the step at hand.
#[derive(Clone, Debug, Default)]
enum LeaderWait {
    #[default]
    None,
    /// Asked first at `since_ns`; ask again at `retry_ns`.
    Waiting { since_ns: u64, retry_ns: u64 },
    /// Answered: the fault to apply, or why it cannot be.
    Answered(Result<Fault, String>),
}

impl Stepper {
    /// A stepper at the start of `schedule`'s timeline. The schedule must have passed
    /// [`Schedule::check`].
    pub fn new(schedule: &Schedule) -> Stepper {
        Stepper {
            steps: schedule.timeline(),
            applied: vec![None; schedule.events.len()],
            schedule: schedule.clone(),
            next: 0,
            state: FaultState::default(),
            leader: LeaderWait::None,
            cut_leader: None,
        }
    }

    /// What to do at `now_ns` (ns since the schedule started). Steps are taken in
    /// order: a step waiting for its leader holds back the ones after it.
    pub fn poll(&mut self, now_ns: u64) -> Due {
        loop {
            let Some(&step) = self.steps.get(self.next) else {
                return Due::Done;
            };
            let at_ns = step.at_ms.saturating_mul(NS_PER_MS);
            if at_ns > now_ns {
                return Due::At(at_ns);
            }
            if step.action == Action::Apply {
                match self.aim(step, now_ns) {
                    Aim::Ready(fault) => {
                        if let Fault::Partition {
                            plan:
                                PartitionPlan::IsolateLeader {
                                    leader: Some(leader),
                                },
                        } = &fault
                        {
                            self.cut_leader = Some((step.event, leader.clone()));
                        }
                        self.applied[step.event] = Some(fault);
                    }
                    Aim::Wait(due) => return due,
                    Aim::Skip(reason) => {
                        self.next += 1;
                        let f = fault_op(&self.schedule.events[step.event].fault);
                        return Due::Skip { f, reason };
                    }
                }
            }
            self.next += 1;
            if step.action == Action::Heal
                && self
                    .cut_leader
                    .as_ref()
                    .is_some_and(|(e, _)| *e == step.event)
            {
                self.cut_leader = None;
            }
            let Some(fault) = &self.applied[step.event] else {
                continue;
            };
            let primitive = Primitive::for_step(fault, step.action, &self.schedule.nodes)
                .expect("a checked schedule with its leader resolved gives its primitives");
            if let Some(primitive) = primitive {
                self.state.starting(&primitive);
                return Due::Call(primitive);
            }
        }
    }

    /// The answer to [`Due::AskLeader`]: the node that leads at `now_ns`, or `None`.
    pub fn leader(&mut self, now_ns: u64, leader: Option<&str>) {
        let LeaderWait::Waiting { since_ns, .. } = self.leader else {
            panic!("a leader answer the stepper did not ask for");
        };
        let Some(&step) = self.steps.get(self.next) else {
            unreachable!("a leader is asked for a step of the timeline");
        };
        let fault = &self.schedule.events[step.event].fault;
        self.leader = match leader {
            Some(name) if self.schedule.nodes.iter().any(|n| n == name) => {
                LeaderWait::Answered(Ok(fault.with_leader(name)))
            }
            Some(name) => LeaderWait::Answered(Err(format!(
                "the leader probe named {name}, which is not a node of the cluster"
            ))),
            None => {
                let poll_ns = LEADER_POLL_INTERVAL_MS * NS_PER_MS;
                if now_ns + poll_ns < since_ns + LEADER_WAIT_MS * NS_PER_MS {
                    LeaderWait::Waiting {
                        since_ns,
                        retry_ns: now_ns + poll_ns,
                    }
                } else {
                    LeaderWait::Answered(Err(format!("no leader known within {LEADER_WAIT_MS} ms")))
                }
            }
        };
    }

    /// The outcome of a [`Due::Call`]: a call that failed leaves its fault marked in
    /// force, so its heal and the final phase still undo it.
    pub fn called(&mut self, primitive: &Primitive, ok: bool) {
        if ok {
            self.state.succeeded(primitive);
        }
    }

    /// A call made outside the schedule (the simulator's random bounces, a final phase):
    /// what may be in force follows it as it follows the schedule's own calls.
    pub fn track(&mut self, primitive: &Primitive, ok: bool) {
        self.state.starting(primitive);
        self.called(primitive, ok);
    }

    /// When the next step is due (ns since the schedule started), if any is left.
    pub fn next_at_ns(&self) -> Option<u64> {
        let step = self.steps.get(self.next)?;
        Some(step.at_ms.saturating_mul(NS_PER_MS))
    }

    /// Whether every step of the timeline has been taken.
    pub fn is_done(&self) -> bool {
        self.next >= self.steps.len()
    }

    /// What may be in force now.
    pub fn state(&self) -> &FaultState {
        &self.state
    }

    /// What may be in force, for the final phase.
    pub fn into_state(self) -> FaultState {
        self.state
    }

    /// The schedule as it ran, every applied leader target filled with the node it hit;
    /// replaying it repeats the run's faults exactly.
    pub fn as_run(&self) -> Schedule {
        let mut ran = self.schedule.clone();
        for (event, applied) in ran.events.iter_mut().zip(&self.applied) {
            if let Some(fault) = applied {
                event.fault = fault.clone();
            }
        }
        ran
    }

    /// Whether the fault of `step` can be applied now, must wait for a leader, or is
    /// skipped.
    fn aim(&mut self, step: Step, now_ns: u64) -> Aim {
        let fault = &self.schedule.events[step.event].fault;
        if fault.needs_cut_leader() {
            return match &self.cut_leader {
                Some((_, leader)) => {
                    Aim::Ready(fault.with_cut_leader(leader, &self.schedule.nodes))
                }
                None => Aim::Skip("no isolate-leader partition is in force".to_string()),
            };
        }
        if !fault.needs_leader() {
            return Aim::Ready(fault.clone());
        }
        match std::mem::take(&mut self.leader) {
            LeaderWait::Answered(Ok(fault)) => Aim::Ready(fault),
            LeaderWait::Answered(Err(reason)) => Aim::Skip(reason),
            LeaderWait::Waiting { since_ns, retry_ns } if retry_ns > now_ns => {
                self.leader = LeaderWait::Waiting { since_ns, retry_ns };
                Aim::Wait(Due::At(retry_ns))
            }
            LeaderWait::Waiting { since_ns, .. } => self.ask(since_ns),
            LeaderWait::None => self.ask(now_ns),
        }
    }

    fn ask(&mut self, since_ns: u64) -> Aim {
        self.leader = LeaderWait::Waiting {
            since_ns,
            retry_ns: since_ns,
        };
        Aim::Wait(Due::AskLeader {
            deadline_ns: since_ns + LEADER_WAIT_MS * NS_PER_MS,
        })
    }
}

enum Aim {
    Ready(Fault),
    Wait(Due),
    Skip(String),
}

/// The history `f` of a fault's start.
pub fn fault_op(fault: &Fault) -> F {
    match fault {
        Fault::Partition { .. } => F::Partition,
        Fault::Pause { .. } => F::Pause,
        Fault::Kill { .. } => F::Kill,
        Fault::PowerLoss { .. } => F::PowerLoss,
        Fault::ClockJump { .. } | Fault::ClockStrobe { .. } => F::Clock,
        Fault::Packet { .. } => F::Packet,
        Fault::CrashPoint { .. } => F::CrashPoint,
    }
}
