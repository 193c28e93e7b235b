//! The periodic one-line progress report.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::assignment::Assignment;
use crate::engine::Shared;

/// How often a progress line is logged.
const EVERY: Duration = Duration::from_secs(10);

pub(super) struct Progress {
    last: Instant,
    rows: u64,
    bytes: u64,
}

impl Progress {
    pub(super) fn new() -> Self {
        Progress {
            last: Instant::now(),
            rows: 0,
            bytes: 0,
        }
    }

    pub(super) fn maybe_log(&mut self, shared: &Shared, assignment: &Assignment) {
        if self.last.elapsed() >= EVERY {
            self.log(shared, assignment);
        }
    }

    pub(super) fn log(&mut self, shared: &Shared, assignment: &Assignment) {
        let m = &shared.metrics;
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let rows = m.rows_loaded.load(Ordering::Relaxed);
        let bytes = m.bytes_loaded.load(Ordering::Relaxed);
        tracing::info!(
            rows_per_s = ((rows - self.rows) as f64 / secs) as u64,
            mb_per_s = format!("{:.2}", (bytes - self.bytes) as f64 / secs / 1e6),
            rows_loaded = rows,
            messages = m.messages.load(Ordering::Relaxed),
            lag = assignment.lag(),
            memory_mb = shared.budget.used() >> 20,
            bad = m.bad_messages.load(Ordering::Relaxed),
            "progress"
        );
        self.last = Instant::now();
        self.rows = rows;
        self.bytes = bytes;
    }
}
