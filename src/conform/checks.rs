//! The checks, in the order they run: every node's status, a leader and agreement on
//! it, writes and reads, local reads, locks and fencing, followers' refusals, and
//! nonsense requests.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use workloads::FencingMode;

use super::probe::{Answer, NoAnswer, Outcome, Probe, POLL_INTERVAL};
use super::{Check, Claims, Exchange, Node, Report, Settings};

/// A grant's time to live: far longer than the checks take, so that no expiry moves
/// a grant while they look at it.
const TTL_MS: u64 = 600_000;
/// The longest a node's own copy may take to show an acknowledged write.
const LOCAL_READ_WAIT: Duration = Duration::from_secs(10);
/// A number no system grants as a token in a test.
const NEVER_GRANTED: u64 = 1_000_000_000_000_000;

/// Exercises every endpoint `claims` name on `nodes`; see the module documentation.
pub async fn exercise(nodes: &[Node], claims: &Claims, settings: &Settings) -> Report {
    let mut report = Report::default();
    let probe = match Probe::new(nodes, settings) {
        Ok(p) => p,
        Err(e) => {
            report
                .checks
                .push(failed("(setup)", "an HTTP client", e, None));
            return report;
        }
    };
    if nodes.is_empty() {
        let problem = "no nodes to check".to_string();
        report
            .checks
            .push(failed("(setup)", "nodes", problem, None));
        return report;
    }
    let mut run = Run {
        probe,
        claims,
        report,
        prefix: run_prefix(),
        serial: 0,
    };
    run.statuses().await;
    if run.leader().await {
        run.writes_and_reads().await;
        if claims.locks {
            run.locks().await;
        }
        run.followers().await;
        run.nonsense().await;
    }
    run.across_statuses();
    run.report
}

fn failed(endpoint: &str, name: &str, problem: String, exchange: Option<Exchange>) -> Check {
    Check {
        endpoint: endpoint.into(),
        name: name.into(),
        passed: false,
        problem: Some(problem),
        exchange,
    }
}

/// `conform-<random>`: names no earlier run used.
fn run_prefix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("conform-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

struct Run<'a> {
    probe: Probe<'a>,
    claims: &'a Claims,
    report: Report,
    prefix: String,
    serial: u32,
}

/// What an answer was expected to be, and what it was instead.
type Verdict<T> = Result<T, String>;

/// The answer's JSON object when it is a 200 with one.
fn ok_object(outcome: &Outcome) -> Verdict<&serde_json::Map<String, Value>> {
    let answer = answered(outcome)?;
    if answer.status != 200 {
        return Err(format!(
            "expected 200, got {}{}",
            answer.status,
            error_word(answer)
        ));
    }
    answer
        .json
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| "the 200 answer's body is not a JSON object".to_string())
}

/// The error answer when its status is one of `statuses` and its `error` one of
/// `errors` (any string when `errors` is empty).
fn error_answer<'o>(
    outcome: &'o Outcome,
    statuses: &[u16],
    errors: &[&str],
) -> Verdict<&'o serde_json::Map<String, Value>> {
    let answer = answered(outcome)?;
    let want = if errors.is_empty() {
        format!(
            "{} with a JSON body carrying `error`",
            alternatives(statuses)
        )
    } else {
        format!("{} {}", alternatives(statuses), alternatives(errors))
    };
    if !statuses.contains(&answer.status) {
        return Err(format!(
            "expected {want}, got {}{}",
            answer.status,
            error_word(answer)
        ));
    }
    let body = answer.json.as_ref().and_then(Value::as_object);
    let error = body.and_then(|b| b.get("error")?.as_str());
    match (body, error) {
        (Some(body), Some(e)) if errors.is_empty() || errors.contains(&e) => Ok(body),
        (_, Some(e)) => Err(format!("expected {want}, got {} {e}", answer.status)),
        _ => Err(format!(
            "expected {want}; the {} answer's body is no JSON object with a string `error`",
            answer.status
        )),
    }
}

fn answered(outcome: &Outcome) -> Verdict<&Answer> {
    outcome.as_ref().map_err(|NoAnswer { connect }| {
        if *connect {
            "no answer: the request could not be sent".to_string()
        } else {
            "no answer (an unknown outcome)".to_string()
        }
    })
}

/// ` not-leader` when the answer's body names its error.
fn error_word(answer: &Answer) -> String {
    answer
        .json
        .as_ref()
        .and_then(|j| j.get("error")?.as_str())
        .map(|e| format!(" {e}"))
        .unwrap_or_default()
}

fn alternatives<T: std::fmt::Display>(xs: &[T]) -> String {
    let words: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    words.join(" or ")
}

/// A JSON number that is a whole number ≥ 0.
fn whole(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// What is wrong with a status answer, if anything.
fn status_problem(body: &serde_json::Map<String, Value>, vote_claimed: bool) -> Option<String> {
    match body.get("role") {
        Some(Value::String(_)) => {}
        Some(other) => return Some(format!("`role` is {other}, not a string")),
        None => return Some("`role` is missing".into()),
    }
    match body.get("term") {
        Some(t) if whole(t).is_some() => {}
        Some(other) => return Some(format!("`term` is {other}, not a whole number")),
        None => return Some("`term` is missing".into()),
    }
    match body.get("leader") {
        Some(Value::String(_) | Value::Null) => {}
        Some(other) => return Some(format!("`leader` is {other}, neither a string nor null")),
        None => return Some("`leader` is missing (null when no leader is known)".into()),
    }
    for field in ["commit", "applied", "last_index"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if whole(v).is_some() => {}
            Some(other) => return Some(format!("`{field}` is {other}, not a whole number")),
        }
    }
    if let Some(terms) = body.get("terms").filter(|t| !t.is_null()) {
        let runs = terms.as_array().filter(|runs| {
            runs.iter().all(|r| {
                r.as_array()
                    .is_some_and(|p| p.len() == 2 && p.iter().all(|n| whole(n).is_some()))
            })
        });
        if runs.is_none() {
            return Some(format!(
                "`terms` is {terms}, not a list of [term, first index] pairs of whole numbers"
            ));
        }
    }
    if vote_claimed {
        match body.get("vote") {
            Some(Value::String(_) | Value::Null) => {}
            Some(other) => return Some(format!("`vote` is {other}, neither a string nor null")),
            None => return Some("`vote` is claimed but missing".into()),
        }
    }
    None
}

/// The ids of a read's log, when the answer is one.
fn log_ids(outcome: &Outcome) -> Verdict<Vec<String>> {
    let body = ok_object(outcome)?;
    let Some(log) = body.get("log").and_then(Value::as_array) else {
        return Err("the answer has no `log` array".into());
    };
    let mut ids = Vec::with_capacity(log.len());
    for (i, entry) in log.iter().enumerate() {
        let id = entry.get("id").and_then(Value::as_str);
        let token = entry.get("token");
        let token_ok = matches!(token, None | Some(Value::Null)) || token.and_then(whole).is_some();
        match id {
            Some(id) if token_ok => ids.push(id.to_string()),
            _ => {
                return Err(format!(
                    "log entry {i} is {entry}, not {{\"id\": string, \"token\": number or null}}"
                ))
            }
        }
    }
    Ok(ids)
}

impl Run<'_> {
    fn record(
        &mut self,
        endpoint: &str,
        name: &str,
        verdict: Verdict<()>,
        exchange: Option<Exchange>,
    ) {
        let passed = verdict.is_ok();
        self.report.checks.push(Check {
            endpoint: endpoint.into(),
            name: name.into(),
            passed,
            problem: verdict.err(),
            exchange,
        });
    }

    /// A name never used before in this run or any other.
    fn fresh(&mut self, what: &str) -> String {
        self.serial += 1;
        format!("{}-{what}{}", self.prefix, self.serial)
    }

    fn wait(&self) -> Duration {
        self.probe.settings.leader_wait
    }

    /// How long a node's own copy may lag behind an acknowledged write.
    fn local_wait(&self) -> Duration {
        self.wait().min(LOCAL_READ_WAIT)
    }

    fn settle_deadline(&self) -> Instant {
        Instant::now() + self.wait()
    }

    /// Every node answers `/status` with the fields the protocol names. A node still
    /// starting is asked again until `leader_wait` has passed.
    async fn statuses(&mut self) {
        let until = self.settle_deadline();
        for i in 0..self.probe.nodes.len() {
            let (exchange, verdict) = loop {
                let (exchange, outcome) = self.probe.get(i, "/status").await;
                self.probe.seen(i, &exchange, &outcome);
                let verdict = ok_object(&outcome)
                    .and_then(|body| status_problem(body, self.claims.vote).map_or(Ok(()), Err));
                if verdict.is_ok() || Instant::now() >= until {
                    break (exchange, verdict);
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            };
            let name = format!(
                "{} answers 200 with role, term, leader{}",
                self.probe.nodes[i].name,
                if self.claims.vote { ", vote" } else { "" }
            );
            self.record("/status", &name, verdict, Some(exchange));
        }
    }

    /// What every status answer of the run showed together: no term led by two nodes,
    /// no node's term going down.
    fn across_statuses(&mut self) {
        let history = &self.probe.history;
        if history.seen == 0 {
            return;
        }
        let two = |pair: &Option<(Exchange, Exchange)>, what: &str| match pair {
            None => (Ok(()), None),
            Some((first, then)) => (
                Err(format!(
                    "{what}: {} answered {} before",
                    first.node,
                    first.answer.as_deref().unwrap_or("")
                )),
                Some(then.clone()),
            ),
        };
        let seen = history.seen;
        let same_term = two(&history.same_term, "two nodes lead one term");
        let decreased = two(&history.term_decreased, "a node's term went down");
        let name = format!("no two nodes report role \"leader\" in one term ({seen} answers)");
        self.record("/status", &name, same_term.0, same_term.1);
        let name = format!("no node's term goes down ({seen} answers)");
        self.record("/status", &name, decreased.0, decreased.1);
    }

    /// A leader emerges, and every node names it. Returns whether one did.
    async fn leader(&mut self) -> bool {
        let until = self.settle_deadline();
        let wait_ms = self.wait().as_millis();
        let mut emerged: Option<Exchange> = None;
        loop {
            let seen = self.probe.statuses().await;
            let leaders: Vec<usize> = (0..seen.len())
                .filter(|&i| seen[i].1.as_ref().is_some_and(|s| s.role == "leader"))
                .collect();
            if let Some(&l) = leaders.first() {
                emerged.get_or_insert_with(|| seen[l].0.clone());
            }
            let agreed = leaders.iter().copied().find(|&l| {
                let name = &self.probe.nodes[l].name;
                seen.iter()
                    .all(|(_, s)| s.as_ref().is_some_and(|s| s.leader.as_ref() == Some(name)))
            });
            if let Some(l) = agreed {
                self.probe.set_leader(l);
                let exchange = seen[l].0.clone();
                let name = format!("a leader emerges within {wait_ms} ms");
                self.record("/status", &name, Ok(()), emerged.or(Some(exchange.clone())));
                let name = "every node names the leader, a node that reports role \"leader\"";
                self.record("/status", name, Ok(()), Some(exchange));
                return true;
            }
            if Instant::now() >= until {
                let views: Vec<String> = seen
                    .iter()
                    .enumerate()
                    .map(|(i, (_, s))| {
                        let node = &self.probe.nodes[i].name;
                        match s {
                            Some(s) => format!(
                                "{node}: {} in term {}, leader {}",
                                s.role,
                                s.term,
                                s.leader.as_deref().unwrap_or("null")
                            ),
                            None => format!("{node}: no usable status"),
                        }
                    })
                    .collect();
                let views = views.join("; ");
                let name = format!("a leader emerges within {wait_ms} ms");
                let first = emerged.is_some();
                let verdict = if first {
                    Ok(())
                } else {
                    Err(format!(
                        "no node reported role \"leader\"; last seen: {views}"
                    ))
                };
                self.record("/status", &name, verdict, emerged);
                if first {
                    let name = "every node names the leader, a node that reports role \"leader\"";
                    let problem =
                        format!("the nodes never agreed within {wait_ms} ms; last seen: {views}");
                    self.record("/status", name, Err(problem), None);
                }
                return false;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// A write on the leader, then a linearizable read holding it exactly once, then
    /// every node's local read holding it.
    async fn writes_and_reads(&mut self) {
        let base = self.fresh("w");
        let mut id = String::new();
        let (exchange, outcome) = self
            .probe
            .on_leader(|n| {
                id = format!("{base}-{n}");
                let body = json!({"id": id, "token": null, "election": null});
                (Method::POST, "/write".into(), Some(body.to_string()))
            })
            .await;
        let verdict = ok_object(&outcome).and_then(|body| match body.get("id") {
            Some(Value::String(echo)) if *echo == id => Ok(()),
            other => Err(format!("expected `id` {id:?} echoed, got {}", shown(other))),
        });
        let written = verdict.is_ok();
        self.record(
            "/write",
            "the leader accepts a write: 200 echoing its id",
            verdict,
            Some(exchange),
        );
        if !written {
            return;
        }
        let (exchange, outcome) = self
            .probe
            .on_leader(|_| (Method::GET, "/read".into(), None))
            .await;
        let verdict =
            log_ids(&outcome).and_then(|ids| match ids.iter().filter(|i| **i == id).count() {
                1 => Ok(()),
                0 => Err(format!(
                    "the acknowledged write {id:?} is missing from the log"
                )),
                n => Err(format!("the write {id:?} appears {n} times in the log")),
            });
        self.record(
            "/read",
            "a read after an acknowledged write holds it exactly once",
            verdict,
            Some(exchange),
        );
        if self.claims.read_local {
            self.local_reads(&id).await;
        }
    }

    /// Every node's local read comes to hold `id`.
    async fn local_reads(&mut self, id: &str) {
        let until = Instant::now() + self.local_wait();
        for i in 0..self.probe.nodes.len() {
            let (exchange, verdict) = loop {
                let (exchange, outcome) = self.probe.get(i, "/read?local=true").await;
                let ids = log_ids(&outcome);
                let malformed = matches!(&outcome, Ok(a) if a.status == 200) && ids.is_err();
                let verdict = ids.and_then(|ids| match ids.iter().filter(|i| *i == id).count() {
                    1 => Ok(()),
                    0 => Err(format!(
                        "the acknowledged write {id:?} never appeared within {} ms",
                        self.local_wait().as_millis()
                    )),
                    n => Err(format!("the write {id:?} appears {n} times in the log")),
                });
                if verdict.is_ok() || malformed || Instant::now() >= until {
                    break (exchange, verdict);
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            };
            let name = format!(
                "{}'s local read comes to hold the write exactly once",
                self.probe.nodes[i].name
            );
            self.record("/read?local=true", &name, verdict, Some(exchange));
        }
    }

    /// Sends `body` to `path` on the leader; also says how many attempts had an
    /// unknown outcome.
    async fn leader_post(&mut self, path: &str, body: Value) -> (Exchange, Outcome, u32) {
        let mut attempts = 0;
        let (exchange, outcome) = self
            .probe
            .on_leader(|n| {
                attempts = n;
                (Method::POST, path.to_string(), Some(body.to_string()))
            })
            .await;
        (exchange, outcome, attempts)
    }

    /// A fenced write with a fresh id; accepted when the answer is 200 echoing it.
    async fn fenced_write(&mut self, token: u64, election: &str) -> (Exchange, Outcome, String) {
        let base = self.fresh("fw");
        let mut id = String::new();
        let (exchange, outcome) = self
            .probe
            .on_leader(|n| {
                id = format!("{base}-{n}");
                let body = json!({"id": id, "token": token, "election": election});
                (Method::POST, "/write".into(), Some(body.to_string()))
            })
            .await;
        (exchange, outcome, id)
    }

    fn accepted(outcome: &Outcome, id: &str) -> Verdict<()> {
        ok_object(outcome).and_then(|body| match body.get("id") {
            Some(Value::String(echo)) if echo == id => Ok(()),
            other => Err(format!("expected `id` {id:?} echoed, got {}", shown(other))),
        })
    }

    /// Acquire, held, holding, a fenced write, release, holding after it, a new grant,
    /// stale and never-granted tokens, and a release that does not hold.
    async fn locks(&mut self) {
        let client_a = format!("{}-a", self.prefix);
        let client_b = format!("{}-b", self.prefix);
        let base = self.fresh("e");
        let mut election = String::new();
        let (exchange, outcome) = self
            .probe
            .on_leader(|n| {
                election = format!("{base}-{n}");
                let body = json!({"election": election, "client": client_a, "ttl_ms": TTL_MS});
                (Method::POST, "/acquire".into(), Some(body.to_string()))
            })
            .await;
        let granted = ok_object(&outcome).and_then(|body| match body.get("token") {
            Some(t) if whole(t).is_some_and(|t| t >= 1) => Ok(whole(t).unwrap_or_default()),
            other => Err(format!(
                "expected `token`, a whole number ≥ 1, got {}",
                shown(other)
            )),
        });
        let name = "the leader grants a free election: 200 with a token ≥ 1";
        let Ok(first) = granted else {
            self.record("/acquire", name, granted.map(|_| ()), Some(exchange));
            return;
        };
        self.record("/acquire", name, Ok(()), Some(exchange));

        let body = json!({"election": election, "client": client_b, "ttl_ms": TTL_MS});
        let (exchange, outcome, _) = self.leader_post("/acquire", body).await;
        let verdict = error_answer(&outcome, &[409], &["held"]).map(|_| ());
        self.record(
            "/acquire",
            "another client's acquire of a held election: 409 held",
            verdict,
            Some(exchange),
        );

        self.holding(
            &election,
            first,
            true,
            "holding of the current grant is true",
        )
        .await;

        let (exchange, outcome, id) = self.fenced_write(first, &election).await;
        let verdict = Self::accepted(&outcome, &id);
        self.record(
            "/write",
            "a write fenced with the current grant: 200 echoing its id",
            verdict,
            Some(exchange),
        );

        let body = json!({"election": election, "token": first});
        let (exchange, outcome, uncertain) = self.leader_post("/release", body).await;
        // A release retried after an unknown outcome may find it already done.
        let verdict = ok_object(&outcome).map(|_| ()).or_else(|e| {
            let redone = uncertain > 0 && error_answer(&outcome, &[409], &["not-holder"]).is_ok();
            if redone {
                Ok(())
            } else {
                Err(e)
            }
        });
        let released = verdict.is_ok();
        self.record(
            "/release",
            "release of the current grant: 200 {}",
            verdict,
            Some(exchange),
        );
        if !released {
            return;
        }
        self.holding(
            &election,
            first,
            false,
            "holding of a released grant is false",
        )
        .await;

        let body = json!({"election": election, "client": client_b, "ttl_ms": TTL_MS});
        let (exchange, outcome, uncertain) = self.leader_post("/acquire", body).await;
        // An acquire retried after an unknown outcome may find its own grant holding.
        let own = |b: &serde_json::Map<String, Value>| {
            let mine = b.get("holder").and_then(Value::as_str) == Some(client_b.as_str());
            b.get("token")
                .and_then(whole)
                .filter(|_| mine && uncertain > 0)
        };
        let regranted = match error_answer(&outcome, &[409], &["held"]).ok().and_then(own) {
            Some(t) if t > first => Ok(t),
            _ => ok_object(&outcome).and_then(|body| match body.get("token").and_then(whole) {
                Some(t) if t > first => Ok(t),
                _ => Err(format!(
                    "expected `token` greater than the released grant's {first}, got {}",
                    shown(body.get("token"))
                )),
            }),
        };
        let second = regranted.as_ref().ok().copied();
        self.record(
            "/acquire",
            "a new grant of a released election: a token greater than the last",
            regranted.map(|_| ()),
            Some(exchange),
        );

        if let Some(second) = second {
            match self.claims.fencing {
                FencingMode::Grant => {
                    let (exchange, outcome, _) = self.fenced_write(first, &election).await;
                    let verdict = error_answer(&outcome, &[409], &["stale-token"]).map(|_| ());
                    let name =
                        "fencing grant: a write with a released grant's token: 409 stale-token";
                    self.record("/write", name, verdict, Some(exchange));
                }
                FencingMode::Write => {
                    let (exchange, outcome, id) = self.fenced_write(second, &election).await;
                    let verdict = Self::accepted(&outcome, &id);
                    let ok = verdict.is_ok();
                    let name = "a write fenced with the new grant: 200 echoing its id";
                    self.record("/write", name, verdict, Some(exchange));
                    if ok {
                        let (exchange, outcome, _) = self.fenced_write(first, &election).await;
                        let verdict = error_answer(&outcome, &[409], &["stale-token"]).map(|_| ());
                        let name =
                            "fencing write: a write with an older token after it: 409 stale-token";
                        self.record("/write", name, verdict, Some(exchange));
                    }
                }
                FencingMode::None => {}
            }
        }
        if self.claims.fencing != FencingMode::None {
            let (exchange, outcome, _) = self.fenced_write(NEVER_GRANTED, &election).await;
            let verdict =
                error_answer(&outcome, &[409], &["unknown-token", "stale-token"]).map(|_| ());
            let name = "a write with a token never granted: 409 unknown-token or stale-token";
            self.record("/write", name, verdict, Some(exchange));
        }

        let body = json!({"election": election, "token": first});
        let (exchange, outcome, _) = self.leader_post("/release", body).await;
        let verdict = error_answer(&outcome, &[409], &["not-holder"]).map(|_| ());
        self.record(
            "/release",
            "release of a released grant: 409 not-holder",
            verdict,
            Some(exchange),
        );

        if let Some(second) = second {
            // Leaves nothing held behind; not a check.
            let body = json!({"election": election, "token": second});
            let _ = self.leader_post("/release", body).await;
        }
    }

    async fn holding(&mut self, election: &str, token: u64, expected: bool, name: &str) {
        let body = json!({"election": election, "token": token});
        let (exchange, outcome, _) = self.leader_post("/holding", body).await;
        let verdict = ok_object(&outcome).and_then(|body| match body.get("holding") {
            Some(Value::Bool(h)) if *h == expected => Ok(()),
            other => Err(format!(
                "expected `holding` {expected}, got {}",
                shown(other)
            )),
        });
        self.record("/holding", name, verdict, Some(exchange));
    }

    /// A follower refuses what only the leader serves with 421 not-leader, naming the
    /// leader.
    async fn followers(&mut self) {
        if self.probe.nodes.len() < 2 {
            return;
        }
        let id = self.fresh("fw");
        let write = json!({"id": id, "token": null, "election": null});
        self.follower(Method::POST, "/write", Some(write)).await;
        self.follower(Method::GET, "/read", None).await;
        if self.claims.locks {
            let election = self.fresh("fe");
            let client = format!("{}-f", self.prefix);
            let acquire = json!({"election": election, "client": client, "ttl_ms": TTL_MS});
            self.follower(Method::POST, "/acquire", Some(acquire)).await;
        }
    }

    async fn follower(&mut self, method: Method, path: &str, body: Option<Value>) {
        let until = self.settle_deadline();
        let mut turn = 0;
        let (exchange, verdict) = loop {
            let leader = self.probe.find_leader(until).await;
            let followers: Vec<usize> = (0..self.probe.nodes.len())
                .filter(|&i| Some(i) != leader)
                .collect();
            turn += 1;
            let node = followers[turn % followers.len()];
            let (exchange, outcome) = self
                .probe
                .call(
                    node,
                    method.clone(),
                    path,
                    body.as_ref().map(Value::to_string),
                )
                .await;
            let verdict = error_answer(&outcome, &[421], &["not-leader"]).and_then(|b| {
                match b.get("leader") {
                    Some(Value::String(name)) if self.probe.index_of(name).is_some() => Ok(()),
                    Some(Value::String(name)) => {
                        Err(format!("the `leader` hint {name:?} names no node"))
                    }
                    other => Err(format!(
                        "expected a `leader` hint naming the leader, got {}",
                        shown(other)
                    )),
                }
            });
            let done = match &outcome {
                _ if verdict.is_ok() => true,
                // The node may lead by now; ask again once it is known whether it does.
                Ok(a) if a.status == 200 => {
                    let now_leader = self.probe.find_leader(until).await;
                    now_leader != Some(node)
                }
                // Without a hint (no leader known yet), 503 or no answer: ask again.
                Ok(a) if a.status == 421 || a.status >= 500 => false,
                Ok(_) => true,
                Err(_) => false,
            };
            if done || Instant::now() >= until {
                break (exchange, verdict);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        self.record(
            path,
            "a follower refuses it: 421 not-leader with a `leader` hint",
            verdict,
            Some(exchange),
        );
        self.probe.forget_leader();
    }

    /// Nonsense is refused with a 4xx carrying `error`.
    async fn nonsense(&mut self) {
        let post = |path, body: Value| (Method::POST, path, Some(body.to_string()));
        let mut cases = vec![
            Nonsense {
                name: "a body that is not JSON: 400",
                request: (Method::POST, "/write", Some("this is not JSON {".into())),
                statuses: &[400],
            },
            Nonsense {
                name: "a body without its `id`: 400 or 422",
                request: post("/write", json!({"token": null, "election": null})),
                statuses: &[400, 422],
            },
        ];
        if self.claims.locks {
            cases.push(Nonsense {
                name: "a body without its `election`: 400 or 422",
                request: post("/acquire", json!({"client": "conform", "ttl_ms": TTL_MS})),
                statuses: &[400, 422],
            });
        }
        cases.push(Nonsense {
            name: "a wrong method (GET): 405 or 404",
            request: (Method::GET, "/write", None),
            statuses: &[405, 404],
        });
        cases.push(Nonsense {
            name: "an unknown path: 404",
            request: (Method::GET, UNKNOWN_PATH, None),
            statuses: &[404],
        });
        for case in cases {
            let (method, path, body) = case.request;
            let (exchange, outcome) = self
                .probe
                .on_leader(|_| (method.clone(), path.to_string(), body.clone()))
                .await;
            let verdict = error_answer(&outcome, case.statuses, &[]).map(|_| ());
            let endpoint = if path == UNKNOWN_PATH {
                "(unknown path)"
            } else {
                path
            };
            self.record(endpoint, case.name, verdict, Some(exchange));
        }
    }
}

/// A path no system serves.
const UNKNOWN_PATH: &str = "/conform-no-such-path";

/// A request that makes no sense, and the statuses that may refuse it.
struct Nonsense {
    name: &'static str,
    request: (Method, &'static str, Option<String>),
    statuses: &'static [u16],
}

fn shown(v: Option<&Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(body: serde_json::Value) -> Option<String> {
        status_problem(body.as_object().unwrap(), false)
    }

    #[test]
    fn a_status_s_terms_are_pairs_of_whole_numbers_or_absent() {
        let base = serde_json::json!({"role":"leader","term":3,"leader":"n1"});
        assert_eq!(problem(base.clone()), None);
        let mut ok = base.clone();
        ok["terms"] = serde_json::json!([[1, 1], [3, 7]]);
        assert_eq!(problem(ok), None);
        for bad in [
            serde_json::json!([[1, 1, 2]]),
            serde_json::json!([[1, "x"]]),
            serde_json::json!("runs"),
        ] {
            let mut b = base.clone();
            b["terms"] = bad;
            assert!(problem(b).is_some_and(|p| p.contains("`terms`")));
        }
    }
}
