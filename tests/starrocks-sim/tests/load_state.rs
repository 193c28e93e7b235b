//! `get_load_state`: forced states, the follower → leader 307, and the BE's 404 for it.
mod common;
use common::{Sim, basic};
use serde_json::json;

fn setup() -> Sim {
    let sim = Sim::start();
    sim.simple_table("d");
    sim
}

fn state_on(sim: &Sim, host: &str, label: &str) -> String {
    sim.get(&format!("http://{host}/api/d/get_load_state?label={label}"))
        .json()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn load_state_fault_forces_the_answered_state_for_a_while() {
    let sim = setup();
    assert_eq!(
        sim.load("d", "t", &[("label", "s1")], b"1\ta\t1\n")["Status"],
        "Success"
    );
    assert_eq!(state_on(&sim, &sim.fe, "s1"), "VISIBLE");
    sim.fault(
        json!({"target": "fe", "op": "get_load_state", "label": "s1", "times": 2,
        "action": {"kind": "load_state", "state": "PREPARE"}}),
    );
    assert_eq!(state_on(&sim, &sim.fe, "s1"), "PREPARE");
    assert_eq!(state_on(&sim, &sim.fe, "s1"), "PREPARE");
    assert_eq!(
        state_on(&sim, &sim.fe, "s1"),
        "VISIBLE",
        "times: 2 then real"
    );
    for st in ["UNKNOWN", "PREPARED", "COMMITTED", "VISIBLE", "ABORTED"] {
        sim.fault(
            json!({"op": "get_load_state", "label": "nosuch", "times": 1,
            "action": {"kind": "load_state", "state": st}}),
        );
        assert_eq!(state_on(&sim, &sim.fe, "nosuch"), st);
    }
    assert_eq!(state_on(&sim, &sim.fe, "nosuch"), "UNKNOWN");
    // Only the documented states are accepted.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(format!("http://{}/faults", sim.control))
        .send(
            json!({"action": {"kind": "load_state", "state": "RUNNING"}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn get_load_state_is_redirected_like_a_follower_fe_does() {
    let sim = setup();
    sim.load("d", "t", &[("label", "r1")], b"1\ta\t1\n");
    // A bare location gets the request's path and query.
    sim.fault(json!({"target": "fe", "op": "get_load_state", "times": 1,
        "action": {"kind": "redirect_to", "location": "http://127.0.0.1:1"}}));
    let head = format!(
        "GET /api/d/get_load_state?label=r1 HTTP/1.1\r\nHost: fe\r\nAuthorization: {}\r\n\r\n",
        basic("root", "")
    );
    let out = sim.raw(&sim.fe, &head, None);
    assert!(out.starts_with("HTTP/1.1 307"), "{out}");
    assert!(
        out.contains("Location: http://127.0.0.1:1/api/d/get_load_state?label=r1\r\n"),
        "{out}"
    );
    assert!(out.contains("Connection: close"), "{out}");
    // A location with a path is used verbatim: point it at the "leader" (the same FE).
    let leader = format!("http://{}/api/d/get_load_state?label=r1", sim.fe);
    sim.fault(json!({"target": "fe", "op": "get_load_state", "times": 1,
        "action": {"kind": "redirect_to", "location": leader}}));
    let r = sim.get(&format!("http://{}/api/d/get_load_state?label=r1", sim.fe));
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(leader.as_str()));
    let r = sim.get(&leader);
    assert_eq!(r.json()["state"], "VISIBLE");
    // A redirect loop points back at the FE itself.
    sim.fault(json!({"target": "fe", "op": "get_load_state", "times": 3,
        "action": {"kind": "redirect_loop"}}));
    for _ in 0..3 {
        let r = sim.get(&format!("http://{}/api/d/get_load_state?label=r1", sim.fe));
        assert_eq!(r.status, 307);
        assert_eq!(
            r.header("location").unwrap(),
            format!("http://{}/api/d/get_load_state?label=r1", sim.fe)
        );
    }
    assert_eq!(state_on(&sim, &sim.fe, "r1"), "VISIBLE");
    // Stream Load redirects are unaffected by get_load_state rules.
    sim.fault(json!({"target": "fe", "op": "get_load_state",
        "action": {"kind": "redirect_loop"}}));
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], b"", true);
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://{}/api/d/t/_stream_load", sim.be)
    );
}

#[test]
fn a_be_answers_get_load_state_with_libevents_404() {
    let sim = setup();
    sim.load("d", "t", &[("label", "b1")], b"1\ta\t1\n");
    let r = sim.get(&format!("http://{}/api/d/get_load_state?label=b1", sim.be));
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type").unwrap().starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.body,
        "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
    );
    let head = "GET /api/d/get_load_state?label=b1 HTTP/1.1\r\nHost: be\r\n\r\n";
    let out = sim.raw(&sim.be, head, None);
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("Connection: close"), "{out}");
}
