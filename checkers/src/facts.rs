//! The history as the checkers see it: invocations paired with their completions and
//! reduced, in one streaming pass, to the compact facts each checker needs.
//!
//! Nothing here keeps whole ops: a 10M-op history must check in well under 1 GiB. Reads
//! are the one large fact, so only reads that can still turn out final (invoked after
//! the last nemesis op seen so far) are kept.

use std::io::BufRead;
use std::path::Path;

use crate::error_code::ErrorCode;
use crate::faults::{FaultTracker, FaultsEnd};
use crate::history::{Op, OpType, Process, F};
use crate::intern::{FxHashMap, Interner, Sym, NO_SYM};
use crate::raw::{RawOp, RawValue};
use crate::reader::{kind_name, HistoryError, LineReader};

/// An op index meaning "never happened" (an invocation never completed).
pub const NO_INDEX: u64 = u64::MAX;

/// Where an operation sits in the history: its invocation and its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub inv: u64,
    pub inv_time: u64,
    /// `NO_INDEX` if the op never completed.
    pub comp: u64,
    pub comp_time: u64,
}

/// An ok `status` op.
#[derive(Clone, Copy, Debug)]
pub struct StatusObs {
    pub span: Span,
    /// The node observed, `NO_SYM` if the op names none.
    pub node: Sym,
    pub term: Option<u64>,
    pub is_leader: bool,
    /// The node named some leader (itself included).
    pub knows_leader: bool,
    /// Whom the node reported voting for in `term` (`Some(NO_SYM)`: nobody yet);
    /// `None` when the system does not report votes.
    pub vote: Option<Sym>,
    /// How far the node knew its log committed, where the system reports it.
    pub commit: Option<u64>,
    /// The index of the node's last log entry, where the system reports it.
    pub last_index: Option<u64>,
    /// Where the system reports its log's runs: their place in
    /// [`History::committed_runs`].
    pub committed_runs: Option<u32>,
}

/// An ok `acquire` op.
#[derive(Clone, Copy, Debug)]
pub struct Acquire {
    pub span: Span,
    pub process: Process,
    pub election: Sym,
    pub token: u64,
}

/// An ok `holding` op that returned `true`.
#[derive(Clone, Copy, Debug)]
pub struct HoldingTrue {
    pub span: Span,
    pub process: Process,
    pub token: u64,
}

/// A completed (or never completed, then `Info`) `write` op.
#[derive(Clone, Copy, Debug)]
pub struct Write {
    pub span: Span,
    pub id: Sym,
    pub token: Option<u64>,
    pub kind: OpType,
}

/// An ok `read` invoked after the last nemesis op seen when it completed.
#[derive(Clone, Debug)]
pub struct Read {
    pub span: Span,
    pub node: Sym,
    pub ids: Vec<Sym>,
    /// For a `log` read, each entry's token, parallel to `ids`.
    pub log_tokens: Option<Vec<Option<u64>>>,
}

/// A nemesis op, invocations and completions alike.
#[derive(Clone, Copy, Debug)]
pub struct NemesisOp {
    pub index: u64,
    pub time: u64,
    pub f: F,
    pub kind: OpType,
}

/// Completions per `f`: ok, fail, info (never-completed invocations count as info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

const F_COUNT: usize = F::ALL.len();

/// The client calls invoked after the last nemesis op (every `f` but `status`, which a
/// node answers alone), and how they ended: once the faults ended, whether the system
/// served to the end (the `no-recovery` rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// The last ok completion among them (op index and time): the system served then.
    pub last_ok: Option<(u64, u64)>,
    /// Completions not ok since `last_ok` (or since the last nemesis op).
    pub failed_since: Outcomes,
    /// The first and the last of those completions (op index and time).
    pub first_failed: Option<(u64, u64)>,
    pub last_failed: Option<(u64, u64)>,
}

/// Whether an op is a client's call on the system: not the nemesis's, not a `status`.
fn is_call(process: Process, f: F) -> bool {
    process != Process::Nemesis && f != F::Status
}

fn count(o: &mut Outcomes, kind: OpType) {
    match kind {
        OpType::Ok => o.ok += 1,
        OpType::Fail => o.fail += 1,
        OpType::Info | OpType::Invoke => o.info += 1,
    }
}

/// The compact facts of a whole history.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub nodes: Interner,
    pub ids: Interner,
    pub elections: Interner,
    pub op_count: u64,
    pub last_time: u64,
    pub statuses: Vec<StatusObs>,
    /// The runs of the log at or below the commit index, each `(term, first, last)`, of
    /// the statuses that report them ([`StatusObs::committed_runs`]).
    pub committed_runs: Vec<Box<[(u64, u64, u64)]>>,
    pub acquires: Vec<Acquire>,
    pub holdings: Vec<HoldingTrue>,
    /// In completion order; never-completed writes at the end.
    pub writes: Vec<Write>,
    /// `carried[id]`: some write invocation carried this id.
    pub carried: Vec<bool>,
    pub final_reads: Vec<Read>,
    /// Ok reads seen at all, final or not.
    pub read_count: u64,
    pub nemesis: Vec<NemesisOp>,
    /// Whether every fault was undone by an undo that ended `ok` (docs/design.md, "After
    /// the faults").
    pub faults: FaultsEnd,
    /// Stretches before the last fault with nothing in force, in nanoseconds since the
    /// run's start (`FaultTracker::quiet`).
    pub quiet: Vec<(u64, u64)>,
    /// Fault starts (partition, pause, kill, clock, packet) whose call ended `ok`.
    pub faults_injected: u64,
    /// Fault starts whose targets included the node last seen leading when invoked.
    pub leader_faults: u64,
    /// Ok `holding` ops that returned false: a holder whose grant had lapsed.
    pub holding_false: u64,
    /// Writes refused `stale-token`: a holder fenced out.
    pub stale_token_refused: u64,
    pub outcomes: [Outcomes; F_COUNT],
    /// Register ops (a `read`, `write` or `cas` naming a `key`) per `f`: the
    /// `register-model` checker's, counted apart from the election's reads and writes.
    pub register_by_f: [Outcomes; F_COUNT],
    /// Register writes and compare-and-sets that ended ok: (invocation index, completion
    /// time), for failover to an ok write.
    pub register_changes_ok: Vec<(u64, u64)>,
    /// The lock ops that completed ok (writes under a token among them), for the lock
    /// models: kept as they are read, so that they cost no second pass over the file.
    pub lock_ops: Vec<crate::linear::history::LockOp>,
    /// Client calls invoked after the last nemesis op, and how they ended.
    pub after_nemesis: Attempts,
}

/// What an invocation carried that its completion needs.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    index: u64,
    time: u64,
    f: F,
    node: Sym,
    id: Sym,
    token: Option<u64>,
    election: Sym,
    /// A register op: no election fact comes of it.
    register: bool,
}

/// Builds a [`History`] one op at a time.
pub struct Builder {
    h: History,
    in_flight: FxHashMap<Process, InFlight>,
    last_nemesis: Option<u64>,
    faults: FaultTracker,
    /// The node last seen leading (an ok status of a leader, in completion order).
    last_leader: Sym,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            h: History::default(),
            in_flight: FxHashMap::default(),
            last_nemesis: None,
            faults: FaultTracker::default(),
            last_leader: NO_SYM,
        }
    }
}

fn field(line: u64, field: &str, message: &str) -> HistoryError {
    HistoryError::Field {
        line,
        field: field.to_string(),
        message: message.to_string(),
    }
}

impl History {
    /// Reads and pairs a whole JSON Lines history.
    pub fn read<R: BufRead>(input: R) -> Result<History, HistoryError> {
        Builder::default().run(LineReader::new(input))
    }

    pub fn from_path(path: &Path) -> Result<History, HistoryError> {
        let file = std::fs::File::open(path)?;
        let bytes = file.metadata()?.len();
        let input = std::io::BufReader::with_capacity(1 << 16, file);
        History::read_sized(input, bytes)
    }

    /// Reads a history of about `bytes` bytes: sizing the id table up front spares
    /// rehashing millions of ids as it grows.
    pub fn read_sized<R: BufRead>(input: R, bytes: u64) -> Result<History, HistoryError> {
        // About one write id per this many bytes of a typical history; a wrong guess
        // costs a grow (too low) or a few MiB of table (too high).
        const HISTORY_BYTES_PER_ID: u64 = 512;
        const IDS_PRESIZED_MAX: u64 = 1 << 22;
        let ids = (bytes / HISTORY_BYTES_PER_ID).min(IDS_PRESIZED_MAX) as usize;
        let mut b = Builder::default();
        b.h.ids = Interner::with_capacity(ids);
        b.run(LineReader::new(input))
    }

    /// A history from ops in memory (e.g. an in-memory recorder's), validated like a file.
    pub fn from_ops(ops: &[Op]) -> Result<History, HistoryError> {
        let mut b = Builder::default();
        let mut last_time = 0;
        for (i, op) in ops.iter().enumerate() {
            let line = i as u64 + 1;
            if op.index != i as u64 {
                return Err(HistoryError::Index {
                    line,
                    found: op.index,
                    expected: i as u64,
                });
            }
            if op.time < last_time {
                return Err(HistoryError::TimeDecreasing {
                    line,
                    found: op.time,
                    previous: last_time,
                });
            }
            last_time = op.time;
            b.push(&RawOp::from_op(op), line)?;
        }
        Ok(b.finish())
    }

    pub fn outcomes(&self, f: F) -> Outcomes {
        self.outcomes[f as usize]
    }

    /// Client calls on the system (every `f` but the nemesis's and `status`, register
    /// ops included) that completed ok.
    pub fn calls_ok(&self) -> u64 {
        F::ALL
            .iter()
            .filter(|f| !f.is_nemesis() && **f != F::Status)
            .map(|&f| self.outcomes(f).ok)
            .sum::<u64>()
            + self.register().ok
    }

    /// Register ops of every `f` together.
    pub fn register(&self) -> Outcomes {
        self.register_by_f
            .iter()
            .fold(Outcomes::default(), |a, o| Outcomes {
                ok: a.ok + o.ok,
                fail: a.fail + o.fail,
                info: a.info + o.info,
            })
    }
}

impl Builder {
    fn run<R: BufRead>(mut self, mut lines: LineReader<R>) -> Result<History, HistoryError> {
        loop {
            let line = lines.line() + 1;
            match lines.next_op()? {
                Some(op) => self.push(&op, line)?,
                None => return Ok(self.finish()),
            }
        }
    }

    pub fn push(&mut self, op: &RawOp<'_>, line: u64) -> Result<(), HistoryError> {
        self.h.op_count += 1;
        self.h.last_time = op.time;
        if op.process == Process::Nemesis {
            self.nemesis(op);
        }
        if op.kind == OpType::Invoke {
            self.invoke(op, line)
        } else {
            self.complete(op, line)
        }
    }

    fn nemesis(&mut self, op: &RawOp<'_>) {
        self.h.nemesis.push(NemesisOp {
            index: op.index,
            time: op.time,
            f: op.f,
            kind: op.kind,
        });
        let leader = (self.last_leader != NO_SYM).then(|| self.h.nodes.name(self.last_leader));
        self.faults.push(
            op.index,
            op.time,
            op.f,
            op.kind,
            op.value.as_deref(),
            leader,
        );
        self.last_nemesis = Some(op.index);
        // Reads invoked before a nemesis op can no longer be final.
        self.h.final_reads.clear();
        self.h.after_nemesis = Attempts::default();
    }

    fn invoke(&mut self, op: &RawOp<'_>, line: u64) -> Result<(), HistoryError> {
        if let Some(open) = self.in_flight.get(&op.process) {
            return Err(HistoryError::DoubleInvoke {
                line,
                process: op.process,
                f: op.f.name(),
                open_f: open.f.name(),
                open_line: open.index + 1,
            });
        }
        let value = op.value.as_deref();
        let mut fl = InFlight {
            index: op.index,
            time: op.time,
            f: op.f,
            node: op.node.as_deref().map_or(NO_SYM, |n| self.node(n)),
            id: NO_SYM,
            token: value.and_then(RawValue::token),
            election: NO_SYM,
            register: op.f == F::Cas
                || (matches!(op.f, F::Read | F::Write) && value.is_some_and(|v| v.key.is_some())),
        };
        match op.f {
            _ if fl.register => {}
            F::Write => {
                let id = value.and_then(|v| v.id.as_deref()).ok_or_else(|| {
                    field(line, "value.id", "a write invoke must carry the write's id")
                })?;
                fl.id = self.h.ids.intern(id);
                self.mark_carried(fl.id);
            }
            F::Holding if fl.token.is_none() => {
                return Err(field(
                    line,
                    "value.token",
                    "a holding invoke must carry the token it asks about",
                ));
            }
            _ => {}
        }
        if matches!(op.f, F::Acquire | F::Holding | F::Release | F::Write) {
            if let Some(e) = value.and_then(|v| v.election.as_deref()) {
                fl.election = self.h.elections.intern(e);
            }
        }
        self.in_flight.insert(op.process, fl);
        Ok(())
    }

    /// A node's symbol. Clusters have a handful of nodes, so comparing with the first
    /// few names beats hashing, and nearly every op names a node.
    fn node(&mut self, name: &str) -> Sym {
        const SCANNED_NODES_MAX: u32 = 16;
        let nodes = &self.h.nodes;
        let scanned = (nodes.len() as u32).min(SCANNED_NODES_MAX);
        match (0..scanned).find(|&n| nodes.name(n) == name) {
            Some(n) => n,
            None => self.h.nodes.intern(name),
        }
    }

    fn mark_carried(&mut self, id: Sym) {
        let i = id as usize;
        if self.h.carried.len() <= i {
            self.h.carried.resize(i + 1, false);
        }
        self.h.carried[i] = true;
    }

    fn complete(&mut self, op: &RawOp<'_>, line: u64) -> Result<(), HistoryError> {
        let Some(fl) = self.in_flight.remove(&op.process) else {
            return Err(HistoryError::CompletionWithoutInvoke {
                line,
                process: op.process,
                f: op.f.name(),
                kind: kind_name(op.kind),
            });
        };
        if fl.f != op.f {
            return Err(HistoryError::CompletionMismatch {
                line,
                process: op.process,
                f: op.f.name(),
                open_f: fl.f.name(),
                open_line: fl.index + 1,
            });
        }
        if is_call(op.process, op.f) && self.last_nemesis.is_none_or(|n| fl.index > n) {
            let a = &mut self.h.after_nemesis;
            if op.kind == OpType::Ok {
                *a = Attempts {
                    last_ok: Some((op.index, op.time)),
                    ..Attempts::default()
                };
            } else {
                count(&mut a.failed_since, op.kind);
                a.first_failed.get_or_insert((op.index, op.time));
                a.last_failed = Some((op.index, op.time));
            }
        }
        if fl.register {
            count(&mut self.h.register_by_f[op.f as usize], op.kind);
            if op.kind == OpType::Ok && op.f != F::Read {
                self.h.register_changes_ok.push((fl.index, op.time));
            }
            return Ok(());
        }
        self.count(op.f, op.kind);
        let span = Span {
            inv: fl.index,
            inv_time: fl.time,
            comp: op.index,
            comp_time: op.time,
        };
        let node = match op.node.as_deref() {
            Some(n) => self.node(n),
            None => fl.node,
        };
        if op.kind == OpType::Ok {
            self.lock_op(op, &fl);
        }
        match (op.f, op.kind) {
            (F::Write, kind) => {
                if kind == OpType::Fail && op.error.as_deref() == Some(ErrorCode::StaleToken.name())
                {
                    self.h.stale_token_refused += 1;
                }
                self.h.writes.push(Write {
                    span,
                    id: fl.id,
                    token: fl.token,
                    kind,
                });
                Ok(())
            }
            (F::Status, OpType::Ok) => self.status(op, line, span, node),
            (F::Acquire, OpType::Ok) => self.acquire(op, line, span, fl),
            (F::Holding, OpType::Ok) => self.holding(op, line, span, fl),
            (F::Read, OpType::Ok) => self.read(op, line, span, node),
            _ => Ok(()),
        }
    }

    /// Keeps an ok lock op (a write only under a token) for the lock models.
    fn lock_op(&mut self, op: &RawOp<'_>, fl: &InFlight) {
        use crate::linear::history::{LockAnswer, LockOp};
        let Process::Client(client) = op.process else {
            return;
        };
        let value = op.value.as_deref();
        let answer = match op.f {
            F::Acquire => match value.and_then(RawValue::token) {
                Some(t) => LockAnswer::Acquired(t),
                // The acquire's own check names the missing token.
                None => return,
            },
            F::Holding => match (fl.token, value.and_then(|v| v.holding)) {
                (Some(token), Some(holding)) => LockAnswer::Holding { token, holding },
                _ => return,
            },
            F::Release => match fl.token {
                Some(t) => LockAnswer::Released(t),
                None => return,
            },
            F::Write => match fl.token {
                Some(t) => LockAnswer::Wrote(t),
                None => return,
            },
            _ => return,
        };
        self.h.lock_ops.push(LockOp {
            client,
            call: fl.time,
            ret: op.time,
            inv: fl.index,
            comp: op.index,
            election: (fl.election != NO_SYM).then_some(fl.election),
            answer,
        });
    }

    fn count(&mut self, f: F, kind: OpType) {
        count(&mut self.h.outcomes[f as usize], kind);
    }

    fn status(
        &mut self,
        op: &RawOp<'_>,
        line: u64,
        span: Span,
        node: Sym,
    ) -> Result<(), HistoryError> {
        let v = op
            .value
            .as_ref()
            .filter(|v| v.role.is_some())
            .ok_or_else(|| {
                field(
                    line,
                    "value.role",
                    "an ok status must carry the node's role",
                )
            })?;
        let is_leader = v.is_leader();
        let knows_leader = is_leader || matches!(v.leader, Some(Some(_)));
        if is_leader && node != NO_SYM {
            self.last_leader = node;
        }
        let vote = match &v.vote {
            None => None,
            Some(None) => Some(NO_SYM),
            Some(Some(name)) => Some(self.node(name)),
        };
        self.h.statuses.push(StatusObs {
            span,
            node,
            term: v.term,
            is_leader,
            knows_leader,
            vote,
            commit: v.commit,
            last_index: v.last_index,
            committed_runs: committed_runs(v).and_then(|runs| {
                let at = u32::try_from(self.h.committed_runs.len()).ok()?;
                self.h.committed_runs.push(runs);
                Some(at)
            }),
        });
        Ok(())
    }

    fn acquire(
        &mut self,
        op: &RawOp<'_>,
        line: u64,
        span: Span,
        fl: InFlight,
    ) -> Result<(), HistoryError> {
        let token = op
            .value
            .as_deref()
            .and_then(RawValue::token)
            .ok_or_else(|| {
                field(
                    line,
                    "value.token",
                    "an ok acquire must carry the granted token",
                )
            })?;
        let election = match fl.election {
            NO_SYM => self.h.elections.intern(""),
            e => e,
        };
        self.h.acquires.push(Acquire {
            span,
            process: op.process,
            election,
            token,
        });
        Ok(())
    }

    fn holding(
        &mut self,
        op: &RawOp<'_>,
        line: u64,
        span: Span,
        fl: InFlight,
    ) -> Result<(), HistoryError> {
        let holding = op.value.as_deref().and_then(|v| v.holding).ok_or_else(|| {
            field(
                line,
                "value.holding",
                "an ok holding must say true or false",
            )
        })?;
        if !holding {
            self.h.holding_false += 1;
        }
        if holding {
            let token = fl.token.expect("holding invokes are checked for a token");
            self.h.holdings.push(HoldingTrue {
                span,
                process: op.process,
                token,
            });
        }
        Ok(())
    }

    fn read(
        &mut self,
        op: &RawOp<'_>,
        line: u64,
        span: Span,
        node: Sym,
    ) -> Result<(), HistoryError> {
        self.h.read_count += 1;
        let v = op.value.as_deref();
        if v.is_none_or(|v| v.ids.is_none() && v.log.is_none()) {
            return Err(field(line, "value", "an ok read must carry `ids` or `log`"));
        }
        // Reads invoked before a nemesis op are never final: skip their (large) ids.
        if self.last_nemesis.is_some_and(|n| span.inv < n) {
            return Ok(());
        }
        let (ids, log_tokens) = match (
            v.and_then(|v| v.ids.as_ref()),
            v.and_then(|v| v.log.as_ref()),
        ) {
            (Some(ids), _) => (self.intern_read(ids.iter().map(|s| &**s)), None),
            (None, Some(log)) => {
                let ids = self.intern_read(log.iter().map(|e| &*e.id));
                (ids, Some(log.iter().map(|e| e.token).collect()))
            }
            (None, None) => {
                return Err(field(line, "value", "an ok read must carry `ids` or `log`"));
            }
        };
        self.h.final_reads.push(Read {
            span,
            node,
            ids,
            log_tokens,
        });
        Ok(())
    }

    /// Interns a read's ids. Final reads mostly list the same ids in the same order, and
    /// ids in nearly the order their writes were invoked (a local shuffle, as many
    /// writes are in flight at once). So each id is checked first against the previous
    /// read's id at its position, then against a small cache of the symbols near the
    /// ones just seen; only then is the big table probed. That turns most random memory
    /// accesses into sequential ones.
    fn intern_read<'s>(&mut self, names: impl ExactSizeIterator<Item = &'s str>) -> Vec<Sym> {
        let History {
            ids, final_reads, ..
        } = &mut self.h;
        let previous: &[Sym] = final_reads.last().map_or(&[], |r| &r.ids);
        let mut near = NearCache::new();
        let mut out = Vec::with_capacity(names.len());
        for (j, name) in names.enumerate() {
            let sym = match previous.get(j) {
                Some(&g) if ids.name(g) == name => g,
                _ => {
                    let sym = near.find(ids, name).unwrap_or_else(|| ids.intern(name));
                    near.saw(ids, sym);
                    sym
                }
            };
            out.push(sym);
        }
        out
    }

    /// Never-completed invocations count as `info`.
    pub fn finish(mut self) -> History {
        let mut open: Vec<InFlight> = self.in_flight.drain().map(|(_, fl)| fl).collect();
        open.sort_by_key(|fl| fl.index);
        for fl in open {
            if fl.register {
                count(&mut self.h.register_by_f[fl.f as usize], OpType::Info);
                continue;
            }
            self.count(fl.f, OpType::Info);
            if fl.f == F::Write {
                let span = Span {
                    inv: fl.index,
                    inv_time: fl.time,
                    comp: NO_INDEX,
                    comp_time: u64::MAX,
                };
                self.h.writes.push(Write {
                    span,
                    id: fl.id,
                    token: fl.token,
                    kind: OpType::Info,
                });
            }
        }
        let ids = self.h.ids.len();
        self.h.carried.resize(ids, false);
        self.h.faults_injected = self.faults.injected;
        self.h.leader_faults = self.faults.aimed_at_leader;
        self.h.quiet = std::mem::take(&mut self.faults.quiet);
        self.h.faults = self.faults.finish();
        self.h
    }
}

impl History {
    /// A node's name for sentences.
    pub fn node_name(&self, node: Sym) -> &str {
        if node == NO_SYM {
            "(unnamed node)"
        } else {
            self.nodes.name(node)
        }
    }

    /// A write id's text.
    pub fn id_name(&self, id: Sym) -> &str {
        self.ids.name(id)
    }

    /// An election's name for sentences ("" is the default election).
    pub fn election_name(&self, election: Sym) -> &str {
        if election == NO_SYM {
            ""
        } else {
            self.elections.name(election)
        }
    }
}

/// A direct-mapped cache of the symbols just ahead of (and, until overwritten, just
/// behind) the largest symbol a read has shown so far.
struct NearCache {
    slots: Vec<Sym>,
    /// The next symbol to put in the cache.
    ahead: u64,
}

impl NearCache {
    const SLOTS: usize = 1024;
    /// How far past the largest symbol seen the cache reaches.
    const REACH: u64 = 96;

    fn new() -> NearCache {
        NearCache {
            slots: Vec::new(),
            ahead: 0,
        }
    }

    fn slot(name: &str) -> usize {
        crate::intern::hash_str(name) as usize & (Self::SLOTS - 1)
    }

    fn find(&self, ids: &Interner, name: &str) -> Option<Sym> {
        let g = *self.slots.get(Self::slot(name))?;
        (g != NO_SYM && ids.name(g) == name).then_some(g)
    }

    fn saw(&mut self, ids: &Interner, sym: Sym) {
        if self.slots.is_empty() {
            self.slots = vec![NO_SYM; Self::SLOTS];
        }
        let sym = u64::from(sym);
        // A jump (a read in another order) restarts the window instead of filling the gap.
        if sym > self.ahead + Self::SLOTS as u64
            || sym + Self::REACH < self.ahead.saturating_sub(Self::SLOTS as u64)
        {
            self.ahead = sym.saturating_sub(Self::REACH);
        }
        let end = (sym + Self::REACH).min(ids.len() as u64);
        while self.ahead < end {
            let g = self.ahead as Sym;
            self.slots[Self::slot(ids.name(g))] = g;
            self.ahead += 1;
        }
    }
}

/// The runs a status reports, clipped to its commit index: `(term, first, last)` of each
/// run that starts at or below it. Runs out of order make no claim.
fn committed_runs(v: &RawValue<'_>) -> Option<Box<[(u64, u64, u64)]>> {
    let (Some(commit), Some(terms)) = (v.commit, v.terms.as_ref()) else {
        return None;
    };
    let ordered = terms
        .windows(2)
        .all(|w| w[0][0] < w[1][0] && w[0][1] < w[1][1]);
    if !ordered {
        return None;
    }
    let runs: Vec<(u64, u64, u64)> = terms
        .iter()
        .enumerate()
        .filter(|(_, r)| r[1] >= 1 && r[1] <= commit)
        .map(|(i, r)| {
            let next = terms.get(i + 1).map_or(u64::MAX, |n| n[1] - 1);
            (r[0], r[1], next.min(commit))
        })
        .collect();
    Some(runs.into_boxed_slice())
}
