//! Crash points end to end on docker: raftd armed through its admin call dies at the
//! point in its own code, its heal starts it again, and correct raftd stays valid.

mod common;

use std::process::Command;

#[test]
fn docker_raftd_dies_at_its_crash_points_and_correct_raftd_stays_valid() {
    if !common::docker_available() {
        eprintln!("skipped: no docker daemon");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    let out = cmd
        .args([
            "run",
            "--system",
            "raftd",
            "--runtime",
            "docker",
            "--nodes",
            "3",
        ])
        .args([
            "--nemesis",
            "crash-point-leader-commit",
            "--time-limit",
            "15",
        ])
        .args([
            "--nemesis-interval-ms",
            "4000",
            "--nemesis-duration-ms",
            "3000",
        ])
        .args(["--seed", "1", "--results"])
        .arg(tmp.path())
        .output()
        .expect("splitbrain runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dir = tmp.path().join("latest");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "violations {:?}\n{stderr}",
        common::violations(&results)
    );
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let ops: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let armed = ops
        .iter()
        .filter(|o| o["f"] == "crash-point" && o["type"] == "ok")
        .count();
    assert!(armed >= 2, "{armed} crash points armed\n{stderr}");
    // A leader's commit moves within moments of arming: some node died there.
    let logs: String = walk(&dir.join("nodes"))
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(
        logs.contains("crash point reached"),
        "no node reached its crash point\n{stderr}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
