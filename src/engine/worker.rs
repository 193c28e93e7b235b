//! `PartitionWorker`: one OS thread (pinned to a core) owning one or more partitions' split
//! queues. It polls, decodes in place, routes `db.table` to the target, and appends encoded rows
//! to a block per (partition, table); blocks go to the table's flusher when full or after a short
//! time. Bad input goes through `onError`: stop without committing past it, or a dead letter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;

use super::flusher::{Block, FlushItem};
use super::memory::Reserve;
use super::offsets::OffsetTracker;
use super::source::PartitionQueue;
use super::{Shared, TableHandle};
use crate::config::{OnError, SchemaFormat};
use crate::decode::{
    DecodeError, DecodeOptions, Decoded, Decoder, ErrorClass, Format, MessageKeys,
};
use crate::encode::{BodyEncoder, EncodeError};
use crate::model::Warnings;

/// A block is handed to its flusher at this size or age, whichever comes first.
const BLOCK_BYTES: usize = 1 << 20;
const BLOCK_AGE: Duration = Duration::from_millis(200);
/// Memory is reserved in chunks to keep the budget's lock cold.
const RESERVE_CHUNK: u64 = 64 * 1024;

/// One assigned partition, owned by a worker.
pub struct PartitionSlot {
    pub topic: Arc<str>,
    pub partition: i32,
    pub queue: PartitionQueue,
    pub tracker: Arc<OffsetTracker>,
}

/// Commands from the control thread (never blocks the control thread).
pub enum WorkerCmd {
    Add(PartitionSlot),
    /// Hand over the partition's open blocks, drop its queue, then answer.
    Remove {
        topic: Arc<str>,
        partition: i32,
        done: Sender<()>,
    },
    /// Hand over every open block and exit.
    Shutdown,
}

struct OpenBlock {
    encoder: BodyEncoder,
    schema: Arc<crate::schema::TargetTable>,
    generation: u64,
    handle: Arc<TableHandle>,
    tracker: Arc<OffsetTracker>,
    first: i64,
    last: i64,
    reserved: u64,
    since: Instant,
}

pub struct PartitionWorker {
    shared: Arc<Shared>,
    cmds: Receiver<WorkerCmd>,
    slots: Vec<PartitionSlot>,
    decoder: Decoder,
    buf: Vec<u8>,
    /// Source `db.table` → target handle.
    routes: HashMap<String, Arc<TableHandle>>,
    /// (partition slot topic, partition, target) → block being filled.
    open: HashMap<BlockKey, OpenBlock>,
    /// Set after a fatal error: consume nothing more.
    halted: bool,
    /// Warnings already logged per source table: each is reported once.
    warned: HashMap<String, Warnings>,
    /// `db.table` of the current message, reused so routing allocates nothing per message.
    source: String,
}

pub fn decode_options(shared: &Shared) -> DecodeOptions {
    let cfg = &shared.config;
    cfg.target
        .decode_settings()
        .decode_options(match cfg.source.schema_format {
            SchemaFormat::AlibabaCanal => Format::Canal,
            SchemaFormat::CloudCanal => Format::CloudCanal,
        })
}

impl PartitionWorker {
    pub fn new(shared: Arc<Shared>, cmds: Receiver<WorkerCmd>) -> Self {
        let decoder = Decoder::new(decode_options(&shared));
        PartitionWorker {
            shared,
            cmds,
            slots: Vec::new(),
            decoder,
            buf: Vec::with_capacity(64 * 1024),
            routes: HashMap::new(),
            open: HashMap::new(),
            halted: false,
            warned: HashMap::new(),
            source: String::new(),
        }
    }

    /// Runs until the command channel closes.
    pub fn run(mut self) {
        let max_poll = self.shared.config.source.max_poll_records.max(1) as usize;
        loop {
            loop {
                let cmd = if self.slots.is_empty() {
                    match self.cmds.recv_timeout(Duration::from_millis(100)) {
                        Ok(c) => Some(c),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                            self.hand_over_all();
                            return;
                        }
                    }
                } else {
                    match self.cmds.try_recv() {
                        Ok(c) => Some(c),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Disconnected) => {
                            self.hand_over_all();
                            return;
                        }
                    }
                };
                match cmd {
                    Some(WorkerCmd::Add(slot)) => self.slots.push(slot),
                    Some(WorkerCmd::Remove {
                        topic,
                        partition,
                        done,
                    }) => {
                        self.hand_over(|t, p| **t == *topic && p == partition);
                        self.slots
                            .retain(|s| !(s.topic == topic && s.partition == partition));
                        let _ = done.send(());
                    }
                    Some(WorkerCmd::Shutdown) => {
                        self.hand_over_all();
                        return;
                    }
                    None => break,
                }
            }
            if self.shared.fatal.is_set() && !self.halted {
                self.halted = true;
            }
            if self.halted || self.slots.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            // The slots are moved out while polling: a message borrows its queue, and handling
            // it needs the rest of the worker mutably.
            let slots = std::mem::take(&mut self.slots);
            let mut got = 0usize;
            for slot in &slots {
                for _ in 0..max_poll {
                    let Some(result) = slot.queue.poll(Duration::ZERO) else {
                        break;
                    };
                    got += 1;
                    self.consume(slot, result);
                    if self.halted {
                        break;
                    }
                }
            }
            if got == 0 {
                // Nothing anywhere: wait on the first queue briefly instead of spinning.
                if let Some(result) = slots[0].queue.poll(Duration::from_millis(20)) {
                    self.consume(&slots[0], result);
                }
            }
            self.slots = slots;
            self.send_due_blocks();
        }
    }

    fn consume(
        &mut self,
        slot: &PartitionSlot,
        result: rdkafka::error::KafkaResult<BorrowedMessage<'_>>,
    ) {
        match result {
            Ok(msg) => self.handle(&slot.topic, slot.partition, &slot.tracker, &msg),
            Err(e) => {
                tracing::warn!(topic = %slot.topic, partition = slot.partition, "consume error: {e}")
            }
        }
    }

    fn handle(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        tracker: &Arc<OffsetTracker>,
        msg: &BorrowedMessage<'_>,
    ) {
        let offset = msg.offset();
        let payload = msg.payload().unwrap_or(&[]);
        let metrics = &self.shared.metrics;
        metrics.messages.fetch_add(1, Ordering::Relaxed);
        metrics
            .bytes_in
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        self.buf.extend_from_slice(payload);
        match self.apply(topic, partition, tracker, offset) {
            Ok(()) => tracker.polled(offset),
            Err(bad) => self.bad_message(topic, partition, tracker, msg, bad),
        }
    }

    /// Decodes the message in `self.buf` and appends its rows; the message is applied whole or
    /// not at all.
    fn apply(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        tracker: &Arc<OffsetTracker>,
        offset: i64,
    ) -> Result<(), BadMessage> {
        let decoded = self
            .decoder
            .decode(&mut self.buf, &MessageKeys)
            .map_err(BadMessage::Decode)?;
        let batch = match decoded {
            Decoded::Rows(batch) => batch,
            Decoded::Ddl(ddl) => {
                tracing::warn!(
                    %topic, partition, offset, kind = %ddl.kind, table = %ddl.table, sql = ddl.sql,
                    "DDL received; not applied (apply it to the target yourself)"
                );
                // The target may have been altered to match: re-read its schema.
                let target = self.shared.config.route(ddl.table.db, ddl.table.table);
                if let Err(e) = self.shared.tables.refresh(&target) {
                    tracing::warn!(table = %target, "re-reading the schema failed: {e}");
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.source.clear();
        let _ = write!(self.source, "{}", batch.table);
        if !batch.warnings.is_empty() {
            if !self.warned.contains_key(&self.source) {
                self.warned.insert(self.source.clone(), Warnings::empty());
            }
            let reported = self.warned.get_mut(&self.source).expect("inserted above");
            for (warning, name) in batch.warnings.each() {
                if !reported.contains(warning) {
                    reported.insert(warning);
                    tracing::warn!(table = %self.source, %topic, partition, offset, "{name} (reported once per table)");
                }
            }
        }
        let handle = match self.routes.get(&self.source) {
            Some(h) => Arc::clone(h),
            None => {
                let target = self.shared.config.route(batch.table.db, batch.table.table);
                let h = self
                    .shared
                    .tables
                    .get(&target)
                    .map_err(|e| BadMessage::Target(e.to_string()))?;
                self.routes.insert(self.source.clone(), Arc::clone(&h));
                h
            }
        };
        let key = (Arc::clone(topic), partition, Arc::clone(&handle.name));
        let generation = handle.generation();
        if self
            .open
            .get(&key)
            .is_some_and(|o| o.generation != generation)
        {
            // The target schema changed: close the block encoded with the old one.
            send_block(&mut self.open, &self.shared.hard_stop, &key);
            self.open.remove(&key);
        }
        let open = match self.open.get_mut(&key) {
            Some(o) => o,
            None => {
                let schema = handle.schema();
                let encoder =
                    BodyEncoder::new(&schema).map_err(|e| BadMessage::Target(e.to_string()))?;
                self.open.entry(key.clone()).or_insert(OpenBlock {
                    encoder,
                    schema,
                    generation,
                    handle: Arc::clone(&handle),
                    tracker: Arc::clone(tracker),
                    first: -1,
                    last: -1,
                    reserved: 0,
                    since: Instant::now(),
                })
            }
        };
        let mark = open.encoder.block().len();
        let mut rows = 0u64;
        for change in batch.changes() {
            if let Err(e) = open.encoder.push_row(change.op, change.row.columns()) {
                open.encoder.truncate_rows(mark);
                return Err(BadMessage::Encode(e));
            }
            rows += 1;
        }
        for col in open.encoder.take_unknown_columns() {
            tracing::warn!(table = %key.2, column = %col, "message column not in the target table; dropped");
        }
        if rows == 0 {
            return Ok(());
        }
        self.shared
            .metrics
            .rows_decoded
            .fetch_add(rows, Ordering::Relaxed);
        if open.first < 0 {
            open.first = offset;
            open.since = Instant::now();
            tracker.open(offset);
        }
        open.last = offset;
        let size = open.encoder.block().byte_size() as u64;
        let full = size as usize >= BLOCK_BYTES;
        if size > open.reserved {
            let need = (size - open.reserved).div_ceil(RESERVE_CHUNK) * RESERVE_CHUNK;
            if self.shared.budget.try_reserve(need) {
                open.reserved += need;
            } else {
                // No-deadlock rule: hand every open block to the flushers before waiting.
                open.reserved += need;
                self.send_all();
                self.wait_for_memory(need);
            }
        }
        if full {
            self.send(&key);
        }
        Ok(())
    }

    fn wait_for_memory(&mut self, need: u64) {
        loop {
            match self.shared.budget.reserve(need, Duration::from_millis(100)) {
                Reserve::Granted => return,
                Reserve::TimedOut => {
                    if self.shared.fatal.is_set() || self.shared.hard_stop.load(Ordering::Relaxed) {
                        // Stopping: do not hold the partition hostage; account it anyway.
                        return;
                    }
                }
            }
        }
    }

    fn bad_message(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        tracker: &Arc<OffsetTracker>,
        msg: &BorrowedMessage<'_>,
        bad: BadMessage,
    ) {
        let offset = msg.offset();
        self.shared
            .metrics
            .bad_messages
            .fetch_add(1, Ordering::Relaxed);
        let class = bad.class();
        let text = bad.to_string();
        let excerpt = excerpt(msg.payload().unwrap_or(&[]));
        match (&self.shared.config.on_error, &self.shared.dead_letters) {
            (OnError::DeadLetter, Some(dl)) => {
                tracing::warn!(%topic, partition, offset, class, "bad message sent to the dead-letter topic: {text}");
                tracker.open(offset);
                dl.send(msg, topic, partition, class, &text, Arc::clone(tracker));
                tracker.polled(offset);
            }
            _ => {
                self.halted = true;
                self.shared.fatal.set(format!(
                    "bad message at {topic}[{partition}]@{offset}: {class}: {text}; excerpt: {excerpt}"
                ));
            }
        }
    }

    fn send_due_blocks(&mut self) {
        let due: Vec<_> = self
            .open
            .iter()
            .filter(|(_, o)| o.first >= 0 && o.since.elapsed() >= BLOCK_AGE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.send(&k);
        }
    }

    fn send_all(&mut self) {
        let keys: Vec<_> = self
            .open
            .iter()
            .filter(|(_, o)| o.first >= 0)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.send(&k);
        }
    }

    fn hand_over(&mut self, matches: impl Fn(&Arc<str>, i32) -> bool) {
        let keys: Vec<_> = self
            .open
            .keys()
            .filter(|(t, p, _)| matches(t, *p))
            .cloned()
            .collect();
        for k in keys {
            self.send(&k);
            self.open.remove(&k);
        }
    }

    fn hand_over_all(&mut self) {
        self.hand_over(|_, _| true);
    }

    /// Sends the open block of `key` to its flusher (blocking: the flusher's channel is the
    /// backpressure).
    fn send(&mut self, key: &BlockKey) {
        send_block(&mut self.open, &self.shared.hard_stop, key);
    }
}

type BlockKey = (Arc<str>, i32, Arc<str>);

/// Hands the open block of `key` to its flusher. A free function so it can run while the
/// decoder's output (borrowing the worker's decoder) is alive.
fn send_block(
    open_blocks: &mut HashMap<BlockKey, OpenBlock>,
    hard_stop: &std::sync::atomic::AtomicBool,
    key: &BlockKey,
) {
    let Some(open) = open_blocks.get_mut(key) else {
        return;
    };
    if open.first < 0 {
        return;
    }
    let block = Block {
        topic: Arc::clone(&key.0),
        partition: key.1,
        first: open.first,
        last: open.last,
        rows: open.encoder.take_block(None),
        schema: Arc::clone(&open.schema),
        reserved: std::mem::take(&mut open.reserved),
        tracker: Arc::clone(&open.tracker),
    };
    open.first = -1;
    open.last = -1;
    let mut item = FlushItem::Block(block);
    loop {
        match open
            .handle
            .tx
            .send_timeout(item, Duration::from_millis(200))
        {
            Ok(()) => return,
            Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                if hard_stop.load(Ordering::Relaxed) {
                    return;
                }
                item = back;
            }
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return,
        }
    }
}

fn excerpt(payload: &[u8]) -> String {
    let s = String::from_utf8_lossy(&payload[..payload.len().min(200)]);
    if payload.len() > 200 {
        format!("{s}…")
    } else {
        s.into_owned()
    }
}

/// Why a message could not be applied.
#[derive(Debug, thiserror::Error)]
enum BadMessage {
    #[error("{0}")]
    Decode(DecodeError),
    #[error("{0}")]
    Encode(EncodeError),
    #[error("{0}")]
    Target(String),
}

impl BadMessage {
    fn class(&self) -> &'static str {
        match self {
            BadMessage::Decode(e) => e.class.as_str(),
            BadMessage::Encode(EncodeError::PartialRow { .. }) => ErrorClass::PartialRow.as_str(),
            BadMessage::Encode(EncodeError::MissingKey { .. }) => ErrorClass::MissingKey.as_str(),
            BadMessage::Encode(_) => ErrorClass::Value.as_str(),
            BadMessage::Target(_) => "Target",
        }
    }
}
