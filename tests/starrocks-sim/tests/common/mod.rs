//! Test harness: starts the real `starrocks-sim` binary on free ports and talks to it over
//! HTTP (ureq) and the MySQL protocol (mysql crate).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;

use starrocks_sim::launch::{Launch, SimProcess};

pub struct Sim {
    /// Killed when dropped.
    process: SimProcess,
    pub fe: String,
    pub be: String,
    pub query_port: u16,
    pub control: String,
    agent: ureq::Agent,
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn basic(user: &str, pass: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

impl Sim {
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Sim {
        let process = Launch::new(env!("CARGO_BIN_EXE_starrocks-sim"))
            .args(extra)
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let port = |addr: &str| addr.rsplit_once(':').unwrap().1.parse().unwrap();
        Sim {
            fe: process.fe_http.clone(),
            be: process.be_http.clone(),
            query_port: port(&process.query),
            control: process.control.clone(),
            process,
            agent,
        }
    }

    fn to_resp(mut r: ureq::http::Response<ureq::Body>) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// PUT a Stream Load straight to the BE with credentials and `Expect: 100-continue`.
    pub fn load(
        &self,
        db: &str,
        table: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> serde_json::Value {
        let r = self.put(
            &self.be,
            &format!("/api/{db}/{table}/_stream_load"),
            headers,
            body,
            true,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    pub fn put(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        auth: bool,
    ) -> Resp {
        let mut req = self.agent.put(format!("http://{host}{path}"));
        if auth {
            req = req.header("Authorization", basic("root", ""));
        }
        req = req.header("Expect", "100-continue");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::to_resp(req.send(body).expect("http put"))
    }

    pub fn post_txn(&self, host: &str, op: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .agent
            .post(format!("http://{host}/api/transaction/{op}"))
            .header("Authorization", basic("root", ""))
            .header("Expect", "100-continue");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::to_resp(req.send_empty().expect("http post"))
    }

    pub fn get(&self, url: &str) -> Resp {
        Self::to_resp(
            self.agent
                .get(url)
                .header("Authorization", basic("root", ""))
                .call()
                .expect("http get"),
        )
    }

    pub fn control_get(&self, path: &str) -> serde_json::Value {
        self.get(&format!("http://{}{path}", self.control)).json()
    }

    pub fn control_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self
            .agent
            .post(format!("http://{}{path}", self.control))
            .send(body.to_string().as_bytes())
            .expect("control post");
        let r = Self::to_resp(r);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    pub fn fault(&self, rule: serde_json::Value) -> u64 {
        self.control_post("/faults", rule)["id"].as_u64().unwrap()
    }

    pub fn config(&self, patch: serde_json::Value) {
        self.control_post("/config", patch);
    }

    /// Runs SQL through the control API (no MySQL client needed).
    pub fn sql(&self, sql: &str) {
        let r = self
            .agent
            .post(format!("http://{}/sql", self.control))
            .send(serde_json::json!({ "sql": sql }).to_string().as_bytes())
            .expect("sql");
        let r = Self::to_resp(r);
        assert_eq!(r.status, 200, "{sql}: {}", r.body);
    }

    pub fn dump(&self, db: &str, table: &str) -> serde_json::Value {
        self.control_get(&format!("/tables/{db}/{table}"))
    }

    pub fn rows(&self, db: &str, table: &str) -> Vec<serde_json::Value> {
        self.dump(db, table)["rows"].as_array().unwrap().clone()
    }

    pub fn mysql(&self) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.query_port)
            .user(Some("root"))
            .pass(Some(""))
            .prefer_socket(false);
        mysql::Conn::new(opts).expect("mysql connect")
    }

    /// Creates database `db` and a PK table `t` (id BIGINT key, name VARCHAR(16), score INT).
    pub fn simple_table(&self, db: &str) {
        self.sql(&format!("CREATE DATABASE IF NOT EXISTS {db}"));
        self.sql(&format!(
            "CREATE TABLE {db}.t (id BIGINT NOT NULL, name VARCHAR(16) NULL, score INT NULL) \
             PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES(\"replication_num\"=\"1\")"
        ));
    }

    /// Raw HTTP exchange: sends `head` (and optionally a body), returns everything read.
    pub fn raw(&self, host: &str, head: &str, body: Option<&[u8]>) -> String {
        let mut s = TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(head.as_bytes()).unwrap();
        if let Some(b) = body {
            let _ = s.write_all(b);
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Sim {
    pub fn agent_post(&self, url: &str) -> serde_json::Value {
        let r = self
            .agent
            .post(url)
            .header("Authorization", basic("root", ""))
            .send_empty()
            .expect("post");
        Self::to_resp(r).json()
    }
}

impl Sim {
    pub fn agent_put_auth(
        &self,
        host: &str,
        path: &str,
        auth: &str,
        body: &[u8],
    ) -> serde_json::Value {
        let r = self
            .agent
            .put(format!("http://{host}{path}"))
            .header("Authorization", auth)
            .header("Expect", "100-continue")
            .send(body)
            .expect("put");
        Self::to_resp(r).json()
    }

    pub fn delete(&self, path: &str) {
        let r = self
            .agent
            .delete(format!("http://{}{path}", self.control))
            .call()
            .expect("delete");
        assert_eq!(r.status().as_u16(), 200);
    }
}
