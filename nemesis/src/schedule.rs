//! Seeded fault schedules: drawn once from a seed with a ChaCha generator, kept as plain
//! data in test.json, checked before the test starts, and replayed exactly.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::crash::CrashPoint;
use crate::fault::{exclusion_of, Exclusion, Fault};
use crate::names::NemesisKind;
use crate::packet::{LinkSide, PacketKind, PacketParams};
use crate::partition::{PartitionPlan, Shape};
use crate::runtime::{Capabilities, FaultKind};
use crate::swarm::{
    aims_at_leader, makes_figure8, phase_windows, Mix, Swarm, CRASH_AFTER_CUT_P,
    CRASH_ARM_AFTER_CUT_MS, CRASH_CUT_HOLD_MS_MIN, CRASH_LEADER_START_MS, CRASH_REST_START_MS,
    FIGURE8_AT_MS, FOLLOWER_CUT, FOLLOWER_CUT_HOLD_MS_MIN, HOLD_MIN_DIVISOR, NETWORK_CLASS_WEIGHT,
    PHASE_QUIET_MS, SKEW_AFTER_CUT_MS, SKEW_CUT_HOLD_MS_MIN, SKEW_ISOLATED_LEADER_P,
    SLOW_ELECTION_DELAY_MS, SLOW_ELECTION_HOLD_MS_MIN, SLOW_ELECTION_P,
};
use crate::targets::{Selector, Targets};

/// The most events a schedule may hold; beyond it the interval is too short for the
/// time limit.
pub const SCHEDULE_EVENTS_MAX: u64 = 10_000;
/// The shortest strobe period; faster flips would flood the history.
pub const STROBE_PERIOD_MS_MIN: u64 = 10;
/// The most clock flips one strobe makes.
pub const STROBE_FLIPS_MAX: u64 = 1_000;
/// Default bound on a clock jump's size.
pub const CLOCK_DELTA_MS_MAX_DEFAULT: u64 = 60_000;
/// Default time between two strobe flips.
pub const STROBE_PERIOD_MS_DEFAULT: u64 = 200;

/// The selectors clock faults are drawn with.
const CLOCK_SELECTORS: [Selector; 5] = [
    Selector::One,
    Selector::Leader,
    Selector::Minority,
    Selector::Majority,
    Selector::All,
];

/// What a schedule is drawn from. The same spec always draws the same schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub seed: u64,
    pub nodes: Vec<String>,
    /// Every fault heals by then.
    pub time_limit_ms: u64,
    /// Faults start about this often (each start is jittered by up to half of it).
    pub interval_ms: u64,
    /// How long each fault stays in force.
    pub duration_ms: u64,
    pub kinds: Vec<NemesisKind>,
    /// Clock jumps and strobes are between a tenth of this and this, either way.
    pub clock_delta_ms_max: u64,
    pub strobe_period_ms: u64,
    /// How much beside each fault the seed draws: with `Timing`, the tempo, holds and
    /// bursts (`interval_ms` and `duration_ms` then stand only where no drawn tempo fits
    /// the time limit); with `Full`, a subset of `kinds` too.
    #[serde(default)]
    pub swarm: Swarm,
}

impl ScheduleSpec {
    /// A spec with the default clock bounds.
    pub fn new(
        seed: u64,
        nodes: Vec<String>,
        time_limit_ms: u64,
        interval_ms: u64,
        duration_ms: u64,
        kinds: Vec<NemesisKind>,
    ) -> ScheduleSpec {
        ScheduleSpec {
            seed,
            nodes,
            time_limit_ms,
            interval_ms,
            duration_ms,
            kinds,
            clock_delta_ms_max: CLOCK_DELTA_MS_MAX_DEFAULT,
            strobe_period_ms: STROBE_PERIOD_MS_DEFAULT,
            swarm: Swarm::Off,
        }
    }

    /// The same spec, its mix and timings drawn from the seed as `swarm` says.
    pub fn swarm(self, swarm: Swarm) -> ScheduleSpec {
        ScheduleSpec { swarm, ..self }
    }
}

/// A drawn schedule: plain data, in test.json, replayable exactly. Under a swarm, its
/// `kinds`, `interval_ms` and `duration_ms` are what the seed drew: the kinds on, the
/// tempo and the longest hold (each fault held between a third of it and all of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub nodes: Vec<String>,
    pub time_limit_ms: u64,
    pub interval_ms: u64,
    pub duration_ms: u64,
    pub kinds: Vec<NemesisKind>,
    pub clock_delta_ms_max: u64,
    pub strobe_period_ms: u64,
    #[serde(default)]
    pub swarm: Swarm,
    /// Chance, in percent, that a fault brought a second one of another class with it
    /// (the highest of any phase's).
    #[serde(default)]
    pub burst_percent: u8,
    /// Under a swarm, what each phase drew; `kinds` is then every kind some phase drew,
    /// `interval_ms` the fastest tempo and `duration_ms` the longest hold. Empty for a
    /// fixed schedule and for runs from before phases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    pub events: Vec<Event>,
}

/// What one phase of a swarm drew: its faults start and heal within `from_ms..to_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub from_ms: u64,
    pub to_ms: u64,
    pub kinds: Vec<NemesisKind>,
    /// A fault about this often.
    pub interval_ms: u64,
    /// The longest hold; each fault is held between a third of it and all of it.
    pub duration_ms: u64,
    pub burst_percent: u8,
}

/// One fault: in force from `at_ms` to `heal_at_ms`, both counted from the start of the
/// schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: u64,
    pub fault: Fault,
    pub heal_at_ms: u64,
}

/// A schedule or spec that cannot be used, or one the runtime cannot carry out.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("the nemesis needs at least one node")]
    NoNodes,
    #[error("node name {0:?} is empty or listed twice")]
    BadNode(String),
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("nemesis {kind} needs at least {min} nodes, the cluster has {n}")]
    TooFewNodes { kind: String, min: usize, n: usize },
    #[error(
        "a {time_limit_ms} ms test with a fault every {interval_ms} ms would exceed {max} events; \
         raise the interval"
    )]
    TooManyEvents {
        time_limit_ms: u64,
        interval_ms: u64,
        max: u64,
    },
    #[error("strobe_period_ms must be at least {min}, got {got}")]
    StrobeTooFast { min: u64, got: u64 },
    #[error(
        "a strobe every {period_ms} ms for {duration_ms} ms would flip more than {max} times; \
         lengthen the strobe period"
    )]
    TooManyFlips {
        duration_ms: u64,
        period_ms: u64,
        max: u64,
    },
    #[error("event {index} (at {at_ms} ms): {reason}")]
    BadEvent {
        index: usize,
        at_ms: u64,
        reason: String,
    },
    #[error("this runtime cannot inject every fault the nemesis needs: {}", refusals_text(.refusals))]
    Unsupported { refusals: Vec<(FaultKind, String)> },
    #[error("schedule is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn refusals_text(refusals: &[(FaultKind, String)]) -> String {
    refusals
        .iter()
        .map(|(kind, reason)| format!("{kind}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ScheduleSpec {
    fn check(&self) -> Result<(), ScheduleError> {
        check_nodes(&self.nodes)?;
        for (field, v) in [
            ("interval_ms", self.interval_ms),
            ("duration_ms", self.duration_ms),
            ("clock_delta_ms_max", self.clock_delta_ms_max),
        ] {
            if v == 0 {
                return Err(ScheduleError::Zero { field });
            }
        }
        if self.strobe_period_ms < STROBE_PERIOD_MS_MIN {
            return Err(ScheduleError::StrobeTooFast {
                min: STROBE_PERIOD_MS_MIN,
                got: self.strobe_period_ms,
            });
        }
        let strobes = self.kinds.contains(&NemesisKind::ClockStrobe);
        if strobes && self.duration_ms / self.strobe_period_ms > STROBE_FLIPS_MAX {
            return Err(ScheduleError::TooManyFlips {
                duration_ms: self.duration_ms,
                period_ms: self.strobe_period_ms,
                max: STROBE_FLIPS_MAX,
            });
        }
        if self.time_limit_ms / self.interval_ms > SCHEDULE_EVENTS_MAX {
            return Err(ScheduleError::TooManyEvents {
                time_limit_ms: self.time_limit_ms,
                interval_ms: self.interval_ms,
                max: SCHEDULE_EVENTS_MAX,
            });
        }
        check_kinds(&self.kinds, self.nodes.len())
    }
}

fn check_nodes(nodes: &[String]) -> Result<(), ScheduleError> {
    if nodes.is_empty() {
        return Err(ScheduleError::NoNodes);
    }
    let mut seen = BTreeSet::new();
    for node in nodes {
        if node.is_empty() || !seen.insert(node) {
            return Err(ScheduleError::BadNode(node.clone()));
        }
    }
    Ok(())
}

fn check_kinds(kinds: &[NemesisKind], n: usize) -> Result<(), ScheduleError> {
    for kind in kinds {
        if n < kind.min_nodes() {
            return Err(ScheduleError::TooFewNodes {
                kind: kind.name(),
                min: kind.min_nodes(),
                n,
            });
        }
    }
    Ok(())
}

impl Schedule {
    /// Draw a schedule. A fault starts about every `interval_ms`, picked (by `pick_kind`)
    /// from the kinds whose exclusion class is free then — a partition never overlaps a
    /// partition, nor a process fault a process fault, nor a clock fault a clock fault —
    /// and heals `duration_ms` later, before the time limit. Under a swarm the seed first
    /// draws its [`Mix`] (kinds on, tempo, holds, bursts), and each fault may bring a
    /// second one of another class with it, starting within its first half.
    pub fn generate(spec: &ScheduleSpec) -> Result<Schedule, ScheduleError> {
        spec.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut busy_until_ms: BTreeMap<Exclusion, u64> = BTreeMap::new();
        let mut events = Vec::new();
        let mut phases = Vec::new();
        let windows = phase_windows(spec.swarm, spec.time_limit_ms);
        let figure8_phase = figure8_phase(spec, windows.len(), &mut rng);
        for (i, (from_ms, to_ms)) in windows.into_iter().enumerate() {
            let mut mix = Mix::draw(
                spec.swarm,
                &spec.kinds,
                to_ms - from_ms,
                spec.interval_ms,
                spec.duration_ms,
                &mut rng,
            );
            if figure8_phase == Some(i) {
                mix.open_with_figure8();
            }
            place_phase(
                spec,
                &mix,
                (from_ms, to_ms),
                &mut busy_until_ms,
                &mut events,
                &mut rng,
            );
            phases.push(Phase {
                from_ms,
                to_ms,
                kinds: mix.kinds,
                interval_ms: mix.interval_ms,
                duration_ms: mix.hold_max_ms,
                burst_percent: mix.burst_percent,
            });
        }
        // A burst's second fault may start after the next slot's.
        events.sort_by_key(|e| e.at_ms);
        // Every kind some phase drew, in the spec's order.
        let kinds: Vec<NemesisKind> = spec
            .kinds
            .iter()
            .copied()
            .filter(|k| phases.iter().any(|p| p.kinds.contains(k)))
            .collect();
        let schedule = Schedule {
            seed: spec.seed,
            nodes: spec.nodes.clone(),
            time_limit_ms: spec.time_limit_ms,
            interval_ms: phases
                .iter()
                .map(|p| p.interval_ms)
                .min()
                .unwrap_or(spec.interval_ms),
            duration_ms: phases
                .iter()
                .map(|p| p.duration_ms)
                .max()
                .unwrap_or(spec.duration_ms),
            kinds,
            clock_delta_ms_max: spec.clock_delta_ms_max,
            strobe_period_ms: spec.strobe_period_ms,
            swarm: spec.swarm,
            burst_percent: phases.iter().map(|p| p.burst_percent).max().unwrap_or(0),
            phases: if spec.swarm == Swarm::Off {
                Vec::new()
            } else {
                phases
            },
            events,
        };
        debug_assert!(schedule.check().is_ok(), "a drawn schedule is valid");
        Ok(schedule)
    }

    /// What the seed drew under a swarm, for the terminal: `None` for a fixed schedule.
    /// One line for a single phase; a line per phase below a heading otherwise.
    pub fn mix_line(&self) -> Option<String> {
        if self.swarm == Swarm::Off {
            return None;
        }
        let describe = |kinds: &[NemesisKind], interval_ms: u64, duration_ms: u64, burst: u8| {
            let kinds: Vec<String> = kinds.iter().map(|k| k.name()).collect();
            format!(
                "{}; a fault about every {}, each held {} to {}, {}% of them with a second overlapping",
                kinds.join(","),
                seconds_short(interval_ms),
                seconds_short(duration_ms / HOLD_MIN_DIVISOR),
                seconds_short(duration_ms),
                burst
            )
        };
        if self.phases.len() <= 1 {
            return Some(format!(
                "drawn mix: {}",
                describe(
                    &self.kinds,
                    self.interval_ms,
                    self.duration_ms,
                    self.burst_percent
                )
            ));
        }
        let mut lines = vec![format!(
            "drawn mix: {} phases, each its own, {} without faults between them",
            self.phases.len(),
            seconds_short(PHASE_QUIET_MS)
        )];
        for p in &self.phases {
            lines.push(format!(
                "  {}-{}: {}",
                seconds_short(p.from_ms),
                seconds_short(p.to_ms),
                describe(&p.kinds, p.interval_ms, p.duration_ms, p.burst_percent)
            ));
        }
        Some(lines.join("\n"))
    }

    /// The spec this schedule was drawn from.
    pub fn spec(&self) -> ScheduleSpec {
        ScheduleSpec {
            seed: self.seed,
            nodes: self.nodes.clone(),
            time_limit_ms: self.time_limit_ms,
            interval_ms: self.interval_ms,
            duration_ms: self.duration_ms,
            kinds: self.kinds.clone(),
            clock_delta_ms_max: self.clock_delta_ms_max,
            strobe_period_ms: self.strobe_period_ms,
            swarm: self.swarm,
        }
    }

    /// Every runtime primitive the schedule may call: those of the kinds it was drawn
    /// from and of every event (a hand-written schedule may hold events of other kinds).
    pub fn required_kinds(&self) -> BTreeSet<FaultKind> {
        let from_kinds = self.kinds.iter().map(|k| k.fault_kind());
        let from_events = self.events.iter().map(|e| e.fault.fault_kind());
        from_kinds.chain(from_events).collect()
    }

    /// Refuse a schedule that needs a fault the runtime cannot inject, quoting the
    /// runtime's reason for each one.
    pub fn check_capabilities(&self, caps: &Capabilities) -> Result<(), ScheduleError> {
        let refusals: Vec<(FaultKind, String)> = self
            .required_kinds()
            .into_iter()
            .filter(|kind| !caps.supported.contains(kind))
            .map(|kind| {
                let reason = caps
                    .refused
                    .get(&kind)
                    .cloned()
                    .unwrap_or_else(|| "the runtime does not offer it".to_string());
                (kind, reason)
            })
            .collect();
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(ScheduleError::Unsupported { refusals })
        }
    }

    /// Check that the schedule can run as written: what a hand-edited or replayed
    /// test.json might get wrong.
    pub fn check(&self) -> Result<(), ScheduleError> {
        check_nodes(&self.nodes)?;
        check_kinds(&self.kinds, self.nodes.len())?;
        let mut last_at_ms = 0;
        let mut busy_until_ms: BTreeMap<Exclusion, u64> = BTreeMap::new();
        for (index, event) in self.events.iter().enumerate() {
            let bad = |reason: String| ScheduleError::BadEvent {
                index,
                at_ms: event.at_ms,
                reason,
            };
            if event.at_ms < last_at_ms {
                return Err(bad(format!(
                    "starts before the event ahead of it ({last_at_ms} ms)"
                )));
            }
            last_at_ms = event.at_ms;
            if event.heal_at_ms <= event.at_ms {
                return Err(bad(format!(
                    "heals at {} ms, not after it starts",
                    event.heal_at_ms
                )));
            }
            check_fault(&event.fault, &self.nodes, event.heal_at_ms - event.at_ms).map_err(bad)?;
            let class = event.fault.exclusion();
            if class == Exclusion::CrashPoint {
                continue;
            }
            if let Some(&until) = busy_until_ms.get(&class) {
                if event.at_ms < until {
                    return Err(bad(format!(
                        "{} overlaps an earlier fault of its class that heals at {until} ms",
                        event.fault.fault_kind()
                    )));
                }
            }
            busy_until_ms.insert(class, event.heal_at_ms);
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a schedule always serialises")
    }

    /// Read a schedule (as test.json holds it) and check it.
    pub fn from_json(text: &str) -> Result<Schedule, ScheduleError> {
        let schedule: Schedule = serde_json::from_str(text)?;
        schedule.check()?;
        Ok(schedule)
    }

    /// One line per event, for the terminal.
    pub fn summary(&self) -> String {
        if self.events.is_empty() {
            return "no faults scheduled".to_string();
        }
        self.events
            .iter()
            .map(|e| {
                format!(
                    "{:>9} -> {:>9}  {}",
                    seconds(e.at_ms),
                    seconds(e.heal_at_ms),
                    e.fault.describe()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every step the executor takes, in order: each event's start, each strobe flip and
    /// each heal, with the time it is due. At one instant heals come first, so a fault
    /// that heals as another starts is gone before the next begins.
    pub fn timeline(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for (event, e) in self.events.iter().enumerate() {
            steps.push(Step {
                at_ms: e.at_ms,
                event,
                action: Action::Apply,
            });
            if let Fault::ClockStrobe { period_ms, .. } = e.fault {
                for flip in 1..=STROBE_FLIPS_MAX {
                    let due = flip
                        .checked_mul(period_ms)
                        .and_then(|d| e.at_ms.checked_add(d));
                    let Some(at_ms) = due.filter(|&t| t < e.heal_at_ms) else {
                        break;
                    };
                    steps.push(Step {
                        at_ms,
                        event,
                        action: Action::Flip { flip },
                    });
                }
            }
            steps.push(Step {
                at_ms: e.heal_at_ms,
                event,
                action: Action::Heal,
            });
        }
        steps.sort_by_key(|s| (s.at_ms, s.action.rank(), s.event));
        steps
    }
}

/// One step of the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    /// Index into the schedule's events.
    pub event: usize,
    pub action: Action,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Start the fault (a strobe's first flip, to its first offset).
    Apply,
    /// A strobe's flip number `flip` (≥ 1): to offset `flip % 2`.
    Flip { flip: u64 },
    /// Undo the fault.
    Heal,
}

impl Action {
    fn rank(self) -> u8 {
        match self {
            Action::Heal => 0,
            Action::Apply => 1,
            Action::Flip { .. } => 2,
        }
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// `1.5 s`, `800 ms`.
fn seconds_short(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Which of a full swarm's `phases` opens with Raft's figure 8 ([`FIGURE8_AT_MS`]): one
/// drawn, in a test that can make the figure; in a run of one phase, half the time.
fn figure8_phase<R: Rng + ?Sized>(
    spec: &ScheduleSpec,
    phases: usize,
    rng: &mut R,
) -> Option<usize> {
    if spec.swarm != Swarm::Full || !makes_figure8(&spec.kinds) || phases == 0 {
        return None;
    }
    if phases == 1 {
        return rng.random_bool(0.5).then_some(0);
    }
    Some(rng.random_range(0..phases))
}

/// Place one phase's faults within `(from_ms, to_ms)`: slot k (from 1) starts within
/// [k, k + 1/2] intervals of the phase's start, each fault heals within the phase, and a
/// fault may bring a second of another class with it, starting within its first half.
fn place_phase(
    spec: &ScheduleSpec,
    mix: &Mix,
    (from_ms, to_ms): (u64, u64),
    busy_until_ms: &mut BTreeMap<Exclusion, u64>,
    events: &mut Vec<Event>,
    rng: &mut ChaCha8Rng,
) {
    let slots = if mix.kinds.is_empty() {
        0
    } else {
        (to_ms - from_ms) / mix.interval_ms
    };
    // Under a full swarm a figure 8 opens its phase (`Mix::figure8`) and no other cut
    // becomes one; under fixed kinds, any cut of the leader may.
    let cut_figure8_p = if spec.swarm == Swarm::Full || !makes_figure8(&spec.kinds) {
        0.0
    } else {
        CRASH_AFTER_CUT_P
    };
    let mut place = |at_ms: u64,
                     hold_ms: u64,
                     opens_figure8: bool,
                     busy_until_ms: &mut BTreeMap<Exclusion, u64>,
                     rng: &mut ChaCha8Rng|
     -> Option<Option<(u64, NemesisKind)>> {
        let heal_at_ms = match at_ms.checked_add(hold_ms) {
            Some(heal_at_ms) if heal_at_ms <= to_ms => heal_at_ms,
            _ => return None,
        };
        let kind = if opens_figure8 {
            NemesisKind::Partition(Shape::IsolateLeader)
        } else {
            let Some(kind) = pick_kind(mix, busy_until_ms, at_ms, rng) else {
                return Some(None);
            };
            kind
        };
        // A cut of the leader under a drawn mix: kept clean, its leader's clock set back
        // (not a figure 8's: its rest elect no leader to be stale against).
        let drawn_cut = mix.by_class && kind == NemesisKind::Partition(Shape::IsolateLeader);
        let skew = if drawn_cut && !opens_figure8 {
            skew_of_cut(&spec.kinds, (at_ms, heal_at_ms), to_ms, busy_until_ms, rng)
        } else {
            None
        };
        let heal_at_ms = skew.map_or(heal_at_ms, |(_, heal_at_ms)| heal_at_ms);
        // A cut of a follower under a drawn mix: held long enough for it to fall behind,
        // and kept clean as a cut of the leader is, so that the rest commit meanwhile.
        let follower_cut = mix.by_class && kind == FOLLOWER_CUT;
        let heal_at_ms = if follower_cut && at_ms + FOLLOWER_CUT_HOLD_MS_MIN <= to_ms {
            heal_at_ms.max(at_ms + FOLLOWER_CUT_HOLD_MS_MIN)
        } else {
            heal_at_ms
        };
        // ... or crash points make Raft's figure 8 of it.
        let cut = kind == NemesisKind::Partition(Shape::IsolateLeader);
        let figure8_p = if opens_figure8 { 1.0 } else { cut_figure8_p };
        let figure8 = if cut && figure8_p > 0.0 {
            figure8_of(figure8_p, (at_ms, heal_at_ms), to_ms, rng)
        } else {
            None
        };
        let heal_at_ms = figure8
            .as_ref()
            .map_or(heal_at_ms, |(heal_at_ms, _)| *heal_at_ms);
        // A leader killed or powered off under a drawn mix: perhaps the others elect over
        // a slow network.
        let slow = (mix.by_class && takes_leader_down(kind))
            .then(|| slow_election_of(spec, (at_ms, heal_at_ms), to_ms, busy_until_ms, rng))
            .flatten();
        let fault = draw_fault(kind, spec, rng);
        busy_until_ms.insert(fault.exclusion(), heal_at_ms);
        if drawn_cut || follower_cut || figure8.is_some() {
            keep_cut_clean(busy_until_ms, events, (at_ms, heal_at_ms));
        }
        if let Some((_, crashes)) = figure8 {
            // No other fault starts until the old leader is back: each would change who
            // can win, and one aimed at the leader would hold the steps after it back
            // while no leader is known.
            let until = crashes
                .iter()
                .map(|e| e.heal_at_ms)
                .max()
                .unwrap_or(heal_at_ms);
            events.retain(|e| !(heal_at_ms..until).contains(&e.at_ms));
            for class in FIGURE8_KEEPS_OUT {
                let busy = busy_until_ms.entry(class).or_insert(until);
                *busy = (*busy).max(until);
            }
            events.extend(crashes);
        }
        events.push(Event {
            at_ms,
            fault,
            heal_at_ms,
        });
        if let Some((slow_heal_at_ms, fault)) = slow {
            busy_until_ms.insert(Exclusion::Packet, slow_heal_at_ms);
            events.push(Event {
                at_ms,
                fault,
                heal_at_ms: slow_heal_at_ms,
            });
        }
        if let Some((skew_at_ms, _)) = skew {
            let magnitude = draw_delta_ms(spec.clock_delta_ms_max, rng).unsigned_abs();
            busy_until_ms.insert(Exclusion::Clock, heal_at_ms);
            events.push(Event {
                at_ms: skew_at_ms,
                fault: Fault::ClockJump {
                    targets: Targets::cut_leader(),
                    delta_ms: -i64::try_from(magnitude).unwrap_or(i64::MAX),
                },
                heal_at_ms,
            });
        }
        Some(Some((heal_at_ms - at_ms, kind)))
    };
    if mix.figure8 {
        let at_ms = from_ms + rng.random_range(FIGURE8_AT_MS.0..=FIGURE8_AT_MS.1);
        let hold_ms = mix.hold_ms(rng);
        place(at_ms, hold_ms, true, busy_until_ms, rng);
    }
    for slot in 1..=slots {
        let jitter = rng.random_range(0..=mix.interval_ms / 2);
        let Some(at_ms) = (slot * mix.interval_ms)
            .checked_add(jitter)
            .and_then(|t| t.checked_add(from_ms))
        else {
            break;
        };
        let hold_ms = mix.hold_ms(rng);
        let placed = match place(at_ms, hold_ms, false, busy_until_ms, rng) {
            None if spec.swarm == Swarm::Off => break,
            None => continue,
            Some(placed) => placed,
        };
        if let Some((hold_ms, _)) = placed.filter(|_| mix.bursts(rng)) {
            let second_at_ms = at_ms + rng.random_range(0..=hold_ms / 2);
            let second_hold_ms = mix.hold_ms(rng);
            place(second_at_ms, second_hold_ms, false, busy_until_ms, rng);
        }
    }
}

/// A leader cut off, and then its clock set back while it still leads: what a lease or
/// check-quorum measured on the wall clock does not survive. For a drawn cut of the
/// leader from `at_ms` to `heal_at_ms`, in a test whose kinds hold `clock-jump` (the
/// phase need not have drawn it: few phases draw both): when its backward jump starts
/// and when both heal, the cut held long enough for the others to elect; `None` where
/// the phase or the clock class has no room. Called for no other fault, so fixed
/// schedules stay as they were.
fn skew_of_cut<R: Rng + ?Sized>(
    spec_kinds: &[NemesisKind],
    (at_ms, heal_at_ms): (u64, u64),
    to_ms: u64,
    busy_until_ms: &BTreeMap<Exclusion, u64>,
    rng: &mut R,
) -> Option<(u64, u64)> {
    if !spec_kinds.contains(&NemesisKind::ClockJump) || !rng.random_bool(SKEW_ISOLATED_LEADER_P) {
        return None;
    }
    let skew_at_ms = at_ms + rng.random_range(SKEW_AFTER_CUT_MS.0..=SKEW_AFTER_CUT_MS.1);
    let heal_at_ms = heal_at_ms.max(at_ms + SKEW_CUT_HOLD_MS_MIN);
    (heal_at_ms <= to_ms && is_free(busy_until_ms, Exclusion::Clock, skew_at_ms))
        .then_some((skew_at_ms, heal_at_ms))
}

/// The fault classes that start no fault from the heal of a figure 8's cut until its old
/// leader is started again.
const FIGURE8_KEEPS_OUT: [Exclusion; 4] = [
    Exclusion::Network,
    Exclusion::Process,
    Exclusion::Clock,
    Exclusion::Packet,
];

/// Raft's figure 8, with chance `p`, around a cut of the leader from `at_ms` to
/// `heal_at_ms` (see [`CRASH_AFTER_CUT_P`]), in a test whose kinds hold both crash points:
/// the cut's heal, held long enough for the rest to elect twice, and the two crash-point
/// faults; `None` where the phase has no room. Called for no other fault, so schedules
/// without crash points stay as they were.
fn figure8_of<R: Rng + ?Sized>(
    p: f64,
    (at_ms, heal_at_ms): (u64, u64),
    to_ms: u64,
    rng: &mut R,
) -> Option<(u64, [Event; 2])> {
    if !rng.random_bool(p) {
        return None;
    }
    let heal_at_ms = heal_at_ms.max(at_ms + CRASH_CUT_HOLD_MS_MIN);
    if heal_at_ms + CRASH_LEADER_START_MS > to_ms {
        return None;
    }
    let arm_at_ms = at_ms + CRASH_ARM_AFTER_CUT_MS;
    let crashes = [
        Event {
            at_ms: arm_at_ms,
            fault: Fault::CrashPoint {
                targets: Targets::cut_rest(),
                point: CrashPoint::WonElection,
            },
            heal_at_ms: heal_at_ms + CRASH_REST_START_MS,
        },
        Event {
            at_ms: arm_at_ms,
            fault: Fault::CrashPoint {
                targets: Targets::cut_leader(),
                point: CrashPoint::LeaderCommit,
            },
            heal_at_ms: heal_at_ms + CRASH_LEADER_START_MS,
        },
    ];
    Some((heal_at_ms, crashes))
}

/// Whether a kind takes whoever leads down: `kill-leader`, `power-loss-leader`.
fn takes_leader_down(kind: NemesisKind) -> bool {
    matches!(
        kind,
        NemesisKind::Kill(Selector::Leader) | NemesisKind::PowerLoss(Selector::Leader)
    )
}

/// The others elect over a slow network. For a drawn fault that stops the leader from
/// `at_ms` to `heal_at_ms`, in a test whose kinds hold `packet-delay` (the phase need not
/// have drawn it): when the delay on every link heals and the fault itself, with
/// [`SLOW_ELECTION_P`]; `None` where the packet class or the phase has no room. Called
/// for no other fault, so fixed schedules stay as they were.
fn slow_election_of<R: Rng + ?Sized>(
    spec: &ScheduleSpec,
    (at_ms, heal_at_ms): (u64, u64),
    to_ms: u64,
    busy_until_ms: &BTreeMap<Exclusion, u64>,
    rng: &mut R,
) -> Option<(u64, Fault)> {
    if !spec.kinds.contains(&NemesisKind::Packet(PacketKind::Delay))
        || !rng.random_bool(SLOW_ELECTION_P)
    {
        return None;
    }
    let slow_heal_at_ms = heal_at_ms.max(at_ms + SLOW_ELECTION_HOLD_MS_MIN);
    if slow_heal_at_ms > to_ms || !is_free(busy_until_ms, Exclusion::Packet, at_ms) {
        return None;
    }
    let delay_ms = rng.random_range(SLOW_ELECTION_DELAY_MS.0..=SLOW_ELECTION_DELAY_MS.1);
    let fault = Fault::Packet {
        params: PacketParams::Delay {
            delay_ms,
            jitter_ms: rng.random_range(0..=delay_ms / 2),
        },
        targets: Targets::draw(Selector::All, &spec.nodes, rng),
        side: LinkSide::Both,
    };
    Some((slow_heal_at_ms, fault))
}

/// The fault classes that start no fault while a drawn cut of the leader or of a
/// follower holds: pause, kill and power loss, and packet faults.
const KEPT_OUT_OF_A_CUT: [Exclusion; 2] = [Exclusion::Process, Exclusion::Packet];

/// A leader cut off is a clean test of what the others do without it only if they can
/// elect: no fault of [`KEPT_OUT_OF_A_CUT`] starts while the cut holds. Faults are
/// placed slot by slot and a burst's second fault may start after the next slot's first,
/// so those already placed within the cut are dropped too. (Drawn mixes only; a fault in
/// force when the cut starts runs its course.)
fn keep_cut_clean(
    busy_until_ms: &mut BTreeMap<Exclusion, u64>,
    events: &mut Vec<Event>,
    (at_ms, heal_at_ms): (u64, u64),
) {
    events.retain(|e| {
        !(KEPT_OUT_OF_A_CUT.contains(&e.fault.exclusion())
            && (at_ms..heal_at_ms).contains(&e.at_ms))
    });
    for class in KEPT_OUT_OF_A_CUT {
        let until = busy_until_ms.entry(class).or_insert(heal_at_ms);
        *until = (*until).max(heal_at_ms);
    }
}

/// Whether no fault of `class` is in force at `at_ms`.
fn is_free(busy_until_ms: &BTreeMap<Exclusion, u64>, class: Exclusion, at_ms: u64) -> bool {
    busy_until_ms.get(&class).is_none_or(|&t| t <= at_ms)
}

/// A kind whose exclusion class is free at `at_ms`: under a drawn mix first an exclusion
/// class (network, process, clock, packet; the network `NETWORK_CLASS_WEIGHT` times),
/// and a cut of a follower only while no process fault holds (with a node down or
/// paused, the rest may not commit while it is cut off); then a fault kind (partition,
/// pause, kill, clock, packet, power loss) uniformly, then one of its kinds, so a mix is
/// balanced by fault rather than by how many shapes or selectors each has; a
/// leader-aimed kind counts `leader_weight` times, a cut of the leader `cut_weight` and a
/// cut of a follower `follower_cut_weight`.
fn pick_kind<R: Rng + ?Sized>(
    mix: &Mix,
    busy_until_ms: &BTreeMap<Exclusion, u64>,
    at_ms: u64,
    rng: &mut R,
) -> Option<NemesisKind> {
    let rides_on_cuts = |k: &NemesisKind| {
        k.fault_kind() == FaultKind::CrashPoint
            && (mix.figure8
                || mix
                    .kinds
                    .contains(&NemesisKind::Partition(Shape::IsolateLeader)))
    };
    let free: Vec<NemesisKind> = mix
        .kinds
        .iter()
        .copied()
        .filter(|k| !rides_on_cuts(k))
        .filter(|k| is_free(busy_until_ms, exclusion_of(k.fault_kind()), at_ms))
        .filter(|&k| {
            !(mix.by_class
                && k == FOLLOWER_CUT
                && !is_free(busy_until_ms, Exclusion::Process, at_ms))
        })
        .collect();
    let mut faults: Vec<FaultKind> = free
        .iter()
        .map(|k| k.fault_kind())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if faults.is_empty() {
        return None;
    }
    if mix.by_class {
        let classes: Vec<Exclusion> = faults
            .iter()
            .map(|&f| exclusion_of(f))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let classes: Vec<Exclusion> = classes
            .into_iter()
            .flat_map(|c| {
                let times = if c == Exclusion::Network {
                    NETWORK_CLASS_WEIGHT
                } else {
                    1
                };
                std::iter::repeat_n(c, times)
            })
            .collect();
        let class = classes[rng.random_range(0..classes.len())];
        faults.retain(|&f| exclusion_of(f) == class);
    }
    let fault = faults[rng.random_range(0..faults.len())];
    let of_fault: Vec<NemesisKind> = free
        .into_iter()
        .filter(|k| k.fault_kind() == fault)
        .flat_map(|k| {
            let times = if k == NemesisKind::Partition(Shape::IsolateLeader) {
                mix.cut_weight
            } else if k == FOLLOWER_CUT {
                mix.follower_cut_weight
            } else if aims_at_leader(k) {
                mix.leader_weight
            } else {
                1
            };
            std::iter::repeat_n(k, times.max(1))
        })
        .collect();
    Some(of_fault[rng.random_range(0..of_fault.len())])
}

fn draw_fault<R: Rng + ?Sized>(kind: NemesisKind, spec: &ScheduleSpec, rng: &mut R) -> Fault {
    let nodes = &spec.nodes;
    match kind {
        NemesisKind::Partition(shape) => Fault::Partition {
            plan: PartitionPlan::draw(shape, nodes, rng)
                .expect("the spec was checked to have enough nodes for every kind"),
        },
        NemesisKind::Pause(select) => Fault::Pause {
            targets: Targets::draw(select, nodes, rng),
        },
        NemesisKind::Kill(select) => Fault::Kill {
            targets: Targets::draw(select, nodes, rng),
        },
        NemesisKind::PowerLoss(select) => Fault::PowerLoss {
            targets: Targets::draw(select, nodes, rng),
        },
        NemesisKind::ClockJump => Fault::ClockJump {
            targets: draw_clock_targets(nodes, rng),
            delta_ms: draw_delta_ms(spec.clock_delta_ms_max, rng),
        },
        NemesisKind::ClockStrobe => Fault::ClockStrobe {
            targets: draw_clock_targets(nodes, rng),
            offsets_ms: [draw_delta_ms(spec.clock_delta_ms_max, rng), 0],
            period_ms: spec.strobe_period_ms,
        },
        NemesisKind::CrashPoint(point) => Fault::CrashPoint {
            targets: Targets::draw(Selector::All, nodes, rng),
            point,
        },
        NemesisKind::Packet(kind) => {
            let (targets, side) = crate::packet::draw_links(nodes, rng);
            Fault::Packet {
                params: crate::packet::PacketParams::draw(kind, rng),
                targets,
                side,
            }
        }
    }
}

fn draw_clock_targets<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Targets {
    let usable: Vec<Selector> = CLOCK_SELECTORS
        .into_iter()
        .filter(|s| s.min_nodes() <= nodes.len())
        .collect();
    let select = usable[rng.random_range(0..usable.len())];
    Targets::draw(select, nodes, rng)
}

/// A jump between a tenth of the bound and the bound, either way.
fn draw_delta_ms<R: Rng + ?Sized>(max_ms: u64, rng: &mut R) -> i64 {
    let max_ms = i64::try_from(max_ms).unwrap_or(i64::MAX);
    let magnitude = rng.random_range((max_ms / 10).max(1)..=max_ms);
    if rng.random_bool(0.5) {
        magnitude
    } else {
        -magnitude
    }
}

/// What is wrong with one fault over `cluster`, if anything.
/// `span_ms` is how long the fault stays in force.
fn check_fault(fault: &Fault, cluster: &[String], span_ms: u64) -> Result<(), String> {
    if let Some(targets) = fault.targets() {
        targets.check(cluster)?;
    }
    match fault {
        Fault::Partition { plan } => match plan.reach(cluster) {
            Ok(_) => Ok(()),
            Err(crate::partition::PartitionError::LeaderUnresolved { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Fault::Packet { params, .. } => params.check(),
        Fault::ClockStrobe { period_ms, .. } if *period_ms < STROBE_PERIOD_MS_MIN => Err(format!(
            "strobe period {period_ms} ms is below {STROBE_PERIOD_MS_MIN} ms"
        )),
        Fault::ClockStrobe { period_ms, .. } if span_ms / period_ms > STROBE_FLIPS_MAX => {
            Err(format!(
                "a strobe every {period_ms} ms for {span_ms} ms would flip more than \
                 {STROBE_FLIPS_MAX} times; lengthen its period"
            ))
        }
        _ => Ok(()),
    }
}
