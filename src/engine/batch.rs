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
    /// size, but a batch and its body copy stay within half the memory budget.
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
