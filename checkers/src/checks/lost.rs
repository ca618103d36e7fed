//! lost-writes: what the final reads (ok reads invoked after the last nemesis op)
//! say about every write.

use crate::facts::{History, Read};
use crate::history::OpType;
use crate::intern::{FxHashMap, Sym};
use crate::result::{AnomalyKind, Guarantees, Severity};

use super::{Findings, Report};

pub fn check(h: &History, _: &Guarantees, findings: &mut Findings) -> Report {
    if h.final_reads.is_empty() {
        if h.writes.is_empty() && h.read_count == 0 {
            let note = Some("no writes and no reads: nothing to check".to_string());
            return Report {
                note,
                ..Report::default()
            };
        }
        let note = format!(
            "no ok final read (an ok read invoked after the last nemesis op; {} ok reads in all), \
             so lost writes cannot be ruled out",
            h.read_count
        );
        return Report {
            unknown: true,
            note: Some(note),
            figures: None,
        };
    }
    // `present[id] == k + 1` while looking at final read k.
    let mut present = vec![0u32; h.ids.len()];
    let mut reported = FxHashMap::<Sym, ()>::default();
    for (k, read) in h.final_reads.iter().enumerate() {
        let stamp = k as u32 + 1;
        for &id in &read.ids {
            present[id as usize] = stamp;
        }
        lost_and_failed(h, read, &present, stamp, &mut reported, findings);
        phantoms(h, read, &mut reported, findings);
    }
    log_divergence(h, findings);
    let figures = serde_json::json!({ "final_reads": h.final_reads.len() });
    Report {
        figures: Some(figures),
        ..Report::default()
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

/// `lost-write` and `failed-write-applied`, each reported once per id.
fn lost_and_failed(
    h: &History,
    read: &Read,
    present: &[u32],
    stamp: u32,
    reported: &mut FxHashMap<Sym, ()>,
    findings: &mut Findings,
) {
    for w in &h.writes {
        let here = present[w.id as usize] == stamp;
        let lost = w.kind == OpType::Ok && w.span.comp < read.span.inv && !here;
        let failed = w.kind == OpType::Fail && here;
        if !(lost || failed) || reported.insert(w.id, ()).is_some() {
            continue;
        }
        let ops = [w.span.inv, w.span.comp, read.span.comp];
        if lost {
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
