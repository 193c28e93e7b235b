//! Shared process state: static config, tunable limits, counters, credentials.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::faults::Faults;
use crate::gate::Gate;
use crate::loadlog::LoadLog;
use crate::txn::TxnRegistry;

pub struct StaticConfig {
    pub user: String,
    pub password: String,
    pub fe_addr: SocketAddr,
    pub be_addrs: Vec<SocketAddr>,
    pub query_addr: SocketAddr,
    /// FE and BE speak HTTPS: URLs the sim hands out (307 Location, ErrorURL) say `https://`.
    pub tls: bool,
}

impl StaticConfig {
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// Limits and behaviour switches; all can be changed through the control API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// BE `streaming_load_max_mb`.
    pub streaming_load_max_mb: u64,
    /// BE `streaming_load_max_batch_size_mb` (JSON body cap), in bytes for test convenience.
    pub json_max_bytes: u64,
    pub label_keep_max_second: u64,
    pub label_keep_max_num: usize,
    pub label_clean_interval_second: u64,
    pub schema_change_ms: u64,
    pub tablet_max_versions: u64,
    /// Versions merged per second by the modelled compaction.
    pub compaction_versions_per_sec: f64,
    pub max_running_txn_num_per_db: usize,
    pub be_http_concurrency_limit: usize,
    pub error_log_ttl_ms: u64,
    /// Per-BE liveness; a dead BE is not chosen by the FE redirect.
    pub be_alive: Vec<bool>,
    /// Compatibility switch: answer `StreamLoadPutTimeMs` instead of `StreamLoadPlanTimeMs`.
    pub use_put_time_field: bool,
    pub server_version: String,
    /// Benchmarks: loads are received, parsed, validated and answered as usual, but their
    /// rows are not applied (the table does not change).
    pub discard: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            streaming_load_max_mb: 102400,
            json_max_bytes: 104_857_600,
            label_keep_max_second: 259200,
            label_keep_max_num: 1000,
            label_clean_interval_second: 14400,
            schema_change_ms: 200,
            tablet_max_versions: 1000,
            compaction_versions_per_sec: 100.0,
            max_running_txn_num_per_db: 1000,
            be_http_concurrency_limit: 1000,
            error_log_ttl_ms: 48 * 3600 * 1000,
            be_alive: Vec::new(),
            use_put_time_field: false,
            server_version: "8.0.33".into(),
            discard: false,
        }
    }
}

#[derive(Default, Serialize, Clone)]
pub struct TableCounters {
    pub loads: u64,
    pub rows_loaded: u64,
    pub rows_upserted: u64,
    pub rows_deleted: u64,
}

#[derive(Default, Serialize, Clone)]
pub struct Counters {
    /// Stream Load answers by `Status` (`Success`, `Fail`, ...).
    pub loads_by_status: BTreeMap<String, u64>,
    pub rows_total: u64,
    pub rows_loaded: u64,
    pub rows_filtered: u64,
    pub rows_unselected: u64,
    pub rows_upserted: u64,
    pub rows_deleted: u64,
    pub bytes_loaded: u64,
    pub fe_requests: u64,
    pub fe_redirects: u64,
    pub be_requests: u64,
    pub txn_api_by_status: BTreeMap<String, u64>,
    pub sql_statements: u64,
    pub faults_fired: u64,
    /// Per `db.table`.
    pub tables: BTreeMap<String, TableCounters>,
    /// SELECT statements that read each `db.table` (information_schema not included).
    pub selects_by_table: BTreeMap<String, u64>,
}

pub struct Sim {
    pub cfg: StaticConfig,
    pub limits: RwLock<Limits>,
    pub catalog: Catalog,
    pub txns: TxnRegistry,
    pub error_logs: Mutex<HashMap<String, (Instant, String)>>,
    pub faults: Faults,
    pub counters: Mutex<Counters>,
    pub rr: AtomicUsize,
    pub be_inflight: AtomicUsize,
    pub started: Instant,
    pub loadlog: LoadLog,
    /// The FE, BE and query listeners, for `POST /outage`; set once at start-up.
    pub gates: std::sync::OnceLock<Vec<std::sync::Arc<Gate>>>,
}

#[derive(Debug, PartialEq)]
pub enum AuthError {
    Missing,
    Denied(String),
}

impl Sim {
    pub fn new(cfg: StaticConfig, mut limits: Limits) -> Sim {
        limits.be_alive = vec![true; cfg.be_addrs.len()];
        Sim {
            cfg,
            limits: RwLock::new(limits),
            catalog: Catalog::new(),
            txns: TxnRegistry::default(),
            error_logs: Mutex::new(HashMap::new()),
            faults: Faults::default(),
            counters: Mutex::new(Counters::default()),
            rr: AtomicUsize::new(0),
            be_inflight: AtomicUsize::new(0),
            started: Instant::now(),
            loadlog: LoadLog::default(),
            gates: std::sync::OnceLock::new(),
        }
    }

    /// HTTP Basic check; returns the user name.
    pub fn check_basic(&self, header: Option<&str>) -> Result<String, AuthError> {
        let h = header.ok_or(AuthError::Missing)?;
        let b64 = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
            .ok_or(AuthError::Missing)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| AuthError::Missing)?;
        let text = String::from_utf8(raw).map_err(|_| AuthError::Missing)?;
        let (user, pass) = text.split_once(':').ok_or(AuthError::Missing)?;
        if user == self.cfg.user && pass == self.cfg.password {
            Ok(user.to_string())
        } else {
            Err(AuthError::Denied(user.to_string()))
        }
    }

    /// Round-robin over alive BEs (§1.3 step 5).
    pub fn pick_be(&self) -> Option<usize> {
        let alive = self.limits.read().be_alive.clone();
        let n = self.cfg.be_addrs.len();
        for _ in 0..n {
            let i = self.rr.fetch_add(1, Ordering::Relaxed) % n;
            if alive.get(i).copied().unwrap_or(true) {
                return Some(i);
            }
        }
        None
    }

    pub fn be_url(&self, idx: usize) -> String {
        format!("{}://{}", self.cfg.scheme(), self.cfg.be_addrs[idx])
    }

    pub fn count_status(&self, status: &str) {
        *self
            .counters
            .lock()
            .loads_by_status
            .entry(status.to_string())
            .or_default() += 1;
    }

    pub fn store_error_log(&self, rows: &[String], be_idx: usize) -> String {
        static SEQ: AtomicUsize = AtomicUsize::new(1);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "error_log_{:016x}_{:016x}",
            self.started.elapsed().as_nanos() as u64,
            n as u64
        );
        let mut text = rows.join("\n");
        text.push('\n');
        let mut logs = self.error_logs.lock();
        let ttl = self.limits.read().error_log_ttl_ms;
        logs.retain(|_, (t, _)| t.elapsed().as_millis() < ttl as u128);
        logs.insert(name.clone(), (Instant::now(), text));
        format!("{}/api/_load_error_log?file={}", self.be_url(be_idx), name)
    }

    pub fn error_log(&self, file: &str) -> Option<String> {
        let ttl = self.limits.read().error_log_ttl_ms;
        let logs = self.error_logs.lock();
        logs.get(file)
            .filter(|(t, _)| t.elapsed().as_millis() < ttl as u128)
            .map(|(_, s)| s.clone())
    }
}
