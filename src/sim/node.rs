//! One simulated raftd node: raftd's own [`Pump`] — the driver's logic without its I/O:
//! the `Ready` pump, the stall guard, the requests waiting for the core — driven with
//! simulated time, with a simulated disk, the fsync in flight, and the inputs queued
//! while the node is busy or paused (a socket's buffer in a real run).

use std::collections::VecDeque;

use checkers::{ErrorCode, LogEntry};
use raftd::api::CrashPoint;
use raftd::core::{
    Config, Entry, FenceRefusal, HardState, Message, PersistBatch, Persisted, ProposeError,
    RawNode, Request, Response, Role,
};
use raftd::server::crash::{CrashPoints, Moment};
use raftd::server::pump::{self, Pump, Round, READY_ROUNDS_MAX};
/// Bound on the inputs a busy or paused node keeps; beyond it new ones are lost, as a
/// full socket buffer would lose them.
const INBOX_MAX: usize = 65_536;

/// What survives a crash: the hard state and the log, exactly as far as fsyncs got.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

impl Disk {
    /// Truncate, then append (the log half of a batch, synced first by raftd's driver).
    fn apply_log(&mut self, batch: &PersistBatch) {
        if let Some(from) = batch.truncate_from {
            assert!(from >= 1, "truncation from index 0");
            self.entries.truncate((from - 1) as usize);
        }
        if let Some(first) = batch.entries.first() {
            // An append may overlap what is stored: it replaces from its first index.
            self.entries.truncate((first.index - 1) as usize);
            assert_eq!(
                self.entries.len() as u64 + 1,
                first.index,
                "an append leaves no gap in the stored log"
            );
            self.entries.extend(batch.entries.iter().cloned());
        }
    }

    fn apply(&mut self, batch: &PersistBatch) {
        self.apply_log(batch);
        if let Some(hs) = &batch.hard_state {
            self.hard_state = hs.clone();
        }
    }
}

/// What a client asks of a node.
#[derive(Debug, Clone)]
pub enum Call {
    Status,
    ReadLocal,
    Propose(Request),
}

/// A client request as it reaches the node: the op it belongs to and the call.
#[derive(Debug, Clone)]
pub struct ClientReq {
    pub op: u64,
    pub call: Call,
}

/// A successful answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Status {
        role: String,
        term: u64,
        leader: Option<String>,
        commit: u64,
        applied: u64,
        last_index: u64,
        terms: Vec<[u64; 2]>,
        vote: Option<Option<String>>,
    },
    Token(u64),
    Holding(bool),
    Released,
    Written,
    Log(Vec<LogEntry>),
    /// A register's value (`None`: never written).
    Register(Option<i64>),
    /// A register write or compare-and-set took effect.
    RegisterSet,
}

/// How a call ended, as raftd's HTTP layer and the client map it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok(Answer),
    Fail {
        error: ErrorCode,
        leader: Option<String>,
    },
    Info(ErrorCode),
}

impl Outcome {
    pub fn fail(error: ErrorCode) -> Outcome {
        Outcome::Fail {
            error,
            leader: None,
        }
    }
}

/// The node's two clocks at one instant: its monotonic clock (ticks, the stall guard)
/// and its wall clock (handed to the core for `wall-clock-lease`).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono_ns: u64,
    pub wall_ms: u64,
}

/// What a node asks of the world after an input.
#[derive(Debug, Default)]
pub struct Out {
    pub msgs: Vec<Message>,
    pub replies: Vec<(u64, Outcome)>,
    /// A batch went to disk: complete it after the fsync delay.
    pub fsync: bool,
    /// Requests now waiting for the core: answer `timeout` if still waiting then.
    pub waiting: Vec<u64>,
    /// The node reached an armed crash point: its round is on disk, nothing of it was
    /// sent, and the process must die.
    pub crashed: Option<CrashPoint>,
}

enum Input {
    Msg(Message),
    Req(ClientReq),
    Tick,
}

/// One node of the simulated cluster.
pub struct SimNode {
    cfg: Config,
    /// The core in raftd's pump, whose waiters are ops; `None` while the node is down.
    core: Option<Pump<u64>>,
    pub disk: Disk,
    /// Bumped at every kill and start, so that events of an earlier life are ignored.
    pub incarnation: u64,
    pub paused: bool,
    inbox: VecDeque<Input>,
    /// Messages the core refused as malformed (a finding of its own).
    pub refused: u64,
    /// What raftd's driver would have armed (`POST /admin/crash-point`).
    crash_points: CrashPoints,
}

impl SimNode {
    pub fn new(cfg: Config, now: Now) -> SimNode {
        let core = RawNode::new(cfg.clone()).expect("the simulator's config is valid");
        SimNode {
            cfg,
            core: Some(Pump::new(core, now.mono_ns)),
            disk: Disk::default(),
            incarnation: 0,
            paused: false,
            inbox: VecDeque::new(),
            refused: 0,
            crash_points: CrashPoints::default(),
        }
    }

    /// Arms `point` beside what is armed, as raftd's driver does; a node that is down
    /// arms nothing.
    pub fn arm(&mut self, point: CrashPoint) {
        if let Some(pump) = self.core.as_mut() {
            self.crash_points.add(point, Moment::of(pump.node()));
            pump.withhold_own_term(self.crash_points.withholds());
        }
    }

    /// Disarms `point`, keeping what else is armed.
    pub fn disarm(&mut self, point: CrashPoint) {
        if let Some(pump) = self.core.as_mut() {
            self.crash_points.remove(point, Moment::of(pump.node()));
            pump.withhold_own_term(self.crash_points.withholds());
        }
    }

    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }

    /// The role raftd's `/status` would report now, with its term, if the node answers.
    pub fn reported(&self, now: Now) -> Option<(String, u64)> {
        let pump = self.core.as_ref()?;
        let term = pump.node().status().term;
        Some((pump.reported_role(now.mono_ns).to_string(), term))
    }

    /// Role as `/status` reports it, term and leader, for the node's log.
    pub fn seen(&self, now: Now) -> Option<(String, u64, Option<String>)> {
        let soft = self.core.as_ref()?.node().status();
        let (role, term) = self.reported(now)?;
        Some((role, term, soft.leader))
    }

    /// The term and the vote the core holds now (not what reached the disk).
    pub fn vote(&self) -> Option<(u64, Option<String>)> {
        let hs = self.core.as_ref()?.node().hard_state();
        Some((hs.term, hs.vote))
    }

    /// The term this node leads and its commit index, if it is the leader.
    pub fn leading(&self) -> Option<(u64, u64)> {
        let soft = self.core.as_ref()?.node().status();
        (soft.role == Role::Leader).then_some((soft.term, soft.commit))
    }

    /// A message arrives from the network.
    pub fn deliver(&mut self, now: Now, m: Message, out: &mut Out) {
        self.input(now, Input::Msg(m), out);
    }

    /// A client request arrives.
    pub fn request(&mut self, now: Now, r: ClientReq, out: &mut Out) {
        self.input(now, Input::Req(r), out);
    }

    /// A tick is due on this node's grid. A paused node loses it (raftd's ticker skips
    /// missed ticks); a node busy with an fsync takes it once the fsync is done.
    pub fn tick(&mut self, now: Now, out: &mut Out) {
        if self.paused || self.core.is_none() {
            return;
        }
        self.input(now, Input::Tick, out);
    }

    fn input(&mut self, now: Now, input: Input, out: &mut Out) {
        assert!(self.core.is_some(), "input to a node that is down");
        if self.paused || self.busy() {
            if self.inbox.len() < INBOX_MAX {
                self.inbox.push_back(input);
            }
            return;
        }
        self.process(now, input, out);
        self.pump(out);
    }

    /// Whether an fsync is in flight: raftd's driver blocks on it, so inputs wait.
    fn busy(&self) -> bool {
        self.core.as_ref().is_some_and(|p| p.in_flight().is_some())
    }

    fn process(&mut self, now: Now, input: Input, out: &mut Out) {
        let pump = self.core.as_mut().expect("the node is up");
        match input {
            Input::Tick => {
                pump.tick(now.mono_ns, now.wall_ms);
            }
            Input::Msg(m) => {
                if pump.message(m, now.wall_ms).is_err() {
                    self.refused += 1;
                }
            }
            Input::Req(r) => self.on_request(now, r, out),
        }
    }

    fn on_request(&mut self, now: Now, r: ClientReq, out: &mut Out) {
        let pump = self.core.as_mut().expect("the node is up");
        let request = match r.call {
            Call::Status => {
                let soft = pump.node().status();
                let answer = Answer::Status {
                    role: pump.reported_role(now.mono_ns).to_string(),
                    term: soft.term,
                    leader: soft.leader,
                    commit: soft.commit,
                    applied: soft.applied,
                    last_index: soft.last_index,
                    terms: raftd::api::terms_of(pump.node()),
                    vote: soft.vote,
                };
                out.replies.push((r.op, Outcome::Ok(answer)));
                return;
            }
            Call::ReadLocal => {
                let log = log_of(pump.node().state_machine().write_log());
                out.replies.push((r.op, Outcome::Ok(Answer::Log(log))));
                return;
            }
            Call::Propose(request) => request,
        };
        let mut pumped = pump::Output::default();
        pump.propose(now.mono_ns, request, r.op, &mut pumped);
        take(pumped, out);
    }

    /// Handles `Ready`s until the core has none or an fsync is in flight.
    fn pump(&mut self, out: &mut Out) {
        let pump = self.core.as_mut().expect("the node is up");
        for _ in 0..READY_ROUNDS_MAX {
            let mut pumped = pump::Output::default();
            let round = pump.ready_round(&mut pumped);
            if round != Round::Idle {
                let node = pump.node();
                if let Some(point) = self.crash_points.reached(|| Moment::of(node)) {
                    // As raftd's driver: the round made durable, none of it sent.
                    if round == Round::Persist {
                        let batch = pump.in_flight().expect("a batch is in flight");
                        self.disk.apply(batch);
                    }
                    out.crashed = Some(point);
                    return;
                }
            }
            take(pumped, out);
            match round {
                Round::Idle => return,
                Round::Done => {}
                Round::Persist => {
                    out.fsync = true;
                    return;
                }
            }
        }
    }

    /// The fsync in flight completed; the node takes what queued up meanwhile.
    pub fn fsync_done(&mut self, now: Now, out: &mut Out) {
        let pump = self.core.as_mut().expect("the node is up");
        let batch = pump.in_flight().expect("an fsync was in flight");
        self.disk.apply(batch);
        let mut pumped = pump::Output::default();
        pump.persisted(&mut pumped);
        take(pumped, out);
        self.pump(out);
        self.drain(now, out);
    }

    fn drain(&mut self, now: Now, out: &mut Out) {
        while !self.paused && !self.busy() {
            let Some(input) = self.inbox.pop_front() else {
                return;
            };
            self.process(now, input, out);
            self.pump(out);
        }
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn resume(&mut self, now: Now, out: &mut Out) {
        self.paused = false;
        if self.core.is_some() && !self.busy() {
            self.drain(now, out);
        }
    }

    /// SIGKILL: memory is gone; an fsync in flight is lost, or (`log_synced`) only its
    /// log half reached the disk, as raftd syncs the log before the hard state. Returns
    /// the ops whose requests were waiting in the node: their outcome is unknown.
    pub fn kill(&mut self, log_synced: bool) -> Vec<u64> {
        let (in_flight, mut lost) = self.core.take().map(Pump::crash).unwrap_or_default();
        if let (Some(batch), true) = (in_flight, log_synced) {
            self.disk.apply_log(&batch);
            // A log cut back below the stored commit index would fail a restore.
            let last = self.disk.entries.len() as u64;
            self.disk.hard_state.commit = self.disk.hard_state.commit.min(last);
        }
        self.paused = false;
        self.incarnation += 1;
        self.crash_points = CrashPoints::default();
        for input in std::mem::take(&mut self.inbox) {
            if let Input::Req(r) = input {
                lost.push(r.op);
            }
        }
        lost
    }

    /// Start again from the disk; an error says why the stored state was refused (the
    /// node then stays down, as raftd would exit).
    pub fn start(&mut self, now: Now) -> Result<(), String> {
        assert!(self.core.is_none(), "start of a running node");
        let persisted = Persisted {
            hard_state: self.disk.hard_state.clone(),
            entries: self.disk.entries.clone(),
        };
        let core = RawNode::restore(self.cfg.clone(), persisted).map_err(|e| e.to_string())?;
        self.core = Some(Pump::new(core, now.mono_ns));
        self.incarnation += 1;
        Ok(())
    }

    /// raftd's request timeout: a request still waiting is answered `timeout`.
    pub fn request_timeout(&mut self, req_id: u64, out: &mut Out) {
        if let Some(op) = self.core.as_mut().and_then(|p| p.forget(req_id)) {
            out.replies.push((op, Outcome::Info(ErrorCode::Timeout)));
        }
    }
}

/// Hands what the pump says to the world: messages out, answers mapped as raftd's HTTP
/// layer and its client map them.
fn take(pumped: pump::Output<u64>, out: &mut Out) {
    out.msgs.extend(pumped.msgs);
    out.waiting.extend(pumped.waiting);
    for (op, answer) in pumped.answers {
        out.replies.push((op, outcome_of(answer)));
    }
}

fn outcome_of(answer: pump::Answer) -> Outcome {
    match answer {
        pump::Answer::Applied(applied) => match (applied.response, applied.refusal) {
            (Response::StaleToken, Some(FenceRefusal::NeverGranted)) => {
                Outcome::fail(ErrorCode::UnknownToken)
            }
            (response, _) => answer_of(response),
        },
        pump::Answer::NotLeader(leader) => Outcome::Fail {
            error: ErrorCode::NotLeader,
            leader,
        },
        pump::Answer::Refused(e) => refusal(e),
        pump::Answer::NoQuorum => Outcome::fail(ErrorCode::NoQuorum),
    }
}

fn log_of(writes: &[raftd::core::WriteRecord]) -> Vec<LogEntry> {
    writes
        .iter()
        .map(|w| LogEntry {
            id: w.id.clone(),
            token: w.token,
        })
        .collect()
}

/// A refused proposal, as raftd's driver answers it.
fn refusal(e: ProposeError) -> Outcome {
    match e {
        ProposeError::NotLeader { leader } => Outcome::Fail {
            error: ErrorCode::NotLeader,
            leader,
        },
        ProposeError::Busy { .. } => Outcome::fail(ErrorCode::Overloaded),
        ProposeError::Invalid(_) => Outcome::fail(ErrorCode::BadRequest),
        ProposeError::DuplicateId(_) => Outcome::Info(ErrorCode::Internal),
    }
}

/// The core's answer, as raftd's HTTP layer maps it.
fn answer_of(r: Response) -> Outcome {
    match r {
        Response::Acquired { token } => Outcome::Ok(Answer::Token(token)),
        Response::Released => Outcome::Ok(Answer::Released),
        Response::Written { .. } => Outcome::Ok(Answer::Written),
        Response::Log { log } => Outcome::Ok(Answer::Log(log_of(&log))),
        Response::Holding { holding } => Outcome::Ok(Answer::Holding(holding)),
        Response::StaleToken => Outcome::fail(ErrorCode::StaleToken),
        Response::Held { .. } => Outcome::fail(ErrorCode::Held),
        Response::NotHolder => Outcome::fail(ErrorCode::NotHolder),
        Response::NotLeader { leader } => Outcome::Fail {
            error: ErrorCode::NotLeader,
            leader,
        },
        Response::Dropped => Outcome::Info(ErrorCode::Timeout),
        Response::Register { value } => Outcome::Ok(Answer::Register(value)),
        Response::RegisterSet => Outcome::Ok(Answer::RegisterSet),
        Response::CasMismatch { .. } => Outcome::fail(ErrorCode::CasMismatch),
    }
}
