//! Operating a running job, end to end: the admin endpoint (`/metrics`, `/healthz`, `/status`,
//! `/reload`), alerts to a webhook, reloading the subscription, and logs while a broker is down.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starpipe_perf::workload::Format;
use support::e2e::*;

/// A free loopback address for the admin endpoint.
fn admin_addr() -> String {
    let [port] = starrocks_sim::launch::free_ports::<1>().unwrap();
    format!("127.0.0.1:{port}")
}

/// Appends `text` to the job file (sections after `[target]`).
fn append(job: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(job).unwrap();
    writeln!(f, "\n{text}").unwrap();
}

fn http(method: &str, url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = match method {
        "POST" => agent.post(url).send_empty(),
        _ => agent.get(url).call(),
    };
    match resp {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// Waits until `GET url` answers at all.
fn wait_http(url: &str) {
    let start = Instant::now();
    while http("GET", url).0 == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{url} never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every partition of the world's topic is committed to its end.
fn wait_committed(w: &World, limit: Duration) {
    let ends = w.end_offsets();
    let start = Instant::now();
    while w
        .committed()
        .iter()
        .zip(&ends)
        .any(|(c, e)| *e > 0 && *c != Some(*e))
    {
        assert!(
            start.elapsed() < limit,
            "not committed: {:?} of {ends:?}",
            w.committed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `name{labels} value` samples of `text` (Prometheus text format).
fn samples(text: &str) -> Vec<prometheus_parse::Sample> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap().samples
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

/// Sums the samples of `name` whose `table` label is in `db`.
fn sum_for_db(
    samples: &[prometheus_parse::Sample],
    name: &str,
    db: &str,
    extra: Option<(&str, &str)>,
) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| {
            s.labels
                .get("table")
                .is_some_and(|t| t.starts_with(&format!("{db}.")))
        })
        .filter(|s| extra.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(value)
        .sum()
}

#[test]
fn metrics_status_and_health_describe_the_run() {
    let w = world("metrics", 2);
    let (_, expected) = w.seed(Format::Canal, 600, 61);
    let admin = admin_addr();
    let job = w.job(Format::Canal, "", "");
    append(&job, &format!("[admin]\nlisten = \"{admin}\""));
    let child = w.spawn(&job, "run", false);
    wait_http(&format!("http://{admin}/healthz"));
    wait_committed(&w, Duration::from_secs(120));
    w.assert_state(&expected);
    // The lag reaches the metrics with librdkafka's next statistics.
    std::thread::sleep(Duration::from_secs(6));
    let (status, metrics) = http("GET", &format!("http://{admin}/metrics"));
    assert_eq!(status, 200, "{metrics}");
    let s = samples(&metrics);
    for name in [
        "starpipe_rows_loaded_total",
        "starpipe_loads_total",
        "starpipe_load_duration_seconds",
        "starpipe_load_bytes_total",
        "starpipe_partition_lag",
        "starpipe_committed_offset",
        "starpipe_memory_used_bytes",
        "starpipe_memory_limit_bytes",
        "starpipe_freshness_seconds",
        "starpipe_up",
    ] {
        assert!(
            s.iter().any(|x| x.metric == name),
            "{name} missing:\n{metrics}"
        );
    }
    let counters = sim_counters();
    let sim_tables = counters["tables"].as_object().unwrap();
    let sim_sum = |field: &str| -> f64 {
        sim_tables
            .iter()
            .filter(|(t, _)| t.starts_with(&format!("{}.", w.db)))
            .map(|(_, c)| c[field].as_f64().unwrap_or(0.0))
            .sum()
    };
    assert_eq!(
        sum_for_db(&s, "starpipe_rows_loaded_total", &w.db, None),
        sim_sum("rows_loaded"),
        "rows loaded: starpipe and the sim agree"
    );
    assert_eq!(
        sum_for_db(
            &s,
            "starpipe_loads_total",
            &w.db,
            Some(("result", "success"))
        ),
        sim_sum("loads"),
        "loads: starpipe and the sim agree"
    );
    let committed: Vec<f64> = s
        .iter()
        .filter(|x| {
            x.metric == "starpipe_committed_offset"
                && x.labels.get("topic") == Some(w.topic.as_str())
        })
        .map(value)
        .collect();
    let mut want: Vec<f64> = w.committed().iter().flatten().map(|c| *c as f64).collect();
    let mut got = committed.clone();
    got.sort_by(f64::total_cmp);
    want.sort_by(f64::total_cmp);
    assert_eq!(got, want);
    let lag: f64 = s
        .iter()
        .filter(|x| {
            x.metric == "starpipe_partition_lag" && x.labels.get("topic") == Some(w.topic.as_str())
        })
        .map(value)
        .sum();
    assert_eq!(lag, 0.0, "everything is loaded and committed");
    assert_eq!(http("GET", &format!("http://{admin}/healthz")).0, 200);
    let (status, body) = http("GET", &format!("http://{admin}/status"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["assignment"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["tables"].as_object().unwrap().len() >= 3, "{v}");
    assert_eq!(
        v["config"]["target"]["password"], "***",
        "secrets masked: {v}"
    );
    signal(&child, libc::SIGTERM);
    let out = wait_bounded(child, Duration::from_secs(60)).expect("stops");
    assert!(out.status.success(), "{}", w.log_text("run"));
}

/// A webhook receiver: keeps every JSON body POSTed to it.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(Ok(v)) = read_post(&stream).map(|b| serde_json::from_slice(&b)) {
                    seen.lock().unwrap().push(v);
                }
                let _ = (&stream).write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Webhook { url, bodies }
    }

    fn events(&self) -> Vec<(String, String)> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["event"].as_str().unwrap_or("").to_string(),
                    v["subject"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn wait_for(&self, event: &str, limit: Duration) {
        let start = Instant::now();
        while !self.events().iter().any(|(e, _)| e == event) {
            assert!(
                start.elapsed() < limit,
                "no `{event}` alert: {:?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn read_post(stream: &std::net::TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    let mut line = String::new();
    while reader.read_line(&mut line).ok()? > 2 {
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        line.clear();
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// StarRocks refuses loads for longer than `stallAlertSec`: `/healthz` answers 503 and the
/// `stall` alert reaches the webhook; when loads succeed again, `/healthz` is 200.
#[test]
fn a_stall_turns_healthz_503_and_raises_an_alert() {
    let w = world("stall", 1);
    let workload = w.workload(Format::Canal, 200, 67);
    let (messages, _, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    let (first, second) = messages.split_at(100);
    w.produce(first);
    let hook = Webhook::start();
    let admin = admin_addr();
    let job = w.job(Format::Canal, "stallAlertSec = 3", "");
    append(
        &job,
        &format!(
            "[admin]\nlisten = \"{admin}\"\n\n[[alerts]]\nurl = \"{}\"",
            hook.url
        ),
    );
    let child = w.spawn(&job, "run", false);
    wait_committed(&w, Duration::from_secs(60));
    let refuse = add_fault(serde_json::json!({
        "target": "fe", "db": w.db, "op": "stream_load",
        "action": {"kind": "http_error", "status": 503}
    }));
    w.produce(second);
    let start = Instant::now();
    loop {
        let (status, body) = http("GET", &format!("http://{admin}/healthz"));
        if status == 503 {
            assert!(body.contains("stalled"), "{body}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never unhealthy: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    hook.wait_for("stall", Duration::from_secs(30));
    remove_fault(refuse);
    wait_committed(&w, Duration::from_secs(120));
    let start = Instant::now();
    while http("GET", &format!("http://{admin}/healthz")).0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "still unhealthy");
        std::thread::sleep(Duration::from_millis(250));
    }
    signal(&child, libc::SIGTERM);
    let _ = wait_bounded(child, Duration::from_secs(60));
    hook.wait_for("stopped", Duration::from_secs(30));
}

/// Dead letters, a DDL and a failure reach the webhook; repeats of one event about one subject
/// within `alertInhibitSec` are sent once.
#[test]
fn alerts_reach_the_webhook_once_per_inhibition() {
    let w = world("alerts", 1);
    let dlq = support::unique_topic("alerts-dlq");
    support::create_topic(&dlq, 1);
    let (_, _) = w.seed(Format::Canal, 50, 71);
    let bad = support::TestRecord::new(b"{not json".to_vec()).partition(0);
    let ddl = support::TestRecord::new(format!(
        r#"{{"data":null,"database":"{}","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders ADD COLUMN alert_note varchar(10)","es":1,"ts":1}}"#,
        w.db
    ))
    .partition(0);
    support::produce_batch(&w.topic, &[bad.clone(), bad.clone(), bad, ddl]);
    let hook = Webhook::start();
    let job = w.job(
        Format::Canal,
        &format!("onError = \"deadLetter\"\ndeadLetterTopic = \"{dlq}\""),
        "",
    );
    append(&job, &format!("[[alerts]]\nurl = \"{}\"", hook.url));
    let out = w.run_to_end(&job, "dead-letters");
    assert!(out.status.success(), "{}", w.log_text("dead-letters"));
    hook.wait_for("stopped", Duration::from_secs(30));
    let events = hook.events();
    let dead: Vec<_> = events.iter().filter(|(e, _)| e == "deadLetter").collect();
    assert_eq!(
        dead.len(),
        1,
        "three dead letters of one topic, one alert: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(e, s)| e.starts_with("ddl") && s.ends_with(".orders")),
        "{events:?}"
    );

    // A failure: the same bad input with onError = fail.
    let w2 = world("alerts-fail", 1);
    support::produce_batch(
        &w2.topic,
        &[support::TestRecord::new(b"{not json".to_vec()).partition(0)],
    );
    let job = w2.job(Format::Canal, "", "");
    append(
        &job,
        &format!("[[alerts]]\nurl = \"{}\"\nevents = [\"failed\"]", hook.url),
    );
    let out = w2.run_to_end(&job, "fail");
    assert!(!out.status.success());
    hook.wait_for("failed", Duration::from_secs(30));
}

/// `SIGHUP` adds a topic, `POST /reload` removes one: each topic's rows are loaded and committed
/// exactly while it is subscribed; a reload that changes anything else is refused and the job
/// keeps running.
#[test]
fn reloads_change_the_subscription_while_running() {
    let w = world("reload", 1);
    let other = support::unique_topic("reload-b");
    support::create_topic(&other, 1);
    execute_sql(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT NOT NULL, v VARCHAR(20)) \
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let row = |id: i32, v: &str| {
        support::TestRecord::new(format!(
            r#"{{"data":[{{"id":"{id}","v":"{v}"}}],"old":null,"database":"{}","table":"t","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{{"id":"int","v":"varchar(20)"}},"es":1,"ts":1}}"#,
            w.db
        ))
        .partition(0)
    };
    support::produce_batch(&w.topic, &[row(1, "a")]);
    support::produce_batch(&other, &[row(2, "b")]);
    let admin = admin_addr();
    let job = w.job(Format::Canal, "", "");
    append(&job, &format!("[admin]\nlisten = \"{admin}\""));
    let child = w.spawn(&job, "run", false);
    wait_http(&format!("http://{admin}/healthz"));
    wait_for_ids(&w.db, &[1]);

    // SIGHUP with both topics: the second one's rows load.
    let text = std::fs::read_to_string(&job).unwrap();
    let both = text.replace(
        &format!("topics = [\"{}\"]", w.topic),
        &format!("topics = [\"{}\", \"{other}\"]", w.topic),
    );
    std::fs::write(&job, &both).unwrap();
    signal(&child, libc::SIGHUP);
    wait_for_ids(&w.db, &[1, 2]);

    // A refused reload (another key changed) leaves the job as it was.
    std::fs::write(
        &job,
        both.replace("asyncFlushIntervalSec = 1", "asyncFlushIntervalSec = 2"),
    )
    .unwrap();
    let (status, body) = http("POST", &format!("http://{admin}/reload"));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("target.asyncFlushIntervalSec"), "{body}");
    std::fs::write(&job, "not toml [[").unwrap();
    let (status, body) = http("POST", &format!("http://{admin}/reload"));
    assert_eq!(status, 409, "{body}");

    // POST /reload with only the second topic: the first is released, its new rows not loaded.
    let only_other = both.replace(&format!("\"{}\", ", w.topic), "");
    std::fs::write(&job, &only_other).unwrap();
    let (status, body) = http("POST", &format!("http://{admin}/reload"));
    assert_eq!(status, 200, "{body}");
    support::produce_batch(&w.topic, &[row(3, "c")]);
    support::produce_batch(&other, &[row(4, "d")]);
    wait_for_ids(&w.db, &[1, 2, 4]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ids(&w.db),
        [1, 2, 4],
        "the removed topic is not read any more"
    );
    assert_eq!(
        w.committed(),
        [Some(1)],
        "the removed topic was committed up to its last load"
    );
    signal(&child, libc::SIGTERM);
    let out = wait_bounded(child, Duration::from_secs(60)).expect("stops");
    assert!(out.status.success(), "{}", w.log_text("run"));
}

fn ids(db: &str) -> Vec<i32> {
    use mysql::prelude::Queryable;
    mysql_conn()
        .query(format!("SELECT id FROM {db}.t ORDER BY id"))
        .unwrap()
}

fn wait_for_ids(db: &str, want: &[i32]) {
    let start = Instant::now();
    while ids(db) != want {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?} != {want:?}",
            ids(db)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A broker that cannot be reached makes a few log lines, not a flood.
#[test]
fn an_unreachable_broker_does_not_flood_the_log() {
    let w = world("no-broker", 1);
    let job = w.job(Format::Canal, "", "");
    let text = std::fs::read_to_string(&job).unwrap();
    let dead = text.replace(&support::brokers(), "127.0.0.1:1");
    std::fs::write(&job, dead).unwrap();
    let child = w.spawn(&job, "run", false);
    let start = Instant::now();
    while !w.log_text("run").contains("starpipe started") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            w.log_text("run")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(12));
    signal(&child, libc::SIGTERM);
    let out = wait_bounded(child, Duration::from_secs(60));
    let log = std::fs::read_to_string(w.log("run")).unwrap();
    let lines = log.lines().count();
    eprintln!("{lines} lines in 12 s:\n{log}");
    assert!(lines <= 40, "{lines} lines in 12 s:\n{log}");
    assert!(
        log.contains("127.0.0.1:1"),
        "the line names the broker:\n{log}"
    );
    assert!(
        out.is_some(),
        "SIGTERM stops a job that never reached Kafka"
    );
}
