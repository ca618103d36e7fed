//! The harness under bad input and its own faults: a seeded mutation fuzzer over the
//! history reader and `splitbrain check`, every subcommand's flags refused with a reason,
//! and the controller interrupted (SIGTERM) or killed (SIGKILL) mid-run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn splitbrain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
}

mod fuzz {
    //! Inputs are valid synthetic histories, mutated: bytes flipped, inserted, dropped;
    //! lines cut, doubled, swapped; numbers and strings replaced by hostile ones; values
    //! nested deep. Every input must either read and check without a panic, or be refused
    //! with an error naming its line.

    use std::panic::{catch_unwind, AssertUnwindSafe};

    use checkers::synth::{generate_ops, Rng, SynthConfig};
    use checkers::{Guarantees, History, HistoryError};

    /// Inputs per CI run; the `#[ignore]`d test runs `FUZZ_INPUTS_FULL`.
    const FUZZ_INPUTS_CI: u64 = 20_000;
    const FUZZ_INPUTS_FULL: u64 = 1_000_000;
    /// Lines of a seed history; short inputs keep a million of them quick.
    const SEED_LINES_MAX: usize = 24;

    /// Values that break parsers and checkers: out of range, wrong type, odd text.
    const HOSTILE: &[&str] = &[
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "-0",
        "0.5",
        "null",
        "true",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"nemesis\"",
        "\"leader\"",
        "[]",
        "{}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "{\"id\":\"w1\",\"token\":1}",
        "{\"log\":[{\"id\":\"w1\",\"token\":18446744073709551615}]}",
        "{\"ids\":[\"w1\",\"w1\",\"\"]}",
        "{\"role\":\"leader\",\"term\":0,\"leader\":null}",
        "9999999999999999999999999999",
    ];

    fn seeds() -> Vec<Vec<String>> {
        (0..6)
            .map(|seed| {
                let ops = generate_ops(&SynthConfig::small(seed, 200));
                ops.iter()
                    .take(SEED_LINES_MAX)
                    .map(|op| serde_json::to_string(op).unwrap())
                    .collect()
            })
            .collect()
    }

    /// One mutated input: a prefix of a seed (so that its first lines are valid and the
    /// checkers get to run) with one to three mutations.
    pub fn mutate(rng: &mut Rng, seeds: &[Vec<String>]) -> Vec<u8> {
        let seed = &seeds[rng.below(seeds.len() as u64) as usize];
        let keep = 1 + rng.below(seed.len() as u64) as usize;
        let mut lines: Vec<Vec<u8>> = seed[..keep].iter().map(|l| l.as_bytes().to_vec()).collect();
        let mutations = 1 + rng.below(3);
        for _ in 0..mutations {
            let at = rng.below(lines.len() as u64) as usize;
            mutate_line(rng, &mut lines, at);
        }
        let mut out = Vec::new();
        for l in &lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        if rng.chance_per_mille(100) {
            // A torn last line, as a killed writer leaves.
            let cut = rng.below(out.len() as u64) as usize;
            out.truncate(cut);
        }
        out
    }

    fn mutate_line(rng: &mut Rng, lines: &mut Vec<Vec<u8>>, at: usize) {
        let count = lines.len();
        if rng.below(10) == 5 && count > 1 {
            let other = rng.below(count as u64) as usize;
            lines.swap(at, other);
            return;
        }
        if rng.below(10) == 4 {
            let copy = lines[at].clone();
            lines.insert(at, copy);
            return;
        }
        let line = &mut lines[at];
        match rng.below(8) {
            0 if !line.is_empty() => {
                let i = rng.below(line.len() as u64) as usize;
                line[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(line.len() as u64 + 1) as usize;
                line.insert(i, rng.below(256) as u8);
            }
            2 if !line.is_empty() => {
                let i = rng.below(line.len() as u64) as usize;
                let n = 1 + rng.below(8) as usize;
                line.drain(i..(i + n).min(line.len()));
            }
            3 => {
                let cut = rng.below(line.len() as u64 + 1) as usize;
                line.truncate(cut);
            }
            4 | 5 => replace_value(rng, line),
            6 => {
                let text = String::from_utf8_lossy(line).into_owned();
                let field = [
                    "\"index\"",
                    "\"time\"",
                    "\"process\"",
                    "\"type\"",
                    "\"f\"",
                    "\"value\"",
                    "\"node\"",
                    "\"error\"",
                ][rng.below(8) as usize];
                *line = text.replacen(field, "\"xyz\"", 1).into_bytes();
            }
            _ => {
                let kinds = ["\"invoke\"", "\"ok\"", "\"fail\"", "\"info\""];
                let fs = [
                    "\"write\"",
                    "\"read\"",
                    "\"status\"",
                    "\"acquire\"",
                    "\"holding\"",
                    "\"release\"",
                    "\"partition\"",
                    "\"kill\"",
                ];
                let text = String::from_utf8_lossy(line).into_owned();
                let (kind_from, kind_to) =
                    (kinds[rng.below(4) as usize], kinds[rng.below(4) as usize]);
                let (f_from, f_to) = (fs[rng.below(8) as usize], fs[rng.below(8) as usize]);
                let swapped = text
                    .replacen(kind_from, kind_to, 1)
                    .replacen(f_from, f_to, 1);
                *line = swapped.into_bytes();
            }
        }
    }

    /// Replaces the value after some `":` with a hostile one.
    fn replace_value(rng: &mut Rng, line: &mut Vec<u8>) {
        let colons: Vec<usize> = line
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w == b"\":")
            .map(|(i, _)| i + 2)
            .collect();
        if colons.is_empty() {
            return;
        }
        let start = colons[rng.below(colons.len() as u64) as usize];
        let mut end = start;
        let mut depth = 0i32;
        let mut in_str = false;
        while end < line.len() {
            let c = line[end];
            match (in_str, c) {
                (true, b'\\') => end += 1,
                (true, b'"') => in_str = false,
                (false, b'"') => in_str = true,
                (false, b'{' | b'[') => depth += 1,
                (false, b'}' | b']') if depth == 0 => break,
                (false, b'}' | b']') => depth -= 1,
                (false, b',') if depth == 0 => break,
                _ => {}
            }
            end += 1;
        }
        let end = end.min(line.len());
        let hostile = HOSTILE[rng.below(HOSTILE.len() as u64) as usize];
        line.splice(start..end, hostile.bytes());
    }

    /// What one input did.
    pub enum Outcome {
        Checked,
        Refused,
    }

    /// Reads and checks `input`; panics (failing the test) if anything in there
    /// panicked or an error fails to name its line.
    pub fn exercise(input: &[u8]) -> Outcome {
        let read = catch_unwind(AssertUnwindSafe(|| History::read(input)));
        let read = read.unwrap_or_else(|_| panic!("the reader panicked on:\n{}", show(input)));
        match read {
            Ok(history) => {
                for g in [
                    Guarantees::default(),
                    Guarantees {
                        exclusive_leadership: true,
                        fence_on_grant: true,
                        leaderless: false,
                    },
                ] {
                    let checked = catch_unwind(AssertUnwindSafe(|| checkers::check(&history, &g)));
                    assert!(
                        checked.is_ok(),
                        "the checkers panicked on:\n{}",
                        show(input)
                    );
                }
                Outcome::Checked
            }
            Err(e) => {
                assert_names_its_line(&e, input);
                Outcome::Refused
            }
        }
    }

    fn assert_names_its_line(e: &HistoryError, input: &[u8]) {
        let line = e
            .line()
            .unwrap_or_else(|| panic!("error without a line: {e}\n{}", show(input)));
        let lines = input.split(|&b| b == b'\n').count() as u64;
        assert!(
            line >= 1 && line <= lines,
            "error names line {line} of {lines}: {e}"
        );
        let text = e.to_string();
        assert!(text.starts_with(&format!("line {line}: ")), "{text}");
        if let HistoryError::Field { field, .. } = e {
            assert!(!field.is_empty(), "{text}");
        }
    }

    fn show(input: &[u8]) -> String {
        String::from_utf8_lossy(input).into_owned()
    }

    /// Runs `count` inputs from `seed` on every core; returns (checked, refused).
    pub fn campaign(seed: u64, count: u64) -> (u64, u64) {
        let seeds = seeds();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let seeds = &seeds;
                    s.spawn(move || {
                        let mut rng = Rng::new(seed ^ (t.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
                        let (mut checked, mut refused) = (0, 0);
                        for _ in 0..count / threads + u64::from(t < count % threads) {
                            match exercise(&mutate(&mut rng, seeds)) {
                                Outcome::Checked => checked += 1,
                                Outcome::Refused => refused += 1,
                            }
                        }
                        (checked, refused)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fuzz thread panicked"))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
    }

    #[test]
    fn mutated_histories_never_panic_and_every_refusal_names_its_line() {
        let (checked, refused) = campaign(1, FUZZ_INPUTS_CI);
        eprintln!("{FUZZ_INPUTS_CI} inputs: {checked} read and checked, {refused} refused");
        assert_eq!(checked + refused, FUZZ_INPUTS_CI);
        // Both paths must be exercised, or the fuzzer tests nothing.
        assert!(checked > FUZZ_INPUTS_CI / 20, "{checked} checked");
        assert!(refused > FUZZ_INPUTS_CI / 5, "{refused} refused");
    }

    /// `cargo test --test reliability -- --ignored fuzz_a_million`
    #[test]
    #[ignore]
    fn fuzz_a_million_histories() {
        let started = std::time::Instant::now();
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2);
        let (checked, refused) = campaign(seed, FUZZ_INPUTS_FULL);
        eprintln!(
            "seed {seed}: {FUZZ_INPUTS_FULL} inputs in {:.1} s: {checked} read and checked, {refused} refused",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(checked + refused, FUZZ_INPUTS_FULL);
    }
}

mod check_cli {
    //! `splitbrain check` on mutated files: exit 2 naming the line for malformed input,
    //! 0, 1 or 3 otherwise, never a panic (101).

    use super::*;
    use checkers::synth::Rng;

    const CLI_INPUTS: u64 = 150;

    #[test]
    fn check_answers_every_mutated_file_with_a_verdict_or_exit_2_naming_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let seeds: Vec<Vec<String>> = (0..3)
            .map(|s| {
                checkers::synth::generate_ops(&checkers::synth::SynthConfig::small(s, 100))
                    .iter()
                    .take(20)
                    .map(|op| serde_json::to_string(op).unwrap())
                    .collect()
            })
            .collect();
        let mut rng = Rng::new(11);
        let path = tmp.path().join("history.jsonl");
        for _ in 0..CLI_INPUTS {
            let input = super::fuzz::mutate(&mut rng, &seeds);
            std::fs::write(&path, &input).unwrap();
            let expected = checkers::History::read(&input[..]).err();
            let out = splitbrain().arg("check").arg(&path).output().unwrap();
            let code = out.status.code().unwrap_or(-1);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match expected {
                Some(e) => {
                    assert_eq!(code, 2, "{stderr}");
                    let line = format!("line {}:", e.line().unwrap());
                    assert!(stderr.contains(&line), "wanted {line} in: {stderr}");
                }
                None => assert!([0, 1, 3].contains(&code), "exit {code}: {stderr}"),
            }
        }
    }

    /// A controller killed mid-write leaves a last line without its newline: check
    /// refuses it (exit 2) naming that line and saying the writer stopped mid-line.
    #[test]
    fn a_torn_last_line_is_exit_2_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let ops = checkers::synth::generate_ops(&checkers::synth::SynthConfig::small(3, 50));
        let mut text = String::new();
        for op in ops.iter().take(10) {
            text.push_str(&serde_json::to_string(op).unwrap());
            text.push('\n');
        }
        let torn = serde_json::to_string(&ops[10]).unwrap();
        text.push_str(&torn[..torn.len() / 2]);
        let path = tmp.path().join("history.jsonl");
        std::fs::write(&path, text).unwrap();
        let out = splitbrain().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("line 11:"), "{stderr}");
        assert!(stderr.contains("stopped mid-line"), "{stderr}");
    }
}

mod controller {
    //! The controller under its own faults, on the local runtime (plain processes, so
    //! that it runs wherever the tests do): SIGTERM tears down and keeps an unknown
    //! verdict; SIGKILL leaves a readable history that `splitbrain clean` cleans up after.

    use super::*;
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    /// Bounds on waiting for a run to reach its attack phase and to exit.
    const RUN_START_MS_MAX: u64 = 60_000;
    const RUN_EXIT_MS_MAX: u64 = 90_000;
    /// Ops the history must hold before the controller is hit: the workload is running.
    const OPS_BEFORE_SIGNAL: usize = 150;

    fn start_run(results: &Path, seed: &str) -> Run {
        start_run_on(results, seed, &["--runtime", "local"])
    }

    /// A controller that is stopped (SIGTERM, so that it tears down) if a test fails
    /// while it runs.
    struct Run(Child);

    impl Drop for Run {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_millis(RUN_EXIT_MS_MAX);
                while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    impl std::ops::Deref for Run {
        type Target = Child;
        fn deref(&self) -> &Child {
            &self.0
        }
    }

    impl std::ops::DerefMut for Run {
        fn deref_mut(&mut self) -> &mut Child {
            &mut self.0
        }
    }

    fn start_run_on(results: &Path, seed: &str, how: &[&str]) -> Run {
        splitbrain()
            .env("SPLITBRAIN_RAFTD", common::raftd_binary())
            .arg("run")
            .args(how)
            .args(["--nodes", "3", "--time-limit", "120"])
            .args([
                "--nemesis",
                "partition,kill",
                "--nemesis-interval-ms",
                "1500",
            ])
            .args([
                "--rate",
                "50",
                "--concurrency",
                "3",
                "--seed",
                seed,
                "--results",
            ])
            .arg(results)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(Run)
            .expect("splitbrain starts")
    }

    fn poll<T>(ms: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_millis(ms);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {ms} ms waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn run_dir(root: &Path) -> Option<PathBuf> {
        std::fs::read_dir(root)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_dir())
    }

    fn complete_lines(dir: &Path) -> usize {
        std::fs::read(dir.join("history.jsonl"))
            .map_or(0, |t| t.iter().filter(|&&b| b == b'\n').count())
    }

    /// The run's results directory and runtime id, once its workload has recorded ops.
    fn wait_attacking(root: &Path) -> (PathBuf, String) {
        let dir = poll(RUN_START_MS_MAX, "a results directory", || run_dir(root));
        let id = poll(RUN_START_MS_MAX, "test.json naming the run id", || {
            let t = std::fs::read_to_string(dir.join("test.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&t).ok()?;
            v["runtime"]["run_id"].as_str().map(String::from)
        });
        poll(RUN_START_MS_MAX, "the workload to record ops", || {
            (complete_lines(&dir) >= OPS_BEFORE_SIGNAL).then_some(())
        });
        (dir, id)
    }

    /// Pids of live processes whose command line names the run id (its nodes, whose
    /// data directories carry it).
    fn processes_of(run_id: &str) -> Vec<u32> {
        let me = std::process::id();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me)
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // A zombie is gone in all but name.
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .next();
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                state != Some('Z') && String::from_utf8_lossy(&cmd).contains(run_id)
            })
            .collect()
    }

    /// Everything a local run creates outside its results directory.
    fn leftovers(run_id: &str) -> Vec<String> {
        let mut left: Vec<String> = processes_of(run_id)
            .iter()
            .map(|p| format!("process {p}"))
            .collect();
        let state = ["/run/splitbrain", "/tmp/splitbrain-state"]
            .iter()
            .map(|d| Path::new(d).join(format!("{run_id}.json")));
        let dirs = [PathBuf::from(format!("/tmp/sb-{run_id}"))];
        for p in state.chain(dirs) {
            if p.exists() {
                left.push(p.display().to_string());
            }
        }
        if let Ok(rd) = std::fs::read_dir("/dev/shm") {
            for e in rd.filter_map(Result::ok) {
                if e.file_name().to_string_lossy().contains(run_id) {
                    left.push(e.path().display().to_string());
                }
            }
        }
        left
    }

    fn wait_exit(child: &mut Child) -> i32 {
        let status = poll(RUN_EXIT_MS_MAX, "the controller to exit", || {
            child.try_wait().ok().flatten()
        });
        status.code().unwrap_or(-1)
    }

    /// Docker objects labelled with the run id.
    fn docker_leftovers(run_id: &str) -> Vec<String> {
        let label = format!("label=splitbrain.run={run_id}");
        let mut left = Vec::new();
        for what in [
            &["ps", "-aq"][..],
            &["network", "ls", "-q"],
            &["volume", "ls", "-q"],
        ] {
            let out = Command::new("docker")
                .args(what)
                .args(["--filter", &label])
                .output()
                .expect("docker answers");
            let text = String::from_utf8_lossy(&out.stdout);
            left.extend(
                text.split_whitespace()
                    .map(|id| format!("{} {id}", what[0])),
            );
        }
        left
    }

    use crate::common::docker_available;

    #[test]
    fn sigterm_mid_run_on_docker_removes_every_container_network_and_volume() {
        if !docker_available() {
            eprintln!("skipped: no docker daemon");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let how = ["--runtime", "docker", "--system", "etcd"];
        let mut child = start_run_on(tmp.path(), "24", &how);
        let (dir, id) = wait_attacking(tmp.path());
        assert!(
            !docker_leftovers(&id).is_empty(),
            "the run's containers are not found by label"
        );
        sigterm_and_check(&mut child, &dir, &id);
        assert_eq!(docker_leftovers(&id), Vec::<String>::new());
    }

    #[test]
    fn sigkill_on_docker_leaves_what_clean_removes() {
        if !docker_available() {
            eprintln!("skipped: no docker daemon");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let how = ["--runtime", "docker", "--system", "etcd"];
        let mut child = start_run_on(tmp.path(), "27", &how);
        let (_dir, id) = wait_attacking(tmp.path());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !docker_leftovers(&id).is_empty(),
            "a killed controller left nothing"
        );
        let clean = splitbrain().args(["clean", "--run", &id]).output().unwrap();
        assert!(
            clean.status.success(),
            "{}",
            String::from_utf8_lossy(&clean.stderr)
        );
        assert_eq!(docker_leftovers(&id), Vec::<String>::new());
        assert_eq!(leftovers(&id), Vec::<String>::new());
    }

    #[test]
    fn sigterm_mid_run_tears_everything_down_and_keeps_an_unknown_verdict() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = start_run(tmp.path(), "21");
        let (dir, id) = wait_attacking(tmp.path());
        assert!(
            !processes_of(&id).is_empty(),
            "the run's nodes are not found by its id"
        );
        sigterm_and_check(&mut child, &dir, &id);
    }

    /// A closed terminal (SIGHUP) is an interrupt too.
    #[test]
    fn sighup_mid_run_tears_everything_down() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = start_run(tmp.path(), "26");
        let (dir, id) = wait_attacking(tmp.path());
        assert!(!processes_of(&id).is_empty());
        signal_and_check(&mut child, &dir, &id, nix::sys::signal::Signal::SIGHUP);
    }

    /// Its stderr's reader gone (`run 2>&1 | tee log`, where the same Ctrl-C ends tee):
    /// the controller must still tear down rather than die of a failed write.
    #[test]
    fn sigterm_with_stderr_closed_still_tears_down() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = start_run(tmp.path(), "25");
        drop(child.stderr.take());
        let (dir, id) = wait_attacking(tmp.path());
        assert!(!processes_of(&id).is_empty());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(wait_exit(&mut child), 3);
        assert_eq!(leftovers(&id), Vec::<String>::new());
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        assert!(text.contains("interrupted"), "{text}");
    }

    /// SIGTERM, then: exit 3, an unknown verdict saying why, nothing of the run left
    /// outside its results directory, and whole result files.
    fn sigterm_and_check(child: &mut Child, dir: &Path, id: &str) {
        signal_and_check(child, dir, id, nix::sys::signal::Signal::SIGTERM);
    }

    fn signal_and_check(child: &mut Child, dir: &Path, id: &str, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let code = wait_exit(child);
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        assert_eq!(code, 3, "{stderr}");
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        let results: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(results["valid"], "unknown", "{results}");
        assert_eq!(results["reason"], "interrupted", "{results}");
        assert_eq!(leftovers(id), Vec::<String>::new(), "{stderr}");
        // The history was closed whole: every line complete and readable.
        checkers::History::from_path(&dir.join("history.jsonl")).expect("a whole history");
        assert!(dir.join("timeline.html").is_file());
        for f in ["results.json.tmp", "test.json.tmp", "timeline.html.tmp"] {
            assert!(!dir.join(f).exists(), "{f} left behind");
        }
    }

    #[test]
    fn sigkill_keeps_the_history_to_the_last_second_and_clean_removes_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("killed");
        let mut child = start_run(&root, "22");
        let (dir, id) = wait_attacking(&root);
        // The history's clock starts when the file is created; allow for that skew.
        let created = std::fs::metadata(dir.join("history.jsonl"))
            .and_then(|m| m.created().or_else(|_| m.modified()))
            .unwrap();
        // Let ops accumulate a moment longer, then kill without warning.
        std::thread::sleep(Duration::from_millis(1500));
        let killed_at = std::time::SystemTime::now();
        child.kill().unwrap();
        child.wait().unwrap();
        let elapsed_ns = killed_at.duration_since(created).unwrap().as_nanos() as u64;

        let bytes = std::fs::read(dir.join("history.jsonl")).unwrap();
        let whole = &bytes[..bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
        let history = checkers::History::read(whole).expect("every complete line reads");
        let last_time = checkers::OpReader::new(whole)
            .map(|op| op.unwrap().time)
            .last()
            .unwrap();
        let lag_ms = elapsed_ns.saturating_sub(last_time) / 1_000_000;
        eprintln!(
            "SIGKILL: {} ops on disk, the last {lag_ms} ms before the kill; {} bytes of a torn line",
            whole.iter().filter(|&&b| b == b'\n').count(),
            bytes.len() - whole.len()
        );
        drop(history);
        // Flushed at least once a second; the file's creation precedes the clock's start.
        assert!(lag_ms <= 1500, "the last op on disk is {lag_ms} ms old");

        let check = splitbrain().arg("check").arg(&dir).output().unwrap();
        let code = check.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&check.stderr);
        if whole.len() < bytes.len() {
            assert_eq!(code, 2, "{stderr}");
            assert!(stderr.contains("stopped mid-line"), "{stderr}");
        } else {
            assert!([0, 1, 3].contains(&code), "exit {code}: {stderr}");
        }

        assert!(
            !leftovers(&id).is_empty(),
            "a killed controller left nothing to clean"
        );
        let clean = splitbrain().args(["clean", "--run", &id]).output().unwrap();
        assert!(
            clean.status.success(),
            "{}",
            String::from_utf8_lossy(&clean.stderr)
        );
        assert_eq!(leftovers(&id), Vec::<String>::new());

        // The next run works.
        let next_root = tmp.path().join("next");
        let next = splitbrain()
            .env("SPLITBRAIN_RAFTD", common::raftd_binary())
            .args([
                "run",
                "--runtime",
                "local",
                "--nodes",
                "3",
                "--time-limit",
                "4",
            ])
            .args([
                "--nemesis",
                "none",
                "--recovery-secs",
                "1",
                "--seed",
                "23",
                "--results",
            ])
            .arg(&next_root)
            .output()
            .unwrap();
        assert_eq!(
            next.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&next.stderr)
        );
    }

    use std::io::Read as _;
}

mod flags {
    //! A spot check of every subcommand's flags: a bad value is exit 2 with a message
    //! that names the flag (or argument) and says what would be right.

    use super::*;

    /// (arguments, text naming what is wrong, text saying what would be right)
    const CASES: &[(&[&str], &str, &str)] = &[
        (&["check"], "<PATH>", "Usage"),
        (
            &["check", "/nonexistent/h.jsonl"],
            "/nonexistent/h.jsonl",
            "No such file",
        ),
        (&["check", "/"], "holds no history.jsonl", "/"),
        (
            &["clean", "--run", "../etc"],
            "bad run id",
            "lowercase letters or digits",
        ),
        (
            &["report", "/nonexistent"],
            "/nonexistent",
            "not a results directory",
        ),
        (&["serve", "--port", "99999"], "--port", "0..=65535"),
        (
            &["replay", "/nonexistent"],
            "/nonexistent/test.json",
            "No such file",
        ),
        (&["run", "--nodes", "2"], "--nodes", "use 3 to 9"),
        (&["run", "--rate", "nan"], "--rate", "above 0 and at most"),
        (&["run", "--time-limit", "0"], "--time-limit", "use 1 to"),
        (&["run", "--concurrency", "0"], "--concurrency", "use 1 to"),
        (&["run", "--seed", "-1"], "--seed", "whole number from 0"),
        (
            &["run", "--fencing", "maybe"],
            "--fencing",
            "expected one of",
        ),
        (
            &["run", "--runtime", "moon"],
            "--runtime",
            "expected one of",
        ),
        (&["run", "--system", "zk"], "--system", "expected one of"),
        (
            &["run", "--nemesis", "partition,moon"],
            "--nemesis",
            "valid names",
        ),
        (&["run", "--bug", "nosuch"], "--bug", "raftd knows"),
        (
            &["run", "--nemesis-interval-ms", "0"],
            "--nemesis-interval-ms",
            "use 100 to",
        ),
        (
            &["run", "--recovery-secs", "-1"],
            "--recovery-secs",
            "use 0 to",
        ),
        (&["run", "--endpoints", "foo"], "--endpoints", "host:port"),
        (&["run", "--image", ""], "--image", "such as"),
        (&["sim", "--seeds", "5..2"], "--seeds", "A..B"),
        (&["sim", "--seeds", "-3"], "--seeds", "A..B"),
        (&["sim", "--nodes", "0"], "--nodes", "use 3 to 9"),
        (&["sim", "--jobs", "0"], "--jobs", "use 1 to"),
        (&["sim", "--sim-secs", "0"], "--sim-secs", "use 1 to"),
        (&["sim", "--bug", "nosuch"], "--bug", "known bugs"),
        (&["bogus-subcommand"], "bogus-subcommand", "Usage"),
    ];

    #[test]
    fn every_bad_flag_is_exit_2_naming_it_and_what_would_be_right() {
        let tmp = tempfile::tempdir().unwrap();
        for (args, wrong, right) in CASES {
            let out = splitbrain()
                .args(*args)
                .current_dir(tmp.path())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains(wrong),
                "{args:?} must name {wrong:?}: {stderr}"
            );
            assert!(
                stderr.contains(right),
                "{args:?} must say {right:?}: {stderr}"
            );
        }
        // Nothing was started or written.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
