//! Stream Load over HTTP (ureq, synchronous): one PUT per batch, the FE's 307 followed by
//! re-sending ourselves, responses classified exactly as starrocks.md §2.2 / §2.5 / §3.3.
//!
//! - Never trust HTTP 200: the JSON `Status` decides (`Status`/`status`, `Message`/`msg`).
//! - `Success`, `Publish Timeout`, and `Label Already Exists` with `FINISHED` are done; with
//!   `RUNNING`/`PREPARE` the label is polled through `get_load_state` and never replaced.
//! - Retryable failures are retried with the same label, with back-off and jitter, as long as
//!   the engine runs; the HTTP client itself never retries.
//! - Filtered rows are never accepted: the rejected rows are fetched from `ErrorURL` and the
//!   batch fails as a data error.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// Connection settings for Stream Load.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// `httpHost`: FE or BE HTTP address (`host:port`).
    pub http_host: String,
    pub user: String,
    pub password: String,
    /// `soTimeoutSec`: connect / small-request timeout.
    pub connect_timeout: Duration,
    /// `httpSoTimeoutSec`: a whole load (also sent as the `timeout` header).
    pub load_timeout: Duration,
}

/// One batch to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest<'a> {
    pub db: &'a str,
    pub table: &'a str,
    pub label: &'a str,
    /// Format headers (`format`, `columns`, separators …); label, timeout, `Expect` and
    /// authorization are added by the loader.
    pub headers: &'a [(&'static str, String)],
    pub body: &'a [u8],
    /// Load the good rows and report the rejected ones instead of failing (`max_filter_ratio`
    /// must allow it); used to dead-letter rejected rows.
    pub accept_filtered: bool,
}

/// How a load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub status: String,
    pub loaded_rows: u64,
    /// With `accept_filtered`: the rows StarRocks rejected, from `ErrorURL`.
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
    /// The engine is stopping; the batch was not loaded.
    #[error("load {label} abandoned: the engine is stopping")]
    Stopped { label: String },
}

/// One attempt's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Done {
        status: String,
        loaded: u64,
        rejected_url: Option<String>,
    },
    /// The label is in a running transaction: poll its state.
    Running,
    Retry {
        message: String,
        pressure: bool,
    },
    Data {
        message: String,
        error_url: Option<String>,
    },
    Permanent {
        message: String,
    },
}

/// Observations a flusher uses to adapt its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// StarRocks reported version or transaction pressure during the load.
    pub pressure: bool,
    pub retries: u32,
}

pub struct StreamLoader {
    agent: ureq::Agent,
    settings: LoadSettings,
    auth: String,
}

impl StreamLoader {
    pub fn new(settings: LoadSettings) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_await_100(Some(Duration::from_secs(3)))
            .timeout_global(Some(settings.load_timeout + Duration::from_secs(30)))
            .build();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", settings.user, settings.password))
        );
        StreamLoader {
            agent: config.into(),
            settings,
            auth,
        }
    }

    /// Loads `body` into `db.table` under `label`, retrying until it is done, fails for good, or
    /// `stop` is set.
    pub fn load(
        &self,
        req: &LoadRequest<'_>,
        stop: &AtomicBool,
        feedback: &mut Feedback,
    ) -> Result<Loaded, LoadError> {
        let LoadRequest {
            db,
            table,
            label,
            headers,
            body,
            accept_filtered,
        } = *req;
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut backoff = Backoff::new(label);
        loop {
            attempts += 1;
            let verdict = self.attempt(db, table, label, headers, body, accept_filtered);
            let verdict = match verdict {
                Verdict::Running => self.await_running(db, label, stop),
                v => v,
            };
            match verdict {
                Verdict::Done {
                    status,
                    loaded,
                    rejected_url,
                } => {
                    return Ok(Loaded {
                        status,
                        loaded_rows: loaded,
                        rejected: rejected_url.map(|u: String| self.fetch_error_log(&u)),
                        attempts,
                        took: started.elapsed(),
                    });
                }
                Verdict::Running => unreachable!("resolved by await_running"),
                Verdict::Data { message, error_url } => {
                    let rejected = error_url
                        .map(|u| self.fetch_error_log(&u))
                        .unwrap_or_else(|| "(no ErrorURL)".into());
                    return Err(LoadError::Data {
                        label: label.into(),
                        message,
                        rejected,
                    });
                }
                Verdict::Permanent { message } => {
                    return Err(LoadError::Permanent {
                        label: label.into(),
                        message,
                    });
                }
                Verdict::Retry { message, pressure } => {
                    feedback.retries += 1;
                    feedback.pressure |= pressure;
                    let wait = backoff.next(pressure);
                    tracing::info!(
                        %label, db, table, attempt = attempts, wait_ms = wait.as_millis() as u64,
                        "Stream Load failed, retrying with the same label: {message}"
                    );
                    if sleep_unless_stopped(wait, stop) {
                        return Err(LoadError::Stopped {
                            label: label.into(),
                        });
                    }
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.settings.http_host, path)
    }

    fn attempt(
        &self,
        db: &str,
        table: &str,
        label: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
        accept_filtered: bool,
    ) -> Verdict {
        let mut url = self.url(&format!("/api/{db}/{table}/_stream_load"));
        // The FE answers 307 to a BE; ureq will not replay a body, so follow it ourselves.
        for _hop in 0..3 {
            let mut req = self
                .agent
                .put(&url)
                .header("Authorization", &self.auth)
                .header("Expect", "100-continue")
                .header("label", label)
                .header(
                    "timeout",
                    self.settings.load_timeout.as_secs().max(1).to_string(),
                );
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let mut resp = match req.send(body) {
                Ok(r) => r,
                Err(e) => {
                    return Verdict::Retry {
                        message: format!("transport error: {e}"),
                        pressure: false,
                    };
                }
            };
            let status = resp.status().as_u16();
            if status == 307 {
                match resp.headers().get("location").and_then(|l| l.to_str().ok()) {
                    Some(location) => {
                        url = location.to_string();
                        continue;
                    }
                    None => {
                        return Verdict::Retry {
                            message: "307 without Location".into(),
                            pressure: false,
                        };
                    }
                }
            }
            let mut text = String::new();
            let _ = resp
                .body_mut()
                .as_reader()
                .take(1 << 20)
                .read_to_string(&mut text);
            return classify(status, &text, accept_filtered);
        }
        Verdict::Retry {
            message: "too many redirects".into(),
            pressure: false,
        }
    }

    /// Polls `get_load_state` until the running transaction of `label` ends.
    fn await_running(&self, db: &str, label: &str, stop: &AtomicBool) -> Verdict {
        let url = self.url(&format!("/api/{db}/get_load_state?label={label}"));
        for i in 0u64.. {
            if sleep_unless_stopped(Duration::from_millis(200 * i.min(25)), stop) {
                return Verdict::Retry {
                    message: "stopping while a transaction runs".into(),
                    pressure: false,
                };
            }
            let state = self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| {
                    field(&v, &["state", "State"])
                        .or_else(|| v.get("data").and_then(|d| field(d, &["state", "State"])))
                });
            match state.as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("VISIBLE" | "COMMITTED") => {
                    return Verdict::Done {
                        status: "Label Already Exists".into(),
                        loaded: 0,
                        rejected_url: None,
                    };
                }
                Some("ABORTED" | "UNKNOWN") => {
                    return Verdict::Retry {
                        message: format!("transaction of label {label} aborted; resending"),
                        pressure: false,
                    };
                }
                _ => {}
            }
        }
        unreachable!()
    }

    fn fetch_error_log(&self, url: &str) -> String {
        let text = self
            .agent
            .get(url)
            .call()
            .ok()
            .and_then(|mut r| {
                let mut s = String::new();
                r.body_mut()
                    .as_reader()
                    .take(64 * 1024)
                    .read_to_string(&mut s)
                    .ok()?;
                Some(s)
            })
            .unwrap_or_else(|| format!("(could not fetch {url})"));
        text.trim().to_string()
    }
}

fn field(v: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str).map(str::to_string))
}

/// Classifies a Stream Load answer (starrocks.md §2.2–§2.5).
fn classify(http: u16, body: &str, accept_filtered: bool) -> Verdict {
    if http == 401 || http == 403 {
        return Verdict::Permanent {
            message: format!("HTTP {http}: access denied: {}", body.trim()),
        };
    }
    if http >= 300 {
        return Verdict::Retry {
            message: format!("HTTP {http}: {}", body.trim()),
            pressure: false,
        };
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Verdict::Retry {
            message: format!("unreadable response: {}", truncate(body, 300)),
            pressure: false,
        };
    };
    let status = field(&v, &["Status", "status"]).unwrap_or_default();
    let message = field(&v, &["Message", "message", "msg"]).unwrap_or_default();
    let loaded = v
        .get("NumberLoadedRows")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let filtered = v
        .get("NumberFilteredRows")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let error_url = field(&v, &["ErrorURL"]);
    match status.as_str() {
        "Success" | "Publish Timeout" if filtered == 0 || accept_filtered => {
            let rejected_url = if filtered > 0 { error_url } else { None };
            return Verdict::Done {
                status,
                loaded,
                rejected_url,
            };
        }
        "Success" | "Publish Timeout" => {
            return Verdict::Data {
                message: format!("{filtered} rows filtered"),
                error_url,
            };
        }
        "Label Already Exists" => {
            let existing = field(&v, &["ExistingJobStatus"]).unwrap_or_default();
            return if existing.eq_ignore_ascii_case("FINISHED") {
                Verdict::Done {
                    status,
                    loaded,
                    rejected_url: None,
                }
            } else {
                Verdict::Running
            };
        }
        _ => {}
    }
    let m = message.to_ascii_lowercase();
    if m.contains("has already been used") || m.contains("label already exists") {
        return Verdict::Running;
    }
    if m.contains("too many filtered rows") || filtered > 0 {
        return Verdict::Data { message, error_url };
    }
    const PERMANENT: &[&str] = &[
        "access denied",
        "unknown database",
        "unknown table",
        "primary key size exceed",
        "only primary key table support",
        "column has no default value",
        "can not get first row of json",
        "unknown data format",
        "invalid",
        "not implemented",
        "no database selected",
        "no table selected",
    ];
    if PERMANENT.iter().any(|p| m.contains(p)) {
        return Verdict::Permanent {
            message: format!("{status}: {message}"),
        };
    }
    let pressure = m.contains("too many versions")
        || m.contains("current running txns")
        || m.contains("too large compaction score")
        || m.contains("memory limit")
        || m.contains("exceed limit");
    Verdict::Retry {
        message: format!("{status}: {message}"),
        pressure,
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Sleeps up to `d`; returns true if `stop` was set meanwhile.
pub(crate) fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Exponential back-off with jitter; longer under version / transaction pressure.
struct Backoff {
    next_ms: u64,
    seed: u64,
}

impl Backoff {
    fn new(label: &str) -> Self {
        let seed = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }) | 1;
        Backoff { next_ms: 200, seed }
    }

    fn next(&mut self, pressure: bool) -> Duration {
        let cap = if pressure { 60_000 } else { 10_000 };
        let base = if pressure {
            self.next_ms.max(2_000)
        } else {
            self.next_ms
        };
        self.next_ms = (base * 2).min(cap);
        // xorshift: jitter of ±25 % keeps retries of many tables from moving in lockstep.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = (self.seed % (base / 2 + 1)) as i64 - (base / 4) as i64;
        Duration::from_millis((base as i64 + jitter).max(50) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_strict(http: u16, body: &str) -> Verdict {
        classify(http, body, false)
    }

    #[test]
    fn classification_follows_the_spec() {
        let ok = r#"{"TxnId":1,"Label":"l","Status":"Success","Message":"OK","NumberLoadedRows":3,"NumberFilteredRows":0}"#;
        assert!(matches!(
            classify_strict(200, ok),
            Verdict::Done { loaded: 3, .. }
        ));
        let publish = r#"{"Status":"Publish Timeout","Message":"Publish timeout"}"#;
        assert!(matches!(
            classify_strict(200, publish),
            Verdict::Done { .. }
        ));
        let finished =
            r#"{"Status":"Label Already Exists","ExistingJobStatus":"FINISHED","Message":"x"}"#;
        assert!(matches!(
            classify_strict(200, finished),
            Verdict::Done { .. }
        ));
        let running =
            r#"{"Status":"Label Already Exists","ExistingJobStatus":"RUNNING","Message":"x"}"#;
        assert_eq!(classify_strict(200, running), Verdict::Running);
        let versions = r#"{"Status":"Fail","Message":"Failed to load data into tablet 1, because of too many versions, current/limit: 1001/1000."}"#;
        assert!(matches!(
            classify_strict(200, versions),
            Verdict::Retry { pressure: true, .. }
        ));
        let filtered = r#"{"Status":"Fail","Message":"too many filtered rows","NumberFilteredRows":1,"ErrorURL":"http://be/x"}"#;
        assert!(matches!(
            classify_strict(200, filtered),
            Verdict::Data { .. }
        ));
        let fe = r#"{"status":"FAILED","msg":"Access denied for user"}"#;
        assert!(matches!(
            classify_strict(200, fe),
            Verdict::Permanent { .. }
        ));
        assert!(matches!(
            classify_strict(401, ""),
            Verdict::Permanent { .. }
        ));
        assert!(matches!(classify_strict(503, ""), Verdict::Retry { .. }));
        assert!(matches!(classify_strict(200, "{}"), Verdict::Retry { .. }));
        let no_continue = r#"{"Status":"FAILED","Message":"class com.starrocks.common.DdlException: There is no 100-continue header"}"#;
        assert!(matches!(
            classify_strict(200, no_continue),
            Verdict::Retry { .. }
        ));
    }
}
