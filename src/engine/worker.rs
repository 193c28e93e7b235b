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
use super::blocks::{BlockLimits, OpenBlocks, PartitionId};
use super::catalog::CatalogError;
use super::deadletter::Problem;
use super::heap::IdleHeap;
use super::lease::Lease;
use super::offsets::OffsetTracker;
use super::record::SourceRecord;
use super::router::Router;
use super::source::PartitionQueue;
use crate::config::{AlertEvent, Config, OnError, OnUnknownColumn};
use crate::decode::{DecodeError, Decoded, Decoder, ErrorClass};
use crate::encode::{EncodeError, UnknownColumns};
use writer::BlockWriter;

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
    commands: Receiver<WorkerCmd>,
    slots: Vec<PartitionSlot>,
    decoder: Decoder,
    /// The record being decoded (simd-json parses in place).
    buf: Vec<u8>,
    /// Where decoded messages go (borrowed apart from the decoder, whose output it takes).
    writer: BlockWriter,
    /// Set after a fatal error: consume nothing more.
    halted: bool,
    /// Raised by librdkafka when one of `slots`' queues receives messages while empty.
    arrivals: Arrivals,
    heap: IdleHeap,
}

/// Wakes a worker whose queues were all empty as soon as any of them receives messages.
/// Waiting on one queue instead would sleep through another partition's arrivals: a worker
/// whose first partition is idle read the others one fetch per wait (issue 14 item 6).
struct Arrivals {
    raised: Sender<()>,
    arrived: Receiver<()>,
}

/// The longest an idle worker waits before it looks at its commands and block ages again.
const IDLE_WAIT: Duration = Duration::from_millis(20);

impl Arrivals {
    fn new() -> Self {
        // One pending signal is enough: it only says "poll again".
        let (raised, arrived) = crossbeam_channel::bounded(1);
        Arrivals { raised, arrived }
    }

    /// librdkafka calls back (from its own thread) when `queue` turns non-empty. A queue
    /// handle shares its callback with every other handle of the partition, and dropping one
    /// disarms it: a re-split whose old handle is dropped later (a revocation whose hand-over
    /// timed out) would leave the new one silent, so idle workers arm their queues again
    /// before each wait.
    fn watch(&self, queue: &mut PartitionQueue) {
        let raised = self.raised.clone();
        // Runs on a librdkafka thread holding the queue's lock: only a non-blocking send.
        queue.set_nonempty_callback(move || {
            let _ = raised.try_send(());
        });
    }

    /// Waits until a queue received messages since the last wait, at most [`IDLE_WAIT`]. A
    /// signal raised while the worker was polling is kept, so no arrival is slept through.
    fn wait(&self) {
        let _ = self.arrived.recv_timeout(IDLE_WAIT);
    }
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
        let unknown = unknown_columns(config.target.ddl.on_unknown_column);
        PartitionWorker {
            decoder: Decoder::new(config.decode_options()),
            writer: BlockWriter {
                config,
                router: Router::new(Arc::clone(&shared)),
                blocks: OpenBlocks::new(Arc::clone(&shared.budget), limits, unknown),
                shared: Arc::clone(&shared),
            },
            shared,
            commands,
            slots: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            halted: false,
            arrivals: Arrivals::new(),
            heap: IdleHeap::new(),
        }
    }

    /// Runs until the command channel closes or says to shut down.
    pub(crate) fn run(mut self) {
        while self.take_commands().is_continue() {
            if self.shared.fatal.is_set() {
                self.halted = true;
            }
            if self.halted || self.slots.is_empty() {
                self.heap.idle();
                std::thread::sleep(IDLE_WAIT);
                continue;
            }
            self.poll_round();
            self.writer.blocks.send_due(&self.shared.hard_stop);
        }
        self.writer.blocks.hand_over_all(&self.shared.hard_stop);
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
                    self.writer
                        .blocks
                        .hand_over(&partition, &self.shared.hard_stop);
                    self.slots.retain(|s| s.partition.id != partition);
                    let _ = done.send(());
                }
                WorkerCmd::HandOver { done } => {
                    self.writer.blocks.send_all(&self.shared.hard_stop);
                    let _ = done.send(());
                }
                WorkerCmd::Reconfigure(config) => self.writer.reconfigure(config),
                WorkerCmd::Shutdown => return ControlFlow::Break(()),
            }
        }
    }

    /// Takes up to `maxPollRecords` messages from each partition queue; when none had any,
    /// waits up to [`IDLE_WAIT`] for one to receive messages.
    fn poll_round(&mut self) {
        let max_poll = self.writer.config.source.max_poll_records.max(1) as usize;
        // The slots are moved out while polling: a message borrows its queue, and handling it
        // needs the rest of the worker mutably.
        let slots = std::mem::take(&mut self.slots);
        let mut got = 0usize;
        for slot in &slots {
            for _ in 0..max_poll {
                // A revoked partition may already be assigned again, to this worker or another,
                // and every split handle of a partition reads one librdkafka queue: polling
                // this old handle would take the new assignment's messages, read under the
                // revoked lease (dropped), while the new assignment's tracker commits past
                // them. A worker blocked in `handle` (a full channel, a slow schema query)
                // while its assignment was lost resumes here, so the check comes before every
                // poll. No new assignment can begin between the check and the poll: a lost
                // assignment's lease is revoked before the hand-over waits, and the partition
                // is assigned again only after that wait timed out (the session timeout); a
                // revocation that drains removes the slot before its acknowledgement, and one
                // that cannot drain ends the process.
                if slot.partition.lease.is_revoked() {
                    break;
                }
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
        self.slots = slots;
        if got > 0 {
            self.heap.busy();
        } else {
            // Nothing anywhere: wait for any queue, briefly (commands and block ages are
            // checked between rounds).
            // Not a revoked handle: armed last, it would take the new handle's wake-ups.
            let live = self.slots.iter_mut();
            for slot in live.filter(|s| !s.partition.lease.is_revoked()) {
                self.arrivals.watch(&mut slot.queue);
            }
            self.heap.idle();
            self.arrivals.wait();
        }
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
            Err(BadMessage::Stopping(why)) => {
                tracing::warn!(at = %record.position, "not applied, the engine is stopping: {why}");
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
        let topic_table = self.writer.config.topic_table(&partition.id.topic);
        let topic_table = topic_table.map(|t| (t.db.as_str(), t.table.as_str()));
        self.decoder.set_fallback_table(topic_table);
        let decoded = self
            .decoder
            .decode(&mut self.buf, &self.writer.router)
            .map_err(BadMessage::Decode)?;
        match decoded {
            Decoded::Rows(batch) => self.writer.write_rows(partition, &batch, record),
            Decoded::Ddl(ddl) => self.writer.on_ddl(partition, &ddl, record),
            _ => Ok(()),
        }
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
        let config = &self.writer.config;
        match (&config.on_error, &self.shared.dead_letters) {
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
                if config.log_payload_excerpt {
                    text.push_str("; excerpt: ");
                    text.push_str(&excerpt(record.value));
                }
                self.shared.fatal.set(text);
            }
        }
    }
}

/// What the encoders do with a message column the target lacks, once the schema was read again
/// (`drift.rs`): only `ignore` drops values; `fail` and `addColumn` need the encoder to refuse.
fn unknown_columns(policy: OnUnknownColumn) -> UnknownColumns {
    match policy {
        OnUnknownColumn::Ignore => UnknownColumns::Drop,
        OnUnknownColumn::Fail | OnUnknownColumn::AddColumn => UnknownColumns::Refuse,
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
    /// The engine stops before the message could be applied (not bad input; the reason is
    /// logged, or already reported as the fatal error).
    #[error("not applied, the engine is stopping: {0}")]
    Stopping(String),
    /// Not bad input: the target was dropped or renamed while the worker waited at its gate;
    /// `BlockWriter::write_rows` routes the message again.
    #[error("the target table was dropped or renamed")]
    Retired,
}

impl BadMessage {
    fn class(&self) -> &'static str {
        match self {
            BadMessage::Decode(e) => e.class.as_str(),
            BadMessage::Encode(EncodeError::PartialRow { .. }) => ErrorClass::PartialRow.as_str(),
            BadMessage::Encode(EncodeError::MissingKey { .. }) => ErrorClass::MissingKey.as_str(),
            BadMessage::Encode(EncodeError::UnknownColumns { .. }) => "UnknownColumn",
            BadMessage::Encode(_) => ErrorClass::Value.as_str(),
            BadMessage::Table(_)
            | BadMessage::Target(_)
            | BadMessage::Stopping(_)
            | BadMessage::Retired => "Target",
        }
    }
}

mod ddl;
mod drift;
#[cfg(test)]
mod tests;
mod writer;
