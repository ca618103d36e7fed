//! The election workload's client side as pure state machines: a client process's lock
//! cycle (acquire → maybe stall → holding → fenced write → release, or a plain write;
//! retired when an op ends `info`), the router that picks the node to talk to, and the
//! shared pace. No I/O and no clock: the tokio workload (`election`) and the simulator
//! drive the very same decisions, from the same seeded random streams.

use checkers::ErrorCode;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::params::WorkloadParams;
use crate::seed::rng_for;

/// Errors that refuse a request about the grant or the register's value, not about the
/// node: the router keeps its target on them.
pub const GRANT_ERRORS: [ErrorCode; 5] = [
    ErrorCode::StaleToken,
    ErrorCode::UnknownToken,
    ErrorCode::Held,
    ErrorCode::NotHolder,
    ErrorCode::CasMismatch,
];

/// One client operation of a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CycleOp {
    /// An unfenced write with a fresh id, for lost-write detection.
    Plain,
    Acquire,
    Holding(u64),
    /// A write under the grant's token.
    Write(u64),
    Release(u64),
}

/// What the process does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Wait for the shared pace, then issue the op.
    Paced(CycleOp),
    /// Sleep `ms` (a loser's back-off), then wait for the pace and issue `then`, or
    /// begin a new cycle if there is none.
    Sleep { ms: u64, then: Option<CycleOp> },
    /// A stall of the holder of grant `token`, as a garbage-collection pause would be,
    /// at its worst: it lasts until the lock has gone to another client (a grant with a
    /// larger token came back to any process of the workload) and `after_ms` more, or
    /// `ms_max` in all, whichever comes first. Then wait for the pace and issue
    /// `Holding(token)`.
    Stall {
        token: u64,
        after_ms: u64,
        ms_max: u64,
    },
    /// Begin a new cycle ([`ClientProcess::begin`]).
    NewCycle,
    /// The op's outcome is unknown: this process retires and a new process number takes
    /// its place, so no process ever has two ops whose order is in doubt.
    Retire,
}

/// How an op ended, as far as the cycle cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It happened; an acquire's carries the grant's token.
    Ok { token: Option<u64> },
    /// It certainly did not happen, with this error code (`None`: an error that is no
    /// [`ErrorCode`], such as a system's own).
    Fail { error: Option<ErrorCode> },
    /// Unknown.
    Info,
}

impl Ended {
    /// A failure with the history's `error` string.
    pub fn fail(error: &str) -> Ended {
        Ended::Fail {
            error: ErrorCode::of(error),
        }
    }
}

/// A client process: its number, its own random stream and its write counter.
#[derive(Clone, Debug)]
pub struct ClientProcess {
    pub number: u64,
    rng: ChaCha8Rng,
    writes: u64,
}

impl ClientProcess {
    pub fn new(number: u64, seed: u64) -> ClientProcess {
        ClientProcess {
            number,
            rng: rng_for(seed, number),
            writes: 0,
        }
    }

    /// A write id no other write of the run carries: process numbers are never reused.
    pub fn next_write_id(&mut self) -> String {
        self.writes += 1;
        format!("w{}.{}", self.number, self.writes)
    }

    /// The `n`th register op of the run, drawn from this process's stream.
    pub fn draw_register(&mut self, n: u64) -> crate::register::RegOp {
        crate::register::RegOp::draw(&mut self.rng, n)
    }

    /// The client name a grant is asked for under.
    pub fn name(&self) -> String {
        format!("p{}", self.number)
    }

    /// A new cycle: a plain write, or a lock cycle.
    pub fn begin(&mut self, params: &WorkloadParams) -> Plan {
        if self.rng.random_bool(params.plain_write_probability) {
            Plan::Paced(CycleOp::Plain)
        } else {
            Plan::Paced(CycleOp::Acquire)
        }
    }

    /// What follows `op`, ended as it did. A holder goes on to write whatever `holding`
    /// said: a holder stalled past its grant does not know it is stale, and the store's
    /// fencing is what must stop it.
    pub fn completed(&mut self, params: &WorkloadParams, op: CycleOp, ended: Ended) -> Plan {
        if ended == Ended::Info {
            return Plan::Retire;
        }
        match (op, ended) {
            (CycleOp::Acquire, Ended::Ok { token: Some(token) }) => {
                if self.rng.random_bool(params.stall_probability) {
                    Plan::Stall {
                        token,
                        after_ms: self.rng.random_range(0..=params.ttl_ms / 4),
                        ms_max: params.stall_ms_max,
                    }
                } else {
                    Plan::Paced(CycleOp::Holding(token))
                }
            }
            // Like a candidate that lost, wait before contending again, so that the
            // losers' attempts do not crowd the holder's own ops out of the pace.
            (
                CycleOp::Acquire,
                Ended::Fail {
                    error: Some(ErrorCode::Held),
                },
            ) => Plan::Sleep {
                ms: self.rng.random_range(0..=params.ttl_ms / 2),
                then: None,
            },
            (CycleOp::Holding(token), _) => Plan::Paced(CycleOp::Write(token)),
            (CycleOp::Write(token), _) => Plan::Paced(CycleOp::Release(token)),
            _ => Plan::NewCycle,
        }
    }
}

/// Which node clients send their next request to: the node believed to lead, learnt
/// from not-leader hints and from observers, moving on when a node does not serve.
#[derive(Clone, Debug)]
pub struct Router {
    target: usize,
    /// The highest term observed with a leader.
    term: u64,
    nodes: usize,
}

impl Router {
    pub fn new(nodes: usize) -> Router {
        assert!(nodes > 0, "a router needs a node");
        Router {
            target: 0,
            term: 0,
            nodes,
        }
    }

    pub fn target(&self) -> usize {
        self.target
    }

    /// A node that answered as leader in `term`: follow it unless a newer term is known,
    /// so a deposed leader still answering in its old term does not pull clients back.
    pub fn observed_leader(&mut self, node: usize, term: u64) {
        if term > self.term || (term == self.term && self.target != node) {
            (self.target, self.term) = (node, term);
        }
    }

    /// What an op sent to `node` teaches: a refusal that names another leader redirects;
    /// a refusal about the grant keeps the target; any other refusal, or no answer,
    /// moves on from `node`.
    pub fn answered(&mut self, node: usize, ended: Ended, hinted_leader: Option<usize>) {
        match ended {
            Ended::Ok { .. } => {}
            Ended::Fail { error } => match hinted_leader {
                Some(leader) if leader != node => self.target = leader,
                _ if error.is_some_and(|e| GRANT_ERRORS.contains(&e)) => {}
                _ => self.skip(node),
            },
            Ended::Info => self.skip(node),
        }
    }

    /// `node` did not serve: if clients still aim at it, aim at the next one.
    fn skip(&mut self, node: usize) {
        if self.target == node {
            self.target = (node + 1) % self.nodes;
        }
    }
}

/// The bounded pace of client operations: one slot every `1 / rate_hz`, shared by all
/// client processes. Times are ns on the driver's clock.
#[derive(Clone, Debug)]
pub struct Pace {
    next_ns: u64,
    interval_ns: u64,
}

impl Pace {
    pub fn new(rate_hz: f64, start_ns: u64) -> Pace {
        assert!(rate_hz > 0.0, "a pace needs a positive rate");
        Pace {
            next_ns: start_ns,
            interval_ns: (1e9 / rate_hz) as u64,
        }
    }

    /// The instant of the caller's slot, at `now_ns` or later.
    pub fn slot(&mut self, now_ns: u64) -> u64 {
        let at = self.next_ns.max(now_ns);
        self.next_ns = at + self.interval_ns;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_follows_newer_terms_and_ignores_a_deposed_leader() {
        let mut r = Router::new(3);
        r.observed_leader(1, 5);
        assert_eq!(r.target(), 1);
        r.observed_leader(2, 6);
        assert_eq!(r.target(), 2);
        // n2 (index 1) still answering as leader of term 5 must not pull clients back.
        r.observed_leader(1, 5);
        assert_eq!(r.target(), 2);
    }

    #[test]
    fn router_skips_a_node_that_does_not_serve_only_if_aimed_at() {
        let mut r = Router::new(3);
        r.answered(0, Ended::Info, None);
        assert_eq!(r.target(), 1);
        r.answered(0, Ended::Info, None);
        assert_eq!(r.target(), 1, "a stale complaint about n1 moves nothing");
        r.answered(1, Ended::fail("timeout"), None);
        r.answered(2, Ended::Info, None);
        assert_eq!(r.target(), 0, "skipping wraps around");
        r.answered(
            0,
            Ended::Fail {
                error: Some(ErrorCode::NotLeader),
            },
            Some(2),
        );
        assert_eq!(r.target(), 2, "a hint redirects");
        r.answered(2, Ended::fail("stale-token"), None);
        assert_eq!(r.target(), 2, "a refusal about the grant keeps the target");
    }

    #[test]
    fn a_process_draws_the_same_decisions_from_the_same_seed() {
        let params = WorkloadParams {
            stall_probability: 0.5,
            ..WorkloadParams::default()
        };
        let draw = |seed| {
            let mut p = ClientProcess::new(3, seed);
            let ids: Vec<String> = (0..3).map(|_| p.next_write_id()).collect();
            let plans: Vec<Plan> = (0..16)
                .map(|i| p.completed(&params, CycleOp::Acquire, Ended::Ok { token: Some(i) }))
                .collect();
            (ids, plans)
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7).1, draw(8).1);
        assert_eq!(draw(7).0, vec!["w3.1", "w3.2", "w3.3"]);
    }

    #[test]
    fn a_lock_cycle_runs_acquire_holding_write_release_and_retires_on_info() {
        let params = WorkloadParams {
            stall_probability: 0.0,
            ..WorkloadParams::default()
        };
        let mut p = ClientProcess::new(0, 1);
        let ok = Ended::Ok { token: None };
        let granted = Ended::Ok { token: Some(9) };
        assert_eq!(
            p.completed(&params, CycleOp::Acquire, granted),
            Plan::Paced(CycleOp::Holding(9))
        );
        let refused = Ended::Fail {
            error: Some(ErrorCode::NotHolder),
        };
        assert_eq!(
            p.completed(&params, CycleOp::Holding(9), refused),
            Plan::Paced(CycleOp::Write(9)),
            "the write goes out whatever holding said"
        );
        assert_eq!(
            p.completed(&params, CycleOp::Write(9), ok),
            Plan::Paced(CycleOp::Release(9))
        );
        assert_eq!(
            p.completed(&params, CycleOp::Release(9), ok),
            Plan::NewCycle
        );
        assert_eq!(p.completed(&params, CycleOp::Plain, ok), Plan::NewCycle);
        assert_eq!(
            p.completed(&params, CycleOp::Write(9), Ended::Info),
            Plan::Retire
        );
        let held = Ended::fail("held");
        assert!(matches!(
            p.completed(&params, CycleOp::Acquire, held),
            Plan::Sleep { then: None, ms } if ms <= params.ttl_ms / 2
        ));
        let stalling = WorkloadParams {
            stall_probability: 1.0,
            ..params
        };
        assert!(matches!(
            p.completed(&stalling, CycleOp::Acquire, granted),
            Plan::Stall { token: 9, after_ms, ms_max }
                if after_ms <= stalling.ttl_ms / 4 && ms_max == stalling.stall_ms_max
        ));
    }

    #[test]
    fn the_pace_hands_out_one_slot_per_interval() {
        let mut pace = Pace::new(10.0, 0);
        assert_eq!(pace.slot(0), 0);
        assert_eq!(pace.slot(0), 100_000_000);
        assert_eq!(
            pace.slot(500_000_000),
            500_000_000,
            "an idle pace does not bank slots"
        );
    }
}
