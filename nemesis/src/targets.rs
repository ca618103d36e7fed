//! Which nodes a fault hits: a selector (one, leader, minority, majority, all, or an
//! explicit list) and, once chosen, the concrete nodes.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How the nodes a fault hits are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// One node picked at random.
    One,
    /// Whoever leads when the fault starts; only known at run time.
    Leader,
    /// The largest set whose loss leaves a majority: `(n - 1) / 2` nodes.
    Minority,
    /// The smallest majority: `n / 2 + 1` nodes.
    Majority,
    All,
    /// A list the user gave.
    Nodes,
    /// The leader that an `isolate-leader` partition now in force cut off (the latest
    /// one); only known at run time. No name stands for it: a drawn schedule aims it.
    CutLeader,
    /// Every node but the leader an `isolate-leader` partition in force cut off: the
    /// side that elects without it. Only known at run time; a drawn schedule aims it.
    CutRest,
}

impl Selector {
    pub const ALL: [Selector; 8] = [
        Selector::One,
        Selector::Leader,
        Selector::Minority,
        Selector::Majority,
        Selector::All,
        Selector::Nodes,
        Selector::CutLeader,
        Selector::CutRest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Selector::One => "one",
            Selector::Leader => "leader",
            Selector::Minority => "minority",
            Selector::Majority => "majority",
            Selector::All => "all",
            Selector::Nodes => "nodes",
            Selector::CutLeader => "cut-leader",
            Selector::CutRest => "cut-rest",
        }
    }

    /// How many nodes a random selector picks out of `n`; `None` for the leader and
    /// explicit lists, whose size is not the selector's to decide.
    pub fn count(self, n: usize) -> Option<usize> {
        match self {
            Selector::One => Some(n.min(1)),
            Selector::Minority => Some(n.saturating_sub(1) / 2),
            Selector::Majority => Some(majority(n)),
            Selector::All => Some(n),
            Selector::Leader | Selector::Nodes | Selector::CutLeader | Selector::CutRest => None,
        }
    }

    /// The fewest cluster nodes this selector makes sense for (a minority of two is
    /// nobody).
    pub fn min_nodes(self) -> usize {
        match self {
            Selector::Minority => 3,
            _ => 1,
        }
    }
}

/// The size of the smallest majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The nodes a fault hits. `nodes` is filled when the schedule is drawn for every
/// selector but `Leader`, which the executor fills when the fault starts; a schedule
/// replayed from a run's record carries it filled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub select: Selector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
}

impl Targets {
    /// Explicit targets.
    pub fn nodes(nodes: Vec<String>) -> Targets {
        Targets {
            select: Selector::Nodes,
            nodes: Some(nodes),
        }
    }

    /// The leader at run time, not yet known.
    pub fn leader() -> Targets {
        Targets {
            select: Selector::Leader,
            nodes: None,
        }
    }

    /// The leader an `isolate-leader` partition cut off, not yet known.
    pub fn cut_leader() -> Targets {
        Targets {
            select: Selector::CutLeader,
            nodes: None,
        }
    }

    /// Everyone but the leader an `isolate-leader` partition cut off, not yet known.
    pub fn cut_rest() -> Targets {
        Targets {
            select: Selector::CutRest,
            nodes: None,
        }
    }

    /// Draw the nodes for a random selector from `cluster`; `Leader` stays unresolved.
    /// The nodes come back in cluster order so the schedule reads the same way the
    /// cluster is listed.
    pub fn draw<R: Rng + ?Sized>(select: Selector, cluster: &[String], rng: &mut R) -> Targets {
        let Some(count) = select.count(cluster.len()) else {
            assert_eq!(select, Selector::Leader, "explicit targets are never drawn");
            return Targets::leader();
        };
        let mut order: Vec<usize> = (0..cluster.len()).collect();
        order.shuffle(rng);
        let mut picked: Vec<usize> = order[..count].to_vec();
        picked.sort_unstable();
        Targets {
            select,
            nodes: Some(picked.into_iter().map(|i| cluster[i].clone()).collect()),
        }
    }

    /// The concrete nodes, if known.
    pub fn resolved(&self) -> Option<&[String]> {
        self.nodes.as_deref()
    }

    /// A short human form: `leader`, `leader (n3)`, `minority [n1 n4]`.
    pub fn describe(&self) -> String {
        match (&self.nodes, self.select) {
            (None, select) => select.name().to_string(),
            (Some(nodes), Selector::Nodes) => format!("[{}]", nodes.join(" ")),
            (Some(nodes), Selector::Leader) => format!("leader ({})", nodes.join(" ")),
            (Some(nodes), Selector::CutLeader) => {
                format!("cut-off leader ({})", nodes.join(" "))
            }
            (Some(nodes), Selector::CutRest) => {
                format!("the rest of a cut-off leader [{}]", nodes.join(" "))
            }
            (Some(nodes), select) => format!("{} [{}]", select.name(), nodes.join(" ")),
        }
    }

    /// What is wrong with these targets for `cluster`, if anything.
    pub fn check(&self, cluster: &[String]) -> Result<(), String> {
        let Some(nodes) = &self.nodes else {
            return match self.select {
                Selector::Leader | Selector::CutLeader | Selector::CutRest => Ok(()),
                select => Err(format!("{} targets name no nodes", select.name())),
            };
        };
        if nodes.is_empty() {
            return Err(format!("{} targets name no nodes", self.select.name()));
        }
        let mut seen = BTreeSet::new();
        for node in nodes {
            if !cluster.contains(node) {
                return Err(format!("target {node} is not a node of the cluster"));
            }
            if !seen.insert(node) {
                return Err(format!("target {node} is named twice"));
            }
        }
        let expected = match self.select {
            Selector::Leader | Selector::CutLeader => Some(1),
            Selector::CutRest => Some(cluster.len().saturating_sub(1)),
            select => select.count(cluster.len()),
        };
        match expected {
            Some(count) if count != nodes.len() => Err(format!(
                "{} targets of {} nodes name {}, not {count}",
                self.select.name(),
                cluster.len(),
                nodes.len()
            )),
            _ => Ok(()),
        }
    }
}
