//! The built-in Raft election service: a sans-I/O core and its tokio server.
pub mod api;
pub mod core;
pub mod ports;
pub mod server;
