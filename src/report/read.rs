//! Builds the timeline's [`Model`] from `history.jsonl`, read through the checkers'
//! reader: ops paired with their completions, lanes assigned, roles observed, and fault
//! bands tracked ([`super::faults`]).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context;
use checkers::history::{Op, OpType, Process, Role, F};
use checkers::{HistoryError, Line, OpReader};

use super::model::{
    Lane, Model, Observation, Outcome, PairedOp, RoleCode, LINE_TEXT_MAX_CHARS,
    VALUE_TEXT_MAX_CHARS,
};

/// Reads `history.jsonl` through the checkers' reader, keeping the raw text of the lines
/// whose index is in `keep`.
pub fn read_history(path: &Path, keep: &BTreeSet<u64>) -> anyhow::Result<Model> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = OpReader::new(std::io::BufReader::new(file));
    let mut builder = Builder::default();
    loop {
        let read = match reader.next_line() {
            Ok(Some(line)) => read_line(&line, keep, &mut builder),
            Ok(None) => break,
            Err(e) => Err(e),
        };
        match read {
            Ok(()) => {}
            // A controller that crashed mid-write leaves a cut last line; the report
            // shows everything before it rather than nothing.
            Err(e) if reader.cut_short() => {
                tracing::warn!("{}: ignoring the cut last line: {e}", path.display());
                break;
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }
    Ok(builder.finish())
}

fn read_line(
    line: &Line<'_>,
    keep: &BTreeSet<u64>,
    builder: &mut Builder,
) -> Result<(), HistoryError> {
    let op = line.to_op()?;
    if keep.contains(&op.index) {
        let text = cut(line.text, LINE_TEXT_MAX_CHARS);
        builder.model.kept_lines.insert(op.index, text);
    }
    // The value's text as the line has it, so a hovered op shows its line verbatim.
    builder.add(op, line.value_text()?);
    Ok(())
}

#[derive(Default)]
struct Builder {
    model: Model,
    pending: HashMap<Process, PairedOp>,
    /// Every op in completion order, before lanes are assigned.
    done: Vec<PairedOp>,
    faults: super::faults::FaultTracker,
}

impl Builder {
    fn add(&mut self, op: Op, value_text: Option<&str>) {
        self.model.time_end = op.time;
        self.model.lines += 1;
        let node = op.node.as_deref().map(|n| self.model.nodes.intern(n));
        let value = value_text.map(|v| self.model.values.intern(&cut(v, VALUE_TEXT_MAX_CHARS)));
        if op.process == Process::Nemesis {
            self.faults.on_op(&op);
        }
        if op.kind == OpType::Invoke {
            if let Some(mut prev) = self.pending.remove(&op.process) {
                // A second invoke before a completion: the first never completed.
                prev.end = op.time;
                self.done.push(prev);
            }
            let paired = PairedOp {
                process: op.process,
                f: op.f,
                start: op.time,
                end: op.time,
                outcome: Outcome::Open,
                orphan: false,
                inv_index: op.index,
                cmp_index: None,
                node_inv: node,
                node_cmp: node,
                value_inv: value,
                value_cmp: None,
                error: None,
                lane: 0,
            };
            self.pending.insert(op.process, paired);
            return;
        }
        let mut paired = match self.pending.remove(&op.process) {
            Some(p) if p.f == op.f => p,
            other => {
                if let Some(mut prev) = other {
                    prev.end = op.time;
                    self.done.push(prev);
                }
                self.orphan(&op, node)
            }
        };
        paired.end = op.time;
        paired.outcome = match op.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        paired.cmp_index = Some(op.index).filter(|_| !paired.orphan);
        paired.node_cmp = node;
        paired.value_cmp = value;
        paired.error = op.error.as_deref().map(|e| self.model.errors.intern(e));
        if op.f == F::Status {
            self.observe(&paired, &op);
        }
        self.done.push(paired);
    }

    fn orphan(&self, op: &Op, node: Option<u32>) -> PairedOp {
        PairedOp {
            process: op.process,
            f: op.f,
            start: op.time,
            end: op.time,
            outcome: Outcome::Open,
            orphan: true,
            inv_index: op.index,
            cmp_index: None,
            node_inv: node,
            node_cmp: node,
            value_inv: None,
            value_cmp: None,
            error: None,
            lane: 0,
        }
    }

    fn observe(&mut self, paired: &PairedOp, op: &Op) {
        let Some(node) = paired.node_cmp.or(paired.node_inv) else {
            return;
        };
        let value = op.value.as_ref();
        let role = match (op.kind, value.and_then(|v| v.role.as_ref())) {
            (OpType::Ok, Some(Role::Leader)) => RoleCode::Leader,
            (OpType::Ok, Some(Role::Follower)) => RoleCode::Follower,
            (OpType::Ok, Some(Role::Candidate)) => RoleCode::Candidate,
            (OpType::Ok, Some(Role::Other(name))) => RoleCode::Other(self.model.roles.intern(name)),
            (OpType::Ok, None) => RoleCode::Other(self.model.roles.intern("unknown")),
            _ => RoleCode::NoAnswer,
        };
        let leader = value
            .and_then(|v| v.leader.clone().flatten())
            .map(|l| self.model.nodes.intern(&l));
        self.model.observations.push(Observation {
            node,
            time: op.time,
            role,
            term: value.and_then(|v| v.term),
            leader,
            index: op.index,
        });
    }

    fn finish(mut self) -> Model {
        let time_end = self.model.time_end;
        let mut open: Vec<PairedOp> = self.pending.drain().map(|(_, p)| p).collect();
        for p in &mut open {
            p.end = time_end;
        }
        self.done.extend(open);
        self.model.faults = self.faults.finish(time_end);
        let (ops, lanes) = assign_lanes(self.done);
        self.model.ops = ops;
        self.model.lanes = lanes;
        self.model
    }
}

/// `text` cut to at most `max` bytes at a character boundary, saying how much is left out.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Packs each process into the first lane free at its first op (nemesis gets lane 0),
/// then sorts ops by lane and start. Lanes never hold two overlapping ops because a
/// process has one op in flight and times never decrease.
fn assign_lanes(mut ops: Vec<PairedOp>) -> (Vec<PairedOp>, Vec<Lane>) {
    let mut span: HashMap<Process, (u64, u64)> = HashMap::new();
    for op in &ops {
        let e = span.entry(op.process).or_insert((op.start, op.end));
        e.0 = e.0.min(op.start);
        e.1 = e.1.max(op.end);
    }
    let mut processes: Vec<(Process, u64, u64)> =
        span.into_iter().map(|(p, (s, e))| (p, s, e)).collect();
    processes.sort_by_key(|&(p, s, _)| (p != Process::Nemesis, s, p));
    let mut lanes: Vec<Lane> = vec![Lane {
        label: "nemesis".into(),
        processes: vec![],
    }];
    let mut lane_free_at: Vec<u64> = vec![0];
    let mut lane_of: HashMap<Process, u32> = HashMap::new();
    for (p, start, end) in processes {
        let lane = if p == Process::Nemesis {
            0
        } else if let Some(i) = (1..lanes.len()).find(|&i| lane_free_at[i] <= start) {
            i
        } else {
            lanes.push(Lane {
                label: String::new(),
                processes: vec![],
            });
            lane_free_at.push(0);
            lanes.len() - 1
        };
        lanes[lane].processes.push(p.to_string());
        lane_free_at[lane] = end;
        lane_of.insert(p, lane as u32);
    }
    for lane in lanes.iter_mut().skip(1) {
        lane.label = lane_label(&lane.processes);
    }
    for op in &mut ops {
        op.lane = lane_of[&op.process];
    }
    ops.sort_by_key(|op| (op.lane, op.start, op.inv_index));
    // The page finds visible ops by binary search on ends as well as starts.
    assert!(
        ops.windows(2)
            .all(|w| w[0].lane != w[1].lane || w[0].end <= w[1].start),
        "ops of one lane overlap"
    );
    (ops, lanes)
}

fn lane_label(processes: &[String]) -> String {
    match processes {
        [one] => format!("p{one}"),
        [first, .., last] => format!("p{first}…p{last} ({})", processes.len()),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_of(lines: &[&str]) -> Model {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        read_history(&path, &BTreeSet::from([1])).unwrap()
    }

    #[test]
    fn pairs_invokes_with_completions_and_keeps_lanes_disjoint() {
        let m = model_of(&[
            r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","node":"n1","value":{"id":"a","token":1}}"#,
            r#"{"index":1,"time":20,"process":1,"type":"invoke","f":"status","node":"n2","value":null}"#,
            r#"{"index":2,"time":30,"process":0,"type":"info","f":"write","node":"n1","error":"timeout"}"#,
            r#"{"index":3,"time":40,"process":1,"type":"ok","f":"status","node":"n2","value":{"role":"leader","term":3,"leader":"n2"}}"#,
            r#"{"index":4,"time":50,"process":2,"type":"invoke","f":"read"}"#,
        ]);
        assert_eq!(m.ops.len(), 3);
        assert_eq!(
            m.lanes.len(),
            3,
            "process 2 reuses the lane of process 0 after its info"
        );
        let write = m.ops.iter().find(|o| o.f == F::Write).unwrap();
        assert_eq!(
            (write.start, write.end, write.outcome),
            (10, 30, Outcome::Info)
        );
        let read = m.ops.iter().find(|o| o.f == F::Read).unwrap();
        assert_eq!(
            (read.outcome, read.end, read.lane),
            (Outcome::Open, 50, write.lane)
        );
        // Values keep their text; a line without a value has none, `null` stays `null`.
        let text = |v: Option<u32>| v.map(|v| m.values.list[v as usize].as_str());
        assert_eq!(text(write.value_inv), Some(r#"{"id":"a","token":1}"#));
        assert_eq!(text(write.value_cmp), None);
        let status = m.ops.iter().find(|o| o.f == F::Status).unwrap();
        assert_eq!(text(status.value_inv), Some("null"));
        assert_eq!(text(read.value_inv), None);
        assert_eq!(m.observations.len(), 1);
        assert_eq!(m.observations[0].role, RoleCode::Leader);
        assert!(m.kept_lines[&1].contains("\"status\""));
    }

    #[test]
    fn a_cut_last_line_is_dropped_but_a_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = "{\"index\":0,\"time\":10,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
        std::fs::write(&path, format!("{good}{{\"index\":1,\"ti")).unwrap();
        let m = read_history(&path, &BTreeSet::new()).unwrap();
        assert_eq!(m.lines, 1);
        std::fs::write(&path, format!("{good}{{\"index\":1,\"ti\n{good}")).unwrap();
        let err = read_history(&path, &BTreeSet::new()).err().unwrap();
        assert!(
            format!("{err:#}").contains("history.jsonl: line 2: truncated line"),
            "{err:#}"
        );
    }

    #[test]
    fn decreasing_time_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(
            &path,
            "{\"index\":0,\"time\":10,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\
             {\"index\":1,\"time\":5,\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n",
        )
        .unwrap();
        let err = read_history(&path, &BTreeSet::new()).err().unwrap();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn values_and_kept_lines_are_the_bytes_the_writer_wrote() {
        let value = r#"{ "id" : "w\u0041é",  "token" :7 }"#;
        let first = format!(
            r#"{{"index":0,"time":10,"process":0,"type":"invoke","f":"write","value":{value}}}"#
        );
        let second = r#"{"index":1,"time":20,"process":0,"type":"fail","f":"write","value":null,"error":"stale-token"}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, format!("{first}\r\n{second}\n")).unwrap();
        let m = read_history(&path, &BTreeSet::from([0, 1])).unwrap();
        let write = &m.ops[0];
        let text = |v: Option<u32>| v.map(|v| m.values.list[v as usize].as_str());
        assert_eq!(text(write.value_inv), Some(value));
        assert_eq!(text(write.value_cmp), Some("null"));
        assert_eq!(m.kept_lines[&0], first);
        assert_eq!(m.kept_lines[&1], second);
    }
}
