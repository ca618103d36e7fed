//! `splitbrain matrix` end to end: a bad file or flag is refused before anything runs,
//! `--list` shards cover every cell once, and a real two-cell raftd matrix (one correct
//! cell, one with a bug that is caught) gives exit 1 and JUnit with one failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use quick_xml::XmlVersion;

fn splitbrain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    cmd
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn matrix(dir: &Path, toml: &str, args: &[&str]) -> Ran {
    let file = dir.join("m.toml");
    std::fs::write(&file, toml).unwrap();
    let out: Output = splitbrain()
        .arg("matrix")
        .arg(&file)
        .args(args)
        .arg("--results")
        .arg(dir.join("results"))
        .current_dir(dir)
        .output()
        .expect("splitbrain runs");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const SMALL: &str = "systems = [\"raftd\"]\nnemeses = [\"pause\", \"kill\"]\nseeds = [1, 2, 3]\n";

mod validation {
    use super::*;

    fn assert_refused(toml: &str, args: &[&str], expected: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let ran = matrix(tmp.path(), toml, args);
        assert_eq!(ran.code, 2, "{toml:?} {args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(expected),
            "{toml:?} {args:?}: expected {expected:?} in:\n{}",
            ran.stderr
        );
        assert!(
            !tmp.path().join("results").exists(),
            "nothing runs for a refused matrix"
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_the_valid_ones() {
        assert_refused(
            &format!("{SMALL}time_limt = 10\n"),
            &[],
            "unknown field `time_limt`, expected one of",
        );
        assert_refused(
            &format!("{SMALL}[system.raftd]\nseed = [1]\n"),
            &[],
            "unknown field `seed`",
        );
    }

    #[test]
    fn an_empty_or_missing_axis_is_refused() {
        assert_refused(
            "systems = [\"raftd\"]\nnemeses = []\nseeds = [1]\n",
            &[],
            "nemeses is empty",
        );
        assert_refused(
            "systems = [\"raftd\"]\nnemeses = [\"pause\"]\n",
            &[],
            "seeds is missing",
        );
    }

    #[test]
    fn unknown_names_are_refused_before_anything_runs() {
        assert_refused(
            "systems = [\"raftd\", \"mysql\"]\nnemeses = [\"pause\"]\nseeds = [1]\n",
            &[],
            "unknown system \"mysql\"",
        );
        assert_refused(
            "systems = [\"raftd\"]\nnemeses = [\"pause\", \"flood\"]\nseeds = [1]\n",
            &[],
            "unknown nemesis \"flood\"",
        );
        assert_refused(
            &format!("{SMALL}bugs = [\"vote-thrice\"]\n"),
            &[],
            "vote-twice",
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        for shard in ["0/4", "5/4", "2", "a/b"] {
            assert_refused(SMALL, &["--shard", shard], "use I/N");
        }
        assert_refused(SMALL, &["--parallel", "0"], "--parallel");
        assert_refused(SMALL, &["--parallel", "99"], "--parallel");
        assert_refused(SMALL, &["--junit", "/nonexistent/j.xml"], "--junit");
    }

    #[test]
    fn unknown_keys_are_refused_in_every_table() {
        let tables = [
            "",
            "[system.raftd]\n",
            "[[include]]\nsystem = \"raftd\"\nnemesis = \"pause\"\nseed = 9\n",
            "[[exclude]]\nseed = 1\n",
        ];
        for table in tables {
            assert_refused(
                &format!("{SMALL}{table}sed = 4\n"),
                &[],
                "unknown field `sed`",
            );
        }
    }

    #[test]
    fn an_exclude_that_matches_no_cell_is_refused() {
        assert_refused(
            &format!("{SMALL}[[exclude]]\nnemesis = \"kil\"\n"),
            &[],
            "[[exclude]] number 1 (nemesis = \"kil\") matches no cell",
        );
        // One that matches, then one that does not: the second is named, with the values.
        assert_refused(
            &format!("{SMALL}[[exclude]]\nseed = 2\n[[exclude]]\nsystem = \"rafd\"\nseed = 3\n"),
            &[],
            "[[exclude]] number 2 (system = \"rafd\", seed = 3) matches no cell, so it excludes nothing; the matrix's systems are \"raftd\"",
        );
    }

    #[test]
    fn a_shard_without_cells_is_refused() {
        // SMALL has 6 cells: shards 7 to 10 of 10 would run nothing.
        let tmp = tempfile::tempdir().unwrap();
        let junit = tmp.path().join("j.xml");
        let ran = matrix(
            tmp.path(),
            SMALL,
            &["--shard", "7/10", "--junit", junit.to_str().unwrap()],
        );
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr
                .contains("--shard 7/10 holds no cell: the matrix has 6 cells"),
            "{}",
            ran.stderr
        );
        assert!(!junit.exists(), "no JUnit file for a refused matrix");
        assert_refused(SMALL, &["--list", "--shard", "10/10"], "holds no cell");
    }

    #[test]
    fn a_value_that_looks_like_a_flag_is_refused_naming_its_key() {
        let cases = [
            (
                "image = \"--help\"\n",
                "image = \"--help\" looks like a flag",
            ),
            (
                "[system.raftd]\nruntime = \"-x\"\n",
                "[system.raftd] runtime = \"-x\" looks like a flag",
            ),
            (
                "[[include]]\nsystem = \"raftd\"\nnemesis = \"--lease\"\nseed = 9\n",
                "[[include]] number 1 nemesis = \"--lease\" looks like a flag",
            ),
            (
                "bugs = [\"--no-lease\"]\n",
                "bugs = \"--no-lease\" looks like a flag",
            ),
        ];
        for (extra, expected) in cases {
            assert_refused(&format!("{SMALL}{extra}"), &[], expected);
        }
    }

    #[test]
    fn a_missing_file_is_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let out = splitbrain()
            .args(["matrix", "/nonexistent/m.toml"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/m.toml"));
        drop(tmp);
    }

    #[test]
    fn listed_shards_cover_every_cell_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seen: Vec<String> = Vec::new();
        for i in 1..=4 {
            let ran = matrix(tmp.path(), SMALL, &["--list", "--shard", &format!("{i}/4")]);
            assert_eq!(ran.code, 0, "{}", ran.stderr);
            seen.extend(
                ran.stdout
                    .lines()
                    .filter(|l| l.contains("splitbrain run"))
                    .map(|l| l.split_whitespace().nth(2).unwrap().to_string()),
            );
        }
        seen.sort();
        let mut expected: Vec<String> = ["pause", "kill"]
            .iter()
            .flat_map(|n| (1..=3).map(move |s| format!("{n}/seed={s}")))
            .collect();
        expected.sort();
        assert_eq!(seen, expected);
    }
}

/// A testcase as the JUnit file has it.
#[derive(Debug, Default)]
struct Case {
    classname: String,
    name: String,
    /// `failure`, `error`, `skipped` or empty for a pass.
    outcome: String,
    message: String,
    body: String,
}

/// Parses the JUnit document (any malformation fails the test) into its testcases, and
/// counts the testsuites.
fn read_junit(xml: &str) -> (usize, Vec<Case>) {
    let mut reader = Reader::from_str(xml);
    let (mut suites, mut cases, mut inside) = (0, Vec::<Case>::new(), String::new());
    loop {
        let event = reader.read_event().expect("well-formed JUnit XML");
        match &event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let attr = |key: &str| {
                    e.attributes()
                        .map(|a| a.expect("well-formed attribute"))
                        .find(|a| a.key.as_ref() == key)
                        .map(|a| {
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned()
                        })
                        .unwrap_or_default()
                };
                match name.as_str() {
                    "testsuite" => suites += 1,
                    "testcase" => cases.push(Case {
                        classname: attr("classname"),
                        name: attr("name"),
                        ..Case::default()
                    }),
                    "failure" | "error" | "skipped" => {
                        let case = cases.last_mut().expect("inside a testcase");
                        case.outcome = name.clone();
                        case.message = attr("message");
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    inside = name;
                }
            }
            Event::Text(t) if inside == "failure" || inside == "error" => {
                let case = cases.last_mut().unwrap();
                case.body.push_str(&t.xml_content(XmlVersion::Implicit1_0));
            }
            Event::End(_) => inside.clear(),
            _ => {}
        }
    }
    (suites, cases)
}

/// raftd under partitions and pauses held for 2 s (long enough for the rest to elect a
/// new leader and a client to take the lock over), once correct and once with the bug
/// `no-fencing`, whose state machine accepts writes under any token: a client cut off
/// while holding the lock then gets a stale write through.
fn real_matrix(seed: u64) -> String {
    format!(
        r#"
systems = ["raftd"]
nemeses = ["partition,pause"]
seeds = [{seed}]
nodes = 3
runtime = "local"
time_limit = 16
nemesis_interval_ms = 3000
nemesis_duration_ms = 2000
recovery_secs = 2
concurrency = 5

[[include]]
system = "raftd"
nemesis = "partition,pause"
seed = {seed}
bugs = ["no-fencing"]
"#
    )
}

/// Seeds tried in turn. The bug needs a client to be cut off at the right moment; with
/// these settings on the local runtime it was caught in 11 of 13 runs over seeds 1 to 6
/// (4 of 5 with seed 1), so a miss — the whole matrix valid — moves on to
/// the next seed. Any other outcome is asserted on at once.
const REAL_SEEDS: [u64; 2] = [1, 4];

#[test]
fn a_real_matrix_finds_the_bug_and_reports_it_in_junit() {
    let mut attempt = None;
    for seed in REAL_SEEDS {
        let tmp = tempfile::tempdir().unwrap();
        let junit = tmp.path().join("junit.xml");
        let ran = matrix(
            tmp.path(),
            &real_matrix(seed),
            &["--parallel", "2", "--junit", junit.to_str().unwrap()],
        );
        if ran.code == 0 {
            eprintln!("seed {seed}: the bug was not caught this time; the next seed");
            continue;
        }
        attempt = Some((tmp, junit, ran, seed));
        break;
    }
    let (tmp, junit, ran, seed) = attempt.expect("the bug is caught with one of the seeds");
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file was written");
    let (suites, cases) = read_junit(&xml);
    assert_eq!(suites, 1, "{xml}");
    assert_eq!(cases.len(), 2, "{xml}");
    let (pass, fail) = (&cases[0], &cases[1]);
    assert_eq!(
        (pass.classname.as_str(), pass.name.as_str()),
        ("raftd", format!("partition,pause/seed={seed}").as_str())
    );
    assert_eq!(pass.outcome, "", "the correct raftd passes: {xml}");
    assert_eq!(
        fail.name,
        format!("partition,pause/seed={seed}/bug=no-fencing")
    );
    assert_eq!(fail.outcome, "failure", "{xml}");
    assert!(fail.message.contains("stale-token-accepted"), "{xml}");
    assert!(
        fail.body.contains("[violation] stale-token-accepted: ") && fail.body.contains("results: "),
        "{xml}"
    );
    // The summary table names both cells, and the index lists both runs.
    assert!(
        ran.stdout.contains("VIOLATION") && ran.stdout.contains("valid"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("2 cells: 1 valid, 1 violation"),
        "{}",
        ran.stdout
    );
    let results = tmp.path().join("results");
    let runs: Vec<PathBuf> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("results.json").is_file() && !p.is_symlink())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let index = std::fs::read_to_string(results.join("index.html")).unwrap();
    for run in &runs {
        let name = run.file_name().unwrap().to_str().unwrap();
        assert!(index.contains(name), "index.html lists {name}");
    }
    assert_eq!(
        std::fs::read_dir(results.join("matrix-logs"))
            .unwrap()
            .count(),
        2,
        "one log per cell"
    );
}
