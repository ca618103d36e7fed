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
/// ([`linear::register`]).
pub fn check_path(
    path: &std::path::Path,
    guarantees: &Guarantees,
) -> Result<CheckResult, HistoryError> {
    let history = History::from_path(path)?;
    let mut result = check(&history, guarantees);
    let options = linear::CheckOptions::default();
    add_models(path, &history, guarantees, &options, &mut result)?;
    Ok(result)
}

/// Adds the model checkers' verdicts and anomalies on the history at `path` (read into
/// `history` already) to `result` ([`linear::add_models`]). Its register ops are read in
/// a second pass, only when it has any.
pub fn add_models(
    path: &std::path::Path,
    history: &History,
    guarantees: &Guarantees,
    options: &linear::CheckOptions,
    result: &mut CheckResult,
) -> Result<(), HistoryError> {
    let register = history.register;
    let register_ops = if register.ok + register.fail + register.info > 0 {
        let file = std::fs::File::open(path)?;
        linear::register_ops(std::io::BufReader::new(file))?
    } else {
        Vec::new()
    };
    linear::add_models(history, &register_ops, guarantees, options, result);
    Ok(())
}
