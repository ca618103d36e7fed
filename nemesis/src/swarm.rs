//! Swarm testing: each seed draws its own mix of fault kinds and its own timings, so a
//! sweep of seeds searches the space of schedules instead of sampling one corner of it
//! again and again (as TigerBeetle's VOPR and Groce et al.'s swarm testing do). A run
//! with every kind on and one fixed tempo rarely gets two particular faults close
//! together; a run whose seed turned half the kinds off and the tempo up gets them often.
//!
//! What a seed draws, once, before its faults:
//! - with [`Swarm::Full`], which kinds are on: each fault kind (partition, pause, kill,
//!   clock, packet) with probability [`KIND_KEEP`], each of its names then with
//!   [`NAME_KEEP`], a leader-aimed name (`partition-isolate-leader`, `pause-leader`,
//!   `kill-leader`) and `partition-isolate-follower` with [`LEADER_KEEP`]; never
//!   nothing. Kinds are seldom all dropped:
//!   most election bugs need two of them (a kill and a partition, a cut and a clock jump);
//! - the tempo: a fault about every [`TEMPOS_MS`] milliseconds;
//! - the longest hold, from [`HOLDS_MS`]: each fault is then held between a third of it
//!   and all of it, so that cuts about as long as an election and long ones mix;
//! - each fault is then picked by its exclusion class first (network, process, clock,
//!   packet; the network counting twice, [`NETWORK_CLASS_WEIGHT`]), so that pause, kill
//!   and power loss share a fifth of the faults rather than take half, and leader-aimed
//!   names twice as often as the others of their kind, a cut of the leader
//!   ([`CUT_WEIGHT`]) eight times as often as another partition and a cut of a follower
//!   ([`FOLLOWER_CUT_WEIGHT`]) four times, held at least [`FOLLOWER_CUT_HOLD_MS_MIN`];
//! - how often a fault brings a second one of another class with it, starting within its
//!   first half: [`BURSTS_PERCENT`]. Overlapping faults (a leader cut off while its clock
//!   jumps, a kill during a partition) are where most election bugs hide;
//! - a leader killed or powered off is, half the time, followed by an election
//!   over a slow network: every link delayed by a few hundred milliseconds
//!   ([`SLOW_ELECTION_P`]), so that followers' candidacies overlap and votes split;
//! - a cut of the leader, though, is kept clean: no pause, kill, power loss or packet
//!   fault starts while it holds, so the others can elect without the old leader, and
//!   where the test allows clock jumps the cut-off leader's clock is set back
//!   ([`SKEW_AFTER_CUT_MS`]);
//! - in a test that can make it (both crash points and a cut of the leader), one phase
//!   of the run opens with Raft's figure 8 ([`FIGURE8_AT_MS`]); crash points are never
//!   drawn as faults of their own.
//!
//! A run long enough is cut into phases ([`phase_windows`]): at least
//! [`PHASE_MS_MIN`] each, [`PHASE_QUIET_MS`] without a fault between them, and each phase
//! draws its own mix. A seed then tries several corners of the space in one run, rather
//! than one corner for the whole run: a user who runs the defaults once gets several
//! chances, and the quiet between phases lets what a fault left behind show (an old leader
//! that never stepped down, locks granted again after a storm).
//!
//! Only tempos and holds that leave room for a first fault within the phase are drawn.
//! The schedule records what each phase drew (its kinds, interval, longest hold and burst
//! chance), prints it, and replays exactly like any other.

use std::collections::BTreeSet;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::names::NemesisKind;
use crate::partition::Shape;
use crate::runtime::FaultKind;
use crate::targets::Selector;

/// How much of a schedule its seed draws beyond each fault's targets and times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Swarm {
    /// The kinds given, a fault about every interval, each held for the duration.
    #[default]
    Off,
    /// The kinds given; the tempo, holds and bursts drawn.
    Timing,
    /// A subset of the kinds given, the tempo, holds and bursts, all drawn.
    Full,
}

impl Swarm {
    pub fn name(self) -> &'static str {
        match self {
            Swarm::Off => "off",
            Swarm::Timing => "timing",
            Swarm::Full => "full",
        }
    }
}

/// Mean intervals between two fault starts a seed picks from.
pub const TEMPOS_MS: [u64; 3] = [1_000, 2_000, 3_000];
/// Longest holds a seed picks from; a fault is held at least a third of it
/// ([`HOLD_MIN_DIVISOR`]): a cut shorter than an election (raftd's take 0.5 to 1 s, etcd's
/// and ZooKeeper's longer) shows a bug only by luck.
pub const HOLDS_MS: [u64; 3] = [1_500, 3_000, 6_000];
/// A fault is held between `hold / HOLD_MIN_DIVISOR` and `hold`.
pub const HOLD_MIN_DIVISOR: u64 = 3;
/// How much more often a leader-aimed name is picked than another of its kind.
pub const LEADER_WEIGHT: usize = 2;
/// How much more often `partition-isolate-leader` is picked than another partition:
/// a cut of the leader is what the lease bugs and a stale leader need: on docker, runs
/// that cut the leader off and set its clock back once found `wall-clock-lease` in 4 of
/// 8, twice or more in 7 of 8 (docs/detection.md). Over 300 simulated seeds of 60 s,
/// against 2 (the other leader-aimed names' weight): `wall-clock-lease` 180 to 229,
/// `lease-without-quorum-check` 250 to 277, `no-step-down` 236 to 255.
pub const CUT_WEIGHT: usize = 8;
/// How much more often `partition-isolate-follower` is picked than the other partitions
/// but the cut of the leader: a follower cut off while the rest commit falls behind and,
/// without pre-vote, comes back in a higher term and stands at once. That is the
/// candidate a voter that skips the log comparison (`no-log-check`) elects, losing what
/// the rest committed meanwhile; a cut-off leader, by contrast, catches up as a follower
/// before it stands again.
pub const FOLLOWER_CUT_WEIGHT: usize = 4;
/// The shortest hold of a drawn cut of a follower: two of raftd's longest election
/// timeouts (1 s), so that it stands at least once and the rest commit meanwhile.
pub const FOLLOWER_CUT_HOLD_MS_MIN: u64 = 2_000;
/// `partition-isolate-follower`, which the two constants above weigh and hold.
pub(crate) const FOLLOWER_CUT: NemesisKind = NemesisKind::Partition(Shape::IsolateFollower);
/// How much more often the network class (partitions) is picked than each of the
/// others (process, clock, packet) under [`Mix::by_class`]: both cuts above are
/// partitions, and giving the follower's its share out of the leader's cost
/// `wall-clock-lease` 214 to 196 of 300 simulated seeds.
pub const NETWORK_CLASS_WEIGHT: usize = 2;
/// Chances that a fault brings a second one with it.
pub const BURSTS_PERCENT: [u8; 3] = [0, 30, 60];
/// Chance that a fault kind stays on.
pub const KIND_KEEP: f64 = 0.9;
/// Chance that a name of a kind that stays on stays on.
pub const NAME_KEEP: f64 = 0.6;
/// Chance that a leader-aimed name of a kind that stays on stays on.
pub const LEADER_KEEP: f64 = 0.9;

/// The shortest phase: a run is cut into as many phases of at least this as fit.
pub const PHASE_MS_MIN: u64 = 12_000;
/// Under a drawn mix, in a test whose faults include `clock-jump` (whether or not the
/// phase drew it), how often a cut-off leader also has its clock set back (by a jump
/// drawn as any other, taken backwards), and how soon after the cut (ms, both ends
/// included): well before check-quorum would step it down (raftd's window is 500 ms), so
/// that a lease or check-quorum window measured on the wall clock stretches while the
/// others elect.
pub const SKEW_ISOLATED_LEADER_P: f64 = 1.0;
pub const SKEW_AFTER_CUT_MS: (u64, u64) = (100, 350);
/// The shortest hold of such a cut: long enough for the others to elect.
pub const SKEW_CUT_HOLD_MS_MIN: u64 = 3_000;
/// Under a drawn mix, in a test whose faults include `packet-delay` (whether or not the
/// phase drew it), how often a leader killed or powered off leaves the others to elect
/// over a slow network: every link delayed by [`SLOW_ELECTION_DELAY_MS`] (plus a
/// jitter up to half of it) from the fault's start for at least
/// [`SLOW_ELECTION_HOLD_MS_MIN`]. A candidate's request then takes about as long to
/// arrive as the spread of the others' election timeouts (raftd's is 500 ms), so two
/// followers often stand in one term: the split vote that a voter granting twice, or
/// forgetting its vote, turns into two leaders. Over a fast network a three-node
/// cluster's followers almost never time out within one message's flight of each other.
/// Over 300 simulated seeds of 60 s: `vote-twice` 257 to 272 (three nodes 85 to 96 of
/// 112). A paused leader is left out: with it too, `no-step-down` fell from 255 to 246.
pub const SLOW_ELECTION_P: f64 = 0.5;
pub const SLOW_ELECTION_DELAY_MS: (u64, u64) = (100, 300);
pub const SLOW_ELECTION_HOLD_MS_MIN: u64 = 3_000;
/// In a test whose faults include both crash points and `partition-isolate-leader` (the
/// crash points then ride on the cuts, never drawn on their own), how often a cut of the
/// leader becomes Raft's figure 8, the order of events that needs an older term's
/// entries committed by counting replicas to lose a commit:
/// 1. the leader is cut off; what clients still send it lengthens its log alone;
/// 2. `won-election` is armed on the rest ([`CRASH_ARM_AFTER_CUT_MS`] after the cut):
///    each of them that wins an election dies at once, its new term's first entry on its
///    disk only, until too few are left to elect;
/// 3. `leader-commit` is armed on the cut-off leader: after the heal (the cut is held at
///    least [`CRASH_CUT_HOLD_MS_MIN`]) it wins again, sends its tail to the survivors, and
///    dies the moment its commit index moves;
/// 4. the rest's dead are started [`CRASH_REST_START_MS`] after the heal: one of them,
///    whose last entry is of a later term than the tail, wins and overwrites the tail;
/// 5. the old leader is started [`CRASH_LEADER_START_MS`] after the heal. A correct
///    leader moved its commit only once its own term's entry was on a quorum, so the
///    rest's dead could not win; one that committed the tail by counting replicas finds
///    it overwritten, which raftd refuses to do to a committed entry: it panics.
pub const CRASH_AFTER_CUT_P: f64 = 0.5;
pub const CRASH_ARM_AFTER_CUT_MS: u64 = 100;
pub const CRASH_CUT_HOLD_MS_MIN: u64 = 4_000;
pub const CRASH_REST_START_MS: u64 = 2_500;
pub const CRASH_LEADER_START_MS: u64 = 5_000;
/// Under a drawn mix ([`Swarm::Full`]), in a test whose faults include both crash points
/// and `partition-isolate-leader`, one phase of the run (drawn; in a run of a single
/// phase, half the time) opens with Raft's figure 8 (see [`CRASH_AFTER_CUT_P`]),
/// [`FIGURE8_AT_MS`] after its start. The figure takes its phase: it kills whoever the
/// rest elect, so a lease bug, which needs them to elect and serve while the old leader
/// still believes it leads, has no second leader to show there. The other phases' cuts
/// therefore stay clean: turning half of every cut into a figure 8 instead cost
/// `wall-clock-lease` 48 of 300 simulated seeds, and a figure 8 in each phase with
/// chance 0.35 cost it 53 of 250 (docs/detection.md).
pub const FIGURE8_AT_MS: (u64, u64) = (1_000, 2_000);
/// Time without a fault between two phases (the next phase's first fault then starts at
/// least one of its intervals later): long enough for a leader that failed to step down
/// to be seen claiming, with every fault healed, for more than the 2 s the checker allows.
pub const PHASE_QUIET_MS: u64 = 2_000;

/// The windows `(from_ms, to_ms)` of a `time_limit_ms` schedule's phases: one window for
/// the whole test without a swarm or when a second phase does not fit.
pub fn phase_windows(swarm: Swarm, time_limit_ms: u64) -> Vec<(u64, u64)> {
    if swarm == Swarm::Off {
        return vec![(0, time_limit_ms)];
    }
    let count = ((time_limit_ms + PHASE_QUIET_MS) / (PHASE_MS_MIN + PHASE_QUIET_MS)).max(1);
    let len = (time_limit_ms - (count - 1) * PHASE_QUIET_MS) / count;
    (0..count)
        .map(|i| {
            let from = i * (len + PHASE_QUIET_MS);
            let to = if i + 1 == count {
                time_limit_ms
            } else {
                from + len
            };
            (from, to)
        })
        .collect()
}

/// The shortest time limit in which a drawn schedule has room for a fault: the fastest
/// tempo's first slot (at most one and a half intervals in) and the shortest hold.
pub const SWARM_FIRST_FAULT_HEALED_MS: u64 = TEMPOS_MS[0] + TEMPOS_MS[0] / 2 + HOLDS_MS[0];

/// What one seed drew: the schedule is then drawn with these as a fixed spec would be.
#[derive(Clone, Debug, PartialEq)]
pub struct Mix {
    pub kinds: Vec<NemesisKind>,
    pub interval_ms: u64,
    /// Each fault is held between `hold_min_ms` and `hold_max_ms`.
    pub hold_min_ms: u64,
    pub hold_max_ms: u64,
    /// Chance, in percent, that a fault brings a second one of another class with it.
    pub burst_percent: u8,
    /// How many times a leader-aimed name counts when a fault of its kind is picked.
    pub leader_weight: usize,
    /// How many times `partition-isolate-leader` counts when a partition is picked.
    pub cut_weight: usize,
    /// How many times `partition-isolate-follower` counts when a partition is picked.
    pub follower_cut_weight: usize,
    /// Whether a fault is picked by its exclusion class first (network, process, clock,
    /// packet; the network [`NETWORK_CLASS_WEIGHT`] times), then by its kind: pause, kill
    /// and power loss then share one class's fifth instead of taking half of all faults
    /// between them.
    pub by_class: bool,
    /// Whether the phase opens with Raft's figure 8 ([`FIGURE8_AT_MS`]).
    pub figure8: bool,
}

impl Mix {
    /// No drawing: the spec's kinds, interval and duration.
    pub fn fixed(kinds: &[NemesisKind], interval_ms: u64, duration_ms: u64) -> Mix {
        Mix {
            kinds: kinds.to_vec(),
            interval_ms,
            hold_min_ms: duration_ms,
            hold_max_ms: duration_ms,
            burst_percent: 0,
            leader_weight: 1,
            cut_weight: 1,
            follower_cut_weight: 1,
            by_class: false,
            figure8: false,
        }
    }

    /// Draw a mix for a `time_limit_ms` test from `kinds`. When no drawn tempo leaves
    /// room for a fault, the given interval and duration stand.
    pub fn draw<R: Rng + ?Sized>(
        swarm: Swarm,
        kinds: &[NemesisKind],
        time_limit_ms: u64,
        interval_ms: u64,
        duration_ms: u64,
        rng: &mut R,
    ) -> Mix {
        let kinds = match swarm {
            Swarm::Off => return Mix::fixed(kinds, interval_ms, duration_ms),
            Swarm::Timing => kinds.to_vec(),
            Swarm::Full => draw_kinds(&without_crash_points(kinds), rng),
        };
        let fits = |tempo: u64, hold: u64| tempo + tempo / 2 + hold <= time_limit_ms;
        let tempos: Vec<u64> = TEMPOS_MS
            .into_iter()
            .filter(|&t| fits(t, HOLDS_MS[0]))
            .collect();
        if tempos.is_empty() {
            return Mix::fixed(&kinds, interval_ms, duration_ms);
        }
        let tempo = tempos[rng.random_range(0..tempos.len())];
        let holds: Vec<u64> = HOLDS_MS.into_iter().filter(|&h| fits(tempo, h)).collect();
        let hold = holds[rng.random_range(0..holds.len())];
        Mix {
            kinds,
            interval_ms: tempo,
            hold_min_ms: hold / HOLD_MIN_DIVISOR,
            hold_max_ms: hold,
            burst_percent: BURSTS_PERCENT[rng.random_range(0..BURSTS_PERCENT.len())],
            leader_weight: LEADER_WEIGHT,
            cut_weight: CUT_WEIGHT,
            follower_cut_weight: FOLLOWER_CUT_WEIGHT,
            by_class: true,
            figure8: false,
        }
    }

    /// The phase opens with Raft's figure 8: its kinds gain the figure's, both crash
    /// points and the cut of the leader.
    pub fn open_with_figure8(&mut self) {
        let cut = NemesisKind::Partition(Shape::IsolateLeader);
        self.kinds
            .extend(CrashPoint::ALL.into_iter().map(NemesisKind::CrashPoint));
        if !self.kinds.contains(&cut) {
            self.kinds.push(cut);
        }
        in_name_order(&mut self.kinds);
        self.figure8 = true;
    }

    /// How long the next fault is held.
    pub fn hold_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        if self.hold_min_ms >= self.hold_max_ms {
            self.hold_max_ms
        } else {
            rng.random_range(self.hold_min_ms..=self.hold_max_ms)
        }
    }

    /// Whether the fault just placed brings a second one with it.
    pub fn bursts<R: Rng + ?Sized>(&self, rng: &mut R) -> bool {
        self.burst_percent > 0 && rng.random_range(0..100u8) < self.burst_percent
    }
}

/// Whether a kind aims at whoever leads when it starts.
pub fn aims_at_leader(kind: NemesisKind) -> bool {
    matches!(
        kind,
        NemesisKind::Partition(Shape::IsolateLeader)
            | NemesisKind::Pause(Selector::Leader)
            | NemesisKind::Kill(Selector::Leader)
            | NemesisKind::PowerLoss(Selector::Leader)
    )
}

/// Whether `kinds` can make Raft's figure 8: both crash points and a cut of the leader.
pub fn makes_figure8(kinds: &[NemesisKind]) -> bool {
    kinds.contains(&NemesisKind::Partition(Shape::IsolateLeader))
        && CrashPoint::ALL
            .iter()
            .all(|p| kinds.contains(&NemesisKind::CrashPoint(*p)))
}

/// `kinds` but the crash points, which a full swarm never draws as faults of their own.
fn without_crash_points(kinds: &[NemesisKind]) -> Vec<NemesisKind> {
    kinds
        .iter()
        .copied()
        .filter(|k| k.fault_kind() != FaultKind::CrashPoint)
        .collect()
}

/// A subset of `kinds`: fault kinds kept with [`KIND_KEEP`], their names with
/// [`NAME_KEEP`] (leader-aimed ones with [`LEADER_KEEP`]); at least one name of every
/// fault kind kept, and at least one fault kind.
fn draw_kinds<R: Rng + ?Sized>(kinds: &[NemesisKind], rng: &mut R) -> Vec<NemesisKind> {
    let faults: BTreeSet<FaultKind> = kinds.iter().map(|k| k.fault_kind()).collect();
    let faults: Vec<FaultKind> = faults.into_iter().collect();
    if faults.is_empty() {
        return Vec::new();
    }
    let mut on: Vec<FaultKind> = faults
        .iter()
        .copied()
        .filter(|_| rng.random_bool(KIND_KEEP))
        .collect();
    if on.is_empty() {
        on.push(faults[rng.random_range(0..faults.len())]);
    }
    let mut drawn = Vec::new();
    for fault in on {
        let of_fault: Vec<NemesisKind> = kinds
            .iter()
            .copied()
            .filter(|k| k.fault_kind() == fault)
            .collect();
        let mut kept: Vec<NemesisKind> = of_fault
            .iter()
            .copied()
            .filter(|&k| {
                rng.random_bool(if aims_at_leader(k) || k == FOLLOWER_CUT {
                    LEADER_KEEP
                } else {
                    NAME_KEEP
                })
            })
            .collect();
        if kept.is_empty() {
            kept.push(of_fault[rng.random_range(0..of_fault.len())]);
        }
        drawn.extend(kept);
    }
    in_name_order(&mut drawn);
    drawn
}

/// Sorts `kinds` in the order `NemesisKind::all` names them.
fn in_name_order(kinds: &mut [NemesisKind]) {
    let order = NemesisKind::all();
    kinds.sort_by_key(|k| order.iter().position(|o| o == k));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_full_swarm_draws_a_nonempty_subset_and_every_kind_somewhere() {
        let all = NemesisKind::all();
        let mut seen = BTreeSet::new();
        let mut sizes = BTreeSet::new();
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mix = Mix::draw(Swarm::Full, &all, 60_000, 5_000, 3_000, &mut rng);
            assert!(!mix.kinds.is_empty(), "seed {seed}");
            assert!(mix.kinds.iter().all(|k| all.contains(k)), "seed {seed}");
            sizes.insert(mix.kinds.len());
            seen.extend(mix.kinds.iter().map(|k| k.name()));
        }
        // Crash points are never drawn as faults: a phase opens with them or not.
        let drawable = without_crash_points(&all);
        assert_eq!(
            seen.len(),
            drawable.len(),
            "every other kind is drawn by some seed"
        );
        assert!(
            !seen.iter().any(|k| k.starts_with("crash-point")),
            "{seen:?}"
        );
        assert!(sizes.len() > 5, "mixes differ in size: {sizes:?}");
    }

    #[test]
    fn leader_aimed_kinds_are_kept_more_often() {
        let all = NemesisKind::all();
        let (mut leader, mut one) = (0, 0);
        for seed in 0..1000 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mix = Mix::draw(Swarm::Full, &all, 60_000, 5_000, 3_000, &mut rng);
            leader += usize::from(mix.kinds.contains(&NemesisKind::Kill(Selector::Leader)));
            one += usize::from(mix.kinds.contains(&NemesisKind::Kill(Selector::Minority)));
        }
        assert!(
            leader > one + 150,
            "kill-leader {leader}, kill-minority {one}"
        );
    }

    #[test]
    fn drawn_timings_fit_the_time_limit_and_vary() {
        let kinds = NemesisKind::all();
        let mut tempos = BTreeSet::new();
        for limit_ms in [SWARM_FIRST_FAULT_HEALED_MS, 5_000, 60_000] {
            for seed in 0..200 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mix = Mix::draw(Swarm::Timing, &kinds, limit_ms, 5_000, 3_000, &mut rng);
                assert_eq!(mix.kinds, kinds, "timing keeps every kind");
                let first_healed = mix.interval_ms + mix.interval_ms / 2 + mix.hold_max_ms;
                assert!(first_healed <= limit_ms, "seed {seed}: {mix:?}");
                assert!(mix.hold_min_ms < mix.hold_max_ms);
                tempos.insert((limit_ms, mix.interval_ms));
            }
        }
        assert!(tempos.len() >= 4, "{tempos:?}");
    }

    #[test]
    fn phases_cover_the_test_with_quiet_between_them() {
        assert_eq!(phase_windows(Swarm::Off, 60_000), vec![(0, 60_000)]);
        assert_eq!(phase_windows(Swarm::Full, 15_000), vec![(0, 15_000)]);
        for limit_ms in [SWARM_FIRST_FAULT_HEALED_MS, 26_000, 30_000, 60_000, 600_000] {
            let windows = phase_windows(Swarm::Full, limit_ms);
            assert_eq!(windows[0].0, 0);
            assert_eq!(windows.last().unwrap().1, limit_ms);
            for pair in windows.windows(2) {
                assert_eq!(pair[1].0 - pair[0].1, PHASE_QUIET_MS, "{windows:?}");
            }
            for &(from, to) in &windows {
                assert!(
                    windows.len() == 1 || to - from >= PHASE_MS_MIN,
                    "{windows:?}"
                );
            }
        }
        assert_eq!(phase_windows(Swarm::Timing, 60_000).len(), 4);
        assert_eq!(phase_windows(Swarm::Full, 30_000).len(), 2);
    }

    #[test]
    fn off_and_a_limit_too_short_keep_the_given_timing() {
        let kinds = NemesisKind::all();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let off = Mix::draw(Swarm::Off, &kinds, 60_000, 5_000, 3_000, &mut rng);
        assert_eq!(off, Mix::fixed(&kinds, 5_000, 3_000));
        let short = Mix::draw(Swarm::Timing, &kinds, 2_000, 700, 300, &mut rng);
        assert_eq!((short.interval_ms, short.hold_max_ms), (700, 300));
    }
}
