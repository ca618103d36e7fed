//! Before the test starts: a schedule needing a fault the runtime cannot inject is refused,
//! quoting the runtime's reason for each, never skipped.

use std::collections::BTreeMap;

use checkers::recorder::Recorder;
use nemesis::names::parse_nemeses;
use nemesis::runtime::{Capabilities, FaultKind};
use nemesis::schedule::{Schedule, ScheduleError, ScheduleSpec};
use nemesis::{run_schedule, NoLeaderProbe, RunError};
use tokio_util::sync::CancellationToken;

use crate::util::{cluster, FakeRuntime};

const GO_CLOCK: &str = "etcd is a Go binary; libfaketime cannot move its clock";

fn schedule(kinds: &str) -> Schedule {
    let spec = ScheduleSpec::new(
        8,
        cluster(3),
        120_000,
        10_000,
        5_000,
        parse_nemeses(kinds).unwrap(),
    );
    Schedule::generate(&spec).unwrap()
}

fn caps(supported: &[FaultKind], refused: &[(FaultKind, &str)]) -> Capabilities {
    Capabilities {
        supported: supported.iter().copied().collect(),
        refused: refused
            .iter()
            .map(|(k, r)| (*k, r.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn required_kinds_follow_the_mix() {
    let kinds: Vec<FaultKind> = schedule("partition,clock")
        .required_kinds()
        .into_iter()
        .collect();
    assert_eq!(kinds, vec![FaultKind::Partition, FaultKind::Clock]);
}

#[test]
fn a_supported_schedule_passes() {
    let caps = caps(&FaultKind::ALL, &[]);
    schedule("all").check_capabilities(&caps).unwrap();
}

#[test]
fn an_unsupported_kind_is_refused_with_the_runtimes_reason() {
    let caps = caps(
        &[FaultKind::Partition, FaultKind::Pause, FaultKind::Kill],
        &[(FaultKind::Clock, GO_CLOCK)],
    );
    schedule("partition,kill")
        .check_capabilities(&caps)
        .unwrap();
    let err = schedule("partition,clock")
        .check_capabilities(&caps)
        .unwrap_err();
    let ScheduleError::Unsupported { refusals } = &err else {
        panic!("{err}")
    };
    assert_eq!(refusals, &vec![(FaultKind::Clock, GO_CLOCK.to_string())]);
    assert!(
        err.to_string().contains(&format!("clock: {GO_CLOCK}")),
        "{err}"
    );
}

#[test]
fn every_unsupported_kind_is_named_even_without_a_reason() {
    let caps = caps(&[FaultKind::Partition], &[(FaultKind::Clock, GO_CLOCK)]);
    let err = schedule("all")
        .check_capabilities(&caps)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("clock: {GO_CLOCK}")), "{err}");
    assert!(
        err.contains("pause: the runtime does not offer it"),
        "{err}"
    );
    assert!(err.contains("kill: the runtime does not offer it"), "{err}");
    assert!(!err.contains("partition:"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_executor_refuses_too_before_touching_anything() {
    let mut runtime = FakeRuntime::new();
    runtime.caps = caps(
        &[FaultKind::Partition, FaultKind::Pause, FaultKind::Kill],
        &[(FaultKind::Clock, GO_CLOCK)],
    );
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let err = run_schedule(
        &schedule("clock"),
        &runtime,
        &recorder,
        &NoLeaderProbe,
        &stop,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RunError::Invalid(ScheduleError::Unsupported { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(GO_CLOCK));
    assert!(runtime.calls().is_empty());
    assert!(recorder.ops().is_empty());
}
