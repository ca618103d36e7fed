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
    fn observe(&self, input: &KvInput, state: &String) -> KvOutput {
        match input {
            KvInput::Get { .. } => KvOutput::Get(state.clone()),
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
    let info: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].is_info()).collect();
    let ok: Vec<usize> = (0..ops.len()).filter(|&i| !ops[i].is_info()).collect();
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

/// The counterexample's prefix, with every op outside `required` taken as `info`.
fn weakened<M: Model>(ops: &Ops<M>, c: &Counterexample) -> Ops<M> {
    c.prefix
        .iter()
        .map(|&i| {
            let mut o = ops[i].clone();
            if !c.required.contains(&i) {
                o.ret = MAY_NEVER_RETURN;
            }
            o
        })
        .collect()
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
                assert!(
                    !oracle(model, &weakened::<M>(&ops, c)),
                    "{} history {h}: the counterexample {c:?} is linearizable: {ops:#?}",
                    model.name()
                );
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
        yes > ORACLE_HISTORIES / 5 && no > ORACLE_HISTORIES / 5,
        "{yes} {no}"
    );
}

#[test]
fn kv_agrees_with_the_oracle() {
    let (yes, no) = agree(&Kv, 2, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 5 && no > ORACLE_HISTORIES / 5,
        "{yes} {no}"
    );
}

#[test]
fn mutex_agrees_with_the_oracle() {
    let (yes, no) = agree(&Mutex, 3, ORACLE_HISTORIES);
    assert!(
        yes > ORACLE_HISTORIES / 5 && no > ORACLE_HISTORIES / 5,
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
        ];
        for (name, (yes, no)) in counts {
            println!("seed {seed} {name}: 100000 agree ({yes} linearizable, {no} not)");
        }
    }
}
