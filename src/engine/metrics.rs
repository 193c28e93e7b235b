//! What the engine counts: the totals of the progress line and the run summary, the state of
//! each table for `/status`, and the Prometheus metrics `/metrics` serves (encoded by the
//! `prometheus-client` crate). Every thread updates them; nothing here blocks for long.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableOp {
    table: String,
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableResult {
    table: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    topic: String,
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

/// One table's state, for `/status` and the run summary.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct TableStatus {
    pub loads: u64,
    pub rows_upserted: u64,
    pub rows_deleted: u64,
    pub bytes: u64,
    /// When the last load succeeded (RFC 3339).
    pub last_load: Option<String>,
    pub last_error: Option<String>,
    /// Bytes waiting in the table's batch.
    pub pending_bytes: u64,
}

/// What one successful load did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadDone {
    pub upserts: u64,
    pub deletes: u64,
    pub bytes: u64,
    pub took: Duration,
}

/// How a DDL message ended (`starpipe_ddl_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DdlResult {
    /// Its statements ran on the target.
    Applied,
    /// The target already had the change (a replay after a crash, or made by hand).
    AlreadyApplied,
    /// Nothing to do in StarRocks (an index, a comment, …).
    Ignored,
    /// Not applied: `syncDdl = false`, or it failed and `ddlExceptionSkip` skipped it.
    Skipped,
    /// It failed and stopped the job.
    Failed,
}

impl DdlResult {
    fn as_str(self) -> &'static str {
        match self {
            DdlResult::Applied => "applied",
            DdlResult::AlreadyApplied => "already_applied",
            DdlResult::Ignored => "ignored",
            DdlResult::Skipped => "skipped",
            DdlResult::Failed => "failed",
        }
    }
}

pub(crate) struct Metrics {
    pub messages: AtomicU64,
    pub bytes_in: AtomicU64,
    pub rows_decoded: AtomicU64,
    pub rows_loaded: AtomicU64,
    pub bytes_loaded: AtomicU64,
    pub loads: AtomicU64,
    pub bad_messages: AtomicU64,
    pub dead_letters: AtomicU64,
    /// When the last load succeeded, milliseconds since the epoch (0 = never).
    last_load_ms: AtomicU64,
    /// Sum of the partitions' lag (librdkafka's statistics).
    lag: AtomicI64,
    tables: Mutex<BTreeMap<String, TableStatus>>,
    prom: Prom,
}

/// The Prometheus families and their registry.
struct Prom {
    registry: Registry,
    rows_loaded: Family<TableOp, Counter>,
    loads: Family<TableResult, Counter>,
    load_duration: Family<TableLabel, Histogram>,
    load_bytes: Family<TableLabel, Counter>,
    partition_lag: Family<PartitionLabel, Gauge>,
    committed_offset: Family<PartitionLabel, Gauge>,
    memory_used: Gauge,
    memory_limit: Gauge,
    dead_letters: Family<TopicLabel, Counter>,
    ddl: Family<TableResult, Counter>,
    dropped_values: Family<TableLabel, Counter>,
    freshness: Histogram,
    up: Gauge,
}

impl Prom {
    fn new() -> Prom {
        let load_duration = Family::<TableLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        let mut p = Prom {
            registry: Registry::with_prefix("starpipe"),
            rows_loaded: Family::default(),
            loads: Family::default(),
            load_duration,
            load_bytes: Family::default(),
            partition_lag: Family::default(),
            committed_offset: Family::default(),
            memory_used: Gauge::default(),
            memory_limit: Gauge::default(),
            dead_letters: Family::default(),
            ddl: Family::default(),
            dropped_values: Family::default(),
            freshness: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            up: Gauge::default(),
        };
        p.register();
        p.up.set(1);
        p
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "rows_loaded",
            "Rows loaded into StarRocks",
            self.rows_loaded.clone(),
        );
        r.register("loads", "Stream Loads by result", self.loads.clone());
        r.register(
            "load_duration_seconds",
            "Duration of a successful Stream Load, retries included",
            self.load_duration.clone(),
        );
        r.register("load_bytes", "Body bytes loaded", self.load_bytes.clone());
        r.register(
            "partition_lag",
            "Messages not yet committed, per partition",
            self.partition_lag.clone(),
        );
        r.register(
            "committed_offset",
            "The group's committed offset, per partition",
            self.committed_offset.clone(),
        );
        r.register(
            "memory_used_bytes",
            "Bytes held in the memory budget",
            self.memory_used.clone(),
        );
        r.register(
            "memory_limit_bytes",
            "totalDataInMemMb in bytes",
            self.memory_limit.clone(),
        );
        r.register(
            "dead_letters",
            "Dead letters produced, by source topic",
            self.dead_letters.clone(),
        );
        r.register("ddl", "DDL statements by result", self.ddl.clone());
        r.register(
            "dropped_values",
            "Values of message columns the target lacks, dropped (onUnknownColumn = ignore)",
            self.dropped_values.clone(),
        );
        r.register(
            "freshness_seconds",
            "Load time minus the message's Kafka timestamp",
            self.freshness.clone(),
        );
        r.register("up", "1 while the job runs", self.up.clone());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            messages: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            rows_decoded: AtomicU64::new(0),
            rows_loaded: AtomicU64::new(0),
            bytes_loaded: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            bad_messages: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            last_load_ms: AtomicU64::new(0),
            lag: AtomicI64::new(0),
            tables: Mutex::new(BTreeMap::new()),
            prom: Prom::new(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl Metrics {
    /// A load of `table` succeeded.
    pub(crate) fn loaded(&self, table: &str, done: LoadDone) {
        let rows = done.upserts + done.deletes;
        self.rows_loaded.fetch_add(rows, Ordering::Relaxed);
        self.bytes_loaded.fetch_add(done.bytes, Ordering::Relaxed);
        self.loads.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        self.last_load_ms.store(now, Ordering::Relaxed);
        let p = &self.prom;
        let t = || table.to_string();
        p.rows_loaded
            .get_or_create(&TableOp {
                table: t(),
                op: "upsert",
            })
            .inc_by(done.upserts);
        p.rows_loaded
            .get_or_create(&TableOp {
                table: t(),
                op: "delete",
            })
            .inc_by(done.deletes);
        p.loads
            .get_or_create(&TableResult {
                table: t(),
                result: "success",
            })
            .inc();
        p.load_duration
            .get_or_create(&TableLabel { table: t() })
            .observe(done.took.as_secs_f64());
        p.load_bytes
            .get_or_create(&TableLabel { table: t() })
            .inc_by(done.bytes);
        let mut tables = self.tables.lock();
        let s = tables.entry(t()).or_default();
        s.loads += 1;
        s.rows_upserted += done.upserts;
        s.rows_deleted += done.deletes;
        s.bytes += done.bytes;
        s.last_load = Some(rfc3339(now));
        s.last_error = None;
    }

    /// A load attempt of `table` failed and is retried.
    pub(crate) fn load_retried(&self, table: &str) {
        let key = TableResult {
            table: table.to_string(),
            result: "retry",
        };
        self.prom.loads.get_or_create(&key).inc();
    }

    /// A load of `table` failed for good.
    pub(crate) fn load_failed(&self, table: &str, error: &str) {
        let key = TableResult {
            table: table.to_string(),
            result: "failure",
        };
        self.prom.loads.get_or_create(&key).inc();
        self.table_error(table, error);
    }

    /// The last error seen for `table` (also while it is retried).
    pub(crate) fn table_error(&self, table: &str, error: &str) {
        let mut tables = self.tables.lock();
        tables.entry(table.to_string()).or_default().last_error = Some(error.to_string());
    }

    pub(crate) fn pending(&self, table: &str, bytes: u64) {
        self.tables
            .lock()
            .entry(table.to_string())
            .or_default()
            .pending_bytes = bytes;
    }

    /// Messages with these Kafka timestamps (ms since the epoch) are now loaded.
    pub(crate) fn fresh(&self, timestamps: &[i64]) {
        let now = now_ms() as i64;
        for ts in timestamps {
            self.prom
                .freshness
                .observe((now - ts).max(0) as f64 / 1000.0);
        }
    }

    pub(crate) fn dead_letter(&self, topic: &str) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        let key = TopicLabel {
            topic: topic.to_string(),
        };
        self.prom.dead_letters.get_or_create(&key).inc();
    }

    pub(crate) fn ddl(&self, table: &str, result: DdlResult) {
        let key = TableResult {
            table: table.to_string(),
            result: result.as_str(),
        };
        self.prom.ddl.get_or_create(&key).inc();
    }

    /// `values` of unknown columns were dropped (`onUnknownColumn = "ignore"`).
    pub(crate) fn dropped_values(&self, table: &str, values: u64) {
        let key = TableLabel {
            table: table.to_string(),
        };
        self.prom.dropped_values.get_or_create(&key).inc_by(values);
    }

    /// librdkafka's statistics: each partition's lag.
    pub(crate) fn lags(&self, lags: &[(String, i32, i64)]) {
        let mut total = 0;
        for (topic, partition, lag) in lags {
            let key = PartitionLabel {
                topic: topic.clone(),
                partition: partition.to_string(),
            };
            self.prom.partition_lag.get_or_create(&key).set(*lag);
            total += (*lag).max(0);
        }
        self.lag.store(total, Ordering::Relaxed);
    }

    pub(crate) fn committed(&self, topic: &str, partition: i32, offset: i64) {
        let key = PartitionLabel {
            topic: topic.to_string(),
            partition: partition.to_string(),
        };
        self.prom.committed_offset.get_or_create(&key).set(offset);
    }

    /// The sum of the partitions' lag, as last reported.
    pub(crate) fn total_lag(&self) -> i64 {
        self.lag.load(Ordering::Relaxed)
    }

    /// How long ago the last load succeeded (since `started` when none did).
    pub(crate) fn since_last_load(&self, started_ms: u64) -> Duration {
        let last = self.last_load_ms.load(Ordering::Relaxed).max(started_ms);
        Duration::from_millis(now_ms().saturating_sub(last))
    }

    pub(crate) fn set_down(&self) {
        self.prom.up.set(0);
    }

    /// Every table's state.
    pub(crate) fn tables(&self) -> BTreeMap<String, TableStatus> {
        self.tables.lock().clone()
    }

    /// The metrics in Prometheus' text format; memory gauges as given.
    pub(crate) fn encode(&self, memory_used: u64, memory_limit: u64) -> String {
        self.prom.memory_used.set(memory_used as i64);
        self.prom.memory_limit.set(memory_limit as i64);
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.prom.registry);
        out
    }
}
