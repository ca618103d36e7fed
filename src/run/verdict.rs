//! What the checkers make of a run's history, and the files that say so:
//! `results.json`, `timeline.html` and the results index.

use std::path::Path;

use crate::run::results::GuaranteesDoc;

/// The number of violations the checkers find in `history`.
pub fn violations_in(history: &checkers::History, guarantees: GuaranteesDoc) -> usize {
    let result = checkers::check(history, &to_guarantees(guarantees));
    result
        .counts
        .anomalies
        .iter()
        .filter(|(kind, _)| {
            result
                .anomalies
                .iter()
                .any(|a| a.kind == **kind && a.severity == checkers::Severity::Violation)
        })
        .map(|(_, n)| *n as usize)
        .sum()
}

fn to_guarantees(g: GuaranteesDoc) -> checkers::Guarantees {
    checkers::Guarantees {
        exclusive_leadership: g.exclusive_leadership,
        fence_on_grant: g.fence_on_grant,
    }
}

/// What the checkers made of a history.
pub struct Checked {
    /// `Some(valid)`, or `None` when unknown.
    pub verdict: Option<bool>,
    /// Faults the nemesis injected (partition, pause, kill and clock ops that ended ok).
    pub faults_injected: usize,
}

/// Checks `dir/history.jsonl` and writes `dir/results.json`.
pub fn check_and_write(dir: &Path, guarantees: GuaranteesDoc) -> anyhow::Result<Checked> {
    let history = checkers::History::from_path(&dir.join("history.jsonl"))?;
    let faults_injected = history
        .nemesis
        .iter()
        .filter(|op| op.kind == checkers::OpType::Ok)
        .filter(|op| {
            use checkers::F;
            matches!(op.f, F::Partition | F::Pause | F::Kill | F::Clock)
        })
        .count();
    let result = checkers::check(&history, &to_guarantees(guarantees));
    checkers::write_results(&dir.join("results.json"), &result)?;
    let verdict = match result.valid {
        checkers::Validity::Valid => Some(true),
        checkers::Validity::Invalid => Some(false),
        checkers::Validity::Unknown => None,
    };
    Ok(Checked {
        verdict,
        faults_injected,
    })
}

pub fn write_report(dir: &Path) -> anyhow::Result<()> {
    crate::report::write_report(dir)
}

pub fn write_index(root: &Path) -> anyhow::Result<()> {
    crate::report::write_index(root)
}
