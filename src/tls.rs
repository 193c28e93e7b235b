//! TLS to StarRocks: the certificates HTTPS trusts (Stream Load, the load-state queries, the
//! Stream Load check) and the query port's TLS (`target.useSsl`), both from one CA file
//! (`target.sslCaFile`). rustls does the work, through ureq and the `mysql` crate; certificates
//! are always verified.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::TargetConfig;

/// Why the CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read target.sslCaFile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("target.sslCaFile {} is not PEM: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("target.sslCaFile {} holds no certificate", path.display())]
    Empty { path: PathBuf },
}

/// How starpipe speaks TLS to StarRocks. Read once (the CA file is parsed when it is built, so
/// a bad file stops a command at start); cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct TargetTls {
    /// `sslCaFile` and its certificates.
    ca: Option<CaFile>,
    /// `useSsl`: the query port is reached over TLS.
    query_port: QueryPortTls,
}

#[derive(Clone, Debug)]
struct CaFile {
    path: PathBuf,
    certs: Arc<Vec<Certificate<'static>>>,
}

/// Whether the MySQL-protocol connection requires TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryPortTls {
    #[default]
    Plain,
    Required,
}

impl TargetTls {
    /// The job's `sslCaFile` (read and parsed now) and `useSsl`.
    pub fn new(target: &TargetConfig) -> Result<TargetTls, TlsError> {
        let ca = match &target.ssl_ca_file {
            Some(path) => Some(CaFile::read(path)?),
            None => None,
        };
        let query_port = if target.use_ssl {
            QueryPortTls::Required
        } else {
            QueryPortTls::Plain
        };
        Ok(TargetTls { ca, query_port })
    }

    /// ureq's TLS settings: with a CA file, trust exactly its certificates (as `curl --cacert`
    /// does); without, the public web roots (webpki-roots).
    pub fn http(&self) -> TlsConfig {
        let roots = match &self.ca {
            Some(ca) => RootCerts::Specific(Arc::clone(&ca.certs)),
            None => RootCerts::WebPki,
        };
        TlsConfig::builder().root_certs(roots).build()
    }

    /// The `mysql` crate's TLS options when `useSsl` is on. The crate trusts the CA file's
    /// certificates in addition to the public web roots, and checks the host name.
    pub fn mysql(&self) -> Option<mysql::SslOpts> {
        if self.query_port == QueryPortTls::Plain {
            return None;
        }
        let ssl = mysql::SslOpts::default();
        Some(match &self.ca {
            Some(ca) => ssl.with_root_cert_path(Some(ca.path.clone())),
            None => ssl,
        })
    }
}

impl CaFile {
    fn read(path: &Path) -> Result<CaFile, TlsError> {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(TlsError::Pem {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    });
                }
            }
        }
        if certs.is_empty() {
            return Err(TlsError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(CaFile {
            path: path.to_path_buf(),
            certs: Arc::new(certs),
        })
    }
}

/// A transport error with a hint when it is about the server's certificate: which CA the
/// client trusted.
pub fn explain(error: &ureq::Error, tls: &TargetTls) -> String {
    hint(error.to_string(), tls)
}

/// `text` (an error's words) with that hint.
pub fn hint(text: String, tls: &TargetTls) -> String {
    if !text.contains("certificate") {
        return text;
    }
    match &tls.ca {
        Some(ca) => format!(
            "{text} (the server's certificate is not signed by a CA in target.sslCaFile {})",
            ca.path.display()
        ),
        None => format!(
            "{text} (the server's certificate is not signed by a public CA; name the CA that \
             signed it in target.sslCaFile)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ca: Option<&Path>, use_ssl: bool) -> TargetConfig {
        let mut text = String::from(
            "[source]\nbrokers = \"k:9092\"\ntopics = [\"t\"]\nconsumerGroupId = \"g\"\n\
             [target]\nhost = \"fe:9030\"\nhttpHost = \"https://fe:8443\"\nuser = \"u\"\n",
        );
        if let Some(ca) = ca {
            text.push_str(&format!("sslCaFile = {:?}\n", ca.display().to_string()));
        }
        text.push_str(&format!("useSsl = {use_ssl}\n"));
        crate::config::Config::parse(&text).unwrap().target
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("starpipe-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = TargetTls::new(&target(Some(&missing), false)).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = TargetTls::new(&target(Some(&empty), false)).unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn query_port_tls_only_with_use_ssl() {
        assert!(
            TargetTls::new(&target(None, false))
                .unwrap()
                .mysql()
                .is_none()
        );
        assert!(
            TargetTls::new(&target(None, true))
                .unwrap()
                .mysql()
                .is_some()
        );
    }
}

/// A redirect that would leave HTTPS: the `Authorization` header and the rows would travel in
/// clear text, so it is never followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to follow the redirect from {from} to {location}: it leaves HTTPS, and the \
     credentials and rows would travel in clear text; make StarRocks redirect to an https:// \
     address (the BE's HTTPS port), or set target.httpHost to one"
)]
pub struct Downgrade {
    pub from: String,
    pub location: String,
}

/// Where a 307 from `from` to `location` leads, unless it leaves HTTPS ([`Downgrade`]).
pub fn redirect(from: &str, location: &str) -> Result<String, Downgrade> {
    let https = |url: &str| {
        url.get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    };
    if https(from) && !https(location) {
        return Err(Downgrade {
            from: from.to_string(),
            location: location.to_string(),
        });
    }
    Ok(location.to_string())
}

#[cfg(test)]
mod redirect_tests {
    use super::redirect;

    #[test]
    fn a_redirect_never_leaves_https() {
        let be = "https://be:8443/api/d/t/_stream_load";
        assert_eq!(redirect("https://fe:8443/x", be).as_deref(), Ok(be));
        assert_eq!(
            redirect("HTTPS://fe/x", "HtTpS://be/y").as_deref(),
            Ok("HtTpS://be/y")
        );
        assert!(redirect("https://fe:8443/x", "http://be:8040/y").is_err());
        assert!(redirect("https://fe:8443/x", "//be:8040/y").is_err());
        // Plain HTTP may go either way: nothing was protected.
        assert!(redirect("http://fe:8030/x", "http://be:8040/y").is_ok());
        assert!(redirect("http://fe:8030/x", "https://be:8443/y").is_ok());
    }
}
