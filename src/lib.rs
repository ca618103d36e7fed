//! splitbrain, the controller: a Jepsen-style correctness and chaos harness for leader
//! election and failover, as a library. The `splitbrain` binary is a thin `main` over
//! [`cli::main`]; tests and other tools use the modules directly.

pub mod atomic;
pub mod check;
pub mod clean;
pub mod cli;
pub mod conform;
pub mod exit;
pub mod matrix;
pub mod report;
pub mod run;
pub mod runtime;
pub mod sim;
pub mod spec;
pub mod stdio;
pub mod utc;
