//! Fault shapes only a simulator can give, drawn from the seed beside the nemesis's
//! schedule and only while the schedule runs: crash-restarts quick enough to fall
//! between two vote requests of one term (a voter bounced right after it granted a vote,
//! or any node at random), and cores that panic (a failed assertion in raftd's core is a
//! process that died: the node goes down and the run reports it).
//!
//! Bounces are recorded as the nemesis's `kill` and `start` ops, so the history and the
//! timeline show them and the final phase undoes them like any other kill. None of this
//! runs while a crash point is in force (Raft's figure 8 needs its order of events).

use std::collections::BTreeSet;

use nemesis::{FaultKind, Primitive};
use raftd::core::{Message, MessageBody};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::world::{Ev, World, MS};
use super::SimSpec;

/// Bounds on how long a bounced node stays down.
const BOUNCE_MS_MIN: u64 = 1;
const BOUNCE_MS_MAX: u64 = 150;
/// Bound on how long after its election a new leader may be bounced.
const LEADER_BOUNCE_NS_MAX: u64 = 30 * MS;
/// Bound on how long a new leader's links stay down.
const MUTE_NS_MAX: u64 = 800 * MS;
/// Bounds on how long a node's wall clock runs fast or slow.
const WALL_RATE_NS_MIN: u64 = 500 * MS;
const WALL_RATE_NS_MAX: u64 = 3_000 * MS;
/// Bound on the panics a run keeps the text of.
const PANICS_KEPT_MAX: usize = 10;

/// This run's simulator-only faults.
pub struct Chaos {
    /// Chance that a node that just granted a vote is bounced.
    pub bounce_after_vote_p: f64,
    /// Mean time between two bounces of random nodes; 0 for none.
    pub bounce_every_ns: u64,
    /// Chance that a voter asked for a vote in a term it already voted in (for another)
    /// is bounced first, the request held on the link until it is back.
    pub bounce_before_vote_p: f64,
    /// Chance that a new leader is bounced within `LEADER_BOUNCE_NS_MAX` of its election,
    /// before its first entries reach a quorum: leader churn with uncommitted tails.
    pub leader_bounce_p: f64,
    /// Chance that one vote or pre-vote request is held back on its link for about an
    /// election timeout, so that its receiver campaigns in the same term meanwhile.
    pub vote_request_delay_p: f64,
    /// Chance that a new leader's links go down at its election, before its first
    /// entries leave it, for up to `MUTE_NS_MAX`.
    pub leader_mute_p: f64,
    /// Chance that a leader's links go down right as it advances its commit index,
    /// before the followers learn of it.
    pub commit_mute_p: f64,
    /// Mean time between two spells of a node's wall clock running fast or slow (as
    /// raftd's admin clock call can make it); 0 for none. Only the wall clock: the ticks
    /// follow the monotonic clock, whose drift stays bounded.
    pub wall_rate_every_ns: u64,
    /// Per node, the last term it was seen leading, and its commit index then.
    led: Vec<(u64, u64)>,
    /// Requests held while their node is bounced.
    held: Vec<(usize, Message)>,
    /// Nodes down by a bounce, to be started again by it.
    bounced: BTreeSet<usize>,
    /// From the nemesis's start to the final phase.
    active: bool,
    /// Crash-point faults in force. None of this chaos runs while one holds: a bounced
    /// node comes back unarmed, and a bounce, a mute or a clock spell would break the
    /// order of events the points make (Raft's figure 8), which real runs keep free of
    /// other faults too.
    pub crash_point_faults: usize,
    rng: ChaCha8Rng,
    /// Panics of the cores: `node: message`.
    pub panics: Vec<String>,
    pub panic_count: u64,
}

impl Chaos {
    /// Bounces come with the kill fault; a run without it gets none.
    pub fn new(spec: &SimSpec, seed: u64) -> Chaos {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let kill = spec
            .nemesis_kinds
            .iter()
            .any(|k| k.fault_kind() == FaultKind::Kill);
        let mut chance = |on: f64, lo: f64, hi: f64| match kill && rng.random_bool(on) {
            true => rng.random_range(lo..=hi),
            false => 0.0,
        };
        let after_vote = chance(0.5, 0.05, 0.5);
        let before_vote = chance(0.5, 0.1, 1.0);
        let leader = chance(0.5, 0.05, 0.6);
        let partition = spec
            .nemesis_kinds
            .iter()
            .any(|k| k.fault_kind() == FaultKind::Partition);
        let vote_delay = match partition && rng.random_bool(0.5) {
            true => rng.random_range(0.02..=0.3),
            false => 0.0,
        };
        let mute = match partition && rng.random_bool(0.5) {
            true => rng.random_range(0.05..=0.5),
            false => 0.0,
        };
        let clock = spec
            .nemesis_kinds
            .iter()
            .any(|k| k.fault_kind() == FaultKind::Clock);
        let wall_rate_every = match clock && rng.random_bool(0.5) {
            true => rng.random_range(500..=4_000) * MS,
            false => 0,
        };
        let commit_mute = match partition && rng.random_bool(0.5) {
            true => rng.random_range(0.005..=0.2),
            false => 0.0,
        };
        let every = match kill && rng.random_bool(0.5) {
            true => rng.random_range(500..=5_000) * MS,
            false => 0,
        };
        Chaos {
            bounce_after_vote_p: after_vote,
            bounce_every_ns: every,
            bounce_before_vote_p: before_vote,
            leader_bounce_p: leader,
            vote_request_delay_p: vote_delay,
            leader_mute_p: mute,
            commit_mute_p: commit_mute,
            wall_rate_every_ns: wall_rate_every,
            led: vec![(0, 0); spec.nodes],
            held: Vec::new(),
            bounced: BTreeSet::new(),
            active: false,
            crash_point_faults: 0,
            rng,
            panics: Vec::new(),
            panic_count: 0,
        }
    }

    /// Whether the chaos runs now: the nemesis runs and no crash point is in force.
    fn on(&self) -> bool {
        self.active && self.crash_point_faults == 0
    }

    /// Whether `msgs` grant a vote (not a pre-vote).
    pub fn grants_vote(msgs: &[Message]) -> bool {
        msgs.iter()
            .any(|m| matches!(m.body, MessageBody::VoteResp { reject: false }))
    }
}

impl World {
    /// Starts the random bounces and clock spells with the nemesis's timeline.
    pub fn start_chaos(&mut self) {
        self.chaos.active = true;
        if self.chaos.wall_rate_every_ns > 0 {
            let at = self.now
                + self
                    .chaos
                    .rng
                    .random_range(1..=2 * self.chaos.wall_rate_every_ns);
            self.schedule(at, Ev::WallRate);
        }
        if self.chaos.bounce_every_ns > 0 {
            let at = self.now
                + self
                    .chaos
                    .rng
                    .random_range(1..=2 * self.chaos.bounce_every_ns);
            self.schedule(at, Ev::BounceRandom);
        }
    }

    /// A node sent a granted vote: perhaps bounce it at once.
    pub fn after_vote(&mut self, node: usize) {
        let p = self.chaos.bounce_after_vote_p;
        if p > 0.0 && self.chaos.on() && self.wl.in_fault_phase() && self.chaos.rng.random_bool(p) {
            let inc = self.nodes[node].incarnation;
            self.schedule(self.now, Ev::Bounce { node, inc });
        }
    }

    pub fn bounce_random(&mut self) {
        if !self.wl.in_fault_phase() || self.nemesis.stopped {
            return;
        }
        let node = self.chaos.rng.random_range(0..self.nodes.len());
        let inc = self.nodes[node].incarnation;
        self.bounce(node, inc);
        let every = self.chaos.bounce_every_ns;
        let at = self.now + self.chaos.rng.random_range(1..=2 * every);
        self.schedule(at, Ev::BounceRandom);
    }

    /// Extra delay for a message sent now: a vote request is sometimes held back for
    /// about an election timeout (`timeout_ns`), overtaken by what follows it.
    pub fn vote_request_delay(&mut self, msg: &Message, timeout_ns: (u64, u64)) -> u64 {
        let p = self.chaos.vote_request_delay_p;
        let request = matches!(
            msg.body,
            MessageBody::PreVote { .. } | MessageBody::Vote { .. }
        );
        if p <= 0.0 || !request || !self.chaos.on() || self.nemesis.stopped {
            return 0;
        }
        if !self.chaos.rng.random_bool(p) {
            return 0;
        }
        self.chaos.rng.random_range(timeout_ns.0..=timeout_ns.1)
    }

    /// A node's wall clock starts running fast (2 to 10 times) or slow (a tenth to a
    /// half) for a while.
    pub fn wall_rate_spell(&mut self) {
        if !self.chaos.active || self.nemesis.stopped || !self.wl.in_fault_phase() {
            return;
        }
        let every = self.chaos.wall_rate_every_ns;
        if !self.chaos.on() {
            let next = self.now + self.chaos.rng.random_range(1..=2 * every);
            self.schedule(next, Ev::WallRate);
            return;
        }
        let node = self.chaos.rng.random_range(0..self.nodes.len());
        let rate_ppm = match self.chaos.rng.random_bool(0.5) {
            true => self.chaos.rng.random_range(2_000_000..=10_000_000),
            false => self.chaos.rng.random_range(100_000..=500_000),
        };
        self.clocks[node].set_wall_rate(self.now, rate_ppm);
        self.note(node, || format!("wall clock rate {rate_ppm} ppm"));
        let end = self.now
            + self
                .chaos
                .rng
                .random_range(WALL_RATE_NS_MIN..=WALL_RATE_NS_MAX);
        self.schedule(end, Ev::WallRateEnd { node });
        let next = self.now + self.chaos.rng.random_range(1..=2 * every);
        self.schedule(next, Ev::WallRate);
    }

    pub fn wall_rate_end(&mut self, node: usize) {
        if self.clocks[node].wall_rate_ppm != 1_000_000 {
            self.clocks[node].set_wall_rate(self.now, 1_000_000);
            self.note(node, || "wall clock rate back to real time".into());
        }
    }

    /// The final phase puts every wall clock back to real time.
    pub fn end_chaos(&mut self) {
        self.chaos.active = false;
        self.chaos.held.clear();
        for node in 0..self.nodes.len() {
            self.wall_rate_end(node);
        }
    }

    /// A node may have just become leader: perhaps bounce it before its entries spread.
    pub fn after_step(&mut self, node: usize) {
        let on = self.chaos.on() && !self.nemesis.stopped && self.wl.in_fault_phase();
        let c = &self.chaos;
        let any = c.leader_bounce_p > 0.0 || c.leader_mute_p > 0.0 || c.commit_mute_p > 0.0;
        if !any || !on {
            return;
        }
        let Some((term, commit)) = self.nodes[node].leading() else {
            return;
        };
        let (led, committed) = std::mem::replace(&mut self.chaos.led[node], (term, commit));
        if led == term {
            let p = self.chaos.commit_mute_p;
            if commit > committed && p > 0.0 && self.chaos.rng.random_bool(p) {
                let until = self.now
                    + self
                        .chaos
                        .rng
                        .random_range(MUTE_NS_MAX / 2..=2 * MUTE_NS_MAX);
                self.net.mute(node, until);
            }
            return;
        }
        if self.chaos.leader_mute_p > 0.0 && self.chaos.rng.random_bool(self.chaos.leader_mute_p) {
            let until = self.now + self.chaos.rng.random_range(1..=MUTE_NS_MAX);
            self.net.mute(node, until);
        }
        if self.chaos.leader_bounce_p > 0.0
            && self.chaos.rng.random_bool(self.chaos.leader_bounce_p)
        {
            let at = self.now + self.chaos.rng.random_range(0..=LEADER_BOUNCE_NS_MAX);
            let inc = self.nodes[node].incarnation;
            self.schedule(at, Ev::Bounce { node, inc });
        }
    }

    /// A vote request reaches `node`: if it already voted for another in that term,
    /// perhaps bounce it first and hold the request until it is back. True if held.
    pub fn hold_vote_request(&mut self, node: usize, msg: &Message) -> bool {
        let p = self.chaos.bounce_before_vote_p;
        let request = matches!(
            msg.body,
            MessageBody::PreVote { .. } | MessageBody::Vote { .. }
        );
        if p <= 0.0 || !request || !self.chaos.on() {
            return false;
        }
        let Some((term, Some(vote))) = self.nodes[node].vote() else {
            return false;
        };
        if term != msg.term || vote == msg.from || !self.chaos.rng.random_bool(p) {
            return false;
        }
        let inc = self.nodes[node].incarnation;
        if !self.bounce(node, inc) {
            return false;
        }
        self.chaos.held.push((node, msg.clone()));
        true
    }

    /// Kills a running, unpaused node and starts it again shortly after; false if the
    /// node was not there to bounce.
    pub fn bounce(&mut self, node: usize, inc: u64) -> bool {
        let up = self.nodes[node].incarnation == inc && self.nodes[node].is_up();
        let on = self.chaos.on() && !self.nemesis.stopped && self.wl.in_fault_phase();
        if !up || self.nodes[node].paused || !on {
            return false;
        }
        let nodes = vec![self.names[node].clone()];
        self.call(&Primitive::Kill { nodes });
        self.chaos.bounced.insert(node);
        let down_ms = self.chaos.rng.random_range(BOUNCE_MS_MIN..=BOUNCE_MS_MAX);
        self.schedule(self.now + down_ms * MS, Ev::BounceBack { node });
        true
    }

    /// Starts a bounced node again, then hands it the requests held for it.
    pub fn bounce_back(&mut self, node: usize) {
        let held: Vec<Message> = {
            let (mine, rest) = std::mem::take(&mut self.chaos.held)
                .into_iter()
                .partition(|(n, _)| *n == node);
            self.chaos.held = rest;
            mine.into_iter().map(|(_, m)| m).collect()
        };
        if !self.chaos.bounced.remove(&node) || self.nemesis.stopped {
            return;
        }
        let nodes = vec![self.names[node].clone()];
        self.call(&Primitive::Start { nodes });
        let inc = self.nodes[node].incarnation;
        for msg in held {
            let at = self.now + self.net.params.delay_ns_min;
            let msg = Box::new(msg);
            self.schedule(at, Ev::Deliver { to: node, inc, msg });
        }
    }

    /// The schedule's own kill or start of these nodes takes them over from a bounce.
    pub fn schedule_takes(&mut self, primitive: &Primitive) {
        if let Primitive::Kill { nodes } | Primitive::Start { nodes } = primitive {
            for name in nodes {
                if let Some(i) = self.index_of(name) {
                    self.chaos.bounced.remove(&i);
                }
            }
        }
    }

    /// The core of `node` panicked: the process died. It goes down as a kill would take
    /// it down (its waiting clients learn nothing), and the run remembers why.
    pub fn core_panicked(&mut self, node: usize, message: String) {
        self.chaos.panic_count += 1;
        if self.chaos.panics.len() < PANICS_KEPT_MAX {
            let at_ms = self.now / MS;
            let name = &self.names[node];
            self.chaos
                .panics
                .push(format!("{name} at {at_ms} ms: {message}"));
        }
        let text = format!("core panicked: {message}");
        self.note(node, || text);
        self.die(node, false);
    }
}

thread_local! {
    /// Set while a core runs, so the panic hook stays quiet about panics the run catches.
    pub static IN_CORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that says nothing of panics inside a simulated core (the
/// run reports them) and hands every other panic to the hook before it.
pub fn quiet_core_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CORE.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// The text of a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
