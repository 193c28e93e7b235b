//! `--tls-cert/--tls-key`: FE and BE serve HTTPS only (307 Location says https://), the MySQL
//! front accepts the client's SSL request. The certificate is made at test time (rcgen).
mod common;
use common::{Sim, basic};
use mysql::prelude::Queryable;
use std::path::PathBuf;
use std::sync::Arc;

struct Cert {
    dir: PathBuf,
    cert_pem: String,
}

impl Cert {
    /// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
    fn new(name: &str) -> Cert {
        let ck = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let dir =
            std::env::temp_dir().join(format!("starrocks-sim-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_pem = ck.cert.pem();
        std::fs::write(dir.join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        Cert { dir, cert_pem }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn start_sim(&self) -> Sim {
        Sim::start_with(&[
            "--tls-cert",
            &self.path("cert.pem"),
            "--tls-key",
            &self.path("key.pem"),
        ])
    }

    /// A ureq agent that trusts only this certificate and follows no redirect.
    fn agent(&self) -> ureq::Agent {
        let root = ureq::tls::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
            .build();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn mysql(&self, sim: &Sim) -> mysql::Result<mysql::Conn> {
        let ssl = mysql::SslOpts::default()
            .with_root_cert_path(Some(PathBuf::from(self.path("cert.pem"))));
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(sim.query_port)
            .user(Some("root"))
            .pass(Some(""))
            .prefer_socket(false)
            .ssl_opts(Some(ssl));
        mysql::Conn::new(opts)
    }
}

impl Drop for Cert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn put(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Option<String>, String) {
    let mut req = agent
        .put(url)
        .header("Authorization", basic("root", ""))
        .header("Expect", "100-continue");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body).unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), location, body)
}

#[test]
fn fe_and_be_speak_https_and_redirect_to_https() {
    let cert = Cert::new("http");
    let sim = cert.start_sim();
    sim.simple_table("d");
    let agent = cert.agent();
    let (status, location, _) = put(
        &agent,
        &format!("https://{}/api/d/t/_stream_load", sim.fe),
        &[("label", "s1")],
        b"1\ta\t1\n",
    );
    assert_eq!(status, 307);
    let location = location.unwrap();
    assert_eq!(location, format!("https://{}/api/d/t/_stream_load", sim.be));
    let (status, _, body) = put(&agent, &location, &[("label", "s1")], b"1\ta\t1\n");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Status"], "Success", "{v}");
    // Filtered rows: the ErrorURL is https too and is served over TLS.
    let (_, _, body) = put(
        &agent,
        &format!("https://{}/api/d/t/_stream_load", sim.be),
        &[("label", "s2"), ("max_filter_ratio", "1")],
        b"bad\ta\t1\n2\tb\t2\n",
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let url = v["ErrorURL"].as_str().unwrap();
    assert!(url.starts_with(&format!("https://{}/", sim.be)), "{url}");
    let mut r = agent.get(url).call().unwrap();
    assert!(
        r.body_mut()
            .read_to_string()
            .unwrap()
            .starts_with("Error: ")
    );
    let mut r = agent
        .get(format!("https://{}/api/d/get_load_state?label=s1", sim.fe))
        .header("Authorization", basic("root", ""))
        .call()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["state"], "VISIBLE");
    // HTTPS only: plain HTTP gets no HTTP answer; the control API stays plain.
    for host in [&sim.fe, &sim.be] {
        let out = sim.raw(host, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n", None);
        assert!(!out.starts_with("HTTP/1.1"), "{host}: {out}");
    }
    assert_eq!(sim.control_get("/health")["status"], "ok");
    // An agent that does not trust the certificate cannot talk to it.
    let plain: ureq::Agent = ureq::Agent::config_builder().build().into();
    assert!(
        plain
            .get(format!("https://{}/api/health", sim.be))
            .call()
            .is_err()
    );
}

#[test]
fn mysql_front_accepts_tls_and_plain_clients() {
    let cert = Cert::new("mysql");
    let sim = cert.start_sim();
    sim.simple_table("d");
    let mut c = cert.mysql(&sim).expect("TLS MySQL connection");
    let one: i64 = c.query_first("SELECT 1").unwrap().unwrap();
    assert_eq!(one, 1);
    c.query_drop("INSERT INTO d.t VALUES (1, 'a', 1)").unwrap();
    let n: i64 = c.query_first("SELECT COUNT(*) FROM d.t").unwrap().unwrap();
    assert_eq!(n, 1);
    // Clients that do not ask for TLS still work.
    let mut plain = sim.mysql();
    plain.query_drop("SELECT 1").unwrap();
    // A client that trusts another certificate refuses the server.
    let other = Cert::new("other");
    assert!(other.mysql(&sim).is_err());
}

#[test]
fn tls_flags_go_together() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starrocks-sim"))
        .args([
            "--fe-http",
            "127.0.0.1:0",
            "--be-http",
            "127.0.0.1:0",
            "--query",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert and --tls-key go together"));
}
