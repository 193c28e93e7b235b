//! `SchemaChanger`: one change of a source DDL made on its target table — the StarRocks side of
//! the DDL barrier (the worker raises the barrier, `worker/ddl.rs`; `crate::ddl` translates
//! without I/O).
//!
//! Each change is checked against the target as StarRocks has it *now*: a change that is
//! already there (a DDL replayed after a crash, or made by hand) is recognised and skipped.
//! Asynchronous schema-change jobs are waited for in `SHOW ALTER TABLE COLUMN`: any job left
//! running on the table before a change (StarRocks runs one at a time, and a job that is still
//! running does not show in `DESC` yet), and the change's own job after it (`FINISHED`, or
//! `CANCELLED`: an error). An unreachable query port is waited out; the change is checked again
//! when StarRocks answers, since the statement may or may not have run.

use std::time::{Duration, Instant};

use super::blocks::Stop;
use super::catalog::{AlterJob, CatalogError, ExecError};
use super::load::sleep_unless_stopped;
use super::shared::Shared;
use crate::config::{Config, TargetName};
use crate::ddl::{
    self, CannotApply, Change, Context, CreateOptions, DropTables, Ignored, StatementKind,
    TargetStatement, Translation,
};
use crate::schema::TargetTable;

/// How often job states are polled.
const POLL: Duration = Duration::from_millis(250);
/// Back-off while the query port does not answer.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What a change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChangeOutcome {
    /// These statements ran.
    Applied(Vec<String>),
    /// The target has the change already.
    AlreadyApplied,
    /// Nothing to do in StarRocks.
    Ignored(Ignored),
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DdlError {
    #[error("{0}")]
    CannotApply(CannotApply),
    #[error("StarRocks refused `{sql}`: {message}")]
    Refused { sql: String, message: String },
    #[error("the schema change of `{sql}` was cancelled: {message}")]
    Cancelled { sql: String, message: String },
    #[error(
        "the schema-change jobs of {table} did not finish within target.ddlTimeoutSec ({secs} s)"
    )]
    TimedOut { table: String, secs: u64 },
    #[error("{0}")]
    Target(CatalogError),
    #[error("the engine stopped before the change was made")]
    Stopped,
}

/// Why one attempt at a change ended.
enum Attempt {
    Failed(DdlError),
    /// The query port did not answer, or the table was busy: try again.
    Again(String),
}

impl From<DdlError> for Attempt {
    fn from(e: DdlError) -> Self {
        Attempt::Failed(e)
    }
}

/// Makes the changes of DDL messages on target tables.
pub(crate) struct SchemaChanger<'a> {
    shared: &'a Shared,
    config: &'a Config,
    stop: Stop<'a>,
    /// When the schema-change waits of this DDL give up (`ddlTimeoutSec`).
    deadline: Instant,
}

/// Where a change is made: the target, and the message's source table (its database names
/// unqualified tables; its `[[tables]]` entry may give the key of a created table).
pub(crate) struct ChangeSite<'a> {
    pub target: &'a TargetName,
    pub source_db: &'a str,
    pub keys: Option<&'a [String]>,
}

impl<'a> SchemaChanger<'a> {
    pub(crate) fn new(shared: &'a Shared, config: &'a Config, stop: Stop<'a>) -> Self {
        let timeout = Duration::from_secs(config.target.ddl.ddl_timeout_sec);
        SchemaChanger {
            shared,
            config,
            stop,
            deadline: Instant::now() + timeout,
        }
    }

    /// Makes `change` on `site.target`, retrying while StarRocks does not answer.
    pub(crate) fn apply(
        &self,
        change: &Change,
        site: &ChangeSite<'_>,
    ) -> Result<ChangeOutcome, DdlError> {
        let mut wait = RETRY_FIRST;
        let mut reported: Option<Instant> = None;
        loop {
            match self.attempt(change, site) {
                Ok(outcome) => return Ok(outcome),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Again(why)) => {
                    if reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                        tracing::warn!(table = %site.target, "DDL waits for StarRocks: {why}");
                        reported = Some(Instant::now());
                    }
                    self.sleep(wait)?;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }

    fn attempt(&self, change: &Change, site: &ChangeSite<'_>) -> Result<ChangeOutcome, Attempt> {
        self.wait_for_jobs(site.target)?;
        let schema = self.read(site.target)?;
        let route = |db: &str, table: &str| self.config.route(db, table);
        let checked = match change.own_target(site.source_db, &route) {
            Some(own) => self.read(&own)?,
            None => schema.clone(),
        };
        if ddl::is_applied(change, checked.as_ref()) {
            return Ok(ChangeOutcome::AlreadyApplied);
        }
        let create = CreateOptions::new(&self.config.target.ddl, site.keys);
        let ctx = Context {
            source_db: site.source_db,
            target: site.target,
            schema: schema.as_ref(),
            drop_tables: self.drop_tables(),
            create: &create,
            route: &route,
        };
        match ddl::translate(change, &ctx) {
            Translation::Ignore(why) => Ok(ChangeOutcome::Ignored(why)),
            Translation::CannotApply(why) => Err(DdlError::CannotApply(why).into()),
            Translation::Apply(statements) => {
                for statement in &statements {
                    self.run(statement, site.target)?;
                }
                Ok(ChangeOutcome::Applied(
                    statements.into_iter().map(|s| s.sql).collect(),
                ))
            }
        }
    }

    fn drop_tables(&self) -> DropTables {
        if self.config.target.ddl.ddl_allow_drop_table {
            DropTables::Apply
        } else {
            DropTables::Refuse
        }
    }

    /// Runs one statement; a schema change's job is waited for.
    fn run(&self, statement: &TargetStatement, target: &TargetName) -> Result<(), Attempt> {
        let before = self.jobs(target)?.last().map(|j| j.id);
        tracing::info!(table = %target, sql = statement.sql, "running DDL on the target");
        match self.shared.target_ddl.execute(&statement.sql) {
            Ok(()) => {}
            Err(ExecError::Outage(e)) => return Err(Attempt::Again(e.to_string())),
            Err(ExecError::Refused(message)) if is_busy(&message) => {
                return Err(Attempt::Again(message));
            }
            Err(ExecError::Refused(message)) => {
                return Err(DdlError::Refused {
                    sql: statement.sql.clone(),
                    message,
                }
                .into());
            }
        }
        if statement.kind == StatementKind::SchemaChange {
            self.wait_for_own_job(target, before, &statement.sql)?;
        }
        Ok(())
    }

    /// Waits until no schema-change job of `target` runs.
    fn wait_for_jobs(&self, target: &TargetName) -> Result<(), Attempt> {
        loop {
            let running = self.jobs(target)?.into_iter().find(|j| !j.is_done());
            let Some(job) = running else {
                return Ok(());
            };
            tracing::debug!(table = %target, job = job.id, state = job.state, "waiting for a schema change");
            self.poll_pause(target)?;
        }
    }

    /// Waits for the job a statement submitted (the newest after `before`). No new job: the
    /// change was made at once (StarRocks' fast schema evolution).
    fn wait_for_own_job(
        &self,
        target: &TargetName,
        before: Option<i64>,
        sql: &str,
    ) -> Result<(), Attempt> {
        loop {
            let own = self
                .jobs(target)?
                .into_iter()
                .rfind(|j| before.is_none_or(|b| j.id > b));
            match own {
                None => return Ok(()),
                Some(job) if job.is_finished() => return Ok(()),
                Some(job) if job.is_cancelled() => {
                    return Err(DdlError::Cancelled {
                        sql: sql.to_string(),
                        message: job.msg,
                    }
                    .into());
                }
                Some(_) => self.poll_pause(target)?,
            }
        }
    }

    fn poll_pause(&self, target: &TargetName) -> Result<(), Attempt> {
        if Instant::now() >= self.deadline {
            return Err(DdlError::TimedOut {
                table: target.to_string(),
                secs: self.config.target.ddl.ddl_timeout_sec,
            }
            .into());
        }
        self.sleep(POLL).map_err(Attempt::Failed)
    }

    fn jobs(&self, target: &TargetName) -> Result<Vec<AlterJob>, Attempt> {
        (self.shared.target_ddl.alter_jobs(target)).map_err(|e| Attempt::Again(e.to_string()))
    }

    /// The target as StarRocks has it now; `None` when it does not exist.
    fn read(&self, target: &TargetName) -> Result<Option<TargetTable>, Attempt> {
        match self.shared.tables.read_schema(target) {
            Ok(t) => Ok(Some(t)),
            Err(CatalogError::Missing(_)) => Ok(None),
            Err(e) if e.is_outage() => Err(Attempt::Again(e.to_string())),
            Err(e) => Err(DdlError::Target(e).into()),
        }
    }

    fn sleep(&self, wait: Duration) -> Result<(), DdlError> {
        if sleep_unless_stopped(wait, self.stop.hard) || self.stop.now() {
            return Err(DdlError::Stopped);
        }
        Ok(())
    }
}

/// StarRocks refuses an ALTER while another schema change of the table runs (one at a time).
fn is_busy(message: &str) -> bool {
    message.contains("schema change operation is in progress")
        || message.contains("state is not NORMAL")
}
