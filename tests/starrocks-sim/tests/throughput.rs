//! Measures how many rows/s the sim applies from one large CSV Stream Load (and a JSON one).
//! Prints the figures; asserts only correctness. Size: `SIM_BENCH_ROWS` (default 20000 in debug, 500000 in release builds).
//! For the real figure run it against a release build:
//! `cargo test -p starrocks-sim --release --test throughput -- --nocapture`.
mod common;
use common::Sim;
use std::fmt::Write;
use std::time::Instant;

#[test]
fn bulk_csv_and_json_load_rows_per_second() {
    let rows: usize = std::env::var("SIM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            20_000
        } else {
            500_000
        });
    let sim = Sim::start();
    sim.sql("CREATE DATABASE b");
    sim.sql(
        "CREATE TABLE b.t (id BIGINT NOT NULL, name VARCHAR(64) NULL, amount DECIMAL(18,2) NULL, \
             ts DATETIME NULL, qty INT NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 8",
    );
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
    let started = Instant::now();
    let r = sim.load("b", "t", &[("label", "bulk-csv")], csv.as_bytes());
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], rows as u64);
    println!(
        "starrocks-sim CSV: {rows} rows, {:.1} MB in {:.3}s end-to-end = {:.0} rows/s (server: load {} ms, read {} ms, write {} ms, commit {} ms)",
        csv.len() as f64 / 1e6,
        secs,
        rows as f64 / secs,
        r["LoadTimeMs"],
        r["ReadDataTimeMs"],
        r["WriteDataTimeMs"],
        r["CommitAndPublishTimeMs"]
    );
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
    let started = Instant::now();
    let r = sim.load(
        "b",
        "t",
        &[
            ("label", "bulk-json"),
            ("format", "json"),
            ("strip_outer_array", "true"),
        ],
        json.as_bytes(),
    );
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r["Status"], "Success", "{r}");
    println!(
        "starrocks-sim JSON: {rows} rows, {:.1} MB in {:.3}s end-to-end = {:.0} rows/s",
        json.len() as f64 / 1e6,
        secs,
        rows as f64 / secs
    );
    sim.sql("SELECT COUNT(*) FROM b.t");
}
