//! Progress: a log line every ten seconds, and — when stderr is a terminal — a status line
//! refreshed every second (rows/s, lag, memory, per-table counts).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::assignment::Assignment;
use crate::engine::Shared;
use crate::terminal;

/// How often a progress line is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How often the status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Tables named on the status line.
const STATUS_TABLES: usize = 3;

/// Rows and bytes loaded at a moment, to compute rates from.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    rows: u64,
    bytes: u64,
}

pub(super) struct Progress {
    logged: Mark,
    shown: Mark,
}

impl Progress {
    pub(super) fn new() -> Self {
        let now = Mark {
            at: Instant::now(),
            rows: 0,
            bytes: 0,
        };
        terminal::start_status_line();
        Progress {
            logged: now,
            shown: now,
        }
    }

    pub(super) fn maybe_log(&mut self, shared: &Shared, assignment: &Assignment) {
        if self.shown.at.elapsed() >= STATUS_EVERY {
            self.show(shared);
        }
        if self.logged.at.elapsed() >= LOG_EVERY {
            self.log(shared, assignment);
        }
    }

    fn mark(shared: &Shared) -> Mark {
        Mark {
            at: Instant::now(),
            rows: shared.metrics.rows_loaded.load(Ordering::Relaxed),
            bytes: shared.metrics.bytes_loaded.load(Ordering::Relaxed),
        }
    }

    fn rates(from: Mark, to: Mark) -> (u64, f64) {
        let secs = to.at.duration_since(from.at).as_secs_f64().max(0.001);
        let rows = ((to.rows - from.rows) as f64 / secs) as u64;
        (rows, (to.bytes - from.bytes) as f64 / secs / 1e6)
    }

    pub(super) fn log(&mut self, shared: &Shared, assignment: &Assignment) {
        let m = &shared.metrics;
        let now = Self::mark(shared);
        let (rows_per_s, mb_per_s) = Self::rates(self.logged, now);
        tracing::info!(
            rows_per_s,
            mb_per_s = format!("{mb_per_s:.2}"),
            rows_loaded = now.rows,
            messages = m.messages.load(Ordering::Relaxed),
            lag = m.total_lag().max(assignment.lag()),
            memory_mb = shared.budget.used() >> 20,
            bad = m.bad_messages.load(Ordering::Relaxed),
            "progress"
        );
        self.logged = now;
    }

    /// Refreshes the status line.
    fn show(&mut self, shared: &Shared) {
        let now = Self::mark(shared);
        let (rows_per_s, _) = Self::rates(self.shown, now);
        self.shown = now;
        let mut tables: Vec<(String, u64)> = shared
            .metrics
            .tables()
            .into_iter()
            .map(|(name, s)| (name, s.rows_upserted + s.rows_deleted))
            .collect();
        tables.sort_by_key(|t| std::cmp::Reverse(t.1));
        let named: Vec<String> = tables
            .iter()
            .take(STATUS_TABLES)
            .map(|(name, rows)| format!("{name} {rows}"))
            .collect();
        let more = tables.len().saturating_sub(STATUS_TABLES);
        terminal::status(&format!(
            "{rows_per_s} rows/s | {} rows loaded | lag {} | memory {}/{} MiB | {}{}",
            now.rows,
            shared.metrics.total_lag(),
            shared.budget.used() >> 20,
            shared.budget.limit() >> 20,
            named.join(", "),
            if more > 0 {
                format!(" (+{more} tables)")
            } else {
                String::new()
            }
        ));
    }
}
