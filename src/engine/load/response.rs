//! Reading a Stream Load answer (starrocks.md §2.2–§2.5): never trust HTTP 200, the JSON
//! `Status` decides (`Status`/`status`, `Message`/`msg`); unknown failures are retried.

use serde_json::Value;

use super::FilteredRows;

/// One attempt's verdict (re-exported as `starpipe::engine::LoadVerdict` for tools and fuzzing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done {
        status: String,
        loaded: u64,
        rejected_url: Option<String>,
    },
    /// StarRocks already knows the label: `finished` when its load is done, else it is in a
    /// running transaction (poll its state).
    LabelTaken {
        finished: bool,
    },
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

impl Verdict {
    fn retry(message: String) -> Verdict {
        Verdict::Retry {
            message,
            pressure: false,
        }
    }
}

/// Failure texts that retrying cannot fix.
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

/// Failure texts that mean StarRocks is under version, transaction or memory pressure.
const PRESSURE: &[&str] = &[
    "too many versions",
    "current running txns",
    "too large compaction score",
    "memory limit",
    "exceed limit",
];

/// Classifies an HTTP status and body (re-exported as `starpipe::engine::classify_load_response`
/// for tools and fuzzing; the loader is its only user in the crate).
pub fn classify(http: u16, body: &str, filtered: FilteredRows) -> Verdict {
    if http == 401 || http == 403 {
        return Verdict::Permanent {
            message: format!("HTTP {http}: access denied: {}", body.trim()),
        };
    }
    if http >= 300 {
        return Verdict::retry(format!("HTTP {http}: {}", body.trim()));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(v) => classify_json(&v, filtered),
        Err(_) => Verdict::retry(format!("unreadable response: {}", truncate(body, 300))),
    }
}

/// The answer's fields that decide the verdict.
struct Answer {
    status: String,
    message: String,
    loaded: u64,
    filtered: u64,
    error_url: Option<String>,
}

impl Answer {
    fn read(v: &Value) -> Answer {
        let count = |name: &str| v.get(name).and_then(Value::as_u64).unwrap_or(0);
        Answer {
            status: field(v, &["Status", "status"]).unwrap_or_default(),
            message: field(v, &["Message", "message", "msg"]).unwrap_or_default(),
            loaded: count("NumberLoadedRows"),
            filtered: count("NumberFilteredRows"),
            error_url: field(v, &["ErrorURL"]),
        }
    }

    /// `Status: Message` for a failure; an answer without `Status` says so (it is a failure,
    /// starrocks.md §2.3), so the text always names what failed.
    fn describe(&self) -> String {
        match (
            self.status.trim().is_empty(),
            self.message.trim().is_empty(),
        ) {
            (false, false) => format!("{}: {}", self.status, self.message),
            (false, true) => self.status.clone(),
            (true, false) => format!("answer without Status: {}", self.message),
            (true, true) => "answer without Status or Message".to_string(),
        }
    }
}

fn classify_json(v: &Value, policy: FilteredRows) -> Verdict {
    let a = Answer::read(v);
    match a.status.as_str() {
        "Success" | "Publish Timeout" => classify_success(a, policy),
        "Label Already Exists" => {
            let existing = field(v, &["ExistingJobStatus"]).unwrap_or_default();
            Verdict::LabelTaken {
                finished: existing.eq_ignore_ascii_case("FINISHED"),
            }
        }
        _ => classify_failure(a),
    }
}

/// `Success` or `Publish Timeout`: done, unless rows were filtered and the policy rejects them.
fn classify_success(a: Answer, policy: FilteredRows) -> Verdict {
    if a.filtered == 0 || policy == FilteredRows::Accept {
        Verdict::Done {
            rejected_url: if a.filtered > 0 { a.error_url } else { None },
            status: a.status,
            loaded: a.loaded,
        }
    } else {
        Verdict::Data {
            message: format!("{} rows filtered", a.filtered),
            error_url: a.error_url,
        }
    }
}

/// Any other status: the message decides.
fn classify_failure(a: Answer) -> Verdict {
    let m = a.message.to_ascii_lowercase();
    if m.contains("has already been used") || m.contains("label already exists") {
        return Verdict::LabelTaken { finished: false };
    }
    if m.contains("too many filtered rows") || a.filtered > 0 {
        return Verdict::Data {
            message: if a.message.trim().is_empty() {
                format!("{}; {} rows filtered", a.describe(), a.filtered)
            } else {
                a.message
            },
            error_url: a.error_url,
        };
    }
    let message = a.describe();
    if PERMANENT.iter().any(|p| m.contains(p)) {
        return Verdict::Permanent { message };
    }
    Verdict::Retry {
        message,
        pressure: PRESSURE.iter().any(|p| m.contains(p)),
    }
}

pub(super) fn field(v: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str).map(str::to_string))
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_strict(http: u16, body: &str) -> Verdict {
        classify(http, body, FilteredRows::Reject)
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
        assert_eq!(
            classify_strict(200, finished),
            Verdict::LabelTaken { finished: true }
        );
        let running =
            r#"{"Status":"Label Already Exists","ExistingJobStatus":"RUNNING","Message":"x"}"#;
        assert_eq!(
            classify_strict(200, running),
            Verdict::LabelTaken { finished: false }
        );
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

    /// Found by `fuzz/` (regressions/load_response): an answer without `Status` and `Message`
    /// was a failure with the message ": ", and a filtered-rows failure without `Message` one
    /// with an empty message.
    #[test]
    fn failures_always_say_what_failed() {
        let says = |v: Verdict| match v {
            Verdict::Retry { message, .. }
            | Verdict::Permanent { message }
            | Verdict::Data { message, .. } => message,
            other => panic!("not a failure: {other:?}"),
        };
        assert_eq!(
            says(classify_strict(200, "{}")),
            "answer without Status or Message"
        );
        assert_eq!(
            says(classify_strict(200, r#"{"msg":"No backend alive."}"#)),
            "answer without Status: No backend alive."
        );
        assert_eq!(says(classify_strict(200, r#"{"Status":"Fail"}"#)), "Fail");
        assert_eq!(
            says(classify_strict(
                200,
                r#"{"Status":"Fail","NumberFilteredRows":2}"#
            )),
            "Fail; 2 rows filtered"
        );
    }

    #[test]
    fn filtered_rows_are_done_only_when_accepted() {
        let filtered = r#"{"Status":"Success","NumberLoadedRows":2,"NumberFilteredRows":1,"ErrorURL":"http://be/e"}"#;
        assert!(matches!(
            classify_strict(200, filtered),
            Verdict::Data { .. }
        ));
        assert_eq!(
            classify(200, filtered, FilteredRows::Accept),
            Verdict::Done {
                status: "Success".into(),
                loaded: 2,
                rejected_url: Some("http://be/e".into())
            }
        );
    }
}
