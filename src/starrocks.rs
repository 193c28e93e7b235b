//! The StarRocks query port for the commands outside the engine (`check`, `prepare`): one
//! connection with the job's settings, as the engine's catalog makes them.

use mysql::Conn;

use crate::config::TargetConfig;
use crate::tls::TargetTls;

/// A connection to `target.host` made as the engine's catalog makes it: bounded by
/// `soTimeoutSec` (connecting, every read and write), never over a Unix socket (StarRocks
/// rejects the crate's `@@socket` probe, starrocks.md §5.1), over TLS with `useSsl`.
pub fn connect(
    target: &TargetConfig,
    password: &str,
    tls: &TargetTls,
) -> Result<Conn, mysql::Error> {
    Conn::new(crate::engine::Catalog::query_port_opts(
        target, password, tls,
    ))
}

/// The error's own words, without the crate's `DriverError { … }` wrapping.
pub fn message(e: &mysql::Error) -> String {
    match e {
        mysql::Error::DriverError(e) => e.to_string(),
        mysql::Error::MySqlError(e) => e.to_string(),
        mysql::Error::IoError(e) => e.to_string(),
        // TLS failures (a certificate that does not verify) come as codec errors.
        mysql::Error::CodecError(e) => e.to_string(),
        other => other.to_string(),
    }
}
