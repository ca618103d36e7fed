//! The etcd and ZooKeeper adapters against real clusters on loopback: node specs, each
//! client call's outcome, and the election workload with stalled holders.

pub mod etcd;
pub mod procs;
pub mod zookeeper;

use std::collections::BTreeSet;
use std::time::Duration;

use checkers::{AnomalyKind, Op, Recorder, Severity, Validity};
use workloads::{CancellationToken, Cluster, Election, Guarantees, WorkloadParams};

/// A workload whose holders often stall past their grant (`ttl_ms`), so that unfenced
/// writes of stale holders get in unless the store fences them.
pub fn stalling_params(seed: u64, ttl_ms: u64) -> WorkloadParams {
    WorkloadParams {
        rate_hz: 60.0,
        concurrency: 4,
        status_interval_ms: 100,
        ttl_ms,
        stall_probability: 0.6,
        stall_ms_max: 3 * ttl_ms,
        plain_write_probability: 0.1,
        seed,
        ..WorkloadParams::default()
    }
}

/// Runs the workload for `secs` seconds (the workload's length, not a wait for a
/// condition), then the final reads; returns the history.
pub async fn run_workload(cluster: Cluster, params: WorkloadParams, secs: u64) -> Vec<Op> {
    let recorder = Recorder::in_memory();
    let election = Election::new(params, cluster, recorder.clone()).unwrap();
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (election, stop) = (election.clone(), stop.clone());
        async move { election.run(stop).await }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the workload stops within its client timeout")
        .unwrap()
        .unwrap();
    election.final_reads().await.unwrap();
    recorder.ops()
}

/// The violations the checkers find in `ops`, by kind.
pub fn violations(ops: &[Op], guarantees: &Guarantees) -> (Validity, BTreeSet<AnomalyKind>) {
    let result = checkers::check(&checkers::History::from_ops(ops).unwrap(), guarantees);
    let kinds = result
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Violation)
        .map(|a| a.kind)
        .collect();
    (result.valid, kinds)
}
