//! The simulated network between nodes: per directed link a state (healthy, cut by the
//! nemesis's grudge, or holding messages for a while), per-message delays drawn from the
//! seed, and first-in first-out delivery on each link, as raftd's TCP transport gives it.

use std::collections::{BTreeMap, BTreeSet};

use nemesis::{Grudge, PacketParams};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A directed link's state as a message sees it when it is sent or arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Healthy,
    /// Everything sent on it is dropped on arrival (one way if only this direction).
    Cut,
    /// Messages wait on the link until `until_ns`, then arrive in order.
    Holding {
        until_ns: u64,
    },
}

/// Delays and holds, all drawn from the run's seed.
#[derive(Debug, Clone, Copy)]
pub struct NetParams {
    pub delay_ns_min: u64,
    pub delay_ns_max: u64,
    /// Mean time between two holds somewhere in the network; 0 for none.
    pub hold_every_ns: u64,
    pub hold_ns_max: u64,
    /// Chance that one message is held back on its own: it arrives up to
    /// `spike_ns_max` late, overtaken by the messages sent after it.
    pub spike_p: f64,
    pub spike_ns_max: u64,
}

impl NetParams {
    /// This run's network, drawn from `rng`: fast or slow, with or without holds, and
    /// (`spikes`, with the partition fault) with or without single late messages.
    pub fn draw(rng: &mut ChaCha8Rng, spikes: bool) -> NetParams {
        let delay_ns_max = rng.random_range(500_000..=20_000_000);
        let hold_every_ns = if rng.random_bool(0.5) {
            rng.random_range(2_000_000_000..=10_000_000_000)
        } else {
            0
        };
        let (spike_p, spike_ns_max) = if spikes && rng.random_bool(0.5) {
            (
                rng.random_range(0.002..=0.05),
                rng.random_range(50_000_000..=1_000_000_000),
            )
        } else {
            (0.0, 0)
        };
        NetParams {
            delay_ns_min: 100_000,
            delay_ns_max,
            hold_every_ns,
            hold_ns_max: 1_500_000_000,
            spike_p,
            spike_ns_max,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Link {
    last_arrival_ns: u64,
    held_until_ns: u64,
}

/// Every directed link of an `n`-node cluster.
pub struct Net {
    n: usize,
    links: Vec<Link>,
    /// (from, to) pairs the grudge cuts.
    cut: BTreeSet<(usize, usize)>,
    pub params: NetParams,
    rng: ChaCha8Rng,
    /// Per node, until when everything it sends is lost.
    muted_until_ns: Vec<u64>,
    /// The packet fault in force, if any.
    shaping: Option<Shaping>,
}

/// A packet fault on the simulated links, applied per message: the simulation has no
/// packets, so loss loses a message, duplication delivers it twice, and reordering holds
/// it back while later ones overtake it — at least as hard on the cores as what TCP makes
/// of the same faults on the wire (retransmission delays).
struct Shaping {
    params: PacketParams,
    links: BTreeSet<(usize, usize)>,
    /// Per link under a bandwidth limit, until when it is busy sending.
    busy_until_ns: BTreeMap<(usize, usize), u64>,
}

const NS_PER_MS: u64 = 1_000_000;

impl Net {
    pub fn new(n: usize, params: NetParams, seed: u64) -> Net {
        Net {
            n,
            links: vec![Link::default(); n * n],
            cut: BTreeSet::new(),
            params,
            rng: ChaCha8Rng::seed_from_u64(seed),
            muted_until_ns: vec![0; n],
            shaping: None,
        }
    }

    pub fn state(&self, from: usize, to: usize, now_ns: u64) -> LinkState {
        if self.cut.contains(&(from, to)) {
            return LinkState::Cut;
        }
        match self.links[from * self.n + to].held_until_ns {
            until_ns if until_ns > now_ns => LinkState::Holding { until_ns },
            _ => LinkState::Healthy,
        }
    }

    /// When a message sent now on `from → to` arrives (whether it is dropped is decided
    /// on arrival: a cut drops what comes in, as iptables on the receiver does).
    pub fn arrival(&mut self, from: usize, to: usize, now_ns: u64) -> u64 {
        let delay = self
            .rng
            .random_range(self.params.delay_ns_min..=self.params.delay_ns_max);
        if self.params.spike_p > 0.0 && self.rng.random_bool(self.params.spike_p) {
            // Late on its own, as if retransmitted: later messages overtake it.
            let late = self.rng.random_range(1..=self.params.spike_ns_max);
            let link = &self.links[from * self.n + to];
            return now_ns.max(link.held_until_ns) + delay + late;
        }
        let link = &mut self.links[from * self.n + to];
        let ready = now_ns.max(link.held_until_ns) + delay;
        let at = ready.max(link.last_arrival_ns);
        link.last_arrival_ns = at;
        at
    }

    /// When a message of `bytes` (asked only under a bandwidth limit) sent now on
    /// `from → to` arrives: once, or never or twice under a packet fault.
    pub fn arrivals(
        &mut self,
        from: usize,
        to: usize,
        now_ns: u64,
        bytes: impl FnOnce() -> usize,
    ) -> Vec<u64> {
        let Some(params) = self
            .shaping
            .as_ref()
            .filter(|s| s.links.contains(&(from, to)))
            .map(|s| s.params)
        else {
            return vec![self.arrival(from, to, now_ns)];
        };
        let mut hit = |percent: u32| self.rng.random_ratio(percent, 100);
        match params {
            PacketParams::Loss { percent } if hit(percent) => Vec::new(),
            PacketParams::Duplicate { percent } if hit(percent) => {
                vec![
                    self.arrival(from, to, now_ns),
                    self.arrival(from, to, now_ns),
                ]
            }
            PacketParams::Delay {
                delay_ms,
                jitter_ms,
            } => {
                let extra_ms = delay_ms + self.rng.random_range(0..=jitter_ms);
                vec![self.arrival(from, to, now_ns) + extra_ms * NS_PER_MS]
            }
            PacketParams::Reorder { percent, hold_ms } if hit(percent) => {
                vec![self.arrival(from, to, now_ns) + hold_ms * NS_PER_MS]
            }
            PacketParams::Bandwidth { rate_kbit } => {
                let tx_ns = bytes() as u64 * 8 * NS_PER_MS / rate_kbit.max(1);
                let shaping = self.shaping.as_mut().expect("shaping in force");
                let busy = shaping.busy_until_ns.entry((from, to)).or_insert(0);
                *busy = (*busy).max(now_ns) + tx_ns;
                let sent_ns = *busy;
                vec![self.arrival(from, to, sent_ns)]
            }
            _ => vec![self.arrival(from, to, now_ns)],
        }
    }

    /// Put `params` in force on `links` (pairs of node indices), replacing any other.
    pub fn shape(&mut self, params: PacketParams, links: BTreeSet<(usize, usize)>) {
        self.shaping = Some(Shaping {
            params,
            links,
            busy_until_ns: BTreeMap::new(),
        });
    }

    pub fn unshape(&mut self) {
        self.shaping = None;
    }

    /// Everything `node` sends until `until_ns` is lost, as if its links went down.
    pub fn mute(&mut self, node: usize, until_ns: u64) {
        self.muted_until_ns[node] = self.muted_until_ns[node].max(until_ns);
    }

    /// Whether what `node` sends now is lost.
    pub fn muted(&self, node: usize, now_ns: u64) -> bool {
        self.muted_until_ns[node] > now_ns
    }

    /// Replace the cuts with `grudge` (`drops[a]` holds the nodes whose messages `a` drops).
    pub fn set_grudge(&mut self, grudge: &Grudge, index_of: impl Fn(&str) -> Option<usize>) {
        self.cut.clear();
        for (to, froms) in &grudge.drops {
            let Some(to) = index_of(to) else { continue };
            for from in froms {
                if let Some(from) = index_of(from) {
                    self.cut.insert((from, to));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Starts a hold on a random link; returns when the next one is due, if any.
    pub fn hold(&mut self, now_ns: u64) -> Option<u64> {
        if self.params.hold_every_ns == 0 || self.n < 2 {
            return None;
        }
        let from = self.rng.random_range(0..self.n);
        let to = (from + self.rng.random_range(1..self.n)) % self.n;
        let hold = self.rng.random_range(1..=self.params.hold_ns_max);
        let link = &mut self.links[from * self.n + to];
        link.held_until_ns = link.held_until_ns.max(now_ns + hold);
        Some(now_ns + self.rng.random_range(1..=2 * self.params.hold_every_ns))
    }

    /// Ends every hold and late message to come (the final phase heals the network).
    pub fn release_holds(&mut self, now_ns: u64) {
        self.params.spike_p = 0.0;
        for until in &mut self.muted_until_ns {
            *until = (*until).min(now_ns);
        }
        for link in &mut self.links {
            link.held_until_ns = link.held_until_ns.min(now_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Net {
        let params = NetParams {
            delay_ns_min: 1_000,
            delay_ns_max: 1_000,
            hold_every_ns: 0,
            hold_ns_max: 0,
            spike_p: 0.0,
            spike_ns_max: 0,
        };
        Net::new(3, params, 7)
    }

    /// Arrivals of `count` messages of 1000 bytes sent at `now_ns` on 0 → 1.
    fn sent(net: &mut Net, count: usize, now_ns: u64) -> Vec<Vec<u64>> {
        (0..count)
            .map(|_| net.arrivals(0, 1, now_ns, || 1_000))
            .collect()
    }

    #[test]
    fn packet_faults_shape_their_links_alone_until_unshaped() {
        let mut n = net();
        let link: BTreeSet<(usize, usize)> = [(0, 1)].into();
        n.shape(PacketParams::Loss { percent: 100 }, link.clone());
        assert!(sent(&mut n, 5, 0).iter().all(Vec::is_empty));
        assert_eq!(
            n.arrivals(1, 0, 0, || 1_000).len(),
            1,
            "1 → 0 is not shaped"
        );
        n.shape(PacketParams::Duplicate { percent: 100 }, link.clone());
        assert!(sent(&mut n, 5, 0).iter().all(|a| a.len() == 2));
        n.shape(
            PacketParams::Delay {
                delay_ms: 100,
                jitter_ms: 0,
            },
            link.clone(),
        );
        let t0 = 10 * NS_PER_MS;
        assert!(sent(&mut n, 5, t0)
            .iter()
            .all(|a| a.len() == 1 && a[0] >= t0 + 100 * NS_PER_MS));
        // 1000 bytes at 80 kbit/s take 100 ms each: the fifth leaves 500 ms after the start.
        n.shape(PacketParams::Bandwidth { rate_kbit: 80 }, link.clone());
        let t1 = 1_000 * NS_PER_MS;
        let last = sent(&mut n, 5, t1).pop().unwrap();
        assert!(last[0] >= t1 + 500 * NS_PER_MS, "{last:?}");
        n.unshape();
        let t2 = 2_000 * NS_PER_MS;
        assert!(sent(&mut n, 5, t2)
            .iter()
            .all(|a| a.len() == 1 && a[0] < t2 + NS_PER_MS));
    }
}
