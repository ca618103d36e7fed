//! Every line a run prints for its user goes through one `Reporter`: to stderr in normal
//! use, above the progress bar while one is drawn, or into memory where a test reads it.
//!
//! Writing never panics and never fails the run: a user who closed the terminal or the
//! pipe loses the lines, not the teardown.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use indicatif::ProgressBar;

/// Where a run's lines go. Cloned into every task that has something to say; the clones
/// share one output, so lines from different tasks never interleave mid-line.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    out: Box<dyn Write + Send>,
    /// Whether `out` is a terminal, where a progress bar may be drawn.
    terminal: bool,
    /// The bar on screen, if any: lines are printed above it rather than through it.
    bar: Option<ProgressBar>,
}

/// The lines a capturing reporter was given, for tests.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Reporter {
    /// The reporter of a run started from the command line.
    pub fn stderr() -> Reporter {
        let terminal = std::io::stderr().is_terminal();
        Reporter::new(Box::new(std::io::stderr()), terminal)
    }

    /// A reporter that keeps every line in memory; never a terminal, so no bar is drawn.
    #[cfg(test)]
    pub fn capture() -> (Reporter, Captured) {
        let captured = Captured::default();
        let reporter = Reporter::new(Box::new(captured.clone()), false);
        (reporter, captured)
    }

    fn new(out: Box<dyn Write + Send>, terminal: bool) -> Reporter {
        Reporter {
            inner: Arc::new(Mutex::new(Inner {
                out,
                terminal,
                bar: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A task that panicked while printing left whole lines behind; go on printing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints `text` as it is, one or more lines.
    pub fn line(&self, text: &str) {
        let mut inner = self.lock();
        match &inner.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(inner.out, "{text}");
                let _ = inner.out.flush();
            }
        }
    }

    /// `splitbrain: TEXT`: what the run is doing.
    pub fn say(&self, text: &str) {
        self.line(&format!("splitbrain: {text}"));
    }

    /// `splitbrain: warning: TEXT`: something went wrong that does not change the verdict.
    pub fn warning(&self, text: &str) {
        self.line(&format!("splitbrain: warning: {text}"));
    }

    /// `splitbrain run: TEXT`: why the run was refused (bad usage).
    pub fn refuse(&self, text: &str) {
        self.line(&format!("splitbrain run: {text}"));
    }

    /// Whether a progress bar can be drawn where the lines go.
    pub fn is_terminal(&self) -> bool {
        self.lock().terminal
    }

    /// Lines go above `bar` until [`Reporter::hide_bar`].
    pub fn show_bar(&self, bar: ProgressBar) {
        self.lock().bar = Some(bar);
    }

    /// Clears the bar from the screen; lines go straight to the output again.
    pub fn hide_bar(&self) {
        if let Some(bar) = self.lock().bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
impl Captured {
    /// Every line written so far, without its newline.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_writes_whole_lines_to_one_capture() {
        let (report, captured) = Reporter::capture();
        assert!(!report.is_terminal(), "a capture draws no bar");
        let other = report.clone();
        let task = std::thread::spawn(move || other.warning("cannot write test.json: full"));
        report.say("results in /tmp/r");
        task.join().unwrap();
        report.line("nemesis schedule:\n  t=1s kill n2");
        let mut lines = captured.lines();
        lines[..2].sort();
        assert_eq!(
            lines,
            [
                "splitbrain: results in /tmp/r",
                "splitbrain: warning: cannot write test.json: full",
                "nemesis schedule:",
                "  t=1s kill n2",
            ]
        );
    }

    #[test]
    fn a_hidden_bar_gives_the_lines_back_to_the_output() {
        let (report, captured) = Reporter::capture();
        let bar = ProgressBar::hidden();
        report.show_bar(bar.clone());
        report.line("above the bar");
        report.hide_bar();
        assert!(bar.is_finished());
        report.refuse("--nemesis: clock faults cannot be injected here");
        assert_eq!(
            captured.lines(),
            ["splitbrain run: --nemesis: clock faults cannot be injected here"],
            "a line above a bar is the bar's to draw"
        );
    }
}
