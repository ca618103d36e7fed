//! HTTP/1.1 with nothing but std: one request per connection, the answer's body parsed
//! as JSON.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// Bound on each of connecting, writing and reading in one HTTP exchange.
pub const HTTP_TIMEOUT_MS: u64 = 5_000;

/// An HTTP answer: status and body parsed as JSON (Null if it is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Asserts a refusal: this status, this error code, and a reason that says why.
#[allow(dead_code)] // not every test binary refuses anything
pub fn assert_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["error"], error, "{:?}", a.body);
    let reason = a.body["reason"].as_str().unwrap_or("");
    assert!(!reason.is_empty(), "no reason in {:?}", a.body);
}

/// Sends raw bytes as one request and reads the answer until the server closes.
pub fn exchange(addr: &str, raw: &[u8]) -> std::io::Result<Answer> {
    let timeout = Duration::from_millis(HTTP_TIMEOUT_MS);
    let sock_addr = addr.parse().expect("test addresses are IP:PORT");
    let mut s = TcpStream::connect_timeout(&sock_addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // The server may answer (413, 400) and close before reading everything. The write
    // half stays open: hyper drops a connection whose client half-closes it.
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    // A reset after an early answer still leaves the answer in `out`.
    if let Err(e) = s.read_to_end(&mut out) {
        if out.is_empty() {
            return Err(e);
        }
    }
    parse_answer(&out)
}

pub fn parse_answer(mut raw: &[u8]) -> std::io::Result<Answer> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    // Interim answers (100 Continue) come before the real one.
    while raw.starts_with(b"HTTP/1.1 1") {
        match raw.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => raw = &raw[end + 4..],
            None => break,
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let body = &raw[split + 4..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok(Answer {
        status,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let len = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if len == 0 || eol + 2 + len > b.len() {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + len]);
        b = &b[(eol + 4 + len).min(b.len())..];
    }
    out
}

/// One well-formed request with a JSON content type and `Connection: close`; an error
/// only if nothing that parses as an answer came back.
pub fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<Answer> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw)
}

/// GET that must be answered; panics naming the request if it is not.
pub fn get(addr: &str, path: &str) -> Answer {
    request(addr, "GET", path, b"").unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
}

/// POST of `body` as JSON that must be answered; panics naming the request if it is not.
pub fn post(addr: &str, path: &str, body: &Value) -> Answer {
    let bytes = serde_json::to_vec(body).unwrap();
    request(addr, "POST", path, &bytes).unwrap_or_else(|e| panic!("POST {addr}{path}: {e}"))
}
