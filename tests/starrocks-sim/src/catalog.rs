//! Databases, tables (schema + in-memory rows) and asynchronous schema-change jobs (§5.2, §5.4).
//!
//! Each table sits behind its own mutex so loads to different tables apply in parallel; the
//! catalog lock is only held for lookups and DDL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

use crate::types::{ColType, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum DefaultValue {
    Literal(String),
    CurrentTimestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub nullable: bool,
    pub default: Option<DefaultValue>,
    pub comment: String,
    /// Aggregate function of AGGREGATE KEY value columns (SUM, REPLACE, ...).
    pub agg: Option<String>,
    pub auto_increment: bool,
}

impl Column {
    /// Value a row gets when the load does not provide this column.
    pub fn default_value(&self) -> Value {
        match &self.default {
            None => Value::Null,
            Some(DefaultValue::CurrentTimestamp) => Value::Str(now_datetime_text()),
            Some(DefaultValue::Literal(s)) => {
                crate::types::convert(crate::types::Input::Text(s), &self.ty).unwrap_or(Value::Null)
            }
        }
    }

    pub fn has_default(&self) -> bool {
        self.default.is_some() || self.nullable || self.auto_increment
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysType {
    Primary,
    Duplicate,
    Unique,
    Aggregate,
}

impl KeysType {
    pub fn sql(&self) -> &'static str {
        match self {
            KeysType::Primary => "PRIMARY KEY",
            KeysType::Duplicate => "DUPLICATE KEY",
            KeysType::Unique => "UNIQUE KEY",
            KeysType::Aggregate => "AGGREGATE KEY",
        }
    }
    /// `information_schema.tables_config.TABLE_MODEL`.
    pub fn model(&self) -> &'static str {
        match self {
            KeysType::Primary => "PRI_KEYS",
            KeysType::Duplicate => "DUP_KEYS",
            KeysType::Unique => "UNQ_KEYS",
            KeysType::Aggregate => "AGG_KEYS",
        }
    }
    /// `information_schema.columns.COLUMN_KEY` for key columns.
    pub fn column_key(&self) -> &'static str {
        match self {
            KeysType::Primary => "PRI",
            KeysType::Duplicate => "DUP",
            KeysType::Unique => "UNI",
            KeysType::Aggregate => "AGG",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Distribution {
    Hash {
        cols: Vec<String>,
        buckets: Option<u32>,
    },
    Random {
        buckets: Option<u32>,
    },
}

#[derive(Clone, Debug)]
pub struct TableMeta {
    pub id: u64,
    pub db: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub keys_type: KeysType,
    /// The key columns are always the leading `key_count` columns (validated at CREATE).
    pub key_count: usize,
    pub distribution: Distribution,
    pub order_by: Vec<String>,
    pub partition_by: Option<String>,
    pub properties: Vec<(String, String)>,
    pub comment: String,
    pub schema_version: u64,
}

impl TableMeta {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        // Column names are case-insensitive in StarRocks (§5.2).
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn key_names(&self) -> Vec<String> {
        self.columns[..self.key_count]
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn show_create(&self) -> String {
        let mut s = format!("CREATE TABLE `{}` (\n", self.name);
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut l = format!("  `{}` {}", c.name, c.ty.ddl_name());
                if let Some(a) = &c.agg {
                    l.push(' ');
                    l.push_str(a);
                }
                l.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
                if c.auto_increment {
                    l.push_str(" AUTO_INCREMENT");
                }
                match &c.default {
                    Some(DefaultValue::Literal(v)) => l.push_str(&format!(" DEFAULT \"{v}\"")),
                    Some(DefaultValue::CurrentTimestamp) => {
                        l.push_str(" DEFAULT CURRENT_TIMESTAMP")
                    }
                    None => {}
                }
                l.push_str(&format!(" COMMENT \"{}\"", c.comment));
                l
            })
            .collect();
        s.push_str(&cols.join(",\n"));
        s.push_str("\n) ENGINE=OLAP \n");
        let keys: Vec<String> = self.key_names().iter().map(|k| format!("`{k}`")).collect();
        s.push_str(&format!("{}({})\n", self.keys_type.sql(), keys.join(", ")));
        s.push_str(&format!("COMMENT \"{}\"\n", self.comment));
        if let Some(p) = &self.partition_by {
            s.push_str(p);
            s.push('\n');
        }
        match &self.distribution {
            Distribution::Hash { cols, buckets } => {
                let c: Vec<String> = cols.iter().map(|k| format!("`{k}`")).collect();
                s.push_str(&format!("DISTRIBUTED BY HASH({})", c.join(", ")));
                if let Some(b) = buckets {
                    s.push_str(&format!(" BUCKETS {b}"));
                }
            }
            Distribution::Random { buckets } => {
                s.push_str("DISTRIBUTED BY RANDOM");
                if let Some(b) = buckets {
                    s.push_str(&format!(" BUCKETS {b}"));
                }
            }
        }
        s.push_str(" \n");
        if !self.order_by.is_empty() {
            let c: Vec<String> = self.order_by.iter().map(|k| format!("`{k}`")).collect();
            s.push_str(&format!("ORDER BY({})\n", c.join(", ")));
        }
        s.push_str("PROPERTIES (\n");
        let props: Vec<String> = self
            .properties
            .iter()
            .map(|(k, v)| format!("\"{k}\" = \"{v}\""))
            .collect();
        s.push_str(&props.join(",\n"));
        s.push_str("\n);");
        s
    }
}

/// One committed-but-not-yet-visible load (publish queue, models `Publish Timeout`).
pub struct PendingPublish {
    pub txn_id: i64,
    pub visible_at: Instant,
    pub apply: Box<dyn FnOnce(&mut TableData) + Send>,
    /// False in discard mode: the table, its version included, stays as it was.
    pub bumps_version: bool,
}

pub struct TableData {
    pub meta: Arc<TableMeta>,
    /// Key columns (plus an insertion sequence for DUPLICATE tables) → full row.
    pub rows: BTreeMap<Vec<Value>, Vec<Value>>,
    pub dup_seq: i128,
    /// Visible version (+1 per published load).
    pub version: u64,
    /// Versions not yet merged by the modelled compaction (§9.2 "too many versions").
    pub pending_versions: f64,
    pub versions_updated: Instant,
    pub publish_queue: std::collections::VecDeque<PendingPublish>,
}

impl TableData {
    pub fn key_of(&mut self, row: &[Value]) -> Vec<Value> {
        let mut key: Vec<Value> = row[..self.meta.key_count].to_vec();
        if self.meta.keys_type == KeysType::Duplicate {
            self.dup_seq += 1;
            key.push(Value::Int(self.dup_seq));
        }
        key
    }

    /// Applies every publish whose time has come, in commit order: a later version never
    /// becomes visible before an earlier one.
    pub fn publish_due(&mut self) -> Vec<i64> {
        let now = Instant::now();
        let mut published = Vec::new();
        while self
            .publish_queue
            .front()
            .is_some_and(|p| p.visible_at <= now)
        {
            let p = self.publish_queue.pop_front().expect("front checked");
            (p.apply)(self);
            if p.bumps_version {
                self.version += 1;
            }
            published.push(p.txn_id);
        }
        published
    }
}

pub type TableRef = Arc<Mutex<TableData>>;

pub struct Database {
    pub id: u64,
    pub tables: BTreeMap<String, TableRef>,
}

#[derive(Clone, Debug)]
pub enum AlterOp {
    Add {
        col: Column,
        position: Option<ColumnPosition>,
    },
    Drop(String),
    Modify {
        col: Column,
        position: Option<ColumnPosition>,
    },
}

#[derive(Clone, Debug)]
pub enum ColumnPosition {
    First,
    After(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Pending,
    WaitingTxn,
    Running,
    Finished,
    Cancelled,
}

impl JobState {
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Pending => "PENDING",
            JobState::WaitingTxn => "WAITING_TXN",
            JobState::Running => "RUNNING",
            JobState::Finished => "FINISHED",
            JobState::Cancelled => "CANCELLED",
        }
    }
    pub fn done(&self) -> bool {
        matches!(self, JobState::Finished | JobState::Cancelled)
    }
}

#[derive(Clone, Debug)]
pub struct AlterJob {
    pub job_id: u64,
    pub db: String,
    pub table: String,
    pub table_id: u64,
    pub create_time: SystemTime,
    pub finish_time: Option<SystemTime>,
    pub started: Instant,
    pub duration: Duration,
    pub state: JobState,
    pub msg: String,
    pub ops: Vec<AlterOp>,
    pub schema_version: u64,
    pub timeout_s: u64,
    /// Set by the `cancel_schema_change` fault: when the job would finish it is CANCELLED
    /// with this `Msg` instead, and the schema stays as it was.
    pub fail_with: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("Unknown database '{0}'")]
    UnknownDb(String),
    #[error("Can't create database '{0}'; database exists")]
    DbExists(String),
    #[error("Table '{0}' already exists")]
    TableExists(String),
    #[error("Unknown table '{0}'")]
    UnknownTable(String),
    /// StarRocks `ERR_BAD_FIELD_ERROR`.
    #[error("Unknown column '{column}' in '{table}'")]
    UnknownColumn { column: String, table: String },
    /// StarRocks `ERR_DUP_FIELDNAME`.
    #[error("Duplicate column name '{0}'")]
    DuplicateColumn(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Default)]
pub struct CatalogInner {
    pub dbs: BTreeMap<String, Database>,
    pub jobs: Vec<AlterJob>,
    next_id: u64,
}

#[derive(Default)]
pub struct Catalog {
    pub inner: RwLock<CatalogInner>,
}

impl CatalogInner {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        10000 + self.next_id
    }
}

impl Catalog {
    pub fn new() -> Self {
        let c = Catalog::default();
        let _ = c.create_database("_statistics_", true);
        c
    }

    pub fn create_database(&self, name: &str, if_not_exists: bool) -> Result<(), CatalogError> {
        validate_name(name, "database")?;
        let mut g = self.inner.write();
        if g.dbs.contains_key(name) {
            return if if_not_exists {
                Ok(())
            } else {
                Err(CatalogError::DbExists(name.into()))
            };
        }
        let id = g.next_id();
        g.dbs.insert(
            name.into(),
            Database {
                id,
                tables: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub fn drop_database(&self, name: &str, if_exists: bool) -> Result<(), CatalogError> {
        let mut g = self.inner.write();
        if g.dbs.remove(name).is_none() && !if_exists {
            return Err(CatalogError::UnknownDb(name.into()));
        }
        Ok(())
    }

    /// A number that grows with every metadata change (`ReplayedJournalId` of SHOW FRONTENDS).
    pub fn journal_id(&self) -> u64 {
        self.inner.read().next_id
    }

    pub fn table_count(&self) -> usize {
        self.inner.read().dbs.values().map(|d| d.tables.len()).sum()
    }

    pub fn db_exists(&self, name: &str) -> bool {
        self.inner.read().dbs.contains_key(name)
    }

    pub fn db_id(&self, name: &str) -> Option<u64> {
        self.inner.read().dbs.get(name).map(|d| d.id)
    }

    pub fn table(&self, db: &str, table: &str) -> Result<TableRef, CatalogError> {
        self.tick_jobs();
        let g = self.inner.read();
        let d = g
            .dbs
            .get(db)
            .ok_or_else(|| CatalogError::UnknownDb(db.into()))?;
        d.tables
            .get(table)
            .cloned()
            .ok_or_else(|| CatalogError::UnknownTable(format!("{db}.{table}")))
    }

    pub fn create_table(
        &self,
        mut meta: TableMeta,
        if_not_exists: bool,
    ) -> Result<(), CatalogError> {
        validate_table(&meta)?;
        let mut g = self.inner.write();
        let id = g.next_id();
        let d = g
            .dbs
            .get_mut(&meta.db)
            .ok_or_else(|| CatalogError::UnknownDb(meta.db.clone()))?;
        if d.tables.contains_key(&meta.name) {
            return if if_not_exists {
                Ok(())
            } else {
                Err(CatalogError::TableExists(meta.name.clone()))
            };
        }
        meta.id = id;
        let name = meta.name.clone();
        d.tables
            .insert(name, Arc::new(Mutex::new(new_table_data(meta))));
        Ok(())
    }

    pub fn drop_table(&self, db: &str, table: &str, if_exists: bool) -> Result<(), CatalogError> {
        let mut g = self.inner.write();
        let d = g
            .dbs
            .get_mut(db)
            .ok_or_else(|| CatalogError::UnknownDb(db.into()))?;
        if d.tables.remove(table).is_none() && !if_exists {
            return Err(CatalogError::UnknownTable(table.into()));
        }
        Ok(())
    }

    pub fn rename_table(&self, db: &str, from: &str, to: &str) -> Result<(), CatalogError> {
        validate_name(to, "table")?;
        let mut g = self.inner.write();
        let d = g
            .dbs
            .get_mut(db)
            .ok_or_else(|| CatalogError::UnknownDb(db.into()))?;
        if d.tables.contains_key(to) {
            return Err(CatalogError::TableExists(to.into()));
        }
        let t = d
            .tables
            .remove(from)
            .ok_or_else(|| CatalogError::UnknownTable(from.into()))?;
        {
            let mut td = t.lock();
            let mut m = (*td.meta).clone();
            m.name = to.into();
            td.meta = Arc::new(m);
        }
        d.tables.insert(to.into(), t);
        Ok(())
    }

    /// `ALTER TABLE t RENAME COLUMN a TO b`: a synchronous metadata change, like StarRocks'
    /// `LocalMetastore.renameColumn` (no schema-change job; refused while one runs). Key
    /// columns may be renamed. Stored rows are untouched: they are positional, so loads
    /// planned before the rename still land in the right columns.
    pub fn rename_column(
        &self,
        db: &str,
        table: &str,
        from: &str,
        to: &str,
    ) -> Result<(), CatalogError> {
        self.tick_jobs();
        if db == "_statistics_" || db.eq_ignore_ascii_case("information_schema") {
            return Err(CatalogError::Invalid(format!(
                "Can not rename column in internal database: {db}"
            )));
        }
        validate_name(to, "column")?;
        let t = self.table(db, table)?;
        if self.running_job(db, table).is_some() {
            return Err(CatalogError::Invalid(
                "Can not rename column of table in SCHEMA_CHANGE state".into(),
            ));
        }
        let mut td = t.lock();
        let mut m = (*td.meta).clone();
        let idx = m
            .column_index(from)
            .ok_or_else(|| CatalogError::UnknownColumn {
                column: from.into(),
                table: table.into(),
            })?;
        if m.column_index(to).is_some() {
            return Err(CatalogError::DuplicateColumn(to.into()));
        }
        let old = std::mem::replace(&mut m.columns[idx].name, to.to_string());
        let rename = |n: &mut String| {
            if n.eq_ignore_ascii_case(&old) {
                *n = to.to_string();
            }
        };
        if let Distribution::Hash { cols, .. } = &mut m.distribution {
            cols.iter_mut().for_each(rename);
        }
        m.order_by.iter_mut().for_each(rename);
        td.meta = Arc::new(m);
        Ok(())
    }

    pub fn truncate(&self, db: &str, table: &str) -> Result<(), CatalogError> {
        let t = self.table(db, table)?;
        if self.running_job(db, table).is_some() {
            return Err(CatalogError::Invalid(format!(
                "Table[{table}]'s state is not NORMAL. Do not allow doing TRUNCATE ops"
            )));
        }
        let mut td = t.lock();
        td.publish_due();
        td.rows.clear();
        td.version += 1;
        Ok(())
    }

    pub fn running_job(&self, db: &str, table: &str) -> Option<u64> {
        self.inner
            .read()
            .jobs
            .iter()
            .find(|j| j.db == db && j.table == table && !j.state.done())
            .map(|j| j.job_id)
    }

    /// Validates the ALTER against the current schema and submits an async job.
    pub fn submit_alter(
        &self,
        db: &str,
        table: &str,
        ops: Vec<AlterOp>,
        duration: Duration,
        fail_with: impl FnOnce() -> Option<String>,
    ) -> Result<u64, CatalogError> {
        self.tick_jobs();
        let t = self.table(db, table)?;
        if self.running_job(db, table).is_some() {
            return Err(CatalogError::Invalid(format!(
                "A schema change operation is in progress on the table \"{table}\". Please wait for it to complete before submitting a new one. Table[{table}]'s state is not NORMAL. Do not allow doing ALTER ops"
            )));
        }
        let meta = t.lock().meta.clone();
        // Validate by applying to a copy; the real apply happens when the job finishes.
        let new_meta = apply_ops(&meta, &ops)?;
        // Asked only now, so a rejected ALTER does not use up a fault.
        let fail_with = fail_with();
        let mut g = self.inner.write();
        let job_id = g.next_id();
        g.jobs.push(AlterJob {
            job_id,
            db: db.into(),
            table: table.into(),
            table_id: meta.id,
            create_time: SystemTime::now(),
            finish_time: None,
            started: Instant::now(),
            duration,
            state: JobState::Pending,
            msg: String::new(),
            ops,
            schema_version: new_meta.schema_version,
            timeout_s: 86400,
            fail_with,
        });
        drop(g);
        self.tick_jobs();
        Ok(job_id)
    }

    pub fn cancel_alter(&self, db: &str, table: &str) -> Result<(), CatalogError> {
        let mut g = self.inner.write();
        let job = g
            .jobs
            .iter_mut()
            .find(|j| j.db == db && j.table == table && !j.state.done())
            .ok_or_else(|| {
                CatalogError::Invalid(format!(
                    "Table[{table}] is under NORMAL state. Do not need to cancel."
                ))
            })?;
        job.state = JobState::Cancelled;
        job.msg = "user cancelled".into();
        job.finish_time = Some(SystemTime::now());
        Ok(())
    }

    /// Moves jobs along by elapsed time; the schema is swapped in at FINISHED. Lazy so no
    /// background thread is needed: every statement, load and control call ticks first.
    pub fn tick_jobs(&self) {
        let due: Vec<(usize, AlterJob)> = {
            let g = self.inner.read();
            g.jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| !j.state.done())
                .map(|(i, j)| (i, j.clone()))
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let mut g = self.inner.write();
        for (i, job) in due {
            let elapsed = job.started.elapsed();
            let state = if elapsed >= job.duration {
                JobState::Finished
            } else if elapsed * 4 < job.duration {
                JobState::Pending
            } else if elapsed * 2 < job.duration {
                JobState::WaitingTxn
            } else {
                JobState::Running
            };
            let Some(j) = g.jobs.get_mut(i) else { continue };
            if j.state.done() {
                continue;
            }
            if state == JobState::Finished {
                let table = g
                    .dbs
                    .get(&job.db)
                    .and_then(|d| d.tables.get(&job.table))
                    .cloned();
                let j = &mut g.jobs[i];
                match table {
                    _ if job.fail_with.is_some() => {
                        j.state = JobState::Cancelled;
                        j.msg = job.fail_with.clone().unwrap_or_default();
                    }
                    Some(t) => {
                        let mut td = t.lock();
                        td.publish_due();
                        match apply_ops(&td.meta, &job.ops) {
                            Ok(new_meta) => {
                                migrate_rows(&mut td, new_meta);
                                j.state = JobState::Finished;
                            }
                            Err(e) => {
                                j.state = JobState::Cancelled;
                                j.msg = e.to_string();
                            }
                        }
                    }
                    None => {
                        j.state = JobState::Cancelled;
                        j.msg = "table does not exist".into();
                    }
                }
                j.finish_time = Some(SystemTime::now());
            } else {
                j.state = state;
            }
        }
    }
}

fn new_table_data(meta: TableMeta) -> TableData {
    TableData {
        meta: Arc::new(meta),
        rows: BTreeMap::new(),
        dup_seq: 0,
        version: 1,
        pending_versions: 0.0,
        versions_updated: Instant::now(),
        publish_queue: Default::default(),
    }
}

/// Rewrites stored rows for a new schema by column name (new columns get their default).
pub fn migrate_rows(td: &mut TableData, new_meta: TableMeta) {
    let old = td.meta.clone();
    let map: Vec<Option<usize>> = new_meta
        .columns
        .iter()
        .map(|c| old.column_index(&c.name))
        .collect();
    let defaults: Vec<Value> = new_meta.columns.iter().map(|c| c.default_value()).collect();
    let types: Vec<ColType> = new_meta.columns.iter().map(|c| c.ty.clone()).collect();
    for row in td.rows.values_mut() {
        let new_row: Vec<Value> = map
            .iter()
            .enumerate()
            .map(|(i, m)| match m {
                Some(j) => recast(&row[*j], &types[i]),
                None => defaults[i].clone(),
            })
            .collect();
        *row = new_row;
    }
    td.meta = Arc::new(new_meta);
}

fn recast(v: &Value, ty: &ColType) -> Value {
    match v.to_text() {
        None => Value::Null,
        Some(t) => crate::types::convert(crate::types::Input::Text(&t), ty).unwrap_or(Value::Null),
    }
}

pub fn apply_ops(meta: &TableMeta, ops: &[AlterOp]) -> Result<TableMeta, CatalogError> {
    let mut m = meta.clone();
    for op in ops {
        match op {
            AlterOp::Add { col, position } => {
                validate_name(&col.name, "column")?;
                if m.column_index(&col.name).is_some() {
                    return Err(CatalogError::Invalid(format!(
                        "Can not add column which already exists in base table: {}",
                        col.name
                    )));
                }
                if !col.nullable && col.default.is_none() {
                    return Err(CatalogError::Invalid(format!(
                        "Can not add column which is NOT NULL and has no default value: {}",
                        col.name
                    )));
                }
                let idx = position_index(&m, position.as_ref(), None)?;
                if idx < m.key_count {
                    return Err(CatalogError::Invalid(
                        "Can not add column before key columns of a primary key table".into(),
                    ));
                }
                m.columns.insert(idx, col.clone());
            }
            AlterOp::Drop(name) => {
                let idx = m.column_index(name).ok_or_else(|| {
                    CatalogError::Invalid(format!("Column does not exists: {name}"))
                })?;
                if idx < m.key_count {
                    return Err(CatalogError::Invalid(format!(
                        "Can not drop key column {name} in primary data model table"
                    )));
                }
                m.columns.remove(idx);
            }
            AlterOp::Modify { col, position } => {
                let idx = check_modify(&m, col, position.as_ref())?;
                let old = &m.columns[idx];
                let mut new_col = col.clone();
                new_col.name = old.name.clone();
                if m.keys_type != KeysType::Aggregate {
                    // Only AGGREGATE tables spell the aggregation out; others keep theirs.
                    new_col.agg = old.agg.clone();
                }
                m.columns.remove(idx);
                let at = position_index(&m, position.as_ref(), Some(idx))?;
                m.columns.insert(at, new_col);
            }
        }
    }
    if m.columns == meta.columns {
        return Err(CatalogError::Invalid(
            "Nothing is changed. please check your alter stmt.".into(),
        ));
    }
    m.schema_version += 1;
    Ok(m)
}

/// MODIFY COLUMN checks, in the order of StarRocks' `SchemaChangeHandler.processModifyColumn`
/// then `Column.checkSchemaChangeAllowed`, with their messages. Returns the column's index.
fn check_modify(
    m: &TableMeta,
    col: &Column,
    pos: Option<&ColumnPosition>,
) -> Result<usize, CatalogError> {
    let invalid = |msg: String| Err(CatalogError::Invalid(msg));
    let name = &col.name;
    let found = m.column_index(name);
    let is_key = found.is_some_and(|i| i < m.key_count);
    match m.keys_type {
        KeysType::Primary if is_key => {
            return invalid(format!(
                "Can not modify key column: {name} for primary key table"
            ));
        }
        KeysType::Primary if m.order_by.iter().any(|c| c.eq_ignore_ascii_case(name)) => {
            return invalid("Can not modify sort column in primary data model table".into());
        }
        KeysType::Aggregate if is_key && col.agg.is_some() => {
            return invalid(format!(
                "Can not assign aggregation method on key column: {name}"
            ));
        }
        KeysType::Unique | KeysType::Duplicate if col.agg.is_some() => {
            let model = if m.keys_type == KeysType::Unique {
                "Unique"
            } else {
                "Duplicate"
            };
            return invalid(format!(
                "Can not assign aggregation method on column in {model} data model table: {name}"
            ));
        }
        _ => {}
    }
    let Some(idx) = found else {
        return invalid(format!("Column[{name}] does not exists"));
    };
    if let Some(ColumnPosition::After(c)) = pos
        && m.column_index(c).is_none()
    {
        return invalid(format!("Column[{c}] does not exists"));
    }
    let old = &m.columns[idx];
    if old.auto_increment {
        return invalid("Can't not modify a AUTO_INCREMENT column".into());
    }
    if !old.ty.schema_change_allowed(&col.ty) {
        return invalid(format!(
            "Can not change {} to {}",
            old.ty.sr_name(),
            col.ty.sr_name()
        ));
    }
    if m.keys_type == KeysType::Aggregate && old.agg != col.agg {
        return invalid("Can not change aggregation type".into());
    }
    if old.nullable && !col.nullable {
        return invalid("Can not change from nullable to non-nullable".into());
    }
    // Adding, dropping or changing a DEFAULT is not a MODIFY COLUMN StarRocks accepts.
    if old.default != col.default {
        return invalid("Can not change default value".into());
    }
    if let (Some(from), Some(to)) = (old.ty.str_len(), col.ty.str_len())
        && from > to
    {
        return invalid("Cannot shorten string length".into());
    }
    Ok(idx)
}

fn position_index(
    m: &TableMeta,
    pos: Option<&ColumnPosition>,
    default: Option<usize>,
) -> Result<usize, CatalogError> {
    Ok(match pos {
        None => default.unwrap_or(m.columns.len()),
        Some(ColumnPosition::First) => 0,
        Some(ColumnPosition::After(c)) => {
            m.column_index(c)
                .ok_or_else(|| CatalogError::Invalid(format!("Column[{c}] does not exists")))?
                + 1
        }
    })
}

/// StarRocks' name rules (`FeNameFormat`, 3.3+): database names
/// `^[a-zA-Z]\w{0,255}$|^_[a-zA-Z0-9]\w{0,254}$`; table names 1–1024 characters without NUL;
/// column names 1–1024 characters without NUL, `=`, `<`, `>`, `!`, `*`, and not starting with a
/// schema-change shadow prefix. (The documentation's `[0-9A-Za-z_]` is stricter than the FE.)
pub fn validate_name(name: &str, what: &str) -> Result<(), CatalogError> {
    let chars = name.chars().count();
    let ok = match what {
        "database" => {
            let b = name.as_bytes();
            let start = match b {
                [first, ..] if first.is_ascii_alphabetic() => true,
                [b'_', second, ..] => second.is_ascii_alphanumeric(),
                _ => false,
            };
            start && b.len() <= 256 && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        "column" => {
            (1..=1024).contains(&chars)
                && !name.contains(['\0', '=', '<', '>', '!', '*'])
                && !name.starts_with("__starrocks_shadow_")
                && !name.starts_with("__doris_shadow_")
        }
        _ => (1..=1024).contains(&chars) && !name.contains('\0'),
    };
    if ok {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "Incorrect {what} name '{name}'"
        )))
    }
}

/// Key-column rules of §5.2 with StarRocks' messages.
fn validate_table(m: &TableMeta) -> Result<(), CatalogError> {
    validate_name(&m.name, "table")?;
    if m.columns.is_empty() {
        return Err(CatalogError::Invalid(
            "Table should have at least one column".into(),
        ));
    }
    let mut seen = HashMap::new();
    for c in &m.columns {
        validate_name(&c.name, "column")?;
        if seen.insert(c.name.to_ascii_lowercase(), ()).is_some() {
            return Err(CatalogError::Invalid(format!(
                "Duplicate column name '{}'",
                c.name
            )));
        }
    }
    if m.keys_type == KeysType::Primary {
        let mut key_bytes = 0;
        for c in &m.columns[..m.key_count] {
            if c.nullable {
                return Err(CatalogError::Invalid(format!(
                    "primary key column[{}] cannot be nullable",
                    c.name
                )));
            }
            if !c.ty.allowed_in_primary_key() {
                return Err(CatalogError::Invalid(format!(
                    "primary key column[{}] type not supported: {}",
                    c.name,
                    c.ty.desc_name()
                )));
            }
            key_bytes += c.ty.key_width().unwrap_or(0);
        }
        if key_bytes > 128 {
            return Err(CatalogError::Invalid(format!(
                "the size of primary key exceeds the limit 128 bytes: {key_bytes}"
            )));
        }
    }
    if let Distribution::Hash { cols, .. } = &m.distribution {
        for d in cols {
            let idx = m.column_index(d).ok_or_else(|| {
                CatalogError::Invalid(format!("Distribution column[{d}] does not found"))
            })?;
            if idx >= m.key_count && m.keys_type != KeysType::Duplicate {
                return Err(CatalogError::Invalid(format!(
                    "Distribution column[{d}] is not key column"
                )));
            }
        }
    } else if m.keys_type == KeysType::Primary || m.keys_type == KeysType::Unique {
        return Err(CatalogError::Invalid(
            "RANDOM distribution type is only supported in DUPLICATE KEY tables".into(),
        ));
    }
    Ok(())
}

pub fn now_datetime_text() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    epoch_to_datetime(secs)
}

/// Civil-from-days (Howard Hinnant) — renders UTC epoch seconds as `YYYY-MM-DD HH:MM:SS`.
pub fn epoch_to_datetime(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
