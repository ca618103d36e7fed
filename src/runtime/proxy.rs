//! Per-pair TCP proxies for the local runtime: node i reaches node j's peer port through
//! the proxy for (i→j), so cutting that one proxy stops exactly what i sends over its
//! own connections to j. A cut proxy closes its live connections and closes every new
//! one on accept, which raftd's transport sees as message loss.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::RuntimeError;

/// Bound on connecting to the real peer port behind a proxy.
const UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 2000;
/// Bound on live connections through one pair (raftd keeps one or two per peer).
const PAIR_CONNECTIONS_MAX: usize = 64;

/// One direction of one pair: (dialer, target).
pub type Pair = (String, String);

struct PairProxy {
    port: u16,
    open: watch::Sender<bool>,
    active: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// Every pair proxy of a cluster.
pub struct ProxyMesh {
    pairs: BTreeMap<Pair, PairProxy>,
}

impl ProxyMesh {
    /// Bind a proxy on loopback for each ordered pair of distinct nodes, forwarding to the
    /// target's peer port. `nodes` is (name, peer port).
    pub async fn bind(nodes: &[(String, u16)]) -> Result<Self, RuntimeError> {
        let mut pairs = BTreeMap::new();
        for (from, _) in nodes {
            for (to, to_port) in nodes {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| RuntimeError::io("127.0.0.1:0", e))?;
                let port = listener
                    .local_addr()
                    .map_err(|e| RuntimeError::io("proxy", e))?
                    .port();
                let target: SocketAddr = ([127, 0, 0, 1], *to_port).into();
                let (open, rx) = watch::channel(true);
                let active = Arc::new(AtomicUsize::new(0));
                let task = tokio::spawn(accept_loop(listener, target, rx, active.clone()));
                pairs.insert(
                    (from.clone(), to.clone()),
                    PairProxy {
                        port,
                        open,
                        active,
                        task,
                    },
                );
            }
        }
        Ok(ProxyMesh { pairs })
    }

    /// The loopback port `from` must dial to reach `to`.
    pub fn port(&self, from: &str, to: &str) -> Option<u16> {
        self.pairs
            .get(&(from.to_string(), to.to_string()))
            .map(|p| p.port)
    }

    /// Cut exactly these pairs, open all others; returns once no cut pair carries a
    /// connection any more (bounded by `timeout`).
    pub async fn set_cut(
        &self,
        cut: &BTreeSet<Pair>,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        for (pair, p) in &self.pairs {
            p.open.send_replace(!cut.contains(pair));
        }
        super::wait_until(
            "cut proxies to drop their connections",
            timeout,
            Duration::from_millis(5),
            || async {
                cut.iter()
                    .filter_map(|c| self.pairs.get(c))
                    .all(|p| p.active.load(Ordering::SeqCst) == 0)
            },
        )
        .await
    }

    /// Whether the pair currently forwards.
    pub fn is_open(&self, from: &str, to: &str) -> bool {
        self.pairs
            .get(&(from.to_string(), to.to_string()))
            .is_some_and(|p| *p.open.borrow())
    }

    pub fn shutdown(&self) {
        for p in self.pairs.values() {
            p.open.send_replace(false);
            p.task.abort();
        }
    }
}

impl Drop for ProxyMesh {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    open: watch::Receiver<bool>,
    active: Arc<AtomicUsize>,
) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if !*open.borrow() || active.load(Ordering::SeqCst) >= PAIR_CONNECTIONS_MAX {
            drop(conn); // closed at once: to the dialer, the message is lost
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (open, active) = (open.clone(), active.clone());
        tokio::spawn(async move {
            forward(conn, target, open).await;
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copy both ways until either side closes or the pair is cut.
async fn forward(mut conn: TcpStream, target: SocketAddr, mut open: watch::Receiver<bool>) {
    let connect = tokio::time::timeout(
        Duration::from_millis(UPSTREAM_CONNECT_TIMEOUT_MS),
        TcpStream::connect(target),
    );
    let Ok(Ok(mut upstream)) = connect.await else {
        return;
    };
    let _ = conn.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream) => {}
        _ = open.wait_for(|o| !*o) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn cut_pair_closes_and_heal_forwards() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mesh = ProxyMesh::bind(&[("a".into(), 1), ("b".into(), echo_port)])
            .await
            .unwrap();
        let port = mesh.port("a", "b").unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");

        let cut = BTreeSet::from([("a".to_string(), "b".to_string())]);
        mesh.set_cut(&cut, Duration::from_secs(2)).await.unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(
            s.read(&mut buf).await.unwrap_or(0),
            0,
            "live connection closed"
        );
        let mut s2 = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = s2.write_all(b"x").await;
        assert_eq!(
            s2.read(&mut buf).await.unwrap_or(0),
            0,
            "new connection closed"
        );

        mesh.set_cut(&BTreeSet::new(), Duration::from_secs(2))
            .await
            .unwrap();
        let mut s3 = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s3.write_all(b"ok").await.unwrap();
        s3.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    }
}
