//! The statements `starpipe::ddl` writes, run against starrocks-sim (StarRocks' syntax and its
//! schema-change rules): a source table's DDL history replayed onto a target, each change
//! already applied afterwards, and each change replayed (as after a crash) recognised as such.

mod support;

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use starpipe::config::TargetName;
use starpipe::ddl::{
    Change, Context, CreateOptions, DropTables, SourceName, StatementKind, Translation, is_applied,
    parse, translate,
};
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};
use support::e2e::mysql_conn;

const SOURCE: SourceName<'static> = SourceName {
    db: "shop",
    table: "orders",
};

/// The target's schema as `DESC` shows it; `None` when the table does not exist.
fn schema(target: &TargetName) -> Option<TargetTable> {
    let rows: Vec<mysql::Row> = mysql_conn()
        .query(format!("DESC `{}`.`{}`", target.db, target.table))
        .ok()?;
    let columns = rows
        .iter()
        .map(|r| {
            let get = |i: usize| r.get_opt::<String, usize>(i).and_then(Result::ok);
            let default = get(4);
            TargetColumn::from_desc(
                &get(0).unwrap(),
                &get(1).unwrap(),
                &get(2).unwrap(),
                &get(3).unwrap(),
                default.as_deref(),
            )
            .unwrap()
        })
        .collect();
    Some(TargetTable::new(&target.db, &target.table, columns, TableModel::PrimaryKeys).unwrap())
}

/// Waits for the table's last column job to finish.
fn wait_for_job(target: &TargetName) {
    let started = Instant::now();
    loop {
        let state: Option<String> = mysql_conn()
            .query_first(format!(
                "SHOW ALTER TABLE COLUMN FROM `{}` WHERE TableName = '{}' ORDER BY JobId DESC LIMIT 1",
                target.db, target.table
            ))
            .unwrap()
            .map(|row: mysql::Row| row.get::<String, usize>(9).unwrap());
        match state.as_deref() {
            Some("FINISHED") => return,
            Some("CANCELLED") => panic!("the schema change of {target} was cancelled"),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "job of {target} never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses `sql`, applies what is not applied yet, and returns the outcome of each change:
/// `applied`, `already`, `ignored: …`.
fn replay(sql: &str, target: &TargetName, options: &CreateOptions) -> Vec<String> {
    let route = |_: &str, t: &str| TargetName {
        db: target.db.clone(),
        table: t.to_string(),
    };
    let mut outcomes = Vec::new();
    for change in parse(sql, SOURCE) {
        let current = schema(target);
        if is_applied(&change, current.as_ref()) {
            outcomes.push("already".to_string());
            continue;
        }
        let ctx = Context {
            source_db: "shop",
            target,
            schema: current.as_ref(),
            drop_tables: DropTables::Refuse,
            create: options,
            route: &route,
        };
        match translate(&change, &ctx) {
            Translation::Apply(statements) => {
                for st in statements {
                    let mut conn = mysql_conn();
                    conn.query_drop(&st.sql)
                        .unwrap_or_else(|e| panic!("{}: {e}", st.sql));
                    if st.kind == StatementKind::SchemaChange {
                        wait_for_job(target);
                    }
                }
                let after = schema(target);
                assert!(
                    matches!(change, Change::TruncateTable) || is_applied(&change, after.as_ref()),
                    "{change:?} not applied: {after:?}"
                );
                outcomes.push("applied".to_string());
            }
            Translation::Ignore(why) => outcomes.push(format!("ignored: {why}")),
            Translation::CannotApply(why) => outcomes.push(format!("cannot: {why}")),
        }
    }
    outcomes
}

#[test]
fn a_ddl_history_replays_onto_starrocks() {
    let target = TargetName {
        db: format!(
            "db_{}",
            support::unique_name("ddl").replace(['-', '.'], "_")
        ),
        table: "orders".into(),
    };
    let options = CreateOptions {
        buckets: Some(1),
        properties: [("replication_num".to_string(), "1".to_string())].into(),
        keys: None,
    };
    let history: &[(&str, &[&str])] = &[
        (
            "CREATE TABLE `orders` (`id` bigint(20) unsigned NOT NULL, `line` int NOT NULL, \
             `qty` int, `name` varchar(20), `price` decimal(10,2) NOT NULL DEFAULT '0.00', \
             `at` datetime(3), PRIMARY KEY (`id`, `line`), KEY `i` (`name`)) ENGINE=InnoDB",
            &["applied"],
        ),
        (
            "ALTER TABLE orders ADD COLUMN note varchar(10) NOT NULL AFTER id, \
             ADD COLUMN `select` tinyint(1) FIRST, ADD COLUMN `my_col` json, ADD INDEX j (qty)",
            &["applied", "applied", "applied", "ignored"],
        ),
        ("ALTER TABLE orders MODIFY qty bigint", &["applied"]),
        (
            "ALTER TABLE orders MODIFY price decimal(14,2) NOT NULL DEFAULT '0.00'",
            &["applied"],
        ),
        ("ALTER TABLE orders MODIFY qty int", &["already"]),
        (
            "ALTER TABLE orders CHANGE name title varchar(40)",
            &["applied"],
        ),
        (
            "ALTER TABLE orders RENAME COLUMN `select` TO `from`",
            &["applied"],
        ),
        ("ALTER TABLE orders MODIFY at date", &["applied"]),
        (
            "ALTER TABLE orders DROP COLUMN note, ENGINE=InnoDB",
            &["applied", "ignored"],
        ),
        ("ALTER TABLE orders MODIFY qty decimal(20,2)", &["cannot"]),
        ("ALTER TABLE orders DROP COLUMN line", &["cannot"]),
        ("TRUNCATE TABLE orders", &["applied"]),
        ("DROP TABLE orders", &["cannot"]),
    ];
    for (sql, want) in history {
        let got = replay(sql, &target, &options);
        let kinds: Vec<&str> = got.iter().map(|o| o.split(':').next().unwrap()).collect();
        assert_eq!(kinds, *want, "{sql}: {got:?}");
        // The same statement again, as after a crash before its offset was committed: what
        // was applied is recognised (TRUNCATE is always run again; see `is_applied`).
        if !sql.starts_with("TRUNCATE") {
            let again = replay(sql, &target, &options);
            for (outcome, first) in again.iter().zip(&kinds) {
                let fine = outcome == "already"
                    || outcome.starts_with("ignored")
                    || (*first == "cannot" && outcome.starts_with("cannot"));
                assert!(fine, "{sql} replayed: {again:?}");
            }
        }
    }
    let t = schema(&target).unwrap();
    let cols: Vec<(&str, &StarRocksType)> =
        t.columns.iter().map(|c| (c.name.as_str(), &c.ty)).collect();
    assert_eq!(
        cols,
        [
            ("id", &StarRocksType::LargeInt),
            ("line", &StarRocksType::Int),
            ("from", &StarRocksType::TinyInt),
            ("qty", &StarRocksType::BigInt),
            ("title", &StarRocksType::Varchar(160)),
            (
                "price",
                &StarRocksType::Decimal {
                    precision: 14,
                    scale: 2
                }
            ),
            ("at", &StarRocksType::Date),
            ("my_col", &StarRocksType::Json),
        ]
    );
}
