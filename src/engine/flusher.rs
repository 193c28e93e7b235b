//! `TableFlusher`: one thread per target table. It gathers the blocks partition workers send,
//! keeps the last operation per key (invariant 2), and loads the batch with one Stream Load at a
//! time; only a successful load releases the batch's memory and completes its offsets
//! (invariant 1).
//!
//! Triggers: batch bytes ≥ the target size (`flushBatchMb`), batch age ≥ the interval
//! (`asyncFlushIntervalSec`), memory pressure, an explicit flush request (revocation, stop).
//! Adaptation (engine.md §4): version/transaction pressure or a load slower than half the
//! interval multiplies interval and size by 1.5 up to a ceiling; a run of healthy loads steps
//! back toward the configured values. Every adjustment is logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::deadletter::DeadLetters;
use super::load::{Feedback, LoadError, LoadRequest, StreamLoader};
use super::memory::MemoryBudget;
use super::offsets::OffsetTracker;
use super::{Fatal, Metrics};
use crate::encode::{BodyBuilder, BodyFormat, EncodedBlock};
use crate::schema::TargetTable;

/// Rows of one (partition, table) over a contiguous offset range: the unit a worker hands over.
#[derive(Debug)]
pub struct Block {
    pub topic: Arc<str>,
    pub partition: i32,
    /// Offset of the first message with rows in this block (outstanding in `tracker`).
    pub first: i64,
    pub last: i64,
    pub rows: EncodedBlock,
    /// The target schema the rows were encoded with.
    pub schema: Arc<TargetTable>,
    /// Bytes reserved in the memory budget for this block.
    pub reserved: u64,
    pub tracker: Arc<OffsetTracker>,
}

/// What travels on a flusher's channel.
pub enum FlushItem {
    Block(Block),
    /// Load everything received before this item, then answer.
    Flush(Sender<()>),
}

/// Settings shared by all flushers.
#[derive(Debug, Clone)]
pub struct FlushSettings {
    /// Names the job in labels (the consumer group).
    pub job: String,
    pub batch_bytes: u64,
    pub interval: Duration,
    pub pause: Duration,
}

/// What every flusher shares with the engine.
pub struct FlushContext {
    pub loader: StreamLoader,
    pub budget: Arc<MemoryBudget>,
    pub settings: FlushSettings,
    pub fatal: Arc<Fatal>,
    /// Second signal: abandon loads.
    pub hard_stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub dead_letters: Option<Arc<DeadLetters>>,
}

pub struct TableFlusher {
    table: Arc<TargetTable>,
    rx: Receiver<FlushItem>,
    ctx: Arc<FlushContext>,
    batch: Vec<Block>,
    batch_bytes: u64,
    opened: Option<Instant>,
    interval: Duration,
    target_bytes: u64,
    healthy_run: u32,
    /// Blocks whose rows StarRocks rejected: never loaded, never committed past.
    failed: bool,
}

impl TableFlusher {
    pub fn new(table: Arc<TargetTable>, rx: Receiver<FlushItem>, ctx: Arc<FlushContext>) -> Self {
        TableFlusher {
            interval: ctx.settings.interval,
            target_bytes: ctx.settings.batch_bytes,
            table,
            rx,
            ctx,
            batch: Vec::new(),
            batch_bytes: 0,
            opened: None,
            healthy_run: 0,
            failed: false,
        }
    }

    /// Runs until every sender is gone, loading what is left.
    pub fn run(mut self) {
        loop {
            let wait = match self.opened {
                Some(t) => self.interval.saturating_sub(t.elapsed()),
                None => Duration::from_millis(100),
            }
            .min(Duration::from_millis(100));
            match self.rx.recv_timeout(wait) {
                Ok(FlushItem::Block(b)) => {
                    if !Arc::ptr_eq(&b.schema, &self.table) {
                        // The schema changed (DDL): rows of one load share one column list.
                        self.flush();
                        self.table = Arc::clone(&b.schema);
                    } else if !self.fits_batch(&b) {
                        // A JSON block cannot share a body with a CSV block that JSON cannot
                        // carry: load what came before first (loads stay in order).
                        self.flush();
                    }
                    self.batch_bytes += b.rows.byte_size() as u64;
                    self.opened.get_or_insert_with(Instant::now);
                    self.batch.push(b);
                }
                Ok(FlushItem::Flush(ack)) => {
                    self.flush();
                    let _ = ack.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
            let due = self.batch_bytes >= self.target_bytes
                || self.opened.is_some_and(|t| t.elapsed() >= self.interval)
                || (!self.batch.is_empty() && self.ctx.budget.under_pressure());
            if due {
                self.flush();
            }
        }
    }

    /// Whether `b` can share a load body with the current batch (`BodyFormat::combine`).
    fn fits_batch(&self, b: &Block) -> bool {
        let format = self
            .batch
            .iter()
            .fold(b.rows.format(), |f, x| f.combine(x.rows.format()));
        format == BodyFormat::Csv
            || (b.rows.json_compatible() && self.batch.iter().all(|x| x.rows.json_compatible()))
    }

    fn flush(&mut self) {
        if self.batch.is_empty() || self.ctx.hard_stop.load(Ordering::Relaxed) {
            return;
        }
        if self.failed {
            // Rows of this table were rejected and the engine is stopping: later rows must not
            // overtake them (their offsets stay uncommitted and are replayed).
            return;
        }
        let blocks = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.opened = None;
        match self.load(&blocks) {
            Ok(()) => {
                let mut reserved = 0;
                for b in &blocks {
                    reserved += b.reserved;
                    b.tracker.complete(b.first);
                }
                self.ctx.budget.release(reserved);
                if !self.ctx.settings.pause.is_zero() {
                    super::load::sleep_unless_stopped(self.ctx.settings.pause, &self.ctx.hard_stop);
                }
            }
            Err(e) => {
                self.failed = true;
                let reserved: u64 = blocks.iter().map(|b| b.reserved).sum();
                self.ctx.budget.release(reserved);
                let ranges = ranges(&blocks);
                self.ctx.fatal.set(format!(
                    "loading {} failed ({ranges}): {e}",
                    display(&self.table)
                ));
            }
        }
    }

    fn load(&mut self, blocks: &[Block]) -> Result<(), LoadError> {
        let started = Instant::now();
        let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
        let (keep, kept) = collapse(blocks);
        let format = blocks
            .iter()
            .fold(BodyFormat::Csv, |f, b| f.combine(b.rows.format()));
        let mut body = BodyBuilder::new(&self.table, format).map_err(|e| LoadError::Permanent {
            label: String::new(),
            message: e.to_string(),
        })?;
        for (bi, b) in blocks.iter().enumerate() {
            for (ri, span) in b.rows.rows().iter().enumerate() {
                if keep[bi][ri] {
                    body.push_span(&b.rows, span)
                        .map_err(|e| LoadError::Permanent {
                            label: String::new(),
                            message: e.to_string(),
                        })?;
                }
            }
        }
        let mut headers = body.headers();
        headers.push(("max_filter_ratio", "0".into()));
        let body = body.finish();
        // The body is a second copy of the batch while it loads: count it, so workers wait
        // for it too and the process stays near the budget (it never waits: the blocks it
        // copies are already reserved, and only this load frees them).
        let body_bytes = body.capacity() as u64;
        self.ctx.budget.force_reserve(body_bytes);
        let _release = ReleaseOnDrop(Arc::clone(&self.ctx.budget), body_bytes);
        let label = label(&self.ctx.settings.job, &self.table, blocks);
        let mut feedback = Feedback::default();
        let mut request = LoadRequest {
            db: &self.table.db,
            table: &self.table.table,
            label: &label,
            headers: &headers,
            body: &body,
            accept_filtered: false,
        };
        let first_try = self
            .ctx
            .loader
            .load(&request, &self.ctx.hard_stop, &mut feedback);
        let loaded = match (first_try, &self.ctx.dead_letters) {
            (Err(LoadError::Data { message, .. }), Some(dl)) => {
                // onError = deadLetter: load the good rows under a new label (new content as far
                // as StarRocks is concerned) and dead-letter the rejected ones. The batch's
                // offsets stay outstanding until the dead letter is acknowledged.
                let retry_label = format!("{label}-f");
                let mut lenient = headers.clone();
                lenient.retain(|(k, _)| *k != "max_filter_ratio");
                lenient.push(("max_filter_ratio", "1".into()));
                request.label = &retry_label;
                request.headers = &lenient;
                request.accept_filtered = true;
                let loaded = self
                    .ctx
                    .loader
                    .load(&request, &self.ctx.hard_stop, &mut feedback)?;
                let rejected = loaded.rejected.clone().unwrap_or_default();
                tracing::warn!(
                    table = %display(&self.table), label = %retry_label,
                    "rows rejected by StarRocks ({message}) sent to the dead-letter topic"
                );
                let completions = blocks
                    .iter()
                    .map(|b| {
                        b.tracker.open(b.first);
                        (Arc::clone(&b.tracker), b.first)
                    })
                    .collect();
                dl.send_rejected(
                    &display(&self.table),
                    &retry_label,
                    &ranges(blocks),
                    &rejected,
                    completions,
                );
                loaded
            }
            (result, _) => result?,
        };
        self.ctx
            .metrics
            .rows_loaded
            .fetch_add(kept as u64, Ordering::Relaxed);
        self.ctx
            .metrics
            .bytes_loaded
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.ctx.metrics.loads.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            table = %display(&self.table), %label, rows = kept, collapsed = total - kept,
            bytes = body.len(), status = %loaded.status, attempts = loaded.attempts,
            ms = loaded.took.as_millis() as u64, "loaded"
        );
        self.adapt(feedback, started.elapsed());
        Ok(())
    }

    fn adapt(&mut self, feedback: Feedback, took: Duration) {
        let base_interval = self.ctx.settings.interval;
        let base_bytes = self.ctx.settings.batch_bytes;
        if feedback.pressure || took > self.interval / 2 {
            self.healthy_run = 0;
            let interval = (self.interval.mul_f64(1.5)).min(base_interval * 8);
            // Bigger batches, but a batch and its body copy must stay well inside the budget.
            let ceiling = (base_bytes * 4)
                .min(self.ctx.budget.limit() / 4)
                .max(base_bytes);
            let bytes = ((self.target_bytes as f64 * 1.5) as u64).min(ceiling);
            if interval != self.interval || bytes != self.target_bytes {
                tracing::info!(
                    table = %display(&self.table),
                    interval_ms = interval.as_millis() as u64, batch_bytes = bytes,
                    pressure = feedback.pressure, load_ms = took.as_millis() as u64,
                    "StarRocks is slow or under version pressure: larger, fewer loads"
                );
                self.interval = interval;
                self.target_bytes = bytes;
            }
        } else {
            self.healthy_run += 1;
            if self.healthy_run >= 10
                && (self.interval > base_interval || self.target_bytes > base_bytes)
            {
                self.healthy_run = 0;
                self.interval = self.interval.div_f64(1.5).max(base_interval);
                self.target_bytes = ((self.target_bytes as f64 / 1.5) as u64).max(base_bytes);
                tracing::info!(
                    table = %display(&self.table),
                    interval_ms = self.interval.as_millis() as u64, batch_bytes = self.target_bytes,
                    "StarRocks healthy again: stepping back toward the configured batching"
                );
            }
        }
    }
}

/// Releases budget bytes when dropped (the load body, whatever way the load ends).
struct ReleaseOnDrop(Arc<MemoryBudget>, u64);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// Keeps the last operation per key across the batch (a delete is an operation): walks the
/// rows backwards and keeps the first row seen for each key (hash first, bytes to confirm).
/// Rows of different keys keep their relative order. Returns the keep mask and its count.
pub(crate) fn collapse(blocks: &[Block]) -> (Vec<Vec<bool>>, usize) {
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    let mut seen: HashMap<u64, Vec<(usize, usize)>> = HashMap::with_capacity(total);
    let mut keep: Vec<Vec<bool>> = blocks.iter().map(|b| vec![false; b.rows.len()]).collect();
    let mut kept = 0usize;
    for (bi, b) in blocks.iter().enumerate().rev() {
        for (ri, span) in b.rows.rows().iter().enumerate().rev() {
            let key = b.rows.key_bytes(span);
            let same = seen.entry(span.key_hash).or_default();
            if same
                .iter()
                .any(|&(ob, or)| blocks[ob].rows.key_bytes(&blocks[ob].rows.rows()[or]) == key)
            {
                continue;
            }
            same.push((bi, ri));
            keep[bi][ri] = true;
            kept += 1;
        }
    }
    (keep, kept)
}

fn display(t: &TargetTable) -> String {
    format!("{}.{}", t.db, t.table)
}

fn ranges(blocks: &[Block]) -> String {
    let mut parts: Vec<String> = blocks
        .iter()
        .map(|b| format!("{}[{}] {}..={}", b.topic, b.partition, b.first, b.last))
        .collect();
    parts.sort();
    parts.dedup();
    parts.join(", ")
}

/// A deterministic label: the same batch (same job, table and offset ranges) always gets the same
/// label, so a retry — even after a restart that rebuilds the same batch — is recognised by
/// StarRocks. Labels allow `[-_A-Za-z0-9]`, at most 128 characters.
pub(crate) fn label(job: &str, table: &TargetTable, blocks: &[Block]) -> String {
    let mut ranges: Vec<(&str, i32, i64, i64)> = blocks
        .iter()
        .map(|b| (&*b.topic, b.partition, b.first, b.last))
        .collect();
    ranges.sort();
    let mut h = Fnv::default();
    h.write(job.as_bytes());
    h.write(table.db.as_bytes());
    h.write(table.table.as_bytes());
    for (t, p, f, l) in &ranges {
        h.write(t.as_bytes());
        h.write(&p.to_le_bytes());
        h.write(&f.to_le_bytes());
        h.write(&l.to_le_bytes());
    }
    let readable: String = format!("sp-{}-{}", table.table, ranges.first().map_or(0, |r| r.2))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{readable}-{:016x}", h.finish())
}

/// FNV-1a, 64 bit: stable across processes and versions (unlike `DefaultHasher`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        // Separate fields so ("ab","c") and ("a","bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x100_0000_01b3);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::BodyEncoder;
    use crate::model::{ChangeOp, Column, Value, ValueKind};
    use crate::schema::{StarRocksType, TableModel, TargetColumn};

    fn table() -> TargetTable {
        TargetTable::new(
            "db",
            "t",
            vec![
                TargetColumn::new("id", StarRocksType::parse("int").unwrap(), false, true),
                TargetColumn::new(
                    "v",
                    StarRocksType::parse("varchar(10)").unwrap(),
                    true,
                    false,
                ),
            ],
            TableModel::PrimaryKeys,
        )
        .unwrap()
    }

    fn block(rows: &[(ChangeOp, &str, &str)], first: i64) -> Block {
        let t = table();
        let mut enc = BodyEncoder::new(&t).unwrap();
        for (op, id, v) in rows {
            let cols = [
                Column {
                    name: "id",
                    kind: ValueKind::Integer,
                    value: Value::Text(id),
                },
                Column {
                    name: "v",
                    kind: ValueKind::Text,
                    value: Value::Text(v),
                },
            ];
            enc.push_row(*op, cols).unwrap();
        }
        Block {
            topic: Arc::from("t"),
            partition: 0,
            first,
            last: first + rows.len() as i64 - 1,
            rows: enc.take_block(None),
            schema: Arc::new(table()),
            reserved: 0,
            tracker: Arc::new(OffsetTracker::new(None)),
        }
    }

    #[test]
    fn last_op_per_key_wins_across_blocks() {
        use ChangeOp::*;
        // UPDATE A->B then B->A: DEL 1, UPS 2, DEL 2, UPS 1 => {1: UPS, 2: DEL} (formats.md 4.3).
        let blocks = [
            block(
                &[(Upsert, "1", "a"), (Delete, "1", "a"), (Upsert, "2", "b")],
                0,
            ),
            block(
                &[(Delete, "2", "b"), (Upsert, "1", "c"), (Upsert, "3", "x")],
                3,
            ),
        ];
        let (keep, kept) = collapse(&blocks);
        assert_eq!(kept, 3);
        assert_eq!(keep[0], vec![false, false, false]);
        assert_eq!(keep[1], vec![true, true, true]);
    }

    #[test]
    fn labels_are_deterministic_and_valid() {
        let t = table();
        let a = [block(&[(ChangeOp::Upsert, "1", "a")], 7)];
        let b = [block(&[(ChangeOp::Upsert, "1", "zzz")], 7)];
        let c = [block(&[(ChangeOp::Upsert, "1", "a")], 8)];
        assert_eq!(label("job", &t, &a), label("job", &t, &b));
        assert_ne!(label("job", &t, &a), label("job", &t, &c));
        assert_ne!(label("job", &t, &a), label("other", &t, &a));
        let l = label("job", &t, &a);
        assert!(
            l.len() <= 128
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
