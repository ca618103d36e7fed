//! The nemesis in the simulated world: nemesis's own [`Stepper`] — the state machine the
//! real executor drives — stepped with the simulated clock, its leader questions answered
//! by asking the nodes, each call recorded as the same nemesis ops and applied to the
//! simulated nodes, links and clocks.

use checkers::{OpDraft, Process};
use nemesis::{Due, Primitive, Schedule, Stepper};

use super::node::Out;
use super::world::{Ev, World};

/// The stepper and the instant its timeline counts from.
pub struct NemesisExec {
    stepper: Stepper,
    /// The instant the timeline counts from (the workload's start).
    origin: u64,
    pub stopped: bool,
}

impl NemesisExec {
    pub fn new(schedule: &Schedule) -> NemesisExec {
        NemesisExec {
            stepper: Stepper::new(schedule),
            origin: 0,
            stopped: false,
        }
    }

    /// The schedule as it ran: every applied fault with its leader filled in.
    pub fn as_run(&self) -> Schedule {
        self.stepper.as_run()
    }
}

impl World {
    /// Starts the timeline now.
    pub fn start_nemesis(&mut self) {
        self.nemesis.origin = self.now;
        if let Some(at_ns) = self.nemesis.stepper.next_at_ns() {
            let at = (self.nemesis.origin + at_ns).max(self.now);
            self.schedule(at, Ev::Nemesis);
        }
        self.start_chaos();
    }

    /// Does what the stepper says until it says to wait: leader questions are answered
    /// at once (the simulated probe takes no time), so a step waiting for a leader holds
    /// back the ones after it, as in the executor.
    pub fn nemesis_wake(&mut self) {
        if self.nemesis.stopped {
            return;
        }
        loop {
            let now_ns = self.now - self.nemesis.origin;
            match self.nemesis.stepper.poll(now_ns) {
                Due::Done => return,
                Due::At(at_ns) => {
                    self.schedule(self.nemesis.origin + at_ns, Ev::Nemesis);
                    return;
                }
                Due::AskLeader { .. } => {
                    let leader = self.probe_leader().map(|i| self.names[i].clone());
                    self.nemesis.stepper.leader(now_ns, leader.as_deref());
                }
                Due::Skip { f, reason } => {
                    self.record(OpDraft::invoke(Process::Nemesis, f, None));
                    self.record(OpDraft::info(Process::Nemesis, f, None, reason));
                }
                Due::Call(primitive) => {
                    self.schedule_takes(&primitive);
                    self.call(&primitive);
                }
            }
        }
    }

    /// Records the call's invoke, applies it, records its ok (a simulated call always
    /// succeeds); what may be in force follows the executor's rules.
    pub fn call(&mut self, primitive: &Primitive) {
        let (f, value) = (primitive.f(), primitive.value());
        self.record(OpDraft::invoke(Process::Nemesis, f, value.clone()));
        self.apply(primitive);
        self.record(OpDraft::ok(Process::Nemesis, f, value));
        self.nemesis.stepper.track(primitive, true);
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
            // The simulated disk keeps only what was fsynced: every kill loses power.
            Primitive::Kill { nodes } | Primitive::PowerLoss { nodes } => {
                for i in self.indices(nodes) {
                    self.kill(i);
                }
            }
            Primitive::Start { nodes } => {
                for i in self.indices(nodes) {
                    self.start(i);
                }
            }
            Primitive::CrashPoint { nodes, point } => {
                self.chaos.crash_point_faults += 1;
                for i in self.indices(nodes) {
                    self.nodes[i].arm(raftd_point(*point));
                }
            }
            Primitive::CrashPointHeal { nodes, point } => {
                self.chaos.crash_point_faults = self.chaos.crash_point_faults.saturating_sub(1);
                for i in self.indices(nodes) {
                    if self.nodes[i].is_up() {
                        self.nodes[i].disarm(raftd_point(*point));
                    } else {
                        self.start(i);
                    }
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
            Primitive::Packet { shape, .. } => {
                let links = shape
                    .links
                    .iter()
                    .filter_map(|l| Some((self.index_of(&l.from)?, self.index_of(&l.to)?)))
                    .collect();
                self.net.shape(shape.params, links);
            }
            Primitive::PacketHeal => self.net.unshape(),
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
        self.die(node, torn);
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
        for primitive in self.nemesis.stepper.state().undo() {
            self.call(&primitive);
        }
        self.end_chaos();
        self.net.release_holds(self.now);
    }
}

/// raftd's name for a crash point the nemesis arms.
fn raftd_point(point: nemesis::CrashPoint) -> raftd::api::CrashPoint {
    match point {
        nemesis::CrashPoint::WonElection => raftd::api::CrashPoint::WonElection,
        nemesis::CrashPoint::LeaderCommit => raftd::api::CrashPoint::LeaderCommit,
    }
}
