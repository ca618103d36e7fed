//! The (pre-)candidate's step function: counting votes, yielding to a leader.

use super::message::{Message, MessageBody};
use super::node::RawNode;
use super::ready::Role;

impl RawNode {
    pub(crate) fn step_candidate(&mut self, m: Message) -> Result<(), super::StepError> {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } => {
                // A leader of this term exists: the campaign is over.
                self.become_follower(m.term, Some(m.from.clone()));
                self.step_follower(m)
            }
            MessageBody::PreVoteResp { reject } if self.role == Role::PreCandidate => {
                self.record_vote(m.from, !reject);
                Ok(())
            }
            MessageBody::VoteResp { reject } if self.role == Role::Candidate => {
                self.record_vote(m.from, !reject);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn record_vote(&mut self, from: String, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        self.check_votes();
    }
}
