//! Client requests entering the core and the responses it gives back.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::NodeId;

/// A client request, as the server hands it to [`RawNode::propose`](super::RawNode::propose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Acquire leadership of `election` for `client`, for `ttl_ticks` unless renewed by
    /// nothing (grants are not renewable; they expire or are released).
    Acquire {
        election: String,
        client: String,
        ttl_ticks: u64,
    },
    /// Release the grant `token` of `election`.
    Release { election: String, token: u64 },
    /// Append write `id` to the write log, fenced by `token` if given.
    Write {
        id: String,
        token: Option<u64>,
        election: Option<String>,
    },
    /// Linearizable read of the committed write log.
    Read,
    /// Linearizable check whether `token` is the current grant of `election`.
    Holding { election: String, token: u64 },
    /// Linearizable read of register `key`.
    RegisterRead { key: String },
    /// Set register `key` to `value`.
    RegisterWrite { key: String, value: i64 },
    /// Set register `key` to `to` if it holds `from`.
    RegisterCas { key: String, from: i64, to: i64 },
}

impl Request {
    /// Whether the request is a linearizable read, served by a read-index round or under
    /// the lease rather than through the log.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Request::Read | Request::Holding { .. } | Request::RegisterRead { .. }
        )
    }
}

/// One applied write, in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    pub id: String,
    pub token: Option<u64>,
}

/// The answer to a request. Every accepted request gets exactly one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Response {
    /// Acquired: `token` is the log index of the grant entry.
    Acquired { token: u64 },
    /// Released.
    Released,
    /// The write committed and was applied (under `early-ack`: was appended).
    Written { id: String, token: Option<u64> },
    /// The committed write log, shared with the state machine rather than copied (see
    /// [`StateMachine::write_log_shared`](super::StateMachine::write_log_shared)): a driver
    /// should let go of it before the node applies more writes, or the next write copies
    /// the log.
    Log { log: Arc<Vec<WriteRecord>> },
    /// Whether the grant holds.
    Holding { holding: bool },
    /// The write was rejected: its token is stale. The write certainly did not happen.
    StaleToken,
    /// Acquire refused: `holder` holds `token`.
    Held { holder: String, token: u64 },
    /// Release refused: `token` is not the current grant.
    NotHolder,
    /// This node lost leadership before the request was served, nothing was committed on
    /// its behalf (reads and checks only). `leader` is who this node now believes leads.
    NotLeader { leader: Option<NodeId> },
    /// Leadership was lost before the proposal committed: it may or may not take effect.
    Dropped,
    /// A register's value; `None` if it was never written.
    Register { value: Option<i64> },
    /// The register write or compare-and-set took effect (under `early-ack`: was
    /// appended, and a compare-and-set's comparison was made against the leader's log).
    RegisterSet,
    /// Compare-and-set refused: the register held `current` (`None`: never written), not
    /// the value expected. Nothing changed.
    CasMismatch { current: Option<i64> },
}

impl Response {
    /// Whether the request certainly took effect (or the read was served).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Response::Acquired { .. }
                | Response::Released
                | Response::Written { .. }
                | Response::Log { .. }
                | Response::Holding { .. }
                | Response::Register { .. }
                | Response::RegisterSet
        )
    }
}

/// Why `propose` refused a request: nothing was proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader; leader is {leader:?}")]
    NotLeader { leader: Option<NodeId> },
    #[error("too many requests waiting in the core (bound {bound})")]
    Busy { bound: usize },
    #[error("request id {0} is already waiting for a response")]
    DuplicateId(u64),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}
