//! Watches the running job for what an operator must hear about before Kafka's retention deletes
//! the backlog: a stall (lag, and nothing loaded for `stallAlertSec`), a lag that stays above
//! `lagAlertMessages` for `lagAlertSec`, and unloaded messages older than 80 % of their topic's
//! `retention.ms`. It raises alerts; `/healthz` asks [`health`].

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use super::Shared;
use crate::config::{AlertEvent, Config};
use crate::position::Group;

const CHECK_EVERY: Duration = Duration::from_secs(5);
const RETENTION_EVERY: Duration = Duration::from_secs(60);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// An unloaded message older than this share of its topic's retention is at risk.
const RETENTION_RISK: f64 = 0.8;

/// How the job is doing, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Health {
    Healthy,
    Failed(String),
    /// Lag, and nothing loaded for this long.
    Stalled(Duration),
}

/// The job's health now.
pub(crate) fn health(shared: &Shared) -> Health {
    if let Some(e) = shared.fatal.message() {
        return Health::Failed(e);
    }
    let stall = Duration::from_secs(shared.config().stall_alert_sec);
    let idle = shared.metrics.since_last_load(shared.started_ms);
    if shared.metrics.total_lag() > 0 && idle >= stall {
        return Health::Stalled(idle);
    }
    Health::Healthy
}

pub(crate) struct Monitor {
    done: Sender<()>,
    thread: JoinHandle<()>,
}

impl Monitor {
    pub(crate) fn start(shared: Arc<Shared>) -> Monitor {
        let (done, stop) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || watch(&shared, &stop))
            .expect("spawn the monitor");
        Monitor { done, thread }
    }

    pub(crate) fn finish(self) {
        drop(self.done);
        let _ = self.thread.join();
    }
}

fn watch(shared: &Shared, stop: &Receiver<()>) {
    let mut lag_since: Option<Instant> = None;
    let mut last_retention: Option<Instant> = None;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECK_EVERY) {
        if let Health::Stalled(idle) = health(shared) {
            let message = format!(
                "lag {} and nothing loaded for {} s",
                shared.metrics.total_lag(),
                idle.as_secs()
            );
            shared.alerts.raise(AlertEvent::Stall, "job", &message);
        }
        check_lag(shared, &mut lag_since);
        if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
            last_retention = Some(Instant::now());
            if let Err(e) = check_retention(shared) {
                tracing::debug!("retention check skipped: {e}");
            }
        }
    }
}

fn check_lag(shared: &Shared, since: &mut Option<Instant>) {
    let config = shared.config();
    let lag = shared.metrics.total_lag();
    if lag <= config.lag_alert_messages as i64 {
        *since = None;
        return;
    }
    let above = since.get_or_insert_with(Instant::now).elapsed();
    if above >= Duration::from_secs(config.lag_alert_sec) {
        let message = format!(
            "lag {lag} above lagAlertMessages ({}) for {} s",
            config.lag_alert_messages,
            above.as_secs()
        );
        shared.alerts.raise(AlertEvent::Lag, "job", &message);
    }
}

/// Raises a retention alert for every partition whose oldest unloaded message (the one at the
/// committed offset) is older than 80 % of its topic's `retention.ms`.
fn check_retention(shared: &Shared) -> anyhow::Result<()> {
    let config = shared.config();
    let retention = retention_ms(&config)?;
    let group = Group::open(&config.source, KAFKA_TIMEOUT)?;
    let partitions = group.cluster().partitions(&config.source.topics)?;
    let now = jiff::Timestamp::now();
    for p in group.positions(&partitions)? {
        let (Some(ts), Some(keep)) = (p.committed_timestamp, retention.get(&p.partition.topic))
        else {
            continue;
        };
        let age = now.duration_since(ts).as_secs_f64();
        if age > *keep as f64 / 1000.0 * RETENTION_RISK {
            let message = format!(
                "the oldest unloaded message is {:.0} s old; retention.ms is {keep} (rows are \
                 lost when Kafka deletes it)",
                age
            );
            shared
                .alerts
                .raise(AlertEvent::Retention, &p.partition.to_string(), &message);
        }
    }
    Ok(())
}

/// `retention.ms` of each topic of the subscription (time-based retention only; -1 = none).
fn retention_ms(config: &Config) -> anyhow::Result<HashMap<String, i64>> {
    let admin: AdminClient<DefaultClientContext> =
        crate::kafka::client_config(&config.source).create()?;
    let specs: Vec<ResourceSpecifier<'_>> = config
        .source
        .topics
        .iter()
        .map(|t| ResourceSpecifier::Topic(t))
        .collect();
    let opts = AdminOptions::new().request_timeout(Some(KAFKA_TIMEOUT));
    // rdkafka's admin calls are futures completed by librdkafka's own thread: waiting for one
    // needs no async runtime.
    let results = futures::executor::block_on(admin.describe_configs(&specs, &opts))?;
    let mut out = HashMap::new();
    for (topic, result) in config.source.topics.iter().zip(results) {
        let retention = result
            .ok()
            .and_then(|r| r.get("retention.ms").and_then(|e| e.value.clone()))
            .and_then(|v| v.parse::<i64>().ok());
        if let Some(ms) = retention.filter(|ms| *ms > 0) {
            out.insert(topic.clone(), ms);
        }
    }
    Ok(out)
}
