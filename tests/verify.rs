//! `starpipe verify` end to end: the real binary against the real broker and starrocks-sim,
//! after `starpipe run` loaded the topic, with differences planted through the sim's SQL.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format as DecodeFormat};
use starpipe::model::ChangeOp;
use starpipe_perf::workload::{Format, Message};
use support::e2e::*;

/// A finished `starpipe verify --json`.
struct Verified {
    code: i32,
    doc: Json,
    stderr: String,
}

impl Verified {
    fn table(&self, name: &str) -> &Json {
        self.doc["tables"]
            .as_array()
            .and_then(|t| {
                t.iter()
                    .find(|t| t["table"].as_str().is_some_and(|n| n.ends_with(name)))
            })
            .unwrap_or_else(|| panic!("no table {name} in {:#}", self.doc))
    }

    /// (checked, equal, missing, extra, differing) of a table.
    fn counts(&self, name: &str) -> [u64; 5] {
        let t = self.table(name);
        ["checked", "equal", "missing", "extra", "differing"].map(|k| t[k].as_u64().unwrap())
    }
}

/// Runs `starpipe verify --config JOB --json` with `args`.
fn verify(job: &Path, args: &[&str]) -> Verified {
    let out = Command::new(starpipe_bin())
        .args(["verify", "--config"])
        .arg(job)
        .arg("--json")
        .args(args)
        .output()
        .expect("run starpipe verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}\nstderr: {stderr}"));
    Verified {
        code: out.status.code().unwrap_or(-1),
        doc,
        stderr,
    }
}

/// Per table, every key of the stream and its last operation (decoded independently with the
/// workload's own key columns).
fn stream_keys(db: &str, messages: &[Message]) -> HashMap<String, HashMap<Vec<String>, ChangeOp>> {
    let keys: HashMap<String, Arc<[String]>> = [
        ("orders", &["id"][..]),
        ("sbtest", &["id"]),
        ("order_items", &["order_id", "line_no", "sku"]),
    ]
    .into_iter()
    .map(|(t, k)| {
        let names: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        (format!("{db}.{t}"), Arc::from(names))
    })
    .collect();
    let mut decoder = Decoder::new(DecodeOptions::new(DecodeFormat::Canal));
    let mut out: HashMap<String, HashMap<Vec<String>, ChangeOp>> = HashMap::new();
    for m in messages {
        let mut buf = m.payload.clone().into_bytes();
        let Ok(Decoded::Rows(batch)) = decoder.decode(&mut buf, &keys) else {
            continue;
        };
        let key_cols = &keys[&format!("{db}.{}", batch.table.table)];
        let table = out.entry(batch.table.table.to_string()).or_default();
        for change in batch.changes() {
            let key: Vec<String> = key_cols
                .iter()
                .map(|c| change.row.get(c).unwrap().value.to_string())
                .collect();
            table.insert(key, change.op);
        }
    }
    out
}

fn deleted(keys: &HashMap<Vec<String>, ChangeOp>) -> Vec<Vec<String>> {
    let mut d: Vec<Vec<String>> = keys
        .iter()
        .filter(|(_, op)| **op == ChangeOp::Delete)
        .map(|(k, _)| k.clone())
        .collect();
    d.sort();
    d
}

fn present(keys: &HashMap<Vec<String>, ChangeOp>) -> Vec<Vec<String>> {
    let mut p: Vec<Vec<String>> = keys
        .iter()
        .filter(|(_, op)| **op == ChangeOp::Upsert)
        .map(|(k, _)| k.clone())
        .collect();
    p.sort();
    p
}

/// After a correct run every table is equal; planted differences (a changed value, a deleted
/// row, an extra row, a row under a changed composite key) are each found and counted exactly;
/// `--repair` fixes them and the next verify exits 0.
#[test]
fn planted_differences_are_found_exactly_and_repaired() {
    let w = world("verify-planted", 2);
    let workload = w.workload(Format::Canal, 400, 31);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    let job = w.job(Format::Canal, "", "");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));

    let keys = stream_keys(&w.db, &messages);
    let clean = verify(&job, &["--recheck-after", "0"]);
    assert_eq!(clean.code, 0, "{:#}\n{}", clean.doc, clean.stderr);
    assert_eq!(clean.doc["ok"], true);
    assert_eq!(clean.doc["window"]["fromBeginning"], true);
    assert!(clean.doc["window"].get("note").is_none());
    for t in ["orders", "sbtest", "order_items"] {
        let n = keys[t].len() as u64;
        assert_eq!(clean.counts(t), [n, n, 0, 0, 0], "{t}");
    }

    plant(&w.db, &keys);
    let found = verify(&job, &["--recheck-after", "0"]);
    assert_eq!(found.code, 1, "{:#}\n{}", found.doc, found.stderr);
    assert_eq!(found.doc["ok"], false);
    let n = |t: &str| keys[t].len() as u64;
    assert_eq!(
        found.counts("orders"),
        [n("orders"), n("orders") - 1, 0, 0, 1]
    );
    assert_eq!(
        found.counts("sbtest"),
        [n("sbtest"), n("sbtest") - 2, 1, 1, 0]
    );
    let items = n("order_items");
    assert_eq!(found.counts("order_items"), [items, items - 2, 1, 1, 0]);
    let sample = &found.table("orders")["samples"][0];
    assert_eq!(sample["kind"], "differing", "{sample:#}");
    assert_eq!(sample["columns"][0]["column"], "status");
    assert_eq!(sample["columns"][0]["actual"], "PLANTED");
    let kinds: HashSet<&str> = found.table("order_items")["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, HashSet::from(["missing", "extra"]));
    assert!(found.doc["window"]["recheck"]["keys"].as_u64() == Some(5));

    let repaired = verify(&job, &["--recheck-after", "0", "--repair"]);
    assert_eq!(repaired.code, 0, "{:#}\n{}", repaired.doc, repaired.stderr);
    let r = &repaired.table("sbtest")["repair"];
    assert_eq!(
        (r["upserts"].as_u64(), r["deletes"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            r["missing"].as_u64(),
            r["extra"].as_u64(),
            r["differing"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    assert!(
        r["labels"][0]
            .as_str()
            .unwrap()
            .starts_with("sp-verify-sbtest-"),
        "{r:#}"
    );
    assert_eq!(repaired.table("orders")["repair"]["upserts"], 1);

    let again = verify(&job, &["--recheck-after", "0"]);
    assert_eq!(again.code, 0, "{:#}", again.doc);
    w.assert_state(&expected);
}

/// A changed value (orders), a deleted row and an extra row (sbtest), a row moved to another
/// key (order_items, composite key): delete it and insert it under a key the stream deleted.
fn plant(db: &str, keys: &HashMap<String, HashMap<Vec<String>, ChangeOp>>) {
    let order = &present(&keys["orders"])[0];
    let sb_present = &present(&keys["sbtest"])[0];
    let sb_deleted = deleted(&keys["sbtest"]);
    let item = &present(&keys["order_items"])[0];
    let item_deleted = deleted(&keys["order_items"]);
    assert!(
        !sb_deleted.is_empty() && !item_deleted.is_empty(),
        "the stream deletes keys"
    );
    let (i, j) = (item, &item_deleted[0]);
    execute_sql(&format!(
        "UPDATE {db}.orders SET status = 'PLANTED' WHERE id = {o};
         DELETE FROM {db}.sbtest WHERE id = {s};
         INSERT INTO {db}.sbtest (id, k, c, pad) VALUES ({d}, 1, 'extra', 'row');
         DELETE FROM {db}.order_items WHERE order_id = {} AND line_no = {} AND sku = '{}';
         INSERT INTO {db}.order_items (order_id, line_no, sku, qty) VALUES ({}, {}, '{}', 7)",
        i[0],
        i[1],
        i[2],
        j[0],
        j[1],
        j[2],
        o = order[0],
        s = sb_present[0],
        d = sb_deleted[0][0],
    ));
}

/// A canal INSERT of `rows` (JSON objects) into `db.t` with the given `mysqlType`.
fn canal_insert(db: &str, t: &str, types: &str, rows: &str) -> Vec<u8> {
    format!(
        r#"{{"data":{rows},"old":null,"database":"{db}","table":"{t}","isDdl":false,"type":"INSERT","mysqlType":{types},"es":1,"ts":1}}"#
    )
    .into_bytes()
}

fn selects(db: &str, table: &str) -> u64 {
    let v = sim_counters();
    v["selects_by_table"][format!("{db}.{table}")]
        .as_u64()
        .unwrap_or(0)
}

/// `maxInSizePerQuery = 3` splits the lookups (one-column and composite keys), as the sim's
/// SELECT counters show; a window that does not start at the beginning says so.
#[test]
fn max_in_size_per_query_splits_the_queries() {
    let w = world("verify-in-size", 1);
    execute_sql(&format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.one (id INT NOT NULL, v VARCHAR(10)) PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1;
         CREATE TABLE {db}.two (a INT NOT NULL, b VARCHAR(8) NOT NULL, v INT) PRIMARY KEY (a, b) DISTRIBUTED BY HASH(a) BUCKETS 1",
        db = w.db
    ));
    let one: Vec<String> = (1..=7)
        .map(|i| format!(r#"{{"id":"{i}","v":"x{i}"}}"#))
        .collect();
    let two: Vec<String> = (1..=10)
        .map(|i| format!(r#"{{"a":"{}","b":"k'{i}","v":"{i}"}}"#, i % 3))
        .collect();
    let types1 = r#"{"id":"int","v":"varchar(10)"}"#;
    let types2 = r#"{"a":"int","b":"varchar(8)","v":"int"}"#;
    for (t, types, rows) in [("one", types1, &one), ("two", types2, &two)] {
        let msg = canal_insert(&w.db, t, types, &format!("[{}]", rows.join(",")));
        support::produce(&w.topic, Some(0), None, &msg, None);
    }
    let job = w.job(Format::Canal, "", "maxInSizePerQuery = 3");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));

    let before = (selects(&w.db, "one"), selects(&w.db, "two"));
    let v = verify(&job, &[]);
    assert_eq!(v.code, 0, "{:#}\n{}", v.doc, v.stderr);
    assert_eq!(v.counts("one"), [7, 7, 0, 0, 0]);
    assert_eq!(v.counts("two"), [10, 10, 0, 0, 0]);
    let after = (selects(&w.db, "one"), selects(&w.db, "two"));
    assert_eq!((after.0 - before.0, after.1 - before.1), (3, 4));
    assert_eq!(v.doc["queries"], 7);
    assert!(
        v.stderr.is_empty(),
        "no progress line without a terminal: {}",
        v.stderr
    );
    progress_on_a_terminal(&job);

    let tail = verify(&job, &["--from", "committed"]);
    assert_eq!(tail.code, 0, "{:#}", tail.doc);
    assert_eq!(tail.doc["window"]["fromBeginning"], false);
    assert!(
        tail.doc["window"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("only keys changed in the window were checked")),
        "{:#}",
        tail.doc
    );
    assert_eq!(tail.doc["tables"], serde_json::json!([]));
}

/// On a terminal (a pty from util-linux `script`) a progress line is drawn on stderr.
fn progress_on_a_terminal(job: &Path) {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no `script` here: progress on a terminal not checked");
        return;
    }
    let command = format!(
        "{} verify --config {}",
        starpipe_bin().display(),
        job.display()
    );
    // `timeout`: a progress line that blocked verify must fail the test, not hang it.
    let out = Command::new("timeout")
        .args(["120", "script", "-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("reading the topic window"), "{text}");
    assert!(text.contains("verify: every table equal"), "{text}");
}

/// Zero dates (replaced by `defaultZeroDate`) and TIMESTAMPs converted from `sourceTimezone` to
/// `timezone` compare equal; the unconverted value planted back is a difference.
#[test]
fn zero_dates_and_time_zones_compare_equal() {
    let w = world("verify-dates", 1);
    execute_sql(&format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.tz (id INT NOT NULL, d DATE, dn DATE NOT NULL, dt DATETIME, ts DATETIME)
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let types = r#"{"id":"int","d":"date","dn":"date","dt":"datetime(3)","ts":"timestamp"}"#;
    let rows = r#"[{"id":"1","d":"0000-00-00","dn":"0000-00-00","dt":"0000-00-00 00:00:00","ts":"2024-06-01 10:00:00"},
                   {"id":"2","d":"2024-02-00","dn":"2024-01-01","dt":"2024-01-01 00:00:00.120","ts":"2024-12-31 20:30:00"}]"#;
    let msg = canal_insert(&w.db, "tz", types, rows);
    support::produce(&w.topic, Some(0), None, &msg, None);
    let job = w.job(
        Format::Canal,
        "",
        "defaultZeroDate = \"1970-01-01 00:00:00\"\nsourceTimezone = \"UTC\"\n\
         enableTimeZoneProcess = true\ntimezone = \"Asia/Shanghai\"",
    );
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    let rows: Vec<(i32, String, String, String, String)> = mysql::prelude::Queryable::query(
        &mut mysql_conn(),
        format!("SELECT id, d, dn, dt, ts FROM {}.tz ORDER BY id", w.db),
    )
    .unwrap();
    assert_eq!(rows[0].1, "1970-01-01", "zero date replaced");
    assert_eq!(
        rows[0].4, "2024-06-01 18:00:00",
        "converted to Asia/Shanghai"
    );
    assert_eq!(rows[1].4, "2025-01-01 04:30:00");

    let v = verify(&job, &[]);
    assert_eq!(v.code, 0, "{:#}\n{}", v.doc, v.stderr);
    assert_eq!(v.counts("tz"), [2, 2, 0, 0, 0]);

    execute_sql(&format!(
        "UPDATE {}.tz SET ts = '2024-06-01 10:00:00' WHERE id = 1",
        w.db
    ));
    let v = verify(&job, &["--recheck-after", "0"]);
    assert_eq!(v.code, 1, "{:#}", v.doc);
    let diff = &v.table("tz")["samples"][0]["columns"][0];
    assert_eq!(diff["column"], "ts");
    assert_eq!(diff["expected"], "2024-06-01 18:00:00");
}

/// A verify started while `starpipe run` still loads the end of the window sees rows missing
/// in its first pass, and none after its second.
#[test]
fn a_verify_during_a_run_reports_nothing_after_its_second_pass() {
    let w = world("verify-in-flight", 2);
    let (_, expected) = w.seed(Format::CloudCanal, 200, 37);
    let slow = add_fault(serde_json::json!({
        "target": "be", "op": "stream_load", "db": w.db, "times": 6,
        "action": {"kind": "latency", "ms": 3000, "phase": "before_commit"}
    }));
    let job = w.job(Format::CloudCanal, "", "");
    let running = w.spawn(&job, "run", true);
    let v = verify(&job, &["--recheck-after", "20"]);
    remove_fault(slow);
    let out = wait_bounded(running, Duration::from_secs(120)).expect("run ends");
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_eq!(
        v.code,
        0,
        "{:#}\n{}\n{}",
        v.doc,
        v.stderr,
        w.log_text("run")
    );
    let recheck = &v.doc["window"]["recheck"];
    assert!(
        recheck["keys"].as_u64().unwrap() > 0,
        "the first pass saw rows in flight: {recheck:#}"
    );
    assert_eq!(recheck["keys"], recheck["resolved"]);
    w.assert_state(&expected);
}

/// Past `--max-memory-mb` verify stops with exit status 2 and an error naming the bound.
#[test]
fn the_memory_bound_stops_verify_with_an_error() {
    let w = world("verify-memory", 1);
    execute_sql(&format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.big (id INT NOT NULL, v VARCHAR(400)) PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let text = "x".repeat(300);
    for m in 0..10 {
        let rows: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"id":"{}","v":"{text}"}}"#, m * 500 + i))
            .collect();
        let msg = canal_insert(
            &w.db,
            "big",
            r#"{"id":"int","v":"varchar(400)"}"#,
            &format!("[{}]", rows.join(",")),
        );
        support::produce(&w.topic, Some(0), None, &msg, None);
    }
    let job = w.job(Format::Canal, "", "");
    let v = verify(&job, &["--max-memory-mb", "1"]);
    assert_eq!(v.code, 2, "{:#}", v.doc);
    assert!(
        v.stderr.contains("memory bound of 1 MiB") && v.stderr.contains("--table"),
        "{}",
        v.stderr
    );
    assert_eq!(v.doc["ok"], false);
    let fits = verify(&job, &["--max-memory-mb", "8", "--recheck-after", "0"]);
    assert_eq!(fits.code, 1, "nothing was loaded: every key is missing");
    assert_eq!(fits.counts("big"), [5000, 0, 5000, 0, 0]);
}

/// The keys/s figure of perf/README.md: `verify` of one large table (`VERIFY_BENCH_KEYS` keys,
/// default 200,000) that `starpipe run` loaded, timed from start to exit. Run with a release
/// binary: `STARPIPE_TEST_BIN=target/release/starpipe cargo test --test verify
/// verify_keys_per_second -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check; see perf/README.md"]
fn verify_keys_per_second() {
    let keys: u64 = std::env::var("VERIFY_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let w = world("verify-bench", 2);
    execute_sql(&format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.sbtest (id BIGINT NOT NULL, k INT, c VARCHAR(480), pad VARCHAR(240))
         PRIMARY KEY (id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        db = w.db
    ));
    let types = r#"{"id":"bigint","k":"int","c":"char(120)","pad":"char(60)"}"#;
    let (c, pad) = ("83868641912-".repeat(10), "67847967377-".repeat(5));
    let records: Vec<support::TestRecord> = (0..keys.div_ceil(500))
        .map(|m| {
            let rows: Vec<String> = (m * 500..((m + 1) * 500).min(keys))
                .map(|id| {
                    format!(
                        r#"{{"id":"{id}","k":"{}","c":"{c}","pad":"{pad}"}}"#,
                        id % 1000
                    )
                })
                .collect();
            let msg = canal_insert(&w.db, "sbtest", types, &format!("[{}]", rows.join(",")));
            support::TestRecord::new(msg).partition((m % 2) as i32)
        })
        .collect();
    support::produce_batch(&w.topic, &records);
    let job = w.job(Format::Canal, "", "totalDataInMemMb = 1024");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    let start = std::time::Instant::now();
    let v = verify(&job, &["--recheck-after", "0"]);
    let took = start.elapsed().as_secs_f64();
    assert_eq!(v.code, 0, "{:#}", v.doc);
    assert_eq!(v.counts("sbtest"), [keys, keys, 0, 0, 0]);
    // The same window with no table selected: reading and decoding alone.
    let start = std::time::Instant::now();
    let read = verify(&job, &["--table", "none.none"]);
    let read_took = start.elapsed().as_secs_f64();
    assert_eq!(read.code, 0, "{:#}", read.doc);
    println!(
        "verify: {keys} keys in {took:.2} s = {:.0} keys/s ({} queries, {} MiB of images); \
         reading the window alone: {read_took:.2} s",
        keys as f64 / took,
        v.doc["queries"],
        v.doc["window"]["memoryBytes"].as_u64().unwrap_or(0) >> 20
    );
}

/// Errors exit 2: an unreadable job file (with `--json`, a document saying so) and a bad flag.
#[test]
fn errors_exit_with_status_2() {
    let v = verify(Path::new("/nonexistent/job.toml"), &[]);
    assert_eq!(v.code, 2);
    assert_eq!(v.doc["ok"], false);
    assert!(
        v.doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("job.toml")),
        "{:#}",
        v.doc
    );
    assert!(v.stderr.starts_with("error: "), "{}", v.stderr);
    let bad = Command::new(starpipe_bin())
        .args(["verify", "--config", "job.toml", "--from", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("earliest"));
}
