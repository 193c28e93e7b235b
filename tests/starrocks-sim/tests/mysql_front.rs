//! §9.3 MySQL front checklist and §5 SQL behaviour, through the `mysql` crate.
mod common;
use common::Sim;
use mysql::prelude::Queryable;

const PK_DDL: &str = "CREATE TABLE IF NOT EXISTS `shop`.`orders` (
  `id`         BIGINT        NOT NULL COMMENT \"\",
  `tenant_id`  INT           NOT NULL,
  `status`     VARCHAR(64)   NULL,
  `amount`     DECIMAL(18,2) NULL,
  `attrs`      JSON          NULL,
  `flag`       BOOLEAN       NULL,
  `big`        LARGEINT      NULL,
  `created_at` DATETIME      NULL
)
ENGINE = OLAP
PRIMARY KEY (`id`, `tenant_id`)
COMMENT \"replicated from mysql shop.orders\"
DISTRIBUTED BY HASH (`id`) BUCKETS 8
PROPERTIES (
  \"replication_num\" = \"1\",
  \"enable_persistent_index\" = \"true\"
)";

fn err_text(e: mysql::Error) -> (u16, String) {
    match e {
        mysql::Error::MySqlError(m) => (m.code, m.message),
        other => panic!("expected server error, got {other}"),
    }
}

#[test]
fn connect_handshake_and_session_statements() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    let (packet, wait): (u64, u64) = c
        .query_first("SELECT @@max_allowed_packet, @@wait_timeout")
        .unwrap()
        .unwrap();
    assert!(packet > 0 && wait > 0);
    let comment: String = c
        .query_first("SELECT @@version_comment LIMIT 1")
        .unwrap()
        .unwrap();
    assert!(comment.contains("StarRocks"));
    c.query_drop("SET NAMES utf8mb4").unwrap();
    c.query_drop("SET time_zone = '+00:00'").unwrap();
    let (code, msg) = err_text(c.query_drop("SELECT @@socket").unwrap_err());
    assert_eq!(code, 1193);
    assert!(msg.contains("Unknown system variable 'socket'"), "{msg}");
    // Server-side prepared statements are rejected like StarRocks 2.5.
    let (_, msg) = err_text(c.exec_drop("SELECT ?", (1,)).unwrap_err());
    assert!(
        msg.contains("Unsupported command(COM_STMT_PREPARE)"),
        "{msg}"
    );
    // Unsupported SQL is an error, not a crash; the connection stays usable.
    assert!(c.query_drop("GRANT ALL ON *.* TO x").is_err());
    let one: i64 = c.query_first("SELECT 1").unwrap().unwrap();
    assert_eq!(one, 1);
}

#[test]
fn wrong_password_is_rejected() {
    let sim = Sim::start();
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(sim.query_port)
        .user(Some("root"))
        .pass(Some("nope"))
        .prefer_socket(false);
    assert!(mysql::Conn::new(opts).is_err());
}

#[test]
fn create_table_desc_show_create_and_information_schema() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    c.query_drop("CREATE DATABASE IF NOT EXISTS shop").unwrap();
    c.query_drop("CREATE DATABASE IF NOT EXISTS shop").unwrap();
    c.query_drop(PK_DDL).unwrap();
    c.query_drop(PK_DDL).unwrap();
    let dbs: Vec<String> = c.query("SHOW DATABASES").unwrap();
    assert!(dbs.contains(&"shop".to_string()));
    c.query_drop("USE shop").unwrap();
    let tables: Vec<String> = c.query("SHOW TABLES").unwrap();
    assert_eq!(tables, vec!["orders"]);
    let desc: Vec<(String, String, String, String)> = c
        .query_map(
            "DESC orders",
            |(f, t, n, k, _d, _e): (String, String, String, String, Option<String>, String)| {
                (f, t, n, k)
            },
        )
        .unwrap();
    assert_eq!(
        desc[0],
        ("id".into(), "bigint(20)".into(), "NO".into(), "true".into())
    );
    assert_eq!(
        desc[3],
        (
            "amount".into(),
            "decimal(18,2)".into(),
            "YES".into(),
            "false".into()
        )
    );
    let (_, ddl): (String, String) = c
        .query_first("SHOW CREATE TABLE shop.orders")
        .unwrap()
        .unwrap();
    assert!(ddl.contains("PRIMARY KEY(`id`, `tenant_id`)"), "{ddl}");
    assert!(ddl.contains("DISTRIBUTED BY HASH(`id`) BUCKETS 8"), "{ddl}");
    assert!(ddl.contains("\"replication_num\" = \"1\""), "{ddl}");
    let cols: Vec<(String, String, String, String, String)> = c
        .query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, IS_NULLABLE FROM information_schema.columns \
                WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'orders' ORDER BY ORDINAL_POSITION")
        .unwrap();
    assert_eq!(
        cols[0],
        (
            "id".into(),
            "bigint".into(),
            "bigint(20)".into(),
            "PRI".into(),
            "NO".into()
        )
    );
    assert_eq!(cols[2].3, "");
    assert_eq!(
        (cols[5].1.as_str(), cols[5].2.as_str()),
        ("tinyint", "tinyint(1)"),
        "BOOLEAN quirk"
    );
    assert_eq!(
        (cols[6].1.as_str(), cols[6].2.as_str()),
        ("bigint unsigned", "bigint(20) unsigned"),
        "LARGEINT quirk"
    );
    let (model, pk): (String, String) = c
        .query_first("SELECT TABLE_MODEL, PRIMARY_KEY FROM information_schema.tables_config WHERE TABLE_SCHEMA='shop' AND TABLE_NAME='orders'")
        .unwrap()
        .unwrap();
    assert_eq!(model, "PRI_KEYS");
    assert_eq!(pk, "`id`, `tenant_id`");
    let n: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = 'shop'")
        .unwrap();
    assert_eq!(n, vec!["orders"]);
    for (model, ddl) in [
        ("DUP_KEYS", "DUPLICATE KEY(k)"),
        ("UNQ_KEYS", "UNIQUE KEY(k)"),
        ("AGG_KEYS", "AGGREGATE KEY(k)"),
    ] {
        let v = if model == "AGG_KEYS" {
            "v INT SUM NULL"
        } else {
            "v INT NULL"
        };
        c.query_drop(format!(
            "CREATE TABLE m_{model} (k INT NOT NULL, {v}) {ddl} DISTRIBUTED BY HASH(k)"
        ))
        .unwrap();
        let got: String = c
            .query_first(format!("SELECT TABLE_MODEL FROM information_schema.tables_config WHERE TABLE_NAME = 'm_{model}'"))
            .unwrap()
            .unwrap();
        assert_eq!(got, model);
    }
}

#[test]
fn primary_key_rules_are_enforced() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    c.query_drop("CREATE DATABASE d").unwrap();
    c.query_drop("USE d").unwrap();
    let cases = [
        (
            "CREATE TABLE a (v INT NULL, k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "Key columns should be a ordered prefix of the schema",
        ),
        (
            "CREATE TABLE a (k INT NULL, v INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "primary key column[k] cannot be nullable",
        ),
        (
            "CREATE TABLE a (k DECIMAL(10,2) NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "type not supported",
        ),
        (
            "CREATE TABLE a (k CHAR(3) NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "type not supported",
        ),
        (
            "CREATE TABLE a (k JSON NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "type not supported",
        ),
        (
            "CREATE TABLE a (k INT NOT NULL, v INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(v)",
            "Distribution column[v] is not key column",
        ),
        (
            "CREATE TABLE `a=b` (k INT NOT NULL, `c=d` INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)",
            "Incorrect column name 'c=d'",
        ),
    ];
    for (sql, msg) in cases {
        let (code, text) = err_text(c.query_drop(sql).unwrap_err());
        assert_eq!(code, 1064, "{sql}");
        assert!(text.contains(msg), "{sql}: {text}");
    }
}

#[test]
fn select_by_key_count_order_and_tuple_in_rejected() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE d");
    sim.sql("CREATE TABLE d.t (k1 INT NOT NULL, k2 VARCHAR(8) NOT NULL, v DATETIME NULL) PRIMARY KEY(k1, k2) DISTRIBUTED BY HASH(k1)");
    sim.load(
        "d",
        "t",
        &[("label", "x")],
        b"1\ta\t2024-01-01 00:00:00\n1\tb\t\\N\n2\ta\t2024-01-02 10:00:00.5\n3\tc\t\\N\n",
    );
    let mut c = sim.mysql();
    let n: i64 = c.query_first("SELECT COUNT(*) FROM d.t").unwrap().unwrap();
    assert_eq!(n, 4);
    let rows: Vec<(i64, String, Option<String>)> = c
        .query("SELECT k1, k2, v FROM d.t WHERE (k1 = 1 AND k2 = 'b') OR (k1 = 2 AND k2 = 'a') ORDER BY k1 DESC")
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (2, "a".into(), Some("2024-01-02 10:00:00.500000".into())),
            (1, "b".into(), None)
        ]
    );
    let ks: Vec<i64> = c
        .query("SELECT k1 FROM d.t WHERE k1 IN (3, 1) ORDER BY k1, k2 LIMIT 2")
        .unwrap();
    assert_eq!(ks, vec![1, 1]);
    let (code, _) = err_text(
        c.query_drop("SELECT * FROM d.t WHERE (k1, k2) IN ((1, 'a'), (2, 'b'))")
            .unwrap_err(),
    );
    assert_eq!(code, 1064);
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM d.t WHERE v IS NULL")
        .unwrap()
        .unwrap();
    assert_eq!(n, 2);
    assert!(c.query_drop("SELECT * FROM d.nosuch").is_err());
    c.query_drop("TRUNCATE TABLE d.t").unwrap();
    let n: i64 = c.query_first("SELECT COUNT(*) FROM d.t").unwrap().unwrap();
    assert_eq!(n, 0);
    c.query_drop("DROP TABLE d.t").unwrap();
    c.query_drop("DROP TABLE IF EXISTS d.t").unwrap();
    assert!(c.query_drop("DROP TABLE d.t").is_err());
}

#[test]
fn show_grants_backends_and_frontends() {
    let sim = Sim::start();
    let mut c = sim.mysql();
    let grants: Vec<mysql::Row> = c.query("SHOW GRANTS").unwrap();
    assert!(!grants.is_empty());
    let col = |r: &mysql::Row, name: &str| -> String { r.get(name).unwrap() };
    let names = |r: &mysql::Row| -> Vec<String> {
        r.columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect()
    };

    let be: Vec<mysql::Row> = c.query("SHOW BACKENDS").unwrap();
    assert_eq!(be.len(), 1);
    assert_eq!(
        names(&be[0]),
        [
            "BackendId",
            "IP",
            "HeartbeatPort",
            "BePort",
            "HttpPort",
            "BrpcPort",
            "LastStartTime",
            "LastHeartbeat",
            "Alive",
            "SystemDecommissioned",
            "ClusterDecommissioned",
            "TabletNum",
            "DataUsedCapacity",
            "AvailCapacity",
            "TotalCapacity",
            "UsedPct",
            "MaxDiskUsedPct",
            "ErrMsg",
            "Version",
            "Status",
            "DataTotalCapacity",
            "DataUsedPct",
            "CpuCores",
            "MemLimit",
            "NumRunningQueries",
            "MemUsedPct",
            "CpuUsedPct",
            "DataCacheMetrics",
            "Location"
        ]
    );
    let (be_ip, be_port) = sim.be.rsplit_once(':').unwrap();
    assert_eq!(col(&be[0], "IP"), be_ip);
    assert_eq!(col(&be[0], "HttpPort"), be_port);
    assert_eq!(col(&be[0], "Alive"), "true");
    sim.config(serde_json::json!({"be_alive": [false]}));
    let be: Vec<mysql::Row> = c.query("SHOW BACKENDS").unwrap();
    assert_eq!(col(&be[0], "Alive"), "false");

    let fe: Vec<mysql::Row> = c.query("SHOW FRONTENDS").unwrap();
    assert_eq!(fe.len(), 1);
    assert_eq!(
        names(&fe[0]),
        [
            "Name",
            "IP",
            "EditLogPort",
            "HttpPort",
            "QueryPort",
            "RpcPort",
            "Role",
            "ClusterId",
            "Join",
            "Alive",
            "ReplayedJournalId",
            "LastHeartbeat",
            "IsHelper",
            "ErrMsg",
            "StartTime",
            "Version"
        ]
    );
    let (fe_ip, fe_port) = sim.fe.rsplit_once(':').unwrap();
    assert_eq!(col(&fe[0], "IP"), fe_ip);
    assert_eq!(col(&fe[0], "HttpPort"), fe_port);
    assert_eq!(col(&fe[0], "QueryPort"), sim.query_port.to_string());
    assert_eq!(col(&fe[0], "Role"), "LEADER");
    assert_eq!(col(&fe[0], "Alive"), "true");
    assert_eq!(col(&fe[0], "Join"), "true");
    assert!(col(&fe[0], "Name").starts_with(&format!("{fe_ip}_9010_")));
    assert_eq!(col(&fe[0], "StartTime").len(), 19, "YYYY-MM-DD HH:MM:SS");
    assert!(col(&fe[0], "Version").starts_with("3.3"));
}

#[test]
fn alter_table_is_an_async_job_and_serialised_per_table() {
    let sim = Sim::start_with(&["--schema-change-ms", "2000"]);
    sim.simple_table("d");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    c.query_drop("ALTER TABLE t ADD COLUMN extra VARCHAR(10) NULL DEFAULT \"x\"")
        .unwrap();
    let (code, msg) = err_text(c.query_drop("ALTER TABLE t DROP COLUMN score").unwrap_err());
    assert_eq!(code, 1064);
    assert!(
        msg.contains("A schema change operation is in progress"),
        "{msg}"
    );
    assert!(
        c.query_drop("TRUNCATE TABLE t").is_err(),
        "truncate refused during schema change"
    );
    // Loads keep working; the new column is unknown to Stream Load until FINISHED.
    let r = sim.load("d", "t", &[("label", "during")], b"1\ta\t1\n");
    assert_eq!(r["Status"], "Success");
    let r = sim.load(
        "d",
        "t",
        &[("label", "newcol"), ("columns", "id,extra")],
        b"2\ty\n",
    );
    assert_eq!(r["Status"], "Fail");
    // Poll like the Flink catalog does.
    let state = loop {
        let row: Option<(u64, String, String)> = c
            .query_first(
                "SHOW ALTER TABLE COLUMN FROM d WHERE TableName = 't' ORDER BY JobId DESC LIMIT 1",
            )
            .map(|r: Option<mysql::Row>| {
                r.map(|r| {
                    (
                        r.get::<u64, _>("JobId").unwrap(),
                        r.get::<String, _>("TableName").unwrap(),
                        r.get::<String, _>("State").unwrap(),
                    )
                })
            })
            .unwrap();
        let (_, table, state) = row.unwrap();
        assert_eq!(table, "t");
        assert!(
            ["PENDING", "WAITING_TXN", "RUNNING", "FINISHED"].contains(&state.as_str()),
            "{state}"
        );
        if state == "FINISHED" {
            break state;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(state, "FINISHED");
    let r = sim.load(
        "d",
        "t",
        &[("label", "after"), ("columns", "id,extra")],
        b"2\ty\n",
    );
    assert_eq!(r["Status"], "Success", "{r}");
    let rows = sim.rows("d", "t");
    assert_eq!(rows[0]["extra"], "x", "existing rows get the default");
    assert_eq!(rows[1]["extra"], "y");
    // Key columns cannot be dropped or modified; NULL → NOT NULL is refused.
    for sql in [
        "ALTER TABLE t DROP COLUMN id",
        "ALTER TABLE t MODIFY COLUMN id INT NOT NULL",
        "ALTER TABLE t MODIFY COLUMN score INT NOT NULL",
    ] {
        assert!(c.query_drop(sql).is_err(), "{sql}");
    }
    sim.config(serde_json::json!({"schema_change_ms": 0}));
    c.query_drop("ALTER TABLE t MODIFY COLUMN score BIGINT NULL")
        .unwrap();
    c.query_drop("ALTER TABLE t DROP COLUMN extra").unwrap();
    let desc: Vec<(String, String)> = c
        .query_map(
            "DESC t",
            |(f, t, _n, _k, _d, _e): (String, String, String, String, Option<String>, String)| {
                (f, t)
            },
        )
        .unwrap();
    assert_eq!(
        desc,
        vec![
            ("id".into(), "bigint(20)".into()),
            ("name".into(), "varchar(16)".into()),
            ("score".into(), "bigint(20)".into())
        ]
    );
    // CANCEL ALTER on a running job.
    sim.config(serde_json::json!({"schema_change_ms": 60000}));
    c.query_drop("ALTER TABLE t ADD COLUMN z INT NULL").unwrap();
    c.query_drop("CANCEL ALTER TABLE COLUMN FROM d.t").unwrap();
    let st: String = c
        .query_first("SHOW ALTER TABLE COLUMN FROM d ORDER BY JobId DESC LIMIT 1")
        .map(|r: Option<mysql::Row>| r.unwrap().get::<String, _>("State").unwrap())
        .unwrap();
    assert_eq!(st, "CANCELLED");
}

#[test]
fn default_mysql_opts_fail_on_socket_probe_like_starrocks() {
    // The crate probes @@socket on loopback unless prefer_socket(false); StarRocks rejects it.
    let sim = Sim::start();
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(sim.query_port)
        .user(Some("root"))
        .pass(Some(""));
    let e = mysql::Conn::new(opts).expect_err("connect must fail");
    assert!(
        e.to_string().contains("Unknown system variable 'socket'"),
        "{e}"
    );
}

#[test]
fn key_lookups_match_scans_for_engine_query_shapes() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE d");
    sim.sql("CREATE TABLE d.c (a INT NOT NULL, b VARCHAR(4) NOT NULL, v INT NULL) PRIMARY KEY(a, b) DISTRIBUTED BY HASH(a)");
    sim.load(
        "d",
        "c",
        &[("label", "x")],
        b"1\tx\t10\n1\ty\t11\n2\tx\t12\n",
    );
    let mut c = sim.mysql();
    let cases = [
        (
            "SELECT v FROM d.c WHERE (a = 1 AND b = 'y') OR (a = 2 AND b = 'x') OR (a = 9 AND b = 'z') ORDER BY v",
            vec![11, 12],
        ),
        (
            "SELECT v FROM d.c WHERE (a = '1' AND b = 'x' AND v > 10)",
            vec![],
        ),
        (
            "SELECT v FROM d.c WHERE a = 1 ORDER BY v DESC",
            vec![11, 10],
        ),
        (
            "SELECT v FROM d.c WHERE (a = 1 AND b = 'x') OR (a = 1 AND b = 'x')",
            vec![10],
        ),
        ("SELECT v FROM d.c WHERE a IN (2, 3)", vec![12]),
    ];
    for (sql, expected) in cases {
        let got: Vec<i64> = c.query(sql).unwrap();
        assert_eq!(got, expected, "{sql}");
    }
}

#[test]
fn odd_or_unsupported_sql_never_breaks_the_connection() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.load("d", "t", &[("label", "x")], b"1\ta\t1\n");
    let mut c = sim.mysql();
    let statements = [
        "SELECT *, * FROM d.t",
        "SELECT FROM",
        "INSERT INTO d.t VALUES (1, 'a', 1)",
        "UPDATE d.t SET score = 1",
        "DELETE FROM d.t WHERE id = 1",
        "SELECT 1/0",
        "SELECT * FROM d.t ORDER BY 9",
        "SHOW PROC '/transactions'",
        "SELECT nosuch FROM d.t",
        "SELECT * FROM information_schema.nosuch",
        "CREATE TABLE d.x (k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS",
        "ALTER TABLE d.t RENAME COLUMN a TO b",
        "\u{1F600}",
        "",
    ];
    for sql in statements {
        let _ = c.query_drop(sql);
        let one: i64 = c.query_first("SELECT 1").unwrap().unwrap();
        assert_eq!(one, 1, "connection still usable after {sql:?}");
    }
}

#[test]
fn current_version_and_typed_information_schema_columns() {
    // What the StarRocks Flink connector asks before it loads: `current_version()` and the
    // columns of the sink table, where it casts ORDINAL_POSITION to a Java Long (so the column
    // must be an integer column, as StarRocks' BIGINT is).
    let sim = Sim::start();
    let mut c = sim.mysql();
    c.query_drop("CREATE DATABASE shop").unwrap();
    c.query_drop(PK_DDL).unwrap();
    let ver: String = c
        .query_first("select current_version() as ver;")
        .unwrap()
        .unwrap();
    assert!(ver.starts_with("3.") && ver.contains(' '), "{ver}");
    let comment: String = c.query_first("SELECT @@version_comment").unwrap().unwrap();
    assert!(
        comment.contains(ver.split(' ').next().unwrap()),
        "{comment} / {ver}"
    );

    let q = "select `COLUMN_NAME`, `ORDINAL_POSITION`, `COLUMN_KEY`, `DATA_TYPE`, `COLUMN_SIZE`, \
             `DECIMAL_DIGITS` from `information_schema`.`COLUMNS` \
             where `TABLE_SCHEMA`='shop' and `TABLE_NAME`='orders';";
    let res = c.query_iter(q).unwrap();
    let types: Vec<mysql::consts::ColumnType> = res
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.column_type())
        .collect();
    use mysql::consts::ColumnType::{MYSQL_TYPE_LONGLONG, MYSQL_TYPE_VAR_STRING};
    assert_eq!(
        types,
        [
            MYSQL_TYPE_VAR_STRING,
            MYSQL_TYPE_LONGLONG,
            MYSQL_TYPE_VAR_STRING,
            MYSQL_TYPE_VAR_STRING,
            MYSQL_TYPE_LONGLONG,
            MYSQL_TYPE_LONGLONG
        ]
    );
    let rows: Vec<mysql::Row> = res.collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 8);
    let pos: Vec<u64> = rows.iter().map(|r| r.get::<u64, _>(1).unwrap()).collect();
    assert_eq!(pos, (1..=8).collect::<Vec<u64>>());
    // `SELECT *` types the same columns.
    let res = c
        .query_iter("SELECT * FROM information_schema.columns WHERE TABLE_NAME = 'orders'")
        .unwrap();
    let cols = res.columns();
    let ord = cols
        .as_ref()
        .iter()
        .find(|c| c.name_str() == "ORDINAL_POSITION")
        .unwrap();
    assert_eq!(ord.column_type(), MYSQL_TYPE_LONGLONG);
    drop(res);
    // A string value is still a string column.
    let res = c
        .query_iter("SELECT COLUMN_NAME FROM information_schema.columns")
        .unwrap();
    assert_eq!(
        res.columns().as_ref()[0].column_type(),
        MYSQL_TYPE_VAR_STRING
    );
}

#[test]
fn selects_are_counted_per_table() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.sql("CREATE TABLE d.u (k INT NOT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)");
    let mut c = sim.mysql();
    c.query_drop("USE d").unwrap();
    for sql in [
        "SELECT id, name FROM t WHERE id IN (1, 2, 3)",
        "SELECT id FROM d.t WHERE id IN (4, 5)",
        "SELECT COUNT(*) FROM u",
        "SELECT * FROM information_schema.columns WHERE TABLE_NAME = 't'",
        "SELECT 1",
    ] {
        c.query_drop(sql).unwrap();
    }
    assert!(c.query_drop("SELECT * FROM nosuch").is_err());
    let counters = sim.control_get("/counters");
    assert_eq!(
        counters["selects_by_table"],
        serde_json::json!({"d.t": 2, "d.u": 1})
    );
    sim.control_post("/counters/reset", serde_json::json!({}));
    assert_eq!(
        sim.control_get("/counters")["selects_by_table"],
        serde_json::json!({})
    );
}
