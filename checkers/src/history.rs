//! The history model: one typed operation per JSON line, exactly as docs/design.md specifies.
//!
//! The value of an op is one flat struct of optional fields rather than a
//! `serde_json::Value`: every `f` uses a few of them, and a flat struct is several times
//! faster to deserialize than a generic JSON tree, which is what the checker's
//! throughput rests on.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who issued an op: a client process number, or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a process number >= 0 or the string \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process {v:?} is neither a number nor \"nemesis\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `invoke`, `ok` (it happened), `fail` (it certainly did not), `info` (unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation. Client ops first, then the nemesis's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum F {
    Status,
    Acquire,
    Holding,
    Release,
    Write,
    Read,
    /// Register and key-value ops, checked against a model (`splitbrain check --model`).
    Cas,
    Get,
    Put,
    Append,
    Partition,
    Heal,
    Pause,
    Resume,
    Kill,
    Start,
    Clock,
    ClockReset,
    Packet,
    PacketHeal,
    /// A kill that also lost the nodes' unsynced writes; undone by `Start`.
    PowerLoss,
    /// A crash point armed on the nodes (`point` names it): each may die there; undone
    /// by `Start`.
    CrashPoint,
}

impl F {
    /// Every operation, client ops first, in the order of the enum.
    pub const ALL: [F; 22] = [
        F::Status,
        F::Acquire,
        F::Holding,
        F::Release,
        F::Write,
        F::Read,
        F::Cas,
        F::Get,
        F::Put,
        F::Append,
        F::Partition,
        F::Heal,
        F::Pause,
        F::Resume,
        F::Kill,
        F::Start,
        F::Clock,
        F::ClockReset,
        F::Packet,
        F::PacketHeal,
        F::PowerLoss,
        F::CrashPoint,
    ];

    pub fn is_nemesis(self) -> bool {
        self >= F::Partition
    }
    pub fn name(self) -> &'static str {
        match self {
            F::Status => "status",
            F::Acquire => "acquire",
            F::Holding => "holding",
            F::Release => "release",
            F::Write => "write",
            F::Read => "read",
            F::Cas => "cas",
            F::Get => "get",
            F::Put => "put",
            F::Append => "append",
            F::Partition => "partition",
            F::Heal => "heal",
            F::Pause => "pause",
            F::Resume => "resume",
            F::Kill => "kill",
            F::Start => "start",
            F::Clock => "clock",
            F::ClockReset => "clock-reset",
            F::Packet => "packet",
            F::PacketHeal => "packet-heal",
            F::PowerLoss => "power-loss",
            F::CrashPoint => "crash-point",
        }
    }
}

/// A node's role in a `status` op. Anything else a system reports is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    #[serde(untagged)]
    Other(String),
}

/// One entry of a `log` read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: String,
    #[serde(default)]
    pub token: Option<u64>,
}

/// The value of an op: every field any `f` uses, each optional. Which fields an `f`
/// carries is in docs/design.md's table; fields this model does not know are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Value {
    // status
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// `Some(None)` is an explicit `"leader": null` (the node knows of no leader).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub leader: Option<Option<String>>,
    /// Whom the node has voted for in `term`, for systems that report it (raftd):
    /// `Some(None)` is an explicit `"vote": null` (no vote yet in that term).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub vote: Option<Option<String>>,
    /// How far the node's log is committed as it knows it, where the system reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
    /// The index of the node's last log entry, committed or not, where the system
    /// reports it (raftd): with `commit`, what leader completeness compares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_index: Option<u64>,
    /// The last runs of the node's log, oldest first, each `[term, first index]`, where
    /// the system reports them (raftd): with `commit`, what tells whether two nodes
    /// committed different entries at one index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<Vec<[u64; 2]>>,
    // acquire / holding / release / write
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election: Option<String>,
    /// For `write`, `Some(None)` is an explicit `"token": null` (an unfenced write).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub token: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    // read
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Vec<LogEntry>>,
    // registers and key-value stores (`--model`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A register's or key's value: an integer, a string, or an explicit `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub value: Option<Option<serde_json::Value>>,
    /// A `cas`'s expected value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub from: Option<Option<serde_json::Value>>,
    /// A `cas`'s new value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "explicit_null"
    )]
    pub to: Option<Option<serde_json::Value>>,
    // nemesis
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsets_ms: Option<BTreeMap<String, i64>>,
    /// A packet fault's shaping (`{"kind": "delay", "delay_ms": 100, "jitter_ms": 20}`),
    /// kept as written: no checker reads inside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<serde_json::Value>,
    /// The directed links a packet fault shapes, each `[from, to]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Vec<String>>>,
    /// The crash point a `crash-point` op arms (`won-election`, `leader-commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
}

/// For a field that may be absent, `null` or a value: present means `Some`, so that
/// `Some(None)` is an explicit `null` (with `#[serde(default, deserialize_with = ...)]`).
pub fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl Value {
    /// The token of an op, whether written as a number or absent/null.
    pub fn token(&self) -> Option<u64> {
        self.token.flatten()
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub index: u64,
    /// Nanoseconds since the test started, on the controller's monotonic clock.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: F,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `None` is `"value": null` or no value at all.
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    pub fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }
}
