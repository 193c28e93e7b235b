//! `TableFlusher`: one thread per target table. It gathers the blocks partition workers send
//! and loads them as one batch at a time (one load in flight per table, invariant 2): the batch
//! keeps the last operation per key and loads in one body, or two when some rows are JSON (its
//! CSV rows, then its JSON rows), and only a loaded batch completes the blocks' receipts (their
//! offsets may then be committed, their memory is free — invariants 1 and 3).
//!
//! Triggers: batch bytes ≥ the target size, batch age ≥ the interval (both from
//! [`BatchSizer`], which adapts them to how StarRocks answers), memory pressure, an explicit
//! flush request (revocation, stop), a block encoded with another schema.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::alerts::Alerts;
use super::batch::{Adjustment, BatchSizer, LoadOutcome, PendingBatches, PendingSlot};
use super::blocks::Block;
use super::body::{BatchBody, RowRef, parts, row_json};
use super::deadletter::{DeadLetterSink, RejectedRow, RejectedRows};
use super::isolate::Isolation;
use super::label::{RunId, label, sub_label};
use super::load::{
    BodySource, Feedback, FilteredRows, LoadError, LoadRequest, LoadService, Loaded,
    sleep_unless_stopped,
};
use super::memory::MemoryBudget;
use super::metrics::LoadDone;
use super::tables::FlusherFactory;
use super::{Fatal, Metrics};
use crate::config::AlertEvent;
use crate::encode::{BodyFormat, EncodeError};
use crate::schema::TargetTable;

/// The longest a flusher sleeps before re-checking its triggers.
const TICK: Duration = Duration::from_millis(100);

/// What travels on a flusher's channel.
pub(crate) enum FlushItem {
    Block(Block),
    /// Load everything received before this item, then answer.
    Flush(Sender<()>),
}

/// Settings shared by all flushers.
#[derive(Debug, Clone)]
pub(crate) struct FlushSettings {
    /// Names the job in labels (the consumer group).
    pub job: String,
    /// Names the run in labels: labels never repeat across runs.
    pub run: RunId,
    pub batch_bytes: u64,
    pub interval: Duration,
    pub pause: Duration,
}

/// What every flusher shares with the engine.
pub(crate) struct FlushContext {
    pub loader: Box<dyn LoadService>,
    pub budget: Arc<MemoryBudget>,
    /// Every flusher's pending batch size (largest first under pressure).
    pub pending: PendingBatches,
    pub settings: FlushSettings,
    pub fatal: Arc<Fatal>,
    /// Second signal: abandon loads.
    pub hard_stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub dead_letters: Option<Arc<dyn DeadLetterSink>>,
    pub alerts: Arc<Alerts>,
}

/// Starts a [`TableFlusher`] thread per table.
pub(crate) struct FlusherThreads(pub Arc<FlushContext>);

impl FlusherFactory for FlusherThreads {
    fn start(&self, table: Arc<TargetTable>, items: Receiver<FlushItem>) -> JoinHandle<()> {
        let flusher = TableFlusher::new(table, items, Arc::clone(&self.0));
        std::thread::Builder::new()
            .name(format!("flush-{}", flusher.table.table))
            .spawn(move || flusher.run())
            .expect("spawn flusher thread")
    }
}

/// Why a batch did not load.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlushError {
    #[error("{0}")]
    Encode(#[from] EncodeError),
    #[error("{0}")]
    Load(#[from] LoadError),
}

/// One load of a batch that loaded.
struct PartLoaded {
    attempts: u32,
    /// Rows StarRocks rejected, loaded around (`onError = "deadLetter"`).
    rejected: Option<RejectedRows>,
}

/// A batch that loaded.
struct BatchLoaded {
    /// The most attempts one of its loads took.
    attempts: u32,
    outcome: LoadOutcome,
    /// Rows StarRocks rejected, loaded around (`onError = "deadLetter"`).
    rejected: Option<RejectedRows>,
}

pub(crate) struct TableFlusher {
    table: Arc<TargetTable>,
    /// `db.table`, the metrics' label.
    name: String,
    items: Receiver<FlushItem>,
    ctx: Arc<FlushContext>,
    batch: Vec<Block>,
    batch_bytes: u64,
    opened: Option<Instant>,
    sizer: BatchSizer,
    /// This flusher's entry in [`FlushContext::pending`].
    pending: PendingSlot,
    /// Rows of this table failed to load: nothing later may overtake them (the engine stops).
    failed: bool,
}

impl TableFlusher {
    pub(crate) fn new(
        table: Arc<TargetTable>,
        items: Receiver<FlushItem>,
        ctx: Arc<FlushContext>,
    ) -> Self {
        let s = &ctx.settings;
        TableFlusher {
            name: table.to_string(),
            sizer: BatchSizer::new(s.interval, s.batch_bytes, ctx.budget.limit()),
            pending: ctx.pending.slot(),
            table,
            items,
            ctx,
            batch: Vec::new(),
            batch_bytes: 0,
            opened: None,
            failed: false,
        }
    }

    /// Runs until every sender is gone, loading what is left.
    pub(crate) fn run(mut self) {
        loop {
            let first = self.items.recv_timeout(self.wait());
            if let Err(RecvTimeoutError::Disconnected) = first {
                self.flush();
                return;
            }
            if let Ok(item) = first {
                self.take(item);
                // Drain what already waits before deciding: several blocks make one load.
                while let Ok(item) = self.items.try_recv() {
                    self.take(item);
                }
            }
            if self.due() {
                self.flush();
            }
        }
    }

    fn take(&mut self, item: FlushItem) {
        match item {
            FlushItem::Block(b) => self.accept(b),
            FlushItem::Flush(ack) => {
                self.flush();
                let _ = ack.send(());
            }
        }
    }

    /// How long to wait for the next item before re-checking the triggers.
    fn wait(&self) -> Duration {
        match self.opened {
            Some(t) => self.sizer.interval().saturating_sub(t.elapsed()).min(TICK),
            None => TICK,
        }
    }

    fn accept(&mut self, b: Block) {
        if !Arc::ptr_eq(&b.schema, &self.table) && *b.schema != *self.table {
            // The schema changed (DDL), or the rows are a partial update of other columns: rows
            // of one load share one column list.
            self.flush();
            self.table = Arc::clone(&b.schema);
            self.name = self.table.to_string();
        } else if b.rows.byte_size() as u64 >= self.sizer.target_bytes() {
            // A block as large as a batch (e.g. one message larger than the budget): what came
            // before loads first, the block alone.
            self.flush();
        }
        self.batch_bytes += b.rows.byte_size() as u64;
        self.pending.set(self.batch_bytes);
        self.ctx.metrics.pending(&self.name, self.batch_bytes);
        self.opened.get_or_insert_with(Instant::now);
        self.batch.push(b);
    }

    fn due(&self) -> bool {
        self.batch_bytes >= self.sizer.target_bytes()
            || self
                .opened
                .is_some_and(|t| t.elapsed() >= self.sizer.interval())
            || (self.ctx.budget.under_pressure()
                && (self.ctx.pending)
                    .loads_under_pressure(self.batch_bytes, self.ctx.budget.limit()))
    }

    /// Loads the batch, then settles its receipts. Blocks of a revoked partition are dropped
    /// before every attempt; a batch that loses blocks that way is rebuilt without them.
    fn flush(&mut self) {
        if self.batch.is_empty() || self.failed || self.ctx.hard_stop.load(Ordering::Relaxed) {
            return;
        }
        let mut blocks = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.pending.set(0);
        self.ctx.metrics.pending(&self.name, 0);
        self.opened = None;
        loop {
            blocks = drop_fenced(blocks);
            if blocks.is_empty() {
                return;
            }
            let loading = self.ctx.pending.loading();
            let result = self.load(&blocks);
            drop(loading);
            match result {
                Err(FlushError::Load(LoadError::Abandoned { .. })) if !self.stopping() => {}
                Ok(done) => return self.settle(blocks, done),
                Err(e) => return self.give_up(blocks, e),
            }
        }
    }

    fn stopping(&self) -> bool {
        self.ctx.hard_stop.load(Ordering::Relaxed)
    }

    /// Whether the load of `blocks` must stop before its next attempt: the engine stops, or a
    /// block's partition was revoked (the batch is then rebuilt without it).
    fn abandon(&self, blocks: &[Block]) -> bool {
        self.stopping() || blocks.iter().any(|b| b.pending.is_fenced())
    }

    /// Loads the batch: its CSV rows, then its JSON rows, each a load (`body::parts`); rows
    /// StarRocks rejects are loaded around with `onError = "deadLetter"`.
    fn load(&self, blocks: &[Block]) -> Result<BatchLoaded, FlushError> {
        let started = Instant::now();
        let settings = &self.ctx.settings;
        let batch_label = label(&settings.job, &settings.run, &self.table, blocks);
        let parts = parts(blocks);
        let kept: usize = parts.iter().map(|(_, rows)| rows.len()).sum();
        let collapsed = blocks.iter().map(|b| b.rows.len()).sum::<usize>() - kept;
        tracing::debug!(table = %self.table, label = %batch_label, kept, collapsed, "batch");
        let mut feedback = Feedback::default();
        let (mut attempts, mut rejected) = (0, None::<RejectedRows>);
        for (i, (format, rows)) in parts.into_iter().enumerate() {
            // The first load carries the batch's label, so that it always names a real load;
            // a second one derives its own from it.
            let label = match i {
                0 => batch_label.clone(),
                _ => sub_label(&batch_label, "json"),
            };
            let part = self.load_part(blocks, format, rows, &label, &mut feedback)?;
            attempts = attempts.max(part.attempts);
            rejected = match (rejected, part.rejected) {
                (Some(mut all), Some(more)) => {
                    all.append(more);
                    Some(all)
                }
                (all, more) => all.or(more),
            };
        }
        if let Some(r) = &mut rejected {
            r.label = batch_label;
        }
        self.note_retries(&feedback);
        Ok(BatchLoaded {
            attempts,
            outcome: LoadOutcome {
                pressure: feedback.pressure,
                took: started.elapsed(),
            },
            rejected,
        })
    }

    /// Loads `rows` of the batch, all of `format`, in one body under `label`.
    fn load_part(
        &self,
        blocks: &[Block],
        format: BodyFormat,
        rows: Vec<RowRef>,
        label: &str,
        feedback: &mut Feedback,
    ) -> Result<PartLoaded, FlushError> {
        let started = Instant::now();
        // Written from the blocks while it is sent: no second copy of the batch to count.
        let body = BatchBody::of_rows(&self.table, blocks, format, rows)?;
        let request = LoadRequest::new(
            &self.table,
            label,
            &body.headers,
            &body,
            FilteredRows::Reject,
        );
        let abandon = || self.abandon(blocks);
        let (loaded, rejected) = match self.ctx.loader.load(&request, &abandon, feedback) {
            Err(LoadError::Data { message, .. }) if self.ctx.dead_letters.is_some() => {
                let part = (format, body.row_refs());
                let isolated =
                    self.load_without_rejected(blocks, part, label, &abandon, feedback)?;
                let rejected = isolated.1.as_ref().map_or(0, |r| r.rows.len());
                tracing::warn!(
                    table = %self.table, %label, rejected,
                    "rows rejected by StarRocks ({message}) sent to the dead-letter topic"
                );
                let note =
                    format!("{rejected} rows rejected by StarRocks ({message}), dead-lettered");
                self.ctx
                    .alerts
                    .raise(AlertEvent::Filtered, &self.name, &note);
                isolated
            }
            result => (result?, None),
        };
        let rows = match rejected {
            // Parts loaded around the rejected rows: StarRocks' own count.
            Some(_) => loaded.loaded_rows,
            None => body.rows() as u64,
        };
        self.count(label, rows, &body, &loaded, started.elapsed());
        Ok(PartLoaded {
            attempts: loaded.attempts,
            rejected,
        })
    }

    /// Loads the rows of a part of a batch that StarRocks accepts and returns the rejected ones,
    /// each found by loading parts of those rows (`isolate.rs`).
    fn load_without_rejected(
        &self,
        blocks: &[Block],
        (format, rows): (BodyFormat, &[RowRef]),
        label: &str,
        abandon: &dyn Fn() -> bool,
        feedback: &mut Feedback,
    ) -> Result<(Loaded, Option<RejectedRows>), FlushError> {
        let started = Instant::now();
        let loader = &*self.ctx.loader;
        let isolation = Isolation::new(
            loader,
            &self.table,
            blocks,
            format,
            label,
            abandon,
            feedback,
        );
        let (rejected, loaded_rows) = isolation.run(rows)?;
        let loaded = Loaded {
            status: "Success".into(),
            loaded_rows: loaded_rows as u64,
            rejected: None,
            attempts: 1,
            took: started.elapsed(),
        };
        if rejected.is_empty() {
            // Every part loaded: the rejection did not come back (a transient answer).
            return Ok((loaded, None));
        }
        let rows = rejected
            .iter()
            .map(|r| RejectedRow {
                row: row_json(&self.table, blocks, r.row),
                reason: r.reason.clone(),
                isolated: r.isolated,
            })
            .collect();
        let rejected = RejectedRows {
            table: self.table.to_string(),
            label: label.to_string(),
            ranges: ranges(blocks),
            rows,
        };
        Ok((loaded, Some(rejected)))
    }

    fn count(&self, label: &str, rows: u64, body: &BatchBody, loaded: &Loaded, took: Duration) {
        let deletes = (body.deletes as u64).min(rows);
        self.ctx.metrics.loaded(
            &self.name,
            LoadDone {
                upserts: rows - deletes,
                deletes,
                bytes: body.size(),
                took,
            },
        );
        tracing::debug!(
            table = %self.table, label, rows,
            bytes = body.size(), status = %loaded.status, attempts = loaded.attempts,
            ms = loaded.took.as_millis() as u64, "loaded"
        );
    }

    /// Failed attempts of a load are counted, and the last reason kept for `/status`.
    fn note_retries(&self, feedback: &Feedback) {
        for _ in 0..feedback.retries {
            self.ctx.metrics.load_retried(&self.name);
        }
    }

    /// The batch loaded: its offsets may be committed (or wait for their dead letters).
    fn settle(&mut self, blocks: Vec<Block>, done: BatchLoaded) {
        for b in &blocks {
            self.ctx.metrics.fresh(&b.timestamps);
        }
        match (done.rejected, &self.ctx.dead_letters) {
            (Some(rows), Some(dl)) => {
                let claims = blocks.into_iter().map(|b| b.pending.into_claim()).collect();
                dl.send_rejected(&rows, claims);
            }
            _ => blocks.into_iter().for_each(|b| b.pending.complete()),
        }
        if !self.ctx.settings.pause.is_zero() {
            sleep_unless_stopped(self.ctx.settings.pause, &self.ctx.hard_stop);
        }
        self.adapt(done.outcome, done.attempts);
    }

    /// The batch will never load: the engine stops, committing nothing past it.
    fn give_up(&mut self, blocks: Vec<Block>, e: FlushError) {
        self.failed = true;
        self.ctx.metrics.load_failed(&self.name, &e.to_string());
        let ranges = ranges(&blocks);
        blocks.into_iter().for_each(|b| b.pending.fail());
        self.ctx
            .fatal
            .set(format!("loading {} failed ({ranges}): {e}", self.table));
    }

    fn adapt(&mut self, outcome: LoadOutcome, attempts: u32) {
        let change = self.sizer.observe(outcome);
        let (interval_ms, batch_bytes) = (
            self.sizer.interval().as_millis() as u64,
            self.sizer.target_bytes(),
        );
        match change {
            Some(Adjustment::Larger) => tracing::info!(
                table = %self.table, interval_ms, batch_bytes, pressure = outcome.pressure,
                load_ms = outcome.took.as_millis() as u64, attempts,
                "StarRocks is slow or under version pressure: larger, fewer loads"
            ),
            Some(Adjustment::Smaller) => tracing::info!(
                table = %self.table, interval_ms, batch_bytes,
                "StarRocks healthy again: stepping back toward the configured batching"
            ),
            None => {}
        }
    }
}

/// The blocks whose partition is still ours; the others are dropped (their offsets stay
/// uncommitted: the partition's new owner replays them).
fn drop_fenced(blocks: Vec<Block>) -> Vec<Block> {
    let (fenced, live): (Vec<Block>, Vec<Block>) =
        blocks.into_iter().partition(|b| b.pending.is_fenced());
    for b in fenced {
        let lease = b.pending.lease();
        tracing::info!(
            partition = %lease.partition(), epoch = lease.epoch(),
            first = b.offsets.start(), last = b.offsets.end(),
            "rows of a revoked partition dropped (its new owner loads them)"
        );
        b.pending.fail();
    }
    live
}

/// The batch's source ranges, `topic[p] first..=last, …`, for messages and dead letters.
fn ranges(blocks: &[Block]) -> String {
    let mut parts: Vec<String> = blocks
        .iter()
        .map(|b| {
            let (first, last) = (b.offsets.start(), b.offsets.end());
            format!("{} {first}..={last}", b.partition)
        })
        .collect();
    parts.sort();
    parts.dedup();
    parts.join(", ")
}

#[cfg(test)]
mod tests;
