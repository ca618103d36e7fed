//! A leader's clocks on the grants it knows of: it alone decides when a grant has
//! outlived its TTL. Clocks start when the leader learns of a grant, so a new leader
//! restarts them (grants live longer under leader changes, never shorter).

use std::collections::BTreeMap;

use super::message::Command;
use super::state_machine::Grant;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clock {
    token: u64,
    ttl_ticks: u64,
    age_ticks: u64,
    expire_proposed: bool,
}

/// Ages of the current grants, by election.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantClocks {
    clocks: BTreeMap<String, Clock>,
}

impl GrantClocks {
    /// Follows the state machine's current grants: new ones start at age 0, gone ones
    /// are forgotten.
    pub fn sync(&mut self, current: &BTreeMap<String, Grant>) {
        self.clocks
            .retain(|e, c| current.get(e).is_some_and(|g| g.token == c.token));
        for (election, grant) in current {
            self.clocks.entry(election.clone()).or_insert(Clock {
                token: grant.token,
                ttl_ticks: grant.ttl_ticks,
                age_ticks: 0,
                expire_proposed: false,
            });
        }
    }

    /// One tick passes; returns the expiries to propose (each grant's once).
    pub fn tick(&mut self) -> Vec<Command> {
        let mut expired = Vec::new();
        for (election, c) in self.clocks.iter_mut() {
            c.age_ticks += 1;
            if c.age_ticks >= c.ttl_ticks && !c.expire_proposed {
                c.expire_proposed = true;
                expired.push(Command::Expire {
                    election: election.clone(),
                    token: c.token,
                });
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(list: &[(&str, u64, u64)]) -> BTreeMap<String, Grant> {
        list.iter()
            .map(|(e, token, ttl)| {
                let g = Grant {
                    client: "p".into(),
                    token: *token,
                    ttl_ticks: *ttl,
                };
                (e.to_string(), g)
            })
            .collect()
    }

    #[test]
    fn expires_each_grant_once_after_its_ttl() {
        let mut clocks = GrantClocks::default();
        clocks.sync(&grants(&[("a", 3, 2), ("b", 4, 3)]));
        assert!(clocks.tick().is_empty());
        assert_eq!(
            clocks.tick(),
            vec![Command::Expire {
                election: "a".into(),
                token: 3
            }]
        );
        assert_eq!(
            clocks.tick(),
            vec![Command::Expire {
                election: "b".into(),
                token: 4
            }]
        );
        assert!(clocks.tick().is_empty(), "proposed once only");
    }

    #[test]
    fn a_new_grant_of_an_election_starts_a_new_clock() {
        let mut clocks = GrantClocks::default();
        clocks.sync(&grants(&[("a", 3, 2)]));
        clocks.tick();
        clocks.sync(&grants(&[("a", 9, 2)]));
        assert!(clocks.tick().is_empty());
        assert_eq!(
            clocks.tick(),
            vec![Command::Expire {
                election: "a".into(),
                token: 9
            }]
        );
    }
}
