//! What a history exercised: the counts that say whether a valid verdict means anything
//! (`exercised` in the results document).

use crate::facts::History;
use crate::history::F;
use crate::result::{Exercised, StaleHolders};

use super::{availability, fencing};

/// The reason a history in which no client op completed ok has no verdict.
pub const NOTHING_EXERCISED: &str = "no client op completed ok: nothing was exercised";

pub fn exercised(h: &History) -> Exercised {
    let client_ops_ok = h.calls_ok() + h.outcomes(F::Status).ok;
    let (terms, elections, leader_changes) = availability::leadership_counts(h);
    let superseded_writes = fencing::superseded_writes(h);
    let stale_holders = StaleHolders {
        holding_false: h.holding_false,
        stale_token_refused: h.stale_token_refused,
        superseded_writes,
    };
    let faults_ended = h.faults.ended();
    Exercised {
        client_ops_ok,
        terms,
        elections,
        leader_changes,
        faults_injected: h.faults_injected,
        leader_faults: h.leader_faults,
        faults_ended,
        stale_holders,
        writes_acknowledged: h.outcomes(F::Write).ok,
        final_reads: if faults_ended {
            h.final_reads.len() as u64
        } else {
            0
        },
        register_ops_ok: h.register().ok,
    }
}
