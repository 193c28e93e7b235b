//! Alerts: webhooks (`[[alerts]]`) receiving one JSON POST per event — with a Slack-compatible
//! `text` field — sent from a thread of their own so that no engine thread waits for a webhook.
//! Repeats of one event about one subject within `alertInhibitSec` are suppressed; an alert
//! that cannot be delivered is logged, never fatal.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;

use crate::config::{AlertEvent, AlertTarget, Config};

/// Alerts queued before new ones are dropped (with a log line).
const QUEUE: usize = 256;
/// A webhook gets this long per request.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the end of a job waits for queued alerts.
const FINISH_WITHIN: Duration = Duration::from_secs(15);

/// One alert.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    pub event: AlertEvent,
    /// What it is about: a table, a topic, a partition, the job.
    pub subject: String,
    pub message: String,
}

pub(crate) struct Alerts {
    job: String,
    inhibit: Duration,
    sent: Mutex<HashMap<(AlertEvent, String), Instant>>,
    /// Taken (closing the queue) when the job ends.
    queue: Mutex<Option<Sender<Alert>>>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Alerts {
    /// The job's alerts; with no `[[alerts]]` entry, raising one only logs it.
    pub(crate) fn new(config: &Config) -> Alerts {
        let (queue, sender) = if config.alerts.is_empty() {
            (None, None)
        } else {
            let (tx, rx) = bounded(QUEUE);
            let targets = config.alerts.clone();
            let job = config.source.consumer_group_id.clone();
            let thread = std::thread::Builder::new()
                .name("alerts".into())
                .spawn(move || deliver(&rx, &targets, &job))
                .expect("spawn the alert thread");
            (Some(tx), Some(thread))
        };
        Alerts {
            job: config.source.consumer_group_id.clone(),
            inhibit: Duration::from_secs(config.alert_inhibit_sec),
            sent: Mutex::new(HashMap::new()),
            queue: Mutex::new(queue),
            sender: Mutex::new(sender),
        }
    }

    /// Raises an alert, unless the same event about the same subject was raised within
    /// `alertInhibitSec`.
    pub(crate) fn raise(&self, event: AlertEvent, subject: &str, message: &str) {
        {
            let mut sent = self.sent.lock();
            let key = (event, subject.to_string());
            if sent.get(&key).is_some_and(|t| t.elapsed() < self.inhibit) {
                return;
            }
            sent.insert(key, Instant::now());
        }
        tracing::warn!(event = event.as_str(), subject, job = %self.job, "alert: {message}");
        let queue = self.queue.lock();
        let Some(queue) = queue.as_ref() else {
            return;
        };
        let alert = Alert {
            event,
            subject: subject.to_string(),
            message: message.to_string(),
        };
        if let Err(TrySendError::Full(a)) = queue.try_send(alert) {
            tracing::warn!(event = a.event.as_str(), "alert queue full; alert not sent");
        }
    }

    /// Closes the queue and gives the sender a bounded time to deliver what is in it.
    pub(crate) fn finish(&self) {
        drop(self.queue.lock().take());
        let Some(thread) = self.sender.lock().take() else {
            return;
        };
        let deadline = Instant::now() + FINISH_WITHIN;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// The sender thread: every alert to every target that wants its event.
fn deliver(rx: &Receiver<Alert>, targets: &[AlertTarget], job: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(WEBHOOK_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    for alert in rx {
        let body = payload(&alert, job);
        for target in targets.iter().filter(|t| t.events.contains(&alert.event)) {
            let sent = agent
                .post(&target.url)
                .header("Content-Type", "application/json")
                .send(body.as_bytes());
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(url = %target.url, status = r.status().as_u16(), "alert webhook refused the alert")
                }
                Err(e) => tracing::warn!(url = %target.url, "alert not delivered: {e}"),
            }
        }
    }
}

/// The JSON an alert webhook receives.
pub(crate) fn payload(alert: &Alert, job: &str) -> String {
    let time = jiff::Timestamp::now().to_string();
    serde_json::json!({
        "event": alert.event.as_str(),
        "subject": alert.subject,
        "message": alert.message,
        "job": job,
        "time": time,
        "text": format!("starpipe {job}: {} — {}: {}", alert.event.as_str(), alert.subject, alert.message),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit::config;

    #[test]
    fn repeats_are_inhibited_per_event_and_subject() {
        let mut c = config("");
        c.alert_inhibit_sec = 3600;
        let alerts = Alerts::new(&c);
        alerts.raise(AlertEvent::Stall, "job", "stalled");
        alerts.raise(AlertEvent::Stall, "job", "stalled again");
        alerts.raise(AlertEvent::Stall, "other", "stalled");
        let sent = alerts.sent.lock();
        assert_eq!(sent.len(), 2, "one per (event, subject)");
    }

    #[test]
    fn the_payload_carries_a_slack_text() {
        let alert = Alert {
            event: AlertEvent::DdlFailed,
            subject: "ods.orders".into(),
            message: "ALTER failed".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&payload(&alert, "job")).unwrap();
        assert_eq!(v["event"], "ddlFailed");
        assert_eq!(v["subject"], "ods.orders");
        assert!(v["text"].as_str().unwrap().contains("ALTER failed"));
    }
}
