//! §3.4 transaction interface (begin/load/prepare/commit/rollback).
mod common;
use common::Sim;
use serde_json::json;

fn setup() -> Sim {
    let sim = Sim::start();
    sim.simple_table("d");
    sim
}

fn h(label: &str) -> Vec<(&str, &str)> {
    vec![("label", label), ("db", "d"), ("table", "t")]
}

fn state(sim: &Sim, label: &str) -> String {
    sim.control_get(&format!("/labels/d/{label}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn full_flow_through_the_fe_redirects() {
    let sim = setup();
    let r = sim.post_txn(&sim.fe, "begin", &h("t1"));
    assert_eq!(r.status, 307);
    let loc = r.header("location").unwrap().to_string();
    assert_eq!(loc, format!("http://{}/api/transaction/begin", sim.be));
    let begin = sim.post_txn(&sim.be, "begin", &h("t1")).json();
    assert_eq!(begin["Status"], "OK");
    assert_eq!(begin["Message"], "");
    assert_eq!(begin["Label"], "t1");
    assert!(begin["TxnId"].as_i64().unwrap() > 0);
    // Later calls are redirected to the BE bound to the label.
    let r = sim.put(&sim.fe, "/api/transaction/load", &h("t1"), b"", true);
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{}/api/transaction/load", sim.be).as_str())
    );
    for (i, body) in [&b"1\ta\t1\n"[..], &b"2\tb\t2\n"[..]].iter().enumerate() {
        let l = sim
            .put(&sim.be, "/api/transaction/load", &h("t1"), body, true)
            .json();
        assert_eq!(l["Status"], "OK", "{l}");
        assert_eq!(l["Seq"], i as u64 + 1);
        assert_eq!(l["NumberLoadedRows"], 1);
    }
    assert!(sim.rows("d", "t").is_empty(), "not visible before commit");
    assert_eq!(state(&sim, "t1"), "PREPARE");
    let p = sim.post_txn(&sim.be, "prepare", &h("t1")).json();
    assert_eq!(p["Status"], "OK");
    assert_eq!(p["NumberLoadedRows"], 2);
    assert_eq!(state(&sim, "t1"), "PREPARED");
    let l = sim
        .put(
            &sim.be,
            "/api/transaction/load",
            &h("t1"),
            b"3\tc\t3\n",
            true,
        )
        .json();
    assert_eq!(
        (l["Status"].as_str(), l["Message"].as_str()),
        (Some("FAILED"), Some("Transcation State Invalid"))
    );
    let c = sim.post_txn(&sim.be, "commit", &h("t1")).json();
    assert_eq!(c["Status"], "OK", "{c}");
    assert_eq!(sim.rows("d", "t").len(), 2);
    assert_eq!(state(&sim, "t1"), "VISIBLE");
    let again = sim.post_txn(&sim.be, "commit", &h("t1")).json();
    assert_eq!(
        (again["Status"].as_str(), again["Message"].as_str()),
        (Some("OK"), Some("Transaction already commited"))
    );
    let dup = sim.post_txn(&sim.be, "begin", &h("t1")).json();
    assert_eq!(
        dup,
        json!({"Status": "LABEL_ALREADY_EXISTS", "ExistingJobStatus": "FINISHED", "Message": "Label [t1] has already been used."})
    );
}

#[test]
fn statuses_for_unknown_running_and_rolled_back_txns() {
    let sim = setup();
    let r = sim.post_txn(&sim.be, "commit", &h("nope")).json();
    assert_eq!(r["Status"], "TXN_NOT_EXISTS");
    let r = sim
        .put(&sim.be, "/api/transaction/load", &h("nope"), b"1\n", true)
        .json();
    assert_eq!(r["Status"], "TXN_NOT_EXISTS");
    let fe = sim.post_txn(&sim.fe, "commit", &h("nope")).json();
    assert_eq!(fe["Status"], "FAILED");
    assert!(fe["Message"].as_str().unwrap().contains("has no backend"));
    sim.post_txn(&sim.be, "begin", &h("r1"));
    let dup = sim.post_txn(&sim.be, "begin", &h("r1")).json();
    assert_eq!(dup["Status"], "LABEL_ALREADY_EXISTS");
    assert_eq!(dup["ExistingJobStatus"], "RUNNING");
    sim.put(
        &sim.be,
        "/api/transaction/load",
        &h("r1"),
        b"1\ta\t1\n",
        true,
    );
    let rb = sim.post_txn(&sim.be, "rollback", &h("r1")).json();
    assert_eq!(rb["Status"], "OK");
    assert_eq!(state(&sim, "r1"), "ABORTED");
    assert!(sim.rows("d", "t").is_empty());
    // ABORTED labels can begin again; commit without prepare works.
    assert_eq!(
        sim.post_txn(&sim.be, "begin", &h("r1")).json()["Status"],
        "OK"
    );
    sim.put(
        &sim.be,
        "/api/transaction/load",
        &h("r1"),
        b"5\te\t5\n",
        true,
    );
    assert_eq!(
        sim.post_txn(&sim.be, "commit", &h("r1")).json()["Status"],
        "OK"
    );
    assert_eq!(sim.rows("d", "t").len(), 1);
    let bad = sim
        .post_txn(
            &sim.be,
            "begin",
            &[("label", "x"), ("db", "d"), ("table", "missing")],
        )
        .json();
    assert_eq!(bad["Status"], "FAILED");
    let no_label = sim
        .post_txn(&sim.be, "begin", &[("db", "d"), ("table", "t")])
        .json();
    assert_eq!(no_label["Status"], "FAILED");
    // Filtered rows in a txn load.
    sim.post_txn(&sim.be, "begin", &h("f1"));
    let l = sim
        .put(
            &sim.be,
            "/api/transaction/load",
            &h("f1"),
            b"oops\ta\t1\n",
            true,
        )
        .json();
    assert_eq!(l["Message"], "too many filtered rows");
    assert!(l["ErrorURL"].is_string());
}

#[test]
fn timeouts_abort_transactions() {
    let sim = setup();
    sim.post_txn(
        &sim.be,
        "begin",
        &[
            ("label", "idle"),
            ("db", "d"),
            ("table", "t"),
            ("idle_transaction_timeout", "1"),
        ],
    );
    sim.post_txn(
        &sim.be,
        "begin",
        &[
            ("label", "to"),
            ("db", "d"),
            ("table", "t"),
            ("timeout", "1"),
        ],
    );
    sim.post_txn(&sim.be, "begin", &h("prep"));
    let p = sim
        .post_txn(
            &sim.be,
            "prepare",
            &[("label", "prep"), ("db", "d"), ("prepared_timeout", "1")],
        )
        .json();
    assert_eq!(p["Status"], "OK");
    sim.post_txn(&sim.be, "begin", &h("alive"));
    std::thread::sleep(std::time::Duration::from_millis(1300));
    for label in ["idle", "to", "prep"] {
        assert_eq!(state(&sim, label), "ABORTED", "{label}");
    }
    assert_eq!(state(&sim, "alive"), "PREPARE");
    let c = sim.post_txn(&sim.be, "commit", &h("prep")).json();
    assert_eq!(c["Status"], "FAILED");
}

#[test]
fn begin_without_expect_header_is_redirected_like_starrocks() {
    // StarRocks' TransactionLoadAction has no `Expect: 100-continue` check (only the Stream Load
    // LoadAction has), and HTTP clients send `begin` without a body, hence without `Expect` (the
    // Flink connector's Apache HttpClient does so even with expect-continue enabled).
    let sim = setup();
    let head = format!(
        "POST /api/transaction/begin HTTP/1.1\r\nHost: fe\r\nAuthorization: {}\r\nlabel: nx1\r\ndb: d\r\ntable: t\r\nContent-Length: 0\r\n\r\n",
        common::basic("root", "")
    );
    let out = sim.raw(&sim.fe, &head, None);
    assert!(out.starts_with("HTTP/1.1 307"), "{out}");
    assert!(
        out.contains(&format!(
            "Location: http://{}/api/transaction/begin\r\n",
            sim.be
        )),
        "{out}"
    );
    let be_head = head.replace("Host: fe", "Host: be");
    let out = sim.raw(&sim.be, &be_head, None);
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["Status"], "OK", "{out}");
    assert_eq!(state(&sim, "nx1"), "PREPARE");
}
