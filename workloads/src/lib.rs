//! System adapters (raftd, etcd, ZooKeeper) and the client workloads that record ops.
//!
//! The seams: [`System`] says what to run for each node and opens a [`Client`] per node;
//! every client call ends in an [`Outcome`] (`Ok`, `Fail` = certainly not, `Info` =
//! unknown) within `client_timeout_ms`. [`Election`] drives a [`Cluster`] of clients and
//! records every call as an invoke/complete pair through a `checkers::Recorder`.

pub mod client;
pub mod cluster;
pub mod election;
pub mod etcd;
pub mod process;
pub mod raftd;
pub mod seed;
pub mod system;
pub mod zookeeper;

pub use client::{Client, Failure, Grant, NodeStatus, Outcome, Written};
pub use cluster::Cluster;
pub use election::{Election, FinalReads, Stats, StatsSnapshot, WorkloadError, WorkloadParams};
pub use system::{FencingMode, Guarantees, System, SystemError, SystemOptions};
/// The stop signal [`Election::run`] takes, re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;
