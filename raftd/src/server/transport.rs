//! Peer transport over TCP: length-prefixed JSON frames, one outgoing connection per peer
//! fed by a bounded queue (a message that finds it full is dropped: Raft tolerates loss),
//! reconnecting with capped exponential backoff, and incoming connections from any peer.
//!
//! Frame: `[len: u32 big-endian][len bytes of JSON]`, `len` at most [`FRAME_BYTES_MAX`].

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn, Instrument};

/// Largest frame sent or accepted, in bytes.
pub const FRAME_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Messages waiting for one peer's connection; beyond it new ones are dropped.
pub const PEER_QUEUE_MAX: usize = 1024;
/// First and largest pause between reconnection attempts, in milliseconds.
pub const RECONNECT_MS_MIN: u64 = 50;
pub const RECONNECT_MS_MAX: u64 = 1000;
/// How long a connect or a frame write may take before the connection is given up.
pub const CONNECT_TIMEOUT_MS: u64 = 1000;
pub const WRITE_TIMEOUT_MS: u64 = 2000;
/// How long sent data may go unacknowledged before the kernel drops the connection
/// (`TCP_USER_TIMEOUT`). Without it a connection that lived through a partition keeps
/// retransmitting on TCP's doubling timer: after a 4 s cut the next retransmission comes
/// 2 s or more after the heal, and an old leader without check-quorum goes on leading
/// that long beside the new one. With it the connection is dropped during the cut and a
/// new one is made within a reconnect pause of the heal.
pub const UNACKED_MS_MAX: u64 = 1000;
/// Incoming connections served at once; more wait in the accept queue.
pub const INCOMING_CONNECTIONS_MAX: usize = 64;

/// Counters a status line or a test can read.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub sent: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_unknown_peer: AtomicU64,
    pub received: AtomicU64,
    pub rejected_frames: AtomicU64,
}

/// The sending side: one queue and connection task per peer.
pub struct Transport<M> {
    queues: HashMap<String, mpsc::Sender<Vec<u8>>>,
    stats: Arc<TransportStats>,
    _message: PhantomData<fn(M)>,
}

impl<M: Serialize> Transport<M> {
    /// Starts one connection task per `(peer id, raft address)`; must run inside tokio.
    pub fn start(peers: &[(String, String)], stats: Arc<TransportStats>) -> Self {
        let mut queues = HashMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
            let span = tracing::info_span!("peer", peer = %id, addr = %addr);
            tokio::spawn(connection_loop(addr.clone(), rx, stats.clone()).instrument(span));
            queues.insert(id.clone(), tx);
        }
        Transport {
            queues,
            stats,
            _message: PhantomData,
        }
    }

    /// Queues `msg` for peer `to`; returns false if it was dropped.
    pub fn send(&self, to: &str, msg: &M) -> bool {
        let Some(queue) = self.queues.get(to) else {
            self.stats
                .dropped_unknown_peer
                .fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let frame = match encode_frame(msg) {
            Ok(f) => f,
            Err(e) => {
                warn!(to, "message not sent: {e}");
                return false;
            }
        };
        match queue.try_send(frame) {
            Ok(()) => true,
            Err(_) => {
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Encodes one frame, header included.
pub fn encode_frame<M: Serialize>(msg: &M) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec(msg).map_err(|e| format!("cannot encode: {e}"))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n <= FRAME_BYTES_MAX)
        .ok_or_else(|| format!("frame of {} bytes exceeds {FRAME_BYTES_MAX}", body.len()))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Keeps one connection to `addr` up and writes queued frames to it, until the queue's
/// sender is dropped.
async fn connection_loop(
    addr: String,
    mut rx: mpsc::Receiver<Vec<u8>>,
    stats: Arc<TransportStats>,
) {
    let mut backoff_ms = RECONNECT_MS_MIN;
    loop {
        let connect = TcpStream::connect(addr.as_str());
        let stream =
            match tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!("connect failed: {e}");
                    if !pause_or_closed(&mut rx, backoff_ms).await {
                        return;
                    }
                    backoff_ms = (backoff_ms * 2).min(RECONNECT_MS_MAX);
                    continue;
                }
                Err(_) => {
                    debug!("connect timed out");
                    backoff_ms = (backoff_ms * 2).min(RECONNECT_MS_MAX);
                    continue;
                }
            };
        let _ = stream.set_nodelay(true);
        if let Err(e) = socket2::SockRef::from(&stream)
            .set_tcp_user_timeout(Some(Duration::from_millis(UNACKED_MS_MAX)))
        {
            warn!("TCP_USER_TIMEOUT not set: {e}");
        }
        debug!("connected");
        backoff_ms = RECONNECT_MS_MIN;
        match write_frames(stream, &mut rx, &stats).await {
            Ok(()) => return,
            Err(e) => debug!("connection lost: {e}"),
        }
    }
}

/// Sleeps `ms` while discarding what is queued (those messages would be stale by the time
/// a connection exists); false once the queue is closed.
async fn pause_or_closed(rx: &mut mpsc::Receiver<Vec<u8>>, ms: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return true,
            frame = rx.recv() => if frame.is_none() { return false },
        }
    }
}

/// Writes frames until the queue closes (Ok) or the connection fails (Err).
async fn write_frames(
    stream: TcpStream,
    rx: &mut mpsc::Receiver<Vec<u8>>,
    stats: &TransportStats,
) -> std::io::Result<()> {
    let mut writer = BufWriter::new(stream);
    let write_timeout = Duration::from_millis(WRITE_TIMEOUT_MS);
    while let Some(frame) = rx.recv().await {
        let batch = async {
            writer.write_all(&frame).await?;
            let mut n = 1u64;
            // Drain what is already queued before flushing, to write in fewer syscalls.
            while let Ok(more) = rx.try_recv() {
                writer.write_all(&more).await?;
                n += 1;
            }
            writer.flush().await?;
            Ok::<u64, std::io::Error>(n)
        };
        match tokio::time::timeout(write_timeout, batch).await {
            Ok(Ok(n)) => {
                stats.sent.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "write timed out",
                ))
            }
        }
    }
    Ok(())
}

/// Accepts peer connections forever and forwards every decoded message to `inbound`.
pub async fn serve<M>(listener: TcpListener, inbound: mpsc::Sender<M>, stats: Arc<TransportStats>)
where
    M: DeserializeOwned + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(INCOMING_CONNECTIONS_MAX));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(RECONNECT_MS_MIN)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        info!(%from, "peer connected");
        let inbound = inbound.clone();
        let stats = stats.clone();
        let span = tracing::debug_span!("incoming", %from);
        tokio::spawn(
            async move {
                if let Err(e) = read_frames(stream, inbound, &stats).await {
                    debug!("incoming connection closed: {e}");
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
}

/// Reads frames until the connection ends, a frame is oversized, or the driver is gone.
async fn read_frames<M: DeserializeOwned>(
    mut stream: TcpStream,
    inbound: mpsc::Sender<M>,
    stats: &TransportStats,
) -> std::io::Result<()> {
    let mut body = Vec::new();
    loop {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let len = u32::from_be_bytes(header);
        if len > FRAME_BYTES_MAX {
            stats.rejected_frames.fetch_add(1, Ordering::Relaxed);
            warn!(len, "frame too large; closing the connection");
            return Ok(());
        }
        body.resize(len as usize, 0);
        stream.read_exact(&mut body).await?;
        match serde_json::from_slice::<M>(&body) {
            Ok(msg) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                if inbound.send(msg).await.is_err() {
                    return Ok(());
                }
            }
            Err(e) => {
                stats.rejected_frames.fetch_add(1, Ordering::Relaxed);
                warn!("undecodable frame dropped: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_cross_and_garbage_is_survived() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, mut rx) = mpsc::channel::<Vec<u32>>(16);
        let stats = Arc::new(TransportStats::default());
        tokio::spawn(serve(listener, tx, stats.clone()));

        // A stranger's garbage: an undecodable frame, then an oversized header.
        let mut raw = TcpStream::connect(&addr).await.unwrap();
        raw.write_all(&[0, 0, 0, 3, b'x', b'y', b'z'])
            .await
            .unwrap();
        raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();

        let out: Transport<Vec<u32>> = Transport::start(
            &[("n2".into(), addr.clone())],
            Arc::new(TransportStats::default()),
        );
        assert!(out.send("n2", &vec![1, 2, 3]));
        assert!(!out.send("n9", &vec![4]));
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![1, 2, 3]);
        // The stranger's connection is served beside the peer's, in no set order: its
        // garbage may be read after the good message arrived.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while stats.rejected_frames.load(Ordering::Relaxed) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the garbage was never rejected"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
