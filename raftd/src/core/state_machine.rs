//! The replicated leadership state machine: grants per named election, fenced writes and
//! the write log. Deterministic: the same entries give the same state on every node.

use std::collections::BTreeMap;

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

/// The leadership state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachine {
    grants: BTreeMap<String, Grant>,
    /// The highest token any accepted write carried.
    max_write_token: u64,
    writes: Vec<WriteRecord>,
    applied: Index,
}

impl StateMachine {
    /// Applies the command of entry `index`. Indexes must come in increasing order.
    pub fn apply(&mut self, index: Index, command: &Command, fencing: Fencing) -> Response {
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
            } => self.acquire(index, election, client, *ttl_ticks),
            Command::Release { election, token } => self.release(election, *token),
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
                Response::Released
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
    ) -> Response {
        if let Some(t) = token {
            // BUG(no-fencing): with fencing disabled, any token gets through.
            if !fencing.disabled && !self.token_acceptable(t, election, fencing.on_grant) {
                return Response::StaleToken;
            }
            self.max_write_token = self.max_write_token.max(t);
        }
        self.writes.push(WriteRecord {
            id: id.to_string(),
            token,
        });
        Response::Written {
            id: id.to_string(),
            token,
        }
    }

    fn token_acceptable(&self, token: u64, election: Option<&str>, on_grant: bool) -> bool {
        if token < self.max_write_token {
            return false;
        }
        if !on_grant {
            return true;
        }
        match election {
            Some(e) => self.holding(e, token),
            // No election named: the token must be some election's current grant.
            None => self.grants.values().any(|g| g.token == token),
        }
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

    /// The last applied index.
    pub fn applied(&self) -> Index {
        self.applied
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
            sm.apply(3, &acquire("e", "p1"), FENCED),
            Response::Acquired { token: 3 }
        );
        assert_eq!(
            sm.apply(4, &acquire("e", "p2"), FENCED),
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
        assert_eq!(sm.apply(5, &release, FENCED), Response::NotHolder);
        let release = Command::Release {
            election: "e".into(),
            token: 3,
        };
        assert_eq!(sm.apply(6, &release, FENCED), Response::Released);
        assert_eq!(
            sm.apply(7, &acquire("e", "p2"), FENCED),
            Response::Acquired { token: 7 }
        );
    }

    #[test]
    fn expire_removes_only_the_named_grant() {
        let mut sm = StateMachine::default();
        sm.apply(1, &acquire("e", "p1"), FENCED);
        sm.apply(
            2,
            &Command::Expire {
                election: "e".into(),
                token: 1,
            },
            FENCED,
        );
        assert!(sm.grant("e").is_none());
        sm.apply(3, &acquire("e", "p2"), FENCED);
        sm.apply(
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
        assert!(sm.apply(1, &write("a", Some(5), None), FENCED).is_ok());
        assert_eq!(
            sm.apply(2, &write("b", Some(4), None), FENCED),
            Response::StaleToken
        );
        assert!(sm.apply(3, &write("c", None, None), FENCED).is_ok());
        let off = Fencing {
            on_grant: true,
            disabled: true,
        };
        assert!(sm.apply(4, &write("d", Some(1), Some("e")), off).is_ok());
        let ids: Vec<_> = sm.write_log().iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"]);
    }

    #[test]
    fn fence_on_grant_needs_the_current_grant() {
        let mut sm = StateMachine::default();
        sm.apply(1, &acquire("e", "p1"), ON_GRANT);
        assert!(sm
            .apply(2, &write("a", Some(1), Some("e")), ON_GRANT)
            .is_ok());
        sm.apply(
            3,
            &Command::Expire {
                election: "e".into(),
                token: 1,
            },
            ON_GRANT,
        );
        sm.apply(4, &acquire("e", "p2"), ON_GRANT);
        assert_eq!(
            sm.apply(5, &write("b", Some(1), Some("e")), ON_GRANT),
            Response::StaleToken
        );
        assert!(sm
            .apply(6, &write("c", Some(4), Some("e")), ON_GRANT)
            .is_ok());
        assert!(sm.apply(7, &write("d", Some(4), None), ON_GRANT).is_ok());
    }
}
