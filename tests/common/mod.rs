//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether a docker daemon answers. Outside CI a machine without one skips the docker
/// runs; in CI (`CI` set) they must really run, so a missing daemon fails.
#[allow(dead_code)]
pub fn docker_available() -> bool {
    let up = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up || std::env::var_os("CI").is_none(),
        "CI is set but no docker daemon answers: the docker runs must run in CI"
    );
    up
}

/// raftd beside splitbrain (a workspace build puts it there); else built once into a
/// target directory of its own, because the running `cargo test` holds the main one.
#[allow(dead_code)]
pub fn raftd_binary() -> PathBuf {
    let beside = Path::new(env!("CARGO_BIN_EXE_splitbrain")).with_file_name("raftd");
    if beside.is_file() {
        return beside;
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("raftd-build");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "raftd", "--bin", "raftd", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p raftd failed");
    target.join("debug").join("raftd")
}

/// The clock shim as this source builds it, built once into a target directory of its
/// own: a workspace's `cargo test` builds no cdylib, and holds the main target directory
/// while it runs (a splitbrain run would otherwise wait on it, building the shim beside
/// itself).
#[allow(dead_code)]
pub fn clock_library() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clock-build");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "splitbrain-clock", "--lib", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p splitbrain-clock failed");
    target.join("debug").join("libsplitbrain_clock.so")
}

/// The kinds of the violations a `results.json` lists.
#[allow(dead_code)]
pub fn violations(results: &serde_json::Value) -> Vec<String> {
    results["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["severity"] == "violation")
        .filter_map(|a| a["kind"].as_str().map(str::to_string))
        .collect()
}

/// Run `f` on a thread that has entered the network namespace at `ns` (sockets it makes
/// stay there).
#[allow(dead_code)]
pub fn in_netns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(ns).expect("open netns");
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}
