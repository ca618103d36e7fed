//! `splitbrain check` end to end: the built binary on hand-written histories.

use std::path::Path;
use std::process::{Command, Output};

fn splitbrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(args)
        .output()
        .expect("run splitbrain")
}

fn write(dir: &Path, name: &str, lines: &[&str]) -> String {
    let path = dir.join(name);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const WRITE_AND_READ: [&str; 6] = [
    r#"{"index":0,"time":1000,"process":0,"type":"invoke","f":"write","node":"n2","value":{"id":"w17","token":5}}"#,
    r#"{"index":1,"time":2000,"process":0,"type":"ok","f":"write","node":"n2","value":{"id":"w17","token":5}}"#,
    r#"{"index":2,"time":3000,"process":0,"type":"invoke","f":"write","node":"n2","value":{"id":"w18","token":5}}"#,
    r#"{"index":3,"time":4000,"process":0,"type":"ok","f":"write","node":"n2","value":{"id":"w18","token":5}}"#,
    r#"{"index":4,"time":5000,"process":1,"type":"invoke","f":"read","node":"n1"}"#,
    r#"{"index":5,"time":6000,"process":1,"type":"ok","f":"read","node":"n1","value":{"ids":["w17","w18"]}}"#,
];

#[test]
fn a_valid_history_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "history.jsonl", &WRITE_AND_READ);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verdict: valid"), "{}", stdout(&o));
    assert!(stdout(&o).contains("lost-writes"), "{}", stdout(&o));
}

#[test]
fn a_lost_write_exits_1_and_cites_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = WRITE_AND_READ.to_vec();
    lines[5] = r#"{"index":5,"time":6000,"process":1,"type":"ok","f":"read","node":"n1","value":{"ids":["w18"]}}"#;
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("verdict: INVALID"), "{out}");
    assert!(
        out.contains("write w17 acknowledged at op 1 is missing from the final read of n1 at op 5"),
        "{out}"
    );
    assert!(
        out.contains(lines[1]) && out.contains(lines[5]),
        "cited lines missing: {out}"
    );

    let o = splitbrain(&["check", "--json", &path]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["checkers"]["lost-writes"]["valid"], false);
    assert_eq!(doc["checkers"]["election-safety"]["valid"], true);
    let a = &doc["anomalies"][0];
    assert_eq!(a["kind"], "lost-write");
    assert_eq!(a["checker"], "lost-writes");
    assert_eq!(a["severity"], "violation");
    assert_eq!(a["ops"], serde_json::json!([0, 1, 5]));
}

const DUAL_LEADERS: [&str; 8] = [
    r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"status","node":"n1"}"#,
    r#"{"index":1,"time":2,"process":0,"type":"ok","f":"status","node":"n1","value":{"role":"leader","term":1,"leader":"n1"}}"#,
    r#"{"index":2,"time":3,"process":1,"type":"invoke","f":"status","node":"n2"}"#,
    r#"{"index":3,"time":4,"process":1,"type":"ok","f":"status","node":"n2","value":{"role":"leader","term":2,"leader":"n2"}}"#,
    r#"{"index":4,"time":5,"process":0,"type":"invoke","f":"status","node":"n1"}"#,
    r#"{"index":5,"time":6,"process":0,"type":"ok","f":"status","node":"n1","value":{"role":"leader","term":1,"leader":"n1"}}"#,
    r#"{"index":6,"time":7,"process":1,"type":"invoke","f":"status","node":"n2"}"#,
    r#"{"index":7,"time":8,"process":1,"type":"ok","f":"status","node":"n2","value":{"role":"leader","term":2,"leader":"n2"}}"#,
];

#[test]
fn a_results_directory_takes_its_guarantees_from_test_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "history.jsonl", &DUAL_LEADERS);
    let d = dir.path().to_string_lossy().into_owned();
    // Without test.json: no guarantee claimed, dual leadership is an observation.
    let o = splitbrain(&["check", &d]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("no test.json"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("observation dual-leadership"),
        "{}",
        stdout(&o)
    );
    // The flag claims it.
    let o = splitbrain(&["check", "--exclusive-leadership", &d]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // So does test.json.
    let test = r#"{"seed":1,"guarantees":{"exclusive_leadership":true,"fence_on_grant":false}}"#;
    std::fs::write(dir.path().join("test.json"), test).unwrap();
    let o = splitbrain(&["check", &d]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("VIOLATION dual-leadership"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn no_final_read_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = WRITE_AND_READ[..4].to_vec();
    lines.push(r#"{"index":4,"time":5000,"process":"nemesis","type":"invoke","f":"kill","value":{"nodes":["n1"]}}"#);
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verdict: unknown"), "{}", stdout(&o));
}

fn malformed(last: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = WRITE_AND_READ[..4].to_vec();
    lines.push(last);
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    for e in expect {
        assert!(stderr(&o).contains(e), "expected {e:?} in {}", stderr(&o));
    }
}

#[test]
fn malformed_input_exits_2_naming_the_line() {
    malformed(
        r#"{"index":4,"time":5000,"process":1,"type":"inv"#,
        &["line 5", "truncated"],
    );
    malformed(
        r#"{"index":4,"time":"later","process":1,"type":"invoke","f":"read"}"#,
        &["line 5", "field `time`"],
    );
    malformed(
        r#"{"index":4,"time":5000,"process":1,"type":"perhaps","f":"read"}"#,
        &["line 5", "field `type`", "perhaps"],
    );
    malformed(
        r#"{"index":9,"time":5000,"process":1,"type":"invoke","f":"read"}"#,
        &["line 5", "index", "expected 4"],
    );
    malformed(
        r#"{"index":4,"time":5000,"process":1,"type":"invoke","f":"fly"}"#,
        &["line 5", "field `f`"],
    );
}

#[test]
fn a_missing_path_exits_2() {
    let o = splitbrain(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_explains_flags_and_every_anomaly_kind() {
    let o = splitbrain(&["check", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for word in [
        "--exclusive-leadership",
        "--fence-on-grant",
        "--json",
        "Exit codes",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    for kind in checkers::AnomalyKind::ALL {
        assert!(text.contains(kind.name()), "--help lacks {kind}: {text}");
    }
}

/// A register history: process 0 writes 1 to x; process 1 then reads x.
fn register(read_value: &str) -> Vec<String> {
    vec![
        r#"{"index":0,"time":1000,"process":0,"type":"invoke","f":"write","value":{"key":"x","value":1}}"#.to_string(),
        r#"{"index":1,"time":2000,"process":0,"type":"ok","f":"write","value":{"key":"x","value":1}}"#.to_string(),
        r#"{"index":2,"time":3000,"process":1,"type":"invoke","f":"read","value":{"key":"x"}}"#.to_string(),
        format!(r#"{{"index":3,"time":4000,"process":1,"type":"ok","f":"read","value":{{"key":"x","value":{read_value}}}}}"#),
    ]
}

#[test]
fn a_register_history_is_checked_against_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let lines = register("1");
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let good = write(dir.path(), "good.jsonl", &lines);
    let o = splitbrain(&["check", &good, "--model", "cas-register"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("VALID"), "{}", stdout(&o));

    // The read misses a write that completed before it began.
    let lines = register("null");
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let stale = write(dir.path(), "stale.jsonl", &lines);
    let o = splitbrain(&["check", &stale, "--model", "cas-register"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("key x: not linearizable") && stdout(&o).contains("ops 0, 2"),
        "{}",
        stdout(&o)
    );
    let o = splitbrain(&["check", &stale, "--model", "cas-register", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["valid"], false, "as results.json spells a verdict");
    assert_eq!(doc["keys"][0]["counterexample"], serde_json::json!([0, 2]));

    // The election history holds no register op: nothing is proven.
    let election = write(dir.path(), "election.jsonl", &WRITE_AND_READ);
    let o = splitbrain(&["check", &election, "--model", "kv"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));

    // A value of the wrong type is bad input, named by op and field.
    let lines = register(r#""one""#);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let bad = write(dir.path(), "bad.jsonl", &lines);
    let o = splitbrain(&["check", &bad, "--model", "cas-register"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("op 3") && stderr(&o).contains("value.value"),
        "{}",
        stderr(&o)
    );
    // The register history holds no lock op: nothing is proven.
    let o = splitbrain(&["check", &good, "--model", "mutex"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

/// An acquire, holding, fenced write and release of one grant (`TOKEN`), by process 0.
fn lock_cycle(first: u64, process: u64, token: u64, holding: bool) -> Vec<String> {
    let t = |i: u64| 1000 * (first + i + 1);
    let p = process;
    vec![
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"invoke","f":"acquire","node":"n1","value":{{"election":"e1"}}}}"#,
            first,
            t(0)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"acquire","node":"n1","value":{{"token":{token}}}}}"#,
            first + 1,
            t(1)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"invoke","f":"holding","node":"n1","value":{{"election":"e1","token":{token}}}}}"#,
            first + 2,
            t(2)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"holding","node":"n1","value":{{"election":"e1","token":{token},"holding":{holding}}}}}"#,
            first + 3,
            t(3)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"invoke","f":"write","node":"n1","value":{{"token":{token},"id":"w{p}.{first}"}}}}"#,
            first + 4,
            t(4)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"write","node":"n1","value":{{"token":{token},"id":"w{p}.{first}"}}}}"#,
            first + 5,
            t(5)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"invoke","f":"release","node":"n1","value":{{"election":"e1","token":{token}}}}}"#,
            first + 6,
            t(6)
        ),
        format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"release","node":"n1","value":{{"election":"e1","token":{token}}}}}"#,
            first + 7,
            t(7)
        ),
    ]
}

#[test]
fn lock_ops_are_checked_against_the_mutex_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = lock_cycle(0, 0, 3, true);
    lines.extend(lock_cycle(8, 1, 11, true));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let clean = write(dir.path(), "clean.jsonl", &lines);
    let o = splitbrain(&["check", &clean, "--model", "mutex"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("model: mutex, 1 keys"),
        "{}",
        stdout(&o)
    );

    // Process 1 takes grant 11 while process 0 still reads grant 3 as holding.
    let first = lock_cycle(0, 0, 3, true);
    let second = lock_cycle(8, 1, 11, true);
    let mut lines: Vec<String> = first[..2].to_vec();
    lines.extend(second[..2].iter().cloned());
    // Renumber: the second acquire at indices 2 and 3, then process 0's holding.
    let mut twice: Vec<String> = Vec::new();
    for (i, l) in lines.iter().chain(first[2..4].iter()).enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let mut v = v.as_object().unwrap().clone();
        v.insert("index".into(), i.into());
        v.insert("time".into(), (1000 * (i + 1)).into());
        twice.push(serde_json::to_string(&v).unwrap());
    }
    let twice: Vec<&str> = twice.iter().map(String::as_str).collect();
    let held_twice = write(dir.path(), "twice.jsonl", &twice);
    let o = splitbrain(&["check", &held_twice, "--model", "mutex"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("key e1: not linearizable") && stdout(&o).contains("ops 2, 4"),
        "{}",
        stdout(&o)
    );

    // A grant that lapsed may read not holding; a write accepted under it afterwards
    // counts against it only when the store fences on grant.
    let lapsed = lock_cycle(0, 0, 3, false);
    let lapsed: Vec<&str> = lapsed[..6].iter().map(String::as_str).collect();
    let lapsed = write(dir.path(), "lapsed.jsonl", &lapsed);
    let o = splitbrain(&["check", &lapsed, "--model", "mutex"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = splitbrain(&["check", &lapsed, "--model", "mutex", "--fence-on-grant"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
}

/// Renumbers lines taken from several lock cycles into one history, in the order given.
fn renumbered(lines: &[&String]) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["index"] = i.into();
            v["time"] = (1000 * (i + 1)).into();
            serde_json::to_string(&v).unwrap()
        })
        .collect()
}

#[test]
fn fenced_writes_are_checked_against_the_rule_the_store_claims() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (lock_cycle(0, 0, 3, true), lock_cycle(8, 1, 11, true));
    // Grant 3, grant 11, then a write under 3 accepted.
    let stale = renumbered(&[&old[0], &old[1], &new[0], &new[1], &old[4], &old[5]]);
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    let stale = write(dir.path(), "stale.jsonl", &stale);
    let o = splitbrain(&[
        "check",
        &stale,
        "--model",
        "fenced-register",
        "--fence-on-grant",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("key e1: not linearizable"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("rule: fence-on-grant"),
        "{}",
        stdout(&o)
    );
    // Monotonic fencing lets it in: no write under 11 came first.
    let o = splitbrain(&["check", &stale, "--model", "fenced-register"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // After a write under 11, one under 3 breaks the monotonic rule too.
    let later = renumbered(&[
        &old[0], &old[1], &new[0], &new[1], &new[4], &new[5], &old[4], &old[5],
    ]);
    let later: Vec<&str> = later.iter().map(String::as_str).collect();
    let later = write(dir.path(), "later.jsonl", &later);
    let o = splitbrain(&["check", &later, "--model", "fenced-register", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["model"], "fenced-register");
    assert!(
        doc["note"].as_str().unwrap().contains("fencing write"),
        "{doc}"
    );
    // Two clean cycles are valid under either rule.
    let clean: Vec<String> = old.iter().chain(new.iter()).cloned().collect();
    let clean: Vec<&str> = clean.iter().map(String::as_str).collect();
    let clean = write(dir.path(), "clean.jsonl", &clean);
    for extra in [None, Some("--fence-on-grant")] {
        let mut args = vec!["check", clean.as_str(), "--model", "fenced-register"];
        args.extend(extra);
        let o = splitbrain(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{extra:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

#[test]
fn several_histories_get_a_verdict_each_and_the_worst_exit() {
    let dir = tempfile::tempdir().unwrap();
    let good = register("1");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let good = write(dir.path(), "good.jsonl", &good);
    let stale = register("null");
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    let stale = write(dir.path(), "stale.jsonl", &stale);
    let empty = write(
        dir.path(),
        "status.jsonl",
        &[
            r#"{"index":0,"time":1000,"process":1000000,"type":"invoke","f":"status","node":"n1","value":null}"#,
            r#"{"index":1,"time":2000,"process":1000000,"type":"ok","f":"status","node":"n1","value":{"role":"leader","term":2,"leader":"n1"}}"#,
        ],
    );
    let missing = dir
        .path()
        .join("missing.jsonl")
        .to_string_lossy()
        .into_owned();

    let o = splitbrain(&["check", &good, &empty, "--model", "cas-register"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "unknown beats valid: {}",
        stdout(&o)
    );
    let o = splitbrain(&["check", &empty, &stale, &good, "--model", "cas-register"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "violations beat unknown: {}",
        stdout(&o)
    );
    let out = stdout(&o);
    assert!(out.contains("3 histories:"), "{out}");
    assert!(
        out.contains("  1  INVALID    ") && out.contains("stale.jsonl"),
        "{out}"
    );

    // A missing file is bad input, but the others are still checked and reported.
    let o = splitbrain(&[
        "check",
        &stale,
        &missing,
        &good,
        "--model",
        "cas-register",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.jsonl"), "{}", stderr(&o));
    let docs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let exits: Vec<i64> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["exit"].as_i64().unwrap())
        .collect();
    assert_eq!(exits, [1, 2, 0]);
    assert_eq!(
        docs[0]["result"]["keys"][0]["counterexample"],
        serde_json::json!([0, 2])
    );
    assert!(docs[1]["error"].as_str().unwrap().contains("missing.jsonl"));
    assert_eq!(docs[2]["result"]["valid"], true);

    // The election rules too.
    let o = splitbrain(&["check", &empty, &empty]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).matches("verdict: valid").count(),
        2,
        "{}",
        stdout(&o)
    );
}

const JEPSEN_WRITE_THEN_READ: &str = "\
{:type :invoke, :f :write, :value 1, :process 0, :time 100, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 200, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 250, :index 2}
{:type :invoke, :f :read, :value nil, :process 1, :time 300, :index 3}
{:type :ok, :f :read, :value READ, :process 1, :time 400, :index 4}
{:type :invoke, :f :cas, :value [1 3], :process 2, :time 500, :index 5}
{:type :fail, :f :cas, :value [1 3], :process 2, :time 600, :index 6}
";

#[test]
fn a_jepsen_history_is_read_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let good = JEPSEN_WRITE_THEN_READ.replace("READ", "1");
    let good = write(dir.path(), "good.edn", &[good.trim_end()]);
    let o = splitbrain(&["check", &good, "--format", "jepsen-edn"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("model: cas-register"), "{}", stdout(&o));

    let bad = JEPSEN_WRITE_THEN_READ.replace("READ", "2");
    let bad = write(dir.path(), "history.edn", &[bad.trim_end()]);
    let o = splitbrain(&[
        "check",
        &bad,
        "--format",
        "jepsen-edn",
        "--model",
        "cas-register",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("key 0: not linearizable"),
        "{}",
        stdout(&o)
    );
    let o = splitbrain(&["check", &bad, "--format", "jepsen-edn", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["keys"][0]["counterexample"], serde_json::json!([3]));

    let broken = JEPSEN_WRITE_THEN_READ.replace("READ", ":two");
    let broken = write(dir.path(), "broken.edn", &[broken.trim_end()]);
    let o = splitbrain(&["check", &broken, "--format", "jepsen-edn"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 5 (op 4)"), "{}", stderr(&o));

    let o = splitbrain(&["check", &good, "--format", "jepsen-edn", "--model", "kv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn an_empty_history_or_one_of_nemesis_ops_only_exits_3_saying_nothing_was_exercised() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let nemesis = write(
        dir.path(),
        "nemesis.jsonl",
        &[
            r#"{"index":0,"time":1000,"process":"nemesis","type":"invoke","f":"partition","value":{"groups":[["n1","n2"],["n3"]]}}"#,
            r#"{"index":1,"time":2000,"process":"nemesis","type":"ok","f":"partition","value":{"groups":[["n1","n2"],["n3"]]}}"#,
            r#"{"index":2,"time":3000,"process":"nemesis","type":"invoke","f":"heal","value":null}"#,
            r#"{"index":3,"time":4000,"process":"nemesis","type":"ok","f":"heal","value":null}"#,
        ],
    );
    for path in [empty.to_string_lossy().into_owned(), nemesis] {
        let o = splitbrain(&["check", &path]);
        assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o)
                .contains("verdict: unknown (no client op completed ok: nothing was exercised)"),
            "{}",
            stdout(&o)
        );
        let o = splitbrain(&["check", "--json", &path]);
        assert_eq!(o.status.code(), Some(3));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(doc["valid"], "unknown");
        assert_eq!(
            doc["reason"],
            "no client op completed ok: nothing was exercised"
        );
        assert_eq!(doc["exercised"]["client_ops_ok"], 0);
    }
}

#[test]
fn a_read_after_a_heal_that_ended_info_is_no_final_read_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = WRITE_AND_READ[..4].to_vec();
    lines.extend([
        r#"{"index":4,"time":4500,"process":"nemesis","type":"invoke","f":"partition","value":{"groups":[["n1","n2"],["n3"]]}}"#,
        r#"{"index":5,"time":4600,"process":"nemesis","type":"ok","f":"partition","value":{"groups":[["n1","n2"],["n3"]]}}"#,
        r#"{"index":6,"time":4700,"process":"nemesis","type":"invoke","f":"heal","value":null}"#,
        r#"{"index":7,"time":4800,"process":"nemesis","type":"info","f":"heal","value":null,"error":"timeout after 60000 ms"}"#,
        r#"{"index":8,"time":5000,"process":1,"type":"invoke","f":"read","node":"n3"}"#,
        r#"{"index":9,"time":6000,"process":1,"type":"ok","f":"read","node":"n3","value":{"ids":["w18"]}}"#,
    ]);
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{}", stderr(&o));
    assert!(!out.contains("VIOLATION"), "{out}");
    assert!(
        out.contains("the partition at op 4 may still be in force: its heal at op 6 ended info"),
        "{out}"
    );
    // The same history with the heal ended ok: the read is final and w17 is lost.
    lines[7] = r#"{"index":7,"time":4800,"process":"nemesis","type":"ok","f":"heal","value":null}"#;
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("VIOLATION lost-write"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn text_from_the_history_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A lost write whose id and node carry a CSI (U+009B) and a right-to-left override.
    let lines: Vec<String> = WRITE_AND_READ
        .iter()
        .map(|l| {
            l.replace("w17", "w17\u{9b}2J")
                .replace("\"n1\"", "\"n1\u{202e}x\"")
        })
        .collect();
    let mut lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let last = lines[5].replace("\"w17\u{9b}2J\",", "");
    lines[5] = &last;
    let path = write(dir.path(), "history.jsonl", &lines);
    let o = splitbrain(&["check", &path]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("w17\\u{9b}2J"), "{out}");
    assert!(out.contains("n1\\u{202e}x"), "{out}");
    assert!(
        !out.contains('\u{9b}') && !out.contains('\u{202e}'),
        "{out}"
    );
}

/// `splitbrain check … | head`: a reader that leaves early is no error, and the exit
/// code still says the verdict.
#[test]
fn a_reader_that_leaves_early_does_not_crash_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..300 {
        lines.push(format!(
            r#"{{"index":{},"time":{},"process":{i},"type":"invoke","f":"write","node":"n1","value":{{"token":null,"id":"w{i}.1"}}}}"#,
            2 * i,
            10 * (2 * i + 1)
        ));
        lines.push(format!(
            r#"{{"index":{},"time":{},"process":{i},"type":"ok","f":"write","node":"n1","value":{{"token":null,"id":"w{i}.1"}}}}"#,
            2 * i + 1,
            10 * (2 * i + 2)
        ));
    }
    lines.push(r#"{"index":600,"time":7000,"process":999,"type":"invoke","f":"read","node":"n1","value":null}"#.into());
    lines.push(r#"{"index":601,"time":7010,"process":999,"type":"ok","f":"read","node":"n1","value":{"ids":[]}}"#.into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let lost = write(dir.path(), "lost.jsonl", &lines);
    // Several copies, so that the JSON is larger than a pipe holds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["check", "--json"])
        .args(std::iter::repeat_n(&lost, 8))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
}

/// The search's budget is the user's: past it a key is unknown (exit 3) with the
/// reason, the same history valid within the default; a budget that is no number is
/// bad usage. A register history checked without --model gets its register-model too.
#[test]
fn the_model_budget_is_set_by_flags_and_past_it_a_key_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let lines = register("1");
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let good = write(dir.path(), "good.jsonl", &lines);
    let o = splitbrain(&[
        "check",
        &good,
        "--model",
        "cas-register",
        "--model-states",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("more than 1 states"), "{}", stdout(&o));
    let o = splitbrain(&["check", &good, "--model-states", "1", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        doc["checkers"]["register-model"]["valid"], "unknown",
        "{doc}"
    );
    let o = splitbrain(&["check", &good, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["checkers"]["register-model"]["valid"], true, "{doc}");
    let o = splitbrain(&["check", &good, "--model-secs", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--model-secs"), "{}", stderr(&o));
}
