//! The HTTP side of Stream Load (ureq, synchronous): one PUT with the FE's 307 followed by
//! re-sending ourselves (ureq does not replay a body), the load-state query, the cancel, and the
//! error log.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::response::{Verdict, classify, field};
use super::{BodyError, FilteredRows, LoadRequest, LoadSettings};
use crate::names::path_segment;

/// Redirects followed per attempt (FE → BE is one).
const MAX_HOPS: usize = 3;
/// Bytes of a response body read at most.
const MAX_RESPONSE: u64 = 1 << 20;
/// Bytes of an error log kept.
const MAX_ERROR_LOG: u64 = 64 * 1024;

/// One attempt's verdict, and whether a transaction the verdict does not tell about may still run.
pub(super) struct Attempted {
    pub(super) verdict: Verdict,
    /// A retryable failure after the request may have reached StarRocks, without its answer (a
    /// reset or timeout after the body was sent, a gateway error, a cut answer).
    pub(super) unanswered: bool,
}

/// Whether the request failed before any server read it: nothing of it can have begun a
/// transaction. TLS errors count: they come from the handshake (a certificate refused).
fn never_connected(e: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    use ureq::Timeout;
    match e {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
        ),
        _ => false,
    }
}

/// How an FE endpoint is called.
#[derive(Clone, Copy)]
enum FeCall {
    Get,
    Post,
}

/// What a load-state query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LabelState {
    /// Committed or visible: the load is done.
    Finished,
    /// Aborted or unknown: the label may be sent again.
    Free,
    /// Still running, or the query failed.
    Pending,
}

pub(super) struct HttpClient {
    agent: ureq::Agent,
    settings: LoadSettings,
    auth: String,
    /// `httpHost` as a base URL (`http://host:port` or `https://host:port`).
    base: String,
    /// `http://` or `https://`: how the FEs of `SHOW FRONTENDS` are reached.
    scheme: &'static str,
}

impl HttpClient {
    pub(super) fn new(settings: LoadSettings) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_await_100(Some(Duration::from_secs(3)))
            .timeout_global(Some(settings.load_timeout + Duration::from_secs(30)))
            .tls_config(settings.tls.http())
            .build();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", settings.user, settings.password))
        );
        let base = crate::config::http_url(&settings.http_host);
        let scheme = if base.starts_with("https://") {
            "https://"
        } else {
            "http://"
        };
        HttpClient {
            agent: config.into(),
            settings,
            auth,
            base,
            scheme,
        }
    }

    /// One Stream Load attempt, following the FE's redirect to a BE.
    pub(super) fn attempt(&self, req: &LoadRequest<'_>) -> Attempted {
        let mut unanswered = false;
        let verdict = self.send(req, &mut unanswered);
        Attempted {
            unanswered: unanswered && matches!(verdict, Verdict::Retry { .. }),
            verdict,
        }
    }

    /// [`HttpClient::attempt`]; sets `unanswered` when the request may have reached StarRocks
    /// and no answer of StarRocks came back.
    fn send(&self, req: &LoadRequest<'_>, unanswered: &mut bool) -> Verdict {
        let mut url = format!(
            "{}/api/{}/{}/_stream_load",
            self.base,
            path_segment(req.db),
            path_segment(req.table)
        );
        for _hop in 0..MAX_HOPS {
            let mut resp = match self.put(&url, req) {
                Ok(r) => r,
                Err(e) => {
                    if let Some(broken) = body_error(&e) {
                        return Verdict::Permanent {
                            message: broken.to_string(),
                        };
                    }
                    *unanswered = !never_connected(&e);
                    return Verdict::Retry {
                        message: format!(
                            "transport error at {url}: {}",
                            crate::tls::explain(&e, &self.settings.tls)
                        ),
                        pressure: false,
                    };
                }
            };
            let status = resp.status().as_u16();
            if status == 307 {
                match resp.headers().get("location").and_then(|l| l.to_str().ok()) {
                    Some(location) => match crate::tls::redirect(&url, location) {
                        Ok(next) => {
                            url = next;
                            continue;
                        }
                        Err(e) => {
                            return Verdict::Permanent {
                                message: e.to_string(),
                            };
                        }
                    },
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
                .take(MAX_RESPONSE)
                .read_to_string(&mut text);
            let verdict = classify(status, &text, req.filtered);
            // A gateway's 5xx or a cut answer says nothing of the transaction; StarRocks' own
            // failure answer means it was aborted. Only a retryable verdict asks (not every
            // load's answer is read twice).
            if matches!(verdict, Verdict::Retry { .. }) {
                *unanswered =
                    status >= 500 || serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err();
            }
            return verdict;
        }
        Verdict::Retry {
            message: "too many redirects".into(),
            pressure: false,
        }
    }

    fn put(
        &self,
        url: &str,
        req: &LoadRequest<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let max_filter_ratio = match req.filtered {
            FilteredRows::Reject => "0",
            FilteredRows::Accept => "1",
        };
        let mut put = self
            .agent
            .put(url)
            .header("Authorization", &self.auth)
            .header("Expect", "100-continue")
            .header("label", req.label)
            .header(
                "timeout",
                self.settings.load_timeout.as_secs().max(1).to_string(),
            )
            .header("max_filter_ratio", max_filter_ratio);
        for (k, v) in req.headers {
            put = put.header(*k, v);
        }
        // The body is written while it is sent; its length, known first, keeps it one plain
        // `Content-Length` body (ureq would send a reader chunked).
        let mut body = req.body.reader();
        put.header("Content-Length", req.body.size().to_string())
            .send(ureq::SendBody::from_reader(&mut body))
    }

    /// The state of `label`'s transaction (`get_load_state`), asked of `httpHost` and then of
    /// each FE: only an FE answers it (a BE has no such endpoint), and a follower FE redirects
    /// it to the leader (307, followed here with the credentials).
    pub(super) fn label_state(&self, db: &str, label: &str) -> LabelState {
        let path = format!(
            "/api/{}/get_load_state?label={}",
            path_segment(db),
            path_segment(label)
        );
        let state = self.ask_frontends(FeCall::Get, &path, |v| {
            field(v, &["state", "State"])
                .or_else(|| v.get("data").and_then(|d| field(d, &["state", "State"])))
        });
        match state.map(|s| s.to_ascii_uppercase()).as_deref() {
            Some("VISIBLE" | "COMMITTED") => LabelState::Finished,
            Some("ABORTED" | "UNKNOWN") => LabelState::Free,
            _ => LabelState::Pending,
        }
    }

    /// Asks an FE to abort the running transaction of `label` (`_cancel`, starrocks.md §1.1:
    /// the FE aborts the transaction by label). Best effort: the label's state tells what came
    /// of it.
    pub(super) fn cancel(&self, db: &str, table: &str, label: &str) {
        let path = format!(
            "/api/{}/{}/_cancel?label={}",
            path_segment(db),
            path_segment(table),
            path_segment(label)
        );
        let answer = self.ask_frontends(FeCall::Post, &path, |v| {
            let status = field(v, &["status", "Status"])?;
            let message = field(v, &["msg", "message", "Message"]).unwrap_or_default();
            Some(format!("{status} {message}"))
        });
        tracing::info!(
            label,
            db,
            table,
            answer = answer.as_deref().unwrap_or("none"),
            "asked StarRocks to cancel the transaction of an abandoned load"
        );
    }

    /// `read` of the first JSON answer to `path` from `httpHost` and then each FE: only an FE
    /// has these endpoints (a BE has not), and a follower FE redirects to the leader (307,
    /// followed here with the credentials).
    fn ask_frontends<T>(
        &self,
        call: FeCall,
        path: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let frontends = self
            .settings
            .frontends
            .iter()
            .map(|fe| format!("{}{fe}", self.scheme));
        std::iter::once(self.base.clone())
            .chain(frontends)
            .find_map(|base| {
                self.ask_at(call, &format!("{base}{path}"))
                    .and_then(|v| read(&v))
            })
    }

    /// The JSON an FE answers at `url`, following its redirects.
    fn ask_at(&self, call: FeCall, url: &str) -> Option<Value> {
        let mut url = url.to_string();
        for _hop in 0..MAX_HOPS {
            let answered = match call {
                FeCall::Get => self
                    .agent
                    .get(&url)
                    .header("Authorization", &self.auth)
                    .call(),
                FeCall::Post => (self.agent.post(&url))
                    .header("Authorization", &self.auth)
                    .send_empty(),
            };
            let mut resp = answered.ok()?;
            if resp.status().as_u16() == 307 {
                let location = resp.headers().get("location")?.to_str().ok()?;
                url = crate::tls::redirect(&url, location)
                    .map_err(|e| tracing::warn!("FE not asked: {e}"))
                    .ok()?;
                continue;
            }
            let text = resp.body_mut().read_to_string().ok()?;
            return serde_json::from_str::<Value>(&text).ok();
        }
        None
    }

    /// The rows StarRocks rejected, from the `ErrorURL` log (at most 64 KiB).
    pub(super) fn error_log(&self, url: &str) -> String {
        let text = self
            .agent
            .get(url)
            .call()
            .ok()
            .and_then(|mut r| {
                let mut s = String::new();
                r.body_mut()
                    .as_reader()
                    .take(MAX_ERROR_LOG)
                    .read_to_string(&mut s)
                    .ok()?;
                Some(s)
            })
            .unwrap_or_else(|| format!("(could not fetch {url})"));
        text.trim().to_string()
    }
}

/// The [`BodyError`] of a body's reader that failed (ureq hands a reader's error back as its
/// `Io` error).
fn body_error(e: &ureq::Error) -> Option<&BodyError> {
    match e {
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<BodyError>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_body_is_told_from_a_transport_error() {
        let broken = ureq::Error::Io(std::io::Error::other(BodyError("short".into())));
        assert!(body_error(&broken).is_some_and(|e| e.0 == "short"));
        let refused = ureq::Error::Io(std::io::Error::other("connection refused"));
        assert!(body_error(&refused).is_none());
    }

    fn client(host: &str) -> HttpClient {
        HttpClient::new(LoadSettings {
            http_host: host.into(),
            user: "root".into(),
            password: String::new(),
            connect_timeout: Duration::from_secs(2),
            load_timeout: Duration::from_secs(5),
            label_wait: Duration::from_secs(1),
            frontends: Vec::new(),
            tls: Default::default(),
        })
    }

    /// Serves one connection: reads the request head and body, then writes `answer` (or, when
    /// `None`, closes the connection). Returns the address.
    fn one_connection(answer: Option<&'static str>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            match answer {
                Some(text) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", text.len());
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(text.as_bytes()).unwrap();
                }
                None => drop(stream),
            }
        });
        addr
    }

    fn attempt(host: &str) -> Attempted {
        let body = b"1\x01a\x010\x02".to_vec();
        let req = LoadRequest {
            db: "d",
            table: "t",
            label: "l",
            headers: &[],
            body: &body,
            filtered: FilteredRows::Reject,
        };
        client(host).attempt(&req)
    }

    /// Only an attempt that may have reached StarRocks without its answer coming back leaves a
    /// transaction to wait for when the load is abandoned.
    #[test]
    fn an_attempt_is_unanswered_only_when_starrocks_may_have_it() {
        let cases = [
            // Port 1: nothing listens there (the emulator's tests use it as a dead BE too).
            ("connection refused", "127.0.0.1:1".to_string(), false),
            ("closed after the body", one_connection(None), true),
            ("cut answer", one_connection(Some(r#"{"Status":"Fa"#)), true),
            (
                "StarRocks' failure",
                one_connection(Some(r#"{"Status":"Fail","Message":"cancelled"}"#)),
                false,
            ),
        ];
        for (case, host, unanswered) in cases {
            let attempted = attempt(&host);
            assert!(
                matches!(attempted.verdict, Verdict::Retry { .. }),
                "{case}: {:?}",
                attempted.verdict
            );
            assert_eq!(attempted.unanswered, unanswered, "{case}");
        }
    }
}
