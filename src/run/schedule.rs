//! The nemesis schedule of a run: drawn from the seed or read from an earlier run's
//! `test.json`, and refused when it asks for faults that cannot be injected here.

use nemesis::{Capabilities, FaultKind};

use super::select::Selection;
use crate::spec::{fault_name, TestSpec};

/// A nemesis schedule, and how it is stored in `test.json`.
pub struct Schedule {
    pub schedule: nemesis::Schedule,
    pub json: serde_json::Value,
    pub summary: String,
}

impl Schedule {
    fn new(schedule: nemesis::Schedule) -> Schedule {
        Schedule {
            json: serde_json::to_value(&schedule).unwrap_or_default(),
            summary: schedule.summary(),
            schedule,
        }
    }
}

/// Draws a schedule from the seed, refusing faults the runtime or system cannot inject.
pub fn new_schedule(spec: &TestSpec, sel: &Selection) -> Result<Schedule, String> {
    refuse_unsupported(&spec.fault_kinds(), &sel.capabilities)?;
    let drawn = nemesis::Schedule::generate(&nemesis::ScheduleSpec::new(
        spec.seed,
        spec.node_names(),
        spec.time_limit_secs * 1000,
        spec.nemesis_interval_ms,
        spec.nemesis_duration_ms,
        spec.nemesis_kinds.clone(),
    ))
    .map_err(|e| e.to_string())?;
    refuse_empty(spec, &drawn)?;
    Ok(Schedule::new(drawn))
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

/// The schedule of an earlier run, checked against what this runtime can inject.
pub fn schedule_from_json(
    spec: &TestSpec,
    sel: &Selection,
    json: serde_json::Value,
) -> Result<Schedule, String> {
    let schedule: nemesis::Schedule = serde_json::from_value(json)
        .map_err(|e| format!("the schedule in test.json cannot be read: {e}"))?;
    schedule.check().map_err(|e| e.to_string())?;
    if schedule.nodes != spec.node_names() {
        return Err(format!(
            "the schedule names nodes {:?} but the spec has {} nodes",
            schedule.nodes, spec.nodes
        ));
    }
    schedule
        .check_capabilities(&sel.capabilities)
        .map_err(|e| e.to_string())?;
    refuse_empty(spec, &schedule)?;
    Ok(Schedule::new(schedule))
}

fn refuse_unsupported(faults: &[FaultKind], caps: &Capabilities) -> Result<(), String> {
    let Some(refused) = faults.iter().find(|f| !caps.supported.contains(f)) else {
        return Ok(());
    };
    let why = caps
        .refused
        .get(refused)
        .map_or("no reason given", String::as_str);
    let usable: Vec<&str> = faults
        .iter()
        .filter(|f| caps.supported.contains(f))
        .map(|f| fault_name(*f))
        .collect();
    let instead = if usable.is_empty() {
        "none".to_string()
    } else {
        usable.join(",")
    };
    Err(format!(
        "{} faults cannot be injected here: {why}; leave them out, e.g. --nemesis {instead}",
        fault_name(*refused)
    ))
}
