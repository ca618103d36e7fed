//! The summary printed at the end of a run: the verdict, each checker, the anomalies in
//! their own sentences, availability figures, where the results are and the command that
//! reproduces the run. It reads `results.json`, so it says exactly what the file says.

use std::path::Path;

use serde_json::Value;

use super::progress::Snapshot;
use crate::report::text;
use crate::spec::TestSpec;

/// At most this many anomalies are printed; results.json holds them all.
const ANOMALIES_SHOWN_MAX: usize = 20;

pub fn print(spec: &TestSpec, dir: &Path, snap: Option<&Snapshot>) {
    let doc: Value = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    // The verdict is the command's output: stdout, while progress and phases go to stderr.
    println!("{}", render(spec, dir, &doc, snap));
}

pub fn render(spec: &TestSpec, dir: &Path, doc: &Value, snap: Option<&Snapshot>) -> String {
    let mut out = Vec::new();
    out.push(String::new());
    out.push(format!("== {spec} =="));
    out.push(format!("verdict: {}", verdict_line(doc)));
    if let Some(e) = doc.get("harness_error").and_then(Value::as_str) {
        out.push(format!("harness error (not a verdict on the system): {e}"));
    }
    if let Some(checkers) = doc.get("checkers").and_then(Value::as_object) {
        if doc.get("reason").is_some() && !checkers.is_empty() {
            out.push("checkers, on the history recorded before the run stopped:".into());
        }
        for (name, result) in checkers {
            out.push(format!("  {name:<20} {}", validity(result.get("valid"))));
        }
    }
    out.extend(anomaly_lines(doc));
    out.extend(availability_lines(doc));
    if let Some(s) = snap {
        out.push(format!(
            "client ops: {} ok, {} fail, {} info",
            s.ok, s.fail, s.info
        ));
    }
    out.push(format!("results: {}", dir.display()));
    out.push(format!("seed: {}", spec.seed));
    out.push(format!("reproduce: {}", spec.command_line()));
    // The seed redraws the schedule; replay also repeats which node each
    // leader-aimed fault hit.
    out.push(format!(
        "replay exactly: splitbrain replay {}",
        dir.display()
    ));
    // Node names, errors and messages come from the system under test: none of them may
    // move the cursor or rewrite a line, such as the verdict's.
    out.iter()
        .map(|line| text::terminal(line))
        .collect::<Vec<_>>()
        .join("\n")
}

fn validity(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::Bool(true)) => "valid",
        Some(Value::Bool(false)) => "INVALID",
        _ => "unknown",
    }
}

fn verdict_line(doc: &Value) -> String {
    let reason = doc.get("reason").and_then(Value::as_str);
    match (doc.get("valid"), reason) {
        (Some(Value::Bool(true)), _) => "VALID — no violation of the claimed guarantees".into(),
        (Some(Value::Bool(false)), _) => "INVALID — violations found".into(),
        (Some(_), Some(r)) => format!("UNKNOWN — {r}"),
        (Some(_), None) => "UNKNOWN — a checker could not tell".into(),
        (None, _) => "UNKNOWN — no results.json".into(),
    }
}

fn anomaly_lines(doc: &Value) -> Vec<String> {
    let Some(anomalies) = doc.get("anomalies").and_then(Value::as_array) else {
        return Vec::new();
    };
    if anomalies.is_empty() {
        return vec!["anomalies: none".into()];
    }
    let severity = |a: &Value| {
        a.get("severity")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let violations = anomalies
        .iter()
        .filter(|a| severity(a) == "violation")
        .count();
    let mut out = vec![format!(
        "anomalies: {violations} violation(s), {} observation(s)",
        anomalies.len() - violations
    )];
    // Violations first: they decide the verdict.
    let mut sorted: Vec<&Value> = anomalies.iter().collect();
    sorted.sort_by_key(|a| severity(a) != "violation");
    for a in sorted.iter().take(ANOMALIES_SHOWN_MAX) {
        let field = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        let ops = a.get("ops").map(|o| o.to_string()).unwrap_or_default();
        out.push(format!(
            "  [{}] {} ({}): {} ops {ops}",
            severity(a),
            field("kind"),
            field("checker"),
            field("message")
        ));
    }
    if anomalies.len() > ANOMALIES_SHOWN_MAX {
        out.push(format!(
            "  … and {} more in results.json",
            anomalies.len() - ANOMALIES_SHOWN_MAX
        ));
    }
    out
}

/// The availability checker's figures, whatever fields it has, one line each.
fn availability_lines(doc: &Value) -> Vec<String> {
    let Some(avail) = doc
        .get("checkers")
        .and_then(|c| c.get("availability"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let mut out = vec!["availability:".to_string()];
    // The figures may sit in a `figures` object or beside `valid`.
    let fields = avail
        .get("figures")
        .and_then(Value::as_object)
        .unwrap_or(avail);
    for (k, v) in fields {
        if k == "valid" || k == "anomalies" {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = if text.len() > 160 {
            format!("{}…", &text[..text.floor_char_boundary(160)])
        } else {
            text
        };
        out.push(format!("  {k}: {text}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RunArgs;

    fn spec() -> TestSpec {
        let args = RunArgs {
            system: "raftd".into(),
            nodes: 3,
            runtime: "auto".into(),
            nemesis: "partition".into(),
            time_limit_secs: 10,
            nemesis_interval_ms: 1000,
            nemesis_duration_ms: 500,
            rate_hz: 10.0,
            concurrency: 2,
            seed: Some(42),
            fencing: "grant".into(),
            results: "results".into(),
            ..RunArgs::default()
        };
        TestSpec::from_args(&args, &[]).unwrap()
    }

    #[test]
    fn summary_names_verdict_anomalies_and_seed() {
        let spec = spec();
        let doc = serde_json::json!({
            "valid": false,
            "checkers": {"election-safety": {"valid": true}, "lost-writes": {"valid": false},
                         "availability": {"valid": true, "failover_ms_p50": 812}},
            "anomalies": [{"kind": "lost-write", "checker": "lost-writes", "severity": "violation",
                           "ops": [41, 42, 977], "message": "write w17 is missing"}]
        });
        let text = render(&spec, Path::new("results/x"), &doc, None);
        assert!(text.contains("INVALID"), "{text}");
        assert!(text.contains("write w17 is missing"), "{text}");
        assert!(text.contains("failover_ms_p50: 812"), "{text}");
        assert!(text.contains("--seed 42"), "{text}");
    }

    #[test]
    fn text_from_the_system_cannot_drive_the_terminal() {
        // Erases the line, moves up and overwrites the verdict, then sets the title.
        let node = "n1\x1b[2K\x1b[1A\rverdict: VALID\u{9b}0m\x1b]0;ok\x07";
        let doc = serde_json::json!({
            "valid": false,
            "harness_error": format!("cannot reach {node}"),
            "checkers": {node: {"valid": false},
                         "availability": {"valid": true, "figures": {"note": node}}},
            "anomalies": [{"kind": "stale-leader", "checker": node, "severity": "violation",
                           "ops": [1, 2], "message": format!("{node} led in term 3")}]
        });
        let text = render(&spec(), Path::new("results/x"), &doc, None);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("n1\\x1b[2K\\x1b[1A\\rverdict: VALID\\u{9b}0m"),
            "{text}"
        );
        assert!(text.contains("INVALID"), "{text}");
    }
}
