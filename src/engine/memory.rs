//! `MemoryBudget`: the bytes of encoded rows alive between a partition worker and a successful
//! load, bounded by `totalDataInMemMb` (invariant 3), and `Reservation`, the bytes one owner holds
//! in it (released when the reservation is dropped, so no path can forget to give them back).
//!
//! A worker grows its open block's reservation as the block grows; the reservation travels with
//! the block and is dropped once the load that carries it ended. When a reservation cannot grow,
//! the bytes are counted anyway (they exist already: the rows are encoded), the worker hands its
//! open blocks to the flushers, and it waits until the budget has room again. The wait raises
//! `pressure`, which makes every flusher load at once (engine.md §2, "no deadlock rule"): all
//! reserved bytes are then on their way to StarRocks, and loads free them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: u64,
    used: Mutex<u64>,
    freed: Condvar,
    pressure: AtomicBool,
    peak: AtomicU64,
}

/// Whether the budget had room within a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    Available,
    /// Still full after the wait; the caller re-checks its stop flags and waits again.
    TimedOut,
}

impl MemoryBudget {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        MemoryBudget {
            limit: limit_bytes.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
            pressure: AtomicBool::new(false),
            peak: AtomicU64::new(0),
        }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn used(&self) -> u64 {
        *self.used.lock()
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether a worker is waiting for memory: flushers load now.
    pub(crate) fn under_pressure(&self) -> bool {
        self.pressure.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: u64) -> bool {
        let mut used = self.used.lock();
        // A single request larger than the whole budget is granted alone, so one oversized
        // message can never hang the engine.
        if *used + bytes <= self.limit || *used == 0 {
            self.add(&mut used, bytes);
            true
        } else {
            false
        }
    }

    fn take_unchecked(&self, bytes: u64) {
        let mut used = self.used.lock();
        self.add(&mut used, bytes);
    }

    fn add(&self, used: &mut u64, bytes: u64) {
        *used += bytes;
        self.peak.fetch_max(*used, Ordering::Relaxed);
    }

    /// Waits up to `wait` until usage is below the limit; raises the pressure flag meanwhile.
    pub(crate) fn wait_for_room(&self, wait: Duration) -> Room {
        let mut used = self.used.lock();
        if *used < self.limit {
            return Room::Available;
        }
        self.pressure.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + wait;
        while *used >= self.limit {
            if self.freed.wait_until(&mut used, deadline).timed_out() {
                return if *used < self.limit {
                    Room::Available
                } else {
                    Room::TimedOut
                };
            }
        }
        Room::Available
    }

    fn give_back(&self, bytes: u64) {
        let mut used = self.used.lock();
        if bytes > *used {
            // Every reservation gives back what it took: this is a bug, never a rounding.
            debug_assert!(
                false,
                "memory budget: {bytes} bytes released, {used} in use"
            );
            tracing::error!(
                released = bytes,
                used = *used,
                "memory budget released more than it held"
            );
        }
        *used = used.saturating_sub(bytes);
        if *used <= self.limit / 2 {
            self.pressure.store(false, Ordering::Relaxed);
        }
        self.freed.notify_all();
    }
}

/// Bytes held in a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Reservation {
    /// Holds nothing yet.
    pub(crate) fn empty(budget: &Arc<MemoryBudget>) -> Self {
        Reservation {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows by `bytes` if the budget has room (or is empty).
    pub(crate) fn try_grow(&mut self, bytes: u64) -> bool {
        let granted = self.budget.try_take(bytes);
        if granted {
            self.bytes += bytes;
        }
        granted
    }

    /// Grows by `bytes` that exist already, past the limit if need be; the caller then waits
    /// for room before it makes more.
    pub(crate) fn grow_counted(&mut self, bytes: u64) {
        self.budget.take_unchecked(bytes);
        self.bytes += bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.give_back(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_when_spent_and_resumes_after_release() {
        let b = Arc::new(MemoryBudget::new(100));
        let mut first = Reservation::empty(&b);
        assert!(first.try_grow(60));
        let mut second = Reservation::empty(&b);
        assert!(!second.try_grow(60));
        second.grow_counted(60);
        assert_eq!(b.used(), 120);
        assert_eq!(b.wait_for_room(Duration::from_millis(10)), Room::TimedOut);
        assert!(b.under_pressure());
        let b2 = b.clone();
        let waiter = std::thread::spawn(move || b2.wait_for_room(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        drop(first);
        assert_eq!(waiter.join().unwrap(), Room::Available);
        assert_eq!(b.used(), 60);
        assert!(
            b.under_pressure(),
            "above half the limit the pressure stays"
        );
        drop(second);
        assert_eq!(b.used(), 0);
        assert!(!b.under_pressure());
    }

    #[test]
    fn oversized_request_is_granted_alone() {
        let b = Arc::new(MemoryBudget::new(100));
        let mut big = Reservation::empty(&b);
        assert!(big.try_grow(500));
        assert!(!Reservation::empty(&b).try_grow(1));
        drop(big);
        assert!(Reservation::empty(&b).try_grow(1));
        assert_eq!(b.peak(), 500);
    }
}
