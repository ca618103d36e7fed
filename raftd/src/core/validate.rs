//! Checks of what comes from outside the core: messages, client requests, stored state.

use super::message::{Entry, Message, MessageBody};
use super::node::{RawNode, RestoreError, StepError};
use super::ready::Persisted;
use super::request::{ProposeError, Request};
use super::{Index, Term};

impl RawNode {
    pub(crate) fn check_message(&self, m: &Message) -> Result<(), StepError> {
        if m.to != self.cfg.id {
            return Err(StepError::WrongRecipient {
                to: m.to.clone(),
                id: self.cfg.id.clone(),
            });
        }
        if m.from == self.cfg.id {
            return Err(StepError::FromSelf);
        }
        if !self.cfg.peers.contains(&m.from) {
            return Err(StepError::UnknownSender(m.from.clone()));
        }
        if let MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            ..
        } = &m.body
        {
            check_append(m.term, *prev_index, *prev_term, entries)?;
        }
        Ok(())
    }
}

pub(crate) fn check_stored_log(p: &Persisted) -> Result<(), RestoreError> {
    let mut previous = 0;
    for (position, e) in p.entries.iter().enumerate() {
        let expected = position as u64 + 1;
        if e.index != expected {
            return Err(RestoreError::Gap {
                position,
                index: e.index,
                expected,
            });
        }
        if e.term < previous {
            return Err(RestoreError::TermDecreases {
                index: e.index,
                term: e.term,
                previous,
            });
        }
        previous = e.term;
    }
    Ok(())
}

fn check_append(
    term: Term,
    prev_index: Index,
    prev_term: Term,
    entries: &[Entry],
) -> Result<(), StepError> {
    if prev_term > term {
        return Err(StepError::Malformed(
            "append: prev_term above the message term",
        ));
    }
    let mut last_term = prev_term;
    for (i, e) in entries.iter().enumerate() {
        if e.index != prev_index + 1 + i as u64 {
            return Err(StepError::Malformed(
                "append: entries not contiguous after prev_index",
            ));
        }
        if e.term < last_term || e.term > term {
            return Err(StepError::Malformed("append: entry terms out of order"));
        }
        last_term = e.term;
    }
    Ok(())
}

pub(crate) fn check_request(r: &Request) -> Result<(), ProposeError> {
    let bad = match r {
        Request::Acquire {
            election, client, ..
        } => election.is_empty() || client.is_empty(),
        Request::Release { election, .. } | Request::Holding { election, .. } => {
            election.is_empty()
        }
        Request::Write { id, election, .. } => {
            id.is_empty() || election.as_ref().is_some_and(String::is_empty)
        }
        Request::Read => false,
        Request::RegisterRead { key }
        | Request::RegisterWrite { key, .. }
        | Request::RegisterCas { key, .. } => key.is_empty(),
    };
    if bad {
        return Err(ProposeError::Invalid(
            "empty election, client, write id or register key",
        ));
    }
    Ok(())
}
