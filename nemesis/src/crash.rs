//! Crash points: places in a node's own code where it dies on purpose once armed, for
//! systems that serve them (raftd's `POST /admin/crash-point`, as etcd's failpoints). A
//! kill from outside lands wherever the process happens to be; the instants that make an
//! older term's entries dangerous last microseconds, and only a crash from inside hits
//! them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashPoint {
    /// The node has just won an election: its new term's first entry is on its disk and
    /// nowhere else.
    WonElection,
    /// As leader, its commit index has just moved: the commit is on its disk, and no
    /// follower has heard of it.
    LeaderCommit,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 2] = [CrashPoint::WonElection, CrashPoint::LeaderCommit];

    /// The name in fault names (`crash-point-won-election`), schedules and the history.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::WonElection => "won-election",
            CrashPoint::LeaderCommit => "leader-commit",
        }
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
