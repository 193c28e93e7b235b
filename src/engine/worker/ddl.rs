//! A DDL message in a partition worker: parsed (`crate::ddl`), then applied to its target table
//! behind the table's barrier (ARCHITECTURE.md, "DDL barrier"):
//!
//! 1. the worker hands over its open blocks and closes the table's gate (`gate.rs`): every row
//!    of the table read before the DDL, from every partition, is then in the table's channel;
//! 2. the table's flusher loads all of it;
//! 3. every flusher loads what it has and the worker waits (briefly) until the DDL's partition is
//!    committed up to the DDL, so that a crash after the change replays only the DDL itself;
//! 4. `SchemaChanger` makes each change, waiting for StarRocks' schema-change jobs;
//! 5. the cached schema is read again and the gate opens: later rows use the new schema.
//!
//! Only then is the DDL's offset done. A replay after a crash finds the change already applied.
//! A change that fails stops the job (nothing past the DDL is committed) unless
//! `ddlExceptionSkip` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::writer::{BlockWriter, stop_of};
use super::{AssignedPartition, BadMessage};
use crate::config::{AlertEvent, TargetName};
use crate::ddl::{self, Change, ColumnDef, SourceName};
use crate::decode::RowBatch;
use crate::engine::catalog::{CatalogError, ExecError};
use crate::engine::gate::GateClosed;
use crate::engine::load::sleep_unless_stopped;
use crate::engine::metrics::DdlResult;
use crate::engine::record::{Position, SourceRecord};
use crate::engine::router::RouteError;
use crate::engine::schema_change::{ChangeOutcome, ChangeSite, DdlError, SchemaChanger};
use crate::model::DdlEvent;

/// How long a DDL waits for the other tables' loads and its partition's commit before it is
/// applied anyway (they only shorten what a crash right after the DDL replays).
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// A DDL message's changes and where they are made.
struct DdlJob<'a> {
    target: TargetName,
    source_db: &'a str,
    keys: Option<Vec<String>>,
    changes: Vec<Change>,
    sql: &'a str,
    at: Position<'a>,
}

impl BlockWriter {
    /// Applies a DDL message (see the module doc); with `syncDdl = false` it is logged and
    /// skipped.
    pub(in crate::engine::worker) fn on_ddl(
        &mut self,
        partition: &AssignedPartition,
        event: &DdlEvent<'_>,
        record: &SourceRecord<'_>,
    ) -> Result<(), BadMessage> {
        let job = self.ddl_job(partition, event, record.position);
        if !self.config.target.ddl.sync_ddl {
            self.skip_unsynced(&job);
            return Ok(());
        }
        if let Some(reasons) = all_ignored(&job.changes) {
            tracing::info!(at = %job.at, table = %job.target, sql = job.sql, "DDL ignored: {reasons}");
            self.shared
                .metrics
                .ddl(&job.target.to_string(), DdlResult::Ignored);
            return Ok(());
        }
        self.apply(partition, &job)
    }

    /// Adds `columns` to `target` as an `ADD COLUMN` DDL at `at` would (`onUnknownColumn =
    /// "addColumn"`).
    pub(in crate::engine::worker) fn add_columns(
        &mut self,
        partition: &AssignedPartition,
        target: &TargetName,
        source_db: &str,
        columns: Vec<ColumnDef>,
        at: Position<'_>,
    ) -> Result<(), BadMessage> {
        let sql = columns
            .iter()
            .map(|c| format!("ADD COLUMN {} {}", c.name, c.source_type))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("onUnknownColumn = \"addColumn\": {sql}");
        let job = DdlJob {
            target: target.clone(),
            source_db,
            keys: None,
            changes: (columns.into_iter())
                .map(|column| Change::AddColumn {
                    column,
                    position: None,
                })
                .collect(),
            sql: &sql,
            at,
        };
        self.apply(partition, &job)
    }

    /// The job's changes made behind the table's barrier (steps 1–5).
    fn apply(&mut self, partition: &AssignedPartition, job: &DdlJob<'_>) -> Result<(), BadMessage> {
        let barrier = self.raise_barrier(partition, job)?;
        if partition.lease.is_revoked() {
            // The partition's new owner replays the DDL; this one must change nothing more.
            return Err(BadMessage::Stopping(format!(
                "{} was revoked before its DDL at {}",
                partition.id, job.at
            )));
        }
        let (outcomes, failure) = self.make_changes(job);
        self.after_changes(job, &outcomes);
        // Decided while the gate is still closed: rows after a failed DDL must not load.
        let decided = match failure {
            None => Ok(()),
            Some(e) => self.ddl_failed(job, e),
        };
        drop(barrier);
        decided
    }

    fn ddl_job<'a>(
        &self,
        partition: &AssignedPartition,
        event: &DdlEvent<'a>,
        at: Position<'a>,
    ) -> DdlJob<'a> {
        let (db, table) = (event.table.db, event.table.table);
        let topic_table = self.config.topic_table(&partition.id.topic);
        let (target, keys) = match topic_table {
            Some(t) if table.is_empty() => (t.clone(), self.config.topic_keys(&partition.id.topic)),
            _ => (
                self.config.route(db, table),
                self.config.table_keys(db, table),
            ),
        };
        DdlJob {
            changes: ddl::parse(event.sql, SourceName { db, table }),
            keys: keys.map(<[String]>::to_vec),
            target,
            source_db: db,
            sql: event.sql,
            at,
        }
    }

    fn skip_unsynced(&self, job: &DdlJob<'_>) {
        tracing::warn!(
            at = %job.at, table = %job.target, sql = job.sql,
            "DDL not applied (syncDdl = false): apply it to the target yourself"
        );
        let table = job.target.to_string();
        self.shared.metrics.ddl(&table, DdlResult::Skipped);
        let message = format!("{}: not applied (syncDdl = false): {}", job.at, job.sql);
        (self.shared.alerts).raise(AlertEvent::DdlSkipped, &table, &message);
        if let Err(e) = self.shared.tables.refresh(&job.target) {
            tracing::warn!(table = %job.target, "re-reading the schema failed: {e}");
        }
    }

    /// Steps 1–3 of the module doc. `None` when the target is not in use (it does not exist,
    /// or cannot take rows): no rows of it can be waiting.
    fn raise_barrier(
        &mut self,
        partition: &AssignedPartition,
        job: &DdlJob<'_>,
    ) -> Result<Option<GateClosed>, BadMessage> {
        let shared = Arc::clone(&self.shared);
        let stop = stop_of(&shared);
        // Hold nothing before waiting at a gate (gate.rs: no deadlock).
        self.blocks.send_all(stop.hard);
        let handle = match self.router.table(&self.barrier_target(job)) {
            Ok(handle) => handle,
            Err(RouteError::Target(_)) => return Ok(None),
            Err(RouteError::Stopped(e)) => return Err(BadMessage::Stopping(e.to_string())),
        };
        let stopped = || BadMessage::Stopping("a DDL waited for its table's barrier".into());
        let closed = handle.gate.close(&|| stop.now()).map_err(|_| stopped())?;
        handle.flush(&|| stop.now()).map_err(|_| stopped())?;
        if stop.now() {
            // A load before the DDL failed: the change must not overtake it.
            return Err(stopped());
        }
        self.commit_up_to(partition, job.at.offset);
        Ok(Some(closed))
    }

    /// The table whose rows must load before the DDL: the message's table, except for RENAME
    /// TABLE, whose message names the new table (formats.md) while the rows are the old one's.
    fn barrier_target(&self, job: &DdlJob<'_>) -> TargetName {
        let route = |db: &str, t: &str| self.config.route(db, t);
        (job.changes.iter())
            .find_map(|c| c.own_target(job.source_db, &route))
            .unwrap_or_else(|| job.target.clone())
    }

    /// Waits (at most [`COMMIT_WAIT`]) until everything read is loaded and the DDL's partition
    /// is committed up to the DDL.
    fn commit_up_to(&self, partition: &AssignedPartition, offset: i64) {
        let started = Instant::now();
        if !self.shared.tables.flush_all(COMMIT_WAIT) {
            return;
        }
        let stop = self.stop();
        while partition.tracker.committed().is_none_or(|c| c < offset) {
            if started.elapsed() >= COMMIT_WAIT || stop.now() || partition.lease.is_revoked() {
                tracing::debug!(partition = %partition.id, offset, "DDL applied before its partition was committed up to it");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Step 4: the changes in order, up to the first that fails.
    fn make_changes(&self, job: &DdlJob<'_>) -> (Vec<(Change, ChangeOutcome)>, Option<DdlError>) {
        let changer = SchemaChanger::new(&self.shared, &self.config, self.stop());
        let site = ChangeSite {
            target: &job.target,
            source_db: job.source_db,
            keys: job.keys.as_deref(),
        };
        let mut outcomes = Vec::with_capacity(job.changes.len());
        for change in &job.changes {
            match changer.apply(change, &site) {
                Ok(outcome) => outcomes.push((change.clone(), outcome)),
                Err(e) => return (outcomes, Some(e)),
            }
        }
        (outcomes, None)
    }

    /// Step 5, with logs, metrics and alerts.
    fn after_changes(&self, job: &DdlJob<'_>, outcomes: &[(Change, ChangeOutcome)]) {
        let table = job.target.to_string();
        for (change, outcome) in outcomes {
            self.note_change(job, change);
            match outcome {
                ChangeOutcome::Applied(statements) => {
                    tracing::info!(at = %job.at, %table, sql = job.sql, ?statements, "DDL applied");
                    self.shared.metrics.ddl(&table, DdlResult::Applied);
                    let message = format!("{}: applied: {}", job.at, statements.join("; "));
                    (self.shared.alerts).raise(AlertEvent::DdlApplied, &table, &message);
                }
                ChangeOutcome::AlreadyApplied => {
                    tracing::info!(at = %job.at, %table, sql = job.sql, ?change, "DDL already applied to the target; skipped");
                    self.shared.metrics.ddl(&table, DdlResult::AlreadyApplied);
                }
                ChangeOutcome::Ignored(why) => {
                    tracing::info!(at = %job.at, %table, sql = job.sql, "DDL ignored: {why}");
                    self.shared.metrics.ddl(&table, DdlResult::Ignored);
                }
            }
        }
        self.refresh_retrying(&job.target);
    }

    /// Reads the schema again after a DDL, waiting out an unreachable query port: the gate must
    /// not open on the old schema.
    fn refresh_retrying(&self, target: &TargetName) {
        let what = format!("re-reading the schema of {target} after a DDL");
        let refreshed = self.waiting_out_outages(&what, CatalogError::is_outage, || {
            self.shared.tables.refresh(target)
        });
        if let Err(e) = refreshed {
            tracing::warn!(table = %target, "{what} failed: {e}");
        }
    }

    /// What a made (or found) change means for the rows still to come.
    fn note_change(&self, job: &DdlJob<'_>, change: &Change) {
        let tables = &self.shared.tables;
        match change {
            Change::AddColumn { column, .. } => {
                tables.note_drift(&job.target, |d| add_once(&mut d.added, &column.name))
            }
            Change::DropColumn { name } => {
                tables.note_drift(&job.target, |d| add_once(&mut d.dropped, name))
            }
            Change::DropTable => tables.retire(&job.target),
            Change::RenameTable { .. } => {
                let route = |db: &str, t: &str| self.config.route(db, t);
                if let Some(old) = change.own_target(job.source_db, &route) {
                    tables.retire(&old);
                }
            }
            _ => {}
        }
    }

    /// A change failed: skipped with `ddlExceptionSkip`, else the job stops at the DDL.
    fn ddl_failed(&mut self, job: &DdlJob<'_>, e: DdlError) -> Result<(), BadMessage> {
        if let DdlError::Stopped = e {
            return Err(BadMessage::Stopping(e.to_string()));
        }
        let table = job.target.to_string();
        if self.config.target.ddl.ddl_exception_skip {
            tracing::warn!(at = %job.at, %table, sql = job.sql, "DDL skipped (ddlExceptionSkip): {e}");
            self.shared.metrics.ddl(&table, DdlResult::Skipped);
            let message = format!("{}: skipped: {e}; SQL: {}", job.at, job.sql);
            (self.shared.alerts).raise(AlertEvent::DdlSkipped, &table, &message);
            return Ok(());
        }
        self.shared.metrics.ddl(&table, DdlResult::Failed);
        let message = format!(
            "DDL at {} on {table} failed: {e}; SQL: {}. Change the target by hand and restart, \
             or set target.ddlExceptionSkip = true to skip failing DDL",
            job.at, job.sql
        );
        (self.shared.alerts).raise(AlertEvent::DdlFailed, &table, &message);
        self.shared.fatal.set(message);
        Err(BadMessage::Stopping(format!("DDL at {} failed", job.at)))
    }

    /// `autoCreateTable`: the missing target of `batch` created from its column types.
    pub(in crate::engine::worker) fn create_target(
        &self,
        partition: &AssignedPartition,
        batch: &RowBatch<'_>,
        at: Position<'_>,
    ) -> Result<(), BadMessage> {
        let topic = &partition.id.topic;
        let (target, keys) = match self.config.topic_table(topic) {
            Some(t)
                if batch
                    .warnings
                    .contains(crate::model::Warnings::TABLE_FROM_FALLBACK) =>
            {
                (t.clone(), self.config.topic_keys(topic))
            }
            _ => {
                let (db, table) = (batch.table.db, batch.table.table);
                (
                    self.config.route(db, table),
                    self.config.table_keys(db, table),
                )
            }
        };
        let options = ddl::CreateOptions::new(&self.config.target.ddl, keys);
        let statements = ddl::create_table_for_rows(&target, batch, &options).map_err(|e| {
            BadMessage::Target(CatalogError::Schema {
                table: target.to_string(),
                reason: format!("autoCreateTable cannot create it: {e}"),
            })
        })?;
        for statement in &statements {
            self.execute_retrying(&statement.sql).map_err(|e| match e {
                ExecError::Outage(e) => BadMessage::Stopping(e.to_string()),
                ExecError::Refused(message) => BadMessage::Target(CatalogError::Schema {
                    table: target.to_string(),
                    reason: format!(
                        "autoCreateTable: StarRocks refused `{}`: {message}",
                        statement.sql
                    ),
                }),
            })?;
        }
        let table = target.to_string();
        tracing::info!(%at, %table, ?statements, "target table created (autoCreateTable)");
        self.shared.metrics.ddl(&table, DdlResult::Applied);
        let message = format!("{at}: created (autoCreateTable)");
        (self.shared.alerts).raise(AlertEvent::DdlApplied, &table, &message);
        Ok(())
    }
}

impl BlockWriter {
    /// Runs an idempotent statement, waiting out an unreachable query port (an outage is
    /// returned only once the engine stops).
    fn execute_retrying(&self, sql: &str) -> Result<(), ExecError> {
        let outage = |e: &ExecError| matches!(e, ExecError::Outage(_));
        self.waiting_out_outages(sql, outage, || self.shared.target_ddl.execute(sql))
    }

    /// Runs `op` until it succeeds or fails otherwise than by an outage of the query port,
    /// which is logged (`what`) and waited out with back-off; once the engine stops, the last
    /// outage is returned.
    fn waiting_out_outages<T, E: std::fmt::Display>(
        &self,
        what: &str,
        is_outage: impl Fn(&E) -> bool,
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut wait = Duration::from_millis(200);
        loop {
            match op() {
                Err(e) if is_outage(&e) => {
                    tracing::warn!("{what}: StarRocks' query port does not answer; retrying: {e}");
                    let stop = self.stop();
                    if sleep_unless_stopped(wait, stop.hard) || stop.now() {
                        return Err(e);
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                done => return done,
            }
        }
    }
}

/// Pushes `name` unless a replayed DDL already did.
fn add_once(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// The reasons, when every change of a DDL is to be ignored.
fn all_ignored(changes: &[Change]) -> Option<String> {
    let reasons: Option<Vec<String>> = changes
        .iter()
        .map(|c| match c {
            Change::Ignore(why) => Some(why.to_string()),
            _ => None,
        })
        .collect();
    reasons.map(|r| r.join("; "))
}
