//! Writes timeline.html: the model as compressed columns plus a JSON header, inside one
//! self-contained page with its script and style inline.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context;
use checkers::{Anomaly, AnomalyKind, CheckResult, Severity};
use serde::Serialize;
use serde_json::Value as Json;

use super::encode::{base64, json_for_script, pack, zlib, Column};
use super::faults::{failover, Failover};
use super::model::{FaultBand, Lane, Model, Outcome, RoleCode};

/// Ops of one anomaly listed with their history lines; the rest are only counted.
pub const ANOMALY_OPS_SHOWN_MAX: usize = 64;
/// Anomalies embedded in the page; a history with more says how many were left out.
pub const ANOMALIES_SHOWN_MAX: usize = 5_000;

const SCRIPT: &str = include_str!("assets/timeline.js");
const STYLE: &str = include_str!("assets/timeline.css");

/// The anomalies of a results document, violations first (they decide the verdict, and
/// the page keeps only the first `ANOMALIES_SHOWN_MAX`), each severity in the document's
/// order.
pub fn anomalies_of(results: Option<&CheckResult>) -> Vec<Anomaly> {
    let mut anomalies = results.map(|r| r.anomalies.clone()).unwrap_or_default();
    anomalies.sort_by_key(|a| a.severity != Severity::Violation);
    anomalies
}

/// The history indices whose lines the page shows in full.
pub fn shown_indices(anomalies: &[Anomaly]) -> BTreeSet<u64> {
    anomalies
        .iter()
        .take(ANOMALIES_SHOWN_MAX)
        .flat_map(|a| {
            let ops = a.ops.iter().take(ANOMALY_OPS_SHOWN_MAX).copied();
            ops.chain(a.linearizable_through)
        })
        .collect()
}

#[derive(Serialize)]
struct ShownLine {
    index: u64,
    /// Position of the op in the page's columns, or -1 if the history has no such index.
    ord: i64,
    text: Option<String>,
}

#[derive(Serialize)]
struct ShownAnomaly {
    kind: AnomalyKind,
    checker: String,
    severity: Severity,
    message: String,
    ops_total: usize,
    lines: Vec<ShownLine>,
    t0: Option<u64>,
    t1: Option<u64>,
    /// A `not-linearizable` anomaly's longest linearizable prefix: the time its last op
    /// completed, where the page draws a line when the anomaly is selected.
    linearizable_until: Option<u64>,
}

#[derive(Serialize)]
struct NodeLane {
    name: String,
    segments: usize,
}

#[derive(Serialize)]
struct Meta<'a> {
    title: String,
    test: &'a Json,
    results: Json,
    anomalies: Vec<ShownAnomaly>,
    anomalies_total: usize,
    lanes: &'a [Lane],
    lane_counts: Vec<usize>,
    node_lanes: Vec<NodeLane>,
    nodes: &'a [String],
    roles: &'a [String],
    errors: &'a [String],
    fs: Vec<&'static str>,
    faults: &'a [FaultBand],
    failover: Vec<Failover>,
    time_end: u64,
    lines: u64,
    ops: usize,
    values: usize,
    columns: Vec<(String, usize, usize)>,
    values_bytes: usize,
}

/// Writes the page for `model` to `out`.
pub fn write_page(
    out: &Path,
    title: &str,
    test: &Json,
    results: &Json,
    anomalies: &[Anomaly],
    model: &Model,
) -> anyhow::Result<()> {
    let (mut columns, lane_counts) = op_columns(model);
    let (seg_columns, node_lanes) = segment_columns(model);
    columns.extend(seg_columns);
    let (mut blob, layout) = pack(columns);
    let values = serde_json::to_vec(&model.values.list).context("cannot encode values")?;
    let values_bytes = values.len();
    blob.extend_from_slice(&values);
    let mut summary = results.clone();
    if let Some(obj) = summary.as_object_mut() {
        obj.remove("anomalies");
    }
    let meta = Meta {
        title: title.to_string(),
        test,
        results: summary,
        anomalies: shown_anomalies(anomalies, model),
        anomalies_total: anomalies.len(),
        lanes: &model.lanes,
        lane_counts,
        node_lanes,
        nodes: &model.nodes.list,
        roles: &model.roles.list,
        errors: &model.errors.list,
        fs: checkers::history::F::ALL.map(|f| f.name()).to_vec(),
        faults: &model.faults,
        failover: failover(&model.ops, &model.faults),
        time_end: model.time_end,
        lines: model.lines,
        ops: model.ops.len(),
        values: model.values.list.len(),
        columns: layout,
        values_bytes,
    };
    let meta_json = json_for_script(&meta).context("cannot encode the timeline header")?;
    let data = base64(&zlib(&blob));
    crate::atomic::write_atomic_with(out, |w| {
        write!(
            w,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>splitbrain timeline: loading</title>\n<style>{STYLE}</style></head>\n\
             <body data-ready=\"0\">\n<script type=\"application/json\" id=\"sb-meta\">{meta_json}</script>\n\
             <script type=\"text/plain\" id=\"sb-data\">{data}</script>\n<script>{SCRIPT}</script>\n</body></html>\n"
        )
    })
    .with_context(|| format!("cannot write {}", out.display()))
}

/// The code a column carries for `f`: its place in `F::ALL`, whose names the page gets.
fn f_code(f: checkers::history::F) -> u64 {
    let code = checkers::history::F::ALL
        .iter()
        .position(|x| *x == f)
        .expect("F::ALL holds every F");
    code as u64
}

/// Ops as columns, in lane-then-start order: times and indices as deltas, strings as
/// interned codes (0 meaning none), and the completion's value as 1 when it repeats the
/// invoke's, which is what writes do.
fn op_columns(model: &Model) -> (Vec<(&'static str, Column)>, Vec<usize>) {
    let mut c: [Column; 11] = Default::default();
    let mut lane_counts = vec![0usize; model.lanes.len()];
    let (mut prev_start, mut prev_index, mut prev_proc) = (0i64, 0i64, 0i64);
    let code = |x: Option<u32>| x.map_or(0, |v| u64::from(v) + 1);
    for op in &model.ops {
        lane_counts[op.lane as usize] += 1;
        c[0].push_signed(op.start as i64 - prev_start);
        c[1].push(op.end - op.start);
        c[2].push(f_code(op.f) * 8 + op.outcome as u64 + if op.orphan { 4 } else { 0 });
        c[3].push_signed(op.inv_index as i64 - prev_index);
        c[4].push(op.cmp_index.map_or(0, |i| i.saturating_sub(op.inv_index)));
        let proc = match op.process {
            checkers::history::Process::Client(p) => p as i64 + 1,
            checkers::history::Process::Nemesis => 0,
        };
        c[5].push_signed(proc - prev_proc);
        c[6].push(code(op.node_inv));
        c[7].push(if op.node_cmp == op.node_inv {
            0
        } else {
            op.node_cmp.map_or(1, |n| u64::from(n) + 2)
        });
        c[8].push(code(op.error));
        c[9].push(code(op.value_inv));
        c[10].push(match op.value_cmp {
            None => 0,
            Some(v) if Some(v) == op.value_inv => 1,
            Some(v) => u64::from(v) + 2,
        });
        (prev_start, prev_index, prev_proc) = (op.start as i64, op.inv_index as i64, proc);
    }
    let names = [
        "t0", "dur", "code", "iInv", "iCmp", "proc", "node", "nodeC", "err", "vInv", "vCmp",
    ];
    (names.into_iter().zip(c).collect(), lane_counts)
}

/// Each node's observations merged into segments of one (role, term, leader), ordered
/// by node name (n2 before n10), then time.
fn segment_columns(model: &Model) -> (Vec<(&'static str, Column)>, Vec<NodeLane>) {
    let mut by_node: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, o) in model.observations.iter().enumerate() {
        by_node.entry(o.node).or_default().push(i);
    }
    let mut nodes: Vec<u32> = by_node.keys().copied().collect();
    nodes.sort_by_key(|&n| natural_key(&model.nodes.list[n as usize]));
    let mut c: [Column; 7] = Default::default();
    let mut lanes = Vec::new();
    let (mut prev_start, mut prev_index) = (0i64, 0i64);
    for node in nodes {
        let mut obs = by_node.remove(&node).unwrap_or_default();
        obs.sort_by_key(|&i| (model.observations[i].time, model.observations[i].index));
        let mut segments = 0;
        let mut k = 0;
        while k < obs.len() {
            let first = &model.observations[obs[k]];
            let same = |o: &super::model::Observation| {
                (o.role, o.term, o.leader) == (first.role, first.term, first.leader)
            };
            let run = obs[k..]
                .iter()
                .take_while(|&&i| same(&model.observations[i]))
                .count();
            let end = obs
                .get(k + run)
                .map_or(model.time_end, |&i| model.observations[i].time);
            c[0].push_signed(first.time as i64 - prev_start);
            c[1].push(end - first.time);
            c[2].push(match first.role {
                RoleCode::Leader => 0,
                RoleCode::Follower => 1,
                RoleCode::Candidate => 2,
                RoleCode::NoAnswer => 3,
                RoleCode::Other(r) => 4 + u64::from(r),
            });
            c[3].push(
                first
                    .term
                    .map_or(0, |t| t.saturating_add(1).min((1 << 53) - 1)),
            );
            c[4].push(first.leader.map_or(0, |l| u64::from(l) + 1));
            c[5].push_signed(first.index as i64 - prev_index);
            c[6].push(run as u64);
            (prev_start, prev_index) = (first.time as i64, first.index as i64);
            segments += 1;
            k += run;
        }
        lanes.push(NodeLane {
            name: model.nodes.list[node as usize].clone(),
            segments,
        });
    }
    let names = [
        "sStart", "sDur", "sRole", "sTerm", "sLeader", "sIdx", "sCount",
    ];
    (names.into_iter().zip(c).collect(), lanes)
}

/// Orders "n2" before "n10": the text without its trailing digits, then their value.
fn natural_key(name: &str) -> (String, u64, String) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0), name.to_string())
}

fn shown_anomalies(anomalies: &[Anomaly], model: &Model) -> Vec<ShownAnomaly> {
    let wanted = shown_indices(anomalies);
    let mut ord_of: HashMap<u64, usize> = HashMap::new();
    for (ord, op) in model.ops.iter().enumerate() {
        for index in std::iter::once(op.inv_index).chain(op.cmp_index) {
            if wanted.contains(&index) {
                ord_of.insert(index, ord);
            }
        }
    }
    anomalies
        .iter()
        .take(ANOMALIES_SHOWN_MAX)
        .map(|a| {
            let lines: Vec<ShownLine> = a
                .ops
                .iter()
                .take(ANOMALY_OPS_SHOWN_MAX)
                .map(|&index| ShownLine {
                    index,
                    ord: ord_of.get(&index).map_or(-1, |&o| o as i64),
                    text: model.kept_lines.get(&index).cloned(),
                })
                .collect();
            let spans = lines
                .iter()
                .filter(|l| l.ord >= 0)
                .map(|l| &model.ops[l.ord as usize]);
            let t0 = spans.clone().map(|o| o.start).min();
            let t1 = spans.map(|o| o.end).max();
            let linearizable_until = a
                .linearizable_through
                .and_then(|index| ord_of.get(&index))
                .map(|&ord| model.ops[ord].end);
            ShownAnomaly {
                kind: a.kind,
                checker: a.checker.clone(),
                severity: a.severity,
                message: a.message.clone(),
                ops_total: a.ops.len(),
                lines,
                t0,
                t1,
                linearizable_until,
            }
        })
        .collect()
}

// The page decodes outcome codes 0..=3 in this order.
const _: () = assert!(Outcome::Ok as u8 == 0 && Outcome::Open as u8 == 3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_assets_cannot_end_their_elements_early() {
        for asset in [SCRIPT, STYLE] {
            let lower = asset.to_ascii_lowercase();
            assert!(
                !lower.contains("</script")
                    && !lower.contains("</style")
                    && !lower.contains("<!--")
            );
        }
        for external in ["http://", "https://", "url(", "@import"] {
            assert!(
                !SCRIPT.contains(external) && !STYLE.contains(external),
                "{external}"
            );
        }
    }

    #[test]
    fn violations_come_before_observations() {
        let a = |kind: &str, severity: &str| serde_json::json!({"kind": kind, "severity": severity, "checker": "c", "message": "", "ops": [1]});
        let results: CheckResult =
            serde_json::from_value(serde_json::json!({"valid": false, "anomalies": [
                a("leaderless-window", "observation"),
                a("dual-leadership", "observation"),
                a("stale-leader", "violation"),
                a("leaderless-window", "observation"),
                a("lost-write", "violation"),
            ]}))
            .unwrap();
        let kinds: Vec<&str> = anomalies_of(Some(&results))
            .into_iter()
            .map(|a| a.kind.name())
            .collect();
        assert_eq!(
            kinds,
            [
                "stale-leader",
                "lost-write",
                "leaderless-window",
                "dual-leadership",
                "leaderless-window"
            ]
        );
    }

    #[test]
    fn nodes_sort_naturally() {
        let mut names = vec!["n10", "n2", "n1", "zk3", "a"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["a", "n1", "n2", "n10", "zk3"]);
    }
}
