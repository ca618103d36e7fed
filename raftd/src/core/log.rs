//! The in-memory Raft log: entries, commit and apply points, and what is on disk.

use super::message::{Entry, EntryData};
use super::{Index, Term};

/// The log from index 1. Tracks three watermarks besides the entries: `committed`,
/// `applied`, and the split between entries handed to the driver for persistence
/// (`stable_end`) and those confirmed durable (`persisted`).
#[derive(Debug, Clone, Default)]
pub(crate) struct RaftLog {
    entries: Vec<Entry>,
    committed: Index,
    applied: Index,
    /// Entries up to here were handed out in a `PersistBatch`.
    stable_end: Index,
    /// Entries up to here are durable and still in the log.
    persisted: Index,
    /// The disk log must be cut here before the next entries are appended.
    pending_truncate: Option<Index>,
}

impl RaftLog {
    /// A log read back from disk: everything in it is durable.
    pub fn restored(entries: Vec<Entry>, committed: Index) -> Self {
        let last = entries.len() as Index;
        let log = RaftLog {
            entries,
            committed: committed.min(last),
            applied: 0,
            stable_end: last,
            persisted: last,
            pending_truncate: None,
        };
        log.assert_invariants();
        log
    }

    fn assert_invariants(&self) {
        assert!(self.applied <= self.committed && self.committed <= self.last_index());
        assert!(self.persisted <= self.stable_end && self.stable_end <= self.last_index());
    }

    pub fn last_index(&self) -> Index {
        self.entries.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// The term of entry `index`; 0 for index 0, `None` beyond the log.
    pub fn term(&self, index: Index) -> Option<Term> {
        match index {
            0 => Some(0),
            i if i <= self.last_index() => Some(self.entries[(i - 1) as usize].term),
            _ => None,
        }
    }

    pub fn matches(&self, index: Index, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    pub fn entry(&self, index: Index) -> Option<&Entry> {
        index
            .checked_sub(1)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// The last `max` runs of the log, oldest first: each run's term and the index of
    /// its first entry (terms never fall along a log, so each run is found by a binary
    /// search).
    pub fn term_runs(&self, max: usize) -> Vec<(Term, Index)> {
        let mut runs = Vec::new();
        let mut end = self.entries.len();
        while end > 0 && runs.len() < max {
            let term = self.entries[end - 1].term;
            let start = self.entries[..end].partition_point(|e| e.term < term);
            runs.push((term, start as Index + 1));
            end = start;
        }
        runs.reverse();
        runs
    }

    pub fn all(&self) -> &[Entry] {
        &self.entries
    }

    /// Up to `max` entries from `from` on.
    pub fn slice(&self, from: Index, max: u64) -> Vec<Entry> {
        assert!(from >= 1, "slice from index 0");
        let start = (from - 1) as usize;
        let end = (start as u64 + max).min(self.last_index()) as usize;
        self.entries
            .get(start..end)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }

    /// Whether a log ending at (`last_index`, `last_term`) is at least as up to date as this one.
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The leader appends a new entry of its term; returns its index.
    pub fn append_new(&mut self, term: Term, data: EntryData) -> Index {
        assert!(
            term >= self.last_term(),
            "leader term {term} below last term {}",
            self.last_term()
        );
        let index = self.last_index() + 1;
        self.entries.push(Entry { term, index, data });
        index
    }

    /// A follower takes entries that follow (`prev_index`, `prev_term`). Returns the
    /// index of the last entry now known to match the leader, or `None` when the
    /// consistency check fails.
    pub fn maybe_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        entries: &[Entry],
    ) -> Option<Index> {
        if !self.matches(prev_index, prev_term) {
            return None;
        }
        let last_new = prev_index + entries.len() as Index;
        let conflict = entries.iter().find(|e| !self.matches(e.index, e.term));
        if let Some(first) = conflict {
            if first.index <= self.last_index() {
                self.truncate_from(first.index);
            }
            let skip = (first.index - prev_index - 1) as usize;
            self.entries.extend_from_slice(&entries[skip..]);
        }
        self.assert_invariants();
        Some(last_new)
    }

    fn truncate_from(&mut self, index: Index) {
        // Raft's safety rests on this: a committed entry is never replaced.
        assert!(
            index > self.committed,
            "truncating committed entry {index} (commit {})",
            self.committed
        );
        self.entries.truncate((index - 1) as usize);
        if index <= self.stable_end {
            self.pending_truncate = Some(self.pending_truncate.map_or(index, |t| t.min(index)));
            self.stable_end = index - 1;
        }
        self.persisted = self.persisted.min(index - 1);
    }

    /// The follower's hint for a rejected (`index`, `term`): its last entry at or below
    /// `index` whose term is at most `term`.
    pub fn conflict_hint(&self, index: Index, term: Term) -> (Index, Term) {
        let mut i = index.min(self.last_index());
        while i > 0 && self.term(i).is_some_and(|t| t > term) {
            i -= 1;
        }
        (i, self.term(i).unwrap_or(0))
    }

    pub fn committed(&self) -> Index {
        self.committed
    }

    /// Raises the commit point (never lowers it).
    pub fn commit_to(&mut self, index: Index) -> bool {
        if index <= self.committed {
            return false;
        }
        assert!(
            index <= self.last_index(),
            "commit {index} beyond last index {}",
            self.last_index()
        );
        self.committed = index;
        true
    }

    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The next committed entry to apply, marking it applied.
    pub fn next_to_apply(&mut self) -> Option<Entry> {
        if self.applied >= self.committed {
            return None;
        }
        self.applied += 1;
        self.entry(self.applied).cloned()
    }

    pub fn persisted(&self) -> Index {
        self.persisted
    }

    /// Hands out what must be written: the truncation point and the new entries.
    pub fn take_unstable(&mut self) -> (Option<Index>, Vec<Entry>) {
        let entries = self.entries[self.stable_end as usize..].to_vec();
        self.stable_end = self.last_index();
        (self.pending_truncate.take(), entries)
    }

    pub fn has_unstable(&self) -> bool {
        self.pending_truncate.is_some() || self.stable_end < self.last_index()
    }

    /// The driver wrote entries up to (`index`, `term`). Ignored if they were replaced since.
    pub fn persisted_to(&mut self, index: Index, term: Term) {
        if self.matches(index, term) && index <= self.stable_end && index > self.persisted {
            self.persisted = index;
        }
        self.assert_invariants();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            data: EntryData::Noop,
        }
    }

    fn log_of(terms: &[Term]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| e(i as Index + 1, *t))
            .collect();
        RaftLog::restored(entries, 0)
    }

    #[test]
    fn append_checks_consistency_and_truncates_conflicts() {
        let mut log = log_of(&[1, 1, 2]);
        assert_eq!(log.maybe_append(3, 1, &[e(4, 3)]), None);
        assert_eq!(log.maybe_append(2, 1, &[e(3, 2)]), Some(3));
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.maybe_append(2, 1, &[e(3, 3), e(4, 3)]), Some(4));
        assert_eq!(
            log.all().iter().map(|e| e.term).collect::<Vec<_>>(),
            [1, 1, 3, 3]
        );
        let (cut, new) = log.take_unstable();
        assert_eq!(cut, Some(3));
        assert_eq!(new, vec![e(3, 3), e(4, 3)]);
        assert_eq!(log.persisted(), 2);
        log.persisted_to(4, 3);
        assert_eq!(log.persisted(), 4);
    }

    #[test]
    fn stale_append_does_not_truncate_matching_suffix() {
        let mut log = log_of(&[1, 1, 1]);
        assert_eq!(log.maybe_append(0, 0, &[e(1, 1)]), Some(1));
        assert_eq!(log.last_index(), 3);
    }

    #[test]
    fn hint_skips_a_whole_term() {
        let log = log_of(&[1, 1, 2, 2, 2]);
        assert_eq!(log.conflict_hint(5, 1), (2, 1));
        assert_eq!(log.conflict_hint(9, 3), (5, 2));
        assert_eq!(log.conflict_hint(5, 0), (0, 0));
    }

    #[test]
    fn persisted_ignores_replaced_entries() {
        let mut log = log_of(&[1]);
        log.append_new(2, EntryData::Noop);
        let _ = log.take_unstable();
        assert_eq!(log.maybe_append(1, 1, &[e(2, 3)]), Some(2));
        log.persisted_to(2, 2);
        assert_eq!(log.persisted(), 1);
    }

    #[test]
    fn term_runs_are_the_last_runs_oldest_first() {
        let mut log = RaftLog::default();
        assert!(log.term_runs(4).is_empty());
        for (i, term) in [1, 1, 2, 4, 4, 4, 5].into_iter().enumerate() {
            log.maybe_append(i as Index, log.last_term(), &[e(i as Index + 1, term)]);
        }
        assert_eq!(log.term_runs(8), vec![(1, 1), (2, 3), (4, 4), (5, 7)]);
        assert_eq!(log.term_runs(2), vec![(4, 4), (5, 7)]);
    }

    #[test]
    #[should_panic(expected = "truncating committed")]
    fn committed_entries_are_never_truncated() {
        let mut log = log_of(&[1, 1]);
        log.commit_to(2);
        log.maybe_append(1, 1, &[e(2, 2)]);
    }
}
