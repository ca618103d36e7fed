//! A seeded simulation of raftd's core: the testkit's cluster driven from one seed through
//! ticks (each node with a wall clock that can jump), deliveries out of order, loss,
//! partitions (one-way too), crashes and restarts, client writes, lock grants and fenced
//! writes. Every step is checked against the Raft paper's safety properties (the
//! testkit's checks) and the service's own promises: acknowledged writes survive, a lease
//! keeps leadership exclusive, the store takes no stale token, a deposed leader steps down
//! once the network heals, and the healed cluster makes progress.
//!
//! CI sweeps 1,000 seeds of correct raftd, and for every bug of the catalogue sweeps
//! seeds until one breaks the property that bug targets. `RAFTD_SIM_SEEDS=A..B` sweeps
//! other seeds of correct raftd; `RAFTD_SIM_SEEDS=7 RAFTD_SIM_BUG=vote-twice` replays one
//! and prints its trace.

use std::collections::BTreeSet;
use std::fmt;

use raftd::core::testkit::{node_ids, Cluster, Violation};
use raftd::core::{Bug, BugSet, Request, Response};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Steps of the fault phase of one seed.
const STEPS_MAX: usize = 400;
/// Rounds (tick everyone, deliver everything) the healed cluster gets to commit a write.
const CONVERGE_ROUNDS_MAX: u64 = 300;
/// Milliseconds of wall clock per tick.
const TICK_MS: u64 = 100;
/// The largest clock jump, in milliseconds (an hour, as an NTP step gone wrong).
const CLOCK_JUMP_MS_MAX: i64 = 3_600_000;
/// Deliveries pick among this many of the oldest messages in flight.
const REORDER_WINDOW: usize = 8;
/// Seeds of correct raftd that CI sweeps.
const CORRECT_SEEDS: u64 = 1000;
/// Seeds a bug's sweep may take before the test gives up on it.
const BUG_SEEDS_MAX: u64 = 3000;

/// What a seed can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Property {
    /// At most one leader per term.
    ElectionSafety,
    /// A leader never overwrites or deletes its entries.
    LeaderAppendOnly,
    /// Equal (index, term) means equal logs up to there.
    LogMatching,
    /// A leader holds every entry committed before its term.
    LeaderCompleteness,
    /// No two nodes apply different entries at one index.
    StateMachineSafety,
    /// Nodes never refuse each other's messages as malformed.
    WellFormedMessages,
    /// A write answered `Written` is in the log after the heal.
    AckedWritesSurvive,
    /// With a lease, at most one node acts as leader at any instant.
    ExclusiveLeases,
    /// Accepted fenced writes carry non-decreasing tokens in log order.
    Fencing,
    /// Once the network heals, one leader is left.
    StepDown,
    /// Once everything heals, a leader commits a write.
    Progress,
}

#[derive(Debug, Clone)]
struct Finding {
    property: Property,
    step: usize,
    detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} at step {}: {}",
            self.property, self.step, self.detail
        )
    }
}

/// The cluster's configuration for one seed.
#[derive(Debug, Clone)]
struct Profile {
    nodes: usize,
    pre_vote: bool,
    check_quorum: bool,
    lease: bool,
    fence_on_grant: bool,
    append_batch: u64,
    /// How often faults come, from 1 (rarely) to 4.
    fault_weight: u32,
    nemesis: Nemesis,
    bugs: BugSet,
}

/// Which faults a seed favours, as a user picks a nemesis for what they test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nemesis {
    /// Every fault alike.
    Mixed,
    /// Wall clocks that jump and run fast or slow, with bridge partitions and late
    /// heartbeats: what a lease on the wall clock does not survive.
    Clocks,
    /// Leaders crashed or cut off as they are elected and as they commit: old terms'
    /// entries left behind on some nodes (Raft's Figure 8).
    Churn,
    /// Quick restarts and late messages: a node asked twice in one term, across a restart.
    Bounces,
}

impl Nemesis {
    const ALL: [Nemesis; 4] = [
        Nemesis::Mixed,
        Nemesis::Clocks,
        Nemesis::Churn,
        Nemesis::Bounces,
    ];

    /// The fault a bug's catalogue entry names, where one is needed to reach it.
    fn for_bug(bug: Bug) -> Option<Self> {
        match bug {
            Bug::WallClockLease => Some(Nemesis::Clocks),
            Bug::CommitOldTerm => Some(Nemesis::Churn),
            Bug::ForgetVote => Some(Nemesis::Bounces),
            _ => None,
        }
    }

    /// How much more often this nemesis draws a kind of step.
    fn boost(self, k: Kind) -> u32 {
        use Kind::*;
        match (self, k) {
            (Nemesis::Clocks, Bridge | ClockRate) => 6,
            // Faults held long enough for a follower behind the bridge to time out.
            (Nemesis::Clocks, TickAll) => 3,
            (Nemesis::Clocks, ClockJump | Drop | Hold | IsolateLeader) => 3,
            (Nemesis::Churn, CrashLeader | IsolateLeader) => 4,
            (Nemesis::Churn, Restart | Heal) => 2,
            (Nemesis::Bounces, Bounce) => 8,
            (Nemesis::Bounces, Hold) => 4,
            _ => 1,
        }
    }

    /// The chance that a leader new in its term, or one whose commit index just moved,
    /// is crashed or cut off at once.
    fn churn(self) -> (f64, f64) {
        match self {
            Nemesis::Churn => (0.5, 0.3),
            _ => (0.15, 0.05),
        }
    }
}

impl Profile {
    /// Drawn from the seed; a bug then overrides what would mask it, as `splitbrain run`
    /// does when it starts raftd with that bug.
    fn drawn(rng: &mut ChaCha8Rng, bug: Option<Bug>) -> Self {
        let check_quorum = rng.random_bool(0.6);
        let mut p = Profile {
            nodes: if rng.random_bool(0.5) { 3 } else { 5 },
            pre_vote: rng.random_bool(0.5),
            check_quorum,
            lease: check_quorum && rng.random_bool(0.6),
            fence_on_grant: rng.random_bool(0.5),
            append_batch: [1, 3, 64][rng.random_range(0..3)],
            fault_weight: [1, 2, 4][rng.random_range(0..3)],
            nemesis: Nemesis::ALL[rng.random_range(0..Nemesis::ALL.len())],
            bugs: bug.into_iter().collect(),
        };
        if let Some(n) = bug.and_then(Nemesis::for_bug) {
            p.nemesis = n;
        }
        if p.nemesis == Nemesis::Churn {
            // Figure 8 needs an old tail to travel without the new leader's first entry.
            p.append_batch = 1;
        }
        match bug {
            // Check-quorum steps a deaf leader down anyway, and leases need it.
            Some(Bug::NoStepDown) => (p.check_quorum, p.lease) = (false, false),
            Some(Bug::LeaseWithoutQuorumCheck) => (p.check_quorum, p.lease) = (false, true),
            Some(Bug::WallClockLease) => (p.check_quorum, p.lease) = (true, true),
            _ => {}
        }
        p
    }

    fn cluster(&self, seed: u64) -> Cluster {
        Cluster::new(self.nodes, seed, |c| {
            c.election_ticks_min = 4;
            c.election_ticks_max = 8;
            c.heartbeat_ticks = 1;
            c.tick_ms = TICK_MS;
            c.pre_vote = self.pre_vote;
            c.check_quorum = self.check_quorum;
            c.lease_ticks = self.lease.then_some(3);
            c.fence_on_grant = self.fence_on_grant;
            c.max_entries_per_append = self.append_batch;
            c.bugs = self.bugs.clone();
        })
    }
}

/// One step of the fault phase.
#[derive(Debug, Clone)]
enum Step {
    TickAll,
    Tick(usize),
    Deliver(usize),
    Drop(usize),
    /// Moves a message behind everything in flight (it waits for a retransmission).
    Hold(usize),
    Stabilize(usize),
    /// Two sides, by a bit mask over the nodes.
    Partition(u32),
    /// Two sides that cannot reach each other, and one node that reaches both.
    Bridge(usize, u32),
    OneWay(usize, usize),
    Heal,
    Crash(usize),
    Restart(usize),
    /// A crash and an immediate restart.
    Bounce(usize),
    /// The nemesis's favourite targets: whoever leads the highest term right now.
    CrashLeader,
    IsolateLeader,
    Write(usize),
    Acquire(usize),
    /// A fenced write with the newest token a client was granted, or an older one.
    FencedWrite(usize, bool),
    Read(usize),
    ClockJump(usize, i64),
    /// A wall clock running at this many thousandths of real time.
    ClockRate(usize, u64),
    ClockReset,
}

/// The kinds of step and their weights.
#[derive(Debug, Clone, Copy)]
enum Kind {
    TickAll,
    Tick,
    Deliver,
    Drop,
    Hold,
    Stabilize,
    Partition,
    Bridge,
    OneWay,
    Heal,
    Crash,
    Restart,
    Bounce,
    CrashLeader,
    IsolateLeader,
    Write,
    Acquire,
    FencedWrite,
    Read,
    ClockJump,
    ClockRate,
    ClockReset,
}

impl Kind {
    fn is_fault(self) -> bool {
        use Kind::*;
        matches!(
            self,
            Drop | Hold
                | Partition
                | Bridge
                | Bounce
                | OneWay
                | Crash
                | CrashLeader
                | IsolateLeader
                | ClockJump
                | ClockRate
        )
    }
}

/// Weights per step kind; faults are scaled by the seed's fault weight (1 to 4), the rest
/// by 4.
const WEIGHTS: [(Kind, u32); 22] = [
    (Kind::TickAll, 8),
    (Kind::Tick, 4),
    (Kind::Deliver, 14),
    (Kind::Drop, 1),
    (Kind::Hold, 1),
    (Kind::Stabilize, 12),
    (Kind::Partition, 1),
    (Kind::Bridge, 1),
    (Kind::OneWay, 1),
    (Kind::Heal, 3),
    (Kind::Crash, 1),
    (Kind::Restart, 4),
    (Kind::Bounce, 1),
    (Kind::CrashLeader, 1),
    (Kind::IsolateLeader, 1),
    (Kind::Write, 6),
    (Kind::Acquire, 2),
    (Kind::FencedWrite, 4),
    (Kind::Read, 1),
    (Kind::ClockJump, 1),
    (Kind::ClockRate, 1),
    (Kind::ClockReset, 1),
];

/// Draws the next step. With a lease, time passes for every node alike (a lease assumes
/// monotonic clocks that tick at one rate), so single-node ticks are left out; wall
/// clocks jump and drift regardless.
fn draw(rng: &mut ChaCha8Rng, p: &Profile) -> Step {
    let weight = |k: Kind, w: u32| match k {
        Kind::Tick if p.lease => 0,
        k if k.is_fault() => w * p.fault_weight * p.nemesis.boost(k),
        k => w * 4 * p.nemesis.boost(k),
    };
    let total: u32 = WEIGHTS.iter().map(|&(k, w)| weight(k, w)).sum();
    let mut pick = rng.random_range(0..total);
    let (kind, _) = *WEIGHTS
        .iter()
        .find(|&&(k, w)| {
            let w = weight(k, w);
            let here = pick < w;
            pick = pick.saturating_sub(w);
            here
        })
        .expect("pick below total");
    let n = rng.random_range(0..p.nodes);
    let client = rng.random_range(0..2 * p.nodes);
    let sides = rng.random_range(1..(1u32 << p.nodes) - 1);
    match kind {
        Kind::TickAll => Step::TickAll,
        Kind::Tick => Step::Tick(n),
        Kind::Deliver => Step::Deliver(rng.random_range(0..usize::MAX)),
        Kind::Drop => Step::Drop(rng.random_range(0..usize::MAX)),
        Kind::Hold => Step::Hold(rng.random_range(0..usize::MAX)),
        Kind::Stabilize => Step::Stabilize(rng.random_range(1..40)),
        Kind::Partition => Step::Partition(sides),
        Kind::Bridge => Step::Bridge(n, sides),
        Kind::OneWay => Step::OneWay(n, rng.random_range(0..p.nodes)),
        Kind::Heal => Step::Heal,
        Kind::Crash => Step::Crash(n),
        Kind::Restart => Step::Restart(n),
        Kind::Bounce => Step::Bounce(n),
        Kind::CrashLeader => Step::CrashLeader,
        Kind::IsolateLeader => Step::IsolateLeader,
        Kind::Write => Step::Write(client),
        Kind::Acquire => Step::Acquire(client),
        Kind::FencedWrite => Step::FencedWrite(client, rng.random_bool(0.5)),
        Kind::Read => Step::Read(client),
        Kind::ClockJump => {
            Step::ClockJump(n, rng.random_range(-CLOCK_JUMP_MS_MAX..=CLOCK_JUMP_MS_MAX))
        }
        Kind::ClockRate if rng.random_bool(0.5) => Step::ClockRate(n, rng.random_range(100..=500)),
        Kind::ClockRate => Step::ClockRate(n, rng.random_range(2000..=10_000)),
        Kind::ClockReset => Step::ClockReset,
    }
}

/// One seed's run: the cluster, the clients' view of it, and what broke.
struct World {
    p: Profile,
    rng: ChaCha8Rng,
    c: Cluster,
    ids: Vec<String>,
    /// Each node's wall clock as its ticks moved it, the rate it runs at (thousandths of
    /// real time) and the offset jumps added to it.
    walls_ms: Vec<u64>,
    rates: Vec<u64>,
    offsets_ms: Vec<i64>,
    /// Leaders seen so far, (node, term), to react to a new one.
    leaders_seen: BTreeSet<(String, u64)>,
    /// Each node's commit index when last looked at.
    commits: Vec<u64>,
    next_req: u64,
    acked: BTreeSet<String>,
    tokens: Vec<u64>,
    findings: Vec<Finding>,
    step: usize,
    trace: Vec<String>,
}

/// The wall clock every node starts from (a day in, so that jumps back stay positive).
const WALL_START_MS: u64 = 86_400_000;

impl World {
    fn new(seed: u64, p: Profile, rng: ChaCha8Rng) -> Self {
        let c = p.cluster(seed);
        World {
            rng,
            ids: node_ids(p.nodes),
            walls_ms: vec![WALL_START_MS; p.nodes],
            rates: vec![1000; p.nodes],
            offsets_ms: vec![0; p.nodes],
            leaders_seen: BTreeSet::new(),
            commits: vec![0; p.nodes],
            c,
            p,
            next_req: 0,
            acked: BTreeSet::new(),
            tokens: Vec::new(),
            findings: Vec::new(),
            step: 0,
            trace: Vec::new(),
        }
    }

    fn tick(&mut self, i: usize) {
        self.walls_ms[i] += TICK_MS * self.rates[i] / 1000;
        let wall = self.walls_ms[i].saturating_add_signed(self.offsets_ms[i]);
        let id = self.ids[i].clone();
        self.c.tick_wall(&id, wall);
    }

    fn reset_clocks(&mut self) {
        self.offsets_ms.iter_mut().for_each(|o| *o = 0);
        self.rates.iter_mut().for_each(|r| *r = 1000);
    }

    /// A crash; `lose_unsent` also loses what the node sent that is still in flight (it
    /// had not left the process when it died).
    fn crash(&mut self, id: &str, lose_unsent: bool) {
        self.c.crash(id);
        if lose_unsent {
            self.c.drop_where(|m| m.from == id);
        }
    }

    /// Leader churn, the moments that make old terms' entries dangerous: a leader new in
    /// its term, or one whose commit index just moved, sometimes dies or is cut off at
    /// once, before what it sent has left it.
    fn react(&mut self) {
        let leaders = self.c.leaders();
        let fresh: Vec<String> = leaders
            .iter()
            .filter(|l| !self.leaders_seen.contains(l))
            .map(|(id, _)| id.clone())
            .collect();
        self.leaders_seen.extend(leaders.iter().cloned());
        let mut moved = Vec::new();
        for (i, id) in self.ids.iter().enumerate() {
            let commit = self.c.status(id).map_or(0, |s| s.commit);
            if commit > self.commits[i] && leaders.iter().any(|(l, _)| l == id) {
                moved.push(id.clone());
            }
            self.commits[i] = commit;
        }
        let (on_election, on_commit) = self.p.nemesis.churn();
        let (who, chance) = match (fresh.first(), moved.first()) {
            (Some(id), _) => (id.clone(), on_election),
            (None, Some(id)) => (id.clone(), on_commit),
            (None, None) => return,
        };
        if !self.rng.random_bool(chance) {
            return;
        }
        let what = if self.rng.random_bool(0.5) {
            self.crash(&who, true);
            format!("crash {who} with its unsent messages")
        } else {
            self.c.heal();
            self.c.isolate(&who);
            format!("isolate {who}")
        };
        self.trace.push(format!("{}: react: {what}", self.step));
    }

    /// Delivers the in-flight message at `position`, then lets the nemesis react.
    fn deliver(&mut self, position: usize) -> bool {
        let delivered = self.c.deliver_at(position).is_some();
        if delivered {
            self.react();
        }
        delivered
    }

    fn tick_all(&mut self) {
        for i in 0..self.ids.len() {
            self.tick(i);
        }
    }

    /// Hands a request to the node a client believes leads: the leader of the highest
    /// term when `i` is even (clients follow redirects), else node `i / 2` (a client with a
    /// stale idea, or one cut off from the leader).
    fn propose(&mut self, i: usize, request: Request) {
        self.next_req += 1;
        let id = match self.c.leader() {
            Some(leader) if i.is_multiple_of(2) => leader,
            _ => self.ids[(i / 2) % self.ids.len()].clone(),
        };
        let _ = self.c.propose(&id, self.next_req, request);
    }

    fn apply(&mut self, step: &Step) {
        let ids = self.ids.clone();
        match *step {
            Step::TickAll => self.tick_all(),
            Step::Tick(i) => self.tick(i),
            Step::Deliver(p) if !self.c.in_flight().is_empty() => {
                // Out of order, but among the oldest: a network that reorders, not one
                // that holds a message for seconds.
                self.deliver(p % self.c.in_flight().len().min(REORDER_WINDOW));
            }
            Step::Drop(p) if !self.c.in_flight().is_empty() => {
                self.c.drop_at(p % self.c.in_flight().len());
            }
            Step::Hold(p) if !self.c.in_flight().is_empty() => {
                self.c.hold_at(p % self.c.in_flight().len());
            }
            Step::Deliver(_) | Step::Drop(_) | Step::Hold(_) => {}
            Step::Stabilize(n) => {
                for _ in 0..n {
                    if !self.deliver(0) {
                        break;
                    }
                }
            }
            Step::Partition(mask) => {
                let (a, b): (Vec<_>, Vec<_>) = ids
                    .iter()
                    .enumerate()
                    .partition(|(i, _)| mask & (1 << i) != 0);
                let names =
                    |v: Vec<(usize, &String)>| v.into_iter().map(|(_, s)| s.clone()).collect();
                self.c.heal();
                self.c.partition(&[names(a), names(b)]);
            }
            Step::Bridge(bridge, mask) => {
                let side = |bit: u32| -> Vec<String> {
                    (0..ids.len())
                        .filter(|i| *i != bridge && (mask >> i) & 1 == bit)
                        .map(|i| ids[i].clone())
                        .collect()
                };
                self.c.heal();
                self.c.partition(&[side(0), side(1)]);
            }
            Step::OneWay(from, to) if from != to => self.c.cut(&ids[from], &ids[to]),
            Step::OneWay(..) => {}
            Step::Heal => self.c.heal(),
            Step::Crash(i) => self.crash(&ids[i], false),
            Step::Restart(i) if !self.c.is_up(&ids[i]) => self.c.restart(&ids[i]),
            Step::Restart(_) => {}
            Step::Bounce(i) => {
                self.crash(&ids[i], false);
                self.c.restart(&ids[i]);
            }
            Step::Write(i) => {
                let id = format!("w{}", self.next_req + 1);
                self.propose(
                    i,
                    Request::Write {
                        id,
                        token: None,
                        election: None,
                    },
                );
            }
            Step::Acquire(i) => {
                let request = Request::Acquire {
                    election: "e".into(),
                    client: format!("p{}", self.next_req + 1),
                    ttl_ticks: 6,
                };
                self.propose(i, request);
            }
            Step::FencedWrite(i, latest) => {
                let Some(&newest) = self.tokens.last() else {
                    return;
                };
                let token = if latest {
                    newest
                } else {
                    self.tokens[self.next_req as usize % self.tokens.len()]
                };
                let id = format!("f{}", self.next_req + 1);
                self.propose(
                    i,
                    Request::Write {
                        id,
                        token: Some(token),
                        election: Some("e".into()),
                    },
                );
            }
            Step::Read(i) => self.propose(i, Request::Read),
            Step::ClockJump(i, by) => self.offsets_ms[i] += by,
            Step::ClockRate(i, rate) => self.rates[i] = rate,
            Step::ClockReset => self.reset_clocks(),
            Step::CrashLeader => {
                if let Some(leader) = self.c.leader() {
                    self.crash(&leader, false);
                }
            }
            Step::IsolateLeader => {
                if let Some(leader) = self.c.leader() {
                    self.c.heal();
                    self.c.isolate(&leader);
                }
            }
        }
    }

    fn find(&mut self, property: Property, detail: String) {
        if !self.findings.iter().any(|f| f.property == property) {
            self.findings.push(Finding {
                property,
                step: self.step,
                detail,
            });
        }
    }

    /// Collects the answers and checks what can be checked at every step.
    fn observe(&mut self) {
        for (_, _, r) in self.c.take_all_responses() {
            match r {
                Response::Written { id, .. } => {
                    self.acked.insert(id);
                }
                Response::Acquired { token } => self.tokens.push(token),
                _ => {}
            }
        }
        let harness: Vec<Violation> = self.c.violations().to_vec();
        for v in harness {
            let property = match v {
                Violation::TwoLeaders { .. } => Property::ElectionSafety,
                Violation::LeaderRewrote { .. } => Property::LeaderAppendOnly,
                Violation::LogsDiverge { .. } => Property::LogMatching,
                Violation::LeaderIncomplete { .. } => Property::LeaderCompleteness,
                Violation::CommittedChanged { .. } => Property::StateMachineSafety,
                Violation::Refused { .. } => Property::WellFormedMessages,
            };
            self.find(property, format!("{v:?}"));
        }
        if self.p.lease {
            let acting: Vec<&String> = self
                .ids
                .iter()
                .filter(|id| self.c.status(id).is_some_and(|s| s.acting_leader))
                .collect();
            if acting.len() > 1 {
                let detail = format!("acting leaders {acting:?}");
                self.find(Property::ExclusiveLeases, detail);
            }
        }
    }

    /// Each node's role and term, and how many messages are in flight.
    fn describe(&self) -> String {
        let roles: Vec<String> = self
            .ids
            .iter()
            .map(|id| match self.c.status(id) {
                Some(st) => format!("{id}:{:?}/{}", st.role, st.term),
                None => format!("{id}:down"),
            })
            .collect();
        format!(
            "{} in flight; {}",
            self.c.in_flight().len(),
            roles.join(" ")
        )
    }

    /// Starts like a real test: from a healthy cluster that elected a leader.
    fn warm_up(&mut self) {
        for _ in 0..CONVERGE_ROUNDS_MAX {
            if self.c.leader().is_some() {
                break;
            }
            self.tick_all();
            self.c.stabilize(10_000);
        }
        self.observe();
    }

    /// Heals everything, restarts every node, and waits for a leader to commit a write.
    fn converge(&mut self) -> Option<String> {
        self.c.heal();
        self.reset_clocks();
        for id in self.ids.clone() {
            if !self.c.is_up(&id) {
                self.c.restart(&id);
            }
        }
        for round in 0..CONVERGE_ROUNDS_MAX {
            self.tick_all();
            self.c.stabilize(10_000);
            self.observe();
            let Some(leader) = self.c.leader() else {
                continue;
            };
            let req = 1_000_000 + round;
            let write = Request::Write {
                id: format!("final{round}"),
                token: None,
                election: None,
            };
            if self.c.propose(&leader, req, write).is_err() {
                continue;
            }
            for _ in 0..20 {
                self.c.stabilize(10_000);
                if self
                    .c
                    .take_responses(&leader)
                    .iter()
                    .any(|(r, a)| *r == req && a.is_ok())
                {
                    return Some(leader);
                }
                self.tick_all();
            }
        }
        None
    }

    /// The checks that need a healed cluster: progress, step-down, the fate of every
    /// acknowledged write and the order of accepted tokens.
    fn finish(&mut self) {
        self.step = STEPS_MAX;
        let Some(leader) = self.converge() else {
            let detail = format!(
                "no write committed after healing; leaders {:?}",
                self.c.leaders()
            );
            self.find(Property::Progress, detail);
            return;
        };
        for _ in 0..2 * 8 {
            self.tick_all();
            self.c.stabilize(10_000);
        }
        self.observe();
        let leaders = self.c.leaders();
        if leaders.len() > 1 {
            self.find(
                Property::StepDown,
                format!("leaders after the heal: {leaders:?}"),
            );
        }
        for v in self.c.check_log_matching() {
            self.find(Property::LogMatching, format!("{v:?}"));
        }
        let Some(node) = self.c.node(&leader) else {
            return;
        };
        let log = node.state_machine().write_log().to_vec();
        let present: BTreeSet<&str> = log.iter().map(|w| w.id.as_str()).collect();
        let lost: Vec<String> = self
            .acked
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        if !lost.is_empty() {
            self.find(
                Property::AckedWritesSurvive,
                format!("acknowledged, missing at {leader}: {lost:?}"),
            );
        }
        let mut highest = 0;
        for w in &log {
            let Some(t) = w.token else { continue };
            if t < highest {
                let detail = format!("{} accepted with token {t} after token {highest}", w.id);
                self.find(Property::Fencing, detail);
            }
            highest = highest.max(t);
        }
    }
}

/// What one seed did: its profile, what it broke, and a trace of its steps.
struct Outcome {
    profile: Profile,
    findings: Vec<Finding>,
    trace: Vec<String>,
    tally: Tally,
}

/// What a run did, so that a sweep can show it exercised something.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    acknowledged_writes: usize,
    grants: usize,
    leaders: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.acknowledged_writes += o.acknowledged_writes;
        self.grants += o.grants;
        self.leaders += o.leaders;
    }
}

/// Runs one seed; every parameter comes from it.
fn simulate(seed: u64, bug: Option<Bug>) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let profile = Profile::drawn(&mut rng, bug);
    let steps = rng.random_range(STEPS_MAX / 4..=STEPS_MAX);
    let mut w = World::new(seed, profile.clone(), rng);
    w.warm_up();
    for step in 0..steps {
        w.step = step;
        let s = draw(&mut w.rng, &profile);
        w.apply(&s);
        w.observe();
        let trace = format!("{step}: {s:?} -> {}", w.describe());
        w.trace.push(trace);
    }
    w.finish();
    let mut findings = w.findings;
    findings.sort_by_key(|f| (f.property, f.step));
    let tally = Tally {
        acknowledged_writes: w.acked.len(),
        grants: w.tokens.len(),
        leaders: w.leaders_seen.len(),
    };
    Outcome {
        profile,
        findings,
        tally,
        trace: w.trace,
    }
}

/// Seeds from `RAFTD_SIM_SEEDS` (`A..B` or one seed), else `default`.
fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(s) = std::env::var("RAFTD_SIM_SEEDS") else {
        return default;
    };
    let parse = |x: &str| {
        x.trim()
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("RAFTD_SIM_SEEDS {s:?}: {e}"))
    };
    match s.split_once("..") {
        Some((a, b)) => parse(a)..parse(b),
        None => parse(&s)..parse(&s) + 1,
    }
}

#[test]
fn correct_raftd_is_safe_over_a_thousand_seeds() {
    let seeds = seeds_from_env(0..CORRECT_SEEDS);
    let bug = std::env::var("RAFTD_SIM_BUG")
        .ok()
        .map(|b| b.parse::<Bug>().unwrap_or_else(|e| panic!("{e}")));
    let mut profiles = [0usize; 4];
    let mut nemeses = BTreeSet::new();
    let mut tally = Tally::default();
    let started = std::time::Instant::now();
    for seed in seeds.clone() {
        let out = simulate(seed, bug);
        tally += out.tally;
        nemeses.insert(format!("{:?}", out.profile.nemesis));
        if seeds.end - seeds.start == 1 {
            eprintln!("{}", out.trace.join("\n"));
        }
        profiles[usize::from(out.profile.lease) * 2 + usize::from(out.profile.nodes == 5)] += 1;
        assert!(
            out.findings.is_empty(),
            "seed {seed} {:?}:\n{}\nreplay: RAFTD_SIM_SEEDS={seed} cargo test -p raftd --test core sim::correct -- --nocapture",
            out.profile,
            out.findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        );
    }
    let count = (seeds.end - seeds.start) as usize;
    eprintln!(
        "{count} seeds in {:.1?}: {tally:?}; nemeses {nemeses:?}; (3, 5 nodes) x (no lease, lease) {profiles:?}",
        started.elapsed()
    );
    if count >= 100 {
        // Both sizes, both lease modes and every nemesis were exercised, and the runs
        // did work, not one corner of nothing happening.
        assert!(profiles.iter().all(|n| *n > 0), "{profiles:?}");
        assert_eq!(nemeses.len(), Nemesis::ALL.len(), "{nemeses:?}");
        assert!(tally.acknowledged_writes >= 3 * count, "{tally:?}");
        assert!(tally.leaders >= 2 * count, "{tally:?}");
        assert!(tally.grants >= count / 2, "{tally:?}");
    }
}

#[test]
fn one_seed_gives_one_run() {
    for seed in [3, 17, 901] {
        let a = simulate(seed, Some(Bug::VoteTwice));
        let b = simulate(seed, Some(Bug::VoteTwice));
        assert_eq!(a.trace, b.trace, "seed {seed}");
        assert_eq!(format!("{:?}", a.findings), format!("{:?}", b.findings));
    }
}

/// Sweeps seeds with `bug` on until one breaks `property`; returns that seed.
fn first_breaking_seed(bug: Bug, property: Property) -> u64 {
    let mut seen = BTreeSet::new();
    for seed in 0..BUG_SEEDS_MAX {
        let out = simulate(seed, Some(bug));
        if let Some(f) = out.findings.iter().find(|f| f.property == property) {
            eprintln!(
                "{bug}: seed {seed} breaks {property:?} ({f}) after {} seeds",
                seed + 1
            );
            return seed;
        }
        seen.extend(out.findings.iter().map(|f| f.property));
    }
    panic!("{bug}: no seed of 0..{BUG_SEEDS_MAX} broke {property:?}; it broke only {seen:?}");
}

/// The property each bug of the catalogue targets.
const TARGETS: [(Bug, Property); 9] = [
    (Bug::VoteTwice, Property::ElectionSafety),
    (Bug::NoLogCheck, Property::LeaderCompleteness),
    (Bug::NoStepDown, Property::StepDown),
    (Bug::CommitOldTerm, Property::StateMachineSafety),
    (Bug::ForgetVote, Property::ElectionSafety),
    (Bug::EarlyAck, Property::AckedWritesSurvive),
    (Bug::NoFencing, Property::Fencing),
    (Bug::WallClockLease, Property::ExclusiveLeases),
    (Bug::LeaseWithoutQuorumCheck, Property::ExclusiveLeases),
];

fn target(bug: Bug) -> Property {
    TARGETS
        .iter()
        .find(|(b, _)| *b == bug)
        .map(|(_, p)| *p)
        .expect("every bug has a target")
}

macro_rules! bug_breaks_its_property {
    ($($name:ident: $bug:expr,)*) => {$(
        #[test]
        fn $name() {
            first_breaking_seed($bug, target($bug));
        }
    )*};
}

bug_breaks_its_property! {
    vote_twice_breaks_election_safety: Bug::VoteTwice,
    no_log_check_breaks_leader_completeness: Bug::NoLogCheck,
    no_step_down_keeps_a_deposed_leader: Bug::NoStepDown,
    commit_old_term_breaks_state_machine_safety: Bug::CommitOldTerm,
    forget_vote_breaks_election_safety: Bug::ForgetVote,
    early_ack_loses_acknowledged_writes: Bug::EarlyAck,
    no_fencing_accepts_stale_tokens: Bug::NoFencing,
    wall_clock_lease_breaks_exclusive_leases: Bug::WallClockLease,
    lease_without_quorum_check_breaks_exclusive_leases: Bug::LeaseWithoutQuorumCheck,
}

#[test]
fn every_bug_has_a_target_and_a_sweep() {
    let source = include_str!("sim.rs");
    // A bug of the server's driver never reaches the simulated cores.
    for bug in Bug::ALL.into_iter().filter(|b| b.in_core()) {
        let _ = target(bug);
        let name = bug.name().replace('-', "_");
        assert!(
            source.contains(&format!("    {name}_")),
            "no sweep test for {bug}"
        );
    }
}
