//! §9.4 fault injection through the control API, one test per fault family.
mod common;
use common::{Sim, basic};
use serde_json::json;
use std::io::{Read, Write};

const ROW: &[u8] = b"1\ta\t1\n";

fn setup() -> Sim {
    let sim = Sim::start();
    sim.simple_table("d");
    sim
}

fn state(sim: &Sim, label: &str) -> String {
    sim.get(&format!(
        "http://{}/api/d/get_load_state?label={label}",
        sim.fe
    ))
    .json()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sends a Stream Load by hand and returns what came back (empty on reset).
fn raw_load(sim: &Sim, label: &str, body: &[u8]) -> Result<String, std::io::Error> {
    let mut s = std::net::TcpStream::connect(&sim.be)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let head = format!(
        "PUT /api/d/t/_stream_load HTTP/1.1\r\nHost: be\r\nAuthorization: {}\r\nlabel: {label}\r\nContent-Length: {}\r\n\r\n",
        basic("root", ""),
        body.len()
    );
    s.write_all(head.as_bytes())?;
    let _ = s.write_all(body);
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn f01_f02_latency_before_continue_body_and_commit() {
    let sim = setup();
    for (i, phase) in [
        "before_continue",
        "body",
        "before_commit",
        "before_response",
    ]
    .iter()
    .enumerate()
    {
        sim.fault(json!({"target": "be", "label": format!("lat{i}"), "action": {"kind": "latency", "ms": 150, "phase": phase}}));
        let r = sim.load("d", "t", &[("label", &format!("lat{i}"))], ROW);
        assert_eq!(r["Status"], "Success", "{phase}: {r}");
        if *phase == "before_commit" {
            assert!(r["CommitAndPublishTimeMs"].as_u64().unwrap() >= 150, "{r}");
        }
    }
    sim.fault(json!({"target": "fe", "action": {"kind": "latency", "ms": 100, "phase": "before_redirect"}}));
    assert_eq!(
        sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true)
            .status,
        307
    );
    assert_eq!(sim.control_get("/counters")["faults_fired"], 5);
}

#[test]
fn f03_http_errors_on_fe_and_be() {
    let sim = setup();
    for (target, status) in [("fe", 502), ("be", 503), ("be", 500)] {
        sim.fault(json!({"target": target, "times": 1, "action": {"kind": "http_error", "status": status, "body": "<html>oops</html>"}}));
        let host = if target == "fe" {
            sim.fe.clone()
        } else {
            sim.be.clone()
        };
        let r = sim.put(&host, "/api/d/t/_stream_load", &[("label", "h")], ROW, true);
        assert_eq!(r.status, status);
        assert_eq!(r.body, "<html>oops</html>");
    }
    // `times: 1` → the next request goes through and the label was never taken.
    assert_eq!(
        sim.load("d", "t", &[("label", "h")], ROW)["Status"],
        "Success"
    );
}

#[test]
fn f04_connection_resets_and_their_txn_outcomes() {
    let sim = setup();
    // Before 100 Continue and mid-body: nothing committed, label free for a retry.
    for (label, phase) in [("r1", "before_continue"), ("r2", "mid_body")] {
        sim.fault(json!({"label": label, "times": 1, "action": {"kind": "reset", "phase": phase}}));
        let body = vec![b'x'; 1 << 20];
        let out = raw_load(&sim, label, &body);
        assert!(
            out.map(|s| s.is_empty()).unwrap_or(true),
            "{phase}: no response"
        );
        assert_ne!(state(&sim, label), "VISIBLE");
        assert_eq!(
            sim.load("d", "t", &[("label", label)], ROW)["Status"],
            "Success"
        );
    }
    // After the body with the txn committed: data visible, retry sees FINISHED.
    sim.fault(json!({"label": "r3", "action": {"kind": "reset", "phase": "after_commit"}}));
    assert!(
        raw_load(&sim, "r3", b"7\tz\t7\n")
            .map(|s| s.is_empty())
            .unwrap_or(true)
    );
    assert_eq!(state(&sim, "r3"), "VISIBLE");
    let r = sim.load("d", "t", &[("label", "r3")], b"7\tz\t7\n");
    assert_eq!(
        (r["Status"].as_str(), r["ExistingJobStatus"].as_str()),
        (Some("Label Already Exists"), Some("FINISHED"))
    );
    // After the body with the txn still running: the client sees the reset at once, the load
    // goes on and commits after the commit latency; meanwhile the label is running.
    let on_r5 = |action: serde_json::Value| {
        sim.fault(json!({"target": "be", "op": "stream_load", "label": "r5", "action": action}));
    };
    on_r5(json!({"kind": "reset", "phase": "before_commit"}));
    on_r5(json!({"kind": "latency", "ms": 3000, "phase": "before_commit"}));
    assert!(
        raw_load(&sim, "r5", b"9\tz\t9\n")
            .map(|s| s.is_empty())
            .unwrap_or(true)
    );
    assert_eq!(
        state(&sim, "r5"),
        "PREPARE",
        "the reset came before the commit"
    );
    let r = sim.load("d", "t", &[("label", "r5")], b"9\tz\t9\n");
    assert_eq!(
        (r["Status"].as_str(), r["ExistingJobStatus"].as_str()),
        (Some("Label Already Exists"), Some("RUNNING"))
    );
    let waited = std::time::Instant::now();
    while state(&sim, "r5") != "VISIBLE" {
        assert!(waited.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // After the body with the txn aborted: label ABORTED and reusable.
    sim.fault(
        json!({"label": "r4", "times": 1, "action": {"kind": "reset", "phase": "after_abort"}}),
    );
    assert!(
        raw_load(&sim, "r4", b"8\tz\t8\n")
            .map(|s| s.is_empty())
            .unwrap_or(true)
    );
    assert_eq!(state(&sim, "r4"), "ABORTED");
    assert_eq!(
        sim.load("d", "t", &[("label", "r4")], b"8\tz\t8\n")["Status"],
        "Success"
    );
}

#[test]
fn f05_redirect_to_dead_be_and_redirect_loop() {
    let sim = setup();
    sim.fault(json!({"target": "fe", "times": 1, "action": {"kind": "redirect_to", "location": "http://127.0.0.1:1"}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load?a=b", &[], ROW, true);
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:1/api/d/t/_stream_load?a=b")
    );
    sim.fault(json!({"target": "fe", "times": 1, "action": {"kind": "redirect_to", "location": "http://127.0.0.1:1/api/x/y/_stream_load"}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:1/api/x/y/_stream_load"),
        "full URL verbatim"
    );
    sim.fault(json!({"target": "fe", "times": 1, "action": {"kind": "redirect_loop"}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{}/api/d/t/_stream_load", sim.fe).as_str())
    );
}

#[test]
fn f06_fe_401_and_failed_bodies() {
    let sim = setup();
    sim.fault(json!({"target": "fe", "nth": 1, "action": {"kind": "unauthorized"}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["status"], "FAILED");
    sim.fault(json!({"target": "fe", "nth": 1, "action": {"kind": "fe_failed", "message": "No backend alive."}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true);
    assert_eq!(
        r.json(),
        json!({"Status": "FAILED", "Message": "No backend alive."})
    );
    assert_eq!(
        sim.put(&sim.fe, "/api/d/t/_stream_load", &[], ROW, true)
            .status,
        307,
        "nth: fires once"
    );
}

#[test]
fn f07_publish_timeout_becomes_visible_later() {
    let sim = setup();
    sim.fault(
        json!({"label": "pt", "action": {"kind": "publish_timeout", "visible_after_ms": 3000}}),
    );
    let r = sim.load("d", "t", &[("label", "pt")], ROW);
    assert_eq!(r["Status"], "Publish Timeout");
    assert_eq!(
        r["Message"],
        "Publish timeout. The data will be visible after a while"
    );
    assert!(sim.rows("d", "t").is_empty(), "not visible yet");
    assert_eq!(state(&sim, "pt"), "COMMITTED");
    let retry = sim.load("d", "t", &[("label", "pt")], ROW);
    assert_eq!(retry["ExistingJobStatus"], "FINISHED");
    while state(&sim, "pt") != "VISIBLE" {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(sim.rows("d", "t").len(), 1);
}

#[test]
fn f08_label_already_exists_variants() {
    let sim = setup();
    for status in ["FINISHED", "RUNNING", "PREPARE"] {
        sim.fault(json!({"label": "dup", "times": 1, "action": {"kind": "label_exists", "existing_job_status": status}}));
        let r = sim.load("d", "t", &[("label", "dup")], ROW);
        assert_eq!(r["Status"], "Label Already Exists");
        assert_eq!(r["ExistingJobStatus"], status);
        assert_eq!(r["Message"], "Label [dup] has already been used.");
    }
    sim.fault(json!({"label": "dup", "times": 1, "action": {"kind": "label_exists", "existing_job_status": "", "new_style": true}}));
    let r = sim.load("d", "t", &[("label", "dup")], ROW);
    assert_eq!(r["Status"], "Fail");
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .contains("has already been used")
    );
    assert!(r.get("ExistingJobStatus").is_none());
    // A real RUNNING label: a 2PC txn holding it.
    sim.post_txn(
        &sim.be,
        "begin",
        &[("label", "held"), ("db", "d"), ("table", "t")],
    );
    let r = sim.load("d", "t", &[("label", "held")], ROW);
    assert_eq!(r["ExistingJobStatus"], "RUNNING");
}

#[test]
fn f09_too_many_versions_real_model_and_forced() {
    let sim = setup();
    sim.config(json!({"tablet_max_versions": 3, "compaction_versions_per_sec": 0.0}));
    for i in 0..3 {
        assert_eq!(
            sim.load("d", "t", &[("label", &format!("v{i}"))], ROW)["Status"],
            "Success"
        );
    }
    let r = sim.load("d", "t", &[("label", "v3")], ROW);
    assert_eq!(r["Status"], "Fail");
    let msg = r["Message"].as_str().unwrap();
    assert!(
        msg.contains("because of too many versions, current/limit: 4/3"),
        "{msg}"
    );
    assert_eq!(state(&sim, "v3"), "ABORTED");
    sim.config(json!({"tablet_max_versions": 1000}));
    sim.fault(json!({"times": 1, "action": {"kind": "too_many_versions"}}));
    let r = sim.load("d", "t", &[("label", "v4")], ROW);
    assert!(r["Message"].as_str().unwrap().contains("too many versions"));
}

#[test]
fn f10_retryable_failures() {
    let sim = setup();
    let messages = [
        "[E1008]Reached timeout",
        "cancelled",
        "timeout by txn manager",
        "memory limit exceeded",
    ];
    for (i, m) in messages.iter().enumerate() {
        sim.fault(json!({"times": 1, "action": {"kind": "fail", "message": m}}));
        let r = sim.load("d", "t", &[("label", &format!("m{i}"))], ROW);
        assert_eq!(
            (r["Status"].as_str(), r["Message"].as_str()),
            (Some("Fail"), Some(*m))
        );
        assert_eq!(
            sim.load("d", "t", &[("label", &format!("m{i}"))], ROW)["Status"],
            "Success",
            "label reusable"
        );
    }
    sim.fault(json!({"times": 1, "action": {"kind": "memory_limit"}}));
    assert!(
        sim.load("d", "t", &[("label", "mem")], ROW)["Message"]
            .as_str()
            .unwrap()
            .contains("memory limit exceeded")
    );
    // Real limits: running txns per db and BE HTTP concurrency.
    sim.config(json!({"max_running_txn_num_per_db": 1}));
    sim.post_txn(
        &sim.be,
        "begin",
        &[("label", "open"), ("db", "d"), ("table", "t")],
    );
    let r = sim.load("d", "t", &[("label", "lim")], ROW);
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .starts_with("current running txns on db "),
        "{r}"
    );
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .ends_with("is 1, larger than limit 1"),
        "{r}"
    );
    sim.config(json!({"max_running_txn_num_per_db": 1000, "be_http_concurrency_limit": 0}));
    let r = sim.load("d", "t", &[("label", "conc")], ROW);
    assert_eq!(
        r["Message"],
        "Stream Load exceed http cuncurrent limit 0, please try again later"
    );
}

#[test]
fn f11_injected_filtered_rows() {
    let sim = setup();
    sim.fault(json!({"times": 1, "action": {"kind": "filter_rows", "count": 1}}));
    let r = sim.load("d", "t", &[("label", "fr")], b"1\ta\t1\n2\tb\t2\n");
    assert_eq!(r["Message"], "too many filtered rows");
    assert_eq!(r["NumberFilteredRows"], 1);
    assert!(
        sim.get(r["ErrorURL"].as_str().unwrap())
            .body
            .contains("injected fault")
    );
    sim.fault(json!({"times": 1, "action": {"kind": "filter_rows", "count": 1}}));
    let r = sim.load(
        "d",
        "t",
        &[("label", "fr2"), ("max_filter_ratio", "0.5")],
        b"1\ta\t1\n2\tb\t2\n",
    );
    assert_eq!(r["Status"], "Success");
    assert_eq!(r["NumberLoadedRows"], 1);
}

#[test]
fn f11_filtered_rows_by_content() {
    let sim = setup();
    sim.fault(json!({"action": {"kind": "filter_rows", "matching": "bad*"}}));
    let body = b"1\tgood\t1\n2\tbad-one\t2\n3\tfine\t3\n";
    let r = sim.load(
        "d",
        "t",
        &[("label", "fc"), ("max_filter_ratio", "1")],
        body,
    );
    assert_eq!(r["Status"], "Success");
    assert_eq!(
        (
            r["NumberLoadedRows"].as_u64(),
            r["NumberFilteredRows"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let log = sim.get(r["ErrorURL"].as_str().unwrap()).body;
    assert!(log.contains("'bad-one'"), "{log}");
    // The same rows are filtered every time: a load without them is clean.
    let r = sim.load("d", "t", &[("label", "fc2")], b"4\tok\t4\n");
    assert_eq!(r["Status"], "Success");
}

#[test]
fn f12_non_retryable_access_denied_on_be() {
    let sim = setup();
    let r = sim.agent_put_auth(&sim.be, "/api/d/t/_stream_load", &basic("root", "bad"), ROW);
    assert_eq!(r["Status"], "Fail");
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .starts_with("Access denied for user 'root'@"),
        "{r}"
    );
}

#[test]
fn f13_transaction_api_faults() {
    let sim = setup();
    sim.fault(json!({"target": "txn", "op": "prepare", "times": 1, "action": {"kind": "txn_status", "status": "TXN_IN_PROCESSING", "message": "Transaction in processing"}}));
    let h = [("label", "tx"), ("db", "d"), ("table", "t")];
    assert_eq!(sim.post_txn(&sim.be, "begin", &h).json()["Status"], "OK");
    assert_eq!(
        sim.post_txn(&sim.be, "prepare", &h).json()["Status"],
        "TXN_IN_PROCESSING"
    );
    assert_eq!(sim.post_txn(&sim.be, "prepare", &h).json()["Status"], "OK");
    sim.fault(json!({"target": "txn", "op": "commit", "times": 1, "action": {"kind": "commit_fails_after_commit"}}));
    let r = sim.post_txn(&sim.be, "commit", &h).json();
    assert_eq!(r["Status"], "INTERNAL_ERROR");
    assert_eq!(
        state(&sim, "tx"),
        "VISIBLE",
        "committed although the answer failed"
    );
    let r = sim.post_txn(&sim.be, "commit", &h).json();
    assert_eq!(
        (r["Status"].as_str(), r["Message"].as_str()),
        (Some("OK"), Some("Transaction already commited"))
    );
}

#[test]
fn f15_table_dropped_between_loads() {
    let sim = setup();
    assert_eq!(
        sim.load("d", "t", &[("label", "a")], ROW)["Status"],
        "Success"
    );
    sim.sql("ALTER TABLE d.t RENAME t_old");
    assert_eq!(
        sim.load("d", "t", &[("label", "b")], ROW)["Message"],
        "unknown table \"d.t\""
    );
    sim.sql("DROP TABLE d.t_old");
    assert_eq!(
        sim.load("d", "t_old", &[("label", "c")], ROW)["Message"],
        "unknown table \"d.t_old\""
    );
}

#[test]
fn f16_fe_not_master_on_get_load_state() {
    let sim = setup();
    sim.fault(json!({"target": "fe", "op": "get_load_state", "times": 1, "action": {"kind": "fe_failed", "message": "current fe is not master"}}));
    let v = sim
        .get(&format!("http://{}/api/d/get_load_state?label=x", sim.fe))
        .json();
    assert_eq!(
        (v["status"].as_str(), v["msg"].as_str()),
        (Some("FAILED"), Some("current fe is not master"))
    );
    assert_eq!(state(&sim, "x"), "UNKNOWN");
}

#[test]
fn f17_response_variants() {
    let sim = setup();
    let cases = [
        ("put_time", "\"StreamLoadPutTimeMs\""),
        ("lowercase", "\"status\": \"OK\""),
        ("invalid_json", "<html>"),
    ];
    for (i, (variant, needle)) in cases.iter().enumerate() {
        sim.fault(json!({"times": 1, "action": {"kind": "response_variant", "variant": variant}}));
        let r = sim.put(
            &sim.be,
            "/api/d/t/_stream_load",
            &[("label", &format!("rv{i}"))],
            ROW,
            true,
        );
        assert!(r.body.contains(needle), "{variant}: {}", r.body);
    }
    sim.fault(json!({"times": 1, "action": {"kind": "response_variant", "variant": "truncated"}}));
    let r = sim.put(
        &sim.be,
        "/api/d/t/_stream_load",
        &[("label", "rvt")],
        ROW,
        true,
    );
    assert!(serde_json::from_str::<serde_json::Value>(&r.body).is_err());
    sim.config(json!({"use_put_time_field": true}));
    assert!(
        sim.load("d", "t", &[("label", "put")], ROW)
            .get("StreamLoadPutTimeMs")
            .is_some()
    );
}

#[test]
fn f18_mysql_connection_drop_and_slow_ddl() {
    use mysql::prelude::Queryable;
    let sim = setup();
    sim.fault(json!({"target": "mysql", "label": "SELECT COUNT(*)*", "times": 1, "action": {"kind": "drop_connection"}}));
    let mut c = sim.mysql();
    assert!(c.query_drop("SELECT COUNT(*) FROM d.t").is_err());
    let mut c = sim.mysql();
    let n: i64 = c.query_first("SELECT COUNT(*) FROM d.t").unwrap().unwrap();
    assert_eq!(n, 0);
    sim.fault(json!({"target": "mysql", "label": "CREATE*", "times": 1, "action": {"kind": "latency", "ms": 100, "phase": "before_response"}}));
    c.query_drop("CREATE TABLE d.slow (k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)")
        .unwrap();
    assert_eq!(sim.control_get("/counters")["faults_fired"], 2);
}

#[test]
fn f19_drop_reupsert_after_delete_bug_on_demand() {
    let sim = setup();
    let body = json!([{"id": 1, "name": "a"}, {"id": 1, "__op": 1}, {"id": 1, "name": "again"}])
        .to_string();
    let h = [("format", "json"), ("strip_outer_array", "true")];
    sim.fault(json!({"label": "bug", "action": {"kind": "drop_reupsert_after_delete"}}));
    sim.load("d", "t", &[h[0], h[1], ("label", "bug")], body.as_bytes());
    assert!(
        sim.rows("d", "t").is_empty(),
        "re-upsert lost, as in issue 75014"
    );
    sim.load("d", "t", &[h[0], h[1], ("label", "ok")], body.as_bytes());
    assert_eq!(sim.rows("d", "t")[0]["name"], "again");
}

#[test]
fn probability_rules_and_fault_management() {
    let sim = setup();
    let id = sim.fault(json!({"probability": 0.0, "action": {"kind": "fail", "message": "never"}}));
    assert_eq!(
        sim.load("d", "t", &[("label", "p0")], ROW)["Status"],
        "Success"
    );
    let always = sim.fault(
        json!({"probability": 1.0, "table": "t*", "action": {"kind": "fail", "message": "always"}}),
    );
    assert_eq!(
        sim.load("d", "t", &[("label", "p1")], ROW)["Message"],
        "always"
    );
    let list = sim.control_get("/faults");
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], id);
    assert!(list[1]["fired"].as_u64().unwrap() >= 1);
    sim.delete(&format!("/faults/{always}"));
    assert_eq!(
        sim.load("d", "t", &[("label", "p1")], ROW)["Status"],
        "Success"
    );
    sim.delete("/faults");
    assert!(sim.control_get("/faults").as_array().unwrap().is_empty());
}

#[test]
fn counters_and_dump() {
    let sim = setup();
    sim.load(
        "d",
        "t",
        &[("label", "c1"), ("columns", "id,name,score,__op")],
        b"1\ta\t1\t0\n2\tb\t2\t0\n1\ta\t1\t1\n",
    );
    sim.load("d", "t", &[("label", "c1")], ROW);
    sim.load("d", "t", &[("label", "c2")], b"bad\n");
    let c = sim.control_get("/counters");
    assert_eq!(
        c["loads_by_status"],
        json!({"Success": 1, "Label Already Exists": 1, "Fail": 1})
    );
    assert_eq!(c["rows_loaded"], 3);
    assert_eq!(c["rows_upserted"], 2);
    assert_eq!(c["rows_deleted"], 1);
    assert_eq!(c["tables"]["d.t"]["loads"], 1);
    let d = sim.dump("d", "t");
    assert_eq!(d["keys"], json!(["id"]));
    assert_eq!(d["rows"], json!([{"id": 2, "name": "b", "score": 2}]));
    sim.control_post("/counters/reset", json!({}));
    assert_eq!(sim.control_get("/counters")["rows_loaded"], 0);
}
