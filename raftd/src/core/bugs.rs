//! The catalogue of deliberate Raft bugs that can be switched on to test the harness.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One deliberate bug. Each is implemented in exactly one place in the core, marked
/// with a `BUG(<name>)` comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// A voter grants a second vote in one term.
    VoteTwice,
    /// A voter grants its vote to a candidate whose log is behind its own.
    NoLogCheck,
    /// A leader ignores messages carrying a higher term instead of stepping down.
    NoStepDown,
    /// A leader commits an entry of an older term by counting its replicas (Figure 8).
    CommitOldTerm,
    /// The hard state handed out for persistence omits the vote: a restart forgets it.
    ForgetVote,
    /// A write is acknowledged when the leader appends it, before it commits.
    EarlyAck,
    /// The state machine accepts writes under any token.
    NoFencing,
    /// The leader's lease (its lease reads and its check-quorum window) and the
    /// followers' "heard from the leader recently" window are measured on the wall clock
    /// passed in by the driver instead of ticks.
    WallClockLease,
    /// The lease is honoured without check-quorum: a leader keeps a valid lease although
    /// it cannot reach a quorum.
    LeaseWithoutQuorumCheck,
    /// The server acknowledges log entries before they are durable: its driver never
    /// fsyncs the log (the hard state still is), so a power loss takes back entries the
    /// node acknowledged. A bug of the driver, not the core: the simulator cannot see it.
    AckBeforeSync,
}

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: [Bug; 10] = [
        Bug::VoteTwice,
        Bug::NoLogCheck,
        Bug::NoStepDown,
        Bug::CommitOldTerm,
        Bug::ForgetVote,
        Bug::EarlyAck,
        Bug::NoFencing,
        Bug::WallClockLease,
        Bug::LeaseWithoutQuorumCheck,
        Bug::AckBeforeSync,
    ];

    /// The kebab-case name used on command lines and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Bug::VoteTwice => "vote-twice",
            Bug::NoLogCheck => "no-log-check",
            Bug::NoStepDown => "no-step-down",
            Bug::CommitOldTerm => "commit-old-term",
            Bug::ForgetVote => "forget-vote",
            Bug::EarlyAck => "early-ack",
            Bug::NoFencing => "no-fencing",
            Bug::WallClockLease => "wall-clock-lease",
            Bug::LeaseWithoutQuorumCheck => "lease-without-quorum-check",
            Bug::AckBeforeSync => "ack-before-sync",
        }
    }

    /// Whether the bug lives in the core, where the simulator runs it; `ack-before-sync`
    /// lives in the server's driver.
    pub fn in_core(self) -> bool {
        self != Bug::AckBeforeSync
    }

    /// All names, comma separated, for error messages and `--help`.
    pub fn all_names() -> String {
        Bug::ALL
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bug name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {name:?}; known bugs: {known}")]
pub struct UnknownBug {
    /// The name as given.
    pub name: String,
    /// Every known name, comma separated.
    pub known: String,
}

impl FromStr for Bug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| UnknownBug {
                name: name.to_string(),
                known: Bug::all_names(),
            })
    }
}

/// The set of bugs switched on. Serialises as a list of kebab-case names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BugSet(BTreeSet<Bug>);

impl BugSet {
    /// No bugs: a correct Raft.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of names (`"vote-twice,early-ack"`); empty is none.
    pub fn parse(list: &str) -> Result<Self, UnknownBug> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Bug::from_str)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(BugSet)
    }

    /// Whether `bug` is switched on.
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }

    /// Switches `bug` on.
    pub fn with(mut self, bug: Bug) -> Self {
        self.0.insert(bug);
        self
    }

    /// The bugs switched on, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Bug> + '_ {
        self.0.iter().copied()
    }

    /// Whether no bug is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for BugSet {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BugSet::parse(s)
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        BugSet(iter.into_iter().collect())
    }
}

impl fmt::Display for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Bug::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_round_trips() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>().unwrap(), bug);
            let json = serde_json::to_string(&bug).unwrap();
            assert_eq!(json, format!("\"{}\"", bug.name()));
        }
        let set = BugSet::parse("vote-twice, early-ack").unwrap();
        assert!(set.has(Bug::VoteTwice) && set.has(Bug::EarlyAck));
        assert_eq!(set.to_string(), "vote-twice,early-ack");
        assert!(BugSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn unknown_name_lists_the_catalogue() {
        let err = BugSet::parse("vote-twice,vote-thrice").unwrap_err();
        assert_eq!(err.name, "vote-thrice");
        let msg = err.to_string();
        assert!(msg.contains("vote-thrice") && msg.contains("lease-without-quorum-check"));
    }
}
