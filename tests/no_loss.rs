//! Paths by which a row could be lost, left stale, or a job left hanging — each closed, each
//! tested end to end with the real broker, starrocks-sim and the real binary (issue "close every
//! path by which a row can be lost").

mod support;

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use starpipe_perf::workload::Format;
use support::e2e::*;

/// `n` copies of the sysbench table, named `sbtest_0`, `sbtest_1`, …
fn sbtests(n: usize) -> Vec<starpipe_perf::schema::Table> {
    (0..n)
        .map(|i| {
            let mut t = starpipe_perf::schema::sbtest();
            t.name = Box::leak(format!("sbtest_{i}").into_boxed_str());
            t
        })
        .collect()
}

/// A canal row message for `db.t`, with `pkNames` as given (`None` = field absent).
fn canal(db: &str, t: &str, kind: &str, data: &str, old: &str, pk_names: Option<&str>) -> Vec<u8> {
    let pk = pk_names.map_or(String::new(), |p| format!(r#""pkNames":{p},"#));
    format!(
        r#"{{"data":{data},"old":{old},"database":"{db}","table":"{t}","isDdl":false,"type":"{kind}",{pk}"mysqlType":{{"id":"int","dt":"date","v":"varchar(20)"}},"es":1,"ts":1}}"#
    )
    .into_bytes()
}

fn rows(db: &str, table: &str) -> Vec<(i32, String, Option<String>)> {
    mysql_conn()
        .query(format!(
            "SELECT id, dt, v FROM {db}.{table} ORDER BY id, dt"
        ))
        .unwrap()
}

/// formats.md §4.2: a key change is detected with the *target's* PRIMARY KEY, not the
/// message's `pkNames`: target key (id, dt), `pkNames` [id] or absent; an UPDATE changing `dt`
/// deletes the old row.
#[test]
fn key_changes_follow_the_target_primary_key() {
    let w = world("target-key", 1);
    let ddl = |t: &str| {
        format!(
            "CREATE TABLE {db}.{t} (id INT NOT NULL, dt DATE NOT NULL, v VARCHAR(20)) \
             PRIMARY KEY (id, dt) DISTRIBUTED BY HASH(id) BUCKETS 1",
            db = w.db
        )
    };
    execute_sql(&format!(
        "CREATE DATABASE {db}; {}; {}",
        ddl("hinted"),
        ddl("unhinted"),
        db = w.db
    ));
    for (t, pk) in [("hinted", Some(r#"["id"]"#)), ("unhinted", None)] {
        let insert = canal(
            &w.db,
            t,
            "INSERT",
            r#"[{"id":"1","dt":"2024-01-01","v":"a"}]"#,
            "null",
            pk,
        );
        let update = canal(
            &w.db,
            t,
            "UPDATE",
            r#"[{"id":"1","dt":"2024-01-02","v":"a"}]"#,
            r#"[{"dt":"2024-01-01"}]"#,
            pk,
        );
        support::produce(&w.topic, Some(0), None, &insert, None);
        support::produce(&w.topic, Some(0), None, &update, None);
    }
    let job = w.job(Format::Canal, "", "");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    for t in ["hinted", "unhinted"] {
        assert_eq!(
            rows(&w.db, t),
            [(1, "2024-01-02".to_string(), Some("a".to_string()))],
            "{t}: the row under the old key must be gone"
        );
    }
}

/// Labels carry the run: a re-sync (truncate the target, reset the group, run again) reloads
/// every row instead of StarRocks answering `Label Already Exists` for the earlier loads.
#[test]
fn a_rerun_after_truncate_and_reset_loads_every_row_again() {
    let w = world("rerun", 2);
    let (workload, expected) = w.seed(Format::Canal, 300, 21);
    let job = w.job(Format::Canal, "", "");
    let out = w.run_to_end(&job, "first");
    assert!(out.status.success(), "{}", w.log_text("first"));
    w.assert_state(&expected);
    for t in &workload.tables {
        execute_sql(&format!("TRUNCATE TABLE {}.{}", w.db, t.name));
    }
    reset_group_to_earliest(&w);
    let out = w.run_to_end(&job, "second");
    assert!(out.status.success(), "{}", w.log_text("second"));
    w.assert_state(&expected);
}

/// `Label Already Exists` on the first attempt of a label means another run or job loaded other
/// rows under it: the job stops with a clear error instead of counting its rows as loaded.
#[test]
fn a_label_taken_by_someone_else_is_an_error() {
    let w = world("foreign-label", 1);
    let (_, _) = w.seed(Format::Canal, 50, 29);
    let taken = add_fault(serde_json::json!({
        "target": "be", "op": "stream_load", "db": w.db, "times": 1,
        "action": {"kind": "label_exists", "existing_job_status": "FINISHED"}
    }));
    let job = w.job(Format::Canal, "", "");
    let out = w.run_to_end(&job, "run");
    remove_fault(taken);
    assert!(!out.status.success(), "{}", w.log_text("run"));
    let log = w.log_text("run");
    assert!(log.contains("another run or job used this label"), "{log}");
    // The error names the batch: `topic[0] first..=last`.
    let failed_from: i64 = log
        .split("[0] ")
        .nth(1)
        .and_then(|rest| rest.split("..=").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failed range in the log:\n{log}"));
    let committed = w.committed()[0];
    assert!(
        committed.is_none_or(|o| o <= failed_from),
        "committed {committed:?} past the unloaded rows from {failed_from}"
    );
}

/// Commits the log start offset of every partition for the world's group (no member is live;
/// the last one may still be leaving).
fn reset_group_to_earliest(w: &World) {
    let consumer: BaseConsumer = support::consumer_config(&w.group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..w.partitions {
        let (low, _) = consumer
            .fetch_watermarks(&w.topic, p, Duration::from_secs(10))
            .unwrap();
        tpl.add_partition_offset(&w.topic, p, Offset::Offset(low))
            .unwrap();
    }
    // The broker refuses a commit from outside the group while the last run's member is still
    // in it: its leave can arrive after the run exited (or its session must time out, 6 s).
    let start = Instant::now();
    while let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "resetting the group's offsets: {e}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The query port fails while the tables are first looked up: that is an outage, not bad
/// input — retried, never dead-lettered, and the final state is exact.
#[test]
fn a_catalog_outage_is_retried_not_dead_lettered() {
    let w = world("catalog-outage", 2);
    let dlq = support::unique_topic("catalog-dlq");
    support::create_topic(&dlq, 1);
    let (_, expected) = w.seed(Format::Canal, 200, 17);
    // The schema queries of this world's database fail for a while.
    let outage = add_fault(serde_json::json!({
        "target": "mysql", "label": format!("*{}*", w.db), "times": 6,
        "action": {"kind": "drop_connection"}
    }));
    let job = w.job(
        Format::Canal,
        &format!("onError = \"deadLetter\"\ndeadLetterTopic = \"{dlq}\""),
        "",
    );
    let out = w.run_to_end(&job, "run");
    let fired = fired_counts().get(&outage).copied();
    remove_fault(outage);
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_eq!(fired, Some(6), "the outage must have happened");
    w.assert_state(&expected);
    w.assert_all_committed();
    assert_eq!(
        topic_messages(&dlq),
        0,
        "an outage is not a bad message:\n{}",
        w.log_text("run")
    );
}

/// Messages in `topic` (end offset of its single partition).
fn topic_messages(topic: &str) -> i64 {
    let consumer: BaseConsumer = support::consumer_config(&support::unique_group("count"))
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    drop(consumer);
    high
}

/// StarRocks refuses every load; SIGTERM ends the process within the grace period, and no
/// offset past an unloaded row is committed.
#[test]
fn stop_terminates_while_starrocks_is_unreachable() {
    let w = world("stop-unreachable", 2);
    let (_, _) = w.seed(Format::Canal, 200, 23);
    let refuse = add_fault(serde_json::json!({
        "target": "fe", "db": w.db, "op": "stream_load",
        "action": {"kind": "http_error", "status": 503}
    }));
    let job = w.job(Format::Canal, "stopGraceSec = 5", "");
    let child = w.spawn(&job, "run", false);
    let start = Instant::now();
    while !w.log_text("run").contains("retrying with the same label") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            w.log_text("run")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&child, libc::SIGTERM);
    let stopped = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(30));
    remove_fault(refuse);
    let out = out.unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", w.log_text("run")));
    eprintln!("exited after {:?}: {}", stopped.elapsed(), out.status);
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "grace period 5 s: {:?}",
        stopped.elapsed()
    );
    assert!(
        !out.status.success(),
        "rows were left unloaded: the exit is not a success"
    );
    assert_eq!(
        rows_loaded(&w.db),
        0,
        "nothing was loaded while StarRocks refused"
    );
    assert!(
        w.committed().iter().all(|c| c.is_none_or(|o| o == 0)),
        "nothing may be committed: {:?}",
        w.committed()
    );
}

/// A message that encodes to more than the whole budget (`totalDataInMemMb = 8`, a 20 MB
/// message among small ones) loads: no leaked budget, no hang, every row right.
#[test]
fn a_message_larger_than_the_budget_loads() {
    let w = world_with("oversized", 1, &[("max.message.bytes", "31000000")]);
    execute_sql(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.big (id INT NOT NULL, v VARCHAR(65533)) \
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let message = |rows: &[(i32, String)]| {
        let data: Vec<String> = rows
            .iter()
            .map(|(id, v)| format!(r#"{{"id":"{id}","v":"{v}"}}"#))
            .collect();
        format!(
            r#"{{"data":[{}],"old":null,"database":"{}","table":"big","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{{"id":"int","v":"varchar(65533)"}},"es":1,"ts":1}}"#,
            data.join(","),
            w.db
        )
        .into_bytes()
    };
    let mut records: Vec<Vec<u8>> = (0..50).map(|i| message(&[(i, "small".into())])).collect();
    let big_value = "x".repeat(50_000);
    let big: Vec<(i32, String)> = (1000..1400).map(|i| (i, big_value.clone())).collect();
    records.push(message(&big));
    records.extend((0..50).map(|i| message(&[(i, "after".into())])));
    assert!(records[50].len() > 20_000_000);
    produce_large(&w.topic, &records);
    let job = w.job(Format::Canal, "", "totalDataInMemMb = 8\nflushBatchMb = 2");
    let child = w.spawn(&job, "run", true);
    let out = wait_bounded(child, Duration::from_secs(120))
        .unwrap_or_else(|| panic!("hung:\n{}", w.log_text("run")));
    assert!(out.status.success(), "{}", w.log_text("run"));
    let count: u64 = mysql_conn()
        .query_first(format!("SELECT COUNT(*) FROM {}.big", w.db))
        .unwrap()
        .unwrap();
    assert_eq!(count, 450);
    let small: Vec<(i32, String)> = mysql_conn()
        .query(format!("SELECT id, v FROM {}.big WHERE id < 1000", w.db))
        .unwrap();
    assert!(small.len() == 50 && small.iter().all(|(_, v)| v == "after"));
    let large: Vec<(i32, String)> = mysql_conn()
        .query(format!("SELECT id, v FROM {}.big WHERE id >= 1000", w.db))
        .unwrap();
    assert!(large.len() == 400 && large.iter().all(|(_, v)| v.len() == 50_000));
    w.assert_all_committed();
}

/// Produces large records to partition 0, in order.
fn produce_large(topic: &str, records: &[Vec<u8>]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = support::producer_config()
        .set("message.max.bytes", "31000000")
        .create()
        .unwrap();
    for r in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .payload(&r[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Twelve tables, a small budget and slow loads: memory pressure makes fewer, larger loads
/// (the channel is drained before deciding, the largest batches load first), not one load per
/// block. Every table ends exact.
#[test]
fn memory_pressure_makes_big_loads_not_many_tiny_ones() {
    let w = world("pressure-loads", 2);
    let mut workload = w.workload(Format::Canal, 20000, 31);
    workload.tables = sbtests(12);
    workload.min_rows = 5;
    workload.max_rows = 20;
    let (messages, expected, stats) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 100, "phase": "before_commit"}
    }));
    let budget_mb = 4u64;
    let job = w.job(
        Format::Canal,
        "",
        &format!("totalDataInMemMb = {budget_mb}\nflushBatchMb = 1"),
    );
    let started = Instant::now();
    let out = w.run_to_end(&job, "run");
    let secs = started.elapsed().as_secs();
    remove_fault(slow);
    assert!(out.status.success(), "{}", w.log_text("run"));
    w.assert_state(&expected);
    let loads = loads_per_table(&w.db);
    // Per table: its share of the stream in loads of at least a quarter of its fair share of
    // the budget, one load per interval (1 s) for the age trigger, and a few flush requests.
    let tables = workload.tables.len() as u64;
    let min_load = (budget_mb << 20) / (4 * tables);
    let per_table = stats.bytes / tables;
    let bound = per_table / min_load + secs + 5;
    eprintln!("loads per table {loads:?}, {secs} s, bound {bound}");
    for (table, n) in &loads {
        assert!(*n <= bound, "{table}: {n} loads > {bound} ({loads:?})");
    }
}

/// Successful loads per table of `db`, from the sim's counters.
fn loads_per_table(db: &str) -> Vec<(String, u64)> {
    let v = sim_counters();
    let mut loads: Vec<(String, u64)> = v["tables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with(&format!("{db}.")))
        .map(|(name, c)| (name.clone(), c["loads"].as_u64().unwrap_or(0)))
        .collect();
    loads.sort();
    loads
}

/// `--stop-at-end` stops only when the group committed every partition to its end at start —
/// not when this instance's own partitions are done: a second instance takes partitions and is
/// killed before it commits them; the first instance gets them back and loads them before it
/// stops.
#[test]
fn stop_at_end_waits_for_partitions_another_instance_held() {
    let w = world("end-rebalance", 4);
    let mut workload = w.workload(Format::CloudCanal, 6000, 37);
    workload.partitioning = starpipe_perf::workload::Partitioning::Key;
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    // Slow loads and a small budget: A cannot read far ahead, so the partitions B takes still
    // hold unread rows when B dies.
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 300, "phase": "before_commit"}
    }));
    let job = w.job(
        Format::CloudCanal,
        "",
        "flushBatchMb = 1\ntotalDataInMemMb = 2",
    );
    let a = w.spawn(&job, "a", true);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    let b = w.spawn(&job, "b", false);
    let start = Instant::now();
    while !w.log_text("b").contains("partition assigned") {
        assert!(start.elapsed() < Duration::from_secs(60), "b got nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    // B dies holding partitions it has not committed.
    signal(&b, libc::SIGKILL);
    drop(b);
    let out = wait_bounded(a, Duration::from_secs(180))
        .unwrap_or_else(|| panic!("a did not stop:\n{}", w.log_text("a")));
    remove_fault(slow);
    assert!(out.status.success(), "{}", w.log_text("a"));
    w.assert_all_committed();
    w.assert_state(&expected);
}

/// Repeated kill -9 and restart, then a final `--stop-at-end` run started while the killed
/// members are still in the group: it always ends with every row loaded and committed.
#[test]
fn kill9_cycles_then_stop_at_end_loads_everything() {
    let w = world("kill-cycles", 2);
    let (_, expected) = w.seed(Format::Canal, 1500, 41);
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "action": {"kind": "latency", "ms": 150, "phase": "before_commit"}
    }));
    let job = w.job(Format::Canal, "", "flushBatchMb = 1");
    for cycle in 0..3 {
        let run = format!("cycle{cycle}");
        let child = w.spawn(&job, &run, false);
        let before = rows_loaded(&w.db);
        wait_for_rows(&w.db, before + 1, Duration::from_secs(60));
        signal(&child, libc::SIGKILL);
        let _ = wait_bounded(child, Duration::from_secs(10));
    }
    remove_fault(slow);
    let out = w.run_to_end(&job, "final");
    assert!(out.status.success(), "{}", w.log_text("final"));
    w.assert_all_committed();
    w.assert_state(&expected);
}

/// Partition fencing: two instances, StarRocks refusing loads, a rebalance mid-run. The old
/// owner cannot load the revoked partition's rows within the session timeout, so it exits (status
/// 3) instead of loading them after the new owner took over: none of its loads lands after the
/// revocation (its own log and the sim's load log), and the final state equals the model.
#[test]
fn a_revoked_partition_never_loads_after_its_revocation() {
    let w = world("zombie", 2);
    let mut workload = w.workload(Format::Canal, 1200, 43);
    // Tables by partition (canal `partitionHash` by table): sbtest_0 → 0, sbtest_1 → 1.
    workload.tables = sbtests(2);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    let table_partition: std::collections::HashMap<&str, i32> =
        messages.iter().map(|m| (m.table, m.partition)).collect();
    assert!(
        (0..2).all(|p| table_partition.values().any(|q| *q == p)),
        "both partitions carry tables: {table_partition:?}"
    );
    w.create_tables(&workload);
    let (first, second) = messages.split_at(messages.len() / 2);
    w.produce(first);
    let job = w.job(Format::Canal, "", "flushBatchMb = 1");
    let mut a = w.spawn(&job, "a", false);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    let refuse = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "op": "stream_load",
        "action": {"kind": "http_error", "status": 503}
    }));
    w.produce(second);
    std::thread::sleep(Duration::from_secs(2));
    let b = w.spawn(&job, "b", false);
    let start = Instant::now();
    let a_status = loop {
        if let Some(status) = a.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(75) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let a_gone_ms = now_ms();
    remove_fault(refuse);
    w.wait_all_committed("b", Duration::from_secs(120));
    signal(&b, libc::SIGTERM);
    let _ = wait_bounded(b, Duration::from_secs(60));
    if a_status.is_none() {
        signal(&a, libc::SIGTERM);
    }
    let a_log = w.log_text("a");
    let revoked: Vec<&str> = revoked_tables(&w.log_text("b"), &table_partition);
    let late = loads_after_revocation(&a_log, &revoked);
    assert!(
        late.is_empty(),
        "loads of the old owner after its revocation: {late:#?}"
    );
    assert_eq!(
        a_status.and_then(|s| s.code()),
        Some(3),
        "the old owner exits when its revocation cannot drain:\n{a_log}"
    );
    let run = strip_ansi(&a_log)
        .split(" run=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("run id in the log")
        .to_string();
    let landed_late: Vec<serde_json::Value> = load_log()
        .into_iter()
        .filter(|l| l["label"].as_str().is_some_and(|s| s.contains(&run)))
        .filter(|l| l["finished_ms"].as_u64().is_some_and(|f| f > a_gone_ms))
        .filter(|l| l["status"] == "Success")
        .collect();
    assert!(landed_late.is_empty(), "{landed_late:#?}");
    w.assert_state(&expected);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The sim's load log (`GET /loads`).
fn load_log() -> Vec<serde_json::Value> {
    let loads = support::sim().control_get("/loads").unwrap();
    serde_json::from_value(loads).unwrap()
}

/// Tables of the partitions the first assignment in `b_log` gave B.
fn revoked_tables<'a>(
    b_log: &str,
    table_partition: &std::collections::HashMap<&'a str, i32>,
) -> Vec<&'a str> {
    let plain = strip_ansi(b_log);
    let partitions: Vec<i32> = plain
        .lines()
        .filter(|l| l.contains("partition assigned"))
        .filter_map(|l| l.split(" partition=").nth(1))
        .filter_map(|p| p.split_whitespace().next()?.parse().ok())
        .collect();
    table_partition
        .iter()
        .filter(|(_, p)| partitions.contains(p))
        .map(|(t, _)| *t)
        .collect()
}

/// `loaded` lines of `log` for `tables` after the first line about a revocation that could not
/// drain.
fn loads_after_revocation(log: &str, tables: &[&str]) -> Vec<String> {
    let plain = strip_ansi(log);
    let mut after = false;
    let mut late = Vec::new();
    for line in plain.lines() {
        if line.contains("could not") && line.contains("revo") {
            after = true;
        }
        let table = line
            .split(" table=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next());
        let revoked = table.is_some_and(|t| tables.iter().any(|r| t.ends_with(&format!(".{r}"))));
        if after && line.contains(" loaded ") && revoked {
            late.push(line.to_string());
        }
    }
    late
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Faults that put the first load of `orders` into a retry answered `Label Already Exists` +
/// `RUNNING` (as when the first attempt's transaction still runs).
fn running_label_on_orders(db: &str) -> [u64; 2] {
    let on_orders = |nth: u64, action: serde_json::Value| {
        add_fault(serde_json::json!({
            "target": "be", "op": "stream_load", "db": db, "table": "orders", "nth": nth,
            "action": action
        }))
    };
    [
        on_orders(1, serde_json::json!({"kind": "http_error", "status": 503})),
        on_orders(
            2,
            serde_json::json!({"kind": "label_exists", "existing_job_status": "RUNNING"}),
        ),
    ]
}

/// A label StarRocks keeps reporting as running is polled for `labelWaitSec`, then sent again
/// with the same label — never waited on forever. Stream Load goes to a BE here, which cannot
/// answer a load state: the state is asked of an FE (`SHOW FRONTENDS`).
#[test]
fn a_label_stuck_running_is_sent_again_after_label_wait_sec() {
    let w = world("label-stuck", 1);
    let (_, expected) = w.seed(Format::Canal, 100, 47);
    let mut faults = running_label_on_orders(&w.db).to_vec();
    faults.push(add_fault(serde_json::json!({
        "target": "fe", "op": "get_load_state", "db": w.db,
        "action": {"kind": "load_state", "state": "PREPARE"}
    })));
    let job = w.job_at(
        Format::Canal,
        "",
        "labelWaitSec = 2",
        &support::sim().be_http,
    );
    let child = w.spawn(&job, "run", true);
    let out = wait_bounded(child, Duration::from_secs(90));
    let fired = fired_counts();
    faults.iter().for_each(|f| remove_fault(*f));
    let out = out.unwrap_or_else(|| panic!("stuck on a running label:\n{}", w.log_text("run")));
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert!(
        faults.iter().all(|f| fired.get(f).is_some_and(|n| *n >= 1)),
        "{fired:?}"
    );
    let log = w.log_text("run");
    assert!(
        log.contains("still reported running after labelWaitSec"),
        "{log}"
    );
    w.assert_state(&expected);
}

/// A follower FE answers the load-state query with a redirect to the leader: followed, with the
/// credentials.
#[test]
fn the_load_state_query_follows_the_fe_redirect() {
    let w = world("label-redirect", 1);
    let (_, expected) = w.seed(Format::Canal, 100, 53);
    let leader = FakeLeader::start();
    let mut faults = running_label_on_orders(&w.db).to_vec();
    faults.push(add_fault(serde_json::json!({
        "target": "fe", "op": "get_load_state", "db": w.db,
        "action": {"kind": "redirect_to", "location": format!("http://{}", leader.addr)}
    })));
    let job = w.job(Format::Canal, "", "labelWaitSec = 600");
    let child = w.spawn(&job, "run", true);
    let out = wait_bounded(child, Duration::from_secs(90));
    faults.iter().for_each(|f| remove_fault(*f));
    let out = out.unwrap_or_else(|| panic!("redirect not followed:\n{}", w.log_text("run")));
    assert!(out.status.success(), "{}", w.log_text("run"));
    let asked = leader.requests.lock().unwrap().clone();
    assert!(!asked.is_empty(), "the leader was never asked");
    assert!(
        asked
            .iter()
            .all(|r| r.to_ascii_lowercase().contains("authorization: basic")),
        "{asked:?}"
    );
    w.assert_state(&expected);
}

/// A stand-in for the leader FE: answers every load-state query `UNKNOWN` (the label the fault
/// pretended was running never existed) and keeps the requests.
struct FakeLeader {
    addr: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeLeader {
    fn start() -> FakeLeader {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    head.push_str(&line);
                    line.clear();
                }
                seen.lock().unwrap().push(head);
                let body = r#"{"status":"OK","msg":"Success","state":"UNKNOWN"}"#;
                let _ = write!(
                    &stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeLeader { addr, requests }
    }
}

/// Rows StarRocks rejects (`onError = "deadLetter"`) are found exactly — by loading parts of the
/// batch, not from StarRocks' error log — and their dead letter carries the rows themselves;
/// every other row loads; the offsets are committed only after the dead letter.
#[test]
fn rejected_rows_are_dead_lettered_with_their_values() {
    let w = world("rejected-rows", 1);
    let dlq = support::unique_topic("rejected-dlq");
    support::create_topic(&dlq, 1);
    execute_sql(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT NOT NULL, v VARCHAR(50)) \
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let value = |id: i32| {
        if id == 17 || id == 42 {
            format!("bad-{id}")
        } else {
            format!("ok-{id}")
        }
    };
    let records: Vec<support::TestRecord> = (0..20)
        .map(|m| {
            let rows: Vec<String> = (m * 5..m * 5 + 5)
                .map(|id| format!(r#"{{"id":"{id}","v":"{}"}}"#, value(id)))
                .collect();
            let payload = format!(
                r#"{{"data":[{}],"old":null,"database":"{}","table":"t","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{{"id":"int","v":"varchar(50)"}},"es":1,"ts":1}}"#,
                rows.join(","),
                w.db
            );
            support::TestRecord::new(payload).partition(0)
        })
        .collect();
    support::produce_batch(&w.topic, &records);
    // StarRocks rejects every row holding a "bad-" value, every time.
    let reject = add_fault(serde_json::json!({
        "target": "be", "op": "stream_load", "db": w.db,
        "action": {"kind": "filter_rows", "matching": "bad-*"}
    }));
    let job = w.job(
        Format::Canal,
        &format!("onError = \"deadLetter\"\ndeadLetterTopic = \"{dlq}\""),
        "",
    );
    let out = w.run_to_end(&job, "run");
    remove_fault(reject);
    assert!(out.status.success(), "{}", w.log_text("run"));
    w.assert_all_committed();
    let ids: Vec<i32> = mysql_conn()
        .query(format!("SELECT id FROM {}.t ORDER BY id", w.db))
        .unwrap();
    let expected: Vec<i32> = (0..100).filter(|id| *id != 17 && *id != 42).collect();
    assert_eq!(ids, expected, "every accepted row loaded");
    let letters = read_topic(&dlq, Duration::from_secs(30));
    let mut rejected: Vec<(i64, String)> = letters
        .iter()
        .flat_map(|payload| {
            let doc: serde_json::Value = serde_json::from_slice(payload).unwrap();
            assert_eq!(doc["table"], format!("{}.t", w.db));
            doc["rows"].as_array().unwrap().clone()
        })
        .map(|r| {
            assert_eq!(r["isolated"], true, "{r}");
            assert!(r["reason"].as_str().unwrap().contains("filtered"), "{r}");
            (
                r["row"]["id"].as_i64().unwrap(),
                r["row"]["v"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rejected.sort();
    assert_eq!(
        rejected,
        [(17, "bad-17".to_string()), (42, "bad-42".to_string())]
    );
}

/// Every record value of the single-partition `topic`, read from the start.
fn read_topic(topic: &str, limit: Duration) -> Vec<Vec<u8>> {
    use rdkafka::Message as _;
    let consumer: BaseConsumer = support::consumer_config(&support::unique_group("read"))
        .create()
        .unwrap();
    let (_, end) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let start = Instant::now();
    let mut values = Vec::new();
    while (values.len() as i64) < end && start.elapsed() < limit {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            values.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    drop(consumer);
    values
}

/// Messages without a table identity (Flink's canal-json writes only `data` and `type`) load
/// into the table a `[[tables]]` entry gives their topic; messages that name their table keep it.
#[test]
fn a_topic_entry_gives_identity_less_messages_their_table() {
    let w = world("topic-table", 1);
    execute_sql(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.orders (id INT NOT NULL, v VARCHAR(20)) \
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1; \
         CREATE TABLE {db}.named (id INT NOT NULL, v VARCHAR(20)) \
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let flink = |kind: &str, id: i32, v: &str| {
        support::TestRecord::new(format!(
            r#"{{"data":[{{"id":{id},"v":"{v}"}}],"type":"{kind}"}}"#
        ))
        .partition(0)
    };
    let named = support::TestRecord::new(format!(
        r#"{{"data":[{{"id":"9","v":"n"}}],"old":null,"database":"{}","table":"named","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{{"id":"int","v":"varchar(20)"}},"es":1,"ts":1}}"#,
        w.db
    ))
    .partition(0);
    support::produce_batch(
        &w.topic,
        &[
            flink("INSERT", 1, "a"),
            flink("INSERT", 2, "b"),
            flink("DELETE", 1, "a"),
            named,
        ],
    );
    let top = format!(
        "[[tables]]\ntopic = \"{}\"\ntarget = \"{}.orders\"",
        w.topic, w.db
    );
    let job = w.job(Format::Canal, "", "");
    // `[[tables]]` goes after `[target]`.
    let text = std::fs::read_to_string(&job).unwrap() + "\n" + &top + "\n";
    std::fs::write(&job, text).unwrap();
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    let orders: Vec<(i32, String)> = mysql_conn()
        .query(format!("SELECT id, v FROM {}.orders ORDER BY id", w.db))
        .unwrap();
    assert_eq!(orders, [(2, "b".to_string())]);
    let named: Vec<(i32, String)> = mysql_conn()
        .query(format!("SELECT id, v FROM {}.named", w.db))
        .unwrap();
    assert_eq!(named, [(9, "n".to_string())]);
    w.assert_all_committed();
}

/// A partition's assignment is lost while its worker is blocked in the middle of a poll round
/// (on the schema query of a table it meets for the first time), and the partition comes back
/// to this instance before the worker unblocks. Every split handle of a partition reads one
/// librdkafka queue, so the rest of the blocked round must not poll the new assignment's
/// messages through the old handle: read under the revoked lease they would be dropped, while
/// the new assignment's offset tracker, which never saw them, commits past them.
#[test]
fn a_lost_partition_regained_while_its_worker_is_blocked_loses_nothing() {
    let w = world("lost-blocked", 1);
    let mut workload = w.workload(Format::Canal, 600, 53);
    workload.tables = sbtests(2);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    // Tables are independent: all of sbtest_0 first, then sbtest_1, converge to the same state.
    let (early, late): (Vec<_>, Vec<_>) = messages.into_iter().partition(|m| m.table == "sbtest_0");
    w.create_tables(&workload);
    w.produce(&early);
    let job = w.job(Format::Canal, "", "soTimeoutSec = 120");
    let a = w.spawn(&job, "a", false);
    w.wait_all_committed("a", Duration::from_secs(60));
    // The worker meets sbtest_1 and waits 30 s for its schema, with a few messages behind it.
    let slow_schema = add_fault(serde_json::json!({
        "target": "mysql", "times": 1,
        "label": format!("*TABLE_SCHEMA = '{}' AND TABLE_NAME = 'sbtest_1'*", w.db),
        "action": {"kind": "latency", "ms": 30000, "phase": "before_commit"}
    }));
    w.produce(&late[..6]);
    std::thread::sleep(Duration::from_secs(2));
    // The blocked worker's hand-over times out, and the partition is assigned again: its queue
    // refills from the committed offset.
    freeze_past_the_session(&a);
    // The order that makes the case: lost, assigned again, and only then the worker resumes.
    let resumed = format!("target table ready table={}.sbtest_1", w.db);
    let order = wait_after_loss(&w, "a", &resumed);
    assert!(
        order.assigned_again < order.then,
        "the worker resumed before the partition was assigned again: the case did not happen"
    );
    remove_fault(slow_schema);
    w.produce(&late[6..]);
    w.wait_all_committed("a", Duration::from_secs(120));
    signal(&a, libc::SIGTERM);
    let _ = wait_bounded(a, Duration::from_secs(60));
    w.assert_state(&expected);
}

/// A load is in flight (StarRocks slow) when the partition's assignment is lost, and the
/// partition comes back to this instance: the old load lands, and the new assignment replays
/// the same offsets into a batch of the same range (nothing newer is in the topic yet). That
/// batch must not reuse the old load's label (`Label Already Exists` would stop the job
/// although nothing is wrong); the replay converges.
#[test]
fn a_load_in_flight_when_the_assignment_is_lost_does_not_stop_the_job() {
    let (w, messages, expected, a) = sbtest_loaded_200("lost-inflight", 61);
    // The next load takes 30 s.
    let slow = add_fault(serde_json::json!({
        "target": "be", "db": w.db, "op": "stream_load",
        "action": {"kind": "latency", "ms": 30000, "phase": "before_commit"}
    }));
    w.produce(&messages[200..250]);
    std::thread::sleep(Duration::from_secs(3));
    freeze_past_the_session(&a);
    wait_after_loss(&w, "a", "partition assigned");
    remove_fault(slow);
    w.wait_all_committed("a", Duration::from_secs(120));
    w.produce(&messages[250..]);
    w.wait_all_committed("a", Duration::from_secs(120));
    stop_running_and_check(&w, a, &expected);
}

/// The connection of a load is reset after StarRocks read its whole body, and its transaction
/// goes on (commits 45 s later): the retry finds the label running. The assignment is then lost
/// and the partition assigned again, so the load is abandoned and its offsets replay. The
/// abandoned load must not end before its transaction does: committing after the replay and the
/// later rows, it would put older values back over them. It is cancelled (`_cancel`) instead.
#[test]
fn an_abandoned_load_waits_for_its_running_transaction() {
    let (w, messages, expected, a) = sbtest_loaded_200("abandon-running", 67);
    // The next load: its client sees a reset once the body is read; it commits 45 s later.
    let faults: Vec<u64> = [
        serde_json::json!({"kind": "reset", "phase": "before_commit"}),
        serde_json::json!({"kind": "latency", "ms": 45000, "phase": "before_commit"}),
    ]
    .into_iter()
    .map(|action| {
        add_fault(serde_json::json!({
            "target": "be", "db": w.db, "op": "stream_load", "times": 1, "action": action
        }))
    })
    .collect();
    let from = full_log(&w, "a").len();
    w.produce(&messages[200..300]);
    // The reset attempt (its label, for the sim's load log).
    let label = wait_for_log(
        &w,
        "a",
        from,
        "retrying with the same label: transport error",
    )
    .split("label=\"")
    .nth(1)
    .and_then(|rest| rest.split('"').next())
    .expect("the retry's label")
    .to_string();
    freeze_past_the_session(&a);
    wait_after_loss(&w, "a", "partition assigned");
    w.produce(&messages[300..]);
    w.wait_all_committed("a", Duration::from_secs(120));
    // Past the end of the reset load's transaction (the first load of its label in the
    // emulator's log), whichever order the loads took.
    let start = Instant::now();
    let reset_load = loop {
        let first = load_log()
            .into_iter()
            .find(|l| l["label"] == label.as_str());
        if let Some(l) = first.filter(|l| !l["finished_ms"].is_null()) {
            break l;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{label} never ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    faults.iter().for_each(|f| remove_fault(*f));
    stop_running_and_check(&w, a, &expected);
    assert!(
        full_log(&w, "a").contains("load abandoned while its transaction may run"),
        "the load was not abandoned while its transaction ran:\n{}",
        w.log_text("a")
    );
    assert_ne!(
        reset_load["status"], "Success",
        "the abandoned load's transaction was not cancelled: {reset_load}"
    );
}

/// One partition of 600 sysbench messages (`seed`), the first 200 produced and loaded by run
/// `a` (`httpSoTimeoutSec = 120`, so that a load may last long), which keeps running.
fn sbtest_loaded_200(
    name: &str,
    seed: u64,
) -> (
    World,
    Vec<starpipe_perf::workload::Message>,
    starpipe_perf::model::ExpectedState,
    Running,
) {
    let w = world(name, 1);
    let mut workload = w.workload(Format::Canal, 600, seed);
    workload.tables = vec![starpipe_perf::schema::sbtest()];
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages[..200]);
    let job = w.job(Format::Canal, "", "httpSoTimeoutSec = 120");
    let a = w.spawn(&job, "a", false);
    w.wait_all_committed("a", Duration::from_secs(120));
    (w, messages, expected, a)
}

/// Run `a` is still running: it is stopped, and the target must equal the model.
fn stop_running_and_check(
    w: &World,
    mut a: Running,
    expected: &starpipe_perf::model::ExpectedState,
) {
    assert!(
        a.try_wait().unwrap().is_none(),
        "the job stopped:\n{}",
        w.log_text("a")
    );
    signal(&a, libc::SIGTERM);
    let _ = wait_bounded(a, Duration::from_secs(60));
    w.assert_state(expected);
}

/// The whole log of `run` (`World::log_text` gives its end).
fn full_log(w: &World, run: &str) -> String {
    std::fs::read_to_string(w.log(run)).unwrap_or_default()
}

/// Waits (at most 60 s) for a line of `run`'s log after its first `from` bytes containing `text`;
/// returns the line.
fn wait_for_log(w: &World, run: &str, from: usize, text: &str) -> String {
    let start = Instant::now();
    loop {
        let log = full_log(w, run);
        let after = strip_ansi(log.get(from..).unwrap_or_default());
        if let Some(line) = after.lines().find(|l| l.contains(text)) {
            return line.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {text:?} in the log:\n{}",
            w.log_text(run)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops `a` for longer than the session timeout (6 s): the group drops the member, and when it
/// wakes its assignment is lost and assigned again.
fn freeze_past_the_session(a: &Running) {
    signal(a, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(9));
    signal(a, libc::SIGCONT);
}

/// Byte positions in a log, after its `assignment lost` line, of the next `partition assigned`
/// line and of the first `then` line after the loss (which may come before the assignment).
struct AfterLoss {
    assigned_again: usize,
    then: usize,
}

/// Waits (at most 90 s) until the log of `run` shows a lost assignment, an assignment after
/// it, and `then` after the loss.
fn wait_after_loss(w: &World, run: &str, then: &str) -> AfterLoss {
    let start = Instant::now();
    loop {
        let log = full_log(w, run);
        if let Some(order) = after_loss(&log, then) {
            return order;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no lost assignment, assignment after it and {then:?}:\n{}",
            w.log_text(run)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`AfterLoss`] once the log shows the loss, an assignment after it, and `then` after it.
fn after_loss(log: &str, then: &str) -> Option<AfterLoss> {
    let lost = log.find("assignment lost")?;
    let rest = &log[lost..];
    Some(AfterLoss {
        assigned_again: lost + rest.find("partition assigned")?,
        then: lost + rest.find(then)?,
    })
}
