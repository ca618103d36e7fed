//! Each partition shape over 3, 5 and 7 nodes gives the reachability, majority and
//! grudge facts its name promises.

use std::collections::BTreeSet;

use nemesis::partition::{Direction, PartitionError, PartitionPlan, Reach, Shape};
use nemesis::targets::majority;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::util::{cluster, names, set};

const SIZES: [usize; 3] = [3, 5, 7];

fn drawn(shape: Shape, n: usize, seed: u64) -> (Vec<String>, PartitionPlan, Reach) {
    let nodes = cluster(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = PartitionPlan::draw(shape, &nodes, &mut rng).expect("enough nodes");
    let reach = plan.reach(&nodes).expect("a drawn plan builds");
    (nodes, plan, reach)
}

/// Every pair in both directions: whether messages flow, and whether the grudge agrees.
fn assert_grudge_matches(reach: &Reach) {
    let grudge = reach.grudge();
    for from in reach.nodes() {
        for to in reach.nodes() {
            let dropped = grudge.drops.get(to).is_some_and(|d| d.contains(from));
            assert_eq!(reach.can_send(from, to), !dropped, "{from} -> {to}");
        }
    }
    assert!(
        grudge.drops.values().all(|d| !d.is_empty()),
        "no empty entries"
    );
}

#[test]
fn healed_reaches_everyone() {
    let nodes = cluster(5);
    let reach = Reach::healed(&nodes);
    assert!(reach.grudge().drops.is_empty());
    assert_eq!(
        reach.components(),
        vec![nodes.iter().cloned().collect::<BTreeSet<_>>()]
    );
    assert_eq!(reach.groups(), Some(vec![nodes.clone()]));
}

#[test]
fn isolate_one_cuts_one_node_from_a_majority() {
    for n in SIZES {
        let (nodes, plan, reach) = drawn(Shape::IsolateOne, n, n as u64);
        let PartitionPlan::IsolateOne { node } = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(reach.sees(node), set(&[node]));
        let rest: BTreeSet<String> = nodes.iter().filter(|m| *m != node).cloned().collect();
        for other in &rest {
            assert_eq!(reach.sees(other), rest);
            assert!(reach.sees_majority(other));
        }
        assert!(!reach.sees_majority(node));
        assert_eq!(reach.majority_component(), Some(rest.clone()));
        assert_eq!(reach.components().len(), 2);
        assert_eq!(reach.grudge().drops[node].len(), n - 1);
        let groups = reach.groups().unwrap();
        assert_eq!(groups.len(), 2, "disjoint groups: {groups:?}");
        assert_eq!(groups[1], vec![node.clone()]);
        assert_grudge_matches(&reach);
    }
}

#[test]
fn isolate_leader_waits_for_its_leader_then_isolates_it() {
    let nodes = cluster(5);
    let plan = PartitionPlan::IsolateLeader { leader: None };
    assert!(plan.needs_leader());
    assert_eq!(
        plan.reach(&nodes).unwrap_err(),
        PartitionError::LeaderUnresolved {
            shape: "isolate-leader"
        }
    );
    let plan = PartitionPlan::IsolateLeader {
        leader: Some("n3".into()),
    };
    let reach = plan.reach(&nodes).unwrap();
    assert_eq!(reach.sees("n3"), set(&["n3"]));
    assert_eq!(
        reach.majority_component(),
        Some(set(&["n1", "n2", "n4", "n5"]))
    );
    let unknown = PartitionPlan::IsolateLeader {
        leader: Some("n9".into()),
    };
    assert!(matches!(
        unknown.reach(&nodes),
        Err(PartitionError::UnknownNode { .. })
    ));
}

#[test]
fn halves_leave_the_larger_half_a_majority() {
    for n in SIZES {
        let (nodes, plan, reach) = drawn(Shape::Halves, n, 7);
        let PartitionPlan::Halves { small, large } = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!((small.len(), large.len()), (n / 2, n - n / 2));
        let large_set: BTreeSet<String> = large.iter().cloned().collect();
        let small_set: BTreeSet<String> = small.iter().cloned().collect();
        for node in &nodes {
            let expected = if large_set.contains(node) {
                &large_set
            } else {
                &small_set
            };
            assert_eq!(&reach.sees(node), expected, "{node}");
            assert_eq!(reach.sees_majority(node), large_set.contains(node));
        }
        assert_eq!(reach.majority_component(), Some(large_set));
        assert_eq!(reach.components().len(), 2);
        assert_eq!(reach.groups().unwrap(), vec![large.clone(), small.clone()]);
        assert_grudge_matches(&reach);
    }
}

#[test]
fn even_halves_leave_no_majority() {
    let (_, _, reach) = drawn(Shape::Halves, 4, 1);
    assert_eq!(reach.components().len(), 2);
    assert_eq!(reach.majority_component(), None);
    assert!(cluster(4).iter().all(|n| !reach.sees_majority(n)));
}

#[test]
fn majorities_ring_gives_every_node_a_different_majority() {
    for n in [3, 4, 5, 6, 7, 9] {
        for seed in 0..4 {
            let (nodes, _, reach) = drawn(Shape::MajoritiesRing, n, seed);
            let views: Vec<BTreeSet<String>> = nodes.iter().map(|m| reach.sees(m)).collect();
            for (node, view) in nodes.iter().zip(&views) {
                assert!(view.len() >= majority(n), "n={n}: {node} sees {view:?}");
                // Three nodes form a line whose middle sees both ends.
                assert!(n == 3 || view.len() < n, "n={n}: {node} sees everyone");
            }
            let distinct: BTreeSet<&BTreeSet<String>> = views.iter().collect();
            assert_eq!(
                distinct.len(),
                n,
                "n={n}: two nodes share a view: {views:?}"
            );
            assert!(reach.is_symmetric());
            assert_grudge_matches(&reach);
        }
    }
}

#[test]
fn majorities_ring_of_five_is_jepsens() {
    let nodes = cluster(5);
    let plan = PartitionPlan::MajoritiesRing {
        ring: names(&["n1", "n3", "n5", "n2", "n4"]),
    };
    let reach = plan.reach(&nodes).unwrap();
    assert_eq!(reach.sees("n1"), set(&["n4", "n1", "n3"]));
    assert_eq!(reach.sees("n5"), set(&["n3", "n5", "n2"]));
    assert_eq!(reach.grudge().drops["n1"], set(&["n2", "n5"]));
    // Every pair that sees each other is a group of its own: no three see one another.
    let groups = reach.groups().unwrap();
    assert_eq!(groups.len(), 5);
    assert!(groups.iter().all(|g| g.len() == 2));
}

#[test]
fn bridge_joins_two_halves_through_one_node() {
    for n in SIZES {
        let (nodes, plan, reach) = drawn(Shape::Bridge, n, 11);
        let PartitionPlan::Bridge {
            left,
            bridge,
            right,
        } = &plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!(left.len() + right.len() + 1, n);
        assert_eq!(left.len(), right.len(), "odd clusters split evenly");
        let everyone: BTreeSet<String> = nodes.iter().cloned().collect();
        assert_eq!(reach.sees(bridge), everyone);
        for (side, other) in [(left, right), (right, left)] {
            let mut expected: BTreeSet<String> = side.iter().cloned().collect();
            expected.insert(bridge.clone());
            assert!(
                expected.len() >= majority(n),
                "each half with the bridge is a majority"
            );
            for node in side {
                assert_eq!(reach.sees(node), expected);
                for far in other {
                    assert!(!reach.can_send(node, far));
                }
            }
        }
        let groups = reach.groups().unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| g.contains(bridge)));
        assert_eq!(reach.components().len(), 1);
        assert_grudge_matches(&reach);
    }
}

#[test]
fn one_way_cuts_only_one_direction() {
    for n in SIZES {
        let nodes = cluster(n);
        for direction in [Direction::Outbound, Direction::Inbound] {
            let plan = PartitionPlan::OneWay {
                node: "n2".into(),
                direction,
            };
            let reach = plan.reach(&nodes).unwrap();
            assert!(!reach.is_symmetric());
            assert_eq!(reach.groups(), None);
            for other in nodes.iter().filter(|m| *m != "n2") {
                let out = reach.can_send("n2", other);
                let inb = reach.can_send(other, "n2");
                assert_eq!(
                    (out, inb),
                    (
                        direction == Direction::Inbound,
                        direction == Direction::Outbound
                    )
                );
            }
            assert_eq!(reach.sees("n2"), set(&["n2"]));
            let rest: BTreeSet<String> = nodes.iter().filter(|m| *m != "n2").cloned().collect();
            assert_eq!(reach.majority_component(), Some(rest));
            let grudge = reach.grudge();
            match direction {
                // Everyone else drops what n2 sends.
                Direction::Outbound => {
                    assert_eq!(grudge.drops.len(), n - 1);
                    assert!(grudge.drops.values().all(|d| *d == set(&["n2"])));
                }
                // n2 drops what everyone else sends.
                Direction::Inbound => {
                    assert_eq!(grudge.drops.len(), 1);
                    assert_eq!(grudge.drops["n2"].len(), n - 1);
                }
            }
            assert_grudge_matches(&reach);
        }
    }
}

#[test]
fn plans_that_misplace_nodes_are_refused() {
    let nodes = cluster(5);
    let twice = PartitionPlan::Halves {
        small: names(&["n1", "n2"]),
        large: names(&["n2", "n3", "n4", "n5"]),
    };
    let err = twice.reach(&nodes).unwrap_err();
    assert!(err.to_string().contains("n2 is placed twice"), "{err}");
    let missing = PartitionPlan::Halves {
        small: names(&["n1"]),
        large: names(&["n3", "n4", "n5"]),
    };
    let err = missing.reach(&nodes).unwrap_err();
    assert!(err.to_string().contains("n2 is not placed"), "{err}");
    let stranger = PartitionPlan::IsolateOne { node: "n7".into() };
    assert!(stranger
        .reach(&nodes)
        .unwrap_err()
        .to_string()
        .contains("n7"));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(matches!(
        PartitionPlan::draw(Shape::Bridge, &cluster(2), &mut rng),
        Err(PartitionError::TooFewNodes { min: 3, n: 2, .. })
    ));
    let small = PartitionPlan::MajoritiesRing {
        ring: names(&["n1", "n2"]),
    };
    assert!(matches!(
        small.reach(&cluster(2)),
        Err(PartitionError::TooFewNodes { min: 3, n: 2, .. })
    ));
}

#[test]
fn isolate_follower_cuts_off_a_node_that_does_not_lead() {
    let nodes = cluster(3);
    let plan = PartitionPlan::IsolateFollower {
        pick: 1,
        leader: None,
    };
    assert!(plan.needs_leader());
    assert!(matches!(
        plan.reach(&nodes),
        Err(PartitionError::LeaderUnresolved { .. })
    ));
    // The pick counts the nodes other than the leader, in cluster order, modulo their
    // number: with n2 leading, pick 1 is n3 and pick 2 wraps to n1.
    for (pick, cut) in [(0, "n1"), (1, "n3"), (2, "n1"), (5, "n3")] {
        let plan = PartitionPlan::IsolateFollower { pick, leader: None }.with_leader("n2");
        assert!(!plan.needs_leader());
        let reach = plan.reach(&nodes).unwrap();
        assert_eq!(reach.sees(cut), set(&[cut]), "pick {pick}");
        assert!(reach.sees("n2").contains("n2") && !reach.sees("n2").contains(cut));
        assert_grudge_matches(&reach);
    }
    // Whatever the draw, the leader is never the one cut off.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..200 {
        let plan = PartitionPlan::draw(Shape::IsolateFollower, &nodes, &mut rng)
            .unwrap()
            .with_leader("n1");
        let reach = plan.reach(&nodes).unwrap();
        assert_eq!(
            reach.majority_component().map(|m| m.contains("n1")),
            Some(true)
        );
    }
}
