//! The fault model: fault kinds and targets, partition shapes, seeded schedules, the
//! trait runtimes implement, and the executor that applies a schedule and records it.
//!
//! A test's nemesis goes through these steps:
//! 1. `parse_nemeses("partition,kill")` turns the command line's names into kinds;
//! 2. `Schedule::generate` draws the events from the seed (the same spec always draws
//!    the same schedule) and `Schedule::summary` shows them;
//! 3. `Schedule::check_capabilities` refuses, before anything starts, a schedule the
//!    runtime cannot carry out, quoting its reasons;
//! 4. `run_schedule` applies each event at its time and records it as nemesis ops; its
//!    outcome's `schedule`, with every leader target resolved, is what test.json keeps,
//!    and replaying it repeats the run's faults exactly;
//! 5. `final_phase` undoes whatever may still be in force, so final reads can run.
//!
//! Everything but the executor is pure: the executor only waits, asks and calls as the
//! [`Stepper`] says, and a simulator drives the same stepper with its own clock, turning
//! each partition into a `Grudge` with `PartitionPlan::reach`, and never touches tokio.
//!
//! ```
//! use nemesis::{parse_nemeses, Schedule, ScheduleSpec};
//!
//! let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
//! let kinds = parse_nemeses("partition-halves,kill-leader").unwrap();
//! let spec = ScheduleSpec::new(42, nodes, 60_000, 10_000, 5_000, kinds);
//! let schedule = Schedule::generate(&spec).unwrap();
//! assert_eq!(schedule, Schedule::generate(&spec).unwrap());
//! assert_eq!(schedule.summary().lines().count(), schedule.events.len());
//! ```

pub mod crash;
pub mod executor;
pub mod fault;
pub mod names;
pub mod packet;
pub mod partition;
pub mod primitive;
pub mod runtime;
pub mod schedule;
pub mod stepper;
pub mod swarm;
pub mod targets;

pub use crash::CrashPoint;
pub use executor::{
    final_phase, run_schedule, FinalPhaseError, LeaderProbe, NoLeaderProbe, RunError, RunOutcome,
};
pub use fault::Fault;
pub use names::{parse_nemeses, NameError, NemesisKind};
pub use packet::{Link, LinkSide, PacketKind, PacketParams, PacketShape};
pub use partition::{Direction, PartitionError, PartitionPlan, Reach, Shape};
pub use primitive::{FaultState, Primitive, StepError};
pub use runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
pub use schedule::{Action, Event, Phase, Schedule, ScheduleError, ScheduleSpec, Step};
pub use stepper::{Due, Stepper};
pub use swarm::{
    phase_windows, Mix, Swarm, PHASE_MS_MIN, PHASE_QUIET_MS, SWARM_FIRST_FAULT_HEALED_MS,
};
pub use targets::{Selector, Targets};
