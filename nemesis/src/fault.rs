//! A fault as plain data: its kind and every concrete parameter, so a schedule replays
//! exactly and a simulator can read it without this crate's executor.

use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::packet::{LinkSide, PacketParams};
use crate::partition::PartitionPlan;
use crate::runtime::FaultKind;
use crate::targets::Targets;

/// One fault, with its parameters drawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    Partition {
        plan: PartitionPlan,
    },
    Pause {
        targets: Targets,
    },
    Kill {
        targets: Targets,
    },
    /// Killed, and every write since the last fsync lost; started again at the heal.
    PowerLoss {
        targets: Targets,
    },
    /// Every target's clock set `delta_ms` off true time until the fault heals.
    ClockJump {
        targets: Targets,
        delta_ms: i64,
    },
    /// Every target's clock flips between the two offsets each `period_ms`, starting
    /// with the first, until the fault heals.
    ClockStrobe {
        targets: Targets,
        offsets_ms: [i64; 2],
        period_ms: u64,
    },
    /// Every packet on the targets' links (`side` says which directions) shaped by
    /// `params` until the fault heals.
    Packet {
        params: PacketParams,
        targets: Targets,
        side: LinkSide,
    },
    /// `point` armed on every target: each dies when its code reaches it, and is
    /// started again (or disarmed, if it never got there) at the heal.
    CrashPoint {
        targets: Targets,
        point: CrashPoint,
    },
}

/// Faults that must not overlap one another: a partition replaces the one in force, two
/// process faults on the same node would undo each other, a clock reset resets all, and
/// a packet heal removes every shaping. Crash points add up and each heal disarms only
/// its own: they may overlap anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exclusion {
    Network,
    Process,
    Clock,
    Packet,
    CrashPoint,
}

impl Fault {
    /// The runtime primitive this fault needs.
    pub fn fault_kind(&self) -> FaultKind {
        match self {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::PowerLoss { .. } => FaultKind::PowerLoss,
            Fault::ClockJump { .. } | Fault::ClockStrobe { .. } => FaultKind::Clock,
            Fault::Packet { .. } => FaultKind::Packet,
            Fault::CrashPoint { .. } => FaultKind::CrashPoint,
        }
    }

    pub fn exclusion(&self) -> Exclusion {
        exclusion_of(self.fault_kind())
    }

    /// The targets, for faults that have them.
    pub fn targets(&self) -> Option<&Targets> {
        match self {
            Fault::Partition { .. } => None,
            Fault::Pause { targets }
            | Fault::Kill { targets }
            | Fault::PowerLoss { targets }
            | Fault::ClockJump { targets, .. }
            | Fault::ClockStrobe { targets, .. }
            | Fault::Packet { targets, .. }
            | Fault::CrashPoint { targets, .. } => Some(targets),
        }
    }

    /// Whether something in this fault waits for the leader to be known.
    pub fn needs_leader(&self) -> bool {
        match self {
            Fault::Partition { plan } => plan.needs_leader(),
            _ => self.targets().is_some_and(|t| t.nodes.is_none()),
        }
    }

    /// Whether the fault waits for the leader a partition in force cut off (see
    /// [`Selector::CutLeader`](crate::targets::Selector::CutLeader) and
    /// [`Selector::CutRest`](crate::targets::Selector::CutRest)).
    pub fn needs_cut_leader(&self) -> bool {
        use crate::targets::Selector;
        self.targets().is_some_and(|t| {
            t.nodes.is_none() && matches!(t.select, Selector::CutLeader | Selector::CutRest)
        })
    }

    /// This fault with its targets filled from the leader a partition cut off, out of
    /// `cluster`: that leader, or everyone else.
    pub fn with_cut_leader(&self, leader: &str, cluster: &[String]) -> Fault {
        use crate::targets::Selector;
        let mut fault = self.clone();
        if let Some(targets) = fault.targets_mut() {
            if targets.nodes.is_none() {
                targets.nodes = match targets.select {
                    Selector::CutLeader => Some(vec![leader.to_string()]),
                    Selector::CutRest => Some(
                        cluster
                            .iter()
                            .filter(|n| n.as_str() != leader)
                            .cloned()
                            .collect(),
                    ),
                    _ => None,
                };
            }
        }
        fault
    }

    fn targets_mut(&mut self) -> Option<&mut Targets> {
        match self {
            Fault::Partition { .. } => None,
            Fault::Pause { targets }
            | Fault::Kill { targets }
            | Fault::PowerLoss { targets }
            | Fault::ClockJump { targets, .. }
            | Fault::ClockStrobe { targets, .. }
            | Fault::Packet { targets, .. }
            | Fault::CrashPoint { targets, .. } => Some(targets),
        }
    }

    /// This fault with `leader` filled in wherever it waits for the leader.
    pub fn with_leader(&self, leader: &str) -> Fault {
        let mut fault = self.clone();
        if let Fault::Partition { plan } = &mut fault {
            *plan = plan.with_leader(leader);
        } else if let Some(targets) = fault.targets_mut() {
            if targets.nodes.is_none() {
                targets.nodes = Some(vec![leader.to_string()]);
            }
        }
        fault
    }

    /// A short human form, e.g. `pause minority [n1 n4]`, `clock-jump +30000 ms on [n2]`
    /// or `packet loss 20 % out of leader (n3)`.
    pub fn describe(&self) -> String {
        match self {
            Fault::Partition { plan } => format!("partition {}", plan.describe()),
            Fault::Pause { targets } => format!("pause {}", targets.describe()),
            Fault::Kill { targets } => format!("kill {}", targets.describe()),
            Fault::PowerLoss { targets } => format!("power-loss {}", targets.describe()),
            Fault::ClockJump { targets, delta_ms } => {
                format!("clock-jump {delta_ms:+} ms on {}", targets.describe())
            }
            Fault::ClockStrobe {
                targets,
                offsets_ms,
                period_ms,
            } => format!(
                "clock-strobe {:+}/{:+} ms every {period_ms} ms on {}",
                offsets_ms[0],
                offsets_ms[1],
                targets.describe()
            ),
            Fault::Packet {
                params,
                targets,
                side,
            } => format!("packet {params} {} {}", side.name(), targets.describe()),
            Fault::CrashPoint { targets, point } => {
                format!("crash-point {point} on {}", targets.describe())
            }
        }
    }
}

pub(crate) fn exclusion_of(kind: FaultKind) -> Exclusion {
    match kind {
        FaultKind::Partition => Exclusion::Network,
        FaultKind::Pause | FaultKind::Kill | FaultKind::PowerLoss => Exclusion::Process,
        FaultKind::Clock => Exclusion::Clock,
        FaultKind::Packet => Exclusion::Packet,
        FaultKind::CrashPoint => Exclusion::CrashPoint,
    }
}
