//! What a run will be, decided before anything is created: the runtime and why, the
//! system adapter, the guarantees the test claims and the faults on offer.

use std::sync::Arc;

use nemesis::{Capabilities, FaultKind};
use workloads::{System, SystemOptions};

use super::system::{adapter, fencing_mode};
use crate::run::results::GuaranteesDoc;
use crate::runtime::{self, RuntimeKind};
use crate::spec::{RuntimeChoice, TestSpec};

/// Why a run cannot begin: the user's request cannot be met (exit 2), or the harness
/// itself is broken (exit 3, never a verdict).
pub enum SelectError {
    Usage(String),
    Harness(anyhow::Error),
}

/// Everything decided before anything is created: the runtime and why, the system
/// adapter, the guarantees the test claims and the faults on offer.
pub struct Selection {
    pub runtime_kind: RuntimeKind,
    pub runtime_name: String,
    pub runtime_reason: String,
    pub system: Arc<dyn System>,
    pub options: SystemOptions,
    pub guarantees: GuaranteesDoc,
    pub capabilities: Capabilities,
    pub system_version: String,
}

pub async fn select(spec: &TestSpec) -> Result<Selection, SelectError> {
    if !spec.endpoints.is_empty() {
        return select_external(spec);
    }
    let wanted = match spec.runtime {
        RuntimeChoice::Auto => RuntimeKind::Auto,
        RuntimeChoice::Docker => RuntimeKind::Docker,
        RuntimeChoice::Netns => RuntimeKind::Netns,
        RuntimeChoice::Local => RuntimeKind::Local,
        RuntimeChoice::Sim => {
            return Err(SelectError::Usage(
                "--runtime sim: the simulation starts no cluster; `run` hands it to the simulator before this point".into(),
            ))
        }
    };
    let (kind, reason) = runtime::resolve_kind(wanted).await;
    if spec.image.is_some() && kind != RuntimeKind::Docker {
        return Err(SelectError::Usage(format!(
            "--image: a custom image needs docker, but the runtime is {kind} ({reason})"
        )));
    }
    if kind == RuntimeKind::Local && !spec.system.descriptor().runs_local {
        return Err(SelectError::Usage(format!(
            "--runtime: {reason}, and the local runtime runs plain processes on loopback, which {} cannot; start docker or run as root for netns",
            spec.system.name()
        )));
    }
    let (system, version) = adapter(spec).map_err(|e| SelectError::Harness(e.into()))?;
    let options = SystemOptions {
        bugs: spec.bugs.clone(),
        lease: spec.lease,
        fencing: fencing_mode(spec.fencing),
        seed: spec.seed,
        ..SystemOptions::default()
    };
    let g = system.guarantees(&options);
    // Every runtime that starts nodes makes every kind of fault; what the system
    // cannot take is the adapter's to say.
    let mut capabilities = Capabilities {
        supported: FaultKind::ALL.into(),
        ..Capabilities::default()
    };
    for (fault, why) in system.refused_faults() {
        capabilities.supported.remove(&fault);
        capabilities.refused.insert(fault, why);
    }
    Ok(Selection {
        runtime_kind: kind,
        runtime_name: kind.to_string(),
        runtime_reason: reason,
        system,
        options,
        guarantees: GuaranteesDoc {
            exclusive_leadership: g.exclusive_leadership,
            fence_on_grant: g.fence_on_grant,
        },
        capabilities,
        system_version: version,
    })
}

/// A cluster of the user's own (`--endpoints`): no runtime is created and no fault is
/// on offer; the adapter talks to the endpoints as to nodes it started.
fn select_external(spec: &TestSpec) -> Result<Selection, SelectError> {
    let fencing = fencing_mode(spec.fencing);
    if !spec.system.descriptor().external {
        return Err(SelectError::Usage(format!(
            "--endpoints: {} clusters are started by splitbrain, not named",
            spec.system.name()
        )));
    }
    let (system, _) = adapter(spec).map_err(|e| SelectError::Harness(e.into()))?;
    let options = SystemOptions {
        fencing,
        seed: spec.seed,
        ..SystemOptions::default()
    };
    let g = system.guarantees(&options);
    Ok(Selection {
        // Never created: `start` runs no runtime for a cluster of the user's own.
        runtime_kind: RuntimeKind::Local,
        runtime_name: "external".into(),
        runtime_reason: format!(
            "--endpoints names a running cluster: {}",
            spec.endpoints.join(",")
        ),
        system,
        options,
        guarantees: GuaranteesDoc {
            exclusive_leadership: g.exclusive_leadership,
            fence_on_grant: g.fence_on_grant,
        },
        capabilities: runtime::external::capabilities(),
        system_version: format!("{} (your own cluster)", spec.system.name()),
    })
}
