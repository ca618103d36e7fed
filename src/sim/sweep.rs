//! Seed sweeps on worker threads (each seed its own world, so threads never share
//! simulated state) and shrinking of a failing schedule: drop faults, then shorten them,
//! then the test, re-running the same seed until no smaller schedule still fails.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use checkers::Validity;
use nemesis::{Schedule, ScheduleSpec};

use super::run::{run_one, SimRun};
use super::SimSpec;

/// Bound on the runs one shrink may take.
pub const SHRINK_RUNS_MAX: usize = 400;
/// Durations are not shortened below this.
const FAULT_MS_MIN: u64 = 50;

/// The schedule drawn for `seed`, as `splitbrain run` draws it.
pub fn schedule_for(spec: &SimSpec, seed: u64) -> Result<Schedule, nemesis::ScheduleError> {
    let s = ScheduleSpec::new(
        seed,
        spec.node_names(),
        spec.sim_secs * 1000,
        spec.nemesis_interval_ms,
        spec.nemesis_duration_ms,
        spec.nemesis_kinds.clone(),
    )
    .swarm(spec.swarm);
    Schedule::generate(&s)
}

/// What a sweep saw.
#[derive(Default)]
pub struct Sweep {
    pub runs: u64,
    pub valid: u64,
    pub unknown: u64,
    pub sim_secs: f64,
    /// The lowest failing seed, with its run.
    pub failure: Option<SimRun>,
    /// Seeds whose verdict was unknown (no failure), lowest first, a few.
    pub unknown_seeds: Vec<u64>,
    pub events: u64,
    /// Messages cores refused as malformed, over all seeds.
    pub refused: u64,
    /// The run of a one-seed sweep, kept for its results directory.
    pub single: Option<SimRun>,
}

/// Runs seeds `from..to` on `jobs` threads and stops at the first failing seed: every
/// seed below it still runs, so the seed reported is the lowest failing one whatever
/// the threads' timing.
pub fn sweep(spec: &SimSpec, from: u64, to: u64, jobs: usize) -> Result<Sweep, String> {
    let next = AtomicU64::new(from);
    let stop_at = AtomicU64::new(to);
    let out = Mutex::new(Sweep::default());
    let error = Mutex::new(None::<String>);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= stop_at.load(Ordering::SeqCst) {
                    return;
                }
                let spec = &spec.for_seed(seed);
                let schedule = match schedule_for(spec, seed) {
                    Ok(s) => s,
                    Err(e) => {
                        *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                        stop_at.store(0, Ordering::SeqCst);
                        return;
                    }
                };
                let run = run_one(spec, seed, &schedule);
                if run.failed() {
                    stop_at.fetch_min(seed, Ordering::SeqCst);
                }
                tally(
                    &mut out.lock().unwrap_or_else(|e| e.into_inner()),
                    run,
                    to - from == 1,
                );
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(out.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn tally(s: &mut Sweep, run: SimRun, single: bool) {
    s.runs += 1;
    s.events += run.events;
    s.refused += run.refused;
    s.sim_secs += super::run::sim_secs(&run);
    match run.verdict() {
        Validity::Valid => s.valid += 1,
        Validity::Unknown if !run.failed() => {
            s.unknown += 1;
            s.unknown_seeds.push(run.seed);
            s.unknown_seeds.sort_unstable();
            s.unknown_seeds.truncate(10);
        }
        _ => {}
    }
    if run.failed() && s.failure.as_ref().is_none_or(|f| run.seed < f.seed) {
        s.failure = Some(run);
    } else if single {
        s.single = Some(run);
    }
}

/// The result of shrinking.
pub struct Shrunk {
    pub run: SimRun,
    pub schedule: Schedule,
    pub runs: usize,
}

/// Shrinks the schedule of a failing run to a smaller one that still fails the same way
/// (at least one of its violation kinds, or liveness).
pub fn shrink(spec: &SimSpec, failing: &SimRun, original: &Schedule) -> Shrunk {
    let want = failing.signature();
    let runs = std::cell::Cell::new(0);
    let attempt = |s: &Schedule| -> Option<SimRun> {
        if runs.get() >= SHRINK_RUNS_MAX || s.check().is_err() {
            return None;
        }
        runs.set(runs.get() + 1);
        let run = run_one(spec, failing.seed, s);
        still_fails(&run, &want).then_some(run)
    };
    // Start from the schedule as it ran (leaders resolved) if that still fails.
    let ran = failing.ran.clone();
    let (mut best, mut best_run) = match attempt(&ran) {
        Some(run) => (ran, run),
        None => (original.clone(), run_one(spec, failing.seed, original)),
    };
    loop {
        let before = (best.events.len(), total_ms(&best), best.time_limit_ms);
        for candidate in smaller(&best) {
            if let Some(run) = attempt(&candidate) {
                best = candidate;
                best_run = run;
                break;
            }
        }
        if (best.events.len(), total_ms(&best), best.time_limit_ms) == before
            || runs.get() >= SHRINK_RUNS_MAX
        {
            break;
        }
    }
    Shrunk {
        run: best_run,
        schedule: best,
        runs: runs.get(),
    }
}

fn still_fails(run: &SimRun, want: &BTreeSet<String>) -> bool {
    run.failed() && run.signature().iter().any(|k| want.contains(k))
}

fn total_ms(s: &Schedule) -> u64 {
    s.events.iter().map(|e| e.heal_at_ms - e.at_ms).sum()
}

/// Candidates one step smaller, most ambitious first: halves of the faults dropped,
/// single faults dropped, each fault halved, the test cut after the last heal.
fn smaller(s: &Schedule) -> Vec<Schedule> {
    let n = s.events.len();
    let mut out = Vec::new();
    let keep = |pick: &dyn Fn(usize) -> bool| {
        let mut c = s.clone();
        c.events = s
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, e)| e.clone())
            .collect();
        c
    };
    if n >= 4 {
        out.push(keep(&|i| i >= n / 2));
        out.push(keep(&|i| i < n / 2));
    }
    for drop in (0..n).rev() {
        out.push(keep(&|i| i != drop));
    }
    for i in 0..n {
        let e = &s.events[i];
        let span = e.heal_at_ms - e.at_ms;
        if span / 2 >= FAULT_MS_MIN {
            let mut c = s.clone();
            c.events[i].heal_at_ms = e.at_ms + span / 2;
            out.push(c);
        }
    }
    let last_heal = s.events.iter().map(|e| e.heal_at_ms).max().unwrap_or(0);
    let cut = (last_heal + 1000).div_ceil(1000) * 1000;
    if cut < s.time_limit_ms {
        let mut c = s.clone();
        c.time_limit_ms = cut.max(1000);
        out.push(c);
    }
    out
}
