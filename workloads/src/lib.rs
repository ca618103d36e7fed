//! System adapters (raftd, etcd, ZooKeeper, Redis Sentinel) and the client workloads that
//! record ops.
//!
//! The seams: [`System`] says what to run for each node and opens a [`Client`] per node;
//! every client call ends in an [`Outcome`] (`Ok`, `Fail` = certainly not, `Info` =
//! unknown) within `client_timeout_ms`. [`Election`] drives a [`Cluster`] of clients and
//! records every call as an invoke/complete pair through a `checkers::Recorder`.

pub mod built;
pub mod client;
pub mod cluster;
pub mod election;
pub mod etcd;
pub mod file;
pub mod params;
pub mod process;
pub mod protocol;
pub mod raftd;
pub mod redis_link;
pub mod redis_sentinel;
pub mod redlock;
pub mod register;
pub mod seed;
pub mod system;
pub mod zookeeper;

pub use client::{Client, Failure, Grant, NodeStatus, Outcome, Written};
pub use cluster::Cluster;
pub use election::{Election, FinalReads, Stats, StatsSnapshot, WorkloadError};
pub use params::{BadParams, WorkloadKind, WorkloadParams};
pub use system::{Descriptor, FencingMode, Guarantees, Setup, System, SystemError, SystemOptions};

/// Every system splitbrain can test. Adding one is an adapter file (its [`Descriptor`],
/// node specs, image recipe, clock and client) and its line here.
pub static SYSTEMS: [&Descriptor; 5] = [
    &raftd::DESCRIPTOR,
    &etcd::DESCRIPTOR,
    &zookeeper::DESCRIPTOR,
    &redis_sentinel::DESCRIPTOR,
    &redlock::DESCRIPTOR,
];
/// The stop signal [`Election::run`] takes, re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;
