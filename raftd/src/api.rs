//! The HTTP/JSON client API of raftd: request and response bodies, error kinds and the
//! validation every request passes before it reaches the core (see raftd/API.md).

use serde::{Deserialize, Serialize};

/// Largest request body the server reads, in bytes; beyond it the answer is 413.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest election name, client name or write id accepted, in bytes.
pub const NAME_BYTES_MAX: usize = 256;
/// Longest grant TTL accepted, in milliseconds (one day: beyond that it is a mistake).
pub const TTL_MS_MAX: u64 = 24 * 60 * 60 * 1000;
/// Largest wall-clock offset accepted, in milliseconds either way (ten years).
pub const CLOCK_OFFSET_MS_MAX: i64 = 10 * 365 * 24 * 60 * 60 * 1000;
/// Largest wall-clock rate accepted (the clock runs this many times faster than real time).
pub const CLOCK_RATE_MAX: f64 = 1000.0;

/// A field that may be absent, `null` or a value: present means `Some`, whatever it holds.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /status`: this node's own view, never forwarded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub id: String,
    /// `leader`, `follower`, `candidate`, `pre-candidate`, or `acting-leader` (the core
    /// thinks it leads but holds no valid lease: it may be a deposed leader).
    pub role: String,
    pub term: u64,
    pub leader: Option<String>,
    pub leader_addr: Option<String>,
    /// Whom this node voted for in `term`, once that vote is durable: a name, or `null`
    /// for nobody yet. Absent while it cannot tell (its new term not yet on disk, or its
    /// vote lost with a torn hard-state write, when it refuses every candidate).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub vote: Option<Option<String>>,
    pub commit: u64,
    pub applied: u64,
    /// Whether this node holds a valid leader lease right now.
    pub lease: bool,
    pub clock_offset_ms: i64,
    pub clock_rate: f64,
}

/// `POST /acquire`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquireRequest {
    pub election: String,
    pub client: String,
    pub ttl_ms: u64,
}

/// The ok answer of `POST /acquire`: the log index of the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquireResponse {
    pub token: u64,
}

/// `POST /holding` and `POST /release`: a grant named by its election and token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub election: String,
    pub token: u64,
}

/// `POST /holding`.
pub type HoldingRequest = GrantRequest;
/// `POST /release`.
pub type ReleaseRequest = GrantRequest;

/// The ok answer of `POST /holding`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingResponse {
    pub holding: bool,
}

/// The ok answer of `POST /release`: an empty object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResponse {}

/// `POST /write`: a write, fenced by `token` when one is given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    pub id: String,
    #[serde(default)]
    pub token: Option<u64>,
    #[serde(default)]
    pub election: Option<String>,
}

/// One committed write, as `POST /write` answers and `GET /read` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    pub id: String,
    pub token: Option<u64>,
}

/// The ok answer of `POST /write`.
pub type WriteResponse = WriteRecord;

/// The query string of `GET /read`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default)]
    pub local: bool,
}

/// The ok answer of `GET /read`: committed writes in log order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    pub log: Vec<WriteRecord>,
}

/// `POST /admin/clock`: sets this node's wall-clock offset and rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    pub offset_ms: i64,
    #[serde(default = "default_clock_rate")]
    pub rate: f64,
}

fn default_clock_rate() -> f64 {
    1.0
}

/// The ok answer of `POST /admin/clock`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockResponse {
    pub clock_offset_ms: i64,
    pub clock_rate: f64,
}

/// The body of every error answer: a kind from [`ErrorKind`], one sentence, and for some
/// kinds the extra fields API.md names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub reason: String,
    /// `not-leader`: who leads, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// `not-leader`: the leader's client address, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_addr: Option<String>,
    /// `held`: the client holding the election.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// `held`: the token of the grant holding the election; `stale-token`: the token that
    /// made the write's stale (the larger one accepted before, or under `--fence-on-grant`
    /// the election's current grant, absent when none holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
}

/// Every `error` value raftd answers with, and its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 409: a write's token is older than one a write was accepted under, or (with
    /// `--fence-on-grant`) not its election's current grant. The write did not happen.
    StaleToken,
    /// 409: a write's token was never granted (of its election, if it names one): it is
    /// no token. The write did not happen.
    UnknownToken,
    /// 409: acquire refused, another grant holds the election.
    Held,
    /// 409: release of a grant that does not hold.
    NotHolder,
    /// 421: this node is not the leader; nothing was proposed.
    NotLeader,
    /// 503: the leader cannot reach a quorum; nothing was proposed.
    NoQuorum,
    /// 503: the node is stopping; nothing was proposed.
    ShuttingDown,
    /// 503: too many requests in flight; nothing was proposed.
    Overloaded,
    /// 504: proposed (or maybe proposed), outcome unknown.
    Timeout,
    /// 400: the body is not JSON.
    BadJson,
    /// 422: JSON, but a field is missing, mistyped or makes no sense.
    BadRequest,
    /// 404: no such path.
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 413: the body exceeds [`BODY_BYTES_MAX`].
    TooLarge,
    /// 500: the server failed (storage); the outcome is unknown.
    Internal,
}

impl ErrorKind {
    /// The `error` string of the answer body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::StaleToken => "stale-token",
            ErrorKind::UnknownToken => "unknown-token",
            ErrorKind::Held => "held",
            ErrorKind::NotHolder => "not-holder",
            ErrorKind::NotLeader => "not-leader",
            ErrorKind::NoQuorum => "no-quorum",
            ErrorKind::ShuttingDown => "shutting-down",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadJson => "bad-json",
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::NotFound => "not-found",
            ErrorKind::MethodNotAllowed => "method-not-allowed",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status code of the answer.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::StaleToken
            | ErrorKind::UnknownToken
            | ErrorKind::Held
            | ErrorKind::NotHolder => 409,
            ErrorKind::NotLeader => 421,
            ErrorKind::NoQuorum | ErrorKind::ShuttingDown | ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::BadJson => 400,
            ErrorKind::BadRequest => 422,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::TooLarge => 413,
            ErrorKind::Internal => 500,
        }
    }

    /// The kind named by an `error` string, if raftd uses it.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ALL_ERROR_KINDS.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether a request answered with this kind certainly did not take effect: a
    /// history records it as `fail`; otherwise (timeout, internal) as `info`.
    pub fn is_definite_failure(self) -> bool {
        !matches!(self, ErrorKind::Timeout | ErrorKind::Internal)
    }
}

/// Every [`ErrorKind`], for lookups.
pub const ALL_ERROR_KINDS: [ErrorKind; 15] = [
    ErrorKind::StaleToken,
    ErrorKind::UnknownToken,
    ErrorKind::Held,
    ErrorKind::NotHolder,
    ErrorKind::NotLeader,
    ErrorKind::NoQuorum,
    ErrorKind::ShuttingDown,
    ErrorKind::Overloaded,
    ErrorKind::Timeout,
    ErrorKind::BadJson,
    ErrorKind::BadRequest,
    ErrorKind::NotFound,
    ErrorKind::MethodNotAllowed,
    ErrorKind::TooLarge,
    ErrorKind::Internal,
];

impl ErrorBody {
    /// A body with just a kind and a reason.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: kind.as_str().to_string(),
            reason: reason.into(),
            leader: None,
            leader_addr: None,
            holder: None,
            token: None,
        }
    }
}

/// Checks a name-like field (election, client, write id): non-empty, bounded, printable.
pub fn validate_name(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("`{field}` must not be empty"));
    }
    if value.len() > NAME_BYTES_MAX {
        return Err(format!(
            "`{field}` is {} bytes long; at most {NAME_BYTES_MAX} are accepted",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(())
}

impl AcquireRequest {
    /// Rejects values that make no sense, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        validate_name("election", &self.election)?;
        validate_name("client", &self.client)?;
        if self.ttl_ms == 0 || self.ttl_ms > TTL_MS_MAX {
            return Err(format!(
                "`ttl_ms` is {}; it must be between 1 and {TTL_MS_MAX}",
                self.ttl_ms
            ));
        }
        Ok(())
    }
}

impl GrantRequest {
    /// Rejects values that make no sense, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        validate_name("election", &self.election)?;
        if self.token == 0 {
            return Err("`token` is 0; tokens are log indexes and start at 1".to_string());
        }
        Ok(())
    }
}

impl WriteRequest {
    /// Rejects values that make no sense, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        validate_name("id", &self.id)?;
        if let Some(election) = &self.election {
            validate_name("election", election)?;
        }
        if self.token == Some(0) {
            return Err("`token` is 0; tokens are log indexes and start at 1".to_string());
        }
        Ok(())
    }
}

impl ClockRequest {
    /// Rejects values that make no sense, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.offset_ms.unsigned_abs() > CLOCK_OFFSET_MS_MAX as u64 {
            return Err(format!(
                "`offset_ms` is {}; at most ±{CLOCK_OFFSET_MS_MAX} is accepted",
                self.offset_ms
            ));
        }
        if !self.rate.is_finite() || self.rate < 0.0 || self.rate > CLOCK_RATE_MAX {
            return Err(format!(
                "`rate` is {}; it must be a number between 0 and {CLOCK_RATE_MAX}",
                self.rate
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_round_trip_through_their_strings() {
        for kind in ALL_ERROR_KINDS {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
            assert!((400..600).contains(&kind.http_status()));
        }
        assert_eq!(ErrorKind::parse("nope"), None);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = AcquireRequest {
            election: "e1".into(),
            client: String::new(),
            ttl_ms: 10,
        };
        assert!(bad.validate().unwrap_err().contains("client"));
        let bad = ClockRequest {
            offset_ms: 0,
            rate: f64::NAN,
        };
        assert!(bad.validate().unwrap_err().contains("rate"));
        let ok = WriteRequest {
            id: "w1".into(),
            token: None,
            election: None,
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn write_request_accepts_null_and_missing_token() {
        let a: WriteRequest = serde_json::from_str(r#"{"id":"w1","token":null}"#).unwrap();
        let b: WriteRequest = serde_json::from_str(r#"{"id":"w1"}"#).unwrap();
        assert_eq!(a, b);
    }
}
