//! INSERT / DELETE / UPDATE on the MySQL front and through `POST /sql`, answered like
//! StarRocks on Primary Key tables.
mod common;
use common::Sim;
use mysql::prelude::Queryable;
use serde_json::json;

fn err_text(e: mysql::Error) -> (u16, String) {
    match e {
        mysql::Error::MySqlError(m) => (m.code, m.message),
        other => panic!("not a server error: {other}"),
    }
}

fn setup() -> (Sim, mysql::Conn) {
    let sim = Sim::start();
    sim.simple_table("d");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    (sim, c)
}

/// `{'label':'insert_...', 'status':'VISIBLE', 'txnId':'1001'}` → (label, txn id).
fn parse_info(info: &str) -> (String, i64) {
    assert!(info.starts_with("{'label':'"), "{info}");
    assert!(info.contains("'status':'VISIBLE'"), "{info}");
    let label = info["{'label':'".len()..]
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    let txn = info
        .split("'txnId':'")
        .nth(1)
        .unwrap()
        .trim_end_matches("'}")
        .parse()
        .unwrap();
    (label, txn)
}

#[test]
fn insert_values_upserts_and_answers_like_starrocks() {
    let (sim, mut c) = setup();
    c.query_drop("INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20)")
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    let (label, txn) = parse_info(&c.info_str());
    assert!(label.starts_with("insert_"), "{label}");
    assert!(txn > 0);
    let st = sim.get(&format!(
        "http://{}/api/d/get_load_state?label={label}",
        sim.fe
    ));
    assert_eq!(st.json()["state"], "VISIBLE");
    // Upsert on the key: the whole row is replaced; unlisted columns take their default.
    c.query_drop("INSERT INTO d.t (id, name) VALUES (1, 'z')")
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(
        sim.rows("d", "t"),
        [
            json!({"id": 1, "name": "z", "score": null}),
            json!({"id": 2, "name": "b", "score": 20})
        ]
    );
    // Expressions, NULL, DEFAULT on a column with a default, the last row per key wins.
    sim.sql(
        "CREATE TABLE d.x (k INT NOT NULL, v INT NULL DEFAULT \"5\", s VARCHAR(8) NULL, \
         dt DATETIME NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
    );
    c.query_drop(
        "INSERT INTO x VALUES (1, 2 + 3 * 4, NULL, '2024-05-01 10:00:00'), (2, DEFAULT, 'q', NULL), \
         (1, -7, 'last', NULL)",
    )
    .unwrap();
    assert_eq!(c.affected_rows(), 3);
    assert_eq!(
        sim.rows("d", "x"),
        [
            json!({"k": 1, "v": -7, "s": "last", "dt": null}),
            json!({"k": 2, "v": 5, "s": "q", "dt": null})
        ]
    );
    // WITH LABEL takes the label like a load; a reused label is refused.
    c.query_drop("INSERT INTO t WITH LABEL my_ins (id, name, score) VALUES (3, 'c', 30)")
        .unwrap();
    assert_eq!(parse_info(&c.info_str()).0, "my_ins");
    let (_, msg) = err_text(
        c.query_drop("INSERT INTO t WITH LABEL my_ins VALUES (4, 'd', 40)")
            .unwrap_err(),
    );
    assert_eq!(msg, "Label [my_ins] has already been used.");
    // DML are not loads.
    assert!(sim.control_get("/loads").as_array().unwrap().is_empty());
}

#[test]
fn insert_errors_are_starrocks_messages() {
    let (sim, mut c) = setup();
    sim.sql(
        "CREATE TABLE d.nn (k INT NOT NULL, req INT NOT NULL, opt INT NULL) PRIMARY KEY(k) \
         DISTRIBUTED BY HASH(k)",
    );
    for (sql, msg) in [
        (
            "INSERT INTO t VALUES (1, 'a')",
            "Getting analyzing error. Detail message: Inserted target column count: 3 doesn't match select/value column count: 2.",
        ),
        (
            "INSERT INTO t (id, nosuch) VALUES (1, 2)",
            "Getting analyzing error. Detail message: Unknown column 'nosuch' in 't'.",
        ),
        (
            "INSERT INTO nn (k, opt) VALUES (1, 2)",
            "Getting analyzing error. Detail message: 'req' must be explicitly mentioned in column permutation.",
        ),
        (
            "INSERT INTO nn VALUES (1, 2, DEFAULT)",
            "Getting analyzing error. Detail message: Column has no default value, column=opt.",
        ),
        (
            "INSERT INTO nosuch VALUES (1)",
            "Getting analyzing error. Detail message: Unknown table 'd.nosuch'.",
        ),
    ] {
        let (code, got) = err_text(c.query_drop(sql).unwrap_err());
        assert_eq!((code, got.as_str()), (1064, msg), "{sql}");
    }
    // Strict mode: one bad value fails the statement; the tracking URL serves the rows.
    for sql in [
        "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 'notanumber')",
        "INSERT INTO t VALUES (NULL, 'a', 1)",
        "INSERT INTO t VALUES (1, 'far too long for sixteen bytes', 1)",
    ] {
        let (_, msg) = err_text(c.query_drop(sql).unwrap_err());
        let url = msg
            .strip_prefix("Insert has filtered data in strict mode, tracking_url=")
            .unwrap_or_else(|| panic!("{sql}: {msg}"));
        let log = sim.get(url).body;
        assert!(log.starts_with("Error: "), "{log}");
    }
    assert!(sim.rows("d", "t").is_empty(), "nothing applied");
}

#[test]
fn delete_and_update_plant_wrong_rows() {
    let (sim, mut c) = setup();
    let r = sim.load(
        "d",
        "t",
        &[("label", "l1")],
        b"1\ta\t10\n2\tb\t20\n3\tc\t30\n4\td\t40\n",
    );
    assert_eq!(r["Status"], "Success");
    // A changed value (SET may read the row), a deleted row, an extra row.
    c.query_drop("UPDATE t SET score = score + 1, name = 'changed' WHERE id IN (1, 2)")
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert!(parse_info(&c.info_str()).0.starts_with("update_"));
    c.query_drop("DELETE FROM d.t WHERE score >= 30 AND name <> 'd'")
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert!(parse_info(&c.info_str()).0.starts_with("delete_"));
    c.query_drop("INSERT INTO t VALUES (9, 'extra', 90)")
        .unwrap();
    assert_eq!(
        sim.rows("d", "t"),
        [
            json!({"id": 1, "name": "changed", "score": 11}),
            json!({"id": 2, "name": "changed", "score": 21}),
            json!({"id": 4, "name": "d", "score": 40}),
            json!({"id": 9, "name": "extra", "score": 90}),
        ]
    );
    c.query_drop("DELETE FROM t WHERE id = 12345").unwrap();
    assert_eq!(c.affected_rows(), 0);

    for (sql, msg) in [
        (
            "UPDATE t SET id = 5 WHERE id = 1",
            "Getting analyzing error. Detail message: primary key column cannot be updated: id.",
        ),
        (
            "UPDATE t SET nosuch = 5 WHERE id = 1",
            "Getting analyzing error. Detail message: table 't' do not existing column 'nosuch'.",
        ),
        (
            "UPDATE t SET score = 5",
            "Getting analyzing error. Detail message: must specify where clause to prevent full table update.",
        ),
        (
            "DELETE FROM t",
            "Getting analyzing error. Detail message: Delete must specify where clause to prevent full table delete.",
        ),
    ] {
        let (code, got) = err_text(c.query_drop(sql).unwrap_err());
        assert_eq!((code, got.as_str()), (1064, msg), "{sql}");
    }
    let (_, msg) = err_text(
        c.query_drop("UPDATE t SET score = 'x' WHERE id = 1")
            .unwrap_err(),
    );
    assert!(
        msg.starts_with("Insert has filtered data in strict mode"),
        "{msg}"
    );
    sim.sql(
        "CREATE TABLE d.dup (k INT NOT NULL, v INT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k)",
    );
    let (_, msg) = err_text(
        c.query_drop("UPDATE dup SET v = 1 WHERE k = 1")
            .unwrap_err(),
    );
    assert_eq!(
        msg,
        "Getting analyzing error. Detail message: table dup does not support update."
    );
    assert_eq!(
        sim.rows("d", "t")[0]["score"],
        11,
        "refused statements change nothing"
    );
}

#[test]
fn dml_through_the_control_api() {
    let (sim, _c) = setup();
    let r = sim.control_post(
        "/sql",
        json!({"sql": "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)", "db": "d"}),
    );
    assert_eq!(r["affected"], 2);
    assert!(r["info"].as_str().unwrap().contains("'status':'VISIBLE'"));
    let r = sim.control_post(
        "/sql",
        json!({"sql": "UPDATE d.t SET name = 'x' WHERE id = 2"}),
    );
    assert_eq!(r["affected"], 1);
    let r = sim.control_post("/sql", json!({"sql": "DELETE FROM d.t WHERE id = 1"}));
    assert_eq!(r["affected"], 1);
    assert_eq!(
        sim.rows("d", "t"),
        [json!({"id": 2, "name": "x", "score": 2})]
    );
}
