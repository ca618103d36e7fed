//! What each step of a schedule asks of a runtime, as data: the primitive call, the
//! nemesis op it is recorded as, and what it puts in force or takes out. The executor
//! and a simulator share these rules.

use std::collections::{BTreeMap, BTreeSet};

use checkers::history::{Value, F};
use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::fault::Fault;
use crate::packet::{links, PacketShape};
use crate::partition::PartitionError;
use crate::runtime::{FaultError, FaultRuntime, Grudge};
use crate::schedule::Action;

/// One call of a `FaultRuntime` primitive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum Primitive {
    /// `groups` describes a symmetric partition for the history; a one-way one has none.
    Partition {
        grudge: Grudge,
        groups: Option<Vec<Vec<String>>>,
    },
    Heal,
    Pause {
        nodes: Vec<String>,
    },
    Resume {
        nodes: Vec<String>,
    },
    Kill {
        nodes: Vec<String>,
    },
    Start {
        nodes: Vec<String>,
    },
    /// A kill that also drops the nodes' unsynced writes; undone by `Start`.
    PowerLoss {
        nodes: Vec<String>,
    },
    Clock {
        offsets_ms: BTreeMap<String, i64>,
    },
    ClockReset,
    /// `nodes` are the fault's targets, whose links `shape` covers, for the history.
    Packet {
        shape: PacketShape,
        nodes: Vec<String>,
    },
    PacketHeal,
    /// `point` armed on `nodes`; undone by `CrashPointHeal`.
    CrashPoint {
        nodes: Vec<String>,
        point: CrashPoint,
    },
    /// `point` disarmed on those of `nodes` that run, and those that died started:
    /// recorded as a `start`, for every node runs unarmed after it.
    CrashPointHeal {
        nodes: Vec<String>,
        point: CrashPoint,
    },
}

/// Why a step has no primitive yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the fault still waits for its leader to be resolved")]
    LeaderUnresolved,
    #[error(transparent)]
    Partition(#[from] PartitionError),
}

impl Primitive {
    /// The primitive for `action` of `fault` (with its leader resolved) over `cluster`;
    /// `None` where the action does nothing for this fault (a flip of anything but a
    /// strobe).
    pub fn for_step(
        fault: &Fault,
        action: Action,
        cluster: &[String],
    ) -> Result<Option<Primitive>, StepError> {
        if fault.needs_leader() {
            return Err(StepError::LeaderUnresolved);
        }
        let nodes = || {
            fault
                .targets()
                .and_then(|t| t.resolved())
                .map(<[String]>::to_vec)
                .expect("a fault that needs no leader has its targets")
        };
        let clock = |offset_ms: i64| Primitive::Clock {
            offsets_ms: nodes().into_iter().map(|n| (n, offset_ms)).collect(),
        };
        let primitive = match (fault, action) {
            (Fault::Partition { plan }, Action::Apply) => {
                let reach = plan.reach(cluster)?;
                Primitive::Partition {
                    grudge: reach.grudge(),
                    groups: reach.groups(),
                }
            }
            (Fault::Pause { .. }, Action::Apply) => Primitive::Pause { nodes: nodes() },
            (Fault::Kill { .. }, Action::Apply) => Primitive::Kill { nodes: nodes() },
            (Fault::PowerLoss { .. }, Action::Apply) => Primitive::PowerLoss { nodes: nodes() },
            (Fault::ClockJump { delta_ms, .. }, Action::Apply) => clock(*delta_ms),
            (Fault::ClockStrobe { offsets_ms, .. }, Action::Apply) => clock(offsets_ms[0]),
            (Fault::Packet { params, side, .. }, Action::Apply) => Primitive::Packet {
                shape: PacketShape {
                    params: *params,
                    links: links(cluster, &nodes(), *side),
                },
                nodes: nodes(),
            },
            (Fault::CrashPoint { point, .. }, Action::Apply) => Primitive::CrashPoint {
                nodes: nodes(),
                point: *point,
            },
            (Fault::ClockStrobe { offsets_ms, .. }, Action::Flip { flip }) => {
                clock(offsets_ms[usize::from(flip % 2 == 1)])
            }
            (_, Action::Flip { .. }) => return Ok(None),
            (Fault::Partition { .. }, Action::Heal) => Primitive::Heal,
            (Fault::Pause { .. }, Action::Heal) => Primitive::Resume { nodes: nodes() },
            (Fault::Kill { .. } | Fault::PowerLoss { .. }, Action::Heal) => {
                Primitive::Start { nodes: nodes() }
            }
            (Fault::ClockJump { .. } | Fault::ClockStrobe { .. }, Action::Heal) => {
                Primitive::ClockReset
            }
            (Fault::Packet { .. }, Action::Heal) => Primitive::PacketHeal,
            (Fault::CrashPoint { point, .. }, Action::Heal) => Primitive::CrashPointHeal {
                nodes: nodes(),
                point: *point,
            },
        };
        Ok(Some(primitive))
    }

    /// The history `f` it is recorded as.
    pub fn f(&self) -> F {
        match self {
            Primitive::Partition { .. } => F::Partition,
            Primitive::Heal => F::Heal,
            Primitive::Pause { .. } => F::Pause,
            Primitive::Resume { .. } => F::Resume,
            Primitive::Kill { .. } => F::Kill,
            Primitive::Start { .. } => F::Start,
            Primitive::PowerLoss { .. } => F::PowerLoss,
            Primitive::Clock { .. } => F::Clock,
            Primitive::ClockReset => F::ClockReset,
            Primitive::Packet { .. } => F::Packet,
            Primitive::PacketHeal => F::PacketHeal,
            Primitive::CrashPoint { .. } => F::CrashPoint,
            Primitive::CrashPointHeal { .. } => F::Start,
        }
    }

    /// The value it is recorded with, as docs/design.md gives it: `groups` for a symmetric
    /// partition, `drops` for a one-way one, `nodes`, `offsets_ms`, `packet` with `links`
    /// and the targets as `nodes`, or none.
    pub fn value(&self) -> Option<Value> {
        let value = match self {
            Primitive::Partition {
                groups: Some(groups),
                ..
            } => Value {
                groups: Some(groups.clone()),
                ..Value::default()
            },
            Primitive::Partition {
                grudge,
                groups: None,
            } => Value {
                drops: Some(
                    grudge
                        .drops
                        .iter()
                        .map(|(node, from)| (node.clone(), from.iter().cloned().collect()))
                        .collect(),
                ),
                ..Value::default()
            },
            Primitive::Pause { nodes }
            | Primitive::Resume { nodes }
            | Primitive::Kill { nodes }
            | Primitive::PowerLoss { nodes }
            | Primitive::Start { nodes }
            | Primitive::CrashPointHeal { nodes, .. } => Value {
                nodes: Some(nodes.clone()),
                ..Value::default()
            },
            Primitive::CrashPoint { nodes, point } => Value {
                nodes: Some(nodes.clone()),
                point: Some(point.name().to_string()),
                ..Value::default()
            },
            Primitive::Clock { offsets_ms } => Value {
                offsets_ms: Some(offsets_ms.clone()),
                ..Value::default()
            },
            Primitive::Packet { shape, nodes } => Value {
                nodes: Some(nodes.clone()),
                packet: Some(serde_json::to_value(shape.params).expect("packet params serialise")),
                links: Some(
                    shape
                        .links
                        .iter()
                        .map(|l| vec![l.from.clone(), l.to.clone()])
                        .collect(),
                ),
                ..Value::default()
            },
            Primitive::Heal | Primitive::ClockReset | Primitive::PacketHeal => return None,
        };
        Some(value)
    }

    /// A short human form: `heal`, `resume n2 n4`, `clock n1:+500`.
    pub fn describe(&self) -> String {
        match self {
            Primitive::Pause { nodes }
            | Primitive::Resume { nodes }
            | Primitive::Kill { nodes }
            | Primitive::PowerLoss { nodes }
            | Primitive::Start { nodes } => format!("{} {}", self.f().name(), nodes.join(" ")),
            Primitive::CrashPoint { nodes, point } => {
                format!("crash-point {point} on {}", nodes.join(" "))
            }
            Primitive::CrashPointHeal { nodes, point } => {
                format!("start {} ({point} disarmed)", nodes.join(" "))
            }
            Primitive::Clock { offsets_ms } => {
                let offsets: Vec<String> = offsets_ms
                    .iter()
                    .map(|(n, o)| format!("{n}:{o:+}"))
                    .collect();
                format!("clock {}", offsets.join(" "))
            }
            Primitive::Packet { shape, nodes } => format!(
                "packet {} on {} links of {}",
                shape.params,
                shape.links.len(),
                nodes.join(" ")
            ),
            _ => self.f().name().to_string(),
        }
    }

    /// Make the call.
    pub async fn call(&self, runtime: &dyn FaultRuntime) -> Result<(), FaultError> {
        match self {
            Primitive::Partition { grudge, .. } => runtime.partition(grudge).await,
            Primitive::Heal => runtime.heal().await,
            Primitive::Pause { nodes } => runtime.pause(nodes).await,
            Primitive::Resume { nodes } => runtime.resume(nodes).await,
            Primitive::Kill { nodes } => runtime.kill(nodes).await,
            Primitive::Start { nodes } => runtime.start(nodes).await,
            Primitive::PowerLoss { nodes } => runtime.power_loss(nodes).await,
            Primitive::Clock { offsets_ms } => runtime.clock(offsets_ms).await,
            Primitive::ClockReset => runtime.clock_reset().await,
            Primitive::Packet { shape, .. } => runtime.packet(shape).await,
            Primitive::PacketHeal => runtime.packet_heal().await,
            Primitive::CrashPoint { nodes, point } => runtime.crash_point(nodes, *point).await,
            Primitive::CrashPointHeal { nodes, point } => {
                runtime.crash_point_heal(nodes, *point).await
            }
        }
    }
}

/// Every fault that may be in force. A fault counts from the moment its call starts
/// until an undo succeeds, so one whose call failed or timed out half way is still
/// undone in the final phase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultState {
    pub partition: Option<Grudge>,
    pub paused: BTreeSet<String>,
    pub killed: BTreeSet<String>,
    pub clock_offsets_ms: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketShape>,
    /// Nodes each crash point is armed on (or that died at it and wait to be started).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub crash_points: BTreeMap<CrashPoint, BTreeSet<String>>,
}

impl FaultState {
    /// Whether nothing may be in force.
    pub fn is_clear(&self) -> bool {
        self.partition.is_none()
            && self.paused.is_empty()
            && self.killed.is_empty()
            && self.clock_offsets_ms.is_empty()
            && self.packet.is_none()
            && self.crash_points.is_empty()
    }

    /// Before a call: a fault may be in force from now on.
    pub fn starting(&mut self, primitive: &Primitive) {
        match primitive {
            Primitive::Partition { grudge, .. } => self.partition = Some(grudge.clone()),
            Primitive::Pause { nodes } => self.paused.extend(nodes.iter().cloned()),
            Primitive::Kill { nodes } | Primitive::PowerLoss { nodes } => {
                self.killed.extend(nodes.iter().cloned())
            }
            Primitive::Clock { offsets_ms } => self.clock_offsets_ms.extend(offsets_ms.clone()),
            Primitive::Packet { shape, .. } => self.packet = Some(shape.clone()),
            Primitive::CrashPoint { nodes, point } => self
                .crash_points
                .entry(*point)
                .or_default()
                .extend(nodes.iter().cloned()),
            Primitive::Heal
            | Primitive::Resume { .. }
            | Primitive::Start { .. }
            | Primitive::CrashPointHeal { .. } => {}
            Primitive::ClockReset | Primitive::PacketHeal => {}
        }
    }

    /// After a call returned ok: an undo took its fault out of force.
    pub fn succeeded(&mut self, primitive: &Primitive) {
        match primitive {
            Primitive::Heal => self.partition = None,
            Primitive::Resume { nodes } => self.paused.retain(|n| !nodes.contains(n)),
            Primitive::Start { nodes } => self.killed.retain(|n| !nodes.contains(n)),
            Primitive::ClockReset => self.clock_offsets_ms.clear(),
            Primitive::PacketHeal => self.packet = None,
            Primitive::CrashPointHeal { nodes, point } => {
                if let Some(armed) = self.crash_points.get_mut(point) {
                    armed.retain(|n| !nodes.contains(n));
                    if armed.is_empty() {
                        self.crash_points.remove(point);
                    }
                }
            }
            Primitive::CrashPoint { .. }
            | Primitive::Packet { .. }
            | Primitive::Partition { .. }
            | Primitive::Pause { .. }
            | Primitive::Kill { .. }
            | Primitive::PowerLoss { .. }
            | Primitive::Clock { .. } => {}
        }
    }

    /// The calls that undo everything that may be in force, in the order the final phase
    /// makes them: heal, packet heal, resume, start, crash points disarmed (their dead
    /// started), reset clocks.
    pub fn undo(&self) -> Vec<Primitive> {
        let mut calls = Vec::new();
        if self.partition.is_some() {
            calls.push(Primitive::Heal);
        }
        if self.packet.is_some() {
            calls.push(Primitive::PacketHeal);
        }
        if !self.paused.is_empty() {
            calls.push(Primitive::Resume {
                nodes: self.paused.iter().cloned().collect(),
            });
        }
        if !self.killed.is_empty() {
            calls.push(Primitive::Start {
                nodes: self.killed.iter().cloned().collect(),
            });
        }
        for (point, nodes) in &self.crash_points {
            calls.push(Primitive::CrashPointHeal {
                nodes: nodes.iter().cloned().collect(),
                point: *point,
            });
        }
        if !self.clock_offsets_ms.is_empty() {
            calls.push(Primitive::ClockReset);
        }
        calls
    }
}
