//! A deterministic harness that drives several cores on one thread: a network of
//! messages that can be delivered, dropped or cut, ticks, crashes and restarts from what
//! each node persisted, and checks of Raft's safety properties after every step.

mod describe;
pub mod script;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use describe::{describe_entry, describe_message, describe_response};

use super::{
    Config, Entry, HardState, Index, Message, NodeId, Persisted, ProposeError, RawNode, Request,
    Response, Role, SoftState, Term,
};

/// A node's disk: what survives a crash.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

/// A safety violation seen by the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two nodes were leaders of one term.
    TwoLeaders {
        term: Term,
        first: NodeId,
        second: NodeId,
    },
    /// A node's committed entry differs from one committed earlier at that index.
    CommittedChanged {
        node: NodeId,
        index: Index,
        before: String,
        now: String,
    },
    /// A leader's log lost or changed an entry while it stayed leader of that term.
    LeaderRewrote {
        node: NodeId,
        term: Term,
        index: Index,
    },
    /// A node refused a message as malformed.
    Refused { node: NodeId, error: String },
    /// A leader elected after an entry committed lacks it.
    LeaderIncomplete {
        node: NodeId,
        term: Term,
        index: Index,
    },
    /// Two logs hold an entry with the same index and term but differ before it.
    LogsDiverge { a: NodeId, b: NodeId, index: Index },
}

/// N cores, their disks and the network between them.
#[derive(Debug)]
pub struct Cluster {
    configs: BTreeMap<NodeId, Config>,
    nodes: BTreeMap<NodeId, Option<RawNode>>,
    disks: BTreeMap<NodeId, Disk>,
    /// Messages sent and not yet delivered or dropped, oldest first.
    network: VecDeque<Message>,
    /// Directed links that lose everything: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    walls: BTreeMap<NodeId, u64>,
    responses: BTreeMap<NodeId, Vec<(u64, Response)>>,
    /// The leader of each term ever seen, for election safety.
    leaders: BTreeMap<Term, NodeId>,
    /// Every entry ever seen committed, for state machine safety, with the highest term
    /// known when it was first seen committed (leaders of later terms must hold it).
    committed: BTreeMap<Index, (Entry, Term)>,
    max_term: Term,
    /// Each leader's log when last seen, for append-only checks.
    leader_logs: BTreeMap<NodeId, (Term, Vec<Entry>)>,
    violations: Vec<Violation>,
}

/// The names `n1`..`nN`.
pub fn node_ids(n: usize) -> Vec<NodeId> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

impl Cluster {
    /// `n` nodes with the default configuration changed by `tweak`, seeded from `seed`.
    pub fn new(n: usize, seed: u64, tweak: impl Fn(&mut Config)) -> Self {
        let ids = node_ids(n);
        let configs = ids
            .iter()
            .map(|id| {
                let mut cfg = Config::new(id.clone(), ids.clone());
                cfg.seed = seed;
                tweak(&mut cfg);
                (id.clone(), cfg)
            })
            .collect();
        Self::with_configs(configs)
    }

    /// Nodes with the given configurations (each must be valid).
    pub fn with_configs(configs: BTreeMap<NodeId, Config>) -> Self {
        let nodes = configs
            .iter()
            .map(|(id, cfg)| {
                let node =
                    RawNode::new(cfg.clone()).unwrap_or_else(|e| panic!("config of {id}: {e}"));
                (id.clone(), Some(node))
            })
            .collect();
        let ids: Vec<_> = configs.keys().cloned().collect();
        Cluster {
            disks: ids.iter().map(|id| (id.clone(), Disk::default())).collect(),
            walls: ids.iter().map(|id| (id.clone(), 0)).collect(),
            responses: ids.iter().map(|id| (id.clone(), Vec::new())).collect(),
            configs,
            nodes,
            network: VecDeque::new(),
            cut: BTreeSet::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            max_term: 0,
            leader_logs: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.configs.keys().cloned().collect()
    }

    /// The running node `id` (`None` when crashed or unknown).
    pub fn node(&self, id: &str) -> Option<&RawNode> {
        self.nodes.get(id).and_then(Option::as_ref)
    }

    /// The running node `id`, to call it directly (run [`Cluster::process`] after).
    pub fn node_mut(&mut self, id: &str) -> Option<&mut RawNode> {
        self.nodes.get_mut(id).and_then(Option::as_mut)
    }

    pub fn is_up(&self, id: &str) -> bool {
        self.node(id).is_some()
    }

    pub fn status(&self, id: &str) -> Option<SoftState> {
        self.node(id).map(RawNode::status)
    }

    /// Running nodes that are leaders, with their terms.
    pub fn leaders(&self) -> Vec<(NodeId, Term)> {
        self.nodes
            .values()
            .flatten()
            .filter(|n| n.status().role == Role::Leader)
            .map(|n| (n.id().clone(), n.status().term))
            .collect()
    }

    /// The leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.leaders()
            .into_iter()
            .max_by_key(|(_, t)| *t)
            .map(|(id, _)| id)
    }

    pub fn disk(&self, id: &str) -> Option<&Disk> {
        self.disks.get(id)
    }

    /// Messages in flight, oldest first.
    pub fn in_flight(&self) -> &VecDeque<Message> {
        &self.network
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Ticks node `id` once (nothing if it is down).
    pub fn tick(&mut self, id: &str) {
        if let Some(node) = self.node_mut(id) {
            node.tick();
            self.process(id);
        }
    }

    /// Sets node `id`'s wall clock and ticks it.
    pub fn tick_wall(&mut self, id: &str, wall_ms: u64) {
        self.walls.insert(id.to_string(), wall_ms);
        if let Some(node) = self.node_mut(id) {
            node.tick_wall(wall_ms);
            self.process(id);
        }
    }

    /// Ticks every running node once, in name order.
    pub fn tick_all(&mut self) {
        for id in self.ids() {
            self.tick(&id);
        }
    }

    pub fn campaign(&mut self, id: &str) {
        if let Some(node) = self.node_mut(id) {
            node.campaign();
            self.process(id);
        }
    }

    /// Hands a client request to node `id`.
    pub fn propose(&mut self, id: &str, req_id: u64, request: Request) -> Result<(), ProposeError> {
        let node = self
            .node_mut(id)
            .ok_or(ProposeError::NotLeader { leader: None })?;
        let result = node.propose(req_id, request);
        self.process(id);
        result
    }

    /// Takes the responses node `id` gave so far.
    pub fn take_responses(&mut self, id: &str) -> Vec<(u64, Response)> {
        self.responses
            .get_mut(id)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Every response given so far, by node, taking them.
    pub fn take_all_responses(&mut self) -> Vec<(NodeId, u64, Response)> {
        let mut out = Vec::new();
        for (id, rs) in self.responses.iter_mut() {
            out.extend(rs.drain(..).map(|(req, r)| (id.clone(), req, r)));
        }
        out
    }

    /// Cuts both directions between every pair of nodes in different groups.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for x in a {
                    for y in b {
                        self.cut.insert((x.clone(), y.clone()));
                        self.cut.insert((y.clone(), x.clone()));
                    }
                }
            }
        }
    }

    /// Cuts `id` off from everyone.
    pub fn isolate(&mut self, id: &str) {
        let others: Vec<_> = self.ids().into_iter().filter(|o| o != id).collect();
        self.partition(&[vec![id.to_string()], others]);
    }

    /// Cuts the one-way link `from` → `to`.
    pub fn cut(&mut self, from: &str, to: &str) {
        self.cut.insert((from.to_string(), to.to_string()));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Kills node `id`: its memory is gone, its disk stays.
    pub fn crash(&mut self, id: &str) {
        if let Some(slot) = self.nodes.get_mut(id) {
            *slot = None;
        }
        self.leader_logs.remove(id);
    }

    /// Starts node `id` again from its disk.
    pub fn restart(&mut self, id: &str) {
        let (Some(cfg), Some(disk)) = (self.configs.get(id), self.disks.get(id)) else {
            return;
        };
        let persisted = Persisted {
            hard_state: disk.hard_state.clone(),
            entries: disk.entries.clone(),
        };
        let node = RawNode::restore(cfg.clone(), persisted)
            .unwrap_or_else(|e| panic!("restore {id}: {e}"));
        self.nodes.insert(id.to_string(), Some(node));
        self.process(id);
    }

    /// Delivers the oldest message in flight (dropping it if its link is cut or its
    /// recipient is down). Returns it and whether it arrived.
    pub fn deliver_one(&mut self) -> Option<(Message, bool)> {
        let m = self.network.pop_front()?;
        let arrived = self.deliver(m.clone());
        Some((m, arrived))
    }

    /// Delivers the in-flight message at `position` (see [`Cluster::in_flight`]).
    pub fn deliver_at(&mut self, position: usize) -> Option<(Message, bool)> {
        let m = self.network.remove(position)?;
        let arrived = self.deliver(m.clone());
        Some((m, arrived))
    }

    /// Holds the in-flight message at `position` back: it moves behind everything in
    /// flight, as a message that waits for a retransmission arrives after later ones.
    pub fn hold_at(&mut self, position: usize) -> bool {
        match self.network.remove(position) {
            Some(m) => {
                self.network.push_back(m);
                true
            }
            None => false,
        }
    }

    /// Drops the in-flight message at `position`.
    pub fn drop_at(&mut self, position: usize) -> Option<Message> {
        self.network.remove(position)
    }

    /// Drops every in-flight message for which `which` is true; returns how many.
    pub fn drop_where(&mut self, which: impl Fn(&Message) -> bool) -> usize {
        let before = self.network.len();
        self.network.retain(|m| !which(m));
        before - self.network.len()
    }

    fn deliver(&mut self, m: Message) -> bool {
        if self.cut.contains(&(m.from.clone(), m.to.clone())) {
            return false;
        }
        let to = m.to.clone();
        let Some(node) = self.node_mut(&to) else {
            return false;
        };
        if let Err(e) = node.step(m) {
            // Only a broken protocol sends what a node refuses.
            self.violations.push(Violation::Refused {
                node: to.clone(),
                error: e.to_string(),
            });
        }
        self.process(&to);
        true
    }

    /// Delivers messages until none are left or `max_messages` were handled; returns the
    /// messages handled with whether each arrived.
    pub fn stabilize(&mut self, max_messages: usize) -> Vec<(Message, bool)> {
        let mut handled = Vec::new();
        while handled.len() < max_messages {
            match self.deliver_one() {
                Some(d) => handled.push(d),
                None => break,
            }
        }
        handled
    }

    /// Runs node `id`'s `Ready` loop: persist to its disk, send, collect responses.
    pub fn process(&mut self, id: &str) {
        let Some(node) = self.nodes.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        while node.has_ready() {
            let mut rd = node.ready();
            self.network.extend(std::mem::take(&mut rd.messages));
            let disk = self.disks.get_mut(id).expect("disk");
            if let Some(cut) = rd.persist.truncate_from {
                disk.entries.truncate(cut.saturating_sub(1) as usize);
            }
            disk.entries.extend(rd.persist.entries.iter().cloned());
            if let Some(hs) = &rd.persist.hard_state {
                disk.hard_state = hs.clone();
            }
            let proof = rd.persist.durable();
            self.network.extend(rd.persisted_messages.take(proof));
            self.responses
                .get_mut(id)
                .expect("responses")
                .append(&mut rd.responses);
            node.advance(rd);
        }
        self.check_safety(id);
    }

    fn check_safety(&mut self, id: &str) {
        let Some(node) = self.node(id) else {
            return;
        };
        let status = node.status();
        let log = node.log_entries().to_vec();
        let mut found = Vec::new();
        self.max_term = self.max_term.max(status.term);
        if status.role == Role::Leader {
            match self.leaders.get(&status.term) {
                Some(first) if first != id => found.push(Violation::TwoLeaders {
                    term: status.term,
                    first: first.clone(),
                    second: id.to_string(),
                }),
                _ => {}
            }
            self.leaders
                .entry(status.term)
                .or_insert_with(|| id.to_string());
            found.extend(self.check_append_only(id, status.term, &log));
            found.extend(self.check_complete(id, status.term, &log));
        } else {
            self.leader_logs.remove(id);
        }
        for entry in log.iter().take(status.commit as usize) {
            match self.committed.get(&entry.index).map(|(e, _)| e) {
                Some(before) if before != entry => found.push(Violation::CommittedChanged {
                    node: id.to_string(),
                    index: entry.index,
                    before: describe_entry(before),
                    now: describe_entry(entry),
                }),
                Some(_) => {}
                None => {
                    self.committed
                        .insert(entry.index, (entry.clone(), self.max_term));
                }
            }
        }
        for v in found {
            if !self.violations.contains(&v) {
                self.violations.push(v);
            }
        }
    }

    fn check_complete(&self, id: &str, term: Term, log: &[Entry]) -> Option<Violation> {
        let (index, _) = self.committed.iter().find(|(index, (entry, known))| {
            *known < term && log.get(**index as usize - 1) != Some(entry)
        })?;
        Some(Violation::LeaderIncomplete {
            node: id.to_string(),
            term,
            index: *index,
        })
    }

    /// Log matching across the running nodes: equal (index, term) means equal prefixes.
    pub fn check_log_matching(&self) -> Vec<Violation> {
        let logs: Vec<(&NodeId, &[Entry])> = self
            .nodes
            .values()
            .flatten()
            .map(|n| (n.id(), n.log_entries()))
            .collect();
        let mut found = Vec::new();
        for (i, (a, la)) in logs.iter().enumerate() {
            for (b, lb) in logs.iter().skip(i + 1) {
                let common = la.len().min(lb.len());
                let Some(last_same) = (0..common).rev().find(|k| la[*k].term == lb[*k].term) else {
                    continue;
                };
                if la[..=last_same] != lb[..=last_same] {
                    let index = last_same as Index + 1;
                    found.push(Violation::LogsDiverge {
                        a: (*a).clone(),
                        b: (*b).clone(),
                        index,
                    });
                }
            }
        }
        found
    }

    fn check_append_only(&mut self, id: &str, term: Term, log: &[Entry]) -> Option<Violation> {
        let previous = self
            .leader_logs
            .insert(id.to_string(), (term, log.to_vec()));
        let (t, before) = previous?;
        if t != term {
            return None;
        }
        let changed = before
            .iter()
            .find(|e| log.get(e.index as usize - 1) != Some(*e))?;
        Some(Violation::LeaderRewrote {
            node: id.to_string(),
            term,
            index: changed.index,
        })
    }

    /// Runs until node `id` is leader or `max_rounds` rounds of (tick everyone, deliver
    /// everything) passed; returns whether it leads. Campaigns `id` first.
    pub fn elect(&mut self, id: &str, max_rounds: usize) -> bool {
        self.campaign(id);
        for _ in 0..max_rounds {
            self.stabilize(10_000);
            if self.status(id).is_some_and(|s| s.role == Role::Leader) {
                return true;
            }
            self.tick(id);
        }
        false
    }
}
