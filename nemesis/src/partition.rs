//! Partition shapes: each is drawn into a concrete plan, and a plan becomes a graph of who
//! can still reach whom, from which the majority side and the grudge are read.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::{maximal_cliques, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex, UnGraph};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::runtime::Grudge;
use crate::targets::majority;

/// The partition shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One random node cut off from the rest.
    IsolateOne,
    /// Whoever leads when the fault starts, cut off from the rest.
    IsolateLeader,
    /// A node that does not lead when the fault starts, cut off from the rest: it falls
    /// behind while the others commit, the setting for a stale node's candidacy.
    IsolateFollower,
    /// Two sides: `n / 2` nodes and the rest.
    Halves,
    /// Jepsen's: every node sees a majority, and no two nodes see the same one.
    MajoritiesRing,
    /// Two halves that cannot reach each other, and one node that reaches both.
    Bridge,
    /// One node whose outbound or inbound direction alone is cut.
    OneWay,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::IsolateOne,
        Shape::IsolateLeader,
        Shape::IsolateFollower,
        Shape::Halves,
        Shape::MajoritiesRing,
        Shape::Bridge,
        Shape::OneWay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::IsolateOne => "isolate-one",
            Shape::IsolateLeader => "isolate-leader",
            Shape::IsolateFollower => "isolate-follower",
            Shape::Halves => "halves",
            Shape::MajoritiesRing => "majorities-ring",
            Shape::Bridge => "bridge",
            Shape::OneWay => "one-way",
        }
    }

    /// The fewest nodes the shape can be drawn on.
    pub fn min_nodes(self) -> usize {
        match self {
            Shape::MajoritiesRing | Shape::Bridge => 3,
            _ => 2,
        }
    }
}

/// Which direction of a node's traffic a one-way partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// What the node sends is lost; it still hears everyone.
    Outbound,
    /// What is sent to the node is lost; everyone still hears it.
    Inbound,
}

/// A partition with every random choice made. Only `IsolateLeader` and
/// `IsolateFollower` may still lack the leader, which the executor fills in when the
/// fault starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "kebab-case")]
pub enum PartitionPlan {
    IsolateOne {
        node: String,
    },
    IsolateLeader {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// Cuts off the `pick`-th (modulo their number) of the nodes other than the leader,
    /// in cluster order: drawn with the schedule, resolved when the fault starts.
    IsolateFollower {
        pick: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    Halves {
        small: Vec<String>,
        large: Vec<String>,
    },
    /// `ring` is the order around the ring; neighbours within a majority's reach see
    /// each other.
    MajoritiesRing {
        ring: Vec<String>,
    },
    Bridge {
        left: Vec<String>,
        bridge: String,
        right: Vec<String>,
    },
    OneWay {
        node: String,
        direction: Direction,
    },
}

/// Why a plan cannot be turned into a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("partition {shape} needs at least {min} nodes, the cluster has {n}")]
    TooFewNodes {
        shape: &'static str,
        min: usize,
        n: usize,
    },
    #[error("partition {shape} has no leader yet")]
    LeaderUnresolved { shape: &'static str },
    #[error("partition {shape} names {node}, which is not a node of the cluster")]
    UnknownNode { shape: &'static str, node: String },
    #[error("partition {shape} must place every node exactly once: {detail}")]
    NotACover { shape: &'static str, detail: String },
}

impl PartitionPlan {
    /// Draw a plan of `shape` over `cluster`, shuffling with `rng`.
    pub fn draw<R: Rng + ?Sized>(
        shape: Shape,
        cluster: &[String],
        rng: &mut R,
    ) -> Result<PartitionPlan, PartitionError> {
        let n = cluster.len();
        if n < shape.min_nodes() {
            return Err(PartitionError::TooFewNodes {
                shape: shape.name(),
                min: shape.min_nodes(),
                n,
            });
        }
        let mut order = cluster.to_vec();
        order.shuffle(rng);
        let plan = match shape {
            Shape::IsolateOne => PartitionPlan::IsolateOne {
                node: order[0].clone(),
            },
            Shape::IsolateLeader => PartitionPlan::IsolateLeader { leader: None },
            Shape::IsolateFollower => PartitionPlan::IsolateFollower {
                pick: rng.random_range(0..n as u64 - 1),
                leader: None,
            },
            Shape::Halves => {
                let large = order.split_off(n / 2);
                PartitionPlan::Halves {
                    small: sorted(order),
                    large: sorted(large),
                }
            }
            Shape::MajoritiesRing => PartitionPlan::MajoritiesRing { ring: order },
            Shape::Bridge => {
                let right = order.split_off((n - 1) / 2 + 1);
                let bridge = order.pop().expect("bridge drawn on at least three nodes");
                PartitionPlan::Bridge {
                    left: sorted(order),
                    bridge,
                    right: sorted(right),
                }
            }
            Shape::OneWay => PartitionPlan::OneWay {
                node: order[0].clone(),
                direction: if rng.random_bool(0.5) {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                },
            },
        };
        Ok(plan)
    }

    pub fn shape(&self) -> Shape {
        match self {
            PartitionPlan::IsolateOne { .. } => Shape::IsolateOne,
            PartitionPlan::IsolateLeader { .. } => Shape::IsolateLeader,
            PartitionPlan::IsolateFollower { .. } => Shape::IsolateFollower,
            PartitionPlan::Halves { .. } => Shape::Halves,
            PartitionPlan::MajoritiesRing { .. } => Shape::MajoritiesRing,
            PartitionPlan::Bridge { .. } => Shape::Bridge,
            PartitionPlan::OneWay { .. } => Shape::OneWay,
        }
    }

    /// Whether the plan still waits for the leader.
    pub fn needs_leader(&self) -> bool {
        matches!(
            self,
            PartitionPlan::IsolateLeader { leader: None }
                | PartitionPlan::IsolateFollower { leader: None, .. }
        )
    }

    /// This plan with `leader` filled in where it waits for the leader.
    pub fn with_leader(&self, leader: &str) -> PartitionPlan {
        let mut plan = self.clone();
        if let PartitionPlan::IsolateLeader {
            leader: slot @ None,
        }
        | PartitionPlan::IsolateFollower {
            leader: slot @ None,
            ..
        } = &mut plan
        {
            *slot = Some(leader.to_string());
        }
        plan
    }

    /// A short human form: `halves [n1 n2] | [n3 n4 n5]`.
    pub fn describe(&self) -> String {
        match self {
            PartitionPlan::IsolateOne { node } => format!("isolate-one {node}"),
            PartitionPlan::IsolateLeader { leader: None } => "isolate-leader".to_string(),
            PartitionPlan::IsolateLeader { leader: Some(l) } => format!("isolate-leader ({l})"),
            PartitionPlan::IsolateFollower { pick, leader: None } => {
                format!("isolate-follower (pick {pick})")
            }
            PartitionPlan::IsolateFollower {
                pick,
                leader: Some(l),
            } => format!("isolate-follower (pick {pick}, leader {l})"),
            PartitionPlan::Halves { small, large } => {
                format!("halves [{}] | [{}]", small.join(" "), large.join(" "))
            }
            PartitionPlan::MajoritiesRing { ring } => {
                format!("majorities-ring {}", ring.join(" - "))
            }
            PartitionPlan::Bridge {
                left,
                bridge,
                right,
            } => format!(
                "bridge [{}] <- {bridge} -> [{}]",
                left.join(" "),
                right.join(" ")
            ),
            PartitionPlan::OneWay { node, direction } => {
                let dir = match direction {
                    Direction::Outbound => "outbound",
                    Direction::Inbound => "inbound",
                };
                format!("one-way {node} {dir} cut")
            }
        }
    }

    /// The graph of who can reach whom over `cluster` under this plan.
    pub fn reach(&self, cluster: &[String]) -> Result<Reach, PartitionError> {
        let shape = self.shape().name();
        let n = cluster.len();
        if n < self.shape().min_nodes() {
            return Err(PartitionError::TooFewNodes {
                shape,
                min: self.shape().min_nodes(),
                n,
            });
        }
        let index = |node: &str| -> Result<usize, PartitionError> {
            cluster
                .iter()
                .position(|c| c == node)
                .ok_or_else(|| PartitionError::UnknownNode {
                    shape,
                    node: node.to_string(),
                })
        };
        match self {
            PartitionPlan::IsolateOne { node }
            | PartitionPlan::IsolateLeader { leader: Some(node) } => {
                let cut = index(node)?;
                Ok(Reach::symmetric(cluster, |a, b| (a == cut) == (b == cut)))
            }
            PartitionPlan::IsolateLeader { leader: None }
            | PartitionPlan::IsolateFollower { leader: None, .. } => {
                Err(PartitionError::LeaderUnresolved { shape })
            }
            PartitionPlan::IsolateFollower {
                pick,
                leader: Some(leader),
            } => {
                let lead = index(leader)?;
                let others: Vec<usize> = (0..n).filter(|&i| i != lead).collect();
                let cut = others[(*pick % others.len() as u64) as usize];
                Ok(Reach::symmetric(cluster, |a, b| (a == cut) == (b == cut)))
            }
            PartitionPlan::Halves { small, large } => {
                let side = sides(shape, cluster, &[small, large])?;
                Ok(Reach::symmetric(cluster, |a, b| side[a] == side[b]))
            }
            PartitionPlan::MajoritiesRing { ring } => {
                let side = sides(shape, cluster, &[ring])?;
                assert!(side.iter().all(|&s| s == 0));
                let position = position_in(cluster, ring);
                Ok(Reach::symmetric(cluster, |a, b| {
                    ring_neighbours(n, position[a], position[b])
                }))
            }
            PartitionPlan::Bridge {
                left,
                bridge,
                right,
            } => {
                let middle = vec![bridge.clone()];
                let side = sides(shape, cluster, &[left, &middle, right])?;
                // Side 1 is the bridge; it sees both halves, the halves see only their own.
                Ok(Reach::symmetric(cluster, |a, b| {
                    side[a] == side[b] || side[a] == 1 || side[b] == 1
                }))
            }
            PartitionPlan::OneWay { node, direction } => {
                let cut = index(node)?;
                let direction = *direction;
                Ok(Reach::directed(cluster, |from, to| match direction {
                    Direction::Outbound => from != cut,
                    Direction::Inbound => to != cut,
                }))
            }
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// For each cluster node, the index of the group that holds it; every node must be in
/// exactly one group.
fn sides(
    shape: &'static str,
    cluster: &[String],
    groups: &[&Vec<String>],
) -> Result<Vec<usize>, PartitionError> {
    let mut side = vec![usize::MAX; cluster.len()];
    for (g, group) in groups.iter().enumerate() {
        for node in group.iter() {
            let Some(i) = cluster.iter().position(|c| c == node) else {
                return Err(PartitionError::UnknownNode {
                    shape,
                    node: node.clone(),
                });
            };
            if side[i] != usize::MAX {
                return Err(PartitionError::NotACover {
                    shape,
                    detail: format!("{node} is placed twice"),
                });
            }
            side[i] = g;
        }
    }
    if let Some(i) = side.iter().position(|&s| s == usize::MAX) {
        return Err(PartitionError::NotACover {
            shape,
            detail: format!("{} is not placed", cluster[i]),
        });
    }
    Ok(side)
}

/// `position[i]` = where cluster node `i` stands in `order` (a permutation of it).
fn position_in(cluster: &[String], order: &[String]) -> Vec<usize> {
    cluster
        .iter()
        .map(|c| {
            order
                .iter()
                .position(|o| o == c)
                .expect("order covers the cluster")
        })
        .collect()
}

/// Whether ring positions `a` and `b` of `n` see each other. Each node sees the `reach`
/// nearest on either side, the fewest that make its view a majority; as long as that
/// view is smaller than the ring, every node's view is a different set. Three nodes are
/// the exception — a ring of reach one is everyone — so they form a line instead: the
/// middle sees all, each end sees itself and the middle.
fn ring_neighbours(n: usize, a: usize, b: usize) -> bool {
    if n == 3 {
        return a.abs_diff(b) <= 1;
    }
    // A view of `2 * reach + 1` nodes is a majority once `reach >= (majority - 1) / 2`.
    let reach = (majority(n) - 1).div_ceil(2);
    let d = a.abs_diff(b);
    d.min(n - d) <= reach
}

/// Who can reach whom: undirected for symmetric partitions, directed for one-way ones.
/// Node `i` of the graph is node `i` of the cluster. A node always reaches itself.
#[derive(Clone, Debug)]
pub struct Reach {
    nodes: Vec<String>,
    graph: Graph,
}

#[derive(Clone, Debug)]
enum Graph {
    Symmetric(UnGraph<String, ()>),
    OneWay(DiGraph<String, ()>),
}

impl Reach {
    /// Everyone reaches everyone.
    pub fn healed(cluster: &[String]) -> Reach {
        Reach::symmetric(cluster, |_, _| true)
    }

    fn symmetric(cluster: &[String], linked: impl Fn(usize, usize) -> bool) -> Reach {
        let mut g = UnGraph::<String, ()>::new_undirected();
        for node in cluster {
            g.add_node(node.clone());
        }
        for a in 0..cluster.len() {
            for b in a + 1..cluster.len() {
                assert_eq!(linked(a, b), linked(b, a), "a symmetric link is symmetric");
                if linked(a, b) {
                    g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
                }
            }
        }
        Reach {
            nodes: cluster.to_vec(),
            graph: Graph::Symmetric(g),
        }
    }

    fn directed(cluster: &[String], linked: impl Fn(usize, usize) -> bool) -> Reach {
        let mut g = DiGraph::<String, ()>::new();
        for node in cluster {
            g.add_node(node.clone());
        }
        for a in 0..cluster.len() {
            for b in 0..cluster.len() {
                if a != b && linked(a, b) {
                    g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
                }
            }
        }
        Reach {
            nodes: cluster.to_vec(),
            graph: Graph::OneWay(g),
        }
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    pub fn is_symmetric(&self) -> bool {
        matches!(self.graph, Graph::Symmetric(_))
    }

    fn index(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n == node)
    }

    fn sends(&self, from: usize, to: usize) -> bool {
        if from == to {
            return true;
        }
        let (a, b) = (NodeIndex::new(from), NodeIndex::new(to));
        match &self.graph {
            Graph::Symmetric(g) => g.contains_edge(a, b),
            Graph::OneWay(g) => g.contains_edge(a, b),
        }
    }

    /// Whether what `from` sends arrives at `to`. Unknown nodes reach nothing.
    pub fn can_send(&self, from: &str, to: &str) -> bool {
        match (self.index(from), self.index(to)) {
            (Some(a), Some(b)) => self.sends(a, b),
            _ => false,
        }
    }

    /// The nodes `node` exchanges messages with both ways, itself included — the ones
    /// whose replies it can get, which is what a quorum needs.
    pub fn sees(&self, node: &str) -> BTreeSet<String> {
        let Some(a) = self.index(node) else {
            return BTreeSet::new();
        };
        (0..self.nodes.len())
            .filter(|&b| self.sends(a, b) && self.sends(b, a))
            .map(|b| self.nodes[b].clone())
            .collect()
    }

    /// Whether `node` sees a majority of the cluster.
    pub fn sees_majority(&self, node: &str) -> bool {
        self.sees(node).len() >= majority(self.nodes.len())
    }

    /// The two-way graph: an edge wherever messages flow both ways.
    fn two_way(&self) -> UnGraph<String, ()> {
        match &self.graph {
            Graph::Symmetric(g) => g.clone(),
            Graph::OneWay(_) => {
                let mut g = UnGraph::<String, ()>::new_undirected();
                for node in &self.nodes {
                    g.add_node(node.clone());
                }
                for a in 0..self.nodes.len() {
                    for b in a + 1..self.nodes.len() {
                        if self.sends(a, b) && self.sends(b, a) {
                            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
                        }
                    }
                }
                g
            }
        }
    }

    /// The connected components of the two-way graph, each sorted, largest first.
    pub fn components(&self) -> Vec<BTreeSet<String>> {
        let g = self.two_way();
        let mut comps: Vec<BTreeSet<String>> = tarjan_scc(&g)
            .into_iter()
            .map(|c| c.into_iter().map(|i| g[i].clone()).collect())
            .collect();
        comps.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        comps
    }

    /// The component holding a majority of the cluster, if one does.
    pub fn majority_component(&self) -> Option<BTreeSet<String>> {
        let needed = majority(self.nodes.len());
        self.components().into_iter().find(|c| c.len() >= needed)
    }

    /// The groups of a symmetric partition: the maximal sets whose members all reach one
    /// another. Two nodes reach each other exactly when they share a group, so the
    /// groups say everything; they are disjoint for isolate and halves and overlap for
    /// bridge and majorities-ring. `None` for a one-way partition, which groups cannot
    /// describe.
    pub fn groups(&self) -> Option<Vec<Vec<String>>> {
        let Graph::Symmetric(g) = &self.graph else {
            return None;
        };
        let mut groups: Vec<Vec<String>> = maximal_cliques(g)
            .into_iter()
            .map(|c| {
                let mut members: Vec<usize> = c.into_iter().map(|i| i.index()).collect();
                members.sort_unstable();
                members.into_iter().map(|i| self.nodes[i].clone()).collect()
            })
            .collect();
        groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Some(groups)
    }

    /// Who drops whom: `b` drops `a` wherever `a`'s messages must not reach `b`.
    pub fn grudge(&self) -> Grudge {
        let mut drops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for to in 0..self.nodes.len() {
            for from in 0..self.nodes.len() {
                if !self.sends(from, to) {
                    drops
                        .entry(self.nodes[to].clone())
                        .or_default()
                        .insert(self.nodes[from].clone());
                }
            }
        }
        Grudge { drops }
    }
}
