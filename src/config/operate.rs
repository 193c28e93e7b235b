//! The settings of operating a job: the admin endpoint (`[admin]`), alert webhooks
//! (`[[alerts]]`) and the thresholds of the stall, lag and alert-repeat rules.

use serde::Serialize;

use super::Builder;
use super::raw::{RawAdmin, RawAlert};

/// `[admin]`: the HTTP endpoint serving `/metrics`, `/healthz`, `/status` and `/reload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminConfig {
    /// `listen`: `host:port`.
    pub listen: String,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertEvent {
    /// The job failed (a fatal error).
    Failed,
    /// The job stopped.
    Stopped,
    /// Lag > 0 and nothing loaded for `stallAlertSec`.
    Stall,
    /// Lag above `lagAlertMessages` for `lagAlertSec`.
    Lag,
    /// The oldest unloaded message is older than 80 % of its topic's `retention.ms`.
    Retention,
    DdlApplied,
    DdlSkipped,
    DdlFailed,
    /// Messages or rows went to the dead-letter topic.
    DeadLetter,
    /// StarRocks filtered rows of a load.
    Filtered,
    /// A load is still retrying after `labelWaitSec`.
    Retrying,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 11] = [
        AlertEvent::Failed,
        AlertEvent::Stopped,
        AlertEvent::Stall,
        AlertEvent::Lag,
        AlertEvent::Retention,
        AlertEvent::DdlApplied,
        AlertEvent::DdlSkipped,
        AlertEvent::DdlFailed,
        AlertEvent::DeadLetter,
        AlertEvent::Filtered,
        AlertEvent::Retrying,
    ];

    /// The name used in `events` and in the alert's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Failed => "failed",
            AlertEvent::Stopped => "stopped",
            AlertEvent::Stall => "stall",
            AlertEvent::Lag => "lag",
            AlertEvent::Retention => "retention",
            AlertEvent::DdlApplied => "ddlApplied",
            AlertEvent::DdlSkipped => "ddlSkipped",
            AlertEvent::DdlFailed => "ddlFailed",
            AlertEvent::DeadLetter => "deadLetter",
            AlertEvent::Filtered => "filtered",
            AlertEvent::Retrying => "retrying",
        }
    }

    fn parse(name: &str) -> Option<AlertEvent> {
        AlertEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// One `[[alerts]]` entry: a webhook and the events it receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertTarget {
    /// `url`: receives a JSON POST per alert.
    pub url: String,
    /// `events`: every event when not given.
    pub events: Vec<AlertEvent>,
}

impl Builder {
    pub(super) fn admin(&mut self, raw: Option<RawAdmin>) -> Option<AdminConfig> {
        let raw = raw?;
        let listen = self.host_port("admin.listen", raw.listen);
        Some(AdminConfig { listen })
    }

    pub(super) fn alerts(&mut self, raw: Option<Vec<RawAlert>>) -> Vec<AlertTarget> {
        let raw = raw.unwrap_or_default();
        raw.into_iter()
            .enumerate()
            .map(|(i, a)| self.alert(i, a))
            .collect()
    }

    fn alert(&mut self, i: usize, raw: RawAlert) -> AlertTarget {
        let url = self.string(&format!("alerts[{i}].url"), raw.url);
        let web = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !web {
            self.problem(
                format!("alerts[{i}].url"),
                format!("expected an http:// or https:// URL, got `{url}`"),
            );
        }
        let events = match raw.events {
            None => AlertEvent::ALL.to_vec(),
            Some(names) => names
                .iter()
                .filter_map(|n| {
                    let e = AlertEvent::parse(n);
                    if e.is_none() {
                        let all: Vec<&str> = AlertEvent::ALL.iter().map(|e| e.as_str()).collect();
                        self.problem(
                            format!("alerts[{i}].events"),
                            format!("unknown event `{n}`; expected one of {}", all.join(", ")),
                        );
                    }
                    e
                })
                .collect(),
        };
        AlertTarget { url, events }
    }
}
