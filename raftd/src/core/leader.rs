//! The leader: its step function, replication, heartbeats, commitment, reads and
//! grant expiry.

use std::collections::{BTreeMap, BTreeSet};

use super::bugs::Bug;
use super::grant_clock::GrantClocks;
use super::message::{Command, EntryData, Message, MessageBody};
use super::node::{RawNode, Stamp};
use super::progress::Tracker;
use super::quorum;
use super::reads::{PendingRead, ReadQueue};
use super::ready::Role;
use super::request::{Request, Response};
use super::state_machine;
use super::{Index, NodeId, StepError};

/// What only a leader keeps; dropped when it steps down.
#[derive(Debug)]
pub(crate) struct LeaderState {
    progress: Tracker,
    heartbeat_elapsed: u64,
    /// The latest heartbeat round.
    seq: u64,
    /// The index of this term's no-op: reads wait until it is applied.
    term_start: Index,
    /// Proposals waiting to be applied, by entry index.
    proposals: BTreeMap<Index, u64>,
    reads: ReadQueue,
    req_ids: BTreeSet<u64>,
    grants: GrantClocks,
    /// Acknowledgements of heartbeats sent at or before this tick do not count for the
    /// lease (a heartbeat of the same tick may predate the voiding).
    lease_floor_tick: Option<u64>,
}

impl LeaderState {
    /// Whether `req_id` is still waiting for its answer.
    pub fn waiting(&self, req_id: u64) -> bool {
        self.req_ids.contains(&req_id)
    }

    /// The proposal of entry `index`, now applied.
    pub fn take_proposal(&mut self, index: Index) -> Option<u64> {
        let req_id = self.proposals.remove(&index)?;
        assert!(
            self.req_ids.remove(&req_id),
            "proposal {req_id} was not registered"
        );
        Some(req_id)
    }

    pub fn pending(&self) -> usize {
        self.proposals.len() + self.reads.len()
    }

    /// Leadership is lost: proposals have an unknown outcome, reads were not served.
    pub fn abandon(mut self, leader: Option<NodeId>) -> Vec<(u64, Response)> {
        let mut out: Vec<_> = self
            .proposals
            .values()
            .map(|r| (*r, Response::Dropped))
            .collect();
        let reads = self.reads.drain();
        out.extend(reads.into_iter().map(|r| {
            (
                r.req_id,
                Response::NotLeader {
                    leader: leader.clone(),
                },
            )
        }));
        out
    }
}

impl RawNode {
    pub(crate) fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        let voted_self = self.vote.as_ref() == Some(&self.cfg.id);
        assert!(
            voted_self || self.cfg.bugs.has(Bug::VoteTwice),
            "a leader voted for itself"
        );
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        let others = self.others();
        let progress = Tracker::new(others.iter(), self.log.last_index(), self.now);
        let term_start = self.log.append_new(self.term, EntryData::Noop);
        self.lead = Some(LeaderState {
            progress,
            heartbeat_elapsed: 0,
            seq: 0,
            term_start,
            proposals: BTreeMap::new(),
            reads: ReadQueue::default(),
            req_ids: BTreeSet::new(),
            grants: GrantClocks::default(),
            lease_floor_tick: None,
        });
        self.after_apply_as_leader();
        self.broadcast_append(false);
        self.broadcast_heartbeat();
    }

    fn lead(&mut self) -> &mut LeaderState {
        self.lead
            .as_mut()
            .expect("leader state exists while leader")
    }

    pub(crate) fn tick_leader(&mut self) {
        let lead = self.lead();
        lead.heartbeat_elapsed += 1;
        if lead.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.lead().heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
        if self.cfg.check_quorum && !self.quorum_active() {
            self.become_follower(self.term, None);
            return;
        }
        self.age_grants();
    }

    /// Whether a quorum (this node included) was heard from within `election_ticks_min`.
    /// (Measured by [`within`](Self::within), so on the wall clock under
    /// `wall-clock-lease`: check-quorum is the half of the leader's lease that steps it
    /// down.)
    fn quorum_active(&self) -> bool {
        let lead = self.lead.as_ref().expect("leader");
        let window = self.cfg.election_ticks_min;
        let active = lead
            .progress
            .values()
            .filter(|p| self.within(p.heard, window))
            .count();
        active + 1 >= self.cfg.quorum()
    }

    /// Whether this leader holds a lease: a quorum acknowledged a heartbeat sent within
    /// `lease_ticks`.
    pub(crate) fn lease_valid(&self) -> bool {
        let (Some(lease), Some(lead)) = (self.cfg.lease_ticks, self.lead.as_ref()) else {
            return false;
        };
        // BUG(lease-without-quorum-check): the lease never lapses.
        if self.cfg.bugs.has(Bug::LeaseWithoutQuorumCheck) {
            return true;
        }
        let floor = lead.lease_floor_tick;
        let fresh = lead
            .progress
            .values()
            .filter(|p| {
                p.acked_sent
                    .is_some_and(|s| floor.is_none_or(|f| s.tick > f) && self.within(s, lease))
            })
            .count();
        fresh + 1 >= self.cfg.quorum()
    }

    /// Forgets the acknowledgements so far: the lease holds again only once a quorum
    /// acknowledges a heartbeat sent from now on.
    pub(crate) fn void_lease_as_leader(&mut self) {
        if let Some(lead) = self.lead.as_mut() {
            lead.lease_floor_tick = Some(self.now.tick);
        }
    }

    pub(crate) fn step_leader(&mut self, m: Message) -> Result<(), StepError> {
        let now = self.now;
        let Some(pr) = self.lead().progress.get_mut(&m.from) else {
            return Ok(());
        };
        pr.heard = now;
        match m.body {
            MessageBody::AppendResp {
                reject,
                index,
                hint_index,
                hint_term,
            } => {
                if index > self.log.last_index() {
                    return Err(StepError::Malformed(
                        "append-resp: index beyond the leader's log",
                    ));
                }
                if reject {
                    self.handle_reject(&m.from, index, hint_index, hint_term);
                } else {
                    self.handle_ack(&m.from, index);
                }
            }
            MessageBody::HeartbeatResp {
                seq,
                sent_tick,
                sent_wall,
            } => {
                self.handle_heartbeat_resp(
                    &m.from,
                    seq,
                    Stamp {
                        tick: sent_tick,
                        wall: sent_wall,
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_ack(&mut self, from: &NodeId, index: Index) {
        let last = self.log.last_index();
        let pr = self.lead().progress.get_mut(from).expect("peer");
        let grew = pr.on_ack(index);
        // Pairs with the follower acknowledging only what this leader sent.
        assert!(
            pr.match_index <= last,
            "{from} matches beyond the leader's log"
        );
        let behind = pr.next_index <= last;
        if grew {
            self.maybe_commit();
        }
        if behind {
            self.send_append(from, false);
        }
    }

    fn handle_reject(&mut self, from: &NodeId, index: Index, hint_index: Index, hint_term: u64) {
        // Skip the follower's whole conflicting term at once.
        let resume = self.log.conflict_hint(hint_index, hint_term).0 + 1;
        let pr = self.lead().progress.get_mut(from).expect("peer");
        if pr.on_reject(index, resume) {
            self.send_append(from, true);
        }
    }

    fn handle_heartbeat_resp(&mut self, from: &NodeId, seq: u64, sent: Stamp) {
        let last = self.log.last_index();
        let now = self.now.tick;
        let lead = self.lead();
        let pr = lead.progress.get_mut(from).expect("peer");
        pr.paused = false;
        pr.acked_seq = pr.acked_seq.max(seq.min(lead.seq));
        // A stamp from the future is garbage; it would hold the lease forever.
        if sent.tick <= now && pr.acked_sent.is_none_or(|s| s.tick < sent.tick) {
            pr.acked_sent = Some(sent);
        }
        let behind = pr.match_index < last;
        self.serve_reads();
        if behind {
            self.send_append(from, true);
        }
    }

    /// Sends `to` the entries it lacks (or, if `allow_empty`, an empty append that
    /// detects lost messages and carries the commit index).
    pub(crate) fn send_append(&mut self, to: &NodeId, allow_empty: bool) {
        let max = self.cfg.max_entries_per_append;
        let commit = self.log.committed();
        let lead = self.lead.as_mut().expect("leader");
        // Entries of earlier terms before its own wait to be committed.
        let older_pending = commit + 1 < lead.term_start;
        let pr = lead.progress.get_mut(to).expect("peer");
        if pr.paused {
            return;
        }
        let prev_index = pr.next_index - 1;
        let prev_term = self
            .log
            .term(prev_index)
            .expect("next_index within the log");
        let mut entries = self.log.slice(pr.next_index, max);
        if self.withhold_own_term && older_pending {
            let term = self.term;
            entries.retain(|e| e.term < term);
        }
        if entries.is_empty() && !allow_empty {
            return;
        }
        pr.on_sent(prev_index + entries.len() as u64);
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
    }

    fn broadcast_append(&mut self, allow_empty: bool) {
        for peer in self.lead().progress.ids() {
            self.send_append(&peer, allow_empty);
        }
    }

    fn broadcast_heartbeat(&mut self) {
        let commit = self.log.committed();
        let now = self.now;
        let lead = self.lead();
        lead.seq += 1;
        let seq = lead.seq;
        let beats: Vec<_> = lead
            .progress
            .ids()
            .into_iter()
            .map(|p| {
                let matched = lead.progress.get(&p).expect("peer").match_index;
                (p, commit.min(matched))
            })
            .collect();
        for (peer, commit) in beats {
            let body = MessageBody::Heartbeat {
                commit,
                seq,
                sent_tick: now.tick,
                sent_wall: now.wall,
            };
            self.send(&peer, body);
        }
        // A single-node cluster confirms its rounds alone.
        self.serve_reads();
    }

    /// Commits what a quorum holds, if it is of this term.
    pub(crate) fn maybe_commit(&mut self) {
        let lead = self.lead.as_ref().expect("leader");
        let mut matches: Vec<_> = lead.progress.values().map(|p| p.match_index).collect();
        matches.push(self.log.persisted());
        let index = quorum::quorum_value(matches);
        if index <= self.log.committed() {
            return;
        }
        let entry_term = self
            .log
            .term(index)
            .expect("a quorum holds it, so this leader does");
        assert!(
            entry_term <= self.term,
            "entry {index} of a future term {entry_term}"
        );
        let current = entry_term == self.term;
        // BUG(commit-old-term): an older term's entry is committed by counting replicas.
        if !current && !self.cfg.bugs.has(Bug::CommitOldTerm) {
            return;
        }
        if !current {
            // Said, so that a run can tell whether the bug's branch ran at all.
            tracing::info!(
                index,
                entry_term,
                term = self.term,
                "commit-old-term: committing an entry of an older term by counting replicas"
            );
        }
        self.log.commit_to(index);
        self.apply_committed();
        if self.role == Role::Leader {
            self.broadcast_append(true);
        }
    }

    /// Keeps the grant clocks in step with the state machine and serves reads.
    pub(crate) fn after_apply_as_leader(&mut self) {
        let current = self.sm.grants().clone();
        self.lead().grants.sync(&current);
        self.serve_reads();
    }

    fn age_grants(&mut self) {
        let expired = self.lead().grants.tick();
        if expired.is_empty() {
            return;
        }
        for command in expired {
            self.log.append_new(self.term, EntryData::Command(command));
        }
        self.broadcast_append(false);
    }

    pub(crate) fn propose_as_leader(&mut self, req_id: u64, request: Request) {
        let command = match request {
            Request::Read | Request::Holding { .. } | Request::RegisterRead { .. } => {
                return self.start_read(req_id, request)
            }
            Request::Acquire {
                election,
                client,
                ttl_ticks,
            } => Command::Acquire {
                election,
                client,
                ttl_ticks,
            },
            Request::Release { election, token } => Command::Release { election, token },
            Request::Write {
                id,
                token,
                election,
            } => Command::Write {
                id,
                token,
                election,
            },
            Request::RegisterWrite { key, value } => Command::RegisterWrite { key, value },
            Request::RegisterCas { key, from, to } => Command::RegisterCas { key, from, to },
        };
        // BUG(early-ack): the write is acknowledged before it commits.
        let early = if self.cfg.bugs.has(Bug::EarlyAck) {
            self.early_answer(&command)
        } else {
            None
        };
        let index = self.log.append_new(self.term, EntryData::Command(command));
        match early {
            Some(answer) => self.responses.push((req_id, answer)),
            None => {
                let lead = self.lead();
                lead.proposals.insert(index, req_id);
                lead.req_ids.insert(req_id);
            }
        }
        self.broadcast_append(false);
    }

    /// The answer `early-ack` gives at once: what applying the command would answer if
    /// the log as this leader holds it now committed. A write of the log or a register is
    /// acknowledged; a compare-and-set compares against the register as the leader's
    /// log leaves it, uncommitted entries included. Other commands wait for their commit.
    fn early_answer(&self, command: &Command) -> Option<Response> {
        match command {
            Command::Write { id, token, .. } => Some(Response::Written {
                id: id.clone(),
                token: *token,
            }),
            Command::RegisterWrite { .. } => Some(Response::RegisterSet),
            Command::RegisterCas { key, from, to } => {
                let mut registers = BTreeMap::new();
                if let Some(v) = self.sm.register(key) {
                    registers.insert(key.clone(), v);
                }
                let unapplied = &self.log.all()[self.log.applied() as usize..];
                for entry in unapplied {
                    match &entry.data {
                        EntryData::Command(Command::RegisterWrite { key: k, value })
                            if k == key =>
                        {
                            registers.insert(key.clone(), *value);
                        }
                        EntryData::Command(Command::RegisterCas { key: k, from, to })
                            if k == key =>
                        {
                            state_machine::cas(&mut registers, key, *from, *to);
                        }
                        _ => {}
                    }
                }
                Some(state_machine::cas(&mut registers, key, *from, *to))
            }
            Command::Acquire { .. } | Command::Release { .. } | Command::Expire { .. } => None,
        }
    }

    fn start_read(&mut self, req_id: u64, request: Request) {
        let index = self.log.committed().max(self.lead().term_start);
        let lease = self.lease_valid();
        let round = if lease {
            None
        } else {
            self.broadcast_heartbeat();
            Some(self.lead().seq)
        };
        let lead = self.lead();
        lead.req_ids.insert(req_id);
        lead.reads.push(PendingRead {
            req_id,
            request,
            index,
            round,
        });
        self.serve_reads();
    }

    /// Answers the reads that are confirmed and applied.
    fn serve_reads(&mut self) {
        let applied = self.log.applied();
        let lead = self.lead();
        let mut acked: Vec<_> = lead.progress.values().map(|p| p.acked_seq).collect();
        acked.push(lead.seq);
        let round = quorum::quorum_value(acked);
        lead.reads.confirm(round);
        let ready = lead.reads.take_ready(applied);
        for read in ready {
            self.lead().req_ids.remove(&read.req_id);
            let answer = match &read.request {
                Request::Read => Response::Log {
                    log: self.sm.write_log_shared(),
                },
                Request::Holding { election, token } => Response::Holding {
                    holding: self.sm.holding(election, *token),
                },
                Request::RegisterRead { key } => Response::Register {
                    value: self.sm.register(key),
                },
                other => unreachable!("not a read: {other:?}"),
            };
            self.responses.push((read.req_id, answer));
        }
    }
}
