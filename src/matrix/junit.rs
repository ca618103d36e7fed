//! JUnit XML for CI systems: one `<testsuite>` for the matrix (or its shard), one
//! `<testcase>` per cell (classname = system, name = nemesis/seed=N/…).
//!
//! A violation is a `<failure>` listing each anomaly (kind and sentence) and the results
//! directory. A cell with no verdict (unknown, or a cell that could not run) is an
//! `<error>` with the reason: CI then shows it red rather than passing it by, since no
//! verdict is not a pass, and keeps it apart from a found violation.

use std::fmt::Write as _;

use checkers::Severity;

use super::exec::{Outcome, Verdict};
use super::file::Cell;

/// Anomalies written out in full per failure; the rest are counted.
pub const FAILURE_ANOMALIES_MAX: usize = 50;

/// The document for `cells` and their outcomes (same order, same length).
pub fn render(suite: &str, timestamp: &str, cells: &[Cell], outcomes: &[Outcome]) -> String {
    assert_eq!(cells.len(), outcomes.len(), "one outcome per cell");
    let failures = count(outcomes, |v| matches!(v, Verdict::Violation));
    let errors = count(outcomes, |v| {
        matches!(v, Verdict::Unknown(_) | Verdict::Error(_))
    });
    let time: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let head = format!(
        "name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\"",
        escape(suite),
        cells.len()
    );
    let _ = writeln!(x, "<testsuites {head}>");
    let _ = writeln!(
        x,
        "  <testsuite {head} timestamp=\"{}\">",
        escape(timestamp)
    );
    for (cell, outcome) in cells.iter().zip(outcomes) {
        testcase(&mut x, cell, outcome);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn count(outcomes: &[Outcome], f: impl Fn(&Verdict) -> bool) -> usize {
    outcomes.iter().filter(|o| f(&o.verdict)).count()
}

fn testcase(x: &mut String, cell: &Cell, o: &Outcome) {
    let _ = writeln!(
        x,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
        escape(&cell.plan.system),
        escape(&cell.plan.name()),
        o.duration.as_secs_f64()
    );
    let results = o
        .results_dir
        .as_ref()
        .map_or("(none)".to_string(), |d| d.display().to_string());
    match &o.verdict {
        Verdict::Valid => {}
        Verdict::Violation => {
            let kinds: Vec<&str> = o
                .anomalies
                .iter()
                .filter(|a| a.severity == Severity::Violation)
                .map(|a| a.kind.name())
                .collect();
            let message = format!(
                "{} violation(s): {}; results: {results}",
                kinds.len(),
                kinds.join(", ")
            );
            let _ = writeln!(
                x,
                "      <failure type=\"violation\" message=\"{}\">{}</failure>",
                escape(&message),
                escape(&failure_body(o, &results))
            );
        }
        Verdict::Unknown(reason) | Verdict::Error(reason) => {
            let message = format!("{}: {reason}; results: {results}", o.verdict.label());
            let _ = writeln!(
                x,
                "      <error type=\"{}\" message=\"{}\">{}</error>",
                o.verdict.label(),
                escape(&message),
                escape(&failure_body(o, &results))
            );
        }
    }
    let _ = writeln!(
        x,
        "      <system-out>{}</system-out>",
        escape(&format!(
            "reproduce: {}\nresults: {results}\nlog: {}\n",
            cell.spec.command_line(),
            o.log.display()
        ))
    );
    x.push_str("    </testcase>\n");
}

/// Every anomaly as `[severity] kind: sentence`, then where to look.
fn failure_body(o: &Outcome, results: &str) -> String {
    let mut body = String::new();
    for a in o.anomalies.iter().take(FAILURE_ANOMALIES_MAX) {
        let _ = writeln!(body, "[{}] {}: {}", a.severity, a.kind, a.message);
    }
    if o.anomalies.len() > FAILURE_ANOMALIES_MAX {
        let _ = writeln!(
            body,
            "… and {} more in results.json",
            o.anomalies.len() - FAILURE_ANOMALIES_MAX
        );
    }
    let _ = write!(body, "results: {results}\nlog: {}", o.log.display());
    body
}

/// Text fit for an attribute or element: the five markup characters escaped, and
/// characters XML 1.0 cannot hold at all (most controls) replaced.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use quick_xml::events::Event;
    use quick_xml::reader::Reader;
    use quick_xml::XmlVersion;

    use super::*;
    use checkers::{Anomaly, AnomalyKind, Severity};

    /// An element's name and its attributes, unescaped.
    type Element = (String, Vec<(String, String)>);

    /// Every element, and all text, in document order.
    fn read(xml: &str) -> (Vec<Element>, String) {
        let mut reader = Reader::from_str(xml);
        let (mut elements, mut text) = (Vec::new(), String::new());
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.expect("well-formed attribute");
                            let key = a.key.as_ref().to_string();
                            (
                                key,
                                a.normalized_value(XmlVersion::Implicit1_0)
                                    .unwrap()
                                    .into_owned(),
                            )
                        })
                        .collect();
                    elements.push((e.name().as_ref().to_string(), attrs));
                }
                Event::Text(t) => text.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
                Event::GeneralRef(r) => text.push(match &*r.xml10_content() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => panic!("unexpected entity &{other};"),
                }),
                _ => {}
            }
        }
        (elements, text)
    }

    fn outcome(verdict: Verdict, anomalies: Vec<Anomaly>) -> Outcome {
        Outcome {
            verdict,
            anomalies,
            duration: Duration::from_millis(1500),
            results_dir: Some(PathBuf::from("results/a&b")),
            log: PathBuf::from("results/matrix-logs/cell-001.log"),
        }
    }

    #[test]
    fn markup_in_messages_stays_text_and_each_verdict_has_its_element() {
        let cells = super::super::file::parse(
            "systems = [\"raftd\"]\nnemeses = [\"pause\", \"kill\", \"clock\"]\nseeds = [1]",
            None,
        )
        .unwrap()
        .cells;
        let weird = "token <7> & \"quoted\" 'x' \u{1} end";
        let outcomes = vec![
            outcome(Verdict::Valid, vec![]),
            outcome(
                Verdict::Violation,
                vec![Anomaly {
                    kind: AnomalyKind::StaleTokenAccepted,
                    checker: "fencing".into(),
                    severity: Severity::Violation,
                    ops: vec![3, 4],
                    message: weird.into(),
                    linearizable_through: None,
                }],
            ),
            outcome(Verdict::Unknown("interrupted <SIGTERM>".into()), vec![]),
        ];
        let xml = render("suite & co", "2026-11-22T10:00:00Z", &cells, &outcomes);
        let (elements, text) = read(&xml);
        let names: Vec<&str> = elements.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.iter().filter(|n| **n == "testsuite").count(), 1);
        assert_eq!(names.iter().filter(|n| **n == "testcase").count(), 3);
        assert_eq!(names.iter().filter(|n| **n == "failure").count(), 1);
        assert_eq!(names.iter().filter(|n| **n == "error").count(), 1);
        let attr = |el: &str, key: &str| {
            elements
                .iter()
                .find(|(n, _)| n == el)
                .and_then(|(_, a)| a.iter().find(|(k, _)| k == key))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(attr("testsuite", "name"), "suite & co");
        assert_eq!(attr("testsuite", "failures"), "1");
        assert_eq!(attr("testsuite", "errors"), "1");
        assert_eq!(attr("testcase", "classname"), "raftd");
        assert_eq!(attr("testcase", "name"), "pause/seed=1");
        assert!(attr("failure", "message").contains("stale-token-accepted"));
        assert!(attr("failure", "message").contains("results/a&b"));
        assert!(attr("error", "message").contains("interrupted <SIGTERM>"));
        assert!(
            text.contains("stale-token-accepted: token <7> & \"quoted\" 'x' \u{FFFD} end"),
            "{text}"
        );
    }
}
