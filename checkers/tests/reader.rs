//! Malformed input: each error names the line and what is wrong.

use checkers::{History, HistoryError, OpReader};

const GOOD: &str = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","node":"n2","value":{"id":"w1","token":5}}
{"index":1,"time":20,"process":0,"type":"ok","f":"write","node":"n2","value":{"id":"w1","token":5}}
{"index":2,"time":20,"process":"nemesis","type":"invoke","f":"partition","value":{"groups":[["n1"],["n2","n3"]]}}
"#;

fn error_of(text: &str) -> HistoryError {
    History::read(text.as_bytes()).expect_err("malformed history accepted")
}

fn with_line(extra: &str) -> String {
    format!("{GOOD}{extra}")
}

#[test]
fn a_good_history_reads() {
    let h = History::read(GOOD.as_bytes()).unwrap();
    assert_eq!(h.op_count, 3);
    let ops: Vec<_> = OpReader::new(GOOD.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(
        ops[2]
            .value
            .as_ref()
            .unwrap()
            .groups
            .as_ref()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_truncated_line_is_named() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":1,"type":"inv"#,
    ));
    assert!(matches!(e, HistoryError::Truncated { line: 4, .. }), "{e}");
    assert!(e.to_string().starts_with("line 4: truncated"), "{e}");
}

#[test]
fn a_wrong_type_names_the_field() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":"soon","process":1,"type":"invoke","f":"read"}"#,
    ));
    assert_eq!(e.line(), Some(4));
    assert!(e.to_string().contains("field `time`"), "{e}");
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":1,"type":"invoke","f":"write","value":{"id":"w2","token":"x"}}"#,
    ));
    assert!(e.to_string().contains("field `value.token`"), "{e}");
}

#[test]
fn an_unknown_type_or_f_is_named() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":1,"type":"maybe","f":"read"}"#,
    ));
    assert!(
        e.to_string().contains("line 4: field `type`") && e.to_string().contains("maybe"),
        "{e}"
    );
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":1,"type":"invoke","f":"teleport"}"#,
    ));
    assert!(e.to_string().contains("line 4: field `f`"), "{e}");
}

#[test]
fn a_missing_field_is_named() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"type":"invoke","f":"read"}"#,
    ));
    assert!(e.to_string().contains("line 4: field `process`"), "{e}");
}

#[test]
fn indices_must_count_up_from_zero() {
    let e = error_of(&with_line(
        r#"{"index":5,"time":30,"process":1,"type":"invoke","f":"read"}"#,
    ));
    assert!(
        matches!(
            e,
            HistoryError::Index {
                line: 4,
                found: 5,
                expected: 3
            }
        ),
        "{e}"
    );
    let e = error_of(r#"{"index":1,"time":30,"process":1,"type":"invoke","f":"read"}"#);
    assert!(
        matches!(
            e,
            HistoryError::Index {
                line: 1,
                found: 1,
                expected: 0
            }
        ),
        "{e}"
    );
}

#[test]
fn time_must_not_decrease() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":19,"process":1,"type":"invoke","f":"read"}"#,
    ));
    assert!(
        matches!(e, HistoryError::TimeDecreasing { line: 4, .. }),
        "{e}"
    );
}

#[test]
fn pairing_errors_name_the_line() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":"nemesis","type":"invoke","f":"heal"}"#,
    ));
    assert!(
        matches!(
            e,
            HistoryError::DoubleInvoke {
                line: 4,
                open_line: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":7,"type":"ok","f":"read","value":{"ids":[]}}"#,
    ));
    assert!(
        matches!(e, HistoryError::CompletionWithoutInvoke { line: 4, .. }),
        "{e}"
    );
}

#[test]
fn an_empty_line_or_non_object_is_named() {
    let e = error_of(&with_line("\n"));
    assert_eq!(e.line(), Some(4));
    let e = error_of(&with_line("[1,2]\n"));
    assert_eq!(e.line(), Some(4), "{e}");
}

#[test]
fn a_write_without_an_id_is_named() {
    let e = error_of(&with_line(
        r#"{"index":3,"time":30,"process":1,"type":"invoke","f":"write","value":{"token":1}}"#,
    ));
    assert!(e.to_string().contains("line 4: field `value.id`"), "{e}");
}

#[test]
fn escaped_strings_are_read() {
    let text = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","value":{"id":"w\"1\u00e9","token":null}}
{"index":1,"time":20,"process":0,"type":"ok","f":"write","value":{"id":"w\"1\u00e9","token":null}}
{"index":2,"time":20,"process":1,"type":"invoke","f":"read"}
{"index":3,"time":20,"process":1,"type":"ok","f":"read","value":{"ids":["w\"1é"]}}
"#;
    let h = History::read(text.as_bytes()).unwrap();
    let r = checkers::check(&h, &Default::default());
    assert_eq!(r.valid, checkers::Validity::Valid, "{:#?}", r.anomalies);
}

#[test]
fn the_fast_and_the_serde_parser_read_every_synthetic_line_alike() {
    // The fast path is private; `OpReader` goes through it and then through serde for
    // the owned `Op`. Checking a file and its owned ops must agree.
    let cfg = checkers::synth::SynthConfig::small(11, 4000);
    let mut bytes = Vec::new();
    checkers::synth::generate_to(&cfg, &mut bytes).unwrap();
    let ops: Vec<checkers::Op> = OpReader::new(bytes.as_slice())
        .collect::<Result<_, _>>()
        .unwrap();
    let from_ops = checkers::check(&History::from_ops(&ops).unwrap(), &Default::default());
    let from_lines = checkers::check(
        &History::read(bytes.as_slice()).unwrap(),
        &Default::default(),
    );
    assert_eq!(from_ops, from_lines);
}

/// A reader that hands out at most `chunk` bytes per read, as a pipe might.
struct Trickle<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.len().min(self.chunk).min(out.len());
        out[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// Every line shape the reader takes a different path for: parsed in place, with CRLF,
/// with whitespace around it, with an escape (the serde path), longer than the
/// look-ahead (gathered on its own), and the last one without a newline.
fn shapes() -> String {
    let op = |index: usize, process: &str, kind: &str, f: &str, value: &str| {
        format!(
            "{{\"index\":{index},\"time\":{index},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value}}}"
        )
    };
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..20_000 {
        let value = format!("{{\"id\":\"w{i}\",\"token\":null}}");
        text += &(op(2 * i, &i.to_string(), "invoke", "write", &value) + "\n");
        text += &(op(2 * i + 1, &i.to_string(), "ok", "write", &value) + "\n");
        ids.push(format!("\"w{i}\""));
    }
    let n = 40_000;
    text += &(op(n, "\"nemesis\"", "invoke", "heal", "null") + "\r\n");
    text += &(" ".to_string() + &op(n + 1, "\"nemesis\"", "ok", "heal", "null") + "  \n");
    let escaped = r#"{"id":"w\u0041","token":null}"#;
    text += &(op(n + 2, "7", "invoke", "write", escaped) + "\n");
    text += &(op(n + 3, "7", "ok", "write", escaped) + "\n");
    ids.push("\"wA\"".into());
    text += &op(n + 4, "8", "invoke", "read", "null");
    text += "\n";
    text += &op(
        n + 5,
        "8",
        "ok",
        "read",
        &format!("{{\"ids\":[{}]}}", ids.join(",")),
    );
    text
}

#[test]
fn every_line_shape_reads_alike_however_the_bytes_arrive() {
    let text = shapes();
    let long_line = text.lines().last().unwrap();
    assert!(
        long_line.len() > 1 << 17,
        "the read is longer than the look-ahead"
    );
    let whole = History::read(text.as_bytes()).unwrap();
    assert_eq!(whole.op_count, 40_006);
    let valid = checkers::check(&whole, &Default::default());
    assert_eq!(
        valid.valid,
        checkers::Validity::Valid,
        "{:#?}",
        valid.anomalies
    );
    for chunk in [1, 7, 4096, 1 << 20] {
        let trickled = std::io::BufReader::new(Trickle {
            rest: text.as_bytes(),
            chunk,
        });
        let h = History::read(trickled).unwrap();
        assert_eq!(h.op_count, whole.op_count, "chunk {chunk}");
        assert_eq!(
            checkers::check(&h, &Default::default()),
            valid,
            "chunk {chunk}"
        );
    }
    let ops: Vec<checkers::Op> = OpReader::new(text.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ops.len(), 40_006);
    let read = ops[40_005].value.as_ref().unwrap().ids.as_ref().unwrap();
    assert_eq!(read.len(), 20_001);
    assert_eq!(read[20_000], "wA");
}

#[test]
fn bytes_that_are_not_utf8_are_named_wherever_they_are() {
    for bad in [
        &b"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":{\"id\":\"w\xff\"}}\n"[..],
        &b"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":null}\xff\n"[..],
    ] {
        let e = History::read(bad).expect_err("not UTF-8 accepted");
        assert_eq!(e.line(), Some(1), "{e}");
    }
}

#[test]
fn a_long_last_line_cut_short_is_truncated() {
    let text = shapes();
    let cut = &text.as_bytes()[..text.len() - 1000];
    let e = History::read(cut).expect_err("cut line accepted");
    assert!(
        matches!(e, HistoryError::Truncated { line: 40_006, .. }),
        "{e}"
    );
}

#[test]
fn an_object_broken_across_two_lines_is_refused_at_the_first() {
    let text =
        with_line("{\"index\":3,\"time\":\n30,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n");
    let e = error_of(&text);
    assert_eq!(e.line(), Some(4), "{e}");
}

/// Reads `text[..written]` as a history still being written, from where the last read
/// stopped, the way the live progress tails the file: through a pipe-like input that
/// hands out `chunk` bytes at a time.
fn read_grown(
    text: &[u8],
    written: usize,
    at: checkers::Position,
    chunk: usize,
) -> (Vec<(u64, String)>, checkers::Position) {
    let input = std::io::BufReader::new(Trickle {
        rest: &text[at.offset as usize..written],
        chunk,
    });
    let mut reader = OpReader::growing(input, at);
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        assert_eq!(line.op.index + 1, line.number, "{}", line.text);
        lines.push((line.number, line.text.to_string()));
    }
    (lines, reader.position())
}

#[test]
fn a_growing_history_is_read_in_whole_lines_only_each_once() {
    let mut text = shapes();
    text.push('\n');
    let want: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let bytes = text.as_bytes();
    let long_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    for chunk in [4096, 1 << 20] {
        // Cuts everywhere, and many inside the line longer than the look-ahead.
        let cuts = (0..bytes.len())
            .step_by(997)
            .chain((long_start..bytes.len()).step_by(9_973))
            .chain([bytes.len() - 1, bytes.len()]);
        let mut cuts: Vec<usize> = cuts.collect();
        cuts.sort_unstable();
        let mut at = checkers::Position::default();
        let mut got: Vec<(u64, String)> = Vec::new();
        for written in cuts {
            let (lines, next) = read_grown(bytes, written, at, chunk);
            let line_start = next.offset == 0 || bytes[next.offset as usize - 1] == b'\n';
            assert!(line_start, "stopped mid-line at {}", next.offset);
            assert!(next.offset as usize <= written);
            // Whatever whole line the written bytes hold has been read.
            assert!(!bytes[next.offset as usize..written].contains(&b'\n'));
            assert_eq!(next.line, at.line + lines.len() as u64);
            got.extend(lines);
            at = next;
        }
        assert_eq!(got.len(), want.len(), "chunk {chunk}");
        for ((number, line), want) in got.iter().zip(1..).zip(&want) {
            assert_eq!((number.0, number.1.as_str()), (line, *want));
        }
        assert_eq!(at.offset as usize, bytes.len());
    }
}

#[test]
fn a_growing_history_goes_on_checking_order_across_reads() {
    let (_, at) = read_grown(GOOD.as_bytes(), GOOD.len(), Default::default(), 1 << 20);
    let more = with_line(
        "{\"index\":3,\"time\":30,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
         {\"index\":5,\"time\":40,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":{\"ids\":[]}}\n",
    );
    let input = &more.as_bytes()[at.offset as usize..];
    let mut reader = OpReader::growing(input, at);
    assert_eq!(reader.next_line().unwrap().unwrap().number, 4);
    let e = reader
        .next_line()
        .expect_err("an index out of sequence accepted");
    assert!(
        matches!(
            e,
            HistoryError::Index {
                line: 5,
                found: 5,
                expected: 4
            }
        ),
        "{e}"
    );
}

#[test]
fn a_line_and_its_value_are_given_as_written() {
    let value = "{ \"token\" : 7 ,\"id\":\"w\\u0041é\", \"holding\":true }";
    let text = format!(
        "{{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":{value}}}\r\n\
         {{\"index\":1,\"time\":2,\"process\":0,\"type\":\"fail\",\"f\":\"write\",\"value\":null,\"error\":\"x\"}}\n\
         {{\"index\":2,\"time\":3,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}}"
    );
    let mut reader = OpReader::new(text.as_bytes());
    let first = reader.next_line().unwrap().unwrap();
    assert_eq!(
        first.text,
        text.lines().next().unwrap().trim_end_matches('\r')
    );
    assert_eq!(first.value_text().unwrap(), Some(value));
    let op = first.to_op().unwrap();
    assert_eq!(op.value.unwrap().id.as_deref(), Some("wAé"));
    let second = reader.next_line().unwrap().unwrap();
    assert_eq!(second.value_text().unwrap(), Some("null"));
    let third = reader.next_line().unwrap().unwrap();
    assert_eq!((third.number, third.value_text().unwrap()), (3, None));
    assert!(reader.next_line().unwrap().is_none());
}

#[test]
fn only_a_last_line_without_a_newline_is_cut_short() {
    for (last, cut_short) in [("{\"index\":3,\"ti", true), ("{\"index\":3,\"ti\n", false)] {
        let text = with_line(last);
        let mut reader = OpReader::new(text.as_bytes());
        let e = reader
            .by_ref()
            .find_map(Result::err)
            .expect("a bad line accepted");
        assert_eq!((e.line(), reader.cut_short()), (Some(4), cut_short), "{e}");
    }
}

#[test]
fn a_line_not_utf8_is_refused_even_where_no_checker_looks() {
    let op = |extra: &[u8], in_value: &[u8]| {
        let mut line = br#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","node":"n1","value":{"id":"w1""#.to_vec();
        line.extend_from_slice(in_value);
        line.extend_from_slice(b"}");
        line.extend_from_slice(extra);
        line.extend_from_slice(b"}\n");
        line
    };
    let bad = [
        op(b",\"note\":\"\xff\xfe\"", b""),
        op(b"", b",\"extra\":\"caf\xc3\"\""),
        op(b",\"\xffkey\":1", b""),
    ];
    for line in bad {
        let text = String::from_utf8_lossy(&line).into_owned();
        let err = OpReader::new(line.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .expect_err(&text);
        assert!(
            matches!(err, HistoryError::NotUtf8 { line: 1 }),
            "{text}: {err}"
        );
        let err = History::read(line.as_slice()).expect_err(&text);
        assert!(
            matches!(err, HistoryError::NotUtf8 { line: 1 }),
            "{text}: {err}"
        );
    }
    // The same lines in UTF-8 read.
    let good = op(b",\"note\":\"caf\xc3\xa9\"", b",\"extra\":1");
    OpReader::new(good.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
}

#[test]
fn a_packet_fault_read_from_text_hits_the_leader_among_its_targets() {
    let text = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"status","node":"n1","value":null}
{"index":1,"time":20,"process":0,"type":"ok","f":"status","node":"n1","value":{"role":"leader","term":1,"leader":"n1"}}
{"index":2,"time":30,"process":"nemesis","type":"invoke","f":"packet","value":{"packet":{"kind":"delay","delay_ms":50,"jitter_ms":0},"links":[["n2","n1"]],"nodes":["n1"]}}
{"index":3,"time":40,"process":"nemesis","type":"ok","f":"packet","value":{"packet":{"kind":"delay","delay_ms":50,"jitter_ms":0},"links":[["n2","n1"]],"nodes":["n1"]}}
{"index":4,"time":50,"process":"nemesis","type":"invoke","f":"packet-heal","value":null}
{"index":5,"time":60,"process":"nemesis","type":"info","f":"packet-heal","value":null}
"#;
    let h = History::read(text.as_bytes()).unwrap();
    let r = checkers::check(&h, &Default::default());
    let e = r.exercised.expect("exercised");
    assert_eq!(e.faults_injected, 1);
    assert_eq!(e.leader_faults, 1);
    assert!(
        !e.faults_ended,
        "a packet heal that ended info may not have happened"
    );
    let ops: Vec<_> = OpReader::new(text.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let links = ops[2].value.as_ref().unwrap().links.clone().unwrap();
    assert_eq!(links, vec![vec!["n2".to_string(), "n1".to_string()]]);
}
