//! The follower's step function: taking appends and heartbeats from the leader.

use super::message::{Entry, Message, MessageBody};
use super::node::RawNode;
use super::{Index, Term};

impl RawNode {
    pub(crate) fn step_follower(&mut self, m: Message) -> Result<(), super::StepError> {
        match m.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.heard_from_leader(&m.from);
                self.handle_append(&m.from, prev_index, prev_term, &entries, commit);
            }
            MessageBody::Heartbeat {
                commit,
                seq,
                sent_tick,
                sent_wall,
            } => {
                self.heard_from_leader(&m.from);
                let commit = commit.min(self.log.last_index());
                if self.log.commit_to(commit) {
                    self.apply_committed();
                }
                self.send(
                    &m.from,
                    MessageBody::HeartbeatResp {
                        seq,
                        sent_tick,
                        sent_wall,
                    },
                );
            }
            // Answers to a campaign or a leadership this node no longer has.
            _ => {}
        }
        Ok(())
    }

    fn heard_from_leader(&mut self, from: &str) {
        self.election_elapsed = 0;
        self.leader = Some(from.to_string());
        self.contact = Some(self.now);
    }

    fn handle_append(
        &mut self,
        from: &String,
        prev_index: Index,
        prev_term: Term,
        entries: &[Entry],
        commit: Index,
    ) {
        let committed = self.log.committed();
        if prev_index < committed {
            // Everything up to the commit point matches any current leader's log.
            let body = MessageBody::AppendResp {
                reject: false,
                index: committed,
                hint_index: 0,
                hint_term: 0,
            };
            self.send(from, body);
            return;
        }
        if overwrites_committed(&self.log, committed, entries) {
            // Only a broken protocol (a bug switched on) gets here: keep the committed
            // entry and let the checker see the divergence.
            debug_assert!(
                !self.cfg.bugs.is_empty(),
                "leader {from} overwrites a committed entry"
            );
            return;
        }
        match self.log.maybe_append(prev_index, prev_term, entries) {
            Some(last_new) => {
                // Pairs with the leader's consistency check: what we acknowledge matches.
                assert!(entries
                    .last()
                    .is_none_or(|e| self.log.matches(e.index, e.term)));
                if self.log.commit_to(commit.min(last_new)) {
                    self.apply_committed();
                }
                let body = MessageBody::AppendResp {
                    reject: false,
                    index: last_new,
                    hint_index: 0,
                    hint_term: 0,
                };
                self.send(from, body);
            }
            None => {
                let (hint_index, hint_term) = self.log.conflict_hint(prev_index, prev_term);
                let body = MessageBody::AppendResp {
                    reject: true,
                    index: prev_index,
                    hint_index,
                    hint_term,
                };
                self.send(from, body);
            }
        }
    }
}

/// Whether `entries` disagree with the log at or below the commit point.
fn overwrites_committed(log: &super::log::RaftLog, committed: Index, entries: &[Entry]) -> bool {
    entries
        .iter()
        .take_while(|e| e.index <= committed)
        .any(|e| !log.matches(e.index, e.term))
}
