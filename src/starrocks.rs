//! The StarRocks query port for the commands outside the engine (`check`, `prepare`): one
//! connection with the job's settings, as the engine's catalog makes them.

use mysql::{Conn, OptsBuilder};

use crate::config::TargetConfig;

/// A connection to `target.host`, bounded by `soTimeoutSec` (connecting, every read and
/// write), never over a Unix socket (StarRocks rejects the crate's `@@socket` probe,
/// starrocks.md §5.1).
pub fn connect(target: &TargetConfig, password: &str) -> Result<Conn, mysql::Error> {
    let (host, port) = target
        .host
        .rsplit_once(':')
        .map_or((target.host.as_str(), 9030), |(h, p)| {
            (h, p.parse().unwrap_or(9030))
        });
    let timeout = Some(target.so_timeout());
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some(host.trim_matches(['[', ']'])))
        .tcp_port(port)
        .user(Some(&target.user))
        .pass(Some(password))
        .prefer_socket(false)
        .tcp_connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout);
    Conn::new(opts)
}

/// The error's own words, without the crate's `DriverError { … }` wrapping.
pub fn message(e: &mysql::Error) -> String {
    match e {
        mysql::Error::DriverError(e) => e.to_string(),
        mysql::Error::MySqlError(e) => e.to_string(),
        mysql::Error::IoError(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// A SQL string literal (single quotes; backslashes and quotes escaped).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}
