//! raftd's HTTP API against random requests from a seeded generator: random methods,
//! paths, headers and bodies, malformed HTTP, truncated, huge and endless chunked bodies,
//! idle half-sent requests. The server must never die, must keep serving `/status`,
//! must answer nonsense with a 4xx and never a 500, and its memory must stay bounded.
//!
//! `HTTP_FUZZ_REQUESTS=N cargo test -p raftd --test http_fuzz -- --nocapture` runs more.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{exchange, rss_kib, Cluster};

const FUZZ_REQUESTS_CI: u64 = 3000;
/// The server's status and liveness are checked every this many requests.
const LIVENESS_EVERY: u64 = 100;
/// A body larger than this is "huge"; raftd's bound is 64 KiB.
const HUGE_BODY_BYTES: usize = 1 << 20;
/// An endless body is given up on after this much: the server must have cut it off.
const ENDLESS_BYTES_MAX: usize = 64 << 20;
/// Growth of raftd's resident memory the whole test may cause.
const RSS_GROWTH_KIB_MAX: u64 = 64 * 1024;

const PATHS: &[&str] = &[
    "/status",
    "/acquire",
    "/holding",
    "/release",
    "/write",
    "/read",
    "/read?local=true",
    "/admin/clock",
];
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
];
const BODIES: &[&str] = &[
    r#"{"election":"e1","client":"p1","ttl_ms":3000}"#,
    r#"{"election":"e1","token":1}"#,
    r#"{"id":"w1","token":null,"election":null}"#,
    r#"{"id":"w2"}"#,
    r#"{"offset_ms":-30000,"rate":1.0}"#,
];
const HOSTILE: &[&str] = &[
    "-1",
    "0",
    "18446744073709551616",
    "1e400",
    "null",
    "\"\"",
    "\"\\u0000\"",
    "[]",
    "{}",
    "\"\\ud800\"",
    "true",
];

/// One generated request and whether it is certainly nonsense (a 4xx is due).
struct Req {
    raw: Vec<u8>,
    nonsense: bool,
    /// Send less than announced and close: the server sees a truncated body.
    truncate: bool,
}

fn random_bytes(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random_range(0..=255u8)).collect()
}

fn path(rng: &mut ChaCha8Rng) -> (String, bool) {
    match rng.random_range(0..6) {
        0..=2 => (PATHS[rng.random_range(0..PATHS.len())].to_string(), false),
        3 => {
            let junk: String = (0..rng.random_range(1..40))
                .map(|_| char::from(rng.random_range(b'!'..=b'~')))
                .filter(|c| !matches!(c, '?' | '#' | '%'))
                .collect();
            (format!("/{junk}"), true)
        }
        4 => (
            format!("/{}", "a".repeat(rng.random_range(1000..20_000))),
            true,
        ),
        _ => {
            let base = PATHS[rng.random_range(0..PATHS.len())];
            let q = [
                "?local=maybe",
                "?x=1",
                "?local=true&local=false",
                "?%zz",
                "?local",
            ];
            (format!("{base}{}", q[rng.random_range(0..q.len())]), false)
        }
    }
}

fn body(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let base = BODIES[rng.random_range(0..BODIES.len())];
    match rng.random_range(0..6) {
        0 => base.as_bytes().to_vec(),
        1 => {
            let mut b = base.as_bytes().to_vec();
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..8);
            b
        }
        2 => {
            // A field's value replaced by a hostile one.
            let h = HOSTILE[rng.random_range(0..HOSTILE.len())];
            match base.find("\":") {
                Some(at) => {
                    let end = base[at..].find([',', '}']).map_or(base.len(), |e| at + e);
                    format!("{}{}{}", &base[..at + 2], h, &base[end..]).into_bytes()
                }
                None => base.as_bytes().to_vec(),
            }
        }
        3 => base.as_bytes()[..rng.random_range(0..base.len())].to_vec(),
        4 => {
            let n = rng.random_range(0..300);
            random_bytes(rng, n)
        }
        _ => format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
    }
}

fn headers(rng: &mut ChaCha8Rng) -> String {
    let mut h = String::new();
    for _ in 0..rng.random_range(0..4) {
        match rng.random_range(0..6) {
            0 => h.push_str("Content-Type: text/plain\r\n"),
            1 => h.push_str("X-Junk: \u{1}\u{7f}\r\n"),
            2 => h.push_str(&format!(
                "X-Big: {}\r\n",
                "v".repeat(rng.random_range(1000..100_000))
            )),
            3 => h.push_str("Expect: 100-continue\r\n"),
            4 => h.push_str("Content-Encoding: gzip\r\n"),
            _ => h.push_str("no colon here\r\n"),
        }
    }
    h
}

fn request(rng: &mut ChaCha8Rng) -> Req {
    let (path, bad_path) = path(rng);
    let known_method = rng.random_bool(0.8);
    let method = if known_method {
        METHODS[rng.random_range(0..METHODS.len())].to_string()
    } else {
        ["get", "P0ST", "", "GET GET", "\u{0}"][rng.random_range(0..5)].to_string()
    };
    let body = body(rng);
    let extra = headers(rng);
    let version = ["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "HTTX"]
        [rng.random_range(0..4usize).min(rng.random_range(0..4))];
    let truncate = rng.random_bool(0.1) && !body.is_empty();
    let announced = match rng.random_range(0..10) {
        0 => "Content-Length: -5\r\n".to_string(),
        1 => format!("Content-Length: {}\r\nContent-Length: 1\r\n", body.len()),
        2 => "Content-Length: 99999999999999999999\r\n".to_string(),
        _ => format!(
            "Content-Length: {}\r\n",
            body.len() + usize::from(truncate) * 10
        ),
    };
    let mut raw = format!(
        "{method} {path} {version}\r\nHost: x\r\n{extra}{announced}Connection: close\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let api_path = PATHS
        .iter()
        .any(|p| path.split('?').next() == p.split('?').next());
    let posts = matches!(path.split('?').next(), Some(p) if p != "/status" && p != "/read");
    let bad_body =
        posts && method == "POST" && serde_json::from_slice::<serde_json::Value>(&body).is_err();
    Req {
        raw,
        nonsense: bad_path || !api_path || !known_method || bad_body,
        truncate,
    }
}

/// Sends a request that announces more body than it sends, then closes its write half.
fn send_truncated(addr: &str, raw: &[u8]) {
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(raw);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

fn assert_serving(c: &mut Cluster, after: u64) {
    assert!(
        c.alive(0),
        "raftd died after {after} requests:\n{}",
        c.log_tail(0)
    );
    assert!(
        c.status(0).is_some(),
        "raftd stopped serving /status after {after} requests"
    );
}

#[test]
fn random_requests_get_4xx_for_nonsense_and_never_a_panic() {
    let count = std::env::var("HTTP_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FUZZ_REQUESTS_CI);
    let mut c = Cluster::start(1, &[]);
    c.wait_leader(&[0]);
    let addr = c.addr(0).to_string();
    let rss_before = rss_kib(c.pid(0));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut answered, mut four_xx, mut truncated) = (0u64, 0u64, 0u64);
    for n in 1..=count {
        let req = request(&mut rng);
        if req.truncate {
            send_truncated(&addr, &req.raw);
            truncated += 1;
        } else if let Ok(a) = exchange(&addr, &req.raw) {
            answered += 1;
            let shown = String::from_utf8_lossy(&req.raw[..req.raw.len().min(300)]).into_owned();
            assert_ne!(a.status, 500, "a 500 for {shown:?}: {:?}", a.body);
            assert!(a.status >= 200 && a.status < 600, "{}", a.status);
            if req.nonsense {
                assert!(
                    (400..500).contains(&a.status),
                    "{} for nonsense {shown:?}: {:?}",
                    a.status,
                    a.body
                );
            }
            if (400..500).contains(&a.status) {
                four_xx += 1;
            }
        }
        if n % LIVENESS_EVERY == 0 {
            assert_serving(&mut c, n);
        }
    }
    assert_serving(&mut c, count);
    let rss_after = rss_kib(c.pid(0));
    eprintln!(
        "http fuzz: {count} requests, {truncated} cut short, every other one answered ({four_xx} with a 4xx); raftd RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    // Every whole request is answered; a truncated one may be dropped unanswered.
    assert_eq!(
        answered + truncated,
        count,
        "{answered} answered, {truncated} truncated"
    );
    assert!(
        rss_after < rss_before + RSS_GROWTH_KIB_MAX,
        "RSS {rss_before} -> {rss_after} KiB"
    );
}

/// Streams a chunked body until the server stops taking it; returns bytes sent and the
/// status it answered, if any.
fn endless_chunked(addr: &str) -> (usize, Option<u16>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = "POST /write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).unwrap();
    let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
    let mut sent = 0;
    while sent < ENDLESS_BYTES_MAX {
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
        sent += 0x10000;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (sent, common::parse_answer(&out).ok().map(|a| a.status))
}

#[test]
fn huge_and_endless_bodies_are_cut_off_with_memory_bounded() {
    let mut c = Cluster::start(1, &[]);
    c.wait_leader(&[0]);
    let addr = c.addr(0).to_string();
    let pid = c.pid(0);
    let rss_before = rss_kib(pid);
    let started = Instant::now();

    // A huge body, announced.
    let mut raw =
        format!("POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE_BODY_BYTES}\r\n\r\n")
            .into_bytes();
    raw.extend(std::iter::repeat_n(b'x', HUGE_BODY_BYTES));
    let a = exchange(&addr, &raw).expect("an answer to a huge body");
    assert_eq!(a.status, 413, "{:?}", a.body);
    // An absurd announced length with a little body.
    let a = exchange(
        &addr,
        b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n{}",
    )
    .expect("an answer to an absurd length");
    assert!((400..500).contains(&a.status), "{}", a.status);

    // Endless chunked bodies, four at a time, twice.
    let mut peak = 0;
    let mut endless_sent_max = 0;
    for _ in 0..2 {
        let results: Vec<(usize, Option<u16>)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| endless_chunked(&addr))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (sent, status) in results {
            endless_sent_max = endless_sent_max.max(sent);
            assert!(
                sent < ENDLESS_BYTES_MAX,
                "raftd read {sent} bytes of an endless body"
            );
            if let Some(st) = status {
                assert_eq!(st, 413);
            }
        }
        peak = peak.max(rss_kib(pid));
    }

    // Idle connections holding half a request.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| {
            let mut s = TcpStream::connect(&addr).ok()?;
            s.write_all(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Le")
                .ok()?;
            Some(s)
        })
        .collect();
    assert_eq!(idle.len(), 200);
    peak = peak.max(rss_kib(pid));
    assert_serving(&mut c, 0);
    drop(idle);
    assert_serving(&mut c, 0);
    let rss_after = rss_kib(pid);
    eprintln!(
        "http bodies: endless bodies cut off after at most {endless_sent_max} bytes sent; \
         raftd RSS {rss_before} KiB before, peak {peak} KiB, {rss_after} KiB after ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak < rss_before + RSS_GROWTH_KIB_MAX,
        "RSS {rss_before} -> peak {peak} KiB"
    );
}

/// A body that never arrives in full is answered with a 422 (bad-request) once its time is up, and
/// the handler it held is free again.
#[test]
fn a_body_that_never_arrives_is_answered_in_bounded_time() {
    let c = Cluster::start(1, &[]);
    c.wait_leader(&[0]);
    let mut s = TcpStream::connect(c.addr(0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\"")
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).expect("an answer before the read timeout");
    let a = common::parse_answer(&buf[..n]).expect("an HTTP answer");
    assert_eq!(a.status, 422, "{:?}", a.body);
    assert!(
        a.body["reason"]
            .as_str()
            .unwrap()
            .contains("did not arrive"),
        "{:?}",
        a.body
    );
    eprintln!(
        "a stalled body was answered after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
