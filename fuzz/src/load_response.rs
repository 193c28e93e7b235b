//! The `load_response` target: Stream Load answer classification
//! (`starpipe::engine::classify_load_response`, src/engine/load/response.rs) against the rules
//! of `shared/spec/starrocks.md` §2.2–§2.5.
//!
//! Input: an optional first line `<http status>[ accept]` (e.g. `200`, `401`, `200 accept`),
//! then the response body; without such a line the whole input is the body of an HTTP 200
//! answer to a load that rejects filtered rows. Bytes that are not UTF-8 are replaced (the
//! loader reads the body as text).
//!
//! Properties (each from the spec, not from the code):
//! * never panics; classifying twice gives the same verdict;
//! * HTTP 401/403 → permanent (§2.3, credentials); any other status ≥ 300 → retried (§2.4:
//!   redirects the client could not follow, 404/405/5xx are transient, no body guarantees);
//! * a body of an HTTP < 300 answer that is not JSON is retried (an unknown failure, never a
//!   success);
//! * `Status` (or the FE's `status`) `Success` / `Publish Timeout` is done (§2.2), with
//!   `NumberLoadedRows`; when rows were filtered it is done only if the load accepts filtered
//!   rows (then it names the `ErrorURL`), otherwise a data error — never retried, never
//!   permanent;
//! * `Label Already Exists` is the label-taken verdict, finished exactly when
//!   `ExistingJobStatus` is `FINISHED` (§2.2, §3.1);
//! * any other status, or none (§2.3: "a missing `Status` field must be a failure, not a
//!   success"), is never done; a message with `has already been used` is a taken label (§2.2,
//!   the duplicate-label text of newer versions);
//! * a permanent verdict needs 401/403 or one of §2.5's not-retryable texts; a retry under
//!   pressure needs one of §2.5's pressure texts;
//! * every failure carries a message: never a blank one, and one with words of its own (a
//!   letter or digit) when the answer's `Status` and `Message` are blank or absent;
//! * the filtered-rows policy changes the verdict only for a success status with filtered rows;
//! * the verdict depends on the JSON value, not its spelling: the body re-serialised (same
//!   key order) and padded with whitespace classifies the same.

use serde_json::Value;
use starpipe::engine::{FilteredRows, LoadVerdict, classify_load_response};

/// The HTTP status, the filtered-rows policy and the body of a fuzz input.
pub fn split_input(data: &[u8]) -> (u16, FilteredRows, String) {
    let text = String::from_utf8_lossy(data).into_owned();
    if let Some((first, body)) = text.split_once('\n') {
        let mut words = first.split(' ');
        let code = words.next().and_then(|c| c.parse::<u16>().ok());
        let policy = match words.next() {
            None => Some(FilteredRows::Reject),
            Some("accept") => Some(FilteredRows::Accept),
            Some("reject") => Some(FilteredRows::Reject),
            Some(_) => None,
        };
        if let (Some(code), Some(policy), None) = (code, policy, words.next()) {
            return (code, policy, body.to_owned());
        }
    }
    (200, FilteredRows::Reject, text)
}

/// Not-retryable texts of starrocks.md §2.5 (lower case), plus the FE's `Not implemented`
/// (§2.3) and bad headers (`unknown data format` / `Invalid ... format`).
const NOT_RETRYABLE: &[&str] = &[
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

/// §2.5's texts of version, transaction and memory pressure (lower case).
const PRESSURE: &[&str] = &[
    "too many versions",
    "current running txns",
    "too large compaction score",
    "memory limit",
    "exceed limit",
];

fn says_something(message: &str) -> bool {
    message.chars().any(char::is_alphanumeric)
}

/// The first of `names` that is a string field of `v`.
fn string_field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| v.get(*n).and_then(Value::as_str))
}

/// Checks one classification against the spec.
pub fn check_classification(http: u16, body: &str, policy: FilteredRows) {
    let verdict = classify_load_response(http, body, policy);
    assert_eq!(
        verdict,
        classify_load_response(http, body, policy),
        "classification is not deterministic"
    );
    let ctx = || format!("HTTP {http} {policy:?} body {body:?} → {verdict:?}");

    // Every failure says what failed: never a blank message, and words of its own when the
    // answer's `Status` and `Message` say nothing.
    let answer_says = serde_json::from_str::<Value>(body).is_ok_and(|v| {
        let status = string_field(&v, &["Status", "status"]).unwrap_or_default();
        let message = string_field(&v, &["Message", "message", "msg"]).unwrap_or_default();
        http < 300 && !format!("{status}{message}").trim().is_empty()
    });
    match &verdict {
        LoadVerdict::Retry { message, .. }
        | LoadVerdict::Permanent { message }
        | LoadVerdict::Data { message, .. } => assert!(
            !message.trim().is_empty() && (says_something(message) || answer_says),
            "{}: a failure that does not say what failed",
            ctx()
        ),
        LoadVerdict::Done { .. } | LoadVerdict::LabelTaken { .. } => {}
    }

    if http == 401 || http == 403 {
        assert!(
            matches!(verdict, LoadVerdict::Permanent { .. }),
            "{}: authentication failure not permanent",
            ctx()
        );
        return;
    }
    if http >= 300 {
        assert!(
            matches!(verdict, LoadVerdict::Retry { .. }),
            "{}: HTTP {http} must be retried",
            ctx()
        );
        return;
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        assert!(
            matches!(verdict, LoadVerdict::Retry { .. }),
            "{}: a body that is not JSON must be retried",
            ctx()
        );
        return;
    };

    let status = string_field(&json, &["Status", "status"]);
    let message = string_field(&json, &["Message", "message", "msg"])
        .unwrap_or_default()
        .to_ascii_lowercase();
    let count = |name: &str| json.get(name).and_then(Value::as_u64).unwrap_or(0);
    let filtered = count("NumberFilteredRows");
    match status {
        Some("Success" | "Publish Timeout") => {
            let accept = filtered == 0 || policy == FilteredRows::Accept;
            match &verdict {
                LoadVerdict::Done {
                    status: s,
                    loaded,
                    rejected_url,
                } if accept => {
                    assert_eq!(Some(s.as_str()), status, "{}", ctx());
                    assert_eq!(*loaded, count("NumberLoadedRows"), "{}", ctx());
                    let url = string_field(&json, &["ErrorURL"]).filter(|_| filtered > 0);
                    assert_eq!(rejected_url.as_deref(), url, "{}", ctx());
                }
                LoadVerdict::Data { error_url, .. } if !accept => {
                    assert_eq!(
                        error_url.as_deref(),
                        string_field(&json, &["ErrorURL"]),
                        "{}",
                        ctx()
                    );
                }
                _ => panic!("{}: a success status must be done", ctx()),
            }
        }
        Some("Label Already Exists") => {
            let finished = string_field(&json, &["ExistingJobStatus"])
                .is_some_and(|s| s.eq_ignore_ascii_case("FINISHED"));
            assert_eq!(
                verdict,
                LoadVerdict::LabelTaken { finished },
                "{}: label taken",
                ctx()
            );
        }
        _ => {
            assert!(
                !matches!(verdict, LoadVerdict::Done { .. }),
                "{}: only a success status is done",
                ctx()
            );
            if message.contains("has already been used") {
                assert_eq!(
                    verdict,
                    LoadVerdict::LabelTaken { finished: false },
                    "{}: a used label",
                    ctx()
                );
            }
            if let LoadVerdict::LabelTaken { finished } = verdict {
                assert!(!finished, "{}: only ExistingJobStatus says finished", ctx());
            }
        }
    }
    match &verdict {
        LoadVerdict::Permanent { .. } => assert!(
            NOT_RETRYABLE.iter().any(|t| message.contains(t)),
            "{}: permanent without a not-retryable text",
            ctx()
        ),
        LoadVerdict::Retry { pressure: true, .. } => assert!(
            PRESSURE.iter().any(|t| message.contains(t)),
            "{}: pressure without a pressure text",
            ctx()
        ),
        _ => {}
    }

    // The policy matters only for a success status with filtered rows.
    let other = match policy {
        FilteredRows::Reject => FilteredRows::Accept,
        FilteredRows::Accept => FilteredRows::Reject,
    };
    if !(matches!(status, Some("Success" | "Publish Timeout")) && filtered > 0) {
        assert_eq!(
            verdict,
            classify_load_response(http, body, other),
            "{}: the filtered-rows policy changed the verdict",
            ctx()
        );
    }

    // The JSON value decides, not its spelling.
    if let Ok(compact) = serde_json::to_string(&json) {
        let padded = format!(" \n{compact}\t\r\n");
        assert_eq!(
            verdict,
            classify_load_response(http, &padded, policy),
            "{}: the same JSON value spelled {padded:?} classifies differently",
            ctx()
        );
    }
}

/// The `load_response` target.
pub fn check_load_response(data: &[u8]) {
    let (http, policy, body) = split_input(data);
    check_classification(http, &body, policy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_split_into_status_policy_and_body() {
        assert_eq!(
            split_input(b"401\n{}"),
            (401, FilteredRows::Reject, "{}".into())
        );
        assert_eq!(
            split_input(b"200 accept\n{\"Status\":\"Success\"}"),
            (200, FilteredRows::Accept, "{\"Status\":\"Success\"}".into())
        );
        assert_eq!(
            split_input(b"{\"a\":1}\n"),
            (200, FilteredRows::Reject, "{\"a\":1}\n".into())
        );
        assert_eq!(
            split_input(b"200 maybe\nx"),
            (200, FilteredRows::Reject, "200 maybe\nx".into())
        );
    }

    #[test]
    fn spec_answers_pass() {
        for body in [
            r#"{"TxnId":1,"Label":"l","Status":"Success","Message":"OK","NumberLoadedRows":3,"NumberFilteredRows":0}"#,
            r#"{"Status":"Publish Timeout","Message":"Publish timeout"}"#,
            r#"{"Status":"Label Already Exists","ExistingJobStatus":"FINISHED","Message":"x"}"#,
            r#"{"Status":"Label Already Exists","ExistingJobStatus":"RUNNING","Message":"x"}"#,
            r#"{"Status":"Fail","Message":"Failed to load data into tablet 1, because of too many versions, current/limit: 1001/1000."}"#,
            r#"{"Status":"Fail","Message":"too many filtered rows","NumberFilteredRows":1,"ErrorURL":"http://be/x"}"#,
            r#"{"status":"FAILED","msg":"Access denied for user"}"#,
            r#"{"Status":"Fail","Message":"Label [l] has already been used."}"#,
            r#"{"Status":"Success","NumberLoadedRows":2,"NumberFilteredRows":1,"ErrorURL":"http://be/e"}"#,
            "<html>502 Bad Gateway</html>",
        ] {
            for http in [200, 307, 401, 403, 404, 500, 503] {
                for policy in [FilteredRows::Reject, FilteredRows::Accept] {
                    check_classification(http, body, policy);
                }
            }
        }
    }
}
