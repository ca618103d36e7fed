//! A node's configuration and its validation.

use serde::{Deserialize, Serialize};

use super::bugs::{Bug, BugSet};
use super::NodeId;

/// Everything a [`RawNode`](super::RawNode) needs to know before it starts. Time is in
/// ticks; the driver decides how long a tick is (`tick_ms` is used only to translate tick
/// bounds to wall milliseconds under the `wall-clock-lease` bug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every voter of the cluster, this node included.
    pub peers: Vec<NodeId>,
    /// Lower bound (inclusive) of the randomized election timeout.
    pub election_ticks_min: u64,
    /// Upper bound (exclusive) of the randomized election timeout.
    pub election_ticks_max: u64,
    /// A leader sends heartbeats this often.
    pub heartbeat_ticks: u64,
    /// Run a pre-vote round before incrementing the term.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within
    /// `election_ticks_min`, and a node that heard from a leader within
    /// `election_ticks_min` ignores (pre-)vote requests.
    pub check_quorum: bool,
    /// Leader lease: a leader serves reads locally and reports itself as acting leader
    /// only while a quorum acknowledged a heartbeat sent within this many ticks.
    /// Needs `check_quorum` and must be below `election_ticks_min`.
    pub lease_ticks: Option<u64>,
    /// Writes with a token must carry the current grant's token of their election.
    pub fence_on_grant: bool,
    /// Deliberate bugs switched on.
    pub bugs: BugSet,
    /// Seed of the election-timeout RNG (mixed with `id`, so nodes sharing a seed still
    /// draw different timeouts).
    pub seed: u64,
    /// Length of a tick in wall milliseconds; only the `wall-clock-lease` bug uses it.
    pub tick_ms: u64,
    /// Bound on the entries carried by one append message.
    pub max_entries_per_append: u64,
    /// Bound on the client requests waiting in the core (proposals and reads); beyond
    /// it `propose` answers [`ProposeError::Busy`](super::ProposeError::Busy).
    pub max_pending_requests: usize,
}

/// A configuration field that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("id: must not be empty")]
    EmptyId,
    #[error("peers: must include this node's id {0:?}")]
    SelfNotInPeers(NodeId),
    #[error("peers: {0:?} appears twice")]
    DuplicatePeer(NodeId),
    #[error("peers: a peer id must not be empty")]
    EmptyPeer,
    #[error("election_ticks_min: must be at least 1 and above heartbeat_ticks ({heartbeat_ticks}), got {min}")]
    ElectionTicksMin { min: u64, heartbeat_ticks: u64 },
    #[error("election_ticks_max: must be above election_ticks_min ({min}), got {max}")]
    ElectionTicksMax { min: u64, max: u64 },
    #[error("heartbeat_ticks: must be at least 1")]
    HeartbeatTicks,
    #[error("lease_ticks: a lease needs check_quorum on")]
    LeaseWithoutCheckQuorum,
    #[error("lease_ticks: must be at least 1 and below election_ticks_min ({min}), got {lease}")]
    LeaseTicks { lease: u64, min: u64 },
    #[error("tick_ms: must be at least 1")]
    TickMs,
    #[error("max_entries_per_append: must be at least 1")]
    MaxEntriesPerAppend,
    #[error("max_pending_requests: must be at least 1")]
    MaxPendingRequests,
}

impl Config {
    /// A configuration with the usual bounds (elections in [10, 20) ticks, heartbeats
    /// every 2, pre-vote and check-quorum on, no lease, no bugs, seed 0).
    pub fn new(id: impl Into<NodeId>, peers: Vec<NodeId>) -> Self {
        Config {
            id: id.into(),
            peers,
            election_ticks_min: 10,
            election_ticks_max: 20,
            heartbeat_ticks: 2,
            pre_vote: true,
            check_quorum: true,
            lease_ticks: None,
            fence_on_grant: false,
            bugs: BugSet::none(),
            seed: 0,
            tick_ms: 100,
            max_entries_per_append: 64,
            max_pending_requests: 4096,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_members()?;
        if self.heartbeat_ticks == 0 {
            return Err(ConfigError::HeartbeatTicks);
        }
        if self.election_ticks_min <= self.heartbeat_ticks {
            return Err(ConfigError::ElectionTicksMin {
                min: self.election_ticks_min,
                heartbeat_ticks: self.heartbeat_ticks,
            });
        }
        if self.election_ticks_max <= self.election_ticks_min {
            return Err(ConfigError::ElectionTicksMax {
                min: self.election_ticks_min,
                max: self.election_ticks_max,
            });
        }
        self.validate_lease()?;
        if self.tick_ms == 0 {
            return Err(ConfigError::TickMs);
        }
        if self.max_entries_per_append == 0 {
            return Err(ConfigError::MaxEntriesPerAppend);
        }
        if self.max_pending_requests == 0 {
            return Err(ConfigError::MaxPendingRequests);
        }
        Ok(())
    }

    fn validate_members(&self) -> Result<(), ConfigError> {
        if self.id.is_empty() {
            return Err(ConfigError::EmptyId);
        }
        let mut seen = std::collections::BTreeSet::new();
        for peer in &self.peers {
            if peer.is_empty() {
                return Err(ConfigError::EmptyPeer);
            }
            if !seen.insert(peer) {
                return Err(ConfigError::DuplicatePeer(peer.clone()));
            }
        }
        if !seen.contains(&self.id) {
            return Err(ConfigError::SelfNotInPeers(self.id.clone()));
        }
        Ok(())
    }

    fn validate_lease(&self) -> Result<(), ConfigError> {
        let Some(lease) = self.lease_ticks else {
            return Ok(());
        };
        // BUG(lease-without-quorum-check): the configuration is accepted without check-quorum.
        if !self.check_quorum && !self.bugs.has(Bug::LeaseWithoutQuorumCheck) {
            return Err(ConfigError::LeaseWithoutCheckQuorum);
        }
        if lease == 0 || lease >= self.election_ticks_min {
            return Err(ConfigError::LeaseTicks {
                lease,
                min: self.election_ticks_min,
            });
        }
        Ok(())
    }

    /// The number of voters that make a majority.
    pub fn quorum(&self) -> usize {
        self.peers.len() / 2 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Config {
        Config::new("n1", vec!["n1".into(), "n2".into(), "n3".into()])
    }

    #[test]
    fn default_is_valid() {
        assert_eq!(three().validate(), Ok(()));
    }

    #[test]
    fn lease_needs_check_quorum_and_a_short_lease() {
        let mut c = three();
        c.lease_ticks = Some(5);
        c.check_quorum = false;
        assert_eq!(c.validate(), Err(ConfigError::LeaseWithoutCheckQuorum));
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("lease_ticks"));
        c.check_quorum = true;
        assert_eq!(c.validate(), Ok(()));
        c.lease_ticks = Some(10);
        assert!(matches!(c.validate(), Err(ConfigError::LeaseTicks { .. })));
        c.lease_ticks = Some(5);
        c.check_quorum = false;
        c.bugs = BugSet::none().with(Bug::LeaseWithoutQuorumCheck);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn bad_members_are_named() {
        let mut c = three();
        c.peers.push("n2".into());
        assert_eq!(c.validate(), Err(ConfigError::DuplicatePeer("n2".into())));
        let c = Config::new("n9", vec!["n1".into()]);
        assert_eq!(c.validate(), Err(ConfigError::SelfNotInPeers("n9".into())));
        let mut c = three();
        c.election_ticks_max = c.election_ticks_min;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("election_ticks_max"));
    }
}
