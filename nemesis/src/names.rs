//! The nemesis names a user writes on the command line (`partition,pause`, `all`,
//! `partition-halves`, `none`) and the kinds of fault they stand for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::packet::PacketKind;
use crate::partition::Shape;
use crate::runtime::FaultKind;
use crate::targets::Selector;

/// One kind of fault a schedule draws from: a partition shape, a process fault with its
/// target selector, a clock fault, or a packet fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NemesisKind {
    Partition(Shape),
    Pause(Selector),
    Kill(Selector),
    /// A jump of a random number of milliseconds, either way, on random targets.
    ClockJump,
    /// Rapid flips between true time and an offset, on random targets.
    ClockStrobe,
    /// A packet fault of this kind on the links of random targets (or the leader's).
    Packet(PacketKind),
    /// A kill that loses the targets' unsynced writes.
    PowerLoss(Selector),
    /// A crash point armed on every node, for systems that serve them.
    CrashPoint(CrashPoint),
}

/// The selectors a process fault may be drawn with (explicit lists come from a
/// hand-written schedule, not from a name).
const PROCESS_SELECTORS: [Selector; 5] = [
    Selector::One,
    Selector::Leader,
    Selector::Minority,
    Selector::Majority,
    Selector::All,
];

/// Names that stand for several kinds.
const GROUPS: [&str; 9] = [
    "all",
    "none",
    "partition",
    "pause",
    "kill",
    "clock",
    "packet",
    "power-loss",
    "crash-point",
];

impl NemesisKind {
    /// Every kind, in the canonical order schedules list them in.
    pub fn all() -> Vec<NemesisKind> {
        let mut kinds: Vec<NemesisKind> =
            Shape::ALL.into_iter().map(NemesisKind::Partition).collect();
        kinds.extend(PROCESS_SELECTORS.into_iter().map(NemesisKind::Pause));
        kinds.extend(PROCESS_SELECTORS.into_iter().map(NemesisKind::Kill));
        kinds.push(NemesisKind::ClockJump);
        kinds.push(NemesisKind::ClockStrobe);
        kinds.extend(PacketKind::ALL.into_iter().map(NemesisKind::Packet));
        kinds.extend(PROCESS_SELECTORS.into_iter().map(NemesisKind::PowerLoss));
        kinds.extend(CrashPoint::ALL.into_iter().map(NemesisKind::CrashPoint));
        kinds
    }

    pub fn name(self) -> String {
        match self {
            NemesisKind::Partition(shape) => format!("partition-{}", shape.name()),
            NemesisKind::Pause(select) => format!("pause-{}", select.name()),
            NemesisKind::Kill(select) => format!("kill-{}", select.name()),
            NemesisKind::PowerLoss(select) => format!("power-loss-{}", select.name()),
            NemesisKind::ClockJump => "clock-jump".to_string(),
            NemesisKind::ClockStrobe => "clock-strobe".to_string(),
            NemesisKind::Packet(kind) => format!("packet-{}", kind.name()),
            NemesisKind::CrashPoint(point) => format!("crash-point-{}", point.name()),
        }
    }

    /// The runtime primitive this kind needs.
    pub fn fault_kind(self) -> FaultKind {
        match self {
            NemesisKind::Partition(_) => FaultKind::Partition,
            NemesisKind::Pause(_) => FaultKind::Pause,
            NemesisKind::Kill(_) => FaultKind::Kill,
            NemesisKind::PowerLoss(_) => FaultKind::PowerLoss,
            NemesisKind::ClockJump | NemesisKind::ClockStrobe => FaultKind::Clock,
            NemesisKind::Packet(_) => FaultKind::Packet,
            NemesisKind::CrashPoint(_) => FaultKind::CrashPoint,
        }
    }

    /// The fewest cluster nodes this kind can be drawn on.
    pub fn min_nodes(self) -> usize {
        match self {
            NemesisKind::Partition(shape) => shape.min_nodes(),
            NemesisKind::Pause(select)
            | NemesisKind::Kill(select)
            | NemesisKind::PowerLoss(select) => select.min_nodes(),
            NemesisKind::ClockJump | NemesisKind::ClockStrobe | NemesisKind::CrashPoint(_) => 1,
            // A link needs two ends.
            NemesisKind::Packet(_) => 2,
        }
    }

    /// The kinds a group name stands for; `None` if `name` is not a group.
    fn group(name: &str) -> Option<Vec<NemesisKind>> {
        let all = NemesisKind::all();
        let pick = |kind: FaultKind| {
            all.iter()
                .copied()
                .filter(|k| k.fault_kind() == kind)
                .collect()
        };
        match name {
            "all" => Some(all),
            "none" => Some(Vec::new()),
            "partition" => Some(pick(FaultKind::Partition)),
            "pause" => Some(pick(FaultKind::Pause)),
            "kill" => Some(pick(FaultKind::Kill)),
            "clock" => Some(pick(FaultKind::Clock)),
            "packet" => Some(pick(FaultKind::Packet)),
            "power-loss" => Some(pick(FaultKind::PowerLoss)),
            "crash-point" => Some(pick(FaultKind::CrashPoint)),
            _ => None,
        }
    }
}

impl fmt::Display for NemesisKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for NemesisKind {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        NemesisKind::all()
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| NameError::Unknown {
                name: s.to_string(),
                valid: valid_names(),
            })
    }
}

impl TryFrom<String> for NemesisKind {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        s.parse()
    }
}

impl From<NemesisKind> for String {
    fn from(k: NemesisKind) -> String {
        k.name()
    }
}

/// A nemesis list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("unknown nemesis {name:?}; valid names: {valid}")]
    Unknown { name: String, valid: String },
    #[error("empty nemesis list; write `none` for no faults (valid names: {valid})")]
    Empty { valid: String },
    #[error("`none` cannot be combined with other nemeses (got {0:?})")]
    NoneWithOthers(String),
}

/// Every name `parse_nemeses` accepts, comma separated: the groups, then each kind.
pub fn valid_names() -> String {
    let mut names: Vec<String> = GROUPS.iter().map(|g| g.to_string()).collect();
    names.extend(NemesisKind::all().into_iter().map(NemesisKind::name));
    names.join(", ")
}

/// Parse a comma-separated nemesis list into the kinds it names, without duplicates, in
/// canonical order (so `pause,partition` and `partition,pause` draw the same schedule).
pub fn parse_nemeses(spec: &str) -> Result<Vec<NemesisKind>, NameError> {
    let names: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(NameError::Empty {
            valid: valid_names(),
        });
    }
    if names.len() > 1 && names.contains(&"none") {
        return Err(NameError::NoneWithOthers(spec.to_string()));
    }
    let mut kinds = Vec::new();
    for name in names {
        match NemesisKind::group(name) {
            Some(group) => kinds.extend(group),
            None => kinds.push(name.parse()?),
        }
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}
