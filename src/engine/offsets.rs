//! `OffsetTracker`: per partition, which offsets may be committed (invariant 1), and
//! `OffsetClaim`, one outstanding item in it.
//!
//! The committable offset is the first offset of the oldest outstanding item (a block not yet
//! loaded, a dead letter not yet acknowledged), or, when nothing is outstanding, the offset after
//! the last message polled. Messages that produce no rows complete at once but can never move
//! the commit past an earlier outstanding item: the minimum takes care of it.
//!
//! An item is outstanding from [`OffsetTracker::claim`] until [`OffsetClaim::complete`]. A claim
//! dropped without completing stays outstanding for good: nothing past it is ever committed by
//! this assignment, and the next owner replays it. That is the safe default for every path that
//! gives up (a failed load, a stop without loading).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Offset after the last message handed to the engine; `None` before the first one.
    next: Option<i64>,
    /// First offset of each outstanding item → how many items start there.
    outstanding: BTreeMap<i64, u32>,
    /// Where the partition started (the committed offset at assignment), for `committable`
    /// before any message.
    start: Option<i64>,
    /// The offset last committed by this assignment.
    committed: Option<i64>,
}

/// One outstanding item of a partition, from its first offset on.
#[derive(Debug)]
#[must_use = "a claim dropped without `complete` keeps its offset uncommitted for good"]
pub(crate) struct OffsetClaim {
    tracker: Arc<OffsetTracker>,
    first: i64,
}

impl OffsetClaim {
    /// The item is durable (loaded / acknowledged): the commit may pass it.
    pub(crate) fn complete(self) {
        self.tracker.complete(self.first);
    }
}

impl OffsetTracker {
    pub(crate) fn new(start: Option<i64>) -> Self {
        OffsetTracker {
            state: Mutex::new(State {
                next: None,
                outstanding: BTreeMap::new(),
                start,
                committed: None,
            }),
        }
    }

    /// An item holding rows from `first` on is in flight until the claim completes.
    pub(crate) fn claim(self: &Arc<Self>, first: i64) -> OffsetClaim {
        *self.state.lock().outstanding.entry(first).or_insert(0) += 1;
        OffsetClaim {
            tracker: Arc::clone(self),
            first,
        }
    }

    fn complete(&self, first: i64) {
        let mut s = self.state.lock();
        if let Some(n) = s.outstanding.get_mut(&first) {
            *n -= 1;
            if *n == 0 {
                s.outstanding.remove(&first);
            }
        }
    }

    /// The message at `offset` has been handed over (its rows, if any, are in claimed items).
    pub(crate) fn polled(&self, offset: i64) {
        let mut s = self.state.lock();
        s.next = Some(s.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// The offset to commit (the next offset to read), if anything is known.
    pub(crate) fn committable(&self) -> Option<i64> {
        let s = self.state.lock();
        match s.outstanding.keys().next() {
            Some(&first) => Some(first),
            None => s.next.or(s.start),
        }
    }

    /// Offset after the last polled message.
    pub(crate) fn next(&self) -> Option<i64> {
        self.state.lock().next
    }

    /// The commit of `offset` succeeded.
    pub(crate) fn set_committed(&self, offset: i64) {
        let mut s = self.state.lock();
        s.committed = Some(s.committed.map_or(offset, |c| c.max(offset)));
    }

    /// The offset committed for the partition: by this assignment, else at its start.
    pub(crate) fn committed(&self) -> Option<i64> {
        let s = self.state.lock();
        s.committed.or(s.start)
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.state
            .lock()
            .outstanding
            .values()
            .map(|n| *n as usize)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_never_passes_an_unloaded_block() {
        let t = Arc::new(OffsetTracker::new(Some(10)));
        assert_eq!(t.committable(), Some(10));
        let first = t.claim(10);
        t.polled(10);
        t.polled(11); // a control message: no rows
        let second = t.claim(12);
        t.polled(12);
        assert_eq!(t.committable(), Some(10));
        second.complete();
        assert_eq!(t.committable(), Some(10), "an older block is still out");
        first.complete();
        assert_eq!(t.committable(), Some(13));
    }

    #[test]
    fn two_items_at_one_offset() {
        let t = Arc::new(OffsetTracker::new(None));
        let (a, b) = (t.claim(5), t.claim(5));
        t.polled(5);
        a.complete();
        assert_eq!(t.committable(), Some(5));
        b.complete();
        assert_eq!(t.committable(), Some(6));
    }

    #[test]
    fn a_dropped_claim_stays_outstanding() {
        let t = Arc::new(OffsetTracker::new(Some(0)));
        drop(t.claim(3));
        t.polled(3);
        t.polled(4);
        assert_eq!((t.committable(), t.outstanding()), (Some(3), 1));
    }
}
