//! The simulated world: one event queue in simulated nanoseconds, the nodes with their
//! own clocks (offset, drift, steps), the network, and the dispatch of every event. One
//! thread, one seed; ties in time break by the order events were scheduled, so a run is
//! a pure function of its seed and schedule.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use checkers::{ErrorCode, OpDraft, Recorder};
use nemesis::Schedule;
use raftd::core::{BugSet, Config, Message};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use workloads::raftd::RaftdTuning;
use workloads::seed::mix;

use super::chaos::{self, Chaos};
use super::clients::{Actor, Workload};
use super::faults::NemesisExec;
use super::net::{LinkState, Net, NetParams};
use super::node::{ClientReq, Now, Out, Outcome, SimNode};
use super::SimSpec;

/// Wall clocks start here (ms since the epoch), far enough from zero that a backward
/// jump never goes below it.
const WALL_EPOCH_MS: u64 = 1_700_000_000_000;
/// Bound on a node's clock drift, in parts per million either way.
const DRIFT_PPM_MAX: i64 = 10_000;
/// Bounds on one fsync.
const FSYNC_NS_MIN: u64 = 50_000;
const FSYNC_NS_MAX: u64 = 3_000_000;
/// Bounds on one leg of a client call (controller to node, or back).
const CLIENT_LEG_NS_MIN: u64 = 50_000;
const CLIENT_LEG_NS_MAX: u64 = 1_000_000;
/// A bound on the events of one run, against a runaway simulation.
const EVENTS_MAX: u64 = 200_000_000;
// The append batches (entries per append) a run may give its cores, as `splitbrain
// run` draws them for raftd; 64 is raftd's own.
use workloads::raftd::APPEND_BATCHES;
/// Bound on the lines of one node's log.
const NODE_LOG_LINES_MAX: usize = 200_000;

pub const MS: u64 = 1_000_000;

/// Something that happens at an instant.
#[derive(Debug)]
pub enum Ev {
    Tick {
        node: usize,
        inc: u64,
    },
    Deliver {
        to: usize,
        inc: u64,
        msg: Box<Message>,
    },
    Fsync {
        node: usize,
        inc: u64,
    },
    RequestTimeout {
        node: usize,
        inc: u64,
        req: u64,
    },
    Arrive {
        node: usize,
        req: Box<ClientReq>,
    },
    Reply {
        op: u64,
        outcome: Box<Outcome>,
    },
    ClientTimeout {
        op: u64,
    },
    Wake(Actor),
    Nemesis,
    Hold,
    Control,
    Bounce {
        node: usize,
        inc: u64,
    },
    BounceBack {
        node: usize,
    },
    BounceRandom,
    WallRate,
    WallRateEnd {
        node: usize,
    },
}

struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest, and among equals the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A node's clock: drift of its monotonic clock, the grid its ticks follow, and the
/// nemesis's offset of its wall clock.
#[derive(Debug, Clone)]
pub struct NodeClock {
    pub drift_ppm: i64,
    pub tick_period_ns: u64,
    pub tick_origin_ns: u64,
    pub tick_k: u64,
    pub offset_ms: i64,
    /// The wall clock's rate in parts per million of the monotonic clock's (raftd's
    /// admin call sets it), counted from the anchor: the monotonic and wall readings
    /// (ms, offset aside) when it last changed.
    pub wall_rate_ppm: u64,
    pub wall_anchor: (u64, i64),
}

impl NodeClock {
    fn mono_ns(&self, t: u64) -> u64 {
        let skew = i128::from(t) * i128::from(self.drift_ppm) / 1_000_000;
        (i128::from(t) + skew).max(0) as u64
    }

    /// The wall clock (ms from its epoch, offset aside) at a monotonic reading.
    fn wall_ms(&self, mono_ns: u64) -> i64 {
        let (anchor_ns, anchor_ms) = self.wall_anchor;
        let run_ns = i128::from(mono_ns.saturating_sub(anchor_ns));
        anchor_ms + (run_ns * i128::from(self.wall_rate_ppm) / 1_000_000 / i128::from(MS)) as i64
    }

    /// From `t` on, the wall clock runs at `rate_ppm` (1,000,000 is real time).
    pub fn set_wall_rate(&mut self, t: u64, rate_ppm: u64) {
        let mono_ns = self.mono_ns(t);
        self.wall_anchor = (mono_ns, self.wall_ms(mono_ns));
        self.wall_rate_ppm = rate_ppm;
    }

    pub fn now(&self, t: u64) -> Now {
        let mono_ns = self.mono_ns(t);
        let wall = WALL_EPOCH_MS as i64 + self.wall_ms(mono_ns) + self.offset_ms;
        Now {
            mono_ns,
            wall_ms: wall.max(0) as u64,
        }
    }
}

/// The whole simulated world of one run.
pub struct World {
    pub now: u64,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    pub events: u64,
    pub spec: SimSpec,
    pub tuning: RaftdTuning,
    pub names: Vec<String>,
    pub nodes: Vec<SimNode>,
    pub clocks: Vec<NodeClock>,
    pub net: Net,
    rng: ChaCha8Rng,
    pub recorder: Recorder,
    pub wl: Workload,
    pub nemesis: NemesisExec,
    pub chaos: Chaos,
    /// Why a node could not restart, if one could not.
    pub restart_failures: Vec<String>,
    /// Per node, when kept: what it went through (roles, terms, faults), one line each.
    pub logs: Option<Vec<NodeLog>>,
}

/// One node's log and the last role it was seen in.
#[derive(Default, Clone)]
pub struct NodeLog {
    pub lines: Vec<String>,
    last: Option<(String, u64, Option<String>)>,
}

impl World {
    pub fn new(spec: &SimSpec, seed: u64, schedule: &Schedule) -> World {
        chaos::quiet_core_panics();
        let tuning = RaftdTuning::default();
        let names: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 0x5151));
        let partitions = spec
            .nemesis_kinds
            .iter()
            .any(|k| k.fault_kind() == nemesis::FaultKind::Partition);
        let net_params = NetParams::draw(&mut rng, partitions);
        // The core's append batch, drawn: with one entry per append a new leader's old
        // tail and its first entry of its own term reach a follower apart, which the
        // commit rule of Raft's Figure 8 is about.
        let batch = APPEND_BATCHES[rng.random_range(0..APPEND_BATCHES.len())];
        let batch = if workloads::raftd::Exposure::for_bugs(&spec.bugs).one_entry_per_append {
            1
        } else {
            batch
        };
        let mut clocks = Vec::new();
        let mut nodes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let clock = new_clock(&tuning, rng.random_range(-DRIFT_PPM_MAX..=DRIFT_PPM_MAX), 0);
            let mut cfg = node_config(spec, &tuning, name, &names, mix(seed, i as u64 + 1));
            cfg.max_entries_per_append = batch;
            nodes.push(SimNode::new(cfg, clock.now(0)));
            clocks.push(clock);
        }
        World {
            now: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            events: 0,
            spec: spec.clone(),
            tuning,
            net: Net::new(names.len(), net_params, mix(seed, 0x4e45)),
            wl: Workload::new(spec, seed, schedule.time_limit_ms),
            nemesis: NemesisExec::new(schedule),
            chaos: Chaos::new(spec, mix(seed, 0xc4a0)),
            names,
            nodes,
            clocks,
            rng,
            recorder: Recorder::in_memory(),
            restart_failures: Vec::new(),
            logs: None,
        }
    }

    /// Keeps a log per node for the results directory (a sweep does without).
    pub fn keep_logs(&mut self) {
        self.logs = Some(vec![NodeLog::default(); self.nodes.len()]);
    }

    /// Adds a line to the node's log, if logs are kept.
    pub fn note(&mut self, node: usize, text: impl FnOnce() -> String) {
        let now = self.now;
        if let Some(log) = self.logs.as_mut().and_then(|l| l.get_mut(node)) {
            if log.lines.len() < NODE_LOG_LINES_MAX {
                log.lines
                    .push(format!("{:>12.3} ms  {}", now as f64 / MS as f64, text()));
            }
        }
    }

    /// Logs the node's role, term and leader when they changed.
    fn note_role(&mut self, node: usize) {
        if self.logs.is_none() {
            return;
        }
        let now = self.clocks[node].now(self.now);
        let Some(seen) = self.nodes[node].seen(now) else {
            return;
        };
        let log = &mut self.logs.as_mut().expect("logs are kept")[node];
        if log.last.as_ref() == Some(&seen) {
            return;
        }
        log.last = Some(seen.clone());
        let (role, term, leader) = seen;
        let leader = leader.unwrap_or_else(|| "none".into());
        self.note(node, || format!("{role} term {term} leader {leader}"));
    }

    pub fn schedule(&mut self, at: u64, ev: Ev) {
        debug_assert!(at >= self.now, "an event in the past");
        self.seq += 1;
        self.queue.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        });
    }

    /// Runs until the controller says the run is over (or the queue empties).
    pub fn run(&mut self) {
        for node in 0..self.nodes.len() {
            self.schedule_tick(node);
        }
        self.schedule(0, Ev::Control);
        if let Some(at) = self.net.hold(0) {
            self.schedule(at, Ev::Hold);
        }
        while let Some(Scheduled { at, ev, .. }) = self.queue.pop() {
            assert!(at >= self.now, "time went back");
            self.now = at;
            self.events += 1;
            assert!(self.events < EVENTS_MAX, "the simulation ran away");
            self.dispatch(ev);
            if self.wl.done() {
                return;
            }
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Tick { node, inc } => self.on_tick(node, inc),
            Ev::Deliver { to, inc, msg } => self.on_deliver(to, inc, *msg),
            Ev::Fsync { node, inc } if self.alive(node, inc) => {
                let now = self.clocks[node].now(self.now);
                self.with_node(node, |n, out| n.fsync_done(now, out));
            }
            Ev::RequestTimeout { node, inc, req } if self.alive(node, inc) => {
                self.with_node(node, |n, out| n.request_timeout(req, out));
            }
            Ev::Fsync { .. } | Ev::RequestTimeout { .. } => {}
            Ev::Arrive { node, req } => self.on_arrive(node, *req),
            Ev::Reply { op, outcome } => self.complete(op, *outcome),
            Ev::ClientTimeout { op } => self.complete(op, Outcome::Info(ErrorCode::Timeout)),
            Ev::Wake(actor) => self.wake(actor),
            Ev::Nemesis => self.nemesis_wake(),
            Ev::Hold => {
                if self.wl.in_fault_phase() {
                    if let Some(at) = self.net.hold(self.now) {
                        self.schedule(at, Ev::Hold);
                    }
                }
            }
            Ev::Control => self.control(),
            Ev::Bounce { node, inc } => {
                self.bounce(node, inc);
            }
            Ev::BounceBack { node } => self.bounce_back(node),
            Ev::BounceRandom => self.bounce_random(),
            Ev::WallRate => self.wall_rate_spell(),
            Ev::WallRateEnd { node } => self.wall_rate_end(node),
        }
    }

    fn alive(&self, node: usize, inc: u64) -> bool {
        self.nodes[node].incarnation == inc && self.nodes[node].is_up()
    }

    fn schedule_tick(&mut self, node: usize) {
        let c = &self.clocks[node];
        let at = c.tick_origin_ns + (c.tick_k + 1) * c.tick_period_ns;
        let inc = self.nodes[node].incarnation;
        self.schedule(at, Ev::Tick { node, inc });
    }

    fn on_tick(&mut self, node: usize, inc: u64) {
        if !self.alive(node, inc) {
            return;
        }
        self.clocks[node].tick_k += 1;
        self.schedule_tick(node);
        let now = self.clocks[node].now(self.now);
        self.with_node(node, |n, out| n.tick(now, out));
    }

    fn on_deliver(&mut self, to: usize, inc: u64, msg: Message) {
        let Some(from) = self.index_of(&msg.from) else {
            return;
        };
        if !self.alive(to, inc) || self.net.state(from, to, self.now) == LinkState::Cut {
            return;
        }
        if self.hold_vote_request(to, &msg) {
            return;
        }
        let now = self.clocks[to].now(self.now);
        self.with_node(to, |n, out| n.deliver(now, msg, out));
    }

    fn on_arrive(&mut self, node: usize, req: ClientReq) {
        if !self.nodes[node].is_up() {
            // Nothing listens: the connection is refused, so nothing was sent.
            let at = self.now + self.client_leg();
            self.schedule(
                at,
                Ev::Reply {
                    op: req.op,
                    outcome: Box::new(Outcome::fail(ErrorCode::ConnectionRefused)),
                },
            );
            return;
        }
        let now = self.clocks[node].now(self.now);
        self.with_node(node, |n, out| n.request(now, req, out));
    }

    /// The node's process dies where it stands (`log_synced`: its fsync in flight got
    /// its log half to disk); the requests waiting in it learn nothing.
    pub fn die(&mut self, node: usize, log_synced: bool) {
        for op in self.nodes[node].kill(log_synced) {
            let at = self.now + self.client_leg();
            let outcome = Box::new(super::node::Outcome::Info(ErrorCode::ConnectionLost));
            self.schedule(at, Ev::Reply { op, outcome });
        }
    }

    /// Gives the node an input and carries out what it asks: messages onto the network,
    /// answers back to clients, the fsync and request timers.
    pub fn with_node(&mut self, node: usize, f: impl FnOnce(&mut SimNode, &mut Out)) {
        let mut out = Out::default();
        let target = &mut self.nodes[node];
        chaos::IN_CORE.with(|c| c.set(true));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(target, &mut out)));
        chaos::IN_CORE.with(|c| c.set(false));
        if let Err(payload) = caught {
            self.core_panicked(node, chaos::panic_text(payload.as_ref()));
            return;
        }
        if let Some(point) = out.crashed {
            self.note(node, || format!("crash point reached: {point}"));
            self.die(node, false);
            return;
        }
        self.note_role(node);
        if Chaos::grants_vote(&out.msgs) {
            self.after_vote(node);
        }
        self.after_step(node);
        let inc = self.nodes[node].incarnation;
        let muted = self.net.muted(node, self.now);
        for msg in out.msgs {
            if muted {
                continue;
            }
            let Some(to) = self.index_of(&msg.to) else {
                continue;
            };
            let tick_ns = self.tuning.tick_ms * MS;
            let timeout_ns = (
                tick_ns * self.tuning.election_ticks_min / 2,
                tick_ns * self.tuning.election_ticks_max * 2,
            );
            let late = self.vote_request_delay(&msg, timeout_ns);
            let bytes = || serde_json::to_vec(&msg).map_or(0, |b| b.len());
            let arrivals = self.net.arrivals(node, to, self.now, bytes);
            let inc = self.nodes[to].incarnation;
            for at in arrivals {
                let msg = Box::new(msg.clone());
                self.schedule(at + late, Ev::Deliver { to, inc, msg });
            }
        }
        for (op, outcome) in out.replies {
            let at = self.now + self.client_leg();
            let outcome = Box::new(outcome);
            self.schedule(at, Ev::Reply { op, outcome });
        }
        if out.fsync {
            let at = self.now + self.rng.random_range(FSYNC_NS_MIN..=FSYNC_NS_MAX);
            self.schedule(at, Ev::Fsync { node, inc });
        }
        for req in out.waiting {
            let at = self.now + self.tuning.request_timeout_ms * MS;
            self.schedule(at, Ev::RequestTimeout { node, inc, req });
        }
    }

    pub fn client_leg(&mut self) -> u64 {
        self.rng.random_range(CLIENT_LEG_NS_MIN..=CLIENT_LEG_NS_MAX)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Records an op at the current simulated time.
    pub fn record(&self, draft: OpDraft) {
        self.recorder
            .record_at(self.now, draft)
            .expect("simulated time never goes back");
    }

    /// Who leads now as the nodes themselves report it: a running node answering
    /// `role: "leader"`, the highest term first.
    pub fn probe_leader(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.paused {
                continue;
            }
            if let Some((role, term)) = node.reported(self.clocks[i].now(self.now)) {
                if role == "leader" && best.is_none_or(|(t, _)| term > t) {
                    best = Some((term, i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// Restarts a node's tick grid from now (a started process).
    pub fn restart_ticks(&mut self, node: usize) {
        let c = &mut self.clocks[node];
        c.tick_origin_ns = self.now;
        c.tick_k = 0;
        self.schedule_tick(node);
    }

    /// Whether a kill catches the node's fsync half way (log synced, hard state not).
    pub fn torn_fsync(&mut self) -> bool {
        self.spec.torn_fsync && self.rng.random_bool(0.5)
    }

    /// Messages a node refused as malformed, over all nodes.
    pub fn refused(&self) -> u64 {
        self.nodes.iter().map(|n| n.refused).sum()
    }
}

fn new_clock(tuning: &RaftdTuning, drift_ppm: i64, origin: u64) -> NodeClock {
    let tick_ns = tuning.tick_ms * MS;
    // The node's tick of tick_ms on its own clock lasts this long in true time.
    let period = (i128::from(tick_ns) * 1_000_000 / (1_000_000 + i128::from(drift_ppm))) as u64;
    NodeClock {
        drift_ppm,
        tick_period_ns: period.max(1),
        tick_origin_ns: origin,
        tick_k: 0,
        offset_ms: 0,
        wall_rate_ppm: 1_000_000,
        wall_anchor: (0, 0),
    }
}

/// The core's configuration, as `splitbrain run` starts raftd: its tuning, leases as the
/// spec says, grant fencing, the bugs, and a per-node seed.
fn node_config(
    spec: &SimSpec,
    tuning: &RaftdTuning,
    id: &str,
    peers: &[String],
    seed: u64,
) -> Config {
    let mut cfg = Config::new(id, peers.to_vec());
    cfg.election_ticks_min = tuning.election_ticks_min;
    cfg.election_ticks_max = tuning.election_ticks_max;
    cfg.heartbeat_ticks = tuning.heartbeat_ticks;
    cfg.lease_ticks = spec.leases_on().then_some(tuning.lease_ticks);
    cfg.fence_on_grant = spec.fence_on_grant;
    cfg.bugs = spec
        .bugs
        .iter()
        .filter_map(|b| b.parse().ok())
        .collect::<BugSet>();
    // As `splitbrain run` starts raftd: without the protections that would hide the bugs.
    let exposure = workloads::raftd::Exposure::for_bugs(&spec.bugs);
    cfg.check_quorum = !exposure.no_check_quorum;
    cfg.pre_vote = !exposure.no_pre_vote;
    cfg.seed = seed;
    cfg.tick_ms = tuning.tick_ms;
    cfg
}
