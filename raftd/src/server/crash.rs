//! Crash points: places in the driver where a node armed through `POST /admin/crash-point`
//! dies on purpose, the way etcd's failpoints let its robustness tests crash a member at
//! one line of code. A kill from outside lands wherever the process happens to be; the
//! moments that make an older term's entries dangerous (a leader new in its term, a leader
//! whose commit index just moved) last microseconds, and only a crash from inside hits
//! them. At a crash point the node makes the `Ready` at hand durable, sends none of its
//! messages, and exits: it died after deciding and before anyone heard.
//!
//! Each armed point fires once, at its first chance; the process it kills takes every
//! armed point with it (a restarted node has none armed).

use crate::api::CrashPoint;
use crate::core::{Index, RawNode, Role, Term};

/// The exit code of a node a crash point killed; a panic exits with 101.
pub const CRASH_POINT_EXIT_CODE: i32 = 86;

/// What the node looked like when its points were armed, and which are armed.
#[derive(Debug, Default, Clone)]
pub struct CrashPoints {
    armed: Vec<CrashPoint>,
    /// The term this node led when armed, if it led: winning that term is not news.
    led_term: Option<Term>,
    /// The highest commit index seen as leader since the points were armed.
    commit_seen: Index,
}

/// The node as a crash point sees it, at the start of a `Ready` round.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub role: Role,
    pub term: Term,
    pub commit: Index,
    /// The last index of the log that holds an earlier term than `term`'s.
    pub older_end: Index,
}

impl Moment {
    /// `node` as it stands.
    pub fn of(node: &RawNode) -> Moment {
        let soft = node.status();
        let older_end = match node.term_runs(1).last() {
            Some(&(term, first)) if term == soft.term => first - 1,
            _ => soft.last_index,
        };
        Moment {
            role: soft.role,
            term: soft.term,
            commit: soft.commit,
            older_end,
        }
    }
}

impl CrashPoints {
    /// Arms exactly `points` (none disarms), seen from `now`.
    pub fn arm(&mut self, points: &[CrashPoint], now: Moment) {
        let mut armed = points.to_vec();
        armed.sort();
        armed.dedup();
        *self = CrashPoints {
            armed,
            led_term: (now.role == Role::Leader).then_some(now.term),
            commit_seen: now.commit,
        };
    }

    /// Arms `point` beside what is armed, seen from `now`.
    pub fn add(&mut self, point: CrashPoint, now: Moment) {
        let mut points = self.armed.clone();
        points.push(point);
        self.arm(&points, now);
    }

    /// Disarms `point`, keeping what else is armed, seen from `now`.
    pub fn remove(&mut self, point: CrashPoint, now: Moment) {
        let mut points = self.armed.clone();
        points.retain(|p| *p != point);
        self.arm(&points, now);
    }

    pub fn armed(&self) -> &[CrashPoint] {
        &self.armed
    }

    /// Whether a leader with an uncommitted tail of earlier terms should withhold its own
    /// term's entries ([`RawNode::withhold_own_term`]): while `leader-commit` is armed, so
    /// that the commit it waits for is of that tail.
    pub fn withholds(&self) -> bool {
        self.armed.contains(&CrashPoint::LeaderCommit)
    }

    /// The armed point the node has reached at `now` (asked only when a point is
    /// armed), if any. Call once per `Ready` round, before anything of it is sent.
    pub fn reached(&mut self, now: impl FnOnce() -> Moment) -> Option<CrashPoint> {
        if self.armed.is_empty() {
            return None;
        }
        let now = now();
        let leads = now.role == Role::Leader;
        let won = leads && self.led_term != Some(now.term);
        // The leader withholds its own term's entries while `leader-commit` is armed
        // (`withholds`), so its commit can move only over earlier terms' entries; the
        // point waits until they are all committed, for a later leader's conflicting
        // entry may sit at any of them (Raft's figure 8 needs it overwritten).
        let committed = leads && now.commit > self.commit_seen && now.commit >= now.older_end;
        if leads {
            self.led_term = Some(now.term);
            self.commit_seen = self.commit_seen.max(now.commit);
        }
        // A leader's first commit comes after its win, so the win is checked first.
        let hit = |p: CrashPoint| match p {
            CrashPoint::WonElection => won,
            CrashPoint::LeaderCommit => committed && !won,
        };
        self.armed.iter().copied().find(|p| hit(*p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(role: Role, term: Term, commit: Index) -> Moment {
        Moment {
            role,
            term,
            commit,
            older_end: commit,
        }
    }

    #[test]
    fn nothing_armed_never_fires() {
        let mut c = CrashPoints::default();
        assert_eq!(c.reached(|| at(Role::Leader, 3, 9)), None);
    }

    #[test]
    fn won_election_fires_on_a_new_term_not_on_the_one_it_led_when_armed() {
        let mut c = CrashPoints::default();
        c.arm(&[CrashPoint::WonElection], at(Role::Leader, 2, 5));
        assert_eq!(c.reached(|| at(Role::Leader, 2, 6)), None, "still term 2");
        assert_eq!(c.reached(|| at(Role::Follower, 3, 6)), None);
        assert_eq!(
            c.reached(|| at(Role::Leader, 4, 6)),
            Some(CrashPoint::WonElection)
        );
    }

    #[test]
    fn leader_commit_fires_when_a_leader_commit_moves_and_not_at_its_win() {
        let mut c = CrashPoints::default();
        c.arm(&[CrashPoint::LeaderCommit], at(Role::Follower, 2, 5));
        // A follower's commit moves without firing.
        assert_eq!(c.reached(|| at(Role::Follower, 2, 7)), None);
        // Winning with the commit it had as a follower is no move as leader.
        assert_eq!(c.reached(|| at(Role::Leader, 3, 7)), None);
        assert_eq!(c.reached(|| at(Role::Leader, 3, 7)), None);
        assert_eq!(
            c.reached(|| at(Role::Leader, 3, 8)),
            Some(CrashPoint::LeaderCommit)
        );
    }

    #[test]
    fn leader_commit_waits_until_every_earlier_term_entry_is_committed() {
        let mut c = CrashPoints::default();
        c.arm(&[CrashPoint::LeaderCommit], at(Role::Follower, 2, 5));
        let leading = |commit| Moment {
            older_end: 9,
            ..at(Role::Leader, 3, commit)
        };
        assert_eq!(c.reached(|| leading(5)), None);
        assert_eq!(
            c.reached(|| leading(7)),
            None,
            "entries 8 and 9 are not committed"
        );
        assert_eq!(c.reached(|| leading(9)), Some(CrashPoint::LeaderCommit));
    }

    #[test]
    fn arming_again_replaces_the_points_and_none_disarms() {
        let mut c = CrashPoints::default();
        c.arm(&[CrashPoint::WonElection], at(Role::Follower, 1, 0));
        c.arm(&[], at(Role::Follower, 1, 0));
        assert!(c.armed().is_empty());
        assert_eq!(c.reached(|| at(Role::Leader, 2, 0)), None);
    }
}
