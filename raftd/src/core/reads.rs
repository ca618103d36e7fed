//! Linearizable reads waiting at a leader: read-index rounds and lease reads.

use std::collections::VecDeque;

use super::request::Request;
use super::Index;

/// A read waiting to be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingRead {
    pub req_id: u64,
    pub request: Request,
    /// The commit index the answer must reflect.
    pub index: Index,
    /// The heartbeat round a quorum must acknowledge; `None` once confirmed (or under a lease).
    pub round: Option<u64>,
}

/// Reads in arrival order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadQueue {
    reads: VecDeque<PendingRead>,
}

impl ReadQueue {
    pub fn push(&mut self, read: PendingRead) {
        self.reads.push_back(read);
    }

    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// Rounds up to `acked_round` are acknowledged by a quorum.
    pub fn confirm(&mut self, acked_round: u64) {
        for r in &mut self.reads {
            if r.round.is_some_and(|round| round <= acked_round) {
                r.round = None;
            }
        }
    }

    /// Takes the confirmed reads whose index is applied, keeping the others in order.
    pub fn take_ready(&mut self, applied: Index) -> Vec<PendingRead> {
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .reads
            .drain(..)
            .partition(|r| r.round.is_none() && r.index <= applied);
        self.reads = waiting.into();
        ready
    }

    pub fn drain(&mut self) -> Vec<PendingRead> {
        self.reads.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_confirmed_and_applied() {
        let mut q = ReadQueue::default();
        q.push(PendingRead {
            req_id: 1,
            request: Request::Read,
            index: 5,
            round: Some(2),
        });
        q.push(PendingRead {
            req_id: 2,
            request: Request::Read,
            index: 3,
            round: Some(3),
        });
        q.push(PendingRead {
            req_id: 3,
            request: Request::Read,
            index: 9,
            round: None,
        });
        assert!(q.take_ready(10).iter().map(|r| r.req_id).eq([3]));
        q.confirm(2);
        assert!(q.take_ready(4).is_empty());
        assert!(q.take_ready(5).iter().map(|r| r.req_id).eq([1]));
        assert_eq!(q.len(), 1);
    }
}
