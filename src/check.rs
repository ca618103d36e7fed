//! `splitbrain check`: reads a history or a results directory and prints the verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use checkers::{CheckResult, Guarantees, OpReader, Severity, Validity};

use crate::exit::Exit;
use crate::report::text::terminal;

const ANOMALY_HELP: &str = "\
PATH is a history.jsonl file or a results directory. A results directory's test.json supplies
the guarantees the system is held to (its \"guarantees\" object); a flag turns a guarantee on
whatever test.json says. Without test.json, only the guarantees the flags claim are checked.
The output gives the verdict, one line per checker, availability figures, and each anomaly
with its sentence and the history lines it cites; --json prints the results document instead.

Anomaly kinds (severity violation breaks a claimed guarantee; observation is legal but worth seeing):
  same-term-leaders     violation: two different nodes reported role leader with the same term
                        in ok status ops.
  vote-changed          violation: one node reported two different votes in one term in ok status
                        ops (systems that report a vote, such as raftd): two different
                        candidates, or a vote and then none in a report invoked after the vote's
                        report completed. A vote must stand for its whole term, restarts included.
  incomplete-leader     violation: a node reported role leader of term t with a last log index
                        (last_index, where the system reports it, such as raftd) below a commit
                        index some node reported in an ok status in a term before t: a leader
                        lacking entries committed before its term was elected.
  diverged-commit       violation: two ok status ops reported different terms for one log index
                        at or below each one's commit index (terms: the runs of the log as
                        [term, first index], where the system reports them, such as raftd): a
                        committed entry was replaced.
  dual-leadership       two nodes' certain leadership intervals overlap. A node observed as leader
                        of term t in two ok status ops was leader from the completion of the
                        earliest to the invocation of the latest. Observation by default (a stale
                        leader of an older term is legal Raft); violation with --exclusive-leadership.
  stale-leader          violation: after the last nemesis op completed (every fault healed), two
                        nodes' certain leadership intervals still overlap for more than 2 s: the
                        older leader did not step down although it could hear the newer one.
  dual-holders          violation: the certain hold intervals of two different lock grants
                        overlap (from the acquire's completion to the invocation of the holder's
                        latest ok holding op that returned true).
  duplicate-token       violation: two different acquisitions completed ok with one token.
  stale-token-accepted  violation: an ok write with token t was invoked after an ok write with a
                        larger token had completed.
  stale-grant-write     an ok write with token t was invoked after an ok acquire of a larger token
                        had completed. Violation with --fence-on-grant, else observation.
  lost-write            violation: an ok write that completed before a final read was invoked is
                        missing from it. A final read is an ok read invoked after the last nemesis
                        op completed (every ok read, if there are no nemesis ops).
  failed-write-applied  violation: a write that ended fail is present in a final read.
  phantom-write         violation: a final read holds an id that no write ever carried.
  log-divergence        violation: two final log reads disagree on their common prefix.
  leaderless-window     observation: from an ok status naming no leader to the next naming one
                        (listed when it spans two or more observations).
  no-recovery           violation: every fault was healed and the system had served calls, yet it
                        was not serving when the history ended: for the last 10 s or more
                        (from the heal, or from the last call served after it) at least 3
                        client calls (any but status) failed or timed out, and none was served.
  not-linearizable      violation (lock-model): an election's lock ops (acquire, holding,
                        release; with --fence-on-grant also writes under a token) that no
                        single lock, even one whose grants lapse at any instant, could have
                        answered so. Checked in every history, beside the rules above.
Writes that ended info may or may not be present. With no ok final read, lost-writes says
unknown, never valid.

Exit codes: 0 valid, 1 violations found, 2 bad usage or input (a malformed line is named by its
line number and field), 3 unknown (a checker could not tell). With several PATHs, the worst:
2 if any is bad input (the others are still checked), else 1, else 3, else 0.";

/// Check a history for split-brain, stale fencing tokens and lost writes.
///
/// PATH is a history.jsonl file or a results directory. A results directory's test.json
/// supplies the guarantees (its "guarantees" object); a flag turns a guarantee on
/// whatever test.json says. Without test.json, no guarantee is claimed unless a flag
/// claims it.
#[derive(clap::Args, Debug)]
#[command(after_long_help = ANOMALY_HELP)]
pub struct CheckArgs {
    /// History files or results directories holding history.jsonl (and test.json). With
    /// several, each is checked and gets its verdict, and the exit code is the worst: 2 if
    /// any was bad input, else 1 if any found violations, else 3 if any was unknown.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Claim exclusive leadership (leader leases: at most one node acts as leader at any
    /// moment): overlapping certain leadership intervals become violations.
    #[arg(long)]
    pub exclusive_leadership: bool,
    /// Claim fence-on-grant (the store rejects writes of any grant but the current one):
    /// a write accepted under a token older than one already granted becomes a violation.
    /// With --model mutex, an ok write under a token shows that its grant held.
    #[arg(long)]
    pub fence_on_grant: bool,
    /// Print the results document (JSON) on stdout instead of the human summary; with
    /// several PATHs, one JSON array of {"path","exit","result"} (or "error") in order.
    #[arg(long)]
    pub json: bool,
    /// Check the history's register (`cas-register`: read, write, cas), key-value (`kv`:
    /// get, put, append) or lock (`mutex`: the election workload's acquire, holding,
    /// release and, under fence-on-grant, writes with a token) ops for linearizability
    /// against that model, key (election) by key, instead of the election rules;
    /// `fenced-register`: the election's grants and writes under a token against the
    /// store's rule (the current grant with fence-on-grant, else no token below one
    /// already accepted). docs/design.md gives the ops' shapes.
    #[arg(long, value_enum, value_name = "MODEL")]
    pub model: Option<ModelName>,
    /// The histories' format: `jsonl`, splitbrain's history.jsonl, or `jepsen-edn`, a
    /// Jepsen history.edn of :read, :write and :cas ops (one register, or independent
    /// [key value] tuples), checked against the cas-register model (implied).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "jsonl")]
    pub format: Format,
    /// The states the linearizability search may cache per key (the lock and register
    /// models of every check, and --model's); past it that key is unknown, with the reason.
    #[arg(long = "model-states", value_name = "N", default_value_t = checkers::linear::Budget::MAX_STATES_DEFAULT, value_parser = clap::value_parser!(usize))]
    pub model_states: usize,
    /// The seconds the linearizability search may take for one history; past them the
    /// keys not yet decided are unknown, with the reason.
    #[arg(long = "model-secs", value_name = "SECS", default_value_t = checkers::linear::Budget::TIME_DEFAULT.as_secs())]
    pub model_secs: u64,
}

impl CheckArgs {
    /// The search's budget as the flags set it.
    fn model_options(&self) -> checkers::linear::CheckOptions {
        checkers::linear::CheckOptions {
            budget: checkers::linear::Budget {
                time: Some(std::time::Duration::from_secs(self.model_secs)),
                ..checkers::linear::Budget::states(self.model_states)
            },
            ..Default::default()
        }
    }
}

/// The models `--model` checks against.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName {
    CasRegister,
    Kv,
    Mutex,
    /// The election's fenced writes against the store's rule: the current grant only
    /// with fence-on-grant, else no token below one already accepted (`--fencing write`).
    FencedRegister,
}

/// The history formats `check` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    JepsenEdn,
}

/// Cited lines longer than this are cut when printed (a read can list millions of ids).
const CITED_LINE_CHARS_MAX: usize = 400;

/// What checking one PATH gave: its exit, its document (pretty JSON) and its human
/// summary.
struct Checked {
    exit: Exit,
    json: String,
    text: String,
}

/// One element of `--json`'s array when several PATHs are checked.
#[derive(serde::Serialize)]
struct PathDoc {
    path: String,
    exit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Box<serde_json::value::RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.format == Format::JepsenEdn {
        anyhow::ensure!(
            matches!(args.model, None | Some(ModelName::CasRegister)),
            "--format jepsen-edn is checked against the cas-register model only"
        );
    }
    if let [path] = args.paths.as_slice() {
        let c = check_one(path, &args)?;
        if args.json {
            out(&format!("{}\n", c.json));
        } else {
            out(&c.text);
        }
        return Ok(ExitCode::from(c.exit));
    }
    let mut docs = Vec::new();
    let mut summary = Vec::new();
    for path in &args.paths {
        let shown = path.display().to_string();
        let (exit, doc) = match check_one(path, &args) {
            Ok(c) => {
                if !args.json {
                    out(&format!("{}\n", c.text));
                }
                let doc = PathDoc {
                    path: shown.clone(),
                    exit: c.exit.code(),
                    result: Some(serde_json::value::RawValue::from_string(c.json)?),
                    error: None,
                };
                (c.exit, doc)
            }
            Err(e) => {
                eprintln!("splitbrain: error: {e:#}");
                let doc = PathDoc {
                    path: shown.clone(),
                    exit: Exit::Usage.code(),
                    result: None,
                    error: Some(format!("{e:#}")),
                };
                (Exit::Usage, doc)
            }
        };
        docs.push(doc);
        summary.push((shown, exit));
    }
    if args.json {
        out(&format!("{}\n", serde_json::to_string_pretty(&docs)?));
    } else {
        out(&render_summary(&summary));
    }
    Ok(ExitCode::from(worst(summary.iter().map(|s| s.1))))
}

/// The exit of several checks: bad input beats violations beats unknown beats valid.
fn worst(exits: impl Iterator<Item = Exit>) -> Exit {
    let rank = |e: &Exit| match e {
        Exit::Valid => 0,
        Exit::Unknown => 1,
        Exit::Violations => 2,
        Exit::Usage => 3,
    };
    exits.max_by_key(rank).unwrap_or(Exit::Valid)
}

fn render_summary(checked: &[(String, Exit)]) -> String {
    use crate::report::text::terminal;
    let mut out = format!("{} histories:\n", checked.len());
    for (path, exit) in checked {
        let word = match exit {
            Exit::Valid => "valid",
            Exit::Violations => "INVALID",
            Exit::Unknown => "unknown",
            Exit::Usage => "bad input",
        };
        let _ = writeln!(out, "  {}  {word:<9}  {}", exit.code(), terminal(path));
    }
    out
}

/// Writes to stdout; a reader that left (`check … | head`) is no error of the check,
/// whose exit code still says the verdict.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Checks one PATH as `args` asks; an error is bad input (exit 2).
fn check_one(path: &Path, args: &CheckArgs) -> anyhow::Result<Checked> {
    let options = args.model_options();
    if args.format == Format::JepsenEdn {
        return check_edn(path, &options);
    }
    let (history_path, test_json) = locate(path)?;
    if let Some(model) = args.model {
        // The mutex and fenced-register models read a guarantee: fence-on-grant makes
        // writes evidence of their grant, and says which rule the store claims.
        let g = guarantees(test_json.as_deref(), args)?;
        let unfenced = test_json
            .as_deref()
            .map(spec_fencing)
            .transpose()?
            .flatten()
            == Some("none".to_string());
        return check_model(&history_path, model, g.fence_on_grant, unfenced, &options);
    }
    let guarantees = guarantees(test_json.as_deref(), args)?;
    let result = checkers::check_path(&history_path, &guarantees, &options)
        .map_err(|e| anyhow::anyhow!("{}: {e}", history_path.display()))?;
    let text = if args.json {
        String::new()
    } else {
        let cited = cited_lines(&history_path, &result)?;
        render(&history_path, &result, &cited)
    };
    Ok(Checked {
        exit: Exit::from(result.valid),
        json: serde_json::to_string_pretty(&result)?,
        text,
    })
}

/// The history file and, for a results directory, its test.json if present.
fn locate(path: &Path) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if !meta.is_dir() {
        return Ok((path.to_path_buf(), None));
    }
    let history = path.join("history.jsonl");
    anyhow::ensure!(
        history.is_file(),
        "{} holds no history.jsonl",
        path.display()
    );
    let test = path.join("test.json");
    if test.is_file() {
        Ok((history, Some(test)))
    } else {
        eprintln!(
            "note: {} has no test.json; only the guarantees the flags claim are checked",
            path.display()
        );
        Ok((history, None))
    }
}

/// Guarantees from test.json (if any), with each flag turning its guarantee on.
fn guarantees(test_json: Option<&Path>, args: &CheckArgs) -> anyhow::Result<Guarantees> {
    let mut g = match test_json {
        Some(path) => read_guarantees(path)?,
        None => Guarantees::default(),
    };
    g.exclusive_leadership |= args.exclusive_leadership;
    g.fence_on_grant |= args.fence_on_grant;
    Ok(g)
}

/// The fencing mode a results directory's `test.json` ran with (`spec.fencing`), if it
/// names one.
fn spec_fencing(path: &Path) -> anyhow::Result<Option<String>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(doc["spec"]["fencing"].as_str().map(str::to_string))
}

fn read_guarantees(path: &Path) -> anyhow::Result<Guarantees> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    match doc.get("guarantees") {
        None => {
            eprintln!(
                "note: {} names no guarantees; claiming none",
                path.display()
            );
            Ok(Guarantees::default())
        }
        Some(g) => serde_json::from_value(g.clone())
            .with_context(|| format!("{}: field `guarantees` is malformed", path.display())),
    }
}

fn claimed(g: &Guarantees) -> String {
    let mut names = Vec::new();
    if g.exclusive_leadership {
        names.push("exclusive-leadership");
    }
    if g.fence_on_grant {
        names.push("fence-on-grant");
    }
    if names.is_empty() {
        "no claimed guarantees".to_string()
    } else {
        format!("guarantees {}", names.join(", "))
    }
}

/// The text of every op the listed anomalies cite, by index (= line number - 1, which
/// the reader checks).
fn cited_lines(path: &Path, result: &CheckResult) -> anyhow::Result<BTreeMap<u64, String>> {
    use std::io::BufRead;
    let mut wanted: BTreeMap<u64, String> = result
        .anomalies
        .iter()
        .flat_map(|a| a.ops.iter().map(|&i| (i, String::new())))
        .collect();
    let Some(&last) = wanted.keys().next_back() else {
        return Ok(wanted);
    };
    // The history was read and checked already: op `i` is line `i + 1` (the reader
    // refuses any other index), so the lines are counted, not parsed again.
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    for index in 0..=last {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        if let Some(slot) = wanted.get_mut(&index) {
            *slot = shorten(String::from_utf8_lossy(&line).trim_end());
        }
    }
    Ok(wanted)
}

fn shorten(line: &str) -> String {
    match line.char_indices().nth(CITED_LINE_CHARS_MAX) {
        Some((cut, _)) => format!("{} ... ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

fn render(path: &Path, result: &CheckResult, cited: &BTreeMap<u64, String>) -> String {
    let mut out = String::new();
    let reason = match &result.reason {
        Some(r) => format!(" ({})", terminal(r)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{}: {} ops, {}\nverdict: {}{reason}\n",
        terminal(&path.display().to_string()),
        result.counts.ops,
        claimed(&result.guarantees),
        verdict_word(result.valid)
    );
    for (name, c) in &result.checkers {
        let found: Vec<String> = c
            .anomalies
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let mut line = format!("  {name:<20} {}", verdict_word(c.valid));
        if !found.is_empty() {
            let _ = write!(line, "  ({})", found.join(", "));
        }
        if let Some(note) = &c.note {
            let _ = write!(line, "  note: {}", terminal(note));
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(fig) = result
        .checkers
        .get("availability")
        .and_then(|c| c.figures.as_ref())
    {
        let _ = writeln!(out, "\n{}", availability_summary(fig));
    }
    for a in &result.anomalies {
        let sev = match a.severity {
            Severity::Violation => "VIOLATION",
            Severity::Observation => "observation",
        };
        let _ = writeln!(
            out,
            "\n{sev} {} ({}): {}",
            a.kind,
            terminal(&a.checker),
            terminal(&a.message)
        );
        for i in &a.ops {
            let text = cited.get(i).map(String::as_str).unwrap_or("");
            let _ = writeln!(out, "    line {:>8}  {}", i + 1, terminal(text));
        }
    }
    for (kind, more) in &result.counts.not_listed {
        let _ = writeln!(out, "\n... and {more} more {kind} not listed");
    }
    out
}

fn verdict_word(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "unknown",
    }
}

fn availability_summary(fig: &serde_json::Value) -> String {
    let get = |p: &str| match fig.pointer(p) {
        None | Some(serde_json::Value::Null) => "-".to_string(),
        Some(v) => v.to_string(),
    };
    format!(
        "availability: {} faults; failover to an ok write p50 {} ms, p99 {} ms, max {} ms ({} never); \
         to a leader p50 {} ms, max {} ms; {} leaderless windows (max {} ms); {} terms, {} elections",
        get("/faults"),
        get("/failover_to_ok_write_ms/p50"),
        get("/failover_to_ok_write_ms/p99"),
        get("/failover_to_ok_write_ms/max"),
        get("/failover_to_ok_write_ms/never"),
        get("/failover_to_leader_ms/p50"),
        get("/failover_to_leader_ms/max"),
        get("/leaderless_windows/count"),
        get("/leaderless_windows/max_ms"),
        get("/leadership/terms"),
        get("/leadership/elections"),
    )
}

/// `--model`: every register, key-value or lock op of the history against the model,
/// key by key; a key that cannot be linearized is a violation, cited by the history
/// indices of the invocations its refutation needs. `fenced_writes`: with the mutex
/// model, an ok write under a token shows that its grant held.
fn check_model(
    history: &Path,
    model: ModelName,
    fenced_writes: bool,
    unfenced: bool,
    options: &checkers::linear::CheckOptions,
) -> anyhow::Result<Checked> {
    use checkers::linear::{self, history as shapes};
    let file = std::fs::File::open(history)
        .with_context(|| format!("cannot open {}", history.display()))?;
    // Only the model's ops are kept as they are read: a history of millions of other
    // ops (status, unfenced writes) costs no memory here.
    use checkers::F;
    let keep = |op: &checkers::Op| match model {
        ModelName::CasRegister => matches!(op.f, F::Read | F::Write | F::Cas),
        ModelName::Kv => matches!(op.f, F::Get | F::Put | F::Append),
        ModelName::Mutex | ModelName::FencedRegister => match op.f {
            F::Acquire | F::Holding | F::Release => true,
            F::Write => op.value.as_ref().and_then(|v| v.token.flatten()).is_some(),
            _ => false,
        },
    };
    let mut ops: Vec<checkers::Op> = Vec::new();
    for op in OpReader::new(BufReader::new(file)) {
        let op = op.map_err(|e| anyhow::anyhow!("{}: {e}", history.display()))?;
        if keep(&op) {
            ops.push(op);
        }
    }
    let bad = |e: String| anyhow::anyhow!("{}: {e}", history.display());
    let (name, keys) = match model {
        ModelName::CasRegister => {
            let c = shapes::cas_register(&ops).map_err(bad)?;
            let r = linear::check(&linear::CasRegister, &c.ops, options);
            ("cas-register", model_keys(r.keys, &c.indices))
        }
        ModelName::Kv => {
            let c = shapes::kv(&ops).map_err(bad)?;
            let r = linear::check(&linear::Kv, &c.ops, options);
            ("kv", model_keys(r.keys, &c.indices))
        }
        ModelName::Mutex => {
            let c = shapes::mutex(&ops, fenced_writes).map_err(bad)?;
            let r = linear::check(&linear::LeaseMutex, &c.ops, options);
            ("mutex", model_keys(r.keys, &c.indices))
        }
        // A store that fences nothing claims no rule to hold it to.
        ModelName::FencedRegister if unfenced => ("fenced-register", Vec::new()),
        ModelName::FencedRegister => {
            let rule = if fenced_writes {
                linear::FenceRule::Grant
            } else {
                linear::FenceRule::Monotonic
            };
            let c = shapes::fenced_register(&ops).map_err(bad)?;
            let r = linear::check(&linear::FencedRegister(rule), &c.ops, options);
            ("fenced-register", model_keys(r.keys, &c.indices))
        }
    };
    let note = match model {
        ModelName::Mutex if fenced_writes => {
            Some("fence-on-grant: an ok write under a token counts as its grant holding")
        }
        ModelName::FencedRegister if unfenced => Some(
            "the test ran with --fencing none: the store claims no rule, so nothing is held to one",
        ),
        ModelName::FencedRegister if fenced_writes => {
            Some("rule: fence-on-grant, only the election's current grant is let in")
        }
        ModelName::FencedRegister => {
            Some("rule: no token below one already accepted (fencing write)")
        }
        _ => None,
    };
    model_verdict(history, name, note, keys)
}

/// `--format jepsen-edn`: a Jepsen history's register ops against the cas-register model.
fn check_edn(path: &Path, options: &checkers::linear::CheckOptions) -> anyhow::Result<Checked> {
    use checkers::linear::{self, jepsen};
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let c =
        jepsen::cas_register_edn(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let r = linear::check(&linear::CasRegister, &c.ops, options);
    model_verdict(path, "cas-register", None, model_keys(r.keys, &c.indices))
}

fn model_verdict(
    history: &Path,
    name: &str,
    note: Option<&str>,
    keys: Vec<ModelKey>,
) -> anyhow::Result<Checked> {
    let verdict = if keys.iter().any(|k| k.verdict == "not-linearizable") {
        Validity::Invalid
    } else if !keys.is_empty() && keys.iter().all(|k| k.verdict == "linearizable") {
        Validity::Valid
    } else {
        // No op of the model, or a key past its budget: nothing proven either way.
        Validity::Unknown
    };
    let mut text = render_model(history, name, verdict, &keys);
    let mut doc = serde_json::json!({ "model": name, "valid": verdict, "keys": keys });
    if let Some(note) = note {
        text = text.replacen('\n', &format!("\nnote: {note}\n"), 1);
        doc["note"] = note.into();
    }
    let json = serde_json::to_string_pretty(&doc)?;
    Ok(Checked {
        exit: Exit::from(verdict),
        json,
        text,
    })
}

/// One key's verdict as `check --model` reports it, with history indices.
#[derive(serde::Serialize)]
struct ModelKey {
    key: String,
    ops: usize,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The invocations (history indices) a refutation needs: with every other op of the
    /// failing prefix taken as unknown, these still cannot be linearized.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    counterexample: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longest_linearizable_prefix: Option<usize>,
}

fn model_keys(
    keys: Vec<checkers::linear::KeyReport<String>>,
    indices: &[(u64, Option<u64>)],
) -> Vec<ModelKey> {
    use checkers::linear::Verdict;
    keys.into_iter()
        .map(|k| {
            let mut out = ModelKey {
                key: k.key,
                ops: k.ops.len(),
                verdict: "linearizable",
                reason: None,
                counterexample: Vec::new(),
                longest_linearizable_prefix: None,
            };
            match k.verdict {
                Verdict::Linearizable => {}
                Verdict::NotLinearizable(c) => {
                    out.verdict = "not-linearizable";
                    out.counterexample = c.required.iter().map(|&i| indices[i].0).collect();
                    out.longest_linearizable_prefix = Some(c.longest_linearizable_prefix);
                }
                Verdict::Unknown { reason } => {
                    out.verdict = "unknown";
                    out.reason = Some(reason);
                }
            }
            out
        })
        .collect()
}

fn render_model(history: &Path, model: &str, verdict: Validity, keys: &[ModelKey]) -> String {
    let mut out = String::new();
    let word = match verdict {
        Validity::Valid => "VALID — every key is linearizable",
        Validity::Invalid => "INVALID — a key cannot be linearized",
        Validity::Unknown => "UNKNOWN — nothing proven either way",
    };
    let _ = writeln!(out, "history: {}", terminal(&history.display().to_string()));
    let _ = writeln!(out, "model: {model}, {} keys", keys.len());
    let _ = writeln!(out, "verdict: {word}");
    if keys.is_empty() {
        let _ = writeln!(out, "  the history holds no op of this model");
    }
    for k in keys.iter().filter(|k| k.verdict != "linearizable") {
        let key = terminal(&k.key);
        match k.verdict {
            "not-linearizable" => {
                let ops: Vec<String> = k.counterexample.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    out,
                    "  key {key}: not linearizable ({} ops); these invocations cannot all have happened as answered: ops {}",
                    k.ops,
                    ops.join(", ")
                );
            }
            _ => {
                let why = terminal(k.reason.as_deref().unwrap_or(""));
                let _ = writeln!(out, "  key {key}: unknown ({} ops): {why}", k.ops);
            }
        }
    }
    out
}
