//! The results document: verdicts, anomalies, figures and counts, serialized exactly as
//! docs/design.md shows (`valid` is `true`, `false` or `"unknown"`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The guarantees a test holds the system to; they decide severities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guarantees {
    /// At most one node acts as leader at any moment (leader leases).
    pub exclusive_leadership: bool,
    /// Only the current grant's writes get in.
    pub fence_on_grant: bool,
    /// The system elects no leader (Redlock's independent instances): leadership,
    /// leaderless windows and failover to a leader mean nothing for it, and the
    /// availability figures leave them out. Written only when true, so the documents of
    /// systems with leaders keep their two keys; absent means false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leaderless: bool,
}

/// A verdict: valid, invalid, or could not tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Validity {
    Valid,
    Unknown,
    Invalid,
}

impl Validity {
    /// Composes verdicts: invalid beats unknown beats valid.
    pub fn and(self, other: Validity) -> Validity {
        self.max(other)
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "unknown",
        })
    }
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Validity::Valid),
            Raw::Bool(false) => Ok(Validity::Invalid),
            Raw::Str(s) if s == "unknown" => Ok(Validity::Unknown),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "valid must be true, false or \"unknown\", not {s:?}"
            ))),
        }
    }
}

/// `violation` breaks a claimed guarantee; `observation` is legal but worth seeing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Violation,
    Observation,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Violation => "violation",
            Severity::Observation => "observation",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every kind of anomaly, named as in docs/design.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    SameTermLeaders,
    VoteChanged,
    IncompleteLeader,
    DivergedCommit,
    DualLeadership,
    StaleLeader,
    DualHolders,
    DuplicateToken,
    StaleTokenAccepted,
    StaleGrantWrite,
    LostWrite,
    FailedWriteApplied,
    PhantomWrite,
    LogDivergence,
    LeaderlessWindow,
    NoRecovery,
    NotLinearizable,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 17] = [
        AnomalyKind::SameTermLeaders,
        AnomalyKind::VoteChanged,
        AnomalyKind::IncompleteLeader,
        AnomalyKind::DivergedCommit,
        AnomalyKind::DualLeadership,
        AnomalyKind::StaleLeader,
        AnomalyKind::DualHolders,
        AnomalyKind::DuplicateToken,
        AnomalyKind::StaleTokenAccepted,
        AnomalyKind::StaleGrantWrite,
        AnomalyKind::LostWrite,
        AnomalyKind::FailedWriteApplied,
        AnomalyKind::PhantomWrite,
        AnomalyKind::LogDivergence,
        AnomalyKind::LeaderlessWindow,
        AnomalyKind::NoRecovery,
        AnomalyKind::NotLinearizable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::SameTermLeaders => "same-term-leaders",
            AnomalyKind::VoteChanged => "vote-changed",
            AnomalyKind::IncompleteLeader => "incomplete-leader",
            AnomalyKind::DivergedCommit => "diverged-commit",
            AnomalyKind::DualLeadership => "dual-leadership",
            AnomalyKind::StaleLeader => "stale-leader",
            AnomalyKind::DualHolders => "dual-holders",
            AnomalyKind::DuplicateToken => "duplicate-token",
            AnomalyKind::StaleTokenAccepted => "stale-token-accepted",
            AnomalyKind::StaleGrantWrite => "stale-grant-write",
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::FailedWriteApplied => "failed-write-applied",
            AnomalyKind::PhantomWrite => "phantom-write",
            AnomalyKind::LogDivergence => "log-divergence",
            AnomalyKind::LeaderlessWindow => "leaderless-window",
            AnomalyKind::NoRecovery => "no-recovery",
            AnomalyKind::NotLinearizable => "not-linearizable",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One anomaly: what, how bad, the ops that prove it, and a sentence to act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub checker: String,
    pub severity: Severity,
    pub ops: Vec<u64>,
    pub message: String,
    /// For `not-linearizable`: the op (its completion's index) that ends the longest
    /// prefix of the ops that can be linearized; the timeline draws the line there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearizable_through: Option<u64>,
}

/// One checker's verdict and what it measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    pub valid: Validity,
    /// Why the checker could not tell, or what it could not look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How many anomalies of each kind it found, listed or not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub anomalies: BTreeMap<AnomalyKind, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<serde_json::Value>,
}

/// Sizes of the history and of what was found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub ops: u64,
    /// Anomalies found per kind.
    pub anomalies: BTreeMap<AnomalyKind, u64>,
    /// Anomalies found but not listed, per kind (each kind lists at most
    /// [`ANOMALIES_LISTED_PER_KIND_MAX`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_listed: BTreeMap<AnomalyKind, u64>,
}

/// What a history exercised, so that a valid verdict can be weighed: a run that saw no
/// election, no fault at the leader and no stale holder says little by being valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exercised {
    /// Client ops (every op but the nemesis's) that completed ok.
    pub client_ops_ok: u64,
    /// Terms seen in ok status ops.
    pub terms: u64,
    /// Distinct (term, leader) pairs seen leading.
    pub elections: u64,
    /// Changes of the leader seen, in completion order.
    pub leader_changes: u64,
    /// Fault starts (partition, pause, kill, clock, packet) whose call ended ok.
    pub faults_injected: u64,
    /// Fault starts whose targets included the node last seen leading when invoked.
    pub leader_faults: u64,
    /// Whether every fault was undone by an undo that ended ok (true with no fault).
    pub faults_ended: bool,
    /// Stale-holder situations created.
    pub stale_holders: StaleHolders,
    /// Writes that completed ok.
    pub writes_acknowledged: u64,
    /// Ok reads invoked after the faults ended: the lost-writes checker's evidence.
    pub final_reads: u64,
    /// Register ops (`read`, `write`, `cas` of a key) that completed ok: the
    /// `register-model` checker's evidence.
    #[serde(skip_serializing_if = "is_zero")]
    pub register_ops_ok: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Holders whose grant had lapsed or been superseded while they still acted on it. One
/// situation may show in more than one count (a superseded write refused `stale-token`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaleHolders {
    /// Ok `holding` ops that answered false.
    pub holding_false: u64,
    /// Writes refused `stale-token`.
    pub stale_token_refused: u64,
    /// Writes with a token, whatever their outcome, invoked after an ok acquire of a larger
    /// token had completed.
    pub superseded_writes: u64,
}

/// A broken history can hold millions of anomalies; listing this many per kind is
/// enough to act on, and the counts say how many more there were.
pub const ANOMALIES_LISTED_PER_KIND_MAX: u64 = 100;

/// The results document (`results.json`), as the checkers write it and as every reader
/// reads it back ([`read_results`]). A run that reached no verdict adds `reason` and
/// `harness_error`; a document written before the checkers ran may lack the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub valid: Validity,
    #[serde(default)]
    pub checkers: BTreeMap<String, CheckerResult>,
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    #[serde(default)]
    pub guarantees: Guarantees,
    #[serde(default)]
    pub counts: Counts,
    /// What the history exercised (docs/design.md, "The results document"); absent in a
    /// document written before the checkers ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercised: Option<Exercised>,
    /// Why there is no verdict: `interrupted`, `the harness failed`, … (docs/design.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What failed, when the harness did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_error: Option<String>,
    /// What teardown could not remove, and where (a Docker host that did not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_behind: Option<String>,
}

impl CheckResult {
    /// A document with no verdict and nothing checked, for a run that stopped before its
    /// checkers could run.
    pub fn unknown(guarantees: Guarantees) -> CheckResult {
        CheckResult {
            valid: Validity::Unknown,
            checkers: BTreeMap::new(),
            anomalies: Vec::new(),
            guarantees,
            counts: Counts::default(),
            exercised: None,
            reason: None,
            harness_error: None,
            left_behind: None,
        }
    }

    /// Marks the document as reaching no verdict, for `reason`; what the checkers found
    /// stays.
    pub fn without_verdict(&mut self, reason: &str, harness_error: Option<&str>) {
        self.valid = Validity::Unknown;
        self.reason = Some(reason.to_string());
        if let Some(e) = harness_error {
            self.harness_error = Some(e.to_string());
        }
    }

    /// The anomalies of one severity that were listed.
    pub fn of_severity(&self, severity: Severity) -> impl Iterator<Item = &Anomaly> {
        self.anomalies
            .iter()
            .filter(move |a| a.severity == severity)
    }

    /// The anomalies of one kind that were listed.
    pub fn of_kind(&self, kind: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == kind)
    }

    /// How many anomalies of a kind were found, listed or not.
    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.counts.anomalies.get(&kind).copied().unwrap_or(0)
    }
}

/// Writes the results document as pretty JSON (a run's `results.json`): to a temporary
/// file created exclusively beside it (a file or link planted in the directory is never
/// opened), fsynced, then renamed into place, so a crash never leaves half a document.
/// A failed write removes its temporary file.
pub fn write_results(path: &Path, result: &CheckResult) -> io::Result<()> {
    use std::io::Write as _;
    let mut text = serde_json::to_string_pretty(result).map_err(io::Error::other)?;
    text.push('\n');
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".results.").suffix(".tmp");
    // Readable by others, as a plain create would leave it (tempfile's default is 0600).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// Reads a results document back: the one reader of `results.json`.
pub fn read_results(path: &Path) -> io::Result<CheckResult> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
