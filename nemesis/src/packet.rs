//! Packet faults without netem: delay with jitter, loss, duplication, reordering and
//! bandwidth limits, each on a set of directed links (sender → receiver), drawn like the
//! targets of a process fault plus which of their directions it shapes.

use std::fmt;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::targets::{Selector, Targets};

/// The drawn delay is between these (inclusive), jitter up to the delay.
pub const DELAY_MS_RANGE: (u64, u64) = (20, 400);
/// Drawn loss, in percent of packets.
pub const LOSS_PERCENT_RANGE: (u32, u32) = (5, 40);
/// Drawn duplication, in percent of packets.
pub const DUPLICATE_PERCENT_RANGE: (u32, u32) = (5, 50);
/// Drawn reordering: the percent of packets held back, and for how long.
pub const REORDER_PERCENT_RANGE: (u32, u32) = (10, 50);
pub const REORDER_HOLD_MS_RANGE: (u64, u64) = (20, 300);
/// Drawn bandwidth limit, in kbit/s.
pub const RATE_KBIT_RANGE: (u64, u64) = (64, 1024);

/// The most a delay, jitter or hold may be in a hand-written schedule: a packet held
/// longer than this is as good as lost, and the queue holding it must stay bounded.
pub const HOLD_MS_MAX: u64 = 10_000;
/// The slowest bandwidth limit a hand-written schedule may set.
pub const RATE_KBIT_MIN: u64 = 8;

/// The selectors the links of a packet fault are drawn with.
pub const PACKET_SELECTORS: [Selector; 4] = [
    Selector::One,
    Selector::Leader,
    Selector::Minority,
    Selector::All,
];

/// The kinds of packet fault, one name each (`packet-delay`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PacketKind {
    Delay,
    Loss,
    Duplicate,
    Reorder,
    Bandwidth,
}

impl PacketKind {
    pub const ALL: [PacketKind; 5] = [
        PacketKind::Delay,
        PacketKind::Loss,
        PacketKind::Duplicate,
        PacketKind::Reorder,
        PacketKind::Bandwidth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Delay => "delay",
            PacketKind::Loss => "loss",
            PacketKind::Duplicate => "duplicate",
            PacketKind::Reorder => "reorder",
            PacketKind::Bandwidth => "bandwidth",
        }
    }
}

/// What a packet fault does to every packet of its links, with its parameters drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PacketParams {
    /// Each packet held `delay_ms` plus a uniform `0..=jitter_ms`; packets overtake one
    /// another when the jitter exceeds their spacing.
    Delay { delay_ms: u64, jitter_ms: u64 },
    /// Each packet dropped with this probability.
    Loss { percent: u32 },
    /// Each packet sent twice with this probability.
    Duplicate { percent: u32 },
    /// This share of packets held back `hold_ms`, so the rest overtake them.
    Reorder { percent: u32, hold_ms: u64 },
    /// What the sender sends on the links passes at most this rate.
    Bandwidth { rate_kbit: u64 },
}

impl PacketParams {
    pub fn kind(&self) -> PacketKind {
        match self {
            PacketParams::Delay { .. } => PacketKind::Delay,
            PacketParams::Loss { .. } => PacketKind::Loss,
            PacketParams::Duplicate { .. } => PacketKind::Duplicate,
            PacketParams::Reorder { .. } => PacketKind::Reorder,
            PacketParams::Bandwidth { .. } => PacketKind::Bandwidth,
        }
    }

    /// Draw the parameters of `kind` within the ranges above.
    pub fn draw<R: Rng + ?Sized>(kind: PacketKind, rng: &mut R) -> PacketParams {
        let range_u64 = |rng: &mut R, (lo, hi): (u64, u64)| rng.random_range(lo..=hi);
        let range_u32 = |rng: &mut R, (lo, hi): (u32, u32)| rng.random_range(lo..=hi);
        match kind {
            PacketKind::Delay => {
                let delay_ms = range_u64(rng, DELAY_MS_RANGE);
                PacketParams::Delay {
                    delay_ms,
                    jitter_ms: rng.random_range(0..=delay_ms),
                }
            }
            PacketKind::Loss => PacketParams::Loss {
                percent: range_u32(rng, LOSS_PERCENT_RANGE),
            },
            PacketKind::Duplicate => PacketParams::Duplicate {
                percent: range_u32(rng, DUPLICATE_PERCENT_RANGE),
            },
            PacketKind::Reorder => PacketParams::Reorder {
                percent: range_u32(rng, REORDER_PERCENT_RANGE),
                hold_ms: range_u64(rng, REORDER_HOLD_MS_RANGE),
            },
            PacketKind::Bandwidth => PacketParams::Bandwidth {
                rate_kbit: range_u64(rng, RATE_KBIT_RANGE),
            },
        }
    }

    /// What is wrong with these parameters, if anything. Hand-written schedules may go
    /// beyond the drawn ranges (a loss of 100 %), not beyond what can be carried out.
    pub fn check(&self) -> Result<(), String> {
        let percent = |p: u32| {
            if (1..=100).contains(&p) {
                Ok(())
            } else {
                Err(format!(
                    "packet {}: {p} % is not within 1..=100",
                    self.kind().name()
                ))
            }
        };
        let hold = |what: &str, ms: u64| {
            if ms <= HOLD_MS_MAX {
                Ok(())
            } else {
                Err(format!(
                    "packet {}: {what} {ms} ms is above {HOLD_MS_MAX} ms",
                    self.kind().name()
                ))
            }
        };
        match *self {
            PacketParams::Delay {
                delay_ms,
                jitter_ms,
            } => {
                hold("delay", delay_ms)?;
                hold("jitter", jitter_ms)?;
                if delay_ms + jitter_ms == 0 {
                    return Err("packet delay: a delay of 0 ms with no jitter does nothing".into());
                }
                Ok(())
            }
            PacketParams::Loss { percent: p } | PacketParams::Duplicate { percent: p } => {
                percent(p)
            }
            PacketParams::Reorder {
                percent: p,
                hold_ms,
            } => {
                percent(p)?;
                hold("hold", hold_ms)?;
                if hold_ms == 0 {
                    return Err("packet reorder: a hold of 0 ms reorders nothing".into());
                }
                Ok(())
            }
            PacketParams::Bandwidth { rate_kbit } if rate_kbit < RATE_KBIT_MIN => Err(format!(
                "packet bandwidth: {rate_kbit} kbit/s is below {RATE_KBIT_MIN} kbit/s"
            )),
            PacketParams::Bandwidth { .. } => Ok(()),
        }
    }
}

impl fmt::Display for PacketParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketParams::Delay {
                delay_ms,
                jitter_ms,
            } => write!(f, "delay {delay_ms} ms ± {jitter_ms} ms"),
            PacketParams::Loss { percent } => write!(f, "loss {percent} %"),
            PacketParams::Duplicate { percent } => write!(f, "duplicate {percent} %"),
            PacketParams::Reorder { percent, hold_ms } => {
                write!(f, "reorder {percent} % held {hold_ms} ms")
            }
            PacketParams::Bandwidth { rate_kbit } => write!(f, "bandwidth {rate_kbit} kbit/s"),
        }
    }
}

/// Which links of the target nodes a packet fault shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkSide {
    /// What the targets send and what is sent to them.
    Both,
    /// Only what the targets send.
    Outbound,
    /// Only what is sent to the targets.
    Inbound,
}

impl LinkSide {
    /// How a description reads the links of its targets: `out of leader (n3)`.
    pub fn name(self) -> &'static str {
        match self {
            LinkSide::Both => "to and from",
            LinkSide::Outbound => "out of",
            LinkSide::Inbound => "into",
        }
    }

    /// Half the faults shape both directions, a quarter each one direction alone.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R) -> LinkSide {
        match rng.random_range(0..4u8) {
            0 => LinkSide::Outbound,
            1 => LinkSide::Inbound,
            _ => LinkSide::Both,
        }
    }
}

/// A directed link: packets `from` sends to `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub from: String,
    pub to: String,
}

/// What a runtime puts in force: the same shaping on every listed link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketShape {
    pub params: PacketParams,
    pub links: Vec<Link>,
}

impl PacketShape {
    /// The links grouped by sender, as the runtimes install them (a sender's output path
    /// is where every shaping happens).
    pub fn by_sender(&self) -> std::collections::BTreeMap<&str, Vec<&str>> {
        let mut by = std::collections::BTreeMap::<&str, Vec<&str>>::new();
        for link in &self.links {
            by.entry(&link.from).or_default().push(&link.to);
        }
        by
    }
}

/// Every directed link over `cluster` that `side` of `nodes` covers, in cluster order.
pub fn links(cluster: &[String], nodes: &[String], side: LinkSide) -> Vec<Link> {
    let hit = |n: &String| nodes.contains(n);
    let mut out = Vec::new();
    for from in cluster {
        for to in cluster {
            let covered = from != to
                && match side {
                    LinkSide::Both => hit(from) || hit(to),
                    LinkSide::Outbound => hit(from),
                    LinkSide::Inbound => hit(to),
                };
            if covered {
                out.push(Link {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
    }
    out
}

/// Draw the targets and side of a packet fault over `cluster`. With every node a
/// target, every link is shaped whatever the side, so it is always `Both`.
pub fn draw_links<R: Rng + ?Sized>(cluster: &[String], rng: &mut R) -> (Targets, LinkSide) {
    let usable: Vec<Selector> = PACKET_SELECTORS
        .into_iter()
        .filter(|s| s.min_nodes() <= cluster.len())
        .collect();
    let select = usable[rng.random_range(0..usable.len())];
    let targets = Targets::draw(select, cluster, rng);
    let side = if select == Selector::All {
        LinkSide::Both
    } else {
        LinkSide::draw(rng)
    };
    (targets, side)
}
