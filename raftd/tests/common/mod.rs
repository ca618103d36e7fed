//! The harness the raftd integration tests share: clusters of real raftd processes on
//! 127.0.0.1 (killed when dropped, even on panic), optionally with cuttable proxies
//! between them, and HTTP with nothing but std.

// Each test binary (server, durability, http_fuzz) uses a different part of this module.
#![allow(dead_code)]

mod cluster;
mod http;
mod proxy;

use std::time::{Duration, Instant};

pub use cluster::*;
pub use http::*;

/// Bound on waiting for a node to serve or a cluster to agree on a leader.
pub const WAIT_MS_MAX: u64 = 15_000;
/// How often `wait_for` asks again.
pub const POLL_INTERVAL_MS: u64 = 20;

/// Polls `f` until it gives `Some`, or panics after `ms` naming `what`.
pub fn wait_for<T>(ms: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_millis(ms);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {ms} ms waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

/// The write ids of a `/read` answer, in log order; an entry without one shows as "".
pub fn ids(a: &Answer) -> Vec<String> {
    a.body["log"]
        .as_array()
        .map(|log| {
            log.iter()
                .map(|w| w["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `ids` with each id once, where it first appears. A write whose outcome was unknown
/// (504) and was sent again may be in the log twice; tests that must tolerate leadership
/// moving under them compare distinct ids.
pub fn distinct(ids: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// VmRSS of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// VmHWM of a process in KiB: its peak resident memory since it started, or since
/// [`reset_peak_rss`].
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM")
}

/// Makes VmHWM start again from the current RSS (through /proc/PID/clear_refs); false if
/// the kernel refused, and the peak then counts from the process's start.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
