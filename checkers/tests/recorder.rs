//! The recorder: indices, times, file output, finish.

use checkers::{OpDraft, OpType, Process, Recorder, Value, F};

fn write_value(id: &str, token: Option<u64>) -> Value {
    Value {
        id: Some(id.into()),
        token: Some(token),
        ..Value::default()
    }
}

#[test]
fn assigns_consecutive_indices_and_monotonic_times() {
    let rec = Recorder::in_memory();
    let threads: Vec<_> = (0..4)
        .map(|p| {
            let rec = rec.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let inv = OpDraft::invoke(
                        Process::Client(p),
                        F::Write,
                        Some(write_value(&format!("w{p}-{i}"), None)),
                    );
                    rec.record(inv.clone()).unwrap();
                    rec.record(inv.complete(OpType::Ok, inv.value.clone()))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let ops = rec.ops();
    assert_eq!(ops.len(), 800);
    for (i, w) in ops.windows(2).enumerate() {
        assert_eq!(w[0].index, i as u64);
        assert!(w[0].time <= w[1].time);
    }
}

#[test]
fn record_at_refuses_going_back_in_time() {
    let rec = Recorder::in_memory();
    rec.record_at(100, OpDraft::invoke(Process::Client(0), F::Status, None))
        .unwrap();
    assert!(rec
        .record_at(99, OpDraft::invoke(Process::Client(1), F::Status, None))
        .is_err());
    let op = rec
        .record_at(100, OpDraft::ok(Process::Client(0), F::Status, None))
        .unwrap();
    assert_eq!(op.index, 1);
}

#[test]
fn file_recorder_writes_lines_and_finish_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let rec = Recorder::create(&path).unwrap();
    rec.record(OpDraft::invoke(Process::Nemesis, F::Heal, None))
        .unwrap();
    rec.record(
        OpDraft::info(
            Process::Client(3),
            F::Write,
            Some(write_value("w1", Some(4))),
            "timeout",
        )
        .with_node("n2"),
    )
    .unwrap();
    rec.finish().unwrap();
    assert!(rec
        .record(OpDraft::invoke(Process::Client(0), F::Read, None))
        .is_err());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let op: checkers::Op = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(op.index, 1);
    assert_eq!(op.error.as_deref(), Some("timeout"));
    assert_eq!(op.node.as_deref(), Some("n2"));
    assert!(lines[0].contains("\"process\":\"nemesis\""));
}

#[test]
fn file_recorder_flushes_without_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let rec = Recorder::create(&path).unwrap();
    rec.record(OpDraft::invoke(Process::Client(0), F::Status, None))
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&path).unwrap().len() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "history not flushed within 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
