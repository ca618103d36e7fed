//! Choosing loopback ports for raftd nodes that a caller starts itself (the local
//! runtime, tests): ports outside the kernel's ephemeral range, so that no socket bound
//! to port 0 and no outgoing connection can take one between choosing it and the node
//! binding it.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the kernel hands out ephemeral ports when nothing says otherwise.
const EPHEMERAL_DEFAULT: (u16, u16) = (32768, 60999);
/// The lowest port ever chosen: below it live well-known and registered services.
const CHOSEN_PORT_MIN: u16 = 10_000;
/// A usable gap must hold at least this many ports.
const GAP_PORTS_MIN: u32 = 1000;

/// The next candidate, as an offset into the gap; shared by every caller in this
/// process so that two clusters started at once never get the same port.
static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(lo, hi)| lo <= hi)
        .unwrap_or(EPHEMERAL_DEFAULT)
}

/// The larger of the two gaps around the ephemeral range: (first port, how many).
fn gap() -> io::Result<(u16, u32)> {
    let (lo, hi) = ephemeral_range();
    let below = u32::from(lo.saturating_sub(CHOSEN_PORT_MIN));
    let above = u32::from(u16::MAX - hi);
    let (start, len) = if below >= above {
        (CHOSEN_PORT_MIN, below)
    } else {
        (hi + 1, above)
    };
    if len < GAP_PORTS_MIN {
        return Err(io::Error::other(format!(
            "the ephemeral port range {lo}-{hi} leaves fewer than {GAP_PORTS_MIN} ports \
             free for nodes"
        )));
    }
    Ok((start, len))
}

/// `n` distinct ports on 127.0.0.1, free when chosen and outside the ephemeral range.
/// Each was bound once (and released) to prove it free; the caller's nodes bind them.
pub fn loopback_ports(n: usize) -> io::Result<Vec<u16>> {
    let (start, len) = gap()?;
    // Start each process somewhere else in the gap, so that consecutive processes (test
    // binaries, runs) do not reuse the ports of the one before.
    let seed = std::process::id().wrapping_mul(2_654_435_761) % len;
    let _ = CURSOR.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    let mut held = Vec::with_capacity(n);
    for _ in 0..len {
        if held.len() == n {
            break;
        }
        let offset = CURSOR.fetch_add(1, Ordering::SeqCst) % len;
        let port = start + offset as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "fewer than {n} free loopback ports in {start}..{}",
                u32::from(start) + len
            ),
        ));
    }
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_not_ephemeral() {
        let (lo, hi) = ephemeral_range();
        let a = loopback_ports(20).unwrap();
        let b = loopback_ports(20).unwrap();
        let all: std::collections::BTreeSet<u16> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 40, "{a:?} {b:?}");
        assert!(
            all.iter().all(|p| *p < lo || *p > hi),
            "{all:?} in {lo}-{hi}"
        );
        for p in a {
            TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }
}
