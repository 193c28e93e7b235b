//! Certificates made at test time (rcgen): a CA and server certificates it signs, written as
//! PEM files, for starrocks-sim's `--tls-cert/--tls-key` and starpipe's `target.sslCaFile`.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate authority with its files under a directory of its own.
pub struct TestCa {
    key: KeyPair,
    cert: Certificate,
    pub dir: PathBuf,
}

/// A server certificate and its key, as files.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA named `name`; its certificate is at [`TestCa::ca_file`].
    pub fn new(name: &str) -> TestCa {
        let dir = std::env::temp_dir().join(super::unique_name(&format!("starpipe-ca-{name}")));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("starpipe test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        TestCa { key, cert, dir }
    }

    /// The CA certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for 127.0.0.1 and localhost signed by this CA.
    pub fn server(&self) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let out = ServerCert {
            cert: self.dir.join("server.pem"),
            key: self.dir.join("server.key"),
        };
        std::fs::write(&out.cert, cert.pem()).unwrap();
        std::fs::write(&out.key, key.serialize_pem()).unwrap();
        out
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
