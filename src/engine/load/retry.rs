//! Waiting between attempts: exponential back-off with jitter, longer under version or
//! transaction pressure, and sleeps that end early when the engine stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engine::label::Fnv;

/// Sleeps up to `d`; returns true if `stop` was set meanwhile.
pub(crate) fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    sleep_unless(d, &|| stop.load(Ordering::Relaxed))
}

/// Sleeps up to `d`; returns true as soon as `abandon` says so.
pub(crate) fn sleep_unless(d: Duration, abandon: &dyn Fn() -> bool) -> bool {
    let until = Instant::now() + d;
    loop {
        if abandon() {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Exponential back-off with jitter; longer under version / transaction pressure.
pub(super) struct Backoff {
    next_ms: u64,
    seed: u64,
}

impl Backoff {
    /// Seeded from the label, so retries of many tables do not move in lockstep.
    pub(super) fn new(label: &str) -> Self {
        Backoff {
            next_ms: 200,
            seed: Fnv::hash(label.as_bytes()) | 1,
        }
    }

    /// The wait after an ordinary failure (200 ms doubling to 10 s).
    pub(super) fn next(&mut self) -> Duration {
        self.step(self.next_ms, 10_000)
    }

    /// The wait after StarRocks reported pressure (at least 2 s, doubling to 60 s).
    pub(super) fn next_under_pressure(&mut self) -> Duration {
        self.step(self.next_ms.max(2_000), 60_000)
    }

    fn step(&mut self, base: u64, cap: u64) -> Duration {
        self.next_ms = (base * 2).min(cap);
        // xorshift: jitter of ±25 %.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = (self.seed % (base / 2 + 1)) as i64 - (base / 4) as i64;
        Duration::from_millis((base as i64 + jitter).max(50) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_within_jitter_and_caps() {
        let mut b = Backoff::new("label");
        let waits: Vec<u64> = (0..10).map(|_| b.next().as_millis() as u64).collect();
        let mut base = 200u64;
        for w in waits {
            assert!(w >= base * 3 / 4 && w <= base * 5 / 4, "{w} vs {base}");
            base = (base * 2).min(10_000);
        }
        let mut p = Backoff::new("label");
        assert!(p.next_under_pressure() >= Duration::from_millis(1_500));
    }
}
