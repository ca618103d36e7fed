//! Choosing a private /24 for a run's network that collides with no route on this host
//! and no existing docker network.

use std::net::Ipv4Addr;

/// An IPv4 network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let (a, p) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 32).then_some(Net { addr, prefix })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn overlaps(&self, other: &Net) -> bool {
        let m = self.mask() & other.mask();
        (u32::from(self.addr) & m) == (u32::from(other.addr) & m)
    }

    /// The `i`th host address (1 is the gateway).
    pub fn host(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()) + i)
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Networks routed on this host (from /proc/net/route), default route excluded.
pub fn host_routes() -> Vec<Net> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        if mask == 0 {
            continue;
        }
        // The kernel prints the in-memory (network order) bytes as a native u32.
        out.push(Net {
            addr: Ipv4Addr::from(dest.to_ne_bytes()),
            prefix: mask.count_ones() as u8,
        });
    }
    out
}

/// First octet pair of the pool we carve /24s from.
const POOL: [u8; 2] = [10, 213];

/// Candidate /24s in the pool, starting at a random one so concurrent runs rarely race.
pub fn candidates(taken: &[Net]) -> Vec<Net> {
    let start: u8 = rand::random();
    (0..=255u16)
        .map(|i| start.wrapping_add(i as u8))
        .map(|third| Net {
            addr: Ipv4Addr::new(POOL[0], POOL[1], third, 0),
            prefix: 24,
        })
        .filter(|n| !taken.iter().any(|t| t.overlaps(n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_hosts() {
        let a = Net::parse("10.213.5.0/24").unwrap();
        let b = Net::parse("10.0.0.0/8").unwrap();
        let c = Net::parse("10.214.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.host(2), Ipv4Addr::new(10, 213, 5, 2));
        assert!(Net::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn candidates_avoid_taken() {
        let taken = vec![Net::parse("10.213.0.0/17").unwrap()];
        let c = candidates(&taken);
        assert_eq!(c.len(), 128);
        assert!(c.iter().all(|n| n.addr.octets()[2] >= 128));
    }

    #[test]
    fn routes_include_loopback_free_table() {
        // Only checks parsing does not panic and yields sane prefixes.
        assert!(host_routes().iter().all(|n| n.prefix <= 32));
    }
}
