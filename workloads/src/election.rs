//! The `election` workload: observers polling each node's status, client processes
//! running lock cycles (acquire, maybe stall, holding, fenced write, release) and plain
//! writes, and the final reads — every call recorded as an invoke/complete pair.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::{LogEntry, OpDraft, OpType, Process, Recorder, Value, F};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{NodeStatus, Outcome, Written};
use crate::cluster::Cluster;
use crate::params::{BadParams, WorkloadKind, WorkloadParams};
use crate::process::{ClientProcess, CycleOp, Ended, Pace, Plan, Router};
use crate::register::{keys_touched, RegOp};
use crate::system::SystemError;

/// Observer process numbers start here, so that they never meet client process numbers
/// and a reader of a history tells them apart at a glance.
pub const OBSERVER_PROCESS_BASE: u64 = 1_000_000;
/// Pause between two attempts of a final read that failed.
pub const FINAL_READ_RETRY_MS: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    BadParams(#[from] BadParams),
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

/// The shared pace on tokio's clock: [`Pace`] counting ns from `start`.
struct Pacer {
    start: Instant,
    pace: Mutex<Pace>,
}

impl Pacer {
    /// Waits for this caller's slot; false if `stop` came first.
    async fn wait(&self, stop: &CancellationToken) -> bool {
        let now_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let at_ns = self
            .pace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slot(now_ns);
        let at = self.start + Duration::from_nanos(at_ns);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => true,
            _ = stop.cancelled() => false,
        }
    }
}

struct Ctx {
    params: WorkloadParams,
    recorder: Recorder,
    cluster: Cluster,
    stats: Arc<Stats>,
    router: Mutex<Router>,
    pacer: Pacer,
    next_client: AtomicU64,
    next_observer: AtomicU64,
    /// Register ops drawn so far (`--workload register`): what picks their keys.
    register_ops: AtomicU64,
    /// The largest token an acquire came back with: what a stalled holder waits for.
    newest_grant: tokio::sync::watch::Sender<u64>,
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
    /// `--workload register`: each key the run touched, with its value where a read
    /// succeeded in time (`Some(None)`: read, never written).
    pub registers: Vec<(String, Option<Option<i64>>)>,
}

/// The most keys the final phase of a register workload reads (the newest).
pub const FINAL_REGISTER_KEYS_MAX: u64 = 100;

impl Election {
    pub fn new(
        params: WorkloadParams,
        cluster: Cluster,
        recorder: Recorder,
    ) -> Result<Election, WorkloadError> {
        params.validate()?;
        let ctx = Ctx {
            router: Mutex::new(Router::new(cluster.len())),
            pacer: Pacer {
                start: Instant::now(),
                pace: Mutex::new(Pace::new(params.rate_hz, 0)),
            },
            params,
            recorder,
            cluster,
            stats: Arc::new(Stats::default()),
            next_client: AtomicU64::new(0),
            next_observer: AtomicU64::new(OBSERVER_PROCESS_BASE),
            register_ops: AtomicU64::new(0),
            newest_grant: tokio::sync::watch::Sender::new(0),
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
        if self.ctx.params.workload == WorkloadKind::Register {
            let registers = self.ctx.final_register_reads(deadline).await?;
            return Ok(FinalReads {
                registers,
                ..FinalReads::default()
            });
        }
        let (linearizable, commit) = self.ctx.final_linearizable_read(deadline).await?;
        let mut tasks = JoinSet::new();
        let local_reads = self.ctx.params.local_reads;
        for node in (0..self.ctx.cluster.len()).filter(|_| local_reads) {
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
            registers: Vec::new(),
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
        let hinted = match outcome {
            Outcome::Fail(failure) => failure
                .leader
                .as_deref()
                .and_then(|l| self.cluster.index_of(l)),
            _ => None,
        };
        self.router().answered(node, ended(outcome), hinted);
    }

    fn router(&self) -> std::sync::MutexGuard<'_, Router> {
        self.router.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn target(&self) -> usize {
        self.router().target()
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
                Outcome::Ok(NodeStatus {
                    role: checkers::Role::Leader,
                    term: Some(term),
                    ..
                }) => {
                    self.router().observed_leader(node, term);
                    self.stats.saw_leader(term, self.cluster.name(node));
                }
                Outcome::Info(_) => number = self.new_observer(),
                _ => {}
            }
        }
    }

    /// One client slot: a process runs the cycles its [`ClientProcess`] plans until it
    /// must retire, then a new process number takes its place.
    async fn client_slot(
        &self,
        mut process: ClientProcess,
        stop: CancellationToken,
    ) -> Result<(), WorkloadError> {
        if self.params.workload == WorkloadKind::Register {
            return self.register_slot(process, stop).await;
        }
        let mut plan = process.begin(&self.params);
        while !stop.is_cancelled() {
            plan = match plan {
                Plan::Paced(op) => {
                    if !self.pacer.wait(&stop).await {
                        break;
                    }
                    self.cycle_op(&mut process, op).await?
                }
                Plan::Sleep { ms, then } => {
                    if !sleep_unless_stopped(ms, &stop).await {
                        break;
                    }
                    match then {
                        Some(op) => Plan::Paced(op),
                        None => process.begin(&self.params),
                    }
                }
                Plan::Stall {
                    token,
                    after_ms,
                    ms_max,
                } => {
                    if !self.stall(token, after_ms, ms_max, &stop).await {
                        break;
                    }
                    Plan::Paced(CycleOp::Holding(token))
                }
                Plan::NewCycle => process.begin(&self.params),
                Plan::Retire => {
                    process = self.new_client();
                    process.begin(&self.params)
                }
            };
        }
        Ok(())
    }

    /// One client slot of the register workload: paced register ops, each drawn by the
    /// process; a process whose op ended `info` retires.
    async fn register_slot(
        &self,
        mut process: ClientProcess,
        stop: CancellationToken,
    ) -> Result<(), WorkloadError> {
        while self.pacer.wait(&stop).await {
            let n = self.register_ops.fetch_add(1, Ordering::Relaxed);
            let op = process.draw_register(n);
            if let Outcome::Info(_) = self.register_op(process.number, &op).await? {
                process = self.new_client();
            }
        }
        Ok(())
    }

    /// One register op through the node clients aim at, recorded; a read's value with it.
    async fn register_op(
        &self,
        process: u64,
        op: &RegOp,
    ) -> Result<Outcome<Option<i64>>, WorkloadError> {
        let node = self.target();
        let client = Arc::clone(&self.cluster.clients()[node]);
        let invoke = Some(op.invoke_value());
        let ok = |read: &Option<i64>| Some(op.ok_value(*read));
        match op {
            RegOp::Read { key } => {
                self.op(process, F::Read, node, invoke, client.reg_read(key), ok)
                    .await
            }
            RegOp::Write { key, value } => {
                let call = async { client.reg_write(key, *value).await.map(|()| None) };
                self.op(process, F::Write, node, invoke, call, ok).await
            }
            RegOp::Cas { key, from, to } => {
                let call = async { client.reg_cas(key, *from, *to).await.map(|()| None) };
                self.op(process, F::Cas, node, invoke, call, ok).await
            }
        }
    }

    /// The final phase of a register workload: every key the run touched read through
    /// whichever node leads, each retried until it succeeds or the deadline passes.
    async fn final_register_reads(
        &self,
        deadline: Instant,
    ) -> Result<Vec<(String, Option<Option<i64>>)>, WorkloadError> {
        let keys = keys_touched(
            self.register_ops.load(Ordering::Relaxed),
            FINAL_REGISTER_KEYS_MAX,
        );
        let mut process = self.new_client();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let op = RegOp::Read { key };
            let mut read = None;
            while Instant::now() < deadline {
                match self.register_op(process.number, &op).await? {
                    Outcome::Ok(value) => {
                        read = Some(value);
                        break;
                    }
                    Outcome::Info(_) => process = self.new_client(),
                    Outcome::Fail(_) => {}
                }
                tokio::time::sleep(Duration::from_millis(FINAL_READ_RETRY_MS)).await;
            }
            out.push((op.key().to_string(), read));
        }
        Ok(out)
    }

    /// Issues one op of a cycle; what follows is the process's to plan.
    async fn cycle_op(
        &self,
        process: &mut ClientProcess,
        op: CycleOp,
    ) -> Result<Plan, WorkloadError> {
        let number = process.number;
        let ended = match op {
            CycleOp::Plain => {
                let id = process.next_write_id();
                self.write(number, &id, None).await?.map(|_| None)
            }
            CycleOp::Acquire => self.acquire(process).await?.map(Some),
            CycleOp::Holding(token) => self
                .grant_op(number, F::Holding, token)
                .await?
                .map(|_| None),
            CycleOp::Write(token) => {
                let id = process.next_write_id();
                self.write(number, &id, Some(token)).await?.map(|_| None)
            }
            CycleOp::Release(token) => self
                .grant_op(number, F::Release, token)
                .await?
                .map(|_| None),
        };
        let ended = match &ended {
            Outcome::Ok(token) => Ended::Ok { token: *token },
            other => self::ended(other),
        };
        if let (CycleOp::Acquire, Ended::Ok { token: Some(token) }) = (op, ended) {
            self.newest_grant.send_if_modified(|newest| {
                let newer = token > *newest;
                *newest = (*newest).max(token);
                newer
            });
        }
        Ok(process.completed(&self.params, op, ended))
    }

    /// A holder's stall ([`Plan::Stall`]); false if the run stopped first.
    async fn stall(
        &self,
        token: u64,
        after_ms: u64,
        ms_max: u64,
        stop: &CancellationToken,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms_max);
        let mut newest = self.newest_grant.subscribe();
        let moved = tokio::time::timeout_at(deadline, newest.wait_for(|t| *t > token));
        tokio::select! {
            _ = moved => {}
            _ = stop.cancelled() => return false,
        }
        let wake = (tokio::time::Instant::now() + Duration::from_millis(after_ms)).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => true,
            _ = stop.cancelled() => false,
        }
    }

    async fn write(
        &self,
        process: u64,
        id: &str,
        token: Option<u64>,
    ) -> Result<Outcome<Written>, WorkloadError> {
        let node = self.target();
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

    async fn acquire(&self, process: &ClientProcess) -> Result<Outcome<u64>, WorkloadError> {
        let node = self.target();
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
        let node = self.target();
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
            let node = self.target();
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

/// How an op ended, as the client process and the router see it (an ok's token aside).
fn ended<T>(outcome: &Outcome<T>) -> Ended {
    match outcome {
        Outcome::Ok(_) => Ended::Ok { token: None },
        Outcome::Fail(failure) => Ended::fail(&failure.error),
        Outcome::Info(_) => Ended::Info,
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
        term: status.term,
        leader: Some(status.leader.clone()),
        vote: status.vote.clone(),
        commit: status.commit,
        last_index: status.last_index,
        terms: status.terms.clone(),
        ..Value::default()
    })
}
