//! Whether the faults really ended: the nemesis ops replayed as the nemesis's own
//! `FaultState` keeps them. A fault counts as in force from its call until an undo of it
//! ended `ok` (heal, resume, start, clock reset); an undo that ended `info` or never
//! completed may not have happened, so its fault may still hold. Only when nothing may be
//! in force at the end did the faults end, and rules that look "after the faults" (final
//! reads, stale leaders) may look at all.
//!
//! Nemesis ops are few; nothing here is on the per-op path of client ops.

use std::collections::BTreeMap;

use crate::history::{OpType, F};
use crate::raw::RawValue;

/// How the faults of a history ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FaultsEnd {
    /// No nemesis op at all: the whole history ran without faults.
    #[default]
    NoFaults,
    /// Every fault was undone by an undo that ended `ok`; the last nemesis op completed
    /// at this op index and time.
    Ended { index: u64, time: u64 },
    /// A fault may still be in force at the end of the history: why, as a sentence
    /// fragment ("the partition at op 4 may still be in force: its heal at op 9 ended info").
    NotEnded { why: String },
}

impl FaultsEnd {
    /// The op index after which the faults had ended (`None`: with no faults, the whole
    /// history counts; see [`FaultsEnd::ended`]).
    pub fn after_index(&self) -> Option<u64> {
        match self {
            FaultsEnd::Ended { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// Whether nothing may be in force at the end.
    pub fn ended(&self) -> bool {
        !matches!(self, FaultsEnd::NotEnded { .. })
    }
}

/// A fault start (partition, pause, kill, clock, packet, power loss, crash point).
pub fn starts_fault(f: F) -> bool {
    matches!(
        f,
        F::Partition | F::Pause | F::Kill | F::Clock | F::Packet | F::PowerLoss | F::CrashPoint
    )
}

/// The invocations that started faults, in history order: what failover times and the
/// recovery point count from.
pub fn fault_starts(
    nemesis: &[crate::facts::NemesisOp],
) -> impl Iterator<Item = &crate::facts::NemesisOp> {
    nemesis
        .iter()
        .filter(|n| n.kind == OpType::Invoke && starts_fault(n.f))
}

/// A fault that may be in force: the invocation that started it, and the last undo of
/// it that did not end `ok` (its invocation and how it ended; `Invoke`: never completed).
#[derive(Clone, Copy, Debug)]
struct Pending {
    start: u64,
    f: F,
    failed_undo: Option<(u64, F, OpType)>,
}

/// A nemesis invocation awaiting its completion.
#[derive(Clone, Debug)]
struct Open {
    index: u64,
    f: F,
    has_value: bool,
    nodes: Option<Vec<String>>,
}

/// All nodes, for a pause or kill whose op names none.
const ANY_NODE: &str = "*";

/// Replays nemesis ops into what may be in force.
#[derive(Clone, Debug, Default)]
pub struct FaultTracker {
    open: Option<Open>,
    partition: Option<Pending>,
    clock: Option<Pending>,
    packet: Option<Pending>,
    paused: BTreeMap<String, Pending>,
    killed: BTreeMap<String, Pending>,
    last: Option<(u64, u64)>,
    /// Fault starts whose call ended ok.
    pub injected: u64,
    /// Fault starts whose targets included the node last seen leading.
    pub aimed_at_leader: u64,
    /// Closed stretches, in nanoseconds since the run's start, during which nothing may
    /// have been in force: from the history's start, or from the undo that ended ok and
    /// left nothing in force, to the next fault's invocation. The stretch after the last
    /// fault is [`FaultsEnd`]'s.
    pub quiet: Vec<(u64, u64)>,
    /// A fault started since `quiet_from`, and something may still be in force.
    busy: bool,
    quiet_from: u64,
}

impl FaultTracker {
    /// A nemesis op. `leader` is the node last seen leading when it was invoked, if any.
    pub fn push(
        &mut self,
        index: u64,
        time: u64,
        f: F,
        kind: OpType,
        value: Option<&RawValue<'_>>,
        leader: Option<&str>,
    ) {
        self.last = Some((index, time));
        if kind == OpType::Invoke && starts_fault(f) && !self.busy {
            self.quiet.push((self.quiet_from, time));
            self.busy = true;
        }
        self.push_op(index, f, kind, value, leader);
        if self.busy && self.open.is_none() && self.nothing_in_force() {
            self.busy = false;
            self.quiet_from = time;
        }
    }

    /// Whether no fault may be in force.
    fn nothing_in_force(&self) -> bool {
        self.partition.is_none()
            && self.clock.is_none()
            && self.packet.is_none()
            && self.paused.is_empty()
            && self.killed.is_empty()
    }

    fn push_op(
        &mut self,
        index: u64,
        f: F,
        kind: OpType,
        value: Option<&RawValue<'_>>,
        leader: Option<&str>,
    ) {
        if kind == OpType::Invoke {
            let nodes = value
                .and_then(|v| v.nodes.as_ref())
                .map(|n| n.iter().map(|s| s.to_string()).collect());
            let open = Open {
                index,
                f,
                has_value: value.is_some(),
                nodes,
            };
            // A fault with a value reached the runtime's call: in force from now on. One
            // without (a leader-aimed fault that found no leader) waits for its completion.
            if starts_fault(f) && open.has_value {
                self.start(&open);
                if let (Some(v), Some(leader)) = (value, leader) {
                    if hits(v, f, leader) {
                        self.aimed_at_leader += 1;
                    }
                }
            }
            self.open = Some(open);
            return;
        }
        let Some(open) = self.open.take() else {
            return;
        };
        if starts_fault(f) {
            if kind == OpType::Ok {
                self.injected += 1;
                if !open.has_value {
                    self.start(&open);
                }
            }
        } else if kind == OpType::Ok {
            self.undone(&open);
        } else {
            self.undo_failed(&open, kind);
        }
    }

    fn start(&mut self, open: &Open) {
        let pending = Pending {
            start: open.index,
            f: open.f,
            failed_undo: None,
        };
        let nodes = || {
            open.nodes
                .clone()
                .unwrap_or_else(|| vec![ANY_NODE.to_string()])
        };
        match open.f {
            F::Partition => self.partition = Some(pending),
            F::Packet => self.packet = Some(pending),
            F::Clock => {
                self.clock.get_or_insert(pending);
            }
            F::Pause => {
                for n in nodes() {
                    self.paused.entry(n).or_insert(pending);
                }
            }
            F::Kill | F::PowerLoss | F::CrashPoint => {
                for n in nodes() {
                    self.killed.entry(n).or_insert(pending);
                }
            }
            _ => {}
        }
    }

    fn undone(&mut self, open: &Open) {
        let clear = |set: &mut BTreeMap<String, Pending>| match &open.nodes {
            Some(nodes) => {
                for n in nodes {
                    set.remove(n);
                }
                // A fault whose op named no nodes is undone by any undo of its kind.
                set.remove(ANY_NODE);
            }
            None => set.clear(),
        };
        match open.f {
            F::Heal => self.partition = None,
            F::PacketHeal => self.packet = None,
            F::ClockReset => self.clock = None,
            F::Resume => clear(&mut self.paused),
            F::Start => clear(&mut self.killed),
            _ => {}
        }
    }

    fn undo_failed(&mut self, open: &Open, kind: OpType) {
        let failed = Some((open.index, open.f, kind));
        let mark = |set: &mut BTreeMap<String, Pending>| {
            for (n, p) in set.iter_mut() {
                let named = open
                    .nodes
                    .as_ref()
                    .is_none_or(|ns| ns.contains(n) || n == ANY_NODE);
                if named {
                    p.failed_undo = failed;
                }
            }
        };
        match open.f {
            F::Heal => {
                if let Some(p) = &mut self.partition {
                    p.failed_undo = failed;
                }
            }
            F::PacketHeal => {
                if let Some(p) = &mut self.packet {
                    p.failed_undo = failed;
                }
            }
            F::ClockReset => {
                if let Some(p) = &mut self.clock {
                    p.failed_undo = failed;
                }
            }
            F::Resume => mark(&mut self.paused),
            F::Start => mark(&mut self.killed),
            _ => {}
        }
    }

    /// How the faults ended, once every op has been pushed.
    pub fn finish(mut self) -> FaultsEnd {
        // An invocation never completed: a fault start without a value may have reached
        // the runtime, and an undo may not have happened.
        if let Some(open) = self.open.take() {
            if starts_fault(open.f) {
                if !open.has_value {
                    self.start(&open);
                }
            } else {
                self.undo_failed(&open, OpType::Invoke);
            }
        }
        let Some((index, time)) = self.last else {
            return FaultsEnd::NoFaults;
        };
        let mut in_force: Vec<(Pending, String)> = Vec::new();
        if let Some(p) = self.partition {
            in_force.push((p, "partition".into()));
        }
        if let Some(p) = self.packet {
            in_force.push((p, "packet fault".into()));
        }
        for (what, set) in [("pause", &self.paused), ("kill", &self.killed)] {
            for (node, p) in set {
                let of = if node == ANY_NODE {
                    what.to_string()
                } else {
                    format!("{what} of {node}")
                };
                in_force.push((*p, of));
            }
        }
        if let Some(p) = self.clock {
            in_force.push((p, "clock offset".into()));
        }
        let Some((p, what)) = in_force.into_iter().min_by_key(|(p, _)| p.start) else {
            return FaultsEnd::Ended { index, time };
        };
        let undo = match p.f {
            F::Partition => F::Heal,
            F::Pause => F::Resume,
            F::Kill | F::PowerLoss | F::CrashPoint => F::Start,
            F::Packet => F::PacketHeal,
            _ => F::ClockReset,
        };
        let how = match p.failed_undo {
            Some((at, f, OpType::Invoke)) => format!("its {} at op {at} never completed", f.name()),
            Some((at, f, kind)) => format!("its {} at op {at} ended {}", f.name(), kind_word(kind)),
            None => format!("no {} that ended ok followed it", undo.name()),
        };
        FaultsEnd::NotEnded {
            why: format!("the {what} at op {} may still be in force: {how}", p.start),
        }
    }
}

fn kind_word(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
        OpType::Invoke => "never",
    }
}

/// Whether a fault's value names `leader` among what it hits: a paused or killed node, a
/// node cut off from the largest group, a node in a one-way cut, a node whose clock moved,
/// a node whose links a packet fault shapes.
fn hits(v: &RawValue<'_>, f: F, leader: &str) -> bool {
    match f {
        // A packet fault's nodes are its targets, whose links it shapes.
        F::Pause | F::Kill | F::PowerLoss | F::Packet | F::CrashPoint => v
            .nodes
            .as_ref()
            .is_some_and(|n| n.iter().any(|x| &**x == leader)),
        F::Partition => {
            if let Some(groups) = &v.groups {
                let largest = groups.first();
                largest.is_some_and(|g| !g.iter().any(|x| &**x == leader))
            } else {
                v.drops.as_ref().is_some_and(|d| {
                    d.iter().any(|(node, from)| {
                        &**node == leader || from.iter().any(|x| &**x == leader)
                    })
                })
            }
        }
        F::Clock => v
            .offsets_ms
            .as_ref()
            .is_some_and(|o| o.iter().any(|(n, ms)| &**n == leader && *ms != 0)),
        _ => false,
    }
}
