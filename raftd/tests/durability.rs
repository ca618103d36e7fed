//! raftd loses no acknowledged write when nodes are SIGKILLed at random moments under a
//! write load: each run is a 3-node loopback cluster, a client writing as fast as it is
//! answered, and kills of a random node (the leader half the time) each followed by a
//! restart; at the end every acknowledged write must be in every node's applied log.
//!
//! CI runs `DURABILITY_RUNS_CI` runs; the full campaign is
//! `cargo test -p raftd --test durability -- --ignored` (`DURABILITY_RUNS_FULL` runs,
//! `DURABILITY_SEED` picks the first seed).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use common::{request, Cluster};

const DURABILITY_RUNS_CI: u64 = 5;
const DURABILITY_RUNS_FULL: u64 = 50;
/// Kills per run; each picks its victim and moment from the run's seed.
const KILLS_PER_RUN: usize = 2;
/// A kill comes this long (uniformly) after the previous restart.
const KILL_DELAY_MS_MAX: u64 = 1200;
/// A killed node stays down this long (uniformly) before it is restarted.
const DOWN_MS_MAX: u64 = 600;
/// Bound on every node's applied log coming to hold every acknowledged write.
const CONVERGE_MS_MAX: u64 = 20_000;
/// Writes go on at least this long after the last restart, and until one of them is
/// acknowledged, at most `WRITE_AFTER_RESTART_MS_MAX`.
const WRITE_AFTER_RESTART_MS_MIN: u64 = 300;
const WRITE_AFTER_RESTART_MS_MAX: u64 = 15_000;

/// What the writer learned: ids the cluster acknowledged (200) and how many ended
/// otherwise but were proposed or may have been (they may or may not be in the log);
/// 421 redirects proposed nothing and are not counted.
#[derive(Default)]
struct Acked {
    ids: Vec<String>,
    not_acked: u64,
}

/// Writes `w0`, `w1`, … to whichever node leads, following 421 redirects.
fn writer(addrs: Vec<String>, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acked>>) {
    let mut target = 0;
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("w{k}");
        k += 1;
        let body = json!({ "id": id }).to_string();
        match request(&addrs[target], "POST", "/write", body.as_bytes()) {
            Ok(a) if a.status == 200 => acked.lock().unwrap().ids.push(id),
            Ok(a) => {
                if a.status != 421 {
                    acked.lock().unwrap().not_acked += 1;
                }
                let hint = a.body["leader_addr"].as_str();
                target = match hint.and_then(|h| addrs.iter().position(|x| x == h)) {
                    Some(l) => l,
                    None => (target + 1) % addrs.len(),
                };
                if a.status != 421 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(_) => {
                acked.lock().unwrap().not_acked += 1;
                target = (target + 1) % addrs.len();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// One run; returns (acknowledged, not acknowledged, leader kills).
fn one_run(seed: u64) -> (usize, u64, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Cluster::start(3, &[]);
    c.wait_leader(&[0, 1, 2]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let addrs: Vec<String> = (0..3).map(|i| c.addr(i).to_string()).collect();
    let w = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || writer(addrs, stop, acked))
    };
    let mut leader_kills = 0;
    for _ in 0..KILLS_PER_RUN {
        std::thread::sleep(Duration::from_millis(
            rng.random_range(0..KILL_DELAY_MS_MAX),
        ));
        let leader = (0..3).find(|&i| c.status(i).is_some_and(|s| s["role"] == "leader"));
        let victim = match leader {
            Some(l) if rng.random_bool(0.5) => {
                leader_kills += 1;
                l
            }
            _ => rng.random_range(0..3usize),
        };
        c.kill_node(victim);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..DOWN_MS_MAX)));
        c.start_node(victim);
        c.wait_serving(victim);
    }
    // Writes go on a moment after the last restart, until the cluster has acknowledged
    // one of them (on a busy machine a new leader may take a while), then the load stops.
    let acked_at_restart = acked.lock().unwrap().ids.len();
    let restarted = Instant::now();
    loop {
        let since = restarted.elapsed();
        let acked_since = acked.lock().unwrap().ids.len() > acked_at_restart;
        if (acked_since && since >= Duration::from_millis(WRITE_AFTER_RESTART_MS_MIN))
            || since >= Duration::from_millis(WRITE_AFTER_RESTART_MS_MAX)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    w.join().expect("the writer panicked");
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.ids.len() > acked_at_restart,
        "seed {seed}: no write was acknowledged within {WRITE_AFTER_RESTART_MS_MAX} ms of the \
         last restart"
    );
    c.wait_leader(&[0, 1, 2]);
    for i in 0..3 {
        assert_all_present(&c, i, &acked.ids, seed);
    }
    (acked.ids.len(), acked.not_acked, leader_kills)
}

/// Waits (bounded) for node `i`'s applied log to hold every acknowledged id; names the
/// missing ones if it never does.
fn assert_all_present(c: &Cluster, i: usize, acked: &[String], seed: u64) {
    let deadline = Instant::now() + Duration::from_millis(CONVERGE_MS_MAX);
    loop {
        let log = request(c.addr(i), "GET", "/read?local=true", b"")
            .ok()
            .filter(|a| a.status == 200)
            .map(|a| common::ids(&a))
            .unwrap_or_default();
        let present: HashSet<&str> = log.iter().map(String::as_str).collect();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: node n{} lacks {} acknowledged writes, first {:?}",
            i + 1,
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn campaign(first_seed: u64, runs: u64) {
    let started = Instant::now();
    let (mut acked, mut not_acked, mut leader_kills) = (0, 0, 0);
    for seed in first_seed..first_seed + runs {
        let (a, n, l) = one_run(seed);
        acked += a;
        not_acked += n;
        leader_kills += l;
    }
    eprintln!(
        "durability: {runs} runs (seeds {first_seed}..{}), {} kills ({leader_kills} of the leader), \
         {acked} acknowledged writes, all present on every node; {not_acked} not acknowledged; {:.1} s",
        first_seed + runs,
        runs as usize * KILLS_PER_RUN,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn acknowledged_writes_survive_random_sigkills() {
    campaign(1, DURABILITY_RUNS_CI);
}

#[test]
#[ignore]
fn acknowledged_writes_survive_fifty_runs_of_random_sigkills() {
    let seed = std::env::var("DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    campaign(seed, DURABILITY_RUNS_FULL);
}
