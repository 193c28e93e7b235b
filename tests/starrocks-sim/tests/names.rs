//! Hostile names: StarRocks' name rules (`FeNameFormat`, 3.3+), doubled back quotes in quoted
//! identifiers (SQL and the Stream Load `columns` header), and URL paths — the FE decodes them,
//! the BE does not.
mod common;
use common::Sim;
use mysql::prelude::Queryable;

fn err_text(e: mysql::Error) -> (u16, String) {
    match e {
        mysql::Error::MySqlError(m) => (m.code, m.message),
        other => panic!("expected server error, got {other}"),
    }
}

#[test]
fn quoted_identifiers_hold_back_quotes_quotes_spaces_unicode_and_keywords() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    c.query_drop("CREATE DATABASE `select`").unwrap();
    c.query_drop(
        "CREATE TABLE `select`.`o'rder$s;1=1` (`we``ird` BIGINT NOT NULL, `a \"b\" c` VARCHAR(20) \
         NULL, `名前` VARCHAR(20) NULL, `from` INT NULL) PRIMARY KEY(`we``ird`) DISTRIBUTED BY \
         HASH(`we``ird`) BUCKETS 1",
    )
    .unwrap();
    let cols: Vec<String> = c
        .query_map("DESC `select`.`o'rder$s;1=1`", |row: mysql::Row| {
            row.get::<String, usize>(0).unwrap()
        })
        .unwrap();
    assert_eq!(cols, ["we`ird", "a \"b\" c", "名前", "from"]);
    c.query_drop(
        "INSERT INTO `select`.`o'rder$s;1=1` (`we``ird`, `a \"b\" c`, `名前`, `from`) VALUES \
         (1, 'x''y', 'z', 3)",
    )
    .unwrap();
    let row: Option<(i64, String, String, i64)> = c
        .query_first(
            "SELECT `we``ird`, `a \"b\" c`, `名前`, `from` FROM `select`.`o'rder$s;1=1` \
             WHERE `we``ird` IN (1)",
        )
        .unwrap();
    assert_eq!(row, Some((1, "x'y".into(), "z".into(), 3)));
    let model: Option<String> = c
        .query_first(
            "SELECT TABLE_MODEL FROM information_schema.tables_config WHERE TABLE_SCHEMA = \
             'select' AND TABLE_NAME = 'o\\'rder$s;1=1'",
        )
        .unwrap();
    assert_eq!(model.as_deref(), Some("PRI_KEYS"));
}

#[test]
fn names_follow_the_fe_rules() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    for (sql, msg) in [
        ("CREATE DATABASE `my-db`", "Incorrect database name 'my-db'"),
        ("CREATE DATABASE `__x`", "Incorrect database name '__x'"),
        (
            "CREATE TABLE d.`t` (`a!` INT NOT NULL) PRIMARY KEY(`a!`) DISTRIBUTED BY HASH(`a!`)",
            "Incorrect column name 'a!'",
        ),
        (
            "CREATE TABLE d.`t` (`__starrocks_shadow_k` INT NOT NULL) PRIMARY KEY(\
             `__starrocks_shadow_k`) DISTRIBUTED BY HASH(`__starrocks_shadow_k`)",
            "Incorrect column name",
        ),
    ] {
        c.query_drop("CREATE DATABASE IF NOT EXISTS d").unwrap();
        let (code, text) = err_text(c.query_drop(sql).unwrap_err());
        assert_eq!(code, 1064, "{sql}");
        assert!(text.contains(msg), "{sql}: {text}");
    }
    let long = "t".repeat(1025);
    let sql =
        format!("CREATE TABLE d.`{long}` (k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)");
    let (_, text) = err_text(c.query_drop(sql).unwrap_err());
    assert!(text.contains("Incorrect table name"), "{text}");
    // Table names take any character but NUL (StarRocks 3.3+).
    c.query_drop(
        "CREATE TABLE d.`order items/订单` (k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
    )
    .unwrap();
}

#[test]
fn stream_load_columns_header_and_paths() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE d");
    sim.sql(
        "CREATE TABLE d.`o'rder$s` (`we``ird` BIGINT NOT NULL, `a \"b\"` VARCHAR(20) NULL) \
         PRIMARY KEY(`we``ird`) DISTRIBUTED BY HASH(`we``ird`) BUCKETS 1",
    );
    sim.sql(
        "CREATE TABLE d.`a b` (k BIGINT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    );
    let v = sim.load(
        "d",
        "o'rder$s",
        &[
            ("label", "n1"),
            ("column_separator", ","),
            ("columns", "`we``ird`,`a \"b\"`"),
        ],
        b"1,x\n",
    );
    assert_eq!(v["Status"], "Success", "{v}");
    let mut c = sim.mysql();
    let row: Option<(i64, String)> = c
        .query_first("SELECT `we``ird`, `a \"b\"` FROM d.`o'rder$s`")
        .unwrap();
    assert_eq!(row, Some((1, "x".into())));
    // The BE takes the path as it is: a percent-encoded name is another (unknown) table.
    let v = sim.load("d", "a%20b", &[("label", "n2")], b"1\n");
    assert_eq!(v["Status"], "Fail", "{v}");
    assert!(v["Message"].as_str().unwrap().contains("a%20b"), "{v}");
    // The FE decodes it (and redirects with the raw path).
    let r = sim.put(
        &sim.fe,
        "/api/d/a%20b/_stream_load",
        &[("label", "n3")],
        b"1\n",
        true,
    );
    assert_eq!(r.status, 307, "{}", r.body);
    assert!(
        r.header("location")
            .unwrap()
            .ends_with("/api/d/a%20b/_stream_load")
    );
}
