//! The `register` workload's decisions as pure functions: which key an op touches and
//! whether it reads, writes or compares-and-sets, from a client process's own seeded
//! stream. The tokio workload (`election`, run as `--workload register`) and the
//! simulator draw the very same ops.
//!
//! Keys are used a few at a time and then retired, as Jepsen's independent keys are: the
//! `n`th register op of a run goes to one of the [`KEYS_AT_ONCE`] keys of group
//! `n / (KEYS_AT_ONCE * OPS_PER_KEY)`, so each key sees about [`OPS_PER_KEY`] ops and the
//! search per key stays small however long the run, while several processes still
//! contend on every key.

use checkers::{Value, F};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Keys in use at any time.
pub const KEYS_AT_ONCE: u64 = 3;
/// About how many ops each key sees before its group is retired.
pub const OPS_PER_KEY: u64 = 100;
/// Values written and swapped are drawn from `0..VALUES`, so that compare-and-sets often
/// find what they expect.
pub const VALUES: i64 = 5;

/// One register op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOp {
    Read { key: String },
    Write { key: String, value: i64 },
    Cas { key: String, from: i64, to: i64 },
}

impl RegOp {
    /// The `n`th register op of a run, drawn from the issuing process's stream: 40%
    /// reads, 30% writes, 30% compare-and-sets.
    pub fn draw(rng: &mut ChaCha8Rng, n: u64) -> RegOp {
        let group = n / (KEYS_AT_ONCE * OPS_PER_KEY);
        let key = key_name(group * KEYS_AT_ONCE + rng.random_range(0..KEYS_AT_ONCE));
        match rng.random_range(0..10) {
            0..=3 => RegOp::Read { key },
            4..=6 => RegOp::Write {
                key,
                value: rng.random_range(0..VALUES),
            },
            _ => RegOp::Cas {
                key,
                from: rng.random_range(0..VALUES),
                to: rng.random_range(0..VALUES),
            },
        }
    }

    pub fn f(&self) -> F {
        match self {
            RegOp::Read { .. } => F::Read,
            RegOp::Write { .. } => F::Write,
            RegOp::Cas { .. } => F::Cas,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            RegOp::Read { key } | RegOp::Write { key, .. } | RegOp::Cas { key, .. } => key,
        }
    }

    /// The invocation's value (kept by a `fail` or `info` completion):
    /// `{"key": K}`, `{"key": K, "value": V}`, `{"key": K, "from": V, "to": V}`.
    pub fn invoke_value(&self) -> Value {
        let int = |v: i64| Some(Some(serde_json::Value::from(v)));
        let mut value = Value {
            key: Some(self.key().to_string()),
            ..Value::default()
        };
        match self {
            RegOp::Read { .. } => {}
            RegOp::Write { value: v, .. } => value.value = int(*v),
            RegOp::Cas { from, to, .. } => {
                value.from = int(*from);
                value.to = int(*to);
            }
        }
        value
    }

    /// The `ok` completion's value: a read's gives what it read (`null` for a key never
    /// written).
    pub fn ok_value(&self, read: Option<i64>) -> Value {
        let mut value = self.invoke_value();
        if let RegOp::Read { .. } = self {
            value.value = Some(read.map(serde_json::Value::from));
        }
        value
    }
}

/// The name of key number `k`: `r0`, `r1`, …
pub fn key_name(k: u64) -> String {
    format!("r{k}")
}

/// The keys the first `ops` register ops of a run may have touched, newest group last,
/// at most `max` of them (the newest): what the final reads read.
pub fn keys_touched(ops: u64, max: u64) -> Vec<String> {
    if ops == 0 {
        return Vec::new();
    }
    let groups = (ops - 1) / (KEYS_AT_ONCE * OPS_PER_KEY) + 1;
    let all = groups * KEYS_AT_ONCE;
    (all.saturating_sub(max)..all).map(key_name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn ops_move_to_a_new_group_of_keys_and_mix_every_kind() {
        let mut rng = rng_for(7, 0);
        let first: Vec<RegOp> = (0..300).map(|n| RegOp::draw(&mut rng, n)).collect();
        assert!(first
            .iter()
            .all(|op| ["r0", "r1", "r2"].contains(&op.key())));
        for f in [F::Read, F::Write, F::Cas] {
            let n = first.iter().filter(|op| op.f() == f).count();
            assert!(n > 50, "{f:?}: {n} of 300");
        }
        let later = RegOp::draw(&mut rng, 300);
        assert!(["r3", "r4", "r5"].contains(&later.key()), "{later:?}");
        assert_eq!(keys_touched(0, 10), Vec::<String>::new());
        assert_eq!(keys_touched(300, 10), ["r0", "r1", "r2"]);
        assert_eq!(keys_touched(301, 4), ["r2", "r3", "r4", "r5"]);
    }

    #[test]
    fn values_have_the_shapes_the_register_model_reads() {
        let cas = RegOp::Cas {
            key: "r1".into(),
            from: 2,
            to: 3,
        };
        assert_eq!(
            serde_json::to_string(&cas.invoke_value()).unwrap(),
            r#"{"key":"r1","from":2,"to":3}"#
        );
        let read = RegOp::Read { key: "r1".into() };
        assert_eq!(
            serde_json::to_string(&read.ok_value(None)).unwrap(),
            r#"{"key":"r1","value":null}"#
        );
        assert_eq!(
            serde_json::to_string(&read.ok_value(Some(4))).unwrap(),
            r#"{"key":"r1","value":4}"#
        );
    }
}
