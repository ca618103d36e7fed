//! Register and key-value histories in splitbrain's history format, as the search's
//! [`Operation`]s. Client ops pair by process, an invocation with the process's next
//! completion; `fail` ops did not happen and are dropped; an `info` op, or an invocation
//! never completed, may have taken effect at any time after its call, or never. Ops of
//! other kinds (`status`, the nemesis's) are left out: the model says nothing of them.
//!
//! The shapes, one `value` object per op:
//! - `cas-register`: `read` `{"key": K}` answered `{"key": K, "value": V}` (V an integer,
//!   or `null` for a key never written); `write` `{"key": K, "value": V}`; `cas`
//!   `{"key": K, "from": V, "to": V}`, `ok` when it swapped and `fail` when it did not.
//! - `kv`: `get` `{"key": K}` answered `{"key": K, "value": S}` (`""` for an absent key);
//!   `put` and `append` `{"key": K, "value": S}`.

use std::collections::HashMap;

use super::model::{KvInput, KvOutput, RegInput, RegOutput};
use super::{Operation, MAY_NEVER_RETURN};
use crate::history::{Op, OpType, Process, Value, F};

/// A model's operations and, for each, the history indices of its invocation and
/// completion (`None` when it never completed).
#[derive(Clone, Debug)]
pub struct Converted<I, O> {
    pub ops: Vec<Operation<I, O>>,
    pub indices: Vec<(u64, Option<u64>)>,
}

/// The operations of a `cas-register` history.
pub fn cas_register(history: &[Op]) -> Result<Converted<RegInput, RegOutput>, String> {
    convert(history, &[F::Read, F::Write, F::Cas], |invoke, done| {
        let key = key(invoke)?;
        let input = match invoke.f {
            F::Read => RegInput::Read { key },
            F::Write => RegInput::Write {
                key,
                value: int(invoke, "value", field(invoke, |v| &v.value))?,
            },
            _ => RegInput::Cas {
                key,
                from: int(invoke, "from", field(invoke, |v| &v.from))?,
                to: int(invoke, "to", field(invoke, |v| &v.to))?,
            },
        };
        let output = match (done, invoke.f) {
            (None, _) => RegOutput::Unknown,
            (Some(done), F::Read) => match field(done, |v| &v.value) {
                Some(None) => RegOutput::Read(None),
                Some(Some(v)) => RegOutput::Read(Some(v.as_i64().ok_or_else(|| {
                    bad(
                        done,
                        "value.value",
                        "a read's value must be an integer or null",
                    )
                })?)),
                None => return Err(bad(done, "value.value", "an ok read must give its value")),
            },
            (Some(_), _) => RegOutput::Done,
        };
        Ok((input, output))
    })
}

/// The operations of a `kv` history.
pub fn kv(history: &[Op]) -> Result<Converted<KvInput, KvOutput>, String> {
    convert(history, &[F::Get, F::Put, F::Append], |invoke, done| {
        let key = key(invoke)?;
        let input = match invoke.f {
            F::Get => KvInput::Get { key },
            F::Put => KvInput::Put {
                key,
                value: string(invoke, field(invoke, |v| &v.value))?,
            },
            _ => KvInput::Append {
                key,
                value: string(invoke, field(invoke, |v| &v.value))?,
            },
        };
        let output = match (done, invoke.f) {
            (None, _) => KvOutput::Unknown,
            (Some(done), F::Get) => KvOutput::Get(string(done, field(done, |v| &v.value))?),
            (Some(_), _) => KvOutput::Done,
        };
        Ok((input, output))
    })
}

/// Pairs each client invocation of `fs` with its process's completion and makes an
/// operation of each pair that did not fail.
fn convert<I, O>(
    history: &[Op],
    fs: &[F],
    mut make: impl FnMut(&Op, Option<&Op>) -> Result<(I, O), String>,
) -> Result<Converted<I, O>, String> {
    let mut out = Converted {
        ops: Vec::new(),
        indices: Vec::new(),
    };
    let mut pending: HashMap<u64, &Op> = HashMap::new();
    let mut push = |out: &mut Converted<I, O>, invoke: &Op, done: Option<&Op>| {
        let (input, output) = make(invoke, done)?;
        let client = match invoke.process {
            Process::Client(c) => c,
            Process::Nemesis => unreachable!("only client ops pair"),
        };
        out.ops.push(Operation {
            client,
            call: invoke.time,
            ret: done.map_or(MAY_NEVER_RETURN, |d| d.time),
            input,
            output,
        });
        out.indices.push((invoke.index, done.map(|d| d.index)));
        Ok::<_, String>(())
    };
    for op in history {
        let Process::Client(process) = op.process else {
            continue;
        };
        if !fs.contains(&op.f) {
            continue;
        }
        if op.kind == OpType::Invoke {
            if pending.insert(process, op).is_some() {
                return Err(bad(
                    op,
                    "process",
                    "invoked while its previous op is running",
                ));
            }
            continue;
        }
        let invoke = pending
            .remove(&process)
            .ok_or_else(|| bad(op, "process", "completes an op it never invoked"))?;
        if invoke.f != op.f {
            return Err(bad(op, "f", "completes an op of another kind"));
        }
        match op.kind {
            OpType::Ok => push(&mut out, invoke, Some(op))?,
            OpType::Info => push(&mut out, invoke, None)?,
            _ => {}
        }
    }
    let mut open: Vec<&Op> = pending.into_values().collect();
    open.sort_by_key(|o| o.index);
    for invoke in open {
        push(&mut out, invoke, None)?;
    }
    Ok(out)
}

fn bad(op: &Op, field: &str, why: &str) -> String {
    format!(
        "op {} ({} {}): {field}: {why}",
        op.index,
        kind_name(op.kind),
        op.f.name()
    )
}

fn kind_name(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}

fn field<'a>(
    op: &'a Op,
    get: impl Fn(&'a Value) -> &'a Option<Option<serde_json::Value>>,
) -> Option<Option<&'a serde_json::Value>> {
    op.value
        .as_ref()
        .and_then(|v| get(v).as_ref().map(Option::as_ref))
}

fn key(op: &Op) -> Result<String, String> {
    op.value
        .as_ref()
        .and_then(|v| v.key.clone())
        .ok_or_else(|| {
            bad(
                op,
                "value.key",
                "every register and key-value op names its key",
            )
        })
}

fn int(op: &Op, name: &str, v: Option<Option<&serde_json::Value>>) -> Result<i64, String> {
    v.flatten()
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| bad(op, &format!("value.{name}"), "must be an integer"))
}

fn string(op: &Op, v: Option<Option<&serde_json::Value>>) -> Result<String, String> {
    v.flatten()
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(op, "value.value", "must be a string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{check, CasRegister, CheckOptions, Kv, Verdict};

    fn ops(lines: &[&str]) -> Vec<Op> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let text = format!(r#"{{"index":{i},"time":{},{l}}}"#, i * 10);
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
            })
            .collect()
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_refused_and_cited_by_history_index() {
        let h = ops(&[
            r#""process":0,"type":"invoke","f":"write","value":{"key":"x","value":1}"#,
            r#""process":0,"type":"ok","f":"write","value":{"key":"x","value":1}"#,
            r#""process":1,"type":"invoke","f":"read","value":{"key":"x"}"#,
            r#""process":1,"type":"ok","f":"read","value":{"key":"x","value":null}"#,
            r#""process":"nemesis","type":"invoke","f":"kill","value":{"nodes":["n1"]}"#,
        ]);
        let c = cas_register(&h).unwrap();
        assert_eq!(c.indices, vec![(0, Some(1)), (2, Some(3))]);
        let report = check(&CasRegister, &c.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(false));
        let Verdict::NotLinearizable(cx) = &report.keys[0].verdict else {
            panic!("{:?}", report.keys[0].verdict)
        };
        let cited: Vec<u64> = cx.required.iter().map(|&i| c.indices[i].0).collect();
        assert_eq!(cited, vec![0, 2]);
    }

    #[test]
    fn an_info_cas_and_a_failed_write_may_or_may_not_have_happened() {
        let h = ops(&[
            r#""process":0,"type":"invoke","f":"write","value":{"key":"x","value":1}"#,
            r#""process":0,"type":"ok","f":"write","value":{"key":"x","value":1}"#,
            r#""process":1,"type":"invoke","f":"cas","value":{"key":"x","from":1,"to":2}"#,
            r#""process":1,"type":"info","f":"cas","value":{"key":"x","from":1,"to":2}"#,
            r#""process":2,"type":"invoke","f":"write","value":{"key":"x","value":9}"#,
            r#""process":2,"type":"fail","f":"write","value":{"key":"x","value":9}"#,
            r#""process":3,"type":"invoke","f":"read","value":{"key":"x"}"#,
            r#""process":3,"type":"ok","f":"read","value":{"key":"x","value":2}"#,
        ]);
        let c = cas_register(&h).unwrap();
        assert_eq!(c.ops.len(), 3, "the failed write is left out");
        let report = check(&CasRegister, &c.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(true));
    }

    #[test]
    fn kv_appends_read_back_in_an_order_no_single_store_gives_are_refused() {
        let h = ops(&[
            r#""process":0,"type":"invoke","f":"append","value":{"key":"k","value":"a"}"#,
            r#""process":0,"type":"ok","f":"append","value":{"key":"k","value":"a"}"#,
            r#""process":1,"type":"invoke","f":"append","value":{"key":"k","value":"b"}"#,
            r#""process":1,"type":"ok","f":"append","value":{"key":"k","value":"b"}"#,
            r#""process":2,"type":"invoke","f":"get","value":{"key":"k"}"#,
            r#""process":2,"type":"ok","f":"get","value":{"key":"k","value":"ba"}"#,
        ]);
        let c = kv(&h).unwrap();
        let report = check(&Kv, &c.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(false));
    }

    #[test]
    fn a_malformed_op_is_named_with_its_index_and_field() {
        let h =
            ops(&[r#""process":0,"type":"invoke","f":"write","value":{"key":"x","value":"one"}"#]);
        let e = cas_register(&h).unwrap_err();
        assert!(e.contains("op 0") && e.contains("value.value"), "{e}");
        let h = ops(&[r#""process":0,"type":"invoke","f":"get","value":{}"#]);
        let e = kv(&h).unwrap_err();
        assert!(e.contains("value.key"), "{e}");
    }
}
