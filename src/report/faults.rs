//! Fault bands (each fault from its nemesis invoke to the completion of what undid it)
//! and failover times (from each fault's start to the next ok write).

use std::collections::BTreeSet;

use checkers::history::{Op, OpType, F};

use checkers::checks::availability::{failover_ns, percentile};

use super::model::{FaultBand, Outcome, PairedOp};

/// Follows the nemesis ops of a history and opens and closes fault bands.
#[derive(Default)]
pub struct FaultTracker {
    open: Vec<FaultBand>,
    closed: Vec<FaultBand>,
}

impl FaultTracker {
    pub fn on_op(&mut self, op: &Op) {
        match (op.kind, op.f) {
            (
                OpType::Invoke,
                F::Partition | F::Pause | F::Kill | F::Clock | F::Packet | F::PowerLoss,
            ) => self.open(op),
            (OpType::Invoke, _) => {}
            (_, F::Partition | F::Pause | F::Kill | F::Clock | F::Packet | F::PowerLoss) => {
                // The fault op completed: it is in force only if it ended ok.
                if let Some(band) = self.open.iter_mut().rev().find(|b| b.kind == op.f.name()) {
                    band.uncertain = op.kind != OpType::Ok;
                }
            }
            (_, F::Heal) => self.close(op, "partition", None),
            (_, F::Resume) => self.close(op, "pause", nodes_of(op)),
            (_, F::Start) => {
                self.close(op, "kill", nodes_of(op));
                self.close(op, "power-loss", nodes_of(op));
            }
            (_, F::ClockReset) => self.close(op, "clock", None),
            (_, F::PacketHeal) => self.close(op, "packet", None),
            _ => {}
        }
    }

    fn open(&mut self, op: &Op) {
        let nodes = nodes_of(op).unwrap_or_default();
        self.open.push(FaultBand {
            kind: op.f.name(),
            label: label(op),
            start: op.time,
            end: op.time,
            healed: false,
            // Certain once the nemesis says ok.
            uncertain: true,
            index: op.index,
            nodes,
        });
    }

    /// Closes the open bands of `kind`; with `nodes`, only for those nodes, and a band
    /// closes once every node it covers is back.
    fn close(&mut self, op: &Op, kind: &str, nodes: Option<BTreeSet<String>>) {
        let mut still_open = Vec::with_capacity(self.open.len());
        for mut band in self.open.drain(..) {
            if band.kind == kind {
                match &nodes {
                    Some(back) if !band.nodes.is_empty() => {
                        band.nodes.retain(|n| !back.contains(n))
                    }
                    _ => band.nodes.clear(),
                }
                if band.nodes.is_empty() {
                    band.end = op.time;
                    band.healed = true;
                    self.closed.push(band);
                    continue;
                }
            }
            still_open.push(band);
        }
        self.open = still_open;
    }

    pub fn finish(mut self, time_end: u64) -> Vec<FaultBand> {
        for mut band in self.open.drain(..) {
            band.end = time_end;
            self.closed.push(band);
        }
        self.closed.sort_by_key(|b| (b.start, b.index));
        self.closed
    }
}

fn nodes_of(op: &Op) -> Option<BTreeSet<String>> {
    let nodes = op.value.as_ref()?.nodes.as_ref()?;
    Some(nodes.iter().cloned().collect())
}

/// A short label: the partition's sides or grudge, the nodes paused or killed, the offsets,
/// a packet fault's shaping and links.
fn label(op: &Op) -> String {
    let Some(v) = op.value.as_ref() else {
        return op.f.name().to_string();
    };
    let detail = if let Some(groups) = &v.groups {
        groups
            .iter()
            .map(|g| g.join(" "))
            .collect::<Vec<_>>()
            .join(" | ")
    } else if let Some(drops) = &v.drops {
        drops
            .iter()
            .map(|(n, from)| format!("{n}⇍{}", from.join(",")))
            .collect::<Vec<_>>()
            .join(" ")
    } else if let Some(offsets) = &v.offsets_ms {
        offsets
            .iter()
            .map(|(n, ms)| format!("{n}{ms:+}ms"))
            .collect::<Vec<_>>()
            .join(" ")
    } else if let (Some(packet), Some(links)) = (&v.packet, &v.links) {
        packet_label(packet, v.nodes.as_ref(), links.len())
    } else if let Some(nodes) = &v.nodes {
        nodes.join(" ")
    } else {
        String::new()
    };
    format!("{} {detail}", op.f.name()).trim_end().to_string()
}

/// `delay delay_ms=120 jitter_ms=40 · n3 · 4 links`: the shaping's fields, the targets
/// and how many directed links it shapes (listing them all would not fit a band).
fn packet_label(packet: &serde_json::Value, nodes: Option<&Vec<String>>, links: usize) -> String {
    let mut parts: Vec<String> = match packet.as_object() {
        Some(fields) => {
            let kind = fields.get("kind").and_then(|k| k.as_str());
            kind.map(str::to_string)
                .into_iter()
                .chain(
                    fields
                        .iter()
                        .filter(|(k, _)| *k != "kind")
                        .map(|(k, v)| format!("{k}={v}")),
                )
                .collect()
        }
        None => vec![packet.to_string()],
    };
    if let Some(nodes) = nodes {
        parts.push(format!("· {} ·", nodes.join(" ")));
    }
    parts.push(format!("{links} links"));
    parts.join(" ")
}

/// Failover times for one kind of fault.
#[derive(Debug, serde::Serialize)]
pub struct Failover {
    pub kind: String,
    /// Nanoseconds from a fault's start to the completion of the first ok write invoked at
    /// or after it, one per fault that had such a write, ascending.
    pub times: Vec<u64>,
    /// Faults after which no ok write was invoked at all.
    pub without_write: usize,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

/// Failover time per fault kind, as the availability checker defines it
/// ([`failover_ns`]): to the earliest completion of an ok write invoked after the fault's
/// nemesis invocation.
pub fn failover(ops: &[PairedOp], faults: &[FaultBand]) -> Vec<Failover> {
    let writes = ops
        .iter()
        .filter(|o| o.f == F::Write && o.outcome == Outcome::Ok)
        .map(|o| (o.inv_index, o.end))
        .collect();
    let starts: Vec<(u64, u64)> = faults.iter().map(|b| (b.index, b.start)).collect();
    let times = failover_ns(&starts, writes);
    let mut kinds: Vec<Failover> = Vec::new();
    for (band, took) in faults.iter().zip(times) {
        let entry = match kinds.iter().position(|k| k.kind == band.kind) {
            Some(k) => &mut kinds[k],
            None => {
                kinds.push(Failover {
                    kind: band.kind.to_string(),
                    times: vec![],
                    without_write: 0,
                    p50: None,
                    p99: None,
                    max: None,
                });
                kinds.last_mut().expect("just pushed")
            }
        };
        match took {
            None => entry.without_write += 1,
            Some(t) => entry.times.push(t),
        }
    }
    for k in &mut kinds {
        k.times.sort_unstable();
        k.p50 = percentile(&k.times, 50);
        k.p99 = percentile(&k.times, 99);
        k.max = k.times.last().copied();
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(line: &str) -> Op {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_pause_band_closes_when_all_its_nodes_resume() {
        let mut t = FaultTracker::default();
        t.on_op(&op(r#"{"index":0,"time":10,"process":"nemesis","type":"invoke","f":"pause","value":{"nodes":["n1","n2"]}}"#));
        t.on_op(&op(r#"{"index":1,"time":11,"process":"nemesis","type":"ok","f":"pause","value":{"nodes":["n1","n2"]}}"#));
        t.on_op(&op(r#"{"index":2,"time":20,"process":"nemesis","type":"ok","f":"resume","value":{"nodes":["n1"]}}"#));
        t.on_op(&op(r#"{"index":3,"time":30,"process":"nemesis","type":"invoke","f":"partition","value":{"groups":[["n1"],["n2","n3"]]}}"#));
        t.on_op(&op(r#"{"index":4,"time":40,"process":"nemesis","type":"ok","f":"resume","value":{"nodes":["n2"]}}"#));
        let bands = t.finish(100);
        assert_eq!(bands.len(), 2);
        assert_eq!(
            (
                bands[0].kind,
                bands[0].end,
                bands[0].healed,
                bands[0].uncertain
            ),
            ("pause", 40, true, false)
        );
        assert_eq!(bands[1].label, "partition n1 | n2 n3");
        assert_eq!(
            (bands[1].end, bands[1].healed, bands[1].uncertain),
            (100, false, true)
        );
    }

    #[test]
    fn a_packet_band_is_labelled_with_its_shaping_and_closes_at_its_heal() {
        let mut t = FaultTracker::default();
        let value = r#"{"nodes":["n3"],"packet":{"kind":"loss","percent":20},"links":[["n3","n1"],["n3","n2"]]}"#;
        t.on_op(&op(&format!(r#"{{"index":0,"time":10,"process":"nemesis","type":"invoke","f":"packet","value":{value}}}"#)));
        t.on_op(&op(&format!(r#"{{"index":1,"time":11,"process":"nemesis","type":"ok","f":"packet","value":{value}}}"#)));
        t.on_op(&op(r#"{"index":2,"time":20,"process":"nemesis","type":"invoke","f":"packet-heal","value":null}"#));
        t.on_op(&op(r#"{"index":3,"time":30,"process":"nemesis","type":"ok","f":"packet-heal","value":null}"#));
        let bands = t.finish(100);
        assert_eq!(bands.len(), 1);
        assert_eq!(bands[0].kind, "packet");
        assert_eq!(bands[0].label, "packet loss percent=20 · n3 · 2 links");
        assert_eq!(
            (bands[0].end, bands[0].healed, bands[0].uncertain),
            (30, true, false)
        );
    }

    #[test]
    fn failover_uses_the_first_write_invoked_after_the_fault() {
        // Indices order events; here a write's index is its invocation time, but for one
        // that ties with the fault's.
        let w = |index, start, end| PairedOp {
            process: checkers::history::Process::Client(0),
            f: F::Write,
            start,
            end,
            outcome: Outcome::Ok,
            orphan: false,
            inv_index: index,
            cmp_index: None,
            node_inv: None,
            node_cmp: None,
            value_inv: None,
            value_cmp: None,
            error: None,
            lane: 1,
        };
        let band = |start| FaultBand {
            kind: "kill",
            label: String::new(),
            start,
            end: start + 1,
            healed: true,
            uncertain: false,
            index: start + 1,
            nodes: BTreeSet::new(),
        };
        // The write invoked at 5 completes at 150, after the fault at 10, but was
        // invoked before it; so was the one invoked at 10, just before the fault's line
        // (completing at 12); the one invoked at 20 completes at 60, the one at 30 at 50.
        let ops = [w(5, 5, 150), w(10, 10, 12), w(20, 20, 60), w(30, 30, 50)];
        let f = failover(&ops, &[band(10), band(200)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].times, vec![40]);
        assert_eq!(f[0].without_write, 1);
        assert_eq!((f[0].p50, f[0].max), (Some(40), Some(40)));
    }
}
