//! `splitbrain sim`: deterministic simulation of raftd. N raftd cores run on one thread
//! with a simulated network, disks and clocks, attacked by the nemesis crate's seeded
//! schedules and driven by the election (or register) workload's clients, into the same
//! history format and checkers as a real run. Seeds are swept on worker threads; the first failing seed
//! is printed with the command that reproduces it, and its schedule is shrunk to a
//! minimal one saved as a normal results directory.
//!
//! Everything in a simulated run follows from its seed and schedule: simulated time only,
//! ChaCha streams only, ordered maps only, no threads inside a run. The same seed and
//! flags give a byte-identical history.jsonl.

mod chaos;
mod clients;
mod faults;
mod net;
mod node;
mod output;
mod run;
mod runtime;
mod sweep;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use nemesis::NemesisKind;

use crate::exit::Exit;
use serde::{Deserialize, Serialize};

pub use run::SimRun;
pub use runtime::run_spec;

/// Bounds on the flags.
const NODES_MIN: usize = 3;
const NODES_MAX: usize = 9;
const SIM_SECS_MAX: u64 = 3600;
const JOBS_MAX: usize = 256;

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Seeds to run, `A..B` (B excluded) or a single seed `N`.
    #[arg(long, default_value = "0..100", allow_hyphen_values = true)]
    pub seeds: String,
    /// Enable a deliberate bug in raftd (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// What the clients do: `election` (lock cycles and writes) or `register` (reads,
    /// writes and compare-and-sets of registers, checked for linearizability).
    #[arg(long, default_value = "election")]
    pub workload: String,
    /// Faults to inject, as for `splitbrain run`: partition, pause, kill, clock, packet,
    /// finer names such as partition-halves or pause-leader, all, or none.
    #[arg(long, default_value = "all")]
    pub nemesis: String,
    /// Number of nodes, 3 to 9. Default: drawn for each seed among 3, 4 and 5, as
    /// `splitbrain run` draws it; the command that reproduces a seed names its size.
    #[arg(long, allow_negative_numbers = true)]
    pub nodes: Option<i64>,
    /// Simulated seconds of workload and faults per seed.
    #[arg(long = "sim-secs", default_value_t = 30, allow_negative_numbers = true)]
    pub sim_secs: i64,
    /// Mean time between the starts of two faults, in simulated milliseconds.
    #[arg(
        long = "nemesis-interval-ms",
        default_value_t = 3000,
        allow_negative_numbers = true
    )]
    pub nemesis_interval_ms: i64,
    /// How long each fault stays in force, in simulated milliseconds.
    #[arg(
        long = "nemesis-duration-ms",
        default_value_t = 2000,
        allow_negative_numbers = true
    )]
    pub nemesis_duration_ms: i64,
    /// Worker threads; each seed runs whole on one of them.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub jobs: i64,
    /// No leader leases: two leaders in different terms are then only an observation.
    #[arg(long = "no-lease")]
    pub no_lease: bool,
    /// A kill during an fsync may leave the log synced but not the hard state, as
    /// raftd's storage writes them in that order.
    #[arg(long = "torn-fsync")]
    pub torn_fsync: bool,
    /// Report the first failing seed without shrinking its schedule.
    #[arg(long = "no-shrink")]
    pub no_shrink: bool,
    /// Where the failing seed's results directory lands (a single seed's too).
    #[arg(long = "results", default_value = "results")]
    pub results: PathBuf,
    /// Print a JSON summary on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Run a saved simulated test again exactly (its test.json's spec, seed and
    /// schedule, such as a shrunk one) into a new results directory; other flags but
    /// --results and --json are ignored.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
}

/// A validated simulation spec: everything a seed's run follows from, besides the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimSpec {
    pub system: String,
    /// The cluster's size; under `nodes_drawn`, only a placeholder until `for_seed`.
    pub nodes: usize,
    /// Each seed draws its own size (no `--nodes`).
    #[serde(default)]
    pub nodes_drawn: bool,
    pub bugs: Vec<String>,
    pub lease: bool,
    /// `--nemesis` normalised: lowercase names joined by commas.
    pub nemesis: String,
    pub nemesis_kinds: Vec<NemesisKind>,
    pub sim_secs: u64,
    pub nemesis_interval_ms: u64,
    pub nemesis_duration_ms: u64,
    /// What each seed draws beside its faults (`run --runtime sim` without a timing).
    #[serde(default)]
    pub swarm: nemesis::Swarm,
    pub torn_fsync: bool,
    /// Client operations per second over all client processes.
    #[serde(default = "default_rate_hz")]
    pub rate_hz: f64,
    /// Client processes at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Chance that a client stalls between acquiring a grant and using it.
    #[serde(default = "default_stall_probability")]
    pub stall_probability: f64,
    /// raftd's `--fence-on-grant` (off for `run --fencing write`).
    #[serde(default = "default_true")]
    pub fence_on_grant: bool,
    /// Simulated time from the heal to the final reads, as `run --recovery-secs` gives.
    #[serde(default)]
    pub recovery_ms: u64,
    /// What the client processes do.
    #[serde(default)]
    pub workload: workloads::WorkloadKind,
}

fn default_rate_hz() -> f64 {
    workloads::WorkloadParams::default().rate_hz
}

fn default_concurrency() -> usize {
    workloads::WorkloadParams::default().concurrency
}

fn default_stall_probability() -> f64 {
    workloads::WorkloadParams::default().stall_probability
}

fn default_true() -> bool {
    true
}

impl SimSpec {
    /// The spec one seed runs: its own size drawn, when the size is drawn.
    pub fn for_seed(&self, seed: u64) -> SimSpec {
        let mut spec = self.clone();
        if spec.nodes_drawn {
            spec.nodes = crate::spec::drawn_nodes(seed);
            spec.nodes_drawn = false;
        }
        spec
    }

    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("n{i}")).collect()
    }

    /// Whether the nodes run with leader leases, as `splitbrain run` starts raftd: as
    /// asked, unless a bug runs without check-quorum (it would mask the bug), since raftd
    /// takes a lease only with check-quorum.
    pub fn leases_on(&self) -> bool {
        self.lease && workloads::raftd::Exposure::for_bugs(&self.bugs).allows_lease()
    }

    /// The flags after `--seeds` that give this spec back.
    pub fn flags(&self) -> String {
        let mut w: Vec<String> = Vec::new();
        if self.workload != workloads::WorkloadKind::Election {
            w.push(format!("--workload {}", self.workload.name()));
        }
        for bug in &self.bugs {
            w.push(format!("--bug {bug}"));
        }
        w.push(format!("--nemesis {}", self.nemesis));
        if !self.nodes_drawn {
            w.push(format!("--nodes {}", self.nodes));
        }
        w.push(format!("--sim-secs {}", self.sim_secs));
        w.push(format!(
            "--nemesis-interval-ms {}",
            self.nemesis_interval_ms
        ));
        w.push(format!(
            "--nemesis-duration-ms {}",
            self.nemesis_duration_ms
        ));
        if !self.lease {
            w.push("--no-lease".into());
        }
        if self.torn_fsync {
            w.push("--torn-fsync".into());
        }
        w.join(" ")
    }

    /// The command that runs exactly `seed`.
    pub fn reproduce(&self, seed: u64) -> String {
        format!(
            "splitbrain sim --seeds {seed}..{} {}",
            seed + 1,
            self.flags()
        )
    }
}

/// Seeds `A..B` or `N`.
fn parse_seeds(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--seeds: {s:?} is not A..B (B above A) or a single seed N");
    let (from, to) = match s.split_once("..") {
        Some((a, b)) => (
            a.trim().parse::<u64>().map_err(|_| bad())?,
            b.trim().parse::<u64>().map_err(|_| bad())?,
        ),
        None => {
            let n = s.trim().parse::<u64>().map_err(|_| bad())?;
            (n, n.checked_add(1).ok_or_else(bad)?)
        }
    };
    if to <= from {
        return Err(bad());
    }
    Ok((from, to))
}

fn in_range(flag: &str, v: i64, min: u64, max: u64) -> Result<u64, String> {
    match u64::try_from(v) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{flag}: {v} is out of range; use {min} to {max}")),
    }
}

/// Stage two: the flags checked, each error naming its flag and the valid values.
pub fn spec_of(args: &SimArgs) -> Result<(SimSpec, u64, u64, usize), String> {
    let (from, to) = parse_seeds(&args.seeds)?;
    let nodes = match args.nodes {
        Some(n) => Some(in_range("--nodes", n, NODES_MIN as u64, NODES_MAX as u64)? as usize),
        None => None,
    };
    let sim_secs = in_range("--sim-secs", args.sim_secs, 1, SIM_SECS_MAX)?;
    let interval = in_range(
        "--nemesis-interval-ms",
        args.nemesis_interval_ms,
        1,
        3_600_000,
    )?;
    let duration = in_range(
        "--nemesis-duration-ms",
        args.nemesis_duration_ms,
        1,
        3_600_000,
    )?;
    let jobs = in_range("--jobs", args.jobs, 1, JOBS_MAX as u64)? as usize;
    let workload: workloads::WorkloadKind = args
        .workload
        .trim()
        .parse()
        .map_err(|e| format!("--workload: {e}"))?;
    let mut bugs = Vec::new();
    for bug in &args.bugs {
        let parsed: raftd::core::Bug = bug.parse().map_err(|e| format!("--bug: {e}"))?;
        bugs.push(parsed.name().to_string());
    }
    bugs.sort();
    bugs.dedup();
    let nemesis = args
        .nemesis
        .split(',')
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let mut kinds = nemesis::parse_nemeses(&nemesis).map_err(|e| format!("--nemesis: {e}"))?;
    if nemesis == "all" {
        // Every simulated kill already loses what was not fsynced: power loss would add
        // nothing to a sweep but change what each seed draws (named, it runs).
        kinds.retain(|k| k.fault_kind() != nemesis::FaultKind::PowerLoss);
        // Crash points come with a cut of the leader under a drawn mix only; a sweep's
        // fixed mix would arm them on every node at random times, which only churns
        // leaders (named, they run).
        kinds.retain(|k| k.fault_kind() != nemesis::FaultKind::CrashPoint);
    }
    let spec = SimSpec {
        system: "raftd".into(),
        nodes: nodes.unwrap_or(crate::spec::DRAWN_NODES[0]),
        nodes_drawn: nodes.is_none(),
        bugs,
        lease: !args.no_lease,
        nemesis,
        nemesis_kinds: kinds,
        sim_secs,
        nemesis_interval_ms: interval,
        nemesis_duration_ms: duration,
        swarm: nemesis::Swarm::Off,
        torn_fsync: args.torn_fsync,
        rate_hz: default_rate_hz(),
        concurrency: default_concurrency(),
        stall_probability: default_stall_probability(),
        fence_on_grant: true,
        recovery_ms: 0,
        workload,
    };
    // Draw one schedule now (one for every size a seed may draw) so that a spec the
    // nemesis refuses is bad usage.
    let sizes = match nodes {
        Some(n) => vec![n],
        None => crate::spec::DRAWN_NODES.to_vec(),
    };
    for n in sizes {
        let sized = SimSpec {
            nodes: n,
            nodes_drawn: false,
            ..spec.clone()
        };
        sweep::schedule_for(&sized, from).map_err(|e| format!("--nemesis: {e}"))?;
    }
    Ok((spec, from, to, jobs))
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.replay {
        return replay(dir, &args);
    }
    let (spec, from, to, jobs) = match spec_of(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("splitbrain sim: {e}");
            return Ok(ExitCode::from(Exit::Usage));
        }
    };
    let say = |line: &str| {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let bugs = if spec.bugs.is_empty() {
        "no bugs".to_string()
    } else {
        spec.bugs.join(",")
    };
    let nodes = if spec.nodes_drawn {
        "3 to 5 nodes (drawn per seed)".to_string()
    } else {
        format!("{} nodes", spec.nodes)
    };
    say(&format!(
        "sim: seeds {from}..{to}, raftd ({bugs}), {} workload, nemesis {}, {nodes}, {} simulated s per seed, {jobs} jobs",
        spec.workload.name(), spec.nemesis, spec.sim_secs
    ));
    let started = Instant::now();
    let swept = match sweep::sweep(&spec, from, to, jobs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("splitbrain sim: {e}");
            return Ok(ExitCode::from(Exit::Usage));
        }
    };
    let wall = started.elapsed().as_secs_f64();
    if swept.refused > 0 {
        say(&format!(
            "note: the cores refused {} messages as malformed",
            swept.refused
        ));
    }
    say(&format!(
        "{} seeds: {} valid, {} unknown, {} failing; {:.0} simulated s in {wall:.2} wall s ({:.0}x real time)",
        swept.runs,
        swept.valid,
        swept.unknown,
        u64::from(swept.failure.is_some()),
        swept.sim_secs,
        swept.sim_secs / wall.max(1e-9)
    ));
    let mut summary = serde_json::json!({
        "seeds_run": swept.runs, "valid": swept.valid, "unknown": swept.unknown,
        "unknown_seeds": swept.unknown_seeds, "simulated_secs": swept.sim_secs,
        "wall_secs": wall, "events": swept.events, "refused_messages": swept.refused,
    });
    let code = match &swept.failure {
        Some(failure) => report_failure(&spec, &args, failure, &say, &mut summary)?,
        None => {
            if let Some(run) = &swept.single {
                let seed = run.seed;
                let spec = spec.for_seed(seed);
                // Once more with the nodes' logs for the directory: the same run.
                let drawn = sweep::schedule_for(&spec, seed).map_err(anyhow::Error::msg)?;
                let logged = run::run_with(&spec, seed, &drawn, true);
                let run = &logged;
                let how = output::Provenance {
                    command: spec.reproduce(seed),
                    original: None,
                    shrink_runs: None,
                };
                let dir = output::write_run_dir(&args.results, &spec, run, &run.ran, &how)?;
                say(&format!(
                    "seed {seed}: {}; {}",
                    run.verdict(),
                    liveness_line(run)
                ));
                say(&format!("results: {}", dir.display()));
                summary["results_dir"] = dir.display().to_string().into();
            }
            if swept.unknown > 0 {
                Exit::Unknown
            } else {
                Exit::Valid
            }
        }
    };
    if args.json {
        println!("{summary}");
    }
    Ok(ExitCode::from(code))
}

fn report_failure(
    spec: &SimSpec,
    args: &SimArgs,
    failure: &SimRun,
    say: &dyn Fn(&str),
    summary: &mut serde_json::Value,
) -> anyhow::Result<Exit> {
    let seed = failure.seed;
    let spec = &spec.for_seed(seed);
    let what = describe(failure);
    say(&format!("seed {seed} FAILS: {what}"));
    say(&format!("reproduce: {}", spec.reproduce(seed)));
    summary["failing_seed"] = seed.into();
    summary["signature"] = serde_json::json!(failure.signature());
    summary["anomalies"] = serde_json::json!(failure.result.counts.anomalies);
    summary["liveness"] = failure.liveness.ok.into();
    summary["reproduce"] = spec.reproduce(seed).into();
    let original = sweep::schedule_for(spec, seed).map_err(anyhow::Error::msg)?;
    summary["original_events"] = original.events.len().into();
    // Each branch runs its schedule once more with the nodes' logs: the same run.
    let (run, schedule, runs) = if args.no_shrink {
        let logged = run::run_with(spec, seed, &original, true);
        (Some(logged), failure.ran.clone(), None)
    } else {
        say(&format!("shrinking {} faults...", original.events.len()));
        let shrunk = sweep::shrink(spec, failure, &original);
        say(&format!(
            "shrunk to {} faults in {} runs ({}):",
            shrunk.schedule.events.len(),
            shrunk.runs,
            describe(&shrunk.run)
        ));
        for line in shrunk.schedule.summary().lines() {
            say(&format!("  {line}"));
        }
        summary["shrunk_events"] = shrunk.schedule.events.len().into();
        summary["shrunk_signature"] = serde_json::json!(shrunk.run.signature());
        let logged = run::run_with(spec, seed, &shrunk.schedule, true);
        (Some(logged), shrunk.schedule, Some(shrunk.runs))
    };
    let run = run.as_ref().unwrap_or(failure);
    let how = output::Provenance {
        command: spec.reproduce(seed),
        original: Some(&original),
        shrink_runs: runs,
    };
    let dir = output::write_run_dir(&args.results, spec, run, &schedule, &how)?;
    say(&format!("results: {}", dir.display()));
    summary["results_dir"] = dir.display().to_string().into();
    Ok(Exit::Violations)
}

/// `same-term-leaders (2), lost-write (1)`, or the liveness note.
fn describe(run: &SimRun) -> String {
    let mut parts: Vec<String> = run
        .result
        .counts
        .anomalies
        .iter()
        .filter(|(kind, _)| {
            run.result
                .anomalies
                .iter()
                .any(|a| a.kind == **kind && a.severity == checkers::Severity::Violation)
        })
        .map(|(kind, n)| format!("{kind} ({n})"))
        .collect();
    if !run.liveness.ok {
        parts.push(format!("liveness: {}", run.liveness.note));
    }
    if let Some(first) = run.panics.first() {
        parts.push(format!("core panic: {first}"));
    }
    if parts.is_empty() {
        parts.push(format!("verdict {}", run.result.valid));
    }
    parts.join(", ")
}

/// What `--replay` reads back from a saved test.json.
#[derive(Deserialize)]
struct Saved {
    spec: SimSpec,
    seed: u64,
    schedule: nemesis::Schedule,
}

fn replay(dir: &std::path::Path, args: &SimArgs) -> anyhow::Result<ExitCode> {
    let path = dir.join("test.json");
    let saved: Saved = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        .and_then(|mut doc| {
            // A `run --runtime sim` directory keeps the simulator's spec under `sim`.
            if let Some(spec) = doc.pointer("/sim/spec").cloned() {
                doc["spec"] = spec;
            }
            serde_json::from_value(doc).map_err(|e| e.to_string())
        }) {
        Ok(saved) => saved,
        Err(e) => {
            eprintln!("splitbrain sim: --replay: {}: {e}", path.display());
            return Ok(ExitCode::from(Exit::Usage));
        }
    };
    if let Err(e) = saved.schedule.check() {
        eprintln!("splitbrain sim: --replay: {}: {e}", path.display());
        return Ok(ExitCode::from(Exit::Usage));
    }
    let run = run::run_with(&saved.spec, saved.seed, &saved.schedule, true);
    let how = output::Provenance {
        command: format!("splitbrain sim --replay {}", dir.display()),
        original: None,
        shrink_runs: None,
    };
    let out = output::write_run_dir(&args.results, &saved.spec, &run, &saved.schedule, &how)?;
    let line = format!(
        "seed {}: {}\nresults: {}",
        run.seed,
        describe(&run),
        out.display()
    );
    let code = runtime::exit_of(&run);
    if args.json {
        eprintln!("{line}");
        let summary = serde_json::json!({
            "seed": run.seed, "signature": run.signature(),
            "anomalies": run.result.counts.anomalies, "results_dir": out.display().to_string(),
        });
        println!("{summary}");
    } else {
        println!("{line}");
    }
    Ok(ExitCode::from(code))
}

/// The liveness figures after the heal, for the summary.
fn liveness_line(run: &SimRun) -> String {
    let ms = |v: Option<u64>| v.map_or("never".to_string(), |v| format!("{v} ms"));
    format!(
        "liveness {}: a leader {} and an ok write {} after the heal",
        if run.liveness.ok { "ok" } else { "FAILED" },
        ms(run.liveness.leader_after_ms),
        ms(run.liveness.write_after_ms)
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn spec(args: &[&str]) -> Result<SimSpec, String> {
        let cli = Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        spec_of(&cli.sim).map(|(spec, ..)| spec)
    }

    #[test]
    fn the_workload_is_a_flag_kept_in_the_spec_and_in_the_command_that_reproduces_it() {
        let election = spec(&["--seeds", "3"]).unwrap();
        assert_eq!(election.workload, workloads::WorkloadKind::Election);
        assert!(
            !election.flags().contains("--workload"),
            "{}",
            election.flags()
        );
        let register = spec(&["--seeds", "3", "--workload", "register"]).unwrap();
        assert_eq!(register.workload, workloads::WorkloadKind::Register);
        assert!(
            register
                .reproduce(3)
                .starts_with("splitbrain sim --seeds 3..4 --workload register --nemesis all"),
            "{}",
            register.reproduce(3)
        );
        let e = spec(&["--seeds", "3", "--workload", "queue"]).unwrap_err();
        assert!(e.contains("--workload") && e.contains("register"), "{e}");
        // A spec saved before the workload was one reads back as the election workload's.
        let mut saved = serde_json::to_value(&register).unwrap();
        saved.as_object_mut().unwrap().remove("workload");
        let old: SimSpec = serde_json::from_value(saved).unwrap();
        assert_eq!(old.workload, workloads::WorkloadKind::Election);
        let json = serde_json::to_value(&register).unwrap();
        assert_eq!(json["workload"], "register");
    }
}
