//! The `election` workload: observers polling each node's status, client processes
//! running lock cycles (acquire, maybe stall, holding, fenced write, release) and plain
//! writes, and the final reads — every call recorded as an invoke/complete pair.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::{LogEntry, OpDraft, OpType, Process, Recorder, Value, F};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{NodeStatus, Outcome, Written};
use crate::cluster::Cluster;
use crate::seed::rng_for;
use crate::system::SystemError;

/// Observer process numbers start here, so that they never meet client process numbers
/// and a reader of a history tells them apart at a glance.
pub const OBSERVER_PROCESS_BASE: u64 = 1_000_000;
/// Pause between two attempts of a final read that failed.
pub const FINAL_READ_RETRY_MS: u64 = 100;

/// What the workload does and how hard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadParams {
    /// Client operations per second, all client processes together (observers aside).
    pub rate_hz: f64,
    /// Client processes running at once.
    pub concurrency: usize,
    /// How often each observer asks its node's status.
    pub status_interval_ms: u64,
    /// The lifetime of a grant.
    pub ttl_ms: u64,
    /// Chance that a process stalls after an acquire, as a garbage-collection pause would.
    pub stall_probability: f64,
    /// The longest stall; beyond `ttl_ms` a stalled holder outlives its grant, which is
    /// what makes fencing matter.
    pub stall_ms_max: u64,
    /// Chance that a cycle is a plain unfenced write rather than a lock cycle.
    pub plain_write_probability: f64,
    /// The election every process contends for.
    pub election: String,
    pub seed: u64,
    /// Bound on the whole final phase (catch-up waits and read retries).
    pub final_read_timeout_ms: u64,
}

impl Default for WorkloadParams {
    fn default() -> Self {
        WorkloadParams {
            rate_hz: 20.0,
            concurrency: 5,
            status_interval_ms: 100,
            ttl_ms: 2000,
            stall_probability: 0.1,
            stall_ms_max: 4000,
            plain_write_probability: 0.3,
            election: "e1".to_string(),
            seed: 0,
            final_read_timeout_ms: 10_000,
        }
    }
}

impl WorkloadParams {
    /// Refuses parameters that make no sense, naming the first bad one.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |what: String| Err(WorkloadError::BadParams(what));
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= 100_000.0) {
            return bad(format!(
                "rate_hz is {}; it must be in (0, 100000]",
                self.rate_hz
            ));
        }
        if self.concurrency == 0 || self.concurrency > 1000 {
            return bad(format!(
                "concurrency is {}; it must be in [1, 1000]",
                self.concurrency
            ));
        }
        if self.status_interval_ms == 0 {
            return bad("status_interval_ms is 0; it must be at least 1".into());
        }
        if self.ttl_ms == 0 {
            return bad("ttl_ms is 0; it must be at least 1".into());
        }
        for (name, p) in [
            ("stall_probability", self.stall_probability),
            ("plain_write_probability", self.plain_write_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} is {p}; it must be in [0, 1]"));
            }
        }
        if self.election.is_empty() || self.election.chars().any(char::is_control) {
            return bad(format!(
                "election name {:?} is empty or unprintable",
                self.election
            ));
        }
        if self.final_read_timeout_ms == 0 {
            return bad("final_read_timeout_ms is 0; it must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("bad workload parameter: {0}")]
    BadParams(String),
    #[error("cannot record the history: {0}")]
    Record(#[from] std::io::Error),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("a workload task died: {0}")]
    Task(String),
}

/// Live figures for a progress display. Counts cover every completion, observers' too.
#[derive(Debug, Default)]
pub struct Stats {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
    /// The highest term any node has reported, and the leader it named for it.
    leader: Mutex<(u64, Option<String>)>,
}

/// A copy of [`Stats`] at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub term: u64,
    pub leader: Option<String>,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let (term, leader) = self.lock_leader().clone();
        StatsSnapshot {
            ok: self.ok.load(Ordering::Relaxed),
            fail: self.fail.load(Ordering::Relaxed),
            info: self.info.load(Ordering::Relaxed),
            term,
            leader,
        }
    }

    fn count(&self, kind: OpType) {
        let counter = match kind {
            OpType::Ok => &self.ok,
            OpType::Fail => &self.fail,
            OpType::Info => &self.info,
            OpType::Invoke => unreachable!("completions only"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn saw_leader(&self, term: u64, leader: &str) {
        let mut seen = self.lock_leader();
        if term >= seen.0 {
            *seen = (term, Some(leader.to_string()));
        }
    }

    fn lock_leader(&self) -> std::sync::MutexGuard<'_, (u64, Option<String>)> {
        self.leader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which node clients send their next request to: the node believed to lead, learnt
/// from not-leader hints and from observers, moving on when a node does not serve.
struct Router {
    /// (target node index, highest term observed with a leader).
    state: Mutex<(usize, u64)>,
    nodes: usize,
}

impl Router {
    fn target(&self) -> usize {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, u64)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A node that answered as leader in `term`: follow it unless a newer term is known,
    /// so a deposed leader still answering in its old term does not pull clients back.
    fn observed_leader(&self, node: usize, term: u64) {
        let mut state = self.lock();
        if term > state.1 || (term == state.1 && state.0 != node) {
            *state = (node, term);
        }
    }

    fn redirect(&self, to: usize) {
        self.lock().0 = to;
    }

    /// `node` did not serve: if clients still aim at it, aim at the next one.
    fn skip(&self, node: usize) {
        let mut state = self.lock();
        if state.0 == node {
            state.0 = (node + 1) % self.nodes;
        }
    }
}

/// The bounded pace of client operations: one slot every `1 / rate_hz`, shared.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// Waits for this caller's slot; false if `stop` came first.
    async fn wait(&self, stop: &CancellationToken) -> bool {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => true,
            _ = stop.cancelled() => false,
        }
    }
}

/// A client process: its number, its own random stream and its write counter.
struct ClientProcess {
    number: u64,
    rng: ChaCha8Rng,
    writes: u64,
}

impl ClientProcess {
    fn new(number: u64, seed: u64) -> ClientProcess {
        ClientProcess {
            number,
            rng: rng_for(seed, number),
            writes: 0,
        }
    }

    /// A write id no other write of the run carries: process numbers are never reused.
    fn next_write_id(&mut self) -> String {
        self.writes += 1;
        format!("w{}.{}", self.number, self.writes)
    }

    fn name(&self) -> String {
        format!("p{}", self.number)
    }
}

/// Whether a process may go on after an op, or must retire (its op ended `info`).
enum Next {
    Continue,
    Retire,
}

struct Ctx {
    params: WorkloadParams,
    recorder: Recorder,
    cluster: Cluster,
    stats: Arc<Stats>,
    router: Router,
    pacer: Pacer,
    next_client: AtomicU64,
    next_observer: AtomicU64,
}

/// The election workload over one cluster, recording into one history.
#[derive(Clone)]
pub struct Election {
    ctx: Arc<Ctx>,
}

/// What the final phase read, for the controller's summary (the history has it all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalReads {
    /// The linearizable read through the leader, if one succeeded in time.
    pub linearizable: Option<Vec<LogEntry>>,
    /// Each node's own view, in node order; `None` where its read did not succeed.
    pub local: Vec<(String, Option<Vec<LogEntry>>)>,
}

impl Election {
    pub fn new(
        params: WorkloadParams,
        cluster: Cluster,
        recorder: Recorder,
    ) -> Result<Election, WorkloadError> {
        params.validate()?;
        let interval = Duration::from_secs_f64(1.0 / params.rate_hz);
        let ctx = Ctx {
            router: Router {
                state: Mutex::new((0, 0)),
                nodes: cluster.len(),
            },
            pacer: Pacer {
                interval,
                next: Mutex::new(Instant::now()),
            },
            params,
            recorder,
            cluster,
            stats: Arc::new(Stats::default()),
            next_client: AtomicU64::new(0),
            next_observer: AtomicU64::new(OBSERVER_PROCESS_BASE),
        };
        Ok(Election { ctx: Arc::new(ctx) })
    }

    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.ctx.stats)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.ctx.cluster
    }

    /// Runs observers and client processes until `stop`; returns once every op in
    /// flight has completed (each is bounded by the client's timeout). A failure to
    /// record stops everything and is returned.
    pub async fn run(&self, stop: CancellationToken) -> Result<(), WorkloadError> {
        let stop = stop.child_token();
        let mut tasks = JoinSet::new();
        for node in 0..self.ctx.cluster.len() {
            let (ctx, stop) = (Arc::clone(&self.ctx), stop.clone());
            let number = ctx.new_observer();
            tasks.spawn(async move { ctx.observe(node, number, stop).await });
        }
        for _ in 0..self.ctx.params.concurrency {
            let (ctx, stop) = (Arc::clone(&self.ctx), stop.clone());
            let process = ctx.new_client();
            tasks.spawn(async move { ctx.client_slot(process, stop).await });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined
                .map_err(|e| WorkloadError::Task(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = result {
                stop.cancel();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The final phase, once the nemesis has healed everything: a linearizable read
    /// through the leader, then each node's own view once it has applied what the leader
    /// had committed — all within `final_read_timeout_ms`.
    pub async fn final_reads(&self) -> Result<FinalReads, WorkloadError> {
        let deadline =
            Instant::now() + Duration::from_millis(self.ctx.params.final_read_timeout_ms);
        let (linearizable, commit) = self.ctx.final_linearizable_read(deadline).await?;
        let mut tasks = JoinSet::new();
        for node in 0..self.ctx.cluster.len() {
            let ctx = Arc::clone(&self.ctx);
            tasks.spawn(async move {
                let log = ctx.final_local_read(node, commit, deadline).await?;
                Ok::<_, WorkloadError>((node, log))
            });
        }
        let mut local = vec![None; self.ctx.cluster.len()];
        while let Some(joined) = tasks.join_next().await {
            let (node, log) = joined.map_err(|e| WorkloadError::Task(e.to_string()))??;
            local[node] = log;
        }
        let local = local
            .into_iter()
            .enumerate()
            .map(|(i, log)| (self.ctx.cluster.name(i).to_string(), log))
            .collect();
        Ok(FinalReads {
            linearizable,
            local,
        })
    }
}

impl Ctx {
    fn new_client(&self) -> ClientProcess {
        let number = self.next_client.fetch_add(1, Ordering::Relaxed);
        assert!(
            number < OBSERVER_PROCESS_BASE,
            "client process numbers ran into observers'"
        );
        ClientProcess::new(number, self.params.seed)
    }

    fn new_observer(&self) -> u64 {
        self.next_observer.fetch_add(1, Ordering::Relaxed)
    }

    /// Issues one op: records its invocation, awaits the call, records its completion
    /// (fail and info keep the invocation's value, so a failed write still names its id)
    /// and lets the router learn from the answer.
    async fn op<T>(
        &self,
        process: u64,
        f: F,
        node: usize,
        invoke: Option<Value>,
        call: impl Future<Output = Outcome<T>>,
        ok_value: impl FnOnce(&T) -> Option<Value>,
    ) -> Result<Outcome<T>, WorkloadError> {
        let invocation = OpDraft::invoke(Process::Client(process), f, invoke.clone())
            .with_node(self.cluster.name(node));
        self.recorder.record(invocation.clone())?;
        let outcome = call.await;
        let completion = match &outcome {
            Outcome::Ok(v) => invocation.complete(OpType::Ok, ok_value(v)),
            Outcome::Fail(e) => invocation
                .complete(OpType::Fail, invoke)
                .with_error(&e.error),
            Outcome::Info(e) => invocation.complete(OpType::Info, invoke).with_error(e),
        };
        let kind = completion.kind;
        if let Outcome::Info(error) = &outcome {
            tracing::debug!(process, node = self.cluster.name(node), f = f.name(), %error, "op outcome unknown; the process retires");
        }
        self.recorder.record(completion)?;
        self.stats.count(kind);
        self.learn(node, &outcome);
        Ok(outcome)
    }

    fn learn<T>(&self, node: usize, outcome: &Outcome<T>) {
        match outcome {
            Outcome::Ok(_) => {}
            Outcome::Fail(failure) => {
                let hinted = failure
                    .leader
                    .as_deref()
                    .and_then(|l| self.cluster.index_of(l));
                match hinted {
                    Some(leader) if leader != node => self.router.redirect(leader),
                    // Refusals that are about the grant, not the node, keep the target.
                    _ if matches!(
                        failure.error.as_str(),
                        "stale-token" | "held" | "not-holder"
                    ) => {}
                    _ => self.router.skip(node),
                }
            }
            Outcome::Info(_) => self.router.skip(node),
        }
    }

    async fn observe(
        &self,
        node: usize,
        mut number: u64,
        stop: CancellationToken,
    ) -> Result<(), WorkloadError> {
        let client = Arc::clone(&self.cluster.clients()[node]);
        let mut ticks =
            tokio::time::interval(Duration::from_millis(self.params.status_interval_ms));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.cancelled() => return Ok(()),
            }
            let outcome = self
                .op(number, F::Status, node, None, client.status(), status_value)
                .await?;
            match outcome {
                Outcome::Ok(status) if status.role == checkers::Role::Leader => {
                    self.router.observed_leader(node, status.term);
                    self.stats.saw_leader(status.term, self.cluster.name(node));
                }
                Outcome::Info(_) => number = self.new_observer(),
                _ => {}
            }
        }
    }

    /// One client slot: a process runs cycles until it must retire, then a new process
    /// number takes its place.
    async fn client_slot(
        &self,
        mut process: ClientProcess,
        stop: CancellationToken,
    ) -> Result<(), WorkloadError> {
        while !stop.is_cancelled() {
            let plain = process.rng.random_bool(self.params.plain_write_probability);
            let next = if plain {
                self.plain_write(&mut process, &stop).await?
            } else {
                self.lock_cycle(&mut process, &stop).await?
            };
            if let Next::Retire = next {
                process = self.new_client();
            }
        }
        Ok(())
    }

    /// An unfenced write with a fresh id, for lost-write detection.
    async fn plain_write(
        &self,
        process: &mut ClientProcess,
        stop: &CancellationToken,
    ) -> Result<Next, WorkloadError> {
        if !self.pacer.wait(stop).await {
            return Ok(Next::Continue);
        }
        let id = process.next_write_id();
        let outcome = self.write(process.number, &id, None).await?;
        Ok(after(&outcome))
    }

    async fn write(
        &self,
        process: u64,
        id: &str,
        token: Option<u64>,
    ) -> Result<Outcome<Written>, WorkloadError> {
        let node = self.router.target();
        let client = &self.cluster.clients()[node];
        let election = token.map(|_| self.params.election.as_str());
        let value = Value {
            id: Some(id.to_string()),
            token: Some(token),
            ..Value::default()
        };
        let ok_value = Some(value.clone());
        self.op(
            process,
            F::Write,
            node,
            Some(value),
            client.write(id, token, election),
            |_| ok_value,
        )
        .await
    }

    /// acquire → maybe stall → holding → fenced write → release. The write goes out
    /// whatever `holding` said: a holder stalled past its grant does not know it is
    /// stale, and the store's fencing is what must stop it.
    async fn lock_cycle(
        &self,
        process: &mut ClientProcess,
        stop: &CancellationToken,
    ) -> Result<Next, WorkloadError> {
        if !self.pacer.wait(stop).await {
            return Ok(Next::Continue);
        }
        let token = match self.acquire(process).await? {
            Outcome::Ok(token) => token,
            Outcome::Fail(f) if f.error == "held" => {
                // Like a candidate that lost, wait before contending again, so that the
                // losers' attempts do not crowd the holder's own ops out of the pace.
                let backoff_ms = process.rng.random_range(0..=self.params.ttl_ms / 2);
                sleep_unless_stopped(backoff_ms, stop).await;
                return Ok(Next::Continue);
            }
            other => return Ok(after(&other)),
        };
        if process.rng.random_bool(self.params.stall_probability) {
            let stall_ms = process.rng.random_range(0..=self.params.stall_ms_max);
            if !sleep_unless_stopped(stall_ms, stop).await {
                return Ok(Next::Continue);
            }
        }
        for step in [F::Holding, F::Write, F::Release] {
            if !self.pacer.wait(stop).await {
                return Ok(Next::Continue);
            }
            let next = match step {
                F::Holding => after(&self.grant_op(process.number, F::Holding, token).await?),
                F::Write => {
                    let id = process.next_write_id();
                    after(&self.write(process.number, &id, Some(token)).await?)
                }
                _ => after(&self.grant_op(process.number, F::Release, token).await?),
            };
            if let Next::Retire = next {
                return Ok(Next::Retire);
            }
        }
        Ok(Next::Continue)
    }

    async fn acquire(&self, process: &ClientProcess) -> Result<Outcome<u64>, WorkloadError> {
        let node = self.router.target();
        let client = &self.cluster.clients()[node];
        let election = &self.params.election;
        let value = Value {
            election: Some(election.clone()),
            ..Value::default()
        };
        let name = process.name();
        let call = client.acquire(election, &name, self.params.ttl_ms);
        let outcome = self
            .op(process.number, F::Acquire, node, Some(value), call, |g| {
                Some(Value {
                    token: Some(Some(g.token)),
                    ..Value::default()
                })
            })
            .await?;
        Ok(outcome.map(|g| g.token))
    }

    /// `holding` or `release` of the grant `token`.
    async fn grant_op(&self, process: u64, f: F, token: u64) -> Result<Outcome<()>, WorkloadError> {
        let node = self.router.target();
        let client = &self.cluster.clients()[node];
        let election = &self.params.election;
        let value = Value {
            election: Some(election.clone()),
            token: Some(Some(token)),
            ..Value::default()
        };
        let ok_base = value.clone();
        let outcome = if f == F::Holding {
            let call = client.holding(election, token);
            self.op(process, f, node, Some(value), call, |holding| {
                Some(Value {
                    holding: Some(*holding),
                    ..ok_base
                })
            })
            .await?
            .map(|_| ())
        } else {
            let call = client.release(election, token);
            self.op(process, f, node, Some(value), call, |_| Some(ok_base))
                .await?
        };
        Ok(outcome)
    }

    /// A linearizable read through whichever node leads, retried until one succeeds or
    /// the deadline passes; with it, the leader's commit index right after it.
    async fn final_linearizable_read(
        &self,
        deadline: Instant,
    ) -> Result<(Option<Vec<LogEntry>>, Option<u64>), WorkloadError> {
        let mut process = self.new_client();
        while Instant::now() < deadline {
            let node = self.router.target();
            let client = Arc::clone(&self.cluster.clients()[node]);
            let outcome = self
                .op(
                    process.number,
                    F::Read,
                    node,
                    None,
                    client.read(),
                    log_value,
                )
                .await?;
            match outcome {
                Outcome::Ok(log) => {
                    let commit = self
                        .status_of(&mut process, node)
                        .await?
                        .and_then(|s| s.commit);
                    return Ok((Some(log), commit));
                }
                Outcome::Info(_) => process = self.new_client(),
                Outcome::Fail(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(FINAL_READ_RETRY_MS)).await;
        }
        Ok((None, None))
    }

    /// One node's own view, read once it has applied up to `commit`; `None` (and no read)
    /// if no commit index is known or the node does not catch up by the deadline.
    async fn final_local_read(
        &self,
        node: usize,
        commit: Option<u64>,
        deadline: Instant,
    ) -> Result<Option<Vec<LogEntry>>, WorkloadError> {
        let name = self.cluster.name(node);
        // A node that lags is no evidence of a lost write: its log is a final read only
        // once it has applied what the leader had committed. With no commit index known
        // (no leader answered) or no catching up in time, it is not read at all.
        let Some(commit) = commit else {
            tracing::warn!(
                node = name,
                "final read skipped: no leader said what was committed"
            );
            return Ok(None);
        };
        let mut process = self.new_client();
        loop {
            if Instant::now() >= deadline {
                tracing::warn!(
                    node = name,
                    commit,
                    "final read skipped: the node did not apply up to the leader's commit in time"
                );
                return Ok(None);
            }
            let status = self.status_of(&mut process, node).await?;
            if status
                .and_then(|s| s.applied)
                .is_some_and(|applied| applied >= commit)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(FINAL_READ_RETRY_MS)).await;
        }
        let client = Arc::clone(&self.cluster.clients()[node]);
        let outcome = self
            .op(
                process.number,
                F::Read,
                node,
                None,
                client.read_local(),
                log_value,
            )
            .await?;
        Ok(outcome.ok())
    }

    /// A recorded status op of `node`; a process whose op ended `info` is replaced.
    async fn status_of(
        &self,
        process: &mut ClientProcess,
        node: usize,
    ) -> Result<Option<NodeStatus>, WorkloadError> {
        let client = Arc::clone(&self.cluster.clients()[node]);
        let outcome = self
            .op(
                process.number,
                F::Status,
                node,
                None,
                client.status(),
                status_value,
            )
            .await?;
        if let Outcome::Info(_) = outcome {
            *process = self.new_client();
        }
        Ok(outcome.ok())
    }
}

/// Sleeps `ms`; false if `stop` came first.
async fn sleep_unless_stopped(ms: u64, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        _ = stop.cancelled() => false,
    }
}

fn after<T>(outcome: &Outcome<T>) -> Next {
    match outcome {
        Outcome::Info(_) => Next::Retire,
        Outcome::Ok(_) | Outcome::Fail(_) => Next::Continue,
    }
}

#[allow(clippy::ptr_arg)] // it is the `ok_value` of an `Outcome<Vec<LogEntry>>`
fn log_value(log: &Vec<LogEntry>) -> Option<Value> {
    Some(Value {
        log: Some(log.clone()),
        ..Value::default()
    })
}

fn status_value(status: &NodeStatus) -> Option<Value> {
    Some(Value {
        role: Some(status.role.clone()),
        term: Some(status.term),
        leader: Some(status.leader.clone()),
        vote: status.vote.clone(),
        ..Value::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(nodes: usize) -> Router {
        Router {
            state: Mutex::new((0, 0)),
            nodes,
        }
    }

    #[test]
    fn router_follows_newer_terms_and_ignores_a_deposed_leader() {
        let r = router(3);
        r.observed_leader(1, 5);
        assert_eq!(r.target(), 1);
        r.observed_leader(2, 6);
        assert_eq!(r.target(), 2);
        // n2 (index 1) still answering as leader of term 5 must not pull clients back.
        r.observed_leader(1, 5);
        assert_eq!(r.target(), 2);
    }

    #[test]
    fn router_skips_a_node_that_does_not_serve_only_if_aimed_at() {
        let r = router(3);
        r.skip(0);
        assert_eq!(r.target(), 1);
        r.skip(0);
        assert_eq!(r.target(), 1, "a stale complaint about n1 moves nothing");
        r.skip(1);
        r.skip(2);
        assert_eq!(r.target(), 0, "skipping wraps around");
        r.redirect(2);
        assert_eq!(r.target(), 2);
    }

    #[test]
    fn a_process_draws_the_same_decisions_from_the_same_seed() {
        let draw = |seed| {
            let mut p = ClientProcess::new(3, seed);
            let ids: Vec<String> = (0..3).map(|_| p.next_write_id()).collect();
            let stalls: Vec<u64> = (0..8).map(|_| p.rng.random_range(0..=4000u64)).collect();
            (ids, stalls)
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7).1, draw(8).1);
        assert_eq!(draw(7).0, vec!["w3.1", "w3.2", "w3.3"]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases: [(&str, WorkloadParams); 4] = [
            (
                "rate_hz",
                WorkloadParams {
                    rate_hz: 0.0,
                    ..Default::default()
                },
            ),
            (
                "concurrency",
                WorkloadParams {
                    concurrency: 0,
                    ..Default::default()
                },
            ),
            (
                "stall_probability",
                WorkloadParams {
                    stall_probability: 1.5,
                    ..Default::default()
                },
            ),
            (
                "election",
                WorkloadParams {
                    election: String::new(),
                    ..Default::default()
                },
            ),
        ];
        for (name, params) in cases {
            let err = params.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
        assert!(WorkloadParams::default().validate().is_ok());
    }
}
