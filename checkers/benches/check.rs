//! The checker's speed against the cost of merely deserializing each line into `Op`,
//! on synthetic histories of 1M and 10M ops, and its peak memory on 10M ops (measured
//! in a child process, so the parent's own allocations do not count).
//!
//! `cargo bench -p checkers --bench check`; `SPLITBRAIN_BENCH_OPS=1000000,10000000`
//! sets the sizes. Targets: check/deserialize <= 1.5, >= 1.5M ops/s, peak RSS < 1 GiB.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use checkers::synth::{generate_to, SynthConfig};
use checkers::{check, Guarantees, History, Op};

const CHILD_FLAG: &str = "--child-check";
const RUNS: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        child(Path::new(&args[i + 1]));
        return;
    }
    // `--deserialize PATH`: the bare parse of any history, every line into `Op`, to time
    // a `splitbrain check` of the same file against.
    if let Some(i) = args.iter().position(|a| a == "--deserialize") {
        let n = deserialize_all(Path::new(&args[i + 1]));
        println!("{n} ops deserialized");
        return;
    }
    // `--generate N PATH` writes a history and stops (for profiling by hand).
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let n = args[i + 1].parse().expect("--generate N PATH");
        let file = std::fs::File::create(&args[i + 2]).expect("create the history");
        generate_to(&SynthConfig::realistic(42, n), file).expect("write the history");
        return;
    }
    let sizes: Vec<u64> = std::env::var("SPLITBRAIN_BENCH_OPS")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("SPLITBRAIN_BENCH_OPS: comma-separated op counts")
        })
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    for ops in sizes {
        bench_size(dir.path(), ops);
    }
}

fn bench_size(dir: &Path, target: u64) {
    let path = dir.join(format!("history-{target}.jsonl"));
    let t = Instant::now();
    let file = std::fs::File::create(&path).expect("create the history");
    let n = generate_to(&SynthConfig::realistic(42, target), file).expect("write the history");
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "\n{n} ops, {:.0} MiB, generated in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );
    let de = best_of(|| assert_eq!(deserialize_all(&path), n));
    let ck = best_of(|| check_all(&path));
    for (what, m) in [("deserialize into Op", de), ("whole check        ", ck)] {
        println!(
            "  {what}: wall {:>7.3} s ({:>5.2} M ops/s), cpu {:>7.3} s ({:>5.2} M ops/s)",
            m.wall,
            n as f64 / m.wall / 1e6,
            m.cpu,
            n as f64 / m.cpu / 1e6
        );
    }
    println!(
        "  ratio check/deserialize: wall {:.2}, cpu {:.2} (target <= 1.5)",
        ck.wall / de.wall,
        ck.cpu / de.cpu
    );
    let rss = child_peak_rss_kib(&path);
    println!(
        "  peak RSS of the whole check (child process): {:.0} MiB (target < 1024)",
        rss as f64 / 1024.0
    );
}

/// Wall and CPU (user + system) seconds of one run.
#[derive(Clone, Copy)]
struct Measure {
    wall: f64,
    cpu: f64,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The best of `RUNS` runs, by wall and by CPU time separately (the machine may be shared).
fn best_of(mut f: impl FnMut()) -> Measure {
    let mut best = Measure {
        wall: f64::MAX,
        cpu: f64::MAX,
    };
    for _ in 0..RUNS {
        let (t, c) = (Instant::now(), cpu_seconds());
        f();
        best.wall = best.wall.min(t.elapsed().as_secs_f64());
        best.cpu = best.cpu.min(cpu_seconds() - c);
    }
    best
}

/// The baseline: every line deserialized with serde_json into an owned `Op`.
fn deserialize_all(path: &Path) -> u64 {
    let mut input = BufReader::with_capacity(1 << 16, std::fs::File::open(path).expect("open"));
    let mut line = Vec::with_capacity(1 << 12);
    let mut n = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).expect("read") == 0 {
            break;
        }
        let op: Op = serde_json::from_slice(&line).expect("a valid line");
        std::hint::black_box(op);
        n += 1;
    }
    n
}

fn check_all(path: &Path) {
    let h = History::from_path(path).expect("a valid history");
    let g = Guarantees {
        exclusive_leadership: true,
        fence_on_grant: true,
        leaderless: false,
    };
    let r = check(&h, &g);
    assert_eq!(r.valid, checkers::Validity::Valid, "{:#?}", r.anomalies);
    std::hint::black_box(r);
}

fn child(path: &Path) {
    let t = Instant::now();
    check_all(path);
    println!("{:.3}", t.elapsed().as_secs_f64());
}

/// Runs the whole check in a child process and reads its peak RSS.
fn child_peak_rss_kib(path: &Path) -> i64 {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(path)
        .output()
        .expect("run the child check");
    assert!(
        out.status.success(),
        "child check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut u), 0);
        u
    };
    println!(
        "  child check took {} s",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    usage.ru_maxrss
}
