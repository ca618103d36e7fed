//! The linearizability search's speed on the shapes porcupine is measured on: 100
//! etcd-like single-register histories of 70–90 ops from 5 processes with many `info`
//! writes and cas and about one op in five failing, and key-value histories of ~2,000
//! ops over 10 keys from 1, 10 and 50 clients. Every history is linearizable by
//! construction, the case where the search cannot stop early.
//!
//! `cargo bench -p checkers --bench linear`. porcupine's figures for the same shapes:
//! ~0.6 s for its 102 etcd histories, 0.15 s for one 50-client kv history.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checkers::linear::{
    check, CasRegister, CheckOptions, Kv, KvInput, KvOutput, KvValue, Model, Operation, RegInput,
    RegOutput, Report, MAY_NEVER_RETURN,
};
use checkers::synth::Rng;

const REGISTER_HISTORIES: usize = 100;
const KV_OPS: usize = 2_000;
const KV_KEYS: u64 = 10;
const RUNS: usize = 3;

/// An op drawn for a process, before the simulation decides its outcome.
struct Draft<I> {
    client: u64,
    call: u64,
    ret: u64,
    /// When it takes effect, if it does.
    at: u64,
    input: I,
    outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    Fail,
    /// Timed out; it took effect or not.
    Info(bool),
}

/// `n` ops from `procs` processes, each process sequential, each op 1–100 time units
/// long; a process whose op is `info` is replaced by a fresh one, as in Jepsen.
fn draw<I>(
    rng: &mut Rng,
    n: usize,
    procs: u64,
    fail_per_mille: u64,
    info_per_mille: u64,
    mut input: impl FnMut(&mut Rng, u64, usize) -> I,
) -> Vec<Draft<I>> {
    let mut free_at = vec![0u64; procs as usize];
    let mut client: Vec<u64> = (0..procs).collect();
    let mut next_client = procs;
    (0..n)
        .map(|i| {
            let p = rng.below(procs) as usize;
            let call = free_at[p] + rng.below(20);
            let ret = call + 1 + rng.below(100);
            free_at[p] = ret + 1;
            let outcome = if rng.chance_per_mille(fail_per_mille) {
                Outcome::Fail
            } else if rng.chance_per_mille(info_per_mille) {
                Outcome::Info(rng.below(2) == 0)
            } else {
                Outcome::Ok
            };
            let c = client[p];
            if matches!(outcome, Outcome::Info(_)) {
                client[p] = next_client;
                next_client += 1;
            }
            Draft {
                client: c,
                call,
                ret,
                at: call + rng.below(ret - call + 1),
                input: input(rng, c, i),
                outcome,
            }
        })
        .collect()
}

/// Applies the drafts in the order of their effect; `observe` gives an ok op's output
/// from the state before it; ops the model refuses become fails. Fails are dropped.
fn simulate<M: Model>(
    model: &M,
    mut drafts: Vec<Draft<M::Input>>,
    observe: impl Fn(&M::Input, &M::State) -> M::Output,
    unknown: M::Output,
) -> Vec<Operation<M::Input, M::Output>> {
    drafts.sort_by_key(|d| d.at);
    let mut states: BTreeMap<M::Key, M::State> = BTreeMap::new();
    let mut ops = Vec::new();
    for d in drafts {
        let state = states
            .entry(model.key(&d.input))
            .or_insert_with(|| model.init());
        let output = match d.outcome {
            Outcome::Info(_) => unknown.clone(),
            _ => observe(&d.input, state),
        };
        let next = model.step(state, &d.input, &output);
        let ret = match (d.outcome, next.is_some()) {
            (Outcome::Fail, _) | (Outcome::Ok, false) => continue,
            (Outcome::Info(false), _) | (Outcome::Info(true), false) => {
                ops.push(op(d.client, d.call, MAY_NEVER_RETURN, d.input, output));
                continue;
            }
            (Outcome::Info(true), true) => MAY_NEVER_RETURN,
            (Outcome::Ok, true) => d.ret,
        };
        let next = next.expect("refusals continue above");
        *state = next;
        ops.push(op(d.client, d.call, ret, d.input, output));
    }
    ops.sort_by_key(|o| o.call);
    ops
}

fn op<I, O>(client: u64, call: u64, ret: u64, input: I, output: O) -> Operation<I, O> {
    Operation::new(client, call, ret, input, output)
}

fn register_history(rng: &mut Rng) -> Vec<Operation<RegInput, RegOutput>> {
    // Drawn again until 70–90 ops remain once fails are dropped. (Cutting a history
    // after the fact could drop an op that a kept one observed.)
    loop {
        let n = 90 + rng.below(40) as usize;
        let drafts = draw(rng, n, 5, 200, 250, |rng, _, _| register_input(rng));
        let observe = |i: &RegInput, s: &Option<i64>| match i {
            RegInput::Read { .. } => RegOutput::Read(*s),
            _ => RegOutput::Done,
        };
        let ops = simulate(&CasRegister, drafts, observe, RegOutput::Unknown);
        if (70..=90).contains(&ops.len()) {
            return ops;
        }
    }
}

fn register_input(rng: &mut Rng) -> RegInput {
    let key = "r".to_string();
    match rng.below(10) {
        0..=3 => RegInput::Read { key },
        4..=6 => RegInput::Write {
            key,
            value: rng.below(5) as i64,
        },
        _ => RegInput::Cas {
            key,
            from: rng.below(5) as i64,
            to: rng.below(5) as i64,
        },
    }
}

fn kv_history(rng: &mut Rng, clients: u64) -> Vec<Operation<KvInput, KvOutput>> {
    let drafts = draw(rng, KV_OPS, clients, 0, 10, |rng, client, i| {
        let key = format!("k{}", rng.below(KV_KEYS));
        match rng.below(10) {
            0..=4 => KvInput::Get { key },
            5 => KvInput::Put {
                key,
                value: format!("{client}.{i};"),
            },
            _ => KvInput::Append {
                key,
                value: format!("{client}.{i};"),
            },
        }
    });
    let observe = |i: &KvInput, s: &KvValue| match i {
        KvInput::Get { .. } => KvOutput::Get(s.to_string()),
        _ => KvOutput::Done,
    };
    simulate(&Kv, drafts, observe, KvOutput::Unknown)
}

/// The best of `RUNS` timings of checking every history, and the states cached.
fn time<M: Model>(
    model: &M,
    histories: &[Vec<Operation<M::Input, M::Output>>],
) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut states = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let reports: Vec<Report<M::Key>> = histories
            .iter()
            .map(|h| check(model, h, &CheckOptions::default()))
            .collect();
        best = best.min(start.elapsed());
        let passed = reports
            .iter()
            .filter(|r| r.linearizable() == Some(true))
            .count();
        assert_eq!(
            passed,
            histories.len(),
            "generated histories are linearizable"
        );
        states = reports.iter().flat_map(|r| &r.keys).map(|k| k.states).sum();
    }
    (best, states)
}

/// Many concurrent crashed writes on one key, one of the value 0 and the others of the
/// values 1–7 in turn, and reads that pin the values 0–7 in turn and then read 0 again,
/// which no order gives (each write takes effect at most once): every write may be
/// observed by a read, and a refutation needs every subset of the writes of the values
/// read later, so the search runs into its default budget and ends `Unknown`, within it.
fn pathological() {
    let h = crashed_writes(|w| if w == 0 { 0 } else { 1 + (w - 1) % 7 });
    let start = Instant::now();
    let r = check(&CasRegister, &h, &CheckOptions::default());
    let reason = match &r.keys[0].verdict {
        checkers::linear::Verdict::Unknown { reason } => reason.clone(),
        other => panic!("expected unknown, got {other:?}"),
    };
    println!(
        "cas-register: {} concurrent crashed writes on one key: unknown after {:.2} s ({reason}), {} states",
        CRASHED_WRITES,
        start.elapsed().as_secs_f64(),
        r.keys[0].states
    );
}

/// The same with the writes of the values 0–47, of which the reads observe 0–7: the
/// writes no op may observe are left out of the search (`Model::may_observe`), and the
/// rest is refuted.
fn pathological_unread() {
    let h = crashed_writes(|w| w);
    let start = Instant::now();
    let r = check(&CasRegister, &h, &CheckOptions::default());
    let checkers::linear::Verdict::NotLinearizable(c) = &r.keys[0].verdict else {
        panic!("expected refuted, got {:?}", r.keys[0].verdict);
    };
    println!(
        "cas-register: {} concurrent crashed writes of distinct values, 40 never read: refuted in {:.1} ms ({} ops required), {} states",
        CRASHED_WRITES,
        start.elapsed().as_secs_f64() * 1e3,
        c.required.len(),
        r.keys[0].states
    );
}

const CRASHED_WRITES: i64 = 48;

/// [`CRASHED_WRITES`] crashed writes at once, write `w` of `value(w)`, then reads of
/// 0–7 in turn and of 0 again.
fn crashed_writes(value: impl Fn(i64) -> i64) -> Vec<Operation<RegInput, RegOutput>> {
    let mut h: Vec<Operation<RegInput, RegOutput>> = (0..CRASHED_WRITES)
        .map(|w| {
            op(
                w as u64,
                0,
                checkers::linear::MAY_NEVER_RETURN,
                RegInput::Write {
                    key: "x".into(),
                    value: value(w),
                },
                RegOutput::Unknown,
            )
        })
        .collect();
    let mut t = 10;
    for v in (0..8).chain([0]) {
        h.push(op(
            100,
            t,
            t + 1,
            RegInput::Read { key: "x".into() },
            RegOutput::Read(Some(v)),
        ));
        t += 2;
    }
    h
}

/// The 50-client history with one get of one key answering a value no order of the
/// appends gives: the time to refute that key among ten (the rest all linearizable).
fn one_bad_key(h: &[Operation<KvInput, KvOutput>]) {
    let mut bad = h.to_vec();
    let last_get = bad
        .iter()
        .rposition(|o| matches!(&o.input, KvInput::Get { key } if key == "k3") && !o.is_info())
        .expect("a get of k3");
    bad[last_get].output = KvOutput::Get("never;appended;".into());
    let mut best = Duration::MAX;
    let mut refuted = 0;
    let mut sizes = (0, 0);
    for _ in 0..RUNS {
        let start = Instant::now();
        let r = check(&Kv, &bad, &CheckOptions::default());
        best = best.min(start.elapsed());
        refuted = r
            .keys
            .iter()
            .filter(|k| matches!(k.verdict, checkers::linear::Verdict::NotLinearizable(_)))
            .count();
        for k in &r.keys {
            if let checkers::linear::Verdict::NotLinearizable(c) = &k.verdict {
                sizes = (c.required.len(), c.prefix.len());
            }
        }
    }
    assert_eq!(refuted, 1, "the bad key, and only it, is refuted");
    println!(
        "kv: 50 clients, one bad key among {KV_KEYS}: refuted in {:.1} ms, counterexample included ({} ops required of a {}-op prefix)",
        best.as_secs_f64() * 1e3,
        sizes.0,
        sizes.1
    );
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut rng = Rng::new(2024);
    let registers: Vec<_> = (0..REGISTER_HISTORIES)
        .map(|_| register_history(&mut rng))
        .collect();
    let ops: usize = registers.iter().map(Vec::len).sum();
    let info: usize = registers.iter().flatten().filter(|o| o.is_info()).count();
    let (t, states) = time(&CasRegister, &registers);
    println!(
        "cas-register: {REGISTER_HISTORIES} histories, {ops} ops ({info} info) after fails dropped: {:.1} ms, {states} states",
        t.as_secs_f64() * 1e3
    );
    for clients in [1, 10, 50] {
        let h = kv_history(&mut rng, clients);
        if clients == 50 {
            one_bad_key(&h);
        }
        let info = h.iter().filter(|o| o.is_info()).count();
        let (t, states) = time(&Kv, std::slice::from_ref(&h));
        println!(
            "kv: {clients} clients, {KV_KEYS} keys, {} ops ({info} info): {:.1} ms, {states} states",
            h.len(),
            t.as_secs_f64() * 1e3
        );
    }
    pathological_unread();
    pathological();
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
}
