//! Pre-flight checks of a job against its systems (`starpipe check`, and `starpipe run` before
//! it consumes): the brokers, topics and group on the Kafka side; the query port, privileges,
//! target tables and the Stream Load path on the StarRocks side. Each check yields one
//! [`CheckResult`]; nothing is changed anywhere.
//!
//! A report line is `ok   <what>: <detail>` or `FAIL <what>: <error>` ([`CheckResult`]'s
//! `Display`): the status in the first five characters, `<what>` a stable name of the check.

mod grants;
mod kafka;
mod starrocks;
mod stream_load;

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::position::PositionError;

/// A table privilege the job's StarRocks user needs on its target tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    /// Reading the table's schema (`DESC`, `information_schema`).
    Select,
    /// Stream Load.
    Insert,
    /// Applying DDL to the target (DDL sync).
    Alter,
}

impl Privilege {
    fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Alter => "ALTER",
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the checks require.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The privileges every explicitly mapped target table needs.
    pub privileges: Vec<Privilege>,
    /// Bound on each Kafka round trip (a broker that is down costs this much).
    pub kafka_timeout: Duration,
    /// What a missing target table means.
    pub missing_targets: MissingTargets,
}

/// Whether a target table that does not exist is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingTargets {
    Fail,
    /// `autoCreateTable`: the job creates it from the first row message.
    Created,
}

impl CheckOptions {
    /// What loading needs: SELECT (schemas) and INSERT (Stream Load).
    pub fn loading() -> CheckOptions {
        CheckOptions {
            privileges: vec![Privilege::Select, Privilege::Insert],
            kafka_timeout: Duration::from_secs(10),
            missing_targets: MissingTargets::Fail,
        }
    }

    /// What `job` needs: loading, ALTER when it applies DDL (`syncDdl`); with `autoCreateTable`
    /// a missing target is no error.
    pub fn for_job(job: &crate::config::Config) -> CheckOptions {
        let mut options = CheckOptions::loading();
        if job.target.ddl.sync_ddl {
            options.privileges.push(Privilege::Alter);
        }
        if job.target.ddl.auto_create_table {
            options.missing_targets = MissingTargets::Created;
        }
        options
    }
}

/// The side of the job a check concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Kafka,
    StarRocks,
}

/// One check and how it went.
#[derive(Debug)]
pub struct CheckResult {
    pub system: System,
    /// A stable name of what was checked, e.g. `kafka topic orders` or
    /// `starrocks table ods.orders`.
    pub what: String,
    /// On success, what was found (e.g. `3 partitions`).
    pub outcome: Result<String, CheckError>,
}

impl CheckResult {
    fn new(system: System, what: impl Into<String>, outcome: Result<String, CheckError>) -> Self {
        CheckResult {
            system,
            what: what.into(),
            outcome,
        }
    }

    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The Kafka brokers refused the job's credentials or TLS settings: waiting for them, as
    /// `run` does for brokers that are down, would never end.
    pub fn refused(&self) -> bool {
        matches!(
            &self.outcome,
            Err(CheckError::Kafka(PositionError::Refused { .. }))
        )
    }
}

impl fmt::Display for CheckResult {
    /// `ok   <what>: <detail>` or `FAIL <what>: <error>`, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (status, text) = match &self.outcome {
            Ok(detail) => ("ok  ", detail.clone()),
            Err(e) => ("FAIL", e.to_string()),
        };
        let text = text.replace(['\n', '\r'], " ");
        write!(f, "{status} {}: {text}", self.what)
    }
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Kafka(#[from] PositionError),
    #[error("{0}")]
    Password(#[from] ConfigError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Name(#[from] crate::names::BadName),
    #[error("cannot connect as {user}: {message}")]
    Connect { user: String, message: String },
    #[error("`{statement}` failed: {message}")]
    Query { statement: String, message: String },
    #[error("does not exist, or user {user} may not see it; create it as a Primary Key table")]
    TableMissing { user: String },
    #[error("is a {model} table; starpipe writes only to Primary Key tables")]
    NotPrimaryKey { model: String },
    #[error(
        "{} not granted to {user} (granted: {})",
        list(missing),
        or_none(granted)
    )]
    PrivilegesMissing {
        user: String,
        missing: Vec<Privilege>,
        granted: Vec<Privilege>,
    },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error(
        "the FE answered with a redirect to {location}, which cannot be reached from here \
         ({message}); set target.httpHost to a BE's HTTP port, or make that address reachable"
    )]
    RedirectUnreachable { location: String, message: String },
    #[error("{0}")]
    Downgrade(crate::tls::Downgrade),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("unexpected answer from {url} (HTTP {status}): {answer}")]
    Unexpected {
        url: String,
        status: u16,
        answer: String,
    },
}

fn list(privileges: &[Privilege]) -> String {
    let names: Vec<&str> = privileges.iter().map(|p| p.name()).collect();
    names.join(", ")
}

fn or_none(privileges: &[Privilege]) -> String {
    if privileges.is_empty() {
        "none of SELECT, INSERT, ALTER".into()
    } else {
        list(privileges)
    }
}

/// Every check of the job, Kafka's first. The two sides run at the same time, so a broker
/// that does not answer delays the report by [`CheckOptions::kafka_timeout`] at most.
pub fn run_all(config: &Config, options: &CheckOptions) -> Vec<CheckResult> {
    std::thread::scope(|s| {
        let kafka = s.spawn(|| kafka::checks(config, options));
        let mut results = starrocks::checks(config, options);
        let mut all = kafka
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        all.append(&mut results);
        all
    })
}

/// Writes one line per result (see [`CheckResult`]'s `Display`).
pub fn write_report(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    for r in results {
        writeln!(out, "{r}")?;
    }
    Ok(())
}
