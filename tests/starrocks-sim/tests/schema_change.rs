//! Column DDL beyond ADD/DROP: RENAME COLUMN (synchronous), MODIFY COLUMN type rules, and
//! schema-change jobs that end CANCELLED.
mod common;
use common::Sim;
use mysql::prelude::Queryable;
use serde_json::json;
use std::time::{Duration, Instant};

fn err_text(e: mysql::Error) -> (u16, String) {
    match e {
        mysql::Error::MySqlError(m) => (m.code, m.message),
        other => panic!("not a server error: {other}"),
    }
}

fn desc(c: &mut mysql::Conn, table: &str) -> Vec<(String, String, String, String)> {
    let rows: Vec<mysql::Row> = c.query(format!("DESC {table}")).unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get("Field").unwrap(),
                r.get("Type").unwrap(),
                r.get("Null").unwrap(),
                r.get("Key").unwrap(),
            )
        })
        .collect()
}

/// Polls SHOW ALTER TABLE COLUMN until the newest job of `table` is done; returns (State, Msg).
fn wait_job(c: &mut mysql::Conn, table: &str) -> (String, String) {
    let started = Instant::now();
    loop {
        let row: Option<mysql::Row> = c
            .query_first(format!(
                "SHOW ALTER TABLE COLUMN WHERE TableName = '{table}' ORDER BY JobId DESC LIMIT 1"
            ))
            .unwrap();
        let row = row.expect("a schema change job");
        let state: String = row.get("State").unwrap();
        if state == "FINISHED" || state == "CANCELLED" {
            return (state, row.get("Msg").unwrap());
        }
        assert!(started.elapsed() < Duration::from_secs(10), "job stuck");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn job_count(c: &mut mysql::Conn) -> usize {
    let rows: Vec<mysql::Row> = c.query("SHOW ALTER TABLE COLUMN").unwrap();
    rows.len()
}

#[test]
fn rename_column_is_a_synchronous_metadata_change() {
    let sim = Sim::start();
    sim.simple_table("d");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    sim.load("d", "t", &[("label", "l1")], b"1\ta\t10\n2\tb\t20\n");
    let jobs = job_count(&mut c);
    c.query_drop("ALTER TABLE t RENAME COLUMN score TO points")
        .unwrap();
    // No job: the new name is usable at once, data kept.
    assert_eq!(job_count(&mut c), jobs);
    let cols: Vec<String> = desc(&mut c, "t").into_iter().map(|d| d.0).collect();
    assert_eq!(cols, ["id", "name", "points"]);
    let pts: Vec<(i64, i64)> = c.query("SELECT id, points FROM t ORDER BY id").unwrap();
    assert_eq!(pts, [(1, 10), (2, 20)]);
    let r = sim.load(
        "d",
        "t",
        &[("label", "l2"), ("columns", "id,name,points")],
        b"3\tc\t30\n",
    );
    assert_eq!(r["Status"], "Success", "{r}");
    let r = sim.load(
        "d",
        "t",
        &[("label", "l3"), ("format", "json")],
        br#"{"id": 4, "name": "d", "points": 40, "score": 99}"#,
    );
    assert_eq!(r["Status"], "Success", "{r}");
    let r = sim.load(
        "d",
        "t",
        &[("label", "l4"), ("columns", "id,name,score")],
        b"5\te\t50\n",
    );
    assert_eq!(r["Status"], "Fail", "old name is unknown: {r}");
    let rows = sim.rows("d", "t");
    assert_eq!(rows[3], json!({"id": 4, "name": "d", "points": 40}));

    // `TO` is optional, and key columns can be renamed too.
    c.query_drop("ALTER TABLE d.t RENAME COLUMN id uid")
        .unwrap();
    let d = desc(&mut c, "t");
    assert_eq!(d[0].0, "uid");
    assert_eq!(d[0].3, "true");
    let ddl: (String, String) = c.query_first("SHOW CREATE TABLE t").unwrap().unwrap();
    assert!(ddl.1.contains("PRIMARY KEY(`uid`)"), "{}", ddl.1);
    assert!(ddl.1.contains("DISTRIBUTED BY HASH(`uid`)"), "{}", ddl.1);
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM t WHERE uid IN (1, 2, 3)")
        .unwrap()
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn rename_column_errors_follow_starrocks() {
    let sim = Sim::start_with(&["--schema-change-ms", "1500"]);
    sim.simple_table("d");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    let (code, msg) = err_text(
        c.query_drop("ALTER TABLE t RENAME COLUMN nosuch TO x")
            .unwrap_err(),
    );
    assert_eq!(
        (code, msg.as_str()),
        (1054, "Unknown column 'nosuch' in 't'")
    );
    let (code, msg) = err_text(
        c.query_drop("ALTER TABLE t RENAME COLUMN score TO NAME")
            .unwrap_err(),
    );
    assert_eq!((code, msg.as_str()), (1060, "Duplicate column name 'NAME'"));
    let (_, msg) = err_text(
        c.query_drop("ALTER TABLE t RENAME COLUMN score TO `bad-name`")
            .unwrap_err(),
    );
    assert!(msg.contains("Incorrect column name 'bad-name'"), "{msg}");
    c.query_drop("ALTER TABLE t ADD COLUMN extra INT NULL")
        .unwrap();
    let (_, msg) = err_text(
        c.query_drop("ALTER TABLE t RENAME COLUMN score TO s2")
            .unwrap_err(),
    );
    assert_eq!(msg, "Can not rename column of table in SCHEMA_CHANGE state");
    assert_eq!(wait_job(&mut c, "t").0, "FINISHED");
    c.query_drop("ALTER TABLE t RENAME COLUMN score TO s2")
        .unwrap();
}
