//! The wire and disk types: messages between nodes, log entries, the hard state.

use serde::{Deserialize, Serialize};

use super::{Index, NodeId, Term};

/// What a node must have on disk before it answers anyone: its term, its vote in that
/// term, and how far it knows the log to be committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub vote: Option<NodeId>,
    pub commit: Index,
}

/// One log entry. Indexes start at 1; index 0 with term 0 is the empty log's sentinel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub data: EntryData,
}

/// What an entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EntryData {
    /// Appended by every new leader so that it can commit by counting current-term replicas.
    Noop,
    /// A command for the leadership state machine.
    Command(Command),
}

/// A command of the replicated leadership state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// Grant `election` to `client` unless it is held.
    Acquire {
        election: String,
        client: String,
        ttl_ticks: u64,
    },
    /// Give up the grant of `election` if `token` is its current grant.
    Release { election: String, token: u64 },
    /// Record write `id`, fenced by `token` when there is one.
    Write {
        id: String,
        token: Option<u64>,
        election: Option<String>,
    },
    /// The leader decided that grant `token` of `election` outlived its TTL.
    Expire { election: String, token: u64 },
    /// Set register `key` to `value`.
    RegisterWrite { key: String, value: i64 },
    /// Set register `key` to `to` if it holds `from` (a key never written holds nothing,
    /// so it never matches).
    RegisterCas { key: String, from: i64, to: i64 },
}

/// A message from one node to another. `term` is the sender's term, except for a
/// pre-vote request, which carries the term the sender would campaign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: Term,
    pub body: MessageBody,
}

/// The kinds of messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MessageBody {
    /// Would you vote for me in `term` (the message's term) if I campaigned?
    PreVote {
        last_index: Index,
        last_term: Term,
    },
    PreVoteResp {
        reject: bool,
    },
    /// Vote for me in `term`.
    Vote {
        last_index: Index,
        last_term: Term,
    },
    VoteResp {
        reject: bool,
    },
    /// Append `entries` after (`prev_index`, `prev_term`); the leader has committed `commit`.
    Append {
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
    },
    /// On success `index` is the last index known to match the leader's log. On reject
    /// `index` is the rejected `prev_index`, and (`hint_index`, `hint_term`) is the
    /// follower's last entry at or below it whose term is at most `prev_term`: the leader
    /// can skip back to it at once.
    AppendResp {
        reject: bool,
        index: Index,
        hint_index: Index,
        hint_term: Term,
    },
    /// Leadership assertion. `commit` is capped at what the receiver is known to hold.
    /// `seq` and `sent_tick` come back in the response: they confirm read-index rounds
    /// and time the lease from the moment the heartbeat was sent.
    /// `sent_wall` is the leader's wall clock at sending, used only by `wall-clock-lease`.
    Heartbeat {
        commit: Index,
        seq: u64,
        sent_tick: u64,
        sent_wall: u64,
    },
    HeartbeatResp {
        seq: u64,
        sent_tick: u64,
        sent_wall: u64,
    },
}

impl MessageBody {
    /// A short name for logs and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "pre-vote",
            MessageBody::PreVoteResp { .. } => "pre-vote-resp",
            MessageBody::Vote { .. } => "vote",
            MessageBody::VoteResp { .. } => "vote-resp",
            MessageBody::Append { .. } => "append",
            MessageBody::AppendResp { .. } => "append-resp",
            MessageBody::Heartbeat { .. } => "heartbeat",
            MessageBody::HeartbeatResp { .. } => "heartbeat-resp",
        }
    }

    /// Whether this message may be sent only once the sender's hard state and entries of
    /// the same `Ready` are durable: votes and acknowledgements promise what is on disk.
    pub fn needs_persistence(&self) -> bool {
        matches!(
            self,
            MessageBody::Vote { .. }
                | MessageBody::VoteResp { .. }
                | MessageBody::AppendResp { .. }
                | MessageBody::HeartbeatResp { .. }
        )
    }
}
