//! Elections: terms, votes and pre-votes, the followers' lease window, and the role
//! transitions every role shares.

use std::collections::BTreeMap;

use rand::RngExt;

use super::bugs::Bug;
use super::message::{Message, MessageBody};
use super::node::{RawNode, Stamp};
use super::quorum::{self, VoteResult};
use super::ready::Role;
use super::{Index, NodeId, Term};

impl RawNode {
    /// Returns whether to go on processing `m` in the (possibly new) current term.
    pub(crate) fn on_higher_term(&mut self, m: &Message) -> bool {
        match m.body {
            MessageBody::PreVote { .. } if self.in_lease(true) => return false,
            MessageBody::Vote { .. } if self.in_lease(false) => return false,
            // Pre-votes do not change anyone's term.
            MessageBody::PreVote { .. } => return true,
            MessageBody::PreVoteResp { reject: false } => return true,
            _ => {}
        }
        // BUG(no-step-down): a leader ignores messages from a higher term.
        if self.role == Role::Leader && self.cfg.bugs.has(Bug::NoStepDown) {
            return false;
        }
        let leader = match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } => Some(m.from.clone()),
            _ => None,
        };
        self.become_follower(m.term, leader);
        true
    }

    pub(crate) fn on_lower_term(&mut self, m: &Message) {
        match m.body {
            // A stale leader learns the new term from the rejection and steps down.
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } => {
                let body = MessageBody::AppendResp {
                    reject: true,
                    index: 0,
                    hint_index: 0,
                    hint_term: 0,
                };
                self.send(&m.from, body);
            }
            MessageBody::PreVote { .. } => {
                self.send(&m.from, MessageBody::PreVoteResp { reject: true })
            }
            _ => {}
        }
    }

    /// Whether this node heard from a leader so recently that it must not help elect
    /// another: for votes with check-quorum or a lease (etcd's approach), for pre-votes
    /// also with pre-vote alone (the Raft thesis, section 9.6).
    pub(crate) fn in_lease(&self, pre_vote: bool) -> bool {
        let guarded = self.cfg.check_quorum
            || self.cfg.lease_ticks.is_some()
            || (pre_vote && self.cfg.pre_vote);
        if !guarded {
            return false;
        }
        if self.role == Role::Leader {
            return true;
        }
        self.contact
            .is_some_and(|c| self.within(c, self.cfg.election_ticks_min))
    }

    /// Whether less than `ticks` passed since `since`.
    pub(crate) fn within(&self, since: Stamp, ticks: u64) -> bool {
        // BUG(wall-clock-lease): the lease and the followers' window follow the wall
        // clock, so a clock jump stretches or shrinks them.
        if self.cfg.bugs.has(Bug::WallClockLease) {
            return self.now.wall.saturating_sub(since.wall)
                < ticks.saturating_mul(self.cfg.tick_ms);
        }
        self.now.tick.saturating_sub(since.tick) < ticks
    }

    pub(crate) fn handle_vote_request(
        &mut self,
        m: &Message,
        pre: bool,
        last_index: Index,
        last_term: Term,
    ) {
        let free =
            self.vote.as_ref() == Some(&m.from) || (self.vote.is_none() && self.leader.is_none());
        let future = pre && m.term > self.term;
        // BUG(vote-twice): a voter grants its vote again in the same term.
        let twice = !pre && self.role != Role::Leader && self.cfg.bugs.has(Bug::VoteTwice);
        // BUG(no-log-check): the candidate's log is not compared with ours.
        let log_ok =
            self.cfg.bugs.has(Bug::NoLogCheck) || self.log.is_up_to_date(last_index, last_term);
        let grant = (free || future || twice) && log_ok && self.role != Role::Leader;
        if pre {
            let term = if grant { m.term } else { self.term };
            self.send_with_term(&m.from, term, MessageBody::PreVoteResp { reject: !grant });
            return;
        }
        if grant {
            self.vote = Some(m.from.clone());
            self.election_elapsed = 0;
        }
        self.send(&m.from, MessageBody::VoteResp { reject: !grant });
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.election_timeout = self
            .rng
            .random_range(self.cfg.election_ticks_min..self.cfg.election_ticks_max);
    }

    /// Becomes a follower of `term`; leaving leadership answers what was outstanding.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(
            term >= self.term,
            "term goes back from {} to {term}",
            self.term
        );
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timer();
        if let Some(lead) = self.lead.take() {
            let answers = lead.abandon(self.leader.clone());
            self.responses.extend(answers);
        }
    }

    pub(crate) fn become_pre_candidate(&mut self) {
        assert_ne!(self.role, Role::Leader);
        self.role = Role::PreCandidate;
        self.leader = None;
        self.start_campaign(self.term + 1, true);
    }

    pub(crate) fn become_candidate(&mut self) {
        assert_ne!(self.role, Role::Leader);
        self.term += 1;
        self.vote = Some(self.cfg.id.clone());
        self.role = Role::Candidate;
        self.leader = None;
        self.start_campaign(self.term, false);
    }

    fn start_campaign(&mut self, term: Term, pre: bool) {
        self.reset_election_timer();
        self.votes = BTreeMap::from([(self.cfg.id.clone(), true)]);
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.others() {
            let body = if pre {
                MessageBody::PreVote {
                    last_index,
                    last_term,
                }
            } else {
                MessageBody::Vote {
                    last_index,
                    last_term,
                }
            };
            self.send_with_term(&peer, term, body);
        }
        self.check_votes();
    }

    /// Counts the votes so far and moves on if the election is decided.
    pub(crate) fn check_votes(&mut self) {
        let granted = self.votes.values().filter(|g| **g).count();
        let rejected = self.votes.len() - granted;
        match quorum::tally(self.cfg.peers.len(), granted, rejected) {
            VoteResult::Won if self.role == Role::PreCandidate => self.become_candidate(),
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }
}
