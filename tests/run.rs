//! `splitbrain run` and `splitbrain replay` end to end: flag validation (no cluster
//! needed), and short real runs against raftd (Docker, or whatever `--runtime auto`
//! finds), each in its own temporary results directory.

mod common;

use common::docker_available;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The outcome of one invocation of the binary.
pub struct Ran {
    pub code: i32,
    pub stderr: String,
    /// The summary: verdict, anomalies, the reproducing command.
    pub stdout: String,
    /// The run's results directory (`<results>/latest` resolved), if one was made.
    pub dir: Option<PathBuf>,
}

impl Ran {
    pub fn json(&self, file: &str) -> serde_json::Value {
        let dir = self.dir.as_ref().expect("the run made a results directory");
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{} in {}: {e}\n{}", file, dir.display(), self.stderr));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
    }
}

fn splitbrain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    cmd
}

fn finish(out: Output, results: &Path) -> Ran {
    let latest = results.join("latest");
    let dir = std::fs::canonicalize(&latest).ok();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        dir,
    }
}

/// Runs `splitbrain run ARGS --results <results>` and returns the exit code and the
/// results directory. Bug-detection tests use this with `--bug NAME`.
pub fn run_with(results: &Path, args: &[&str]) -> Ran {
    let out = splitbrain()
        .arg("run")
        .args(args)
        .arg("--results")
        .arg(results)
        .output()
        .expect("splitbrain runs");
    finish(out, results)
}

/// A short run: 3 nodes, a few seconds of faults. Extra args override or add.
pub fn short_run(results: &Path, extra: &[&str]) -> Ran {
    let mut args = vec![
        "--nodes",
        "3",
        "--time-limit",
        "12",
        "--nemesis-interval-ms",
        "2000",
        "--nemesis-duration-ms",
        "1200",
        "--recovery-secs",
        "3",
        "--rate",
        "20",
        "--concurrency",
        "3",
    ];
    args.extend_from_slice(extra);
    run_with(results, &args)
}

mod validation {
    use super::*;

    fn assert_usage_error(args: &[&str], flag: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let ran = run_with(tmp.path(), args);
        assert_eq!(ran.code, 2, "{args:?} should be bad usage:\n{}", ran.stderr);
        assert!(
            ran.stderr.contains(flag),
            "{args:?}: message names {flag}:\n{}",
            ran.stderr
        );
        assert!(
            ran.dir.is_none(),
            "a refused run leaves no results directory"
        );
    }

    #[test]
    fn unknown_system() {
        assert_usage_error(&["--system", "mysql"], "--system");
    }

    #[test]
    fn unknown_bug_lists_the_valid_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let ran = run_with(tmp.path(), &["--bug", "vote-thrice"]);
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr.contains("--bug") && ran.stderr.contains("vote-twice"),
            "{}",
            ran.stderr
        );
    }

    #[test]
    fn bad_node_counts() {
        assert_usage_error(&["--nodes", "2"], "--nodes");
        assert_usage_error(&["--nodes", "11"], "--nodes");
    }

    #[test]
    fn unknown_nemesis() {
        assert_usage_error(&["--nemesis", "partition,meteor"], "--nemesis");
    }

    #[test]
    fn other_bad_flags() {
        assert_usage_error(&["--runtime", "k8s"], "--runtime");
        assert_usage_error(&["--fencing", "maybe"], "--fencing");
        assert_usage_error(&["--time-limit", "0"], "--time-limit");
        assert_usage_error(&["--rate", "-1"], "--rate");
        assert_usage_error(&["--stall-probability", "2"], "--stall-probability");
    }

    #[test]
    fn a_results_directory_that_cannot_be_made_is_bad_usage() {
        // /proc takes no new directories, whoever asks.
        let out = splitbrain()
            .args(["run", "--nemesis", "none", "--time-limit", "1"])
            .args(["--results", "/proc/splitbrain-nowhere"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--results") && stderr.contains("/proc/splitbrain-nowhere"),
            "{stderr}"
        );
    }

    #[test]
    fn a_fault_the_system_cannot_take_is_refused_before_anything_starts() {
        let tmp = tempfile::tempdir().unwrap();
        let ran = run_with(
            tmp.path(),
            &[
                "--system",
                "etcd",
                "--runtime",
                "docker",
                "--nemesis",
                "clock",
            ],
        );
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr.contains("--nemesis") && ran.stderr.contains("clock"),
            "{}",
            ran.stderr
        );
        assert!(
            ran.dir.is_none(),
            "a refused run leaves no results directory"
        );
    }

    #[test]
    fn a_nemesis_with_no_room_for_a_fault_is_refused_before_anything_starts() {
        let tmp = tempfile::tempdir().unwrap();
        let ran = run_with(
            tmp.path(),
            &[
                "--runtime",
                "local",
                "--nodes",
                "3",
                "--nemesis",
                "kill",
                "--time-limit",
                "3",
                "--nemesis-duration-ms",
                "3000",
            ],
        );
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr.contains("--time-limit")
                && ran.stderr.contains("--nemesis-interval-ms 5000")
                && ran.stderr.contains("--nemesis kill"),
            "{}",
            ran.stderr
        );
        assert!(
            ran.dir.is_none(),
            "a refused run leaves no results directory"
        );
    }

    #[test]
    fn replay_of_a_missing_directory_is_bad_usage() {
        let tmp = tempfile::tempdir().unwrap();
        let out = splitbrain()
            .arg("replay")
            .arg(tmp.path().join("nope"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("test.json"));
    }
}

mod docker_runs {
    use super::*;

    const FILES: [&str; 4] = [
        "test.json",
        "history.jsonl",
        "results.json",
        "timeline.html",
    ];

    #[test]
    fn correct_raftd_is_valid_and_replay_reuses_the_schedule() {
        if !docker_available() {
            eprintln!("skipped: no docker daemon");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let ran = short_run(tmp.path(), &["--runtime", "docker", "--seed", "17"]);
        assert_eq!(ran.code, 0, "correct raftd must be valid:\n{}", ran.stderr);
        let dir = ran.dir.clone().expect("results/latest");
        for file in FILES {
            assert!(
                dir.join(file).is_file(),
                "{file} missing in {}",
                dir.display()
            );
        }
        assert!(
            dir.join("nodes").join("n1").is_dir(),
            "node logs in nodes/n1"
        );
        assert!(tmp.path().join("index.html").is_file(), "results index");
        let results = ran.json("results.json");
        assert_eq!(results["valid"], true, "{results}");
        let test = ran.json("test.json");
        assert_eq!(test["seed"], 17);
        assert!(
            ran.stdout.contains("--seed 17") && ran.stdout.contains("VALID"),
            "the summary prints the reproducing command"
        );
        let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
        assert!(
            history.lines().any(|l| l.contains("\"nemesis\"")),
            "faults were injected and recorded"
        );

        let replay = splitbrain()
            .arg("replay")
            .arg(&dir)
            .arg("--results")
            .arg(tmp.path())
            .output()
            .expect("replay runs");
        let replayed = finish(replay, tmp.path());
        let new_dir = replayed
            .dir
            .clone()
            .expect("replay made a results directory");
        assert_ne!(new_dir, dir, "replay writes a new results directory");
        let again = replayed.json("test.json");
        assert_eq!(
            again["schedule"], test["schedule"],
            "replay ran the same schedule"
        );
        assert_eq!(again["seed"], test["seed"]);
        assert!(
            replayed.code == 0 || replayed.code == 3,
            "replay verdict:\n{}",
            replayed.stderr
        );
    }

    #[test]
    fn a_harness_failure_is_no_verdict_and_leaves_nothing_behind() {
        if !docker_available() {
            eprintln!("skipped: no docker daemon");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let ran = run_with(
            tmp.path(),
            &[
                "--runtime",
                "docker",
                "--image",
                "splitbrain/no-such-image:0",
                "--nodes",
                "3",
            ],
        );
        assert_eq!(ran.code, 3, "{}", ran.stderr);
        assert!(ran.stderr.contains("harness error"), "{}", ran.stderr);
        let results = ran.json("results.json");
        assert_eq!(results["valid"], "unknown", "{results}");
        assert!(
            results["harness_error"]
                .as_str()
                .unwrap()
                .contains("no-such-image"),
            "{results}"
        );
        let test = ran.json("test.json");
        let label = format!(
            "label=splitbrain.run={}",
            test["runtime"]["run_id"].as_str().unwrap()
        );
        let left = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
            .unwrap();
        assert!(left.stdout.is_empty(), "containers left behind");
    }

    #[test]
    fn etcd_under_partitions_and_kills_is_valid() {
        if !docker_available() {
            eprintln!("skipped: no docker daemon");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let ran = short_run(
            tmp.path(),
            &[
                "--system",
                "etcd",
                "--runtime",
                "docker",
                "--nemesis",
                "partition,kill",
                "--seed",
                "4",
            ],
        );
        assert_eq!(ran.code, 0, "etcd must be valid:\n{}", ran.stderr);
        let test = ran.json("test.json");
        assert_eq!(
            test["guarantees"]["exclusive_leadership"], false,
            "etcd has no leader lease"
        );
        assert!(
            test["versions"]["system"].as_str().unwrap().contains("3."),
            "{test}"
        );
    }
}

mod interrupt {
    use super::*;
    use std::time::{Duration, Instant};

    /// The only directory a run made under `root`, once it exists.
    fn run_dir(root: &Path) -> Option<PathBuf> {
        std::fs::read_dir(root)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_dir())
    }

    fn history_lines(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("history.jsonl")).map_or(0, |t| t.lines().count())
    }

    #[test]
    fn ctrl_c_tears_down_and_keeps_an_unknown_verdict() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = splitbrain()
            .args([
                "run",
                "--runtime",
                "local",
                "--nodes",
                "3",
                "--time-limit",
                "120",
            ])
            .args(["--nemesis", "partition", "--seed", "9", "--results"])
            .arg(tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        let dir = loop {
            if let Some(dir) = run_dir(tmp.path()).filter(|d| history_lines(d) > 20) {
                break dir;
            }
            assert!(Instant::now() < deadline, "the run never got going");
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(Duration::from_millis(200));
        };
        let pid = i32::try_from(child.id()).unwrap();
        // SAFETY: kill(2) on the child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "an interrupted run is unknown:\n{stderr}"
        );
        let ran = finish(out, tmp.path());
        assert_eq!(
            ran.dir.as_deref(),
            Some(dir.canonicalize().unwrap().as_path())
        );
        let results = ran.json("results.json");
        assert_eq!(results["valid"], "unknown", "{results}");
        assert_eq!(results["reason"], "interrupted", "{results}");
        let test = ran.json("test.json");
        let runtime_id = test["runtime"]["run_id"].as_str().unwrap();
        let host_dir = PathBuf::from(format!("/tmp/sb-{runtime_id}"));
        assert!(
            !host_dir.exists(),
            "teardown removed {}",
            host_dir.display()
        );
    }
}

mod replay {
    //! `replay` on the sim runtime (no cluster, well under a second a run): the file's
    //! spec is validated like flags, and the command line says where results go.
    use super::*;

    /// A finished sim run under `root`; its results directory.
    fn sim_run(root: &Path) -> PathBuf {
        let ran = run_with(
            root,
            &[
                "--runtime",
                "sim",
                "--nodes",
                "3",
                "--seed",
                "11",
                "--time-limit",
                "8",
                "--nemesis-interval-ms",
                "1500",
                "--nemesis-duration-ms",
                "800",
            ],
        );
        assert!([0, 1].contains(&ran.code), "{}", ran.stderr);
        ran.dir.expect("the sim run made a results directory")
    }

    fn edit_spec(dir: &Path, key: &str, value: serde_json::Value) {
        let path = dir.join("test.json");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        doc["spec"][key] = value;
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }

    /// The run directories under `root` (`latest` is a link, `index.html` a file).
    fn runs(root: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(root).map_or(Vec::new(), |entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        })
    }

    #[test]
    fn a_spec_in_test_json_that_flags_could_not_give_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sim_run(&tmp.path().join("orig"));
        edit_spec(&dir, "stall_probability", serde_json::json!(7.5));
        let new_root = tmp.path().join("new");
        let out = splitbrain()
            .arg("replay")
            .arg(&dir)
            .arg("--results")
            .arg(&new_root)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--stall-probability: 7.5 is not a probability")
                && stderr.contains("spec.stall_probability")
                && stderr.contains("test.json"),
            "{stderr}"
        );
        assert!(!new_root.exists(), "a refused replay writes nothing");
        assert_eq!(runs(&tmp.path().join("orig")).len(), 1);
    }

    #[test]
    fn results_go_where_the_command_line_says_never_where_the_file_says() {
        let tmp = tempfile::tempdir().unwrap();
        let orig = tmp.path().join("orig");
        let dir = sim_run(&orig);
        // The file names a results root of its own; replay must not write there.
        let elsewhere = tmp.path().join("elsewhere");
        edit_spec(&dir, "results", serde_json::json!(elsewhere));
        let cwd = tmp.path().join("cwd");
        std::fs::create_dir(&cwd).unwrap();
        let out = splitbrain()
            .arg("replay")
            .arg(&dir)
            .current_dir(&cwd)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!([0, 1].contains(&out.status.code().unwrap()), "{stderr}");
        let default_root = cwd.join("results");
        assert_eq!(runs(&default_root).len(), 1, "{stderr}");
        assert!(default_root.join("latest").join("test.json").is_file());
        assert!(default_root.join("index.html").is_file());
        assert!(!elsewhere.exists(), "the file's results root is not used");
        assert_eq!(runs(&orig).len(), 1, "nothing new in the original's root");

        let given = tmp.path().join("given");
        let out = splitbrain()
            .arg("replay")
            .arg(&dir)
            .arg("--results")
            .arg(&given)
            .output()
            .unwrap();
        assert!([0, 1].contains(&out.status.code().unwrap()));
        assert_eq!(runs(&given).len(), 1);
        let again: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(given.join("latest").join("test.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(again["spec"]["results"], serde_json::json!(given));
    }
}

mod full_disk {
    //! A full results disk is the machine's failure, named as such: a small tmpfs of the
    //! test's own as the results directory, full before the run or filled during it.
    use super::*;
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    /// A tmpfs mounted in a temporary directory, unmounted (with what it holds) on drop.
    struct Tmpfs {
        mount: PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Tmpfs {
        /// `None` where mounting is not allowed (not root); in CI it must work.
        fn mount(size: &str) -> Option<Tmpfs> {
            let dir = tempfile::tempdir().unwrap();
            let mount = dir.path().join("disk");
            std::fs::create_dir(&mount).unwrap();
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&mount)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                mounted || std::env::var_os("CI").is_none(),
                "CI is set but a tmpfs cannot be mounted"
            );
            mounted.then_some(Tmpfs { mount, _dir: dir })
        }

        /// Writes zeros until the filesystem has no byte left.
        fn fill(&self) {
            let mut f = std::fs::File::create(self.mount.join("filler")).unwrap();
            let chunk = vec![0u8; 64 << 10];
            loop {
                match f.write(&chunk) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling the tmpfs: {e}"),
                }
            }
        }

        /// Every file under the mount whose name marks it as a temporary.
        fn temporaries(&self) -> Vec<PathBuf> {
            let mut out = Vec::new();
            let mut todo = vec![self.mount.clone()];
            while let Some(dir) = todo.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if path.is_dir() && !path.is_symlink() {
                        todo.push(path);
                    } else if name.ends_with(".tmp") || name.starts_with(".latest-") {
                        out.push(path);
                    }
                }
            }
            out
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let unmounted = Command::new("umount")
                .arg(&self.mount)
                .status()
                .is_ok_and(|s| s.success());
            if !unmounted {
                // Something still holds it open: detach it now, gone once released.
                let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
            }
        }
    }

    const SHORT_LOCAL_RUN: [&str; 12] = [
        "--runtime",
        "local",
        "--nodes",
        "3",
        "--nemesis",
        "none",
        "--recovery-secs",
        "0",
        "--seed",
        "5",
        "--rate",
        "20",
    ];

    #[test]
    fn a_full_results_disk_is_named_before_anything_starts() {
        let Some(disk) = Tmpfs::mount("4m") else {
            eprintln!("skipped: cannot mount a tmpfs");
            return;
        };
        disk.fill();
        let started = Instant::now();
        let mut args = SHORT_LOCAL_RUN.to_vec();
        args.extend(["--time-limit", "5"]);
        let ran = run_with(&disk.mount, &args);
        let took = started.elapsed();
        assert_eq!(ran.code, 3, "{}", ran.stderr);
        let named = format!(
            "the disk is full: the results filesystem at {}",
            disk.mount.display()
        );
        assert!(ran.stderr.contains(&named), "{}", ran.stderr);
        assert!(!ran.stderr.contains("no leader"), "{}", ran.stderr);
        assert!(took < Duration::from_secs(10), "refused after {took:?}");
        let left: Vec<_> = std::fs::read_dir(&disk.mount)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec!["filler"], "the run created nothing");
    }

    #[test]
    fn a_disk_that_fills_mid_run_ends_as_a_harness_failure_and_keeps_the_history() {
        let Some(disk) = Tmpfs::mount("24m") else {
            eprintln!("skipped: cannot mount a tmpfs");
            return;
        };
        let mut child = splitbrain()
            .arg("run")
            .args(SHORT_LOCAL_RUN)
            .args(["--time-limit", "60", "--results"])
            .arg(&disk.mount)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (dir, lines_before) = loop {
            let found = std::fs::read_dir(&disk.mount)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.is_dir());
            let lines = found.as_ref().map_or(0, |d| {
                std::fs::read_to_string(d.join("history.jsonl")).map_or(0, |t| t.lines().count())
            });
            if lines > 50 {
                break (found.unwrap(), lines);
            }
            assert!(Instant::now() < deadline, "the run never got going");
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(Duration::from_millis(200));
        };
        let test_json = std::fs::read_to_string(dir.join("test.json")).unwrap();
        disk.fill();
        let filled = Instant::now();
        let out = child.wait_with_output().unwrap();
        let took = filled.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        let named = format!(
            "harness error (not a verdict on raftd): the disk is full: the results filesystem at {}",
            disk.mount.display()
        );
        assert!(stderr.contains(&named), "{stderr}");
        assert!(
            took < Duration::from_secs(30),
            "stopped {took:?} after the disk filled"
        );
        // What was recorded is kept: every whole line reads, and none is lost.
        let bytes = std::fs::read(dir.join("history.jsonl")).unwrap();
        let whole = &bytes[..bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
        checkers::History::read(whole).expect("every whole line of the history reads");
        let lines_after = whole.iter().filter(|&&b| b == b'\n').count();
        assert!(
            lines_after >= lines_before,
            "{lines_after} < {lines_before}"
        );
        let doc = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        let after = doc(&std::fs::read_to_string(dir.join("test.json")).unwrap());
        let id = doc(&test_json)["runtime"]["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            after["runtime"]["run_id"],
            id.as_str(),
            "test.json is whole"
        );
        assert_eq!(
            disk.temporaries(),
            Vec::<PathBuf>::new(),
            "temporary files left"
        );
        let host_dir = PathBuf::from(format!("/tmp/sb-{id}"));
        assert!(
            !host_dir.exists(),
            "teardown removed {}",
            host_dir.display()
        );
    }
}

mod teardown {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    /// The history is flushed and fsynced before teardown starts: a controller killed the
    /// moment it begins tearing down still leaves every final read on disk.
    #[test]
    fn sigkill_during_teardown_keeps_the_final_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = splitbrain()
            .args([
                "run",
                "--runtime",
                "local",
                "--nodes",
                "3",
                "--nemesis",
                "none",
            ])
            .args(["--time-limit", "3", "--recovery-secs", "0", "--seed", "8"])
            .arg("--results")
            .arg(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut answered = String::new();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.contains("final reads:") {
                answered = line.clone();
            }
            if line.contains("splitbrain: tearing down") {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        assert!(answered.contains("3 of 3 nodes answered"), "{answered:?}");
        let dir = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .expect("a results directory");
        let test: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
        let id = test["runtime"]["run_id"].as_str().unwrap();
        let clean = splitbrain().args(["clean", "--run", id]).output().unwrap();
        assert!(
            clean.status.success(),
            "{}",
            String::from_utf8_lossy(&clean.stderr)
        );

        let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
        let read_by: Vec<String> = history
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole lines"))
            .filter(|op| op["f"] == "read" && op["type"] == "ok")
            .map(|op| op["node"].as_str().unwrap_or("").to_string())
            .collect();
        for node in ["n1", "n2", "n3"] {
            assert!(
                read_by.iter().any(|n| n == node),
                "the final read of {node} is not on disk (reads by {read_by:?})"
            );
        }
    }
}
