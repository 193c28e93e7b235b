//! `POST /outage`: listeners refuse connections and drop open ones for a while, then come back
//! on the same address.
mod common;
use common::Sim;
use mysql::prelude::Queryable;
use serde_json::json;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let a: SocketAddr = addr.parse().unwrap();
    TcpStream::connect_timeout(&a, Duration::from_secs(2))
}

fn assert_refused(addr: &str) {
    match connect(addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{addr}: {e}"),
        Ok(_) => panic!("{addr} still accepts connections"),
    }
}

/// Reads until EOF or error; an open connection must be closed by the outage, not hang.
fn assert_closed(mut s: TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) => assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "connection was left open: {e}"
        ),
    }
}

fn wait_until_up(sim: &Sim) -> Duration {
    let started = Instant::now();
    while sim.control_get("/outage")["active"] == true {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "outage never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn fe_and_be_refuse_connections_then_come_back() {
    let sim = Sim::start();
    sim.simple_table("d");
    let idle_fe = connect(&sim.fe).unwrap();
    let idle_be = connect(&sim.be).unwrap();
    let mut conn = sim.mysql();

    let started = Instant::now();
    let st = sim.control_post("/outage", json!({"ports": ["fe", "be"], "ms": 700}));
    assert_eq!(st["active"], true);
    assert_eq!(st["ports"], json!(["fe", "be"]));
    assert_refused(&sim.fe);
    assert_refused(&sim.be);
    assert_closed(idle_fe);
    assert_closed(idle_be);
    // The query port and the control API are untouched.
    let one: i64 = conn.query_first("SELECT 1").unwrap().unwrap();
    assert_eq!(one, 1);
    let st = sim.control_get("/outage");
    assert!(st["remaining_ms"].as_u64().unwrap() <= 700);

    wait_until_up(&sim);
    assert!(started.elapsed() >= Duration::from_millis(650));
    let r = sim.load("d", "t", &[("label", "after")], b"1\ta\t1\n");
    assert_eq!(r["Status"], "Success", "{r}");
    let r = sim.put(&sim.fe, "/api/d/t/_stream_load", &[], b"", true);
    assert_eq!(r.status, 307);
}

#[test]
fn default_outage_takes_all_three_ports_including_open_mysql_sessions() {
    let sim = Sim::start();
    let mut conn = sim.mysql();
    let st = sim.control_post("/outage", json!({"ms": 600}));
    assert_eq!(st["ports"], json!(["fe", "be", "query"]));
    assert_refused(&format!("127.0.0.1:{}", sim.query_port));
    assert_refused(&sim.fe);
    assert_refused(&sim.be);
    assert!(
        conn.query_drop("SELECT 1").is_err(),
        "open MySQL sessions are closed"
    );
    wait_until_up(&sim);
    let mut conn = sim.mysql();
    conn.query_drop("SELECT 1").unwrap();
}

#[test]
fn outage_can_end_early_and_bad_requests_are_refused() {
    let sim = Sim::start();
    sim.control_post("/outage", json!({"ports": ["query"], "ms": 60000}));
    assert_eq!(sim.control_get("/outage")["active"], true);
    sim.delete("/outage");
    let took = wait_until_up(&sim);
    assert!(took < Duration::from_secs(5));
    sim.mysql().query_drop("SELECT 1").unwrap();
    // Two outages in a row on the same port: the second rebinding works too.
    sim.control_post("/outage", json!({"ports": ["query"], "ms": 100}));
    wait_until_up(&sim);
    sim.mysql().query_drop("SELECT 1").unwrap();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for body in [
        json!({"ports": ["control"], "ms": 10}),
        json!({"ports": ["fe"]}),
        json!({"ms": 10, "extra": 1}),
    ] {
        let r = agent
            .post(format!("http://{}/outage", sim.control))
            .send(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
    }
    assert_eq!(sim.control_get("/outage")["active"], false);
}
