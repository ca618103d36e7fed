//! Requests to the nodes, each kept as an [`Exchange`], and the leader as last seen.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::{Exchange, Node, Settings, ANSWER_BYTES_MAX};

/// How often a node's status is asked again while waiting for a condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The pause before retrying an answer that said "not now" (503).
const BUSY_RETRY: Duration = Duration::from_millis(100);
/// The longest a connect may take before it counts as a failure to connect.
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_millis(1000);

/// An answer, its body read.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON, when it is JSON.
    pub json: Option<Value>,
}

/// Why there was no answer.
#[derive(Clone, Debug)]
pub struct NoAnswer {
    /// Nothing was sent (connect refused or timed out): certainly did not happen.
    pub connect: bool,
}

pub type Outcome = Result<Answer, NoAnswer>;

/// A node's `/status` as far as the leader search needs it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub role: String,
    pub term: u64,
    pub leader: Option<String>,
}

pub struct Probe<'a> {
    pub nodes: &'a [Node],
    pub settings: &'a Settings,
    http: reqwest::Client,
    /// The node last found leading.
    leader: Option<usize>,
    /// What every status answer showed, for the checks across them.
    pub history: StatusHistory,
}

/// Across every status answer of a run: who led which term, and each node's last term.
#[derive(Default)]
pub struct StatusHistory {
    /// Per term, the first node seen leading it and that answer.
    leaders: std::collections::BTreeMap<u64, (usize, Exchange)>,
    /// Per node, the last term seen and that answer.
    terms: std::collections::BTreeMap<usize, (u64, Exchange)>,
    /// The first two answers of different nodes leading one term.
    pub same_term: Option<(Exchange, Exchange)>,
    /// The first two answers of one node whose term went down.
    pub term_decreased: Option<(Exchange, Exchange)>,
    /// How many status answers were read.
    pub seen: usize,
}

impl StatusHistory {
    pub fn observe(&mut self, node: usize, exchange: &Exchange, seen: &Seen) {
        self.seen += 1;
        if seen.role == "leader" {
            match self.leaders.get(&seen.term) {
                Some((other, first)) if *other != node => {
                    self.same_term
                        .get_or_insert_with(|| (first.clone(), exchange.clone()));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(seen.term, (node, exchange.clone()));
                }
            }
        }
        if let Some((last, before)) = self.terms.get(&node) {
            if seen.term < *last {
                self.term_decreased
                    .get_or_insert_with(|| (before.clone(), exchange.clone()));
            }
        }
        self.terms.insert(node, (seen.term, exchange.clone()));
    }
}

impl<'a> Probe<'a> {
    pub fn new(nodes: &'a [Node], settings: &'a Settings) -> Result<Probe<'a>, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(CONNECT_TIMEOUT_MAX))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Probe {
            nodes,
            settings,
            http,
            leader: None,
            history: StatusHistory::default(),
        })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Sends one request; the exchange records it whatever happens.
    pub async fn call(
        &self,
        node: usize,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> (Exchange, Outcome) {
        let target = &self.nodes[node];
        let mut exchange = Exchange {
            node: target.name.clone(),
            method: method.to_string(),
            path: path.to_string(),
            body: body.clone(),
            status: None,
            answer: None,
        };
        let url = format!("{}{path}", target.base_url.trim_end_matches('/'));
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                exchange.answer = Some(why(&e));
                return (
                    exchange,
                    Err(NoAnswer {
                        connect: e.is_connect(),
                    }),
                );
            }
        };
        let status = response.status().as_u16();
        exchange.status = Some(status);
        match response.bytes().await {
            Ok(bytes) => {
                exchange.answer = Some(truncated(&bytes));
                let json = serde_json::from_slice(&bytes).ok();
                (exchange, Ok(Answer { status, json }))
            }
            Err(e) => {
                exchange.status = None;
                exchange.answer = Some(format!("status {status}, then {}", why(&e)));
                (exchange, Err(NoAnswer { connect: false }))
            }
        }
    }

    pub async fn get(&self, node: usize, path: &str) -> (Exchange, Outcome) {
        self.call(node, Method::GET, path, None).await
    }

    /// Every node's status at once (node order), `None` where it gave none usable.
    pub async fn statuses(&mut self) -> Vec<(Exchange, Option<Seen>)> {
        let asks = (0..self.nodes.len()).map(|i| self.get(i, "/status"));
        let answers = futures_util::future::join_all(asks).await;
        answers
            .into_iter()
            .enumerate()
            .map(|(i, (exchange, outcome))| (exchange.clone(), self.seen(i, &exchange, &outcome)))
            .collect()
    }

    /// One node's status answer as the leader search reads it, noted in the history.
    pub fn seen(&mut self, node: usize, exchange: &Exchange, outcome: &Outcome) -> Option<Seen> {
        let answer = outcome.as_ref().ok().filter(|a| a.status == 200)?;
        let seen = seen(answer.json.as_ref()?)?;
        self.history.observe(node, exchange, &seen);
        Some(seen)
    }

    /// The node leading now: one that says it leads, in the highest term among those
    /// that do, else none yet. Waits for one until `until`.
    pub async fn find_leader(&mut self, until: Instant) -> Option<usize> {
        loop {
            let seen = self.statuses().await;
            let best = seen
                .iter()
                .enumerate()
                .filter_map(|(i, (_, s))| Some((i, s.as_ref()?)))
                .filter(|(_, s)| s.role == "leader")
                .max_by_key(|(_, s)| s.term)
                .map(|(i, _)| i);
            if best.is_some() {
                self.leader = best;
                return best;
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub fn forget_leader(&mut self) {
        self.leader = None;
    }

    pub fn set_leader(&mut self, node: usize) {
        self.leader = Some(node);
    }

    /// Sends what `make(fresh)` builds to the leader, until an answer the protocol
    /// makes final or `leader_wait` has passed: on 421 to the leader the hint names (or
    /// the one found anew), on 503 or a refused connect again, and after an uncertain
    /// answer (504, 500, no answer after sending) again with `fresh` one higher, so that
    /// the caller can use new write ids and election names rather than repeat what may
    /// have happened. Returns the last exchange and its outcome.
    pub async fn on_leader(
        &mut self,
        mut make: impl FnMut(u32) -> (Method, String, Option<String>),
    ) -> (Exchange, Outcome) {
        let until = Instant::now() + self.settings.leader_wait;
        let mut fresh = 0;
        let mut last: Option<(Exchange, Outcome)> = None;
        loop {
            let leader = match self.leader {
                Some(l) => Some(l),
                None => self.find_leader(until).await,
            };
            let Some(leader) = leader else {
                return last.unwrap_or_else(|| self.no_leader(make(fresh)));
            };
            let (method, path, body) = make(fresh);
            let (exchange, outcome) = self.call(leader, method, &path, body).await;
            let again = match &outcome {
                Ok(a) if a.status == 421 => {
                    let hint = a
                        .json
                        .as_ref()
                        .and_then(|j| j.get("leader")?.as_str())
                        .and_then(|name| self.index_of(name))
                        .filter(|&i| i != leader);
                    self.leader = hint;
                    true
                }
                Ok(a) if a.status == 503 => {
                    tokio::time::sleep(BUSY_RETRY).await;
                    true
                }
                Ok(a) if a.status == 504 || a.status == 500 => {
                    fresh += 1;
                    true
                }
                Ok(_) => false,
                Err(NoAnswer { connect: true }) => {
                    self.leader = None;
                    tokio::time::sleep(BUSY_RETRY).await;
                    true
                }
                Err(NoAnswer { connect: false }) => {
                    fresh += 1;
                    true
                }
            };
            if !again || Instant::now() >= until {
                return (exchange, outcome);
            }
            last = Some((exchange, outcome));
        }
    }

    fn no_leader(
        &self,
        (method, path, body): (Method, String, Option<String>),
    ) -> (Exchange, Outcome) {
        let exchange = Exchange {
            node: "(none)".into(),
            method: method.to_string(),
            path,
            body,
            status: None,
            answer: Some(format!(
                "not sent: no node reported role \"leader\" within {} ms",
                self.settings.leader_wait.as_millis()
            )),
        };
        (exchange, Err(NoAnswer { connect: true }))
    }
}

/// The fields of a status answer the leader search reads.
pub fn seen(json: &Value) -> Option<Seen> {
    Some(Seen {
        role: json.get("role")?.as_str()?.to_string(),
        term: json.get("term")?.as_u64()?,
        leader: json
            .get("leader")
            .and_then(|l| l.as_str())
            .map(str::to_string),
    })
}

/// A transport error with its causes, which say more than its own message.
fn why(e: &reqwest::Error) -> String {
    let mut out = if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        "connection failed".to_string()
    };
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// An answer's body as text, cut at [`ANSWER_BYTES_MAX`] on a character boundary.
pub fn truncated(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= ANSWER_BYTES_MAX {
        return text.into_owned();
    }
    let mut end = ANSWER_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(node: &str, role: &str, term: u64) -> (Exchange, Seen) {
        let exchange = Exchange {
            node: node.into(),
            method: "GET".into(),
            path: "/status".into(),
            body: None,
            status: Some(200),
            answer: Some(format!("{{\"role\":\"{role}\",\"term\":{term}}}")),
        };
        let seen = Seen {
            role: role.into(),
            term,
            leader: None,
        };
        (exchange, seen)
    }

    #[test]
    fn two_leaders_of_one_term_and_a_term_going_down_are_caught() {
        let mut history = StatusHistory::default();
        for (node, role, term) in [
            (0, "leader", 3),
            (1, "follower", 3),
            (0, "leader", 3),
            (1, "leader", 4),
        ] {
            let (exchange, seen) = status(&format!("n{}", node + 1), role, term);
            history.observe(node, &exchange, &seen);
        }
        assert!(history.same_term.is_none());
        assert!(history.term_decreased.is_none());
        let (exchange, seen) = status("n2", "leader", 3);
        history.observe(1, &exchange, &seen);
        let (first, then) = history.same_term.clone().expect("two leaders of term 3");
        assert_eq!((first.node.as_str(), then.node.as_str()), ("n1", "n2"));
        let (before, after) = history.term_decreased.clone().expect("n2 went from 4 to 3");
        assert!(before.answer.unwrap().contains("\"term\":4"));
        assert!(after.answer.unwrap().contains("\"term\":3"));
        assert_eq!(history.seen, 5);
    }

    #[test]
    fn long_answers_are_cut_on_a_character_boundary() {
        let long = "é".repeat(ANSWER_BYTES_MAX);
        let cut = truncated(long.as_bytes());
        assert!(cut.ends_with(&format!("… ({} bytes in all)", 2 * ANSWER_BYTES_MAX)));
        assert!(cut.len() < ANSWER_BYTES_MAX + 40);
        assert_eq!(truncated(b"{}"), "{}");
    }
}
