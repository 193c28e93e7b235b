//! Measures how many rows/s the sim takes from one large CSV Stream Load (and a JSON one),
//! applied normally and in discard mode (received, parsed and validated, not applied).
//! Prints the figures; asserts only correctness. Size: `SIM_BENCH_ROWS` (default 20000 in
//! debug, 500000 in release builds). For the real figure run it against a release build:
//! `cargo test -p starrocks-sim --release --test throughput -- --nocapture`.
mod common;
use common::Sim;
use std::fmt::Write;
use std::time::Instant;

fn bench_rows() -> usize {
    std::env::var("SIM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            20_000
        } else {
            500_000
        })
}

fn csv_body(rows: usize) -> String {
    let mut csv = String::with_capacity(rows * 60);
    for i in 0..rows {
        let _ = writeln!(
            csv,
            "{i}\tcustomer-{i}\t{}.{:02}\t2024-05-{:02} 12:34:56\t{}",
            i % 100000,
            i % 100,
            i % 28 + 1,
            i % 1000
        );
    }
    csv
}

fn json_body(rows: usize) -> String {
    let mut json = String::with_capacity(rows * 100);
    json.push('[');
    for i in 0..rows {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            r#"{{"id":{i},"name":"c-{i}","amount":"{}.50","ts":"2024-05-01 00:00:00","qty":{},"__op":0}}"#,
            i % 1000,
            i % 7
        );
    }
    json.push(']');
    json
}

fn create_table(sim: &Sim, table: &str) {
    sim.sql(&format!(
        "CREATE TABLE b.{table} (id BIGINT NOT NULL, name VARCHAR(64) NULL, \
         amount DECIMAL(18,2) NULL, ts DATETIME NULL, qty INT NULL) PRIMARY KEY(id) \
         DISTRIBUTED BY HASH(id) BUCKETS 8"
    ));
}

/// One timed load; returns seconds end-to-end.
fn timed_load(sim: &Sim, table: &str, headers: &[(&str, &str)], body: &str, rows: usize) -> f64 {
    let started = Instant::now();
    let r = sim.load("b", table, headers, body.as_bytes());
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], rows as u64);
    secs
}

/// Loads the CSV and the JSON body into a fresh table; returns (csv secs, json secs).
fn run(sim: &Sim, table: &str, csv: &str, json: &str, rows: usize) -> (f64, f64) {
    create_table(sim, table);
    let csv_label = format!("{table}-csv");
    let csv_secs = timed_load(sim, table, &[("label", &csv_label)], csv, rows);
    let json_label = format!("{table}-json");
    let json_secs = timed_load(
        sim,
        table,
        &[
            ("label", &json_label),
            ("format", "json"),
            ("strip_outer_array", "true"),
        ],
        json,
        rows,
    );
    (csv_secs, json_secs)
}

#[test]
fn bulk_csv_and_json_load_rows_per_second() {
    let rows = bench_rows();
    let sim = Sim::start();
    sim.sql("CREATE DATABASE b");
    let (csv, json) = (csv_body(rows), json_body(rows));
    let (csv_n, json_n) = run(&sim, "t", &csv, &json, rows);
    assert_eq!(count(&sim, "t"), rows);
    sim.config(serde_json::json!({"discard": true}));
    let (csv_d, json_d) = run(&sim, "u", &csv, &json, rows);
    assert_eq!(count(&sim, "u"), 0, "discard applies nothing");
    let rate = |secs: f64| rows as f64 / secs;
    for (kind, mb, normal, discard) in [
        ("CSV", csv.len(), csv_n, csv_d),
        ("JSON", json.len(), json_n, json_d),
    ] {
        println!(
            "starrocks-sim {kind}: {rows} rows, {:.1} MB: applied {:.3}s = {:.0} rows/s; \
             discard {:.3}s = {:.0} rows/s; discard is {:.2}x as fast",
            mb as f64 / 1e6,
            normal,
            rate(normal),
            discard,
            rate(discard),
            normal / discard
        );
    }
}

/// Rows in `b.<table>` (a table dump of 500k rows is larger than the HTTP client reads).
fn count(sim: &Sim, table: &str) -> usize {
    let r = sim.control_post(
        "/sql",
        serde_json::json!({ "sql": format!("SELECT COUNT(*) FROM b.{table}") }),
    );
    r["rows"][0][0].as_str().unwrap().parse().unwrap()
}
