//! The driver's logic without its I/O: the `Ready` pump (a `Ready`'s messages leave at
//! once; its persisted messages and answers only once its batch is durable; then
//! `advance`), the stall guard that voids a lease after a gap in the ticks, request ids
//! and the requests waiting for the core, and the refusals the driver makes itself.
//! Time comes in as nanoseconds on the driver's monotonic clock and as the wall clock's
//! milliseconds. The tokio [`Driver`](super::driver::Driver) drives it with real time,
//! sockets and fsyncs; the simulator drives the very same pump with simulated ones.

use std::collections::BTreeMap;

use crate::core::{
    Applied, FenceRefusal, Message, NodeId, PersistBatch, ProposeError, RawNode, Ready, Request,
    Response, Role,
};

/// `Ready`s handled in a row before the driver looks at its inputs again.
pub const READY_ROUNDS_MAX: usize = 8;

/// Voids the lease after a gap in the ticks (a pause, a stalled fsync): the core counts the
/// lease in ticks, and ticks lost in the gap would let it outlive real time.
#[derive(Debug, Clone)]
pub struct StallGuard {
    tick_ns: u64,
    lease_ticks: Option<u64>,
    last_tick_ns: u64,
    /// Ticks left during which the lease counts as void.
    void_ticks_left: u64,
}

impl StallGuard {
    pub fn new(tick_ns: u64, lease_ticks: Option<u64>, now_ns: u64) -> Self {
        StallGuard {
            tick_ns,
            lease_ticks,
            last_tick_ns: now_ns,
            void_ticks_left: 0,
        }
    }

    /// Records a tick at `now_ns`; returns the gap since the previous one if it was a
    /// stall.
    pub fn on_tick(&mut self, now_ns: u64) -> Option<u64> {
        let gap_ns = now_ns.saturating_sub(self.last_tick_ns);
        self.last_tick_ns = now_ns;
        self.void_ticks_left = self.void_ticks_left.saturating_sub(1);
        let lease_ticks = self.lease_ticks?;
        if gap_ns >= self.tick_ns * 2 {
            // Heartbeats answered before the gap age out of the core's lease window
            // within lease_ticks ticks; after that only fresh acknowledgements count.
            self.void_ticks_left = lease_ticks + 1;
            return Some(gap_ns);
        }
        None
    }

    /// Whether the lease must be treated as void at `now_ns`: within the window after a
    /// stall, or in a stall whose first tick has not fired yet (after SIGCONT, a call can
    /// reach the driver before the overdue tick does).
    pub fn lease_void(&self, now_ns: u64) -> bool {
        let overdue = now_ns.saturating_sub(self.last_tick_ns) >= self.tick_ns * 2;
        self.void_ticks_left > 0 || (self.lease_ticks.is_some() && overdue)
    }
}

/// How a request ended, before any protocol maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The core applied it (a refusal of fencing is an applied `StaleToken`).
    Applied(Applied),
    /// This node does not lead; the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// The core refused to propose it: nothing was proposed.
    Refused(ProposeError),
    /// A linearizable read at a leader whose ticks stalled: it serves none until a quorum
    /// acknowledges it again.
    NoQuorum,
}

/// What the driver must do after a call into the pump.
#[derive(Debug)]
pub struct Output<W> {
    /// Messages to send now.
    pub msgs: Vec<Message>,
    /// Answers to hand to their waiters.
    pub answers: Vec<(W, Answer)>,
    /// Request ids that began waiting for the core: the driver times them out.
    pub waiting: Vec<u64>,
}

impl<W> Default for Output<W> {
    fn default() -> Self {
        Output {
            msgs: Vec::new(),
            answers: Vec::new(),
            waiting: Vec::new(),
        }
    }
}

/// What one `Ready` round asks of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The core has nothing ready.
    Idle,
    /// A `Ready` was handled whole (nothing to make durable).
    Done,
    /// A `Ready`'s batch must be made durable ([`Pump::in_flight`]); then call
    /// [`Pump::persisted`]. Until then the pump takes no further `Ready`.
    Persist,
}

/// The core and everything the driver keeps beside it. `W` is whatever waits for an
/// answer: a reply channel in raftd, an op in the simulator.
#[derive(Debug)]
pub struct Pump<W> {
    node: RawNode,
    guard: StallGuard,
    pending: BTreeMap<u64, W>,
    next_req_id: u64,
    persisting: Option<Ready>,
}

impl<W> Pump<W> {
    /// A pump around `node`, its tick grid starting at `now_ns`.
    pub fn new(node: RawNode, now_ns: u64) -> Pump<W> {
        let cfg = node.config();
        let guard = StallGuard::new(cfg.tick_ms * 1_000_000, cfg.lease_ticks, now_ns);
        Pump {
            node,
            guard,
            pending: BTreeMap::new(),
            next_req_id: 1,
            persisting: None,
        }
    }

    pub fn node(&self) -> &RawNode {
        &self.node
    }

    /// See [`RawNode::withhold_own_term`].
    pub fn withhold_own_term(&mut self, on: bool) {
        self.node.withhold_own_term(on);
    }

    /// A tick on the node's grid; returns the gap before it if the ticks stalled.
    pub fn tick(&mut self, now_ns: u64, wall_ms: u64) -> Option<u64> {
        let gap = self.guard.on_tick(now_ns);
        self.node.tick_wall(wall_ms);
        gap
    }

    /// A message from a peer; an error says why the core refused it.
    pub fn message(&mut self, msg: Message, wall_ms: u64) -> Result<(), String> {
        self.node.set_wall_ms(wall_ms);
        self.node.step(msg).map_err(|e| e.to_string())
    }

    /// Whether the lease counts as void at `now_ns`.
    pub fn lease_void(&self, now_ns: u64) -> bool {
        self.guard.lease_void(now_ns)
    }

    /// The role `/status` reports at `now_ns`: a leader whose lease is void says so.
    pub fn reported_role(&self, now_ns: u64) -> &'static str {
        let soft = self.node.status();
        if soft.role == Role::Leader && self.guard.lease_void(now_ns) {
            "leader-without-lease"
        } else {
            soft.reported_role()
        }
    }

    /// A client's request. A linearizable read at a leader whose lease is void is
    /// refused at once; otherwise it is proposed and `waiter` waits for its answer.
    pub fn propose(&mut self, now_ns: u64, request: Request, waiter: W, out: &mut Output<W>) {
        if request.is_read()
            && self.guard.lease_void(now_ns)
            && self.node.status().role == Role::Leader
        {
            out.answers.push((waiter, Answer::NoQuorum));
            return;
        }
        let req_id = self.next_req_id;
        self.next_req_id += 1;
        match self.node.propose(req_id, request) {
            Ok(()) => {
                self.pending.insert(req_id, waiter);
                out.waiting.push(req_id);
            }
            Err(ProposeError::NotLeader { leader }) => {
                out.answers.push((waiter, Answer::NotLeader(leader)))
            }
            Err(e) => out.answers.push((waiter, Answer::Refused(e))),
        }
    }

    /// Takes the core's next `Ready`, if any and if no batch is in flight: its messages
    /// go out at once; with nothing to make durable it is finished here.
    pub fn ready_round(&mut self, out: &mut Output<W>) -> Round {
        if self.persisting.is_some() || !self.node.has_ready() {
            return Round::Idle;
        }
        let mut rd = self.node.ready();
        out.msgs.append(&mut rd.messages);
        if rd.persist.is_empty() {
            self.finish(rd, out);
            Round::Done
        } else {
            self.persisting = Some(rd);
            Round::Persist
        }
    }

    /// The batch waiting to be made durable, if any.
    pub fn in_flight(&self) -> Option<&PersistBatch> {
        self.persisting.as_ref().map(|rd| &rd.persist)
    }

    /// The batch in flight is durable: what waited for it is sent and answered, and the
    /// core advances.
    pub fn persisted(&mut self, out: &mut Output<W>) {
        let rd = self.persisting.take().expect("a batch was in flight");
        self.finish(rd, out);
    }

    fn finish(&mut self, mut rd: Ready, out: &mut Output<W>) {
        let proof = rd.persist.durable();
        out.msgs.extend(rd.persisted_messages.take(proof));
        let mut refusals: BTreeMap<u64, FenceRefusal> = rd.fence_refusals.drain(..).collect();
        for (req_id, response) in std::mem::take(&mut rd.responses) {
            let refusal = refusals.remove(&req_id);
            let Some(waiter) = self.pending.remove(&req_id) else {
                continue; // its client gave up waiting
            };
            let answer = match response {
                Response::NotLeader { leader } => Answer::NotLeader(leader),
                response => Answer::Applied(Applied { response, refusal }),
            };
            out.answers.push((waiter, answer));
        }
        self.node.advance(rd);
    }

    /// The request `req_id` stops waiting (its time ran out); its waiter, if it still
    /// waited.
    pub fn forget(&mut self, req_id: u64) -> Option<W> {
        self.pending.remove(&req_id)
    }

    /// Keeps only the waiters `keep` says still wait (the others' clients gave up).
    pub fn retain_waiters(&mut self, keep: impl FnMut(&W) -> bool) {
        let mut keep = keep;
        self.pending.retain(|_, w| keep(w));
    }

    /// The process dies: the batch in flight, if any, and every waiter, in request order.
    pub fn crash(self) -> (Option<PersistBatch>, Vec<W>) {
        let batch = self.persisting.map(|rd| rd.persist);
        (batch, self.pending.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK_NS: u64 = 50_000_000;

    #[test]
    fn a_leader_whose_lease_is_void_refuses_every_linearizable_read_at_once() {
        let mut cfg = crate::core::Config::new("n1", vec!["n1".into()]);
        cfg.check_quorum = true;
        cfg.lease_ticks = Some(3);
        let mut node = RawNode::new(cfg).unwrap();
        node.campaign();
        assert_eq!(node.status().role, Role::Leader);
        let mut pump: Pump<u32> = Pump::new(node, 0);
        // Ten seconds without a tick, far past two tick periods: the lease counts as void.
        let stalled = 10_000 * 1_000_000;
        let reads = [
            Request::Read,
            Request::Holding {
                election: "e".into(),
                token: 1,
            },
            Request::RegisterRead { key: "r0".into() },
        ];
        for (waiter, request) in reads.into_iter().enumerate() {
            let mut out = Output::default();
            pump.propose(stalled, request, waiter as u32, &mut out);
            assert_eq!(out.answers, vec![(waiter as u32, Answer::NoQuorum)]);
        }
        // A register write goes through the log as ever.
        let mut out = Output::default();
        let write = Request::RegisterWrite {
            key: "r0".into(),
            value: 1,
        };
        pump.propose(stalled, write, 9, &mut out);
        assert!(out.answers.is_empty() && out.waiting.len() == 1, "{out:?}");
    }

    #[test]
    fn a_gap_voids_the_lease_for_lease_ticks() {
        let mut g = StallGuard::new(TICK_NS, Some(3), 0);
        assert_eq!(g.on_tick(TICK_NS), None);
        assert!(!g.lease_void(TICK_NS));
        assert!(g.lease_void(TICK_NS * 3), "overdue before the tick fires");
        assert!(g.on_tick(TICK_NS * 10).is_some());
        for i in 0..4 {
            let now = TICK_NS * (10 + i);
            assert!(g.lease_void(now), "void after {i} ticks");
            g.on_tick(now + TICK_NS);
        }
        assert!(!g.lease_void(TICK_NS * 14));
        let mut no_lease = StallGuard::new(TICK_NS, None, 0);
        assert_eq!(no_lease.on_tick(TICK_NS * 10), None);
        assert!(!no_lease.lease_void(TICK_NS * 20));
    }
}
