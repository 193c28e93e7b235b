//! TLS for the FE/BE HTTP listeners (HTTPS only) and the MySQL front (the client's SSL
//! request), from a PEM certificate chain and key (`--tls-cert`, `--tls-key`). rustls, the
//! version opensrv-mysql's `tls` feature brings (through tokio-rustls 0.25), for both.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {source}")]
    Cert {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate in {0}")]
    NoCert(String),
    #[error("cannot read the private key {path}: {source}")]
    Key {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("certificate and key do not make a TLS server: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

/// Server configurations: one for HTTPS (ALPN `http/1.1`), one for the MySQL front.
pub struct TlsConfigs {
    pub http: Arc<ServerConfig>,
    pub mysql: Arc<ServerConfig>,
}

impl TlsConfigs {
    pub fn load(cert: &Path, key: &Path) -> Result<TlsConfigs, TlsError> {
        let chain = read_chain(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
            path: key.display().to_string(),
            source,
        })?;
        let mut http = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())?;
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mysql = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(TlsConfigs {
            http: Arc::new(http),
            mysql: Arc::new(mysql),
        })
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = || path.display().to_string();
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: shown(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(shown()));
    }
    Ok(chain)
}
