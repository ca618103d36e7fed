//! The nemesis schedule of a run: drawn from the seed or read from an earlier run's
//! `test.json`, and refused when it could not say anything (no fault in it). Whether its
//! faults can be injected here is the selection's to decide, once.

use std::collections::BTreeSet;

use nemesis::FaultKind;

use crate::spec::TestSpec;

/// A nemesis schedule, and how it is stored in `test.json`.
pub struct Schedule {
    pub schedule: nemesis::Schedule,
    pub json: serde_json::Value,
    pub summary: String,
    /// Read from an earlier run (`replay`) rather than drawn from the flags.
    pub replayed: bool,
}

impl Schedule {
    fn new(schedule: nemesis::Schedule, replayed: bool) -> Schedule {
        let summary = match schedule.mix_line() {
            Some(mix) => format!("{mix}\n{}", schedule.summary()),
            None => schedule.summary(),
        };
        Schedule {
            json: serde_json::to_value(&schedule).unwrap_or_default(),
            summary,
            schedule,
            replayed,
        }
    }

    /// Every fault kind the schedule may ask the runtime for.
    pub fn faults(&self) -> BTreeSet<FaultKind> {
        self.schedule.required_kinds()
    }
}

/// Draws a schedule from the seed.
pub fn new_schedule(spec: &TestSpec) -> Result<Schedule, String> {
    let drawn = nemesis::Schedule::generate(&spec.schedule_spec()).map_err(|e| e.to_string())?;
    refuse_empty(spec, &drawn)?;
    Ok(Schedule::new(drawn, false))
}

/// A test that asks for faults and has none scheduled would end with a verdict that
/// says nothing about them: it does not start. (`TestSpec` refuses time limits too short
/// for any seed; this catches a schedule from a file.)
fn refuse_empty(spec: &TestSpec, schedule: &nemesis::Schedule) -> Result<(), String> {
    if spec.nemesis_kinds.is_empty() || !schedule.events.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} asks for faults but the schedule holds none: --time-limit {} s leaves no room for a fault with --nemesis-interval-ms {} and --nemesis-duration-ms {}; use --time-limit {} or more, or --nemesis none",
        spec.nemesis_flag(),
        schedule.time_limit_ms / 1000,
        schedule.interval_ms,
        schedule.duration_ms,
        spec.first_fault_healed_ms().div_ceil(1000),
    ))
}

/// The schedule of an earlier run, checked against the spec it runs with.
pub fn schedule_from_json(spec: &TestSpec, json: serde_json::Value) -> Result<Schedule, String> {
    let schedule: nemesis::Schedule = serde_json::from_value(json)
        .map_err(|e| format!("the schedule in test.json cannot be read: {e}"))?;
    schedule.check().map_err(|e| e.to_string())?;
    if schedule.nodes != spec.node_names() {
        return Err(format!(
            "the schedule names nodes {:?} but the spec has {} nodes",
            schedule.nodes, spec.nodes
        ));
    }
    refuse_empty(spec, &schedule)?;
    Ok(Schedule::new(schedule, true))
}
