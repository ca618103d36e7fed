//! The timeline's model of a history: invoke/completion pairs packed into lanes, each
//! node's observed role and term over time, and the fault bands the nemesis opened.
//! [`super::read`] builds it from `history.jsonl`.

use std::collections::{BTreeSet, HashMap};

use checkers::history::{Process, F};

/// A value's JSON text longer than this is cut in the page (a final read can list every
/// id of the test); the hover says how much was left out.
pub const VALUE_TEXT_MAX_CHARS: usize = 2_000;

/// A history line an anomaly cites is cut to this many bytes in the page.
pub const LINE_TEXT_MAX_CHARS: usize = 4_000;

/// How an op ended. `Open` is an invoke never completed, which counts as `info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    Fail = 1,
    Info = 2,
    Open = 3,
}

/// Strings seen many times (node names, errors, values), stored once.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    pub list: Vec<String>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.list.len()).expect("fewer than 2^32 distinct strings");
        self.ids.insert(s.to_string(), id);
        self.list.push(s.to_string());
        id
    }
}

/// One operation: its invoke and its completion, or whichever of them exists.
#[derive(Clone, Debug)]
pub struct PairedOp {
    pub process: Process,
    pub f: F,
    pub start: u64,
    pub end: u64,
    pub outcome: Outcome,
    /// A completion with no invoke before it; `inv_index` is then the completion's.
    pub orphan: bool,
    pub inv_index: u64,
    pub cmp_index: Option<u64>,
    pub node_inv: Option<u32>,
    pub node_cmp: Option<u32>,
    pub value_inv: Option<u32>,
    pub value_cmp: Option<u32>,
    pub error: Option<u32>,
    pub lane: u32,
}

/// What a `status` op said about a node, or that the node did not answer.
#[derive(Clone, Debug)]
pub struct Observation {
    pub node: u32,
    pub time: u64,
    pub role: RoleCode,
    pub term: Option<u64>,
    pub leader: Option<u32>,
    pub index: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleCode {
    Leader,
    Follower,
    Candidate,
    /// A role this model does not know; its name is in `Model::roles`.
    Other(u32),
    /// The status op failed or timed out.
    NoAnswer,
}

/// A fault in force: from the nemesis invoke to the completion of what undid it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaultBand {
    pub kind: &'static str,
    pub label: String,
    pub start: u64,
    pub end: u64,
    /// False when nothing undid it before the history ended.
    pub healed: bool,
    /// True when the nemesis op itself ended `info`/`fail` or never completed.
    pub uncertain: bool,
    pub index: u64,
    #[serde(skip)]
    pub nodes: BTreeSet<String>,
}

/// A lane of client ops: processes that never overlap in time share one, so a test whose
/// clients crash and are replaced by new process numbers keeps one lane per worker.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Lane {
    pub label: String,
    pub processes: Vec<String>,
}

#[derive(Default)]
pub struct Model {
    /// Sorted by lane, then start; within a lane no two ops overlap.
    pub ops: Vec<PairedOp>,
    pub lanes: Vec<Lane>,
    pub observations: Vec<Observation>,
    pub faults: Vec<FaultBand>,
    pub nodes: Interner,
    pub errors: Interner,
    pub roles: Interner,
    pub values: Interner,
    pub time_end: u64,
    pub lines: u64,
    /// The raw text of the lines anomalies refer to, by index.
    pub kept_lines: HashMap<u64, String>,
}
