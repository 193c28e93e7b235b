//! Load log: every Stream Load and transaction-API `load` call the BEs received, in arrival
//! order, with wall-clock times and the client's address. Tests read it through
//! `GET /loads` to prove when, and from whom, data landed (e.g. that a fenced-off client
//! committed nothing after a given moment).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

/// Unix epoch milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix epoch milliseconds of a past monotonic instant.
pub fn epoch_ms_of(at: Instant) -> u64 {
    now_ms().saturating_sub(at.elapsed().as_millis() as u64)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    /// A plain Stream Load (`PUT /api/{db}/{table}/_stream_load` on a BE).
    StreamLoad,
    /// One `PUT /api/transaction/load` call of the transaction interface.
    TxnLoad,
}

/// One received load. Field order is the JSON order of `GET /loads`.
#[derive(Clone, Debug, Serialize)]
pub struct LoadEntry {
    #[serde(skip)]
    id: u64,
    pub label: String,
    pub db: String,
    pub table: String,
    pub txn_id: i64,
    /// The Stream Load `Status` answered, or the transaction's outcome (`VISIBLE`,
    /// `COMMITTED`, `ABORTED`) when no answer was sent or for transaction-API loads.
    /// `null` while a Stream Load is still running; the txn state while a txn is open.
    pub status: Option<String>,
    pub received_ms: u64,
    pub finished_ms: Option<u64>,
    pub rows_loaded: u64,
    pub rows_filtered: u64,
    pub peer: String,
    pub kind: LoadKind,
    /// A transaction-API load whose transaction has not ended yet: its status follows the txn.
    #[serde(skip)]
    follows_txn: bool,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    entries: Vec<LoadEntry>,
}

#[derive(Default)]
pub struct LoadLog {
    inner: Mutex<Inner>,
}

/// Where a pending transaction-API entry stands: its txn state name and, once the txn has
/// ended, when.
pub struct TxnOutcome {
    pub state: &'static str,
    pub finished_ms: Option<u64>,
}

impl LoadLog {
    /// Records a load the moment its request arrived; returns its id.
    pub fn open(&self, kind: LoadKind, db: &str, table: &str, label: &str, peer: &str) -> u64 {
        let mut g = self.inner.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.entries.push(LoadEntry {
            id,
            label: label.into(),
            db: db.into(),
            table: table.into(),
            txn_id: -1,
            status: None,
            received_ms: now_ms(),
            finished_ms: None,
            rows_loaded: 0,
            rows_filtered: 0,
            peer: peer.into(),
            kind,
            follows_txn: false,
        });
        id
    }

    /// Changes an entry; a no-op if the log was cleared meanwhile.
    pub fn update(&self, id: u64, f: impl FnOnce(&mut LoadEntry)) {
        let mut g = self.inner.lock();
        // Ids grow with position, so a binary search finds the entry.
        if let Ok(pos) = g.entries.binary_search_by_key(&id, |e| e.id) {
            f(&mut g.entries[pos]);
        }
    }

    /// Ends an entry with an answered status, unless it already has one.
    pub fn finish(&self, id: u64, status: &str) {
        self.update(id, |e| {
            if e.status.is_none() {
                e.status = Some(status.into());
                e.finished_ms = Some(now_ms());
            }
        });
    }

    /// A transaction-API load was accepted: from now on its status follows the txn.
    pub fn follow_txn(&self, id: u64, txn_id: i64, state: &str) {
        self.update(id, |e| {
            e.txn_id = txn_id;
            e.status = Some(state.into());
            e.follows_txn = true;
        });
    }

    /// The transaction ended: every load of it takes the outcome and the time.
    pub fn resolve_txn(&self, db: &str, txn_id: i64, state: &str, finished_ms: u64) {
        let mut g = self.inner.lock();
        for e in g
            .entries
            .iter_mut()
            .filter(|e| e.follows_txn && e.txn_id == txn_id && e.db == db)
        {
            e.status = Some(state.into());
            e.finished_ms = Some(finished_ms);
            e.follows_txn = false;
        }
    }

    /// Every entry in arrival order. Entries that follow an open transaction are brought up to
    /// date first through `lookup`, which catches timeouts the txn registry enforced lazily.
    pub fn snapshot(&self, lookup: impl Fn(&str, i64) -> Option<TxnOutcome>) -> Vec<LoadEntry> {
        let mut g = self.inner.lock();
        for e in g.entries.iter_mut().filter(|e| e.follows_txn) {
            if let Some(o) = lookup(&e.db, e.txn_id) {
                e.status = Some(o.state.into());
                if o.finished_ms.is_some() {
                    e.finished_ms = o.finished_ms;
                    e.follows_txn = false;
                }
            }
        }
        g.entries.clone()
    }

    pub fn clear(&self) -> usize {
        let mut g = self.inner.lock();
        let n = g.entries.len();
        g.entries.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_their_transaction() {
        let log = LoadLog::default();
        let a = log.open(LoadKind::StreamLoad, "d", "t", "l1", "127.0.0.1:1");
        let b = log.open(LoadKind::TxnLoad, "d", "t", "l2", "127.0.0.1:2");
        log.finish(a, "Success");
        log.finish(a, "Fail");
        log.follow_txn(b, 7, "PREPARE");
        let s = log.snapshot(|_, _| None);
        assert_eq!(s[0].status.as_deref(), Some("Success"));
        assert_eq!(s[1].status.as_deref(), Some("PREPARE"));
        assert!(s[1].finished_ms.is_none());
        log.resolve_txn("d", 7, "VISIBLE", 42);
        let s = log.snapshot(|_, _| None);
        assert_eq!(s[1].status.as_deref(), Some("VISIBLE"));
        assert_eq!(s[1].finished_ms, Some(42));
        assert_eq!(log.clear(), 2);
        log.finish(a, "Success");
        assert!(log.snapshot(|_, _| None).is_empty());
    }
}
