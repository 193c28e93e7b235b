//! `starpipe run`: the engine that moves rows from Kafka to StarRocks.
//!
//! ```text
//! control thread (source)        partition workers (≤ consumeParallel)      table flushers
//! polls the main queue:          poll split partition queues → decode  →     gather blocks →
//! rebalances, commits, stop      route → encode into (partition, table)      collapse by key →
//!                                blocks ──bounded channel──────────────▶     Stream Load → release
//!                                                                            memory, complete offsets
//! ```
//! Invariants (ARCHITECTURE.md): offsets are committed only after their rows are loaded
//! ([`offsets`]); per key, order is kept (one load in flight per table, last op per key within
//! a batch — [`flusher`]); memory is bounded ([`memory`]); bad input never crashes the engine
//! and is never silently dropped ([`worker`], `onError`).

pub mod catalog;
pub mod deadletter;
pub mod flusher;
pub mod load;
pub mod memory;
pub mod offsets;
pub mod source;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use parking_lot::Mutex;

use crate::config::{Config, TargetName};
use crate::schema::TargetTable;
use catalog::{Catalog, CatalogError};
use flusher::{FlushContext, FlushItem, FlushSettings, TableFlusher};
use load::StreamLoader;
use memory::MemoryBudget;

/// The first fatal error; once set the engine stops (committing only what is loaded).
#[derive(Debug, Default)]
pub struct Fatal {
    set: AtomicBool,
    message: Mutex<Option<String>>,
}

impl Fatal {
    pub fn set(&self, message: String) {
        let mut m = self.message.lock();
        if m.is_none() {
            tracing::error!("{message}");
            *m = Some(message);
        }
        self.set.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    pub fn message(&self) -> Option<String> {
        self.message.lock().clone()
    }
}

/// Counters for progress lines.
#[derive(Debug, Default)]
pub struct Metrics {
    pub messages: AtomicU64,
    pub bytes_in: AtomicU64,
    pub rows_decoded: AtomicU64,
    pub rows_loaded: AtomicU64,
    pub bytes_loaded: AtomicU64,
    pub loads: AtomicU64,
    pub bad_messages: AtomicU64,
    pub dead_letters: AtomicU64,
}

/// A target table with its flusher.
pub struct TableHandle {
    /// `db.table` of the target.
    pub name: Arc<str>,
    schema: Mutex<Arc<TargetTable>>,
    /// Bumped when the schema is re-read after a DDL; workers start new blocks with the new
    /// schema when they see it move.
    generation: AtomicU64,
    pub tx: Sender<FlushItem>,
}

impl TableHandle {
    pub fn schema(&self) -> Arc<TargetTable> {
        Arc::clone(&self.schema.lock())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Target tables by name: schema read from StarRocks and a flusher thread, created on first use.
pub struct TableRegistry {
    catalog: Catalog,
    flush: Arc<FlushContext>,
    tables: Mutex<HashMap<String, Arc<TableHandle>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl TableRegistry {
    /// The handle of `target`, reading its schema and starting its flusher on first use.
    pub fn get(&self, target: &TargetName) -> Result<Arc<TableHandle>, CatalogError> {
        let key = target.to_string();
        let mut tables = self.tables.lock();
        if let Some(h) = tables.get(&key) {
            return Ok(Arc::clone(h));
        }
        let schema = Arc::new(self.catalog.table(&target.db, &target.table)?);
        tracing::info!(
            table = %key,
            key = ?schema.key_columns().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            columns = schema.columns.len(),
            "target table ready"
        );
        let (tx, rx) = bounded(64);
        let flusher = TableFlusher::new(Arc::clone(&schema), rx, Arc::clone(&self.flush));
        let thread = std::thread::Builder::new()
            .name(format!("flush-{}", target.table))
            .spawn(move || flusher.run())
            .expect("spawn flusher thread");
        self.threads.lock().push(thread);
        let handle = Arc::new(TableHandle {
            name: Arc::from(key.as_str()),
            schema: Mutex::new(schema),
            generation: AtomicU64::new(0),
            tx,
        });
        tables.insert(key, Arc::clone(&handle));
        Ok(handle)
    }

    /// Re-reads the schema of `target` (after a DDL); returns whether it changed. Blocks carry
    /// the schema they were encoded with, so the flusher never mixes old and new rows in a load.
    pub fn refresh(&self, target: &TargetName) -> Result<bool, CatalogError> {
        let Some(handle) = self.tables.lock().get(&target.to_string()).cloned() else {
            return Ok(false);
        };
        let fresh = self.catalog.table(&target.db, &target.table)?;
        let mut current = handle.schema.lock();
        if **current == fresh {
            return Ok(false);
        }
        tracing::info!(table = %target, "target schema changed; new blocks use it");
        *current = Arc::new(fresh);
        handle.generation.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Asks every flusher to load what it has and waits (up to `deadline`) for all of them.
    pub fn flush_all(&self, deadline: Duration) -> bool {
        let handles: Vec<Arc<TableHandle>> = self.tables.lock().values().cloned().collect();
        let mut acks = Vec::new();
        for h in handles {
            let (tx, rx) = bounded(1);
            if h.tx.send_timeout(FlushItem::Flush(tx), deadline).is_ok() {
                acks.push(rx);
            } else {
                return false;
            }
        }
        let until = std::time::Instant::now() + deadline;
        acks.iter().all(|rx| rx.recv_deadline(until).is_ok())
    }

    /// Closes every flusher (they load what is left) and joins them.
    pub fn close(&self) {
        self.tables.lock().clear();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Everything the workers and the control thread share.
pub struct Shared {
    pub config: Arc<Config>,
    pub budget: Arc<MemoryBudget>,
    pub fatal: Arc<Fatal>,
    /// Second signal: abandon loads and exit at once.
    pub hard_stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub tables: TableRegistry,
    pub dead_letters: Option<Arc<deadletter::DeadLetters>>,
}

impl Shared {
    pub fn new(config: Arc<Config>, hard_stop: Arc<AtomicBool>) -> anyhow::Result<Arc<Shared>> {
        let password = config.target.password()?;
        let budget = Arc::new(MemoryBudget::new(config.target.total_data_in_mem_bytes()));
        let fatal = Arc::new(Fatal::default());
        let metrics = Arc::new(Metrics::default());
        let loader = StreamLoader::new(load::LoadSettings {
            http_host: config.target.http_host.clone(),
            user: config.target.user.clone(),
            password: password.expose().to_string(),
            connect_timeout: config.target.so_timeout(),
            load_timeout: config.target.http_so_timeout(),
        });
        let dead_letters = match (&config.on_error, &config.dead_letter_topic) {
            (crate::config::OnError::DeadLetter, Some(topic)) => {
                Some(Arc::new(deadletter::DeadLetters::new(
                    &config,
                    topic,
                    Arc::clone(&fatal),
                    Arc::clone(&metrics),
                )?))
            }
            _ => None,
        };
        let tables = TableRegistry {
            catalog: Catalog::new(&config.target.host, &config.target.user, password.expose()),
            flush: Arc::new(FlushContext {
                loader,
                budget: Arc::clone(&budget),
                settings: FlushSettings {
                    job: config.source.consumer_group_id.clone(),
                    batch_bytes: config.target.flush_batch_bytes(),
                    interval: config.target.async_flush_interval(),
                    pause: config.target.real_flush_pause(),
                },
                fatal: Arc::clone(&fatal),
                hard_stop: Arc::clone(&hard_stop),
                metrics: Arc::clone(&metrics),
                dead_letters: dead_letters.clone(),
            }),
            tables: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        };
        Ok(Arc::new(Shared {
            config,
            budget,
            fatal,
            hard_stop,
            metrics,
            tables,
            dead_letters,
        }))
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    pub rows_loaded: u64,
    pub bytes_loaded: u64,
    pub messages: u64,
    pub peak_memory: u64,
    pub error: Option<String>,
}

/// Runs the engine until a stop signal (`stop`), a fatal error, or — with `stop_at_end` — the end
/// offsets every assigned partition had at assignment.
pub fn run(
    config: Config,
    stop_at_end: bool,
    stop: Arc<AtomicBool>,
    hard_stop: Arc<AtomicBool>,
) -> anyhow::Result<RunSummary> {
    let config = Arc::new(config);
    let shared = Shared::new(Arc::clone(&config), hard_stop)?;
    // Check explicitly routed targets before consuming anything.
    for route in &config.tables {
        if !route.source().contains(['*', '?', '[']) {
            let (db, table) = route
                .source()
                .split_once('.')
                .unwrap_or(("", route.source()));
            let target = config.route(db, table);
            shared.tables.get(&target)?;
        }
    }
    source::run(Arc::clone(&shared), stop_at_end, stop)?;
    shared.tables.close();
    if let Some(dl) = &shared.dead_letters {
        dl.flush(Duration::from_secs(30));
    }
    let m = &shared.metrics;
    Ok(RunSummary {
        rows_loaded: m.rows_loaded.load(Ordering::Relaxed),
        bytes_loaded: m.bytes_loaded.load(Ordering::Relaxed),
        messages: m.messages.load(Ordering::Relaxed),
        peak_memory: shared.budget.peak(),
        error: shared.fatal.message(),
    })
}
