//! Blocks: the rows of one (partition, target table) over a contiguous offset range, the unit a
//! partition worker hands to a table's flusher; and `OpenBlocks`, the blocks a worker is filling.
//!
//! A message touches one table, so it adds to at most one block, whole or not at all. A block is
//! handed over when it is [`BlockLimits::bytes`] large or [`BlockLimits::age`] old, when its
//! table's schema changed (rows of one load share one column list), when the worker must wait
//! for memory (no-deadlock rule, see `memory.rs`), and when its partition is revoked.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::gate::{GateHold, Stopped};
use super::lease::Lease;
use super::memory::{MemoryBudget, Reservation, Room};
use super::offsets::{OffsetClaim, OffsetTracker};
use super::receipt::Pending;
use super::record::Position;
use super::tables::TableHandle;
use super::worker::AssignedPartition;
use super::{Fatal, FlushItem};
use crate::decode::Change;
use crate::encode::{BodyEncoder, EncodeError, EncodeOptions, EncodedBlock, UnknownColumns};
use crate::schema::{SchemaError, TargetTable};

/// Memory is reserved in chunks to keep the budget's lock cold.
const RESERVE_CHUNK: u64 = 64 * 1024;

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PartitionId {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl PartitionId {
    pub(crate) fn new(topic: &str, partition: i32) -> Self {
        PartitionId {
            topic: Arc::from(topic),
            partition,
        }
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Which block a message's rows go to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    pub partition: PartitionId,
    /// `db.table` of the target.
    pub table: Arc<str>,
}

/// Rows handed to a flusher, with what they owe until loaded.
#[derive(Debug)]
pub(crate) struct Block {
    pub partition: PartitionId,
    /// Offsets of the first and the last message with rows in this block.
    pub offsets: RangeInclusive<i64>,
    pub rows: EncodedBlock,
    /// The target schema the rows were encoded with.
    pub schema: Arc<TargetTable>,
    pub pending: Pending,
    /// The Kafka timestamps of its messages (ms since the epoch), for freshness.
    pub timestamps: Vec<i64>,
}

/// When a block is handed over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockLimits {
    pub bytes: usize,
    pub age: Duration,
}

impl Default for BlockLimits {
    fn default() -> Self {
        BlockLimits {
            bytes: 1 << 20,
            age: Duration::from_millis(200),
        }
    }
}

/// Which of its table's columns a block's rows carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every column: full-row upserts.
    Full,
    /// These columns (the key among them), loaded as a partial update
    /// (`onMissingColumn = "partialUpdate"`, [`TargetTable::project`]).
    Partial(Vec<String>),
}

/// What appending a message's rows did.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub rows: u64,
    /// Unknown columns whose values `onUnknownColumn = "ignore"` dropped, each named once per
    /// block.
    pub new_unknown: Vec<String>,
    /// Values of unknown columns dropped.
    pub dropped_values: u64,
}

/// The block of one key being filled.
struct OpenBlock {
    encoder: BodyEncoder,
    shape: Shape,
    schema: Arc<TargetTable>,
    /// The table's schema generation the encoder was built for.
    generation: u64,
    table: Arc<TableHandle>,
    tracker: Arc<OffsetTracker>,
    lease: Arc<Lease>,
    memory: Reservation,
    filled: Option<Filled>,
    /// The table's gate, held while the block has rows.
    hold: Option<GateHold>,
}

/// Why a block could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// The target table cannot take rows (not a Primary Key table, no key).
    #[error("{0}")]
    Table(EncodeError),
    /// A partial update's columns are not a projection of the table (one was dropped meanwhile).
    #[error("{0}")]
    Projection(SchemaError),
    #[error("the engine stopped while a schema change of the table ran")]
    Stopped,
    /// The table was dropped or renamed while the worker waited at its gate.
    #[error("the target table was dropped or renamed")]
    Retired,
}

/// The engine's stop flags, for the waits of a worker.
#[derive(Clone, Copy)]
pub(crate) struct Stop<'a> {
    pub fatal: &'a Fatal,
    /// Second signal.
    pub hard: &'a AtomicBool,
}

impl Stop<'_> {
    pub(crate) fn now(&self) -> bool {
        self.fatal.is_set() || self.hard.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What an open block holds once it has rows.
struct Filled {
    offsets: RangeInclusive<i64>,
    claim: OffsetClaim,
    since: Instant,
    timestamps: Vec<i64>,
}

/// The blocks a worker is filling, by key.
pub(crate) struct OpenBlocks {
    open: HashMap<BlockKey, OpenBlock>,
    budget: Arc<MemoryBudget>,
    limits: BlockLimits,
    /// `onUnknownColumn`, as the encoders apply it.
    unknown: UnknownColumns,
}

impl OpenBlocks {
    pub(crate) fn new(
        budget: Arc<MemoryBudget>,
        limits: BlockLimits,
        unknown: UnknownColumns,
    ) -> Self {
        OpenBlocks {
            open: HashMap::new(),
            budget,
            limits,
            unknown,
        }
    }

    /// Makes sure `key` has a block encoding `shape` of the table's current schema, holding the
    /// table's gate (`gate.rs`); a block encoded with an older schema or another shape is handed
    /// over first (per key, rows load in order).
    /// While a schema change of the table runs, every open block is handed over and the worker
    /// waits for the change to end.
    pub(crate) fn open(
        &mut self,
        key: &BlockKey,
        table: &Arc<TableHandle>,
        shape: &Shape,
        partition: &AssignedPartition,
        stop: Stop<'_>,
    ) -> Result<(), OpenError> {
        if self.is_stale(key, table, shape) {
            self.send(key, stop.hard);
            self.open.remove(key);
        }
        if self.open.get(key).is_some_and(|b| b.hold.is_some()) {
            return Ok(());
        }
        let hold = self.hold(table, stop)?;
        if table.is_retired() {
            // Dropped or renamed while this worker waited: the caller routes again.
            return Err(OpenError::Retired);
        }
        if self.is_stale(key, table, shape) {
            // A schema change ended while this worker waited; the block has no rows.
            self.open.remove(key);
        }
        if !self.open.contains_key(key) {
            let block = self.new_block(table, shape, partition)?;
            self.open.insert(key.clone(), block);
        }
        self.open.get_mut(key).expect("opened").hold = Some(hold);
        Ok(())
    }

    /// An empty block encoding `shape` of `table`'s current schema.
    fn new_block(
        &self,
        table: &Arc<TableHandle>,
        shape: &Shape,
        partition: &AssignedPartition,
    ) -> Result<OpenBlock, OpenError> {
        // The schema with its generation, then the drift (noted before the generation moves).
        let (schema, generation) = table.snapshot();
        let schema = match shape {
            Shape::Full => schema,
            Shape::Partial(columns) => {
                Arc::new(schema.project(columns).map_err(OpenError::Projection)?)
            }
        };
        let drift = table.drift();
        let options = EncodeOptions {
            unknown: self.unknown,
            dropped: drift.dropped,
            added: drift.added,
        };
        Ok(OpenBlock {
            encoder: BodyEncoder::with_options(&schema, options).map_err(OpenError::Table)?,
            shape: shape.clone(),
            schema,
            generation,
            table: Arc::clone(table),
            tracker: Arc::clone(&partition.tracker),
            lease: Arc::clone(&partition.lease),
            memory: Reservation::empty(&self.budget),
            filled: None,
            hold: None,
        })
    }

    /// Whether `key`'s block was opened for an older schema of `table` or another shape.
    fn is_stale(&self, key: &BlockKey, table: &TableHandle, shape: &Shape) -> bool {
        // A retired table's name may come back as a new table: another handle.
        self.open.get(key).is_some_and(|o| {
            o.generation != table.generation()
                || !std::ptr::eq(Arc::as_ptr(&o.table), table)
                || o.shape != *shape
        })
    }

    /// A hold on `table`'s gate; while it is closed, every open block is handed over first
    /// (a waiting worker holds nothing: no deadlock) and the worker waits.
    fn hold(&mut self, table: &TableHandle, stop: Stop<'_>) -> Result<GateHold, OpenError> {
        if let Some(hold) = table.gate.try_hold() {
            return Ok(hold);
        }
        self.send_all(stop.hard);
        table
            .gate
            .hold(&|| stop.now())
            .map_err(|Stopped| OpenError::Stopped)
    }

    /// Encodes one message's row changes into the (opened) block of `key`, all or none; returns
    /// how many rows it added.
    pub(crate) fn append<'a>(
        &mut self,
        key: &BlockKey,
        at: Position<'_>,
        timestamp: Option<i64>,
        changes: impl Iterator<Item = Change<'a>>,
    ) -> Result<Appended, EncodeError> {
        let block = self.open.get_mut(key).expect("append after open");
        let mark = block.encoder.block().len();
        let mut rows = 0u64;
        for change in changes {
            if let Err(e) = block.encoder.push_row(change.op, change.row.columns()) {
                block.encoder.truncate_rows(mark);
                block.encoder.take_unknown_values();
                block.release_if_empty();
                return Err(e);
            }
            rows += 1;
        }
        if rows > 0 {
            block.extend_to(at.offset, timestamp);
        }
        block.release_if_empty();
        Ok(Appended {
            rows,
            new_unknown: block.encoder.take_unknown_columns(),
            dropped_values: block.encoder.take_unknown_values(),
        })
    }

    /// Grows the reservation of `key`'s block to the bytes its buffers hold (their grown room
    /// too: that memory exists). When the budget is spent, the bytes
    /// are counted anyway, every open block is handed over and the worker waits for room.
    pub(crate) fn reserve(&mut self, key: &BlockKey, stop: Stop<'_>) {
        let Some(block) = self.open.get_mut(key) else {
            return;
        };
        let size = block.encoder.block().held_bytes() as u64;
        let reserved = block.memory.bytes();
        if size <= reserved {
            return;
        }
        let need = (size - reserved).div_ceil(RESERVE_CHUNK) * RESERVE_CHUNK;
        if block.memory.try_grow(need) {
            return;
        }
        block.memory.grow_counted(need);
        // No-deadlock rule: hand every open block to the flushers before waiting.
        self.send_all(stop.hard);
        while self.budget.wait_for_room(Duration::from_millis(100)) == Room::TimedOut {
            if stop.now() {
                // Stopping: do not hold the partition hostage.
                return;
            }
        }
    }

    /// Hands over `key`'s block if it reached the size limit.
    pub(crate) fn send_if_full(&mut self, key: &BlockKey, hard_stop: &AtomicBool) {
        let full = self
            .open
            .get(key)
            .is_some_and(|b| b.encoder.block().byte_size() >= self.limits.bytes);
        if full {
            self.send(key, hard_stop);
        }
    }

    /// Hands over every block older than the age limit.
    pub(crate) fn send_due(&mut self, hard_stop: &AtomicBool) {
        let age = self.limits.age;
        let due: Vec<BlockKey> = self
            .open
            .iter()
            .filter(|(_, b)| b.filled.as_ref().is_some_and(|f| f.since.elapsed() >= age))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.send(&key, hard_stop);
        }
    }

    /// Hands over every block with rows.
    pub(crate) fn send_all(&mut self, hard_stop: &AtomicBool) {
        let keys: Vec<BlockKey> = self.open.keys().cloned().collect();
        for key in keys {
            self.send(&key, hard_stop);
        }
    }

    /// Hands over and forgets the blocks of `partition` (revocation).
    pub(crate) fn hand_over(&mut self, partition: &PartitionId, hard_stop: &AtomicBool) {
        let keys: Vec<BlockKey> = self
            .open
            .keys()
            .filter(|k| k.partition == *partition)
            .cloned()
            .collect();
        for key in keys {
            self.send(&key, hard_stop);
            self.open.remove(&key);
        }
    }

    /// Hands over and forgets every block (shutdown).
    pub(crate) fn hand_over_all(&mut self, hard_stop: &AtomicBool) {
        self.send_all(hard_stop);
        self.open.clear();
    }

    /// Sends `key`'s block to its flusher, blocking while the flusher's channel is full (the
    /// channel is the backpressure); an empty block stays.
    fn send(&mut self, key: &BlockKey, hard_stop: &AtomicBool) {
        let Some(open) = self.open.get_mut(key) else {
            return;
        };
        let Some(block) = open.take(key, &self.budget) else {
            return;
        };
        open.table.send(FlushItem::Block(block), hard_stop);
        // Released only now: a schema change that waited for it finds the rows in the channel,
        // ahead of its flush request.
        open.hold = None;
    }
}

impl OpenBlock {
    /// A block without rows does not hold the gate (nothing of it has to load before a schema
    /// change).
    fn release_if_empty(&mut self) {
        if self.filled.is_none() {
            self.hold = None;
            // A rolled-back message may have grown the buffers, uncounted: free them.
            drop(self.encoder.take_block(None));
        }
    }

    /// Records that the message at `offset` added rows: the first one claims the offset.
    fn extend_to(&mut self, offset: i64, timestamp: Option<i64>) {
        let filled = self.filled.get_or_insert_with(|| Filled {
            offsets: offset..=offset,
            claim: self.tracker.claim(offset),
            since: Instant::now(),
            timestamps: Vec::new(),
        });
        filled.offsets = *filled.offsets.start()..=offset;
        filled.timestamps.extend(timestamp);
    }

    /// The rows so far as a [`Block`], leaving this one empty.
    fn take(&mut self, key: &BlockKey, budget: &Arc<MemoryBudget>) -> Option<Block> {
        let filled = self.filled.take()?;
        let mut memory = std::mem::replace(&mut self.memory, Reservation::empty(budget));
        let rows = self.encoder.take_block(None);
        // A message rolled back after the last `reserve` may have grown the buffers: what they
        // hold is counted before they travel (past the limit if need be: they exist).
        let held = rows.held_bytes() as u64;
        if held > memory.bytes() {
            memory.grow_counted(held - memory.bytes());
        }
        Some(Block {
            partition: key.partition.clone(),
            offsets: filled.offsets,
            rows,
            schema: Arc::clone(&self.schema),
            pending: Pending::new(filled.claim, memory, Arc::clone(&self.lease)),
            timestamps: filled.timestamps,
        })
    }
}
