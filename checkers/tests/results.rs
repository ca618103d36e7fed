//! The results document: its exact shape, and a round trip through results.json.

use checkers::{read_results, write_results, OpType, Role, Validity, F};

use crate::support::*;

#[test]
fn the_document_has_design_md_shape_and_round_trips() {
    let mut h = H::new();
    h.write(0, "w17", None, OpType::Ok);
    h.read_ids(1, Some("n1"), &[]);
    let r = h.check(STRICT);
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["checkers"]["lost-writes"]["valid"], false);
    assert_eq!(doc["checkers"]["election-safety"]["valid"], true);
    let a = &doc["anomalies"][0];
    for key in ["kind", "checker", "severity", "ops", "message"] {
        assert!(!a[key].is_null(), "anomaly lacks {key}: {a}");
    }
    assert_eq!(doc["counts"]["anomalies"]["lost-write"], 1);
    assert_eq!(doc["guarantees"]["fence_on_grant"], true);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    write_results(&path, &r).unwrap();
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("\n  \"valid\": false"));
    assert_eq!(read_results(&path).unwrap(), r);
}

#[test]
fn unknown_serializes_as_a_string() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.nemesis(F::Kill);
    let r = h.check(LAX);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(serde_json::to_value(&r).unwrap()["valid"], "unknown");
}

#[test]
fn a_document_without_a_verdict_keeps_what_was_found_and_says_why() {
    let mut h = H::new();
    h.write(0, "w17", None, OpType::Ok);
    h.read_ids(1, Some("n1"), &[]);
    let mut r = h.check(STRICT);
    let doc = serde_json::to_value(&r).unwrap();
    assert!(doc.get("reason").is_none() && doc.get("harness_error").is_none());
    r.without_verdict("the harness failed", Some("no leader within 60 s"));
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["valid"], "unknown");
    assert_eq!(doc["reason"], "the harness failed");
    assert_eq!(doc["harness_error"], "no leader within 60 s");
    assert_eq!(doc["counts"]["anomalies"]["lost-write"], 1);
    let back: checkers::CheckResult = serde_json::from_value(doc).unwrap();
    assert_eq!(back, r);
}

#[test]
fn the_reader_takes_the_fallback_document_older_runs_wrote() {
    // What a run stopped before its checkers wrote: no guarantees, no counts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(
        &path,
        r#"{"checkers": {}, "anomalies": [], "valid": "unknown", "reason": "interrupted"}"#,
    )
    .unwrap();
    let r = read_results(&path).unwrap();
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.reason.as_deref(), Some("interrupted"));
    assert_eq!(r.harness_error, None);
    assert!(r.anomalies.is_empty() && r.counts.anomalies.is_empty());
    // A document without a verdict is no results document.
    std::fs::write(&path, r#"{"checkers": {}}"#).unwrap();
    assert!(read_results(&path).is_err());
}

#[test]
fn an_empty_history_is_unknown_never_valid() {
    let r = H::new().check(STRICT);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(
        r.reason.as_deref(),
        Some("no client op completed ok: nothing was exercised")
    );
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["valid"], "unknown");
    assert_eq!(
        doc["reason"],
        "no client op completed ok: nothing was exercised"
    );
    assert_eq!(doc["exercised"]["client_ops_ok"], 0);
}

#[test]
fn a_history_of_nemesis_ops_or_failed_client_ops_only_is_unknown() {
    let mut h = H::new();
    h.nemesis(F::Partition);
    h.nemesis(F::Heal);
    let r = h.check(STRICT);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.reason.is_some());

    let mut h = H::new();
    h.write(0, "w1", None, OpType::Fail);
    h.write(1, "w2", None, OpType::Info);
    let r = h.check(STRICT);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(
        r.reason.as_deref(),
        Some("no client op completed ok: nothing was exercised")
    );
}

#[test]
fn checkers_that_saw_nothing_relevant_say_so() {
    let mut h = H::new();
    h.write(0, "w1", None, OpType::Ok);
    h.read_ids(1, None, &["w1"]);
    let r = h.check(STRICT);
    assert_eq!(r.valid, Validity::Valid);
    assert!(r.reason.is_none());
    let note = |c: &str| r.checkers[c].note.clone().unwrap_or_default();
    assert!(note("election-safety").contains("no ok status reported a leader"));
    assert!(note("concurrent-leaders").contains("no certain leadership"));
    assert!(note("concurrent-leaders").contains("no grant was acquired"));
    assert!(note("fencing").contains("no ok write carried a token and no grant was acquired"));
}

#[test]
fn exercised_counts_elections_leader_faults_stale_holders_writes_and_final_reads() {
    let mut h = H::new();
    h.status(100, "n1", Role::Leader, 1);
    // A pause of the leader, and a partition cutting it off, both undone.
    h.nemesis_as(F::Pause, Some(nodes(&["n1"])), OpType::Ok);
    h.nemesis_as(F::Resume, Some(nodes(&["n1"])), OpType::Ok);
    h.status(100, "n2", Role::Leader, 2);
    let cut = checkers::Value {
        groups: Some(vec![
            vec!["n1".into(), "n3".into(), "n4".into()],
            vec!["n2".into(), "n5".into()],
        ]),
        ..checkers::Value::default()
    };
    h.nemesis_as(F::Partition, Some(cut), OpType::Ok);
    h.nemesis(F::Heal);
    // A pause of a follower is not aimed at the leader.
    h.nemesis_as(F::Pause, Some(nodes(&["n4"])), OpType::Ok);
    h.nemesis_as(F::Resume, Some(nodes(&["n4"])), OpType::Ok);
    // A packet fault on the leader's links is; one on a follower's is not.
    let links = |targets: &[&str], l: &[[&str; 2]]| checkers::Value {
        nodes: Some(targets.iter().map(|s| s.to_string()).collect()),
        packet: Some(serde_json::json!({"kind": "delay", "delay_ms": 50, "jitter_ms": 0})),
        links: Some(
            l.iter()
                .map(|p| p.iter().map(|s| s.to_string()).collect())
                .collect(),
        ),
        ..checkers::Value::default()
    };
    h.nemesis_as(F::Packet, Some(links(&["n2"], &[["n3", "n2"]])), OpType::Ok);
    h.nemesis_as(F::PacketHeal, None, OpType::Ok);
    h.nemesis_as(F::Packet, Some(links(&["n3"], &[["n3", "n4"]])), OpType::Ok);
    h.nemesis_as(F::PacketHeal, None, OpType::Ok);
    // Process 0 holds token 5; process 1 is granted 6; 0 learns its grant lapsed and
    // still writes with 5, which is refused.
    h.acquire(0, 5);
    h.acquire(1, 6);
    h.holding(0, 5, false);
    let i = h.inv(0, F::Write, Some(write("w0.1", Some(5))));
    let mut d = checkers::OpDraft::ok(
        checkers::Process::Client(0),
        F::Write,
        Some(write("w0.1", Some(5))),
    );
    d.kind = OpType::Fail;
    d.error = Some("stale-token".into());
    h.op(d);
    let _ = i;
    h.write(1, "w1.1", Some(6), OpType::Ok);
    h.read_ids(2, None, &["w1.1"]);
    let r = h.check(STRICT);
    assert_eq!(r.valid, Validity::Valid, "{:#?}", r.anomalies);
    let e = r.exercised.clone().unwrap();
    assert_eq!(e.elections, 2);
    assert_eq!(e.leader_changes, 1);
    assert_eq!(e.faults_injected, 5);
    assert_eq!(e.leader_faults, 3);
    assert!(e.faults_ended);
    assert_eq!(e.stale_holders.holding_false, 1);
    assert_eq!(e.stale_holders.stale_token_refused, 1);
    assert_eq!(e.stale_holders.superseded_writes, 1);
    assert_eq!(e.writes_acknowledged, 1);
    assert_eq!(e.final_reads, 1);
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["exercised"]["stale_holders"]["stale_token_refused"], 1);
    assert_eq!(doc["exercised"]["leader_faults"], 3);
}
