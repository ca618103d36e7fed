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
    let o = splitbrain(&["check", &good, "--model", "mutex"]);
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
