//! The nemesis in the simulated world: the schedule's timeline stepped through in order,
//! exactly as nemesis's executor steps it (leader targets resolved by asking the nodes,
//! waiting a bounded time for one), each step turned into a primitive by nemesis's own
//! rules, recorded as the same nemesis ops, and applied to the simulated nodes, links
//! and clocks.

use checkers::{OpDraft, Process, F};
use nemesis::executor::{LEADER_POLL_INTERVAL_MS, LEADER_WAIT_MS};
use nemesis::{Action, Fault, FaultState, Primitive, Schedule, Step};

use super::node::Out;
use super::world::{Ev, World, MS};

/// Where the executor is in the timeline.
pub struct NemesisExec {
    pub schedule: Schedule,
    steps: Vec<Step>,
    next: usize,
    /// Per event, the fault as applied (leader filled in); `None` until then.
    pub applied: Vec<Option<Fault>>,
    pub state: FaultState,
    /// When the executor started waiting for a leader for the current step.
    waiting_since: Option<u64>,
    /// The instant the timeline counts from (the workload's start).
    origin: u64,
    pub stopped: bool,
}

impl NemesisExec {
    pub fn new(schedule: &Schedule) -> NemesisExec {
        NemesisExec {
            steps: schedule.timeline(),
            applied: vec![None; schedule.events.len()],
            schedule: schedule.clone(),
            next: 0,
            state: FaultState::default(),
            waiting_since: None,
            origin: 0,
            stopped: false,
        }
    }

    /// The schedule as it ran: every applied fault with its leader filled in.
    pub fn as_run(&self) -> Schedule {
        let mut ran = self.schedule.clone();
        for (event, applied) in ran.events.iter_mut().zip(&self.applied) {
            if let Some(fault) = applied {
                event.fault = fault.clone();
            }
        }
        ran
    }
}

impl World {
    /// Starts the timeline now.
    pub fn start_nemesis(&mut self) {
        self.nemesis.origin = self.now;
        self.schedule_nemesis();
        self.start_chaos();
    }

    fn schedule_nemesis(&mut self) {
        if let Some(step) = self.nemesis.steps.get(self.nemesis.next) {
            let at = self.nemesis.origin + step.at_ms * MS;
            self.schedule(at.max(self.now), Ev::Nemesis);
        }
    }

    /// Takes every step that is due, in order; a step waiting for a leader holds back
    /// the ones after it, as the executor's sequential loop does.
    pub fn nemesis_wake(&mut self) {
        if self.nemesis.stopped {
            return;
        }
        loop {
            let Some(&step) = self.nemesis.steps.get(self.nemesis.next) else {
                return;
            };
            if self.nemesis.origin + step.at_ms * MS > self.now {
                break;
            }
            if !self.nemesis_step(step) {
                self.schedule(self.now + LEADER_POLL_INTERVAL_MS * MS, Ev::Nemesis);
                return;
            }
            self.nemesis.next += 1;
        }
        self.schedule_nemesis();
    }

    /// One step; false if it must wait for a leader to be known.
    fn nemesis_step(&mut self, step: Step) -> bool {
        let nodes = self.nemesis.schedule.nodes.clone();
        if step.action == Action::Apply {
            let fault = self.nemesis.schedule.events[step.event].fault.clone();
            match self.resolve(&fault) {
                Some(Ok(resolved)) => self.nemesis.applied[step.event] = Some(resolved),
                Some(Err(reason)) => {
                    let f = fault_op(&fault);
                    self.record(OpDraft::invoke(Process::Nemesis, f, None));
                    self.record(OpDraft::info(Process::Nemesis, f, None, reason));
                    return true;
                }
                None => return false,
            }
        }
        let Some(fault) = self.nemesis.applied[step.event].clone() else {
            return true;
        };
        let primitive = Primitive::for_step(&fault, step.action, &nodes)
            .expect("a checked schedule with its leader resolved gives its primitives");
        if let Some(primitive) = primitive {
            self.schedule_takes(&primitive);
            self.call(&primitive);
        }
        true
    }

    /// The fault with its leader filled in; `None` while still waiting for one.
    fn resolve(&mut self, fault: &Fault) -> Option<Result<Fault, String>> {
        if !fault.needs_leader() {
            return Some(Ok(fault.clone()));
        }
        let since = *self.nemesis.waiting_since.get_or_insert(self.now);
        if let Some(leader) = self.probe_leader() {
            self.nemesis.waiting_since = None;
            return Some(Ok(fault.with_leader(&self.names[leader].clone())));
        }
        if self.now + LEADER_POLL_INTERVAL_MS * MS < since + LEADER_WAIT_MS * MS {
            return None;
        }
        self.nemesis.waiting_since = None;
        Some(Err(format!("no leader known within {LEADER_WAIT_MS} ms")))
    }

    /// Records the call's invoke, applies it, records its ok; the fault state follows the
    /// executor's rules.
    pub fn call(&mut self, primitive: &Primitive) {
        let (f, value) = (primitive.f(), primitive.value());
        self.nemesis.state.starting(primitive);
        self.record(OpDraft::invoke(Process::Nemesis, f, value.clone()));
        self.apply(primitive);
        self.record(OpDraft::ok(Process::Nemesis, f, value));
        self.nemesis.state.succeeded(primitive);
    }

    fn apply(&mut self, primitive: &Primitive) {
        if self.logs.is_some() {
            let line = format!(
                "nemesis {} {}",
                primitive.f().name(),
                primitive
                    .value()
                    .map(|v| serde_json::to_string(&v).unwrap_or_default())
                    .unwrap_or_default()
            );
            for node in 0..self.nodes.len() {
                self.note(node, || line.clone());
            }
        }
        match primitive {
            Primitive::Partition { grudge, .. } => {
                let names = self.names.clone();
                self.net
                    .set_grudge(grudge, |n| names.iter().position(|m| m == n));
            }
            Primitive::Heal => self.net.heal(),
            Primitive::Pause { nodes } => {
                for i in self.indices(nodes) {
                    self.nodes[i].pause();
                }
            }
            Primitive::Resume { nodes } => {
                for i in self.indices(nodes) {
                    let now = self.clocks[i].now(self.now);
                    self.with_node(i, |n, out: &mut Out| n.resume(now, out));
                }
            }
            Primitive::Kill { nodes } => {
                for i in self.indices(nodes) {
                    self.kill(i);
                }
            }
            Primitive::Start { nodes } => {
                for i in self.indices(nodes) {
                    self.start(i);
                }
            }
            Primitive::Clock { offsets_ms } => {
                for (name, offset) in offsets_ms {
                    if let Some(i) = self.index_of(name) {
                        self.clocks[i].offset_ms = *offset;
                    }
                }
            }
            Primitive::ClockReset => {
                for c in &mut self.clocks {
                    c.offset_ms = 0;
                }
            }
        }
    }

    fn indices(&self, nodes: &[String]) -> Vec<usize> {
        nodes.iter().filter_map(|n| self.index_of(n)).collect()
    }

    fn kill(&mut self, node: usize) {
        if !self.nodes[node].is_up() {
            return;
        }
        let torn = self.torn_fsync();
        for op in self.nodes[node].kill(torn) {
            let at = self.now + self.client_leg();
            let outcome = Box::new(super::node::Outcome::Info("connection-lost".into()));
            self.schedule(at, Ev::Reply { op, outcome });
        }
    }

    fn start(&mut self, node: usize) {
        if self.nodes[node].is_up() {
            return;
        }
        let now = self.clocks[node].now(self.now);
        match self.nodes[node].start(now) {
            Ok(()) => self.restart_ticks(node),
            Err(e) => {
                let name = &self.names[node];
                self.restart_failures
                    .push(format!("{name} could not restart: {e}"));
            }
        }
    }

    /// Undoes everything that may be in force (heal, resume, start, clock reset), each
    /// recorded, and ends every hold on the links.
    pub fn final_phase(&mut self) {
        self.nemesis.stopped = true;
        for primitive in self.nemesis.state.undo() {
            self.call(&primitive);
        }
        self.end_chaos();
        self.net.release_holds(self.now);
    }
}

/// The history `f` of a fault's start.
fn fault_op(fault: &Fault) -> F {
    match fault {
        Fault::Partition { .. } => F::Partition,
        Fault::Pause { .. } => F::Pause,
        Fault::Kill { .. } => F::Kill,
        Fault::ClockJump { .. } | Fault::ClockStrobe { .. } => F::Clock,
    }
}
