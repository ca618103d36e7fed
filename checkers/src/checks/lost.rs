//! lost-writes: what the final reads (ok reads invoked after the faults ended) say about
//! every write.

use crate::facts::{History, Read};
use crate::faults::FaultsEnd;
use crate::history::OpType;
use crate::intern::{FxHashMap, Sym};
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{Findings, Report};

/// The evidence this checker needs: an ok final read, that is, an ok read invoked after
/// the faults ended (every fault undone by an undo that ended ok; with no nemesis op,
/// every ok read). Without one its verdict is unknown, never valid, unless no write was
/// ever invoked (then nothing can be lost).
pub fn check(h: &History, _: &Guarantees, findings: &mut Findings) -> Report {
    let wrote = !h.writes.is_empty();
    if let FaultsEnd::NotEnded { why } = &h.faults {
        if !wrote && h.read_count == 0 {
            return nothing_written();
        }
        let note = format!(
            "no final read: the faults may not have ended ({why}), so reads after them may \
             come from a cut-off side and lost writes cannot be ruled out"
        );
        return unknown(note);
    }
    if h.final_reads.is_empty() {
        if !wrote && h.read_count == 0 {
            return nothing_written();
        }
        let after = if h.faults == FaultsEnd::NoFaults {
            "an ok read"
        } else {
            "an ok read invoked after the faults ended"
        };
        let note = format!(
            "no ok final read ({after}; {} ok reads in all), so lost writes cannot be ruled out",
            h.read_count
        );
        return unknown(note);
    }
    let sightings = sightings(h);
    let mut next = sightings.iter().peekable();
    let mut reported = FxHashMap::<Sym, ()>::default();
    for (k, read) in h.final_reads.iter().enumerate() {
        while let Some(s) = next.next_if(|s| s.read == k) {
            report_sighting(h, read, s, findings);
        }
        phantoms(h, read, &mut reported, findings);
    }
    log_divergence(h, findings);
    let figures = serde_json::json!({
        "final_reads": h.final_reads.len(),
        "rpo": rpo(h, &sightings),
    });
    let note = (!wrote).then(|| {
        "no write was invoked: the final reads were checked for phantoms only".to_string()
    });
    Report {
        note,
        figures: Some(figures),
        ..Report::default()
    }
}

/// The recovery point: the acknowledged writes lost, counted per fault, each against
/// the last fault that started before the write was invoked (`before_any_fault` for
/// those invoked earlier): how much acknowledged data each fault cost.
fn rpo(h: &History, sightings: &[Sighting]) -> serde_json::Value {
    let starts: Vec<&crate::facts::NemesisOp> = crate::faults::fault_starts(&h.nemesis).collect();
    let mut per_fault = vec![0u64; starts.len()];
    let mut before_any = 0u64;
    let mut lost = 0u64;
    for s in sightings.iter().filter(|s| s.lost) {
        lost += 1;
        let inv = h.writes[s.write].span.inv;
        match starts.partition_point(|n| n.index < inv) {
            0 => before_any += 1,
            k => per_fault[k - 1] += 1,
        }
    }
    let faults: Vec<serde_json::Value> = starts
        .iter()
        .zip(&per_fault)
        .map(|(n, lost)| serde_json::json!({ "op": n.index, "f": n.f.name(), "lost": lost }))
        .collect();
    serde_json::json!({
        "lost_acknowledged": lost,
        "before_any_fault": before_any,
        "max_per_fault": per_fault.iter().copied().max().unwrap_or(0),
        "faults": faults,
    })
}

fn nothing_written() -> Report {
    Report {
        note: Some("no write was invoked and no read completed: nothing could be lost".to_string()),
        ..Report::default()
    }
}

fn unknown(note: String) -> Report {
    Report {
        unknown: true,
        note: Some(note),
        figures: Some(serde_json::json!({ "final_reads": 0 })),
    }
}

fn read_where(h: &History, r: &Read) -> String {
    if r.node == crate::intern::NO_SYM {
        format!("the final read at op {}", r.span.comp)
    } else {
        format!(
            "the final read of {} at op {}",
            h.node_name(r.node),
            r.span.comp
        )
    }
}

/// A write that a final read shows to be lost (acknowledged, finished before the read
/// began, and missing from it) or failed and applied (failed, yet present).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sighting {
    /// The first final read, in order, that shows it.
    read: usize,
    /// The write, by its place in `History::writes`.
    write: usize,
    lost: bool,
}

/// Every `lost-write` and `failed-write-applied`, each id once, at the first final read
/// that shows it (and, among writes of one id, the first write), ordered by read and then
/// by write: the order in which comparing every read with every write would find them.
///
/// That comparison costs final reads × writes (100,000 of each is 10^10 steps). Here each
/// write looks only at the reads that list its id, found through an index of the reads
/// by id, and at the first read after its acknowledgement that lacks it, found in a tree
/// of the reads' invocation indices: writes × log(reads) plus the ids the reads list.
fn sightings(h: &History) -> Vec<Sighting> {
    let reads = &h.final_reads;
    let listing = ReadsById::new(h.ids.len(), reads);
    let tree = FirstAfter::new(reads.iter().map(|r| r.span.inv).collect());
    let mut found = Vec::new();
    for (w, write) in h.writes.iter().enumerate() {
        let listed = listing.reads_of(write.id);
        let read = match write.kind {
            OpType::Fail => listed.first().map(|&k| k as usize),
            OpType::Ok => first_missing(&tree, listed, write.span.comp),
            _ => None,
        };
        if let Some(read) = read {
            found.push(Sighting {
                read,
                write: w,
                lost: write.kind == OpType::Ok,
            });
        }
    }
    found.sort_unstable_by_key(|s| (s.read, s.write));
    let mut seen = FxHashMap::<Sym, ()>::default();
    found.retain(|s| seen.insert(h.writes[s.write].id, ()).is_none());
    found
}

/// The first read, in order, invoked after op `acknowledged` whose ids lack the write's:
/// each read skipped is one that lists it, so the walk is paid for by the reads' ids.
fn first_missing(tree: &FirstAfter, listed: &[u32], acknowledged: u64) -> Option<usize> {
    let mut from = 0;
    let mut at = 0;
    while let Some(k) = tree.first_after(from, acknowledged) {
        while at < listed.len() && (listed[at] as usize) < k {
            at += 1;
        }
        if at < listed.len() && listed[at] as usize == k {
            from = k + 1;
            continue;
        }
        return Some(k);
    }
    None
}

/// For each id, the final reads that list it, in order (compressed rows: one offset
/// array and one array of read numbers).
struct ReadsById {
    starts: Vec<u32>,
    reads: Vec<u32>,
}

impl ReadsById {
    fn new(ids: usize, reads: &[Read]) -> ReadsById {
        let mut starts = vec![0u32; ids + 1];
        for read in reads {
            for &id in &read.ids {
                starts[id as usize + 1] += 1;
            }
        }
        for i in 0..ids {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut out = vec![0u32; starts[ids] as usize];
        for (k, read) in reads.iter().enumerate() {
            for &id in &read.ids {
                out[fill[id as usize] as usize] = k as u32;
                fill[id as usize] += 1;
            }
        }
        ReadsById { starts, reads: out }
    }

    fn reads_of(&self, id: Sym) -> &[u32] {
        let (a, b) = (self.starts[id as usize], self.starts[id as usize + 1]);
        &self.reads[a as usize..b as usize]
    }
}

/// A max-tree over the reads' invocation indices, to find the first read at or after
/// position `from` invoked after a given op.
struct FirstAfter {
    /// Leaves from `size`; `tree[i]` is the largest invocation index below node `i`.
    tree: Vec<u64>,
    size: usize,
    len: usize,
}

impl FirstAfter {
    fn new(values: Vec<u64>) -> FirstAfter {
        let len = values.len();
        let size = len.next_power_of_two().max(1);
        let mut tree = vec![0u64; 2 * size];
        tree[size..size + len].copy_from_slice(&values);
        for i in (1..size).rev() {
            tree[i] = tree[2 * i].max(tree[2 * i + 1]);
        }
        FirstAfter { tree, size, len }
    }

    /// The least position `k >= from` whose value exceeds `after`.
    fn first_after(&self, from: usize, after: u64) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        self.descend(1, 0, self.size, from, after)
    }

    fn descend(&self, node: usize, lo: usize, hi: usize, from: usize, after: u64) -> Option<usize> {
        if hi <= from || lo >= self.len || self.tree[node] <= after {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.descend(2 * node, lo, mid, from, after)
            .or_else(|| self.descend(2 * node + 1, mid, hi, from, after))
    }
}

fn report_sighting(h: &History, read: &Read, s: &Sighting, findings: &mut Findings) {
    let w = &h.writes[s.write];
    let ops = [w.span.inv, w.span.comp, read.span.comp];
    if s.lost {
        findings.add(AnomalyKind::LostWrite, Severity::Violation, &ops, || {
            format!(
                "write {} acknowledged at op {} is missing from {}",
                h.id_name(w.id),
                w.span.comp,
                read_where(h, read)
            )
        });
    } else {
        findings.add(
            AnomalyKind::FailedWriteApplied,
            Severity::Violation,
            &ops,
            || {
                format!(
                    "write {} failed at op {} (it certainly did not happen) but is present in {}",
                    h.id_name(w.id),
                    w.span.comp,
                    read_where(h, read)
                )
            },
        );
    }
}

/// `phantom-write`: an id present that no write ever carried.
fn phantoms(h: &History, read: &Read, reported: &mut FxHashMap<Sym, ()>, findings: &mut Findings) {
    for &id in &read.ids {
        if h.carried[id as usize] || reported.insert(id, ()).is_some() {
            continue;
        }
        findings.add(
            AnomalyKind::PhantomWrite,
            Severity::Violation,
            &[read.span.comp],
            || {
                format!(
                    "id {} is present in {} but no write ever carried it",
                    h.id_name(id),
                    read_where(h, read)
                )
            },
        );
    }
}

/// `log-divergence`: two final `log` reads disagree on their common prefix. Each log is
/// compared with the longest agreeing log so far: if none disagrees with it, all logs
/// are prefixes of the last one, hence of each other.
fn log_divergence(h: &History, findings: &mut Findings) {
    let mut reference: Option<&Read> = None;
    for read in h.final_reads.iter().filter(|r| r.log_tokens.is_some()) {
        let Some(r0) = reference else {
            reference = Some(read);
            continue;
        };
        match first_difference(r0, read) {
            Some(at) => report_divergence(h, r0, read, at, findings),
            None if read.ids.len() > r0.ids.len() => reference = Some(read),
            None => {}
        }
    }
}

fn entry(r: &Read, i: usize) -> (Sym, Option<u64>) {
    let tokens = r.log_tokens.as_ref().expect("only log reads are compared");
    (r.ids[i], tokens[i])
}

fn first_difference(a: &Read, b: &Read) -> Option<usize> {
    let common = a.ids.len().min(b.ids.len());
    (0..common).find(|&i| entry(a, i) != entry(b, i))
}

fn report_divergence(h: &History, a: &Read, b: &Read, at: usize, findings: &mut Findings) {
    let describe = |r: &Read| {
        let (id, token) = entry(r, at);
        match token {
            Some(t) => format!("{} (token {t})", h.id_name(id)),
            None => h.id_name(id).to_string(),
        }
    };
    findings.add(AnomalyKind::LogDivergence, Severity::Violation, &[a.span.comp, b.span.comp], || {
        format!(
            "the logs of {} (op {}) and {} (op {}) disagree at position {at}: {} against {}; committed entries differ between nodes",
            h.node_name(a.node),
            a.span.comp,
            h.node_name(b.node),
            b.span.comp,
            describe(a),
            describe(b)
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Span, Write};
    use proptest::prelude::*;

    /// What comparing every final read with every write finds: the definition
    /// `sightings` must agree with.
    fn every_read_with_every_write(h: &History) -> Vec<Sighting> {
        let mut out = Vec::new();
        let mut reported = FxHashMap::<Sym, ()>::default();
        for (k, read) in h.final_reads.iter().enumerate() {
            for (w, write) in h.writes.iter().enumerate() {
                let here = read.ids.contains(&write.id);
                let lost = write.kind == OpType::Ok && write.span.comp < read.span.inv && !here;
                let failed = write.kind == OpType::Fail && here;
                if (lost || failed) && reported.insert(write.id, ()).is_none() {
                    out.push(Sighting {
                        read: k,
                        write: w,
                        lost,
                    });
                }
            }
        }
        out
    }

    fn span(inv: u64, comp: u64) -> Span {
        Span {
            inv,
            inv_time: inv,
            comp,
            comp_time: comp,
        }
    }

    /// Writes (id, kind, completion op) and final reads (invocation op, ids listed),
    /// over a few ids so that ids repeat across writes and reads.
    fn history(writes: Vec<(u8, u8, u8)>, reads: Vec<(u8, Vec<u8>)>) -> History {
        let mut h = History::default();
        for id in 0..8 {
            h.ids.intern(&format!("w{id}"));
        }
        for (id, kind, comp) in writes {
            let kind = [OpType::Ok, OpType::Fail, OpType::Info][kind as usize % 3];
            h.writes.push(Write {
                span: span(0, u64::from(comp)),
                id: Sym::from(id % 8),
                token: None,
                kind,
            });
        }
        for (inv, ids) in reads {
            h.final_reads.push(Read {
                span: span(u64::from(inv), u64::from(inv) + 1),
                node: crate::intern::NO_SYM,
                ids: ids.into_iter().map(|i| Sym::from(i % 8)).collect(),
                log_tokens: None,
            });
        }
        h
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn sightings_are_what_every_read_against_every_write_finds(
            writes in proptest::collection::vec((0u8..8, 0u8..3, 0u8..40), 0..24),
            reads in proptest::collection::vec((0u8..48, proptest::collection::vec(0u8..8, 0..8)), 0..12),
        ) {
            let h = history(writes, reads);
            prop_assert_eq!(sightings(&h), every_read_with_every_write(&h));
        }
    }

    #[test]
    fn lost_writes_are_counted_against_the_fault_that_started_before_them() {
        use crate::facts::NemesisOp;
        use crate::history::F;
        // Ids w0..w3 acknowledged: w0 before any fault, w1 and w2 after the partition at
        // op 10, w3 after the pause at op 20; the final read at op 40 lists only w2.
        let mut h = history(
            vec![(0, 0, 5), (1, 0, 12), (2, 0, 14), (3, 0, 22)],
            vec![(40, vec![2])],
        );
        for (w, inv) in h.writes.iter_mut().zip([4, 11, 13, 21]) {
            w.span.inv = inv;
        }
        let fault = |index, f, kind| NemesisOp {
            index,
            time: index,
            f,
            kind,
        };
        h.nemesis = vec![
            fault(10, F::Partition, OpType::Invoke),
            fault(11, F::Partition, OpType::Ok),
            fault(16, F::Heal, OpType::Invoke),
            fault(20, F::Pause, OpType::Invoke),
        ];
        let rpo = rpo(&h, &sightings(&h));
        assert_eq!(rpo["lost_acknowledged"], 3);
        assert_eq!(rpo["before_any_fault"], 1);
        assert_eq!(rpo["max_per_fault"], 1);
        let per: Vec<(u64, u64)> = rpo["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["op"].as_u64().unwrap(), f["lost"].as_u64().unwrap()))
            .collect();
        assert_eq!(per, [(10, 1), (20, 1)]);
    }

    #[test]
    fn the_first_read_after_is_found_from_any_position() {
        let tree = FirstAfter::new(vec![5, 1, 9, 3, 9, 2, 7]);
        assert_eq!(tree.first_after(0, 4), Some(0));
        assert_eq!(tree.first_after(1, 4), Some(2));
        assert_eq!(tree.first_after(3, 8), Some(4));
        assert_eq!(tree.first_after(5, 6), Some(6));
        assert_eq!(tree.first_after(0, 9), None);
        assert_eq!(tree.first_after(7, 0), None);
        assert_eq!(FirstAfter::new(Vec::new()).first_after(0, 0), None);
    }
}
