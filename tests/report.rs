//! Integration tests of reports: timeline.html from a synthetic results directory, the
//! results index, `splitbrain serve`, and the page loading in headless Chromium.
//!
//! The million-op load test is ignored by default; run it with
//! `cargo test --release --test report -- --ignored --nocapture`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_splitbrain");
const NODES: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
/// Every fault cycle: the fault starts at 0.5 of it and is undone at 0.75.
const FAULT_PERIOD_NS: u64 = 2_000_000_000;

/// A small deterministic generator (xorshift), so a failing test sees the same data again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the generator wrote, for the assertions.
struct Synthetic {
    dir: PathBuf,
    ops: usize,
}

/// Leader and term in the fault cycle containing `t`: each fault elects a new leader.
fn leader_at(t: u64) -> (&'static str, u64) {
    let epoch = (t + FAULT_PERIOD_NS / 2) / FAULT_PERIOD_NS;
    (NODES[(epoch % 5) as usize], epoch + 1)
}

/// Writes a results directory `root/name` with `ops` client operations by `clients`
/// processes, a nemesis cycling through partition, pause, kill and clock faults, a
/// final read, test.json and a results.json whose anomalies point at real ops.
fn synthetic_run(root: &Path, name: &str, ops: usize, clients: u64) -> Synthetic {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // (time, sequence, line without its index): merged by time, then indexed.
    let mut lines: Vec<(u64, u64, String)> = Vec::with_capacity(ops * 2 + 64);
    let mut seq = 0u64;
    let mut push = |lines: &mut Vec<(u64, u64, String)>, t: u64, rest: String| {
        seq += 1;
        lines.push((t, seq, rest));
    };
    let per_client = ops as u64 / clients;
    // Small runs still span several fault cycles.
    let gap_ns_max = (20_000_000_000 / per_client.max(1)).max(400_000);
    let mut end_time = 0u64;
    let mut acked: Vec<String> = Vec::new();
    for c in 0..clients {
        let mut process = c;
        let mut t = 1_000_000 + c * 37_000;
        for n in 0..per_client {
            t += rng.below(gap_ns_max);
            let (leader, term) = leader_at(t);
            let node = NODES[rng.below(5) as usize];
            let faulted = (t % FAULT_PERIOD_NS) > FAULT_PERIOD_NS / 2
                && (t % FAULT_PERIOD_NS) < FAULT_PERIOD_NS * 3 / 4;
            let latency = 200_000 + rng.below(if faulted { 40_000_000 } else { 4_000_000 });
            let roll = rng.below(100);
            let outcome = if roll < if faulted { 80 } else { 96 } {
                "ok"
            } else if roll < 98 {
                "fail"
            } else {
                "info"
            };
            let (f, inv, done) = match rng.below(10) {
                0..=3 => {
                    let role = if node == leader {
                        "leader"
                    } else if rng.below(20) == 0 {
                        "candidate"
                    } else {
                        "follower"
                    };
                    (
                        "status",
                        "null".to_string(),
                        format!(r#"{{"role":"{role}","term":{term},"leader":"{leader}"}}"#),
                    )
                }
                4..=7 => {
                    let v = format!(r#"{{"id":"w{c}-{n}","token":{term}}}"#);
                    if outcome == "ok" {
                        acked.push(format!("w{c}-{n}"));
                    }
                    ("write", v.clone(), v)
                }
                8 => (
                    "read",
                    "null".to_string(),
                    r#"{"ids":["w0-0","w1-0"]}"#.to_string(),
                ),
                _ => (
                    "acquire",
                    r#"{"election":"e"}"#.to_string(),
                    format!(r#"{{"token":{term}}}"#),
                ),
            };
            push(
                &mut lines,
                t,
                format!(
                    r#""time":{t},"process":{process},"type":"invoke","f":"{f}","node":"{node}","value":{inv}}}"#
                ),
            );
            t += latency;
            let (value, error) = match outcome {
                "ok" => (done, String::new()),
                "fail" => ("null".to_string(), r#","error":"not-leader""#.to_string()),
                _ => ("null".to_string(), r#","error":"timeout""#.to_string()),
            };
            push(
                &mut lines,
                t,
                format!(
                    r#""time":{t},"process":{process},"type":"{outcome}","f":"{f}","node":"{node}","value":{value}{error}}}"#
                ),
            );
            if outcome == "info" {
                process += clients;
            }
        }
        end_time = end_time.max(t);
    }
    let faults = [
        (
            "partition",
            r#"{"groups":[["n1","n2"],["n3","n4","n5"]]}"#,
            "heal",
            "null",
        ),
        (
            "pause",
            r#"{"nodes":["n2"]}"#,
            "resume",
            r#"{"nodes":["n2"]}"#,
        ),
        (
            "kill",
            r#"{"nodes":["n3","n4"]}"#,
            "start",
            r#"{"nodes":["n3","n4"]}"#,
        ),
        (
            "clock",
            r#"{"offsets_ms":{"n1":30000}}"#,
            "clock-reset",
            "null",
        ),
    ];
    let mut t = FAULT_PERIOD_NS / 2;
    let mut k = 0;
    while t + FAULT_PERIOD_NS / 4 < end_time {
        let (f, v, undo, uv) = faults[k % faults.len()];
        for (f, v, at) in [(f, v, t), (undo, uv, t + FAULT_PERIOD_NS / 4)] {
            push(
                &mut lines,
                at,
                format!(
                    r#""time":{at},"process":"nemesis","type":"invoke","f":"{f}","value":{v}}}"#
                ),
            );
            let done = at + 1_000_000;
            push(
                &mut lines,
                done,
                format!(r#""time":{done},"process":"nemesis","type":"ok","f":"{f}","value":{v}}}"#),
            );
        }
        t += FAULT_PERIOD_NS;
        k += 1;
    }
    let fin = end_time + 10_000_000;
    let ids = acked
        .iter()
        .skip(1)
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(",");
    push(
        &mut lines,
        fin,
        format!(
            r#""time":{fin},"process":{clients},"type":"invoke","f":"read","node":"n1","value":null}}"#
        ),
    );
    push(
        &mut lines,
        fin + 5_000_000,
        format!(
            r#""time":{},"process":{clients},"type":"ok","f":"read","node":"n1","value":{{"ids":[{ids}]}}}}"#,
            fin + 5_000_000
        ),
    );
    lines.sort_by_key(|(t, s, _)| (*t, *s));
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl")).unwrap());
    let mut lost = None;
    let mut leaders = Vec::new();
    for (i, (_, _, rest)) in lines.iter().enumerate() {
        writeln!(out, "{{\"index\":{i},{rest}").unwrap();
        if lost.is_none()
            && rest.contains(&format!("\"value\":{{\"id\":\"{}\"", acked[0]))
            && rest.contains("\"type\":\"ok\"")
        {
            lost = Some(i);
        }
        if leaders.len() < 2
            && rest.contains("\"role\":\"leader\"")
            && rest.contains(&format!("\"node\":\"{}\"", NODES[leaders.len()]))
        {
            leaders.push(i);
        }
    }
    out.flush().unwrap();
    let last = lines.len() - 1;
    let lost = lost.expect("an acknowledged write");
    let results = format!(
        r#"{{"valid":false,"checkers":{{"election-safety":{{"valid":true}},"lost-writes":{{"valid":false}},"concurrent-leaders":{{"valid":true}}}},
            "anomalies":[{{"kind":"lost-write","checker":"lost-writes","severity":"violation","ops":[{lost},{last}],
                           "message":"write {} acknowledged at op {lost} is missing from the final read at op {last}"}},
                          {{"kind":"not-linearizable","checker":"lock-model","severity":"violation","ops":[{lost},{last}],
                           "message":"election e1: no single lock could have answered these","linearizable_through":{lost}}},
                          {{"kind":"dual-leadership","checker":"concurrent-leaders","severity":"observation","ops":[{},{}],
                           "message":"n1 and n2 both acted as leader"}}],
            "availability":{{"ok":1}}}}"#,
        acked[0], leaders[0], leaders[1]
    );
    std::fs::write(dir.join("results.json"), results).unwrap();
    std::fs::write(
        dir.join("test.json"),
        // The shape the run command writes: the configuration under `spec`.
        r#"{"started_at":"2026-01-01T00:00:00Z","command":"splitbrain run --seed 42","seed":42,
            "spec":{"system":"raftd","nodes":5,"nemesis":"partition,pause,kill,clock","concurrency":16},
            "guarantees":{"exclusive_leadership":false,"fence_on_grant":true},"runtime":{"name":"docker","reason":"default"}}"#,
    )
    .unwrap();
    Synthetic {
        dir,
        ops: lines.len() / 2,
    }
}

fn report(dir: &Path, root: &Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "report",
            dir.to_str().unwrap(),
            "--results",
            root.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn report_writes_a_self_contained_timeline_and_the_index() {
    let root = tempfile::tempdir().unwrap();
    let run = synthetic_run(root.path(), "20260101T000000Z-raftd-partition-42", 2_000, 6);
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(run.dir.join("timeline.html")).unwrap();
    for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(external),
            "timeline.html references {external}"
        );
    }
    assert!(html.contains("id=\"sb-meta\"") && html.contains("id=\"sb-data\""));
    let meta = script_json(&html, "sb-meta");
    assert_eq!(meta["ops"].as_u64().unwrap() as usize, run.ops);
    assert_eq!(meta["anomalies_total"], 3);
    let lost = &meta["anomalies"][0];
    // A refuted lock history carries where its longest linearizable prefix ends, as a
    // time the page draws its line at.
    let refuted = &meta["anomalies"][1];
    assert_eq!(refuted["kind"], "not-linearizable");
    let until = refuted["linearizable_until"].as_u64().expect("a time");
    let (t0, t1) = (lost["t0"].as_u64().unwrap(), lost["t1"].as_u64().unwrap());
    assert!(t0 <= until && until <= t1, "{t0} <= {until} <= {t1}");
    assert!(meta["anomalies"][2]["linearizable_until"].is_null());
    assert_eq!(lost["kind"], "lost-write");
    assert!(lost["lines"][0]["text"]
        .as_str()
        .unwrap()
        .contains("\"type\":\"ok\""));
    assert!(lost["lines"][0]["ord"].as_i64().unwrap() >= 0);
    assert!(lost["t0"].as_u64().is_some());
    assert!(meta["faults"].as_array().unwrap().len() >= 4);
    let kinds: Vec<&str> = meta["failover"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["partition", "pause", "kill", "clock"]);
    assert!(meta["node_lanes"].as_array().unwrap().len() == 5);
    let index = std::fs::read_to_string(root.path().join("index.html")).unwrap();
    assert!(index.contains("20260101T000000Z-raftd-partition-42/timeline.html"));
    assert!(index.contains("class=\"invalid\""));
    assert!(
        index.contains("<td>raftd</td><td>partition,pause,kill,clock</td><td>42</td>"),
        "{index}"
    );
}

#[test]
fn report_of_a_malformed_history_names_the_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("bad");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("history.jsonl"),
        "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"time\":2,\"process\":0,\"type\":\"maybe\",\"f\":\"read\"}\n",
    )
    .unwrap();
    let out = report(&dir, root.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(!dir.join("timeline.html").exists());
}

#[test]
fn report_does_not_write_through_a_planted_temporary_link() {
    let root = tempfile::tempdir().unwrap();
    let run = synthetic_run(root.path(), "run-1", 200, 2);
    let victim = root.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    // The name the report wrote its temporary page under before.
    let planted = run.dir.join("timeline.html.tmp");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = std::fs::read_to_string(&victim).unwrap();
    assert!(
        kept == "keep",
        "the report wrote through {}",
        planted.display()
    );
    assert!(std::fs::symlink_metadata(run.dir.join("timeline.html"))
        .unwrap()
        .is_file());
    let temporaries: Vec<String> = std::fs::read_dir(&run.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "timeline.html.tmp")
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}

/// The JSON inside `<script id=ID>`.
fn script_json(html: &str, id: &str) -> serde_json::Value {
    let open = format!("id=\"{id}\">");
    let start = html.find(&open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A child process killed (by its own handle) when dropped, so a failed assertion
/// leaves nothing running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `request` as it is and reads the whole response (the server closes after one).
fn http_raw(addr: &str, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    if let Err(e) = s.read_to_end(&mut response) {
        let line = request.lines().next().unwrap_or("");
        panic!("{addr}: no whole answer to {line} within 10 s: {e}");
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn http_get(addr: &str, target: &str) -> (u16, String) {
    http_raw(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
}

/// A response header's value, by lower-case name.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = &response[..response.find("\r\n\r\n")?];
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `splitbrain serve` on a free port of 127.0.0.1, killed when dropped.
struct Server {
    addr: String,
    _child: Reaped,
}

fn serve(root: &Path) -> Server {
    let child = Command::new(BIN)
        .args(["serve", "--port", "0", "--results", root.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.split_whitespace().last().unwrap().to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    Server {
        addr,
        _child: child,
    }
}

/// A results root holding one reported run, `run-1`.
fn served_root(tmp: &Path) -> PathBuf {
    let root = tmp.join("results");
    std::fs::create_dir(&root).unwrap();
    let run = synthetic_run(&root, "run-1", 200, 2);
    assert!(report(&run.dir, &root).status.success());
    root
}

/// Asserts that a plain request is answered, and within `bound`.
fn assert_answers_within(addr: &str, bound: Duration) {
    let started = Instant::now();
    let (status, body) = http_get(addr, "/run-1/test.json");
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(took < bound, "a plain request took {took:?}");
}

#[test]
fn serve_answers_on_localhost_and_refuses_traversal() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    let root = served_root(tmp.path());
    std::os::unix::fs::symlink("/dev/null", root.join("run-1/null")).unwrap();
    let server = serve(&root);
    let addr = server.addr.as_str();
    let (status, body) = http_get(addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains("./run-1/timeline.html"), "{body}");
    let (status, body) = http_get(addr, "/run-1/timeline.html");
    assert_eq!(status, 200);
    assert!(body.contains("sb-meta"));
    assert_eq!(header(&body, "x-content-type-options"), Some("nosniff"));
    assert!(
        header(&body, "content-security-policy").is_some_and(|p| p.contains("default-src 'none'"))
    );
    assert_eq!(http_get(addr, "/run-1").0, 301);
    for bad in [
        "/../secret.txt",
        "/run-1/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/run-1/null",
    ] {
        let (status, body) = http_get(addr, bad);
        assert_eq!(status, 403, "{bad}");
        assert!(!body.contains("secret\n") && !body.ends_with("secret"));
    }
    assert_eq!(http_get(addr, "/nothing-here").0, 404);
    let (status, head) = http_raw(
        addr,
        &format!("HEAD /run-1/test.json HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    assert_eq!(status, 200);
    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    assert_eq!(
        len,
        std::fs::metadata(root.join("run-1/test.json"))
            .unwrap()
            .len() as usize
    );
    assert!(head.ends_with("\r\n\r\n"), "HEAD sent a body: {head}");
}

#[test]
fn serve_redirects_to_paths_on_itself_only() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(&served_root(tmp.path()));
    for (from, to) in [
        ("//run-1", "/run-1/"),
        ("/run-1", "/run-1/"),
        ("//run-1//test.json", "/run-1/test.json"),
    ] {
        let (status, response) = http_get(&server.addr, from);
        assert_eq!(status, 301, "{from}: {response}");
        assert_eq!(header(&response, "location"), Some(to), "{from}");
    }
}

#[test]
fn serve_answers_only_to_its_own_address() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(&served_root(tmp.path()));
    let addr = server.addr.as_str();
    let port = addr.rsplit(':').next().unwrap();
    let get = |host: &str| {
        http_raw(
            addr,
            &format!("GET /run-1/test.json HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        )
        .0
    };
    assert_eq!(get(addr), 200);
    assert_eq!(get(&format!("localhost:{port}")), 200);
    // A page of another site whose name was rebound to 127.0.0.1 sends its own name.
    for host in [
        format!("rebound.example:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", port.parse::<u16>().unwrap().wrapping_add(1)),
    ] {
        assert_eq!(get(&host), 421, "{host}");
    }
    assert_eq!(
        http_raw(addr, "GET /run-1/test.json HTTP/1.0\r\n\r\n").0,
        421
    );
}

#[test]
fn serve_refuses_a_root_that_is_not_a_results_directory() {
    let empty = tempfile::tempdir().unwrap();
    for (root, why) in [
        (Path::new("/"), "file system's root"),
        (empty.path(), "not a results directory"),
    ] {
        let mut child = Reaped(
            Command::new(BIN)
                .args(["serve", "--port", "0", "--results", root.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "serve {} started serving",
                root.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn serve_is_not_stalled_by_clients_that_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = served_root(tmp.path());
    // Far more than the socket buffers of a connection hold: its sender must wait.
    let big = std::fs::File::create(root.join("run-1/big.jsonl")).unwrap();
    big.set_len(256 << 20).unwrap();
    let server = serve(&root);
    let stalled: Vec<std::net::TcpStream> = (0..64)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
            write!(
                s,
                "GET /run-1/big.jsonl HTTP/1.1\r\nHost: {}\r\n\r\n",
                server.addr
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_answers_within(&server.addr, Duration::from_secs(3));
    drop(stalled);
}

#[test]
fn serve_answers_requests_for_a_fifo_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = served_root(tmp.path());
    nix::unistd::mkfifo(&root.join("run-1/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let server = serve(&root);
    let started = Instant::now();
    let askers: Vec<_> = (0..64)
        .map(|_| {
            let addr = server.addr.clone();
            std::thread::spawn(move || http_get(&addr, "/run-1/pipe").0)
        })
        .collect();
    for asker in askers {
        assert_eq!(asker.join().unwrap(), 403);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_answers_within(&server.addr, Duration::from_secs(3));
}

#[test]
fn serve_answers_while_hundreds_of_requests_are_half_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(&served_root(tmp.path()));
    let half_sent: Vec<std::net::TcpStream> = (0..500)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
            write!(
                s,
                "GET /run-1/test.json HTTP/1.1\r\nHost: {}\r\nX-Slow: 1",
                server.addr
            )
            .unwrap();
            s
        })
        .collect();
    assert_answers_within(&server.addr, Duration::from_secs(2));
    // The server itself closes a connection whose request head does not come in time.
    let mut first = &half_sent[0];
    first
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = first.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a half-sent request was kept {:?}",
        started.elapsed()
    );
}

// ---- headless Chromium ----

/// Chromium's binary: $SPLITBRAIN_CHROMIUM, or chromium on the PATH. Without one the
/// browser tests are skipped, except in CI where they must run.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPLITBRAIN_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium for the timeline tests"
        );
        eprintln!("skipped: no chromium");
    }
    found
}

/// Bound on one Chromium invocation; a hung browser fails the test instead of CI.
const CHROMIUM_TIMEOUT_S: u64 = 240;

/// What one headless Chromium run printed.
struct BrowserRun {
    stdout: String,
    /// The page's console messages, each with the time since the browser was started.
    console: Vec<(Duration, String)>,
    elapsed: Duration,
}

/// Runs headless Chromium on `page` (with a URL `fragment`, "" for none) and `extra`
/// flags, console messages logged to stderr.
fn run_chromium(browser: &Path, page: &Path, fragment: &str, extra: &[&str]) -> BrowserRun {
    let profile = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1400,900")
        .args(extra)
        .arg(format!("file://{}{fragment}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let mut stdout = child.0.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let stderr = BufReader::new(child.0.stderr.take().unwrap());
    let console = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains(":CONSOLE"))
            .map(|l| (started.elapsed(), l))
            .collect::<Vec<_>>()
    });
    let deadline = started + Duration::from_secs(CHROMIUM_TIMEOUT_S);
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "chromium did not finish within {CHROMIUM_TIMEOUT_S} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    BrowserRun {
        stdout: stdout.join().unwrap(),
        console: console.join().unwrap(),
        elapsed,
    }
}

/// The `<body>` start tag of a dumped DOM, where the page leaves its markers.
fn body_tag(dom: &str) -> &str {
    let start = dom.find("<body").expect("a body in the dumped DOM");
    &dom[start..start + dom[start..].find('>').unwrap()]
}

/// Loads the page, asserts it reports ready without errors (in its DOM and on the
/// console), and returns the wall time from the browser's start to the page's ready
/// message.
fn assert_page_loads(browser: &Path, page: &Path, fragment: &str) -> Duration {
    let run = run_chromium(
        browser,
        page,
        fragment,
        &["--dump-dom", "--virtual-time-budget=120000"],
    );
    let dom = &run.stdout;
    assert!(
        dom.contains("<title>splitbrain timeline: ready</title>"),
        "not ready: {}",
        &dom[..dom.len().min(3000)]
    );
    let body = body_tag(dom);
    assert!(
        !body.contains("data-errors"),
        "page errors: {}",
        dom.split("sb-errors").nth(1).unwrap_or("")
    );
    assert!(body.contains("data-ready=\"1\""), "{body}");
    let errors: Vec<&String> = run
        .console
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("Uncaught") || l.contains("rror"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let ready = run
        .console
        .iter()
        .find(|(_, l)| l.contains("splitbrain timeline: ready"));
    let (at, _) =
        ready.unwrap_or_else(|| panic!("no ready message on the console: {:?}", run.console));
    for (_, line) in &run.console {
        eprintln!("{line}");
    }
    eprintln!(
        "browser started to page ready: {at:?} (whole browser run {:?})",
        run.elapsed
    );
    *at
}

/// Clicks, in Chromium, the index's link to the timeline of a run named like a
/// `javascript:` URL: it must open that run's page, not run the name as script.
#[test]
fn index_links_open_runs_in_chromium_whatever_their_names() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let name = "javascript:document.title='pwned';0";
    let run = synthetic_run(root.path(), name, 200, 2);
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(root.path().join("index.html")).unwrap();
    let click = "<script>setTimeout(function () { \
                 document.querySelector('a[href*=timeline]').click(); }, 100)</script></body>";
    let probe = root.path().join("probe.html");
    std::fs::write(&probe, index.replace("</body>", click)).unwrap();
    let run = run_chromium(
        &browser,
        &probe,
        "",
        &["--dump-dom", "--virtual-time-budget=20000"],
    );
    let dom = &run.stdout;
    assert!(
        !dom.contains("<title>pwned</title>"),
        "the run's name ran as script"
    );
    assert!(
        dom.contains("<title>splitbrain timeline: ready</title>"),
        "{}",
        &dom[..dom.len().min(2000)]
    );
}

/// The anomaly panel of a run whose results list a violation third, among 28
/// leaderless windows: the violation on top, the windows folded under one line, and a
/// fold opened when one of its anomalies is selected (`#anomaly=K`).
#[test]
fn timeline_lists_violations_first_and_folds_observations() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let run = synthetic_run(root.path(), "run-1", 400, 4);
    let window = |i: u64| {
        serde_json::json!({"kind": "leaderless-window", "checker": "availability",
            "severity": "observation", "ops": [i, i + 2],
            "message": format!("no observed node knew of a leader from op {i} to op {}", i + 2)})
    };
    let mut anomalies: Vec<serde_json::Value> = (0..28).map(|i| window(2 * i)).collect();
    anomalies.insert(
        2,
        serde_json::json!({"kind": "stale-leader", "checker": "leaders", "severity": "violation",
            "ops": [7, 9], "message": "n3 acted as leader of term 4 after n1 led term 5"}),
    );
    let results = serde_json::json!({"valid": false, "anomalies": anomalies,
        "checkers": {"leaders": {"valid": false}}});
    std::fs::write(run.dir.join("results.json"), results.to_string()).unwrap();
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = run.dir.join("timeline.html");
    let dom = |fragment: &str| {
        let run = run_chromium(
            &browser,
            &page,
            fragment,
            &["--dump-dom", "--virtual-time-budget=30000"],
        );
        let dom = run.stdout;
        assert!(
            !body_tag(&dom).contains("data-errors"),
            "{}",
            dom.split("sb-errors").nth(1).unwrap_or("")
        );
        let side = dom.find("id=\"sb-side\"").expect("an anomaly panel");
        dom[side..].to_string()
    };
    let side = dom("");
    let first = side.find("class=\"anomaly ").unwrap();
    assert!(
        side[first..].starts_with("class=\"anomaly violation\""),
        "{}",
        &side[..2000.min(side.len())]
    );
    assert_eq!(
        side.matches("<details class=\"fold").count(),
        1,
        "{}",
        &side[..3000.min(side.len())]
    );
    assert!(side.contains("<summary>leaderless-window: 28 observations</summary>"));
    assert!(side.find("stale-leader").unwrap() < side.find("<details").unwrap());
    assert!(
        !side.contains("<details class=\"fold observation\" data-kind=\"leaderless-window\" open")
    );
    let selected = dom("#anomaly=5");
    assert!(
        selected
            .contains("<details class=\"fold observation\" data-kind=\"leaderless-window\" open"),
        "{}",
        &selected[..3000.min(selected.len())]
    );
}

#[test]
fn timeline_loads_in_chromium_and_draws_the_lanes() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let run = synthetic_run(root.path(), "run-50k", 50_000, 16);
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = run.dir.join("timeline.html");
    assert_page_loads(&browser, &page, "");
    let selftest = run_chromium(
        &browser,
        &page,
        "#selftest",
        &["--dump-dom", "--virtual-time-budget=120000"],
    );
    assert!(
        !body_tag(&selftest.stdout).contains("data-errors"),
        "errors: {}",
        selftest.stdout.split("sb-errors").nth(1).unwrap_or("")
    );
    let line = selftest
        .console
        .iter()
        .map(|(_, l)| l)
        .find(|l| l.contains("selftest ok"));
    let line =
        line.unwrap_or_else(|| panic!("the self-test did not finish: {:?}", selftest.console));
    eprintln!("{line}");
    let op_tips: usize = line
        .split(" tooltips, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(op_tips > 10, "{line}");
    let latency_tips: usize = line
        .split(" with history lines, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(latency_tips > 10, "{line}");
    // The hovered line, rebuilt from the columns, is the history's line.
    let shown = line
        .split("e.g. ")
        .nth(1)
        .and_then(|s| s.rsplit_once("\", source:"))
        .map(|(l, _)| l);
    let shown: serde_json::Value = serde_json::from_str(shown.expect("a sample line")).unwrap();
    let index = shown["index"].as_u64().unwrap() as usize;
    let history = std::fs::read_to_string(run.dir.join("history.jsonl")).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(history.lines().nth(index).unwrap()).unwrap();
    assert_eq!(shown, original);
    let shot = run.dir.join("shot.png");
    run_chromium(
        &browser,
        &page,
        "",
        &[
            &format!("--screenshot={}", shot.display()),
            "--virtual-time-budget=60000",
        ],
    );
    // The lanes: below the header, right of the lane labels, left of the anomaly panel.
    let colours = distinct_colours(&shot, 130, 200, 850, 300);
    eprintln!("{} distinct colours in the lanes area", colours.len());
    assert!(
        colours.len() >= 12,
        "only {} distinct colours in the lanes area",
        colours.len()
    );
    for (name, rgb) in [
        ("ok", (0x2c, 0xa0, 0x2c)),
        ("fail", (0xd6, 0x27, 0x28)),
        ("leader", (0x24, 0x56, 0xc7)),
        ("follower", (0xb9, 0xcd, 0xf0)),
    ] {
        assert!(colours.contains(&rgb), "no {name} colour in the lanes area");
    }
    if let Some(keep) = std::env::var_os("SPLITBRAIN_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    if let Some(keep) = std::env::var_os("SPLITBRAIN_KEEP_PAGE") {
        std::fs::copy(&page, keep).unwrap();
    }
}

/// Loads the page with `#bench`, which draws two passes of zoom frames between console
/// messages, and returns the wall time a frame took in the second pass, from the
/// timestamps of the browser's log (the page's own clocks may be virtual).
fn bench_frame_ms(browser: &Path, page: &Path) -> f64 {
    const BENCH_FRAMES: f64 = 40.0;
    let run = run_chromium(
        browser,
        page,
        "#bench",
        &["--dump-dom", "--virtual-time-budget=120000"],
    );
    let stamp = |needle: &str| {
        let line = run
            .console
            .iter()
            .map(|(_, l)| l)
            .find(|l| l.contains(needle));
        let line = line.unwrap_or_else(|| panic!("no {needle:?} in {:?}", run.console));
        log_seconds(line).unwrap_or_else(|| panic!("no time stamp in {line}"))
    };
    (stamp("bench pass 2 end") - stamp("bench pass 1 end")) * 1000.0 / BENCH_FRAMES
}

/// Seconds since midnight of a Chromium log line `[pid:tid:MMDD/HHMMSS.micros:...]`.
fn log_seconds(line: &str) -> Option<f64> {
    let stamp = line.split('/').nth(1)?.split(':').next()?;
    let (hms, frac) = stamp.split_once('.')?;
    let n: u64 = hms.parse().ok()?;
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    Some((n / 10_000 * 3600 + n / 100 % 100 * 60 + n % 100) as f64 + frac)
}

/// Distinct RGB colours in the rectangle (x, y, w, h) of a PNG.
fn distinct_colours(
    path: &Path,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
) -> std::collections::HashSet<(u8, u8, u8)> {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        info.width as usize >= x + w && info.height as usize >= y + h,
        "screenshot {}x{}",
        info.width,
        info.height
    );
    let mut seen = std::collections::HashSet::new();
    for row in y..y + h {
        for col in x..x + w {
            let at = (row * info.width as usize + col) * channels;
            seen.insert((buf[at], buf[at + 1], buf[at + 2]));
        }
    }
    seen
}

#[test]
#[ignore = "a million ops: about a minute; cargo test --release --test report -- --ignored --nocapture"]
fn timeline_of_a_million_ops_loads_in_chromium() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = synthetic_run(root.path(), "run-1m", 1_000_000, 64);
    let generated = started.elapsed();
    let started = Instant::now();
    let out = report(&run.dir, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reported = started.elapsed();
    let page = run.dir.join("timeline.html");
    let history_mb = std::fs::metadata(run.dir.join("history.jsonl"))
        .unwrap()
        .len() as f64
        / 1e6;
    let page_mb = std::fs::metadata(&page).unwrap().len() as f64 / 1e6;
    let empty = root.path().join("empty.html");
    std::fs::write(
        &empty,
        "<!DOCTYPE html><title>empty</title><script>console.log('empty: ready')</script>",
    )
    .unwrap();
    let baseline = run_chromium(&browser, &empty, "", &["--dump-dom"])
        .console
        .first()
        .map(|(at, _)| *at)
        .unwrap_or_default();
    let ready = assert_page_loads(&browser, &page, "#bench");
    let frame_ms = bench_frame_ms(&browser, &page);
    eprintln!("{} ops: {frame_ms:.1} ms a frame (zooming, warm)", run.ops);
    eprintln!(
        "{} ops: history {history_mb:.1} MB generated in {generated:?}; timeline.html {page_mb:.1} MB written in {reported:?}; \
         ready {ready:?} after the browser started (an empty page: {baseline:?})",
        run.ops
    );
    assert!(page_mb < 100.0, "timeline.html is {page_mb:.1} MB");
    if let Some(keep) = std::env::var_os("SPLITBRAIN_KEEP_PAGE") {
        std::fs::copy(&page, keep).unwrap();
    }
}
