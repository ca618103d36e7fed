//! Systems of the user's own, described by a system file (docs/protocol.md): raftd
//! itself, started through a file as a user's fork of it would be, on the process
//! runtimes and in an image built from a Dockerfile; and files that make no sense.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::docker_available;

fn splitbrain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
}

/// A system file that runs `program` as raftd, claiming what raftd with leases and
/// fence-on-grant guarantees; `extra` goes after the flags (a bug, say), and `tail` after
/// the claims (a `[docker]` section).
fn raftd_file(dir: &Path, name: &str, program: &str, extra: &[&str], tail: &str) -> PathBuf {
    let mut command = vec![
        program,
        "--id",
        "{name}",
        "--data-dir",
        "{data_dir}",
        "--listen",
        "{host}:{client_port}",
        "--peer-listen",
        "{host}:{peer_port}",
        "--peer",
        "{peers}",
        "--seed",
        "{seed}",
        "--lease-ticks",
        "8",
        "--request-timeout-ms",
        "1000",
    ];
    command.extend_from_slice(extra);
    let command = serde_json::to_string(&command).unwrap();
    let text = format!(
        r#"name = "{name}"
version = "raftd through a system file"
[node]
command = {command}
client_port = 8080
peer_port = 7000
peer_format = "{{name}}={{host}}:{{peer_port}}/{{host}}:{{client_port}}"
[claims]
exclusive_leadership = true
fencing = "grant"
vote = true
[clock]
admin_call = "/admin/clock"
{tail}"#
    );
    let path = dir.join("system.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    results: serde_json::Value,
}

fn run(system_file: &Path, results: &Path, args: &[&str]) -> Ran {
    let out: Output = splitbrain()
        .arg("run")
        .arg("--system-file")
        .arg(system_file)
        .args(args)
        .arg("--results")
        .arg(results)
        .output()
        .expect("splitbrain runs");
    let dir = std::fs::canonicalize(results.join("latest")).ok();
    let results = dir
        .and_then(|d| std::fs::read(d.join("results.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        results,
    }
}

fn violations(ran: &Ran) -> Vec<String> {
    common::violations(&ran.results)
}

#[test]
fn raftd_through_a_system_file_runs_faults_and_is_held_to_its_claims() {
    if !splitbrain::runtime::is_root() {
        eprintln!("skipped: the netns runtime needs root");
        return;
    }
    let raftd = common::raftd_binary();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let good = dir.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let file = raftd_file(
        &good,
        "raftd-file",
        raftd.to_str().unwrap(),
        &["--fence-on-grant"],
        "",
    );
    let ran = run(
        &file,
        &results,
        &[
            "--runtime",
            "netns",
            "--nodes",
            "3",
            "--nemesis",
            "partition,kill,pause,clock",
            "--time-limit",
            "12",
            "--nemesis-interval-ms",
            "2000",
            "--nemesis-duration-ms",
            "1000",
            "--recovery-secs",
            "2",
            "--seed",
            "3",
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.results["valid"], true, "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("reproduce: splitbrain run --system-file "),
        "{}",
        ran.stdout
    );
    // The same claims on a raftd that fences nothing: the checkers hold it to them.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let file = raftd_file(
        &bad,
        "raftd-unfenced",
        raftd.to_str().unwrap(),
        &["--bug", "no-fencing"],
        "",
    );
    let ran = run(
        &file,
        &results,
        &[
            "--runtime",
            "netns",
            "--nodes",
            "3",
            "--nemesis",
            "none",
            "--time-limit",
            "12",
            "--stall-probability",
            "0.6",
            "--recovery-secs",
            "1",
            "--seed",
            "4",
        ],
    );
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        violations(&ran).iter().any(|k| k == "stale-grant-write"),
        "{:?}\n{}",
        violations(&ran),
        ran.stdout
    );
}

#[test]
fn a_users_dockerfile_is_built_and_run_on_the_docker_runtime() {
    if !docker_available() {
        eprintln!("skipped: no docker daemon");
        return;
    }
    let raftd = common::raftd_binary();
    let dir = tempfile::tempdir().unwrap();
    // The user's image: raftd and the libraries it loads, FROM scratch.
    let context = dir.path().join("image");
    let mut files = vec![raftd.clone()];
    files.extend(splitbrain::runtime::images::ldd(&raftd, true).unwrap());
    for file in &files {
        let at = if *file == raftd {
            context.join("usr/local/bin/raftd")
        } else {
            context.join(file.strip_prefix("/").unwrap())
        };
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::copy(file, &at).unwrap();
    }
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    let name = format!("raftd-image-{}", std::process::id());
    let file = raftd_file(
        dir.path(),
        &name,
        "/does/not/run/here",
        &["--fence-on-grant"],
        "[docker]\ndockerfile = \"image/Dockerfile\"\ncommand = [\"/usr/local/bin/raftd\", \"--id\", \"{name}\", \"--data-dir\", \"{data_dir}\", \"--listen\", \"{host}:{client_port}\", \"--peer-listen\", \"{host}:{peer_port}\", \"--peer\", \"{peers}\", \"--seed\", \"{seed}\", \"--lease-ticks\", \"8\", \"--fence-on-grant\"]\n",
    );
    let results = dir.path().join("results");
    let ran = run(
        &file,
        &results,
        &[
            "--runtime",
            "docker",
            "--nodes",
            "3",
            "--nemesis",
            "partition,kill,pause,clock",
            "--time-limit",
            "12",
            "--nemesis-interval-ms",
            "2000",
            "--nemesis-duration-ms",
            "1000",
            "--recovery-secs",
            "2",
            "--seed",
            "5",
        ],
    );
    let images = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .arg(format!("splitbrain/file-{name}"))
        .output()
        .unwrap();
    let tags = String::from_utf8_lossy(&images.stdout).into_owned();
    for tag in tags.lines() {
        let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
    }
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.results["valid"], true, "{}", ran.stdout);
    assert_eq!(
        tags.lines().count(),
        1,
        "one image built from the Dockerfile: {tags}"
    );
    // Every container of the run is gone (no other test of this binary makes any).
    let left = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=splitbrain.run",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(left.trim().is_empty(), "containers left: {left}");
}

#[test]
fn a_bad_system_file_is_refused_with_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("system.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\n[node]\ncommand = [\"x\", \"{nmae}\"]\nclient_port = 1\npeer_port = 2\n[claims]\nexclusive_leadership = true\nfencing = \"grant\"\n",
    )
    .unwrap();
    let ran = run(&file, &dir.path().join("results"), &["--nemesis", "none"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("node.command"), "{}", ran.stderr);
    assert!(ran.stderr.contains("{nmae}"), "{}", ran.stderr);
    // --system and --system-file name two systems.
    let out = splitbrain()
        .args(["run", "--system", "raftd", "--system-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A fencing the file does not claim.
    std::fs::write(
        &file,
        "name = \"mine\"\n[node]\ncommand = [\"x\"]\nclient_port = 1\npeer_port = 2\n[claims]\nexclusive_leadership = true\nfencing = \"grant\"\n",
    )
    .unwrap();
    let ran = run(
        &file,
        &dir.path().join("results"),
        &["--nemesis", "none", "--fencing", "none"],
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("claims.fencing"), "{}", ran.stderr);
    // Clock faults on a file that says no way to move the clock.
    let ran = run(
        &file,
        &dir.path().join("results"),
        &["--nemesis", "clock", "--runtime", "local"],
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("[clock]"), "{}", ran.stderr);
}

/// examples/bully, or a copy of it in `dir` with `bully.py` changed by `edit`.
fn bully(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bully");
    let copy = dir.join("bully");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["system.toml", "bully.py"] {
        std::fs::copy(example.join(file), copy.join(file)).unwrap();
    }
    let source = std::fs::read_to_string(copy.join("bully.py")).unwrap();
    let edited = edit(source.clone());
    std::fs::write(copy.join("bully.py"), &edited).unwrap();
    copy.join("system.toml")
}

fn conform(system_file: &Path, results: &Path) -> (i32, String, String) {
    let out = splitbrain()
        .args(["conform", "--runtime", "netns", "--system-file"])
        .arg(system_file)
        .arg("--results")
        .arg(results)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bully_conforms_and_a_copy_with_a_broken_holding_is_named() {
    if !splitbrain::runtime::is_root() {
        eprintln!("skipped: the netns runtime needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let file = bully(dir.path(), |s| s);
    let (code, stdout, stderr) = conform(&file, &results);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("conforms: "), "{stdout}");
    // A holding that says true for any grant it was asked about.
    let broken = dir.path().join("broken");
    let file = bully(&broken, |s| {
        let from = "return 200, {\"holding\": held}";
        assert!(
            s.contains(from),
            "bully.py answers holding as the test expects"
        );
        s.replace(from, "return 200, {\"holding\": True}")
    });
    let (code, stdout, stderr) = conform(&file, &results);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(
        failed,
        ["  FAIL  holding of a released grant is false"],
        "{stdout}"
    );
    assert!(
        stdout.contains("answer:  200 {\"holding\":true}"),
        "{stdout}"
    );
}

#[test]
fn bully_is_valid_without_faults_and_splits_under_a_partition() {
    if !splitbrain::runtime::is_root() {
        eprintln!("skipped: the netns runtime needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let file = bully(dir.path(), |s| s);
    let common = ["--runtime", "netns", "--nodes", "3", "--recovery-secs", "2"];
    let ran = run(
        &file,
        &results,
        &[
            &common[..],
            &["--nemesis", "none", "--time-limit", "10", "--seed", "1"],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.results["valid"], true, "{}", ran.stdout);
    let ran = run(
        &file,
        &results,
        &[
            &common[..],
            &[
                "--nemesis",
                "partition",
                "--time-limit",
                "16",
                "--nemesis-interval-ms",
                "3000",
                "--nemesis-duration-ms",
                "2000",
                "--seed",
                "2",
            ],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    let kinds = violations(&ran);
    assert!(
        kinds.iter().any(|k| k == "dual-leadership"),
        "{kinds:?}\n{}",
        ran.stdout
    );
}
