//! `GET /loads` / `DELETE /loads`: every Stream Load and transaction-API load, in order, with
//! epoch-millisecond times, status and the client's address.
mod common;
use common::{Sim, basic};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn loads(sim: &Sim) -> Vec<Value> {
    sim.control_get("/loads").as_array().unwrap().clone()
}

/// A Stream Load straight to the BE over a socket whose local address we know.
fn load_from_socket(sim: &Sim, label: &str, body: &[u8]) -> (String, String) {
    let mut s = std::net::TcpStream::connect(&sim.be).unwrap();
    let local = s.local_addr().unwrap().to_string();
    let head = format!(
        "PUT /api/d/t/_stream_load HTTP/1.0\r\nAuthorization: {}\r\nlabel: {label}\r\nContent-Length: {}\r\n\r\n",
        basic("root", ""),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (local, out)
}

#[test]
fn stream_loads_are_logged_in_order_with_status_times_and_peer() {
    let sim = Sim::start();
    sim.simple_table("d");
    let t0 = now_ms();
    let (peer, out) = load_from_socket(&sim, "a1", b"1\tx\t1\n2\ty\t2\n");
    assert!(out.contains("\"Success\""), "{out}");
    let r = sim.load("d", "t", &[("label", "a1")], b"1\tx\t1\n");
    assert_eq!(r["Status"], "Label Already Exists");
    let r = sim.load("d", "t", &[("label", "a2")], b"bad\tx\t1\n");
    assert_eq!(r["Status"], "Fail");
    let r = sim.load("d", "t", &[("label", "a3"), ("format", "xml")], b"1");
    assert_eq!(r["Status"], "Fail");
    let t1 = now_ms();

    let l = loads(&sim);
    assert_eq!(l.len(), 4, "{l:?}");
    let labels: Vec<&str> = l.iter().map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["a1", "a1", "a2", "a3"]);
    let statuses: Vec<&str> = l.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["Success", "Label Already Exists", "Fail", "Fail"]
    );
    let first = &l[0];
    assert_eq!(first["db"], "d");
    assert_eq!(first["table"], "t");
    assert_eq!(first["peer"], peer);
    assert_eq!(first["rows_loaded"], 2);
    assert_eq!(first["rows_filtered"], 0);
    assert_eq!(first["kind"], "stream_load");
    assert!(first["txn_id"].as_i64().unwrap() > 0);
    assert_eq!(l[3]["txn_id"], -1, "header errors begin no txn");
    assert_eq!(l[2]["rows_filtered"], 1);
    let mut last = 0;
    for e in &l {
        let (rx, fin) = (
            e["received_ms"].as_u64().unwrap(),
            e["finished_ms"].as_u64().unwrap(),
        );
        assert!(t0 <= rx && rx <= fin && fin <= t1, "{e}");
        assert!(rx >= last, "arrival order");
        last = rx;
    }
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    for k in [
        "label",
        "db",
        "table",
        "txn_id",
        "status",
        "received_ms",
        "finished_ms",
        "rows_loaded",
        "rows_filtered",
        "peer",
    ] {
        assert!(keys.iter().any(|x| *x == k), "missing {k}: {first}");
    }
    // The raw body keeps the documented field order.
    let raw = sim.get(&format!("http://{}/loads", sim.control)).body;
    let pos = |k: &str| raw.find(&format!("\"{k}\"")).unwrap();
    assert!(pos("label") < pos("db") && pos("received_ms") < pos("finished_ms"));
    assert!(pos("rows_filtered") < pos("peer"), "{raw}");

    assert_eq!(sim.control_get("/loads").as_array().unwrap().len(), 4);
    sim.delete("/loads");
    assert!(loads(&sim).is_empty());
    sim.load("d", "t", &[("label", "a4")], b"3\tz\t3\n");
    assert_eq!(loads(&sim).len(), 1);
}

#[test]
fn unanswered_loads_record_the_transaction_outcome() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.fault(json!({"target": "be", "label": "c1", "action": {"kind": "reset", "phase": "after_commit"}}));
    sim.fault(
        json!({"target": "be", "label": "c2", "action": {"kind": "reset", "phase": "after_abort"}}),
    );
    sim.fault(
        json!({"target": "be", "label": "c3", "action": {"kind": "http_error", "status": 503}}),
    );
    sim.fault(json!({"target": "be", "label": "c4", "action": {"kind": "publish_timeout", "visible_after_ms": 300}}));
    let (_, out) = load_from_socket(&sim, "c1", b"1\tx\t1\n");
    assert!(out.is_empty(), "{out}");
    let (_, out) = load_from_socket(&sim, "c2", b"2\tx\t1\n");
    assert!(out.is_empty(), "{out}");
    let (_, out) = load_from_socket(&sim, "c3", b"3\tx\t1\n");
    assert!(out.contains("503"), "{out}");
    let r = sim.load("d", "t", &[("label", "c4")], b"4\tx\t1\n");
    assert_eq!(r["Status"], "Publish Timeout");
    let l = loads(&sim);
    let status: Vec<&str> = l.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(
        status,
        ["VISIBLE", "ABORTED", "HTTP 503", "Publish Timeout"]
    );
    assert_eq!(l[0]["rows_loaded"], 1, "the data of c1 landed");
    assert!(l.iter().all(|e| e["finished_ms"].is_u64()));
}

fn txn(sim: &Sim, op: &str, label: &str, extra: &[(&str, &str)]) -> Value {
    let mut h = vec![("label", label), ("db", "d"), ("table", "t")];
    h.extend_from_slice(extra);
    let r = sim.post_txn(&sim.be, op, &h);
    r.json()
}

#[test]
fn transaction_api_loads_follow_their_transaction() {
    let sim = Sim::start();
    sim.simple_table("d");
    assert_eq!(txn(&sim, "begin", "x1", &[])["Status"], "OK");
    let r = sim.put(
        &sim.be,
        "/api/transaction/load",
        &[("label", "x1"), ("db", "d"), ("table", "t")],
        b"1\ta\t1\n2\tb\t2\n",
        true,
    );
    assert_eq!(r.json()["Status"], "OK");
    // A refused load call of the same txn ends with its own answer.
    let r = sim.put(
        &sim.be,
        "/api/transaction/load",
        &[("label", "x1"), ("db", "d"), ("table", "t")],
        b"bad\ta\t1\n",
        true,
    );
    assert_eq!(r.json()["Status"], "FAILED");
    let l = loads(&sim);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["kind"], "txn_load");
    assert_eq!(l[0]["status"], "PREPARE");
    assert!(l[0]["finished_ms"].is_null());
    assert_eq!(l[0]["rows_loaded"], 2);
    assert_eq!(l[1]["status"], "FAILED");
    assert!(l[1]["finished_ms"].is_u64());

    let before_commit = now_ms();
    assert_eq!(txn(&sim, "commit", "x1", &[])["Status"], "OK");
    let l = loads(&sim);
    assert_eq!(l[0]["status"], "VISIBLE");
    assert!(l[0]["finished_ms"].as_u64().unwrap() >= before_commit);
    assert_eq!(l[1]["status"], "FAILED", "a refused call never lands");

    // Rolled back and timed-out transactions.
    txn(&sim, "begin", "x2", &[]);
    sim.put(
        &sim.be,
        "/api/transaction/load",
        &[("label", "x2"), ("db", "d"), ("table", "t")],
        b"3\tc\t3\n",
        true,
    );
    txn(&sim, "rollback", "x2", &[]);
    txn(&sim, "begin", "x3", &[("idle_transaction_timeout", "1")]);
    sim.put(
        &sim.be,
        "/api/transaction/load",
        &[("label", "x3"), ("db", "d"), ("table", "t")],
        b"4\td\t4\n",
        true,
    );
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let l = loads(&sim);
    assert_eq!(l.len(), 4);
    assert_eq!(l[2]["status"], "ABORTED");
    assert_eq!(l[3]["status"], "ABORTED", "idle timeout: {}", l[3]);
    assert!(l[3]["finished_ms"].is_u64());
}
