//! Command-line interface (clap): subcommands and their arguments.
//!
//! `main.rs` parses [`Cli`] and dispatches; each subcommand's work lives in a function here or
//! in a submodule, so it can be tested without a process.

pub mod check;
pub mod decode;
pub mod position;
pub mod prepare;
pub mod run;
pub mod verify;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError, DecodeSettings, Problems, StartFrom, TargetName};

/// Replicates CDC messages (CloudCanal JSON / Canal JSON) from AutoMQ / Apache Kafka into
/// StarRocks Primary Key tables via Stream Load.
#[derive(Debug, Parser)]
#[command(name = "starpipe", version, propagate_version = true)]
pub struct Cli {
    /// Log output format (level from RUST_LOG, default `info`; logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a replication job: consume Kafka, load StarRocks.
    Run(RunArgs),
    /// Decode CDC messages (one JSON per line) and print the rows they produce.
    Decode(DecodeArgs),
    /// Work with job configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check a job against its Kafka and StarRocks: one `ok` or `FAIL` line per check; exit
    /// status 0 only when every check passed.
    Check(JobArgs),
    /// Show or reset the consumer group's position on the job's topics.
    #[command(subcommand)]
    Position(PositionCommand),
    /// Compare the target tables with the last change per key of a topic window; exit status
    /// 0 when every table is equal, 1 when differences remain, 2 on error.
    Verify(VerifyArgs),
    /// Before running a job again from source.startFrom: truncate (or drop and create again)
    /// every target table it maps, then reset the consumer group to startFrom. Refused while
    /// the group has live members. Without --yes, only prints what it would do.
    Prepare(PrepareArgs),
}

/// Arguments of `starpipe verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub job: JobArgs,

    /// Where the window starts on every partition: `earliest` (the log start), `committed`
    /// (the job group's committed offsets) or an RFC 3339 instant (the first message at or
    /// after it).
    #[arg(
        long,
        value_name = "earliest|committed|RFC3339",
        default_value = "earliest"
    )]
    pub from: crate::verify::WindowStart,

    /// Where the window ends: `end` (the end offsets when verify starts) or an RFC 3339 instant
    /// (messages before it).
    #[arg(long, value_name = "end|RFC3339", default_value = "end")]
    pub to: crate::verify::WindowEnd,

    /// Check only target tables whose `db.table` matches this glob; repeatable.
    #[arg(long = "table", value_name = "GLOB")]
    pub tables: Vec<glob::Pattern>,

    /// Seconds to wait before keys that differ are checked again (against a re-read of the
    /// topic from the first pass's end).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub recheck_after: u64,

    /// Load the expected rows of missing and differing keys, delete the extra ones, then check
    /// those keys again.
    #[arg(long)]
    pub repair: bool,

    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Memory bound for the window's last images, in MiB (default target.totalDataInMemMb);
    /// past it verify stops with an error.
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_memory_mb: Option<u64>,
}

/// Arguments of `starpipe prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    pub job: JobArgs,

    #[command(flatten)]
    pub mode: PrepareMode,

    /// Change the tables and commit the offsets; without it nothing changes.
    #[arg(long)]
    pub yes: bool,
}

/// What `prepare` does to each table: exactly one of the two flags.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PrepareMode {
    /// TRUNCATE TABLE: keep each table, remove its rows.
    #[arg(long)]
    pub truncate: bool,

    /// DROP TABLE, then CREATE it again from its SHOW CREATE TABLE.
    #[arg(long)]
    pub recreate: bool,
}

impl PrepareMode {
    pub fn mode(&self) -> crate::prepare::Mode {
        if self.recreate {
            crate::prepare::Mode::Recreate
        } else {
            crate::prepare::Mode::Truncate
        }
    }
}

/// `--config FILE`: the job a command works on.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum PositionCommand {
    /// Per partition of source.topics: the group's committed offset, the timestamp of the
    /// message at it, log start and end offsets, lag; then the group's state and live members.
    Show(PositionShowArgs),
    /// Reset the group's committed offsets (refused while the group has live members). Without
    /// --yes, only prints what would change.
    Reset(PositionResetArgs),
}

/// Arguments of `starpipe position show`.
#[derive(Debug, Args)]
pub struct PositionShowArgs {
    #[command(flatten)]
    pub job: JobArgs,

    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `starpipe position reset`.
#[derive(Debug, Args)]
pub struct PositionResetArgs {
    #[command(flatten)]
    pub job: JobArgs,

    #[command(flatten)]
    pub to: ResetTo,

    /// Reset only this topic (one of source.topics); repeatable. Default: every topic.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// Commit the new offsets; without it nothing changes.
    #[arg(long)]
    pub yes: bool,
}

/// Where `position reset` moves the group: exactly one of the two flags.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ResetTo {
    /// The first offset whose message timestamp is at or after this instant (RFC 3339 with an
    /// offset, e.g. 2024-06-01T00:00:00Z); the end offset where no message is that recent.
    #[arg(long, value_name = "RFC3339")]
    pub to_timestamp: Option<jiff::Timestamp>,

    /// `earliest`: the log start offset; `latest`: the end offset.
    #[arg(long, value_enum, value_name = "EDGE")]
    pub to: Option<LogEdge>,
}

/// An end of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogEdge {
    Earliest,
    Latest,
}

impl ResetTo {
    /// The target as a `startFrom` value.
    pub fn start_from(&self) -> StartFrom {
        match (self.to_timestamp, self.to) {
            (Some(t), _) => StartFrom::Timestamp {
                epoch_ms: t.as_millisecond(),
            },
            (None, Some(LogEdge::Latest)) => StartFrom::Latest,
            (None, _) => StartFrom::Earliest,
        }
    }
}

/// Arguments of `starpipe run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Stop once every assigned partition has been read up to the end it had at assignment
    /// and all its rows are loaded and committed.
    #[arg(long)]
    pub stop_at_end: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a job file and print the effective configuration (defaults filled in, secrets
    /// masked).
    Check(CheckArgs),
}

/// Arguments of `starpipe config check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The job file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Arguments of `starpipe decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Message format.
    #[arg(long, value_enum)]
    pub format: crate::decode::Format,

    /// Primary key columns for a table whose messages do not carry them
    /// (`db.table=col1,col2`); repeatable.
    #[arg(long, value_name = "DB.TABLE=COLS")]
    pub pk: Vec<PkOverride>,

    /// The table (`db.table`) of messages that name none, such as Flink's canal-json sink
    /// output (only `data` and `type`); as a job's `[[tables]]` entry with `topic` gives it.
    /// Messages that name their table keep it.
    #[arg(long, value_name = "DB.TABLE")]
    pub table: Option<TargetName>,

    /// Zero-date policy: `null`, `error`, or a replacement `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`
    /// (as target.defaultZeroDate).
    #[arg(long, value_name = "POLICY")]
    pub default_zero_date: Option<String>,

    /// Zone TIMESTAMP text was rendered in by the producer: IANA name or ±HH:MM (as
    /// target.sourceTimezone; default UTC).
    #[arg(long, value_name = "ZONE")]
    pub source_timezone: Option<String>,

    /// Target zone for TIMESTAMP values, used with --enable-time-zone-process (as
    /// target.timezone).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// Convert TIMESTAMP values from --source-timezone to --timezone (as
    /// target.enableTimeZoneProcess).
    #[arg(long, requires = "timezone")]
    pub enable_time_zone_process: bool,

    /// Input file, one message per line; standard input when absent.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl DecodeArgs {
    /// The decoder settings given by the flags, validated like the job file's keys (problems
    /// name the flags).
    pub fn decode_settings(&self) -> Result<DecodeSettings, Problems> {
        DecodeSettings::from_parts(
            self.default_zero_date.as_deref(),
            self.source_timezone.as_deref(),
            self.timezone.as_deref(),
            self.enable_time_zone_process,
            [
                "--default-zero-date",
                "--source-timezone",
                "--timezone",
                "--enable-time-zone-process",
            ],
        )
    }
}

/// `--pk db.table=col1,col2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkOverride {
    pub db: String,
    pub table: String,
    pub columns: Vec<String>,
}

/// Why a `--pk` value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected `db.table=col1,col2`, got `{0}`")]
pub struct BadPkOverride(pub String);

impl FromStr for PkOverride {
    type Err = BadPkOverride;

    fn from_str(s: &str) -> Result<Self, BadPkOverride> {
        let bad = || BadPkOverride(s.to_owned());
        let (name, cols) = s.split_once('=').ok_or_else(bad)?;
        let (db, table) = name.split_once('.').ok_or_else(bad)?;
        let columns: Vec<String> = cols.split(',').map(|c| c.trim().to_owned()).collect();
        if db.trim().is_empty()
            || table.trim().is_empty()
            || table.contains('.')
            || columns.iter().any(String::is_empty)
        {
            return Err(bad());
        }
        Ok(PkOverride {
            db: db.trim().to_owned(),
            table: table.trim().to_owned(),
            columns,
        })
    }
}

impl fmt::Display for PkOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}={}", self.db, self.table, self.columns.join(","))
    }
}

/// `starpipe config check FILE`: on success prints the effective configuration as TOML
/// (secrets masked) to `out` and returns 0; on invalid configuration prints one line per
/// problem (`FILE: key.path: message`) to `err` and returns 1.
pub fn config_check(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let file = args.file.display();
    match Config::read(&args.file) {
        Ok(config) => {
            let _ = writeln!(
                out,
                "# {file}: valid; effective configuration (secrets masked)"
            );
            let _ = write!(out, "{}", config.to_masked_toml());
            if let Err(e) = config.target.password() {
                let _ = writeln!(err, "{file}: warning: {e}");
            }
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            for p in &problems {
                let _ = writeln!(err, "{file}: {p}");
            }
            let _ = writeln!(err, "{file}: {} problem(s) found", problems.len());
            ExitCode::from(1)
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(1)
        }
    }
}
