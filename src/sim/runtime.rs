//! `splitbrain run --runtime sim`: a validated `TestSpec` for raftd run once in the
//! simulator, its results directory laid out as a real run's (the same `test.json`
//! document, so that `splitbrain replay` reads it back) and the run's usual summary.

use std::time::SystemTime;

use anyhow::Context;
use serde_json::json;

use super::run::{guarantees, run_with, SimRun};
use super::{output, sweep, SimSpec};
use crate::exit::Exit;
use crate::run::reporter::Reporter;
use crate::run::results::{self, RuntimeDoc, TestDoc, Versions};
use crate::spec::TestSpec;
use workloads::FencingMode;

/// What `test.json` says of the runtime.
const RUNTIME_REASON: &str =
    "deterministic simulation: raftd's cores on one thread, simulated time, network, disks and clocks";

/// The simulator's spec for a run's spec: the same nodes, faults, timing, clients and
/// workload, bugs, lease and fencing. Fencing `none` is raftd's `no-fencing` bug, as the raftd adapter
/// starts it; `write` is raftd without `--fence-on-grant`.
pub fn sim_spec_of(spec: &TestSpec) -> SimSpec {
    let mut bugs = spec.bugs.clone();
    if spec.fencing == FencingMode::None {
        bugs.push("no-fencing".into());
    }
    bugs.sort();
    bugs.dedup();
    SimSpec {
        system: "raftd".into(),
        nodes: spec.nodes,
        nodes_drawn: false,
        bugs,
        lease: spec.lease,
        nemesis: spec.nemesis.clone(),
        nemesis_kinds: spec.nemesis_kinds.clone(),
        sim_secs: spec.time_limit_secs,
        nemesis_interval_ms: spec.nemesis_interval_ms,
        nemesis_duration_ms: spec.nemesis_duration_ms,
        swarm: spec.swarm,
        torn_fsync: false,
        rate_hz: spec.rate_hz,
        concurrency: spec.concurrency,
        stall_probability: spec.stall_probability,
        fence_on_grant: spec.fencing == FencingMode::Grant,
        recovery_ms: spec.recovery_secs * 1000,
        workload: spec.workload,
    }
}

/// Runs `spec` in the simulator (with `schedule`, a saved one, when replaying) and
/// returns the exit code.
pub fn run_spec(
    spec: &TestSpec,
    schedule: Option<serde_json::Value>,
    report: &Reporter,
) -> anyhow::Result<Exit> {
    if spec.system.name() != workloads::raftd::DESCRIPTOR.name {
        report.refuse(&format!(
            "--runtime sim: the simulator runs raftd's core only, not {}; use --runtime docker or netns",
            spec.system.name()
        ));
        return Ok(Exit::Usage);
    }
    let sim = sim_spec_of(spec);
    let schedule = match schedule {
        Some(json) => serde_json::from_value::<nemesis::Schedule>(json)
            .map_err(|e| format!("the schedule in test.json cannot be read: {e}"))
            .and_then(|s| s.check().map(|()| s).map_err(|e| e.to_string()))
            .and_then(|s| match s.nodes == spec.node_names() {
                true => Ok(s),
                false => Err(format!(
                    "the schedule names nodes {:?} but the spec has {} nodes",
                    s.nodes, spec.nodes
                )),
            }),
        None => sweep::schedule_for(&sim, spec.seed).map_err(|e| e.to_string()),
    };
    let schedule = match schedule {
        Ok(s) => s,
        Err(e) => {
            report.refuse(&format!("--nemesis: {e}"));
            return Ok(Exit::Usage);
        }
    };
    report.say(&spec.to_string());
    report.say(&format!("runtime sim ({RUNTIME_REASON})"));
    if let Some(mix) = schedule.mix_line() {
        report.say(&mix);
    }
    if !schedule.events.is_empty() {
        report.say(&format!(
            "nemesis schedule:\n{}",
            schedule.summary().trim_end()
        ));
    }
    let started = SystemTime::now();
    let run = run_with(&sim, spec.seed, &schedule, true);
    let (run_id, dir) = results::create_run_dir(&spec.results, &results::run_id(spec, started))
        .with_context(|| {
            format!(
                "cannot create a results directory under {}",
                spec.results.display()
            )
        })?;
    let doc = test_doc(spec, &sim, &run_id, started, &schedule)?;
    let mut value = serde_json::to_value(&doc)?;
    value["sim"] = json!({
        "spec": sim,
        "schedule_as_run": run.ran,
        "simulated_ms": run.sim_ns / 1_000_000,
        "events": run.events,
    });
    results::write_json_atomic(&dir.join("test.json"), &value)?;
    output::write_run_files(&dir, &sim.node_names(), &run)?;
    if let Err(e) = results::point_latest(&spec.results, &run_id) {
        report.warning(&format!(
            "cannot point {}/latest at this run: {e}",
            spec.results.display()
        ));
    }
    if let Err(e) = crate::report::write_index(&spec.results) {
        report.warning(&format!("cannot refresh the results index: {e:#}"));
    }
    crate::run::summary::print(spec, &dir, None);
    println!("{}", liveness_line(&run));
    Ok(exit_of(&run))
}

fn test_doc(
    spec: &TestSpec,
    sim: &SimSpec,
    run_id: &str,
    started: SystemTime,
    schedule: &nemesis::Schedule,
) -> anyhow::Result<TestDoc> {
    Ok(TestDoc {
        run_id: run_id.to_string(),
        started_at: crate::utc::rfc3339(started),
        command: spec.command_line(),
        seed: spec.seed,
        spec: spec.clone(),
        guarantees: guarantees(sim),
        runtime: RuntimeDoc {
            name: "sim".into(),
            reason: RUNTIME_REASON.into(),
            run_id: String::new(),
        },
        versions: Versions {
            splitbrain: env!("CARGO_PKG_VERSION").to_string(),
            system: "raftd core (simulated)".into(),
        },
        // The schedule as drawn: the simulation repeats itself exactly, leader targets
        // included, from it and the seed (the resolved one is under `sim`).
        schedule: serde_json::to_value(schedule)?,
        schedule_summary: schedule.summary(),
        topology: serde_json::Value::Null,
    })
}

/// docs/design.md's exit codes; a failed liveness check is a failure like a violation.
pub(super) fn exit_of(run: &SimRun) -> Exit {
    if run.failed() {
        Exit::Violations
    } else if run.verdict() == checkers::Validity::Unknown {
        Exit::Unknown
    } else {
        Exit::Valid
    }
}

fn liveness_line(run: &SimRun) -> String {
    format!(
        "simulated: {} ms, {} events; {}",
        run.sim_ns / 1_000_000,
        run.events,
        super::liveness_line(run)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_run_speaks_through_the_reporter() {
        let results = tempfile::tempdir().unwrap();
        let spec = crate::run::testing::spec_with("raftd", "sim", "partition", |a| {
            a.results = results.path().to_path_buf();
        });
        // A saved schedule that cannot be read is refused, through the reporter.
        let (report, captured) = Reporter::capture();
        let code = run_spec(&spec, Some(json!("not a schedule")), &report).unwrap();
        assert_eq!(code, Exit::Usage);
        let lines = captured.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("splitbrain run: --nemesis:")),
            "{lines:?}"
        );
        // A run says what it is and where it runs, through the reporter too.
        let (report, captured) = Reporter::capture();
        run_spec(&spec, None, &report).unwrap();
        let lines = captured.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("splitbrain: runtime sim")),
            "{lines:?}"
        );
    }
}
