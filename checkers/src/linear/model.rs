//! The sequential specifications the linearizability search checks against: a
//! [`Model`] trait and the `cas-register`, `kv` and `mutex` models.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential object. The search calls `step` for every candidate linearization
/// point, so it must be cheap and pure; `key` splits a history into independent
/// objects (P-compositionality), each searched on its own.
pub trait Model {
    type Key: Ord + Clone + Debug;
    type Input: Clone + Debug;
    /// What the op returned; models represent an `info` op's unknown result themselves.
    type Output: Clone + Debug;
    type State: Clone + Eq + Hash + Debug;

    fn name(&self) -> &'static str;
    fn key(&self, input: &Self::Input) -> Self::Key;
    fn init(&self) -> Self::State;
    /// The state after applying `input` with result `output`, or `None` when this
    /// result is impossible from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
    /// True when `step` with this input and output never changes the state (a read):
    /// the search then takes such an op as soon as it can be taken, without trying
    /// other orders, and leaves out such an op that is `info`. Saying `false` is
    /// always safe; saying `true` of an op that changes the state is not.
    fn is_read_only(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }
    /// False only when no order of any subset of `writes` (ops that change the state)
    /// applied from `state` can reach a state where the read `input`/`output` is
    /// legal: the search then drops the configuration without waiting for the read's
    /// return. Saying `true` is always safe.
    fn can_reach(
        &self,
        _state: &Self::State,
        _writes: &mut dyn Iterator<Item = &Self::Input>,
        _input: &Self::Input,
        _output: &Self::Output,
    ) -> bool {
        true
    }
    /// False only when `by` (an op with its output) cannot observe the effect of the op
    /// `op` (one that changes the state, with its output): precisely, when for every
    /// set W of ops none of which may observe `op`, every state `s` from which `op`
    /// steps, and every sequence `w` of ops of W, if `op` then `w` is legal from `s`,
    /// so is `w` alone. (What `w` ends in does not matter: `w` stands for the whole rest
    /// of a linearization.) The search then leaves out an op that may never have
    /// happened (`info`, or optional) when no op it keeps may observe it: a
    /// linearization that takes it is still one without it. Saying `true` is always
    /// safe.
    fn may_observe(
        &self,
        _op: (&Self::Input, &Self::Output),
        _by: (&Self::Input, &Self::Output),
    ) -> bool {
        true
    }
}

/// A register value; `None` is the initial, never-written value (`null`).
pub type RegValue = Option<i64>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegInput {
    Read { key: String },
    Write { key: String, value: i64 },
    Cas { key: String, from: i64, to: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegOutput {
    /// A read's value.
    Read(RegValue),
    /// A write or cas that completed (`ok`): a cas that did not swap is a `fail`.
    Done,
    /// An `info` op: its result, if any, was never seen.
    Unknown,
}

/// One register per key, read/write/compare-and-set (Jepsen's `cas-register`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

impl Model for CasRegister {
    type Key = String;
    type Input = RegInput;
    type Output = RegOutput;
    type State = RegValue;

    fn name(&self) -> &'static str {
        "cas-register"
    }
    fn key(&self, input: &RegInput) -> String {
        match input {
            RegInput::Read { key } | RegInput::Write { key, .. } | RegInput::Cas { key, .. } => {
                key.clone()
            }
        }
    }
    fn init(&self) -> RegValue {
        None
    }
    fn step(&self, state: &RegValue, input: &RegInput, output: &RegOutput) -> Option<RegValue> {
        match (input, output) {
            (RegInput::Read { .. }, RegOutput::Read(v)) => (v == state).then_some(*state),
            (RegInput::Read { .. }, _) => Some(*state),
            (RegInput::Write { value, .. }, _) => Some(Some(*value)),
            (RegInput::Cas { from, to, .. }, _) => (*state == Some(*from)).then_some(Some(*to)),
        }
    }
    fn is_read_only(&self, input: &RegInput, _: &RegOutput) -> bool {
        matches!(input, RegInput::Read { .. })
    }
    /// The value read is the current one, or a write or cas may still set it.
    fn can_reach(
        &self,
        state: &RegValue,
        mut writes: &mut dyn Iterator<Item = &RegInput>,
        _: &RegInput,
        output: &RegOutput,
    ) -> bool {
        let RegOutput::Read(v) = output else {
            return true;
        };
        v == state
            || Iterator::any(&mut writes, |w| match w {
                RegInput::Write { value, .. } | RegInput::Cas { to: value, .. } => {
                    *v == Some(*value)
                }
                RegInput::Read { .. } => false,
            })
    }
    /// After a write or cas of `v` the register holds `v`, and until the next write or
    /// cas only a read of `v` or a cas from `v` can be legal (a read with no value seen
    /// is legal anywhere and changes nothing; a write is legal anywhere and sets the
    /// value whatever it was). So with neither of those, the op is followed by such
    /// reads and then a write or nothing, all of which are as legal without it, the
    /// write leaving the same value.
    fn may_observe(&self, op: (&RegInput, &RegOutput), by: (&RegInput, &RegOutput)) -> bool {
        let v = match op.0 {
            RegInput::Write { value, .. } | RegInput::Cas { to: value, .. } => *value,
            RegInput::Read { .. } => return true,
        };
        match by {
            (RegInput::Read { .. }, RegOutput::Read(read)) => *read == Some(v),
            (RegInput::Read { .. }, _) | (RegInput::Write { .. }, _) => false,
            (RegInput::Cas { from, .. }, _) => *from == v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    Get(String),
    Done,
    Unknown,
}

/// porcupine's key-value model: get, put and append per key; an absent key reads "".
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

/// A key's value in the [`Kv`] model: the text, shared rather than copied from state to
/// state, with a hash of it kept beside it, so that the search clones, hashes and
/// compares a value of any length in constant time (the text is compared only when the
/// hashes agree). Appending copies the text once.
#[derive(Clone)]
pub struct KvValue {
    text: std::sync::Arc<str>,
    hash: u64,
}

impl KvValue {
    /// A polynomial hash of the bytes, so that an append extends the hash of what it
    /// appends to (a collision costs a comparison, never a wrong answer).
    const P: u64 = 0x100_0000_01b3;

    pub fn new(text: &str) -> KvValue {
        KvValue {
            hash: Self::extend(0, text),
            text: text.into(),
        }
    }

    fn extend(mut hash: u64, more: &str) -> u64 {
        for &b in more.as_bytes() {
            hash = hash.wrapping_mul(Self::P).wrapping_add(u64::from(b) + 1);
        }
        hash
    }

    fn appended(&self, more: &str) -> KvValue {
        let mut text = String::with_capacity(self.text.len() + more.len());
        text.push_str(&self.text);
        text.push_str(more);
        KvValue {
            hash: Self::extend(self.hash, more),
            text: text.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Default for KvValue {
    fn default() -> KvValue {
        KvValue::new("")
    }
}

impl std::ops::Deref for KvValue {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for KvValue {
    fn eq(&self, other: &KvValue) -> bool {
        self.hash == other.hash
            && (std::sync::Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for KvValue {}

impl Hash for KvValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Debug for KvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Debug::fmt(&*self.text, f)
    }
}

impl Model for Kv {
    type Key = String;
    type Input = KvInput;
    type Output = KvOutput;
    type State = KvValue;

    fn name(&self) -> &'static str {
        "kv"
    }
    fn key(&self, input: &KvInput) -> String {
        match input {
            KvInput::Get { key } | KvInput::Put { key, .. } | KvInput::Append { key, .. } => {
                key.clone()
            }
        }
    }
    fn init(&self) -> KvValue {
        KvValue::default()
    }
    fn step(&self, state: &KvValue, input: &KvInput, output: &KvOutput) -> Option<KvValue> {
        match (input, output) {
            (KvInput::Get { .. }, KvOutput::Get(v)) => {
                (v.as_str() == state.as_str()).then(|| state.clone())
            }
            (KvInput::Get { .. }, _) => Some(state.clone()),
            (KvInput::Put { value, .. }, _) => Some(KvValue::new(value)),
            (KvInput::Append { value, .. }, _) => Some(state.appended(value)),
        }
    }
    fn is_read_only(&self, input: &KvInput, _: &KvOutput) -> bool {
        matches!(input, KvInput::Get { .. })
    }
    /// The value read is the current one or a put's, then appends: it must begin with
    /// the current value or the value of a put that may still come, and the rest of it
    /// must be a sequence of values those appends may still add (any of them, any
    /// number of times: a superset of what the writes can give).
    fn can_reach(
        &self,
        state: &KvValue,
        writes: &mut dyn Iterator<Item = &KvInput>,
        _: &KvInput,
        output: &KvOutput,
    ) -> bool {
        let KvOutput::Get(v) = output else {
            return true;
        };
        if v.as_str() == state.as_str() {
            return true;
        }
        let v = v.as_bytes();
        // Bit i: some base then appends may give the first i bytes of v. On the stack
        // for a short value (the search calls this after every step).
        let mut small = [0u64; 8];
        let mut large = Vec::new();
        let reach: &mut [u64] = if v.len() < 8 * 64 {
            &mut small
        } else {
            large.resize(v.len() / 64 + 1, 0);
            &mut large
        };
        let set = |reach: &mut [u64], i: usize| reach[i / 64] |= 1 << (i % 64);
        let has = |reach: &[u64], i: usize| reach[i / 64] & (1 << (i % 64)) != 0;
        // The shortest base: the bytes before it need no look.
        let mut lo = v.len();
        if v.starts_with(state.as_bytes()) {
            set(reach, state.len());
            lo = state.len();
        }
        let mut first: [&[u8]; 32] = [&[]; 32];
        let mut count = 0;
        let mut more: Vec<&[u8]> = Vec::new();
        for w in writes {
            match w {
                KvInput::Put { value, .. } if v.starts_with(value.as_bytes()) => {
                    set(reach, value.len());
                    lo = lo.min(value.len());
                }
                KvInput::Append { value, .. } if !value.is_empty() => {
                    if count < first.len() {
                        first[count] = value.as_bytes();
                        count += 1;
                    } else {
                        more.push(value.as_bytes());
                    }
                }
                _ => {}
            }
        }
        for at in lo..v.len() {
            if !has(reach, at) {
                continue;
            }
            for a in first[..count].iter().chain(&more) {
                if v[at..].starts_with(a) {
                    set(reach, at + a.len());
                }
            }
        }
        has(reach, v.len())
    }
    /// After an append of a non-empty `a`, every value holds `a` until the next put; a
    /// get with a value seen must read the whole value. So with no get seeing a value
    /// that contains `a`, the append is followed by appends and unanswered gets (legal
    /// anywhere) and then a put or nothing: as legal without it, and the put leaves the
    /// same value. After a put of `p` every value begins with `p` until the next put:
    /// likewise with no get seeing a value that begins with `p`. An empty append changes
    /// nothing.
    fn may_observe(&self, op: (&KvInput, &KvOutput), by: (&KvInput, &KvOutput)) -> bool {
        let KvOutput::Get(seen) = by.1 else {
            return false;
        };
        if !matches!(by.0, KvInput::Get { .. }) {
            return false;
        }
        match op.0 {
            KvInput::Append { value, .. } => !value.is_empty() && seen.contains(value.as_str()),
            KvInput::Put { value, .. } => seen.starts_with(value.as_str()),
            KvInput::Get { .. } => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MutexInput {
    Acquire { lock: String, process: u64 },
    Release { lock: String, process: u64 },
}

/// A lock per name: `acquire` succeeds only when the lock is free, `release` only by
/// its holder. A refused acquire is a `fail` and never reaches the model.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

impl Model for Mutex {
    type Key = String;
    type Input = MutexInput;
    type Output = ();
    /// The holder, if any.
    type State = Option<u64>;

    fn name(&self) -> &'static str {
        "mutex"
    }
    fn key(&self, input: &MutexInput) -> String {
        match input {
            MutexInput::Acquire { lock, .. } | MutexInput::Release { lock, .. } => lock.clone(),
        }
    }
    fn init(&self) -> Option<u64> {
        None
    }
    fn step(&self, state: &Option<u64>, input: &MutexInput, _: &()) -> Option<Option<u64>> {
        match input {
            MutexInput::Acquire { process, .. } => state.is_none().then_some(Some(*process)),
            MutexInput::Release { process, .. } => (*state == Some(*process)).then_some(None),
        }
    }
    /// After an acquire by `p` only a release by `p` is legal: with none, nothing
    /// follows it.
    fn may_observe(&self, op: (&MutexInput, &()), by: (&MutexInput, &())) -> bool {
        match (op.0, by.0) {
            (MutexInput::Acquire { process, .. }, MutexInput::Release { process: q, .. }) => {
                process == q
            }
            (MutexInput::Acquire { .. }, MutexInput::Acquire { .. }) => false,
            (MutexInput::Release { .. }, _) => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeaseInput {
    /// Take the lock; the grant's token is in the output.
    Acquire { lock: String },
    /// Does the grant with this token hold the lock now?
    Holding { lock: String, token: u64 },
    /// Give up the grant with this token.
    Release { lock: String, token: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeaseOutput {
    /// An acquire granted with this fencing token.
    Acquired(u64),
    /// A holding op's answer.
    Holding(bool),
    /// A release that completed (`ok`): a refused release is a `fail`.
    Done,
    /// An `info` op: its result, if any, was never seen.
    Unknown,
}

/// The lock state of [`LeaseMutex`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseState {
    /// The token of the last grant, unless it is known to be over (released, or seen
    /// not holding). It may have lapsed already: nothing has said so yet.
    pub grant: Option<u64>,
    /// The largest token granted so far (0 before the first grant).
    pub last: u64,
}

/// A lock with fencing tokens whose grants are leases: a grant may lapse at any
/// instant after it is taken, without any op saying so. Every grant gets a token larger
/// than every token granted before it; `acquire` succeeds only when no grant holds, but
/// since the previous grant may have lapsed just before, an acquire alone never
/// contradicts anything; `holding T` answers `true` only while grant T holds, and a
/// grant that stopped holding never holds again; after `release T` grant T does not
/// hold (releasing a grant that already lapsed or was superseded is harmless, and
/// systems answer it ok: etcd's Resign does; a refused release is a `fail`).
///
/// Lapses are taken lazily: the state keeps the last grant until an op shows it over
/// (a release, a `holding` that answered `false`, a newer grant). That is exact: from
/// "grant T, maybe lapsed" the lock is either held by T or free, and each op's answer
/// picks one of the two (the tests check it against a model that lapses grants
/// explicitly between any two ops).
#[derive(Clone, Copy, Debug, Default)]
pub struct LeaseMutex;

impl Model for LeaseMutex {
    type Key = String;
    type Input = LeaseInput;
    type Output = LeaseOutput;
    type State = LeaseState;

    fn name(&self) -> &'static str {
        "lease-mutex"
    }
    fn key(&self, input: &LeaseInput) -> String {
        match input {
            LeaseInput::Acquire { lock }
            | LeaseInput::Holding { lock, .. }
            | LeaseInput::Release { lock, .. } => lock.clone(),
        }
    }
    fn init(&self) -> LeaseState {
        LeaseState::default()
    }
    fn step(
        &self,
        state: &LeaseState,
        input: &LeaseInput,
        output: &LeaseOutput,
    ) -> Option<LeaseState> {
        let s = *state;
        match (input, output) {
            // The previous grant, if any, lapsed or was released just before.
            (LeaseInput::Acquire { .. }, LeaseOutput::Acquired(t)) => {
                (*t > s.last).then_some(LeaseState {
                    grant: Some(*t),
                    last: *t,
                })
            }
            // A grant under a token nobody saw: no known grant holds after it.
            (LeaseInput::Acquire { .. }, _) => Some(LeaseState { grant: None, ..s }),
            (LeaseInput::Holding { token, .. }, LeaseOutput::Holding(true)) => {
                (s.grant == Some(*token)).then_some(s)
            }
            (LeaseInput::Holding { token, .. }, LeaseOutput::Holding(false)) => {
                if s.grant == Some(*token) {
                    Some(LeaseState { grant: None, ..s }) // it lapsed
                } else {
                    Some(s)
                }
            }
            (LeaseInput::Holding { .. }, _) => Some(s),
            // After an ok release the grant does not hold. Releasing a grant that no
            // longer holds (lapsed, or superseded) changes nothing: it is harmless, and
            // systems answer it ok (etcd's Resign does), so it refutes nothing.
            (LeaseInput::Release { token, .. }, _) => {
                if s.grant == Some(*token) {
                    Some(LeaseState { grant: None, ..s })
                } else {
                    Some(s)
                }
            }
        }
    }
    /// A `holding` that answered `true` or was never answered; one that answered
    /// `false` may end the grant.
    fn is_read_only(&self, input: &LeaseInput, output: &LeaseOutput) -> bool {
        matches!(input, LeaseInput::Holding { .. }) && *output != LeaseOutput::Holding(false)
    }
}

/// The rule a fenced store claims for the writes it accepts under a token
/// ([`FencedRegister`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceRule {
    /// `fence_on_grant` (`--fencing grant`): only the election's current grant; a grant
    /// released or superseded lets no write in again.
    Grant,
    /// `--fencing write`: no token below the largest already accepted.
    Monotonic,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FenceInput {
    /// An acquire answered ok with this token.
    Grant { lock: String, token: u64 },
    /// A release answered ok.
    Release { lock: String, token: u64 },
    /// A write accepted (ok) under this token.
    Write { lock: String, token: u64 },
}

/// The state of one election's fenced store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FenceState {
    /// The last grant, unless it was released.
    pub current: Option<u64>,
    /// The largest token granted so far.
    pub last_grant: u64,
    /// The largest token a write was accepted under.
    pub max_accepted: u64,
}

/// A store that accepts a write under a fencing token only as its rule says, one per
/// election: grants come with ever larger tokens, and each ok write must be one the rule
/// lets in at its linearization point. A lapsed grant only makes writes refused (`fail`,
/// which did not happen), so lapses never explain an accepted write and need no state.
/// Only `ok` ops reach it: an `info` write or acquire may be left out, which no rule
/// can refute.
#[derive(Clone, Copy, Debug)]
pub struct FencedRegister(pub FenceRule);

impl Model for FencedRegister {
    type Key = String;
    type Input = FenceInput;
    type Output = ();
    type State = FenceState;

    fn name(&self) -> &'static str {
        "fenced-register"
    }
    fn key(&self, input: &FenceInput) -> String {
        match input {
            FenceInput::Grant { lock, .. }
            | FenceInput::Release { lock, .. }
            | FenceInput::Write { lock, .. } => lock.clone(),
        }
    }
    fn init(&self) -> FenceState {
        FenceState::default()
    }
    fn step(&self, s: &FenceState, input: &FenceInput, _: &()) -> Option<FenceState> {
        let s = *s;
        match input {
            FenceInput::Grant { token, .. } => (*token > s.last_grant).then_some(FenceState {
                current: Some(*token),
                last_grant: *token,
                ..s
            }),
            FenceInput::Release { token, .. } => Some(if s.current == Some(*token) {
                FenceState { current: None, ..s }
            } else {
                s
            }),
            FenceInput::Write { token, .. } => match self.0 {
                FenceRule::Grant => (s.current == Some(*token)).then_some(s),
                FenceRule::Monotonic => (*token >= s.max_accepted).then_some(FenceState {
                    max_accepted: *token,
                    ..s
                }),
            },
        }
    }
}
