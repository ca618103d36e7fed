//! What a leader knows about each follower: replication progress and liveness.

use std::collections::BTreeMap;

use super::node::Stamp;
use super::{Index, NodeId};

/// One follower, as its leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The highest index known to match the leader's log.
    pub match_index: Index,
    /// The next index to send.
    pub next_index: Index,
    /// Probing: one append at a time until the follower's log is found; otherwise
    /// entries are streamed optimistically.
    pub probing: bool,
    /// Probing and an append is in flight: wait for an answer or a heartbeat.
    pub paused: bool,
    /// When anything last came from this follower in the current term.
    pub heard: Stamp,
    /// The highest heartbeat round it acknowledged.
    pub acked_seq: u64,
    /// When the newest acknowledged heartbeat was sent.
    pub acked_sent: Option<Stamp>,
}

impl Progress {
    fn new(last_index: Index, now: Stamp) -> Self {
        Progress {
            match_index: 0,
            next_index: last_index + 1,
            probing: true,
            paused: false,
            heard: now,
            acked_seq: 0,
            acked_sent: None,
        }
    }

    /// A successful append answer up to `index`. Returns whether `match_index` grew.
    pub fn on_ack(&mut self, index: Index) -> bool {
        self.paused = false;
        if index <= self.match_index {
            return false;
        }
        self.match_index = index;
        self.next_index = self.next_index.max(index + 1);
        self.probing = false;
        assert!(self.match_index < self.next_index);
        true
    }

    /// A rejected append at `rejected`, with `resume` the leader's chosen next index.
    /// Returns whether the rejection was current (and so the follower needs a new append).
    pub fn on_reject(&mut self, rejected: Index, resume: Index) -> bool {
        let stale = if self.probing {
            rejected + 1 != self.next_index
        } else {
            rejected <= self.match_index
        };
        if stale {
            return false;
        }
        let next = resume.clamp(self.match_index + 1, rejected.max(self.match_index + 1));
        if self.probing && next == self.next_index {
            // The follower rejects an index it acknowledged: only a broken log (a bug
            // switched on) does that. Retry at the next heartbeat, not in a tight loop.
            self.paused = true;
            return false;
        }
        self.next_index = next;
        self.probing = true;
        self.paused = false;
        assert!(self.match_index < self.next_index);
        true
    }

    /// An append carrying entries up to `last_sent` went out.
    pub fn on_sent(&mut self, last_sent: Index) {
        if self.probing {
            self.paused = true;
        } else {
            self.next_index = self.next_index.max(last_sent + 1);
        }
    }
}

/// Every follower's progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    peers: BTreeMap<NodeId, Progress>,
}

impl Tracker {
    pub fn new<'a>(
        followers: impl Iterator<Item = &'a NodeId>,
        last_index: Index,
        now: Stamp,
    ) -> Self {
        let peers = followers
            .map(|p| (p.clone(), Progress::new(last_index, now)))
            .collect();
        Tracker { peers }
    }

    pub fn get_mut(&mut self, peer: &NodeId) -> Option<&mut Progress> {
        self.peers.get_mut(peer)
    }

    pub fn get(&self, peer: &NodeId) -> Option<&Progress> {
        self.peers.get(peer)
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.peers.keys().cloned().collect()
    }

    pub fn values(&self) -> impl Iterator<Item = &Progress> {
        self.peers.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_then_stream() {
        let mut p = Progress::new(10, Stamp { tick: 0, wall: 0 });
        assert_eq!(p.next_index, 11);
        p.on_sent(10);
        assert!(p.paused);
        assert!(p.on_reject(10, 4));
        assert_eq!((p.next_index, p.paused), (4, false));
        assert!(!p.on_reject(10, 2), "a repeated rejection is stale");
        assert!(p.on_ack(7));
        assert!(!p.probing);
        p.on_sent(10);
        assert_eq!(p.next_index, 11);
        assert!(!p.on_reject(5, 1), "below match: stale");
        assert!(p.on_reject(9, 1));
        assert_eq!(p.next_index, 8);
    }
}
