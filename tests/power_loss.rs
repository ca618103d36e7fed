//! Power loss end to end: raftd on power-loss disks (the netns runtime, as root, and
//! docker), killed with its unsynced writes dropped. Correct raftd stays valid; raftd with
//! `ack-before-sync`, which acknowledges log entries it never fsyncs, loses acknowledged
//! writes. Nothing stays mounted afterwards. The runs go one at a time.

mod common;

use std::process::Command;
use std::sync::Mutex;

static ONE_RUN: Mutex<()> = Mutex::new(());

struct Outcome {
    code: i32,
    results: serde_json::Value,
    stderr: String,
}

/// The power-loss disks mounted now, from /proc/self/mountinfo.
fn power_disks() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("splitbrain-powerfs"))
        .map(str::to_string)
        .collect()
}

/// A run of 3 raftd nodes under `power-loss` faults, one every 3 s held 2 s.
fn run(runtime: &str, bug: Option<&str>, seed: u64) -> Outcome {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    cmd.args([
        "run",
        "--system",
        "raftd",
        "--runtime",
        runtime,
        "--nodes",
        "3",
    ])
    .args(["--nemesis", "power-loss", "--time-limit", "15"])
    .args([
        "--nemesis-interval-ms",
        "3000",
        "--nemesis-duration-ms",
        "2000",
    ])
    .args(["--recovery-secs", "5", "--rate", "20", "--concurrency", "5"])
    .args(["--seed", &seed.to_string(), "--results"])
    .arg(tmp.path());
    if let Some(bug) = bug {
        cmd.args(["--bug", bug]);
    }
    let out = cmd.output().expect("splitbrain runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let path = tmp.path().join("latest").join("results.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", path.display()));
    let test: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("latest").join("test.json")).unwrap(),
    )
    .unwrap();
    let run_id = test["run_id"].as_str().expect("test.json has the run id");
    assert!(
        !mounted_runs().contains(run_id),
        "still mounted after the run: {:?}",
        power_disks()
    );
    assert!(!std::path::Path::new(&format!("/tmp/sb-{run_id}")).exists());
    Outcome {
        code: out.status.code().unwrap_or(-1),
        results: serde_json::from_str(&text).expect("results.json is JSON"),
        stderr,
    }
}

fn faults_injected(o: &Outcome) -> u64 {
    o.results["exercised"]["faults_injected"]
        .as_u64()
        .unwrap_or(0)
}

fn assert_valid(runtime: &str, seed: u64) {
    let o = run(runtime, None, seed);
    assert_eq!(
        o.code,
        0,
        "correct raftd under power loss ({runtime}, seed {seed}): violations {:?}\n{}",
        common::violations(&o.results),
        o.stderr
    );
    assert!(faults_injected(&o) > 0, "no power loss ran:\n{}", o.stderr);
}

fn assert_caught(runtime: &str, seed: u64) {
    let o = run(runtime, Some("ack-before-sync"), seed);
    let violations = common::violations(&o.results);
    assert_eq!(
        o.code, 1,
        "ack-before-sync under power loss ({runtime}, seed {seed}) must be invalid; violations {violations:?}\n{}",
        o.stderr
    );
    assert!(
        violations.iter().any(|v| v == "lost-write"),
        "ack-before-sync ({runtime}, seed {seed}): expected lost-write, found {violations:?}"
    );
}

#[test]
fn netns_correct_raftd_survives_power_loss() {
    assert_valid("netns", 1);
}

#[test]
fn netns_ack_before_sync_loses_acknowledged_writes() {
    assert_caught("netns", 1);
}

#[test]
fn docker_correct_raftd_survives_power_loss_and_ack_before_sync_does_not() {
    if !common::docker_available() {
        eprintln!("skipped: no docker daemon");
        return;
    }
    assert_valid("docker", 2);
    assert_caught("docker", 2);
}

#[test]
fn the_local_runtime_refuses_power_loss_and_a_bad_name_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args([
            "run",
            "--runtime",
            "local",
            "--nemesis",
            "power-loss",
            "--results",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("power-loss") && stderr.contains("FUSE"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--nemesis", "power-loss-twice", "--results"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("power-loss-twice") && stderr.contains("power-loss-majority"),
        "{stderr}"
    );
}

/// The run ids with power-loss disks mounted now.
fn mounted_runs() -> std::collections::BTreeSet<String> {
    power_disks()
        .iter()
        .filter_map(|l| l.split(' ').nth(4))
        .filter_map(|p| p.strip_prefix("/tmp/sb-"))
        .filter_map(|rest| rest.split('/').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn clean_unmounts_the_disks_of_a_crashed_controller() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let before = mounted_runs();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    let mut child = cmd
        .args([
            "run",
            "--runtime",
            "netns",
            "--nodes",
            "3",
            "--nemesis",
            "power-loss",
        ])
        .args(["--time-limit", "60", "--seed", "1", "--results"])
        .arg(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run = loop {
        let new: Vec<String> = mounted_runs().difference(&before).cloned().collect();
        if let Some(id) = new.first() {
            break id.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no disk was mounted");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    std::thread::sleep(std::time::Duration::from_secs(3));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        mounted_runs().contains(&run),
        "the crashed run's disks are still mounted"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["clean", "--run", &run])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("mount /tmp/sb-{run}/n1/data")),
        "{stdout}"
    );
    assert!(!mounted_runs().contains(&run), "{stdout}");
    assert!(
        !std::path::Path::new(&format!("/tmp/sb-{run}")).exists(),
        "{stdout}"
    );
}
