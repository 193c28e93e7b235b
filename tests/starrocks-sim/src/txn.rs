//! Transactions and labels (§3): per-database label registry, state machine
//! PREPARE → PREPARED → COMMITTED → VISIBLE / ABORTED, timeouts and label retention.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::stream_load::Prepared;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    Prepare,
    Prepared,
    Committed,
    Visible,
    Aborted,
}

impl TxnState {
    pub fn name(&self) -> &'static str {
        match self {
            TxnState::Prepare => "PREPARE",
            TxnState::Prepared => "PREPARED",
            TxnState::Committed => "COMMITTED",
            TxnState::Visible => "VISIBLE",
            TxnState::Aborted => "ABORTED",
        }
    }

    /// `ExistingJobStatus` for a duplicate label (§3.1).
    pub fn existing_job_status(&self) -> &'static str {
        match self {
            TxnState::Prepare | TxnState::Prepared => "RUNNING",
            _ => "FINISHED",
        }
    }

    pub fn finished(&self) -> bool {
        matches!(
            self,
            TxnState::Committed | TxnState::Visible | TxnState::Aborted
        )
    }
}

/// Extra state of a transaction-interface (2PC) transaction.
pub struct ApiTxn {
    pub be: usize,
    pub idle_timeout: Option<Duration>,
    pub last_activity: Instant,
    pub prepared_at: Option<Instant>,
    pub prepared_timeout: Duration,
    pub busy: bool,
    pub loads: Vec<Prepared>,
    pub seq: u64,
    pub total_rows: u64,
    pub loaded_rows: u64,
    pub filtered_rows: u64,
    pub unselected_rows: u64,
    pub load_bytes: u64,
}

pub struct Txn {
    pub id: i64,
    pub db: String,
    pub table: String,
    pub label: String,
    pub state: TxnState,
    pub created: Instant,
    pub timeout: Duration,
    pub finished_at: Option<Instant>,
    pub reason: String,
    pub api: Option<ApiTxn>,
}

#[derive(Default)]
struct DbTxns {
    labels: HashMap<String, i64>,
    txns: HashMap<i64, Txn>,
    finished: VecDeque<i64>,
}

pub struct Inner {
    next_id: i64,
    dbs: HashMap<String, DbTxns>,
    last_clean: Instant,
}

pub struct TxnRegistry {
    inner: Mutex<Inner>,
}

impl Default for TxnRegistry {
    fn default() -> Self {
        TxnRegistry {
            inner: Mutex::new(Inner {
                next_id: 1000,
                dbs: HashMap::new(),
                last_clean: Instant::now(),
            }),
        }
    }
}

#[derive(Debug)]
pub enum BeginError {
    LabelExists { existing: TxnState },
    TooManyRunning { running: usize, limit: usize },
}

/// Label retention (§3.2) and the running-transaction cap per database.
pub struct Retention {
    pub max_running: usize,
    pub keep_max_second: u64,
    pub keep_max_num: usize,
    pub clean_interval_second: u64,
}

impl TxnRegistry {
    /// Begins a transaction, refusing labels held by a non-aborted transaction.
    pub fn begin(
        &self,
        db: &str,
        table: &str,
        label: &str,
        timeout: Duration,
        api: Option<ApiTxn>,
        retention: &Retention,
    ) -> Result<i64, BeginError> {
        let mut g = self.inner.lock();
        if g.last_clean.elapsed().as_secs() >= retention.clean_interval_second {
            clean_locked(&mut g, retention);
        }
        expire_locked(&mut g);
        let d = g.dbs.entry(db.to_string()).or_default();
        if let Some(id) = d.labels.get(label)
            && let Some(t) = d.txns.get(id)
            && t.state != TxnState::Aborted
        {
            return Err(BeginError::LabelExists { existing: t.state });
        }
        let running = d.txns.values().filter(|t| !t.state.finished()).count();
        if running >= retention.max_running {
            return Err(BeginError::TooManyRunning {
                running,
                limit: retention.max_running,
            });
        }
        g.next_id += 1;
        let id = g.next_id;
        let d = g.dbs.get_mut(db).expect("inserted above");
        d.labels.insert(label.to_string(), id);
        d.txns.insert(
            id,
            Txn {
                id,
                db: db.into(),
                table: table.into(),
                label: label.into(),
                state: TxnState::Prepare,
                created: Instant::now(),
                timeout,
                finished_at: None,
                reason: String::new(),
                api,
            },
        );
        Ok(id)
    }

    /// Moves a transaction to a new state; finished ones enter the retention queue.
    pub fn set_state(&self, db: &str, id: i64, state: TxnState, reason: &str) {
        let mut g = self.inner.lock();
        if let Some(d) = g.dbs.get_mut(db)
            && let Some(t) = d.txns.get_mut(&id)
        {
            let was_finished = t.state.finished();
            t.state = state;
            if !reason.is_empty() {
                t.reason = reason.into();
            }
            if state.finished() && !was_finished {
                t.finished_at = Some(Instant::now());
                d.finished.push_back(id);
            }
        }
    }

    pub fn state(&self, db: &str, id: i64) -> Option<TxnState> {
        let mut g = self.inner.lock();
        expire_locked(&mut g);
        g.dbs.get(db)?.txns.get(&id).map(|t| t.state)
    }

    /// State of a transaction and, once it has ended, when (for the load log).
    pub fn outcome(&self, db: &str, id: i64) -> Option<(TxnState, Option<Instant>)> {
        let mut g = self.inner.lock();
        expire_locked(&mut g);
        g.dbs
            .get(db)?
            .txns
            .get(&id)
            .map(|t| (t.state, t.finished_at))
    }

    pub fn label_state(&self, db: &str, label: &str) -> Option<(i64, TxnState)> {
        let mut g = self.inner.lock();
        expire_locked(&mut g);
        let d = g.dbs.get(db)?;
        let id = d.labels.get(label)?;
        d.txns.get(id).map(|t| (t.id, t.state))
    }

    /// Runs `f` on the transaction holding `label` (after timeouts are enforced).
    pub fn with_label<R>(&self, db: &str, label: &str, f: impl FnOnce(&mut Txn) -> R) -> Option<R> {
        let mut g = self.inner.lock();
        expire_locked(&mut g);
        let d = g.dbs.get_mut(db)?;
        let id = *d.labels.get(label)?;
        let t = d.txns.get_mut(&id)?;
        let was_finished = t.state.finished();
        let r = f(t);
        if t.state.finished() && !was_finished {
            t.finished_at = Some(Instant::now());
            d.finished.push_back(id);
        }
        Some(r)
    }

    /// Runs the label cleaner now (§3.2).
    pub fn clean(&self, retention: &Retention) -> usize {
        let mut g = self.inner.lock();
        clean_locked(&mut g, retention)
    }

    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        let mut g = self.inner.lock();
        expire_locked(&mut g);
        let mut out = Vec::new();
        for d in g.dbs.values() {
            for t in d.txns.values() {
                out.push(serde_json::json!({
                    "txn_id": t.id, "db": t.db, "table": t.table, "label": t.label,
                    "state": t.state.name(), "reason": t.reason,
                }));
            }
        }
        out
    }
}

/// Aborts transactions past their load timeout, idle timeout or prepared timeout.
fn expire_locked(g: &mut Inner) {
    let now = Instant::now();
    for d in g.dbs.values_mut() {
        for t in d.txns.values_mut() {
            let reason = match (&t.api, t.state) {
                (_, TxnState::Prepare) if now.duration_since(t.created) > t.timeout => {
                    Some("timeout by txn manager")
                }
                (Some(a), TxnState::Prepare)
                    if a.idle_timeout
                        .is_some_and(|idle| now.duration_since(a.last_activity) > idle) =>
                {
                    Some("transaction is aborted by idle timeout")
                }
                (Some(a), TxnState::Prepared)
                    if a.prepared_at
                        .is_some_and(|p| now.duration_since(p) > a.prepared_timeout) =>
                {
                    Some("prepared transaction timeout")
                }
                _ => None,
            };
            if let Some(r) = reason {
                t.state = TxnState::Aborted;
                t.reason = r.into();
                t.finished_at = Some(now);
                if let Some(a) = t.api.as_mut() {
                    a.loads.clear();
                }
                d.finished.push_back(t.id);
            }
        }
    }
}

fn clean_locked(g: &mut Inner, r: &Retention) -> usize {
    g.last_clean = Instant::now();
    let mut removed = 0;
    for d in g.dbs.values_mut() {
        let max_age = Duration::from_secs(r.keep_max_second);
        // Age-based pass, then count-based (oldest first) like DatabaseTransactionMgr.
        let mut keep = VecDeque::new();
        while let Some(id) = d.finished.pop_front() {
            let expired = d
                .txns
                .get(&id)
                .and_then(|t| t.finished_at)
                .is_none_or(|f| f.elapsed() >= max_age);
            if expired {
                remove_txn(d, id);
                removed += 1;
            } else {
                keep.push_back(id);
            }
        }
        while keep.len() > r.keep_max_num {
            let id = keep.pop_front().expect("non-empty");
            remove_txn(d, id);
            removed += 1;
        }
        d.finished = keep;
    }
    removed
}

fn remove_txn(d: &mut DbTxns, id: i64) {
    if let Some(t) = d.txns.remove(&id)
        && d.labels.get(&t.label) == Some(&id)
    {
        d.labels.remove(&t.label);
    }
}
