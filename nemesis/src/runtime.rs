//! The fault primitives a runtime implements. The nemesis decides when and which; a
//! runtime (docker, netns, local, sim) only knows how.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::packet::PacketShape;

/// Who drops whom: `drops[a]` holds every node whose packets `a` drops on arrival.
/// A two-way cut between `a` and `b` is `b ∈ drops[a]` and `a ∈ drops[b]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grudge {
    pub drops: BTreeMap<String, BTreeSet<String>>,
}

/// The fault kinds a runtime can inject for the system it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Partition,
    Pause,
    Kill,
    Clock,
    /// Delay, loss, duplication, reordering or a bandwidth limit on directed links.
    Packet,
    /// SIGKILL, and the node's writes since its last fsync lost, as in a power cut.
    PowerLoss,
    /// A crash point armed in the node's own code: it dies there, at its first chance.
    CrashPoint,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Partition,
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::Clock,
        FaultKind::Packet,
        FaultKind::PowerLoss,
        FaultKind::CrashPoint,
    ];

    /// The name used in test.json and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Pause => "pause",
            FaultKind::Kill => "kill",
            FaultKind::Clock => "clock",
            FaultKind::Packet => "packet",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::CrashPoint => "crash-point",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a runtime can do, and for each fault it cannot, why — the nemesis refuses a
/// schedule that needs one of those before the test starts, quoting the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub supported: BTreeSet<FaultKind>,
    pub refused: BTreeMap<FaultKind, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("{fault:?} is not supported here: {reason}")]
    Unsupported { fault: FaultKind, reason: String },
    #[error("unknown node {0}")]
    UnknownNode(String),
    #[error("{0}")]
    Failed(String),
}

/// The primitives. Every call is idempotent where that makes sense (healing a healed
/// cluster, resuming a running node) and returns only once the fault is in force.
#[async_trait]
pub trait FaultRuntime: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    /// Replace the partition in force with `grudge` (an empty grudge heals).
    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError>;
    /// Remove every rule this run installed, and nothing else.
    async fn heal(&self) -> Result<(), FaultError>;
    async fn pause(&self, nodes: &[String]) -> Result<(), FaultError>;
    async fn resume(&self, nodes: &[String]) -> Result<(), FaultError>;
    /// SIGKILL; the node's data survives.
    async fn kill(&self, nodes: &[String]) -> Result<(), FaultError>;
    /// Start killed nodes again on the same data.
    async fn start(&self, nodes: &[String]) -> Result<(), FaultError>;
    /// Set each named node's wall-clock offset (absolute, not cumulative) in milliseconds.
    async fn clock(&self, offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError>;
    async fn clock_reset(&self) -> Result<(), FaultError>;
    /// Replace the packet shaping in force with `shape` on its links (and none on any
    /// other). A runtime without packet shaping refuses, as its capabilities say.
    async fn packet(&self, shape: &PacketShape) -> Result<(), FaultError> {
        let _ = shape;
        Err(FaultError::Unsupported {
            fault: FaultKind::Packet,
            reason: "this runtime cannot shape packets".into(),
        })
    }
    /// SIGKILL, then drop everything the nodes wrote since their last fsync; their data
    /// directories keep only what was synced. A runtime without such a filesystem
    /// refuses, as its capabilities say.
    async fn power_loss(&self, nodes: &[String]) -> Result<(), FaultError> {
        let _ = nodes;
        Err(FaultError::Unsupported {
            fault: FaultKind::PowerLoss,
            reason: "this runtime cannot lose unsynced writes".into(),
        })
    }
    /// Arm `point` on each node, beside whatever else is armed there: the node dies
    /// when its code reaches it. A runtime or system without crash points refuses, as
    /// its capabilities say.
    async fn crash_point(&self, nodes: &[String], point: CrashPoint) -> Result<(), FaultError> {
        let _ = (nodes, point);
        Err(FaultError::Unsupported {
            fault: FaultKind::CrashPoint,
            reason: "this runtime cannot arm crash points".into(),
        })
    }
    /// Undo [`FaultRuntime::crash_point`]: disarm `point` on the nodes that still run,
    /// and start again, on the same data, those that died (a started node has nothing
    /// armed).
    async fn crash_point_heal(
        &self,
        nodes: &[String],
        point: CrashPoint,
    ) -> Result<(), FaultError> {
        let _ = (nodes, point);
        Err(FaultError::Unsupported {
            fault: FaultKind::CrashPoint,
            reason: "this runtime cannot arm crash points".into(),
        })
    }
    /// Remove every packet shaping this run installed; a no-op where there is none.
    async fn packet_heal(&self) -> Result<(), FaultError> {
        Ok(())
    }
}
