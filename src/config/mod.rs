//! Job configuration: the TOML job file, with BladePipe's parameter names.
//!
//! ```toml
//! onError = "fail"
//! [source]
//! brokers = "automq:9092"
//! topics = ["cdc.shop"]
//! consumerGroupId = "starpipe-shop"
//! [source.kafka]
//! "security.protocol" = "SASL_SSL"
//! [target]
//! host = "fe:9030"
//! httpHost = "fe:8030"
//! user = "loader"
//! passwordEnv = "STARROCKS_PASSWORD"
//! [[tables]]
//! source = "shop.*"
//! target = "ods.*"
//! ```
//!
//! [`Config::read`] / [`Config::parse`] read a job; every problem (unknown key, wrong type,
//! missing key, bad value) is collected with its key path. The defaults live in [`defaults`]
//! and are documented in README.md's configuration table (a test keeps the two equal).

mod error;
mod operate;
mod parse;
mod raw;
mod route;
mod secret;
mod zone;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use error::{ConfigError, Location, Problem, Problems};
pub use operate::{AdminConfig, AlertEvent, AlertTarget};
pub use route::{BadTableName, SourceParts, TableRoute, TargetName, TopicRoute};
pub use secret::{KafkaProps, MASK, Secret, is_sensitive_kafka_key};
pub use zone::{BadZeroDate, BadZone, DecodeSettings, ZeroDatePolicy, Zone};

use crate::decode::{DecodeOptions, Format};
use raw::{RawConfig, RawRoute, RawSource, RawTarget};
use route::TableEntry;

/// Default values of the optional keys. README.md documents the same values.
pub mod defaults {
    use super::OnError;
    use crate::decode::Format;

    pub const ON_ERROR: OnError = OnError::Fail;
    pub const LOG_PAYLOAD_EXCERPT: bool = true;
    pub const STOP_GRACE_SEC: u64 = 30;
    pub const STALL_ALERT_SEC: u64 = 300;
    pub const LAG_ALERT_MESSAGES: u64 = 1_000_000;
    pub const LAG_ALERT_SEC: u64 = 300;
    pub const ALERT_INHIBIT_SEC: u64 = 600;
    pub const SCHEMA_FORMAT: Format = Format::CloudCanal;
    /// `source.consumeParallel`: the number of CPUs, 4 when unknown.
    pub fn consume_parallel() -> usize {
        std::thread::available_parallelism().map_or(4, |n| n.get())
    }
    pub const SESSION_TIMEOUT_MS: u32 = 30_000;
    pub const MAX_POLL_RECORDS: u32 = 500;
    pub const START_FROM: &str = "earliest";
    pub const TOTAL_DATA_IN_MEM_MB: u64 = 512;
    pub const ASYNC_FLUSH_INTERVAL_SEC: u64 = 5;
    pub const FLUSH_BATCH_MB: u64 = 64;
    pub const REAL_FLUSH_PAUSE_SEC: u64 = 0;
    pub const USE_SSL: bool = false;
    pub const SO_TIMEOUT_SEC: u64 = 30;
    pub const HTTP_SO_TIMEOUT_SEC: u64 = 600;
    pub const LABEL_WAIT_SEC: u64 = 300;
    pub const ENABLE_TIME_ZONE_PROCESS: bool = false;
    pub const MAX_IN_SIZE_PER_QUERY: u32 = 1000;
    pub const DEFAULT_ZERO_DATE: &str = "null";
    pub const SOURCE_TIMEZONE: &str = "UTC";
    pub const SYNC_DDL: bool = true;
    pub const DDL_EXCEPTION_SKIP: bool = false;
    pub const DDL_ALLOW_DROP_TABLE: bool = false;
    pub const DDL_TIMEOUT_SEC: u64 = 3600;
    pub const ON_UNKNOWN_COLUMN: super::OnUnknownColumn = super::OnUnknownColumn::Fail;
    pub const ON_MISSING_COLUMN: super::OnMissingColumn = super::OnMissingColumn::Fail;
    pub const AUTO_CREATE_TABLE: bool = false;
    pub const AUTO_CREATE_BUCKETS: u32 = 0;
}

/// A validated job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// `onError`: what to do with a message or row StarRocks (or the decoder) rejects.
    pub on_error: OnError,
    /// `deadLetterTopic`: where rejected messages go with `onError = "deadLetter"` (then it is
    /// always `Some`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// `logPayloadExcerpt`: error logs show the first 200 bytes of a bad message.
    pub log_payload_excerpt: bool,
    /// `stopGraceSec`: after a stop signal or a fatal error, how long loads may still finish
    /// before they are abandoned.
    pub stop_grace_sec: u64,
    /// `stallAlertSec`: lag > 0 and nothing loaded for this long is a stall (`/healthz` 503,
    /// alert).
    pub stall_alert_sec: u64,
    /// `lagAlertMessages`: lag above this for `lagAlertSec` raises an alert.
    pub lag_alert_messages: u64,
    /// `lagAlertSec`.
    pub lag_alert_sec: u64,
    /// `alertInhibitSec`: repeats of one alert (event and subject) within this are suppressed.
    pub alert_inhibit_sec: u64,
    /// `[admin]`: no admin endpoint when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminConfig>,
    /// `[[alerts]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertTarget>,
    pub source: SourceConfig,
    pub target: TargetConfig,
    /// `[[tables]]` entries with `source`, in file order; the first match wins.
    #[serde(skip)]
    pub tables: Vec<TableRoute>,
    /// `[[tables]]` entries with `topic`: the table for a topic's messages that name none (see
    /// [`Config::topic_table`]). At most one per topic.
    #[serde(skip)]
    pub topic_tables: Vec<TopicRoute>,
    /// Every `[[tables]]` entry in file order, for printing the effective configuration.
    #[serde(rename = "tables", skip_serializing_if = "Vec::is_empty")]
    entries: Vec<TableEntry>,
}

/// `onError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OnError {
    /// Stop, committing offsets only up to the bad message, and exit non-zero.
    #[serde(rename = "fail")]
    Fail,
    /// Produce the bad message to `deadLetterTopic` and continue.
    #[serde(rename = "deadLetter")]
    DeadLetter,
}

/// `onUnknownColumn`: a message column the target table lacks, with no DDL message before it
/// (schema drift).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OnUnknownColumn {
    /// The message is rejected like bad input (see `onError`).
    #[serde(rename = "fail")]
    Fail,
    /// The column is added to the target (its type from the message's column types) before
    /// the rows are loaded.
    #[serde(rename = "addColumn")]
    AddColumn,
    /// The column's values are dropped (logged once per table).
    #[serde(rename = "ignore")]
    Ignore,
}

/// `onMissingColumn`: a target column a row message lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OnMissingColumn {
    /// The message is rejected like bad input (see `onError`): a full-row upsert would
    /// overwrite the column.
    #[serde(rename = "fail")]
    Fail,
    /// Such rows load as partial updates: the target keeps the columns they lack.
    #[serde(rename = "partialUpdate")]
    PartialUpdate,
}

/// `[source]`: the Kafka / AutoMQ subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceConfig {
    /// `brokers`: bootstrap servers (`host:port[,host:port…]`).
    pub brokers: String,
    /// `topics`.
    pub topics: Vec<String>,
    /// `schemaFormat`.
    pub schema_format: Format,
    /// `consumerGroupId`: Kafka consumer group; offsets are committed there.
    pub consumer_group_id: String,
    /// `consumeParallel`: partition worker threads.
    pub consume_parallel: usize,
    /// `sessionTimeoutMs` (librdkafka `session.timeout.ms`).
    pub session_timeout_ms: u32,
    /// `maxPollRecords`: messages a worker takes per poll round.
    pub max_poll_records: u32,
    /// `startFrom`: where to start when the group has no committed offset.
    pub start_from: StartFrom,
    /// `[source.kafka]`: librdkafka properties, passed through (highest priority except for
    /// the keys starpipe manages itself).
    pub kafka: KafkaProps,
}

/// `startFrom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
    /// The first offset whose message timestamp is ≥ this instant (epoch milliseconds, UTC).
    Timestamp {
        epoch_ms: i64,
    },
}

impl FromStr for StartFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "earliest" => Ok(StartFrom::Earliest),
            "latest" => Ok(StartFrom::Latest),
            _ => s
                .parse::<jiff::Timestamp>()
                .map(|t| StartFrom::Timestamp {
                    epoch_ms: t.as_millisecond(),
                })
                .map_err(|_| {
                    format!(
                        "expected `earliest`, `latest` or an RFC 3339 timestamp with an offset \
                         (e.g. `2024-06-01T00:00:00Z`), got `{s}`"
                    )
                }),
        }
    }
}

impl std::fmt::Display for StartFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartFrom::Earliest => f.write_str("earliest"),
            StartFrom::Latest => f.write_str("latest"),
            StartFrom::Timestamp { epoch_ms } => {
                match jiff::Timestamp::from_millisecond(*epoch_ms) {
                    Ok(t) => write!(f, "{t}"),
                    Err(_) => write!(f, "{epoch_ms}"),
                }
            }
        }
    }
}

impl Serialize for StartFrom {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `[target]`: StarRocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetConfig {
    /// `host`: FE MySQL-protocol (query) port, `host:port`.
    pub host: String,
    /// `httpHost`: FE or BE HTTP port for Stream Load, `host:port` (plain HTTP) or
    /// `http://host:port` / `https://host:port`, as written; [`TargetConfig::http_url`] is
    /// the base URL.
    pub http_host: String,
    /// `sslCaFile`: PEM file of the CA(s) that signed StarRocks' certificates, for HTTPS and
    /// the query port's TLS; without it the public web roots are trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca_file: Option<PathBuf>,
    /// `useSsl`: the MySQL-protocol connection requires TLS.
    pub use_ssl: bool,
    /// `user`.
    pub user: String,
    /// `password`, when given inline. Use [`TargetConfig::password`] to get the effective one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// `passwordEnv`: name of the environment variable holding the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// `totalDataInMemMb`: memory budget for buffered and in-flight rows.
    pub total_data_in_mem_mb: u64,
    /// `asyncFlushIntervalSec`: maximum age of a table's batch before it is loaded.
    pub async_flush_interval_sec: u64,
    /// `flushBatchMb`: a table's batch is loaded when it reaches this size.
    pub flush_batch_mb: u64,
    /// `realFlushPauseSec`: pause after each load of a table (0 = none).
    pub real_flush_pause_sec: u64,
    /// `soTimeoutSec`: socket timeout on the query port.
    pub so_timeout_sec: u64,
    /// `httpSoTimeoutSec`: socket timeout on the HTTP port (Stream Load).
    pub http_so_timeout_sec: u64,
    /// `labelWaitSec`: how long a load waits on a label StarRocks reports running before it is
    /// sent again with the same label.
    pub label_wait_sec: u64,
    /// `enableTimeZoneProcess`: convert TIMESTAMP values from `sourceTimezone` to `timezone`.
    pub enable_time_zone_process: bool,
    /// `timezone`: the target zone (required when `enableTimeZoneProcess`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Zone>,
    /// `maxInSizePerQuery`: largest IN list in one query.
    pub max_in_size_per_query: u32,
    /// `defaultZeroDate`.
    pub default_zero_date: ZeroDatePolicy,
    /// `sourceTimezone`: the zone the producer rendered TIMESTAMP text in.
    pub source_timezone: Zone,
    /// DDL and schema drift: `syncDdl`, `ddlExceptionSkip`, `ddlAllowDropTable`,
    /// `onUnknownColumn`, `onMissingColumn`, `autoCreate*`.
    #[serde(flatten)]
    pub ddl: DdlConfig,
}

/// The DDL and schema-drift settings of `[target]`: how the engine applies the source's DDL
/// (`crate::ddl`) and what it does when messages and target columns differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DdlConfig {
    /// `syncDdl`: apply the source's DDL messages to the target tables (`crate::ddl`);
    /// `false` logs and skips them.
    pub sync_ddl: bool,
    /// `ddlExceptionSkip` (BladePipe's name): a DDL that cannot be applied is logged and
    /// skipped instead of stopping the job.
    pub ddl_exception_skip: bool,
    /// `ddlAllowDropTable`: DROP TABLE and RENAME TABLE are applied to the target; otherwise
    /// they cannot be applied.
    pub ddl_allow_drop_table: bool,
    /// `ddlTimeoutSec`: how long a DDL may wait for the table's asynchronous schema-change
    /// jobs (`SHOW ALTER TABLE COLUMN`) before it counts as failed.
    pub ddl_timeout_sec: u64,
    /// `onUnknownColumn`: a message column the target lacks.
    pub on_unknown_column: OnUnknownColumn,
    /// `onMissingColumn`: a target column a row message lacks.
    pub on_missing_column: OnMissingColumn,
    /// `autoCreateTable`: create a missing target from the first row message's column types.
    pub auto_create_table: bool,
    /// `autoCreateBuckets`: `BUCKETS n` of the tables starpipe creates; 0 = StarRocks'
    /// automatic bucketing.
    pub auto_create_buckets: u32,
    /// `autoCreateProperties`: `PROPERTIES` of the tables starpipe creates.
    pub auto_create_properties: BTreeMap<String, String>,
}

impl TargetConfig {
    /// The effective password: `password`, or the value of the `passwordEnv` variable, or empty.
    pub fn password(&self) -> Result<Secret, ConfigError> {
        match (&self.password, &self.password_env) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(var)) => std::env::var(var)
                .map(Secret::from)
                .map_err(|_| ConfigError::PasswordEnvMissing { var: var.clone() }),
            (None, None) => Ok(Secret::default()),
        }
    }

    /// The settings the decoder needs (`defaultZeroDate`, `sourceTimezone`, and `timezone` when
    /// `enableTimeZoneProcess` is on).
    pub fn decode_settings(&self) -> DecodeSettings {
        DecodeSettings {
            default_zero_date: self.default_zero_date.clone(),
            source_timezone: self.source_timezone.clone(),
            target_timezone: if self.enable_time_zone_process {
                self.timezone.clone()
            } else {
                None
            },
        }
    }

    pub fn total_data_in_mem_bytes(&self) -> u64 {
        self.total_data_in_mem_mb.saturating_mul(1 << 20)
    }

    pub fn flush_batch_bytes(&self) -> u64 {
        self.flush_batch_mb.saturating_mul(1 << 20)
    }

    pub fn async_flush_interval(&self) -> Duration {
        Duration::from_secs(self.async_flush_interval_sec)
    }

    pub fn real_flush_pause(&self) -> Duration {
        Duration::from_secs(self.real_flush_pause_sec)
    }

    pub fn so_timeout(&self) -> Duration {
        Duration::from_secs(self.so_timeout_sec)
    }

    /// `httpHost` as a base URL without a trailing `/`: `http://host:port` for a bare
    /// `host:port`, else the URL as written.
    pub fn http_url(&self) -> String {
        http_url(&self.http_host)
    }

    pub fn http_so_timeout(&self) -> Duration {
        Duration::from_secs(self.http_so_timeout_sec)
    }

    pub fn label_wait(&self) -> Duration {
        Duration::from_secs(self.label_wait_sec)
    }
}

/// librdkafka properties that have a dedicated key, or that starpipe must control to keep its
/// offset guarantees; setting them in `[source.kafka]` is an error.
pub const MANAGED_KAFKA_KEYS: &[(&str, &str)] = &[
    ("bootstrap.servers", "set source.brokers instead"),
    ("metadata.broker.list", "set source.brokers instead"),
    ("group.id", "set source.consumerGroupId instead"),
    ("session.timeout.ms", "set source.sessionTimeoutMs instead"),
    ("auto.offset.reset", "set source.startFrom instead"),
    (
        "enable.auto.commit",
        "starpipe commits offsets itself, only after rows are loaded",
    ),
    (
        "enable.auto.offset.store",
        "starpipe stores offsets itself, only after rows are loaded",
    ),
];

impl Config {
    /// What a reload may change while the job runs: the subscription (`source.topics`) and the
    /// routing (`[[tables]]`). The keys of `new` that differ otherwise, each a reason to refuse
    /// the reload.
    pub fn reload_refusals(&self, new: &Config) -> Vec<String> {
        let mut same = self.clone();
        same.source.topics = new.source.topics.clone();
        same.tables = new.tables.clone();
        same.topic_tables = new.topic_tables.clone();
        same.entries = new.entries.clone();
        if same == *new {
            return Vec::new();
        }
        let keys = differing_keys(&same, new);
        if keys.is_empty() {
            // Only a secret differs: the masked renderings are equal.
            vec!["target.password".to_string()]
        } else {
            keys
        }
    }

    /// Whether `other` routes exactly as this job (`[[tables]]` unchanged).
    pub fn same_tables(&self, other: &Config) -> bool {
        self.entries == other.entries
    }

    /// `stopGraceSec`.
    pub fn stop_grace(&self) -> Duration {
        Duration::from_secs(self.stop_grace_sec)
    }

    /// Reads and validates a job file. Problems are reported with their key paths.
    pub fn read(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and validates job text, collecting every problem. Does not read the environment
    /// (see [`TargetConfig::password`]).
    pub fn parse(text: &str) -> Result<Config, Problems> {
        let (raw, mut problems, removed, located) = parse::parse_raw(text);
        let Some(raw) = raw else {
            return Err(problems);
        };
        let mut b = Builder::default();
        let config = b.config(raw);
        for p in b.problems {
            // A key dropped for a type error is not reported again (e.g. as missing).
            let shadowed = removed.iter().any(|r| {
                p.path == *r
                    || p.path
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            });
            if !shadowed {
                let location = located.value_location(text, &p.path);
                problems.push(p.at(location));
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            // Problems with a place in the file first, in file order; then missing keys.
            problems
                .0
                .sort_by_key(|p| (p.location.is_none(), p.location));
            Err(problems)
        }
    }

    /// Where rows of source table `db.table` are loaded: the first `[[tables]]` entry that
    /// matches, else the same database and table name in StarRocks.
    pub fn route(&self, db: &str, table: &str) -> TargetName {
        route::route(&self.tables, db, table)
    }

    /// Like [`Config::route`], but `None` when no `[[tables]]` entry matches.
    pub fn explicit_route(&self, db: &str, table: &str) -> Option<TargetName> {
        self.tables.iter().find_map(|r| r.apply(db, table))
    }

    /// `keys` of the `[[tables]]` entry that routes source table `db.table` (the first that
    /// matches, as for [`Config::route`]); `None` when it gives none or no entry matches.
    pub fn table_keys(&self, db: &str, table: &str) -> Option<&[String]> {
        self.tables
            .iter()
            .find(|r| r.apply(db, table).is_some())
            .and_then(TableRoute::keys)
    }

    /// `keys` of the `[[tables]]` entry with `topic`, for the messages of `topic` that name no
    /// table.
    pub fn topic_keys(&self, topic: &str) -> Option<&[String]> {
        self.topic_tables
            .iter()
            .find(|r| r.topic == topic)
            .and_then(|r| r.keys.as_deref())
    }

    /// The table for the messages of `topic` that name no table of their own (no
    /// `database`/`db` or no `table`, e.g. Flink's canal-json sink output): the `target` of the
    /// `[[tables]]` entry with `topic = "…"`, or `None` (such messages are then `Envelope`
    /// errors).
    ///
    /// For the engine: give it to the decoder of that topic's partitions as
    /// `DecodeOptions::fallback_table`. A batch that got it carries
    /// `Warnings::TABLE_FROM_FALLBACK` and loads into exactly this table — it is already a
    /// target name, so it must not go through [`Config::route`] (a `source` glob such as
    /// `ods.*` could route it elsewhere). Messages that name their table keep it and are routed
    /// as usual.
    pub fn topic_table(&self, topic: &str) -> Option<&TargetName> {
        self.topic_tables
            .iter()
            .find(|r| r.topic == topic)
            .map(|r| &r.target)
    }

    /// The target tables the job names literally, in file order without duplicates: where the
    /// `[[tables]]` entries whose `source` has no glob route (through [`Config::route`], so an
    /// earlier glob entry wins as it does for rows), and the tables of entries with `topic`.
    /// These are known before any message arrives, so they can be checked at start.
    pub fn explicit_targets(&self) -> Vec<TargetName> {
        let mut out: Vec<TargetName> = Vec::new();
        for entry in &self.entries {
            let target = match entry {
                TableEntry::Source(r) if !r.source().contains(['*', '?', '[']) => {
                    let (db, table) = r.source().split_once('.').unwrap_or(("", r.source()));
                    self.route(db, table)
                }
                TableEntry::Source(_) => continue,
                TableEntry::Topic(r) => r.target.clone(),
            };
            if !out.contains(&target) {
                out.push(target);
            }
        }
        out
    }

    /// Of the `existing` StarRocks tables, those a `[[tables]]` entry with a glob `source` may
    /// load into (`starpipe prepare`): some source the glob matches routes there. When the
    /// target names both source parts, the routing of that source must give this table (an
    /// earlier entry may take it elsewhere); a literal target part stands for any source part.
    pub fn glob_targets<'a>(
        &self,
        existing: impl IntoIterator<Item = &'a TargetName>,
    ) -> Vec<TargetName> {
        let globs: Vec<&TableRoute> = self.tables.iter().filter(|r| r.is_glob()).collect();
        existing
            .into_iter()
            .filter(|t| {
                globs.iter().any(|r| match r.sources_of(t) {
                    Some(SourceParts {
                        db: Some(db),
                        table: Some(table),
                    }) => self.route(&db, &table) == **t,
                    Some(_) => true,
                    None => false,
                })
            })
            .cloned()
            .collect()
    }

    /// The settings the decoder needs; see [`TargetConfig::decode_settings`].
    pub fn decode_settings(&self) -> DecodeSettings {
        self.target.decode_settings()
    }

    /// How the job's messages are decoded: `schemaFormat` with the decode settings.
    pub fn decode_options(&self) -> DecodeOptions {
        self.decode_settings()
            .decode_options(self.source.schema_format)
    }

    /// The effective configuration (defaults filled in) as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// The keys (`source.brokers`, `target.flushBatchMb`, …) whose values differ between two jobs,
/// compared as they render (secrets masked).
fn differing_keys(a: &Config, b: &Config) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return vec!["(unrenderable)".to_string()];
    };
    let mut keys = Vec::new();
    diff_values("", &a, &b, &mut keys);
    keys
}

fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) if !path.contains('.') => {
            let names: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for name in names {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let null = serde_json::Value::Null;
                diff_values(
                    &child,
                    x.get(name).unwrap_or(&null),
                    y.get(name).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

/// Builds a [`Config`] from the raw file, collecting problems.
#[derive(Default)]
struct Builder {
    problems: Vec<Problem>,
}

impl Builder {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn required<T>(&mut self, path: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.problem(path, "missing required key");
        }
        value
    }

    fn string(&mut self, path: &str, value: Option<String>) -> String {
        match self.required(path, value) {
            Some(s) if s.trim().is_empty() => {
                self.problem(path, "expected a non-empty string, got \"\"");
                s
            }
            Some(s) => s,
            None => String::new(),
        }
    }

    /// An integer in `min..=max`, or `default` when absent.
    fn int<T: TryFrom<i64> + Copy>(
        &mut self,
        path: &str,
        value: Option<i64>,
        min: i64,
        max: i64,
        default: T,
    ) -> T {
        let Some(v) = value else { return default };
        if v < min || v > max {
            let expected = match (min, max) {
                (0, i64::MAX) => "a non-negative integer".to_owned(),
                (1, i64::MAX) => "a positive integer".to_owned(),
                (min, max) => format!("an integer from {min} to {max}"),
            };
            self.problem(path, format!("expected {expected}, got {v}"));
            return default;
        }
        T::try_from(v).unwrap_or(default)
    }

    fn host_port(&mut self, path: &str, value: Option<String>) -> String {
        let s = self.string(path, value);
        if !s.trim().is_empty() && !is_host_port(&s) {
            self.problem(path, format!("expected `host:port`, got `{s}`"));
        }
        s
    }

    /// `target.httpHost`: `host:port`, or an `http://` / `https://` URL of one (no path).
    fn http_host(&mut self, value: Option<String>) -> String {
        let s = self.string("target.httpHost", value);
        let bare = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .map_or(s.as_str(), |rest| rest.strip_suffix('/').unwrap_or(rest));
        if !s.trim().is_empty() && !is_host_port(bare) {
            self.problem(
                "target.httpHost",
                format!(
                    "expected `host:port`, `http://host:port` or `https://host:port`, got `{s}`"
                ),
            );
        }
        s
    }

    /// `target.sslCaFile`: a path, used only by TLS (an `https://` httpHost or `useSsl`).
    fn ssl_ca_file(
        &mut self,
        value: Option<String>,
        http_host: &str,
        use_ssl: bool,
    ) -> Option<PathBuf> {
        let path = value?;
        if path.trim().is_empty() {
            self.problem("target.sslCaFile", "expected a file path, got \"\"");
            return None;
        }
        if !use_ssl && !http_host.starts_with("https://") {
            self.problem(
                "target.sslCaFile",
                "only used with TLS: give an `https://` target.httpHost or target.useSsl = true",
            );
        }
        Some(PathBuf::from(path))
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let on_error = match raw.on_error.as_deref() {
            None => defaults::ON_ERROR,
            Some("fail") => OnError::Fail,
            Some("deadLetter") => OnError::DeadLetter,
            Some(other) => {
                self.problem(
                    "onError",
                    format!("expected `fail` or `deadLetter`, got `{other}`"),
                );
                defaults::ON_ERROR
            }
        };
        let dead_letter_topic = raw.dead_letter_topic;
        match (&dead_letter_topic, on_error) {
            (None, OnError::DeadLetter) => {
                self.problem("deadLetterTopic", "required when onError = \"deadLetter\"")
            }
            (Some(t), _) if t.trim().is_empty() => self.problem(
                "deadLetterTopic",
                "expected a non-empty topic name, got \"\"",
            ),
            _ => {}
        }
        let log_payload_excerpt = raw
            .log_payload_excerpt
            .unwrap_or(defaults::LOG_PAYLOAD_EXCERPT);
        let stop_grace_sec = self.int(
            "stopGraceSec",
            raw.stop_grace_sec,
            1,
            i64::MAX,
            defaults::STOP_GRACE_SEC,
        );
        let stall_alert_sec = self.int(
            "stallAlertSec",
            raw.stall_alert_sec,
            1,
            i64::MAX,
            defaults::STALL_ALERT_SEC,
        );
        let lag_alert_messages = self.int(
            "lagAlertMessages",
            raw.lag_alert_messages,
            1,
            i64::MAX,
            defaults::LAG_ALERT_MESSAGES,
        );
        let lag_alert_sec = self.int(
            "lagAlertSec",
            raw.lag_alert_sec,
            1,
            i64::MAX,
            defaults::LAG_ALERT_SEC,
        );
        let alert_inhibit_sec = self.int(
            "alertInhibitSec",
            raw.alert_inhibit_sec,
            0,
            i64::MAX,
            defaults::ALERT_INHIBIT_SEC,
        );
        let admin = self.admin(raw.admin);
        let alerts = self.alerts(raw.alerts);
        let source = match self.required("source", raw.source) {
            Some(s) => self.source(s),
            None => self.source(RawSource::default()),
        };
        let target = match self.required("target", raw.target) {
            Some(t) => self.target(t),
            None => self.target(RawTarget::default()),
        };
        let mut tables = Vec::new();
        let mut topic_tables: Vec<TopicRoute> = Vec::new();
        let mut entries = Vec::new();
        let mut topic_entries: Vec<usize> = Vec::new();
        for (i, r) in raw.tables.unwrap_or_default().into_iter().enumerate() {
            match self.table_entry(i, r, &source.topics) {
                Some(TableEntry::Source(route)) => {
                    tables.push(route.clone());
                    entries.push(TableEntry::Source(route));
                }
                Some(TableEntry::Topic(route)) => {
                    if let Some(j) = topic_tables.iter().position(|t| t.topic == route.topic) {
                        self.problem(
                            format!("tables[{i}].topic"),
                            format!(
                                "topic `{}` already has a table (tables[{}]); give each topic \
                                 at most one",
                                route.topic, topic_entries[j]
                            ),
                        );
                        continue;
                    }
                    topic_tables.push(route.clone());
                    topic_entries.push(i);
                    entries.push(TableEntry::Topic(route));
                }
                None => {}
            }
        }
        Config {
            on_error,
            dead_letter_topic,
            log_payload_excerpt,
            stop_grace_sec,
            stall_alert_sec,
            lag_alert_messages,
            lag_alert_sec,
            alert_inhibit_sec,
            admin,
            alerts,
            source,
            target,
            tables,
            topic_tables,
            entries,
        }
    }

    fn source(&mut self, raw: RawSource) -> SourceConfig {
        let brokers = self.string("source.brokers", raw.brokers);
        if !brokers.trim().is_empty() && brokers.split(',').any(|b| b.trim().is_empty()) {
            self.problem(
                "source.brokers",
                format!("expected a comma-separated list of `host:port`, got `{brokers}`"),
            );
        }
        let topics = self
            .required("source.topics", raw.topics)
            .unwrap_or_default();
        if topics.is_empty() && !self.problems.iter().any(|p| p.path == "source.topics") {
            self.problem("source.topics", "expected at least one topic, got []");
        }
        for (i, t) in topics.iter().enumerate() {
            if t.trim().is_empty() {
                self.problem(
                    format!("source.topics[{i}]"),
                    "expected a non-empty topic name, got \"\"",
                );
            }
        }
        let schema_format = match raw.schema_format.as_deref() {
            None => defaults::SCHEMA_FORMAT,
            Some("CloudCanal") => Format::CloudCanal,
            Some("AlibabaCanal") => Format::Canal,
            Some(other) => {
                self.problem(
                    "source.schemaFormat",
                    format!("expected `CloudCanal` or `AlibabaCanal`, got `{other}`"),
                );
                defaults::SCHEMA_FORMAT
            }
        };
        let consumer_group_id = self.string("source.consumerGroupId", raw.consumer_group_id);
        let consume_parallel = self.int(
            "source.consumeParallel",
            raw.consume_parallel,
            1,
            1024,
            defaults::consume_parallel(),
        );
        let session_timeout_ms = self.int(
            "source.sessionTimeoutMs",
            raw.session_timeout_ms,
            1,
            3_600_000,
            defaults::SESSION_TIMEOUT_MS,
        );
        let max_poll_records = self.int(
            "source.maxPollRecords",
            raw.max_poll_records,
            1,
            i64::from(u32::MAX),
            defaults::MAX_POLL_RECORDS,
        );
        let start_from = match raw.start_from {
            None => StartFrom::Earliest,
            Some(v) => {
                let text = match &v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Datetime(d) => d.to_string(),
                    other => other.to_string(),
                };
                match text.parse() {
                    Ok(s) => s,
                    Err(msg) => {
                        self.problem("source.startFrom", msg);
                        StartFrom::Earliest
                    }
                }
            }
        };
        let kafka = parse::kafka_strings(raw.kafka.unwrap_or_default());
        for key in kafka.keys() {
            if let Some((_, why)) = MANAGED_KAFKA_KEYS.iter().find(|(k, _)| k == key) {
                self.problem(
                    format!("source.kafka.{}", parse::render_key(key)),
                    format!("not allowed in [source.kafka]: {why}"),
                );
            }
        }
        SourceConfig {
            brokers,
            topics,
            schema_format,
            consumer_group_id,
            consume_parallel,
            session_timeout_ms,
            max_poll_records,
            start_from,
            kafka: KafkaProps::new(kafka),
        }
    }

    fn zone(&mut self, path: &str, value: Option<String>) -> Option<Zone> {
        match value?.parse::<Zone>() {
            Ok(z) => Some(z),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }

    fn target(&mut self, raw: RawTarget) -> TargetConfig {
        let ddl = self.ddl_settings(&raw);
        let host = self.host_port("target.host", raw.host);
        let http_host = self.http_host(raw.http_host);
        let use_ssl = raw.use_ssl.unwrap_or(defaults::USE_SSL);
        let ssl_ca_file = self.ssl_ca_file(raw.ssl_ca_file, &http_host, use_ssl);
        let user = self.string("target.user", raw.user);
        if raw.password.is_some() && raw.password_env.is_some() {
            self.problem(
                "target.passwordEnv",
                "give either target.password or target.passwordEnv, not both",
            );
        }
        if let Some(var) = &raw.password_env
            && (var.is_empty() || var.contains(['=', '\0']))
        {
            self.problem(
                "target.passwordEnv",
                format!("expected an environment variable name, got `{var}`"),
            );
        }
        let max = i64::MAX;
        let total_data_in_mem_mb = self.int(
            "target.totalDataInMemMb",
            raw.total_data_in_mem_mb,
            1,
            max,
            defaults::TOTAL_DATA_IN_MEM_MB,
        );
        let async_flush_interval_sec = self.int(
            "target.asyncFlushIntervalSec",
            raw.async_flush_interval_sec,
            1,
            max,
            defaults::ASYNC_FLUSH_INTERVAL_SEC,
        );
        // The default never exceeds a smaller budget, so the effective job stays valid.
        let flush_batch_mb = self.int(
            "target.flushBatchMb",
            raw.flush_batch_mb,
            1,
            max,
            defaults::FLUSH_BATCH_MB.min(total_data_in_mem_mb),
        );
        if raw.flush_batch_mb.is_some_and(|v| v >= 1) && flush_batch_mb > total_data_in_mem_mb {
            self.problem(
                "target.flushBatchMb",
                format!(
                    "expected at most target.totalDataInMemMb ({total_data_in_mem_mb}), got \
                     {flush_batch_mb}"
                ),
            );
        }
        let real_flush_pause_sec = self.int(
            "target.realFlushPauseSec",
            raw.real_flush_pause_sec,
            0,
            max,
            defaults::REAL_FLUSH_PAUSE_SEC,
        );
        let so_timeout_sec = self.int(
            "target.soTimeoutSec",
            raw.so_timeout_sec,
            1,
            max,
            defaults::SO_TIMEOUT_SEC,
        );
        let http_so_timeout_sec = self.int(
            "target.httpSoTimeoutSec",
            raw.http_so_timeout_sec,
            1,
            max,
            defaults::HTTP_SO_TIMEOUT_SEC,
        );
        let label_wait_sec = self.int(
            "target.labelWaitSec",
            raw.label_wait_sec,
            1,
            max,
            defaults::LABEL_WAIT_SEC,
        );
        let enable_time_zone_process = raw
            .enable_time_zone_process
            .unwrap_or(defaults::ENABLE_TIME_ZONE_PROCESS);
        let timezone_given = raw.timezone.is_some();
        let timezone = self.zone("target.timezone", raw.timezone);
        if enable_time_zone_process && !timezone_given {
            self.problem(
                "target.timezone",
                "required when target.enableTimeZoneProcess = true",
            );
        }
        let max_in_size_per_query = self.int(
            "target.maxInSizePerQuery",
            raw.max_in_size_per_query,
            1,
            i64::from(u32::MAX),
            defaults::MAX_IN_SIZE_PER_QUERY,
        );
        let default_zero_date = match raw.default_zero_date {
            None => ZeroDatePolicy::Null,
            Some(s) => s.parse().unwrap_or_else(|e: BadZeroDate| {
                self.problem("target.defaultZeroDate", e.to_string());
                ZeroDatePolicy::Null
            }),
        };
        let source_timezone = self
            .zone("target.sourceTimezone", raw.source_timezone)
            .unwrap_or_else(Zone::utc);
        TargetConfig {
            host,
            http_host,
            ssl_ca_file,
            use_ssl,
            user,
            password: raw.password.map(Secret::from),
            password_env: raw.password_env,
            total_data_in_mem_mb,
            async_flush_interval_sec,
            flush_batch_mb,
            real_flush_pause_sec,
            so_timeout_sec,
            http_so_timeout_sec,
            label_wait_sec,
            enable_time_zone_process,
            timezone,
            max_in_size_per_query,
            default_zero_date,
            source_timezone,
            ddl,
        }
    }

    /// The DDL and schema-drift settings of `[target]`.
    fn ddl_settings(&mut self, raw: &RawTarget) -> DdlConfig {
        let on_unknown_column = match raw.on_unknown_column.as_deref() {
            None => defaults::ON_UNKNOWN_COLUMN,
            Some("fail") => OnUnknownColumn::Fail,
            Some("addColumn") => OnUnknownColumn::AddColumn,
            Some("ignore") => OnUnknownColumn::Ignore,
            Some(other) => {
                self.problem(
                    "target.onUnknownColumn",
                    format!("expected `fail`, `addColumn` or `ignore`, got `{other}`"),
                );
                defaults::ON_UNKNOWN_COLUMN
            }
        };
        let on_missing_column = match raw.on_missing_column.as_deref() {
            None => defaults::ON_MISSING_COLUMN,
            Some("fail") => OnMissingColumn::Fail,
            Some("partialUpdate") => OnMissingColumn::PartialUpdate,
            Some(other) => {
                self.problem(
                    "target.onMissingColumn",
                    format!("expected `fail` or `partialUpdate`, got `{other}`"),
                );
                defaults::ON_MISSING_COLUMN
            }
        };
        let auto_create_properties = raw.auto_create_properties.clone().unwrap_or_default();
        for key in auto_create_properties.keys() {
            if key.trim().is_empty() {
                self.problem(
                    "target.autoCreateProperties",
                    "expected property names, got an empty one",
                );
            }
        }
        DdlConfig {
            sync_ddl: raw.sync_ddl.unwrap_or(defaults::SYNC_DDL),
            ddl_exception_skip: raw
                .ddl_exception_skip
                .unwrap_or(defaults::DDL_EXCEPTION_SKIP),
            ddl_allow_drop_table: raw
                .ddl_allow_drop_table
                .unwrap_or(defaults::DDL_ALLOW_DROP_TABLE),
            ddl_timeout_sec: self.int(
                "target.ddlTimeoutSec",
                raw.ddl_timeout_sec,
                1,
                i64::from(u32::MAX),
                defaults::DDL_TIMEOUT_SEC,
            ),
            on_unknown_column,
            on_missing_column,
            auto_create_table: raw.auto_create_table.unwrap_or(defaults::AUTO_CREATE_TABLE),
            auto_create_buckets: self.int(
                "target.autoCreateBuckets",
                raw.auto_create_buckets,
                0,
                i64::from(u32::MAX),
                defaults::AUTO_CREATE_BUCKETS,
            ),
            auto_create_properties,
        }
    }

    /// `tables[i].keys`: a non-empty list of distinct, non-empty column names.
    fn keys(&mut self, i: usize, keys: Option<Vec<String>>) -> Option<Vec<String>> {
        let keys = keys?;
        let path = format!("tables[{i}].keys");
        if keys.is_empty() {
            self.problem(&path, "expected at least one column name, got []");
        }
        for (j, k) in keys.iter().enumerate() {
            if k.trim().is_empty() {
                self.problem(format!("{path}[{j}]"), "expected a column name, got \"\"");
            } else if keys[..j]
                .iter()
                .any(|p| crate::schema::names_equal_ci(p, k))
            {
                self.problem(
                    format!("{path}[{j}]"),
                    format!("column `{k}` is named twice"),
                );
            }
        }
        Some(keys)
    }

    /// One `[[tables]]` entry: exactly one of `source` (a glob route) and `topic` (the table for
    /// the topic's messages that name none), and `target`.
    fn table_entry(&mut self, i: usize, raw: RawRoute, topics: &[String]) -> Option<TableEntry> {
        let target = raw.target;
        let keys = self.keys(i, raw.keys);
        let source = match (raw.source, raw.topic) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("tables[{i}].topic"),
                    "give either `source` (a source table) or `topic` (a topic whose messages \
                     name no table), not both",
                );
                self.required(&format!("tables[{i}].target"), target);
                return None;
            }
            (None, Some(topic)) => {
                return self
                    .topic_entry(i, topic, target, topics)
                    .map(|e| e.with_keys(keys));
            }
            (source, None) => source,
        };
        if source.is_none() {
            self.problem(
                format!("tables[{i}].source"),
                "missing required key (or give `topic` for a topic whose messages name no table)",
            );
        }
        let target = self.required(&format!("tables[{i}].target"), target);
        match TableRoute::new(&source?, &target?) {
            Ok(r) => Some(TableEntry::Source(r.with_keys(keys))),
            Err((key, msg)) => {
                self.problem(format!("tables[{i}].{key}"), msg);
                None
            }
        }
    }

    fn topic_entry(
        &mut self,
        i: usize,
        topic: String,
        target: Option<String>,
        topics: &[String],
    ) -> Option<TableEntry> {
        let mut ok = true;
        if topic.trim().is_empty() {
            self.problem(
                format!("tables[{i}].topic"),
                "expected a non-empty topic name, got \"\"",
            );
            ok = false;
        } else if !topics.is_empty() && !topics.iter().any(|t| t == &topic || t.starts_with('^')) {
            // (A `^…` topic is a librdkafka regex subscription: any name may match it.)
            self.problem(
                format!("tables[{i}].topic"),
                format!("topic `{topic}` is not one of source.topics"),
            );
            ok = false;
        }
        let target = self.required(&format!("tables[{i}].target"), target)?;
        let target = match target.parse::<TargetName>() {
            Ok(t) => t,
            Err(_) => {
                self.problem(
                    format!("tables[{i}].target"),
                    format!(
                        "with `topic`, expected a literal `db.table` (the topic's messages name \
                         no table for a `*` to stand for), got `{target}`"
                    ),
                );
                return None;
            }
        };
        if let Err(e) = route::check_literal(&target.db, &target.table) {
            self.problem(format!("tables[{i}].target"), e.to_string());
            ok = false;
        }
        ok.then_some(TableEntry::Topic(TopicRoute {
            topic,
            target,
            keys: None,
        }))
    }
}

/// The base URL of an `httpHost` value (see [`TargetConfig::http_url`]).
pub fn http_url(http_host: &str) -> String {
    if http_host.starts_with("https://") || http_host.starts_with("http://") {
        http_host.trim_end_matches('/').to_string()
    } else {
        format!("http://{http_host}")
    }
}

/// `host:port` (IPv6 as `[addr]:port`), port 1–65535.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.ends_with(']') && inner.len() > 1
    } else {
        !host.is_empty()
            && !host.contains(['/', ' ', ':', '[', ']'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        for ok in [
            "fe:9030",
            "10.0.0.1:8030",
            "[::1]:8040",
            "fe-1.example.com:9030",
        ] {
            assert!(is_host_port(ok), "{ok}");
        }
        for bad in [
            "fe",
            "fe:",
            ":9030",
            "fe:0",
            "fe:70000",
            "http://fe:8030",
            "a b:1",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
