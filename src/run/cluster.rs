//! A started cluster and everything a run does to it: start, the wait for a leader, the
//! workload, the nemesis, the final phase, the final reads and teardown.

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use checkers::Recorder;
use nemesis::FaultRuntime;
use workloads::system::{Serves, Topology};
use workloads::CancellationToken;

use super::reporter::Reporter;
use super::schedule::Schedule;
use super::select::Selection;
use super::system::use_custom_image;
use crate::runtime::{self, Runtime, RuntimeConfig};
use crate::spec::TestSpec;

/// How often the run asks whether a part it runs on is gone.
const LOST_POLL_MS: u64 = 200;

/// A started cluster and everything a run does to it.
pub struct Running {
    runtime: Arc<dyn Runtime>,
    topology: Topology,
    workload: workloads::Election,
    /// Some node leads ([`workloads::system::Serves::leaders`]).
    leaders: bool,
    /// What the nemesis may have left in force, for the final phase.
    faults: tokio::sync::Mutex<nemesis::FaultState>,
    /// The schedule as it ran (leader targets filled in), once the nemesis is done.
    ran: std::sync::Mutex<Option<nemesis::Schedule>>,
}

/// Creates the runtime, plans addresses, starts every node, and connects the workload.
pub async fn start(
    spec: &TestSpec,
    sel: &Selection,
    run_id: &str,
    dir: &Path,
    recorder: &Recorder,
    report: &Reporter,
) -> anyhow::Result<Running> {
    let mut cfg = RuntimeConfig::new(run_id, dir)?;
    cfg.docker_hosts = spec.docker_hosts.clone();
    cfg.placement = spec.placement.clone();
    cfg.power_loss = spec
        .fault_kinds()
        .contains(&nemesis::runtime::FaultKind::PowerLoss);
    cfg.crash_points = sel.system.descriptor().crash_points.map(str::to_string);
    let rt: Arc<dyn Runtime> = if spec.endpoints.is_empty() {
        Arc::from(runtime::create(sel.runtime_kind, cfg).await?)
    } else {
        Arc::new(runtime::external::ExternalRuntime::new(
            run_id,
            &spec.endpoints,
        )?)
    };
    let ports = sel.system.ports();
    let wanted_ports = runtime::NodePorts {
        client: ports.client_port,
        peer: ports.peer_port,
        extra: (0..ports.extra_ports)
            .map(|i| ports.peer_port + 1 + i as u16)
            .collect(),
    };
    let running = async {
        let topology = rt.plan(spec.nodes, &wanted_ports).await?;
        if spec.endpoints.is_empty() {
            let mut specs = sel.system.node_specs(&topology, &sel.options)?;
            use_custom_image(&mut specs, spec.image.as_deref());
            rt.start_cluster(specs).await?;
        }
        let clients = workloads::Cluster::connect(sel.system.as_ref(), &topology).await?;
        let workload = workloads::Election::new(
            workload_params(spec, sel.system.serves()),
            clients,
            recorder.clone(),
        )?;
        anyhow::Ok((topology, workload))
    }
    .await;
    match running {
        Ok((topology, workload)) => Ok(Running {
            runtime: rt,
            topology,
            workload,
            leaders: sel.system.serves().leaders,
            faults: Default::default(),
            ran: Default::default(),
        }),
        Err(e) => {
            // Whatever was created is this run's to remove.
            if let Err(t) = rt.teardown().await {
                report.warning(&format!("teardown after a failed start: {t}"));
            }
            Err(e)
        }
    }
}

/// The workload the spec asks for, within what the system serves: without locks every
/// cycle is a plain write; without a node's own view there are no per-node final reads.
fn workload_params(spec: &TestSpec, serves: Serves) -> workloads::WorkloadParams {
    let defaults = workloads::WorkloadParams::default();
    workloads::WorkloadParams {
        rate_hz: spec.rate_hz,
        concurrency: spec.concurrency,
        stall_probability: spec.stall_probability,
        seed: spec.seed,
        plain_write_probability: if serves.locks {
            defaults.plain_write_probability
        } else {
            1.0
        },
        local_reads: serves.read_local,
        workload: spec.workload,
        ..defaults
    }
}

/// Removes whatever a run with this id created, for when `start` was cut short.
pub async fn teardown_run(run_id: &str, report: &Reporter) {
    if let Err(e) = crate::runtime::leftovers::teardown_run(run_id).await {
        report.warning(&format!(
            "cleaning up run {run_id}: {e}; `splitbrain clean` removes what is left"
        ));
    }
}

/// The nemesis asks the workload's clients who leads.
struct Probe<'a>(&'a workloads::Cluster);

#[async_trait::async_trait]
impl nemesis::LeaderProbe for Probe<'_> {
    async fn leader(&self) -> Option<String> {
        self.0.leader().await
    }
}

/// How often a leader is asked for while waiting for the first one.
const LEADER_POLL_MS: u64 = 200;

impl Running {
    /// Why the run cannot go on: a Docker host it runs on stopped answering.
    pub fn lost(&self) -> Option<String> {
        self.runtime.lost()
    }

    /// Resolves once [`Running::lost`] says something.
    pub async fn until_lost(&self) -> String {
        loop {
            if let Some(why) = self.lost() {
                return why;
            }
            tokio::time::sleep(Duration::from_millis(LOST_POLL_MS)).await;
        }
    }

    pub fn topology_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.topology).unwrap_or_default()
    }

    /// Waits until the cluster serves: until some node reports itself leader (the
    /// sentence says which), or, for a system without leaders, until every node answers
    /// `status`. Then what the nodes wrote to their power-loss disks while starting is
    /// written back ([`Runtime::settle_disks`]).
    pub async fn wait_until_serving(&self, within: Duration) -> anyhow::Result<String> {
        let serving = self.first_serving(within).await?;
        self.runtime
            .settle_disks()
            .await
            .context("cannot write back the nodes' disks")?;
        Ok(serving)
    }

    async fn first_serving(&self, within: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.leaders {
                if let Some(leader) = self.workload.cluster().leader().await {
                    return Ok(format!("{leader} leads"));
                }
            } else if self.workload.cluster().all_answer().await {
                return Ok("every node answers".into());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{}",
                if self.leaders {
                    "no node reported itself leader"
                } else {
                    "not every node answered status"
                }
            );
            tokio::time::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
        }
    }

    /// Runs the client workload until `stop` is cancelled.
    pub async fn workload(&self, stop: CancellationToken) -> anyhow::Result<()> {
        self.workload.run(stop).await?;
        Ok(())
    }

    /// Runs the nemesis schedule until it ends or `stop` is cancelled.
    pub async fn nemesis(
        &self,
        schedule: Schedule,
        recorder: Recorder,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let rt: Arc<dyn FaultRuntime> = self.runtime.clone();
        let probe = Probe(self.workload.cluster());
        let result =
            nemesis::run_schedule(&schedule.schedule, rt.as_ref(), &recorder, &probe, &stop).await;
        match result {
            Ok(outcome) => {
                *self.faults.lock().await = outcome.state;
                *self.ran.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.schedule);
                Ok(())
            }
            Err(nemesis::RunError::History { source, state }) => {
                *self.faults.lock().await = *state;
                // The io error stays in the chain: a full disk is told from it.
                Err(anyhow::Error::new(source).context("could not record a nemesis op"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The schedule as it ran, leader targets filled in (replay runs exactly this).
    pub fn schedule_as_run(&self) -> Option<serde_json::Value> {
        let ran = self.ran.lock().unwrap_or_else(|e| e.into_inner());
        ran.as_ref().and_then(|s| serde_json::to_value(s).ok())
    }

    /// What the final phase will undo, each as its nemesis op is named (`heal`,
    /// `start n2`); empty when no fault is in force.
    pub async fn left_in_force(&self) -> Vec<String> {
        let faults = self.faults.lock().await;
        faults.undo().iter().map(|p| p.describe()).collect()
    }

    /// Undoes what is in force: heal, resume, start, clock reset, as needed, each recorded.
    pub async fn final_phase(&self, recorder: &Recorder) -> anyhow::Result<()> {
        let rt: Arc<dyn FaultRuntime> = self.runtime.clone();
        let mut faults = self.faults.lock().await;
        nemesis::final_phase(rt.as_ref(), recorder, &mut faults).await?;
        Ok(())
    }

    /// A linearizable read, then a read from every node, recorded.
    pub async fn final_reads(&self) -> anyhow::Result<workloads::FinalReads> {
        Ok(self.workload.final_reads().await?)
    }

    pub async fn teardown(&self) -> anyhow::Result<()> {
        self.runtime.teardown().await?;
        Ok(())
    }
}
