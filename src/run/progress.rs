//! Live progress of a run, read back from the history file as it grows: elapsed of the
//! limit, ops ok/fail/info, the current leader and term, the faults in force, and the
//! violations an incremental check has found so far. A bar on a terminal; periodic plain
//! lines otherwise (CI logs).
//!
//! Tailing the history rather than asking each piece for counters keeps progress
//! independent of the workload and nemesis internals: the history is the one record
//! every piece already writes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkers::{HistoryError, Op, OpReader, OpType, Position, Process, Role, F};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use super::reporter::Reporter;
use super::verdict;

/// How often the history is read back and the bar redrawn.
const PROGRESS_TICK_MS: u64 = 500;
/// How often the checkers run over the history so far.
const INCREMENTAL_CHECK_INTERVAL_MS: u64 = 3_000;
/// Above this many ops the incremental check stops: it re-reads the whole history each
/// time, and the final check will tell anyway.
const INCREMENTAL_CHECK_OPS_MAX: usize = 500_000;
/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_LINE_INTERVAL_MS: u64 = 5_000;

/// What the history says so far.
#[derive(Default, Debug, Clone)]
pub struct Snapshot {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// The highest-term leader any node reported, and that term.
    pub leader: Option<(String, u64)>,
    /// Fault kind → a short description, for faults in force.
    pub faults: BTreeMap<&'static str, String>,
    /// Violations found by the last incremental check, if one has run.
    pub violations: Option<usize>,
}

impl Snapshot {
    fn absorb(&mut self, op: &Op) {
        if op.process == Process::Nemesis {
            self.absorb_nemesis(op);
            return;
        }
        match op.kind {
            OpType::Invoke => {}
            OpType::Ok => self.ok += 1,
            OpType::Fail => self.fail += 1,
            OpType::Info => self.info += 1,
        }
        if op.kind == OpType::Ok && op.f == F::Status {
            let Some(v) = op.value() else { return };
            if let (Some(Role::Leader), Some(term), Some(node)) = (&v.role, v.term, &op.node) {
                if self.leader.as_ref().is_none_or(|(_, t)| term >= *t) {
                    self.leader = Some((node.clone(), term));
                }
            }
        }
    }

    fn absorb_nemesis(&mut self, op: &Op) {
        if op.kind != OpType::Ok {
            return;
        }
        let nodes = || {
            op.value()
                .and_then(|v| v.nodes.clone())
                .unwrap_or_default()
                .join(",")
        };
        match op.f {
            F::Partition => {
                let v = op.value();
                let desc = match v.and_then(|v| v.groups.as_ref()) {
                    Some(groups) => groups
                        .iter()
                        .map(|g| g.join(","))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    None => "one-way".into(),
                };
                self.faults.insert("partition", desc);
            }
            F::Heal => {
                self.faults.remove("partition");
            }
            F::Pause => {
                self.faults.insert("pause", nodes());
            }
            F::Resume => {
                self.faults.remove("pause");
            }
            F::Kill => {
                self.faults.insert("kill", nodes());
            }
            F::PowerLoss => {
                self.faults.insert("power-loss", nodes());
            }
            F::Start => {
                self.faults.remove("kill");
                self.faults.remove("power-loss");
            }
            F::Clock => {
                let offsets = op
                    .value()
                    .and_then(|v| v.offsets_ms.as_ref())
                    .map(|m| {
                        m.iter()
                            .map(|(n, ms)| format!("{n}{ms:+}ms"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                self.faults.insert("clock", offsets);
            }
            F::ClockReset => {
                self.faults.remove("clock");
            }
            F::Packet => {
                let kind = op
                    .value()
                    .and_then(|v| v.packet.as_ref())
                    .and_then(|p| p.get("kind"))
                    .and_then(|k| k.as_str())
                    .unwrap_or("shaping")
                    .to_string();
                self.faults.insert("packet", kind);
            }
            F::PacketHeal => {
                self.faults.remove("packet");
            }
            _ => {}
        }
    }

    /// One line, the most telling first (a narrow terminal cuts the end):
    /// `0 violations · ok 120 fail 3 info 1 · leader n2/t4 · partition n1,n2 | n3`.
    pub fn line(&self) -> String {
        let violations = match self.violations {
            None => "checking".to_string(),
            Some(1) => "1 VIOLATION".to_string(),
            Some(n) if n > 1 => format!("{n} VIOLATIONS"),
            Some(_) => "0 violations".to_string(),
        };
        let leader = match &self.leader {
            Some((n, t)) => format!("leader {n}/t{t}"),
            None => "no leader yet".into(),
        };
        let faults = if self.faults.is_empty() {
            "no fault".to_string()
        } else {
            self.faults
                .iter()
                .map(|(k, d)| format!("{k} {d}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        format!(
            "{violations} · ok {} fail {} info {} · {leader} · {faults}",
            self.ok, self.fail, self.info
        )
    }
}

/// Reads the whole lines appended to the history since the last call, through the
/// checkers' reader: a line the writer has not finished is left for the next call.
struct Tail {
    path: PathBuf,
    /// Just past the last whole line read.
    at: Position,
    /// Set when a line is malformed: the display keeps what it had, and the final check
    /// names the line.
    broken: bool,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            at: Position::default(),
            broken: false,
        }
    }

    fn read_new(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        if self.broken {
            return ops;
        }
        let Ok(mut file) = File::open(&self.path) else {
            return ops;
        };
        if file.seek(SeekFrom::Start(self.at.offset)).is_err() {
            return ops;
        }
        let mut reader = OpReader::growing(BufReader::new(file), self.at);
        loop {
            match reader.next() {
                Some(Ok(op)) => ops.push(op),
                None => break,
                // Read again from the last whole line next time.
                Some(Err(HistoryError::Io(_))) => break,
                Some(Err(e)) => {
                    tracing::warn!("{}: live progress stops: {e}", self.path.display());
                    self.broken = true;
                    return ops;
                }
            }
            self.at = reader.position();
        }
        ops
    }
}

/// The running display; `finish` clears it.
pub struct Progress {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Snapshot>,
    say: Say,
}

/// Announces phases: prints a line through the run's reporter (above the bar while one
/// is drawn) and names the phase the display shows. Cloned into every task that has
/// something to say.
#[derive(Clone)]
pub struct Say {
    report: Reporter,
    bar: Option<ProgressBar>,
    phase: Arc<std::sync::Mutex<Phase>>,
}

#[derive(Default)]
struct Phase {
    name: String,
    /// When the workload and nemesis started: the bar counts the time limit from here.
    attack_started: Option<Instant>,
}

impl Say {
    /// Prints `line` and shows `phase` from now on.
    pub fn phase(&self, phase: &str, line: &str) {
        {
            let mut p = self.phase.lock().unwrap_or_else(|e| e.into_inner());
            p.name = phase.to_string();
            if phase == ATTACK_PHASE && p.attack_started.is_none() {
                p.attack_started = Some(Instant::now());
            }
        }
        self.line(line);
    }

    /// Prints `line` without garbling the bar.
    pub fn line(&self, line: &str) {
        self.report.line(line);
    }

    fn current(&self) -> (String, Option<Duration>) {
        let p = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        (p.name.clone(), p.attack_started.map(|t| t.elapsed()))
    }
}

/// The phase in which the time limit runs.
pub const ATTACK_PHASE: &str = "attack";

impl Progress {
    pub fn start(
        history: PathBuf,
        time_limit: Duration,
        guarantees: checkers::Guarantees,
        report: &Reporter,
    ) -> Progress {
        let (stop, stop_rx) = watch::channel(false);
        let bar = report.is_terminal().then(|| make_bar(time_limit));
        if let Some(bar) = &bar {
            report.show_bar(bar.clone());
        }
        let say = Say {
            report: report.clone(),
            bar,
            phase: Arc::new(std::sync::Mutex::new(Phase {
                name: "starting".into(),
                attack_started: None,
            })),
        };
        let task = tokio::spawn(drive(history, time_limit, guarantees, say.clone(), stop_rx));
        Progress { stop, task, say }
    }

    pub fn say(&self) -> Say {
        self.say.clone()
    }

    /// Stops the display and returns the last snapshot.
    pub async fn finish(self) -> Snapshot {
        let _ = self.stop.send(true);
        let snap = self.task.await.unwrap_or_default();
        self.say.report.hide_bar();
        snap
    }
}

/// A bar on stderr, the reporter's terminal.
fn make_bar(time_limit: Duration) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(time_limit.as_secs().max(1)),
        ProgressDrawTarget::stderr(),
    );
    let style = ProgressStyle::with_template("{prefix:>9} [{bar:20}] {pos}/{len}s {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The checkers over the history so far, in a blocking task, at most one at a time.
/// Each check reads the complete lines of the history file back from disk, so nothing
/// here grows with the history: between checks the controller holds no ops at all.
struct IncrementalCheck {
    guarantees: checkers::Guarantees,
    history: PathBuf,
    /// Ops seen so far (for the cap).
    seen: usize,
    running: Option<tokio::task::JoinHandle<Option<usize>>>,
    last: Instant,
}

impl IncrementalCheck {
    /// Counts new ops, collects a finished check's count, and starts the next when due
    /// over the first `complete_bytes` of the history (whole lines only).
    fn step(&mut self, new: usize, complete_bytes: u64, snap: &mut Snapshot) {
        self.seen += new;
        let capped = self.seen >= INCREMENTAL_CHECK_OPS_MAX;
        if self.running.as_ref().is_some_and(|h| h.is_finished()) {
            let done = self
                .running
                .take()
                .and_then(futures_util::FutureExt::now_or_never);
            if let Some(Ok(Some(n))) = done {
                snap.violations = Some(n);
            }
        }
        // Past the cap the display keeps the last count; the final check covers the rest.
        let due = self.last.elapsed() >= Duration::from_millis(INCREMENTAL_CHECK_INTERVAL_MS);
        if self.running.is_none() && !capped && due {
            self.last = Instant::now();
            let (path, guarantees) = (self.history.clone(), self.guarantees);
            self.running = Some(tokio::task::spawn_blocking(move || {
                let file = File::open(&path).ok()?;
                let input = BufReader::with_capacity(1 << 16, file.take(complete_bytes));
                let history = checkers::History::read(input).ok()?;
                Some(verdict::violations_in(&history, guarantees))
            }));
        }
    }
}

async fn drive(
    history: PathBuf,
    time_limit: Duration,
    guarantees: checkers::Guarantees,
    say: Say,
    mut stop: watch::Receiver<bool>,
) -> Snapshot {
    let mut check = IncrementalCheck {
        guarantees,
        history: history.clone(),
        seen: 0,
        running: None,
        last: Instant::now(),
    };
    let mut tail = Tail::new(history);
    let mut snap = Snapshot::default();
    let mut last_plain = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(PROGRESS_TICK_MS));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let new = tail.read_new();
        for op in &new {
            snap.absorb(op);
        }
        check.step(new.len(), tail.at.offset, &mut snap);
        let (phase, attack) = say.current();
        let elapsed = attack
            .unwrap_or_default()
            .as_secs()
            .min(time_limit.as_secs());
        match &say.bar {
            Some(bar) => {
                bar.set_prefix(phase);
                bar.set_position(elapsed);
                bar.set_message(snap.line());
            }
            None if last_plain.elapsed() >= Duration::from_millis(PLAIN_LINE_INTERVAL_MS) => {
                last_plain = Instant::now();
                let limit = time_limit.as_secs();
                say.line(&format!("[{phase} {elapsed}/{limit}s] {}", snap.line()));
            }
            None => {}
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{OpDraft, Recorder, Value};

    #[test]
    fn snapshot_follows_leaders_and_faults() {
        let rec = Recorder::in_memory();
        let status = Value {
            role: Some(Role::Leader),
            term: Some(3),
            ..Value::default()
        };
        rec.record(OpDraft::invoke(Process::Client(0), F::Status, None).with_node("n2"))
            .unwrap();
        rec.record(OpDraft::ok(Process::Client(0), F::Status, Some(status)).with_node("n2"))
            .unwrap();
        let part = Value {
            groups: Some(vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]]),
            ..Value::default()
        };
        rec.record(OpDraft::ok(Process::Nemesis, F::Partition, Some(part)))
            .unwrap();
        rec.record(OpDraft::info(
            Process::Client(1),
            F::Write,
            None,
            checkers::ErrorCode::Timeout,
        ))
        .unwrap();
        let mut snap = Snapshot::default();
        for op in rec.ops() {
            snap.absorb(&op);
        }
        assert_eq!((snap.ok, snap.fail, snap.info), (1, 0, 1));
        assert_eq!(snap.leader, Some(("n2".into(), 3)));
        assert_eq!(
            snap.faults.get("partition").map(String::as_str),
            Some("n1 | n2,n3")
        );
        rec.record(OpDraft::ok(Process::Nemesis, F::Heal, None))
            .unwrap();
        snap.absorb(rec.ops().last().unwrap());
        assert!(snap.faults.is_empty());
    }

    #[test]
    fn tail_reads_only_whole_lines_and_each_once() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut f = File::create(&path).unwrap();
        let line = |i: u64| {
            format!(
                r#"{{"index":{i},"time":{i},"process":{i},"type":"invoke","f":"read","value":null}}"#
            )
        };
        // A read listing many ids: longer than the reader's look-ahead.
        let ids: Vec<String> = (0..20_000).map(|i| format!(r#""w{i}""#)).collect();
        let long = format!(
            r#"{{"index":2,"time":2,"process":1,"type":"ok","f":"read","value":{{"ids":[{}]}}}}"#,
            ids.join(",")
        );
        let mut tail = Tail::new(path.clone());
        assert!(tail.read_new().is_empty(), "an empty file has no op");
        write!(f, "{}\n{}", line(0), &line(1)[..10]).unwrap();
        f.flush().unwrap();
        assert_eq!(tail.read_new().len(), 1);
        assert_eq!(tail.at.offset, line(0).len() as u64 + 1);
        assert!(tail.read_new().is_empty(), "half a line waits");
        write!(f, "{}\n{}", &line(1)[10..], &long[..100_000]).unwrap();
        f.flush().unwrap();
        let ops = tail.read_new();
        assert_eq!(ops.iter().map(|o| o.index).collect::<Vec<_>>(), [1]);
        assert!(tail.read_new().is_empty());
        writeln!(f, "{}", &long[100_000..]).unwrap();
        f.flush().unwrap();
        let ops = tail.read_new();
        assert_eq!(ops.len(), 1);
        let read_ids = ops[0].value().and_then(|v| v.ids.as_ref()).unwrap();
        assert_eq!(read_ids.len(), 20_000);
        assert_eq!(tail.at.offset, std::fs::metadata(&path).unwrap().len());
        // A malformed line stops the tail rather than being skipped over.
        writeln!(f, "{{\"index\":9}}\n{}", line(4)).unwrap();
        f.flush().unwrap();
        assert!(tail.read_new().is_empty());
        assert!(tail.broken);
    }
}
