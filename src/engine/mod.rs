//! `starpipe run`: the engine that moves rows from Kafka to StarRocks.
//!
//! ```text
//! control thread (source)        partition workers (≤ consumeParallel)      table flushers
//! polls the main queue:          poll split partition queues → decode  →     gather blocks →
//! rebalances, commits, stop      route → append to (partition, table)        collapse by key →
//!                                blocks ──bounded channel──────────────▶     Stream Load → settle
//!                                                                            receipts (memory, offsets)
//! ```
//!
//! One stage a file: [`source`] (Kafka, rebalances, commits) → `worker` (a record's path:
//! decode → `router` → `blocks` → memory) → `flusher` (triggers; `batch` sizes, `body` builds,
//! `label` names, `load` sends) → `receipt` settles what a block owed (`memory`, `offsets`).
//! Invariants (ARCHITECTURE.md): offsets are committed only after their rows are loaded; per
//! key, order is kept; memory is bounded; bad input never crashes the engine and is never
//! silently dropped.

mod admin;
mod alerts;
mod batch;
mod blocks;
mod body;
mod catalog;
mod deadletter;
mod flusher;
mod gate;
mod heap;
mod isolate;
mod label;
mod lease;
mod load;
mod memory;
mod metrics;
mod monitor;
mod offsets;
mod receipt;
mod record;
mod router;
mod schema_change;
mod shared;
mod source;
mod stop;
mod tables;
#[cfg(test)]
mod testkit;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use load::{
    Feedback, FilteredRows, LoadError, LoadRequest, LoadSettings, Loaded, StreamLoader,
};
/// How one Stream Load answer (HTTP status and body) is read: for tools and fuzzing
/// (`fuzz/fuzz_targets/load_response.rs`); the engine's loader is the only user in the crate.
pub use load::{Verdict as LoadVerdict, classify as classify_load_response};
pub use source::prefetch_settings;
// For `starpipe verify` (src/verify/): the engine's own schema reads and query connection, and
// run ids for labels that never repeat across runs.
pub(crate) use catalog::Catalog;
pub(crate) use label::RunId;

use crate::config::{AlertEvent, Config};
use admin::Admin;
use flusher::FlushItem;
use metrics::Metrics;
use monitor::Monitor;
use shared::{Fatal, Shared};
use stop::StopWatchdog;

/// When `starpipe run` stops by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunUntil {
    /// Only a stop signal (or a fatal error) stops it.
    Stopped,
    /// `--stop-at-end`: once everything up to the end offsets at assignment is loaded and
    /// committed.
    End,
}

/// The signals a run reacts to.
#[derive(Debug, Clone, Default)]
pub struct StopSignals {
    /// First signal: stop consuming, load what was consumed, commit, exit.
    pub stop: Arc<AtomicBool>,
    /// Second signal: abandon loads and exit at once without committing.
    pub hard_stop: Arc<AtomicBool>,
    /// `SIGHUP`: read the job file again (the control thread clears it).
    pub reload: Arc<AtomicBool>,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    pub rows_loaded: u64,
    pub bytes_loaded: u64,
    pub messages: u64,
    pub peak_memory: u64,
    pub error: Option<String>,
    /// Per target table, by name.
    pub tables: Vec<TableSummary>,
}

/// What a run did to one target table.
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub table: String,
    pub loads: u64,
    pub rows_upserted: u64,
    pub rows_deleted: u64,
    pub bytes: u64,
    pub last_error: Option<String>,
}

/// Runs the engine until a stop signal, a fatal error, or — with [`RunUntil::End`] — the end
/// offsets every partition of the subscription had at start. `job_file` is read again on a
/// reload (`SIGHUP`, `POST /reload`).
pub fn run(
    config: Config,
    job_file: Option<std::path::PathBuf>,
    until: RunUntil,
    signals: StopSignals,
) -> anyhow::Result<RunSummary> {
    preflight(&config)?;
    let config = Arc::new(config);
    let shared = Shared::new(Arc::clone(&config), job_file, signals.hard_stop)?;
    check_explicit_targets(&shared)?;
    let admin = match &config.admin {
        Some(a) => Some(Admin::start(Arc::clone(&shared), &a.listen)?),
        None => None,
    };
    let monitor = Monitor::start(Arc::clone(&shared));
    let watchdog = StopWatchdog::start(Arc::clone(&shared), Arc::clone(&signals.stop));
    let consumed = source::run(Arc::clone(&shared), until, signals.stop, signals.reload);
    shared.tables.close();
    if let Some(dl) = &shared.dead_letters {
        dl.flush(Duration::from_secs(30));
    }
    watchdog.finish();
    monitor.finish();
    consumed?;
    let summary = summarize(&shared);
    announce_end(&shared, &summary);
    if let Some(admin) = admin {
        admin.finish();
    }
    Ok(summary)
}

fn summarize(shared: &Shared) -> RunSummary {
    let m = &shared.metrics;
    let tables = m
        .tables()
        .into_iter()
        .map(|(table, s)| TableSummary {
            table,
            loads: s.loads,
            rows_upserted: s.rows_upserted,
            rows_deleted: s.rows_deleted,
            bytes: s.bytes,
            last_error: s.last_error,
        })
        .collect();
    RunSummary {
        rows_loaded: m.rows_loaded.load(Ordering::Relaxed),
        bytes_loaded: m.bytes_loaded.load(Ordering::Relaxed),
        messages: m.messages.load(Ordering::Relaxed),
        peak_memory: shared.budget.peak(),
        error: shared.fatal.message(),
        tables,
    }
}

/// The job is down: the metrics say so and the `stopped` alert (or `failed`, raised when it
/// happened) is sent before the process ends.
fn announce_end(shared: &Shared, summary: &RunSummary) {
    shared.metrics.set_down();
    if summary.error.is_none() {
        let message = format!(
            "stopped after loading {} rows from {} messages",
            summary.rows_loaded, summary.messages
        );
        shared.alerts.raise(AlertEvent::Stopped, "job", &message);
    }
    shared.alerts.finish();
}

/// Runs `starpipe check`'s checks before anything starts and logs each. A StarRocks check
/// that fails stops the run, listing every failure: nothing could be loaded. A Kafka check
/// that fails is reported only: the consumer waits for the brokers, as it always did — unless
/// the brokers refused the job's credentials or TLS settings, which waiting does not fix.
fn preflight(config: &Config) -> anyhow::Result<()> {
    use crate::check::{self, CheckOptions, System};
    let results = check::run_all(config, &CheckOptions::for_job(config));
    for r in &results {
        match (&r.outcome, r.system) {
            (Ok(_), _) => tracing::info!("check: {r}"),
            (Err(_), System::Kafka) => tracing::warn!("check: {r}"),
            (Err(_), System::StarRocks) => tracing::error!("check: {r}"),
        }
    }
    let refused = results.iter().any(|r| r.refused());
    let unusable = results
        .iter()
        .any(|r| r.system == System::StarRocks && !r.passed());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.refused() || (r.system == System::StarRocks && !r.passed()))
        .map(ToString::to_string)
        .collect();
    let what = match (refused, unusable) {
        (true, true) => "Kafka refused the job's connection and StarRocks is not usable",
        (true, false) => "Kafka refused the job's connection (credentials or TLS)",
        _ => "StarRocks is not usable",
    };
    anyhow::ensure!(
        failed.is_empty(),
        "{what}; failed checks:\n{}",
        failed.join("\n")
    );
    Ok(())
}

/// Reads the targets of `[[tables]]` entries without globs before consuming anything, so a
/// missing (unless `autoCreateTable` creates it) or non-Primary-Key target stops the job at once.
fn check_explicit_targets(shared: &Shared) -> anyhow::Result<()> {
    let config = shared.config();
    for route in &config.tables {
        if !route.source().contains(['*', '?', '[']) {
            let (db, table) = route
                .source()
                .split_once('.')
                .unwrap_or(("", route.source()));
            match shared.tables.get(&config.route(db, table)) {
                Err(catalog::CatalogError::Missing(_)) if config.target.ddl.auto_create_table => {}
                found => {
                    found?;
                }
            }
        }
    }
    Ok(())
}
