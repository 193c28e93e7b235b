//! The Stream Load preflight: a load that cannot load anything, sent exactly as the engine
//! sends its loads.
//!
//! It is a load of an empty body into a table that does not exist, in a database that does
//! not exist. Real StarRocks (3.x) answers it only after every step a real load takes, so the
//! answer proves the whole path:
//!
//! - the FE's HTTP port answers and accepts the credentials (else 401), and its privilege check
//!   lets it through: StarRocks grants any action on an object that does not exist (its access
//!   control returns "allowed" on `PrivObjNotFoundException`), so a user with INSERT on a
//!   single table passes as well as an admin;
//! - the FE redirects to a BE (307), and the BE can be reached at the address the FE gives —
//!   the usual breakage behind NAT or Docker, which a load into a real table would reveal only
//!   with the first rows;
//! - the BE asks the FE to begin a transaction: the FE checks the password again and then
//!   answers `unknown database, database=…` (or, for a missing table, `unknown table "db.t"`)
//!   before any transaction or label exists. Nothing is created, nothing is recorded.
//!
//! Cheaper alternatives prove less: `get_load_state` never reaches a BE, and a load into a real
//! target table would begin (and abort) a transaction there.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::CheckError;
use crate::config::TargetConfig;
use crate::tls::TargetTls;

/// Names no real database or table has.
const PROBE_DB: &str = "__starpipe_preflight";
const PROBE_TABLE: &str = "__starpipe_preflight";
/// Redirects followed (FE → BE is one).
const MAX_HOPS: usize = 3;
/// Bytes of an answer read at most.
const MAX_ANSWER: u64 = 64 * 1024;

/// Sends the probe load; `Ok` describes the path that answered.
pub(super) fn preflight(
    target: &TargetConfig,
    password: &str,
    tls: &TargetTls,
) -> Result<String, CheckError> {
    let agent = agent(target, tls);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", target.user))
    );
    let label = format!("starpipe_preflight_{}", epoch_ms());
    let mut url = format!(
        "{}/api/{PROBE_DB}/{PROBE_TABLE}/_stream_load",
        target.http_url()
    );
    let mut path = vec![url.clone()];
    for hop in 0..MAX_HOPS {
        let sent = agent
            .put(&url)
            .header("Authorization", &auth)
            .header("Expect", "100-continue")
            .header("label", &label)
            .header("format", "csv")
            .send(&[][..]);
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) if hop == 0 => return Err(unreachable(&url, &e, tls)),
            Err(e) => {
                return Err(CheckError::RedirectUnreachable {
                    location: url,
                    message: crate::tls::explain(&e, tls),
                });
            }
        };
        let status = resp.status().as_u16();
        if status == 307
            && let Some(location) = resp.headers().get("location").and_then(|l| l.to_str().ok())
        {
            url = crate::tls::redirect(&url, location).map_err(CheckError::Downgrade)?;
            path.push(url.clone());
            continue;
        }
        let mut text = String::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut text);
        return judge(&url, status, &text).map(|()| describe(&path));
    }
    Err(CheckError::Unexpected {
        url,
        status: 307,
        answer: format!("more than {MAX_HOPS} redirects: {}", path.join(" → ")),
    })
}

/// Redirects and error statuses come back as answers (the probe follows the FE's 307 itself,
/// as the engine does); every wait is bounded by `soTimeoutSec`.
fn agent(target: &TargetConfig, tls: &TargetTls) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(target.so_timeout()))
        .timeout_await_100(Some(Duration::from_secs(1)))
        .timeout_global(Some(target.so_timeout() + Duration::from_secs(5)))
        .tls_config(tls.http())
        .build()
        .into()
}

fn unreachable(url: &str, e: &ureq::Error, tls: &TargetTls) -> CheckError {
    CheckError::Unreachable {
        url: url.to_string(),
        message: crate::tls::explain(e, tls),
    }
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn describe(path: &[String]) -> String {
    let hosts: Vec<&str> = path.iter().map(|u| host_of(u)).collect();
    format!(
        "authenticated; {} refused a probe load into a missing table, as expected",
        hosts.join(" → ")
    )
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The final answer to the probe: `Ok` when StarRocks refused it for the missing database or
/// table (the expected answer), an error for anything else.
fn judge(url: &str, status: u16, text: &str) -> Result<(), CheckError> {
    let json: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let field = |names: &[&str]| -> Option<String> {
        let v = json.as_ref()?;
        names
            .iter()
            .find_map(|n| v.get(*n)?.as_str().map(str::to_string))
    };
    let message = field(&["Message", "msg", "message"]).unwrap_or_else(|| text.trim().to_string());
    let lower = message.to_ascii_lowercase();
    if status == 401 || lower.contains("access denied") || lower.contains("authorization") {
        return Err(CheckError::Auth(message));
    }
    if status == 200 && (lower.contains("unknown database") || lower.contains("unknown table")) {
        return Ok(());
    }
    let answer: String = message.chars().take(500).collect();
    Err(CheckError::Unexpected {
        url: url.to_string(),
        status,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://be:8040/api/x/y/_stream_load";

    #[test]
    fn the_missing_database_or_table_answer_passes() {
        let be = r#"{"TxnId": -1, "Status": "Fail", "Message": "unknown database, database=__starpipe_preflight"}"#;
        assert!(judge(URL, 200, be).is_ok());
        let table = r#"{"Status": "Fail", "Message": "unknown table \"db.__starpipe_preflight\""}"#;
        assert!(judge(URL, 200, table).is_ok());
    }

    #[test]
    fn credentials_fail_as_authentication() {
        let fe = r#"{"status":"FAILED","code":"1","msg":"Access denied for user 'u'@'h'","message":"x"}"#;
        assert!(
            matches!(judge(URL, 401, fe), Err(CheckError::Auth(m)) if m.contains("Access denied"))
        );
        let be = r#"{"Status": "Fail", "Message": "no valid Basic authorization"}"#;
        assert!(matches!(judge(URL, 200, be), Err(CheckError::Auth(_))));
    }

    #[test]
    fn anything_else_is_unexpected() {
        let fe = r#"{"Status":"FAILED","Message":"No backend alive."}"#;
        assert!(
            matches!(judge(URL, 200, fe), Err(CheckError::Unexpected { answer, .. }) if answer == "No backend alive.")
        );
        assert!(matches!(
            judge(URL, 502, "<html>bad gateway</html>"),
            Err(CheckError::Unexpected { status: 502, .. })
        ));
    }

    #[test]
    fn describes_the_path_by_hosts() {
        let path = [
            "http://fe:8030/api/a/b/_stream_load".to_string(),
            "http://be:8040/api/a/b/_stream_load".to_string(),
        ];
        assert_eq!(
            describe(&path),
            "authenticated; fe:8030 → be:8040 refused a probe load into a missing table, as expected"
        );
    }
}
