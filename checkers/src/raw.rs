//! An op as the fast parser and serde read it: borrowed from the line buffer, with the
//! same fields and types as [`Op`], so that whatever `Op` rejects, this rejects too. Both
//! the parsers (`fastparse`, serde in `reader`) produce it and the facts consume it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::history::{Op, OpType, Process, Role, Value, F};

/// A string borrowed from the line buffer when it has no escapes, owned otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// One entry of a `log` read, borrowed.
#[derive(Clone, Debug, Deserialize)]
pub struct RawLogEntry<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(default)]
    pub token: Option<u64>,
}

/// The value of an op, borrowed from the line; the same fields and types as
/// [`Value`], so whatever [`Op`] rejects, this rejects too.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawValue<'a> {
    #[serde(borrow)]
    pub role: Option<Str<'a>>,
    pub term: Option<u64>,
    #[serde(borrow, deserialize_with = "explicit_null")]
    pub leader: Option<Option<Str<'a>>>,
    #[serde(borrow, deserialize_with = "explicit_null")]
    pub vote: Option<Option<Str<'a>>>,
    pub commit: Option<u64>,
    pub last_index: Option<u64>,
    pub terms: Option<Vec<[u64; 2]>>,
    #[serde(borrow)]
    pub election: Option<Str<'a>>,
    #[serde(deserialize_with = "explicit_null")]
    pub token: Option<Option<u64>>,
    pub holding: Option<bool>,
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub ids: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub log: Option<Vec<RawLogEntry<'a>>>,
    #[serde(borrow)]
    pub groups: Option<Vec<Vec<Str<'a>>>>,
    #[serde(borrow)]
    pub drops: Option<BTreeMap<Str<'a>, Vec<Str<'a>>>>,
    #[serde(borrow)]
    pub nodes: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub offsets_ms: Option<BTreeMap<Str<'a>, i64>>,
    /// A packet fault's shaping: any JSON, as [`Value`] takes it; nothing reads it.
    pub packet: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    pub links: Option<Vec<Vec<Str<'a>>>>,
    /// A register or key-value op's key: such a `read` or `write` is no election op.
    #[serde(borrow)]
    pub key: Option<Str<'a>>,
}

impl PartialOrd for Str<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl RawValue<'_> {
    pub fn token(&self) -> Option<u64> {
        self.token.flatten()
    }
    pub fn is_leader(&self) -> bool {
        self.role.as_deref() == Some("leader")
    }
}

/// One line of a history, borrowed from the line buffer.
#[derive(Clone, Debug, Deserialize)]
pub struct RawOp<'a> {
    pub index: u64,
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: F,
    #[serde(default, borrow)]
    pub node: Option<Str<'a>>,
    /// Boxed: the value is most of an op's size, and ops move several times on their
    /// way from the parser to the checkers.
    #[serde(default, borrow)]
    pub value: Option<Box<RawValue<'a>>>,
    #[serde(default, borrow)]
    pub error: Option<Str<'a>>,
}

fn borrow(s: &str) -> Str<'_> {
    Str(Cow::Borrowed(s))
}

impl<'a> RawOp<'a> {
    /// A borrowed view of an owned op (for histories built in memory).
    pub fn from_op(op: &'a Op) -> RawOp<'a> {
        RawOp {
            index: op.index,
            time: op.time,
            process: op.process,
            kind: op.kind,
            f: op.f,
            node: op.node.as_deref().map(borrow),
            value: op.value.as_ref().map(|v| Box::new(RawValue::from_value(v))),
            error: op.error.as_deref().map(borrow),
        }
    }
}

impl<'a> RawValue<'a> {
    fn from_value(v: &'a Value) -> RawValue<'a> {
        let role = v.role.as_ref().map(|r| match r {
            Role::Leader => borrow("leader"),
            Role::Follower => borrow("follower"),
            Role::Candidate => borrow("candidate"),
            Role::Other(s) => borrow(s),
        });
        let strs = |v: &'a Vec<String>| v.iter().map(|s| borrow(s)).collect::<Vec<_>>();
        RawValue {
            role,
            term: v.term,
            leader: v.leader.as_ref().map(|l| l.as_deref().map(borrow)),
            vote: v.vote.as_ref().map(|l| l.as_deref().map(borrow)),
            commit: v.commit,
            last_index: v.last_index,
            terms: v.terms.clone(),
            election: v.election.as_deref().map(borrow),
            token: v.token,
            holding: v.holding,
            id: v.id.as_deref().map(borrow),
            ids: v.ids.as_ref().map(strs),
            log: v.log.as_ref().map(|l| {
                l.iter()
                    .map(|e| RawLogEntry {
                        id: borrow(&e.id),
                        token: e.token,
                    })
                    .collect()
            }),
            // Nemesis values: what a fault hit, and what an undo undid.
            groups: v.groups.as_ref().map(|g| g.iter().map(strs).collect()),
            drops: v.drops.as_ref().map(|d| {
                d.iter()
                    .map(|(node, from)| (borrow(node), strs(from)))
                    .collect()
            }),
            nodes: v.nodes.as_ref().map(strs),
            offsets_ms: v
                .offsets_ms
                .as_ref()
                .map(|o| o.iter().map(|(n, ms)| (borrow(n), *ms)).collect()),
            packet: v.packet.as_ref().map(|_| serde::de::IgnoredAny),
            links: v.links.as_ref().map(|l| l.iter().map(strs).collect()),
            key: v.key.as_deref().map(borrow),
        }
    }
}
