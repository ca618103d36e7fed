//! The phases of one run, in order, with teardown guaranteed on every path out: a
//! verdict, an interrupt, a harness failure or a panic of any phase.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use checkers::Recorder;
use workloads::CancellationToken;

use super::cluster::{self, Running};
use super::disk::{self, Disks, DISK_FREE_BYTES_RUN_MIN, DISK_FREE_BYTES_START_MIN};
use super::interrupt::{watch_disks, Interrupt, Stop};
use super::progress::{Progress, Say, Snapshot, ATTACK_PHASE};
use super::reporter::Reporter;
use super::results::{self, RuntimeDoc, TestDoc, Versions};
use super::schedule::{self, Schedule};
use super::select::{self, SelectError, Selection};
use super::summary;
use super::verdict::{self, Checked};
use crate::exit::Exit;
use crate::runtime::RuntimeKind;
use crate::spec::TestSpec;
use checkers::Validity;

/// How long a started cluster may take to elect a leader that answers.
const LEADER_WAIT_SECS_MAX: u64 = 60;
/// How long the workload and nemesis get to wind down once told to stop.
const WIND_DOWN_SECS_MAX: u64 = 30;
/// Bound on the final phase (heal, resume, start, clock reset, as needed) and on the
/// final reads.
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

/// An early stop for a full disk is a harness failure, not an interruption.
fn explain(interrupt: &Interrupt, outcome: Outcome) -> Outcome {
    match (outcome, interrupt.reason()) {
        (Outcome::Interrupted, Some(Stop::DiskFull(msg))) => Outcome::DiskFull(msg),
        (outcome, _) => outcome,
    }
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

/// The schedule, then the runtime and system with the schedule's faults checked against
/// them: everything decided before anything is created, or the exit code of a refusal.
async fn prepare(
    spec: &TestSpec,
    replay: Option<serde_json::Value>,
    report: &Reporter,
) -> Result<(Selection, Schedule), Exit> {
    let schedule = match replay {
        Some(json) => schedule::schedule_from_json(spec, json),
        None => schedule::new_schedule(spec),
    };
    let schedule = match schedule {
        Ok(s) => s,
        Err(msg) => {
            report.refuse(&format!("--nemesis: {msg}"));
            return Err(Exit::Usage);
        }
    };
    let selection = match select::select(spec, &schedule).await {
        Ok(s) => s,
        Err(SelectError::Usage(msg)) => {
            report.refuse(&msg);
            return Err(Exit::Usage);
        }
        Err(SelectError::Harness(e)) => {
            harness_error(report, spec, &format!("{e:#}"));
            return Err(Exit::Unknown);
        }
    };
    for line in where_and_what(spec, &selection, &schedule) {
        report.say(&line);
    }
    Ok((selection, schedule))
}

/// Where the run happens and which faults it injects, as the user should read them.
fn where_and_what(spec: &TestSpec, selection: &Selection, schedule: &Schedule) -> Vec<String> {
    if spec.endpoints.is_empty() {
        let mut lines = vec![format!(
            "runtime {} ({})",
            selection.runtime_name, selection.runtime_reason
        )];
        lines.extend(selection.system.configuration(&selection.options));
        if !schedule.summary.is_empty() {
            lines.push(format!(
                "nemesis schedule:\n{}",
                schedule.summary.trim_end()
            ));
        }
        return lines;
    }
    // Every fault is refused for the same reason: splitbrain cannot reach the nodes.
    let why = selection
        .capabilities
        .refused
        .values()
        .next()
        .map_or("your cluster's nodes are out of reach", String::as_str);
    vec![
        format!(
            "using your cluster of {} {} endpoints: {}; nothing is started, built or torn down",
            spec.endpoints.len(),
            spec.system.name(),
            spec.endpoints.join(", ")
        ),
        format!("no faults: {why}"),
    ]
}

/// What starting the cluster does here: nodes started (images built where docker needs
/// them), or clients made for the user's own cluster.
fn starting(spec: &TestSpec, selection: &Selection, runtime_id: &str) -> String {
    let n = spec.nodes;
    if !spec.endpoints.is_empty() {
        return format!(
            "connecting to your {n} {} endpoints, named n1 … n{n} in the history (run id {runtime_id})",
            spec.system.name()
        );
    }
    let builds = selection.runtime_kind == RuntimeKind::Docker && spec.image.is_none();
    format!(
        "starting {n} {} nodes on {} (run id {runtime_id}{})",
        spec.system.name(),
        selection.runtime_name,
        if builds {
            "; images are built if missing"
        } else {
            ""
        }
    )
}

fn harness_error(report: &Reporter, spec: &TestSpec, msg: &str) {
    report.say(&format!(
        "harness error (not a verdict on {}): {msg}",
        spec.system.name()
    ));
}

/// Runs the test end to end and returns the exit code; Ctrl-C, SIGTERM and SIGHUP stop it.
pub async fn run_test(spec: TestSpec, replay: Option<serde_json::Value>, report: Reporter) -> Exit {
    let interrupt = Interrupt::install(report.clone(), !spec.endpoints.is_empty());
    run_until(spec, replay, report, interrupt).await
}

/// Runs the test end to end, or until `interrupt` is set, and returns the exit code.
async fn run_until(
    spec: TestSpec,
    replay: Option<serde_json::Value>,
    report: Reporter,
    interrupt: Interrupt,
) -> Exit {
    report.say(&spec.to_string());
    let (selection, schedule) = match prepare(&spec, replay, &report).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let runtime_id = crate::runtime::new_run_id();
    let disks = disks_for(&spec, &selection, &runtime_id);
    if let Some(low) = disks.low(DISK_FREE_BYTES_START_MIN) {
        // Nothing is created: the nodes would die on their first log write and the run
        // would be read as a cluster that never elected a leader.
        harness_error(&report, &spec, &low.to_string());
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
            report.say(&format!(
                "--results: cannot create a results directory under {}: {e}; give a directory you can write to",
                spec.results.display()
            ));
            return Exit::Usage;
        }
    };
    report.say(&format!("results in {}", dir.display()));
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
        report,
        left_behind: Default::default(),
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
    report: Reporter,
    /// What teardown could not remove (a Docker host that did not answer), for
    /// results.json.
    left_behind: std::sync::Mutex<Option<String>>,
}

impl RunCtx {
    fn write_test_doc(&self) {
        if let Err(e) = results::write_json_atomic(&self.dir.join("test.json"), &self.doc) {
            self.report.warning(&format!("cannot write test.json: {e}"));
        }
    }

    async fn execute(&mut self, selection: Selection, schedule: Schedule) -> Exit {
        self.write_test_doc();
        let history = self.dir.join("history.jsonl");
        let recorder = match Recorder::create(&history) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("cannot create {}: {e}", history.display());
                return self.conclude(Outcome::Harness(msg), None).await;
            }
        };
        let watch = watch_disks(
            self.disks.clone(),
            self.interrupt.clone(),
            self.report.clone(),
        );
        let cluster = match self.start_cluster(&selection, &recorder).await {
            Ok(c) => c,
            Err(outcome) => {
                watch.abort();
                let outcome = self.close_history(explain(&self.interrupt, outcome), &recorder);
                return self.conclude(outcome, None).await;
            }
        };
        self.doc.topology = cluster.topology_json();
        self.write_test_doc();
        let progress = Progress::start(
            history.clone(),
            Duration::from_secs(self.spec.time_limit_secs),
            self.doc.guarantees,
            &self.report,
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
        let outcome = self.close_history(explain(&self.interrupt, outcome), &recorder);
        let snapshot = progress.finish().await;
        if let Some(ran) = cluster.schedule_as_run() {
            // Leader-aimed faults now name the node they hit: replay repeats exactly this.
            self.doc.schedule = ran;
            self.write_test_doc();
        }
        self.teardown(&cluster).await;
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
        self.report
            .say(&starting(&self.spec, selection, &self.runtime_id));
        let (spec, id, report) = (&self.spec, &self.runtime_id, &self.report);
        let start = tokio::select! {
            r = cluster::start(spec, selection, id, &self.dir, recorder, report) => Some(r),
            _ = self.interrupt.wait() => None,
        };
        let outcome = match start {
            Some(Ok(c)) => return Ok(Arc::new(c)),
            None => Outcome::Interrupted,
            Some(Err(e)) if spec.endpoints.is_empty() => {
                Outcome::Harness(format!("cannot start the cluster: {e:#}"))
            }
            Some(Err(e)) => Outcome::Harness(format!("cannot reach your cluster: {e:#}")),
        };
        if spec.endpoints.is_empty() {
            cluster::teardown_run(id, report).await;
        }
        Err(outcome)
    }

    /// Removes the cluster, bounded; what is left is named for `splitbrain clean`. A
    /// cluster of the user's own is left running.
    async fn teardown(&self, cluster: &Running) {
        if self.spec.endpoints.is_empty() {
            self.report.say("tearing down");
        } else {
            self.report
                .say("leaving your cluster running (splitbrain started nothing to tear down)");
        }
        let clean = "`splitbrain clean` removes what is left";
        let bound = Duration::from_secs(TEARDOWN_SECS_MAX);
        match tokio::time::timeout(bound, cluster.teardown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.report.warning(&format!("teardown: {e:#}; {clean}"));
                *self.left_behind.lock().expect("left_behind lock") = Some(format!("{e:#}"));
            }
            Err(_) => self.report.warning(&format!(
                "teardown took over {TEARDOWN_SECS_MAX} s; {clean}"
            )),
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
                self.write_unknown("interrupted", None);
                Validity::Unknown
            }
            Outcome::Harness(msg) => {
                self.harness_error(msg);
                self.check_partial().await;
                self.write_unknown("the harness failed", Some(msg));
                Validity::Unknown
            }
            Outcome::DiskFull(msg) => {
                self.harness_error(msg);
                self.report.say(
                    "history.jsonl and test.json keep what was recorded; no check or report is written on a full disk",
                );
                // A few hundred bytes that say why, if they still fit.
                self.write_unknown("the disk is full", Some(msg));
                Validity::Unknown
            }
        };
        let left = self.left_behind.lock().expect("left_behind lock").clone();
        if let Some(left) = left {
            if let Err(e) = results::note_left_behind(&self.dir, &left) {
                self.report.warning(&format!(
                    "cannot note what was left behind in results.json: {e}"
                ));
            }
        }
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
        harness_error(&self.report, &self.spec, msg);
    }

    fn write_unknown(&self, reason: &str, harness_error: Option<&str>) {
        if let Err(e) = results::write_unknown_results(&self.dir, reason, harness_error) {
            self.report
                .warning(&format!("cannot write results.json: {e}"));
        }
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
            tokio::task::spawn_blocking(move || verdict::check_and_write(&dir, guarantees)).await;
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
        self.write_unknown(&reason, msg.as_deref());
        Validity::Unknown
    }

    fn no_fault_injected(&self, checked: &Checked) -> Option<String> {
        let reason = no_fault_injected(&self.spec, self.faults_scheduled, checked)?;
        self.report.say(&reason);
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
            tokio::task::spawn_blocking(move || verdict::check_and_write(&dir, guarantees)).await;
    }

    async fn write_reports(&self) {
        let dir = self.dir.clone();
        let root = self.spec.results.clone();
        let run_id = self.run_id.clone();
        let report = self.report.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = verdict::write_report(&dir) {
                report.warning(&format!("cannot write timeline.html: {e:#}"));
            }
            if let Err(e) = results::point_latest(&root, &run_id) {
                report.warning(&format!(
                    "cannot point {}/latest at this run: {e}",
                    root.display()
                ));
            }
            if let Err(e) = verdict::write_index(&root) {
                report.warning(&format!("cannot refresh the results index: {e:#}"));
            }
        })
        .await;
        if let Err(e) = done {
            self.report
                .warning(&format!("the report writer panicked: {e}"));
        }
    }
}

/// Why a valid history says nothing about the faults the test asked for: none was
/// injected. A violation stands whatever the faults did.
fn no_fault_injected(
    spec: &TestSpec,
    faults_scheduled: usize,
    checked: &Checked,
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

/// A phase that failed: the harness's failure, or the disk's when a write found it full.
fn failed(what: &str, e: &anyhow::Error) -> Outcome {
    let msg = format!("{what}: {e:#}");
    if disk::any_full(e) {
        Outcome::DiskFull(msg)
    } else {
        Outcome::Harness(msg)
    }
}

/// The final phase as it will be: the calls that undo what is still in force, if any.
fn final_phase_line(undo: &[String]) -> String {
    if undo.is_empty() {
        "splitbrain: final phase: no fault is in force, nothing to undo".to_string()
    } else {
        format!("splitbrain: final phase: {}", undo.join(", "))
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
    async fn drive(self, cluster: Arc<Running>, schedule: Schedule) -> Outcome {
        let leader_wait = Duration::from_secs(LEADER_WAIT_SECS_MAX);
        let waited = tokio::select! {
            r = cluster.wait_until_serving(leader_wait) => Some(r),
            _ = self.interrupt.wait() => None,
        };
        match waited {
            None => return Outcome::Interrupted,
            Some(Err(e)) => {
                return Outcome::Harness(format!(
                    "the cluster did not serve within {LEADER_WAIT_SECS_MAX} s of starting: {e:#}"
                ))
            }
            Some(Ok(serving)) => {
                let who = if schedule.schedule.events.is_empty() {
                    "the workload starts (no fault is scheduled)"
                } else {
                    "workload and nemesis start"
                };
                self.say
                    .phase(ATTACK_PHASE, &format!("splitbrain: {serving}; {who}"))
            }
        }
        if let Some(outcome) = self.attack(&cluster, schedule).await {
            return outcome;
        }
        self.finish(&cluster).await
    }

    /// The workload and the nemesis, until the time limit or an interrupt.
    async fn attack(&self, cluster: &Arc<Running>, schedule: Schedule) -> Option<Outcome> {
        let stop = CancellationToken::new();
        let workload = {
            let (c, stop) = (Arc::clone(cluster), stop.clone());
            tokio::spawn(async move { c.workload(stop).await })
        };
        let nemesis = {
            let (c, rec, stop) = (Arc::clone(cluster), self.recorder.clone(), stop.clone());
            tokio::spawn(async move { c.nemesis(schedule, rec, stop).await })
        };
        let mut lost = None;
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(self.spec.time_limit_secs)) => false,
            _ = self.interrupt.wait() => true,
            why = cluster.until_lost() => {
                lost = Some(why);
                false
            }
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
        // The workload's failures against a vanished host say less than its loss.
        if let Some(why) = lost.or_else(|| cluster.lost()) {
            return Some(Outcome::Harness(why));
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
        let outcome = self.finish_phases(cluster).await;
        match cluster.lost() {
            Some(why) => Outcome::Harness(why),
            None => outcome,
        }
    }

    async fn finish_phases(&self, cluster: &Arc<Running>) -> Outcome {
        self.say
            .phase("final", &final_phase_line(&cluster.left_in_force().await));
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
            Ok(Ok(reads)) if !reads.registers.is_empty() => {
                let read = reads.registers.iter().filter(|(_, v)| v.is_some()).count();
                self.say.line(&format!(
                    "splitbrain: final reads: {read} of {} registers read",
                    reads.registers.len()
                ));
                Outcome::Completed
            }
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

    fn spec(nemesis: &str) -> TestSpec {
        crate::run::testing::spec("raftd", "local", nemesis)
    }

    #[test]
    fn a_valid_run_without_the_faults_it_asked_for_has_no_verdict() {
        let checked = |verdict, faults_injected| Checked {
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

    #[test]
    fn the_final_phase_names_only_what_it_undoes() {
        assert_eq!(
            final_phase_line(&[]),
            "splitbrain: final phase: no fault is in force, nothing to undo"
        );
        let undo = ["heal".to_string(), "start n2".to_string()];
        assert_eq!(
            final_phase_line(&undo),
            "splitbrain: final phase: heal, start n2"
        );
    }

    /// Nothing listens at these endpoints: the run sets up, waits for a leader that never
    /// answers, and is interrupted. Every line it printed must be true of a cluster of
    /// the user's own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_on_your_own_cluster_claims_nothing_it_does_not_do() {
        let results = tempfile::tempdir().unwrap();
        let spec = crate::run::testing::spec_with("etcd", "auto", "none", |a| {
            a.endpoints = Some("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3".into());
            a.results = results.path().to_path_buf();
        });
        let (report, captured) = Reporter::capture();
        let interrupt = Interrupt::new();
        let stop = (interrupt.clone(), captured.clone());
        tokio::spawn(async move {
            let (interrupt, captured) = stop;
            let connecting = |l: &String| l.contains("connecting to your");
            for _ in 0..100 {
                if captured.lines().iter().any(connecting) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
            interrupt.stop(Stop::Signal);
        });
        let code = run_until(spec, None, report, interrupt).await;
        let text = captured.lines().join("\n");
        assert_eq!(code, Exit::Unknown, "{text}");
        for truth in [
            "splitbrain: using your cluster of 3 etcd endpoints: 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3; nothing is started, built or torn down",
            "splitbrain: no faults: the cluster is your own (--endpoints)",
            "splitbrain: connecting to your 3 etcd endpoints, named n1 … n3 in the history",
        ] {
            assert!(text.contains(truth), "missing {truth:?}:\n{text}");
        }
        for claim in [
            "starting",
            "image",
            "tearing down",
            "heal",
            "resume",
            "clock reset",
            "nemesis schedule",
            "nemesis start",
            "runtime external",
            "splitbrain clean",
        ] {
            assert!(!text.contains(claim), "claims {claim:?}:\n{text}");
        }
    }
}
