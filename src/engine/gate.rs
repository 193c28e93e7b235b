//! `TableGate`: the per-table barrier a schema change passes (ARCHITECTURE.md, "DDL barrier").
//!
//! A partition worker holds the gate of a table while it has an open block of that table with
//! rows in it (a [`GateHold`], released when the block is handed over). A schema change closes
//! the gate: no worker may start a new block of the table, and the change waits until every
//! hold is released — every row of the table read before the change is then on its way to the
//! table's flusher, from every partition. The gate opens again when the change is done
//! ([`GateClosed`] dropped), and workers encode later rows with the new schema.
//!
//! No deadlock: a worker hands over every open block (releasing every hold) before it waits on
//! a closed gate, and a schema change closes a gate only after its worker did the same. A
//! waiting worker therefore holds nothing, and every hold belongs to a worker that is running:
//! it hands the block over within the block age limit.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How long one wait lasts before the stop flags are looked at again.
const WAIT_SLICE: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub(crate) struct TableGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// A schema change holds the gate closed.
    closed: bool,
    /// Open blocks with rows of this table.
    holds: usize,
}

/// An open block's claim on its table's gate; released when dropped.
#[derive(Debug)]
#[must_use = "a hold released at once does not keep the gate"]
pub(crate) struct GateHold(Arc<TableGate>);

/// A closed gate; it opens when dropped.
#[derive(Debug)]
#[must_use = "a gate closed and dropped at once opens again"]
pub(crate) struct GateClosed(Arc<TableGate>);

/// The engine stopped while waiting at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

impl TableGate {
    /// A hold, unless the gate is closed.
    pub(crate) fn try_hold(self: &Arc<Self>) -> Option<GateHold> {
        let mut s = self.state.lock();
        if s.closed {
            return None;
        }
        s.holds += 1;
        Some(GateHold(Arc::clone(self)))
    }

    /// A hold, waiting while the gate is closed. The caller holds nothing (see the module doc).
    pub(crate) fn hold(self: &Arc<Self>, stopping: &dyn Fn() -> bool) -> Result<GateHold, Stopped> {
        let mut s = self.state.lock();
        while s.closed {
            if stopping() {
                return Err(Stopped);
            }
            self.changed.wait_for(&mut s, WAIT_SLICE);
        }
        s.holds += 1;
        Ok(GateHold(Arc::clone(self)))
    }

    /// Closes the gate (after any other schema change of the table) and waits until every hold
    /// is released. The caller holds nothing.
    pub(crate) fn close(
        self: &Arc<Self>,
        stopping: &dyn Fn() -> bool,
    ) -> Result<GateClosed, Stopped> {
        let mut s = self.state.lock();
        while s.closed {
            if stopping() {
                return Err(Stopped);
            }
            self.changed.wait_for(&mut s, WAIT_SLICE);
        }
        s.closed = true;
        let closed = GateClosed(Arc::clone(self));
        while s.holds > 0 {
            if stopping() {
                // `closed` opens the gate again when it is dropped.
                drop(s);
                return Err(Stopped);
            }
            self.changed.wait_for(&mut s, WAIT_SLICE);
        }
        Ok(closed)
    }

    #[cfg(test)]
    fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    fn release(&self) {
        let mut s = self.state.lock();
        s.holds -= 1;
        if s.holds == 0 {
            self.changed.notify_all();
        }
    }

    fn open(&self) {
        self.state.lock().closed = false;
        self.changed.notify_all();
    }
}

impl Drop for GateHold {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Drop for GateClosed {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    fn never() -> bool {
        false
    }

    #[test]
    fn a_closed_gate_waits_for_every_hold_and_refuses_new_ones() {
        let gate = Arc::new(TableGate::default());
        let hold = gate.try_hold().expect("open gate");
        let g = Arc::clone(&gate);
        let closer = std::thread::spawn(move || g.close(&never).map(|c| (Instant::now(), c)));
        while !gate.is_closed() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(gate.try_hold().is_none(), "no new hold while closing");
        let released = Instant::now();
        drop(hold);
        let (closed_at, closed) = closer.join().unwrap().expect("closed");
        assert!(
            closed_at >= released,
            "closed only after the hold was released"
        );
        assert!(gate.try_hold().is_none());
        drop(closed);
        assert!(gate.try_hold().is_some(), "open again");
    }

    #[test]
    fn a_waiting_hold_gets_in_once_the_gate_opens() {
        let gate = Arc::new(TableGate::default());
        let closed = gate.close(&never).unwrap();
        let g = Arc::clone(&gate);
        let waiter = std::thread::spawn(move || g.hold(&never).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(closed);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn a_stop_ends_every_wait_and_leaves_the_gate_open() {
        let gate = Arc::new(TableGate::default());
        let _hold = gate.try_hold().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (Arc::clone(&gate), Arc::clone(&stop));
        let closer = std::thread::spawn(move || g.close(&|| s.load(Ordering::Relaxed)).is_err());
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        assert!(closer.join().unwrap(), "the close gave up");
        assert!(
            !gate.is_closed(),
            "a close that gave up opens the gate again"
        );
    }
}
