//! The HTTP/JSON client API of raftd: request and response bodies, error kinds and the
//! validation every request passes before it reaches the core (see raftd/API.md).

use checkers::ErrorCode;
use serde::{Deserialize, Serialize};

/// Largest request body the server reads, in bytes; beyond it the answer is 413.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest election name, client name or write id accepted, in bytes.
pub const NAME_BYTES_MAX: usize = 256;
/// Longest register key accepted, in bytes.
pub const KEY_BYTES_MAX: usize = 128;
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
    /// The index of the last entry in this node's log, committed or not. With `commit`
    /// it lets a checker test leader completeness: a leader's log must reach every index
    /// a node reported committed in an earlier term.
    pub last_index: u64,
    /// The last [`TERM_RUNS_MAX`] runs of this node's log, oldest first, each
    /// `[term, first index]`. With `commit` it lets a checker compare committed entries
    /// across nodes: no two nodes may hold different terms at an index both committed.
    pub terms: Vec<[u64; 2]>,
    /// Whether this node holds a valid leader lease right now.
    pub lease: bool,
    pub clock_offset_ms: i64,
    pub clock_rate: f64,
}

/// How many runs of its log `/status` reports.
pub const TERM_RUNS_MAX: usize = 16;

/// `/status`'s `terms` of `node`: its log's last [`TERM_RUNS_MAX`] runs.
pub fn terms_of(node: &crate::core::RawNode) -> Vec<[u64; 2]> {
    node.term_runs(TERM_RUNS_MAX)
        .into_iter()
        .map(|(term, first)| [term, first])
        .collect()
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

/// `PUT /registers/{key}`: sets the register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterWriteRequest {
    pub value: i64,
}

/// `POST /registers/{key}/cas`: sets the register to `to` if it holds `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterCasRequest {
    pub from: i64,
    pub to: i64,
}

/// The ok answer of every register call: the register's value, `null` for a key never
/// written (a read's answer); after a write or a compare-and-set, the value it set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub value: Option<i64>,
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

/// A crash point of `POST /admin/crash-point`: where an armed node dies on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashPoint {
    /// The first `Ready` in which the node leads a term it did not lead when armed: its
    /// new term's first entry is made durable and never sent.
    WonElection,
    /// As leader, the first `Ready` after its commit index moved to cover every entry of
    /// the earlier terms in its log: the commit is made durable and no follower hears of
    /// it. While it is armed, a leader whose log holds uncommitted entries of earlier
    /// terms sends followers only those, so the commit it reaches is of that tail (Raft's
    /// figure 8), not its own term's first entry.
    LeaderCommit,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 2] = [CrashPoint::WonElection, CrashPoint::LeaderCommit];

    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::WonElection => "won-election",
            CrashPoint::LeaderCommit => "leader-commit",
        }
    }
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `POST /admin/crash-point`: arms exactly these points (an empty list disarms); each
/// fires once, at its first chance, and the node exits with
/// [`CRASH_POINT_EXIT_CODE`](crate::server::crash::CRASH_POINT_EXIT_CODE).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashPointRequest {
    pub points: Vec<CrashPoint>,
}

/// The ok answer of `POST /admin/crash-point`: the points now armed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashPointResponse {
    pub points: Vec<CrashPoint>,
}

/// The body of every error answer: one of [`error_codes`], one sentence, and for some
/// codes the extra fields API.md names.
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
    /// `cas-mismatch`: the value the register held, `null` for a key never written.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub current: Option<Option<i64>>,
}

/// The error codes raftd answers with (raftd/API.md): the histories' [`ErrorCode`]s that
/// have an HTTP status here.
pub fn error_codes() -> impl Iterator<Item = ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .filter(|c| http_status(*c).is_some())
}

/// The HTTP status of an answer with this error code; `None` for a code raftd never
/// answers with (the adapters' own, such as `unreachable`).
///
/// - 409 `stale-token`, `unknown-token`: a write's token is older than one a write was
///   accepted under, not its election's current grant (with `--fence-on-grant`), or never
///   granted; `held`: another grant holds the election; `not-holder`: a release of a grant
///   that does not hold; `cas-mismatch`: a register's compare-and-set found another value.
///   Nothing happened.
/// - 421 `not-leader`; 503 `no-quorum`, `shutting-down`, `overloaded`: nothing was
///   proposed.
/// - 504 `timeout`, 500 `internal`: proposed (or maybe), outcome unknown.
/// - 400 `bad-json`, 422 `bad-request`, 404 `not-found`, 405 `method-not-allowed`,
///   413 `too-large` (beyond [`BODY_BYTES_MAX`]).
pub fn http_status(code: ErrorCode) -> Option<u16> {
    Some(match code {
        ErrorCode::StaleToken
        | ErrorCode::UnknownToken
        | ErrorCode::Held
        | ErrorCode::NotHolder
        | ErrorCode::CasMismatch => 409,
        ErrorCode::NotLeader => 421,
        ErrorCode::NoQuorum | ErrorCode::ShuttingDown | ErrorCode::Overloaded => 503,
        ErrorCode::Timeout => 504,
        ErrorCode::BadJson => 400,
        ErrorCode::BadRequest => 422,
        ErrorCode::NotFound => 404,
        ErrorCode::MethodNotAllowed => 405,
        ErrorCode::TooLarge => 413,
        ErrorCode::Internal => 500,
        ErrorCode::UnknownGrant
        | ErrorCode::NoLeader
        | ErrorCode::Unavailable
        | ErrorCode::Unreachable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionLost
        | ErrorCode::MalformedAnswer
        | ErrorCode::LostCandidate
        | ErrorCode::FenceContended
        | ErrorCode::SessionExpired => return None,
    })
}

impl ErrorBody {
    /// A body with just a code and a reason.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: code.name().to_string(),
            reason: reason.into(),
            leader: None,
            leader_addr: None,
            holder: None,
            token: None,
            current: None,
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

/// Checks a register key: 1 to [`KEY_BYTES_MAX`] bytes, each a letter, a digit or one of
/// `-._~` (the characters a URL path carries as they are).
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the register key must not be empty".to_string());
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(format!(
            "the register key is {} bytes long; at most {KEY_BYTES_MAX} are accepted",
            key.len()
        ));
    }
    let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if let Some(c) = key.chars().find(|c| !url_safe(*c)) {
        return Err(format!(
            "the register key holds {c:?}; only letters, digits and -._~ are accepted"
        ));
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

impl CrashPointRequest {
    /// Rejects a point named twice: one arming fires each point once.
    pub fn validate(&self) -> Result<(), String> {
        for (i, p) in self.points.iter().enumerate() {
            if self.points[..i].contains(p) {
                return Err(format!("`points` names {p} twice"));
            }
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
    fn raftd_answers_its_codes_with_a_status_and_no_other() {
        for code in ErrorCode::ALL {
            assert!(
                http_status(code).is_none_or(|s| (400..600).contains(&s)),
                "{code}"
            );
        }
        assert_eq!(http_status(ErrorCode::Unreachable), None);
        assert_eq!(http_status(ErrorCode::StaleToken), Some(409));
    }

    #[test]
    fn the_wire_spells_codes_as_before() {
        let mut wire: Vec<&str> = error_codes().map(|c| c.name()).collect();
        wire.sort_unstable();
        let mut before = [
            "stale-token",
            "unknown-token",
            "held",
            "not-holder",
            "not-leader",
            "no-quorum",
            "shutting-down",
            "overloaded",
            "timeout",
            "bad-json",
            "bad-request",
            "not-found",
            "method-not-allowed",
            "too-large",
            "internal",
            "cas-mismatch",
        ];
        before.sort_unstable();
        assert_eq!(wire, before);
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
    fn register_keys_are_short_and_url_safe() {
        for key in ["r0", "a-b_c.d~e", &"k".repeat(KEY_BYTES_MAX)] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
        for (key, names) in [
            ("", "empty"),
            ("a b", "' '"),
            ("a/b", "'/'"),
            ("é", "'é'"),
            ("a%2F", "'%'"),
        ] {
            let e = validate_key(key).unwrap_err();
            assert!(e.contains(names), "{key:?}: {e}");
        }
        let e = validate_key(&"k".repeat(KEY_BYTES_MAX + 1)).unwrap_err();
        assert!(e.contains("129 bytes"), "{e}");
    }

    #[test]
    fn register_values_are_integers_and_a_mismatch_names_the_value() {
        let w: RegisterWriteRequest = serde_json::from_str(r#"{"value":-3}"#).unwrap();
        assert_eq!(w.value, -3);
        for bad in [
            r#"{"value":1.5}"#,
            r#"{"value":"1"}"#,
            r#"{"value":null}"#,
            r#"{"value":9223372036854775808}"#,
            r#"{}"#,
            r#"{"value":1,"extra":2}"#,
        ] {
            assert!(
                serde_json::from_str::<RegisterWriteRequest>(bad).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<RegisterCasRequest>(r#"{"from":1}"#).is_err());
        let read = serde_json::to_string(&RegisterResponse { value: None }).unwrap();
        assert_eq!(read, r#"{"value":null}"#);
        let mut e = ErrorBody::new(ErrorCode::CasMismatch, "no");
        e.current = Some(None);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""current":null"#), "{json}");
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), e);
        let plain = ErrorBody::new(ErrorCode::Timeout, "slow");
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("current"), "{json}");
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), plain);
    }

    #[test]
    fn write_request_accepts_null_and_missing_token() {
        let a: WriteRequest = serde_json::from_str(r#"{"id":"w1","token":null}"#).unwrap();
        let b: WriteRequest = serde_json::from_str(r#"{"id":"w1"}"#).unwrap();
        assert_eq!(a, b);
    }
}
