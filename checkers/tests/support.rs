//! Builds hand-made histories op by op, each op 1 ms after the previous.

use checkers::{
    check, AnomalyKind, CheckResult, Guarantees, History, LogEntry, OpDraft, OpType, Process,
    Recorder, Role, Severity, Validity, Value, F,
};

pub struct H {
    pub rec: Recorder,
    t: u64,
}

pub const STRICT: Guarantees = Guarantees {
    exclusive_leadership: true,
    fence_on_grant: true,
    leaderless: false,
};
pub const LAX: Guarantees = Guarantees {
    exclusive_leadership: false,
    fence_on_grant: false,
    leaderless: false,
};

impl H {
    pub fn new() -> H {
        H {
            rec: Recorder::in_memory(),
            t: 0,
        }
    }

    /// Lets `ms` milliseconds pass before the next op.
    pub fn advance(&mut self, ms: u64) {
        self.t += ms * 1_000_000;
    }

    pub fn op(&mut self, d: OpDraft) -> u64 {
        self.t += 1_000_000;
        self.rec.record_at(self.t, d).unwrap().index
    }

    pub fn inv(&mut self, p: u64, f: F, v: Option<Value>) -> u64 {
        self.op(OpDraft::invoke(Process::Client(p), f, v))
    }

    pub fn done(&mut self, p: u64, kind: OpType, f: F, v: Option<Value>) -> u64 {
        let mut d = OpDraft::ok(Process::Client(p), f, v);
        d.kind = kind;
        if kind != OpType::Ok {
            d.error = Some("test".into());
        }
        self.op(d)
    }

    pub fn ok(&mut self, p: u64, f: F, v: Option<Value>) -> u64 {
        self.done(p, OpType::Ok, f, v)
    }

    /// A whole ok status of `node` by process `p`: (invoke, ok).
    pub fn status(&mut self, p: u64, node: &str, role: Role, term: u64) -> (u64, u64) {
        let i = self.op(OpDraft::invoke(Process::Client(p), F::Status, None).with_node(node));
        let o = self.op(
            OpDraft::ok(Process::Client(p), F::Status, Some(status(role, term))).with_node(node),
        );
        (i, o)
    }

    /// A whole status op reporting a vote (`None`: no vote yet): (invoke, completion).
    pub fn vote(&mut self, p: u64, node: &str, term: u64, vote: Option<&str>) -> (u64, u64) {
        let value = vote_status(term, vote);
        let i = self.op(OpDraft::invoke(Process::Client(p), F::Status, None).with_node(node));
        let o = self.op(OpDraft::ok(Process::Client(p), F::Status, Some(value)).with_node(node));
        (i, o)
    }

    /// A whole status op reporting the node's commit index and last log index:
    /// (invoke, completion).
    pub fn log_status(
        &mut self,
        p: u64,
        node: &str,
        role: Role,
        term: u64,
        commit: u64,
        last_index: u64,
    ) -> (u64, u64) {
        let value = Value {
            commit: Some(commit),
            last_index: Some(last_index),
            ..status(role, term)
        };
        let i = self.op(OpDraft::invoke(Process::Client(p), F::Status, None).with_node(node));
        let o = self.op(OpDraft::ok(Process::Client(p), F::Status, Some(value)).with_node(node));
        (i, o)
    }

    /// A whole status op reporting the node's commit index and its log's runs, each
    /// `[term, first index]`: (invoke, completion).
    pub fn runs_status(
        &mut self,
        p: u64,
        node: &str,
        term: u64,
        commit: u64,
        runs: &[[u64; 2]],
    ) -> (u64, u64) {
        let value = Value {
            commit: Some(commit),
            terms: Some(runs.to_vec()),
            ..status(Role::Follower, term)
        };
        let i = self.op(OpDraft::invoke(Process::Client(p), F::Status, None).with_node(node));
        let o = self.op(OpDraft::ok(Process::Client(p), F::Status, Some(value)).with_node(node));
        (i, o)
    }

    /// A whole write: (invoke, completion).
    pub fn write(&mut self, p: u64, id: &str, token: Option<u64>, kind: OpType) -> (u64, u64) {
        let i = self.inv(p, F::Write, Some(write(id, token)));
        let c = self.done(p, kind, F::Write, Some(write(id, token)));
        (i, c)
    }

    pub fn acquire(&mut self, p: u64, token: u64) -> (u64, u64) {
        let i = self.inv(
            p,
            F::Acquire,
            Some(Value {
                election: Some("e".into()),
                ..Value::default()
            }),
        );
        let o = self.ok(p, F::Acquire, Some(token_value(token)));
        (i, o)
    }

    pub fn holding(&mut self, p: u64, token: u64, holding: bool) -> (u64, u64) {
        let i = self.inv(p, F::Holding, Some(token_value(token)));
        let o = self.ok(
            p,
            F::Holding,
            Some(Value {
                holding: Some(holding),
                ..Value::default()
            }),
        );
        (i, o)
    }

    pub fn read_ids(&mut self, p: u64, node: Option<&str>, ids: &[&str]) -> (u64, u64) {
        let v = Value {
            ids: Some(ids.iter().map(|s| s.to_string()).collect()),
            ..Value::default()
        };
        self.read(p, node, v)
    }

    pub fn read_log(
        &mut self,
        p: u64,
        node: Option<&str>,
        log: &[(&str, Option<u64>)],
    ) -> (u64, u64) {
        let entries = log
            .iter()
            .map(|(id, token)| LogEntry {
                id: id.to_string(),
                token: *token,
            })
            .collect();
        self.read(
            p,
            node,
            Value {
                log: Some(entries),
                ..Value::default()
            },
        )
    }

    fn read(&mut self, p: u64, node: Option<&str>, v: Value) -> (u64, u64) {
        let mut inv = OpDraft::invoke(Process::Client(p), F::Read, None);
        let mut ok = OpDraft::ok(Process::Client(p), F::Read, Some(v));
        if let Some(n) = node {
            inv = inv.with_node(n);
            ok = ok.with_node(n);
        }
        (self.op(inv), self.op(ok))
    }

    pub fn nemesis(&mut self, f: F) -> (u64, u64) {
        let i = self.op(OpDraft::invoke(Process::Nemesis, f, None));
        let o = self.op(OpDraft::ok(Process::Nemesis, f, None));
        (i, o)
    }

    /// A nemesis op with a value, ended `kind` (`Invoke`: never completed).
    pub fn nemesis_as(&mut self, f: F, value: Option<Value>, kind: OpType) -> u64 {
        let i = self.op(OpDraft::invoke(Process::Nemesis, f, value.clone()));
        if kind != OpType::Invoke {
            let mut d = OpDraft::ok(Process::Nemesis, f, value);
            d.kind = kind;
            if kind != OpType::Ok {
                d.error = Some("timeout after 60000 ms".into());
            }
            self.op(d);
        }
        i
    }

    pub fn history(&self) -> History {
        History::from_ops(&self.rec.ops()).unwrap()
    }

    pub fn check(&self, g: Guarantees) -> CheckResult {
        check(&self.history(), &g)
    }
}

pub fn status(role: Role, term: u64) -> Value {
    Value {
        role: Some(role),
        term: Some(term),
        ..Value::default()
    }
}

/// A follower's status in `term` reporting a vote (`None`: no vote yet).
pub fn vote_status(term: u64, vote: Option<&str>) -> Value {
    Value {
        vote: Some(vote.map(str::to_string)),
        ..status(Role::Follower, term)
    }
}

pub fn write(id: &str, token: Option<u64>) -> Value {
    Value {
        id: Some(id.into()),
        token: Some(token),
        ..Value::default()
    }
}

pub fn token_value(token: u64) -> Value {
    Value {
        token: Some(Some(token)),
        ..Value::default()
    }
}

/// The anomalies of `kind`, asserting each cites ops and says something.
pub fn found(r: &CheckResult, kind: AnomalyKind) -> Vec<checkers::Anomaly> {
    let v: Vec<_> = r.of_kind(kind).cloned().collect();
    for a in &v {
        assert!(!a.ops.is_empty() && !a.message.is_empty(), "{a:?}");
    }
    v
}

pub fn assert_none(r: &CheckResult, kind: AnomalyKind) {
    assert_eq!(r.count(kind), 0, "unexpected {kind}: {:#?}", r.anomalies);
}

pub fn assert_one(r: &CheckResult, kind: AnomalyKind, severity: Severity) -> checkers::Anomaly {
    let v = found(r, kind);
    assert_eq!(v.len(), 1, "expected one {kind}: {:#?}", r.anomalies);
    assert_eq!(v[0].severity, severity, "{:?}", v[0]);
    let expected = if severity == Severity::Violation {
        Validity::Invalid
    } else {
        r.valid
    };
    assert_eq!(r.valid, expected);
    v[0].clone()
}

pub fn nodes(nodes: &[&str]) -> Value {
    Value {
        nodes: Some(nodes.iter().map(|s| s.to_string()).collect()),
        ..Value::default()
    }
}
