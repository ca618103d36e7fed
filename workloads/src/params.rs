//! `WorkloadParams`: what the election workload does and how hard, its defaults and
//! their validation. Both the workload's tokio driver (`election`) and its pure client
//! state machines (`process`) read them.

use serde::{Deserialize, Serialize};

/// What the workload does and how hard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadParams {
    /// Client operations per second, all client processes together (observers aside).
    pub rate_hz: f64,
    /// Client processes running at once.
    pub concurrency: usize,
    /// How often each observer asks its node's status.
    pub status_interval_ms: u64,
    /// The lifetime of a grant.
    pub ttl_ms: u64,
    /// Chance that a process stalls after an acquire, as a garbage-collection pause would.
    pub stall_probability: f64,
    /// The longest stall. A stall lasts until the lock has gone to another client, and a
    /// little more (`Plan::Stall`): a stale holder, which is what makes fencing matter,
    /// in every stall that ends before this. Five times the TTL, for systems that end a
    /// lease late: etcd extends every lease by its election timeout whenever a leader
    /// takes over, so under faults a lease can outlive its TTL several times.
    pub stall_ms_max: u64,
    /// Chance that a cycle is a plain unfenced write rather than a lock cycle.
    pub plain_write_probability: f64,
    /// The election every process contends for.
    pub election: String,
    pub seed: u64,
    /// Bound on the whole final phase (catch-up waits and read retries).
    pub final_read_timeout_ms: u64,
    /// Each node's own view is read at the end (the system serves `read_local`).
    pub local_reads: bool,
    /// What the client processes do.
    pub workload: WorkloadKind,
}

/// What a run's client processes do (`--workload`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Lock cycles (acquire, holding, fenced write, release) and plain writes, judged by
    /// the election rules and the lock model.
    #[default]
    Election,
    /// Reads, writes and compare-and-sets of a few registers at a time, judged by the
    /// register model (linearizability).
    Register,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 2] = [WorkloadKind::Election, WorkloadKind::Register];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Election => "election",
            WorkloadKind::Register => "register",
        }
    }
}

impl std::str::FromStr for WorkloadKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        WorkloadKind::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("no workload {s:?}; workloads: election, register"))
    }
}

impl Default for WorkloadParams {
    fn default() -> Self {
        WorkloadParams {
            rate_hz: 20.0,
            concurrency: 5,
            status_interval_ms: 100,
            ttl_ms: 2000,
            stall_probability: 0.1,
            stall_ms_max: 10_000,
            plain_write_probability: 0.3,
            election: "e1".to_string(),
            seed: 0,
            final_read_timeout_ms: 10_000,
            local_reads: true,
            workload: WorkloadKind::Election,
        }
    }
}

impl WorkloadParams {
    /// Refuses parameters that make no sense, naming the first bad one.
    pub fn validate(&self) -> Result<(), BadParams> {
        let bad = |what: String| Err(BadParams(what));
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= 100_000.0) {
            return bad(format!(
                "rate_hz is {}; it must be in (0, 100000]",
                self.rate_hz
            ));
        }
        if self.concurrency == 0 || self.concurrency > 1000 {
            return bad(format!(
                "concurrency is {}; it must be in [1, 1000]",
                self.concurrency
            ));
        }
        if self.status_interval_ms == 0 {
            return bad("status_interval_ms is 0; it must be at least 1".into());
        }
        if self.ttl_ms == 0 {
            return bad("ttl_ms is 0; it must be at least 1".into());
        }
        for (name, p) in [
            ("stall_probability", self.stall_probability),
            ("plain_write_probability", self.plain_write_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} is {p}; it must be in [0, 1]"));
            }
        }
        if self.election.is_empty() || self.election.chars().any(char::is_control) {
            return bad(format!(
                "election name {:?} is empty or unprintable",
                self.election
            ));
        }
        if self.final_read_timeout_ms == 0 {
            return bad("final_read_timeout_ms is 0; it must be at least 1".into());
        }
        Ok(())
    }
}

/// A workload parameter that makes no sense, named with what would be right.
#[derive(Debug, thiserror::Error)]
#[error("bad workload parameter: {0}")]
pub struct BadParams(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_named() {
        let cases: [(&str, WorkloadParams); 4] = [
            (
                "rate_hz",
                WorkloadParams {
                    rate_hz: 0.0,
                    ..Default::default()
                },
            ),
            (
                "concurrency",
                WorkloadParams {
                    concurrency: 0,
                    ..Default::default()
                },
            ),
            (
                "stall_probability",
                WorkloadParams {
                    stall_probability: 1.5,
                    ..Default::default()
                },
            ),
            (
                "election",
                WorkloadParams {
                    election: String::new(),
                    ..Default::default()
                },
            ),
        ];
        for (name, params) in cases {
            let err = params.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
        assert!(WorkloadParams::default().validate().is_ok());
    }
}
