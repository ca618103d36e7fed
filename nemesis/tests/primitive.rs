//! The rules the executor and a simulator share: which call each step makes, how it is
//! recorded, and what it puts in force or takes out.

use checkers::history::F;
use nemesis::fault::Fault;
use nemesis::partition::PartitionPlan;
use nemesis::primitive::{FaultState, Primitive, StepError};
use nemesis::schedule::Action;
use nemesis::targets::Targets;

use crate::util::{cluster, names, nodes_value, offsets_value, set};

fn on(nodes: &[&str]) -> Targets {
    Targets::nodes(names(nodes))
}

fn step(fault: &Fault, action: Action) -> Option<Primitive> {
    Primitive::for_step(fault, action, &cluster(5)).unwrap()
}

#[test]
fn each_fault_starts_and_heals_with_its_pair_of_calls() {
    let kill = Fault::Kill {
        targets: on(&["n2"]),
    };
    assert_eq!(
        step(&kill, Action::Apply),
        Some(Primitive::Kill {
            nodes: names(&["n2"])
        })
    );
    assert_eq!(
        step(&kill, Action::Heal),
        Some(Primitive::Start {
            nodes: names(&["n2"])
        })
    );
    assert_eq!(step(&kill, Action::Flip { flip: 1 }), None);
    let pause = Fault::Pause {
        targets: on(&["n1", "n3"]),
    };
    assert_eq!(
        step(&pause, Action::Heal),
        Some(Primitive::Resume {
            nodes: names(&["n1", "n3"])
        })
    );
    let jump = Fault::ClockJump {
        targets: on(&["n4"]),
        delta_ms: -250,
    };
    let Some(apply) = step(&jump, Action::Apply) else {
        panic!()
    };
    assert_eq!(
        (apply.f(), apply.value()),
        (F::Clock, offsets_value(&[("n4", -250)]))
    );
    assert_eq!(step(&jump, Action::Heal), Some(Primitive::ClockReset));
    let isolate = Fault::Partition {
        plan: PartitionPlan::IsolateOne { node: "n5".into() },
    };
    let Some(Primitive::Partition { grudge, groups }) = step(&isolate, Action::Apply) else {
        panic!()
    };
    assert_eq!(grudge.drops["n5"], set(&["n1", "n2", "n3", "n4"]));
    assert_eq!(
        groups,
        Some(vec![names(&["n1", "n2", "n3", "n4"]), names(&["n5"])])
    );
    assert_eq!(step(&isolate, Action::Heal), Some(Primitive::Heal));
}

#[test]
fn strobe_flips_alternate_between_its_offsets() {
    let strobe = Fault::ClockStrobe {
        targets: on(&["n1"]),
        offsets_ms: [300, -300],
        period_ms: 50,
    };
    let offset = |action| match step(&strobe, action) {
        Some(Primitive::Clock { offsets_ms }) => offsets_ms["n1"],
        other => panic!("{other:?}"),
    };
    assert_eq!(offset(Action::Apply), 300);
    assert_eq!(offset(Action::Flip { flip: 1 }), -300);
    assert_eq!(offset(Action::Flip { flip: 2 }), 300);
    assert_eq!(offset(Action::Flip { flip: 7 }), -300);
}

#[test]
fn an_unresolved_leader_has_no_primitive() {
    let pause = Fault::Pause {
        targets: Targets::leader(),
    };
    let err = Primitive::for_step(&pause, Action::Apply, &cluster(3)).unwrap_err();
    assert_eq!(err, StepError::LeaderUnresolved);
    let resolved = pause.with_leader("n3");
    assert_eq!(
        Primitive::for_step(&resolved, Action::Apply, &cluster(3)).unwrap(),
        Some(Primitive::Pause {
            nodes: names(&["n3"])
        })
    );
    let bad = Fault::Partition {
        plan: PartitionPlan::IsolateOne { node: "n8".into() },
    };
    assert!(matches!(
        Primitive::for_step(&bad, Action::Apply, &cluster(3)),
        Err(StepError::Partition(_))
    ));
}

#[test]
fn the_state_marks_at_the_start_and_clears_only_on_a_successful_undo() {
    let mut state = FaultState::default();
    let kill = Primitive::Kill {
        nodes: names(&["n1", "n2"]),
    };
    state.starting(&kill);
    state.succeeded(&kill);
    assert_eq!(state.killed, set(&["n1", "n2"]));
    state.starting(&Primitive::Pause {
        nodes: names(&["n3"]),
    });
    state.starting(&Primitive::Clock {
        offsets_ms: [("n4".to_string(), 9)].into(),
    });
    assert_eq!(
        state.undo(),
        vec![
            Primitive::Resume {
                nodes: names(&["n3"])
            },
            Primitive::Start {
                nodes: names(&["n1", "n2"])
            },
            Primitive::ClockReset,
        ]
    );
    // A start of one node leaves the other killed.
    state.succeeded(&Primitive::Start {
        nodes: names(&["n1"]),
    });
    assert_eq!(state.killed, set(&["n2"]));
    for undo in state.undo() {
        state.succeeded(&undo);
    }
    assert!(state.is_clear());
    assert!(state.undo().is_empty());
}

#[test]
fn primitives_describe_themselves_for_messages() {
    assert_eq!(
        Primitive::Resume {
            nodes: names(&["n2", "n4"])
        }
        .describe(),
        "resume n2 n4"
    );
    assert_eq!(Primitive::Heal.describe(), "heal");
    assert_eq!(Primitive::ClockReset.value(), None);
    assert_eq!(
        Primitive::Start {
            nodes: names(&["n1"])
        }
        .value(),
        nodes_value(&["n1"])
    );
}
