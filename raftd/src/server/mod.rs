//! The raftd server around the sans-I/O core: the driver task that owns the core, durable
//! storage, the TCP peer transport, the HTTP client API and the wall clock.

pub mod clock;
pub mod crash;
pub mod driver;
pub mod error;
pub mod http;
pub mod pump;
pub mod read_body;
pub mod storage;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, Instrument};

use crate::core::{Message, NodeId};

use driver::{Driver, DriverError, DriverSetup, Handle, CALL_QUEUE_MAX, INBOUND_QUEUE_MAX};
use transport::{Transport, TransportStats};

/// Everything a node needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub setup: DriverSetup,
    /// Where the HTTP client API listens.
    pub listen: String,
    /// Where peers connect.
    pub peer_listen: String,
    /// Every other node's raft address.
    pub raft_addrs: Vec<(NodeId, String)>,
    /// How long an HTTP request waits for the core before it answers 504.
    pub request_timeout: Duration,
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// The bound listeners of a node, so that a caller can learn the ports before it runs.
pub struct Bound {
    pub client: TcpListener,
    pub peer: TcpListener,
}

impl Bound {
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client.local_addr().ok()
    }
}

/// Binds the client and peer listeners.
pub async fn bind(config: &ServerConfig) -> Result<Bound, ServerError> {
    let bind = |addr: String| async move {
        TcpListener::bind(addr.as_str())
            .await
            .map_err(|source| ServerError::Bind { addr, source })
    };
    Ok(Bound {
        client: bind(config.listen.clone()).await?,
        peer: bind(config.peer_listen.clone()).await?,
    })
}

/// Runs the node until the driver stops (storage failure) or the HTTP server fails.
pub async fn run(config: ServerConfig, bound: Bound) -> Result<(), ServerError> {
    let stats = Arc::new(TransportStats::default());
    let transport: Transport<Message> = Transport::start(&config.raft_addrs, stats.clone());
    let driver = Driver::open(config.setup.clone(), transport)?;

    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE_MAX);
    let (calls_tx, calls_rx) = mpsc::channel(CALL_QUEUE_MAX);
    tokio::spawn(transport::serve(bound.peer, inbound_tx, stats).in_current_span());

    let handle = Handle {
        calls: calls_tx,
        tick_ms: config.setup.core.tick_ms,
    };
    let app = http::router(http::HttpState::new(
        handle,
        config.request_timeout,
        http::READ_IN_FLIGHT_MAX,
    ));
    info!(
        client = %config.listen,
        peer = %config.peer_listen,
        "serving"
    );
    let http = std::future::IntoFuture::into_future(axum::serve(bound.client, app));
    let mut http = tokio::spawn(http.in_current_span());
    let mut driver = tokio::spawn(driver.run(calls_rx, inbound_rx).in_current_span());
    tokio::select! {
        r = &mut driver => match r {
            Ok(r) => r.map_err(ServerError::from),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        r = &mut http => match r {
            Ok(r) => r.map_err(ServerError::Http),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
    }
}
