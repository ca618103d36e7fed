//! The HTTP/JSON client API (raftd/API.md) on axum: decodes and validates requests, hands
//! them to the driver, waits a bounded time for the answer, and turns every failure,
//! axum's own rejections included, into a `{"error","reason"}` body.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use checkers::ErrorCode;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::api::{
    validate_key, AcquireRequest, AcquireResponse, ClockRequest, GrantRequest, HoldingResponse,
    ReadQuery, RegisterCasRequest, RegisterResponse, RegisterWriteRequest, ReleaseResponse,
    WriteRecord, WriteRequest, BODY_BYTES_MAX,
};
use crate::core::{Applied, FenceRefusal, Request as CoreRequest, Response as CoreResponse};

use super::driver::{Call, Handle};
use super::error::ApiError;

/// How long a request's body may take to arrive in full.
const BODY_READ_TIMEOUT_MS: u64 = 10_000;
/// `GET /read` answers in flight, from the call to the last byte sent; beyond it a read
/// gets 503 `overloaded`. Answers share one encoding of the log, so each holds little
/// beyond the connection's buffers, but a slow client holds its answer for as long as it
/// takes to read it.
pub const READ_IN_FLIGHT_MAX: usize = 256;

/// Requests whose fields can be checked for sense before they go anywhere.
pub trait Validate {
    fn validate(&self) -> Result<(), String>;
}

impl Validate for AcquireRequest {
    fn validate(&self) -> Result<(), String> {
        AcquireRequest::validate(self)
    }
}
impl Validate for GrantRequest {
    fn validate(&self) -> Result<(), String> {
        GrantRequest::validate(self)
    }
}
impl Validate for WriteRequest {
    fn validate(&self) -> Result<(), String> {
        WriteRequest::validate(self)
    }
}
impl Validate for ClockRequest {
    fn validate(&self) -> Result<(), String> {
        ClockRequest::validate(self)
    }
}
impl Validate for crate::api::CrashPointRequest {
    fn validate(&self) -> Result<(), String> {
        crate::api::CrashPointRequest::validate(self)
    }
}
/// Any `i64` is a register's value: the type is the check.
impl Validate for RegisterWriteRequest {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
impl Validate for RegisterCasRequest {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A JSON body, decoded and validated, whatever its content type says (curl's `-d`
/// sends form encoding by default; the body is what matters).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // An announced length beyond the bound is refused before any of it is read.
        let announced = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > BODY_BYTES_MAX as u64) {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("the body exceeds {BODY_BYTES_MAX} bytes"),
            ));
        }
        // A body that trickles in (or never comes) must not hold a handler forever.
        let limit = Duration::from_millis(BODY_READ_TIMEOUT_MS);
        let read = tokio::time::timeout(limit, Bytes::from_request(req, state))
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("the body did not arrive within {BODY_READ_TIMEOUT_MS} ms"),
                )
            })?;
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::TooLarge,
                    format!("the body exceeds {BODY_BYTES_MAX} bytes"),
                )
            } else {
                ApiError::new(ErrorCode::BadRequest, rejection.body_text())
            }
        })?;
        let value: T = serde_json::from_slice(&bytes).map_err(decode_error)?;
        value
            .validate()
            .map_err(|reason| ApiError::new(ErrorCode::BadRequest, reason))?;
        Ok(JsonBody(value))
    }
}

fn decode_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::new(ErrorCode::BadRequest, format!("bad field: {e}")),
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            ErrorCode::BadJson,
            format!("the body is not valid JSON: {e}"),
        ),
    }
}

/// What the handlers share: the way to the driver, how long to wait for it, and the
/// permits of reads in flight.
#[derive(Clone)]
pub struct HttpState {
    pub driver: Handle,
    pub request_timeout: Duration,
    pub reads: Arc<Semaphore>,
}

impl HttpState {
    pub fn new(driver: Handle, request_timeout: Duration, read_in_flight_max: usize) -> Self {
        HttpState {
            driver,
            request_timeout,
            reads: Arc::new(Semaphore::new(read_in_flight_max)),
        }
    }
}

/// The client API's routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/acquire", post(acquire))
        .route("/holding", post(holding))
        .route("/release", post(release))
        .route("/write", post(write))
        .route("/read", get(read))
        .route("/registers/{key}", get(register_read).put(register_write))
        .route("/registers/{key}/cas", post(register_cas))
        .route("/admin/clock", post(set_clock))
        .route("/admin/crash-point", post(set_crash_point))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no such path: {}", req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Sends `make(reply)` to the driver and waits for the answer, bounded.
async fn ask<T>(
    st: &HttpState,
    make: impl FnOnce(oneshot::Sender<T>) -> Call,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    match st.driver.calls.try_send(make(tx)) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            return Err(ApiError::new(
                ErrorCode::Overloaded,
                "too many requests are waiting; nothing was proposed",
            ))
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            return Err(ApiError::new(
                ErrorCode::ShuttingDown,
                "the node is shutting down; nothing was proposed",
            ))
        }
    }
    match tokio::time::timeout(st.request_timeout, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        // The driver stopped after taking the call: it may have proposed it.
        Ok(Err(_)) => Err(ApiError::new(
            ErrorCode::Internal,
            "the node stopped before answering; the outcome is unknown",
        )),
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "no answer within {} ms; the outcome is unknown",
                st.request_timeout.as_millis()
            ),
        )),
    }
}

/// Proposes `request` to the core and waits for its response.
async fn propose(st: &HttpState, request: CoreRequest) -> Result<CoreResponse, ApiError> {
    propose_applied(st, request).await.map(|a| a.response)
}

/// Proposes `request` to the core and waits for its response and, for a write fencing
/// refused, the rule that refused it.
async fn propose_applied(st: &HttpState, request: CoreRequest) -> Result<Applied, ApiError> {
    ask(st, |reply| Call::Propose { request, reply }).await?
}

async fn status(State(st): State<HttpState>) -> ApiResult<crate::api::StatusResponse> {
    ask(&st, |reply| Call::Status { reply }).await.map(Json)
}

async fn acquire(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<AcquireRequest>,
) -> ApiResult<AcquireResponse> {
    let ttl_ticks = st.driver.ttl_ticks(req.ttl_ms);
    let request = CoreRequest::Acquire {
        election: req.election,
        client: req.client,
        ttl_ticks,
    };
    match propose(&st, request).await? {
        CoreResponse::Acquired { token } => Ok(Json(AcquireResponse { token })),
        other => Err(unexpected_or_error(other)),
    }
}

async fn holding(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<GrantRequest>,
) -> ApiResult<HoldingResponse> {
    let request = CoreRequest::Holding {
        election: req.election,
        token: req.token,
    };
    match propose(&st, request).await? {
        CoreResponse::Holding { holding } => Ok(Json(HoldingResponse { holding })),
        other => Err(unexpected_or_error(other)),
    }
}

async fn release(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<GrantRequest>,
) -> ApiResult<ReleaseResponse> {
    let request = CoreRequest::Release {
        election: req.election,
        token: req.token,
    };
    match propose(&st, request).await? {
        CoreResponse::Released => Ok(Json(ReleaseResponse {})),
        other => Err(unexpected_or_error(other)),
    }
}

async fn write(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<WriteRequest>,
) -> ApiResult<WriteRecord> {
    let (token, election) = (req.token, req.election.clone());
    let request = CoreRequest::Write {
        id: req.id,
        token: req.token,
        election: req.election,
    };
    let applied = propose_applied(&st, request).await?;
    match applied.response {
        CoreResponse::Written { id, token } => Ok(Json(WriteRecord { id, token })),
        CoreResponse::StaleToken => Err(fence_error(token, election.as_deref(), applied.refusal)),
        other => Err(unexpected_or_error(other)),
    }
}

/// The error for a write that fencing refused, naming the rule that refused it.
fn fence_error(
    token: Option<u64>,
    election: Option<&str>,
    refusal: Option<FenceRefusal>,
) -> ApiError {
    let token = token.map_or_else(|| "(none)".to_string(), |t| t.to_string());
    let of = election.map_or_else(String::new, |e| format!(" of election {e}"));
    match refusal {
        Some(FenceRefusal::NeverGranted) => ApiError::new(
            ErrorCode::UnknownToken,
            format!(
                "token {token} was never granted{of}, so it is no token; the write did not happen"
            ),
        ),
        Some(FenceRefusal::Superseded { newest }) => {
            let mut e = ApiError::new(
                ErrorCode::StaleToken,
                format!(
                    "token {token} is stale: a write with the larger token {newest} was accepted \
                     before; the write did not happen"
                ),
            );
            e.body.token = Some(newest);
            e
        }
        Some(FenceRefusal::NotCurrentGrant { current }) => {
            let holder = current.map_or_else(
                || "no grant holds it now".to_string(),
                |c| format!("the current grant is {c}"),
            );
            let mut e = ApiError::new(
                ErrorCode::StaleToken,
                format!(
                    "token {token} is not the current grant{of} ({holder}); the write did not happen"
                ),
            );
            e.body.token = current;
            e
        }
        None => unexpected_or_error(CoreResponse::StaleToken),
    }
}

/// `GET /read`: the answer streams the driver's shared encoding of the log, and counts
/// among the reads in flight until it is sent.
async fn read(
    State(st): State<HttpState>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let Ok(permit) = st.reads.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            format!("{READ_IN_FLIGHT_MAX} reads are already in flight; nothing was read"),
        ));
    };
    let local = query.local;
    let body = ask(&st, |reply| Call::Read { local, reply }).await??;
    let json = [(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    )];
    Ok((json, Body::new(body.holding(permit))).into_response())
}

/// The register key of a path, checked, or why it is refused (422 `bad-request`).
fn register_key(path: Result<Path<String>, PathRejection>) -> Result<String, String> {
    let Path(key) = path.map_err(|e| e.body_text())?;
    validate_key(&key)?;
    Ok(key)
}

fn bad_request(reason: String) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, reason)
}

/// `GET /registers/{key}`: a linearizable read of the register.
async fn register_read(
    State(st): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<RegisterResponse> {
    let key = register_key(path).map_err(bad_request)?;
    match propose(&st, CoreRequest::RegisterRead { key }).await? {
        CoreResponse::Register { value } => Ok(Json(RegisterResponse { value })),
        other => Err(unexpected_or_error(other)),
    }
}

/// `PUT /registers/{key}`: sets the register, through the log.
async fn register_write(
    State(st): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<RegisterWriteRequest>,
) -> ApiResult<RegisterResponse> {
    let key = register_key(path).map_err(bad_request)?;
    let value = req.value;
    match propose(&st, CoreRequest::RegisterWrite { key, value }).await? {
        CoreResponse::RegisterSet => Ok(Json(RegisterResponse { value: Some(value) })),
        other => Err(unexpected_or_error(other)),
    }
}

/// `POST /registers/{key}/cas`: sets the register to `to` if it holds `from`, through the
/// log; 409 `cas-mismatch` when it holds anything else.
async fn register_cas(
    State(st): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<RegisterCasRequest>,
) -> ApiResult<RegisterResponse> {
    let key = register_key(path).map_err(bad_request)?;
    let (from, to) = (req.from, req.to);
    match propose(&st, CoreRequest::RegisterCas { key, from, to }).await? {
        CoreResponse::RegisterSet => Ok(Json(RegisterResponse { value: Some(to) })),
        other => Err(unexpected_or_error(other)),
    }
}

async fn set_crash_point(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<crate::api::CrashPointRequest>,
) -> ApiResult<crate::api::CrashPointResponse> {
    ask(&st, |reply| Call::ArmCrashPoints {
        points: req.points,
        reply,
    })
    .await
    .map(Json)
}

async fn set_clock(
    State(st): State<HttpState>,
    JsonBody(req): JsonBody<ClockRequest>,
) -> ApiResult<crate::api::ClockResponse> {
    ask(&st, |reply| Call::SetClock {
        offset_ms: req.offset_ms,
        rate: req.rate,
        reply,
    })
    .await
    .map(Json)
}

/// The error answer for a core response that is not the success a handler expects.
fn unexpected_or_error(response: CoreResponse) -> ApiError {
    match response {
        // Only writes are fenced, and `write` names the rule; this is the fallback.
        CoreResponse::StaleToken => ApiError::new(
            ErrorCode::StaleToken,
            "fencing refused the write's token; the write did not happen",
        ),
        CoreResponse::Held { holder, token } => {
            let mut e = ApiError::new(
                ErrorCode::Held,
                format!("the election is held by {holder} under token {token}"),
            );
            e.body.holder = Some(holder);
            e.body.token = Some(token);
            e
        }
        CoreResponse::NotHolder => ApiError::new(
            ErrorCode::NotHolder,
            "that token is not the election's current grant",
        ),
        CoreResponse::CasMismatch { current } => {
            let held = current.map_or_else(|| "nothing".to_string(), |v| v.to_string());
            let mut e = ApiError::new(
                ErrorCode::CasMismatch,
                format!("the register holds {held}, not the value expected; nothing changed"),
            );
            e.body.current = Some(current);
            e
        }
        CoreResponse::NotLeader { leader } => {
            let mut e = ApiError::new(
                ErrorCode::NotLeader,
                "this node lost leadership before serving the request; nothing was done",
            );
            e.body.leader = leader;
            e
        }
        // Leadership moved while the entry was in flight: it may still commit.
        CoreResponse::Dropped => ApiError::new(
            ErrorCode::Timeout,
            "leadership was lost before the proposal committed; the outcome is unknown",
        ),
        other => ApiError::new(
            ErrorCode::Internal,
            format!("the core answered {other:?} to the wrong request; the outcome is unknown"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::server::read_body::ReadBody;

    /// Bound on waiting for a released read permit to be usable again.
    const RELEASE_MS_MAX: u64 = 10_000;

    /// A driver that answers every read with 64 MiB (one shared MiB, 64 times): more than
    /// the sockets buffer, so a client that stops reading keeps its answer in flight.
    fn fake_driver() -> Handle {
        let (calls, mut rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mib = Bytes::from(vec![b' '; 1 << 20]);
            while let Some(call) = rx.recv().await {
                if let Call::Read { reply, .. } = call {
                    let _ = reply.send(Ok(ReadBody::new(vec![mib.clone(); 64])));
                }
            }
        });
        Handle { calls, tick_ms: 50 }
    }

    /// Sends `GET /read` and reads the status line only; the connection stays open.
    async fn read_status(addr: &str) -> (u16, BufReader<TcpStream>) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /read HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut s = BufReader::new(s);
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok());
        (status.unwrap_or(0), s)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_in_flight_are_bounded_until_their_answers_are_sent() {
        let st = HttpState::new(fake_driver(), Duration::from_secs(2), 1);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router(st)).await });

        let (status, slow) = read_status(&addr).await;
        assert_eq!(status, 200);
        // The slow client's answer is still being sent: the one permit is taken.
        let (status, _) = read_status(&addr).await;
        assert_eq!(status, 503);
        drop(slow);
        // The server learns of the closed connection when a write fails; then the
        // permit comes back.
        let deadline = Instant::now() + Duration::from_millis(RELEASE_MS_MAX);
        loop {
            let (status, _) = read_status(&addr).await;
            if status == 200 {
                break;
            }
            assert_eq!(status, 503);
            assert!(Instant::now() < deadline, "the permit never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
