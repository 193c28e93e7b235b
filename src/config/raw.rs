//! The job file as written: every key optional, unknown keys rejected. Required keys, value
//! ranges and defaults are handled when building [`Config`](super::Config).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse::KafkaValue;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawConfig {
    pub on_error: Option<String>,
    pub dead_letter_topic: Option<String>,
    pub log_payload_excerpt: Option<bool>,
    pub stop_grace_sec: Option<i64>,
    pub stall_alert_sec: Option<i64>,
    pub lag_alert_messages: Option<i64>,
    pub lag_alert_sec: Option<i64>,
    pub alert_inhibit_sec: Option<i64>,
    pub admin: Option<RawAdmin>,
    pub alerts: Option<Vec<RawAlert>>,
    pub source: Option<RawSource>,
    pub target: Option<RawTarget>,
    pub tables: Option<Vec<RawRoute>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSource {
    pub brokers: Option<String>,
    pub topics: Option<Vec<String>>,
    pub schema_format: Option<String>,
    pub consumer_group_id: Option<String>,
    pub consume_parallel: Option<i64>,
    pub session_timeout_ms: Option<i64>,
    pub max_poll_records: Option<i64>,
    /// A string, or a TOML offset datetime literal.
    pub start_from: Option<toml::Value>,
    pub kafka: Option<BTreeMap<String, KafkaValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTarget {
    pub host: Option<String>,
    pub http_host: Option<String>,
    pub ssl_ca_file: Option<String>,
    pub use_ssl: Option<bool>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub total_data_in_mem_mb: Option<i64>,
    pub async_flush_interval_sec: Option<i64>,
    pub flush_batch_mb: Option<i64>,
    pub real_flush_pause_sec: Option<i64>,
    pub so_timeout_sec: Option<i64>,
    pub http_so_timeout_sec: Option<i64>,
    pub label_wait_sec: Option<i64>,
    pub enable_time_zone_process: Option<bool>,
    pub timezone: Option<String>,
    pub max_in_size_per_query: Option<i64>,
    pub default_zero_date: Option<String>,
    pub source_timezone: Option<String>,
    pub sync_ddl: Option<bool>,
    pub ddl_exception_skip: Option<bool>,
    pub ddl_allow_drop_table: Option<bool>,
    pub ddl_timeout_sec: Option<i64>,
    pub on_unknown_column: Option<String>,
    pub on_missing_column: Option<String>,
    pub auto_create_table: Option<bool>,
    pub auto_create_buckets: Option<i64>,
    pub auto_create_properties: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRoute {
    pub source: Option<String>,
    pub topic: Option<String>,
    pub target: Option<String>,
    pub keys: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAdmin {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAlert {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
}
