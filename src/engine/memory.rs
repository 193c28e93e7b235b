//! `MemoryBudget`: the bytes of encoded rows alive between a partition worker and a successful
//! load, bounded by `totalDataInMemMb` (invariant 3).
//!
//! A worker reserves before it appends to a block and the bytes stay reserved until the load
//! that carries the block succeeded (or the block is dropped at shutdown). When a reservation
//! cannot be granted the budget raises `pressure`, which makes every flusher flush at once; the
//! worker has already handed its open blocks to the flushers (engine.md §2, "no deadlock rule"),
//! so everything reserved is on its way to StarRocks and loads free it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: Mutex<u64>,
    freed: Condvar,
    pressure: AtomicBool,
    peak: AtomicU64,
}

/// What a reservation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    Granted,
    /// Not granted within the wait; the caller re-checks its stop flag and tries again.
    TimedOut,
}

impl MemoryBudget {
    pub fn new(limit_bytes: u64) -> Self {
        MemoryBudget {
            limit: limit_bytes.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
            pressure: AtomicBool::new(false),
            peak: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        *self.used.lock()
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether a worker is waiting for memory: flushers flush now.
    pub fn under_pressure(&self) -> bool {
        self.pressure.load(Ordering::Relaxed)
    }

    /// Reserves without waiting.
    pub fn try_reserve(&self, bytes: u64) -> bool {
        let mut used = self.used.lock();
        self.grant(&mut used, bytes)
    }

    fn grant(&self, used: &mut u64, bytes: u64) -> bool {
        // A single request larger than the whole budget is granted alone, so one oversized
        // message can never hang the engine.
        if *used + bytes <= self.limit || *used == 0 {
            *used += bytes;
            self.peak.fetch_max(*used, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Accounts `bytes` without waiting, even past the limit: for memory that exists already
    /// and that only the caller can free (a load body copied from reserved blocks).
    pub fn force_reserve(&self, bytes: u64) {
        let mut used = self.used.lock();
        *used += bytes;
        self.peak.fetch_max(*used, Ordering::Relaxed);
    }

    /// Reserves, waiting up to `wait` for loads to free memory.
    pub fn reserve(&self, bytes: u64, wait: Duration) -> Reserve {
        let mut used = self.used.lock();
        if self.grant(&mut used, bytes) {
            return Reserve::Granted;
        }
        self.pressure.store(true, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.freed.wait_until(&mut used, deadline).timed_out() {
                return if self.grant(&mut used, bytes) {
                    Reserve::Granted
                } else {
                    Reserve::TimedOut
                };
            }
            if self.grant(&mut used, bytes) {
                return Reserve::Granted;
            }
        }
    }

    pub fn release(&self, bytes: u64) {
        let mut used = self.used.lock();
        *used = used.saturating_sub(bytes);
        if *used <= self.limit / 2 {
            self.pressure.store(false, Ordering::Relaxed);
        }
        self.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn blocks_when_spent_and_resumes_after_release() {
        let b = Arc::new(MemoryBudget::new(100));
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(60));
        assert_eq!(b.reserve(60, Duration::from_millis(10)), Reserve::TimedOut);
        assert!(b.under_pressure());
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.reserve(60, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        b.release(60);
        assert_eq!(t.join().unwrap(), Reserve::Granted);
        assert_eq!(b.used(), 60);
        assert!(!b.under_pressure());
    }

    #[test]
    fn oversized_request_is_granted_alone() {
        let b = MemoryBudget::new(100);
        assert!(b.try_reserve(500));
        assert!(!b.try_reserve(1));
        b.release(500);
        assert!(b.try_reserve(1));
        assert_eq!(b.peak(), 500);
    }
}
