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
        c.query_drop("ALTER TABLE t RENAME COLUMN score TO `bad=name`")
            .unwrap_err(),
    );
    assert!(msg.contains("Incorrect column name 'bad=name'"), "{msg}");
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

fn modify_table(sim: &Sim) -> mysql::Conn {
    sim.sql("CREATE DATABASE d");
    sim.sql(
        "CREATE TABLE d.m (id BIGINT NOT NULL, code VARCHAR(20) NOT NULL, ti TINYINT NULL, \
         i INT NULL, bi BIGINT NULL, f FLOAT NULL, dbl DOUBLE NULL, dec1 DECIMAL(10,2) NULL, \
         v VARCHAR(10) NULL, c CHAR(4) NULL, dt DATE NULL, dtt DATETIME NULL, b BOOLEAN NULL, \
         j JSON NULL, withdef INT NULL DEFAULT \"7\", nn INT NOT NULL DEFAULT \"0\") \
         PRIMARY KEY(id, code) DISTRIBUTED BY HASH(id) ORDER BY(id, code, ti)",
    );
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    c
}

#[test]
fn modify_column_follows_starrocks_type_rules() {
    let sim = Sim::start_with(&["--schema-change-ms", "0"]);
    let mut c = modify_table(&sim);
    let r = sim.load(
        "d",
        "m",
        &[("label", "m1"), ("columns", "id,code,i,bi,v,c,dec1,dt,nn")],
        b"1\ta\t5\t6\tvv\tcc\t1.25\t2024-01-02\t1\n",
    );
    assert_eq!(r["Status"], "Success", "{r}");
    for ok in [
        "i BIGINT NULL",
        "i LARGEINT NULL",
        "dbl VARCHAR(40) NULL",
        "f DOUBLE NULL",
        "v VARCHAR(20) NULL",
        "c VARCHAR(10) NULL",
        "dec1 DECIMAL(12,3) NULL",
        "dt DATETIME NULL",
        "bi VARCHAR(30) NULL",
        "j VARCHAR(100) NULL",
        "withdef BIGINT NULL DEFAULT \"7\"",
        "nn BIGINT NULL DEFAULT \"0\"",
    ] {
        c.query_drop(format!("ALTER TABLE m MODIFY COLUMN {ok}"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let row = sim.rows("d", "m")[0].clone();
    assert_eq!(row["i"], 5);
    assert_eq!(row["bi"], "6", "BIGINT → VARCHAR keeps the digits");
    assert_eq!(row["dec1"], "1.250");
    assert_eq!(row["dt"], "2024-01-02 00:00:00");
    let jobs = job_count(&mut c);
    let before = desc(&mut c, "m");
    for (bad, msg) in [
        (
            "code VARCHAR(40) NOT NULL",
            "Can not modify key column: code for primary key table",
        ),
        (
            "ti SMALLINT NULL",
            "Can not modify sort column in primary data model table",
        ),
        ("nosuch INT NULL", "Column[nosuch] does not exists"),
        ("v VARCHAR(5) NULL", "Cannot shorten string length"),
        ("c CHAR(4) NULL", "Can not change VARCHAR(10) to CHAR(4)"),
        (
            "dec1 DECIMAL(12,1) NULL",
            "Can not change DECIMAL64(12,3) to DECIMAL64(12,1)",
        ),
        (
            "dec1 DECIMAL(11,3) NULL",
            "Can not change DECIMAL64(12,3) to DECIMAL64(11,3)",
        ),
        ("dtt INT NULL", "Can not change DATETIME to INT"),
        ("b INT NULL", "Can not change BOOLEAN to INT"),
        ("i INT NULL", "Can not change LARGEINT to INT"),
        (
            "f DECIMAL(10,2) NULL",
            "Can not change DOUBLE to DECIMAL64(10,2)",
        ),
        ("f INT NULL", "Can not change DOUBLE to INT"),
        ("withdef BIGINT NULL", "Can not change default value"),
        (
            "withdef BIGINT NULL DEFAULT \"8\"",
            "Can not change default value",
        ),
        (
            "i LARGEINT NOT NULL",
            "Can not change from nullable to non-nullable",
        ),
        (
            "f DOUBLE NULL",
            "Nothing is changed. please check your alter stmt.",
        ),
        (
            "f DOUBLE NULL AFTER nosuch",
            "Column[nosuch] does not exists",
        ),
    ] {
        let (code, got) = err_text(
            c.query_drop(format!("ALTER TABLE m MODIFY COLUMN {bad}"))
                .unwrap_err(),
        );
        assert_eq!((code, got.as_str()), (1064, msg), "{bad}");
    }
    // A rejected MODIFY fails synchronously: no job, schema unchanged.
    assert_eq!(job_count(&mut c), jobs);
    assert_eq!(desc(&mut c, "m"), before);
    // VARCHAR → numbers and DATE, INT → DATE, DATE → DATETIME → DATE are in the matrix too.
    for ok in ["v INT NULL", "bi DOUBLE NULL", "dtt DATE NULL"] {
        c.query_drop(format!("ALTER TABLE m MODIFY COLUMN {ok}"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn modify_rules_on_other_table_models() {
    let sim = Sim::start_with(&["--schema-change-ms", "0"]);
    sim.sql("CREATE DATABASE d");
    sim.sql(
        "CREATE TABLE d.dup (k INT NOT NULL, v INT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k)",
    );
    sim.sql(
        "CREATE TABLE d.agg (k INT NOT NULL, v BIGINT SUM NULL) AGGREGATE KEY(k) \
         DISTRIBUTED BY HASH(k)",
    );
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    // Key columns of non-PK tables can be widened.
    c.query_drop("ALTER TABLE dup MODIFY COLUMN k BIGINT NOT NULL")
        .unwrap();
    let (_, msg) = err_text(
        c.query_drop("ALTER TABLE dup MODIFY COLUMN v BIGINT SUM NULL")
            .unwrap_err(),
    );
    assert_eq!(
        msg,
        "Can not assign aggregation method on column in Duplicate data model table: v"
    );
    let (_, msg) = err_text(
        c.query_drop("ALTER TABLE agg MODIFY COLUMN k BIGINT SUM NOT NULL")
            .unwrap_err(),
    );
    assert_eq!(msg, "Can not assign aggregation method on key column: k");
    let (_, msg) = err_text(
        c.query_drop("ALTER TABLE agg MODIFY COLUMN v BIGINT MAX NULL")
            .unwrap_err(),
    );
    assert_eq!(msg, "Can not change aggregation type");
    c.query_drop("ALTER TABLE agg MODIFY COLUMN v LARGEINT SUM NULL")
        .unwrap();
}

#[test]
fn cancel_schema_change_fault_ends_the_job_cancelled() {
    let sim = Sim::start_with(&["--schema-change-ms", "300"]);
    sim.simple_table("d");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    sim.fault(
        json!({"target": "mysql", "label": "*ADD COLUMN extra*", "times": 1,
        "action": {"kind": "cancel_schema_change"}}),
    );
    // A rejected ALTER does not use the fault up.
    assert!(
        c.query_drop("ALTER TABLE t ADD COLUMN extra INT NOT NULL")
            .is_err()
    );
    c.query_drop("ALTER TABLE t ADD COLUMN extra INT NULL")
        .unwrap();
    let (state, msg) = wait_job(&mut c, "t");
    assert_eq!(state, "CANCELLED");
    assert_eq!(
        msg,
        "schema change task failed after try three times: fault injected by starrocks-sim"
    );
    let cols: Vec<String> = desc(&mut c, "t").into_iter().map(|d| d.0).collect();
    assert_eq!(cols, ["id", "name", "score"], "schema unchanged");
    let row: mysql::Row = c
        .query_first("SHOW ALTER TABLE COLUMN WHERE TableName = 't' ORDER BY JobId DESC LIMIT 1")
        .unwrap()
        .unwrap();
    assert!(
        row.get::<Option<String>, _>("FinishTime")
            .unwrap()
            .is_some()
    );
    let r = sim.load(
        "d",
        "t",
        &[("label", "l1"), ("columns", "id,name,score,extra")],
        b"1\ta\t1\t9\n",
    );
    assert_eq!(r["Status"], "Fail", "the column never arrived: {r}");
    // The table is NORMAL again; the same ALTER now finishes.
    c.query_drop("ALTER TABLE t ADD COLUMN extra INT NULL")
        .unwrap();
    assert_eq!(wait_job(&mut c, "t").0, "FINISHED");
    // A custom Msg, and the control API's SQL goes through the same hook.
    sim.fault(json!({"target": "mysql", "label": "*DROP COLUMN extra*",
        "action": {"kind": "cancel_schema_change", "message": "cancelled: timeout"}}));
    sim.sql("ALTER TABLE d.t DROP COLUMN extra");
    assert_eq!(
        wait_job(&mut c, "t"),
        ("CANCELLED".to_string(), "cancelled: timeout".to_string())
    );
    assert_eq!(sim.control_get("/counters")["faults_fired"], 2);
}
