//! Linearizability: histories of register, key-value and lock operations checked
//! against a sequential [`Model`], each key on its own (P-compositionality), with a
//! bounded Wing–Gong / Lowe search and a counterexample when a key fails.
//!
//! The input is a slice of [`Operation`]s, independent of the history file: `fail`
//! ops never reach it (they did not happen), and an op whose outcome is unknown
//! (`info`) has `ret == MAY_NEVER_RETURN`: it may take effect at any time after its
//! call, or never.

pub mod history;
pub mod jepsen;
pub mod lock;
pub mod model;
pub mod register;
mod search;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Instant;

pub use model::{
    CasRegister, FenceInput, FenceRule, FenceState, FencedRegister, Kv, KvInput, KvOutput, KvValue,
    LeaseInput, LeaseMutex, LeaseOutput, LeaseState, Model, Mutex, MutexInput, RegInput, RegOutput,
    RegValue,
};
use search::{Outcome, Search};

/// The register ops of a history ([`register::is_register_op`]); everything else is
/// left behind as it is read. The lock ops need no such pass: the history's facts keep
/// them ([`crate::History::lock_ops`]).
pub fn register_ops<R: std::io::BufRead>(reader: R) -> Result<Vec<crate::Op>, crate::HistoryError> {
    let mut ops = Vec::new();
    for op in crate::OpReader::new(reader) {
        let op = op?;
        if register::is_register_op(&op) {
            ops.push(op);
        }
    }
    Ok(ops)
}

/// Adds the model checkers' verdicts to `result`: `lock-model` on the history's lock
/// ops always, `register-model` on `register_ops` when there are any.
pub fn add_models(
    history: &crate::History,
    register_ops: &[crate::Op],
    guarantees: &crate::Guarantees,
    options: &CheckOptions,
    result: &mut crate::CheckResult,
) {
    lock::add_lock_model(
        &history.lock_ops,
        &history.elections,
        guarantees,
        options,
        result,
    );
    register::add_register_model(register_ops, options, result);
}

/// The return time of an `info` op: it may take effect at any time after its call.
pub const MAY_NEVER_RETURN: u64 = u64::MAX;

/// The largest failing prefix whose ops are made optional to find the ones the
/// refutation needs; past it the counterexample is the prefix alone. Each try is a search,
/// and blocks of ops are tried together, so a refutation that needs k of n ops costs
/// about k·log2(n) tries.
const MINIMIZE_OPS_MAX: usize = 4096;

/// The states one try of the minimisation may cache: one op at a time, and in blocks
/// (the first try, every op but the last ones optional, is a block).
const MINIMIZE_STATES_PER_TRY: usize = 20_000;
const MINIMIZE_STATES_PER_BLOCK_TRY: usize = 200_000;

/// The longest prefix whose completed ops are tried one at a time rather than in blocks.
const MINIMIZE_ONE_BY_ONE_MAX: usize = 256;

/// The states all tries of one minimisation may cache between them; past it, the
/// minimisation stops where it is (what it has weakened stays weakened).
const MINIMIZE_STATES_TOTAL: usize = 1_000_000;

/// Tries that may run out of their states before the minimisation stops where it is.
const MINIMIZE_TRIES_OUT_OF_BUDGET_MAX: usize = 8;

/// The states each key still open may add to its search in the first round of
/// [`check`]; the slice doubles every round.
pub(crate) const FIRST_SLICE_STATES: usize = 1024;

/// One completed (`ok`) or unknown (`info`) operation. Times are any monotonic unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub client: u64,
    pub call: u64,
    /// [`MAY_NEVER_RETURN`] for an `info` op.
    pub ret: u64,
    pub input: I,
    pub output: O,
}

impl<I, O> Operation<I, O> {
    pub fn new(client: u64, call: u64, ret: u64, input: I, output: O) -> Operation<I, O> {
        Operation {
            client,
            call,
            ret,
            input,
            output,
        }
    }

    pub fn is_info(&self) -> bool {
        self.ret == MAY_NEVER_RETURN
    }
}

/// What one key's search may spend. Past it, that key's verdict is `Unknown`.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Distinct (linearized set, state) pairs cached per key. The keys of a check hold
    /// at most twice this between them.
    pub max_states: usize,
    /// Shared by every key of a check.
    pub deadline: Option<Instant>,
    /// The time a check may take from its start, when no `deadline` is given: [`check`]
    /// makes the deadline of it.
    pub time: Option<std::time::Duration>,
}

impl Budget {
    /// About 100 bytes a state for small keys: some hundreds of MB at worst.
    pub const MAX_STATES_DEFAULT: usize = 2_000_000;
    /// A check of one history stops its search after this long by default; the keys not
    /// yet decided are then `Unknown`, with the reason.
    pub const TIME_DEFAULT: std::time::Duration = std::time::Duration::from_secs(60);

    /// A budget of `max_states` per key and no time bound.
    pub fn states(max_states: usize) -> Budget {
        Budget {
            max_states,
            deadline: None,
            time: None,
        }
    }

    pub(crate) fn exceeded(&self, _states: usize) -> Option<String> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Some("deadline passed".to_string()),
            _ => None,
        }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            time: Some(Budget::TIME_DEFAULT),
            ..Budget::states(Budget::MAX_STATES_DEFAULT)
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub budget: Budget,
    /// Leave the remaining keys `Unknown` once one key is refuted.
    pub stop_at_first_refuted: bool,
}

/// Why a key is not linearizable. Indices are into the slice given to [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The shortest failing prefix found: the key's ops called up to the return of its
    /// last completed op, ops still running then taken as `info`.
    pub prefix: Vec<usize>,
    /// The ops of `prefix` whose completion the refutation needs: with every other
    /// completed op of the prefix optional (it may never have happened; if it did, within
    /// its span) and the ops still running then as `info`, it still cannot be linearized.
    pub required: Vec<usize>,
    /// How many of the key's ops the longest prefix known to be linearizable holds.
    pub longest_linearizable_prefix: usize,
    /// The op whose return ends that prefix: every op of the key called by then can be
    /// linearized (`None` when no prefix is known to be).
    pub linearizable_through: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Counterexample),
    Unknown { reason: String },
}

#[derive(Clone, Debug)]
pub struct KeyReport<K> {
    pub key: K,
    /// The key's ops, as indices into the slice given to [`check`].
    pub ops: Vec<usize>,
    pub verdict: Verdict,
    /// States the key's main search cached.
    pub states: usize,
    /// States cached by the main searches of every key of the history when this key's
    /// verdict was reached: the work spent before it was known.
    pub work_at_verdict: usize,
}

#[derive(Clone, Debug)]
pub struct Report<K> {
    /// In ascending op count.
    pub keys: Vec<KeyReport<K>>,
}

impl<K> Report<K> {
    /// `Some(false)` if a key is refuted, `Some(true)` if every key is linearizable,
    /// `None` otherwise.
    pub fn linearizable(&self) -> Option<bool> {
        let verdicts = || self.keys.iter().map(|k| &k.verdict);
        if verdicts().any(|v| matches!(v, Verdict::NotLinearizable(_))) {
            Some(false)
        } else if verdicts().all(|v| *v == Verdict::Linearizable) {
            Some(true)
        } else {
            None
        }
    }
}

/// Checks `ops` against `model`, key by key, in rounds: in each, every key not decided
/// yet searches on for a slice of states ([`FIRST_SLICE_STATES`], doubling every round),
/// smallest key first, each search going on where it stopped. So one large key does not
/// hold back the others: a key that can be refuted is refuted after about as many
/// states as it needs times the number of keys (twice that at most), whatever their
/// sizes, and the total is the same as searching the keys one after another. While the
/// states the open keys hold together exceed `max_states`, each key in turn is searched
/// to its end: the memory stays within twice `max_states`.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    options: &CheckOptions,
) -> Report<M::Key> {
    let mut parts: BTreeMap<M::Key, Vec<usize>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        parts.entry(model.key(&o.input)).or_default().push(i);
    }
    let mut parts: Vec<(M::Key, Vec<usize>)> = parts.into_iter().collect();
    parts.sort_by_key(|(_, ids)| ids.len());
    let mut budget = options.budget.clone();
    if budget.deadline.is_none() {
        budget.deadline = budget.time.map(|t| Instant::now() + t);
    }
    let budget = &budget;
    let mut searches: Vec<Search<M>> = parts
        .iter()
        .map(|(_, ids)| {
            let key_ops: Vec<&Operation<M::Input, M::Output>> =
                ids.iter().map(|&i| &ops[i]).collect();
            let spans: Vec<(u64, u64)> = key_ops.iter().map(|o| (o.call, o.ret)).collect();
            Search::new(model, key_ops, &spans)
        })
        .collect();
    let mut verdicts: Vec<Option<(Verdict, usize)>> = vec![None; parts.len()];
    let mut work = 0usize;
    let mut refuted = false;
    let mut slice = FIRST_SLICE_STATES;
    while verdicts.iter().any(Option::is_none) {
        for i in 0..parts.len() {
            if verdicts[i].is_some() {
                continue;
            }
            if refuted && options.stop_at_first_refuted {
                let reason = "not searched to its end: another key is not linearizable";
                verdicts[i] = Some((
                    Verdict::Unknown {
                        reason: reason.to_string(),
                    },
                    work,
                ));
                continue;
            }
            let held: usize = (0..parts.len())
                .filter(|&j| verdicts[j].is_none())
                .map(|j| searches[j].states())
                .sum();
            let before = searches[i].states();
            let pause_at = if held > budget.max_states {
                usize::MAX
            } else {
                before.saturating_add(slice)
            };
            let outcome = searches[i].run(budget, pause_at);
            work += searches[i].states() - before;
            let Some(outcome) = outcome else {
                continue;
            };
            let verdict = match outcome {
                Outcome::Linearizable => Verdict::Linearizable,
                Outcome::OutOfBudget(reason) => Verdict::Unknown { reason },
                Outcome::Refuted => {
                    refuted = true;
                    Verdict::NotLinearizable(refutation(model, ops, &parts[i].1, budget))
                }
            };
            verdicts[i] = Some((verdict, work));
        }
        slice = slice.saturating_mul(2);
    }
    let keys = parts
        .into_iter()
        .zip(verdicts)
        .zip(&searches)
        .map(|(((key, ids), v), s)| {
            let (verdict, work_at_verdict) = v.expect("every key decided");
            KeyReport {
                key,
                ops: ids,
                verdict,
                states: s.states(),
                work_at_verdict,
            }
        })
        .collect();
    Report { keys }
}

/// The counterexample of a refuted key, its indices into `all`.
fn refutation<M: Model>(
    model: &M,
    all: &[Operation<M::Input, M::Output>],
    ids: &[usize],
    budget: &Budget,
) -> Counterexample {
    let ops: Vec<&Operation<M::Input, M::Output>> = ids.iter().map(|&i| &all[i]).collect();
    let spans: Vec<(u64, u64)> = ops.iter().map(|o| (o.call, o.ret)).collect();
    let mut c = counterexample(model, &ops, &spans, budget);
    for i in c
        .prefix
        .iter_mut()
        .chain(c.required.iter_mut())
        .chain(c.linearizable_through.iter_mut())
    {
        *i = ids[*i];
    }
    c
}

/// The spans of the history cut at `t`: ops called after `t` are dropped (`None`), ops
/// still running at `t` may or may not have taken effect. If the history is
/// linearizable, so is every cut of it; so a failing cut refutes the whole history.
fn cut(spans: &[(u64, u64)], t: u64) -> Vec<Option<(u64, u64)>> {
    spans
        .iter()
        .map(|&(call, ret)| {
            (call <= t).then_some((call, if ret <= t { ret } else { MAY_NEVER_RETURN }))
        })
        .collect()
}

/// Searches the ops whose span is `Some`, those marked `optional` perhaps left out:
/// `Some(true)` when refuted, `None` past budget; and the states it cached.
fn refutes<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    spans: &[Option<(u64, u64)>],
    optional: &[bool],
    budget: &Budget,
) -> (Option<bool>, usize) {
    let mut sub = Vec::new();
    let mut sub_spans = Vec::new();
    let mut sub_optional = Vec::new();
    for ((o, s), opt) in ops.iter().zip(spans).zip(optional) {
        if let Some(s) = s {
            sub.push(*o);
            sub_spans.push(*s);
            sub_optional.push(*opt);
        }
    }
    refutes_counting(model, &sub, &sub_spans, &sub_optional, budget)
}

/// [`refutes`] on the ops given, with the states the search cached.
fn refutes_counting<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    spans: &[(u64, u64)],
    optional: &[bool],
    budget: &Budget,
) -> (Option<bool>, usize) {
    let mut s = Search::with_optional(model, ops.to_vec(), spans, optional.to_vec());
    let outcome = s.run(budget, usize::MAX).expect("no pause");
    let verdict = match outcome {
        Outcome::Refuted => Some(true),
        Outcome::Linearizable => Some(false),
        Outcome::OutOfBudget(_) => None,
    };
    (verdict, s.states())
}

/// For a refuted key: the shortest failing cut (binary search over the completed ops'
/// return times; the last one is the whole history), then its completed ops made
/// optional where the cut still fails ([`minimize`]).
fn counterexample<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    spans: &[(u64, u64)],
    budget: &Budget,
) -> Counterexample {
    let mut cuts: Vec<u64> = spans
        .iter()
        .map(|s| s.1)
        .filter(|&r| r != MAY_NEVER_RETURN)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    assert!(
        !cuts.is_empty(),
        "a history of info ops alone is linearizable"
    );
    let none_optional = vec![false; ops.len()];
    // Invariant: the cut at cuts[hi] fails; every cut before cuts[lo] passes.
    let (mut lo, mut hi) = (0, cuts.len() - 1);
    let mut passing: Option<usize> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        match refutes(model, ops, &cut(spans, cuts[mid]), &none_optional, budget).0 {
            Some(true) => hi = mid,
            Some(false) => {
                passing = Some(mid);
                lo = mid + 1;
            }
            None => break,
        }
    }
    let called_by = |t: u64| spans.iter().filter(|s| s.0 <= t).count();
    let weakened = cut(spans, cuts[hi]);
    let prefix: Vec<usize> = (0..ops.len()).filter(|&i| weakened[i].is_some()).collect();
    let completed: Vec<usize> = prefix
        .iter()
        .copied()
        .filter(|&i| weakened[i].is_some_and(|s| s.1 != MAY_NEVER_RETURN))
        .collect();
    let mut optional = vec![false; ops.len()];
    if prefix.len() <= MINIMIZE_OPS_MAX {
        minimize(
            model,
            ops,
            &weakened,
            &completed,
            cuts[hi],
            budget,
            &mut optional,
        );
    }
    let required = completed
        .iter()
        .copied()
        .filter(|&i| !optional[i])
        .collect();
    Counterexample {
        prefix,
        required,
        longest_linearizable_prefix: passing.map_or(0, |p| called_by(cuts[p])),
        linearizable_through: passing.and_then(|p| spans.iter().position(|s| s.1 == cuts[p])),
    }
}

/// Marks in `optional` the ops of `completed` (those of the failing cut `weakened` that
/// completed by its end, `end`) that may be made optional with the cut still failing.
///
/// Invariant: the cut with the ops marked optional and the other completed ops required
/// fails. Weakening is monotone (more optional ops, more histories allowed), so an op
/// that cannot be made optional against the marks at its try cannot against the final
/// ones either: the result is minimal one op at a time, unless a budget stopped it.
///
/// Each try is a search in which more ops may never have happened (though if they did,
/// within their spans), which can cost more than the refutation itself: a try is
/// bounded, and a block whose try runs out is kept (and halved), until too many have.
/// The tries, in order:
///
/// 1. Every completed op optional but those returning at `end`: the op whose return
///    makes the cut fail is often the refutation by itself (a read of a value nothing
///    wrote). Only a few ops are then left that the search must keep: those that may
///    observe the ops left, and so on ([`Model::may_observe`]).
/// 2. Reads before the ops that change the state (an optional read is left out of the
///    search, and with fewer reads kept fewer writes may be observed), each in the
///    order of the cut; one at a time for a short cut, in halving blocks for a long one
///    (a refutation that needs k of n ops then costs about k·log2(n) tries).
///
/// A single op `x` is tried left out rather than optional: with the marked ops
/// optional, the cut with `x` optional fails if and only if it fails both with `x`
/// required (the invariant) and with `x` left out, as its linearizations are those of
/// the two. Left out, `x` is one op fewer to search, and observes nothing.
fn minimize<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    weakened: &[Option<(u64, u64)>],
    completed: &[usize],
    end: u64,
    budget: &Budget,
    optional: &mut [bool],
) {
    let per_try = Budget::states(budget.max_states.min(
        if completed.len() <= MINIMIZE_ONE_BY_ONE_MAX {
            MINIMIZE_STATES_PER_TRY
        } else {
            MINIMIZE_STATES_PER_BLOCK_TRY
        },
    ));
    let per_block_try = Budget::states(budget.max_states.min(MINIMIZE_STATES_PER_BLOCK_TRY));
    let mut states = 0;
    let mut out_of_budget = 0;
    let ending = |i: &usize| weakened[*i].is_some_and(|s| s.1 == end);
    let others: Vec<usize> = completed.iter().copied().filter(|i| !ending(i)).collect();
    if !others.is_empty() {
        for &i in &others {
            optional[i] = true;
        }
        let (outcome, cached) = refutes(model, ops, weakened, optional, &per_block_try);
        states += cached;
        for &i in &others {
            optional[i] = outcome == Some(true);
        }
        out_of_budget += usize::from(outcome.is_none());
    }
    let (reads, writes): (Vec<usize>, Vec<usize>) = completed
        .iter()
        .copied()
        .filter(|&i| !optional[i])
        .partition(|&i| model.is_read_only(&ops[i].input, &ops[i].output));
    let one_by_one = completed.len() <= MINIMIZE_ONE_BY_ONE_MAX;
    let mut blocks: Vec<&[usize]> = Vec::new();
    for group in [&writes, &reads] {
        if one_by_one {
            blocks.extend(group.chunks(1).rev());
        } else if !group.is_empty() {
            blocks.push(group);
        }
    }
    let mut deleted = weakened.to_vec();
    while let Some(block) = blocks.pop() {
        if states >= MINIMIZE_STATES_TOTAL || out_of_budget >= MINIMIZE_TRIES_OUT_OF_BUDGET_MAX {
            break;
        }
        let (outcome, cached) = if let [x] = block {
            deleted[*x] = None;
            let tried = refutes(model, ops, &deleted, optional, &per_try);
            deleted[*x] = weakened[*x];
            tried
        } else {
            for &i in block {
                optional[i] = true;
            }
            refutes(model, ops, weakened, optional, &per_try)
        };
        states += cached;
        for &i in block {
            optional[i] = outcome == Some(true);
        }
        if outcome == Some(true) {
            continue;
        }
        out_of_budget += usize::from(outcome.is_none());
        if block.len() > 1 {
            let (first, second) = block.split_at(block.len() / 2);
            blocks.push(second);
            blocks.push(first);
        }
    }
}
