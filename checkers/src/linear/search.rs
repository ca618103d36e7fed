//! The Wing–Gong / Lowe search for one key: a doubly-linked list of call and return
//! events, a backtracking stack, and a cache of (linearized set, state) pairs already
//! explored, so that no configuration is searched twice.

use std::hash::{Hash, Hasher};

use hashbrown::HashTable;

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

/// The (linearized set, state) pairs explored, without an allocation per pair: each set
/// is kept as its window (the words after its leading all-ones words and before its
/// trailing zero words, with the window's start), one after another in one arena of
/// words; the states lie in another, and the table holds their numbers (with each pair's
/// hash, so that growing it hashes nothing again). A long history whose ops are mostly
/// linearized in order keeps a few words per pair instead of one bit per op.
struct Cache<S> {
    words: Vec<u64>,
    /// Per pair: where its window starts in the set, where it lies in the arena, and its
    /// length.
    windows: Vec<(u32, u32, u32)>,
    states: Vec<S>,
    hashes: Vec<u64>,
    table: HashTable<u32>,
}

impl<S: Hash + Eq> Cache<S> {
    fn new() -> Cache<S> {
        Cache {
            words: Vec::new(),
            windows: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            table: HashTable::new(),
        }
    }

    fn len(&self) -> usize {
        self.states.len()
    }

    /// Adds the pair whose set is all ones before word `lo` and `window` from there
    /// (all zeros after it); false when it was there already.
    fn insert(&mut self, lo: usize, window: &[u64], state: &S) -> bool
    where
        S: Clone,
    {
        let mut h = FxHasher::default();
        h.add(lo as u64);
        for &w in window {
            h.add(w);
        }
        state.hash(&mut h);
        let hash = h.finish();
        let Cache {
            words,
            windows,
            states,
            hashes,
            table,
        } = self;
        let lo = u32::try_from(lo).expect("fewer than 2^38 ops per key");
        let same = |&id: &u32| {
            let id = id as usize;
            let (at, start, len) = windows[id];
            hashes[id] == hash
                && at == lo
                && words[start as usize..(start + len) as usize] == *window
                && states[id] == *state
        };
        if table.find(hash, same).is_some() {
            return false;
        }
        let id = u32::try_from(states.len()).expect("fewer than 2^32 states per key");
        table.insert_unique(hash, id, |&id| hashes[id as usize]);
        let start = u32::try_from(words.len()).expect("fewer than 2^32 cached words per key");
        words.extend_from_slice(window);
        windows.push((lo, start, window.len() as u32));
        states.push(state.clone());
        hashes.push(hash);
        true
    }
}

/// The linearized ops as a bitset, with the window of words that are neither all ones
/// (before it) nor all zeros (after it) kept up to date as bits come and go.
struct Linearized {
    words: Vec<u64>,
    /// Words before this one are all ones.
    lo: usize,
    /// Words from this one on are all zeros.
    hi: usize,
}

impl Linearized {
    fn new(ops: usize) -> Linearized {
        Linearized {
            words: vec![0; ops.div_ceil(64)],
            lo: 0,
            hi: 0,
        }
    }

    fn has(&self, op: usize) -> bool {
        self.words[op / 64] & (1 << (op % 64)) != 0
    }

    fn set(&mut self, op: usize) {
        let w = op / 64;
        self.words[w] |= 1 << (op % 64);
        self.hi = self.hi.max(w + 1);
        while self.lo < self.hi && self.words[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    fn clear(&mut self, op: usize) {
        let w = op / 64;
        self.words[w] &= !(1 << (op % 64));
        self.lo = self.lo.min(w);
        while self.hi > self.lo && self.words[self.hi - 1] == 0 {
            self.hi -= 1;
        }
    }

    fn window(&self) -> (usize, &[u64]) {
        (self.lo, &self.words[self.lo..self.hi.max(self.lo)])
    }
}

/// The event list, with `head` and `tail` sentinels after the 2n events.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each event, its op.
    op: Vec<usize>,
    /// For a call event, the position of its return; `usize::MAX` for a return.
    ret_of: Vec<usize>,
    /// For each op, the position of its call; `usize::MAX` for an op left out.
    call_pos: Vec<usize>,
    head: usize,
}

impl Events {
    /// The events of the ops `kept` (indices into `spans`), calls sorted by time; a call
    /// at the same time as a return comes first, so that touching intervals count as
    /// concurrent. Returns of ops that may never have happened (`u64::MAX`) come after
    /// every other event.
    fn new(spans: &[(u64, u64)], kept: &[usize]) -> Events {
        let n = kept.len();
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for &i in kept {
            let (call, ret) = spans[i];
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
            call_pos: vec![usize::MAX; spans.len()],
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
        for (pos, &(_, is_ret, op)) in order.iter().enumerate() {
            if is_ret {
                ev.ret_of[ev.call_pos[op]] = pos;
            } else {
                ev.call_pos[op] = pos;
            }
        }
        ev
    }
    fn is_call(&self, p: usize) -> bool {
        p < self.ret_of.len() && self.ret_of[p] != usize::MAX
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

/// The pairs of ops [`unobserved`] may compare, over all its rounds: past them, the
/// ops not yet left out are kept (which is always sound).
const UNOBSERVED_PAIRS_MAX: usize = 1 << 22;

/// The ops a search may leave out, as they may never have happened and leaving them out
/// changes no verdict:
///
/// - an `info` or optional read: it is never needed, and taking it changes nothing;
/// - an `info` or optional op that no op kept may observe ([`Model::may_observe`]).
///
/// The second is sound by the contract of `may_observe`: let `x` be such an op and `L`
/// a linearization of the ops kept that takes it, `L = u x w`. Then `u` is legal from
/// the initial state, up to a state `s`, and `x w` is legal from `s`; no op of `w` may
/// observe `x`, so `w` is legal from `s`, and `u w` is a linearization too: it keeps
/// the real-time order (a subsequence of `L`), and holds every op that must happen
/// (`x` need not). Conversely a linearization without `x` is one of the ops with `x`
/// optional. So leaving `x` out changes no verdict; ops are left out one at a time,
/// each judged against the ops still kept then, until none is left to leave out (an op
/// left out observes nothing any more), and the argument holds at each step.
///
/// Cheap when few ops may be left out; its comparisons are bounded
/// ([`UNOBSERVED_PAIRS_MAX`]).
fn unobserved<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    info: &[bool],
    optional: &[bool],
    read_only: &[bool],
) -> Vec<bool> {
    let n = ops.len();
    let mut dropped: Vec<bool> = (0..n)
        .map(|i| read_only[i] && (info[i] || optional[i]))
        .collect();
    let candidates: Vec<usize> = (0..n)
        .filter(|&i| !read_only[i] && (info[i] || optional[i]))
        .collect();
    let mut pairs = 0usize;
    'rounds: loop {
        let mut changed = false;
        for &x in &candidates {
            if dropped[x] {
                continue;
            }
            let op = (&ops[x].input, &ops[x].output);
            let mut observed = false;
            for y in 0..n {
                if y == x || dropped[y] {
                    continue;
                }
                pairs += 1;
                if pairs > UNOBSERVED_PAIRS_MAX {
                    break 'rounds;
                }
                if model.may_observe(op, (&ops[y].input, &ops[y].output)) {
                    observed = true;
                    break;
                }
            }
            if !observed {
                dropped[x] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    dropped
}

/// Which candidates of a configuration a scan is at. Reads go first and are taken
/// without trying anything else (a read that can be taken now may as well be: it
/// changes nothing, and everything that must precede it already does); then the `ok`
/// ops that change the state; then the `info` ones, which no return ever forces; then,
/// where there are optional ops, leaving one out (it never happened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Reads,
    Writes,
    Info,
    Skip,
}

/// One key's search, which can stop after a number of states and go on later: its
/// whole position (the event list, the stack, the cache) is kept between runs.
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    ops: Vec<&'a Operation<M::Input, M::Output>>,
    info: Vec<bool>,
    read_only: Vec<bool>,
    /// Ops that may also never have happened, though if they did, within their span.
    optional: Vec<bool>,
    /// The phase after which a configuration has nothing left to try.
    last_phase: Phase,
    /// The middle of each op's span.
    mid: Vec<u64>,
    ev: Events,
    remaining_ok: usize,
    bits: Linearized,
    cache: Cache<M::State>,
    /// The linearized calls, the state before each, the phase it was taken in, and
    /// `first_read` before it.
    stack: Vec<(usize, M::State, Phase, usize)>,
    /// The `ok` reads, by return time.
    reads_by_ret: Vec<usize>,
    /// No read of `reads_by_ret` before this one is left to linearize.
    first_read: usize,
    state: M::State,
    entry: usize,
    phase: Phase,
    steps: u64,
    outcome: Option<Outcome>,
    /// The states cached when the outcome was reached (the cache is then dropped).
    final_states: usize,
}

impl<'a, M: Model> Search<'a, M> {
    /// The search for a linearization of `ops`, whose real-time spans are `spans`
    /// (call, return; return `u64::MAX` for an op that may take effect at any time
    /// after its call, or never). Success is every op with a finite return linearized.
    pub(crate) fn new(
        model: &'a M,
        ops: Vec<&'a Operation<M::Input, M::Output>>,
        spans: &[(u64, u64)],
    ) -> Search<'a, M> {
        let optional = vec![false; ops.len()];
        Search::with_optional(model, ops, spans, optional)
    }

    /// [`Search::new`], where the ops marked `optional` may also never have happened
    /// (if they did, within their span).
    pub(crate) fn with_optional(
        model: &'a M,
        ops: Vec<&'a Operation<M::Input, M::Output>>,
        spans: &[(u64, u64)],
        optional: Vec<bool>,
    ) -> Search<'a, M> {
        assert_eq!(ops.len(), spans.len());
        assert_eq!(ops.len(), optional.len());
        let n = ops.len();
        let info: Vec<bool> = spans.iter().map(|s| s.1 == u64::MAX).collect();
        let read_only: Vec<bool> = ops
            .iter()
            .map(|o| model.is_read_only(&o.input, &o.output))
            .collect();
        let dropped = unobserved(model, &ops, &info, &optional, &read_only);
        let dropped = |i: usize| dropped[i];
        let kept: Vec<usize> = (0..n).filter(|&i| !dropped(i)).collect();
        let ev = Events::new(spans, &kept);
        let mut reads_by_ret: Vec<usize> = (0..n)
            .filter(|&i| read_only[i] && !info[i] && !optional[i])
            .collect();
        reads_by_ret.sort_by_key(|&i| (spans[i].1, i));
        let entry = ev.next[ev.head];
        Search {
            model,
            mid: spans.iter().map(|s| s.0 / 2 + s.1 / 2).collect(),
            remaining_ok: (0..n).filter(|&i| !info[i] && !dropped(i)).count(),
            last_phase: if (0..n).any(|i| optional[i] && !dropped(i)) {
                Phase::Skip
            } else {
                Phase::Info
            },
            optional,
            info,
            read_only,
            ev,
            bits: Linearized::new(n),
            cache: Cache::new(),
            stack: Vec::with_capacity(n),
            state: model.init(),
            entry,
            phase: Phase::Reads,
            steps: 0,
            outcome: None,
            final_states: 0,
            reads_by_ret,
            first_read: 0,
            ops,
        }
    }

    /// States cached so far.
    pub(crate) fn states(&self) -> usize {
        if self.outcome.is_some() {
            self.final_states
        } else {
            self.cache.len()
        }
    }

    /// Searches on until an outcome, or until `pause_at` states are cached (`None`: call
    /// again to go on). Past `budget` the outcome is `OutOfBudget`.
    pub(crate) fn run(&mut self, budget: &Budget, pause_at: usize) -> Option<Outcome> {
        if let Some(o) = &self.outcome {
            return Some(o.clone());
        }
        let o = self.step_until(budget, pause_at)?;
        // Its memory is not needed any more.
        self.final_states = self.cache.len();
        self.cache = Cache::new();
        self.stack = Vec::new();
        self.outcome = Some(o.clone());
        Some(o)
    }

    fn step_until(&mut self, budget: &Budget, pause_at: usize) -> Option<Outcome> {
        let head = self.ev.head;
        loop {
            if self.remaining_ok == 0 {
                return Some(Outcome::Linearizable);
            }
            self.steps += 1;
            if self.steps.is_multiple_of(DEADLINE_CHECK_INTERVAL_STEPS) {
                if let Some(reason) = budget.exceeded(self.cache.len()) {
                    return Some(Outcome::OutOfBudget(reason));
                }
            }
            let p = self.entry;
            if !self.ev.is_call(p) {
                // The first return not linearized (an ok op's: returns at u64::MAX sort
                // after every finite one), or the end: this phase has no candidate left.
                assert!(
                    p >= self.ev.op.len() || !self.info[self.ev.op[p]],
                    "reached an info return with ok ops left"
                );
                match self.phase {
                    Phase::Reads => {
                        self.phase = Phase::Writes;
                        self.entry = self.next_write(None);
                    }
                    Phase::Writes => {
                        self.phase = Phase::Info;
                        self.entry = self.ev.next[head];
                    }
                    Phase::Info if self.last_phase == Phase::Skip => {
                        self.phase = Phase::Skip;
                        self.entry = self.ev.next[head];
                    }
                    Phase::Info | Phase::Skip => {
                        if !self.backtrack() {
                            return Some(Outcome::Refuted);
                        }
                    }
                }
                continue;
            }
            let op = self.ev.op[p];
            let wanted = match self.phase {
                Phase::Reads => self.read_only[op],
                Phase::Writes => !self.read_only[op] && !self.info[op],
                Phase::Info => !self.read_only[op] && self.info[op],
                Phase::Skip => self.optional[op],
            };
            if !wanted {
                self.entry = self.advance(p);
                continue;
            }
            let o = self.ops[op];
            let stepped = match self.phase {
                // Left out: it never happened, and the state stays.
                Phase::Skip => Some(self.state.clone()),
                _ => self.model.step(&self.state, &o.input, &o.output),
            };
            let Some(next) = stepped else {
                self.entry = self.advance(p);
                continue;
            };
            self.bits.set(op);
            let (lo, window) = self.bits.window();
            if !self.cache.insert(lo, window, &next) {
                self.bits.clear(op);
                if self.phase == Phase::Reads {
                    // Explored already from here, and the read first is as good as any
                    // order: this configuration fails.
                    self.phase = self.last_phase;
                    self.entry = self.ev.next[head];
                    while self.ev.is_call(self.entry) {
                        self.entry = self.ev.next[self.entry];
                    }
                } else {
                    self.entry = self.advance(p);
                }
                continue;
            }
            if self.cache.len() > budget.max_states {
                return Some(Outcome::OutOfBudget(format!(
                    "more than {} states explored",
                    budget.max_states
                )));
            }
            let before = std::mem::replace(&mut self.state, next);
            self.stack.push((p, before, self.phase, self.first_read));
            self.ev.lift(p);
            if !self.info[op] {
                self.remaining_ok -= 1;
            }
            if self.doomed() {
                if !self.backtrack() {
                    return Some(Outcome::Refuted);
                }
                continue;
            }
            self.entry = self.ev.next[head];
            self.phase = Phase::Reads;
            if self.cache.len() >= pause_at {
                return None;
            }
        }
    }

    /// Whether the first read left to linearize (by return) can no longer be reached
    /// from the current state with the ops that change the state and may still come
    /// before it: then no linearization goes on from here.
    fn doomed(&mut self) -> bool {
        let linearized = |op: usize| self.bits.has(op);
        let mut first = self.first_read;
        while first < self.reads_by_ret.len() && linearized(self.reads_by_ret[first]) {
            first += 1;
        }
        self.first_read = first;
        let Some(&r) = self.reads_by_ret.get(first) else {
            return false;
        };
        let stop = self.ev.ret_of[self.ev.call_pos[r]];
        let ev = &self.ev;
        let mut p = ev.next[ev.head];
        let mut writes = std::iter::from_fn(|| {
            while p != stop {
                let at = p;
                p = ev.next[p];
                if ev.is_call(at) && !self.read_only[ev.op[at]] {
                    return Some(&self.ops[ev.op[at]].input);
                }
            }
            None
        });
        let o = self.ops[r];
        !self
            .model
            .can_reach(&self.state, &mut writes, &o.input, &o.output)
    }

    /// The candidate after `p` in the current phase's order.
    fn advance(&self, p: usize) -> usize {
        match self.phase {
            Phase::Writes => self.next_write(Some((self.mid[self.ev.op[p]], p))),
            _ => self.ev.next[p],
        }
    }

    /// The write candidate (an `ok` op that changes the state, called before the first
    /// return left) that comes next after `after` in the order of the middles of their
    /// spans, the likeliest order of their effects; the first return if none is left.
    fn next_write(&self, after: Option<(u64, usize)>) -> usize {
        let mut best: Option<(u64, usize)> = None;
        let mut p = self.ev.next[self.ev.head];
        while self.ev.is_call(p) {
            let op = self.ev.op[p];
            if !self.read_only[op] && !self.info[op] {
                let k = (self.mid[op], p);
                if after.is_none_or(|a| k > a) && best.is_none_or(|b| k < b) {
                    best = Some(k);
                }
            }
            p = self.ev.next[p];
        }
        best.map_or(p, |b| b.1)
    }

    /// Undoes the last linearization and goes on with the candidates after it; a read
    /// taken first stood for its whole configuration, which fails with it. False when
    /// there is nothing left to undo.
    fn backtrack(&mut self) -> bool {
        loop {
            let Some((call, before, phase, first_read)) = self.stack.pop() else {
                return false;
            };
            self.first_read = first_read;
            let op = self.ev.op[call];
            self.state = before;
            self.bits.clear(op);
            self.ev.unlift(call);
            if !self.info[op] {
                self.remaining_ok += 1;
            }
            if phase != Phase::Reads {
                self.phase = phase;
                self.entry = self.advance(call);
                return true;
            }
        }
    }
}

/// Searches `ops` to the end, those marked `optional` perhaps left out (see
/// [`Search::with_optional`]).
#[cfg(test)]
pub(crate) fn search_optional<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    spans: &[(u64, u64)],
    optional: &[bool],
    budget: &Budget,
) -> Outcome {
    Search::with_optional(model, ops.to_vec(), spans, optional.to_vec())
        .run(budget, usize::MAX)
        .expect("no pause")
}
