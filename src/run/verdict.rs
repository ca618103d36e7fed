//! What the checkers make of a run's history, and the files that say so:
//! `results.json`, `timeline.html` and the results index.

use std::path::Path;

/// The number of violations the checkers find in `history`.
pub fn violations_in(history: &checkers::History, guarantees: checkers::Guarantees) -> usize {
    let result = checkers::check(history, &guarantees);
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

/// What the checkers made of a history.
pub struct Checked {
    pub verdict: checkers::Validity,
    /// Faults the nemesis injected (partition, pause, kill and clock ops that ended ok).
    pub faults_injected: usize,
}

/// Checks `dir/history.jsonl` and writes `dir/results.json`.
pub fn check_and_write(dir: &Path, guarantees: checkers::Guarantees) -> anyhow::Result<Checked> {
    let path = dir.join("history.jsonl");
    let result = checkers::check_path(&path, &guarantees, &Default::default())?;
    checkers::write_results(&dir.join("results.json"), &result)?;
    Ok(Checked {
        verdict: result.valid,
        faults_injected: result
            .exercised
            .as_ref()
            .map_or(0, |e| e.faults_injected as usize),
    })
}

pub fn write_report(dir: &Path) -> anyhow::Result<()> {
    crate::report::write_report(dir)
}

pub fn write_index(root: &Path) -> anyhow::Result<()> {
    crate::report::write_index(root)
}
