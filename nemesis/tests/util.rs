//! Shared test fixtures: cluster names, a fake runtime that records its calls and fails
//! on demand, and a fixed leader probe.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use checkers::history::{Op, OpType, Process, Value, F};
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use nemesis::{LeaderProbe, PacketShape};
use tokio::time::Instant;

/// `n1` … `nN`.
pub fn cluster(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// One call the fake runtime received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Partition(Grudge),
    Heal,
    Pause(Vec<String>),
    Resume(Vec<String>),
    Kill(Vec<String>),
    Start(Vec<String>),
    Clock(BTreeMap<String, i64>),
    ClockReset,
    Packet(PacketShape),
    PacketHeal,
    PowerLoss(Vec<String>),
}

impl Call {
    fn method(&self) -> &'static str {
        match self {
            Call::Partition(_) => "partition",
            Call::Heal => "heal",
            Call::Pause(_) => "pause",
            Call::Resume(_) => "resume",
            Call::Kill(_) => "kill",
            Call::Start(_) => "start",
            Call::Clock(_) => "clock",
            Call::ClockReset => "clock-reset",
            Call::Packet(_) => "packet",
            Call::PacketHeal => "packet-heal",
            Call::PowerLoss(_) => "power-loss",
        }
    }
}

/// A runtime that records each call with the (virtual) milliseconds since it was made,
/// fails a method as many times as told, and never returns from a method told to hang.
pub struct FakeRuntime {
    start: Instant,
    pub caps: Capabilities,
    calls: Mutex<Vec<(u64, Call)>>,
    failures_left: Mutex<BTreeMap<&'static str, usize>>,
    hang: Mutex<BTreeSet<&'static str>>,
}

impl FakeRuntime {
    pub fn new() -> FakeRuntime {
        FakeRuntime {
            start: Instant::now(),
            caps: Capabilities {
                supported: FaultKind::ALL.into_iter().collect(),
                refused: BTreeMap::new(),
            },
            calls: Mutex::new(Vec::new()),
            failures_left: Mutex::new(BTreeMap::new()),
            hang: Mutex::new(BTreeSet::new()),
        }
    }

    /// Make `method` fail its next `times` calls.
    pub fn fail(self, method: &'static str, times: usize) -> FakeRuntime {
        self.failures_left.lock().unwrap().insert(method, times);
        self
    }

    pub fn hang(self, method: &'static str) -> FakeRuntime {
        self.hang.lock().unwrap().insert(method);
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    pub fn timed_calls(&self) -> Vec<(u64, Call)> {
        self.calls.lock().unwrap().clone()
    }

    async fn take(&self, call: Call) -> Result<(), FaultError> {
        let method = call.method();
        let at_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap();
        self.calls.lock().unwrap().push((at_ms, call));
        if self.hang.lock().unwrap().contains(method) {
            std::future::pending::<()>().await;
        }
        let mut failures = self.failures_left.lock().unwrap();
        match failures.get_mut(method) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(FaultError::Failed(format!("injected {method} failure")))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl FaultRuntime for FakeRuntime {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }
    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        self.take(Call::Partition(grudge.clone())).await
    }
    async fn heal(&self) -> Result<(), FaultError> {
        self.take(Call::Heal).await
    }
    async fn pause(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.take(Call::Pause(nodes.to_vec())).await
    }
    async fn resume(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.take(Call::Resume(nodes.to_vec())).await
    }
    async fn kill(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.take(Call::Kill(nodes.to_vec())).await
    }
    async fn start(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.take(Call::Start(nodes.to_vec())).await
    }
    async fn clock(&self, offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError> {
        self.take(Call::Clock(offsets_ms.clone())).await
    }
    async fn clock_reset(&self) -> Result<(), FaultError> {
        self.take(Call::ClockReset).await
    }
    async fn power_loss(&self, nodes: &[String]) -> Result<(), FaultError> {
        self.take(Call::PowerLoss(nodes.to_vec())).await
    }
    async fn packet(&self, shape: &PacketShape) -> Result<(), FaultError> {
        self.take(Call::Packet(shape.clone())).await
    }
    async fn packet_heal(&self) -> Result<(), FaultError> {
        self.take(Call::PacketHeal).await
    }
}

/// A probe that always names the same leader.
pub struct FixedLeader(pub &'static str);

#[async_trait]
impl LeaderProbe for FixedLeader {
    async fn leader(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

/// An op without its index and time: what the tests compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    pub kind: OpType,
    pub f: F,
    pub value: Option<Value>,
    pub error: Option<String>,
}

pub fn brief(ops: &[Op]) -> Vec<Brief> {
    ops.iter()
        .map(|op| {
            assert_eq!(op.process, Process::Nemesis, "only nemesis ops here");
            Brief {
                kind: op.kind,
                f: op.f,
                value: op.value.clone(),
                error: op.error.clone(),
            }
        })
        .collect()
}

/// An invoke/ok pair with the same value.
pub fn pair(f: F, value: Option<Value>) -> [Brief; 2] {
    [
        Brief {
            kind: OpType::Invoke,
            f,
            value: value.clone(),
            error: None,
        },
        Brief {
            kind: OpType::Ok,
            f,
            value,
            error: None,
        },
    ]
}

/// An invoke/info pair with the same value and the error.
pub fn failed(f: F, value: Option<Value>, error: &str) -> [Brief; 2] {
    [
        Brief {
            kind: OpType::Invoke,
            f,
            value: value.clone(),
            error: None,
        },
        Brief {
            kind: OpType::Info,
            f,
            value,
            error: Some(error.to_string()),
        },
    ]
}

pub fn nodes_value(list: &[&str]) -> Option<Value> {
    Some(Value {
        nodes: Some(names(list)),
        ..Value::default()
    })
}

pub fn groups_value(groups: &[&[&str]]) -> Option<Value> {
    Some(Value {
        groups: Some(groups.iter().map(|g| names(g)).collect()),
        ..Value::default()
    })
}

pub fn offsets_value(offsets: &[(&str, i64)]) -> Option<Value> {
    Some(Value {
        offsets_ms: Some(offsets.iter().map(|(n, o)| (n.to_string(), *o)).collect()),
        ..Value::default()
    })
}
