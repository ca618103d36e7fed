//! The Wing–Gong / Lowe search for one key: a doubly-linked list of call and return
//! events, a backtracking stack, and a cache of (linearized set, state) pairs already
//! explored, so that no configuration is searched twice.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::model::Model;
use super::{Budget, Operation};

/// How often, in search steps, the deadline is read: `Instant::now` is not free.
const DEADLINE_CHECK_INTERVAL_STEPS: u64 = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    Refuted,
    OutOfBudget(String),
}

/// The search's cost: distinct (linearized set, state) pairs cached.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cost {
    pub states: usize,
}

/// A small multiply-rotate hasher (the Firefox/rustc one): the cache keys are words of a
/// bitset and a small state, for which SipHash's DoS resistance buys nothing.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

type Cache<S> = HashSet<(Box<[u64]>, S), BuildHasherDefault<FxHasher>>;

/// The event list, with `head` and `tail` sentinels after the 2n events.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each event, its op.
    op: Vec<usize>,
    /// For a call event, the position of its return; `usize::MAX` for a return.
    ret_of: Vec<usize>,
    head: usize,
}

impl Events {
    /// Calls sorted by time; a call at the same time as a return comes first, so that
    /// touching intervals count as concurrent. Returns of ops that may never have
    /// happened (`u64::MAX`) come after every other event.
    fn new(spans: &[(u64, u64)]) -> Events {
        let n = spans.len();
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, &(call, ret)) in spans.iter().enumerate() {
            assert!(call <= ret, "op {i} returns before its call");
            order.push((call, false, i));
            order.push((ret, true, i));
        }
        order.sort_unstable();
        let (head, tail) = (2 * n, 2 * n + 1);
        let mut ev = Events {
            next: (1..=2 * n + 2).collect(),
            prev: Vec::with_capacity(2 * n + 2),
            op: order.iter().map(|&(_, _, op)| op).collect(),
            ret_of: vec![usize::MAX; 2 * n],
            head,
        };
        ev.prev
            .extend((0..2 * n).map(|p| if p == 0 { head } else { p - 1 }));
        ev.prev
            .extend([usize::MAX, if n == 0 { head } else { 2 * n - 1 }]);
        ev.next[head] = if n == 0 { tail } else { 0 };
        if n > 0 {
            ev.next[2 * n - 1] = tail;
        }
        ev.next[tail] = usize::MAX;
        let mut call_pos = vec![usize::MAX; n];
        for (pos, &(_, is_ret, op)) in order.iter().enumerate() {
            if is_ret {
                ev.ret_of[call_pos[op]] = pos;
            } else {
                call_pos[op] = pos;
            }
        }
        ev
    }
    fn unlink(&mut self, p: usize) {
        let (a, b) = (self.prev[p], self.next[p]);
        self.next[a] = b;
        self.prev[b] = a;
    }
    fn relink(&mut self, p: usize) {
        let (a, b) = (self.prev[p], self.next[p]);
        self.next[a] = p;
        self.prev[b] = p;
    }
    /// Takes a call and its return out of the list (the op is linearized).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.ret_of[call]);
    }
    /// Undoes `lift`, in the reverse order.
    fn unlift(&mut self, call: usize) {
        self.relink(self.ret_of[call]);
        self.relink(call);
    }
}

/// Searches for a linearization of `ops`, whose real-time spans are `spans` (call,
/// return; return `u64::MAX` for an op that may take effect at any time after its
/// call, or never). Success is every op with a finite return linearized.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    spans: &[(u64, u64)],
    budget: &Budget,
) -> (Outcome, Cost) {
    assert_eq!(ops.len(), spans.len());
    let n = ops.len();
    let mut ev = Events::new(spans);
    let mut remaining_ok = spans.iter().filter(|s| s.1 != u64::MAX).count();
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut cache: Cache<M::State> = HashSet::default();
    let mut stack: Vec<(usize, M::State)> = Vec::with_capacity(n);
    let mut state = model.init();
    let mut entry = ev.next[ev.head];
    let mut steps: u64 = 0;
    loop {
        if remaining_ok == 0 {
            return (
                Outcome::Linearizable,
                Cost {
                    states: cache.len(),
                },
            );
        }
        steps += 1;
        if steps.is_multiple_of(DEADLINE_CHECK_INTERVAL_STEPS) {
            if let Some(reason) = budget.exceeded(cache.len()) {
                return (
                    Outcome::OutOfBudget(reason),
                    Cost {
                        states: cache.len(),
                    },
                );
            }
        }
        let op = ev.op[entry];
        if ev.ret_of[entry] != usize::MAX {
            // A call: try to linearize its op here.
            let o = ops[op];
            if let Some(next) = model.step(&state, &o.input, &o.output) {
                bits[op / 64] |= 1 << (op % 64);
                if cache.insert((bits.clone().into_boxed_slice(), next.clone())) {
                    if cache.len() > budget.max_states {
                        return (
                            Outcome::OutOfBudget(format!(
                                "more than {} states explored",
                                budget.max_states
                            )),
                            Cost {
                                states: cache.len(),
                            },
                        );
                    }
                    stack.push((entry, std::mem::replace(&mut state, next)));
                    ev.lift(entry);
                    if spans[op].1 != u64::MAX {
                        remaining_ok -= 1;
                    }
                    entry = ev.next[ev.head];
                    continue;
                }
                bits[op / 64] &= !(1 << (op % 64));
            }
            entry = ev.next[entry];
        } else {
            // A return whose op could not be linearized before it: backtrack. Returns
            // at u64::MAX sort after every finite one, so this is an ok op's.
            assert_ne!(
                spans[op].1,
                u64::MAX,
                "reached an info return with ok ops left"
            );
            let Some((call, before)) = stack.pop() else {
                return (
                    Outcome::Refuted,
                    Cost {
                        states: cache.len(),
                    },
                );
            };
            let top = ev.op[call];
            state = before;
            bits[top / 64] &= !(1 << (top % 64));
            ev.unlift(call);
            if spans[top].1 != u64::MAX {
                remaining_ok += 1;
            }
            entry = ev.next[call];
        }
    }
}
