//! The error codes a history's `error` field carries when splitbrain's own code chose
//! them: raftd's answers, the adapters' refusals and unknown outcomes, the simulator's.
//! One enum, so a code is spelt once; raftd answers with the same words on the wire.
//!
//! A history may hold other errors too (a gRPC status, a ZooKeeper error, a runtime's
//! message on a nemesis op): `error` stays a string, and [`ErrorCode`] parses the ones it
//! knows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An error code, named in kebab case (`stale-token`, `not-leader`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// A write's token is older than one a write was accepted under, or not its
    /// election's current grant: a fenced-out write. It did not happen.
    StaleToken,
    /// A write's token was never granted. It did not happen.
    UnknownToken,
    /// A grant this client does not know of (the adapter kept no such grant).
    UnknownGrant,
    /// An acquire refused: another grant holds the election.
    Held,
    /// A release or a check of a grant that does not hold.
    NotHolder,
    /// This node does not lead; nothing was proposed.
    NotLeader,
    /// No leader is known; nothing was proposed.
    NoLeader,
    /// The leader cannot reach a quorum; nothing was proposed.
    NoQuorum,
    /// The node is stopping; nothing was proposed.
    ShuttingDown,
    /// Too many requests in flight; nothing was proposed.
    Overloaded,
    /// The system is unavailable; nothing was done.
    Unavailable,
    /// No answer in time: the outcome is unknown (a write), or nothing happened (a read).
    Timeout,
    /// A connection that was never made: nothing was sent.
    Unreachable,
    /// The simulator: nothing listens on a node that is down, so nothing was sent.
    ConnectionRefused,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
    /// An answer that could not be read.
    MalformedAnswer,
    /// ZooKeeper: the candidate's znode is gone before it could be confirmed.
    LostCandidate,
    /// ZooKeeper: another writer raised the fence between the read and the write.
    FenceContended,
    /// ZooKeeper: the session expired.
    SessionExpired,
    /// raftd: the body is not JSON.
    BadJson,
    /// raftd: a field is missing, mistyped or makes no sense.
    BadRequest,
    /// raftd: no such path.
    NotFound,
    /// raftd: the path exists, the method does not.
    MethodNotAllowed,
    /// raftd: the body is too large.
    TooLarge,
    /// raftd: the server failed (storage); the outcome is unknown.
    Internal,
    /// A register's compare-and-set found another value: it did not happen.
    CasMismatch,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 26] = [
        ErrorCode::StaleToken,
        ErrorCode::UnknownToken,
        ErrorCode::UnknownGrant,
        ErrorCode::Held,
        ErrorCode::NotHolder,
        ErrorCode::NotLeader,
        ErrorCode::NoLeader,
        ErrorCode::NoQuorum,
        ErrorCode::ShuttingDown,
        ErrorCode::Overloaded,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Unreachable,
        ErrorCode::ConnectionRefused,
        ErrorCode::ConnectionLost,
        ErrorCode::MalformedAnswer,
        ErrorCode::LostCandidate,
        ErrorCode::FenceContended,
        ErrorCode::SessionExpired,
        ErrorCode::BadJson,
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TooLarge,
        ErrorCode::Internal,
        ErrorCode::CasMismatch,
    ];

    /// The code as a history and raftd's answers spell it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::StaleToken => "stale-token",
            ErrorCode::UnknownToken => "unknown-token",
            ErrorCode::UnknownGrant => "unknown-grant",
            ErrorCode::Held => "held",
            ErrorCode::NotHolder => "not-holder",
            ErrorCode::NotLeader => "not-leader",
            ErrorCode::NoLeader => "no-leader",
            ErrorCode::NoQuorum => "no-quorum",
            ErrorCode::ShuttingDown => "shutting-down",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::ConnectionRefused => "connection-refused",
            ErrorCode::ConnectionLost => "connection-lost",
            ErrorCode::MalformedAnswer => "malformed-answer",
            ErrorCode::LostCandidate => "lost-candidate",
            ErrorCode::FenceContended => "fence-contended",
            ErrorCode::SessionExpired => "session-expired",
            ErrorCode::BadJson => "bad-json",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::NotFound => "not-found",
            ErrorCode::MethodNotAllowed => "method-not-allowed",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::Internal => "internal",
            ErrorCode::CasMismatch => "cas-mismatch",
        }
    }

    /// The code an `error` string names, if it is one of these.
    pub fn of(error: &str) -> Option<ErrorCode> {
        error.parse().ok()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error string that is no [`ErrorCode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an error code")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<ErrorCode, UnknownErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_string()))
    }
}

/// A history's `error` is a string: a code becomes its name.
impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> String {
        code.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_names_and_parse_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.name()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.name().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.name());
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn other_errors_are_not_codes() {
        for other in ["zk-no-node", "grpc-unknown", "http-418", "Stale-Token", ""] {
            assert_eq!(ErrorCode::of(other), None, "{other}");
        }
        assert_eq!(
            "nope".parse::<ErrorCode>(),
            Err(UnknownErrorCode("nope".into()))
        );
    }
}
