//! The client seam: one client per node, whose every call ends in a typed outcome —
//! `Ok`, `Fail` (it certainly did not happen) or `Info` (unknown) — within a bounded time.

use async_trait::async_trait;
use checkers::{LogEntry, Role};
use serde::{Deserialize, Serialize};

/// The default bound on one client call, from sending the request to the last byte of
/// the answer.
pub const CLIENT_TIMEOUT_MS_DEFAULT: u64 = 2000;

/// Why a call certainly did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The history's `error`: a [`checkers::ErrorCode`] (`stale-token`, `held`,
    /// `not-leader`, …) where the adapter chose it, or the system's own word for it.
    pub error: String,
    /// The leader's node name when the answer named one (a redirect hint).
    pub leader: Option<String>,
}

impl Failure {
    pub fn new(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            leader: None,
        }
    }
}

/// How a call ended. `Info` never becomes `Fail`: a timeout or a connection lost after
/// the request may have been sent says nothing about whether it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Ok(T),
    Fail(Failure),
    /// Unknown; the string is the history's `error` (`timeout`, `connection-lost`, …: a
    /// [`checkers::ErrorCode`] where the adapter chose it).
    Info(String),
}

impl<T> Outcome<T> {
    pub fn fail(error: impl Into<String>) -> Outcome<T> {
        Outcome::Fail(Failure::new(error))
    }

    pub fn info(error: impl Into<String>) -> Outcome<T> {
        Outcome::Info(error.into())
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(f(v)),
            Outcome::Fail(e) => Outcome::Fail(e),
            Outcome::Info(e) => Outcome::Info(e),
        }
    }
}

/// A node's own view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub role: Role,
    /// `None` where the node's term could not be told for certain (etcd just after an
    /// election: see its adapter's `status`); no rule about terms counts such an answer.
    pub term: Option<u64>,
    /// The leader's node name as this node knows it.
    pub leader: Option<String>,
    /// How far this node has applied its log, where the system says (raftd's `applied`,
    /// etcd's revision); used to wait for a node to catch up before its final read.
    pub applied: Option<u64>,
    /// How far the log is committed as this node knows it.
    pub commit: Option<u64>,
    /// Whom the node voted for in `term`, where the system reports it (raftd):
    /// `Some(None)` for nobody yet, `None` where it is not reported.
    pub vote: Option<Option<String>>,
    /// The index of the last entry in the node's log, committed or not, where the system
    /// reports it (raftd): with `commit`, what the leader-completeness rule compares.
    pub last_index: Option<u64>,
    /// The last runs of the node's log, each `[term, first index]`, oldest first, where
    /// the system reports them (raftd): with `commit`, what the diverged-commit rule
    /// compares.
    pub terms: Option<Vec<[u64; 2]>>,
}

/// A successful acquire: the fencing token of the grant (raftd: the log index of the
/// grant; etcd: the leader key's create revision; ZooKeeper: the czxid of the
/// ephemeral-sequential node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub token: u64,
}

/// An accepted write as the system acknowledged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub id: String,
    pub token: Option<u64>,
}

/// One node's client. Every call is bounded by the client's `client_timeout_ms`.
#[async_trait]
pub trait Client: Send + Sync {
    /// The node this client talks to.
    fn node(&self) -> &str;
    /// This node's own view, never forwarded.
    async fn status(&self) -> Outcome<NodeStatus>;
    /// Tries once to take leadership of `election` for `ttl_ms`; `client` names the
    /// process asking (for the system's logs and a ZooKeeper node's data).
    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant>;
    /// A linearizable check of whether the grant `token` still holds.
    async fn holding(&self, election: &str, token: u64) -> Outcome<bool>;
    async fn release(&self, election: &str, token: u64) -> Outcome<()>;
    /// Commits the write `id`; with a token, only if the store accepts it under that
    /// grant of `election`.
    async fn write(&self, id: &str, token: Option<u64>, election: Option<&str>)
        -> Outcome<Written>;
    /// Every committed write in log order, linearizable.
    async fn read(&self) -> Outcome<Vec<LogEntry>>;
    /// Every write this node has applied, from its own state without any leader check.
    async fn read_local(&self) -> Outcome<Vec<LogEntry>>;
    /// A linearizable read of register `key`: its value, `None` if it was never written.
    /// Only systems whose descriptor claims `registers` are asked.
    async fn reg_read(&self, _key: &str) -> Outcome<Option<i64>> {
        Outcome::fail(NO_REGISTERS)
    }
    /// Sets register `key` to `value`.
    async fn reg_write(&self, _key: &str, _value: i64) -> Outcome<()> {
        Outcome::fail(NO_REGISTERS)
    }
    /// Sets register `key` to `to` if it holds `from`; `Fail` with
    /// [`checkers::ErrorCode::CasMismatch`] when it holds anything else (or nothing).
    async fn reg_cas(&self, _key: &str, _from: i64, _to: i64) -> Outcome<()> {
        Outcome::fail(NO_REGISTERS)
    }
}

/// The error of a register op asked of a system that serves none.
pub const NO_REGISTERS: &str = "registers-not-served";
