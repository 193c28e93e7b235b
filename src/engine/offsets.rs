//! `OffsetTracker`: per partition, which offsets may be committed (invariant 1).
//!
//! The committable offset is the first offset of the oldest outstanding item (a block not yet
//! loaded, a dead letter not yet acknowledged), or, when nothing is outstanding, the offset after
//! the last message polled. Messages that produce no rows complete at once but can never move
//! the commit past an earlier outstanding item: the minimum takes care of it.

use std::collections::BTreeMap;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct OffsetTracker {
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
}

impl OffsetTracker {
    pub fn new(start: Option<i64>) -> Self {
        OffsetTracker {
            state: Mutex::new(State {
                next: None,
                outstanding: BTreeMap::new(),
                start,
            }),
        }
    }

    /// An item holding rows from `first` on is in flight.
    pub fn open(&self, first: i64) {
        *self.state.lock().outstanding.entry(first).or_insert(0) += 1;
    }

    /// The item opened at `first` is durable (loaded / acknowledged).
    pub fn complete(&self, first: i64) {
        let mut s = self.state.lock();
        if let Some(n) = s.outstanding.get_mut(&first) {
            *n -= 1;
            if *n == 0 {
                s.outstanding.remove(&first);
            }
        }
    }

    /// The message at `offset` has been handed over (its rows, if any, are in open items).
    pub fn polled(&self, offset: i64) {
        let mut s = self.state.lock();
        s.next = Some(s.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// The offset to commit (the next offset to read), if anything is known.
    pub fn committable(&self) -> Option<i64> {
        let s = self.state.lock();
        match s.outstanding.keys().next() {
            Some(&first) => Some(first),
            None => s.next.or(s.start),
        }
    }

    /// Offset after the last polled message.
    pub fn next(&self) -> Option<i64> {
        self.state.lock().next
    }

    pub fn outstanding(&self) -> usize {
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
        let t = OffsetTracker::new(Some(10));
        assert_eq!(t.committable(), Some(10));
        t.open(10);
        t.polled(10);
        t.polled(11); // a control message: no rows
        t.open(12);
        t.polled(12);
        assert_eq!(t.committable(), Some(10));
        t.complete(12);
        assert_eq!(t.committable(), Some(10), "an older block is still out");
        t.complete(10);
        assert_eq!(t.committable(), Some(13));
    }

    #[test]
    fn two_items_at_one_offset() {
        let t = OffsetTracker::new(None);
        t.open(5);
        t.open(5);
        t.polled(5);
        t.complete(5);
        assert_eq!(t.committable(), Some(5));
        t.complete(5);
        assert_eq!(t.committable(), Some(6));
    }
}
