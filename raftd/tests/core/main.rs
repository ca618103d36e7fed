//! Tests of raftd's sans-I/O Raft core: golden scripts, safety properties, the bug
//! catalogue and randomized schedules.

mod api;
mod bugs;
mod features;
mod golden;
mod props;
mod registers;
mod safety;
mod sim;
mod support;
