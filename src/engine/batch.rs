//! `BatchSizer`: how large and how old a table's batch may grow before it is loaded, adapted to
//! how StarRocks answers (engine.md §4). Version or transaction pressure, or a load slower than
//! half the interval, multiplies interval and size by 1.5 up to a ceiling (fewer, larger loads
//! exactly when StarRocks needs them); a run of healthy loads steps back toward the configured
//! values. Pure: the flusher feeds it load outcomes and logs what it changes.

use std::time::Duration;

/// Healthy loads in a row before stepping back.
const HEALTHY_RUN: u32 = 10;
const STEP: f64 = 1.5;

/// How one load went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadOutcome {
    /// StarRocks reported version or transaction pressure.
    pub pressure: bool,
    pub took: Duration,
}

/// A change the sizer made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adjustment {
    /// StarRocks is slow or under pressure: larger, fewer loads.
    Larger,
    /// StarRocks is healthy again: back toward the configured batching.
    Smaller,
}

#[derive(Debug, Clone)]
pub(crate) struct BatchSizer {
    base_interval: Duration,
    base_bytes: u64,
    max_interval: Duration,
    max_bytes: u64,
    interval: Duration,
    bytes: u64,
    healthy_run: u32,
}

impl BatchSizer {
    /// Starts at `asyncFlushIntervalSec` and `flushBatchMb`; grows to 8× the interval and 4× the
    /// size, but never past a quarter of the memory budget, so that one table's batch leaves
    /// room for the other tables' and for the blocks being filled. (A load holds no second
    /// copy: its body is written from the batch's blocks while it is sent.)
    pub(crate) fn new(interval: Duration, bytes: u64, budget: u64) -> Self {
        BatchSizer {
            base_interval: interval,
            base_bytes: bytes,
            max_interval: interval * 8,
            max_bytes: (bytes * 4).min(budget / 4).max(bytes),
            interval,
            bytes,
            healthy_run: 0,
        }
    }

    /// A batch is loaded when it is this old.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// A batch is loaded when it is this large.
    pub(crate) fn target_bytes(&self) -> u64 {
        self.bytes
    }

    /// Takes one load's outcome into account.
    pub(crate) fn observe(&mut self, outcome: LoadOutcome) -> Option<Adjustment> {
        if outcome.pressure || outcome.took > self.interval / 2 {
            self.healthy_run = 0;
            self.grow()
        } else {
            self.healthy_run += 1;
            self.step_back()
        }
    }

    fn grow(&mut self) -> Option<Adjustment> {
        let interval = self.interval.mul_f64(STEP).min(self.max_interval);
        let bytes = ((self.bytes as f64 * STEP) as u64).min(self.max_bytes);
        if (interval, bytes) == (self.interval, self.bytes) {
            return None;
        }
        (self.interval, self.bytes) = (interval, bytes);
        Some(Adjustment::Larger)
    }

    fn step_back(&mut self) -> Option<Adjustment> {
        let above = self.interval > self.base_interval || self.bytes > self.base_bytes;
        if self.healthy_run < HEALTHY_RUN || !above {
            return None;
        }
        self.healthy_run = 0;
        self.interval = self.interval.div_f64(STEP).max(self.base_interval);
        self.bytes = ((self.bytes as f64 / STEP) as u64).max(self.base_bytes);
        Some(Adjustment::Smaller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sizer() -> BatchSizer {
        BatchSizer::new(Duration::from_secs(2), 8 * MIB, 1024 * MIB)
    }

    fn fast() -> LoadOutcome {
        LoadOutcome {
            pressure: false,
            took: Duration::from_millis(100),
        }
    }

    fn slow() -> LoadOutcome {
        LoadOutcome {
            pressure: false,
            took: Duration::from_secs(60),
        }
    }

    fn pressure() -> LoadOutcome {
        LoadOutcome {
            pressure: true,
            took: Duration::from_millis(100),
        }
    }

    #[test]
    fn healthy_loads_keep_the_configured_batching() {
        let mut s = sizer();
        for _ in 0..50 {
            assert_eq!(s.observe(fast()), None);
        }
        assert_eq!(
            (s.interval(), s.target_bytes()),
            (Duration::from_secs(2), 8 * MIB)
        );
    }

    #[test]
    fn slow_loads_grow_interval_and_size_up_to_the_ceilings() {
        let mut s = sizer();
        assert_eq!(s.observe(slow()), Some(Adjustment::Larger));
        assert_eq!(
            (s.interval(), s.target_bytes()),
            (Duration::from_secs(3), 12 * MIB)
        );
        for _ in 0..20 {
            s.observe(slow());
        }
        assert_eq!(
            (s.interval(), s.target_bytes()),
            (Duration::from_secs(16), 32 * MIB)
        );
        assert_eq!(s.observe(slow()), None, "at the ceilings nothing changes");
    }

    #[test]
    fn version_pressure_grows_even_when_loads_are_fast() {
        let mut s = sizer();
        assert_eq!(s.observe(pressure()), Some(Adjustment::Larger));
        assert!(s.interval() > Duration::from_secs(2));
    }

    #[test]
    fn the_size_ceiling_stays_within_a_quarter_of_the_budget() {
        let mut s = BatchSizer::new(Duration::from_secs(1), 8 * MIB, 64 * MIB);
        for _ in 0..20 {
            s.observe(pressure());
        }
        assert_eq!(s.target_bytes(), 16 * MIB);
        let small = BatchSizer::new(Duration::from_secs(1), 8 * MIB, 16 * MIB);
        assert_eq!(small.max_bytes, 8 * MIB, "never below the configured size");
    }

    #[test]
    fn recovery_steps_back_after_a_run_of_healthy_loads() {
        let mut s = sizer();
        s.observe(slow());
        s.observe(slow());
        let grown = (s.interval(), s.target_bytes());
        for _ in 0..HEALTHY_RUN - 1 {
            assert_eq!(s.observe(fast()), None);
        }
        assert_eq!(s.observe(fast()), Some(Adjustment::Smaller));
        assert!(s.interval() < grown.0 && s.target_bytes() < grown.1);
        for _ in 0..5 * HEALTHY_RUN {
            s.observe(fast());
        }
        assert_eq!(
            (s.interval(), s.target_bytes()),
            (Duration::from_secs(2), 8 * MIB)
        );
    }

    #[test]
    fn a_slow_load_restarts_the_healthy_run() {
        let mut s = sizer();
        s.observe(slow());
        for _ in 0..HEALTHY_RUN - 1 {
            s.observe(fast());
        }
        s.observe(pressure());
        for _ in 0..HEALTHY_RUN - 1 {
            assert_eq!(s.observe(fast()), None);
        }
        assert_eq!(s.observe(fast()), Some(Adjustment::Smaller));
    }
}

/// What every flusher holds in its batch, so that memory pressure loads the largest batches
/// first: a flusher whose batch is small next to the largest waits (its blocks keep arriving and
/// grow it) instead of loading one tiny block after the other while workers wait for memory.
#[derive(Debug, Default)]
pub(crate) struct PendingBatches {
    slots: parking_lot::Mutex<Vec<std::sync::Weak<std::sync::atomic::AtomicU64>>>,
    /// Loads in flight: memory they will free soon.
    loading: std::sync::atomic::AtomicUsize,
}

/// A load in flight, counted in [`PendingBatches`] until dropped.
pub(crate) struct Loading<'a>(&'a PendingBatches);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        self.0
            .loading
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One flusher's entry in [`PendingBatches`].
#[derive(Debug)]
pub(crate) struct PendingSlot(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl PendingSlot {
    pub(crate) fn set(&self, bytes: u64) {
        self.0.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

impl PendingBatches {
    pub(crate) fn slot(&self) -> PendingSlot {
        let slot = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut slots = self.slots.lock();
        slots.retain(|s| s.strong_count() > 0);
        slots.push(std::sync::Arc::downgrade(&slot));
        PendingSlot(slot)
    }

    /// The largest batch any flusher holds, and how many flushers there are.
    fn survey(&self) -> (u64, u64) {
        let slots = self.slots.lock();
        let sizes = slots
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .map(|s| s.load(std::sync::atomic::Ordering::Relaxed));
        sizes.fold((0, 0), |(largest, n), b| (largest.max(b), n + 1))
    }

    /// Counts a load in flight until the guard is dropped.
    pub(crate) fn loading(&self) -> Loading<'_> {
        self.loading
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Loading(self)
    }

    /// Under memory pressure (`budget` bytes in all), whether a batch of `bytes` loads now:
    /// batches near the largest that hold a fair part of the budget (a quarter of its share per
    /// flusher, leaving room for the body copies of the loads in flight) load; smaller ones keep
    /// growing while loads in flight free memory. When nothing is in flight, the largest loads
    /// whatever its size, so memory is always being freed.
    pub(crate) fn loads_under_pressure(&self, bytes: u64, budget: u64) -> bool {
        let (largest, flushers) = self.survey();
        let fair_part = budget / (4 * flushers.max(1));
        let idle = self.loading.load(std::sync::atomic::Ordering::Relaxed) == 0;
        bytes > 0
            && ((bytes.saturating_mul(2) >= largest && bytes >= fair_part)
                || (bytes >= largest && idle))
    }
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[test]
    fn the_largest_batches_load_first_under_pressure() {
        let board = PendingBatches::default();
        let (a, b, c) = (board.slot(), board.slot(), board.slot());
        a.set(100);
        b.set(60);
        c.set(10);
        // Budget 1200 over 3 flushers: a fair part is 100.
        assert!(board.loads_under_pressure(100, 1200), "the largest loads");
        assert!(
            !board.loads_under_pressure(60, 1200),
            "below a fair part it grows"
        );
        assert!(
            board.loads_under_pressure(60, 480),
            "near the largest, a fair part of 40"
        );
        assert!(!board.loads_under_pressure(10, 480), "a tiny batch waits");
        assert!(!board.loads_under_pressure(0, 480));
        drop(a);
        assert_eq!(board.survey(), (60, 2), "a gone flusher no longer counts");
        assert!(board.loads_under_pressure(60, 480));
    }
}
