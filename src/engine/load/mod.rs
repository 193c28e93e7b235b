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

use std::time::{Duration, Instant};

use http::{HttpClient, LabelState};
use response::Verdict;
use retry::Backoff;
pub(crate) use retry::{sleep_unless, sleep_unless_stopped};

/// Connection settings for Stream Load.
#[derive(Clone)]
pub struct LoadSettings {
    /// `httpHost`: FE or BE HTTP address (`host:port`).
    pub http_host: String,
    pub user: String,
    pub password: String,
    /// Connecting to `httpHost` (or a BE it redirects to).
    pub connect_timeout: Duration,
    /// `httpSoTimeoutSec`: a whole load (also sent as the `timeout` header).
    pub load_timeout: Duration,
}

impl std::fmt::Debug for LoadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadSettings")
            .field("http_host", &self.http_host)
            .field("user", &self.user)
            .field("password", &crate::config::MASK)
            .field("connect_timeout", &self.connect_timeout)
            .field("load_timeout", &self.load_timeout)
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

/// One batch to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest<'a> {
    pub db: &'a str,
    pub table: &'a str,
    pub label: &'a str,
    /// Format headers (`format`, `columns`, separators …); label, timeout, `max_filter_ratio`,
    /// `Expect` and authorization are added by the loader.
    pub headers: &'a [(&'static str, String)],
    pub body: &'a [u8],
    pub filtered: FilteredRows,
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
    /// Abandoned before an attempt (the engine stops, or a block's partition was revoked).
    #[error("load {label} abandoned before it was sent again")]
    Abandoned { label: String },
}

/// Observations a flusher uses to adapt its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// StarRocks reported version or transaction pressure during the load.
    pub pressure: bool,
    pub retries: u32,
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

pub struct StreamLoader {
    http: HttpClient,
}

impl StreamLoader {
    pub fn new(settings: LoadSettings) -> Self {
        StreamLoader {
            http: HttpClient::new(settings),
        }
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
        for attempts in 1u32.. {
            if abandon() {
                return Err(LoadError::Abandoned {
                    label: req.label.into(),
                });
            }
            let verdict = match self.http.attempt(req) {
                Verdict::LabelTaken { .. } if attempts == 1 => foreign_label(req.label),
                Verdict::LabelTaken { finished: true } => label_done(),
                Verdict::LabelTaken { finished: false } => {
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
            if sleep_unless(wait, abandon) {
                return Err(LoadError::Abandoned {
                    label: req.label.into(),
                });
            }
        }
        unreachable!("the attempt loop only ends by returning")
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

    /// Polls `get_load_state` until the running transaction of `label` ends.
    fn await_running(&self, db: &str, label: &str, abandon: &dyn Fn() -> bool) -> Verdict {
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
                LabelState::Pending => {}
            }
        }
        unreachable!("the polling loop only ends by returning")
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
        };
        let text = format!("{settings:?}");
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(text.contains("loader") && text.contains("***"), "{text}");
    }
}
