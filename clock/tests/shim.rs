//! The shim preloaded into real programs: `date`, this test binary itself (every clock
//! id, `gettimeofday`, `time`), and Debian's jemalloc-linked redis-server, which hangs at
//! start under libfaketime.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set in the child that [`probe_under_the_shim`] runs as.
const PROBE_ENV: &str = "SPLITBRAIN_CLOCK_PROBE";
const NS_PER_S: i128 = 1_000_000_000;
const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// How long a redis-server may take to answer its first PING.
const REDIS_START_WAIT_MS: u64 = 10_000;
/// How long a moved clock may take to reach redis-server (the shim re-reads its file
/// every 10 ms; the rest is slack for a loaded machine).
const CLOCK_MOVE_WAIT_MS: u64 = 5_000;
/// How long one request to redis-server may take.
const REDIS_IO_TIMEOUT_MS: u64 = 2_000;
/// Pause between two polls of a condition.
const POLL_INTERVAL_MS: u64 = 10;

/// The shim as this source builds it: `$SPLITBRAIN_CLOCK_LIB`, else built once into a
/// target directory of its own. cargo builds no cdylib for a crate's own integration
/// tests, and the running `cargo test` holds the main target directory.
fn library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        if let Some(p) = std::env::var_os("SPLITBRAIN_CLOCK_LIB") {
            return PathBuf::from(p);
        }
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clock-build");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "splitbrain-clock", "--lib", "--target-dir"])
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p splitbrain-clock failed");
        target.join("debug").join("libsplitbrain_clock.so")
    })
}

/// A control file holding `text`, in a directory removed on drop.
fn control_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clock");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn under_shim<'a>(cmd: &'a mut Command, file: &Path) -> &'a mut Command {
    cmd.env("LD_PRELOAD", library())
        .env("SPLITBRAIN_CLOCK_FILE", file)
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `date +%s` under the shim with `text` in its control file, bracketed by this test's
/// own clock: (before, printed, after).
fn date_under(text: &str) -> (i64, i64, i64) {
    let (_dir, file) = control_file(text);
    let before = unix_seconds();
    let out = under_shim(&mut Command::new("/bin/date"), &file)
        .arg("+%s")
        .output()
        .expect("/bin/date runs");
    let after = unix_seconds();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (before, printed, after)
}

#[test]
fn date_prints_the_moved_time() {
    let (before, printed, after) = date_under("+3600.000\n");
    assert!(
        (before + 3600..=after + 3600).contains(&printed),
        "{printed} is not an hour ahead of {before}..{after}"
    );
    let (before, printed, after) = date_under("-7200.000\n");
    assert!(
        (before - 7200..=after - 7200).contains(&printed),
        "{printed} is not two hours behind {before}..{after}"
    );
}

#[test]
fn a_missing_or_malformed_control_file_moves_nothing() {
    for text in ["", "soon\n", "3600\n"] {
        let (before, printed, after) = date_under(text);
        assert!((before..=after).contains(&printed), "{text:?}: {printed}");
    }
    let (dir, file) = control_file("+3600.000\n");
    drop(dir);
    let out = under_shim(&mut Command::new("/bin/date"), &file)
        .arg("+%s")
        .output()
        .unwrap();
    let printed: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!((printed - unix_seconds()).abs() <= 1, "{printed}");
}

/// Every clock id the probe reads, by name. CPU-time clocks are judged apart.
const CLOCKS: [(&str, libc::clockid_t, bool); 8] = [
    ("realtime", libc::CLOCK_REALTIME, true),
    ("realtime-coarse", libc::CLOCK_REALTIME_COARSE, true),
    ("tai", libc::CLOCK_TAI, true),
    ("realtime-alarm", libc::CLOCK_REALTIME_ALARM, true),
    ("monotonic", libc::CLOCK_MONOTONIC, false),
    ("monotonic-raw", libc::CLOCK_MONOTONIC_RAW, false),
    ("monotonic-coarse", libc::CLOCK_MONOTONIC_COARSE, false),
    ("boottime", libc::CLOCK_BOOTTIME, false),
];

/// The kernel's reading of `clock` in nanoseconds, past the vDSO and any preload.
fn kernel_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one timespec into `ts`.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as i128 * NS_PER_S + ts.tv_nsec as i128)
}

/// Through libc's dynamic symbol: the shim's when it is preloaded.
fn libc_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: libc writes one timespec into `ts`.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as i128 * NS_PER_S + ts.tv_nsec as i128)
}

/// Run by [`wall_clocks_move_and_the_others_do_not`] as a child of its own, under the
/// shim: prints what each clock call answers there, on stderr, where the test harness
/// writes nothing of its own. Run directly, it has nothing to do.
#[test]
fn probe_under_the_shim() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    for (name, id, _) in CLOCKS {
        match libc_ns(id) {
            Some(ns) => eprintln!("probe {name} {ns}"),
            None => eprintln!("probe {name} error"),
        }
    }
    for (name, id) in [
        ("process-cputime", libc::CLOCK_PROCESS_CPUTIME_ID),
        ("thread-cputime", libc::CLOCK_THREAD_CPUTIME_ID),
    ] {
        eprintln!("probe {name} {}", libc_ns(id).expect("a CPU-time clock"));
    }
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: libc writes one timeval; the time zone is not asked for.
    assert_eq!(
        unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) },
        0
    );
    eprintln!(
        "probe gettimeofday-us {}",
        tv.tv_sec as i128 * 1_000_000 + tv.tv_usec as i128
    );
    // SAFETY: `time` with no out-pointer only returns the seconds.
    eprintln!("probe time-s {}", unsafe {
        libc::time(std::ptr::null_mut())
    });
}

/// The probe's lines, by name: `None` where its call failed.
fn run_probe(file: &Path) -> std::collections::BTreeMap<String, Option<i128>> {
    let exe = std::env::current_exe().unwrap();
    let out = under_shim(&mut Command::new(exe), file)
        .args([
            "probe_under_the_shim",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, "1")
        .output()
        .expect("the probe runs");
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("probe "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, v)| (name.to_string(), v.parse().ok()))
        .collect()
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every clock the probe reads lies between this test's readings of the same clock
/// taken before and after it, moved by the offset for the wall clocks only.
#[test]
fn wall_clocks_move_and_the_others_do_not() {
    let offset_ns = 3600 * NS_PER_S;
    let (_dir, file) = control_file("+3600.000\n");
    let before: Vec<_> = CLOCKS.iter().map(|c| kernel_ns(c.1)).collect();
    let started = Instant::now();
    let seen = run_probe(&file);
    let elapsed_ns = started.elapsed().as_nanos() as i128;
    let after: Vec<_> = CLOCKS.iter().map(|c| kernel_ns(c.1)).collect();
    for (i, (name, _, wall)) in CLOCKS.iter().enumerate() {
        let got = seen
            .get(*name)
            .unwrap_or_else(|| panic!("no {name} in {seen:?}"));
        let (Some(lo), Some(hi)) = (before[i], after[i]) else {
            // This kernel has no such clock (an alarm clock needs an RTC): neither may
            // the shim.
            assert_eq!(*got, None, "{name}");
            continue;
        };
        let shift = if *wall { offset_ns } else { 0 };
        let got = got.unwrap_or_else(|| panic!("{name} failed under the shim"));
        assert!(
            (lo + shift..=hi + shift).contains(&got),
            "{name}: {got} is not in {}..{} moved by {shift}",
            lo,
            hi
        );
    }
    // A CPU-time clock counts the probe's own CPU, less than its whole run.
    for name in ["process-cputime", "thread-cputime"] {
        let cpu = seen[name].unwrap();
        assert!((0..=elapsed_ns).contains(&cpu), "{name}: {cpu} ns");
    }
    let (lo, hi) = (before[0].unwrap(), after[0].unwrap());
    let us = seen["gettimeofday-us"].unwrap();
    assert!((lo / 1000 + offset_ns / 1000..=hi / 1000 + offset_ns / 1000).contains(&us));
    let s = seen["time-s"].unwrap();
    assert!(
        (lo / NS_PER_S + 3600..=hi / NS_PER_S + 3600).contains(&s),
        "{s}"
    );
}

/// A redis-server of this test's own, killed and reaped on drop (a failed assertion
/// included).
struct Redis {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    fn start(dir: &Path, file: &Path) -> Redis {
        // Free when chosen; nothing else on this machine binds loopback ports at random.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = dir.join("redis.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = under_shim(&mut Command::new(REDIS_SERVER), file)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("redis-server starts");
        Redis { child, port, log }
    }

    /// One command and its reply: a simple string, an integer or a bulk string as its
    /// text, `(nil)` for none, an array's items joined by spaces, an error as `-…`.
    fn call(&self, args: &[&str]) -> std::io::Result<String> {
        let timeout = Duration::from_millis(REDIS_IO_TIMEOUT_MS);
        let addr = ([127, 0, 0, 1], self.port).into();
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut request = format!("*{}\r\n", args.len());
        for a in args {
            request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(request.as_bytes())?;
        read_reply(&mut BufReader::new(stream))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end();
    let bad = || std::io::Error::other(format!("unexpected reply {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    match kind {
        "+" | ":" => Ok(rest.to_string()),
        "-" => Ok(line.to_string()),
        "$" if rest == "-1" => Ok("(nil)".into()),
        "$" => {
            let len: usize = rest.parse().map_err(|_| bad())?;
            let mut data = vec![0; len + 2];
            r.read_exact(&mut data)?;
            data.truncate(len);
            String::from_utf8(data).map_err(std::io::Error::other)
        }
        "*" => {
            let n: usize = rest.parse().map_err(|_| bad())?;
            let items: std::io::Result<Vec<String>> = (0..n).map(|_| read_reply(r)).collect();
            Ok(items?.join(" "))
        }
        _ => Err(bad()),
    }
}

/// Polls `cond` until it holds; panics with `what` and `context()` once `wait_ms` passed.
fn await_condition(
    what: &str,
    wait_ms: u64,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {wait_ms} ms\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

/// Under libfaketime this redis-server never answers; under the shim it starts, and a
/// key with 100 s to live is gone once its clock moves 200 s ahead.
#[test]
fn redis_server_runs_under_the_shim_and_expires_keys_when_its_clock_jumps() {
    if !Path::new(REDIS_SERVER).is_file() {
        eprintln!("skipped: {REDIS_SERVER} is absent (Debian's redis-server package)");
        return;
    }
    let (dir, file) = control_file("+0.000\n");
    let redis = Redis::start(dir.path(), &file);
    await_condition(
        "redis-server answers PING",
        REDIS_START_WAIT_MS,
        || redis.call(&["PING"]).is_ok_and(|r| r == "PONG"),
        || redis.log(),
    );
    assert_eq!(
        redis.call(&["SET", "k", "v", "PX", "100000"]).unwrap(),
        "OK"
    );
    assert_eq!(redis.call(&["GET", "k"]).unwrap(), "v");

    // Rewritten in place, as the runtime does.
    std::fs::write(&file, "+200.000\n").unwrap();
    await_condition(
        "the key expires once the clock is 200 s ahead",
        CLOCK_MOVE_WAIT_MS,
        || redis.call(&["GET", "k"]).is_ok_and(|r| r == "(nil)"),
        || redis.log(),
    );
    let time = redis.call(&["TIME"]).unwrap();
    let seconds: i64 = time.split(' ').next().unwrap().parse().unwrap();
    let ahead = seconds - unix_seconds();
    assert!(
        (199..=201).contains(&ahead),
        "TIME says {time}: {ahead} s ahead"
    );
}
