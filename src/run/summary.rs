//! The summary printed at the end of a run: the verdict, each checker (with its note when
//! it could not tell), the anomalies in their own sentences, availability figures, what a
//! valid run exercised, where the results are and the command that reproduces the run. It reads `results.json`, so it says exactly what the file says.

use std::path::Path;

use checkers::{Anomaly, AnomalyKind, CheckResult, Severity, Validity};
use serde_json::Value;

use super::progress::Snapshot;
use crate::report::text;
use crate::spec::TestSpec;

/// At most this many violations are printed; results.json holds them all.
const ANOMALIES_SHOWN_MAX: usize = 20;
/// Ops named per violation; results.json has them all.
const OPS_SHOWN_MAX: usize = 8;
/// A figure the summary prints as it is is cut to this.
const FIGURE_CHARS_MAX: usize = 160;

pub fn print(spec: &TestSpec, dir: &Path, snap: Option<&Snapshot>) {
    let doc = checkers::read_results(&dir.join("results.json")).ok();
    // The verdict is the command's output: stdout, while progress and phases go to stderr.
    println!("{}", render(spec, dir, doc.as_ref(), snap));
}

pub fn render(
    spec: &TestSpec,
    dir: &Path,
    doc: Option<&CheckResult>,
    snap: Option<&Snapshot>,
) -> String {
    let mut out = Vec::new();
    out.push(String::new());
    out.push(format!("== {spec} =="));
    out.push(format!("verdict: {}", verdict_line(doc)));
    if let Some(doc) = doc {
        if let Some(e) = &doc.harness_error {
            out.push(format!("harness error (not a verdict on the system): {e}"));
        }
        let stopped = doc
            .reason
            .as_deref()
            .is_some_and(|r| r != checkers::checks::NOTHING_EXERCISED);
        if stopped && !doc.checkers.is_empty() {
            out.push("checkers, on the history recorded before the run stopped:".into());
        }
        for (name, result) in &doc.checkers {
            // A checker that could not tell says why; a valid one's note is in results.json.
            match (&result.note, result.valid) {
                (Some(note), Validity::Unknown) => {
                    out.push(format!("  {name:<20} {}: {note}", result.valid))
                }
                _ => out.push(format!("  {name:<20} {}", result.valid)),
            }
        }
        out.extend(anomaly_lines(doc));
        out.extend(availability_lines(doc));
        if doc.valid == Validity::Valid {
            out.extend(exercised_lines(doc));
        }
    }
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

fn verdict_line(doc: Option<&CheckResult>) -> String {
    let Some(doc) = doc else {
        return "UNKNOWN — no results.json".into();
    };
    match (doc.valid, &doc.reason) {
        (Validity::Valid, _) => "VALID — no violation of the claimed guarantees".into(),
        (Validity::Invalid, _) => "INVALID — violations found".into(),
        (Validity::Unknown, Some(r)) => format!("UNKNOWN — {r}"),
        (Validity::Unknown, None) => "UNKNOWN — a checker could not tell".into(),
    }
}

/// Violations one by one, each with its sentence; observations only counted per kind,
/// as a run can have dozens of them (a leaderless window per election) and each is in
/// results.json and on the timeline.
fn anomaly_lines(doc: &CheckResult) -> Vec<String> {
    let violations: Vec<&Anomaly> = doc.of_severity(Severity::Violation).collect();
    let observations = kind_counts(doc, doc.of_severity(Severity::Observation));
    let violations_total: u64 = kind_counts(doc, violations.iter().copied())
        .iter()
        .map(|(_, n)| n)
        .sum();
    let mut out = Vec::new();
    if violations_total == 0 {
        out.push("violations: none".to_string());
    } else {
        out.push(format!("violations: {violations_total}"));
    }
    for a in violations.iter().take(ANOMALIES_SHOWN_MAX) {
        out.push(format!(
            "  {} ({}): {}{}",
            a.kind,
            a.checker,
            a.message,
            ops_text(&a.ops)
        ));
    }
    let listed = violations.len().min(ANOMALIES_SHOWN_MAX) as u64;
    if violations_total > listed {
        out.push(format!(
            "  … and {} more in results.json",
            violations_total - listed
        ));
    }
    if !observations.is_empty() {
        let kinds: Vec<String> = observations
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        out.push(format!(
            "observations: {} (each in results.json and timeline.html)",
            kinds.join(", ")
        ));
    }
    out
}

/// `(kind, count)` for the kinds of `listed`, most frequent first. The count is the
/// checkers' own (`counts.anomalies`), which includes anomalies found but not listed.
fn kind_counts<'a>(
    doc: &CheckResult,
    listed: impl Iterator<Item = &'a Anomaly>,
) -> Vec<(AnomalyKind, u64)> {
    let mut kinds: Vec<(AnomalyKind, u64)> = Vec::new();
    for a in listed {
        match kinds.iter_mut().find(|(k, _)| *k == a.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((a.kind, 1)),
        }
    }
    for (kind, n) in &mut kinds {
        *n = (*n).max(doc.count(*kind));
    }
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    kinds
}

/// ` (ops 41, 42, 977)`, at most `OPS_SHOWN_MAX` of them.
fn ops_text(ops: &[u64]) -> String {
    if ops.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = ops.iter().take(OPS_SHOWN_MAX).map(u64::to_string).collect();
    let more = match ops.len().saturating_sub(OPS_SHOWN_MAX) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(" (ops {}{more})", shown.join(", "))
}

/// The availability checker's figures in sentences, op outcomes as a table; a figure this
/// summary does not know is printed as it is.
fn availability_lines(doc: &CheckResult) -> Vec<String> {
    let Some(fields) = doc
        .checkers
        .get("availability")
        .and_then(|c| c.figures.as_ref())
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(ops) = fields.get("ops").and_then(Value::as_object) {
        out.extend(ops_table(ops));
    }
    for (k, v) in fields {
        let line = match k.as_str() {
            "valid" | "anomalies" | "ops" => continue,
            "leadership" => leadership_line(v),
            "leaderless_windows" => leaderless_line(v),
            "failover_to_ok_write_ms" => failover_line("failover to an ok write", v),
            "failover_to_leader_ms" => failover_line("failover to a leader", v),
            _ => None,
        };
        out.push(line.unwrap_or_else(|| format!("{k}: {}", raw(v))));
    }
    out.extend(rpo_line(doc));
    let mut lines = vec!["availability:".to_string()];
    lines.extend(out.into_iter().map(|l| format!("  {l}")));
    lines
}

/// The recovery point from the lost-writes checker: acknowledged writes lost in all and
/// to the worst fault; nothing when no fault ran and nothing was lost.
fn rpo_line(doc: &CheckResult) -> Option<String> {
    let rpo = doc
        .checkers
        .get("lost-writes")
        .and_then(|c| c.figures.as_ref())
        .and_then(|f| f.get("rpo"))?;
    let n = |k: &str| rpo.get(k).and_then(Value::as_u64).unwrap_or(0);
    let faults = rpo
        .get("faults")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let lost = n("lost_acknowledged");
    if faults == 0 && lost == 0 {
        return None;
    }
    let before = match n("before_any_fault") {
        0 => String::new(),
        b => format!(", {b} before any fault"),
    };
    Some(format!(
        "recovery point: {lost} acknowledged writes lost, at most {} after one fault ({faults} faults){before}",
        n("max_per_fault")
    ))
}

/// What a valid run exercised, so that a user sees whether "valid" means anything.
fn exercised_lines(doc: &CheckResult) -> Vec<String> {
    let Some(e) = &doc.exercised else {
        return Vec::new();
    };
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let faults = if e.faults_injected == 0 {
        "faults injected: none".to_string()
    } else {
        let ended = if e.faults_ended {
            "every one undone"
        } else {
            "not every one undone"
        };
        format!(
            "faults injected: {}, {} aimed at the leader; {ended}",
            e.faults_injected, e.leader_faults
        )
    };
    let s = &e.stale_holders;
    vec![
        "exercised:".to_string(),
        format!(
            "  elections: {} ({}, {})",
            e.elections,
            plural(e.leader_changes, "leader change", "leader changes"),
            plural(e.terms, "term", "terms")
        ),
        format!("  {faults}"),
        format!(
            "  stale holders: {} answered not holding, {} refused stale-token, {} after a newer grant",
            plural(s.holding_false, "holder", "holders"),
            plural(s.stale_token_refused, "write", "writes"),
            plural(s.superseded_writes, "write", "writes"),
        ),
        format!("  writes acknowledged: {}", e.writes_acknowledged),
        format!("  final reads: {}", e.final_reads),
    ]
    .into_iter()
    .chain(
        (e.register_ops_ok > 0)
            .then(|| format!("  register ops ok: {}", e.register_ops_ok)),
    )
    .collect()
}

fn ops_table(ops: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut rows: Vec<(&String, [u64; 3])> = ops
        .iter()
        .map(|(f, o)| {
            let n = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
            (f, [n("ok"), n("fail"), n("info")])
        })
        .collect();
    // Client ops first, then the nemesis's, each in the order the history format lists them.
    let rank = |f: &str| {
        let f = f.strip_prefix("register-").unwrap_or(f);
        checkers::history::F::ALL
            .iter()
            .position(|x| x.name() == f)
            .unwrap_or(checkers::history::F::ALL.len())
    };
    rows.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    let name_width = rows
        .iter()
        .map(|(f, _)| f.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let count_width = rows
        .iter()
        .flat_map(|(_, c)| c.iter())
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = vec![format!(
        "ops {:<name_width$}  {:>count_width$}  {:>count_width$}  {:>count_width$}",
        "", "ok", "fail", "info"
    )];
    for (f, [ok, fail, info]) in rows {
        out.push(format!(
            "    {f:<name_width$}  {ok:>count_width$}  {fail:>count_width$}  {info:>count_width$}"
        ));
    }
    out
}

fn leadership_line(v: &Value) -> Option<String> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(format!(
        "leadership: {} terms, {} elections, {} leader changes",
        n("terms")?,
        n("elections")?,
        n("leader_changes")?
    ))
}

fn leaderless_line(v: &Value) -> Option<String> {
    let count = v.get("count").and_then(Value::as_u64)?;
    let ms = |k: &str| v.get(k).and_then(Value::as_f64);
    let open = match v.get("open_at_end").and_then(Value::as_bool) {
        Some(true) => ", the last still open at the end",
        _ => "",
    };
    Some(format!(
        "leaderless windows: {count}, {} in all, the longest {}{open}",
        duration_ms(ms("total_ms")?),
        duration_ms(ms("max_ms")?)
    ))
}

fn failover_line(what: &str, v: &Value) -> Option<String> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let (measured, never) = (n("measured")?, n("never").unwrap_or(0));
    let never = match never {
        0 => String::new(),
        n => format!(", {n} never"),
    };
    if measured == 0 {
        return Some(format!("{what}: none measured{never}"));
    }
    let ms = |k: &str| v.get(k).and_then(Value::as_f64).map(duration_ms);
    Some(format!(
        "{what}: p50 {}, p99 {}, max {} ({measured} measured{never})",
        ms("p50")?,
        ms("p99")?,
        ms("max")?
    ))
}

/// `0.25 ms`, `812 ms`, `2.26 s`.
fn duration_ms(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{:.2} s", ms / 1_000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// A figure as it is: text as text, anything else as compact JSON, cut to a line.
fn raw(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > FIGURE_CHARS_MAX {
        format!("{}…", &text[..text.floor_char_boundary(FIGURE_CHARS_MAX)])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RunArgs;

    fn spec() -> TestSpec {
        let args = RunArgs {
            system: Some("raftd".into()),
            nodes: Some(3),
            runtime: "auto".into(),
            nemesis: "partition".into(),
            time_limit_secs: 10,
            nemesis_interval_ms: Some(1000),
            nemesis_duration_ms: Some(500),
            rate_hz: 10.0,
            concurrency: 2,
            seed: Some(42),
            fencing: Some("grant".into()),
            system_options: Vec::new(),
            results: "results".into(),
            ..RunArgs::default()
        };
        TestSpec::from_args(&args).unwrap()
    }

    fn typed(doc: Value) -> CheckResult {
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn summary_names_verdict_anomalies_and_seed() {
        let spec = spec();
        let doc = serde_json::json!({
            "valid": false,
            "checkers": {"election-safety": {"valid": true}, "lost-writes": {"valid": false},
                         "availability": {"valid": true, "figures": {"failover_ms_p50": 812}}},
            "anomalies": [{"kind": "lost-write", "checker": "lost-writes", "severity": "violation",
                           "ops": [41, 42, 977], "message": "write w17 is missing"}]
        });
        let text = render(&spec, Path::new("results/x"), Some(&typed(doc)), None);
        assert!(text.contains("INVALID"), "{text}");
        assert!(text.contains("write w17 is missing"), "{text}");
        assert!(text.contains("failover_ms_p50: 812"), "{text}");
        assert!(text.contains("--seed 42"), "{text}");
    }

    #[test]
    fn figures_read_as_a_table_and_observations_fold_by_kind() {
        let window = |i: u64| {
            serde_json::json!({"kind": "leaderless-window", "checker": "availability",
                "severity": "observation", "ops": [i, i + 2],
                "message": format!("no observed node knew of a leader from op {i} to op {} (0.25 ms, 2 observations)", i + 2)})
        };
        let mut anomalies: Vec<Value> = (0..28).map(|i| window(10 * i)).collect();
        anomalies.insert(
            2,
            serde_json::json!({"kind": "stale-leader", "checker": "leaders",
            "severity": "violation", "ops": (100..120).collect::<Vec<u64>>(),
            "message": "n3 acted as leader of term 4 after n1 led term 5"}),
        );
        anomalies.push(
            serde_json::json!({"kind": "dual-leadership", "checker": "concurrent-leaders",
            "severity": "observation", "ops": [5, 6], "message": "n1 and n2 both acted as leader"}),
        );
        let doc = serde_json::json!({
            "valid": false,
            "checkers": {"availability": {"valid": true, "figures": {
                "ops": {"write": {"ok": 23, "fail": 31, "info": 15}, "acquire": {"ok": 8, "fail": 69, "info": 14},
                        "status": {"ok": 506, "fail": 0, "info": 0}, "partition": {"ok": 1, "fail": 0, "info": 0}},
                "leadership": {"terms": 9, "elections": 7, "leader_changes": 6},
                "leaderless_windows": {"count": 51, "total_ms": 7156.808, "max_ms": 5451.026, "open_at_end": false},
                "failover_to_ok_write_ms": {"measured": 1, "never": 0, "p50": 2261.05, "p99": 2261.05, "max": 2261.05},
                "faults": 1}},
                "lost-writes": {"valid": false, "figures": {"final_reads": 4, "rpo": {
                "lost_acknowledged": 57, "before_any_fault": 0, "max_per_fault": 41,
                "faults": [{"op": 100, "f": "partition", "lost": 41}, {"op": 900, "f": "partition", "lost": 16}]}}}},
            "anomalies": anomalies,
            "counts": {"ops": 1378, "anomalies": {"leaderless-window": 130, "stale-leader": 1, "dual-leadership": 1}}
        });
        let text = render(&spec(), Path::new("results/x"), Some(&typed(doc)), None);
        let lines: Vec<&str> = text.lines().collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
        };
        assert_eq!(lines[at("violations:")], "violations: 1");
        assert_eq!(
            lines[at("violations:") + 1],
            "  stale-leader (leaders): n3 acted as leader of term 4 after n1 led term 5 \
             (ops 100, 101, 102, 103, 104, 105, 106, 107 and 12 more)"
        );
        assert_eq!(
            lines[at("observations:")],
            "observations: 130 leaderless-window, 1 dual-leadership \
             (each in results.json and timeline.html)"
        );
        assert!(!text.contains("no observed node knew"), "{text}");
        assert_eq!(
            &lines[at("  ops")..at("  ops") + 5],
            [
                "  ops              ok  fail  info",
                "      status      506     0     0",
                "      acquire       8    69    14",
                "      write        23    31    15",
                "      partition     1     0     0",
            ]
        );
        assert!(
            text.contains("  leadership: 9 terms, 7 elections, 6 leader changes"),
            "{text}"
        );
        assert!(
            text.contains("  leaderless windows: 51, 7.16 s in all, the longest 5.45 s"),
            "{text}"
        );
        assert!(
            text.contains(
                "  failover to an ok write: p50 2.26 s, p99 2.26 s, max 2.26 s (1 measured)"
            ),
            "{text}"
        );
        assert!(text.contains("  faults: 1"), "{text}");
        assert!(
            text.contains(
                "  recovery point: 57 acknowledged writes lost, at most 41 after one fault (2 faults)"
            ),
            "{text}"
        );
        assert!(!text.contains('{') && !text.contains('…'), "{text}");
    }

    #[test]
    fn a_valid_run_says_what_it_exercised() {
        let doc = serde_json::json!({
            "valid": true,
            "checkers": {"lost-writes": {"valid": true, "figures": {"final_reads": 4}}},
            "exercised": {"client_ops_ok": 300, "terms": 4, "elections": 4, "leader_changes": 3,
                          "faults_injected": 3, "leader_faults": 2, "faults_ended": true,
                          "stale_holders": {"holding_false": 1, "stale_token_refused": 2, "superseded_writes": 0},
                          "writes_acknowledged": 120, "final_reads": 4}
        });
        let text = render(&spec(), Path::new("results/x"), Some(&typed(doc)), None);
        let at = text.find("exercised:").unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            &text[at..].lines().take(6).collect::<Vec<_>>(),
            &[
                "exercised:",
                "  elections: 4 (3 leader changes, 4 terms)",
                "  faults injected: 3, 2 aimed at the leader; every one undone",
                "  stale holders: 1 holder answered not holding, 2 writes refused stale-token, \
                 0 writes after a newer grant",
                "  writes acknowledged: 120",
                "  final reads: 4",
            ]
        );
    }

    #[test]
    fn an_unknown_run_says_why_and_which_checker_could_not_tell() {
        let doc = serde_json::json!({
            "valid": "unknown",
            "reason": "no client op completed ok: nothing was exercised",
            "checkers": {"lost-writes": {"valid": "unknown",
                "note": "no final read: the faults may not have ended (the partition at op 4 may still be in force: its heal at op 9 ended info)"}},
            "exercised": {"client_ops_ok": 0}
        });
        let text = render(&spec(), Path::new("results/x"), Some(&typed(doc)), None);
        assert!(
            text.contains("verdict: UNKNOWN — no client op completed ok: nothing was exercised"),
            "{text}"
        );
        assert!(
            text.contains(
                "  lost-writes          unknown: no final read: the faults may not have ended"
            ),
            "{text}"
        );
        assert!(!text.contains("exercised:"), "{text}");
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
        let text = render(&spec(), Path::new("results/x"), Some(&typed(doc)), None);
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
