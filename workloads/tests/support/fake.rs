//! A one-request-at-a-time HTTP server on 127.0.0.1 that answers as scripted, to test
//! how a client maps answers and transport failures onto outcomes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with each request it reads.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Answers with this status and JSON body.
    Answer(u16, String),
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// Reads the request and closes the connection without a word.
    Close,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    /// The request lines and bodies received, in order.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start(behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                let behaviour = behaviour.clone();
                let seen = Arc::clone(&seen);
                if let Some(stream) = serve(stream, behaviour, seen).await {
                    held.push(stream);
                }
            }
        });
        FakeServer {
            addr,
            requests,
            task,
        }
    }
}

/// Serves one connection; returns it when it must be kept open (hanging).
async fn serve(
    mut stream: TcpStream,
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<(String, String)>>>,
) -> Option<TcpStream> {
    let (head, body) = read_request(&mut stream).await?;
    seen.lock()
        .unwrap()
        .push((head.lines().next().unwrap_or("").to_string(), body));
    match behaviour {
        Behaviour::Answer(status, body) => {
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            None
        }
        Behaviour::Hang => Some(stream),
        Behaviour::Close => None,
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    Some((head, body))
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
