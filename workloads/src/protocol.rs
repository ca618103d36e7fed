//! The node protocol's client (docs/protocol.md): HTTP/JSON calls to one node, each
//! answer mapped onto ok / fail / info. raftd serves the protocol natively; a system file
//! (`crate::file`) brings any other program that serves it.

use std::time::Duration;

use async_trait::async_trait;
use checkers::{ErrorCode, LogEntry, Role};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Failure, Grant, NodeStatus, Outcome, Written};
use crate::system::{NodeAddr, SystemError};

/// An HTTP client bound to one node that serves the protocol.
#[derive(Clone, Debug)]
pub struct ProtocolClient {
    node: String,
    base_url: String,
    http: reqwest::Client,
}

/// The longest a client waits for a TCP connection to a node.
const CONNECT_TIMEOUT_MS_MAX: u64 = 250;

impl ProtocolClient {
    /// A client of `node` at its default base URL, `http://HOST:CLIENT_PORT`.
    pub fn new(node: &NodeAddr, client_timeout_ms: u64) -> Result<ProtocolClient, SystemError> {
        let base_url = format!("http://{}:{}", node.host, node.client_port);
        ProtocolClient::at(&node.name, base_url, client_timeout_ms)
    }

    /// A client of the node `name` served at `base_url` (no trailing slash), whose every
    /// call ends within `client_timeout_ms`.
    pub fn at(
        name: &str,
        base_url: String,
        client_timeout_ms: u64,
    ) -> Result<ProtocolClient, SystemError> {
        if client_timeout_ms == 0 {
            return Err(SystemError::BadOption("client_timeout_ms is 0".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(client_timeout_ms))
            // Shorter than the whole call, so that a connect that hangs (a partition
            // dropping SYNs, a killed container whose address is gone) is reported as a
            // connect error: nothing was sent. A connect on the test's own network takes
            // well under a millisecond, so a quarter second is ample, and it keeps an
            // observer from going blind for a whole second after a node is killed, past
            // the restart and the first election timeout it is there to see.
            .connect_timeout(Duration::from_millis(
                client_timeout_ms.div_ceil(2).min(CONNECT_TIMEOUT_MS_MAX),
            ))
            .no_proxy()
            .build()
            .map_err(|e| SystemError::Client {
                node: name.to_string(),
                reason: e.to_string(),
            })?;
        Ok(ProtocolClient {
            node: name.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Outcome<T> {
        let request = self.http.get(format!("{}{path}", self.base_url));
        self.send(request).await
    }

    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Outcome<T> {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body);
        self.send(request).await
    }

    pub(crate) async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Outcome<T> {
        let request = self.http.put(format!("{}{path}", self.base_url)).json(body);
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Outcome<T> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return outcome_of_error(&e),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => outcome_of_answer(status, &body),
            Err(e) => outcome_of_error(&e),
        }
    }
}

/// Maps a transport error. Only an error before anything was sent is a failure.
pub fn outcome_of_error<T>(e: &reqwest::Error) -> Outcome<T> {
    if e.is_connect() {
        // Refused, unreachable or a connect timeout: the request never left.
        Outcome::fail(ErrorCode::Unreachable)
    } else if e.is_timeout() {
        Outcome::info(ErrorCode::Timeout)
    } else {
        Outcome::info(ErrorCode::ConnectionLost)
    }
}

/// The protocol's error body, as much of it as a client needs.
#[derive(Debug, Default, Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    leader: Option<String>,
}

/// Maps an HTTP answer, per docs/protocol.md's table of statuses.
pub fn outcome_of_answer<T: DeserializeOwned>(status: u16, body: &[u8]) -> Outcome<T> {
    if status == 200 {
        return match serde_json::from_slice(body) {
            Ok(v) => Outcome::Ok(v),
            // The server said it happened, in words we cannot read: not a failure.
            Err(_) => Outcome::info(ErrorCode::MalformedAnswer),
        };
    }
    let answer: ErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    let error = answer.error.unwrap_or_else(|| format!("http-{status}"));
    match status {
        409 | 503 => Outcome::fail(error),
        421 => Outcome::Fail(Failure {
            error,
            leader: answer.leader,
        }),
        400 | 404 | 405 | 413 | 422 => {
            tracing::warn!(status, %error, reason = ?answer.reason, "the node refused a request as nonsense");
            Outcome::fail(error)
        }
        // 504 (proposed, outcome unknown), 500 and anything unforeseen.
        _ => Outcome::info(error),
    }
}

#[derive(Deserialize)]
struct StatusAnswer {
    role: String,
    term: u64,
    leader: Option<String>,
    #[serde(default)]
    commit: Option<u64>,
    #[serde(default)]
    applied: Option<u64>,
    /// Absent, `null` or a name: present means `Some`.
    #[serde(default, deserialize_with = "checkers::explicit_null")]
    vote: Option<Option<String>>,
    #[serde(default)]
    last_index: Option<u64>,
    #[serde(default)]
    terms: Option<Vec<[u64; 2]>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: u64,
}

#[derive(Deserialize)]
struct HoldingAnswer {
    holding: bool,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct WriteAnswer {
    id: String,
    #[serde(default)]
    token: Option<u64>,
}

#[derive(Deserialize)]
struct LogAnswer {
    log: Vec<LogEntry>,
}

/// The protocol's role names; any other (raftd's `pre-candidate` and
/// `leader-without-lease`) is kept as it is and means "not leader".
pub fn role_of(name: &str) -> Role {
    match name {
        "leader" => Role::Leader,
        "follower" => Role::Follower,
        "candidate" => Role::Candidate,
        other => Role::Other(other.to_string()),
    }
}

#[async_trait]
impl Client for ProtocolClient {
    fn node(&self) -> &str {
        &self.node
    }

    async fn status(&self) -> Outcome<NodeStatus> {
        self.get::<StatusAnswer>("/status")
            .await
            .map(|s| NodeStatus {
                role: role_of(&s.role),
                term: Some(s.term),
                leader: s.leader,
                applied: s.applied,
                commit: s.commit,
                vote: s.vote,
                last_index: s.last_index,
                terms: s.terms,
            })
    }

    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        let body = serde_json::json!({"election": election, "client": client, "ttl_ms": ttl_ms});
        self.post::<_, TokenAnswer>("/acquire", &body)
            .await
            .map(|a| Grant { token: a.token })
    }

    async fn holding(&self, election: &str, token: u64) -> Outcome<bool> {
        let body = serde_json::json!({"election": election, "token": token});
        self.post::<_, HoldingAnswer>("/holding", &body)
            .await
            .map(|a| a.holding)
    }

    async fn release(&self, election: &str, token: u64) -> Outcome<()> {
        let body = serde_json::json!({"election": election, "token": token});
        self.post::<_, Empty>("/release", &body).await.map(|_| ())
    }

    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
    ) -> Outcome<Written> {
        let body = serde_json::json!({"id": id, "token": token, "election": election});
        self.post::<_, WriteAnswer>("/write", &body)
            .await
            .map(|a| Written {
                id: a.id,
                token: a.token,
            })
    }

    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        self.get::<LogAnswer>("/read").await.map(|a| a.log)
    }

    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        self.get::<LogAnswer>("/read?local=true")
            .await
            .map(|a| a.log)
    }
}
