//! `TableRegistry`: the target tables in use, each with its schema (read from StarRocks on first
//! use) and the channel to its flusher (started on first use).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, bounded};
use parking_lot::Mutex;

use super::catalog::CatalogError;
use super::flusher::FlushItem;
use super::gate::{Stopped, TableGate};
use crate::config::TargetName;
use crate::schema::TargetTable;

/// Blocks a flusher's channel holds before workers wait (the backpressure).
const CHANNEL_BLOCKS: usize = 64;

/// Reads a target table's schema (StarRocks' catalog in production).
pub(crate) trait SchemaSource: Send + Sync {
    fn read(&self, target: &TargetName) -> Result<TargetTable, CatalogError>;
}

/// Starts what consumes a new table's channel (a `TableFlusher` thread in production).
pub(crate) trait FlusherFactory: Send + Sync {
    fn start(&self, table: Arc<TargetTable>, items: Receiver<FlushItem>) -> JoinHandle<()>;
}

/// A target table with the channel to its flusher.
pub(crate) struct TableHandle {
    /// `db.table` of the target.
    pub name: Arc<str>,
    pub target: TargetName,
    current: Mutex<Current>,
    /// Bumped (under `current`'s lock) when the schema or the drift changed; workers start new
    /// blocks when they see it move.
    generation: AtomicU64,
    /// Held across a schema read and its swap: reads are installed in the order they were made,
    /// so a read made before a DDL never replaces one made after it.
    refreshing: Mutex<()>,
    items: Sender<FlushItem>,
    /// Closed while a schema change of the table runs (`gate.rs`).
    pub gate: Arc<TableGate>,
    /// What the DDL of this run changed (see [`Drift`]).
    drift: Mutex<Drift>,
    /// The table was dropped or renamed by a DDL: routes to it are looked up again.
    retired: AtomicBool,
    /// When a message's unknown column last made a worker read the schema again.
    last_reread: Mutex<Option<Instant>>,
}

/// Columns a DDL of this run added to or dropped from the table. Rows produced before the DDL
/// in other partitions (which Kafka does not order with the DDL) still arrive without the added
/// columns or with the dropped ones; the encoder takes both as what they are — the added
/// column's default, a dropped value — rather than as drift.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drift {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
}

/// The schema in use and its key column names (the decoder's key for key changes).
struct Current {
    schema: Arc<TargetTable>,
    key: Arc<[String]>,
}

impl Current {
    fn new(schema: Arc<TargetTable>) -> Current {
        let key: Vec<String> = schema.key_columns().map(|c| c.name.clone()).collect();
        Current {
            schema,
            key: key.into(),
        }
    }
}

impl TableHandle {
    /// The target's PRIMARY KEY column names.
    pub(crate) fn key_names(&self) -> Arc<[String]> {
        Arc::clone(&self.current.lock().key)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The schema in use with its generation, read together.
    pub(crate) fn snapshot(&self) -> (Arc<TargetTable>, u64) {
        let current = self.current.lock();
        (Arc::clone(&current.schema), self.generation())
    }

    pub(crate) fn drift(&self) -> Drift {
        self.drift.lock().clone()
    }

    /// Whether a message's unknown column may make a worker read the schema again now: at most
    /// once per `every` per table, so a stream of drifted messages does not become a stream of
    /// catalog queries.
    pub(crate) fn reread_due(&self, every: Duration) -> bool {
        let mut last = self.last_reread.lock();
        if last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Loads everything sent to the flusher so far and waits for it, until `stopping`.
    pub(crate) fn flush(&self, stopping: &dyn Fn() -> bool) -> Result<(), Stopped> {
        let done = loop {
            if stopping() {
                return Err(Stopped);
            }
            if let Some(done) = self.request_flush(Instant::now() + Duration::from_millis(200)) {
                break done;
            }
        };
        loop {
            if stopping() {
                return Err(Stopped);
            }
            match done.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                // The flusher ended: it loads nothing more.
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(Stopped),
            }
        }
    }

    /// Sends `item` to the flusher, waiting while its channel is full, unless a hard stop
    /// abandons it.
    pub(crate) fn send(&self, mut item: FlushItem, hard_stop: &AtomicBool) {
        loop {
            match self.items.send_timeout(item, Duration::from_millis(200)) {
                Ok(()) | Err(SendTimeoutError::Disconnected(_)) => return,
                Err(SendTimeoutError::Timeout(back)) => {
                    if hard_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    item = back;
                }
            }
        }
    }

    /// Asks the flusher to load everything it received so far; the answer arrives on the
    /// returned channel. `None` when the request could not be queued before `until`.
    fn request_flush(&self, until: Instant) -> Option<Receiver<()>> {
        let (ack, done) = bounded(1);
        let wait = until.saturating_duration_since(Instant::now());
        self.items
            .send_timeout(FlushItem::Flush(ack), wait)
            .ok()
            .map(|()| done)
    }
}

pub(crate) struct TableRegistry {
    schemas: Box<dyn SchemaSource>,
    flushers: Box<dyn FlusherFactory>,
    tables: Mutex<HashMap<TargetName, Arc<TableHandle>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl TableRegistry {
    pub(crate) fn new(schemas: Box<dyn SchemaSource>, flushers: Box<dyn FlusherFactory>) -> Self {
        TableRegistry {
            schemas,
            flushers,
            tables: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The handle of `target`, reading its schema and starting its flusher on first use. The
    /// registry is not locked while StarRocks answers (a slow query port must not stall the
    /// workers of other tables).
    pub(crate) fn get(&self, target: &TargetName) -> Result<Arc<TableHandle>, CatalogError> {
        if let Some(h) = self.tables.lock().get(target) {
            return Ok(Arc::clone(h));
        }
        let schema = Arc::new(self.schemas.read(target)?);
        let mut tables = self.tables.lock();
        if let Some(h) = tables.get(target) {
            // Another worker read it meanwhile: one flusher per table.
            return Ok(Arc::clone(h));
        }
        tracing::info!(
            table = %target,
            key = ?schema.key_columns().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            columns = schema.columns.len(),
            "target table ready"
        );
        let (items, rx) = bounded(CHANNEL_BLOCKS);
        self.threads
            .lock()
            .push(self.flushers.start(Arc::clone(&schema), rx));
        let handle = Arc::new(TableHandle {
            name: Arc::from(target.to_string()),
            target: target.clone(),
            current: Mutex::new(Current::new(schema)),
            generation: AtomicU64::new(0),
            refreshing: Mutex::default(),
            items,
            gate: Arc::default(),
            drift: Mutex::default(),
            retired: AtomicBool::new(false),
            last_reread: Mutex::default(),
        });
        tables.insert(target.clone(), Arc::clone(&handle));
        Ok(handle)
    }

    /// Re-reads the schema of `target` (after a DDL); returns whether it changed. Blocks carry
    /// the schema they were encoded with, so a flusher never mixes old and new rows in a load.
    pub(crate) fn refresh(&self, target: &TargetName) -> Result<bool, CatalogError> {
        let Some(handle) = self.tables.lock().get(target).cloned() else {
            return Ok(false);
        };
        let _serial = handle.refreshing.lock();
        let fresh = self.schemas.read(target)?;
        let mut current = handle.current.lock();
        if *current.schema == fresh {
            return Ok(false);
        }
        tracing::info!(table = %target, "target schema changed; new blocks use it");
        *current = Current::new(Arc::new(fresh));
        handle.generation.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// The schema of `target` as StarRocks has it now (not the cached one).
    pub(crate) fn read_schema(&self, target: &TargetName) -> Result<TargetTable, CatalogError> {
        self.schemas.read(target)
    }

    /// Notes what a DDL changed in `target`'s columns (see [`Drift`]); new blocks' encoders
    /// take it into account even when the schema itself did not change (a replayed DDL).
    pub(crate) fn note_drift(&self, target: &TargetName, change: impl FnOnce(&mut Drift)) {
        if let Some(h) = self.tables.lock().get(target) {
            let _current = h.current.lock();
            change(&mut h.drift.lock());
            h.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `target` was dropped or renamed: it is forgotten, and routes to it are looked up again.
    pub(crate) fn retire(&self, target: &TargetName) {
        if let Some(h) = self.tables.lock().remove(target) {
            h.retired.store(true, Ordering::Release);
        }
    }

    /// Asks every flusher to load what it has and waits (up to `deadline`) for all of them.
    pub(crate) fn flush_all(&self, deadline: Duration) -> bool {
        let handles: Vec<Arc<TableHandle>> = self.tables.lock().values().cloned().collect();
        let until = Instant::now() + deadline;
        let mut acks = Vec::with_capacity(handles.len());
        for h in handles {
            match h.request_flush(until) {
                Some(ack) => acks.push(ack),
                None => return false,
            }
        }
        acks.iter().all(|rx| rx.recv_deadline(until).is_ok())
    }

    /// Closes every flusher's channel (they load what is left) and joins them.
    pub(crate) fn close(&self) {
        self.tables.lock().clear();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}
