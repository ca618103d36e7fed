//! The simulated clients: the election workload's observers and client processes —
//! `workloads::process`'s own machines plan every cycle, route and pace, as they do in a
//! real run — the
//! controller's phases (a leader awaited, the fault phase, the drain, the final phase),
//! the liveness check after the heal, and the final reads — every call recorded as an
//! invoke/complete pair at simulated time.
//!
//! Under the `register` workload the client processes draw register ops instead of lock
//! cycles (`ClientProcess::draw_register`, from each process's own stream, numbered
//! run-wide), as the tokio workload does; the liveness write after the heal is a register
//! write, and the final phase reads every register the run may have touched through the
//! leader.

use checkers::{OpDraft, OpType, Process, Role, Value, F};
use raftd::core::Request;
use rand::RngExt;
use workloads::election::{FINAL_READ_RETRY_MS, FINAL_REGISTER_KEYS_MAX, OBSERVER_PROCESS_BASE};
use workloads::process::{ClientProcess, CycleOp, Ended, Pace, Plan, Router};
use workloads::register::{keys_touched, RegOp, VALUES};
use workloads::seed::rng_for;
use workloads::{WorkloadKind, WorkloadParams};

use super::node::{Answer, Call, ClientReq, Outcome};
use super::world::{Ev, World, MS};

/// The client's bound on one call, as the raftd client has it.
pub const CLIENT_TIMEOUT_MS: u64 = workloads::client::CLIENT_TIMEOUT_MS_DEFAULT;
/// How long the controller waits for the first leader.
pub const STARTUP_LEADER_MS_MAX: u64 = 10_000;
/// After the heal, a leader and an ok write must come within this bound.
pub const LIVENESS_MS_MAX: u64 = 10_000;
/// How often the controller looks at the world while it waits for something.
const CONTROL_POLL_MS: u64 = 50;

/// Who is behind an op or a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Observer(usize),
    Slot(usize),
    /// The final-phase processes: 0 liveness, 1 linearizable read, 2 + i node i's read.
    Final(usize),
}

/// What an actor's op in flight is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Observe,
    Cycle(CycleOp),
    /// A client slot's register op, drawn when it is issued.
    Reg,
    /// The final read of the `k`th register of the final phase.
    RegFinalRead(usize),
    /// After the heal: an election write, or under the register workload a register write.
    LiveWrite,
    LinRead,
    LinStatus(usize),
    LocalStatus(usize),
    LocalRead(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Startup,
    Faults,
    Draining,
    Liveness,
    /// After liveness was judged, until `--recovery-secs` after the heal has passed.
    Recovery,
    FinalReads,
    Done,
}

/// What a client slot does when it wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotWake {
    /// Begin a new cycle.
    Begin,
    /// Its sleep is over: wait for the pace, then issue the op.
    AfterSleep(CycleOp),
    /// Its pace slot has come: issue the op.
    Issue(CycleOp),
    /// The holder of grant `token` stalls ([`Plan::Stall`]) until a newer grant, then
    /// `after_ms` more, or until `until` (ns) at the latest.
    Stalled {
        token: u64,
        after_ms: u64,
        until: u64,
    },
    /// Register workload: its pace slot has come: draw the next register op and issue it.
    IssueReg,
}

struct OpSlot {
    actor: Actor,
    step: Step,
    node: usize,
    invocation: OpDraft,
    done: bool,
}

/// The liveness verdict: a leader and an ok write within the bound after the heal.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    pub ok: bool,
    pub note: String,
    pub leader_after_ms: Option<u64>,
    pub write_after_ms: Option<u64>,
}

/// All client-side state.
pub struct Workload {
    params: WorkloadParams,
    seed: u64,
    ttl_ticks: u64,
    phase: Phase,
    next_client: u64,
    next_observer: u64,
    router: Router,
    n: usize,
    pace: Pace,
    observers: Vec<(u64, u64)>,
    slots: Vec<(ClientProcess, SlotWake)>,
    /// When each slot's pending wake is due: a wake at another time is one a stall's
    /// end replaced, and is ignored.
    slot_due: Vec<u64>,
    /// The largest token an acquire came back with: what a stalled holder waits for.
    newest_grant: u64,
    finals: Vec<Option<ClientProcess>>,
    ops: Vec<OpSlot>,
    open_ops: u64,
    started_at: u64,
    fault_end: u64,
    healed_at: u64,
    final_deadline: u64,
    commit: Option<u64>,
    locals_left: usize,
    pub liveness: Liveness,
    time_limit_ms: u64,
    recovery_ms: u64,
    kind: WorkloadKind,
    /// Register ops drawn so far, over the whole run: the `n` of `RegOp::draw`.
    reg_ops: u64,
    /// The registers the final phase reads, in order.
    final_keys: Vec<String>,
    /// How many of them were read.
    finals_read: usize,
}

impl Workload {
    pub fn new(spec: &super::SimSpec, seed: u64, time_limit_ms: u64) -> Workload {
        let n = spec.nodes;
        let params = WorkloadParams {
            seed,
            rate_hz: spec.rate_hz,
            concurrency: spec.concurrency,
            stall_probability: spec.stall_probability,
            ..WorkloadParams::default()
        };
        let tick_ms = workloads::raftd::RaftdTuning::default().tick_ms;
        Workload {
            ttl_ticks: params.ttl_ms.div_ceil(tick_ms).max(1),
            pace: Pace::new(params.rate_hz, 0),
            params,
            seed,
            phase: Phase::Startup,
            next_client: 0,
            next_observer: OBSERVER_PROCESS_BASE,
            router: Router::new(n),
            n,
            observers: Vec::new(),
            slots: Vec::new(),
            slot_due: Vec::new(),
            newest_grant: 0,
            finals: Vec::new(),
            ops: Vec::new(),
            open_ops: 0,
            started_at: 0,
            fault_end: 0,
            healed_at: 0,
            final_deadline: 0,
            commit: None,
            locals_left: 0,
            liveness: Liveness::default(),
            time_limit_ms,
            recovery_ms: spec.recovery_ms,
            kind: spec.workload,
            reg_ops: 0,
            final_keys: Vec::new(),
            finals_read: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn in_fault_phase(&self) -> bool {
        matches!(self.phase, Phase::Startup | Phase::Faults)
    }

    fn new_proc(&mut self) -> ClientProcess {
        let number = self.next_client;
        self.next_client += 1;
        assert!(
            number < OBSERVER_PROCESS_BASE,
            "client numbers ran into observers'"
        );
        ClientProcess::new(number, self.seed)
    }

    fn new_observer(&mut self) -> u64 {
        self.next_observer += 1;
        self.next_observer - 1
    }
}

impl World {
    /// The controller: waits for a leader, runs the fault phase, drains, heals, checks
    /// liveness; final reads follow from their processes' completions.
    pub fn control(&mut self) {
        let poll = self.now + CONTROL_POLL_MS * MS;
        match self.wl.phase {
            Phase::Startup => {
                if self.probe_leader().is_some() {
                    self.begin_faults();
                } else if self.now >= STARTUP_LEADER_MS_MAX * MS {
                    self.wl.liveness.note =
                        format!("no leader within {STARTUP_LEADER_MS_MAX} ms of the start");
                    self.wl.phase = Phase::Done;
                } else {
                    self.schedule(self.now + 200 * MS, Ev::Control);
                }
            }
            Phase::Faults => {
                self.wl.phase = Phase::Draining;
                self.schedule(self.now, Ev::Control);
            }
            Phase::Draining if self.wl.open_ops == 0 => self.begin_liveness(),
            Phase::Draining => self.schedule(poll, Ev::Control),
            Phase::Liveness => self.watch_liveness(),
            Phase::Recovery => self.after_liveness(),
            Phase::FinalReads
                if self.now >= self.wl.final_deadline + 2 * CLIENT_TIMEOUT_MS * MS =>
            {
                self.wl.phase = Phase::Done;
            }
            Phase::FinalReads => self.schedule(poll, Ev::Control),
            Phase::Done => {}
        }
    }

    fn begin_faults(&mut self) {
        self.wl.phase = Phase::Faults;
        self.wl.started_at = self.now;
        self.wl.fault_end = self.now + self.wl.time_limit_ms * MS;
        self.wl.pace = Pace::new(self.wl.params.rate_hz, self.now);
        for node in 0..self.wl.n {
            let number = self.wl.new_observer();
            self.wl.observers.push((number, self.now));
            self.schedule(self.now, Ev::Wake(Actor::Observer(node)));
        }
        for slot in 0..self.wl.params.concurrency {
            let proc = self.wl.new_proc();
            self.wl.slots.push((proc, SlotWake::Begin));
            self.wl.slot_due.push(self.now);
            self.schedule(self.now, Ev::Wake(Actor::Slot(slot)));
        }
        self.start_nemesis();
        self.schedule(self.wl.fault_end, Ev::Control);
    }

    fn begin_liveness(&mut self) {
        self.final_phase();
        self.wl.phase = Phase::Liveness;
        self.wl.healed_at = self.now;
        let proc = self.wl.new_proc();
        self.wl.finals = vec![Some(proc)];
        self.schedule(self.now, Ev::Wake(Actor::Final(0)));
        self.schedule(self.now, Ev::Control);
    }

    fn watch_liveness(&mut self) {
        let since_ms = (self.now - self.wl.healed_at) / MS;
        if self.wl.liveness.leader_after_ms.is_none() && self.probe_leader().is_some() {
            self.wl.liveness.leader_after_ms = Some(since_ms);
        }
        if self.now >= self.wl.healed_at + LIVENESS_MS_MAX * MS {
            let what = match self.wl.liveness.leader_after_ms {
                None => "no leader",
                Some(_) => "a leader but no ok write",
            };
            self.wl.liveness.note =
                format!("{what} within {LIVENESS_MS_MAX} ms after every fault was healed");
            self.after_liveness();
            return;
        }
        self.schedule(self.now + CONTROL_POLL_MS * MS, Ev::Control);
    }

    /// The final reads begin once the recovery time after the heal has passed.
    fn after_liveness(&mut self) {
        if let Some(p) = self.wl.finals.get_mut(0) {
            *p = None; // the liveness process stops
        }
        let at = self.wl.healed_at + self.wl.recovery_ms * MS;
        if self.now >= at {
            self.begin_final_reads();
        } else {
            self.wl.phase = Phase::Recovery;
            self.schedule(at, Ev::Control);
        }
    }

    fn begin_final_reads(&mut self) {
        self.wl.phase = Phase::FinalReads;
        if self.wl.kind == WorkloadKind::Register {
            self.wl.final_keys = keys_touched(self.wl.reg_ops, FINAL_REGISTER_KEYS_MAX);
        }
        self.wl.final_deadline = self.now + self.wl.params.final_read_timeout_ms * MS;
        let proc = self.wl.new_proc();
        self.wl.finals.push(Some(proc));
        self.schedule(self.now, Ev::Wake(Actor::Final(1)));
        self.schedule(self.now, Ev::Control);
    }

    pub fn wake(&mut self, actor: Actor) {
        match actor {
            Actor::Observer(node) if self.wl.phase == Phase::Faults => {
                let number = self.wl.observers[node].0;
                self.wl.observers[node].1 = self.now;
                self.invoke(actor, number, Step::Observe, node);
            }
            Actor::Slot(slot) if self.wl.phase == Phase::Faults => self.slot_wake(slot),
            Actor::Final(i) => self.final_wake(i),
            Actor::Observer(_) | Actor::Slot(_) => {}
        }
    }

    fn slot_wake(&mut self, slot: usize) {
        if self.wl.slot_due[slot] != self.now {
            return;
        }
        match self.wl.slots[slot].1 {
            SlotWake::Begin if self.wl.kind == WorkloadKind::Register => {
                let at = self.wl.pace.slot(self.now);
                self.wl.slots[slot].1 = SlotWake::IssueReg;
                self.wake_slot_at(slot, at);
            }
            SlotWake::IssueReg => {
                let number = self.wl.slots[slot].0.number;
                let node = self.wl.router.target();
                self.invoke(Actor::Slot(slot), number, Step::Reg, node);
            }
            SlotWake::Begin => {
                let plan = self.wl.slots[slot].0.begin(&self.wl.params);
                self.slot_plan(slot, plan);
            }
            SlotWake::AfterSleep(op) => self.slot_plan(slot, Plan::Paced(op)),
            SlotWake::Stalled { token, .. } => {
                self.slot_plan(slot, Plan::Paced(CycleOp::Holding(token)))
            }
            SlotWake::Issue(op) => {
                let number = self.wl.slots[slot].0.number;
                let node = self.wl.router.target();
                self.invoke(Actor::Slot(slot), number, Step::Cycle(op), node);
            }
        }
    }

    /// Carries out what the slot's process planned: each wake is an event, as each
    /// await is in a real run.
    fn slot_plan(&mut self, slot: usize, plan: Plan) {
        let (at, wake) = match plan {
            Plan::Paced(op) => (self.wl.pace.slot(self.now), SlotWake::Issue(op)),
            Plan::Sleep { ms, then } => {
                let wake = then.map_or(SlotWake::Begin, SlotWake::AfterSleep);
                (self.now + ms * MS, wake)
            }
            Plan::Stall {
                token,
                after_ms,
                ms_max,
            } => {
                let until = self.now + ms_max * MS;
                if self.wl.newest_grant > token {
                    self.stall_over(token, after_ms, until)
                } else {
                    let stalled = SlotWake::Stalled {
                        token,
                        after_ms,
                        until,
                    };
                    (until, stalled)
                }
            }
            Plan::NewCycle => (self.now, SlotWake::Begin),
            Plan::Retire => {
                self.wl.slots[slot].0 = self.wl.new_proc();
                (self.now, SlotWake::Begin)
            }
        };
        self.wl.slots[slot].1 = wake;
        self.wake_slot_at(slot, at);
    }

    fn wake_slot_at(&mut self, slot: usize, at: u64) {
        self.wl.slot_due[slot] = at;
        self.schedule(at, Ev::Wake(Actor::Slot(slot)));
    }

    /// An acquire came back with `token`: the holders stalled on older grants wake
    /// `after_ms` later (or at their stall's end, if sooner).
    fn granted(&mut self, token: u64) {
        if token <= self.wl.newest_grant {
            return;
        }
        self.wl.newest_grant = token;
        for slot in 0..self.wl.slots.len() {
            let SlotWake::Stalled {
                token: held,
                after_ms,
                until,
            } = self.wl.slots[slot].1
            else {
                continue;
            };
            if held >= token {
                continue;
            }
            let (at, wake) = self.stall_over(held, after_ms, until);
            self.wl.slots[slot].1 = wake;
            // A wake at `until` is already due.
            if at < until {
                self.wake_slot_at(slot, at);
            }
        }
    }

    /// When and how the stall of `token`'s holder ends once a newer grant is known:
    /// `after_ms` from now, or at `until` if that comes first.
    fn stall_over(&self, token: u64, after_ms: u64, until: u64) -> (u64, SlotWake) {
        let at = until.min(self.now + after_ms * MS);
        (at, SlotWake::AfterSleep(CycleOp::Holding(token)))
    }

    fn slot_done(&mut self, slot: usize, step: Step, outcome: &Outcome) {
        if step == Step::Reg {
            // A process whose op ended unknown retires; the others draw their next op.
            let plan = match outcome {
                Outcome::Info(_) => Plan::Retire,
                _ => Plan::NewCycle,
            };
            return self.slot_plan(slot, plan);
        }
        let Step::Cycle(op) = step else {
            unreachable!("a slot issues cycle ops only");
        };
        let ended = match outcome {
            Outcome::Ok(Answer::Token(token)) => Ended::Ok {
                token: Some(*token),
            },
            other => ended(other),
        };
        if let (CycleOp::Acquire, Ended::Ok { token: Some(token) }) = (op, ended) {
            self.granted(token);
        }
        let params = &self.wl.params;
        let plan = self.wl.slots[slot].0.completed(params, op, ended);
        self.slot_plan(slot, plan);
    }

    fn final_wake(&mut self, i: usize) {
        let live = matches!(self.wl.phase, Phase::Liveness | Phase::FinalReads);
        let Some(Some(proc)) = self.wl.finals.get(i) else {
            return;
        };
        let number = proc.number;
        if !live {
            return;
        }
        match i {
            0 if self.wl.phase == Phase::Liveness => self.invoke(
                Actor::Final(0),
                number,
                Step::LiveWrite,
                self.wl.router.target(),
            ),
            0 => {}
            1 if self.wl.kind == WorkloadKind::Register => self.register_final_wake(number),
            1 => self.invoke(
                Actor::Final(1),
                number,
                Step::LinRead,
                self.wl.router.target(),
            ),
            _ => self.local_wake(i, number),
        }
    }

    /// Register workload: reads the next register of the final phase through the node
    /// believed to lead; after the last one, or past the deadline, the run is over.
    fn register_final_wake(&mut self, number: u64) {
        let next = self.wl.finals_read;
        if next >= self.wl.final_keys.len() || self.now >= self.wl.final_deadline {
            self.wl.phase = Phase::Done;
            return;
        }
        let node = self.wl.router.target();
        self.invoke(Actor::Final(1), number, Step::RegFinalRead(next), node);
    }

    /// As the workload does: a node's log is read only once it has applied what the
    /// leader had committed; with no commit index known, or past the deadline, it is not
    /// read at all (a lagging node is no evidence of a lost write).
    fn local_wake(&mut self, i: usize, number: u64) {
        let node = i - 2;
        if self.wl.commit.is_none() || self.now >= self.wl.final_deadline {
            self.local_done();
            return;
        }
        self.invoke(Actor::Final(i), number, Step::LocalStatus(node), node);
    }

    fn local_done(&mut self) {
        self.wl.locals_left -= 1;
        if self.wl.locals_left == 0 {
            self.wl.phase = Phase::Done;
        }
    }

    fn final_done(&mut self, i: usize, step: Step, outcome: &Outcome) {
        if let Outcome::Info(_) = outcome {
            if self.wl.finals.get(i).is_some_and(Option::is_some) {
                let proc = self.wl.new_proc();
                self.wl.finals[i] = Some(proc);
            }
        }
        let retry = self.now + FINAL_READ_RETRY_MS * MS;
        match (step, outcome) {
            (Step::LiveWrite, Outcome::Ok(_)) if self.wl.phase == Phase::Liveness => {
                let after = (self.now - self.wl.healed_at) / MS;
                self.wl.liveness.ok = true;
                self.wl.liveness.write_after_ms = Some(after);
                if self.wl.liveness.leader_after_ms.is_none() {
                    self.wl.liveness.leader_after_ms = Some(after);
                }
                self.after_liveness();
            }
            (Step::LiveWrite, _) if self.wl.phase == Phase::Liveness => {
                self.schedule(retry, Ev::Wake(Actor::Final(0)));
            }
            (Step::LinRead, Outcome::Ok(_)) => {
                let number = self.final_number(1);
                let node = self.last_node_of(Actor::Final(1)).unwrap_or(0);
                self.invoke(Actor::Final(1), number, Step::LinStatus(node), node);
            }
            (Step::LinRead, _) if self.now < self.wl.final_deadline => {
                self.schedule(retry, Ev::Wake(Actor::Final(1)));
            }
            (Step::LinRead, _) => self.begin_local_reads(None),
            (Step::LinStatus(_), Outcome::Ok(Answer::Status { commit, .. })) => {
                self.begin_local_reads(Some(*commit))
            }
            (Step::LinStatus(_), _) => self.begin_local_reads(None),
            (Step::LocalStatus(_), Outcome::Ok(Answer::Status { applied, .. }))
                if self.wl.commit.is_some_and(|c| *applied >= c) =>
            {
                let number = self.final_number(i);
                self.invoke(Actor::Final(i), number, Step::LocalRead(i - 2), i - 2);
            }
            (Step::LocalStatus(_), _) => self.schedule(retry, Ev::Wake(Actor::Final(i))),
            (Step::LocalRead(_), _) => self.local_done(),
            (Step::RegFinalRead(k), Outcome::Ok(_)) => {
                self.wl.finals_read = k + 1;
                self.schedule(self.now, Ev::Wake(Actor::Final(1)));
            }
            // Refused or unknown: the same key again, until the deadline.
            (Step::RegFinalRead(_), _) => self.schedule(retry, Ev::Wake(Actor::Final(1))),
            _ => {}
        }
    }

    fn final_number(&self, i: usize) -> u64 {
        self.wl.finals[i].as_ref().map_or(0, |p| p.number)
    }

    fn last_node_of(&self, actor: Actor) -> Option<usize> {
        self.wl
            .ops
            .iter()
            .rev()
            .find(|o| o.actor == actor)
            .map(|o| o.node)
    }

    fn begin_local_reads(&mut self, commit: Option<u64>) {
        self.wl.commit = commit;
        self.wl.locals_left = self.wl.n;
        for node in 0..self.wl.n {
            let proc = self.wl.new_proc();
            self.wl.finals.push(Some(proc));
            self.schedule(self.now, Ev::Wake(Actor::Final(2 + node)));
        }
    }

    /// Records the invocation and sends the call to `node`.
    fn invoke(&mut self, actor: Actor, process: u64, step: Step, node: usize) {
        let (f, value, call) = self.call_of(actor, step);
        let invocation =
            OpDraft::invoke(Process::Client(process), f, value).with_node(self.names[node].clone());
        self.record(invocation.clone());
        let op = self.wl.ops.len() as u64;
        self.wl.ops.push(OpSlot {
            actor,
            step,
            node,
            invocation,
            done: false,
        });
        self.wl.open_ops += 1;
        let arrive = self.now + self.client_leg();
        self.schedule(
            arrive,
            Ev::Arrive {
                node,
                req: Box::new(ClientReq { op, call }),
            },
        );
        self.schedule(self.now + CLIENT_TIMEOUT_MS * MS, Ev::ClientTimeout { op });
    }

    /// The op's `f`, invoke value and the call, for one step.
    fn call_of(&mut self, actor: Actor, step: Step) -> (F, Option<Value>, Call) {
        let election = self.wl.params.election.clone();
        let grant = |token: u64| Value {
            election: Some(election.clone()),
            token: Some(Some(token)),
            ..Value::default()
        };
        match step {
            Step::Reg => {
                let Actor::Slot(slot) = actor else {
                    unreachable!("only client slots draw register ops");
                };
                let n = self.wl.reg_ops;
                self.wl.reg_ops += 1;
                register_call(&self.wl.slots[slot].0.draw_register(n))
            }
            Step::RegFinalRead(k) => register_call(&RegOp::Read {
                key: self.wl.final_keys[k].clone(),
            }),
            Step::LiveWrite if self.wl.kind == WorkloadKind::Register => {
                // The newest group's first key; the value from the process's own stream.
                let number = self.proc_of(actor).number;
                let key = keys_touched(self.wl.reg_ops.max(1), 1).remove(0);
                let value = rng_for(self.wl.seed, number).random_range(0..VALUES);
                register_call(&RegOp::Write { key, value })
            }
            Step::Observe | Step::LinStatus(_) | Step::LocalStatus(_) => {
                (F::Status, None, Call::Status)
            }
            Step::LinRead => (F::Read, None, Call::Propose(Request::Read)),
            Step::LocalRead(_) => (F::Read, None, Call::ReadLocal),
            Step::Cycle(CycleOp::Acquire) => {
                let client = self.proc_of(actor).name();
                let request = Request::Acquire {
                    election: election.clone(),
                    client,
                    ttl_ticks: self.wl.ttl_ticks,
                };
                let value = Value {
                    election: Some(election.clone()),
                    ..Value::default()
                };
                (F::Acquire, Some(value), Call::Propose(request))
            }
            Step::Cycle(CycleOp::Holding(token)) => {
                let request = Request::Holding {
                    election: election.clone(),
                    token,
                };
                (F::Holding, Some(grant(token)), Call::Propose(request))
            }
            Step::Cycle(CycleOp::Release(token)) => {
                let request = Request::Release {
                    election: election.clone(),
                    token,
                };
                (F::Release, Some(grant(token)), Call::Propose(request))
            }
            Step::Cycle(CycleOp::Plain | CycleOp::Write(_)) | Step::LiveWrite => {
                let token = match step {
                    Step::Cycle(CycleOp::Write(t)) => Some(t),
                    _ => None,
                };
                let id = self.proc_of(actor).next_write_id();
                let value = Value {
                    id: Some(id.clone()),
                    token: Some(token),
                    ..Value::default()
                };
                let request = Request::Write {
                    id,
                    token,
                    election: token.map(|_| election.clone()),
                };
                (F::Write, Some(value), Call::Propose(request))
            }
        }
    }

    fn proc_of(&mut self, actor: Actor) -> &mut ClientProcess {
        match actor {
            Actor::Slot(s) => &mut self.wl.slots[s].0,
            Actor::Final(i) => self.wl.finals[i].as_mut().expect("a final process"),
            Actor::Observer(_) => unreachable!("observers only ask for status"),
        }
    }

    /// An op ends (the first of its answer and its timeout): recorded, learnt from by the
    /// router, handed to its actor.
    pub fn complete(&mut self, op: u64, outcome: Outcome) {
        let slot = &mut self.wl.ops[op as usize];
        if slot.done {
            return;
        }
        slot.done = true;
        let (actor, step, node) = (slot.actor, slot.step, slot.node);
        let inv = &slot.invocation;
        let draft = match &outcome {
            Outcome::Ok(answer) => inv.complete(OpType::Ok, ok_value(inv.value.as_ref(), answer)),
            Outcome::Fail { error, .. } => inv
                .complete(OpType::Fail, inv.value.clone())
                .with_error(*error),
            Outcome::Info(error) => inv
                .complete(OpType::Info, inv.value.clone())
                .with_error(*error),
        };
        self.wl.open_ops -= 1;
        self.record(draft);
        self.learn(node, &outcome);
        match actor {
            Actor::Observer(n) => self.observer_done(n, &outcome),
            Actor::Slot(s) => self.slot_done(s, step, &outcome),
            Actor::Final(i) => self.final_done(i, step, &outcome),
        }
    }

    fn learn(&mut self, node: usize, outcome: &Outcome) {
        let hinted = match outcome {
            Outcome::Fail { leader, .. } => leader.as_deref().and_then(|l| self.index_of(l)),
            _ => None,
        };
        self.wl.router.answered(node, ended(outcome), hinted);
    }

    fn observer_done(&mut self, node: usize, outcome: &Outcome) {
        match outcome {
            Outcome::Ok(Answer::Status { role, term, .. }) if role == "leader" => {
                self.wl.router.observed_leader(node, *term)
            }
            Outcome::Info(_) => self.wl.observers[node].0 = self.wl.new_observer(),
            _ => {}
        }
        // tokio's interval with `Delay`: the next tick one interval after the last, or
        // at once if that has passed.
        let interval = self.wl.params.status_interval_ms * MS;
        let at = (self.wl.observers[node].1 + interval).max(self.now);
        self.schedule(at, Ev::Wake(Actor::Observer(node)));
    }
}

/// How an op ended, as a client process and the router see it (an ok's token aside).
fn ended(outcome: &Outcome) -> Ended {
    match outcome {
        Outcome::Ok(_) => Ended::Ok { token: None },
        Outcome::Fail { error, .. } => Ended::Fail {
            error: Some(*error),
        },
        Outcome::Info(_) => Ended::Info,
    }
}

/// The ok value of an op, as the election workload records it.
fn ok_value(invoke: Option<&Value>, answer: &Answer) -> Option<Value> {
    let base = invoke.cloned().unwrap_or_default();
    let value = match answer {
        Answer::Status {
            role,
            term,
            leader,
            vote,
            commit,
            last_index,
            terms,
            ..
        } => Value {
            role: Some(role_of(role)),
            term: Some(*term),
            leader: Some(leader.clone()),
            vote: vote.clone(),
            commit: Some(*commit),
            last_index: Some(*last_index),
            terms: Some(terms.clone()),
            ..Value::default()
        },
        Answer::Token(token) => Value {
            token: Some(Some(*token)),
            ..Value::default()
        },
        Answer::Holding(holding) => Value {
            holding: Some(*holding),
            ..base
        },
        Answer::Log(log) => Value {
            log: Some(log.clone()),
            ..Value::default()
        },
        Answer::Released | Answer::Written => base,
        // As `RegOp::ok_value` has it: a read adds what it read to its invocation's value.
        Answer::Register(read) => Value {
            value: Some(read.map(serde_json::Value::from)),
            ..base
        },
        Answer::RegisterSet => base,
    };
    Some(value)
}

/// A register op's `f`, invocation value and call.
fn register_call(op: &RegOp) -> (F, Option<Value>, Call) {
    let request = match op.clone() {
        RegOp::Read { key } => Request::RegisterRead { key },
        RegOp::Write { key, value } => Request::RegisterWrite { key, value },
        RegOp::Cas { key, from, to } => Request::RegisterCas { key, from, to },
    };
    (op.f(), Some(op.invoke_value()), Call::Propose(request))
}

fn role_of(name: &str) -> Role {
    workloads::protocol::role_of(name)
}
