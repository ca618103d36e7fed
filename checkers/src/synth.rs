//! Seeded synthetic histories from a correct reference model: a 5-node leader service
//! with leases, a fenced lock and a replicated log, driven by dozens of clients under
//! faults. Its histories are valid under every guarantee; the tests plant anomalies in
//! them and the benchmark checks millions of their ops.
//!
//! Every op takes effect at one instant inside [invoke, completion] (its linearization
//! point), so the history is exactly what a linearizable system could produce.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::error_code::ErrorCode;
use crate::history::{LogEntry, Op, OpType, Process, Role, Value, F};
use crate::recorder::{OpDraft, Recorder};

/// What to generate. Times are simulated; nothing sleeps.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    /// Client ops stop being issued once this many ops are written.
    pub ops_target: u64,
    pub nodes: usize,
    /// Clients polling `status`.
    pub pollers: usize,
    /// Clients issuing unfenced writes (and the occasional read).
    pub writers: usize,
    /// Clients taking the lock and writing under its token.
    pub lockers: usize,
    pub op_latency_us_max: u64,
    pub fault_every_ms: u64,
    pub fault_duration_ms: u64,
    pub election_ms_max: u64,
    /// Reads during the test (besides one final read per node).
    pub mid_reads: u64,
    /// Per mille of ops ending `info`.
    pub info_per_mille: u64,
}

impl SynthConfig {
    /// A realistic test: 5 nodes, dozens of clients, a fault every 2 s.
    pub fn realistic(seed: u64, ops_target: u64) -> SynthConfig {
        SynthConfig {
            seed,
            ops_target,
            nodes: 5,
            pollers: 12,
            writers: 16,
            lockers: 8,
            op_latency_us_max: 3_000,
            fault_every_ms: 2_000,
            fault_duration_ms: 1_000,
            election_ms_max: 400,
            mid_reads: 4,
            info_per_mille: 3,
        }
    }

    /// A small, fault-dense test for property tests.
    pub fn small(seed: u64, ops_target: u64) -> SynthConfig {
        SynthConfig {
            seed,
            ops_target,
            nodes: 5,
            pollers: 3,
            writers: 3,
            lockers: 3,
            op_latency_us_max: 3_000,
            fault_every_ms: 4,
            fault_duration_ms: 2,
            election_ms_max: 5,
            mid_reads: 3,
            info_per_mille: 30,
        }
    }
}

/// SplitMix64: tiny, seeded, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }
    pub fn chance_per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// Where generated ops go.
pub trait Sink {
    fn emit(&mut self, time_ns: u64, draft: OpDraft) -> io::Result<()>;
    fn written(&self) -> u64;
}

/// Writes ops as JSON lines.
pub struct LineSink<W: Write> {
    out: W,
    index: u64,
    line: Vec<u8>,
}

impl<W: Write> LineSink<W> {
    pub fn new(out: W) -> Self {
        LineSink {
            out,
            index: 0,
            line: Vec::with_capacity(256),
        }
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for LineSink<W> {
    fn emit(&mut self, time_ns: u64, d: OpDraft) -> io::Result<()> {
        let op = Op {
            index: self.index,
            time: time_ns,
            process: d.process,
            kind: d.kind,
            f: d.f,
            node: d.node,
            value: d.value,
            error: d.error,
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &op).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.index += 1;
        Ok(())
    }
    fn written(&self) -> u64 {
        self.index
    }
}

struct RecorderSink(Recorder, u64);

impl Sink for RecorderSink {
    fn emit(&mut self, time_ns: u64, d: OpDraft) -> io::Result<()> {
        self.0.record_at(time_ns, d)?;
        self.1 += 1;
        Ok(())
    }
    fn written(&self) -> u64 {
        self.1
    }
}

/// Generates a history in memory.
pub fn generate_ops(cfg: &SynthConfig) -> Vec<Op> {
    let mut sink = RecorderSink(Recorder::in_memory(), 0);
    generate(cfg, &mut sink).expect("an in-memory recorder does not fail");
    sink.0.ops()
}

/// Generates a history as JSON lines into `out`; returns the number of ops.
pub fn generate_to<W: Write>(cfg: &SynthConfig, out: W) -> io::Result<u64> {
    let mut sink = LineSink::new(io::BufWriter::with_capacity(1 << 16, out));
    generate(cfg, &mut sink)?;
    sink.out.flush()?;
    Ok(sink.index)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Poller,
    Writer,
    Locker,
}

/// An op between its invocation and its completion.
struct Pending {
    f: F,
    node: Option<String>,
    value: Option<Value>,
    /// Set at the linearization point.
    result: Option<(OpType, Option<Value>, Option<String>)>,
    /// The client will not learn the outcome.
    info: bool,
}

struct Client {
    process: u64,
    kind: Kind,
    token: Option<u64>,
    pending: Option<Pending>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Invoke(usize),
    Apply(usize),
    Complete(usize),
    FaultStart,
    FaultInForce,
    HealStart,
    HealDone,
    Elect,
    LeaseExpire(u64),
}

/// The reference model's state: what a correct leader service with leases, a fenced
/// lock and a replicated log would hold.
struct Model<'a, S: Sink> {
    cfg: &'a SynthConfig,
    sink: &'a mut S,
    rng: Rng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    names: Vec<String>,
    term: u64,
    leader: Option<usize>,
    /// Whom every node voted for in `term`: the leader it elected, kept after a fault
    /// takes that leader away, as a vote stands for its whole term.
    vote: Option<usize>,
    /// The node a fault hit, if one is in force.
    fault: Option<(F, usize)>,
    holder: Option<(u64, u64)>,
    max_granted: u64,
    log: Vec<(u64, Option<u64>)>,
    next_write: u64,
    next_process: u64,
    clients: Vec<Client>,
    reads_done: u64,
    stopping: bool,
}

const MS: u64 = 1_000_000;

/// Runs the model until `ops_target` ops are written, then heals, elects and takes one
/// final read per node.
pub fn generate<S: Sink>(cfg: &SynthConfig, sink: &mut S) -> io::Result<()> {
    let mut m = Model::new(cfg, sink);
    m.run()
}

impl<'a, S: Sink> Model<'a, S> {
    fn new(cfg: &'a SynthConfig, sink: &'a mut S) -> Self {
        assert!(cfg.nodes > 0, "a cluster needs a node");
        let kinds = [
            (Kind::Poller, cfg.pollers),
            (Kind::Writer, cfg.writers),
            (Kind::Locker, cfg.lockers),
        ];
        let clients: Vec<Client> = kinds
            .iter()
            .flat_map(|&(k, n)| std::iter::repeat_n(k, n))
            .enumerate()
            .map(|(i, kind)| Client {
                process: i as u64,
                kind,
                token: None,
                pending: None,
            })
            .collect();
        let next_process = clients.len() as u64;
        Model {
            cfg,
            sink,
            rng: Rng::new(cfg.seed),
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            names: (1..=cfg.nodes).map(|i| format!("n{i}")).collect(),
            term: 1,
            leader: Some(0),
            vote: Some(0),
            fault: None,
            holder: None,
            max_granted: 0,
            log: Vec::new(),
            next_write: 0,
            next_process,
            clients,
            reads_done: 0,
            stopping: false,
        }
    }

    fn at(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((time, self.seq, ev)));
    }

    fn emit(&mut self, d: OpDraft) -> io::Result<()> {
        self.sink.emit(self.now, d)
    }

    fn run(&mut self) -> io::Result<()> {
        for c in 0..self.clients.len() {
            let t = self.rng.below(1_000_000);
            self.at(t, Ev::Invoke(c));
        }
        self.at(self.cfg.fault_every_ms * MS, Ev::FaultStart);
        while let Some(Reverse((time, _, ev))) = self.events.pop() {
            debug_assert!(time >= self.now);
            self.now = time;
            if !self.stopping && self.sink.written() >= self.cfg.ops_target {
                self.stopping = true;
            }
            self.step(ev)?;
        }
        self.finale()
    }

    fn step(&mut self, ev: Ev) -> io::Result<()> {
        match ev {
            Ev::Invoke(c) if !self.stopping => self.invoke(c),
            Ev::Invoke(_) => Ok(()),
            Ev::Apply(c) => {
                self.apply(c);
                Ok(())
            }
            Ev::Complete(c) => self.complete(c),
            Ev::FaultStart if !self.stopping && self.fault.is_none() => self.fault_start(),
            Ev::FaultStart => Ok(()),
            Ev::FaultInForce => self.fault_in_force(),
            Ev::HealStart => self.heal_start(),
            Ev::HealDone => self.heal_done(),
            Ev::Elect => {
                self.elect();
                Ok(())
            }
            Ev::LeaseExpire(process) => {
                if self.holder.is_some_and(|(p, _)| p == process) {
                    self.holder = None;
                }
                Ok(())
            }
        }
    }
}

fn status_value(role: Role, term: u64, leader: Option<String>) -> Value {
    Value {
        role: Some(role),
        term: Some(term),
        leader: Some(leader),
        ..Value::default()
    }
}

fn write_value(id: String, token: Option<u64>) -> Value {
    Value {
        id: Some(id),
        token: Some(token),
        ..Value::default()
    }
}

fn token_value(token: u64) -> Value {
    Value {
        token: Some(Some(token)),
        ..Value::default()
    }
}

impl<S: Sink> Model<'_, S> {
    /// Picks the client's next op, records its invocation, and schedules its
    /// linearization point and completion.
    fn invoke(&mut self, c: usize) -> io::Result<()> {
        let (f, node, value) = self.choose(c);
        let process = Process::Client(self.clients[c].process);
        let mut d = OpDraft::invoke(process, f, value.clone());
        d.node = node.clone();
        self.emit(d)?;
        let info = self.rng.chance_per_mille(self.cfg.info_per_mille);
        self.clients[c].pending = Some(Pending {
            f,
            node,
            value,
            result: None,
            info,
        });
        let latency = 20_000 + self.rng.below(self.cfg.op_latency_us_max * 1000);
        let apply = self.now + self.rng.below(latency);
        self.at(apply, Ev::Apply(c));
        self.at(self.now + latency, Ev::Complete(c));
        Ok(())
    }

    fn choose(&mut self, c: usize) -> (F, Option<String>, Option<Value>) {
        let node = Some(self.names[self.rng.below(self.cfg.nodes as u64) as usize].clone());
        let client = &self.clients[c];
        match client.kind {
            Kind::Poller => (F::Status, node, None),
            Kind::Writer if self.read_due() => {
                self.reads_done += 1;
                (F::Read, node, None)
            }
            Kind::Writer => {
                self.next_write += 1;
                (
                    F::Write,
                    node,
                    Some(write_value(format!("w{}", self.next_write), None)),
                )
            }
            Kind::Locker => match client.token {
                None => (
                    F::Acquire,
                    None,
                    Some(Value {
                        election: Some("lock".into()),
                        ..Value::default()
                    }),
                ),
                Some(t) => match self.rng.below(10) {
                    0 => (F::Release, None, Some(token_value(t))),
                    1..=3 => (F::Holding, None, Some(token_value(t))),
                    _ => {
                        self.next_write += 1;
                        (
                            F::Write,
                            node,
                            Some(write_value(format!("w{}", self.next_write), Some(t))),
                        )
                    }
                },
            },
        }
    }

    fn read_due(&self) -> bool {
        let every = self.cfg.ops_target / (self.cfg.mid_reads + 1);
        self.reads_done < self.cfg.mid_reads && self.sink.written() >= every * (self.reads_done + 1)
    }

    /// The linearization point: the op takes effect (or, for an unknown outcome, maybe
    /// takes effect) now.
    fn apply(&mut self, c: usize) {
        let process = self.clients[c].process;
        let p = self.clients[c]
            .pending
            .take()
            .expect("an applied op is pending");
        let takes_effect = !p.info || self.rng.below(2) == 0;
        let result = if takes_effect {
            self.effect(process, &p)
        } else {
            (OpType::Fail, None, None)
        };
        self.clients[c].pending = Some(Pending {
            result: Some(result),
            ..p
        });
    }

    fn effect(&mut self, process: u64, p: &Pending) -> (OpType, Option<Value>, Option<String>) {
        let v = p.value.as_ref();
        match p.f {
            F::Status => (OpType::Ok, Some(self.status_of(p.node.as_deref())), None),
            F::Read if self.leader.is_some() => {
                let ids = self.log.iter().map(|(w, _)| format!("w{w}")).collect();
                (
                    OpType::Ok,
                    Some(Value {
                        ids: Some(ids),
                        ..Value::default()
                    }),
                    None,
                )
            }
            F::Write if self.leader.is_none() => {
                (OpType::Fail, None, Some(ErrorCode::Unavailable.into()))
            }
            F::Write => {
                let token = v.and_then(Value::token);
                if token.is_some_and(|t| t < self.max_granted) {
                    return (OpType::Fail, None, Some(ErrorCode::StaleToken.into()));
                }
                let id: u64 = v
                    .and_then(|v| v.id.as_ref())
                    .and_then(|s| s[1..].parse().ok())
                    .expect("w<n>");
                self.log.push((id, token));
                (OpType::Ok, p.value.clone(), None)
            }
            F::Acquire if self.holder.is_none_or(|h| h.0 == process) && self.leader.is_some() => {
                self.max_granted += 1;
                self.holder = Some((process, self.max_granted));
                (OpType::Ok, Some(token_value(self.max_granted)), None)
            }
            F::Holding => {
                let t = v.and_then(Value::token).expect("holding carries its token");
                let holding = self.holder == Some((process, t));
                (
                    OpType::Ok,
                    Some(Value {
                        holding: Some(holding),
                        ..Value::default()
                    }),
                    None,
                )
            }
            F::Release => {
                let t = v.and_then(Value::token).expect("release carries its token");
                if self.holder == Some((process, t)) {
                    self.holder = None;
                }
                (OpType::Ok, None, None)
            }
            _ => (OpType::Fail, None, Some("unavailable".into())),
        }
    }

    fn status_of(&self, node: Option<&str>) -> Value {
        let leader = self.leader.map(|l| self.names[l].clone());
        let is_leader = leader.is_some() && leader.as_deref() == node;
        let role = if is_leader {
            Role::Leader
        } else {
            Role::Follower
        };
        let mut value = status_value(role, self.term, leader);
        value.vote = Some(self.vote.map(|v| self.names[v].clone()));
        value
    }

    fn complete(&mut self, c: usize) -> io::Result<()> {
        let p = self.clients[c]
            .pending
            .take()
            .expect("a completed op is pending");
        let (kind, value, error) = p.result.expect("applied before completed");
        let process = Process::Client(self.clients[c].process);
        if p.info {
            // One in ten unknown outcomes is never recorded at all (a crashed client).
            if self.rng.below(10) != 0 {
                let mut d = OpDraft::info(process, p.f, p.value, ErrorCode::Timeout);
                d.node = p.node;
                self.emit(d)?;
            }
            return self.retire(c);
        }
        let mut d = OpDraft {
            process,
            kind,
            f: p.f,
            node: p.node,
            value,
            error,
        };
        if d.kind == OpType::Ok && p.f == F::Write {
            d.value = p.value;
        }
        self.emit(d)?;
        self.after_ok(c, p.f, kind);
        let think = self.rng.below(200_000);
        self.at(self.now + think, Ev::Invoke(c));
        Ok(())
    }

    /// Updates what a locker believes it holds.
    fn after_ok(&mut self, c: usize, f: F, kind: OpType) {
        let process = self.clients[c].process;
        let client = &mut self.clients[c];
        match (f, kind) {
            (F::Acquire, OpType::Ok) => {
                client.token = self.holder.filter(|h| h.0 == process).map(|h| h.1)
            }
            (F::Release, _) => client.token = None,
            (F::Holding, OpType::Ok) if self.holder.is_none_or(|h| h.0 != process) => {
                client.token = None
            }
            (F::Write, OpType::Fail) if client.token.is_some() => client.token = None,
            _ => {}
        }
    }

    /// After an unknown outcome a process issues nothing more; a new one takes its place.
    fn retire(&mut self, c: usize) -> io::Result<()> {
        let old = self.clients[c].process;
        self.at(self.now + 300 * MS, Ev::LeaseExpire(old));
        self.clients[c].process = self.next_process;
        self.clients[c].token = None;
        self.next_process += 1;
        let think = self.rng.below(200_000);
        self.at(self.now + think, Ev::Invoke(c));
        Ok(())
    }

    fn fault_start(&mut self) -> io::Result<()> {
        let f = [F::Partition, F::Kill, F::Pause, F::Clock][self.rng.below(4) as usize];
        let node = self.rng.below(self.cfg.nodes as u64) as usize;
        self.fault = Some((f, node));
        let value = fault_value(f, &self.names, node);
        self.emit(OpDraft::invoke(Process::Nemesis, f, Some(value)))?;
        self.at(self.now + MS / 2, Ev::FaultInForce);
        Ok(())
    }

    fn fault_in_force(&mut self) -> io::Result<()> {
        let (f, node) = self.fault.expect("a fault is in force");
        self.emit(OpDraft::ok(
            Process::Nemesis,
            f,
            Some(fault_value(f, &self.names, node)),
        ))?;
        // The leader's lease lapses when the fault hits it (or, sometimes, anyway).
        if self.leader == Some(node) || self.rng.below(4) == 0 {
            self.leader = None;
            let delay = MS + self.rng.below(self.cfg.election_ms_max * MS);
            self.at(self.now + delay, Ev::Elect);
        }
        if self.rng.below(2) == 0 {
            self.holder = None;
        }
        self.at(self.now + self.cfg.fault_duration_ms * MS, Ev::HealStart);
        Ok(())
    }

    fn heal_start(&mut self) -> io::Result<()> {
        let (f, node) = self.fault.expect("a fault is in force");
        let (hf, value) = heal_of(f, &self.names, node);
        self.emit(OpDraft::invoke(Process::Nemesis, hf, value))?;
        self.at(self.now + MS / 2, Ev::HealDone);
        Ok(())
    }

    fn heal_done(&mut self) -> io::Result<()> {
        let (f, node) = self.fault.take().expect("a fault is in force");
        let (hf, value) = heal_of(f, &self.names, node);
        self.emit(OpDraft::ok(Process::Nemesis, hf, value))?;
        if !self.stopping {
            self.at(self.now + self.cfg.fault_every_ms * MS, Ev::FaultStart);
        }
        Ok(())
    }

    fn elect(&mut self) {
        if self.leader.is_some() {
            return;
        }
        self.term += 1;
        let avoid = self.fault.map(|(_, n)| n);
        let mut l = self.rng.below(self.cfg.nodes as u64) as usize;
        if Some(l) == avoid && self.cfg.nodes > 1 {
            l = (l + 1) % self.cfg.nodes;
        }
        self.leader = Some(l);
        self.vote = Some(l);
    }

    /// All clients are done and the cluster healed: elect if needed, read every node.
    fn finale(&mut self) -> io::Result<()> {
        assert!(self.fault.is_none(), "every fault is healed before the end");
        self.elect();
        let process = Process::Client(self.next_process);
        for (i, name) in self.names.clone().into_iter().enumerate() {
            self.now += MS;
            self.emit(OpDraft::invoke(process, F::Read, None).with_node(name.clone()))?;
            self.now += MS;
            let value = if i % 2 == 0 {
                let log = self
                    .log
                    .iter()
                    .map(|&(w, token)| LogEntry {
                        id: format!("w{w}"),
                        token,
                    })
                    .collect();
                Value {
                    log: Some(log),
                    ..Value::default()
                }
            } else {
                Value {
                    ids: Some(self.log.iter().map(|(w, _)| format!("w{w}")).collect()),
                    ..Value::default()
                }
            };
            self.emit(OpDraft::ok(process, F::Read, Some(value)).with_node(name))?;
        }
        Ok(())
    }
}

fn nodes_value(nodes: Vec<String>) -> Value {
    Value {
        nodes: Some(nodes),
        ..Value::default()
    }
}

fn fault_value(f: F, names: &[String], node: usize) -> Value {
    match f {
        F::Partition => {
            let others = names
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != node)
                .map(|(_, n)| n.clone())
                .collect();
            Value {
                groups: Some(vec![vec![names[node].clone()], others]),
                ..Value::default()
            }
        }
        F::Clock => {
            let offsets = [(names[node].clone(), 30_000i64)].into_iter().collect();
            Value {
                offsets_ms: Some(offsets),
                ..Value::default()
            }
        }
        _ => nodes_value(vec![names[node].clone()]),
    }
}

fn heal_of(f: F, names: &[String], node: usize) -> (F, Option<Value>) {
    match f {
        F::Partition => (F::Heal, None),
        F::Kill => (F::Start, Some(nodes_value(vec![names[node].clone()]))),
        F::Pause => (F::Resume, Some(nodes_value(vec![names[node].clone()]))),
        _ => (F::ClockReset, None),
    }
}
