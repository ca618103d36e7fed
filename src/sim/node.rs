//! One simulated raftd node, driven the way raftd's server driver drives its core: the
//! core, its disk, the fsync in flight, the inputs queued while it is busy or paused,
//! the stall guard that voids the lease after a gap in ticks, and the client requests
//! waiting for the core.

use std::collections::{BTreeMap, VecDeque};

use checkers::LogEntry;
use raftd::core::{
    Config, Entry, HardState, Message, PersistBatch, Persisted, ProposeError, RawNode, Ready,
    Request, Response, Role,
};

/// Bound on the `Ready` rounds handled after one input, as raftd's driver bounds them.
const READY_ROUNDS_MAX: usize = 8;
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
        vote: Option<Option<String>>,
    },
    Token(u64),
    Holding(bool),
    Released,
    Written,
    Log(Vec<LogEntry>),
}

/// How a call ended, as raftd's HTTP layer and the client map it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok(Answer),
    Fail {
        error: String,
        leader: Option<String>,
    },
    Info(String),
}

impl Outcome {
    pub fn fail(error: &str) -> Outcome {
        Outcome::Fail {
            error: error.to_string(),
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
}

/// raftd's stall guard: after a gap of two tick periods or more the lease counts as
/// void for `lease_ticks + 1` ticks, and it is void while a tick is overdue.
#[derive(Debug, Clone)]
struct StallGuard {
    tick_ns: u64,
    lease_ticks: Option<u64>,
    last_tick_ns: u64,
    void_ticks_left: u64,
}

impl StallGuard {
    fn on_tick(&mut self, now_ns: u64) {
        let gap = now_ns.saturating_sub(self.last_tick_ns);
        self.last_tick_ns = now_ns;
        self.void_ticks_left = self.void_ticks_left.saturating_sub(1);
        if let Some(lease) = self.lease_ticks {
            if gap >= self.tick_ns * 2 {
                self.void_ticks_left = lease + 1;
            }
        }
    }

    fn lease_void(&self, now_ns: u64) -> bool {
        let overdue = now_ns.saturating_sub(self.last_tick_ns) >= self.tick_ns * 2;
        self.void_ticks_left > 0 || (self.lease_ticks.is_some() && overdue)
    }
}

enum Input {
    Msg(Message),
    Req(ClientReq),
    Tick,
}

/// One node of the simulated cluster.
pub struct SimNode {
    cfg: Config,
    core: Option<RawNode>,
    pub disk: Disk,
    /// Bumped at every kill and start, so that events of an earlier life are ignored.
    pub incarnation: u64,
    pub paused: bool,
    inbox: VecDeque<Input>,
    persisting: Option<Ready>,
    guard: StallGuard,
    /// Request ids waiting for the core, and their ops.
    pending: BTreeMap<u64, u64>,
    next_req_id: u64,
    /// Messages the core refused as malformed (a finding of its own).
    pub refused: u64,
}

impl SimNode {
    pub fn new(cfg: Config, now: Now) -> SimNode {
        let core = RawNode::new(cfg.clone()).expect("the simulator's config is valid");
        SimNode {
            guard: guard_for(&cfg, now),
            cfg,
            core: Some(core),
            disk: Disk::default(),
            incarnation: 0,
            paused: false,
            inbox: VecDeque::new(),
            persisting: None,
            pending: BTreeMap::new(),
            next_req_id: 1,
            refused: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }

    /// The role raftd's `/status` would report now, with its term, if the node answers.
    pub fn reported(&self, now: Now) -> Option<(String, u64)> {
        let core = self.core.as_ref()?;
        let soft = core.status();
        let role = if soft.role == Role::Leader && self.guard.lease_void(now.mono_ns) {
            "leader-without-lease"
        } else {
            soft.reported_role()
        };
        Some((role.to_string(), soft.term))
    }

    /// Role as `/status` reports it, term and leader, for the node's log.
    pub fn seen(&self, now: Now) -> Option<(String, u64, Option<String>)> {
        let core = self.core.as_ref()?;
        let soft = core.status();
        let (role, term) = self.reported(now)?;
        Some((role, term, soft.leader))
    }

    /// The term and the vote the core holds now (not what reached the disk).
    pub fn vote(&self) -> Option<(u64, Option<String>)> {
        let hs = self.core.as_ref()?.hard_state();
        Some((hs.term, hs.vote))
    }

    /// The term this node leads and its commit index, if it is the leader.
    pub fn leading(&self) -> Option<(u64, u64)> {
        let soft = self.core.as_ref()?.status();
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
        if self.paused || self.persisting.is_some() {
            if self.inbox.len() < INBOX_MAX {
                self.inbox.push_back(input);
            }
            return;
        }
        self.process(now, input, out);
        self.pump(out);
    }

    fn process(&mut self, now: Now, input: Input, out: &mut Out) {
        let core = self.core.as_mut().expect("the node is up");
        match input {
            Input::Tick => {
                self.guard.on_tick(now.mono_ns);
                core.tick_wall(now.wall_ms);
            }
            Input::Msg(m) => {
                core.set_wall_ms(now.wall_ms);
                if core.step(m).is_err() {
                    self.refused += 1;
                }
            }
            Input::Req(r) => self.on_request(now, r, out),
        }
    }

    fn on_request(&mut self, now: Now, r: ClientReq, out: &mut Out) {
        let core = self.core.as_mut().expect("the node is up");
        let request = match r.call {
            Call::Status => {
                let soft = core.status();
                let role = if soft.role == Role::Leader && self.guard.lease_void(now.mono_ns) {
                    "leader-without-lease"
                } else {
                    soft.reported_role()
                };
                let answer = Answer::Status {
                    role: role.to_string(),
                    term: soft.term,
                    leader: soft.leader,
                    commit: soft.commit,
                    applied: soft.applied,
                    vote: soft.vote,
                };
                out.replies.push((r.op, Outcome::Ok(answer)));
                return;
            }
            Call::ReadLocal => {
                let log = log_of(core.state_machine().write_log());
                out.replies.push((r.op, Outcome::Ok(Answer::Log(log))));
                return;
            }
            Call::Propose(request) => request,
        };
        let read = matches!(request, Request::Read | Request::Holding { .. });
        if read && self.guard.lease_void(now.mono_ns) && core.status().role == Role::Leader {
            out.replies.push((r.op, Outcome::fail("no-quorum")));
            return;
        }
        let req_id = self.next_req_id;
        self.next_req_id += 1;
        match core.propose(req_id, request) {
            Ok(()) => {
                self.pending.insert(req_id, r.op);
                out.waiting.push(req_id);
            }
            Err(e) => out.replies.push((r.op, refusal(e))),
        }
    }

    /// Handles `Ready`s until the core has none or an fsync is in flight.
    fn pump(&mut self, out: &mut Out) {
        for _ in 0..READY_ROUNDS_MAX {
            if self.persisting.is_some() {
                return;
            }
            let core = self.core.as_mut().expect("the node is up");
            if !core.has_ready() {
                return;
            }
            let mut rd = core.ready();
            out.msgs.append(&mut rd.messages);
            if rd.persist.is_empty() {
                self.finish(rd, out);
            } else {
                self.persisting = Some(rd);
                out.fsync = true;
            }
        }
    }

    /// The batch is durable: send what waited for it, answer, advance.
    fn finish(&mut self, mut rd: Ready, out: &mut Out) {
        self.disk.apply(&rd.persist);
        let proof = rd.persist.durable();
        out.msgs.extend(rd.persisted_messages.take(proof));
        for (req_id, response) in std::mem::take(&mut rd.responses) {
            if let Some(op) = self.pending.remove(&req_id) {
                out.replies.push((op, answer_of(response)));
            }
        }
        self.core.as_mut().expect("the node is up").advance(rd);
    }

    /// The fsync in flight completed; the node takes what queued up meanwhile.
    pub fn fsync_done(&mut self, now: Now, out: &mut Out) {
        let rd = self.persisting.take().expect("an fsync was in flight");
        self.finish(rd, out);
        self.pump(out);
        self.drain(now, out);
    }

    fn drain(&mut self, now: Now, out: &mut Out) {
        while !self.paused && self.persisting.is_none() {
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
        if self.core.is_some() && self.persisting.is_none() {
            self.drain(now, out);
        }
    }

    /// SIGKILL: memory is gone; an fsync in flight is lost, or (`log_synced`) only its
    /// log half reached the disk, as raftd syncs the log before the hard state. Returns
    /// the ops whose requests were waiting in the node: their outcome is unknown.
    pub fn kill(&mut self, log_synced: bool) -> Vec<u64> {
        if let Some(rd) = self.persisting.take() {
            if log_synced {
                self.disk.apply_log(&rd.persist);
                // A log cut back below the stored commit index would fail a restore.
                let last = self.disk.entries.len() as u64;
                self.disk.hard_state.commit = self.disk.hard_state.commit.min(last);
            }
        }
        self.core = None;
        self.paused = false;
        self.incarnation += 1;
        let mut lost: Vec<u64> = std::mem::take(&mut self.pending).into_values().collect();
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
        self.core = Some(core);
        self.guard = guard_for(&self.cfg, now);
        self.incarnation += 1;
        Ok(())
    }

    /// raftd's request timeout: a request still waiting is answered `timeout`.
    pub fn request_timeout(&mut self, req_id: u64, out: &mut Out) {
        if let Some(op) = self.pending.remove(&req_id) {
            out.replies.push((op, Outcome::Info("timeout".into())));
        }
    }
}

fn guard_for(cfg: &Config, now: Now) -> StallGuard {
    StallGuard {
        tick_ns: cfg.tick_ms * 1_000_000,
        lease_ticks: cfg.lease_ticks,
        last_tick_ns: now.mono_ns,
        void_ticks_left: 0,
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
            error: "not-leader".into(),
            leader,
        },
        ProposeError::Busy { .. } => Outcome::fail("overloaded"),
        ProposeError::Invalid(_) => Outcome::fail("bad-request"),
        ProposeError::DuplicateId(_) => Outcome::Info("internal".into()),
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
        Response::StaleToken => Outcome::fail("stale-token"),
        Response::Held { .. } => Outcome::fail("held"),
        Response::NotHolder => Outcome::fail("not-holder"),
        Response::NotLeader { leader } => Outcome::Fail {
            error: "not-leader".into(),
            leader,
        },
        Response::Dropped => Outcome::Info("timeout".into()),
    }
}
