//! `RawNode`: the node's state, its inputs (tick, step, propose) and outputs (ready,
//! advance), and the transitions shared by every role.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bugs::Bug;
use super::config::{Config, ConfigError};
use super::leader::LeaderState;
use super::log::RaftLog;
use super::message::{Entry, EntryData, HardState, Message, MessageBody};
use super::ready::{AfterPersist, PersistBatch, Persisted, Ready, Role, SoftState};
use super::request::{ProposeError, Request, Response};
use super::state_machine::{FenceRefusal, Fencing, StateMachine};
use super::validate::{check_request, check_stored_log};
use super::{NodeId, Term};

/// The vote of a node that lost its hard state's last write: no node has an empty id
/// (the configuration refuses one), so it matches no candidate.
pub const VOTE_UNKNOWN: &str = "";

/// Why a node could not be rebuilt from its stored state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("stored log: entry at position {position} has index {index}, expected {expected}")]
    Gap {
        position: usize,
        index: u64,
        expected: u64,
    },
    #[error(
        "stored log: entry {index} has term {term}, below the previous entry's term {previous}"
    )]
    TermDecreases {
        index: u64,
        term: u64,
        previous: u64,
    },
}

/// A message the node cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("message addressed to {to:?}, this node is {id:?}")]
    WrongRecipient { to: NodeId, id: NodeId },
    #[error("message from {0:?}, which is not a peer")]
    UnknownSender(NodeId),
    #[error("message from this node itself")]
    FromSelf,
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

/// A moment, in ticks and in wall milliseconds (the latter only for `wall-clock-lease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub tick: u64,
    pub wall: u64,
}

/// One Raft node, without I/O. See the [module docs](super) for the driving loop.
#[derive(Debug)]
pub struct RawNode {
    pub(crate) cfg: Config,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) sm: StateMachine,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) now: Stamp,
    pub(crate) election_elapsed: u64,
    pub(crate) election_timeout: u64,
    /// When this node last heard from a leader of its term (or restarted, with a lease).
    pub(crate) contact: Option<Stamp>,
    /// Votes received in the current (pre-)campaign, `true` = granted.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) lead: Option<LeaderState>,
    pub(crate) msgs: Vec<Message>,
    pub(crate) responses: Vec<(u64, Response)>,
    /// Why fencing refused the writes answered `StaleToken` in `responses`.
    pub(crate) fence_refusals: Vec<(u64, FenceRefusal)>,
    emitted_hs: HardState,
    /// The hard state of the last `Ready` the driver made durable, as this node believes
    /// it went to disk: what it stands by, and what `/status` reports its vote from.
    stood_hs: HardState,
    emitted_soft: Option<SoftState>,
    in_ready: bool,
    /// As leader, send followers only entries of earlier terms (see
    /// [`RawNode::withhold_own_term`]).
    pub(crate) withhold_own_term: bool,
}

impl RawNode {
    /// A fresh node with an empty log at term 0.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let seed = config.seed ^ fnv1a(config.id.as_bytes());
        let mut node = RawNode {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cfg: config,
            term: 0,
            vote: None,
            log: RaftLog::default(),
            sm: StateMachine::default(),
            role: Role::Follower,
            leader: None,
            now: Stamp { tick: 0, wall: 0 },
            election_elapsed: 0,
            election_timeout: 0,
            contact: None,
            votes: BTreeMap::new(),
            lead: None,
            msgs: Vec::new(),
            responses: Vec::new(),
            fence_refusals: Vec::new(),
            emitted_hs: HardState::default(),
            stood_hs: HardState::default(),
            emitted_soft: None,
            in_ready: false,
            withhold_own_term: false,
        };
        node.reset_election_timer();
        Ok(node)
    }

    /// A node rebuilt from its stored hard state and log. Committed entries are applied
    /// again to rebuild the state machine; a commit index beyond the stored log is capped.
    pub fn restore(config: Config, persisted: Persisted) -> Result<Self, RestoreError> {
        check_stored_log(&persisted)?;
        let mut node = RawNode::new(config)?;
        let hs = persisted.hard_state;
        node.term = hs.term;
        node.vote = hs.vote;
        // The driver makes a batch's entries durable before its hard state, so a crash
        // between the two leaves entries of a term the stored hard state never reached.
        // The lost hard state was of that term, with a vote this node can no longer
        // know: it takes the term and holds its vote as given to nobody it could name,
        // so that it refuses every vote in that term rather than risk voting twice.
        if let Some(last) = persisted.entries.last().filter(|e| e.term > hs.term) {
            node.term = last.term;
            node.vote = Some(VOTE_UNKNOWN.to_string());
        }
        node.log = RaftLog::restored(persisted.entries, hs.commit);
        node.emitted_hs = node.hard_state();
        node.stood_hs = node.hard_state();
        if node.cfg.lease_ticks.is_some() {
            // A leader may still hold a lease that counted on this node: behave as if
            // it had just been heard from.
            node.contact = Some(node.now);
        }
        node.apply_committed();
        Ok(node)
    }

    /// One tick of logical time.
    pub fn tick(&mut self) {
        self.now.tick += 1;
        match self.role {
            Role::Leader => self.tick_leader(),
            Role::Follower | Role::PreCandidate | Role::Candidate => self.tick_election(),
        }
    }

    /// Sets the wall clock (milliseconds, any epoch), then ticks. The wall clock is used
    /// only by the `wall-clock-lease` bug.
    pub fn tick_wall(&mut self, wall_ms: u64) {
        self.set_wall_ms(wall_ms);
        self.tick();
    }

    /// Sets the wall clock without ticking (for message arrivals between ticks).
    pub fn set_wall_ms(&mut self, wall_ms: u64) {
        self.now.wall = wall_ms;
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.campaign();
        }
    }

    /// Starts an election now (pre-vote first if configured). A leader ignores this.
    pub fn campaign(&mut self) {
        match self.role {
            Role::Leader => {}
            _ if self.cfg.pre_vote => self.become_pre_candidate(),
            _ => self.become_candidate(),
        }
    }

    /// Voids a leader's lease until a quorum acknowledges a heartbeat sent from now on.
    /// For the driver when it sees that time stalled (the process was paused, ticks were
    /// late): acknowledgements counted before may be older than the ticks say. Other
    /// roles ignore it.
    pub fn void_lease(&mut self) {
        self.void_lease_as_leader();
    }

    /// While `on`, a leader whose log holds uncommitted entries of earlier terms sends
    /// its followers only those; its own term's entries (its first, the no-op, among
    /// them) wait until this is turned off or the earlier ones are committed, which a
    /// correct leader cannot do without its own. Withholding is always safe: it is a
    /// network that delays those appends. raftd's `leader-commit` crash point turns it
    /// on, so that what such a leader commits first is an earlier term's tail, as in
    /// Raft's figure 8, however many followers the commit has to wait for: a follower
    /// fed the leader's own entry before the others catch up would otherwise hold a later
    /// term than any conflicting entry and win the next election legally.
    pub fn withhold_own_term(&mut self, on: bool) {
        self.withhold_own_term = on;
    }

    /// Takes a message from a peer. Stale or irrelevant messages are ignored (`Ok`).
    pub fn step(&mut self, m: Message) -> Result<(), StepError> {
        self.check_message(&m)?;
        if m.term > self.term {
            if !self.on_higher_term(&m) {
                return Ok(());
            }
        } else if m.term < self.term {
            self.on_lower_term(&m);
            return Ok(());
        }
        match &m.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => {
                self.handle_vote_request(&m, true, *last_index, *last_term);
                return Ok(());
            }
            MessageBody::Vote {
                last_index,
                last_term,
            } => {
                self.handle_vote_request(&m, false, *last_index, *last_term);
                return Ok(());
            }
            _ => {}
        }
        match self.role {
            Role::Follower => self.step_follower(m),
            Role::PreCandidate | Role::Candidate => self.step_candidate(m),
            Role::Leader => self.step_leader(m),
        }
    }

    /// Applies what is committed; a leader answers its proposals and pending reads.
    pub(crate) fn apply_committed(&mut self) {
        let fencing = Fencing {
            on_grant: self.cfg.fence_on_grant,
            disabled: self.cfg.bugs.has(Bug::NoFencing),
        };
        while let Some(entry) = self.log.next_to_apply() {
            let answer = match &entry.data {
                EntryData::Noop => {
                    self.sm.skip(entry.index);
                    None
                }
                EntryData::Command(c) => Some(self.sm.apply(entry.index, c, fencing)),
            };
            if let (Some(lead), Some(applied)) = (self.lead.as_mut(), answer) {
                if let Some(req_id) = lead.take_proposal(entry.index) {
                    assert_eq!(
                        entry.term, self.term,
                        "a proposal of this leader changed term"
                    );
                    if let Some(refusal) = applied.refusal {
                        self.fence_refusals.push((req_id, refusal));
                    }
                    self.responses.push((req_id, applied.response));
                }
            }
        }
        assert_eq!(self.sm.applied(), self.log.applied());
        if self.role == Role::Leader {
            self.after_apply_as_leader();
        }
    }

    pub(crate) fn others(&self) -> Vec<NodeId> {
        self.cfg
            .peers
            .iter()
            .filter(|p| **p != self.cfg.id)
            .cloned()
            .collect()
    }

    pub(crate) fn send(&mut self, to: &NodeId, body: MessageBody) {
        self.send_with_term(to, self.term, body);
    }

    pub(crate) fn send_with_term(&mut self, to: &NodeId, term: Term, body: MessageBody) {
        assert_ne!(*to, self.cfg.id, "a node does not message itself");
        self.msgs.push(Message {
            from: self.cfg.id.clone(),
            to: to.clone(),
            term,
            body,
        });
    }

    /// Accepts a client request; its answer comes later in `Ready::responses` under
    /// `req_id` (unique among outstanding requests). Only a leader accepts requests.
    pub fn propose(&mut self, req_id: u64, request: Request) -> Result<(), ProposeError> {
        check_request(&request)?;
        let leader = self.leader.clone();
        let bound = self.cfg.max_pending_requests;
        let Some(lead) = self.lead.as_ref() else {
            return Err(ProposeError::NotLeader { leader });
        };
        if lead.waiting(req_id) {
            return Err(ProposeError::DuplicateId(req_id));
        }
        if lead.pending() >= bound {
            return Err(ProposeError::Busy { bound });
        }
        self.propose_as_leader(req_id, request);
        Ok(())
    }

    /// Whether `ready()` has anything to hand out (false while a `Ready` is out).
    pub fn has_ready(&self) -> bool {
        !self.in_ready
            && (!self.msgs.is_empty()
                || !self.responses.is_empty()
                || self.log.has_unstable()
                || self.hard_state() != self.emitted_hs
                || self.emitted_soft.as_ref() != Some(&self.status()))
    }

    /// What the driver must do now. Call `advance` before the next `ready`.
    pub fn ready(&mut self) -> Ready {
        assert!(!self.in_ready, "ready() called again before advance()");
        self.in_ready = true;
        let hs = self.hard_state();
        let hard_state = (hs != self.emitted_hs).then(|| {
            self.emitted_hs = hs.clone();
            // BUG(forget-vote): the vote never reaches the disk.
            let vote = if self.cfg.bugs.has(Bug::ForgetVote) {
                None
            } else {
                hs.vote
            };
            HardState { vote, ..hs }
        });
        let (truncate_from, entries) = self.log.take_unstable();
        let last_persisted = entries.last().map(|e| (e.index, e.term));
        let (after, now): (Vec<_>, Vec<_>) = self
            .msgs
            .drain(..)
            .partition(|m| m.body.needs_persistence());
        let soft_state = self.status();
        self.emitted_soft = Some(soft_state.clone());
        Ready {
            soft_state,
            messages: now,
            persist: PersistBatch {
                hard_state,
                truncate_from,
                entries,
            },
            persisted_messages: AfterPersist(after),
            responses: std::mem::take(&mut self.responses),
            fence_refusals: std::mem::take(&mut self.fence_refusals),
            last_persisted,
        }
    }

    /// The driver did what `ready` asked (persisted its batch).
    pub fn advance(&mut self, ready: Ready) {
        assert!(self.in_ready, "advance() without ready()");
        self.in_ready = false;
        self.stood_hs = self.emitted_hs.clone();
        // The vote becoming durable is this Ready's own outcome, not news for another.
        let vote = self.durable_vote();
        if let Some(soft) = self.emitted_soft.as_mut() {
            soft.vote = vote;
        }
        if let Some((index, term)) = ready.last_persisted {
            self.log.persisted_to(index, term);
        }
        if self.role == Role::Leader {
            self.maybe_commit();
        }
    }

    /// The node's current view.
    /// The last `max` runs of this node's log, oldest first: `(term, first index)`.
    pub fn term_runs(&self, max: usize) -> Vec<(Term, super::Index)> {
        self.log.term_runs(max)
    }

    pub fn status(&self) -> SoftState {
        let lease_valid = self.lease_valid();
        SoftState {
            id: self.cfg.id.clone(),
            role: self.role,
            term: self.term,
            leader: self.leader.clone(),
            commit: self.log.committed(),
            applied: self.log.applied(),
            last_index: self.log.last_index(),
            lease_valid,
            acting_leader: self.role == Role::Leader
                && (self.cfg.lease_ticks.is_none() || lease_valid),
            vote: self.durable_vote(),
        }
    }

    /// The vote this node stands by in its current term, once durable: `Some(None)` if
    /// it has voted for nobody, `None` if it cannot tell (its term is not durable yet, or
    /// it restarted after losing the hard state's last write).
    fn durable_vote(&self) -> Option<Option<NodeId>> {
        let hs = &self.stood_hs;
        if hs.term != self.term || hs.vote.as_deref() == Some(VOTE_UNKNOWN) {
            return None;
        }
        Some(hs.vote.clone())
    }

    /// The applied state (for `GET /read?local=true`: this node's view, no leader check).
    pub fn state_machine(&self) -> &StateMachine {
        &self.sm
    }

    /// The whole in-memory log from index 1 (for checks in tests and the simulator).
    pub fn log_entries(&self) -> &[Entry] {
        self.log.all()
    }

    /// The current hard state (as it will be on disk once the pending batch is written,
    /// bugs aside).
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote.clone(),
            commit: self.log.committed(),
        }
    }

    pub fn id(&self) -> &NodeId {
        &self.cfg.id
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

/// FNV-1a, to mix a node's id into its seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
