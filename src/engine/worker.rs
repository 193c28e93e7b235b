//! `PartitionWorker`: one OS thread (pinned to a core) owning one or more partitions' split
//! queues. Each record goes decode → route → append → reserve → send: decoded in place, routed
//! to its target table, its rows appended to the block of (partition, table), memory reserved
//! for them, and the block handed to the table's flusher when full or old. Bad input goes
//! through `onError`: stop without committing past it, or a dead letter.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::Shared;
use super::blocks::{BlockKey, BlockLimits, OpenBlocks, PartitionId};
use super::catalog::CatalogError;
use super::deadletter::Problem;
use super::lease::Lease;
use super::metrics::DdlResult;
use super::offsets::OffsetTracker;
use super::record::SourceRecord;
use super::router::{RouteError, Router};
use super::source::PartitionQueue;
use crate::config::{AlertEvent, Config, OnError};
use crate::decode::{DecodeError, Decoded, Decoder, ErrorClass};
use crate::encode::EncodeError;
use crate::model::DdlEvent;

/// A partition assigned to a worker.
pub(crate) struct AssignedPartition {
    pub id: PartitionId,
    pub tracker: Arc<OffsetTracker>,
    /// This assignment: its blocks carry it, and never load once it is revoked.
    pub lease: Arc<Lease>,
}

/// An assigned partition with its split queue.
pub(crate) struct PartitionSlot {
    pub partition: AssignedPartition,
    pub queue: PartitionQueue,
}

/// Commands from the control thread (sending one never blocks it).
pub(crate) enum WorkerCmd {
    Add(PartitionSlot),
    /// Hand over the partition's open blocks, drop its queue, then answer.
    Remove {
        partition: PartitionId,
        done: Sender<()>,
    },
    /// Hand over every open block, then answer (a reload waits for it before it reroutes).
    HandOver {
        done: Sender<()>,
    },
    /// Route with this job from now on (a reload changed `[[tables]]`).
    Reconfigure(Arc<Config>),
    /// Hand over every open block and exit.
    Shutdown,
}

pub(crate) struct PartitionWorker {
    shared: Arc<Shared>,
    /// The job as of the last (re)configuration.
    config: Arc<Config>,
    commands: Receiver<WorkerCmd>,
    slots: Vec<PartitionSlot>,
    decoder: Decoder,
    /// The record being decoded (simd-json parses in place).
    buf: Vec<u8>,
    router: Router,
    blocks: OpenBlocks,
    /// Set after a fatal error: consume nothing more.
    halted: bool,
}

impl PartitionWorker {
    pub(crate) fn new(shared: Arc<Shared>, commands: Receiver<WorkerCmd>) -> Self {
        Self::with_limits(shared, commands, BlockLimits::default())
    }

    pub(crate) fn with_limits(
        shared: Arc<Shared>,
        commands: Receiver<WorkerCmd>,
        limits: BlockLimits,
    ) -> Self {
        let config = shared.config();
        PartitionWorker {
            decoder: Decoder::new(config.decode_options()),
            config,
            router: Router::new(Arc::clone(&shared)),
            blocks: OpenBlocks::new(Arc::clone(&shared.budget), limits),
            shared,
            commands,
            slots: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            halted: false,
        }
    }

    /// Runs until the command channel closes or says to shut down.
    pub(crate) fn run(mut self) {
        while self.take_commands().is_continue() {
            if self.shared.fatal.is_set() {
                self.halted = true;
            }
            if self.halted || self.slots.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            self.poll_round();
            self.blocks.send_due(&self.shared.hard_stop);
        }
        self.blocks.hand_over_all(&self.shared.hard_stop);
    }

    /// Applies every queued command; waits briefly for one while the worker has no partition.
    fn take_commands(&mut self) -> ControlFlow<()> {
        loop {
            let command = if self.slots.is_empty() {
                match self.commands.recv_timeout(Duration::from_millis(100)) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => return ControlFlow::Continue(()),
                    Err(RecvTimeoutError::Disconnected) => return ControlFlow::Break(()),
                }
            } else {
                match self.commands.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) => return ControlFlow::Continue(()),
                    Err(TryRecvError::Disconnected) => return ControlFlow::Break(()),
                }
            };
            match command {
                WorkerCmd::Add(slot) => self.slots.push(slot),
                WorkerCmd::Remove { partition, done } => {
                    self.blocks.hand_over(&partition, &self.shared.hard_stop);
                    self.slots.retain(|s| s.partition.id != partition);
                    let _ = done.send(());
                }
                WorkerCmd::HandOver { done } => {
                    self.blocks.send_all(&self.shared.hard_stop);
                    let _ = done.send(());
                }
                WorkerCmd::Reconfigure(config) => {
                    self.router.reconfigure(Arc::clone(&config));
                    self.config = config;
                }
                WorkerCmd::Shutdown => return ControlFlow::Break(()),
            }
        }
    }

    /// Takes up to `maxPollRecords` messages from each partition queue.
    fn poll_round(&mut self) {
        let max_poll = self.config.source.max_poll_records.max(1) as usize;
        // The slots are moved out while polling: a message borrows its queue, and handling it
        // needs the rest of the worker mutably.
        let slots = std::mem::take(&mut self.slots);
        let mut got = 0usize;
        for slot in &slots {
            for _ in 0..max_poll {
                let Some(result) = slot.queue.poll(Duration::ZERO) else {
                    break;
                };
                got += 1;
                self.consume(&slot.partition, result);
                if self.halted {
                    break;
                }
            }
        }
        if got == 0 {
            // Nothing anywhere: wait on the first queue briefly instead of spinning.
            if let Some(result) = slots[0].queue.poll(Duration::from_millis(20)) {
                self.consume(&slots[0].partition, result);
            }
        }
        self.slots = slots;
    }

    fn consume(
        &mut self,
        partition: &AssignedPartition,
        result: rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>>,
    ) {
        match result {
            Ok(msg) => self.handle(partition, &SourceRecord::from_kafka(&msg)),
            Err(e) => {
                tracing::warn!(partition = %partition.id, "consume error: {e}")
            }
        }
    }

    /// Applies one record of `partition`, or hands it to `onError`.
    pub(crate) fn handle(&mut self, partition: &AssignedPartition, record: &SourceRecord<'_>) {
        let metrics = &self.shared.metrics;
        metrics.messages.fetch_add(1, Ordering::Relaxed);
        metrics
            .bytes_in
            .fetch_add(record.value.len() as u64, Ordering::Relaxed);
        match self.apply(partition, record) {
            Ok(()) => partition.tracker.polled(record.position.offset),
            // Not applied and not bad: the next run replays it.
            Err(BadMessage::Stopping(e)) => {
                tracing::warn!(at = %record.position, "{e}");
                self.halted = true;
            }
            Err(bad) => self.bad_message(partition, record, bad),
        }
    }

    /// Decode → route → append → reserve → send. The message is applied whole or not at all.
    fn apply(
        &mut self,
        partition: &AssignedPartition,
        record: &SourceRecord<'_>,
    ) -> Result<(), BadMessage> {
        self.buf.clear();
        self.buf.extend_from_slice(record.value);
        let topic_table = self.config.topic_table(&partition.id.topic);
        let topic_table = topic_table.map(|t| (t.db.as_str(), t.table.as_str()));
        self.decoder.set_fallback_table(topic_table);
        let decoded = self
            .decoder
            .decode(&mut self.buf, &self.router)
            .map_err(BadMessage::Decode)?;
        let batch = match decoded {
            Decoded::Rows(batch) => batch,
            Decoded::Ddl(ddl) => {
                on_ddl(&self.shared, &self.config, &ddl, record);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let table = self
            .router
            .route(&batch.table, batch.warnings, record.position)
            .map_err(|e| match e {
                RouteError::Target(e) => BadMessage::Target(e),
                RouteError::Stopped(e) => BadMessage::Stopping(e),
            })?;
        let key = BlockKey {
            partition: partition.id.clone(),
            table: Arc::clone(&table.name),
        };
        let (fatal, hard_stop) = (&self.shared.fatal, &self.shared.hard_stop);
        self.blocks
            .open(&key, &table, partition, hard_stop)
            .map_err(BadMessage::Table)?;
        let rows = self
            .blocks
            .append(&key, record.position, record.timestamp, batch.changes())
            .map_err(BadMessage::Encode)?;
        if rows == 0 {
            return Ok(());
        }
        self.shared
            .metrics
            .rows_decoded
            .fetch_add(rows, Ordering::Relaxed);
        self.blocks.reserve(&key, fatal, hard_stop);
        self.blocks.send_if_full(&key, hard_stop);
        Ok(())
    }

    fn bad_message(
        &mut self,
        partition: &AssignedPartition,
        record: &SourceRecord<'_>,
        bad: BadMessage,
    ) {
        self.shared
            .metrics
            .bad_messages
            .fetch_add(1, Ordering::Relaxed);
        let at = record.position;
        let problem = Problem {
            class: bad.class(),
            message: bad.to_string(),
        };
        match (&self.config.on_error, &self.shared.dead_letters) {
            (OnError::DeadLetter, Some(dl)) => {
                tracing::warn!(%at, class = problem.class, "bad message sent to the dead-letter topic: {}", problem.message);
                let message = format!("{at}: {}: {}", problem.class, problem.message);
                self.shared
                    .alerts
                    .raise(AlertEvent::DeadLetter, at.topic, &message);
                let claim = partition.tracker.claim(at.offset);
                dl.send_record(record, &problem, claim);
                partition.tracker.polled(at.offset);
            }
            _ => {
                self.halted = true;
                let mut text = format!(
                    "bad message at {at}: {}: {}",
                    problem.class, problem.message
                );
                if self.config.log_payload_excerpt {
                    text.push_str("; excerpt: ");
                    text.push_str(&excerpt(record.value));
                }
                self.shared.fatal.set(text);
            }
        }
    }
}

/// A DDL message: logged, and the target's schema re-read (it may have been altered to match).
fn on_ddl(shared: &Shared, config: &Config, ddl: &DdlEvent<'_>, record: &SourceRecord<'_>) {
    tracing::warn!(
        at = %record.position, kind = %ddl.kind, table = %ddl.table, sql = ddl.sql,
        "DDL received; not applied (apply it to the target yourself)"
    );
    let target = config.route(ddl.table.db, ddl.table.table);
    shared.metrics.ddl(&target.to_string(), DdlResult::Skipped);
    let message = format!(
        "{} at {}: not applied: {}",
        ddl.kind, record.position, ddl.sql
    );
    shared
        .alerts
        .raise(AlertEvent::DdlSkipped, &target.to_string(), &message);
    if let Err(e) = shared.tables.refresh(&target) {
        tracing::warn!(table = %target, "re-reading the schema failed: {e}");
    }
}

/// Bytes of a bad message shown in its error (`logPayloadExcerpt`).
const EXCERPT_BYTES: usize = 200;

fn excerpt(payload: &[u8]) -> String {
    let s = String::from_utf8_lossy(&payload[..payload.len().min(EXCERPT_BYTES)]);
    if payload.len() > EXCERPT_BYTES {
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
    /// The target table cannot take rows (not a Primary Key table, no key).
    #[error("{0}")]
    Table(EncodeError),
    #[error("{0}")]
    Target(CatalogError),
    /// The engine stops before the message could be applied (not bad input).
    #[error("not applied, the engine is stopping: {0}")]
    Stopping(CatalogError),
}

impl BadMessage {
    fn class(&self) -> &'static str {
        match self {
            BadMessage::Decode(e) => e.class.as_str(),
            BadMessage::Encode(EncodeError::PartialRow { .. }) => ErrorClass::PartialRow.as_str(),
            BadMessage::Encode(EncodeError::MissingKey { .. }) => ErrorClass::MissingKey.as_str(),
            BadMessage::Encode(_) => ErrorClass::Value.as_str(),
            BadMessage::Table(_) | BadMessage::Target(_) | BadMessage::Stopping(_) => "Target",
        }
    }
}

#[cfg(test)]
mod tests;
