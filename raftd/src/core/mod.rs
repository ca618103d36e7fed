//! The sans-I/O Raft core of raftd: a deterministic state machine driven by ticks,
//! messages and client requests, in the shape of etcd-io/raft's `RawNode`.
//!
//! # Driving a node
//!
//! The core never reads a clock, touches a socket or a disk. A driver (the tokio server,
//! or the deterministic simulator) owns one [`RawNode`] per node and loops:
//!
//! ```text
//! inputs:  node.tick()  or  node.tick_wall(wall_ms)   -- once per tick (catch up after a pause)
//!          node.step(message)                           -- a message from the network
//!          node.propose(req_id, request)                -- a client request
//! outputs: if node.has_ready() {
//!              let mut rd = node.ready();
//!              send(std::mem::take(&mut rd.messages));          // at once
//!              storage.truncate(rd.persist.truncate_from);      // in this order:
//!              storage.append(&rd.persist.entries);             //   truncate, append,
//!              storage.write(&rd.persist.hard_state);           //   hard state; fsync
//!              let proof = rd.persist.durable();
//!              send(rd.persisted_messages.take(proof));         // only after fsync
//!              answer(std::mem::take(&mut rd.responses));       // at once
//!              node.advance(rd);
//!          }
//! ```
//!
//! Between `ready()` and `advance()` the driver may keep calling `tick`, `step` and
//! `propose`, but must not call `ready()` again. After a restart, rebuild the node with
//! [`RawNode::restore`] from what was stored.
//!
//! Time is ticks. A wall-clock value may accompany ticks ([`RawNode::tick_wall`]); it is
//! used only by the `wall-clock-lease` bug and otherwise ignored.
//!
//! # Protocol
//!
//! Raft leader election with randomized timeouts in `[election_ticks_min,
//! election_ticks_max)`, optional pre-vote, optional check-quorum (a leader that has not
//! heard from a quorum within `election_ticks_min` steps down), and an optional leader
//! lease (`lease_ticks`, needs check-quorum).
//!
//! A node that heard from a leader within `election_ticks_min` ignores vote requests when
//! check-quorum or a lease is on (etcd's approach), and pre-vote requests also when only
//! pre-vote is on (the Raft thesis). With a lease configured, a restarted node behaves as
//! if it had just heard a leader, so it grants nothing for `election_ticks_min` ticks.
//!
//! The lease is timed from the moment heartbeats are *sent*: a leader holds it while a
//! quorum (itself included) acknowledged a heartbeat it sent fewer than `lease_ticks`
//! ticks ago. Since a follower refuses votes for `election_ticks_min > lease_ticks` ticks
//! after *receiving* that heartbeat, no other leader can be elected while the lease holds
//! — provided ticks run at the same rate everywhere. A driver that sees its ticks stall
//! (a paused process) calls [`RawNode::void_lease`].
//!
//! # Who is leader: `SoftState`
//!
//! [`RawNode::status`] gives `role` (the protocol role: leader, follower, candidate,
//! pre-candidate), `term`, `leader`, `commit`, `applied`, `lease_valid`, and
//! `acting_leader`: the node is leader and, when a lease is configured, its lease holds.
//! A server must present a node as `"leader"` only when `acting_leader` is true;
//! [`SoftState::reported_role`] gives the string to show: `"leader-without-lease"` for a
//! leader whose lease lapsed. Such a leader still takes requests, which then go through
//! the log and read-index and so need a quorum anyway. Without a lease every leader is
//! acting (and two can coexist in different terms, as Raft allows).
//!
//! # Replication
//!
//! Log replication with the consistency check and conflict hints (the follower names the
//! last entry of a term no higher than the rejected one, so a leader skips a whole term
//! per round trip); commitment only by counting replicas of current-term entries (each
//! new leader appends a no-op); the leader counts its own entries only once persisted
//! (`advance`). No snapshots and no compaction: the log is kept whole.
//!
//! # The leadership state machine
//!
//! See [`state_machine`]: grants with TTLs per named election whose fencing token is the
//! log index of the grant; fenced writes (a number never granted is refused as no token;
//! `Ready::fence_refusals` says which rule refused a write); the write log. Grant expiry is decided by the
//! leader (ages counted in ticks from when it learned of the grant, restarted by each new
//! leader) and committed as an `Expire` entry.
//!
//! # Client requests
//!
//! [`RawNode::propose`] takes a request id chosen by the driver (unique among requests
//! still waiting) and a [`Request`]; it refuses at once with [`ProposeError`] when this
//! node is not leader, too many requests wait (`max_pending_requests`), the id is in use
//! or the request is empty-named. Otherwise exactly one [`Response`] comes back later in
//! `Ready::responses`:
//!
//! - writes, acquires and releases when their entry is applied (under `early-ack`,
//!   writes at once when appended);
//! - reads (`Read`, `Holding`) after a read-index round (a heartbeat round acknowledged
//!   by a quorum, and this term's no-op applied) or at once under a valid lease;
//! - when leadership is lost first: [`Response::Dropped`] for proposals (outcome unknown:
//!   the entry may still commit under the next leader) and [`Response::NotLeader`] for
//!   reads.
//!
//! # Bugs
//!
//! [`BugSet`] switches deliberate bugs on; each lives in one place marked `BUG(<name>)`
//! (`lease-without-quorum-check` also lets [`Config::validate`] accept a lease without
//! check-quorum).
//!
//! # Testing
//!
//! [`testkit`] drives N cores on one thread (deliver, drop, partition, crash, restart)
//! and checks Raft's safety properties after every step; [`testkit::script`] runs the
//! golden scripts in `raftd/testdata/`.

mod bugs;
mod candidate;
mod config;
mod election;
mod follower;
mod grant_clock;
mod leader;
mod log;
mod message;
mod node;
mod progress;
mod quorum;
mod reads;
mod ready;
mod request;
pub mod state_machine;
pub mod testkit;
mod validate;

pub use bugs::{Bug, BugSet, UnknownBug};
pub use config::{Config, ConfigError};
pub use message::{Command, Entry, EntryData, HardState, Message, MessageBody};
pub use node::{RawNode, RestoreError, StepError};
pub use ready::{AfterPersist, Durable, PersistBatch, Persisted, Ready, Role, SoftState};
pub use request::{ProposeError, Request, Response, WriteRecord};
pub use state_machine::{Applied, FenceRefusal, Grant, StateMachine};

/// A node's name, such as `"n1"`.
pub type NodeId = String;
/// A Raft term.
pub type Term = u64;
/// A log index; 1 is the first entry, 0 means "none".
pub type Index = u64;
