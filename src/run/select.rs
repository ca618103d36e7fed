//! What a run will be, decided before anything is created: the runtime and why, the
//! system adapter, the guarantees the test claims and the faults on offer. The one place
//! the faults a run asks for are checked against what can be injected.

use std::sync::Arc;

use nemesis::{Capabilities, FaultKind};
use workloads::{System, SystemOptions};

use super::schedule::Schedule;
use super::system::adapter;
use crate::runtime::{self, RuntimeKind};
use crate::spec::{fault_name, RuntimeChoice, TestSpec};

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
    pub guarantees: checkers::Guarantees,
    /// What can be injected here; every fault of the schedule is among `supported`.
    pub capabilities: Capabilities,
    pub system_version: String,
}

/// Decides the runtime and the system, and refuses a schedule whose faults cannot be
/// injected here: after this, nothing checks them again before the nemesis runs.
pub async fn select(spec: &TestSpec, schedule: &Schedule) -> Result<Selection, SelectError> {
    let selection = if spec.endpoints.is_empty() {
        select_managed(spec).await?
    } else {
        select_external(spec)?
    };
    refuse_unsupported(schedule, &selection.capabilities).map_err(SelectError::Usage)?;
    Ok(selection)
}

/// A cluster splitbrain starts: the runtime, the system adapter, and the faults the
/// runtime can inject into that system's image, minus those the system refuses.
async fn select_managed(spec: &TestSpec) -> Result<Selection, SelectError> {
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
    let descriptor = spec.system.descriptor();
    let containers_need_image = !descriptor.docker && spec.image.is_none();
    let (kind, reason) = if wanted == RuntimeKind::Auto && containers_need_image {
        let why = format!(
            "{} names no image to run in a container",
            spec.system.name()
        );
        if runtime::is_root() {
            (RuntimeKind::Netns, format!("{why} and we run as root"))
        } else {
            (
                RuntimeKind::Local,
                format!("{why} and we are not root, so no network namespaces"),
            )
        }
    } else {
        runtime::resolve_kind(wanted).await
    };
    if kind == RuntimeKind::Docker && containers_need_image {
        let file = descriptor
            .file
            .map(|f| format!(" ({} has no [docker] section)", f.display()))
            .unwrap_or_default();
        return Err(SelectError::Usage(format!(
            "--runtime docker: {} names no image for its containers{file}; add docker.image or docker.dockerfile, give --image, or use --runtime netns",
            spec.system.name()
        )));
    }
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
        fencing: spec.fencing,
        seed: spec.seed,
        in_container: kind == RuntimeKind::Docker,
        ..SystemOptions::default()
    };
    let guarantees = system.guarantees(&options);
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
    if kind == RuntimeKind::Local {
        capabilities = runtime::local::without_packet(capabilities);
    }
    Ok(Selection {
        runtime_kind: kind,
        runtime_name: kind.to_string(),
        runtime_reason: reason,
        system,
        options,
        guarantees,
        capabilities,
        system_version: version,
    })
}

/// A cluster of the user's own (`--endpoints`): no runtime is created and no fault is
/// on offer; the adapter talks to the endpoints as to nodes it started.
fn select_external(spec: &TestSpec) -> Result<Selection, SelectError> {
    let fencing = spec.fencing;
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
    let guarantees = system.guarantees(&options);
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
        guarantees,
        capabilities: runtime::external::capabilities(),
        system_version: format!("{} (your own cluster)", spec.system.name()),
    })
}

fn refuse_unsupported(schedule: &Schedule, caps: &Capabilities) -> Result<(), String> {
    let faults = schedule.faults();
    let Some(refused) = faults.iter().find(|f| !caps.supported.contains(f)) else {
        return Ok(());
    };
    let why = caps
        .refused
        .get(refused)
        .map_or("no reason given", String::as_str);
    if schedule.replayed {
        return Err(format!(
            "--runtime: the replayed schedule has {} faults, which cannot be injected here: {why}; replay it on a runtime that can",
            fault_name(*refused)
        ));
    }
    let usable: Vec<&str> = faults
        .iter()
        .filter(|f| caps.supported.contains(f))
        .map(|f| fault_name(*f))
        .collect();
    let instead = if usable.is_empty() {
        "none".to_string()
    } else {
        usable.join(",")
    };
    Err(format!(
        "--nemesis: {} faults cannot be injected here: {why}; leave them out, e.g. --nemesis {instead}",
        fault_name(*refused)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::schedule;
    use nemesis::FaultKind;

    fn drawn(nemesis: &str) -> Schedule {
        let spec = crate::run::testing::spec("etcd", "docker", nemesis);
        schedule::new_schedule(&spec).unwrap()
    }

    fn no_clock() -> Capabilities {
        let mut caps = Capabilities::default();
        caps.supported
            .extend([FaultKind::Partition, FaultKind::Pause, FaultKind::Kill]);
        caps.refused
            .insert(FaultKind::Clock, "Go reads the vDSO".to_string());
        caps
    }

    #[test]
    fn a_fault_that_cannot_be_injected_is_refused_with_its_reason_and_what_would_do() {
        let err = refuse_unsupported(&drawn("partition,clock"), &no_clock()).unwrap_err();
        assert_eq!(
            err,
            "--nemesis: clock faults cannot be injected here: Go reads the vDSO; leave them out, e.g. --nemesis partition"
        );
        assert_eq!(
            refuse_unsupported(&drawn("partition,kill"), &no_clock()),
            Ok(())
        );
        assert_eq!(
            refuse_unsupported(&drawn("none"), &Capabilities::default()),
            Ok(())
        );
    }

    #[test]
    fn a_replayed_schedule_is_refused_by_the_runtime_not_the_nemesis() {
        let mut replayed = drawn("clock");
        replayed.replayed = true;
        let err = refuse_unsupported(&replayed, &no_clock()).unwrap_err();
        assert!(
            err.starts_with("--runtime: the replayed schedule has clock faults")
                && err.contains("Go reads the vDSO"),
            "{err}"
        );
    }
}
