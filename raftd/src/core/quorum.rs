//! Majority arithmetic: vote tallies and the highest value a quorum has reached.

/// The outcome of an election so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoteResult {
    Won,
    Lost,
    Pending,
}

pub(crate) fn majority(voters: usize) -> usize {
    assert!(voters > 0, "a cluster has at least one voter");
    voters / 2 + 1
}

/// Tallies `granted` and `rejected` votes out of `voters`.
pub(crate) fn tally(voters: usize, granted: usize, rejected: usize) -> VoteResult {
    assert!(granted + rejected <= voters, "more votes than voters");
    let need = majority(voters);
    if granted >= need {
        VoteResult::Won
    } else if voters - rejected < need {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

/// The largest value that at least a majority of `values` (one per voter) reached: the
/// commit index from match indexes, or the oldest heartbeat a quorum acknowledged.
pub(crate) fn quorum_value(mut values: Vec<u64>) -> u64 {
    let need = majority(values.len());
    values.sort_unstable_by(|a, b| b.cmp(a));
    values[need - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies() {
        assert_eq!(tally(1, 1, 0), VoteResult::Won);
        assert_eq!(tally(3, 1, 0), VoteResult::Pending);
        assert_eq!(tally(3, 2, 1), VoteResult::Won);
        assert_eq!(tally(3, 1, 2), VoteResult::Lost);
        assert_eq!(tally(4, 2, 2), VoteResult::Lost);
        assert_eq!(tally(4, 2, 1), VoteResult::Pending);
    }

    #[test]
    fn quorum_values() {
        assert_eq!(quorum_value(vec![5]), 5);
        assert_eq!(quorum_value(vec![5, 1, 3]), 3);
        assert_eq!(quorum_value(vec![5, 1, 3, 4]), 3);
        assert_eq!(quorum_value(vec![9, 9, 1, 1, 2]), 2);
    }
}
