//! `splitbrain::conform` against raftd, the reference implementation, and against raftd
//! behind a proxy that breaks one rule of the protocol.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use splitbrain::conform::{exercise, Claims, Node, Report, Settings};
use workloads::FencingMode;

/// Three raftd processes on loopback, killed when this drops.
struct Raftd {
    children: Vec<Child>,
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl Raftd {
    fn start() -> Raftd {
        let binary = workloads::raftd::find_binary().expect("the raftd binary");
        let dir = tempfile::tempdir().unwrap();
        let n = 3;
        let ports = raftd::ports::loopback_ports(2 * n).expect("free loopback ports");
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let client = |i: usize| format!("127.0.0.1:{}", ports[2 * i]);
        let peer = |i: usize| format!("127.0.0.1:{}", ports[2 * i + 1]);
        let mut raftd = Raftd {
            children: Vec::new(),
            nodes: Vec::new(),
            dir,
        };
        for i in 0..n {
            let mut cmd = Command::new(&binary);
            cmd.arg("--id")
                .arg(&names[i])
                .arg("--data-dir")
                .arg(raftd.dir.path().join(&names[i]))
                .args(["--listen", &client(i), "--peer-listen", &peer(i)])
                .args(["--request-timeout-ms", "2000", "--fence-on-grant"]);
            for (j, name) in names.iter().enumerate() {
                cmd.arg("--peer")
                    .arg(format!("{name}={}/{}", peer(j), client(j)));
            }
            let log =
                std::fs::File::create(raftd.dir.path().join(format!("{}.log", names[i]))).unwrap();
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
            raftd.children.push(cmd.spawn().expect("raftd starts"));
            raftd.nodes.push(Node {
                name: names[i].clone(),
                base_url: format!("http://{}", client(i)),
            });
        }
        raftd
    }
}

impl Drop for Raftd {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn claims(fencing: FencingMode) -> Claims {
    Claims {
        locks: true,
        read_local: true,
        vote: true,
        fencing,
        exclusive_leadership: false,
    }
}

fn settings() -> Settings {
    Settings {
        request_timeout: Duration::from_secs(2),
        leader_wait: Duration::from_secs(30),
    }
}

fn endpoints(report: &Report) -> Vec<&str> {
    let mut all: Vec<&str> = report.checks.iter().map(|c| c.endpoint.as_str()).collect();
    all.dedup();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raftd_conforms_to_the_protocol() {
    let cluster = Raftd::start();
    let report = exercise(&cluster.nodes, &claims(FencingMode::Grant), &settings()).await;
    assert!(report.conforms(), "{}", report.to_text());
    for endpoint in [
        "/status",
        "/write",
        "/read",
        "/read?local=true",
        "/acquire",
        "/holding",
        "/release",
        "(unknown path)",
    ] {
        assert!(
            endpoints(&report).contains(&endpoint),
            "{endpoint} unchecked:\n{}",
            report.to_text()
        );
    }
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("fencing grant:")),
        "{names:?}"
    );

    // The same cluster fences writes too; a claim of write fencing is checked as such.
    let report = exercise(&cluster.nodes, &claims(FencingMode::Write), &settings()).await;
    assert!(report.conforms(), "{}", report.to_text());
    assert!(report
        .checks
        .iter()
        .any(|c| c.name.starts_with("fencing write:")));

    // What is not claimed is not exercised.
    let bare = Claims {
        locks: false,
        read_local: false,
        vote: false,
        fencing: FencingMode::None,
        exclusive_leadership: false,
    };
    let report = exercise(&cluster.nodes, &bare, &settings()).await;
    assert!(report.conforms(), "{}", report.to_text());
    for unclaimed in ["/acquire", "/holding", "/release", "/read?local=true"] {
        assert!(
            !endpoints(&report).contains(&unclaimed),
            "{}",
            report.to_text()
        );
    }
}

/// What a proxy in front of a node does wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A 200 to `/holding` always says `{"holding":true}`.
    HoldingAlwaysTrue,
    /// The first request to each path is forwarded, then answered 504 `timeout`; the
    /// second is answered 503 `overloaded` without being forwarded: what a busy node
    /// may do, all within the protocol.
    Busy,
}

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    target: String,
    fault: Fault,
    seen: Arc<Mutex<HashMap<String, u32>>>,
}

/// A proxy to `target` with `fault`; returns its base URL.
async fn proxy(target: String, fault: Fault) -> String {
    let state = Proxy {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        target,
        fault,
        seen: Arc::default(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn forward(State(proxy): State<Proxy>, method: Method, uri: Uri, body: Bytes) -> Response {
    let json = [("content-type", "application/json")];
    let turn = {
        let mut seen = proxy.seen.lock().unwrap();
        let n = seen.entry(format!("{method} {}", uri.path())).or_default();
        *n += 1;
        *n
    };
    if proxy.fault == Fault::Busy && turn == 2 {
        let body = r#"{"error":"overloaded","reason":"injected"}"#;
        return (StatusCode::SERVICE_UNAVAILABLE, json, body).into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let answer = proxy
        .http
        .request(method, format!("{}{path}", proxy.target))
        .body(body.to_vec())
        .send()
        .await;
    let Ok(answer) = answer else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let body = answer.bytes().await.unwrap_or_default().to_vec();
    match proxy.fault {
        Fault::HoldingAlwaysTrue if uri.path() == "/holding" && status == StatusCode::OK => {
            (status, json, r#"{"holding":true}"#).into_response()
        }
        Fault::Busy if turn == 1 => {
            let body = r#"{"error":"timeout","reason":"injected"}"#;
            (StatusCode::GATEWAY_TIMEOUT, json, body).into_response()
        }
        _ => (status, json, body).into_response(),
    }
}

async fn behind_proxies(cluster: &Raftd, fault: Fault) -> Vec<Node> {
    let mut proxied = Vec::new();
    for node in &cluster.nodes {
        proxied.push(Node {
            name: node.name.clone(),
            base_url: proxy(node.base_url.clone(), fault).await,
        });
    }
    proxied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcomes_and_busy_answers_are_retried_not_failed() {
    let cluster = Raftd::start();
    let proxied = behind_proxies(&cluster, Fault::Busy).await;
    let report = exercise(&proxied, &claims(FencingMode::Grant), &settings()).await;
    assert!(report.conforms(), "{}", report.to_text());
    let decided_by = |name: &str| {
        let check = report.checks.iter().find(|c| c.name.starts_with(name));
        check.and_then(|c| c.exchange.clone()).expect(name)
    };
    // The first write's outcome was unknown: the write that counted had a fresh id.
    let write = decided_by("the leader accepts a write");
    assert!(
        !write.body.unwrap().contains("-0\""),
        "{}",
        report.to_text()
    );
    // The first release went through unseen; the retry found it done.
    let release = decided_by("release of the current grant");
    assert_eq!(release.status, Some(409), "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holding_that_outlives_its_release_fails_exactly_that_check() {
    let cluster = Raftd::start();
    let proxied = behind_proxies(&cluster, Fault::HoldingAlwaysTrue).await;
    let report = exercise(&proxied, &claims(FencingMode::Grant), &settings()).await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{}", report.to_text());
    let failure = failures[0];
    assert_eq!(failure.endpoint, "/holding");
    assert_eq!(failure.name, "holding of a released grant is false");
    let exchange = failure.exchange.as_ref().expect("the exchange");
    assert_eq!(
        (exchange.method.as_str(), exchange.path.as_str()),
        ("POST", "/holding")
    );
    assert_eq!(exchange.status, Some(200));
    assert_eq!(exchange.answer.as_deref(), Some(r#"{"holding":true}"#));
    let text = report.to_text();
    assert!(
        text.contains("FAIL  holding of a released grant is false"),
        "{text}"
    );
    assert!(text.contains("answer:  200 {\"holding\":true}"), "{text}");
    assert!(!report.conforms());
    assert_eq!(report.to_json()["conforms"], false);
}
