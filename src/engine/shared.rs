//! What every engine thread shares: the job, the memory budget, the first fatal error, the
//! counters, the target tables and the dead-letter sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use super::alerts::Alerts;
use super::catalog::{Catalog, TargetDdl};
use super::deadletter::{DeadLetterSink, DeadLetters};
use super::flusher::{FlushContext, FlushSettings, FlusherThreads};
use super::label::RunId;
use super::load::{LoadService, LoadSettings, StreamLoader};
use super::memory::MemoryBudget;
use super::metrics::Metrics;
use super::source::ReloadRequest;
use super::tables::{FlusherFactory, SchemaSource, TableRegistry};
use crate::config::{Config, OnError};
use crate::tls::TargetTls;

/// Connecting to the Stream Load port takes at most this long (or `httpSoTimeoutSec`).
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The first fatal error; once set the engine stops (committing only what is loaded).
#[derive(Debug, Default)]
pub(crate) struct Fatal {
    set: AtomicBool,
    message: Mutex<Option<String>>,
}

impl Fatal {
    pub(crate) fn set(&self, message: String) {
        let mut m = self.message.lock();
        if m.is_none() {
            tracing::error!("{message}");
            *m = Some(message);
        }
        self.set.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    pub(crate) fn message(&self) -> Option<String> {
        self.message.lock().clone()
    }
}

pub(crate) struct Shared {
    /// The job; its topics and `[[tables]]` change on a reload (`config()`).
    config: RwLock<Arc<Config>>,
    /// This run, named in every label.
    pub run: RunId,
    pub budget: Arc<MemoryBudget>,
    pub fatal: Arc<Fatal>,
    /// Second signal: abandon loads and exit at once.
    pub hard_stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub tables: Arc<TableRegistry>,
    /// Runs the DDL of schema changes on the target.
    pub target_ddl: Arc<dyn TargetDdl>,
    pub dead_letters: Option<Arc<dyn DeadLetterSink>>,
    pub alerts: Arc<Alerts>,
    /// When the run started, ms since the epoch.
    pub started_ms: u64,
    /// The partitions this instance owns, as last seen by the control thread (`/status`).
    pub assignment: Mutex<Vec<PartitionStatus>>,
    /// The job file, read again on a reload.
    pub job_file: Option<std::path::PathBuf>,
    /// Reloads asked for (`SIGHUP`, `POST /reload`), taken by the control thread.
    pub reloads: (Sender<ReloadRequest>, Receiver<ReloadRequest>),
}

/// One owned partition, for `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    /// The assignment's epoch.
    pub epoch: u64,
    pub committed: Option<i64>,
    /// The offset after the last message read.
    pub next: Option<i64>,
    /// Blocks read but not yet loaded.
    pub outstanding: usize,
}

impl Shared {
    /// The job as it is now (a reload may change its topics and `[[tables]]`).
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read())
    }

    /// Takes a reloaded job.
    pub(crate) fn set_config(&self, config: Arc<Config>) {
        *self.config.write() = config;
    }

    /// The engine's shared state for `config`, talking to Kafka and StarRocks.
    pub(crate) fn new(
        config: Arc<Config>,
        job_file: Option<std::path::PathBuf>,
        hard_stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Arc<Shared>> {
        let password = config.target.password()?;
        let tls = TargetTls::new(&config.target)?;
        let fatal = Arc::new(Fatal::default());
        let metrics = Arc::new(Metrics::default());
        let catalog = Arc::new(Catalog::new(&config.target, password.expose(), &tls));
        let alerts = Arc::new(Alerts::new(&config));
        let loader = StreamLoader::new(LoadSettings {
            http_host: config.target.http_host.clone(),
            user: config.target.user.clone(),
            password: password.expose().to_string(),
            connect_timeout: config.target.http_so_timeout().min(HTTP_CONNECT_TIMEOUT),
            load_timeout: config.target.http_so_timeout(),
            label_wait: config.target.label_wait(),
            frontends: frontends(&catalog),
            tls,
        })
        .with_alerts(Arc::clone(&alerts))
        .with_hard_stop(Arc::clone(&hard_stop));
        let dead_letters: Option<Arc<dyn DeadLetterSink>> =
            match (&config.on_error, &config.dead_letter_topic) {
                (OnError::DeadLetter, Some(topic)) => Some(Arc::new(DeadLetters::new(
                    &config,
                    topic,
                    Arc::clone(&fatal),
                    Arc::clone(&metrics),
                )?)),
                _ => None,
            };
        let mut shared = Shared::assemble(
            config,
            Parts {
                fatal,
                metrics,
                hard_stop,
                loader: Box::new(loader),
                schemas: Box::new(Arc::clone(&catalog)),
                target_ddl: catalog,
                flushers: None,
                dead_letters,
                alerts,
            },
        );
        shared.job_file = job_file;
        Ok(Arc::new(shared))
    }

    /// Wires the parts together; tests pass their own loader, schemas and dead-letter sink.
    pub(crate) fn assemble(config: Arc<Config>, parts: Parts) -> Shared {
        let budget = Arc::new(MemoryBudget::new(config.target.total_data_in_mem_bytes()));
        let run = RunId::new();
        let alerts = parts.alerts;
        let flush = Arc::new(FlushContext {
            loader: parts.loader,
            budget: Arc::clone(&budget),
            pending: Default::default(),
            settings: FlushSettings {
                job: config.source.consumer_group_id.clone(),
                run: run.clone(),
                batch_bytes: config.target.flush_batch_bytes(),
                interval: config.target.async_flush_interval(),
                pause: config.target.real_flush_pause(),
            },
            fatal: Arc::clone(&parts.fatal),
            hard_stop: Arc::clone(&parts.hard_stop),
            metrics: Arc::clone(&parts.metrics),
            dead_letters: parts.dead_letters.clone(),
            alerts: Arc::clone(&alerts),
        });
        let flushers = parts
            .flushers
            .unwrap_or_else(|| Box::new(FlusherThreads(flush)));
        let tables = TableRegistry::new(parts.schemas, flushers);
        Shared {
            alerts,
            config: RwLock::new(config),
            started_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            assignment: Mutex::new(Vec::new()),
            job_file: None,
            reloads: crossbeam_channel::unbounded(),
            run,
            budget,
            fatal: parts.fatal,
            hard_stop: parts.hard_stop,
            metrics: parts.metrics,
            tables: Arc::new(tables),
            target_ddl: parts.target_ddl,
            dead_letters: parts.dead_letters,
        }
    }
}

/// The FEs' HTTP addresses, for load-state queries when `httpHost` is a BE.
fn frontends(catalog: &Catalog) -> Vec<String> {
    catalog.frontends().unwrap_or_else(|e| {
        tracing::warn!(
            "cannot list the FEs (SHOW FRONTENDS); load states are asked of httpHost only: {e}"
        );
        Vec::new()
    })
}

/// The replaceable parts of [`Shared`].
pub(crate) struct Parts {
    pub fatal: Arc<Fatal>,
    pub metrics: Arc<Metrics>,
    pub hard_stop: Arc<AtomicBool>,
    pub loader: Box<dyn LoadService>,
    pub schemas: Box<dyn SchemaSource>,
    pub target_ddl: Arc<dyn TargetDdl>,
    /// What consumes the tables' channels: `TableFlusher` threads unless a test says otherwise.
    pub flushers: Option<Box<dyn FlusherFactory>>,
    pub dead_letters: Option<Arc<dyn DeadLetterSink>>,
    pub alerts: Arc<Alerts>,
}
