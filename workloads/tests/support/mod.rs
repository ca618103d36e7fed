//! Test support: a tiny scripted HTTP server and a real raftd cluster on loopback.

pub mod cluster;
pub mod fake;
