//! Packet faults: their names, how they are drawn, checked, recorded and undone.

use checkers::history::F;
use checkers::recorder::Recorder;
use nemesis::fault::Fault;
use nemesis::names::{parse_nemeses, NemesisKind};
use nemesis::packet::{self, links, Link, LinkSide, PacketKind, PacketParams, PacketShape};
use nemesis::primitive::Primitive;
use nemesis::schedule::{Action, Event, Schedule, ScheduleSpec};
use nemesis::targets::{Selector, Targets};
use nemesis::{final_phase, run_schedule, FaultKind, FaultState};
use tokio_util::sync::CancellationToken;

use crate::util::{cluster, names, Call, FakeRuntime, FixedLeader};

fn link(from: &str, to: &str) -> Link {
    Link {
        from: from.into(),
        to: to.into(),
    }
}

#[test]
fn packet_names_parse_and_the_group_is_every_packet_kind_within_all() {
    let group = parse_nemeses("packet").unwrap();
    assert_eq!(
        group,
        PacketKind::ALL.map(NemesisKind::Packet).to_vec(),
        "the group is the five kinds, in canonical order"
    );
    assert_eq!(
        parse_nemeses("packet-reorder").unwrap(),
        vec![NemesisKind::Packet(PacketKind::Reorder)]
    );
    for kind in PacketKind::ALL {
        let name = format!("packet-{}", kind.name());
        assert_eq!(name.parse::<NemesisKind>().unwrap().name(), name);
        assert_eq!(NemesisKind::Packet(kind).fault_kind(), FaultKind::Packet);
    }
    let all = parse_nemeses("all").unwrap();
    assert!(group.iter().all(|k| all.contains(k)));
    assert!(parse_nemeses("packet-jitter").is_err());
}

#[test]
fn links_cover_the_targets_side_and_nothing_else() {
    let c = cluster(3);
    let n1 = names(&["n1"]);
    assert_eq!(
        links(&c, &n1, LinkSide::Outbound),
        vec![link("n1", "n2"), link("n1", "n3")]
    );
    assert_eq!(
        links(&c, &n1, LinkSide::Inbound),
        vec![link("n2", "n1"), link("n3", "n1")]
    );
    assert_eq!(links(&c, &n1, LinkSide::Both).len(), 4);
    // Every node a target: every directed link, whichever side.
    assert_eq!(links(&c, &c, LinkSide::Outbound).len(), 6);
    assert_eq!(links(&c, &c, LinkSide::Both).len(), 6);
}

fn drawn(seed: u64, nemesis: &str) -> Schedule {
    let spec = ScheduleSpec::new(
        seed,
        cluster(5),
        600_000,
        5_000,
        3_000,
        parse_nemeses(nemesis).unwrap(),
    );
    Schedule::generate(&spec).unwrap()
}

#[test]
fn drawn_packet_faults_stay_within_their_ranges_and_the_cluster() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let schedule = drawn(seed, "packet");
        assert!(!schedule.events.is_empty());
        let mut last_heal = 0;
        for e in &schedule.events {
            let Fault::Packet {
                params,
                targets,
                side,
            } = &e.fault
            else {
                panic!("a packet schedule drew {:?}", e.fault);
            };
            assert!(e.at_ms >= last_heal, "packet faults never overlap");
            last_heal = e.heal_at_ms;
            seen.insert(params.kind());
            assert!(packet::PACKET_SELECTORS.contains(&targets.select));
            if targets.select == Selector::All {
                assert_eq!(*side, LinkSide::Both);
            }
            if let Some(nodes) = targets.resolved() {
                assert!(nodes.iter().all(|n| schedule.nodes.contains(n)));
            }
            let within = |v: u64, (lo, hi): (u64, u64)| (lo..=hi).contains(&v);
            let pct = |v: u32, (lo, hi): (u32, u32)| (lo..=hi).contains(&v);
            let ok = match *params {
                PacketParams::Delay {
                    delay_ms,
                    jitter_ms,
                } => within(delay_ms, packet::DELAY_MS_RANGE) && jitter_ms <= delay_ms,
                PacketParams::Loss { percent } => pct(percent, packet::LOSS_PERCENT_RANGE),
                PacketParams::Duplicate { percent } => {
                    pct(percent, packet::DUPLICATE_PERCENT_RANGE)
                }
                PacketParams::Reorder { percent, hold_ms } => {
                    pct(percent, packet::REORDER_PERCENT_RANGE)
                        && within(hold_ms, packet::REORDER_HOLD_MS_RANGE)
                }
                PacketParams::Bandwidth { rate_kbit } => within(rate_kbit, packet::RATE_KBIT_RANGE),
            };
            assert!(ok, "{params:?} is outside its drawn range");
            assert!(e.fault.describe().starts_with("packet "));
        }
    }
    assert_eq!(seen.len(), PacketKind::ALL.len(), "every kind is drawn");
}

#[test]
fn packet_faults_overlap_other_classes_but_not_one_another() {
    let fault = |nodes: &[&str]| Fault::Packet {
        params: PacketParams::Loss { percent: 20 },
        targets: Targets::nodes(names(nodes)),
        side: LinkSide::Both,
    };
    let ev = |at_ms, heal_at_ms, fault| Event {
        at_ms,
        fault,
        heal_at_ms,
    };
    let mut schedule = drawn(0, "none");
    schedule.events = vec![
        ev(1_000, 5_000, fault(&["n1"])),
        ev(
            2_000,
            3_000,
            Fault::Pause {
                targets: Targets::nodes(names(&["n2"])),
            },
        ),
    ];
    schedule.check().unwrap();
    schedule.events.push(ev(4_000, 6_000, fault(&["n2"])));
    let err = schedule.check().unwrap_err().to_string();
    assert!(err.contains("overlaps"), "{err}");
}

#[test]
fn hand_written_packet_parameters_are_checked() {
    let mut schedule = drawn(0, "none");
    let with = |params| Event {
        at_ms: 1_000,
        fault: Fault::Packet {
            params,
            targets: Targets::nodes(names(&["n1"])),
            side: LinkSide::Outbound,
        },
        heal_at_ms: 2_000,
    };
    // A whole loss is beyond the drawn range but can be carried out.
    schedule.events = vec![with(PacketParams::Loss { percent: 100 })];
    schedule.check().unwrap();
    for (params, says) in [
        (PacketParams::Loss { percent: 0 }, "1..=100"),
        (PacketParams::Duplicate { percent: 101 }, "1..=100"),
        (
            PacketParams::Delay {
                delay_ms: 60_000,
                jitter_ms: 0,
            },
            "above",
        ),
        (
            PacketParams::Reorder {
                percent: 10,
                hold_ms: 0,
            },
            "reorders nothing",
        ),
        (PacketParams::Bandwidth { rate_kbit: 1 }, "below"),
    ] {
        schedule.events = vec![with(params)];
        let err = schedule.check().unwrap_err().to_string();
        assert!(err.contains(says), "{params:?}: {err}");
    }
    schedule.events = vec![Event {
        at_ms: 1_000,
        fault: Fault::Packet {
            params: PacketParams::Loss { percent: 10 },
            targets: Targets::nodes(names(&["n9"])),
            side: LinkSide::Both,
        },
        heal_at_ms: 2_000,
    }];
    assert!(schedule.check().unwrap_err().to_string().contains("n9"));
}

#[test]
fn a_packet_schedule_round_trips_through_json() {
    let schedule = drawn(7, "packet,partition");
    assert!(schedule
        .events
        .iter()
        .any(|e| matches!(e.fault, Fault::Packet { .. })));
    let json = schedule.to_json();
    assert!(json.contains(r#""kind":"packet""#), "{json}");
    assert_eq!(Schedule::from_json(&json).unwrap(), schedule);
}

#[test]
fn a_packet_fault_calls_its_links_and_is_recorded_with_them() {
    let fault = Fault::Packet {
        params: PacketParams::Delay {
            delay_ms: 100,
            jitter_ms: 10,
        },
        targets: Targets::nodes(names(&["n2"])),
        side: LinkSide::Inbound,
    };
    let c = cluster(3);
    let apply = Primitive::for_step(&fault, Action::Apply, &c)
        .unwrap()
        .unwrap();
    let shape = PacketShape {
        params: PacketParams::Delay {
            delay_ms: 100,
            jitter_ms: 10,
        },
        links: vec![link("n1", "n2"), link("n3", "n2")],
    };
    assert_eq!(
        apply,
        Primitive::Packet {
            shape: shape.clone(),
            nodes: names(&["n2"]),
        }
    );
    assert_eq!(apply.f(), F::Packet);
    let value = apply.value().unwrap();
    assert_eq!(
        value.links,
        Some(vec![names(&["n1", "n2"]), names(&["n3", "n2"])])
    );
    assert_eq!(value.packet.unwrap()["delay_ms"], 100);
    assert_eq!(
        value.nodes,
        Some(names(&["n2"])),
        "the targets, for the history"
    );
    let heal = Primitive::for_step(&fault, Action::Heal, &c)
        .unwrap()
        .unwrap();
    assert_eq!(heal, Primitive::PacketHeal);
    assert_eq!(heal.f(), F::PacketHeal);
    let mut state = FaultState::default();
    state.starting(&apply);
    assert_eq!(state.undo(), vec![Primitive::PacketHeal]);
    state.starting(&heal);
    state.succeeded(&heal);
    assert!(state.is_clear());
}

#[tokio::test(start_paused = true)]
async fn a_leader_aimed_packet_fault_shapes_the_leader_s_links_and_the_final_phase_undoes_it() {
    let mut schedule = drawn(0, "none");
    schedule.events = vec![Event {
        at_ms: 1_000,
        fault: Fault::Packet {
            params: PacketParams::Loss { percent: 30 },
            targets: Targets::leader(),
            side: LinkSide::Outbound,
        },
        heal_at_ms: 50_000,
    }];
    schedule.check().unwrap();
    let runtime = FakeRuntime::new().fail("packet-heal", 1);
    let recorder = Recorder::in_memory();
    let stop = CancellationToken::new();
    let outcome = run_schedule(&schedule, &runtime, &recorder, &FixedLeader("n3"), &stop)
        .await
        .unwrap();
    let expected = PacketShape {
        params: PacketParams::Loss { percent: 30 },
        links: ["n1", "n2", "n4", "n5"]
            .iter()
            .map(|to| link("n3", to))
            .collect(),
    };
    assert_eq!(
        runtime.calls(),
        vec![Call::Packet(expected.clone()), Call::PacketHeal]
    );
    assert!(outcome.schedule.events[0]
        .fault
        .describe()
        .contains("leader (n3)"));
    // The heal failed: the fault may still hold, and the final phase heals it.
    let mut state = outcome.state;
    assert_eq!(state.packet, Some(expected));
    final_phase(&runtime, &recorder, &mut state).await.unwrap();
    assert!(state.is_clear());
    assert_eq!(runtime.calls().last(), Some(&Call::PacketHeal));
    let fs: Vec<F> = recorder.ops().iter().map(|o| o.f).collect();
    assert_eq!(
        fs,
        vec![
            F::Packet,
            F::Packet,
            F::PacketHeal,
            F::PacketHeal,
            F::PacketHeal,
            F::PacketHeal
        ]
    );
}

#[test]
fn packet_faults_describe_what_they_do_and_to_whom() {
    let fault = |params, targets, side| Fault::Packet {
        params,
        targets,
        side,
    };
    let cases = [
        (
            fault(
                PacketParams::Delay {
                    delay_ms: 120,
                    jitter_ms: 30,
                },
                Targets::nodes(names(&["n2"])),
                LinkSide::Inbound,
            ),
            "packet delay 120 ms ± 30 ms into [n2]",
        ),
        (
            fault(
                PacketParams::Loss { percent: 20 },
                Targets::leader(),
                LinkSide::Outbound,
            ),
            "packet loss 20 % out of leader",
        ),
        (
            fault(
                PacketParams::Reorder {
                    percent: 30,
                    hold_ms: 80,
                },
                Targets::nodes(names(&["n1", "n3"])),
                LinkSide::Both,
            ),
            "packet reorder 30 % held 80 ms to and from [n1 n3]",
        ),
        (
            fault(
                PacketParams::Bandwidth { rate_kbit: 256 },
                Targets::leader(),
                LinkSide::Both,
            )
            .with_leader("n3"),
            "packet bandwidth 256 kbit/s to and from leader (n3)",
        ),
    ];
    for (fault, says) in cases {
        assert_eq!(fault.describe(), says);
    }
    let dup = fault(
        PacketParams::Duplicate { percent: 5 },
        Targets::nodes(names(&["n1"])),
        LinkSide::Outbound,
    );
    assert_eq!(dup.describe(), "packet duplicate 5 % out of [n1]");
}
