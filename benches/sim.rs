//! Figures of the deterministic simulator (`cargo bench --bench sim`): simulated seconds
//! per wall second for a 5-node cluster, the wall time of a large seed sweep of correct
//! raftd (which must find nothing), and for every raftd bug the seeds until the first
//! detection and the anomalies found.
//!
//! `SIM_BENCH_SEEDS` sets the sweep's size (default 10000); `SIM_BENCH_BUG_SEEDS` the
//! bound on seeds per bug and window (default 5000), `SIM_BENCH_BUG_WINDOWS` the windows
//! per bug (default 10, starting at seeds 0, 100000, 200000, ...).

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

const BUGS: [&str; 9] = [
    "vote-twice",
    "no-log-check",
    "no-step-down",
    "commit-old-term",
    "forget-vote",
    "early-ack",
    "no-fencing",
    "wall-clock-lease",
    "lease-without-quorum-check",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `splitbrain sim ARGS --json`; returns the exit code, the summary, wall seconds.
fn sim(args: &[String]) -> (i32, Value, f64) {
    let results = std::env::temp_dir().join(format!("splitbrain-sim-bench-{}", std::process::id()));
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("sim")
        .args(args)
        .args(["--json", "--results"])
        .arg(&results)
        .output()
        .expect("run splitbrain sim");
    let wall = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&results);
    let summary = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no summary ({e}): {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap_or(-1), summary, wall)
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn speed() {
    // Many short seeds on one thread: the simulator's own pace, checking included.
    let (code, s, _) = sim(&words(
        "--seeds 0..100 --sim-secs 30 --nodes 5 --jobs 1 --no-shrink",
    ));
    let (sim_secs, wall) = (
        s["simulated_secs"].as_f64().unwrap(),
        s["wall_secs"].as_f64().unwrap(),
    );
    println!(
        "speed: 5 nodes, 100 seeds x 30 simulated s on one thread: {sim_secs:.0} simulated s in \
         {wall:.2} wall s = {:.0}x real time, {:.0} events per wall s (exit {code})",
        sim_secs / wall,
        s["events"].as_f64().unwrap_or(0.0) / wall
    );
    // One long seed: its history grows, and checking it takes a larger share.
    let (code, s, _) = sim(&words("--seeds 1 --sim-secs 600 --nodes 5 --jobs 1"));
    let (sim_secs, wall) = (
        s["simulated_secs"].as_f64().unwrap(),
        s["wall_secs"].as_f64().unwrap(),
    );
    println!(
        "speed: 5 nodes, one seed of {sim_secs:.0} simulated s in {wall:.2} wall s = {:.0}x real time (exit {code})",
        sim_secs / wall
    );
}

fn sweep_correct() {
    let seeds = env_u64("SIM_BENCH_SEEDS", 10_000);
    let args = format!("--seeds 0..{seeds} --sim-secs 30 --nodes 5 --jobs 2 --no-shrink");
    let (code, s, wall) = sim(&words(&args));
    println!(
        "sweep: correct raftd, {} seeds x 30 simulated s, --jobs 2: {wall:.1} wall s \
         ({:.1} ms per seed, {:.0}x real time); valid {}, unknown {}, failing seed {}; exit {code}",
        s["seeds_run"],
        wall * 1000.0 / s["seeds_run"].as_f64().unwrap_or(1.0),
        s["simulated_secs"].as_f64().unwrap_or(0.0) / wall,
        s["valid"],
        s["unknown"],
        s.get("failing_seed").cloned().unwrap_or(Value::Null),
    );
    if let Some(seed) = s.get("failing_seed") {
        println!(
            "  FAILURE in correct raftd: seed {seed}: {}",
            s["signature"]
        );
        println!("  reproduce: {}", s["reproduce"]);
    }
}

/// Seed windows per bug, and the distance between their first seeds.
const WINDOW_STRIDE: u64 = 100_000;

fn bugs() {
    let bound = env_u64("SIM_BENCH_BUG_SEEDS", 5000);
    let windows = env_u64("SIM_BENCH_BUG_WINDOWS", 10);
    println!(
        "| bug | seeds to first detection: median (min-max) over {windows} windows of {bound} | found in | violations found (windows) | wall s |"
    );
    println!("|---|---|---|---|---|");
    for bug in BUGS {
        let mut firsts = Vec::new();
        let mut kinds = std::collections::BTreeMap::<String, u64>::new();
        let mut wall_total = 0.0;
        for w in 0..windows {
            let from = w * WINDOW_STRIDE;
            let args = format!(
                "--seeds {from}..{} --bug {bug} --sim-secs 30 --jobs 2 --no-shrink",
                from + bound
            );
            let (code, s, wall) = sim(&words(&args));
            wall_total += wall;
            if let (Some(seed), 1) = (s.get("failing_seed").and_then(Value::as_u64), code) {
                firsts.push(seed - from + 1);
                for kind in s["signature"].as_array().into_iter().flatten() {
                    *kinds
                        .entry(kind.as_str().unwrap_or("?").to_string())
                        .or_default() += 1;
                }
            }
        }
        firsts.sort_unstable();
        let first = match firsts.as_slice() {
            [] => format!("not found in {bound}"),
            f => format!("{} ({}-{})", f[f.len() / 2], f[0], f[f.len() - 1]),
        };
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        println!(
            "| `{bug}` | {first} | {}/{windows} | {} | {wall_total:.1} |",
            firsts.len(),
            kinds.join(", ")
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter on the figures.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("speed") {
        speed();
    }
    if wanted("sweep") {
        sweep_correct();
    }
    if wanted("bugs") {
        bugs();
    }
}
