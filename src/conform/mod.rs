//! Conformance: whether running nodes serve the client protocol of docs/protocol.md.
//!
//! [`exercise`] calls every endpoint the [`Claims`] name, with valid and invalid
//! requests, and records one [`Check`] per expectation, passed or not, with the exact
//! request and answer that decided it. Leadership may move while it runs (a busy
//! machine, a slow node): every call meant for the leader finds the leader again on a
//! 421 and retries what certainly did not happen, and an uncertain answer (504, 500, a
//! timeout) is retried under fresh write ids and election names, so that only answers
//! the protocol forbids fail a check.

mod checks;
mod probe;

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::report::text::terminal;

/// A node under test: its name as the system names it (in `leader` fields and hints)
/// and where it serves the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Like `http://10.0.0.2:8080`, without a trailing slash.
    pub base_url: String,
}

/// What the system claims to serve (the system file's `[claims]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Serves `/acquire`, `/holding` and `/release`.
    pub locks: bool,
    /// Serves `GET /read?local=true`.
    pub read_local: bool,
    /// `/status` carries `vote`.
    pub vote: bool,
    pub fencing: workloads::FencingMode,
    /// Not exercised here: only faults show two leaders at once.
    pub exclusive_leadership: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The bound on one request, from sending it to the answer's last byte.
    pub request_timeout: Duration,
    /// How long a leader may take to emerge, and how long a call meant for the leader
    /// keeps retrying while leadership moves.
    pub leader_wait: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_timeout: Duration::from_millis(workloads::client::CLIENT_TIMEOUT_MS_DEFAULT),
            leader_wait: Duration::from_secs(30),
        }
    }
}

/// Every check run, passed or not, in the order they ran.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The endpoint the check is about (`/write`, `/read?local=true`, …).
    pub endpoint: String,
    /// What is expected, in a few words.
    pub name: String,
    pub passed: bool,
    /// What did not follow the protocol.
    pub problem: Option<String>,
    /// The request and answer that decided the check.
    pub exchange: Option<Exchange>,
}

/// One request and its answer, as sent and received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub node: String,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    /// `None`: no answer; `answer` then says why.
    pub status: Option<u16>,
    /// The answer's body, truncated to [`ANSWER_BYTES_MAX`].
    pub answer: Option<String>,
}

/// How much of an answer a report keeps.
pub const ANSWER_BYTES_MAX: usize = 2048;

pub use checks::exercise;
pub use probe::truncated;

impl Report {
    /// Whether every check passed (and at least one ran).
    pub fn conforms(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// Per endpoint, one line per check (`ok` / `FAIL`); under each failure the problem,
    /// the request and the answer. Everything that came from the system is escaped for
    /// a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut endpoints: Vec<&str> = Vec::new();
        for c in &self.checks {
            if !endpoints.contains(&c.endpoint.as_str()) {
                endpoints.push(&c.endpoint);
            }
        }
        for endpoint in endpoints {
            let _ = writeln!(out, "{}", terminal(endpoint));
            for c in self.checks.iter().filter(|c| c.endpoint == endpoint) {
                let mark = if c.passed { "ok  " } else { "FAIL" };
                let _ = writeln!(out, "  {mark}  {}", terminal(&c.name));
                if c.passed {
                    continue;
                }
                if let Some(problem) = &c.problem {
                    let _ = writeln!(out, "          problem: {}", terminal(problem));
                }
                if let Some(ex) = &c.exchange {
                    let _ = writeln!(
                        out,
                        "          request: {} {} on {}",
                        terminal(&ex.method),
                        terminal(&ex.path),
                        terminal(&ex.node)
                    );
                    if let Some(body) = &ex.body {
                        let _ = writeln!(out, "                   {}", terminal(body));
                    }
                    let answer = ex.answer.as_deref().unwrap_or("");
                    match ex.status {
                        Some(status) => {
                            let _ =
                                writeln!(out, "          answer:  {status} {}", terminal(answer));
                        }
                        None => {
                            let _ = writeln!(out, "          answer:  none ({})", terminal(answer));
                        }
                    }
                }
            }
        }
        let failed = self.failures().count();
        let verdict = if self.conforms() {
            "conforms"
        } else {
            "does not conform"
        };
        let _ = writeln!(
            out,
            "{verdict}: {} checks, {failed} failed",
            self.checks.len()
        );
        out
    }

    /// `{"conforms": bool, "checks": [{endpoint, name, passed, problem, exchange}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "conforms": self.conforms(),
            "checks": serde_json::to_value(&self.checks).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(passed: bool, answer: &str) -> Check {
        Check {
            endpoint: "/holding".into(),
            name: "holding after release is false".into(),
            passed,
            problem: (!passed).then(|| "expected {\"holding\":false}".into()),
            exchange: Some(Exchange {
                node: "n1\x1b[2J".into(),
                method: "POST".into(),
                path: "/holding".into(),
                body: Some("{\"election\":\"e\",\"token\":3}".into()),
                status: Some(200),
                answer: Some(answer.into()),
            }),
        }
    }

    #[test]
    fn text_names_the_failure_and_carries_no_control_characters() {
        let report = Report {
            checks: vec![
                check(true, "{}"),
                check(false, "{\"holding\":true}\x1b]0;title\x07"),
            ],
        };
        assert!(!report.conforms());
        let text = report.to_text();
        assert!(
            text.contains("FAIL  holding after release is false"),
            "{text}"
        );
        assert!(
            text.contains("request: POST /holding on n1\\x1b[2J"),
            "{text}"
        );
        assert!(
            text.contains("answer:  200 {\"holding\":true}\\x1b]0;title\\x07"),
            "{text}"
        );
        assert!(
            text.ends_with("does not conform: 2 checks, 1 failed\n"),
            "{text}"
        );
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        let json = report.to_json();
        assert_eq!(json["conforms"], false);
        assert_eq!(json["checks"][1]["exchange"]["status"], 200);
    }

    #[test]
    fn an_empty_report_does_not_conform() {
        assert!(!Report::default().conforms());
        assert!(Report {
            checks: vec![check(true, "{}")]
        }
        .conforms());
    }
}
