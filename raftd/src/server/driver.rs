//! The driver: the one task that owns the Raft core (an actor). Ticks, peer messages and
//! client calls come in over bounded channels; each `Ready` is handled in the order
//! send → persist (fsync) → send persisted messages → respond → advance.
//!
//! Ticks come from a tokio interval on the monotonic clock with
//! `MissedTickBehavior::Skip`: ticks stay on their original grid, so scheduling jitter does
//! not make this node's tick clock run slow (with `Delay`, every late tick would push all
//! later ones back), and after a SIGSTOP/SIGCONT pause no burst of missed ticks fires
//! (which would make a resumed follower campaign at once and flood its peers). The ticks
//! lost in a pause are not replayed, so a resumed leader's tick-counted lease would
//! outlive real time; with a lease configured the driver therefore treats its lease as
//! void for `lease_ticks` ticks after any gap of two tick periods or more (see
//! [`StallGuard`](super::pump::StallGuard)).
//!
//! What to do when is the [`Pump`]'s to say, with time passed in; this file only owns the
//! channels, the disk, the sockets and the clocks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use checkers::ErrorCode;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::api::{ClockResponse, CrashPoint, CrashPointResponse, StatusResponse};
use crate::core::{
    Applied, Bug, Config, ConfigError, Entry, HardState, Message, NodeId, PersistBatch, Persisted,
    ProposeError, RawNode, Request, Response, RestoreError,
};

use super::clock::WallClock;
use super::crash::{CrashPoints, Moment, CRASH_POINT_EXIT_CODE};
use super::error::ApiError;
use super::pump::{Answer, Output, Pump, Round, READY_ROUNDS_MAX};
use super::read_body::{EncodedLog, ReadBody};
use super::storage::{Storage, StorageError};
use super::transport::Transport;

/// Client calls waiting for the driver; beyond it new calls get 503 overloaded.
pub const CALL_QUEUE_MAX: usize = 1024;
/// Peer messages waiting for the driver; beyond it the peer connections wait.
pub const INBOUND_QUEUE_MAX: usize = 4096;
/// Inputs taken in one batch before their `Ready` is handled (one fsync per batch).
pub const INPUT_BATCH_MAX: usize = 256;
/// How often answers nobody waits for any more are forgotten, in ticks.
pub const PURGE_EVERY_TICKS: u64 = 20;

/// What went wrong in the driver; each is fatal to the node.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("stored state: {0}")]
    Restore(#[from] RestoreError),
}

/// A request for the driver, with the channel its answer goes back on.
#[derive(Debug)]
pub enum Call {
    Propose {
        request: Request,
        reply: oneshot::Sender<Result<Applied, ApiError>>,
    },
    Status {
        reply: oneshot::Sender<StatusResponse>,
    },
    /// `GET /read`: linearizable, or this node's applied log (`local`).
    Read {
        local: bool,
        reply: oneshot::Sender<Result<ReadBody, ApiError>>,
    },
    SetClock {
        offset_ms: i64,
        rate: f64,
        reply: oneshot::Sender<ClockResponse>,
    },
    /// `POST /admin/crash-point`.
    ArmCrashPoints {
        points: Vec<CrashPoint>,
        reply: oneshot::Sender<CrashPointResponse>,
    },
}

/// The way to the driver, for the HTTP handlers.
#[derive(Clone, Debug)]
pub struct Handle {
    pub calls: mpsc::Sender<Call>,
    pub tick_ms: u64,
}

impl Handle {
    /// A TTL in milliseconds as whole ticks, rounded up (a grant never expires early).
    pub fn ttl_ticks(&self, ttl_ms: u64) -> u64 {
        ttl_ms.div_ceil(self.tick_ms.max(1)).max(1)
    }
}

/// Everything the driver needs besides its channels.
#[derive(Debug, Clone)]
pub struct DriverSetup {
    pub core: Config,
    pub data_dir: PathBuf,
    /// Every node's client address (`host:port`), for `leader_addr`.
    pub client_addrs: HashMap<NodeId, String>,
}

/// A request waiting for the core's answer.
#[derive(Debug)]
enum Waiter {
    Propose(oneshot::Sender<Result<Applied, ApiError>>),
    /// A linearizable read, answered with the encoded log.
    Read(oneshot::Sender<Result<ReadBody, ApiError>>),
}

impl Waiter {
    /// Answers with `e`; a client that gave up waiting is no one's concern.
    fn fail(self, e: ApiError) {
        match self {
            Waiter::Propose(reply) => drop(reply.send(Err(e))),
            Waiter::Read(reply) => drop(reply.send(Err(e))),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Waiter::Propose(reply) => reply.is_closed(),
            Waiter::Read(reply) => reply.is_closed(),
        }
    }
}

/// The actor that owns the core.
pub struct Driver {
    pump: Pump<Waiter>,
    storage: Storage<HardState, Entry>,
    transport: Transport<Message>,
    setup: DriverSetup,
    clock: WallClock,
    /// The instant the pump's monotonic nanoseconds count from.
    epoch: Instant,
    /// The write log as `GET /read` answers it, shared by every answer in flight.
    log_json: EncodedLog,
    ticks: u64,
    crash_points: CrashPoints,
}

impl Driver {
    /// Opens the data directory and rebuilds the core from it.
    pub fn open(setup: DriverSetup, transport: Transport<Message>) -> Result<Self, DriverError> {
        setup.core.validate()?;
        let (storage, recovered) =
            Storage::<HardState, Entry>::open(&setup.data_dir, &setup.core.id)?;
        if recovered.torn_tail_bytes > 0 {
            warn!(
                bytes = recovered.torn_tail_bytes,
                "cut a torn tail off the log (a write interrupted by a crash)"
            );
        }
        let fresh = recovered.hard_state.is_none() && recovered.entries.is_empty();
        info!(
            entries = recovered.entries.len(),
            hard_state = ?recovered.hard_state,
            "opened {}",
            setup.data_dir.display()
        );
        let node = if fresh {
            RawNode::new(setup.core.clone())?
        } else {
            let persisted = Persisted {
                hard_state: recovered.hard_state.unwrap_or_default(),
                entries: recovered.entries,
            };
            RawNode::restore(setup.core.clone(), persisted)?
        };
        Ok(Driver {
            pump: Pump::new(node, 0),
            storage,
            transport,
            setup,
            clock: WallClock::default(),
            epoch: Instant::now(),
            log_json: EncodedLog::default(),
            ticks: 0,
            crash_points: CrashPoints::default(),
        })
    }

    /// Runs until both input channels close or storage fails.
    pub async fn run(
        mut self,
        mut calls: mpsc::Receiver<Call>,
        mut inbound: mpsc::Receiver<Message>,
    ) -> Result<(), DriverError> {
        let tick = Duration::from_millis(self.setup.core.tick_ms);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        // The tick grid starts now: opening the data directory is no stall.
        self.epoch = Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = ticker.tick() => self.on_tick(),
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_message(m),
                    None => return Ok(()),
                },
                call = calls.recv() => match call {
                    Some(c) => self.on_call(c),
                    None => return Ok(()),
                },
            }
            self.drain_inputs(&mut calls, &mut inbound);
            self.handle_ready()?;
        }
    }

    /// Takes what is already waiting, bounded, so that one fsync serves many inputs.
    fn drain_inputs(
        &mut self,
        calls: &mut mpsc::Receiver<Call>,
        inbound: &mut mpsc::Receiver<Message>,
    ) {
        // One of each per round, so that neither kind of input starves the other.
        for _ in 0..INPUT_BATCH_MAX / 2 {
            let message = inbound.try_recv().ok();
            let call = calls.try_recv().ok();
            if message.is_none() && call.is_none() {
                return;
            }
            if let Some(m) = message {
                self.on_message(m);
            }
            if let Some(c) = call {
                self.on_call(c);
            }
        }
    }

    /// Nanoseconds on the pump's monotonic clock.
    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn on_tick(&mut self) {
        if let Some(gap_ns) = self.pump.tick(self.now_ns(), self.clock.now_ms()) {
            warn!(
                gap_ms = gap_ns / 1_000_000,
                "ticks stalled; the lease counts as void until fresh acknowledgements arrive"
            );
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(PURGE_EVERY_TICKS) {
            self.pump.retain_waiters(|waiter| !waiter.is_closed());
        }
    }

    fn on_message(&mut self, msg: Message) {
        let (from, kind) = (msg.from.clone(), msg.body.kind());
        if let Err(e) = self.pump.message(msg, self.clock.now_ms()) {
            debug!(%from, kind, "message refused: {e}");
        }
    }

    fn on_call(&mut self, call: Call) {
        match call {
            Call::Propose { request, reply } => self.on_propose(request, Waiter::Propose(reply)),
            Call::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Call::Read { local: true, reply } => {
                let log = self.pump.node().state_machine().write_log();
                let _ = reply.send(Ok(self.log_json.body(log)));
            }
            Call::Read {
                local: false,
                reply,
            } => self.on_propose(Request::Read, Waiter::Read(reply)),
            Call::SetClock {
                offset_ms,
                rate,
                reply,
            } => {
                self.clock.set(offset_ms, rate);
                info!(offset_ms, rate, "wall clock adjusted");
                let _ = reply.send(ClockResponse {
                    clock_offset_ms: offset_ms,
                    clock_rate: rate,
                });
            }
            Call::ArmCrashPoints { points, reply } => {
                let now = self.moment();
                self.crash_points.arm(&points, now);
                self.pump.withhold_own_term(self.crash_points.withholds());
                let points = self.crash_points.armed().to_vec();
                info!(?points, "crash points armed");
                let _ = reply.send(CrashPointResponse { points });
            }
        }
    }

    fn on_propose(&mut self, request: Request, waiter: Waiter) {
        let mut out = Output::default();
        self.pump.propose(self.now_ns(), request, waiter, &mut out);
        self.deliver(out);
    }

    fn propose_error(&self, e: ProposeError) -> ApiError {
        match e {
            ProposeError::NotLeader { leader } => self.not_leader(leader),
            ProposeError::Busy { bound } => ApiError::new(
                ErrorCode::Overloaded,
                format!("{bound} requests are already waiting; nothing was proposed"),
            ),
            ProposeError::Invalid(reason) => ApiError::new(ErrorCode::BadRequest, reason),
            ProposeError::DuplicateId(id) => ApiError::new(
                ErrorCode::Internal,
                format!("request id {id} was reused; nothing was proposed"),
            ),
        }
    }

    fn not_leader(&self, leader: Option<NodeId>) -> ApiError {
        let leader_addr = leader
            .as_ref()
            .and_then(|l| self.setup.client_addrs.get(l).cloned());
        let reason = match &leader {
            Some(l) => format!("this node is not the leader; {l} is"),
            None => "this node is not the leader and knows no leader".to_string(),
        };
        let mut err = ApiError::new(ErrorCode::NotLeader, reason);
        err.body.leader = leader;
        err.body.leader_addr = leader_addr;
        err
    }

    fn status(&self) -> StatusResponse {
        let now_ns = self.now_ns();
        let soft = self.pump.node().status();
        let lease_void = self.pump.lease_void(now_ns);
        let role = self.pump.reported_role(now_ns);
        let leader_addr = soft
            .leader
            .as_ref()
            .and_then(|l| self.setup.client_addrs.get(l).cloned());
        StatusResponse {
            id: soft.id,
            role: role.to_string(),
            term: soft.term,
            leader: soft.leader,
            leader_addr,
            vote: soft.vote,
            commit: soft.commit,
            applied: soft.applied,
            last_index: soft.last_index,
            terms: crate::api::terms_of(self.pump.node()),
            lease: soft.lease_valid && !lease_void,
            clock_offset_ms: self.clock.offset_ms(),
            clock_rate: self.clock.rate(),
        }
    }

    fn moment(&self) -> Moment {
        Moment::of(self.pump.node())
    }

    /// Handles `Ready`s until the core has none (bounded): a `Ready`'s messages go out,
    /// its batch is made durable, then what waited for it is sent and answered.
    fn handle_ready(&mut self) -> Result<(), DriverError> {
        for _ in 0..READY_ROUNDS_MAX {
            let mut out = Output::default();
            let round = self.pump.ready_round(&mut out);
            if round != Round::Idle {
                let node = self.pump.node();
                if let Some(point) = self.crash_points.reached(|| Moment::of(node)) {
                    self.crash(point, round)?;
                }
            }
            match round {
                Round::Idle => return Ok(()),
                Round::Done => self.deliver(out),
                Round::Persist => {
                    for m in std::mem::take(&mut out.msgs) {
                        self.send(m);
                    }
                    let batch = self.pump.in_flight().expect("a batch is in flight");
                    let storage = &mut self.storage;
                    let sync_log = !self.setup.core.bugs.has(Bug::AckBeforeSync);
                    tokio::task::block_in_place(|| persist(storage, batch, sync_log))?;
                    self.pump.persisted(&mut out);
                    self.deliver(out);
                }
            }
        }
        Ok(())
    }

    /// A crash point fired: the round's batch is made durable, none of its messages
    /// leave, and the process exits.
    fn crash(&mut self, point: CrashPoint, round: Round) -> Result<(), DriverError> {
        if round == Round::Persist {
            let batch = self.pump.in_flight().expect("a batch is in flight");
            let sync_log = !self.setup.core.bugs.has(Bug::AckBeforeSync);
            let storage = &mut self.storage;
            tokio::task::block_in_place(|| persist(storage, batch, sync_log))?;
        }
        let now = self.moment();
        warn!(
            %point,
            role = ?now.role,
            term = now.term,
            commit = now.commit,
            "crash point reached: exiting with the round durable and unsent"
        );
        std::process::exit(CRASH_POINT_EXIT_CODE)
    }

    /// Sends what the pump says to send and answers its answers.
    fn deliver(&mut self, out: Output<Waiter>) {
        for m in out.msgs {
            self.send(m);
        }
        for (waiter, answer) in out.answers {
            self.answer(waiter, answer);
        }
    }

    fn send(&self, m: Message) {
        let to = m.to.clone();
        if !self.transport.send(&to, &m) {
            debug!(%to, kind = m.body.kind(), "message dropped");
        }
    }

    /// Hands an answer to whoever waits for it. A read's log is encoded (into the shared
    /// encoding) and let go of here, before the core applies more writes, so that the
    /// core's next write does not copy the log.
    fn answer(&mut self, waiter: Waiter, answer: Answer) {
        let applied = match answer {
            Answer::Applied(applied) => applied,
            Answer::NotLeader(leader) => return waiter.fail(self.not_leader(leader)),
            Answer::Refused(e) => return waiter.fail(self.propose_error(e)),
            Answer::NoQuorum => {
                return waiter.fail(ApiError::new(
                    ErrorCode::NoQuorum,
                    "this leader's ticks stalled; it serves no reads until a quorum acknowledges it again",
                ))
            }
        };
        match (waiter, applied.response) {
            (Waiter::Read(reply), Response::Log { log }) => {
                let _ = reply.send(Ok(self.log_json.body(&log)));
            }
            (Waiter::Read(reply), other) => {
                let _ = reply.send(Err(ApiError::new(
                    ErrorCode::Internal,
                    format!("the core answered {other:?} to a read"),
                )));
            }
            (Waiter::Propose(reply), response) => {
                let _ = reply.send(Ok(Applied {
                    response,
                    refusal: applied.refusal,
                }));
            }
        }
    }
}

/// Makes one batch durable: truncate, append, fsync the log, then the hard state.
/// `sync_log` is false only under the `ack-before-sync` bug.
fn persist(
    storage: &mut Storage<HardState, Entry>,
    batch: &PersistBatch,
    sync_log: bool,
) -> Result<(), StorageError> {
    if let Some(from) = batch.truncate_from {
        storage.truncate(from)?;
    }
    if let Some(first) = batch.entries.first() {
        for (i, e) in batch.entries.iter().enumerate() {
            assert_eq!(
                e.index,
                first.index + i as u64,
                "entries of a batch are contiguous"
            );
        }
        storage.append(first.index, &batch.entries)?;
    }
    // BUG(ack-before-sync): the log is never fsynced; what the node acknowledges
    // next (its append responses, a leader's commits) rests on the page cache.
    if sync_log {
        storage.sync()?;
    }
    if let Some(hs) = &batch.hard_state {
        storage.save_hard_state(hs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_ticks() {
        let (tx, _rx) = mpsc::channel(1);
        let h = Handle {
            calls: tx,
            tick_ms: 50,
        };
        assert_eq!(h.ttl_ticks(1), 1);
        assert_eq!(h.ttl_ticks(50), 1);
        assert_eq!(h.ttl_ticks(51), 2);
        assert_eq!(h.ttl_ticks(3000), 60);
    }

    #[test]
    fn ack_before_sync_leaves_the_batch_unsynced() {
        for sync_log in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let (mut storage, _) = Storage::<HardState, Entry>::open(dir.path(), "n1").unwrap();
            let batch = PersistBatch {
                hard_state: None,
                truncate_from: None,
                entries: vec![Entry {
                    term: 1,
                    index: 1,
                    data: crate::core::EntryData::Noop,
                }],
            };
            persist(&mut storage, &batch, sync_log).unwrap();
            assert_eq!(storage.unsynced(), !sync_log);
        }
    }
}
