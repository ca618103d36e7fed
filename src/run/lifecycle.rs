//! The phases of one run, in order, with teardown guaranteed on every path out: a
//! verdict, an interrupt, a harness failure or a panic of any phase.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use checkers::Recorder;
use tokio::sync::watch;
use workloads::CancellationToken;

use super::disk::{self, Disks, DISK_FREE_BYTES_RUN_MIN, DISK_FREE_BYTES_START_MIN};
use super::pieces::{self, Running, Selection};
use super::progress::{Progress, Say, Snapshot, ATTACK_PHASE};
use super::results::{self, RuntimeDoc, TestDoc, Versions};
use super::summary;
use crate::exit::Exit;
use crate::runtime::RuntimeKind;
use crate::spec::TestSpec;
use checkers::Validity;

/// How long a started cluster may take to elect a leader that answers.
const LEADER_WAIT_SECS_MAX: u64 = 60;
/// How long the workload and nemesis get to wind down once told to stop.
const WIND_DOWN_SECS_MAX: u64 = 30;
/// Bound on the final phase (heal, resume, start, clock reset) and on the final reads.
const FINAL_PHASE_SECS_MAX: u64 = 60;
const FINAL_READS_SECS_MAX: u64 = 60;
/// Bound on tearing the cluster down.
const TEARDOWN_SECS_MAX: u64 = 120;

/// How the drive phase ended.
enum Outcome {
    Completed,
    Interrupted,
    /// The harness failed; the message says where.
    Harness(String),
    /// A filesystem the run writes to filled up: a harness failure whose message names
    /// the disk, after which nothing more is written there.
    DiskFull(String),
}

/// Why a run was told to stop before its end.
#[derive(Clone, Debug)]
enum Stop {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Signal,
    /// A filesystem the run writes to is about to fill; the message names it.
    DiskFull(String),
}

/// A stop flag, set by Ctrl-C, SIGTERM or SIGHUP, or by the watch on the disks; the
/// first reason given is the one that stands.
#[derive(Clone)]
struct Interrupt {
    rx: watch::Receiver<Option<Stop>>,
    tx: Arc<watch::Sender<Option<Stop>>>,
}

impl Interrupt {
    fn install() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        let interrupt = Interrupt {
            rx,
            tx: Arc::new(tx),
        };
        let on_signal = interrupt.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let sigterm = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            // A closed terminal (SIGHUP) stops the run like SIGTERM: its default action
            // would end the process with no teardown.
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let sighup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm => {}
                _ = sighup => {}
            }
            eprintln!(
                "\nsplitbrain: interrupted; stopping the workload and nemesis, tearing down \
                 (interrupt again to exit at once)"
            );
            on_signal.stop(Stop::Signal);
            // A teardown that hangs must not trap the user: a second interrupt leaves now.
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "splitbrain: exiting without teardown; `splitbrain clean` removes what is left"
                );
                std::process::exit(130);
            }
        });
        interrupt
    }

    /// Tells every phase to stop, unless it was told already.
    fn stop(&self, why: Stop) {
        self.tx.send_if_modified(|current| match current {
            None => {
                *current = Some(why);
                true
            }
            Some(_) => false,
        });
    }

    fn is_set(&self) -> bool {
        self.rx.borrow().is_some()
    }

    fn reason(&self) -> Option<Stop> {
        self.rx.borrow().clone()
    }

    async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// An early stop for a full disk is a harness failure, not an interruption.
    fn explain(&self, outcome: Outcome) -> Outcome {
        match (outcome, self.reason()) {
            (Outcome::Interrupted, Some(Stop::DiskFull(msg))) => Outcome::DiskFull(msg),
            (outcome, _) => outcome,
        }
    }
}

/// Stops the run when a filesystem it writes to is about to fill, so that it ends as a
/// harness failure naming the disk, with the history flushed, rather than with nodes
/// dying on their log writes and the workload on the history's.
fn watch_disks(disks: Disks, interrupt: Interrupt) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(disk::DISK_CHECK_INTERVAL_MS));
        loop {
            tick.tick().await;
            if let Some(low) = disks.low(DISK_FREE_BYTES_RUN_MIN) {
                eprintln!("\nsplitbrain: {low}; stopping the run");
                interrupt.stop(Stop::DiskFull(low.to_string()));
                return;
            }
        }
    })
}

/// The filesystems a run writes to: the results root's, and the one the process
/// runtimes keep node data on.
fn disks_for(spec: &TestSpec, selection: &Selection, runtime_id: &str) -> Disks {
    let processes = spec.endpoints.is_empty()
        && matches!(
            selection.runtime_kind,
            RuntimeKind::Local | RuntimeKind::Netns
        );
    let data = crate::runtime::host_run_dir(runtime_id);
    Disks::for_run(&spec.results, processes.then_some(data.as_path()))
}

/// Runs the test end to end and returns the exit code.
pub async fn run_test(spec: TestSpec, replay: Option<serde_json::Value>) -> Exit {
    let interrupt = Interrupt::install();
    eprintln!("splitbrain: {spec}");
    let selection = match pieces::select(&spec).await {
        Ok(s) => s,
        Err(pieces::SelectError::Usage(msg)) => {
            eprintln!("splitbrain run: {msg}");
            return Exit::Usage;
        }
        Err(pieces::SelectError::Harness(e)) => {
            eprintln!(
                "splitbrain: harness error (not a verdict on {}): {e:#}",
                spec.system.name()
            );
            return Exit::Unknown;
        }
    };
    eprintln!(
        "splitbrain: runtime {} ({})",
        selection.runtime_name, selection.runtime_reason
    );
    let schedule = match replay {
        Some(json) => pieces::schedule_from_json(&spec, &selection, json),
        None => pieces::new_schedule(&spec, &selection),
    };
    let schedule = match schedule {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("splitbrain run: --nemesis: {msg}");
            return Exit::Usage;
        }
    };
    if !schedule.summary.is_empty() {
        eprintln!(
            "splitbrain: nemesis schedule:\n{}",
            schedule.summary.trim_end()
        );
    }
    let runtime_id = crate::runtime::new_run_id();
    let disks = disks_for(&spec, &selection, &runtime_id);
    if let Some(low) = disks.low(DISK_FREE_BYTES_START_MIN) {
        // Nothing is created: the nodes would die on their first log write and the run
        // would be read as a cluster that never elected a leader.
        eprintln!(
            "splitbrain: harness error (not a verdict on {}): {low}",
            spec.system.name()
        );
        return Exit::Unknown;
    }
    let started = SystemTime::now();
    let (run_id, dir) = match results::create_run_dir(
        &spec.results,
        &results::run_id(&spec, started),
    ) {
        Ok(x) => x,
        // Nothing has started yet: a --results the user cannot write to is a bad flag.
        Err(e) => {
            eprintln!(
                    "splitbrain: --results: cannot create a results directory under {}: {e}; give a directory you can write to",
                    spec.results.display()
                );
            return Exit::Usage;
        }
    };
    eprintln!("splitbrain: results in {}", dir.display());
    let doc = TestDoc {
        run_id: run_id.clone(),
        started_at: crate::utc::rfc3339(started),
        command: spec.command_line(),
        seed: spec.seed,
        spec: spec.clone(),
        guarantees: selection.guarantees,
        runtime: RuntimeDoc {
            name: selection.runtime_name.clone(),
            reason: selection.runtime_reason.clone(),
            run_id: runtime_id,
        },
        versions: Versions {
            splitbrain: env!("CARGO_PKG_VERSION").to_string(),
            system: selection.system_version.clone(),
        },
        schedule: schedule.json.clone(),
        schedule_summary: schedule.summary.clone(),
        topology: serde_json::Value::Null,
    };
    let mut ctx = RunCtx {
        spec,
        runtime_id: doc.runtime.run_id.clone(),
        run_id,
        dir,
        faults_scheduled: schedule.schedule.events.len(),
        doc,
        interrupt,
        disks,
    };
    ctx.execute(selection, schedule).await
}

struct RunCtx {
    spec: TestSpec,
    /// The results directory's name.
    run_id: String,
    /// The short id every container, namespace and process of the run is named with.
    runtime_id: String,
    dir: PathBuf,
    /// Faults in the schedule: a run that asked for faults must inject one for a verdict.
    faults_scheduled: usize,
    doc: TestDoc,
    interrupt: Interrupt,
    disks: Disks,
}

impl RunCtx {
    fn write_test_doc(&self) {
        if let Err(e) = results::write_json_atomic(&self.dir.join("test.json"), &self.doc) {
            eprintln!("splitbrain: warning: cannot write test.json: {e}");
        }
    }

    async fn execute(&mut self, selection: Selection, schedule: pieces::Schedule) -> Exit {
        self.write_test_doc();
        let history = self.dir.join("history.jsonl");
        let recorder = match Recorder::create(&history) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("cannot create {}: {e}", history.display());
                return self.conclude(Outcome::Harness(msg), None).await;
            }
        };
        let watch = watch_disks(self.disks.clone(), self.interrupt.clone());
        let cluster = match self.start_cluster(&selection, &recorder).await {
            Ok(c) => c,
            Err(outcome) => {
                watch.abort();
                let outcome = self.close_history(self.interrupt.explain(outcome), &recorder);
                return self.conclude(outcome, None).await;
            }
        };
        self.doc.topology = cluster.topology_json();
        self.write_test_doc();
        let progress = Progress::start(
            history.clone(),
            Duration::from_secs(self.spec.time_limit_secs),
            self.doc.guarantees,
        );
        let drive = {
            let cluster = Arc::clone(&cluster);
            let ctx = DriveCtx {
                spec: self.spec.clone(),
                recorder: recorder.clone(),
                interrupt: self.interrupt.clone(),
                say: progress.say(),
            };
            tokio::spawn(async move { ctx.drive(cluster, schedule).await })
        };
        let outcome = match drive.await {
            Ok(o) => o,
            Err(e) => Outcome::Harness(format!("the run's driver failed: {e}")),
        };
        watch.abort();
        // Every op is on disk before anything is torn down: a controller killed during
        // teardown (SIGKILL, a second Ctrl-C) still leaves the final reads in the history.
        let outcome = self.close_history(self.interrupt.explain(outcome), &recorder);
        let snapshot = progress.finish().await;
        if let Some(ran) = cluster.schedule_as_run() {
            // Leader-aimed faults now name the node they hit: replay repeats exactly this.
            self.doc.schedule = ran;
            self.write_test_doc();
        }
        teardown(&cluster).await;
        self.conclude(outcome, Some(snapshot)).await
    }

    /// Flushes and fsyncs the history; no op is recorded after this. A history that
    /// cannot be written whole gives no verdict.
    fn close_history(&self, outcome: Outcome, recorder: &Recorder) -> Outcome {
        let Err(e) = recorder.finish() else {
            return outcome;
        };
        let lost = format!(
            "the history could not be written whole to {}: {e}",
            self.dir.join("history.jsonl").display()
        );
        match outcome {
            Outcome::DiskFull(msg) => Outcome::DiskFull(format!("{msg}; {lost}")),
            Outcome::Harness(msg) if disk::is_full(&e) => {
                Outcome::DiskFull(format!("{msg}; {lost}"))
            }
            Outcome::Harness(msg) => Outcome::Harness(format!("{msg}; {lost}")),
            _ if disk::is_full(&e) => Outcome::DiskFull(lost),
            _ => Outcome::Harness(lost),
        }
    }

    /// Starts the nodes, or says why not; whatever a failed or interrupted start created
    /// is removed here.
    async fn start_cluster(
        &self,
        selection: &Selection,
        recorder: &Recorder,
    ) -> Result<Arc<Running>, Outcome> {
        eprintln!(
            "splitbrain: starting {} {} nodes on {} (run id {}; images are built if missing)",
            self.spec.nodes,
            self.spec.system.name(),
            selection.runtime_name,
            self.runtime_id
        );
        let start = tokio::select! {
            r = pieces::start(&self.spec, selection, &self.runtime_id, &self.dir, recorder) => Some(r),
            _ = self.interrupt.wait() => None,
        };
        match start {
            Some(Ok(c)) => Ok(Arc::new(c)),
            None => {
                pieces::teardown_run(&self.runtime_id).await;
                Err(Outcome::Interrupted)
            }
            Some(Err(e)) => {
                pieces::teardown_run(&self.runtime_id).await;
                Err(Outcome::Harness(format!("cannot start the cluster: {e:#}")))
            }
        }
    }

    /// Everything after the cluster is gone and the history closed: the verdict, the
    /// files every run leaves, the summary and the exit code.
    async fn conclude(&self, outcome: Outcome, snap: Option<Snapshot>) -> Exit {
        let outcome = self.blame_the_disk(outcome);
        let verdict = match &outcome {
            Outcome::Completed => self.check().await,
            Outcome::Interrupted => {
                self.check_partial().await;
                write_unknown(&self.dir, "interrupted", None);
                Validity::Unknown
            }
            Outcome::Harness(msg) => {
                self.harness_error(msg);
                self.check_partial().await;
                write_unknown(&self.dir, "the harness failed", Some(msg));
                Validity::Unknown
            }
            Outcome::DiskFull(msg) => {
                self.harness_error(msg);
                eprintln!(
                    "splitbrain: history.jsonl and test.json keep what was recorded; no check or report is written on a full disk"
                );
                // A few hundred bytes that say why, if they still fit.
                write_unknown(&self.dir, "the disk is full", Some(msg));
                Validity::Unknown
            }
        };
        if !matches!(outcome, Outcome::DiskFull(_)) {
            self.write_reports().await;
        }
        results::remove_temporaries(&self.spec.results, &self.dir);
        summary::print(&self.spec, &self.dir, snap.as_ref());
        match outcome {
            Outcome::Completed => Exit::from(verdict),
            _ => Exit::Unknown,
        }
    }

    fn harness_error(&self, msg: &str) {
        eprintln!(
            "splitbrain: harness error (not a verdict on {}): {msg}",
            self.spec.system.name()
        );
    }

    /// A harness failure (no leader, nodes gone, a write that failed) on a filesystem
    /// that is now full is put down to the disk, and every disk failure names the disk.
    fn blame_the_disk(&self, outcome: Outcome) -> Outcome {
        let low = || self.disks.low(DISK_FREE_BYTES_RUN_MIN);
        match outcome {
            Outcome::Harness(msg) => match low() {
                Some(low) => Outcome::DiskFull(format!("{low}; {msg}")),
                None => Outcome::Harness(msg),
            },
            Outcome::DiskFull(msg) if msg.starts_with(disk::DISK_FULL) => Outcome::DiskFull(msg),
            Outcome::DiskFull(msg) => Outcome::DiskFull(match low() {
                Some(low) => format!("{low}; {msg}"),
                // Full to this process (a quota) though the filesystem shows space.
                None => format!(
                    "{}: a write under {} found no space; {msg}",
                    disk::DISK_FULL,
                    self.dir.display()
                ),
            }),
            outcome => outcome,
        }
    }

    /// Runs the checkers on the finished history.
    async fn check(&self) -> Validity {
        let dir = self.dir.clone();
        let guarantees = self.doc.guarantees;
        let checked =
            tokio::task::spawn_blocking(move || pieces::check_and_write(&dir, guarantees)).await;
        let (reason, msg) = match checked {
            Ok(Ok(checked)) => match self.no_fault_injected(&checked) {
                None => return checked.verdict,
                Some(reason) => (reason, None),
            },
            Ok(Err(e)) => (
                "the checkers could not run".to_string(),
                Some(format!("the checkers could not run: {e:#}")),
            ),
            Err(e) => (
                "a checker panicked".to_string(),
                Some(format!("a checker panicked: {e}")),
            ),
        };
        write_unknown(&self.dir, &reason, msg.as_deref());
        Validity::Unknown
    }

    fn no_fault_injected(&self, checked: &pieces::Checked) -> Option<String> {
        let reason = no_fault_injected(&self.spec, self.faults_scheduled, checked)?;
        eprintln!("splitbrain: {reason}");
        Some(reason)
    }

    /// Checks what was recorded before the run stopped early, so its results.json still
    /// shows what was seen; a history too broken to read is simply left unchecked.
    async fn check_partial(&self) {
        let empty =
            std::fs::metadata(self.dir.join("history.jsonl")).map_or(true, |m| m.len() == 0);
        if empty {
            // Checkers over nothing would print "valid" lines that prove nothing.
            return;
        }
        let dir = self.dir.clone();
        let guarantees = self.doc.guarantees;
        let _ =
            tokio::task::spawn_blocking(move || pieces::check_and_write(&dir, guarantees)).await;
    }

    async fn write_reports(&self) {
        let dir = self.dir.clone();
        let root = self.spec.results.clone();
        let run_id = self.run_id.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = pieces::write_report(&dir) {
                eprintln!("splitbrain: warning: cannot write timeline.html: {e:#}");
            }
            if let Err(e) = results::point_latest(&root, &run_id) {
                eprintln!(
                    "splitbrain: warning: cannot point {}/latest at this run: {e}",
                    root.display()
                );
            }
            if let Err(e) = pieces::write_index(&root) {
                eprintln!("splitbrain: warning: cannot refresh the results index: {e:#}");
            }
        })
        .await;
        if let Err(e) = done {
            eprintln!("splitbrain: warning: the report writer panicked: {e}");
        }
    }
}

/// Why a valid history says nothing about the faults the test asked for: none was
/// injected. A violation stands whatever the faults did.
fn no_fault_injected(
    spec: &TestSpec,
    faults_scheduled: usize,
    checked: &pieces::Checked,
) -> Option<String> {
    let asked = !spec.nemesis_kinds.is_empty();
    if !asked || checked.faults_injected > 0 || checked.verdict != Validity::Valid {
        return None;
    }
    Some(format!(
        "no fault was injected: --nemesis {} scheduled {} and none took effect (see the nemesis ops in history.jsonl), so the run says nothing about them",
        spec.nemesis_flag(),
        match faults_scheduled {
            1 => "1 fault".to_string(),
            n => format!("{n} faults"),
        }
    ))
}

/// Removes the cluster, bounded; what is left is named for `splitbrain clean`.
async fn teardown(cluster: &Running) {
    eprintln!("splitbrain: tearing down");
    let clean = "`splitbrain clean` removes what is left";
    let bound = Duration::from_secs(TEARDOWN_SECS_MAX);
    match tokio::time::timeout(bound, cluster.teardown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("splitbrain: warning: teardown: {e:#}; {clean}"),
        Err(_) => {
            eprintln!("splitbrain: warning: teardown took over {TEARDOWN_SECS_MAX} s; {clean}")
        }
    }
}

fn write_unknown(dir: &Path, reason: &str, harness_error: Option<&str>) {
    if let Err(e) = results::write_unknown_results(dir, reason, harness_error) {
        eprintln!("splitbrain: warning: cannot write results.json: {e}");
    }
}

/// A phase that failed: the harness's failure, or the disk's when a write found it full.
fn failed(what: &str, e: &anyhow::Error) -> Outcome {
    let msg = format!("{what}: {e:#}");
    if disk::any_full(e) {
        Outcome::DiskFull(msg)
    } else {
        Outcome::Harness(msg)
    }
}

/// What the drive phase needs, owned so that it can run as its own task (a panic in it
/// then surfaces as an error here and teardown still runs).
struct DriveCtx {
    spec: TestSpec,
    recorder: Recorder,
    interrupt: Interrupt,
    say: Say,
}

impl DriveCtx {
    async fn drive(self, cluster: Arc<Running>, schedule: pieces::Schedule) -> Outcome {
        let leader_wait = Duration::from_secs(LEADER_WAIT_SECS_MAX);
        let waited = tokio::select! {
            r = cluster.wait_for_leader(leader_wait) => Some(r),
            _ = self.interrupt.wait() => None,
        };
        match waited {
            None => return Outcome::Interrupted,
            Some(Err(e)) => {
                return Outcome::Harness(format!(
                    "no leader served within {LEADER_WAIT_SECS_MAX} s of starting: {e:#}"
                ))
            }
            Some(Ok(leader)) => self.say.phase(
                ATTACK_PHASE,
                &format!("splitbrain: {leader} leads; workload and nemesis start"),
            ),
        }
        if let Some(outcome) = self.attack(&cluster, schedule).await {
            return outcome;
        }
        self.finish(&cluster).await
    }

    /// The workload and the nemesis, until the time limit or an interrupt.
    async fn attack(&self, cluster: &Arc<Running>, schedule: pieces::Schedule) -> Option<Outcome> {
        let stop = CancellationToken::new();
        let workload = {
            let (c, stop) = (Arc::clone(cluster), stop.clone());
            tokio::spawn(async move { c.workload(stop).await })
        };
        let nemesis = {
            let (c, rec, stop) = (Arc::clone(cluster), self.recorder.clone(), stop.clone());
            tokio::spawn(async move { c.nemesis(schedule, rec, stop).await })
        };
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(self.spec.time_limit_secs)) => false,
            _ = self.interrupt.wait() => true,
        };
        stop.cancel();
        let wind_down = Duration::from_secs(WIND_DOWN_SECS_MAX);
        let mut failures = Vec::new();
        let mut disk_full = false;
        for (name, task) in [("workload", workload), ("nemesis", nemesis)] {
            let abort = task.abort_handle();
            match tokio::time::timeout(wind_down, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    disk_full |= disk::any_full(&e);
                    failures.push(format!("the {name} failed: {e:#}"));
                }
                Ok(Err(e)) => failures.push(format!("the {name} task failed: {e}")),
                Err(_) => {
                    abort.abort();
                    failures.push(format!(
                        "the {name} did not stop within {WIND_DOWN_SECS_MAX} s"
                    ));
                }
            }
        }
        if interrupted || self.interrupt.is_set() {
            return Some(Outcome::Interrupted);
        }
        if disk_full {
            return Some(Outcome::DiskFull(failures.join("; ")));
        }
        if !failures.is_empty() {
            return Some(Outcome::Harness(failures.join("; ")));
        }
        None
    }

    /// Final phase, recovery, final reads — each bounded and interruptible.
    async fn finish(&self, cluster: &Arc<Running>) -> Outcome {
        self.say.phase(
            "final",
            "splitbrain: final phase: heal, resume, start, clock reset",
        );
        let fin = Duration::from_secs(FINAL_PHASE_SECS_MAX);
        match self.bounded(fin, cluster.final_phase(&self.recorder)).await {
            Err(o) => return o,
            Ok(Err(e)) => return failed("the final phase failed", &e),
            Ok(Ok(())) => {}
        }
        if self.spec.recovery_secs > 0 {
            let line = format!("splitbrain: recovering for {} s", self.spec.recovery_secs);
            self.say.phase("recovery", &line);
            let recovery = Duration::from_secs(self.spec.recovery_secs);
            if self
                .bounded(recovery + fin, tokio::time::sleep(recovery))
                .await
                .is_err()
            {
                return Outcome::Interrupted;
            }
        }
        self.say
            .phase("reads", "splitbrain: final reads from every node");
        let reads = Duration::from_secs(FINAL_READS_SECS_MAX);
        match self.bounded(reads, cluster.final_reads()).await {
            Err(o) => o,
            Ok(Err(e)) => failed("the final reads failed", &e),
            Ok(Ok(reads)) => {
                let read = reads.local.iter().filter(|(_, log)| log.is_some()).count();
                self.say.line(&format!(
                    "splitbrain: final reads: linearizable {}, {read} of {} nodes answered",
                    if reads.linearizable.is_some() {
                        "ok"
                    } else {
                        "failed"
                    },
                    reads.local.len()
                ));
                Outcome::Completed
            }
        }
    }

    /// Awaits `fut` unless it takes longer than `limit` or the run is interrupted.
    async fn bounded<T>(
        &self,
        limit: Duration,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, Outcome> {
        tokio::select! {
            r = tokio::time::timeout(limit, fut) => r.map_err(|_| Outcome::Harness(format!("a phase took over {} s", limit.as_secs()))),
            _ = self.interrupt.wait() => Err(Outcome::Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RunArgs;

    fn spec(nemesis: &str) -> TestSpec {
        let args = RunArgs {
            system: "raftd".into(),
            nodes: 3,
            runtime: "local".into(),
            nemesis: nemesis.into(),
            time_limit_secs: 10,
            nemesis_interval_ms: 1000,
            nemesis_duration_ms: 500,
            rate_hz: 10.0,
            concurrency: 2,
            seed: Some(1),
            fencing: "grant".into(),
            results: "results".into(),
            ..RunArgs::default()
        };
        TestSpec::from_args(&args, &[]).unwrap()
    }

    #[test]
    fn a_valid_run_without_the_faults_it_asked_for_has_no_verdict() {
        let checked = |verdict, faults_injected| pieces::Checked {
            verdict,
            faults_injected,
        };
        let reason = no_fault_injected(&spec("kill"), 7, &checked(Validity::Valid, 0))
            .expect("valid with no fault is no verdict");
        assert!(
            reason.contains("no fault was injected")
                && reason.contains("--nemesis kill scheduled 7 faults"),
            "{reason}"
        );
        assert_eq!(
            no_fault_injected(&spec("kill"), 7, &checked(Validity::Valid, 1)),
            None
        );
        assert_eq!(
            no_fault_injected(&spec("kill"), 7, &checked(Validity::Invalid, 0)),
            None,
            "a violation stands without faults"
        );
        assert_eq!(
            no_fault_injected(&spec("none"), 0, &checked(Validity::Valid, 0)),
            None,
            "no faults were asked for"
        );
    }
}
