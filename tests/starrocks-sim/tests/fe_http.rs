//! §9.1 FE HTTP checklist.
mod common;
use common::{Sim, basic};

#[test]
fn fe_redirects_to_be_with_same_path_and_query_without_reading_body() {
    let sim = Sim::start();
    let head = format!(
        "PUT /api/d/t/_stream_load?x=1 HTTP/1.1\r\nHost: fe\r\nAuthorization: {}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nlabel: r1\r\n\r\n",
        basic("root", "")
    );
    let out = sim.raw(&sim.fe, &head, None);
    assert!(out.starts_with("HTTP/1.1 307"), "{out}");
    assert!(
        !out.contains("100 Continue"),
        "FE never sends 100 Continue: {out}"
    );
    assert!(
        out.contains(&format!(
            "Location: http://{}/api/d/t/_stream_load?x=1\r\n",
            sim.be
        )),
        "{out}"
    );
    assert!(out.contains("Connection: close"), "{out}");
    // Table existence is not checked by the FE.
    let r = sim.put(
        &sim.fe,
        "/api/d/nosuch/_stream_load",
        &[("label", "r2")],
        b"1\n",
        true,
    );
    assert_eq!(r.status, 307);
}

#[test]
fn fe_auth_failures_are_401_with_lowercase_body() {
    let sim = Sim::start();
    for auth in [None, Some(basic("root", "wrong")), Some(basic("bob", ""))] {
        let mut head = "PUT /api/d/t/_stream_load HTTP/1.1\r\nHost: fe\r\nExpect: 100-continue\r\n"
            .to_string();
        if let Some(a) = &auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("Content-Length: 0\r\n\r\n");
        let out = sim.raw(&sim.fe, &head, None);
        assert!(out.starts_with("HTTP/1.1 401"), "{out}");
        assert!(out.contains("WWW-Authenticate: Basic realm=\"\""), "{out}");
        let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], "FAILED");
        assert_eq!(v["code"], "1");
        assert!(v["msg"].as_str().unwrap().contains("Access denied"), "{v}");
        assert!(v["message"].as_str().unwrap().contains("Access denied"));
    }
}

#[test]
fn fe_without_expect_header_and_other_fe_failures() {
    let sim = Sim::start();
    let head = format!(
        "PUT /api/d/t/_stream_load HTTP/1.1\r\nHost: fe\r\nAuthorization: {}\r\nContent-Length: 0\r\n\r\n",
        basic("root", "")
    );
    let out = sim.raw(&sim.fe, &head, None);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#"{"Message":"class com.starrocks.common.DdlException: There is no 100-continue header","Status":"FAILED"}"#)
        || out.contains(r#""Status":"FAILED""#) && out.contains("There is no 100-continue header"), "{out}");
    // HTTP/1.0 skips the check.
    let head10 = head.replace("HTTP/1.1", "HTTP/1.0");
    assert!(sim.raw(&sim.fe, &head10, None).starts_with("HTTP/1.1 307"));
    let cases = [
        ("POST", "/api/d/t/_stream_load", "Not implemented"),
        ("PUT", "/api/d//_stream_load", "No table selected."),
        ("PUT", "/api//t/_stream_load", "No database selected."),
    ];
    for (method, path, msg) in cases {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: fe\r\nAuthorization: {}\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
            basic("root", "")
        );
        let out = sim.raw(&sim.fe, &head, None);
        assert!(
            out.starts_with("HTTP/1.1 200") && out.contains("\"FAILED\"") && out.contains(msg),
            "{method} {path}: {out}"
        );
    }
    sim.config(serde_json::json!({"be_alive": [false]}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], b"", true);
    assert_eq!(
        r.json(),
        serde_json::json!({"Status": "FAILED", "Message": "No backend alive."})
    );
    assert_eq!(sim.get(&format!("http://{}/nope", sim.fe)).status, 404);
}

#[test]
fn get_load_state_and_cancel() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.load("d", "t", &[("label", "done")], b"1\ta\t1\n");
    let state = |label: &str| {
        sim.get(&format!(
            "http://{}/api/d/get_load_state?label={label}",
            sim.fe
        ))
        .json()
    };
    let v = state("done");
    assert_eq!(v["state"], "VISIBLE");
    assert_eq!(v["status"], "OK");
    assert_eq!(state("never")["state"], "UNKNOWN");
    sim.load("d", "t", &[("label", "failed")], b"bad\n");
    assert_eq!(state("failed")["state"], "ABORTED");
    // A 2PC txn in PREPARE can be cancelled through _cancel.
    let r = sim.post_txn(
        &sim.be,
        "begin",
        &[("label", "c1"), ("db", "d"), ("table", "t")],
    );
    assert_eq!(r.json()["Status"], "OK");
    assert_eq!(state("c1")["state"], "PREPARE");
    let c = sim.agent_post(&format!("http://{}/api/d/t/_cancel?label=c1", sim.fe));
    assert_eq!(c["status"], "OK", "{c}");
    assert_eq!(state("c1")["state"], "ABORTED");
}
