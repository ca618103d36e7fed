//! The replicated leadership state machine: grants per named election, fenced writes, the
//! write log, and a map of integer registers (written and compared-and-set through the
//! log, read linearizably). Deterministic: the same entries give the same state on every
//! node.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::message::Command;
use super::request::{Response, WriteRecord};
use super::Index;

/// The current grant of one election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub client: String,
    /// The log index of the grant entry.
    pub token: u64,
    pub ttl_ticks: u64,
}

/// How writes are fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fencing {
    /// A token must be the current grant of the write's election.
    pub on_grant: bool,
    /// Set by the `no-fencing` bug: every token is accepted.
    pub disabled: bool,
}

/// Why fencing refused a write. The core answers every refusal `Response::StaleToken` (the
/// write certainly did not happen); this says which rule refused it, so that a server can
/// give the client the right error and a true reason (see `Ready::fence_refusals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum FenceRefusal {
    /// No grant ever had this token (of the named election, when one is named). It is no
    /// token at all: accepted, it would become the highest token seen and every real
    /// token after it would be refused as stale, for good.
    NeverGranted,
    /// A write with the larger token `newest` was accepted before.
    Superseded { newest: u64 },
    /// Under fence-on-grant: the token is not the current grant of the election (of any
    /// election, when none is named); `current` is the election's current grant, if any.
    NotCurrentGrant { current: Option<u64> },
}

/// What applying one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub response: Response,
    /// Why fencing refused the write, when `response` is `StaleToken`.
    pub refusal: Option<FenceRefusal>,
}

impl From<Response> for Applied {
    fn from(response: Response) -> Self {
        Applied {
            response,
            refusal: None,
        }
    }
}

/// The leadership state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachine {
    grants: BTreeMap<String, Grant>,
    /// Every token ever granted, with its election: what makes a number a token. One
    /// entry per grant, so it grows with the grants as the write log grows with writes.
    granted: BTreeMap<u64, String>,
    /// The highest token any accepted write carried.
    max_write_token: u64,
    /// Shared with the reads being answered ([`StateMachine::write_log_shared`]) instead
    /// of copied for each: a read of a large log costs a reference, not the log. A write
    /// applied while a read still holds the old log copies it (copy on write); the server
    /// lets go of its reads before it applies more.
    writes: Arc<Vec<WriteRecord>>,
    /// The registers, by key; a key never written is absent.
    #[serde(default)]
    registers: BTreeMap<String, i64>,
    applied: Index,
}

impl StateMachine {
    /// Applies the command of entry `index`. Indexes must come in increasing order.
    pub fn apply(&mut self, index: Index, command: &Command, fencing: Fencing) -> Applied {
        assert!(
            index > self.applied,
            "apply out of order: {index} after {}",
            self.applied
        );
        self.applied = index;
        match command {
            Command::Acquire {
                election,
                client,
                ttl_ticks,
            } => self.acquire(index, election, client, *ttl_ticks).into(),
            Command::Release { election, token } => self.release(election, *token).into(),
            Command::Write {
                id,
                token,
                election,
            } => self.write(id, *token, election.as_deref(), fencing),
            Command::Expire { election, token } => {
                // Only the grant the leader timed out goes; a newer one stays.
                if self.grants.get(election).is_some_and(|g| g.token == *token) {
                    self.grants.remove(election);
                }
                Response::Released.into()
            }
            Command::RegisterWrite { key, value } => {
                self.registers.insert(key.clone(), *value);
                Response::RegisterSet.into()
            }
            Command::RegisterCas { key, from, to } => {
                cas(&mut self.registers, key, *from, *to).into()
            }
        }
    }

    /// Records that entry `index` (a no-op) was applied.
    pub fn skip(&mut self, index: Index) {
        assert!(
            index > self.applied,
            "apply out of order: {index} after {}",
            self.applied
        );
        self.applied = index;
    }

    fn acquire(&mut self, index: Index, election: &str, client: &str, ttl_ticks: u64) -> Response {
        if let Some(g) = self.grants.get(election) {
            return Response::Held {
                holder: g.client.clone(),
                token: g.token,
            };
        }
        let grant = Grant {
            client: client.to_string(),
            token: index,
            ttl_ticks,
        };
        self.grants.insert(election.to_string(), grant);
        self.granted.insert(index, election.to_string());
        Response::Acquired { token: index }
    }

    fn release(&mut self, election: &str, token: u64) -> Response {
        if self.holding(election, token) {
            self.grants.remove(election);
            Response::Released
        } else {
            Response::NotHolder
        }
    }

    fn write(
        &mut self,
        id: &str,
        token: Option<u64>,
        election: Option<&str>,
        fencing: Fencing,
    ) -> Applied {
        if let Some(t) = token {
            // BUG(no-fencing): with fencing disabled, any token gets through.
            let refusal = if fencing.disabled {
                None
            } else {
                self.fence(t, election, fencing.on_grant)
            };
            if let Some(refusal) = refusal {
                return Applied {
                    response: Response::StaleToken,
                    refusal: Some(refusal),
                };
            }
            self.max_write_token = self.max_write_token.max(t);
        }
        Arc::make_mut(&mut self.writes).push(WriteRecord {
            id: id.to_string(),
            token,
        });
        Response::Written {
            id: id.to_string(),
            token,
        }
        .into()
    }

    /// Which rule, if any, refuses a write under `token`. Under fence-on-grant the grant
    /// rule is asked first: it is the one that mode promises, so it is the reason given.
    fn fence(&self, token: u64, election: Option<&str>, on_grant: bool) -> Option<FenceRefusal> {
        let granted_for = self.granted.get(&token).map(String::as_str);
        let ever_granted = match election {
            Some(e) => granted_for == Some(e),
            None => granted_for.is_some(),
        };
        if !ever_granted {
            return Some(FenceRefusal::NeverGranted);
        }
        // A token never granted returned above, so it names its election.
        let election = election
            .or(granted_for)
            .expect("a granted token's election");
        if on_grant && !self.holding(election, token) {
            return Some(FenceRefusal::NotCurrentGrant {
                current: self.grant(election).map(|g| g.token),
            });
        }
        if token < self.max_write_token {
            return Some(FenceRefusal::Superseded {
                newest: self.max_write_token,
            });
        }
        None
    }

    /// Whether `token` is the current grant of `election`.
    pub fn holding(&self, election: &str, token: u64) -> bool {
        self.grants.get(election).is_some_and(|g| g.token == token)
    }

    /// The current grant of `election`.
    pub fn grant(&self, election: &str) -> Option<&Grant> {
        self.grants.get(election)
    }

    /// Every current grant by election.
    pub fn grants(&self) -> &BTreeMap<String, Grant> {
        &self.grants
    }

    /// The applied writes in log order.
    pub fn write_log(&self) -> &[WriteRecord] {
        &self.writes
    }

    /// The applied writes in log order, shared: a read's answer. The write log only grows,
    /// so every answer is a prefix of every later one.
    pub fn write_log_shared(&self) -> Arc<Vec<WriteRecord>> {
        Arc::clone(&self.writes)
    }

    /// The last applied index.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The value of register `key`; `None` if it was never written.
    pub fn register(&self, key: &str) -> Option<i64> {
        self.registers.get(key).copied()
    }

    /// Every register written, by key.
    pub fn registers(&self) -> &BTreeMap<String, i64> {
        &self.registers
    }
}

/// Sets `key` to `to` if it holds `from`; a key never written matches nothing. The rule
/// the state machine applies, and the one the leader's `early-ack` guesses with.
pub(crate) fn cas(
    registers: &mut BTreeMap<String, i64>,
    key: &str,
    from: i64,
    to: i64,
) -> Response {
    match registers.get_mut(key) {
        Some(v) if *v == from => {
            *v = to;
            Response::RegisterSet
        }
        current => Response::CasMismatch {
            current: current.map(|v| *v),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FENCED: Fencing = Fencing {
        on_grant: false,
        disabled: false,
    };
    const ON_GRANT: Fencing = Fencing {
        on_grant: true,
        disabled: false,
    };

    /// Applies and keeps only the response.
    fn apply(sm: &mut StateMachine, index: Index, command: &Command, fencing: Fencing) -> Response {
        sm.apply(index, command, fencing).response
    }

    fn acquire(e: &str, c: &str) -> Command {
        Command::Acquire {
            election: e.into(),
            client: c.into(),
            ttl_ticks: 10,
        }
    }
    fn write(id: &str, token: Option<u64>, e: Option<&str>) -> Command {
        Command::Write {
            id: id.into(),
            token,
            election: e.map(str::to_string),
        }
    }

    #[test]
    fn grant_token_is_the_entry_index_and_held_until_released() {
        let mut sm = StateMachine::default();
        assert_eq!(
            apply(&mut sm, 3, &acquire("e", "p1"), FENCED),
            Response::Acquired { token: 3 }
        );
        assert_eq!(
            apply(&mut sm, 4, &acquire("e", "p2"), FENCED),
            Response::Held {
                holder: "p1".into(),
                token: 3
            }
        );
        assert!(sm.holding("e", 3));
        let release = Command::Release {
            election: "e".into(),
            token: 4,
        };
        assert_eq!(apply(&mut sm, 5, &release, FENCED), Response::NotHolder);
        let release = Command::Release {
            election: "e".into(),
            token: 3,
        };
        assert_eq!(apply(&mut sm, 6, &release, FENCED), Response::Released);
        assert_eq!(
            apply(&mut sm, 7, &acquire("e", "p2"), FENCED),
            Response::Acquired { token: 7 }
        );
    }

    #[test]
    fn expire_removes_only_the_named_grant() {
        let mut sm = StateMachine::default();
        apply(&mut sm, 1, &acquire("e", "p1"), FENCED);
        apply(
            &mut sm,
            2,
            &Command::Expire {
                election: "e".into(),
                token: 1,
            },
            FENCED,
        );
        assert!(sm.grant("e").is_none());
        apply(&mut sm, 3, &acquire("e", "p2"), FENCED);
        apply(
            &mut sm,
            4,
            &Command::Expire {
                election: "e".into(),
                token: 1,
            },
            FENCED,
        );
        assert!(sm.holding("e", 3));
    }

    #[test]
    fn stale_tokens_are_rejected_unless_fencing_is_off() {
        let mut sm = StateMachine::default();
        apply(&mut sm, 1, &acquire("e", "p1"), FENCED);
        apply(&mut sm, 2, &acquire("f", "p2"), FENCED);
        assert!(apply(&mut sm, 3, &write("a", Some(2), None), FENCED).is_ok());
        let stale = sm.apply(4, &write("b", Some(1), None), FENCED);
        assert_eq!(stale.response, Response::StaleToken);
        assert_eq!(stale.refusal, Some(FenceRefusal::Superseded { newest: 2 }));
        assert!(apply(&mut sm, 5, &write("c", None, None), FENCED).is_ok());
        let off = Fencing {
            on_grant: true,
            disabled: true,
        };
        assert!(apply(&mut sm, 6, &write("d", Some(1), Some("e")), off).is_ok());
        // The bug lets even a number that was never granted through.
        assert!(apply(&mut sm, 7, &write("x", Some(99), Some("e")), off).is_ok());
        let ids: Vec<_> = sm.write_log().iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d", "x"]);
    }

    #[test]
    fn a_token_never_granted_is_refused_and_poisons_nothing() {
        for fencing in [FENCED, ON_GRANT] {
            let mut sm = StateMachine::default();
            for (index, election) in [(1, None), (2, Some("e"))] {
                let forged = sm.apply(index, &write("forged", Some(u64::MAX), election), fencing);
                assert_eq!(forged.response, Response::StaleToken);
                assert_eq!(forged.refusal, Some(FenceRefusal::NeverGranted));
            }
            apply(&mut sm, 3, &acquire("e", "p1"), fencing);
            apply(&mut sm, 4, &acquire("f", "p2"), fencing);
            assert!(apply(&mut sm, 5, &write("a", Some(3), Some("e")), fencing).is_ok());
            // A write's index is no grant, nor is another election's grant for this one.
            for (index, token, election) in [(6, 5, None), (7, 4, Some("e"))] {
                let not_granted = sm.apply(index, &write("b", Some(token), election), fencing);
                assert_eq!(not_granted.refusal, Some(FenceRefusal::NeverGranted));
            }
            assert!(apply(&mut sm, 8, &write("c", Some(3), Some("e")), fencing).is_ok());
            let ids: Vec<_> = sm.write_log().iter().map(|w| w.id.as_str()).collect();
            assert_eq!(ids, ["a", "c"], "fence-on-grant {}", fencing.on_grant);
        }
    }

    fn reg_write(key: &str, value: i64) -> Command {
        Command::RegisterWrite {
            key: key.into(),
            value,
        }
    }
    fn reg_cas(key: &str, from: i64, to: i64) -> Command {
        Command::RegisterCas {
            key: key.into(),
            from,
            to,
        }
    }

    #[test]
    fn registers_are_written_and_compared_and_set_key_by_key() {
        let mut sm = StateMachine::default();
        assert_eq!(sm.register("r0"), None, "a key never written holds nothing");
        // An absent key matches no expected value, not even 0.
        assert_eq!(
            apply(&mut sm, 1, &reg_cas("r0", 0, 1), FENCED),
            Response::CasMismatch { current: None }
        );
        assert_eq!(sm.register("r0"), None, "a mismatch writes nothing");
        assert_eq!(
            apply(&mut sm, 2, &reg_write("r0", 3), FENCED),
            Response::RegisterSet
        );
        assert_eq!(sm.register("r0"), Some(3));
        assert_eq!(
            apply(&mut sm, 3, &reg_cas("r0", 2, 4), FENCED),
            Response::CasMismatch { current: Some(3) }
        );
        assert_eq!(sm.register("r0"), Some(3));
        assert_eq!(
            apply(&mut sm, 4, &reg_cas("r0", 3, -7), FENCED),
            Response::RegisterSet
        );
        assert_eq!(sm.register("r0"), Some(-7));
        assert_eq!(sm.register("r1"), None, "keys are apart");
        apply(&mut sm, 5, &reg_write("r1", i64::MAX), FENCED);
        assert_eq!(sm.register("r1"), Some(i64::MAX));
        assert_eq!(sm.register("r0"), Some(-7));
        // Registers are no writes of the write log, and the same commands give the same
        // state on every node.
        assert!(sm.write_log().is_empty());
        assert_eq!(sm.applied(), 5);
        let mut again = StateMachine::default();
        for (i, c) in [
            reg_cas("r0", 0, 1),
            reg_write("r0", 3),
            reg_cas("r0", 2, 4),
            reg_cas("r0", 3, -7),
            reg_write("r1", i64::MAX),
        ]
        .iter()
        .enumerate()
        {
            again.apply(i as u64 + 1, c, FENCED);
        }
        assert_eq!(again, sm);
        let json = serde_json::to_string(&sm).unwrap();
        assert_eq!(serde_json::from_str::<StateMachine>(&json).unwrap(), sm);
    }

    #[test]
    fn fence_on_grant_needs_the_current_grant() {
        let mut sm = StateMachine::default();
        apply(&mut sm, 1, &acquire("e", "p1"), ON_GRANT);
        assert!(apply(&mut sm, 2, &write("a", Some(1), Some("e")), ON_GRANT).is_ok());
        apply(
            &mut sm,
            3,
            &Command::Expire {
                election: "e".into(),
                token: 1,
            },
            ON_GRANT,
        );
        apply(&mut sm, 4, &acquire("e", "p2"), ON_GRANT);
        let old = sm.apply(5, &write("b", Some(1), Some("e")), ON_GRANT);
        assert_eq!(old.response, Response::StaleToken);
        let not_current = FenceRefusal::NotCurrentGrant { current: Some(4) };
        assert_eq!(old.refusal, Some(not_current));
        assert!(apply(&mut sm, 6, &write("c", Some(4), Some("e")), ON_GRANT).is_ok());
        assert!(apply(&mut sm, 7, &write("d", Some(4), None), ON_GRANT).is_ok());
    }
}
