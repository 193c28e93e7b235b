//! Changing the subscription while the job runs (`SIGHUP`, `POST /reload`): the job file is read
//! again; new `source.topics` and `[[tables]]` take effect without a restart, anything else is
//! refused (naming the key) and the job keeps running on the file it started with.
//!
//! - A removed topic's partitions are revoked by the group: loaded, committed and released like
//!   any revocation; an added topic's partitions start at their committed offsets, else at
//!   `startFrom`.
//! - New routes apply only after the rows already read are loaded under the old ones: every
//!   worker hands its open blocks over, the flushers load everything, then the workers route
//!   with the new job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::rebalance::{SourceContext, SourceState};
use crate::config::Config;
use crate::engine::worker::WorkerCmd;

/// A reload asked for; the outcome goes to `reply` when someone waits for it.
pub(crate) struct ReloadRequest {
    pub reply: Option<Sender<Result<String, String>>>,
}

/// How long rerouting may wait for the rows read under the old routes to load.
const REROUTE_WITHIN: Duration = Duration::from_secs(300);

/// Reloads the job file; the outcome, as logged.
pub(super) fn reload(
    consumer: &BaseConsumer<SourceContext>,
    state: &SourceState,
) -> Result<String, String> {
    let Some(path) = state.shared.job_file.as_deref() else {
        return Err("the job was not started from a file; nothing to reload".into());
    };
    let new = Config::read(path)
        .map_err(|e| format!("the job file is not valid; the job keeps running as it was: {e}"))?;
    let old = state.shared.config();
    let refused = old.reload_refusals(&new);
    if !refused.is_empty() {
        return Err(format!(
            "reload refused: {} cannot change while the job runs (restart it for that); the \
             job keeps running as it was",
            refused.join(", ")
        ));
    }
    let topics_changed = old.source.topics != new.source.topics;
    let tables_changed = !old.same_tables(&new);
    if !topics_changed && !tables_changed {
        return Ok("the job file did not change what a reload can change".into());
    }
    let new = Arc::new(new);
    if tables_changed {
        reroute(state)?;
    }
    state.shared.set_config(Arc::clone(&new));
    for w in &state.workers {
        let _ = w.send(WorkerCmd::Reconfigure(Arc::clone(&new)));
    }
    if topics_changed {
        let topics: Vec<&str> = new.source.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("subscribing to {topics:?} failed: {e}"))?;
    }
    Ok(summary(&old, &new))
}

/// Loads everything read under the old routes before the new ones apply.
fn reroute(state: &SourceState) -> Result<(), String> {
    let until = Instant::now() + REROUTE_WITHIN;
    let acks: Vec<_> = state
        .workers
        .iter()
        .map(|w| {
            let (done, ack) = bounded(1);
            let _ = w.send(WorkerCmd::HandOver { done });
            ack
        })
        .collect();
    let handed_over = acks.iter().all(|a| a.recv_deadline(until).is_ok());
    let loaded = handed_over
        && state
            .shared
            .tables
            .flush_all(until.saturating_duration_since(Instant::now()));
    if loaded {
        Ok(())
    } else {
        Err(
            "reload refused: the rows read under the old routes could not be loaded in time; \
             the job keeps running as it was"
                .into(),
        )
    }
}

fn summary(old: &Config, new: &Config) -> String {
    let added: Vec<&String> = new
        .source
        .topics
        .iter()
        .filter(|t| !old.source.topics.contains(t))
        .collect();
    let removed: Vec<&String> = old
        .source
        .topics
        .iter()
        .filter(|t| !new.source.topics.contains(t))
        .collect();
    let tables = if old.same_tables(new) {
        "unchanged"
    } else {
        "changed"
    };
    format!("reloaded: topics added {added:?}, removed {removed:?}; [[tables]] {tables}")
}
