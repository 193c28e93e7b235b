//! Stream Load: one PUT per batch (`http.rs`), answers classified exactly as starrocks.md §2.2 /
//! §2.5 / §3.3 (`response.rs`), retried with the same label after a back-off (`retry.rs`).
//!
//! - `Success`, `Publish Timeout`, and `Label Already Exists` with `FINISHED` are done; with
//!   `RUNNING`/`PREPARE` the label is polled through `get_load_state` and never replaced.
//! - Retryable failures are retried with the same label as long as the engine runs; the HTTP
//!   client itself never retries.
//! - Filtered rows are rejected unless the request accepts them: the rejected rows are fetched
//!   from `ErrorURL` and the load fails as a data error.

mod http;
mod response;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::alerts::Alerts;
use crate::config::AlertEvent;
use crate::schema::TargetTable;

use http::{HttpClient, LabelState};
pub use response::{Verdict, classify};
use retry::Backoff;
pub(crate) use retry::{sleep_unless, sleep_unless_stopped};

/// Connection settings for Stream Load.
#[derive(Clone)]
pub struct LoadSettings {
    /// `httpHost`: FE or BE HTTP address, `host:port` (plain HTTP) or an `http://` /
    /// `https://` URL.
    pub http_host: String,
    pub user: String,
    pub password: String,
    /// Connecting to `httpHost` (or a BE it redirects to).
    pub connect_timeout: Duration,
    /// `httpSoTimeoutSec`: a whole load (also sent as the `timeout` header).
    pub load_timeout: Duration,
    /// `labelWaitSec`: how long a label StarRocks reports running is polled before the load is
    /// sent again with the same label.
    pub label_wait: Duration,
    /// FE HTTP addresses (`host:port`) asked for a label's state, or to cancel it, when
    /// `httpHost` (a BE) cannot answer; reached with `httpHost`'s scheme.
    pub frontends: Vec<String>,
    /// The certificates HTTPS trusts (`sslCaFile`).
    pub tls: crate::tls::TargetTls,
}

impl std::fmt::Debug for LoadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadSettings")
            .field("http_host", &self.http_host)
            .field("user", &self.user)
            .field("password", &crate::config::MASK)
            .field("connect_timeout", &self.connect_timeout)
            .field("load_timeout", &self.load_timeout)
            .field("label_wait", &self.label_wait)
            .field("frontends", &self.frontends)
            .field("tls", &self.tls)
            .finish()
    }
}

/// What happens to rows StarRocks filters (`max_filter_ratio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilteredRows {
    /// Any filtered row fails the load (`max_filter_ratio: 0`).
    Reject,
    /// The good rows load and the rejected ones are reported (`max_filter_ratio: 1`); used to
    /// dead-letter rejected rows.
    Accept,
}

/// What a load sends: its length, known before it is sent, and its bytes, read anew for every
/// attempt. A batch's body is written from the batch's rows while it is sent
/// (`engine::body::BatchBody`), so that it is never a second copy of the batch in memory.
pub trait BodySource {
    /// The body's length in bytes (its `Content-Length`).
    fn size(&self) -> u64;
    /// The body's bytes from the start.
    fn reader(&self) -> Box<dyn std::io::Read + '_>;
}

/// A body that could not be written while it was sent (a bug: its length and its rows were
/// checked first). Never retried: the same rows would fail the same way.
#[derive(Debug, thiserror::Error)]
#[error("the load body could not be written: {0}")]
pub(crate) struct BodyError(pub String);

impl BodySource for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn reader(&self) -> Box<dyn std::io::Read + '_> {
        Box::new(self.as_slice())
    }
}

/// One batch to load.
#[derive(Clone, Copy)]
pub struct LoadRequest<'a> {
    pub db: &'a str,
    pub table: &'a str,
    pub label: &'a str,
    /// Format headers (`format`, `columns`, separators …); label, timeout, `max_filter_ratio`,
    /// `Expect` and authorization are added by the loader.
    pub headers: &'a [(&'static str, String)],
    pub body: &'a dyn BodySource,
    pub filtered: FilteredRows,
}

impl std::fmt::Debug for LoadRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadRequest")
            .field("db", &self.db)
            .field("table", &self.table)
            .field("label", &self.label)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.size())
            .field("filtered", &self.filtered)
            .finish()
    }
}

impl<'a> LoadRequest<'a> {
    /// A load of `body` into `table` under `label`.
    pub fn new(
        table: &'a TargetTable,
        label: &'a str,
        headers: &'a [(&'static str, String)],
        body: &'a dyn BodySource,
        filtered: FilteredRows,
    ) -> Self {
        LoadRequest {
            db: &table.db,
            table: &table.table,
            label,
            headers,
            body,
            filtered,
        }
    }
}

/// How a load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub status: String,
    pub loaded_rows: u64,
    /// With [`FilteredRows::Accept`]: the rows StarRocks rejected, from `ErrorURL`.
    pub rejected: Option<String>,
    pub attempts: u32,
    pub took: Duration,
}

/// Why a load did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// StarRocks rejected rows of the batch (never retried as is).
    #[error("StarRocks rejected rows of load {label}: {message}; rejected rows: {rejected}")]
    Data {
        label: String,
        message: String,
        rejected: String,
    },
    /// A failure that retrying cannot fix (auth, unknown table, mapping).
    #[error("load {label} failed permanently: {message}")]
    Permanent { label: String, message: String },
    /// Abandoned before an attempt (the engine stops, or a block's partition was revoked); after
    /// an attempt that got no answer, once its transaction was cancelled or ended (see
    /// `StreamLoader::abandoned`).
    #[error("load {label} abandoned before it was sent again")]
    Abandoned { label: String },
}

/// Observations a flusher uses to adapt its batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feedback {
    /// StarRocks reported version or transaction pressure during the load.
    pub pressure: bool,
    pub retries: u32,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

/// Performs Stream Loads (StarRocks over HTTP in production).
pub(crate) trait LoadService: Send + Sync {
    /// Loads the request, retrying until it is done or fails for good. `abandon` is asked
    /// before every attempt and while waiting: when it says so, the load ends `Abandoned`.
    fn load(
        &self,
        req: &LoadRequest<'_>,
        abandon: &dyn Fn() -> bool,
        feedback: &mut Feedback,
    ) -> Result<Loaded, LoadError>;
}

/// A margin past a transaction's `timeout` for StarRocks to abort it: the FE finds timed-out
/// transactions by a periodic check whose interval the spec does not give (a guess).
const TXN_ABORT_DELAY: Duration = Duration::from_secs(60);

pub struct StreamLoader {
    http: HttpClient,
    label_wait: Duration,
    load_timeout: Duration,
    alerts: Option<Arc<Alerts>>,
    /// The engine's hard stop: ends the wait for an abandoned load's transaction.
    hard_stop: Option<Arc<AtomicBool>>,
}

impl StreamLoader {
    pub fn new(settings: LoadSettings) -> Self {
        StreamLoader {
            label_wait: settings.label_wait,
            load_timeout: settings.load_timeout,
            http: HttpClient::new(settings),
            alerts: None,
            hard_stop: None,
        }
    }

    /// Raises the `retrying` alert for a load still failing after `labelWaitSec`.
    pub(crate) fn with_alerts(mut self, alerts: Arc<Alerts>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Stops waiting for an abandoned load's transaction once `hard_stop` is set.
    pub(crate) fn with_hard_stop(mut self, hard_stop: Arc<AtomicBool>) -> Self {
        self.hard_stop = Some(hard_stop);
        self
    }

    /// Loads `req.body` into `db.table` under `label`, retrying until it is done or fails for
    /// good; `abandon` is asked before every attempt and while waiting.
    pub fn load(
        &self,
        req: &LoadRequest<'_>,
        abandon: &dyn Fn() -> bool,
        feedback: &mut Feedback,
    ) -> Result<Loaded, LoadError> {
        let started = Instant::now();
        let mut backoff = Backoff::new(req.label);
        let mut escalation = Escalation::new(started, self.label_wait, self.alerts.as_deref());
        // When an attempt last ended without telling whether its transaction still runs.
        let mut may_run_since = None;
        for attempts in 1u32.. {
            if abandon() {
                return Err(self.abandoned(req, may_run_since));
            }
            let attempted = self.http.attempt(req);
            // Ended, not begun: a later bound on when a transaction of it began.
            let ended = Instant::now();
            if attempted.unanswered {
                may_run_since = Some(ended);
            }
            let verdict = match attempted.verdict {
                Verdict::LabelTaken { .. } if attempts == 1 => foreign_label(req.label),
                Verdict::LabelTaken { finished: true } => label_done(),
                Verdict::LabelTaken { finished: false } => {
                    may_run_since = may_run_since.or(Some(ended));
                    self.await_running(req.db, req.label, abandon)
                }
                v => v,
            };
            let (message, pressure) = match verdict {
                Verdict::Retry { message, pressure } => (message, pressure),
                done_or_failed => return self.settle(req, done_or_failed, attempts, started),
            };
            feedback.retries += 1;
            feedback.pressure |= pressure;
            feedback.last_error = Some(message.clone());
            let wait = if pressure {
                backoff.next_under_pressure()
            } else {
                backoff.next()
            };
            tracing::info!(
                label = req.label,
                db = req.db,
                table = req.table,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                "Stream Load failed, retrying with the same label: {message}"
            );
            escalation.report(req, attempts, &message);
            if sleep_unless(wait, abandon) {
                return Err(self.abandoned(req, may_run_since));
            }
        }
        unreachable!("the attempt loop only ends by returning")
    }

    /// Ends a load its caller abandons. An attempt that got no answer (a reset or a timeout
    /// after the body was sent), or whose label StarRocks reported running, may have left a
    /// transaction that still runs (StarRocks goes on with a body it has whole). Committing
    /// after the rows this process loads next (the batch rebuilt without a revoked partition,
    /// the partition's replay), its older values would win. So that transaction is cancelled,
    /// and the label polled until it ends, or until it cannot run any more: its `timeout` is
    /// `httpSoTimeoutSec` from its start, and StarRocks aborts it at most [`TXN_ABORT_DELAY`]
    /// later. A hard stop ends the wait after the cancel (the process is ending anyway).
    fn abandoned(&self, req: &LoadRequest<'_>, may_run_since: Option<Instant>) -> LoadError {
        if let Some(since) = may_run_since {
            self.await_transaction_end(req, since + self.load_timeout + TXN_ABORT_DELAY);
        }
        LoadError::Abandoned {
            label: req.label.into(),
        }
    }

    /// Polls the label until its transaction is no longer running (a failed query counts as
    /// running), `deadline` passes, or the hard stop. A running transaction is cancelled first,
    /// also on the hard stop: aborted, it ends at once.
    fn await_transaction_end(&self, req: &LoadRequest<'_>, deadline: Instant) {
        let stopping = || {
            self.hard_stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        };
        let mut cancelled = false;
        for i in 0u64.. {
            match self.http.label_state(req.db, req.label) {
                LabelState::Finished | LabelState::Free => return,
                LabelState::Pending if !cancelled => {
                    tracing::info!(
                        label = req.label,
                        db = req.db,
                        table = req.table,
                        "load abandoned while its transaction may run: cancelling it, and \
                         waiting for it to end"
                    );
                    self.http.cancel(req.db, req.table, req.label);
                    cancelled = true;
                    continue;
                }
                LabelState::Pending if Instant::now() >= deadline || stopping() => {
                    tracing::warn!(
                        label = req.label,
                        db = req.db,
                        table = req.table,
                        "the transaction of an abandoned load may still run (past its timeout, \
                         or stopping); going on"
                    );
                    return;
                }
                LabelState::Pending => {}
            }
            sleep_unless(Duration::from_millis(200 * (i + 1).min(10)), &stopping);
        }
    }

    /// The result of a final (not retryable) verdict.
    fn settle(
        &self,
        req: &LoadRequest<'_>,
        verdict: Verdict,
        attempts: u32,
        started: Instant,
    ) -> Result<Loaded, LoadError> {
        let label = req.label.to_string();
        match verdict {
            Verdict::Done {
                status,
                loaded,
                rejected_url,
            } => Ok(Loaded {
                status,
                loaded_rows: loaded,
                rejected: rejected_url.map(|u| self.http.error_log(&u)),
                attempts,
                took: started.elapsed(),
            }),
            Verdict::Data { message, error_url } => Err(LoadError::Data {
                label,
                message,
                rejected: error_url
                    .map(|u| self.http.error_log(&u))
                    .unwrap_or_else(|| "(no ErrorURL)".into()),
            }),
            Verdict::Permanent { message } => Err(LoadError::Permanent { label, message }),
            Verdict::LabelTaken { .. } | Verdict::Retry { .. } => {
                unreachable!("taken labels and retryable verdicts are handled by the caller")
            }
        }
    }

    /// Polls the label's state until its running transaction ends, for at most `labelWaitSec`;
    /// then the load is sent again with the same label (StarRocks answers the same way while the
    /// transaction still runs, and the wait starts over).
    fn await_running(&self, db: &str, label: &str, abandon: &dyn Fn() -> bool) -> Verdict {
        let deadline = Instant::now() + self.label_wait;
        for i in 0u64.. {
            if sleep_unless(Duration::from_millis(200 * i.min(25)), abandon) {
                return Verdict::Retry {
                    message: "stopping while a transaction runs".into(),
                    pressure: false,
                };
            }
            match self.http.label_state(db, label) {
                LabelState::Finished => return label_done(),
                LabelState::Free => {
                    return Verdict::Retry {
                        message: format!("transaction of label {label} aborted; resending"),
                        pressure: false,
                    };
                }
                LabelState::Pending if Instant::now() >= deadline => {
                    return Verdict::Retry {
                        message: format!(
                            "label {label} still reported running after labelWaitSec ({} s); \
                             sending it again with the same label",
                            self.label_wait.as_secs()
                        ),
                        pressure: false,
                    };
                }
                LabelState::Pending => {}
            }
        }
        unreachable!("the polling loop only ends by returning")
    }
}

/// A load that keeps failing gets louder: a warning every minute, an error after ten (StarRocks
/// needs attention), again every ten minutes; it retries meanwhile, until it succeeds or the job
/// stops.
struct Escalation<'a> {
    since: Instant,
    warned: Option<Instant>,
    errored: Option<Instant>,
    /// After this long the `retrying` alert is raised.
    alert_after: Duration,
    alerts: Option<&'a Alerts>,
}

/// How often a failing load is reported as a warning, and after how long as an error.
const WARN_EVERY: Duration = Duration::from_secs(60);
const ERROR_AFTER: Duration = Duration::from_secs(600);

impl<'a> Escalation<'a> {
    fn new(since: Instant, alert_after: Duration, alerts: Option<&'a Alerts>) -> Self {
        Escalation {
            since,
            warned: None,
            errored: None,
            alert_after,
            alerts,
        }
    }

    fn report(&mut self, req: &LoadRequest<'_>, attempts: u32, message: &str) {
        let failing = self.since.elapsed();
        if let Some(alerts) = self.alerts.filter(|_| failing >= self.alert_after) {
            let subject = format!("{}.{}", req.db, req.table);
            let note = format!(
                "a Stream Load has been retrying for {} s ({attempts} attempts): {message}",
                failing.as_secs()
            );
            alerts.raise(AlertEvent::Retrying, &subject, &note);
        }
        let due =
            |last: Option<Instant>, every: Duration| last.is_none_or(|t| t.elapsed() >= every);
        if failing >= ERROR_AFTER && due(self.errored, ERROR_AFTER) {
            self.errored = Some(Instant::now());
            tracing::error!(
                label = req.label,
                db = req.db,
                table = req.table,
                attempts,
                failing_s = failing.as_secs(),
                "a Stream Load keeps failing; StarRocks needs attention (still retrying): {message}"
            );
        } else if failing >= WARN_EVERY && due(self.warned, WARN_EVERY) {
            self.warned = Some(Instant::now());
            tracing::warn!(
                label = req.label,
                db = req.db,
                table = req.table,
                attempts,
                failing_s = failing.as_secs(),
                "a Stream Load is still failing (retrying): {message}"
            );
        }
    }
}

/// An earlier attempt of this load is done: the label's load is.
fn label_done() -> Verdict {
    Verdict::Done {
        status: "Label Already Exists".into(),
        loaded: 0,
        rejected_url: None,
    }
}

/// StarRocks knows a label this run never sent: another run or job used it, for other rows.
/// Taking that as done would count rows as loaded that never were.
fn foreign_label(label: &str) -> Verdict {
    Verdict::Permanent {
        message: format!(
            "StarRocks answered `Label Already Exists` to the first attempt of label {label}: \
             another run or job used this label (two jobs with one consumerGroupId?)"
        ),
    }
}

impl LoadService for StreamLoader {
    fn load(
        &self,
        req: &LoadRequest<'_>,
        abandon: &dyn Fn() -> bool,
        feedback: &mut Feedback,
    ) -> Result<Loaded, LoadError> {
        StreamLoader::load(self, req, abandon, feedback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_password() {
        let settings = LoadSettings {
            http_host: "fe:8030".into(),
            user: "loader".into(),
            password: "s3cret-value".into(),
            connect_timeout: Duration::from_secs(1),
            load_timeout: Duration::from_secs(1),
            label_wait: Duration::from_secs(1),
            frontends: Vec::new(),
            tls: Default::default(),
        };
        let text = format!("{settings:?}");
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(text.contains("loader") && text.contains("***"), "{text}");
    }
}
