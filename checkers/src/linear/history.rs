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
//! - `mutex`: the election workload's lock ops, one lock per election ([`mutex`]).

use std::collections::HashMap;

use super::model::{FenceInput, KvInput, KvOutput, LeaseInput, LeaseOutput, RegInput, RegOutput};
use super::{Operation, MAY_NEVER_RETURN};
use crate::history::{Op, OpType, Process, Value, F};
use crate::intern::{Interner, Sym};

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
        Ok(Some((input, output)))
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
        Ok(Some((input, output)))
    })
}

/// One lock op that completed ok, as the lock models read it: a compact record the
/// history's facts keep as they are read (so that a run's lock ops cost no second pass
/// and no owned ops), or that [`lock_ops`] makes of a slice of ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockOp {
    pub client: u64,
    pub call: u64,
    pub ret: u64,
    /// History indices of the invocation and of the completion.
    pub inv: u64,
    pub comp: u64,
    /// The invocation's `value.election`, in the elections' interner.
    pub election: Option<Sym>,
    pub answer: LockAnswer,
}

/// What an ok lock op said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockAnswer {
    /// An acquire granted this token.
    Acquired(u64),
    /// A holding of this token answered.
    Holding { token: u64, holding: bool },
    /// A release of this token.
    Released(u64),
    /// A write accepted under this token (unfenced writes are no lock op).
    Wrote(u64),
}

/// The ok lock ops of `history` and their elections' names: acquires, holdings,
/// releases, and writes under a token. A malformed lock op is named.
pub fn lock_ops(history: &[Op]) -> Result<(Vec<LockOp>, Interner), String> {
    let mut elections = Interner::default();
    let converted = convert(
        history,
        &[F::Acquire, F::Holding, F::Release, F::Write],
        |invoke, done| {
            let Some(done) = done else {
                return Ok(None);
            };
            let token_of = |op: &Op| op.value.as_ref().and_then(|v| v.token.flatten());
            let token = || {
                token_of(invoke).ok_or_else(|| bad(invoke, "value.token", "must be a whole number"))
            };
            let answer = match invoke.f {
                F::Acquire => LockAnswer::Acquired(
                    token_of(done)
                        .ok_or_else(|| bad(done, "value.token", "an ok acquire gives its token"))?,
                ),
                F::Holding => LockAnswer::Holding {
                    token: token()?,
                    holding: done.value.as_ref().and_then(|v| v.holding).ok_or_else(|| {
                        bad(done, "value.holding", "an ok holding gives its answer")
                    })?,
                },
                F::Release => LockAnswer::Released(token()?),
                _ => match token_of(invoke) {
                    Some(t) => LockAnswer::Wrote(t),
                    None => return Ok(None),
                },
            };
            let election = invoke
                .value
                .as_ref()
                .and_then(|v| v.election.as_deref())
                .map(|e| elections.intern(e));
            Ok(Some(((election, answer), ())))
        },
    )?;
    let ops = converted
        .ops
        .iter()
        .zip(&converted.indices)
        .map(|(o, &(inv, comp))| LockOp {
            client: o.client,
            call: o.call,
            ret: o.ret,
            inv,
            comp: comp.expect("ok ops only"),
            election: o.input.0,
            answer: o.input.1,
        })
        .collect();
    Ok((ops, elections))
}

/// The lock ops of an election history, for [`LeaseMutex`](super::LeaseMutex): one lock
/// per election, named by the election.
///
/// - `acquire` `ok` with token T: grant T was taken.
/// - `holding` `ok`: whether grant T held at an instant inside the op.
/// - `release` `ok`: grant T was given up.
/// - `write` `ok` with token T, when `fenced_writes` (the store accepts a write only
///   under the current grant, `fence_on_grant`): grant T held at an instant inside the
///   op, as a `holding` that answered `true`. The write's election is its own
///   `value.election`, else the election that granted T, else the history's only
///   election; a write under a token no acquire or holding names, in a history of
///   several elections, is left out. Unfenced writes (`token: null`) are left out.
/// - `fail` ops did not happen and are left out.
/// - `info` ops and invocations never completed are left out too: an unknown acquire,
///   holding or release can change nothing the model can check, since any grant may
///   lapse at any instant anyway (a lapse is what an unseen release or a grant under an
///   unseen token looks like to every other op).
pub fn mutex(
    history: &[Op],
    fenced_writes: bool,
) -> Result<Converted<LeaseInput, LeaseOutput>, String> {
    let (ops, elections) = lock_ops(history)?;
    mutex_of(&ops, &elections, fenced_writes)
}

/// [`mutex`] of a history's [`LockOp`]s.
pub fn mutex_of(
    ops: &[LockOp],
    elections: &Interner,
    fenced_writes: bool,
) -> Result<Converted<LeaseInput, LeaseOutput>, String> {
    let of_write = WriteElections::of(ops, elections);
    let mut out = Converted {
        ops: Vec::new(),
        indices: Vec::new(),
    };
    for op in ops {
        let election = || election_of(op, elections);
        let (input, output) = match op.answer {
            LockAnswer::Acquired(t) => (
                LeaseInput::Acquire { lock: election()? },
                LeaseOutput::Acquired(t),
            ),
            LockAnswer::Holding { token, holding } => (
                LeaseInput::Holding {
                    lock: election()?,
                    token,
                },
                LeaseOutput::Holding(holding),
            ),
            LockAnswer::Released(token) => (
                LeaseInput::Release {
                    lock: election()?,
                    token,
                },
                LeaseOutput::Done,
            ),
            LockAnswer::Wrote(_) if !fenced_writes => continue,
            // A write: under a token, a sign that its grant held.
            LockAnswer::Wrote(token) => {
                let Some(lock) = of_write.of_write(op, token) else {
                    continue;
                };
                (
                    LeaseInput::Holding { lock, token },
                    LeaseOutput::Holding(true),
                )
            }
        };
        out.ops.push(Operation {
            client: op.client,
            call: op.call,
            ret: op.ret,
            input,
            output,
        });
        out.indices.push((op.inv, Some(op.comp)));
    }
    Ok(out)
}

/// Which election each token was granted in, for writes, which do not name theirs.
struct WriteElections<'a> {
    by_token: HashMap<u64, Sym>,
    /// The history's only election, when it has one.
    only: Option<Sym>,
    names: &'a Interner,
}

impl<'a> WriteElections<'a> {
    fn of(ops: &[LockOp], names: &'a Interner) -> WriteElections<'a> {
        let mut by_token: HashMap<u64, Sym> = HashMap::new();
        for op in ops {
            let Some(e) = op.election else { continue };
            match op.answer {
                LockAnswer::Acquired(t) => {
                    by_token.insert(t, e);
                }
                LockAnswer::Holding { token: t, .. } | LockAnswer::Released(t) => {
                    by_token.entry(t).or_insert(e);
                }
                LockAnswer::Wrote(_) => {}
            }
        }
        let mut distinct: Vec<Sym> = by_token.values().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let only = (distinct.len() == 1).then(|| distinct[0]);
        WriteElections {
            by_token,
            only,
            names,
        }
    }

    /// The election of a write under token `t`: its own `value.election`, else the
    /// election that granted `t`, else the history's only election.
    fn of_write(&self, op: &LockOp, t: u64) -> Option<String> {
        op.election
            .or_else(|| self.by_token.get(&t).copied())
            .or(self.only)
            .map(|e| self.names.name(e).to_string())
    }
}

/// The name of a lock op's election, which every acquire, holding and release names.
fn election_of(op: &LockOp, elections: &Interner) -> Result<String, String> {
    op.election
        .map(|e| elections.name(e).to_string())
        .ok_or_else(|| {
            format!(
                "op {}: value.election: every lock op names its election",
                op.inv
            )
        })
}

/// The fencing ops of an election history, for [`FencedRegister`](super::FencedRegister):
/// acquires answered ok (a grant with its token), releases answered ok, and writes
/// accepted (ok) under a token, each in its election as [`mutex`] finds it. Everything
/// else (holdings, unfenced writes, `fail` and `info` ops) is left out.
pub fn fenced_register(history: &[Op]) -> Result<Converted<FenceInput, ()>, String> {
    let (ops, elections) = lock_ops(history)?;
    fenced_register_of(&ops, &elections)
}

/// [`fenced_register`] of a history's [`LockOp`]s.
pub fn fenced_register_of(
    ops: &[LockOp],
    elections: &Interner,
) -> Result<Converted<FenceInput, ()>, String> {
    let of_write = WriteElections::of(ops, elections);
    let mut out = Converted {
        ops: Vec::new(),
        indices: Vec::new(),
    };
    for op in ops {
        let election = || election_of(op, elections);
        let input = match op.answer {
            LockAnswer::Acquired(token) => FenceInput::Grant {
                lock: election()?,
                token,
            },
            LockAnswer::Released(token) => FenceInput::Release {
                lock: election()?,
                token,
            },
            LockAnswer::Wrote(token) => match of_write.of_write(op, token) {
                Some(lock) => FenceInput::Write { lock, token },
                None => continue,
            },
            LockAnswer::Holding { .. } => continue,
        };
        out.ops.push(Operation {
            client: op.client,
            call: op.call,
            ret: op.ret,
            input,
            output: (),
        });
        out.indices.push((op.inv, Some(op.comp)));
    }
    Ok(out)
}

/// Pairs each client invocation of `fs` with its process's completion and makes an
/// operation of each pair that did not fail, unless `make` leaves it out (`None`).
fn convert<I, O>(
    history: &[Op],
    fs: &[F],
    mut make: impl FnMut(&Op, Option<&Op>) -> Result<Option<(I, O)>, String>,
) -> Result<Converted<I, O>, String> {
    let mut out = Converted {
        ops: Vec::new(),
        indices: Vec::new(),
    };
    let mut pending: HashMap<u64, &Op> = HashMap::new();
    let mut push = |out: &mut Converted<I, O>, invoke: &Op, done: Option<&Op>| {
        let Some((input, output)) = make(invoke, done)? else {
            return Ok(());
        };
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
    use crate::linear::{check, CasRegister, CheckOptions, Kv, LeaseMutex, Verdict};

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

    const ACQUIRE_HOLD_WRITE_RELEASE: [&str; 8] = [
        r#""process":0,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
        r#""process":0,"type":"ok","f":"acquire","value":{"token":7}"#,
        r#""process":0,"type":"invoke","f":"holding","value":{"election":"e1","token":7}"#,
        r#""process":0,"type":"ok","f":"holding","value":{"election":"e1","token":7,"holding":true}"#,
        r#""process":0,"type":"invoke","f":"write","value":{"token":7,"id":"w0.1"}"#,
        r#""process":0,"type":"ok","f":"write","value":{"token":7,"id":"w0.1"}"#,
        r#""process":0,"type":"invoke","f":"release","value":{"election":"e1","token":7}"#,
        r#""process":0,"type":"ok","f":"release","value":{"election":"e1","token":7}"#,
    ];

    #[test]
    fn a_clean_lock_cycle_is_linearizable_and_a_fenced_write_reads_as_holding() {
        let h = ops(&ACQUIRE_HOLD_WRITE_RELEASE);
        let c = mutex(&h, true).unwrap();
        assert_eq!(c.ops.len(), 4);
        assert_eq!(
            c.ops[2].input,
            LeaseInput::Holding {
                lock: "e1".into(),
                token: 7
            },
            "the write's election is the one that granted its token"
        );
        assert_eq!(
            check(&LeaseMutex, &c.ops, &CheckOptions::default()).linearizable(),
            Some(true)
        );
        assert_eq!(mutex(&h, false).unwrap().ops.len(), 3, "writes left out");
    }

    #[test]
    fn a_grant_still_holding_after_a_newer_grant_is_refused() {
        let h = ops(&[
            r#""process":0,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
            r#""process":0,"type":"ok","f":"acquire","value":{"token":3}"#,
            r#""process":1,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
            r#""process":1,"type":"ok","f":"acquire","value":{"token":5}"#,
            r#""process":0,"type":"invoke","f":"holding","value":{"election":"e1","token":3}"#,
            r#""process":0,"type":"ok","f":"holding","value":{"election":"e1","token":3,"holding":true}"#,
            r#""process":2,"type":"invoke","f":"acquire","value":{"election":"e2"}"#,
            r#""process":2,"type":"info","f":"acquire","value":{"election":"e2"}"#,
        ]);
        let c = mutex(&h, false).unwrap();
        assert_eq!(c.ops.len(), 3, "the info acquire is left out");
        let report = check(&LeaseMutex, &c.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(false));
        let Verdict::NotLinearizable(cx) = &report.keys[0].verdict else {
            panic!("{:?}", report.keys[0].verdict)
        };
        let cited: Vec<u64> = cx.required.iter().map(|&i| c.indices[i].0).collect();
        // Grant 3 could not come after grant 5, so the grant of 5 and the holding of 3
        // that followed it are enough.
        assert_eq!(cited, vec![2, 4]);
    }

    #[test]
    fn a_lapsed_grant_may_read_not_holding_but_never_holds_again() {
        let mut lines = ACQUIRE_HOLD_WRITE_RELEASE[..2].to_vec();
        lines.extend([
            r#""process":0,"type":"invoke","f":"holding","value":{"election":"e1","token":7}"#,
            r#""process":0,"type":"ok","f":"holding","value":{"election":"e1","token":7,"holding":false}"#,
        ]);
        let lapsed = mutex(&ops(&lines), true).unwrap();
        let report = check(&LeaseMutex, &lapsed.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(true), "the lease ran out");
        lines.extend(&ACQUIRE_HOLD_WRITE_RELEASE[4..6]);
        let c = mutex(&ops(&lines), true).unwrap();
        let report = check(&LeaseMutex, &c.ops, &CheckOptions::default());
        assert_eq!(
            report.linearizable(),
            Some(false),
            "a write accepted under a grant seen lapsed"
        );
        let c = mutex(&ops(&lines), false).unwrap();
        let report = check(&LeaseMutex, &c.ops, &CheckOptions::default());
        assert_eq!(report.linearizable(), Some(true), "writes not fenced");
    }

    #[test]
    fn a_malformed_lock_op_is_named() {
        let h = ops(&[
            r#""process":0,"type":"invoke","f":"acquire","value":{"election":"e1"}"#,
            r#""process":0,"type":"ok","f":"acquire","value":{}"#,
        ]);
        let e = mutex(&h, false).unwrap_err();
        assert!(e.contains("op 1") && e.contains("value.token"), "{e}");
    }
}
