//! The results document: its exact shape, and a round trip through results.json.

use checkers::{read_results, write_results, OpType, Validity, F};

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
