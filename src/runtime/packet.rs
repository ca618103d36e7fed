//! Packet faults without netem, installed in each sender's own network namespace (the
//! netns and docker runtimes): a chain of our own, `SB-<runid>-PKT`, jumped to first
//! thing from OUTPUT, matches what the sender sends to a shaped peer, and
//! - loss drops it with `-m statistic --mode random` and DROP;
//! - duplication clones it to the peer with `-m statistic` and TEE;
//! - delay, jitter and reordering send it to an NFQUEUE (with `--queue-bypass`, so
//!   traffic flows if nobody listens) that a thread of ours, entered into the sender's
//!   namespace, holds each packet of until its due time before accepting it;
//! - a bandwidth limit is an htb qdisc on the sender's interface, one class per shaped
//!   peer with a u32 filter on its address.
//!
//! Everything lives in the node's namespace and dies with it; the threads die with the
//! controller, and the kernel then lets queued traffic bypass the queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nemesis::{PacketParams, PacketShape};
use rand::RngExt;
use tokio::sync::Mutex;

use super::iptables::{chain_name, run_in_netns};
use super::RuntimeError;

/// The most packets one hold thread keeps back at once; beyond it a packet goes at once
/// (each held packet pins its receive buffer).
pub const HELD_PACKETS_MAX: usize = 4_096;
/// The kernel's queue bound per node; with fail-open, a full queue passes packets.
pub const QUEUE_LEN_MAX: u32 = 8_192;
/// How long a hold thread sleeps when nothing is due and nothing arrived.
const HOLD_POLL_MS: u64 = 1;
/// The most packets one hold thread reads before releasing what is due.
const RECV_BATCH_MAX: usize = 256;
/// Bound on a hold thread's start (entering the namespace, binding the queue).
const HOLD_START_TIMEOUT_MS: u64 = 5_000;
/// Bound on a hold thread's stop: it lets every held packet go first.
const HOLD_STOP_TIMEOUT_MS: u64 = 5_000;
/// The first NFQUEUE number a run uses (queues are per namespace; a run-derived base
/// keeps two runs' queues apart even in one namespace).
const QUEUE_NUM_BASE: u16 = 1_000;
const QUEUE_NUM_SPAN: u16 = 30_000;

/// `SB-<runid>-PKT`: the chain of a run's packet shaping.
pub fn packet_chain_name(run_id: &str) -> String {
    format!("{}-PKT", chain_name(run_id))
}

/// Where a node can be shaped: its namespace (`None` while it has none, as a stopped
/// container) and address.
#[derive(Clone, Debug)]
pub struct NodeNet {
    pub netns: Option<PathBuf>,
    pub ip: Ipv4Addr,
}

/// The iptables-restore input that (re)creates the run's packet chain holding the rules
/// for `params` towards `peers` (empty for a bandwidth limit, which is tc's).
pub fn restore_script(
    run_id: &str,
    params: &PacketParams,
    peers: &[Ipv4Addr],
    queue: u16,
) -> String {
    let chain = packet_chain_name(run_id);
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    let probability = |percent: u32| format!("{:.4}", f64::from(percent.min(100)) / 100.0);
    for ip in peers {
        let rule = match params {
            PacketParams::Loss { percent } => format!(
                "-m statistic --mode random --probability {} -j DROP",
                probability(*percent)
            ),
            PacketParams::Duplicate { percent } => format!(
                "-m statistic --mode random --probability {} -j TEE --gateway {ip}",
                probability(*percent)
            ),
            PacketParams::Delay { .. } | PacketParams::Reorder { .. } => {
                format!("-j NFQUEUE --queue-num {queue} --queue-bypass")
            }
            PacketParams::Bandwidth { .. } => continue,
        };
        s.push_str(&format!("-A {chain} -d {ip}/32 {rule}\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// The tc commands (arguments after `tc`) that limit what goes out of `dev` to each peer
/// to `rate_kbit`.
pub fn bandwidth_commands(dev: &str, rate_kbit: u64, peers: &[Ipv4Addr]) -> Vec<Vec<String>> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    // `default 0`: traffic to anyone else leaves unshaped, through htb's direct queue.
    let mut cmds = vec![words(&format!(
        "qdisc replace dev {dev} root handle 1: htb default 0"
    ))];
    for (i, ip) in peers.iter().enumerate() {
        let class = format!("1:{:x}", 0x10 + i);
        cmds.push(words(&format!(
            "class add dev {dev} parent 1: classid {class} htb rate {rate_kbit}kbit ceil {rate_kbit}kbit"
        )));
        cmds.push(words(&format!(
            "filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid {class}"
        )));
    }
    cmds
}

/// Shapes packets for one run. `apply` replaces what is in force; `heal` removes all.
pub struct Shaper {
    run_id: String,
    queue_base: u16,
    installed: Mutex<Installed>,
}

/// What is in force, kept before each step is taken so that a failed apply is healed.
#[derive(Default)]
struct Installed {
    /// Senders with our chain (and its jump) in their namespace.
    chains: BTreeMap<String, PathBuf>,
    /// Senders with our qdisc on an interface: namespace and device.
    qdiscs: BTreeMap<String, (PathBuf, String)>,
    workers: Vec<HoldWorker>,
}

impl Shaper {
    pub fn new(run_id: &str) -> Shaper {
        let hash = run_id
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        Shaper {
            run_id: run_id.to_string(),
            queue_base: QUEUE_NUM_BASE + (hash % u32::from(QUEUE_NUM_SPAN)) as u16,
            installed: Mutex::new(Installed::default()),
        }
    }

    /// Put `shape` in force, replacing any shaping of this run; returns once every rule,
    /// qdisc and hold thread is in place. A sender without a namespace is skipped: the
    /// runtime applies the shape again once it has one.
    pub async fn apply(
        &self,
        shape: &PacketShape,
        nodes: &BTreeMap<String, NodeNet>,
    ) -> Result<(), RuntimeError> {
        self.heal().await?;
        let mut installed = self.installed.lock().await;
        for (i, (sender, peers)) in shape.by_sender().into_iter().enumerate() {
            let net = nodes
                .get(sender)
                .ok_or_else(|| RuntimeError::UnknownNode(sender.to_string()))?;
            let ips = peers
                .iter()
                .map(|p| nodes.get(*p).map(|n| n.ip))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| RuntimeError::UnknownNode(format!("a peer of {sender}")))?;
            let Some(netns) = &net.netns else {
                continue;
            };
            let queue = self.queue_base + i as u16;
            self.install(&mut installed, sender, netns, &shape.params, &ips, queue)
                .await?;
        }
        Ok(())
    }

    async fn install(
        &self,
        installed: &mut Installed,
        sender: &str,
        netns: &Path,
        params: &PacketParams,
        peers: &[Ipv4Addr],
        queue: u16,
    ) -> Result<(), RuntimeError> {
        if let PacketParams::Bandwidth { rate_kbit } = params {
            let dev = device_towards(netns, peers[0]).await?;
            installed
                .qdiscs
                .insert(sender.to_string(), (netns.to_path_buf(), dev.clone()));
            for cmd in bandwidth_commands(&dev, *rate_kbit, peers) {
                let mut args = vec!["tc"];
                args.extend(cmd.iter().map(String::as_str));
                run_in_netns(netns, &args, None).await?;
            }
            return Ok(());
        }
        if matches!(
            params,
            PacketParams::Delay { .. } | PacketParams::Reorder { .. }
        ) {
            // The thread listens before any packet is queued to it.
            installed
                .workers
                .push(HoldWorker::start(netns, queue, *params).await?);
        }
        installed
            .chains
            .insert(sender.to_string(), netns.to_path_buf());
        let script = restore_script(&self.run_id, params, peers, queue);
        let chain = packet_chain_name(&self.run_id);
        super::iptables::install_chain(netns, "OUTPUT", &chain, &script).await
    }

    /// Remove every rule and qdisc of this run's shaping and stop its hold threads (each
    /// lets its held packets go first). A namespace that is gone took its rules with it.
    pub async fn heal(&self) -> Result<(), RuntimeError> {
        let mut installed = self.installed.lock().await;
        let mut first_error = None;
        // What could not be removed stays listed, for the next heal (the final phase's).
        for (sender, netns) in std::mem::take(&mut installed.chains) {
            if let Err(e) = remove_chain(&netns, &self.run_id).await {
                first_error.get_or_insert(e);
                installed.chains.insert(sender, netns);
            }
        }
        for (sender, (netns, dev)) in std::mem::take(&mut installed.qdiscs) {
            let del = ["tc", "qdisc", "del", "dev", dev.as_str(), "root"];
            let Err(e) = run_in_netns(&netns, &del, None).await else {
                continue;
            };
            // A namespace that is gone, or a root qdisc already back to the default.
            let gone = !netns.exists()
                || ["No such file", "handle of zero"]
                    .iter()
                    .any(|m| e.to_string().contains(m));
            if !gone {
                first_error.get_or_insert(e);
                installed.qdiscs.insert(sender, (netns, dev));
            }
        }
        let workers = std::mem::take(&mut installed.workers);
        stop_workers(workers).await;
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stop the hold threads without touching the namespaces (teardown removes those).
    pub async fn shutdown(&self) {
        let workers = std::mem::take(&mut self.installed.lock().await.workers);
        stop_workers(workers).await;
    }
}

async fn stop_workers(workers: Vec<HoldWorker>) {
    for w in &workers {
        w.stop.store(true, Ordering::SeqCst);
    }
    for w in workers {
        let queue = w.queue;
        let joined = tokio::time::timeout(
            Duration::from_millis(HOLD_STOP_TIMEOUT_MS),
            tokio::task::spawn_blocking(move || w.handle.join()),
        )
        .await;
        match joined {
            Ok(Ok(Ok(Ok(held)))) => tracing::debug!(queue, held, "hold thread stopped"),
            Ok(Ok(Ok(Err(e)))) => tracing::warn!(queue, error = %e, "hold thread failed"),
            _ => tracing::warn!(queue, "hold thread did not stop in time"),
        }
    }
}

/// Remove our packet chain and its jump from a namespace; nothing else is touched.
async fn remove_chain(netns: &Path, run_id: &str) -> Result<(), RuntimeError> {
    if !netns.exists() {
        return Ok(());
    }
    super::iptables::remove_chain(netns, "OUTPUT", &packet_chain_name(run_id)).await
}

/// The interface a namespace sends to `peer` through (`eth0` in both runtimes, but asked
/// rather than assumed).
async fn device_towards(netns: &Path, peer: Ipv4Addr) -> Result<String, RuntimeError> {
    let out = run_in_netns(
        netns,
        &["ip", "-o", "route", "get", &peer.to_string()],
        None,
    )
    .await?;
    parse_route_dev(&out).ok_or_else(|| RuntimeError::Command {
        what: format!("ip route get {peer}"),
        reason: format!("no device in {out:?}"),
    })
}

fn parse_route_dev(out: &str) -> Option<String> {
    let mut words = out.split_whitespace();
    words.find(|w| *w == "dev")?;
    words.next().map(str::to_string)
}

/// A thread inside a sender's namespace that holds each packet of its queue until due.
struct HoldWorker {
    queue: u16,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
}

impl HoldWorker {
    async fn start(
        netns: &Path,
        queue: u16,
        params: PacketParams,
    ) -> Result<HoldWorker, RuntimeError> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (netns_owned, stop_thread) = (netns.to_path_buf(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("sb-hold-{queue}"))
            .spawn(move || hold_packets(&netns_owned, queue, params, &stop_thread, ready_tx))
            .map_err(|e| RuntimeError::Command {
                what: "start a packet hold thread".into(),
                reason: e.to_string(),
            })?;
        let fail = |reason: String| RuntimeError::Command {
            what: format!("hold packets of NFQUEUE {queue} in {}", netns.display()),
            reason,
        };
        let worker = HoldWorker {
            queue,
            stop,
            handle,
        };
        match tokio::time::timeout(Duration::from_millis(HOLD_START_TIMEOUT_MS), ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(worker),
            outcome => {
                worker.stop.store(true, Ordering::SeqCst);
                let reason = match outcome {
                    Ok(Ok(Err(e))) => e,
                    Ok(Err(_)) => "the thread ended before it was ready".into(),
                    Err(_) => format!("not ready within {HOLD_START_TIMEOUT_MS} ms"),
                    Ok(Ok(Ok(()))) => unreachable!(),
                };
                Err(fail(reason))
            }
        }
    }
}

/// A packet held back, released at `due` (ties in arrival order).
struct Held {
    due: Instant,
    seq: u64,
    msg: nfq::Message,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// How long to hold one packet under `params`.
fn hold_for<R: rand::Rng + ?Sized>(params: &PacketParams, rng: &mut R) -> Duration {
    let ms = match *params {
        PacketParams::Delay {
            delay_ms,
            jitter_ms,
        } => delay_ms + rng.random_range(0..=jitter_ms),
        PacketParams::Reorder { percent, hold_ms } if rng.random_ratio(percent.min(100), 100) => {
            hold_ms
        }
        _ => 0,
    };
    Duration::from_millis(ms)
}

fn open_queue(netns: &Path, queue: u16) -> std::io::Result<nfq::Queue> {
    let file = std::fs::File::open(netns)?;
    // setns moves only this thread into the sender's namespace.
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)?;
    let mut q = nfq::Queue::open()?;
    q.bind(queue)?;
    q.set_copy_range(queue, 0)?;
    q.set_queue_max_len(queue, QUEUE_LEN_MAX)?;
    q.set_fail_open(queue, true)?;
    q.set_nonblocking(true);
    Ok(q)
}

/// The hold thread: read packets, hold each until due, accept it; when told to stop, let
/// everything go and end. Returns how many packets it held.
fn hold_packets(
    netns: &Path,
    queue: u16,
    params: PacketParams,
    stop: &AtomicBool,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) -> Result<u64, String> {
    let mut q = match open_queue(netns, queue) {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Err(e.to_string());
        }
    };
    let mut count = 0u64;
    match hold_until_stopped(&mut q, queue, params, stop, &mut count) {
        Ok(()) => Ok(count),
        // The kernel no longer knows the queue: its namespace went with a node that was
        // killed or lost power while the fault held (the container that starts again has
        // a new namespace). What was held went with it; nothing is left to release.
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOENT as i32) => {
            tracing::debug!(
                queue,
                held = count,
                "hold thread ended: its queue went with its namespace"
            );
            Ok(count)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The hold thread's loop; `count` is how many packets it has held so far.
fn hold_until_stopped(
    q: &mut nfq::Queue,
    queue: u16,
    params: PacketParams,
    stop: &AtomicBool,
    count: &mut u64,
) -> std::io::Result<()> {
    let mut rng = rand::rng();
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let mut got = 0;
        while got < RECV_BATCH_MAX {
            let mut msg = match q.recv() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            got += 1;
            let wait = hold_for(&params, &mut rng);
            if stopping || wait.is_zero() || held.len() >= HELD_PACKETS_MAX {
                msg.set_verdict(nfq::Verdict::Accept);
                q.verdict(msg)?;
                continue;
            }
            seq += 1;
            *count += 1;
            let due = Instant::now() + wait;
            held.push(Reverse(Held { due, seq, msg }));
        }
        let now = Instant::now();
        while held
            .peek()
            .is_some_and(|Reverse(h)| stopping || h.due <= now)
        {
            let Reverse(mut h) = held.pop().expect("peeked");
            h.msg.set_verdict(nfq::Verdict::Accept);
            q.verdict(h.msg)?;
        }
        if stopping && got == 0 && held.is_empty() {
            let _ = q.unbind(queue);
            return Ok(());
        }
        if got == 0 {
            let next = held
                .peek()
                .map(|Reverse(h)| h.due.saturating_duration_since(now))
                .unwrap_or(Duration::MAX);
            std::thread::sleep(next.min(Duration::from_millis(HOLD_POLL_MS)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_installs_its_own_rule_towards_each_peer() {
        let peers = [Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4)];
        let loss = restore_script("abc", &PacketParams::Loss { percent: 30 }, &peers, 7);
        assert!(loss.starts_with("*filter\n:SB-abc-PKT - [0:0]\n"), "{loss}");
        assert!(loss.contains(
            "-A SB-abc-PKT -d 10.0.0.3/32 -m statistic --mode random --probability 0.3000 -j DROP\n"
        ));
        assert!(loss.contains("-d 10.0.0.4/32"));
        let dup = restore_script(
            "abc",
            &PacketParams::Duplicate { percent: 100 },
            &peers[..1],
            7,
        );
        assert!(
            dup.contains("--probability 1.0000 -j TEE --gateway 10.0.0.3\n"),
            "{dup}"
        );
        let delay = PacketParams::Delay {
            delay_ms: 5,
            jitter_ms: 0,
        };
        let q = restore_script("abc", &delay, &peers[..1], 1234);
        assert!(
            q.contains("-d 10.0.0.3/32 -j NFQUEUE --queue-num 1234 --queue-bypass\n"),
            "{q}"
        );
        let bw = restore_script("abc", &PacketParams::Bandwidth { rate_kbit: 64 }, &peers, 7);
        assert!(!bw.contains("-A "), "a bandwidth limit is tc's: {bw}");
        let tc = bandwidth_commands("eth0", 64, &peers);
        assert_eq!(tc.len(), 5);
        assert_eq!(
            tc[0].join(" "),
            "qdisc replace dev eth0 root handle 1: htb default 0"
        );
        assert!(tc[1]
            .join(" ")
            .ends_with("classid 1:10 htb rate 64kbit ceil 64kbit"));
        assert!(tc[4]
            .join(" ")
            .contains("match ip dst 10.0.0.4/32 flowid 1:11"));
    }

    #[test]
    fn holds_follow_the_parameters() {
        let mut rng = rand::rng();
        let delay = PacketParams::Delay {
            delay_ms: 100,
            jitter_ms: 50,
        };
        for _ in 0..100 {
            let d = hold_for(&delay, &mut rng).as_millis();
            assert!((100..=150).contains(&d), "{d}");
        }
        let all = PacketParams::Reorder {
            percent: 100,
            hold_ms: 40,
        };
        assert_eq!(hold_for(&all, &mut rng), Duration::from_millis(40));
        let loss = PacketParams::Loss { percent: 100 };
        assert!(hold_for(&loss, &mut rng).is_zero());
        assert_eq!(
            parse_route_dev("10.0.0.3 dev eth0 src 10.0.0.2 uid 0 \\    cache"),
            Some("eth0".into())
        );
    }

    #[test]
    fn two_runs_get_their_own_queue_numbers() {
        let (a, b) = (Shaper::new("aaaaaaaa"), Shaper::new("aaaaaaab"));
        assert_ne!(a.queue_base, b.queue_base);
        assert!(a.queue_base >= QUEUE_NUM_BASE);
    }
}
