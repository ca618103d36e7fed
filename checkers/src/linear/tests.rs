//! The search against a brute-force oracle on random small histories, and the
//! hand-written cases from the literature.

use std::collections::BTreeMap;

use super::*;
use crate::synth::Rng;

/// A model the random histories can be drawn for.
trait Gen: Model {
    fn input(&self, rng: &mut Rng, process: u64) -> Self::Input;
    /// What an `ok` op applied to `state` returns.
    fn observe(&self, input: &Self::Input, state: &Self::State) -> Self::Output;
    fn random_output(&self, rng: &mut Rng, input: &Self::Input) -> Self::Output;
    fn unknown(&self) -> Self::Output;
}

fn key(rng: &mut Rng) -> String {
    ["x", "y"][rng.below(2) as usize].to_string()
}

impl Gen for CasRegister {
    fn input(&self, rng: &mut Rng, _: u64) -> RegInput {
        let key = key(rng);
        match rng.below(3) {
            0 => RegInput::Read { key },
            1 => RegInput::Write {
                key,
                value: rng.below(3) as i64,
            },
            _ => RegInput::Cas {
                key,
                from: rng.below(3) as i64,
                to: rng.below(3) as i64,
            },
        }
    }
    fn observe(&self, input: &RegInput, state: &RegValue) -> RegOutput {
        match input {
            RegInput::Read { .. } => RegOutput::Read(*state),
            _ => RegOutput::Done,
        }
    }
    fn random_output(&self, rng: &mut Rng, input: &RegInput) -> RegOutput {
        match input {
            RegInput::Read { .. } => {
                RegOutput::Read([None, Some(0), Some(1), Some(2)][rng.below(4) as usize])
            }
            _ => RegOutput::Done,
        }
    }
    fn unknown(&self) -> RegOutput {
        RegOutput::Unknown
    }
}

impl Gen for Kv {
    fn input(&self, rng: &mut Rng, _: u64) -> KvInput {
        let key = key(rng);
        let value = ["a", "b"][rng.below(2) as usize].to_string();
        match rng.below(3) {
            0 => KvInput::Get { key },
            1 => KvInput::Put { key, value },
            _ => KvInput::Append { key, value },
        }
    }
    fn observe(&self, input: &KvInput, state: &KvValue) -> KvOutput {
        match input {
            KvInput::Get { .. } => KvOutput::Get(state.to_string()),
            _ => KvOutput::Done,
        }
    }
    fn random_output(&self, rng: &mut Rng, input: &KvInput) -> KvOutput {
        match input {
            KvInput::Get { .. } => {
                KvOutput::Get(["", "a", "b", "ab", "ba", "aa"][rng.below(6) as usize].into())
            }
            _ => KvOutput::Done,
        }
    }
    fn unknown(&self) -> KvOutput {
        KvOutput::Unknown
    }
}

impl Gen for Mutex {
    fn input(&self, rng: &mut Rng, process: u64) -> MutexInput {
        let lock = key(rng);
        if rng.below(2) == 0 {
            MutexInput::Acquire { lock, process }
        } else {
            MutexInput::Release { lock, process }
        }
    }
    fn observe(&self, _: &MutexInput, _: &Option<u64>) {}
    fn random_output(&self, _: &mut Rng, _: &MutexInput) {}
    fn unknown(&self) {}
}

impl Gen for LeaseMutex {
    fn input(&self, rng: &mut Rng, _: u64) -> LeaseInput {
        let lock = key(rng);
        let token = 1 + rng.below(3);
        match rng.below(3) {
            0 => LeaseInput::Acquire { lock },
            1 => LeaseInput::Holding { lock, token },
            _ => LeaseInput::Release { lock, token },
        }
    }
    fn observe(&self, input: &LeaseInput, state: &LeaseState) -> LeaseOutput {
        match input {
            LeaseInput::Acquire { .. } => LeaseOutput::Acquired(state.last + 1),
            LeaseInput::Holding { token, .. } => LeaseOutput::Holding(state.grant == Some(*token)),
            LeaseInput::Release { .. } => LeaseOutput::Done,
        }
    }
    fn random_output(&self, rng: &mut Rng, input: &LeaseInput) -> LeaseOutput {
        match input {
            LeaseInput::Acquire { .. } => LeaseOutput::Acquired(1 + rng.below(3)),
            LeaseInput::Holding { .. } => LeaseOutput::Holding(rng.below(2) == 0),
            LeaseInput::Release { .. } => LeaseOutput::Done,
        }
    }
    fn unknown(&self) -> LeaseOutput {
        LeaseOutput::Unknown
    }
}

impl Gen for FencedRegister {
    fn input(&self, rng: &mut Rng, _: u64) -> FenceInput {
        let lock = key(rng);
        let token = 1 + rng.below(3);
        // Writes are what a rule refutes: half the ops.
        match rng.below(4) {
            0 => FenceInput::Grant { lock, token },
            1 => FenceInput::Release { lock, token },
            _ => FenceInput::Write { lock, token },
        }
    }
    fn observe(&self, _: &FenceInput, _: &FenceState) {}
    fn random_output(&self, _: &mut Rng, _: &FenceInput) {}
    fn unknown(&self) {}
}

/// [`LeaseMutex`] with its lapses made explicit: the state is the set of locks the
/// history so far could have left, each (holder, largest token granted), and before
/// every op any grant may lapse. Holder 0 is a grant under a token nobody saw.
#[derive(Clone, Copy, Debug)]
struct LapsingLock;

impl Model for LapsingLock {
    type Key = String;
    type Input = LeaseInput;
    type Output = LeaseOutput;
    type State = std::collections::BTreeSet<(Option<u64>, u64)>;

    fn name(&self) -> &'static str {
        "lapsing-lock"
    }
    fn key(&self, input: &LeaseInput) -> String {
        LeaseMutex.key(input)
    }
    fn init(&self) -> Self::State {
        [(None, 0)].into_iter().collect()
    }
    fn step(
        &self,
        state: &Self::State,
        input: &LeaseInput,
        output: &LeaseOutput,
    ) -> Option<Self::State> {
        let lapsed = state.iter().map(|&(_, last)| (None, last));
        let before: Vec<(Option<u64>, u64)> = state.iter().copied().chain(lapsed).collect();
        let next: Self::State = before
            .into_iter()
            .filter_map(|(holder, last)| match (input, output) {
                (LeaseInput::Acquire { .. }, LeaseOutput::Acquired(t)) => {
                    (holder.is_none() && *t > last).then_some((Some(*t), *t))
                }
                (LeaseInput::Acquire { .. }, _) => holder.is_none().then_some((Some(0), last)),
                (LeaseInput::Holding { token, .. }, LeaseOutput::Holding(h)) => {
                    ((holder == Some(*token)) == *h).then_some((holder, last))
                }
                (LeaseInput::Holding { .. }, _) => Some((holder, last)),
                // A release frees the lock if its grant holds, and changes nothing if
                // the grant already lapsed or was superseded.
                (LeaseInput::Release { token, .. }, _) => Some(if holder == Some(*token) {
                    (None, last)
                } else {
                    (holder, last)
                }),
            })
            .collect();
        (!next.is_empty()).then_some(next)
    }
}

type Ops<M> = Vec<Operation<<M as Model>::Input, <M as Model>::Output>>;

/// A random history of `n` ops from `procs` processes. Usually simulated against the
/// model at random points inside each op's span (refused ops are `fail`s and dropped,
/// some ops are `info` and may not take effect), then sometimes one output corrupted;
/// sometimes with no simulation at all. Both linearizable and refuted histories result.
fn random_history<M: Gen>(model: &M, rng: &mut Rng, n: usize, procs: u64) -> Ops<M> {
    let mut free_at = vec![0u64; procs as usize];
    let mut client = (0..procs).collect::<Vec<u64>>();
    let mut next_client = procs;
    let mut drafted = Vec::new(); // (op, linearization point, takes effect)
    for _ in 0..n {
        let p = rng.below(procs) as usize;
        let call = free_at[p] + rng.below(3);
        let ret = call + rng.below(6);
        let at = call + rng.below(ret - call + 1);
        let info = rng.below(4) == 0;
        let input = model.input(rng, client[p]);
        let op = Operation {
            client: client[p],
            call,
            ret: if info { MAY_NEVER_RETURN } else { ret },
            output: model.unknown(),
            input,
        };
        if info {
            // The process crashed; a fresh one takes its place, as in Jepsen.
            client[p] = next_client;
            next_client += 1;
        } else {
            free_at[p] = ret + 1;
        }
        drafted.push((op, at, !info || rng.below(2) == 0));
    }
    if rng.below(4) == 0 {
        for (op, _, _) in &mut drafted {
            if !op.is_info() {
                op.output = model.random_output(rng, &op.input);
            }
        }
        return drafted.into_iter().map(|d| d.0).collect();
    }
    drafted.sort_by_key(|d| d.1);
    let mut states: BTreeMap<M::Key, M::State> = BTreeMap::new();
    let mut ops = Vec::new();
    for (mut op, _, effect) in drafted {
        let state = states
            .entry(model.key(&op.input))
            .or_insert_with(|| model.init());
        if !op.is_info() {
            op.output = model.observe(&op.input, state);
        }
        match model.step(state, &op.input, &op.output) {
            Some(next) if effect => *state = next,
            Some(_) => {}
            None if op.is_info() => {}
            None => continue, // refused: a fail, dropped
        }
        ops.push(op);
    }
    if rng.below(3) == 0 && !ops.is_empty() {
        let i = rng.below(ops.len() as u64) as usize;
        if !ops[i].is_info() {
            ops[i].output = model.random_output(rng, &ops[i].input);
        }
    }
    ops.sort_by_key(|o| o.call);
    ops
}

/// Every order of every subset holding all completed ops, checked for real-time
/// order and replayed against the model. Exponential; for a handful of ops only.
fn oracle<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> bool {
    oracle_optional(model, ops, &vec![false; ops.len()])
}

/// [`oracle`], where an `optional` op may be left out too (kept, it keeps its span).
fn oracle_optional<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    optional: &[bool],
) -> bool {
    let may_skip = |i: usize| ops[i].is_info() || optional[i];
    let info: Vec<usize> = (0..ops.len()).filter(|&i| may_skip(i)).collect();
    let ok: Vec<usize> = (0..ops.len()).filter(|&i| !may_skip(i)).collect();
    (0u32..1 << info.len()).any(|mask| {
        let mut chosen = ok.clone();
        chosen.extend(
            (0..info.len())
                .filter(|b| mask & (1 << b) != 0)
                .map(|b| info[b]),
        );
        any_order(model, ops, &mut chosen, 0)
    })
}

fn any_order<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    order: &mut Vec<usize>,
    k: usize,
) -> bool {
    if k == order.len() {
        return legal(model, ops, order);
    }
    for i in k..order.len() {
        order.swap(k, i);
        if any_order(model, ops, order, k + 1) {
            order.swap(k, i);
            return true;
        }
        order.swap(k, i);
    }
    false
}

fn legal<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>], order: &[usize]) -> bool {
    for (i, &a) in order.iter().enumerate() {
        if order[i + 1..].iter().any(|&b| ops[b].ret < ops[a].call) {
            return false;
        }
    }
    let mut states: BTreeMap<M::Key, M::State> = BTreeMap::new();
    order.iter().all(|&i| {
        let o = &ops[i];
        let state = states
            .entry(model.key(&o.input))
            .or_insert_with(|| model.init());
        model
            .step(state, &o.input, &o.output)
            .map(|s| *state = s)
            .is_some()
    })
}

/// The counterexample's prefix, and which of its ops are optional: every completed op
/// outside `required`. (Ops still running when the prefix ends are `info` already.)
fn weakened<M: Model>(ops: &Ops<M>, c: &Counterexample) -> (Ops<M>, Vec<bool>) {
    let last_ret = c
        .prefix
        .iter()
        .map(|&i| ops[i].ret)
        .filter(|&r| r != MAY_NEVER_RETURN)
        .max()
        .unwrap_or(0);
    c.prefix
        .iter()
        .map(|&i| {
            let mut o = ops[i].clone();
            if o.ret > last_ret {
                o.ret = MAY_NEVER_RETURN;
            }
            let optional = o.ret != MAY_NEVER_RETURN && !c.required.contains(&i);
            (o, optional)
        })
        .unzip()
}

/// Compares the search with the oracle on `histories` random histories; returns
/// (linearizable, refuted) counts.
fn agree<M: Gen>(model: &M, seed: u64, histories: usize) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let (mut yes, mut no) = (0, 0);
    for h in 0..histories {
        let n = 3 + rng.below(5) as usize;
        let procs = 2 + rng.below(2);
        let ops = random_history(model, &mut rng, n, procs);
        let report = check(model, &ops, &CheckOptions::default());
        let expected = oracle(model, &ops);
        assert_eq!(
            report.linearizable(),
            Some(expected),
            "{} history {h} of seed {seed}: {ops:#?}",
            model.name()
        );
        if expected {
            yes += 1;
            continue;
        }
        no += 1;
        for k in &report.keys {
            if let Verdict::NotLinearizable(c) = &k.verdict {
                let (sub, mut optional) = weakened::<M>(&ops, c);
                assert!(
                    !oracle_optional(model, &sub, &optional),
                    "{} history {h}: the counterexample {c:?} is linearizable: {ops:#?}",
                    model.name()
                );
                // Minimal: no op it requires may be made optional too.
                for r in &c.required {
                    let at = c.prefix.iter().position(|i| i == r).expect("in the prefix");
                    optional[at] = true;
                    assert!(
                        oracle_optional(model, &sub, &optional),
                        "{} history {h}: the counterexample {c:?} does not need op {r}: {ops:#?}",
                        model.name()
                    );
                    optional[at] = false;
                }
            }
        }
    }
    eprintln!(
        "{}: {histories} histories agree ({yes} linearizable, {no} not)",
        model.name()
    );
    (yes, no)
}

const ORACLE_HISTORIES: usize = 10_000;

#[test]
fn cas_register_agrees_with_the_oracle() {
    let (yes, no) = agree(&CasRegister, 1, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 10,
        "{yes} {no}"
    );
}

#[test]
fn kv_agrees_with_the_oracle() {
    let (yes, no) = agree(&Kv, 2, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 10,
        "{yes} {no}"
    );
}

#[test]
fn mutex_agrees_with_the_oracle() {
    let (yes, no) = agree(&Mutex, 3, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 10,
        "{yes} {no}"
    );
}

#[test]
fn lease_mutex_agrees_with_the_oracle() {
    let (yes, no) = agree(&LeaseMutex, 4, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 10,
        "{yes} {no}"
    );
}

#[test]
fn fenced_register_agrees_with_the_oracle_under_either_rule() {
    for (rule, seed) in [(FenceRule::Grant, 6), (FenceRule::Monotonic, 7)] {
        let (yes, no) = agree(&FencedRegister(rule), seed, ORACLE_HISTORIES);
        assert!(
            yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 20,
            "{rule:?}: {yes} {no}"
        );
    }
}

#[test]
fn a_fenced_store_refuses_what_its_rule_refuses() {
    let grant = |c, call, ret, token| {
        op(
            c,
            call,
            ret,
            FenceInput::Grant {
                lock: "e1".into(),
                token,
            },
            (),
        )
    };
    let write = |c, call, ret, token| {
        op(
            c,
            call,
            ret,
            FenceInput::Write {
                lock: "e1".into(),
                token,
            },
            (),
        )
    };
    let release = |c, call, ret, token| {
        op(
            c,
            call,
            ret,
            FenceInput::Release {
                lock: "e1".into(),
                token,
            },
            (),
        )
    };
    // Grant 3, grant 5, then a write under 3 accepted: the grant rule refuses it (3 is
    // no longer the current grant); monotonic lets it in (no write under 5 yet).
    let stale = [grant(0, 0, 1, 3), grant(1, 2, 3, 5), write(0, 4, 5, 3)];
    assert_eq!(
        verdict(&FencedRegister(FenceRule::Grant), &stale),
        Some(false)
    );
    assert_eq!(
        verdict(&FencedRegister(FenceRule::Monotonic), &stale),
        Some(true)
    );
    // Once a write under 5 was accepted, monotonic refuses one under 3 too.
    let after = [
        grant(0, 0, 1, 3),
        grant(1, 2, 3, 5),
        write(1, 4, 5, 5),
        write(0, 6, 7, 3),
    ];
    assert_eq!(
        verdict(&FencedRegister(FenceRule::Monotonic), &after),
        Some(false)
    );
    // A write under a released grant: the grant rule refuses it, monotonic lets it in.
    let released = [grant(0, 0, 1, 3), release(0, 2, 3, 3), write(0, 4, 5, 3)];
    assert_eq!(
        verdict(&FencedRegister(FenceRule::Grant), &released),
        Some(false)
    );
    assert_eq!(
        verdict(&FencedRegister(FenceRule::Monotonic), &released),
        Some(true)
    );
    // Concurrent with the newer grant, the old holder's write may come first.
    let racing = [grant(0, 0, 1, 3), grant(1, 2, 6, 5), write(0, 3, 5, 3)];
    for rule in [FenceRule::Grant, FenceRule::Monotonic] {
        assert_eq!(
            verdict(&FencedRegister(rule), &racing),
            Some(true),
            "{rule:?}"
        );
    }
}

/// Taking lapses lazily accepts exactly the histories that a lock whose grants may
/// lapse between any two ops accepts.
#[test]
fn lease_mutex_is_a_lock_whose_grants_lapse_at_any_instant() {
    let mut rng = Rng::new(5);
    let (mut yes, mut no) = (0, 0);
    for h in 0..ORACLE_HISTORIES {
        let n = 3 + rng.below(5) as usize;
        let procs = 2 + rng.below(2);
        let ops = random_history(&LeaseMutex, &mut rng, n, procs);
        let lazy = oracle(&LeaseMutex, &ops);
        assert_eq!(lazy, oracle(&LapsingLock, &ops), "history {h}: {ops:#?}");
        if lazy {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert!(
        yes > ORACLE_HISTORIES / 10 && no > ORACLE_HISTORIES / 10,
        "{yes} {no}"
    );
}

/// `cargo test -p checkers --release oracle_100k -- --ignored --nocapture`
#[test]
#[ignore]
fn oracle_100k() {
    for seed in [11, 12] {
        let counts = [
            ("cas-register", agree(&CasRegister, seed, 100_000)),
            ("kv", agree(&Kv, seed, 100_000)),
            ("mutex", agree(&Mutex, seed, 100_000)),
            ("lease-mutex", agree(&LeaseMutex, seed, 100_000)),
            (
                "fenced-register grant",
                agree(&FencedRegister(FenceRule::Grant), seed, 100_000),
            ),
            (
                "fenced-register monotonic",
                agree(&FencedRegister(FenceRule::Monotonic), seed, 100_000),
            ),
        ];
        for (name, (yes, no)) in counts {
            println!("seed {seed} {name}: 100000 agree ({yes} linearizable, {no} not)");
        }
    }
}

fn op<I, O>(client: u64, call: u64, ret: u64, input: I, output: O) -> Operation<I, O> {
    Operation::new(client, call, ret, input, output)
}

fn read(client: u64, call: u64, ret: u64, v: RegValue) -> Operation<RegInput, RegOutput> {
    let key = "x".to_string();
    op(
        client,
        call,
        ret,
        RegInput::Read { key },
        RegOutput::Read(v),
    )
}

fn write(client: u64, call: u64, ret: u64, value: i64) -> Operation<RegInput, RegOutput> {
    let key = "x".to_string();
    let out = if ret == MAY_NEVER_RETURN {
        RegOutput::Unknown
    } else {
        RegOutput::Done
    };
    op(client, call, ret, RegInput::Write { key, value }, out)
}

fn cas(client: u64, call: u64, ret: u64, from: i64, to: i64) -> Operation<RegInput, RegOutput> {
    let key = "x".to_string();
    op(
        client,
        call,
        ret,
        RegInput::Cas { key, from, to },
        RegOutput::Done,
    )
}

fn verdict<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> Option<bool> {
    let report = check(model, ops, &CheckOptions::default());
    assert_eq!(report.linearizable(), Some(oracle(model, ops)), "{ops:#?}");
    report.linearizable()
}

#[test]
fn a_read_of_an_old_value_after_a_completed_write_is_refuted() {
    let h = [
        write(0, 0, 10, 1),
        write(0, 20, 30, 2),
        read(1, 40, 50, Some(1)),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
    // The read at 12 pins the first write before the second; without it, the first
    // write could be an info op taking effect late, and the history would pass.
    let h = [
        write(0, 0, 10, 1),
        read(2, 12, 13, Some(1)),
        write(0, 20, 30, 2),
        read(1, 40, 50, Some(1)),
        read(2, 60, 70, Some(2)),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
    let report = check(&CasRegister, &h, &CheckOptions::default());
    let Verdict::NotLinearizable(c) = &report.keys[0].verdict else {
        panic!("{report:?}");
    };
    assert_eq!(
        c.prefix,
        vec![0, 1, 2, 3],
        "the last read is past the failure"
    );
    assert_eq!(
        c.required,
        vec![2, 3],
        "the first write and the read that pinned it may be left out: if it happened, it \
         happened before the second write"
    );
    assert_eq!(c.longest_linearizable_prefix, 3);
}

#[test]
fn a_long_history_refuted_late_needs_only_the_ops_that_refute_it() {
    // 200 writes, each read back, then a read of the first value: the prefix is 401 ops,
    // of which the refutation needs two: the last write and the stale read after it
    // (with every other op optional, the first value's write, if it happened, happened
    // long before the last). Reads are made optional first, so the read of the last
    // value (which would do instead of its write) is not needed.
    let mut h = Vec::new();
    for k in 0..200u64 {
        let t = k * 100;
        h.push(write(0, t, t + 10, k as i64));
        h.push(read(1, t + 20, t + 30, Some(k as i64)));
    }
    h.push(read(2, 200 * 100, 200 * 100 + 10, Some(0)));
    let report = check(&CasRegister, &h, &CheckOptions::default());
    let Verdict::NotLinearizable(c) = &report.keys[0].verdict else {
        panic!("{report:?}");
    };
    assert_eq!(c.prefix.len(), 401);
    assert_eq!(c.required, vec![398, 400], "{:?}", c.required);
    // The proof holds: with every other op optional, no order explains the stale read.
    let (sub, optional) = weakened::<CasRegister>(&h, c);
    let spans: Vec<(u64, u64)> = sub.iter().map(|o| (o.call, o.ret)).collect();
    let refs: Vec<_> = sub.iter().collect();
    let budget = Budget::states(1_000_000);
    assert_eq!(
        search::search_optional(&CasRegister, &refs, &spans, &optional, &budget),
        search::Outcome::Refuted
    );
}

/// The next op of a history of clients at once, each one op at a time (`free_at`: when
/// each client is free): its client, call and return (1–100 time units later), and the
/// instant it takes effect, within its span.
fn concurrent_span(rng: &mut Rng, free_at: &mut [u64]) -> (u64, u64, u64, u64) {
    let c = rng.below(free_at.len() as u64);
    let call = free_at[c as usize] + rng.below(20);
    let ret = call + 1 + rng.below(100);
    free_at[c as usize] = ret + 1;
    (c, call, ret, call + rng.below(ret - call + 1))
}

/// A key of `n` ops from `clients` clients at once, each client one op at a time, each
/// op 1–100 time units long and taking effect at a random point of its span; gets read
/// the value then, `puts` in 10 ops a put, the rest appends of text no other op appends.
/// Returns them with the value they leave.
fn concurrent_kv(seed: u64, clients: u64, n: usize, puts: u64) -> (Ops<Kv>, String) {
    let mut rng = Rng::new(seed);
    let mut free_at = vec![0u64; clients as usize];
    let mut drafted = Vec::new();
    for i in 0..n {
        let (c, call, ret, at) = concurrent_span(&mut rng, &mut free_at);
        let key = "k".to_string();
        let input = match rng.below(10) {
            0..=3 => KvInput::Get { key },
            r if r < 4 + puts => KvInput::Put {
                key,
                value: format!("{c}.{i};"),
            },
            _ => KvInput::Append {
                key,
                value: format!("{c}.{i};"),
            },
        };
        drafted.push((at, op(c, call, ret, input, KvOutput::Done)));
    }
    drafted.sort_by_key(|d| d.0);
    let mut value = KvValue::default();
    let mut ops: Ops<Kv> = drafted
        .into_iter()
        .map(|(_, mut o)| {
            if matches!(o.input, KvInput::Get { .. }) {
                o.output = KvOutput::Get(value.to_string());
            }
            value = Kv.step(&value, &o.input, &o.output).expect("legal");
            o
        })
        .collect();
    ops.sort_by_key(|o| o.call);
    (ops, value.to_string())
}

/// The counterexample of the only key of `h`, whose ops but the last are linearizable,
/// checked with the default budget; and that it holds: with every op outside
/// `required` optional, the search still refutes it.
fn refuted_by_its_last_op<M: Model>(model: &M, h: &Ops<M>) -> Counterexample {
    let before = &h[..h.len() - 1];
    let report = check(model, before, &CheckOptions::default());
    assert_eq!(report.linearizable(), Some(true), "before its last op");
    let report = check(model, h, &CheckOptions::default());
    let Verdict::NotLinearizable(c) = &report.keys[0].verdict else {
        panic!("{:?}", report.keys[0].verdict);
    };
    let (sub, optional) = weakened::<M>(h, c);
    let spans: Vec<(u64, u64)> = sub.iter().map(|o| (o.call, o.ret)).collect();
    let refs: Vec<_> = sub.iter().collect();
    assert_eq!(
        search::search_optional(model, &refs, &spans, &optional, &Budget::states(1_000_000)),
        search::Outcome::Refuted,
        "{c:?}"
    );
    c.clone()
}

/// 40 clients at once on one key: every append may be observed by many gets, and an
/// op made optional doubles the values the search may reach, so a minimisation that
/// tried each op against all the others optional ran out of its states and kept most of
/// the prefix. The last get reads a value no put and appends give: it alone is the
/// refutation.
#[test]
fn a_read_of_a_value_nothing_wrote_on_a_highly_concurrent_key_is_the_refutation_alone() {
    for seed in [1, 2, 3] {
        let (mut h, _) = concurrent_kv(seed, 8, 300, 1);
        let end = h.iter().map(|o| o.ret).max().expect("ops");
        let last = h.len();
        h.push(get(99, end + 1, end + 2, "k", "never;appended;"));
        let c = refuted_by_its_last_op(&Kv, &h);
        assert_eq!(c.required, vec![last], "seed {seed}");
        assert_eq!(c.prefix.len(), h.len(), "seed {seed}");
    }
}

/// The same shape, appends only, the last get reading every append but one from the
/// middle of the value (all completed before the get was called): the refutation is
/// that append and the get (with every other op optional, the get must still see it).
#[test]
fn a_lost_append_on_a_highly_concurrent_key_needs_the_append_and_the_read() {
    for seed in [1, 2, 3] {
        let (mut h, value) = concurrent_kv(seed, 12, 300, 0);
        let end = h.iter().map(|o| o.ret).max().expect("ops");
        let texts: Vec<&str> = value.split_inclusive(';').collect();
        let text = texts[texts.len() / 2].to_string();
        let lost = h
            .iter()
            .position(|o| matches!(&o.input, KvInput::Append { value, .. } if *value == text))
            .expect("the append");
        let read = h.len();
        h.push(get(
            99,
            end + 1,
            end + 2,
            "k",
            &value.replacen(&text, "", 1),
        ));
        let c = refuted_by_its_last_op(&Kv, &h);
        assert_eq!(c.required, vec![lost, read], "seed {seed}");
    }
}

/// A register written and read by `clients` clients at once, each one op at a time,
/// each op 1–100 time units long and taking effect at a random point of its span;
/// writes of values no other write writes, reads of the value then.
fn concurrent_register(seed: u64, clients: u64, n: usize) -> Ops<CasRegister> {
    let mut rng = Rng::new(seed);
    let mut free_at = vec![0u64; clients as usize];
    let mut drafted = Vec::new();
    for i in 0..n {
        let (c, call, ret, at) = concurrent_span(&mut rng, &mut free_at);
        let o = if rng.below(2) == 0 {
            read(c, call, ret, None)
        } else {
            write(c, call, ret, i as i64)
        };
        drafted.push((at, o));
    }
    drafted.sort_by_key(|d| d.0);
    let mut value = None;
    let mut ops: Ops<CasRegister> = drafted
        .into_iter()
        .map(|(_, mut o)| {
            if matches!(o.input, RegInput::Read { .. }) {
                o.output = RegOutput::Read(value);
            }
            value = CasRegister
                .step(&value, &o.input, &o.output)
                .expect("legal");
            o
        })
        .collect();
    ops.sort_by_key(|o| o.call);
    ops
}

/// A register of the same shape, and a last read of the first value written: two ops
/// refute it, a write that completed after the first one did and before the read was
/// called, and the read (with every other op optional, the first value's write, if it
/// happened, happened before that write, and no other write writes it).
#[test]
fn a_stale_read_on_a_highly_concurrent_register_needs_a_later_write_and_the_read() {
    for seed in [1, 2, 3] {
        let mut h = concurrent_register(seed, 8, 300);
        let end = h.iter().map(|o| o.ret).max().expect("ops");
        let first = h
            .iter()
            .position(|o| matches!(o.input, RegInput::Write { .. }))
            .expect("a write");
        let RegInput::Write { value, .. } = h[first].input else {
            unreachable!()
        };
        let last = h.len();
        h.push(read(99, end + 1, end + 2, Some(value)));
        let c = refuted_by_its_last_op(&CasRegister, &h);
        assert_eq!(c.required.len(), 2, "seed {seed}: {:?}", c.required);
        let w = c.required[0];
        assert!(
            matches!(h[w].input, RegInput::Write { .. }) && h[w].call > h[first].ret,
            "seed {seed}: {:?}",
            h[w]
        );
        assert_eq!(c.required[1], last, "seed {seed}");
    }
}

/// Crashed writes no read may observe are left out of the search: 30 of distinct
/// values at once, then reads of 0, of 1 and of 0 again (which needs the write of 0
/// twice). Searched with every write, a refutation needs every subset of the 28 writes
/// never read, far past the budget; without them it takes a few states.
#[test]
fn crashed_writes_no_read_may_observe_are_left_out() {
    let mut h: Vec<_> = (0..30)
        .map(|v| write(v as u64, 0, MAY_NEVER_RETURN, v))
        .collect();
    h.extend([
        read(100, 10, 11, Some(0)),
        read(100, 12, 13, Some(1)),
        read(100, 14, 15, Some(0)),
    ]);
    let options = CheckOptions {
        budget: Budget::states(10_000),
        ..CheckOptions::default()
    };
    let report = check(&CasRegister, &h, &options);
    let Verdict::NotLinearizable(c) = &report.keys[0].verdict else {
        panic!("{report:?}");
    };
    assert!(report.keys[0].states < 100, "{}", report.keys[0].states);
    assert_eq!(c.required, vec![30, 31, 32]);
    let report = check(&Unpruned(CasRegister), &h, &options);
    assert!(
        matches!(report.keys[0].verdict, Verdict::Unknown { .. }),
        "{report:?}"
    );
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for v in [None, Some(1)] {
        assert_eq!(
            verdict(&CasRegister, &[write(0, 0, 10, 1), read(1, 5, 15, v)]),
            Some(true)
        );
    }
    let h = [write(0, 0, 10, 1), read(1, 5, 15, Some(2))];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
}

#[test]
fn new_old_inversion_between_two_readers_is_refuted() {
    // Herlihy and Wing's register: B sees the write, then C, later, does not.
    let h = [
        write(0, 0, 100, 1),
        read(1, 10, 20, Some(1)),
        read(2, 30, 40, None),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
    let h = [
        write(0, 0, 100, 1),
        read(1, 10, 20, None),
        read(2, 30, 40, Some(1)),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(true));
}

#[test]
fn two_compare_and_sets_from_the_same_value_cannot_both_succeed() {
    let h = [write(0, 0, 1, 0), cas(1, 2, 10, 0, 1), cas(2, 3, 9, 0, 2)];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
    let h = [
        write(0, 0, 1, 0),
        cas(1, 2, 10, 0, 1),
        cas(2, 3, 9, 1, 2),
        read(0, 11, 12, Some(2)),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(true));
}

#[test]
fn an_info_write_may_or_may_not_have_happened_but_not_both() {
    let w = write(0, 0, MAY_NEVER_RETURN, 1);
    assert_eq!(
        verdict(&CasRegister, &[w.clone(), read(1, 5, 6, Some(1))]),
        Some(true)
    );
    assert_eq!(
        verdict(&CasRegister, &[w.clone(), read(1, 5, 6, None)]),
        Some(true)
    );
    let later = [w.clone(), read(1, 5, 6, None), read(1, 7, 8, Some(1))];
    assert_eq!(
        verdict(&CasRegister, &later),
        Some(true),
        "it takes effect late"
    );
    let undone = [w, read(1, 5, 6, Some(1)), read(1, 7, 8, None)];
    assert_eq!(
        verdict(&CasRegister, &undone),
        Some(false),
        "it cannot unhappen"
    );
}

#[test]
fn a_stale_read_from_a_partitioned_leader_is_refuted() {
    // n1 led and acknowledged write 1; a partition elects n2, which acknowledges write
    // 2; n1, still believing itself leader, serves a read from its own state.
    let h = [
        write(0, 0, 10, 1),
        write(1, 20, 30, 2),
        read(2, 40, 50, Some(1)),
    ];
    assert_eq!(verdict(&CasRegister, &h), Some(false));
}

fn kv(
    client: u64,
    call: u64,
    ret: u64,
    input: KvInput,
    output: KvOutput,
) -> Operation<KvInput, KvOutput> {
    op(client, call, ret, input, output)
}

fn append(client: u64, call: u64, ret: u64, key: &str, v: &str) -> Operation<KvInput, KvOutput> {
    let input = KvInput::Append {
        key: key.into(),
        value: v.into(),
    };
    kv(client, call, ret, input, KvOutput::Done)
}

fn get(client: u64, call: u64, ret: u64, key: &str, v: &str) -> Operation<KvInput, KvOutput> {
    kv(
        client,
        call,
        ret,
        KvInput::Get { key: key.into() },
        KvOutput::Get(v.into()),
    )
}

#[test]
fn kv_appends_keep_one_order() {
    let concurrent = [append(0, 0, 10, "x", "a"), append(1, 0, 10, "x", "b")];
    for (seen, ok) in [
        ("ab", true),
        ("ba", true),
        ("a", false),
        ("", false),
        ("aba", false),
    ] {
        let mut h = concurrent.to_vec();
        h.push(get(2, 11, 12, "x", seen));
        assert_eq!(verdict(&Kv, &h), Some(ok), "{seen}");
    }
    let sequential = [
        append(0, 0, 1, "x", "a"),
        append(1, 2, 3, "x", "b"),
        get(2, 4, 5, "x", "ba"),
    ];
    assert_eq!(verdict(&Kv, &sequential), Some(false));
    assert_eq!(
        verdict(&Kv, &[get(0, 0, 1, "y", "")]),
        Some(true),
        "absent reads \"\""
    );
}

#[test]
fn keys_are_reported_smallest_first_and_may_stop_at_the_first_refuted() {
    let mut h = vec![
        append(0, 0, 1, "big", "a"),
        append(0, 2, 3, "big", "b"),
        get(0, 4, 5, "big", "ab"),
    ];
    h.extend([append(1, 0, 1, "small", "a"), get(1, 2, 3, "small", "")]);
    let options = CheckOptions {
        stop_at_first_refuted: true,
        ..CheckOptions::default()
    };
    let report = check(&Kv, &h, &options);
    assert_eq!(report.keys[0].key, "small");
    assert!(matches!(
        report.keys[0].verdict,
        Verdict::NotLinearizable(_)
    ));
    assert!(matches!(report.keys[1].verdict, Verdict::Unknown { .. }));
    assert_eq!(report.linearizable(), Some(false));
    let report = check(&Kv, &h, &CheckOptions::default());
    assert_eq!(report.keys[1].verdict, Verdict::Linearizable);
}

fn acquire(client: u64, call: u64, ret: u64) -> Operation<MutexInput, ()> {
    op(
        client,
        call,
        ret,
        MutexInput::Acquire {
            lock: "l".into(),
            process: client,
        },
        (),
    )
}

fn release(client: u64, call: u64, ret: u64) -> Operation<MutexInput, ()> {
    op(
        client,
        call,
        ret,
        MutexInput::Release {
            lock: "l".into(),
            process: client,
        },
        (),
    )
}

/// A model searched without the pruning its own `can_reach` and `may_observe` allow.
#[derive(Clone, Copy, Debug)]
struct Unpruned<M>(M);

impl<M: Model> Model for Unpruned<M> {
    type Key = M::Key;
    type Input = M::Input;
    type Output = M::Output;
    type State = M::State;

    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn key(&self, input: &M::Input) -> M::Key {
        self.0.key(input)
    }
    fn init(&self) -> M::State {
        self.0.init()
    }
    fn step(&self, state: &M::State, input: &M::Input, output: &M::Output) -> Option<M::State> {
        self.0.step(state, input, output)
    }
    fn is_read_only(&self, input: &M::Input, output: &M::Output) -> bool {
        self.0.is_read_only(input, output)
    }
}

/// A key that can be refuted is refuted early even when it is the largest, so that the
/// old order (smallest first, each to its end) searched it last, behind nine expensive
/// linearizable ones.
#[test]
fn a_refutable_key_does_not_wait_behind_expensive_ones() {
    let mut h = Vec::new();
    for k in 0..9 {
        let key = format!("big{k}");
        // Seven appends at once, read in the reverse of the order they are tried in, and
        // a put that never returned: searched without pruning ([`Unpruned`]), every
        // order of the appends is tried.
        let mut read = String::new();
        for c in 0..7 {
            h.push(append(c, 0, 100, &key, &format!("{c};")));
            read = format!("{c};{read}");
        }
        let put = KvInput::Put {
            key: key.clone(),
            value: "x".into(),
        };
        h.push(kv(7, 0, MAY_NEVER_RETURN, put, KvOutput::Unknown));
        h.push(get(8, 200, 201, &key, &read));
    }
    // Larger than each of the others, and read wrong at its end.
    let mut value = String::new();
    for t in 0..10 {
        h.push(append(0, 10 * t, 10 * t + 1, "bad", &format!("{t};")));
        value.push_str(&format!("{t};"));
    }
    h.push(get(0, 200, 201, "bad", &value[2..]));
    let report = check(&Unpruned(Kv), &h, &CheckOptions::default());
    assert_eq!(report.keys.len(), 10);
    let bad = report.keys.last().expect("ten keys");
    assert_eq!(bad.key, "bad", "the largest key");
    assert!(
        matches!(bad.verdict, Verdict::NotLinearizable(_)),
        "{bad:?}"
    );
    let big: Vec<_> = report.keys.iter().filter(|k| k.key != "bad").collect();
    assert!(big.iter().all(|k| k.verdict == Verdict::Linearizable));
    let sequential: usize = big.iter().map(|k| k.states).sum();
    // Within the first round: every other key had one slice at most.
    assert!(
        bad.work_at_verdict <= 9 * FIRST_SLICE_STATES + bad.states,
        "{} states spent before the refutation",
        bad.work_at_verdict
    );
    assert!(
        sequential > 10 * bad.work_at_verdict,
        "the others are expensive: {sequential} states"
    );
    let total: usize = report.keys.iter().map(|k| k.states).sum();
    assert_eq!(
        report.keys.iter().map(|k| k.work_at_verdict).max(),
        Some(total),
        "the rounds spend what searching the keys one after another spends"
    );
}

#[test]
fn a_mutex_held_twice_is_refuted() {
    assert_eq!(
        verdict(&Mutex, &[acquire(1, 0, 1), acquire(2, 2, 3)]),
        Some(false)
    );
    let handed_over = [acquire(1, 0, 1), release(1, 2, 5), acquire(2, 3, 6)];
    assert_eq!(verdict(&Mutex, &handed_over), Some(true));
    let crashed = [acquire(1, 0, MAY_NEVER_RETURN), acquire(2, 5, 6)];
    assert_eq!(
        verdict(&Mutex, &crashed),
        Some(true),
        "the crashed acquire never took"
    );
    let crashed_then = [
        acquire(1, 0, MAY_NEVER_RETURN),
        acquire(2, 5, 6),
        release(1, 7, 8),
    ];
    assert_eq!(
        verdict(&Mutex, &crashed_then),
        Some(false),
        "1 cannot release what 2 holds"
    );
}

#[test]
fn past_its_budget_a_key_is_unknown_not_a_crash() {
    // Ten processes take the lock and give it back, all at once; an eleventh takes it
    // and never gives it back: the last acquire cannot succeed, but only every
    // interleaving shows it.
    let h: Vec<_> = (0..10)
        .flat_map(|c| [acquire(c, 0, 100), release(c, 0, 100)])
        .chain([acquire(10, 0, 100), acquire(11, 200, 201)])
        .collect();
    let options = CheckOptions {
        budget: Budget::states(1_000),
        ..CheckOptions::default()
    };
    let report = check(&Mutex, &h, &options);
    assert!(
        matches!(&report.keys[0].verdict, Verdict::Unknown { reason } if reason.contains("1000 states")),
        "{report:?}"
    );
    assert_eq!(report.linearizable(), None);
    let past = Budget {
        max_states: usize::MAX,
        deadline: Some(std::time::Instant::now()),
        time: None,
    };
    let report = check(
        &Mutex,
        &h,
        &CheckOptions {
            budget: past,
            ..CheckOptions::default()
        },
    );
    assert!(
        matches!(&report.keys[0].verdict, Verdict::Unknown { reason } if reason.contains("deadline"))
    );
    // A time budget with no deadline: the check makes its deadline from its start.
    let no_time = Budget {
        time: Some(std::time::Duration::ZERO),
        ..Budget::states(usize::MAX)
    };
    let report = check(
        &Mutex,
        &h,
        &CheckOptions {
            budget: no_time,
            ..CheckOptions::default()
        },
    );
    assert!(
        matches!(&report.keys[0].verdict, Verdict::Unknown { reason } if reason.contains("deadline"))
    );
    assert_eq!(Budget::default().time, Some(Budget::TIME_DEFAULT));
}
