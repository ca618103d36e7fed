//! What the core hands to its driver (`Ready`) and the proof the driver hands back.

use serde::{Deserialize, Serialize};

use super::message::{Entry, HardState, Message};
use super::request::Response;
use super::state_machine::FenceRefusal;
use super::{Index, NodeId, Term};

/// A node's role in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// A snapshot of the volatile state, for `/status` and for the driver's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftState {
    pub id: NodeId,
    /// The protocol role. A `Leader` whose lease lapsed is still `Leader` here; see
    /// `acting_leader`.
    pub role: Role,
    pub term: Term,
    /// Who this node believes leads `term` (itself when leader).
    pub leader: Option<NodeId>,
    pub commit: Index,
    pub applied: Index,
    /// The index of the last entry in this node's log, committed or not.
    pub last_index: Index,
    /// Leader with a lease configured, and a quorum acknowledged a heartbeat sent within
    /// `lease_ticks`. Always false without a lease.
    pub lease_valid: bool,
    /// Whether this node may present itself to clients as the leader: it is `Leader` and,
    /// when a lease is configured, its lease is valid. A server must report
    /// `role: "leader"` only when this is true (see [`SoftState::reported_role`]).
    pub acting_leader: bool,
    /// Whom this node voted for in `term`, as durable (`Some(None)`: nobody yet);
    /// `None` when it cannot tell. A vote, once cast, must stand for the whole term.
    pub vote: Option<Option<NodeId>>,
}

impl SoftState {
    /// The role to show clients. With a lease configured, a leader whose lease lapsed
    /// reports `"leader-without-lease"` — it cannot serve anything until it hears from a
    /// quorum again — so that `"leader"` always means "exclusive leader right now".
    pub fn reported_role(&self) -> &'static str {
        match self.role {
            Role::Leader if !self.acting_leader => "leader-without-lease",
            role => role.name(),
        }
    }
}

/// Entries and hard state to make durable, in this order: first truncate the stored log
/// at `truncate_from` (drop that index and everything after), then append `entries`,
/// then write `hard_state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistBatch {
    pub hard_state: Option<HardState>,
    pub truncate_from: Option<Index>,
    pub entries: Vec<Entry>,
}

impl PersistBatch {
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none() && self.truncate_from.is_none() && self.entries.is_empty()
    }

    /// The driver's word that this batch is durable (fsynced). It is the key that opens
    /// [`AfterPersist`].
    pub fn durable(&self) -> Durable {
        Durable { _private: () }
    }
}

/// Proof, obtained from [`PersistBatch::durable`], that a batch is on disk.
#[derive(Debug)]
pub struct Durable {
    _private: (),
}

/// Messages that may leave the node only after the same `Ready`'s [`PersistBatch`] is
/// durable (votes and acknowledgements). Open with [`AfterPersist::take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfterPersist(pub(crate) Vec<Message>);

impl AfterPersist {
    /// The messages, now that the batch is durable.
    pub fn take(&mut self, _durable: Durable) -> Vec<Message> {
        std::mem::take(&mut self.0)
    }

    /// Peek without sending (for logs and tests).
    pub fn as_slice(&self) -> &[Message] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything the core wants done. Take what you need out of the public fields
/// (`std::mem::take`), do it, then give the `Ready` back with
/// [`RawNode::advance`](super::RawNode::advance).
#[derive(Debug)]
pub struct Ready {
    pub soft_state: SoftState,
    /// May be sent at once, before or while `persist` is written.
    pub messages: Vec<Message>,
    /// To make durable before sending `persisted_messages` and before `advance`.
    pub persist: PersistBatch,
    /// To send once `persist` is durable.
    pub persisted_messages: AfterPersist,
    /// Answers to client requests, by request id. May be delivered at once.
    pub responses: Vec<(u64, Response)>,
    /// For each write that `responses` answers `StaleToken`, under the same request id:
    /// the fencing rule that refused it. (Beside the response rather than in it, so that
    /// `Response` keeps its variants for the drivers that match them all.)
    pub fence_refusals: Vec<(u64, FenceRefusal)>,
    /// The last (index, term) of `persist.entries`, so that `advance` can tell whether
    /// they are still in the log.
    pub(crate) last_persisted: Option<(Index, Term)>,
}

/// A node's durable state, as read back from disk after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    pub hard_state: HardState,
    /// The whole log from index 1, contiguous.
    pub entries: Vec<Entry>,
}
