//! The executor against a fake runtime, on tokio's paused clock: each fault at its time,
//! recorded as invoke/ok pairs (info on failure), undone at its heal time, and whatever is
//! left undone by the final phase.

use std::collections::BTreeMap;
use std::time::Duration;

use checkers::history::{OpType, Process, Value, F};
use checkers::recorder::Recorder;
use nemesis::fault::Fault;
use nemesis::names::parse_nemeses;
use nemesis::partition::{Direction, PartitionPlan};
use nemesis::runtime::Grudge;
use nemesis::schedule::{Event, Schedule, ScheduleSpec};
use nemesis::targets::Targets;
use nemesis::{final_phase, run_schedule, FaultState, FinalPhaseError, NoLeaderProbe, RunError};
use tokio_util::sync::CancellationToken;

use crate::util::{
    brief, cluster, failed, groups_value, names, nodes_value, offsets_value, pair, set, Brief,
    Call, FakeRuntime, FixedLeader,
};

fn schedule(events: Vec<Event>) -> Schedule {
    let spec = ScheduleSpec::new(0, cluster(5), 60_000, 1_000, 1_000, Vec::new());
    let mut schedule = Schedule::generate(&spec).unwrap();
    schedule.events = events;
    schedule.check().unwrap();
    schedule
}

fn event(at_ms: u64, heal_at_ms: u64, fault: Fault) -> Event {
    Event {
        at_ms,
        fault,
        heal_at_ms,
    }
}

fn halves() -> Fault {
    Fault::Partition {
        plan: PartitionPlan::Halves {
            small: names(&["n1", "n2"]),
            large: names(&["n3", "n4", "n5"]),
        },
    }
}

fn halves_grudge() -> Grudge {
    let mut drops = BTreeMap::new();
    for (side, other) in [
        (["n1", "n2"].as_slice(), ["n3", "n4", "n5"].as_slice()),
        (&["n3", "n4", "n5"], &["n1", "n2"]),
    ] {
        for node in side {
            drops.insert(node.to_string(), set(other));
        }
    }
    Grudge { drops }
}

fn on(nodes: &[&str]) -> Targets {
    Targets::nodes(names(nodes))
}

fn flat<const N: usize>(parts: Vec<[Brief; N]>) -> Vec<Brief> {
    parts.into_iter().flatten().collect()
}

async fn run(
    schedule: &Schedule,
    runtime: &FakeRuntime,
    recorder: &Recorder,
) -> nemesis::RunOutcome {
    let stop = CancellationToken::new();
    run_schedule(schedule, runtime, recorder, &NoLeaderProbe, &stop)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_fault_starts_and_heals_at_its_time_as_invoke_ok_pairs() {
    let schedule = schedule(vec![
        event(1_000, 3_000, halves()),
        event(
            2_000,
            4_000,
            Fault::Pause {
                targets: on(&["n2"]),
            },
        ),
        event(
            5_000,
            6_000,
            Fault::ClockJump {
                targets: on(&["n3"]),
                delta_ms: 30_000,
            },
        ),
        event(
            6_000,
            7_000,
            Fault::Kill {
                targets: on(&["n1", "n4"]),
            },
        ),
    ]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let outcome = run(&schedule, &runtime, &recorder).await;
    assert!(!outcome.stopped);
    assert!(outcome.state.is_clear(), "{:?}", outcome.state);
    assert_eq!(outcome.schedule, schedule);
    assert_eq!(
        runtime.timed_calls(),
        vec![
            (1_000, Call::Partition(halves_grudge())),
            (2_000, Call::Pause(names(&["n2"]))),
            (3_000, Call::Heal),
            (4_000, Call::Resume(names(&["n2"]))),
            (5_000, Call::Clock([("n3".to_string(), 30_000)].into())),
            (6_000, Call::ClockReset),
            (6_000, Call::Kill(names(&["n1", "n4"]))),
            (7_000, Call::Start(names(&["n1", "n4"]))),
        ]
    );
    let ops = recorder.ops();
    assert!(ops.iter().all(|op| op.process == Process::Nemesis));
    assert_eq!(
        brief(&ops),
        flat(vec![
            pair(
                F::Partition,
                groups_value(&[&["n3", "n4", "n5"], &["n1", "n2"]])
            ),
            pair(F::Pause, nodes_value(&["n2"])),
            pair(F::Heal, None),
            pair(F::Resume, nodes_value(&["n2"])),
            pair(F::Clock, offsets_value(&[("n3", 30_000)])),
            pair(F::ClockReset, None),
            pair(F::Kill, nodes_value(&["n1", "n4"])),
            pair(F::Start, nodes_value(&["n1", "n4"])),
        ])
    );
    // Nothing is left for the final phase to do, so it records nothing.
    let mut state = outcome.state;
    final_phase(&runtime, &recorder, &mut state).await.unwrap();
    assert_eq!(recorder.ops().len(), ops.len());
}

#[tokio::test(start_paused = true)]
async fn a_one_way_partition_is_recorded_as_drops() {
    let one_way = Fault::Partition {
        plan: PartitionPlan::OneWay {
            node: "n1".into(),
            direction: Direction::Inbound,
        },
    };
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    run(
        &schedule(vec![event(1_000, 2_000, one_way)]),
        &runtime,
        &recorder,
    )
    .await;
    let drops: BTreeMap<String, Vec<String>> =
        [("n1".to_string(), names(&["n2", "n3", "n4", "n5"]))].into();
    let value = Some(Value {
        drops: Some(drops),
        ..Value::default()
    });
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![pair(F::Partition, value), pair(F::Heal, None)])
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_is_info_with_the_error_and_is_still_undone() {
    let schedule = schedule(vec![
        event(
            1_000,
            2_000,
            Fault::Pause {
                targets: on(&["n2"]),
            },
        ),
        event(
            3_000,
            4_000,
            Fault::Kill {
                targets: on(&["n3"]),
            },
        ),
    ]);
    // The pause fails, so does the first start after the kill.
    let runtime = FakeRuntime::new().fail("pause", 1).fail("start", 1);
    let recorder = Recorder::in_memory();
    let outcome = run(&schedule, &runtime, &recorder).await;
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![
            failed(F::Pause, nodes_value(&["n2"]), "injected pause failure"),
            pair(F::Resume, nodes_value(&["n2"])),
            pair(F::Kill, nodes_value(&["n3"])),
            failed(F::Start, nodes_value(&["n3"]), "injected start failure"),
        ])
    );
    let mut state = outcome.state;
    assert_eq!(state.killed, set(&["n3"]));
    assert!(state.paused.is_empty());
    final_phase(&runtime, &recorder, &mut state).await.unwrap();
    assert!(state.is_clear());
    let ops = recorder.ops();
    assert_eq!(
        brief(&ops[ops.len() - 2..]),
        pair(F::Start, nodes_value(&["n3"])).to_vec()
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_returns_times_out_as_info() {
    let runtime = FakeRuntime::new().hang("kill");
    let recorder = Recorder::in_memory();
    let schedule = schedule(vec![event(
        1_000,
        2_000,
        Fault::Kill {
            targets: on(&["n5"]),
        },
    )]);
    let outcome = run(&schedule, &runtime, &recorder).await;
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![
            failed(F::Kill, nodes_value(&["n5"]), "timeout after 60000 ms"),
            pair(F::Start, nodes_value(&["n5"])),
        ])
    );
    assert!(outcome.state.is_clear());
}

#[tokio::test(start_paused = true)]
async fn stopping_early_leaves_faults_for_the_final_phase_to_undo() {
    let schedule = schedule(vec![
        event(1_000, 9_000, halves()),
        event(
            2_000,
            9_000,
            Fault::Kill {
                targets: on(&["n1"]),
            },
        ),
        event(
            3_000,
            9_000,
            Fault::ClockJump {
                targets: on(&["n4", "n5"]),
                delta_ms: -7_000,
            },
        ),
        event(
            20_000,
            21_000,
            Fault::Pause {
                targets: on(&["n3"]),
            },
        ),
    ]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let canceller = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5_000)).await;
        canceller.cancel();
    });
    let outcome = run_schedule(&schedule, &runtime, &recorder, &NoLeaderProbe, &stop)
        .await
        .unwrap();
    assert!(outcome.stopped);
    let mut state = outcome.state;
    assert_eq!(
        state,
        FaultState {
            partition: Some(halves_grudge()),
            paused: Default::default(),
            killed: set(&["n1"]),
            clock_offsets_ms: [("n4".to_string(), -7_000), ("n5".to_string(), -7_000)].into(),
            packet: None,
            crash_points: Default::default(),
        }
    );
    let before = recorder.ops().len();
    assert_eq!(before, 6);
    final_phase(&runtime, &recorder, &mut state).await.unwrap();
    assert!(state.is_clear());
    assert_eq!(
        brief(&recorder.ops()[before..]),
        flat(vec![
            pair(F::Heal, None),
            pair(F::Start, nodes_value(&["n1"])),
            pair(F::ClockReset, None)
        ])
    );
    let calls = runtime.calls();
    assert_eq!(
        calls[3..],
        [Call::Heal, Call::Start(names(&["n1"])), Call::ClockReset]
    );
}

#[tokio::test(start_paused = true)]
async fn a_final_phase_that_cannot_restore_says_what_and_keeps_it_in_force() {
    let runtime = FakeRuntime::new().fail("resume", 5);
    let recorder = Recorder::in_memory();
    let mut state = FaultState {
        paused: set(&["n2", "n4"]),
        ..FaultState::default()
    };
    let err = final_phase(&runtime, &recorder, &mut state)
        .await
        .unwrap_err();
    assert!(matches!(err, FinalPhaseError::NotRestored(_)));
    assert!(
        err.to_string()
            .contains("resume n2 n4: injected resume failure"),
        "{err}"
    );
    assert_eq!(state.paused, set(&["n2", "n4"]));
    // Each try is recorded.
    let tries: Vec<_> = (0..nemesis::executor::FINAL_UNDO_ATTEMPTS)
        .flat_map(|_| {
            failed(
                F::Resume,
                nodes_value(&["n2", "n4"]),
                "injected resume failure",
            )
        })
        .collect();
    assert_eq!(brief(&recorder.ops()), tries);
}

#[tokio::test(start_paused = true)]
async fn a_final_undo_that_fails_at_first_is_tried_again() {
    // A clock reset that meets a node still starting: refused once, then done.
    let runtime = FakeRuntime::new().fail("resume", 1);
    let recorder = Recorder::in_memory();
    let mut state = FaultState {
        paused: set(&["n2"]),
        ..FaultState::default()
    };
    final_phase(&runtime, &recorder, &mut state).await.unwrap();
    assert!(state.is_clear());
    let mut expected = failed(F::Resume, nodes_value(&["n2"]), "injected resume failure").to_vec();
    expected.extend(pair(F::Resume, nodes_value(&["n2"])));
    assert_eq!(brief(&recorder.ops()), expected);
}

#[tokio::test(start_paused = true)]
async fn leader_targets_are_resolved_at_run_time_and_recorded_resolved() {
    let schedule = schedule(vec![
        event(
            1_000,
            2_000,
            Fault::Partition {
                plan: PartitionPlan::IsolateLeader { leader: None },
            },
        ),
        event(
            3_000,
            4_000,
            Fault::Pause {
                targets: Targets::leader(),
            },
        ),
    ]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let outcome = run_schedule(&schedule, &runtime, &recorder, &FixedLeader("n3"), &stop)
        .await
        .unwrap();
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![
            pair(
                F::Partition,
                groups_value(&[&["n1", "n2", "n4", "n5"], &["n3"]])
            ),
            pair(F::Heal, None),
            pair(F::Pause, nodes_value(&["n3"])),
            pair(F::Resume, nodes_value(&["n3"])),
        ])
    );
    let ran = &outcome.schedule;
    assert_eq!(
        ran.events[0].fault,
        Fault::Partition {
            plan: PartitionPlan::IsolateLeader {
                leader: Some("n3".into())
            }
        }
    );
    assert_eq!(
        ran.events[1].fault,
        schedule.events[1].fault.with_leader("n3")
    );
    // The run's record replays exactly, with no leader to ask.
    let replay = Schedule::from_json(&ran.to_json()).unwrap();
    let again = FakeRuntime::new();
    let recorder_again = Recorder::in_memory();
    let replayed = run(&replay, &again, &recorder_again).await;
    assert_eq!(again.calls(), runtime.calls());
    assert_eq!(brief(&recorder_again.ops()), brief(&recorder.ops()));
    assert_eq!(replayed.schedule, replay);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_leader_is_info_and_nothing_is_applied_or_undone() {
    let schedule = schedule(vec![event(
        1_000,
        2_000,
        Fault::Kill {
            targets: Targets::leader(),
        },
    )]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let outcome = run(&schedule, &runtime, &recorder).await;
    assert_eq!(
        brief(&recorder.ops()),
        failed(F::Kill, None, "no leader known within 5000 ms").to_vec()
    );
    assert!(runtime.calls().is_empty());
    assert!(outcome.state.is_clear());
    assert_eq!(
        outcome.schedule, schedule,
        "an unresolved leader stays unresolved"
    );
    let stop = CancellationToken::new();
    let stranger = run_schedule(
        &schedule,
        &runtime,
        &Recorder::in_memory(),
        &FixedLeader("n9"),
        &stop,
    )
    .await
    .unwrap();
    assert!(stranger.state.is_clear());
    assert!(runtime.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_strobe_flips_between_its_offsets_then_resets() {
    let strobe = Fault::ClockStrobe {
        targets: on(&["n2"]),
        offsets_ms: [5_000, 0],
        period_ms: 100,
    };
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    run(
        &schedule(vec![event(1_000, 1_350, strobe)]),
        &runtime,
        &recorder,
    )
    .await;
    let clock = |offset: i64| Call::Clock([("n2".to_string(), offset)].into());
    assert_eq!(
        runtime.timed_calls(),
        vec![
            (1_000, clock(5_000)),
            (1_100, clock(0)),
            (1_200, clock(5_000)),
            (1_300, clock(0)),
            (1_350, Call::ClockReset),
        ]
    );
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![
            pair(F::Clock, offsets_value(&[("n2", 5_000)])),
            pair(F::Clock, offsets_value(&[("n2", 0)])),
            pair(F::Clock, offsets_value(&[("n2", 5_000)])),
            pair(F::Clock, offsets_value(&[("n2", 0)])),
            pair(F::ClockReset, None),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_drawn_schedule_runs_as_complete_pairs_and_repeats_exactly() {
    let kinds = parse_nemeses("all").unwrap();
    let spec = ScheduleSpec::new(77, cluster(5), 300_000, 4_000, 6_000, kinds);
    let schedule = Schedule::generate(&spec).unwrap();
    let mut histories = Vec::new();
    for _ in 0..2 {
        let runtime = FakeRuntime::new();
        let recorder = Recorder::in_memory();
        let stop = CancellationToken::new();
        let outcome = run_schedule(&schedule, &runtime, &recorder, &FixedLeader("n2"), &stop)
            .await
            .unwrap();
        assert!(
            outcome.state.is_clear(),
            "every fault healed: {:?}",
            outcome.state
        );
        let ops = recorder.ops();
        assert_eq!(ops.len(), 2 * runtime.calls().len());
        for (i, pair) in ops.chunks(2).enumerate() {
            assert_eq!(
                (pair[0].kind, pair[1].kind),
                (OpType::Invoke, OpType::Ok),
                "pair {i}"
            );
            assert_eq!(pair[0].f, pair[1].f);
            assert_eq!(pair[0].value, pair[1].value);
        }
        histories.push((runtime.timed_calls(), brief(&ops)));
    }
    assert_eq!(histories[0], histories[1]);
}

#[tokio::test(start_paused = true)]
async fn a_history_that_cannot_be_written_aborts_with_what_may_be_in_force() {
    let schedule = schedule(vec![event(
        1_000,
        2_000,
        Fault::Pause {
            targets: on(&["n2"]),
        },
    )]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    recorder.finish().unwrap();
    let stop = CancellationToken::new();
    let err = run_schedule(&schedule, &runtime, &recorder, &NoLeaderProbe, &stop)
        .await
        .unwrap_err();
    let RunError::History { state, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(state.paused, set(&["n2"]));
}

/// Knows no leader for its first `unknown_for` answers, then names `leader`.
/// A probe that answers in turn from a script, its last answer ever after.
struct ScriptedLeader {
    asked: std::sync::atomic::AtomicUsize,
    answers: Vec<Option<&'static str>>,
}

impl ScriptedLeader {
    fn new(answers: Vec<Option<&'static str>>) -> ScriptedLeader {
        ScriptedLeader {
            asked: Default::default(),
            answers,
        }
    }
}

#[async_trait::async_trait]
impl nemesis::LeaderProbe for ScriptedLeader {
    async fn leader(&self) -> Option<String> {
        let asked = self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = self.answers[asked.min(self.answers.len() - 1)];
        answer.map(str::to_string)
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_fault_waits_a_bounded_time_for_a_leader() {
    let schedule = schedule(vec![event(
        1_000,
        4_000,
        Fault::Pause {
            targets: Targets::leader(),
        },
    )]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let probe = ScriptedLeader::new(vec![None, None, Some("n4")]);
    let stop = CancellationToken::new();
    run_schedule(&schedule, &runtime, &recorder, &probe, &stop)
        .await
        .unwrap();
    // Asked at 1000, 1250 and 1500 ms; the third answer names n4.
    assert_eq!(
        runtime.timed_calls(),
        vec![
            (1_500, Call::Pause(names(&["n4"]))),
            (4_000, Call::Resume(names(&["n4"])))
        ]
    );
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test(start_paused = true)]
async fn the_executor_and_final_phase_can_run_on_any_thread() {
    let schedule = schedule(Vec::new());
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let run = run_schedule(&schedule, &runtime, &recorder, &NoLeaderProbe, &stop);
    assert_send(&run);
    let outcome = run.await.unwrap();
    assert!(!outcome.stopped);
    let mut state = outcome.state;
    let finish = final_phase(&runtime, &recorder, &mut state);
    assert_send(&finish);
    finish.await.unwrap();
    assert!(recorder.ops().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_the_first_fault_applies_nothing() {
    let schedule = schedule(vec![event(1_000, 2_000, halves())]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    stop.cancel();
    let outcome = run_schedule(&schedule, &runtime, &recorder, &NoLeaderProbe, &stop)
        .await
        .unwrap();
    assert!(outcome.stopped);
    assert!(outcome.state.is_clear());
    assert!(runtime.calls().is_empty());
    assert!(recorder.ops().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_fault_too_far_in_the_future_waits_for_the_stop_signal() {
    let far = u64::MAX - 10;
    let schedule = schedule(vec![event(
        far,
        u64::MAX,
        Fault::Kill {
            targets: on(&["n1"]),
        },
    )]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let canceller = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        canceller.cancel();
    });
    let outcome = run_schedule(&schedule, &runtime, &recorder, &NoLeaderProbe, &stop)
        .await
        .unwrap();
    assert!(outcome.stopped);
    assert!(runtime.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cut_leader_clock_jump_hits_the_leader_the_cut_isolated_not_the_new_one() {
    let back = || Fault::ClockJump {
        targets: Targets::cut_leader(),
        delta_ms: -20_000,
    };
    let schedule = schedule(vec![
        event(
            1_000,
            3_000,
            Fault::Partition {
                plan: PartitionPlan::IsolateLeader { leader: None },
            },
        ),
        event(1_300, 3_000, back()),
        // After the heal no cut is in force: nobody to aim at.
        event(4_000, 5_000, back()),
        // Leader-aimed faults still ask who leads now.
        event(
            6_000,
            7_000,
            Fault::Pause {
                targets: Targets::leader(),
            },
        ),
    ]);
    let runtime = FakeRuntime::new();
    let recorder = Recorder::in_memory();
    // n3 leads when the cut starts; the others then elect n1.
    let probe = ScriptedLeader::new(vec![Some("n3"), Some("n1")]);
    let stop = CancellationToken::new();
    let outcome = run_schedule(&schedule, &runtime, &recorder, &probe, &stop)
        .await
        .unwrap();
    assert_eq!(
        brief(&recorder.ops()),
        flat(vec![
            pair(
                F::Partition,
                groups_value(&[&["n1", "n2", "n4", "n5"], &["n3"]])
            ),
            pair(F::Clock, offsets_value(&[("n3", -20_000)])),
            pair(F::Heal, None),
            pair(F::ClockReset, None),
            failed(F::Clock, None, "no isolate-leader partition is in force"),
            pair(F::Pause, nodes_value(&["n1"])),
            pair(F::Resume, nodes_value(&["n1"])),
        ])
    );
    assert_eq!(
        outcome.schedule.events[1].fault,
        back().with_leader("n3"),
        "recorded with the node it hit, so a replay repeats it"
    );
    assert!(outcome.state.is_clear());
}
