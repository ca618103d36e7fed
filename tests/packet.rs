//! Packet faults in the netns runtime, measured on the wire: two node namespaces (no
//! nodes run in them), one shaping put in force on the link n1 → n2 at a time, then
//! healed; each test checks the shaping is felt, healed, and leaves nothing behind.
//! They need root (as the netns runtime does), iptables and tc.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nemesis::{Link, PacketParams, PacketShape};
use splitbrain::runtime::{self, NodePorts, Runtime, RuntimeConfig, RuntimeKind};

/// Namespaces are cheap, but iptables and tc calls are serialised by their locks anyway.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PORT: u16 = 7600;

/// Two namespaces with addresses, and the runtime that made them.
struct Pair {
    rt: Box<dyn Runtime>,
    torn_down: bool,
    _results: tempfile::TempDir,
    ns: BTreeMap<String, PathBuf>,
    ips: BTreeMap<String, Ipv4Addr>,
}

async fn pair() -> Pair {
    let results = tempfile::tempdir().unwrap();
    let cfg = RuntimeConfig::new(&runtime::new_run_id(), results.path()).unwrap();
    let rt = runtime::create(RuntimeKind::Netns, cfg)
        .await
        .expect("create the netns runtime (needs root)");
    let topo = rt.plan(2, &NodePorts::default()).await.expect("plan");
    // No node processes: the tests talk between the namespaces themselves.
    rt.start_cluster(Vec::new()).await.expect("start nothing");
    let mut ns = BTreeMap::new();
    let mut ips = BTreeMap::new();
    for node in &topo.nodes {
        let path = rt.node_netns(&node.name).await.unwrap().expect("a netns");
        ns.insert(node.name.clone(), path);
        ips.insert(node.name.clone(), node.host.parse().unwrap());
    }
    Pair {
        rt,
        torn_down: false,
        _results: results,
        ns,
        ips,
    }
}

impl Pair {
    fn addr(&self, node: &str, port: u16) -> SocketAddr {
        SocketAddr::new(self.ips[node].into(), port)
    }

    /// `params` on the one link n1 → n2.
    async fn shape(&self, params: PacketParams) {
        let shape = PacketShape {
            params,
            links: vec![Link {
                from: "n1".into(),
                to: "n2".into(),
            }],
        };
        self.rt.packet(&shape).await.expect("packet fault in force");
    }

    async fn heal(&self) {
        self.rt.packet_heal().await.expect("packet heal");
        assert_eq!(
            self.leftovers(),
            Vec::<String>::new(),
            "heal leaves nothing"
        );
    }

    /// Our chain, our qdisc and our hold threads, wherever they are still found.
    fn leftovers(&self) -> Vec<String> {
        let chain = format!("SB-{}-PKT", self.rt.run_id());
        let mut found = Vec::new();
        for (node, ns) in &self.ns {
            let rules = in_ns_cmd(ns, &["iptables", "-S"]);
            if rules.contains(&chain) {
                found.push(format!("{node}: {chain}"));
            }
            if in_ns_cmd(ns, &["tc", "qdisc", "show"]).contains("htb") {
                found.push(format!("{node}: htb qdisc"));
            }
        }
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap();
            if comm.starts_with("sb-hold-") {
                found.push(format!("thread {}", comm.trim()));
            }
        }
        found
    }

    async fn done(mut self) {
        let id = self.rt.run_id().to_string();
        self.torn_down = true;
        self.rt.teardown().await.unwrap();
        let list = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains(&id),
            "teardown removes the namespaces"
        );
    }
}

/// A test that failed half way still removes its namespaces.
impl Drop for Pair {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        let id = self.rt.run_id().to_string();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = rt.block_on(runtime::leftovers::teardown_run(&id));
        })
        .join();
    }
}

fn in_ns_cmd(ns: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A listener in n2 that accepts forever, answering each connection's bytes (read to
/// end) with one byte.
fn serve(p: &Pair, port: u16) {
    let at = p.addr("n2", port);
    let listener = common::in_netns(&p.ns["n2"], move || TcpListener::bind(at).expect("bind"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = conn.read_to_end(&mut sink);
                let _ = conn.write_all(b"k");
            });
        }
    });
}

/// From n1: how long a connect to n2 takes, or `None` if it does not within `limit`.
fn connect_time(p: &Pair, port: u16, limit: Duration) -> Option<Duration> {
    let to = p.addr("n2", port);
    common::in_netns(&p.ns["n1"], move || {
        let t0 = Instant::now();
        TcpStream::connect_timeout(&to, limit)
            .ok()
            .map(|_| t0.elapsed())
    })
}

/// From n1: how long sending `bytes` to n2 takes, up to its one-byte answer.
fn transfer_time(p: &Pair, port: u16, bytes: usize) -> Duration {
    let to = p.addr("n2", port);
    common::in_netns(&p.ns["n1"], move || {
        let t0 = Instant::now();
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(&vec![7u8; bytes]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).expect("the answer");
        t0.elapsed()
    })
}

fn udp(p: &Pair, node: &str, port: u16) -> UdpSocket {
    let at = p.addr(node, port);
    common::in_netns(&p.ns[node], move || {
        let s = UdpSocket::bind(at).expect("bind udp");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    })
}

/// Send `count` numbered datagrams from `a` to `b`; return the numbers `b` received, in
/// the order it received them.
fn datagrams(a: &UdpSocket, b: &UdpSocket, count: u8, spacing: Duration) -> Vec<u8> {
    let to = b.local_addr().unwrap();
    for i in 0..count {
        // A datagram dropped in the sender's own OUTPUT chain fails to send (EPERM).
        let _ = a.send_to(&[i], to);
        std::thread::sleep(spacing);
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 8];
    while let Ok((n, _)) = b.recv_from(&mut buf) {
        assert_eq!(n, 1);
        got.push(buf[0]);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_every_packet_and_heal_lets_them_go() {
    let _g = SERIAL.lock().await;
    let p = pair().await;
    serve(&p, PORT);
    let before = connect_time(&p, PORT, Duration::from_secs(2)).expect("connects");
    p.shape(PacketParams::Delay {
        delay_ms: 300,
        jitter_ms: 0,
    })
    .await;
    let during = connect_time(&p, PORT, Duration::from_secs(5)).expect("connects");
    assert!(during >= Duration::from_millis(300), "{during:?}");
    // Only n1 → n2 is shaped: n2 → n1 datagrams go at once.
    let (a, b) = (udp(&p, "n2", PORT + 1), udp(&p, "n1", PORT + 1));
    let t0 = Instant::now();
    assert_eq!(datagrams(&a, &b, 1, Duration::ZERO), vec![0]);
    assert!(t0.elapsed() < Duration::from_millis(600));
    p.heal().await;
    let after = connect_time(&p, PORT, Duration::from_secs(2)).expect("connects");
    println!(
        "[packet] connect n1 → n2: {before:?}, under a 300 ms delay {during:?}, healed {after:?}"
    );
    assert!(
        after < Duration::from_millis(150),
        "{after:?} (before: {before:?})"
    );
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_loss_cuts_the_link_one_way_and_heal_restores_it() {
    let _g = SERIAL.lock().await;
    let p = pair().await;
    serve(&p, PORT);
    p.shape(PacketParams::Loss { percent: 100 }).await;
    assert_eq!(connect_time(&p, PORT, Duration::from_millis(700)), None);
    let (n1, n2) = (udp(&p, "n1", PORT + 1), udp(&p, "n2", PORT + 1));
    assert!(datagrams(&n1, &n2, 3, Duration::ZERO).is_empty());
    assert_eq!(datagrams(&n2, &n1, 3, Duration::ZERO), vec![0, 1, 2]);
    p.heal().await;
    assert!(connect_time(&p, PORT, Duration::from_secs(2)).is_some());
    assert_eq!(datagrams(&n1, &n2, 3, Duration::ZERO), vec![0, 1, 2]);
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplication_delivers_each_datagram_twice_until_healed() {
    let _g = SERIAL.lock().await;
    let p = pair().await;
    let (n1, n2) = (udp(&p, "n1", PORT + 1), udp(&p, "n2", PORT + 1));
    // The first datagram may race neighbour discovery: warm the link up.
    let _ = datagrams(&n1, &n2, 1, Duration::ZERO);
    p.shape(PacketParams::Duplicate { percent: 100 }).await;
    let mut got = datagrams(&n1, &n2, 10, Duration::from_millis(2));
    got.sort_unstable();
    let twice: Vec<u8> = (0..10).flat_map(|i| [i, i]).collect();
    assert_eq!(got, twice);
    p.heal().await;
    assert_eq!(
        datagrams(&n1, &n2, 10, Duration::from_millis(2)),
        (0..10).collect::<Vec<u8>>()
    );
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordering_lets_later_datagrams_overtake_held_ones() {
    let _g = SERIAL.lock().await;
    let p = pair().await;
    let (n1, n2) = (udp(&p, "n1", PORT + 1), udp(&p, "n2", PORT + 1));
    let _ = datagrams(&n1, &n2, 1, Duration::ZERO);
    p.shape(PacketParams::Reorder {
        percent: 50,
        hold_ms: 150,
    })
    .await;
    let got = datagrams(&n1, &n2, 30, Duration::from_millis(1));
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..30).collect::<Vec<u8>>(), "nothing lost");
    assert_ne!(
        got, sorted,
        "some datagrams overtaken (fails with odds 2^-29)"
    );
    p.heal().await;
    assert_eq!(
        datagrams(&n1, &n2, 30, Duration::from_millis(1)),
        (0..30).collect::<Vec<u8>>()
    );
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_limit_slows_a_transfer_to_its_rate() {
    let _g = SERIAL.lock().await;
    let p = pair().await;
    serve(&p, PORT);
    const BYTES: usize = 64 * 1024;
    const RATE_KBIT: u64 = 512;
    // 64 KiB at 512 kbit/s: 1.02 s, less what the bucket lets through at once.
    let expected = Duration::from_secs_f64(BYTES as f64 * 8.0 / (RATE_KBIT as f64 * 1000.0));
    let before = transfer_time(&p, PORT, BYTES);
    p.shape(PacketParams::Bandwidth {
        rate_kbit: RATE_KBIT,
    })
    .await;
    let during = transfer_time(&p, PORT, BYTES);
    assert!(
        during >= expected.mul_f64(0.8),
        "{during:?} at {RATE_KBIT} kbit/s (expected about {expected:?})"
    );
    p.heal().await;
    let after = transfer_time(&p, PORT, BYTES);
    println!(
        "[packet] 64 KiB n1 → n2: {before:?}, at {RATE_KBIT} kbit/s {during:?}, healed {after:?}"
    );
    assert!(
        after < expected / 4,
        "{after:?} once healed (before: {before:?})"
    );
    p.done().await;
}
