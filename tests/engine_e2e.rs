//! `starpipe run` end to end: a real Kafka broker, starrocks-sim, the real binary. Every test
//! compares the final StarRocks state with a model computed independently from the produced
//! messages (the workload generator in `perf/`), and checks the committed group offsets.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use starpipe_perf::workload::{Format, Message};
use support::e2e::*;

fn replicate(format: Format) {
    let w = world(&format!("replicate-{format:?}").to_lowercase(), 3);
    let workload = w.workload(format, 400, 7);
    let (messages, expected, stats) = starpipe_perf::workload::generate(&workload);
    assert!(stats.key_changes > 0 && stats.deleted_rows > 0 && stats.update_messages > 0);
    w.create_tables(&workload);
    w.produce(&messages);
    let job = w.job(format, "", "");
    let out = w.run_to_end(&job, "run");
    assert!(
        out.status.success(),
        "starpipe failed:\n{}",
        w.log_text("run")
    );
    w.assert_state(&expected);
    w.assert_all_committed();
}

#[test]
fn replicates_canal_exactly() {
    replicate(Format::Canal);
}

#[test]
fn replicates_cloudcanal_exactly() {
    replicate(Format::CloudCanal);
}

/// The example messages with zero dates, big numbers, unicode, binary and identifiers that need
/// quoting, into tables typed as starrocks.md §5.3 recommends.
#[test]
fn example_values_arrive_exactly() {
    let w = world("examples", 1);
    let db = &w.db;
    execute_sql(&format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.num_demo (id INT NOT NULL, c_tiny_u SMALLINT, c_int_u BIGINT, c_big_u LARGEINT,
           c_big BIGINT, c_dec VARCHAR(80), c_float FLOAT, c_double DOUBLE)
           PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1;
         CREATE TABLE {db}.time_demo (id INT NOT NULL, c_date DATE, c_time VARCHAR(16), c_year SMALLINT,
           c_dt DATETIME, c_dt6 DATETIME, c_ts DATETIME, c_ts3 DATETIME)
           PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1;
         CREATE TABLE {db}.users (id INT NOT NULL, name VARCHAR(256), bio VARCHAR(1048576), email VARCHAR(512))
           PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1"
    ));
    let examples = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/examples/canal.jsonl"),
    )
    .unwrap();
    let lines: Vec<&str> = examples.lines().collect();
    // Lines 12-20: users (NULL vs "", unicode, 70003 chars), numbers, zero dates, time zones.
    let messages: Vec<Message> = lines[11..20]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let mut v = v;
            v["database"] = serde_json::Value::String(db.clone());
            Message {
                seq: 0,
                table: "x",
                partition: 0,
                op: starpipe_perf::workload::Op::Insert,
                rows: 1,
                key_changes: 0,
                payload: v.to_string(),
            }
        })
        .collect();
    w.produce(&messages);
    let job = w.job(Format::Canal, "", "sourceTimezone = \"+08:00\"");
    let out = w.run_to_end(&job, "run");
    assert!(
        out.status.success(),
        "starpipe failed:\n{}",
        w.log_text("run")
    );
    let mut conn = mysql_conn();
    let num: Vec<(i32, Text, Text, Text)> = conn
        .query(format!(
            "SELECT id, c_big_u, c_big, c_dec FROM {db}.num_demo ORDER BY id"
        ))
        .unwrap();
    assert_eq!(
        num[0],
        (
            1,
            Some("18446744073709551615".into()),
            Some("9223372036854775807".into()),
            Some("99999999999999999999999999999999999.999999999999999999999999999999".into()),
        )
    );
    assert_eq!(num.len(), 4);
    let zero: Vec<(i32, Text, Text, Option<i32>)> = conn
        .query(format!(
            "SELECT id, c_date, c_dt, c_year FROM {db}.time_demo WHERE id IN (1, 2) ORDER BY id"
        ))
        .unwrap();
    assert_eq!(
        zero,
        vec![(1, None, None, Some(0)), (2, None, None, Some(1901))]
    );
    let users: Vec<(i32, Option<String>, Option<String>)> = conn
        .query(format!(
            "SELECT id, name, email FROM {db}.users ORDER BY id"
        ))
        .unwrap();
    assert_eq!(users[0], (7, Some("Ann".into()), None));
    assert_eq!(users[1].1.as_deref(), Some("张三 😀 Ünïcödé"));
    let long: Option<String> = conn
        .query_first(format!("SELECT bio FROM {db}.users WHERE id = 9"))
        .unwrap();
    assert_eq!(long.unwrap().len(), 70003);
}

/// Stopped with SIGTERM mid-run, then killed with SIGKILL mid-run, then run to the end: the
/// final state equals the model; nothing is lost, replays converge.
#[test]
fn restart_after_sigterm_and_kill9_loses_nothing() {
    let w = world("restart", 2);
    let workload = w.workload(Format::Canal, 1500, 11);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    // The second half is produced before the killed run, so that run always has rows to load.
    let (first, second) = messages.split_at(messages.len() / 2);
    w.produce(first);
    // Slow loads so the stops land mid-run.
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 150, "phase": "before_commit"}
    }));
    let job = w.job(Format::Canal, "", "flushBatchMb = 1");

    let child = w.spawn(&job, "sigterm", false);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    signal(&child, libc::SIGTERM);
    let out = wait_bounded(child, Duration::from_secs(120)).expect("graceful stop");
    assert!(
        out.status.success(),
        "SIGTERM must exit 0:\n{}",
        w.log_text("sigterm")
    );
    let after_term = w.committed();
    assert!(
        after_term.iter().any(|c| c.is_some()),
        "graceful stop commits"
    );

    w.produce(second);
    let child = w.spawn(&job, "sigkill", false);
    let before = rows_loaded(&w.db);
    wait_for_rows(&w.db, before + 1, Duration::from_secs(60));
    signal(&child, libc::SIGKILL);
    let _ = wait_bounded(child, Duration::from_secs(10));

    remove_fault(slow);
    let out = w.run_to_end(&job, "final");
    assert!(
        out.status.success(),
        "final run failed:\n{}",
        w.log_text("final")
    );
    w.assert_state(&expected);
    w.assert_all_committed();
}

/// Every load is slow and the budget is small: the process stays within the budget plus a
/// fixed margin while a backlog many times the budget goes through, and nothing is lost.
#[test]
fn backpressure_keeps_memory_bounded() {
    let w = world("backpressure", 2);
    let mut workload = w.workload(Format::CloudCanal, 6000, 5);
    workload.min_rows = 20;
    workload.max_rows = 50;
    let (messages, expected, stats) = starpipe_perf::workload::generate(&workload);
    assert!(
        stats.bytes > 40 << 20,
        "backlog must dwarf the budget: {} bytes",
        stats.bytes
    );
    w.create_tables(&workload);
    w.produce(&messages);
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 200, "phase": "before_commit"}
    }));
    let job = w.job(
        Format::CloudCanal,
        "",
        "totalDataInMemMb = 8\nflushBatchMb = 2\n[source.kafka]\n\"queued.max.messages.kbytes\" = \"2048\"\n\"max.partition.fetch.bytes\" = \"524288\"\n\"fetch.max.bytes\" = \"1048576\"",
    );
    let child = w.spawn(&job, "run", true);
    let pid = child.id();
    let mut peak_kb = 0u64;
    let start = Instant::now();
    let mut child = child;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(line) = s.lines().find(|l| l.starts_with("VmRSS:"))
        {
            let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            peak_kb = peak_kb.max(kb);
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "run did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    remove_fault(slow);
    assert!(status.success(), "starpipe failed:\n{}", w.log_text("run"));
    w.assert_state(&expected);
    w.assert_all_committed();
    // Budget 8 MiB + 2 partitions × (2 MiB queue + 0.5 MiB fetch) + a fixed margin for the
    // binary, librdkafka and allocator slack. An unbounded engine would hold the backlog.
    let limit_kb = (8 + 5 + 60) * 1024;
    eprintln!(
        "peak RSS {peak_kb} KiB, limit {limit_kb} KiB, backlog {} MiB",
        stats.bytes >> 20
    );
    assert!(
        peak_kb < limit_kb,
        "peak RSS {peak_kb} KiB over {limit_kb} KiB (backlog {} MiB)",
        stats.bytes >> 20
    );
}

/// Runs a workload through `faults` (scoped to the world's database) and checks the result is
/// exactly the model with every offset committed.
fn converges_through(name: &str, faults: &[serde_json::Value]) {
    converges_through_scoped(name, faults, None)
}

/// [`converges_through`] with the faults that name no table scoped to `table`.
fn converges_through_scoped(name: &str, faults: &[serde_json::Value], table: Option<&str>) {
    let w = world(name, 2);
    let (_, expected) = w.seed(Format::Canal, 1500, 3);
    let ids: Vec<u64> = faults
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f["db"] = serde_json::Value::String(w.db.clone());
            if let (Some(t), None) = (table, f.get("table")) {
                f["table"] = serde_json::Value::String(t.to_string());
            }
            add_fault(f)
        })
        .collect();
    let job = w.job(Format::Canal, "", "flushBatchMb = 1");
    let out = w.run_to_end(&job, "run");
    let fired = fired_counts();
    for id in &ids {
        remove_fault(*id);
    }
    assert!(
        out.status.success(),
        "{name}: starpipe failed:\n{}",
        w.log_text("run")
    );
    for (rule, id) in faults.iter().zip(&ids) {
        // A rule limited to one firing must have fired: otherwise the test proved nothing.
        if rule.get("times").is_some() || rule.get("nth").is_some() {
            assert_eq!(fired.get(id), Some(&1), "{name}: fault {rule} never fired");
        }
    }
    w.assert_state(&expected);
    w.assert_all_committed();
}

/// A fault that fires once, on the first request that reaches its point after the faults
/// listed before it have fired (the sim fires at most one rule per point of a request): the
/// faults play out one after the other whatever the timing, each followed by the engine's retry.
fn fault(target: &str, action: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"target": target, "op": "stream_load", "times": 1, "action": action})
}

/// starrocks.md §9.4 #1–#5: latency, 5xx, connection resets at every phase, bad redirects.
#[test]
fn converges_through_transport_faults() {
    use serde_json::json;
    converges_through(
        "faults-transport",
        &[
            fault(
                "be",
                json!({"kind": "latency", "ms": 3500, "phase": "before_continue"}),
            ),
            fault(
                "be",
                json!({"kind": "http_error", "status": 503, "body": "<html>busy</html>"}),
            ),
            fault("fe", json!({"kind": "http_error", "status": 500})),
            fault("be", json!({"kind": "reset", "phase": "before_continue"})),
            fault("be", json!({"kind": "reset", "phase": "mid_body"})),
            fault("be", json!({"kind": "reset", "phase": "after_commit"})),
            fault("be", json!({"kind": "reset", "phase": "after_abort"})),
            fault(
                "fe",
                json!({"kind": "redirect_to", "location": "http://127.0.0.1:1/api/x/y/_stream_load"}),
            ),
            fault("fe", json!({"kind": "redirect_loop"})),
            fault("be", json!({"kind": "latency", "ms": 500, "phase": "body"})),
        ],
    );
}

/// A fault on the `nth` load request of `table` (1-based; a retry is a request too).
fn on_nth_load_of(table: &str, nth: u64, action: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"target": "be", "op": "stream_load", "table": table, "nth": nth, "action": action})
}

/// starrocks.md §9.4 #6–#10, #16, #17, #19: StarRocks' own failure answers.
#[test]
fn converges_through_starrocks_answers() {
    use serde_json::json;
    converges_through_scoped(
        "faults-answers",
        &[
            // `Label Already Exists` for a running txn is an answer to a *retry* (the first
            // attempt's txn still runs): the first request of `orders` and of `order_items`
            // fails, their second (the retry) gets it. A label taken on a first attempt is a
            // foreign label, an error — see tests/no_loss.rs. The other faults stay on `sbtest`
            // so that they never answer those two requests instead.
            on_nth_load_of("orders", 1, json!({"kind": "http_error", "status": 503})),
            on_nth_load_of(
                "orders",
                2,
                json!({"kind": "label_exists", "existing_job_status": "RUNNING"}),
            ),
            on_nth_load_of(
                "order_items",
                1,
                json!({"kind": "http_error", "status": 503}),
            ),
            on_nth_load_of(
                "order_items",
                2,
                json!({"kind": "label_exists", "existing_job_status": "PREPARE", "new_style": true}),
            ),
            fault(
                "fe",
                json!({"kind": "fe_failed", "message": "No backend alive."}),
            ),
            fault(
                "be",
                json!({"kind": "publish_timeout", "visible_after_ms": 300}),
            ),
            fault("be", json!({"kind": "too_many_versions"})),
            fault("be", json!({"kind": "memory_limit"})),
            fault(
                "be",
                json!({"kind": "fail", "message": "[E1008]Reached timeout=7200000ms"}),
            ),
            fault(
                "be",
                json!({"kind": "fail", "message": "current running txns on db 10001 is 1000, larger than limit 1000"}),
            ),
            fault(
                "be",
                json!({"kind": "fail", "message": "Stream Load exceed http cuncurrent limit 100, please try again later"}),
            ),
            fault(
                "fe",
                json!({"kind": "fe_failed", "message": "current fe is not master"}),
            ),
            fault(
                "be",
                json!({"kind": "response_variant", "variant": "lowercase"}),
            ),
            fault(
                "be",
                json!({"kind": "response_variant", "variant": "truncated"}),
            ),
            fault(
                "be",
                json!({"kind": "response_variant", "variant": "invalid_json"}),
            ),
            fault(
                "be",
                json!({"kind": "response_variant", "variant": "put_time"}),
            ),
            json!({"target": "be", "op": "stream_load", "action": {"kind": "drop_reupsert_after_delete"}}),
        ],
        Some("sbtest"),
    );
}

/// Truncated JSON: `Malformed`.
const BAD_RECORD: &[u8] = b"{\"type\":\"INSERT\",\"data\":[{\"id\":\"1\"}";

/// Produces the workload with one bad record spliced into partition 0; returns its offset.
fn with_bad_record(w: &World, messages: &[Message]) -> i64 {
    let (first, rest) = messages.split_at(messages.len() / 2);
    w.produce(first);
    let bad = support::produce(&w.topic, Some(0), None, BAD_RECORD, None);
    w.produce(rest);
    bad.offset
}

/// `onError = fail`: the run stops with the position and class of the bad message, and the
/// committed offset of its partition never passes it (invariants 1 and 4).
#[test]
fn bad_message_with_fail_stops_before_it() {
    let w = world("bad-fail", 2);
    let workload = w.workload(Format::Canal, 200, 9);
    let (messages, _, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    let bad = with_bad_record(&w, &messages);
    let job = w.job(Format::Canal, "onError = \"fail\"", "");
    let out = w.run_to_end(&job, "run");
    assert!(!out.status.success(), "a bad message must fail the run");
    let log = w.log_text("run");
    assert!(
        log.contains(&format!("{}[0]@{bad}: Malformed", w.topic)),
        "error must name topic, partition, offset and class:\n{log}"
    );
    let committed = w.committed();
    assert!(
        committed[0].is_none_or(|c| c <= bad),
        "partition 0 committed past the bad message: {committed:?} > {bad}"
    );
}

/// `onError = deadLetter`: the bad record goes to the dead-letter topic with its headers, the
/// run goes on and ends with everything loaded and committed.
#[test]
fn bad_message_with_dead_letter_continues() {
    let w = world("bad-dlq", 2);
    let dlq = support::unique_topic("dlq");
    support::create_topic(&dlq, 1);
    let workload = w.workload(Format::Canal, 200, 9);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    let bad = with_bad_record(&w, &messages);
    let job = w.job(
        Format::Canal,
        &format!("onError = \"deadLetter\"\ndeadLetterTopic = \"{dlq}\""),
        "",
    );
    let out = w.run_to_end(&job, "run");
    assert!(
        out.status.success(),
        "starpipe failed:\n{}",
        w.log_text("run")
    );
    w.assert_state(&expected);
    w.assert_all_committed();
    let consumer: BaseConsumer = support::consumer_config(&support::unique_group("dlq-read"))
        .create()
        .unwrap();
    consumer.subscribe(&[&dlq]).unwrap();
    let start = Instant::now();
    let (value, headers) = loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no dead letter");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            use rdkafka::Message as _;
            use rdkafka::message::Headers as _;
            let headers: Vec<(String, String)> = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            let v = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                            (h.key.to_string(), v.unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default();
            break (m.payload().map(<[u8]>::to_vec), headers);
        }
    };
    drop(consumer);
    assert_eq!(value.as_deref(), Some(BAD_RECORD));
    let header = |k: &str| {
        headers
            .iter()
            .find(|(hk, _)| hk == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("starpipe.error.class").as_deref(), Some("Malformed"));
    assert_eq!(
        header("starpipe.source.topic").as_deref(),
        Some(w.topic.as_str())
    );
    assert_eq!(header("starpipe.source.partition").as_deref(), Some("0"));
    assert_eq!(header("starpipe.source.offset"), Some(bad.to_string()));
    assert!(header("starpipe.error.message").is_some_and(|m| !m.is_empty()));
}

/// A second instance joins the group mid-run and leaves again; partitions move both ways and
/// the final state is exact.
#[test]
fn rebalance_join_and_leave() {
    let w = world("rebalance", 4);
    let mut workload = w.workload(Format::CloudCanal, 2000, 13);
    // Spread every table over all partitions so both instances have work; key partitioning
    // generates no key-changing updates (formats.md §4.5), the other tests cover those.
    workload.partitioning = starpipe_perf::workload::Partitioning::Key;
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    // Half the stream before B joins, half after: B then has rows of its own to load, however
    // fast A is.
    let (first, second) = messages.split_at(messages.len() / 2);
    w.produce(first);
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 100, "phase": "before_commit"}
    }));
    let job = w.job(Format::CloudCanal, "", "flushBatchMb = 1");
    let a = w.spawn(&job, "a", false);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    let b = w.spawn(&job, "b", false);
    let start = Instant::now();
    while !w.log_text("b").contains("partition assigned") {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "b never got partitions"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    w.produce(second);
    assert!(
        w.end_offsets().iter().all(|e| *e > 0),
        "every partition has rows"
    );
    let start = Instant::now();
    // B must load rows of its own before it leaves.
    while !w.log_text("b").contains(" loaded ") {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "b never loaded rows:\n{}",
            w.log_text("b")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&b, libc::SIGTERM);
    let out_b = wait_bounded(b, Duration::from_secs(120)).expect("b stops");
    assert!(out_b.status.success(), "b:\n{}", w.log_text("b"));
    remove_fault(slow);
    // A takes everything back and finishes the backlog.
    let ends = w.end_offsets();
    let start = Instant::now();
    loop {
        let committed = w.committed();
        if ends
            .iter()
            .zip(&committed)
            .all(|(e, c)| *e == 0 || *c == Some(*e))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "a did not finish: {committed:?} of {ends:?}\n{}",
            w.log_text("a")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&a, libc::SIGTERM);
    let out_a = wait_bounded(a, Duration::from_secs(120)).expect("a stops");
    assert!(out_a.status.success(), "a:\n{}", w.log_text("a"));
    w.assert_state(&expected);
}
