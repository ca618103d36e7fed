//! The history model and every checker: pure and synchronous, knowing nothing of tokio,
//! Docker or any system under test.
//!
//! Read a history with [`History::from_path`] (streaming, compact), check it with
//! [`check`], write `results.json` with [`write_results`].

pub mod checks;
pub mod error_code;
pub mod facts;
mod fastparse;
pub mod faults;
pub mod history;
pub mod intern;
pub mod linear;
pub mod raw;
pub mod reader;
pub mod recorder;
pub mod result;
pub mod synth;

pub use checks::check;
pub use error_code::ErrorCode;
pub use facts::History;
pub use history::{explicit_null, LogEntry, Op, OpType, Process, Role, Value, F};
pub use reader::{HistoryError, Line, OpReader, Position};
pub use recorder::{OpDraft, Recorder, HISTORY_FLUSH_INTERVAL_MS};
pub use result::{
    read_results, write_results, Anomaly, AnomalyKind, CheckResult, CheckerResult, Exercised,
    Guarantees, Severity, StaleHolders, Validity,
};

/// Reads and checks the history at `path`: the rules, its lock ops against the mutex
/// model ([`linear::lock`]) and its register ops against the register model
/// ([`linear::register`]), within `options`' budget. The register ops are read in a
/// second pass, only when the history has any.
pub fn check_path(
    path: &std::path::Path,
    guarantees: &Guarantees,
    options: &linear::CheckOptions,
) -> Result<CheckResult, HistoryError> {
    let history = History::from_path(path)?;
    let mut result = check(&history, guarantees);
    let register = history.register();
    let register_ops = if register.ok + register.fail + register.info > 0 {
        let file = std::fs::File::open(path)?;
        linear::register_ops(std::io::BufReader::new(file))?
    } else {
        Vec::new()
    };
    linear::add_models(&history, &register_ops, guarantees, options, &mut result);
    Ok(result)
}

/// [`check_path`] of ops in memory (a simulator's recorder's).
pub fn check_ops(
    ops: &[Op],
    guarantees: &Guarantees,
    options: &linear::CheckOptions,
) -> Result<CheckResult, HistoryError> {
    let history = History::from_ops(ops)?;
    let mut result = check(&history, guarantees);
    let register_ops: Vec<Op> = ops
        .iter()
        .filter(|op| linear::register::is_register_op(op))
        .cloned()
        .collect();
    linear::add_models(&history, &register_ops, guarantees, options, &mut result);
    Ok(result)
}
