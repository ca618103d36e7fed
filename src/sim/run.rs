//! One simulated test: the world built from a seed and a schedule, run to its end, its
//! history checked by the same checkers as a real run, and liveness judged apart.

use std::collections::BTreeSet;

use checkers::{CheckResult, CheckerResult, Guarantees, Op, Severity, Validity};
use nemesis::Schedule;

use super::clients::{Liveness, LIVENESS_MS_MAX};
use super::world::{World, MS};
use super::SimSpec;

/// The name of the liveness entry in the results document.
pub const LIVENESS: &str = "liveness";
/// The name of the entry for cores that panicked (a failed assertion in raftd's core).
pub const CORE_PANIC: &str = "core-panic";

/// What one simulated test produced.
pub struct SimRun {
    pub seed: u64,
    pub ops: Vec<Op>,
    /// The safety checkers' verdict, and the liveness entry beside them.
    pub result: CheckResult,
    pub safety: Validity,
    pub liveness: Liveness,
    /// The schedule as it ran, leader targets filled in.
    pub ran: Schedule,
    pub sim_ns: u64,
    /// Messages a core refused as malformed.
    pub refused: u64,
    /// Events the world processed.
    pub events: u64,
    /// Per node, its log as text, when the run kept logs (else empty).
    pub node_logs: Vec<String>,
    /// Panics of the cores (the first few), each a node's process dying.
    pub panics: Vec<String>,
}

impl SimRun {
    /// Safety violated, no leader and ok write after the heal, or a core panicked.
    pub fn failed(&self) -> bool {
        self.safety == Validity::Invalid || !self.liveness.ok || !self.panics.is_empty()
    }

    pub fn verdict(&self) -> Validity {
        self.result.valid
    }

    /// The violation kinds found, plus `liveness` if it failed: what shrinking keeps.
    pub fn signature(&self) -> BTreeSet<String> {
        let mut kinds: BTreeSet<String> = self
            .result
            .anomalies
            .iter()
            .filter(|a| a.severity == Severity::Violation)
            .map(|a| a.kind.name().to_string())
            .collect();
        if !self.liveness.ok {
            kinds.insert(LIVENESS.to_string());
        }
        if !self.panics.is_empty() {
            kinds.insert(CORE_PANIC.to_string());
        }
        kinds
    }

    /// history.jsonl, byte for byte as a file-backed recorder writes it.
    pub fn history_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() * 120);
        for op in &self.ops {
            serde_json::to_writer(&mut out, op).expect("an op always serialises");
            out.push(b'\n');
        }
        out
    }
}

/// The guarantees of raftd as `splitbrain run` claims them.
pub fn guarantees(spec: &SimSpec) -> Guarantees {
    Guarantees {
        exclusive_leadership: spec.leases_on(),
        fence_on_grant: true,
        leaderless: false,
    }
}

/// Runs one simulated test of `spec` with `seed` under `schedule`.
pub fn run_one(spec: &SimSpec, seed: u64, schedule: &Schedule) -> SimRun {
    run_with(spec, seed, schedule, false)
}

/// As `run_one`, keeping a log per node (for a results directory); the history is the
/// same either way.
pub fn run_with(spec: &SimSpec, seed: u64, schedule: &Schedule, keep_logs: bool) -> SimRun {
    let mut world = World::new(spec, seed, schedule);
    if keep_logs {
        world.keep_logs();
    }
    world.run();
    let ops = world.recorder.ops();
    let mut liveness = world.wl.liveness.clone();
    if !world.restart_failures.is_empty() {
        liveness.ok = false;
        liveness.note = world.restart_failures.join("; ");
    }
    let guarantees = guarantees(spec);
    let result = match checkers::check_ops(&ops, &guarantees, &Default::default()) {
        Ok(result) => result,
        Err(e) => panic!("the simulator wrote a history the checkers refuse: {e}"),
    };
    let safety = result.valid;
    let result = with_liveness(result, &liveness);
    let panics = world.chaos.panics.clone();
    let result = with_panics(result, &panics, world.chaos.panic_count);
    SimRun {
        seed,
        ops,
        result,
        safety,
        liveness,
        ran: world.nemesis.as_run(),
        sim_ns: world.now,
        refused: world.refused(),
        events: world.events,
        panics,
        node_logs: world
            .logs
            .take()
            .map(|logs| {
                logs.into_iter()
                    .map(|l| l.lines.join("\n") + "\n")
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The results document with liveness as its own checker entry; the verdict counts it.
fn with_liveness(mut result: CheckResult, liveness: &Liveness) -> CheckResult {
    let figures = serde_json::json!({
        "bound_ms": LIVENESS_MS_MAX,
        "leader_after_heal_ms": liveness.leader_after_ms,
        "ok_write_after_heal_ms": liveness.write_after_ms,
    });
    let valid = if liveness.ok {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let note = (!liveness.ok).then(|| liveness.note.clone());
    let entry = CheckerResult {
        valid,
        note,
        anomalies: Default::default(),
        figures: Some(figures),
    };
    result.checkers.insert(LIVENESS.to_string(), entry);
    result.valid = result.valid.and(valid);
    result
}

/// The results document with the cores' panics as their own entry: a core that fails
/// one of its assertions is a node that died, which the verdict counts.
fn with_panics(mut result: CheckResult, panics: &[String], count: u64) -> CheckResult {
    let valid = if panics.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let note = (!panics.is_empty()).then(|| {
        format!(
            "{count} core panic(s), the first: {}",
            panics.first().map_or("", String::as_str)
        )
    });
    let entry = CheckerResult {
        valid,
        note,
        anomalies: Default::default(),
        figures: Some(serde_json::json!({ "panics": count, "first": panics })),
    };
    result.checkers.insert(CORE_PANIC.to_string(), entry);
    result.valid = result.valid.and(valid);
    result
}

/// Simulated seconds of a run, for throughput figures.
pub fn sim_secs(run: &SimRun) -> f64 {
    run.sim_ns as f64 / (1000.0 * MS as f64)
}
