//! DDL sync end to end (issue 11): streams of DDL and rows in both formats, produced to the real
//! broker and loaded by `starpipe run` into starrocks-sim, compared with a small model of the
//! source table kept here (independent of the engine).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use serde_json::{Value, json};
use starpipe_perf::workload::Format;
use support::TestRecord;
use support::e2e::*;

/// A source table's rows as the source has them: key → column → value (text, as both formats
/// carry values), with the current columns and their MySQL types.
#[derive(Clone, Debug, Default)]
struct Model {
    columns: Vec<(String, String)>,
    /// The key columns (integers here, so that key order is numeric order).
    key: Vec<String>,
    rows: BTreeMap<Vec<i64>, BTreeMap<String, Option<String>>>,
}

impl Model {
    fn key_of(&self, row: &BTreeMap<String, Option<String>>) -> Vec<i64> {
        (self.key.iter())
            .map(|k| row[k].as_deref().unwrap().parse().unwrap())
            .collect()
    }

    /// `ADD COLUMN … NULL`: existing rows have NULL in it (as row images carry from then on).
    fn add_column(&mut self, name: &str, ty: &str) {
        self.columns.push(col(name, ty));
        for row in self.rows.values_mut() {
            row.insert(name.to_string(), None);
        }
    }

    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Every row with every current column (absent = NULL), in key order.
    fn expected(&self) -> Vec<Vec<Option<String>>> {
        self.rows
            .values()
            .map(|r| {
                self.columns
                    .iter()
                    .map(|(c, _)| r.get(c).cloned().flatten())
                    .collect()
            })
            .collect()
    }
}

/// Messages of one source table in one format, with the model they lead to.
struct Stream {
    format: Format,
    db: String,
    table: String,
    model: Model,
    /// The key the messages announce (`pkNames` / `pks`); the model's unless the source table
    /// has none.
    source_key: Vec<String>,
    records: Vec<TestRecord>,
    /// Partition of the next messages.
    partition: i32,
    seq: i64,
}

type Row<'a> = &'a [(&'a str, Option<&'a str>)];

impl Stream {
    fn new(format: Format, db: &str, table: &str, key: &[&str]) -> Stream {
        Stream {
            format,
            db: db.to_string(),
            table: table.to_string(),
            model: Model {
                key: key.iter().map(|k| k.to_string()).collect(),
                ..Model::default()
            },
            source_key: key.iter().map(|k| k.to_string()).collect(),
            records: Vec::new(),
            partition: 0,
            seq: 0,
        }
    }

    /// A DDL message; `model` applies what it does to the source table.
    fn ddl(&mut self, sql: &str, model: impl FnOnce(&mut Model)) {
        model(&mut self.model);
        let message = match self.format {
            Format::Canal => json!({
                "data": null, "database": self.db, "table": self.table, "isDdl": true,
                "type": ddl_kind(sql), "sql": sql, "es": self.ts(), "ts": self.ts(), "id": self.seq,
                "mysqlType": null, "old": null, "pkNames": null, "sqlType": null,
            }),
            Format::CloudCanal => json!({
                "action": ddl_kind(sql), "before": [], "data": [], "db": self.db,
                "schema": self.db, "table": self.table, "ddl": true, "entryType": "ROWDATA",
                "execTs": self.ts(), "sendTs": self.ts(), "pks": [], "sql": sql,
                "dbValType": self.types(), "bid": self.seq,
            }),
        };
        self.push(message);
    }

    fn insert(&mut self, rows: &[Row<'_>]) {
        for row in rows {
            let row = owned(row);
            self.model.rows.insert(self.model.key_of(&row), row);
        }
        let data: Vec<Value> = rows.iter().map(|r| row_json(r)).collect();
        self.rows("INSERT", data, None);
    }

    /// UPDATEs: each row's new image is the old one with `changes`.
    fn update(&mut self, ids: &[i64], changes: Row<'_>) {
        let mut data = Vec::new();
        let mut before = Vec::new();
        for id in ids {
            let old = self.model.rows[&vec![*id]].clone();
            let mut new = old.clone();
            for (c, v) in changes {
                new.insert(c.to_string(), v.map(str::to_string));
            }
            data.push(image(&new));
            before.push(match self.format {
                // canal: the old values of the changed columns.
                Format::Canal => {
                    let changed: BTreeMap<String, Option<String>> = changes
                        .iter()
                        .map(|(c, _)| (c.to_string(), old.get(*c).cloned().flatten()))
                        .collect();
                    image(&changed)
                }
                Format::CloudCanal => image(&old),
            });
            self.model.rows.insert(vec![*id], new);
        }
        self.rows("UPDATE", data, Some(before));
    }

    fn delete(&mut self, ids: &[i64]) {
        let data: Vec<Value> = ids
            .iter()
            .map(|id| image(&self.model.rows.remove(&vec![*id]).unwrap()))
            .collect();
        self.rows("DELETE", data, None);
    }

    fn rows(&mut self, kind: &str, data: Vec<Value>, before: Option<Vec<Value>>) {
        let message = match self.format {
            Format::Canal => json!({
                "data": data, "database": self.db, "table": self.table, "isDdl": false,
                "type": kind, "sql": "", "es": self.ts(), "ts": self.ts(), "id": self.seq,
                "mysqlType": self.types(), "old": before, "pkNames": self.pk_names(),
            }),
            Format::CloudCanal => json!({
                "action": kind, "before": before.unwrap_or_default(), "data": data,
                "db": self.db, "schema": self.db, "table": self.table, "isDdl": false,
                "entryType": "ROWDATA", "execTs": self.ts(), "sendTs": self.ts(),
                "pks": self.source_key, "sql": "", "dbValType": self.types(), "bid": self.seq,
            }),
        };
        self.push(message);
    }

    /// canal's `pkNames`: null for a table without a key.
    fn pk_names(&self) -> Value {
        match self.source_key.is_empty() {
            true => Value::Null,
            false => json!(self.source_key),
        }
    }

    fn types(&self) -> Value {
        let map: serde_json::Map<String, Value> = (self.model.columns.iter())
            .map(|(c, t)| (c.clone(), Value::from(t.clone())))
            .collect();
        Value::Object(map)
    }

    fn ts(&self) -> i64 {
        1_717_200_000_000 + self.seq * 1000
    }

    fn push(&mut self, message: Value) {
        self.seq += 1;
        let bytes = serde_json::to_vec(&message).unwrap();
        self.records
            .push(TestRecord::new(bytes).partition(self.partition));
    }
}

fn ddl_kind(sql: &str) -> &'static str {
    let upper = sql.trim_start().to_ascii_uppercase();
    ["CREATE", "TRUNCATE", "DROP", "RENAME"]
        .into_iter()
        .find(|k| upper.starts_with(k))
        .unwrap_or("ALTER")
}

fn owned(row: Row<'_>) -> BTreeMap<String, Option<String>> {
    row.iter()
        .map(|(c, v)| (c.to_string(), v.map(str::to_string)))
        .collect()
}

fn row_json(row: Row<'_>) -> Value {
    image(&owned(row))
}

fn image(row: &BTreeMap<String, Option<String>>) -> Value {
    Value::Object(
        row.iter()
            .map(|(c, v)| (c.clone(), v.clone().map_or(Value::Null, Value::from)))
            .collect(),
    )
}

fn col(name: &str, ty: &str) -> (String, String) {
    (name.to_string(), ty.to_string())
}

/// The stream: CREATE TABLE → rows → ADD COLUMN → rows using it → two ALTERs back to
/// back → a widening MODIFY → DROP COLUMN → TRUNCATE → rows.
fn life_of_a_table(format: Format, db: &str) -> Stream {
    let mut s = Stream::new(format, db, "items", &["id"]);
    s.ddl(
        "CREATE TABLE `items` (`id` int NOT NULL, `name` varchar(20) DEFAULT NULL, \
         `qty` int DEFAULT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        |m| {
            m.columns = vec![
                col("id", "int"),
                col("name", "varchar(20)"),
                col("qty", "int"),
            ]
        },
    );
    for id in 1..=20 {
        let (id, qty) = (id.to_string(), (id * 10).to_string());
        s.insert(&[&[
            ("id", Some(&id)),
            ("name", Some("before")),
            ("qty", Some(&qty)),
        ]]);
    }
    s.ddl(
        "ALTER TABLE `items` ADD COLUMN `color` varchar(10) NULL",
        |m| m.add_column("color", "varchar(10)"),
    );
    for id in 21..=30 {
        let id = id.to_string();
        s.insert(&[&[
            ("id", Some(&id)),
            ("name", Some("colored")),
            ("qty", Some("1")),
            ("color", Some("red")),
        ]]);
    }
    s.update(&[1, 2, 3], &[("color", Some("blue"))]);
    s.ddl("ALTER TABLE items ADD COLUMN price int", |m| {
        m.add_column("price", "int")
    });
    s.ddl(
        "ALTER TABLE items ADD COLUMN note varchar(30) DEFAULT NULL",
        |m| m.add_column("note", "varchar(30)"),
    );
    s.update(
        &[4, 21],
        &[("price", Some("7")), ("note", Some("two alters"))],
    );
    s.ddl("ALTER TABLE items MODIFY COLUMN qty bigint", |m| {
        m.columns[2].1 = "bigint".into()
    });
    s.update(&[5], &[("qty", Some("9000000000"))]);
    s.insert(&[&[
        ("id", Some("31")),
        ("name", Some("wide")),
        ("qty", Some("-9000000000")),
        ("color", None),
        ("price", None),
        ("note", None),
    ]]);
    s.ddl("ALTER TABLE items DROP COLUMN note", |m| {
        m.columns.retain(|(c, _)| c != "note");
        for r in m.rows.values_mut() {
            r.remove("note");
        }
    });
    s.delete(&[6, 7]);
    s.update(&[8], &[("name", Some("after drop"))]);
    s.ddl("TRUNCATE TABLE items", |m| m.rows.clear());
    for id in 100..=105 {
        let id = id.to_string();
        s.insert(&[&[
            ("id", Some(&id)),
            ("name", Some("fresh")),
            ("qty", Some("3")),
            ("color", Some("green")),
            ("price", Some("11")),
        ]]);
    }
    s.update(&[101], &[("price", None)]);
    s.delete(&[102]);
    s
}

/// The target's rows (every column as text) and column names.
fn target_rows(w: &World, table: &str, key: &[String]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let order: Vec<String> = key.iter().map(|k| format!("`{k}`")).collect();
    let order = order.join(", ");
    let mut conn = conn_to(w.sim);
    let desc: Vec<(String, String)> = conn
        .query_map(format!("DESC `{}`.`{table}`", w.db), |row: mysql::Row| {
            (
                row.get::<String, usize>(0).unwrap(),
                row.get::<String, usize>(3).unwrap(),
            )
        })
        .unwrap();
    let keys: Vec<&String> = desc
        .iter()
        .filter(|(_, k)| k == "true")
        .map(|(c, _)| c)
        .collect();
    assert_eq!(
        keys,
        key.iter().collect::<Vec<_>>(),
        "{table}: the target's key"
    );
    let columns = desc.into_iter().map(|(c, _)| c).collect();
    let rows: Vec<mysql::Row> = conn
        .query(format!(
            "SELECT * FROM `{}`.`{table}` ORDER BY {order}",
            w.db
        ))
        .unwrap();
    let rows = rows
        .into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get_opt::<String, usize>(i).and_then(Result::ok))
                .collect()
        })
        .collect();
    (columns, rows)
}

fn assert_target_is(w: &World, table: &str, model: &Model, run: &str) {
    let (columns, rows) = target_rows(w, table, &model.key);
    assert_eq!(columns, model.column_names(), "{}", w.log_text(run));
    assert_eq!(rows, model.expected(), "{}", w.log_text(run));
}

/// A job loading the world's topic (source tables load into their own names).
fn ddl_job(w: &World, format: Format, target_extra: &str) -> std::path::PathBuf {
    w.job(format, "", target_extra)
}

fn run_stream(w: &World, stream: &Stream, target_extra: &str, run: &str) {
    support::produce_batch(&w.topic, &stream.records);
    let job = ddl_job(w, stream.format, target_extra);
    let out = w.run_to_end(&job, run);
    assert!(out.status.success(), "{}", w.log_text(run));
}

fn the_life_of_a_table_ends_equal_to_the_model(format: Format, name: &str) {
    let w = world(name, 1);
    execute_sql_on(w.sim, &format!("CREATE DATABASE IF NOT EXISTS `{}`", w.db));
    let stream = life_of_a_table(format, &w.db);
    run_stream(&w, &stream, "", "run");
    assert_target_is(&w, "items", &stream.model, "run");
    w.assert_all_committed();
}

#[test]
fn canal_the_life_of_a_table_ends_equal_to_the_model() {
    the_life_of_a_table_ends_equal_to_the_model(Format::Canal, "ddl-life-canal");
}

#[test]
fn cloudcanal_the_life_of_a_table_ends_equal_to_the_model() {
    the_life_of_a_table_ends_equal_to_the_model(Format::CloudCanal, "ddl-life-cloudcanal");
}

/// kill -9 while the ADD COLUMN's schema change runs (the DDL is submitted, its offset not
/// committed): the restarted job finds the job running, waits for it, recognises the change as
/// applied and goes on; the end state is the model's.
#[test]
fn a_kill_during_a_schema_change_replays_the_ddl_as_already_applied() {
    let sim = support::start_sim(&["--schema-change-ms", "4000"]);
    let w = world("ddl-kill", 1).on_sim(sim);
    execute_sql_on(w.sim, &format!("CREATE DATABASE IF NOT EXISTS `{}`", w.db));
    let stream = life_of_a_table(Format::Canal, &w.db);
    support::produce_batch(&w.topic, &stream.records);
    let job = ddl_job(&w, Format::Canal, "");
    let mut seen = Vec::new();
    for run in ["first", "second"] {
        let running = w.spawn(&job, run, true);
        wait_for_new_alter(&w, &mut seen, run);
        signal(&running, libc::SIGKILL);
        let _ = wait_bounded(running, Duration::from_secs(30));
    }
    let out = w.run_to_end(&job, "last");
    assert!(out.status.success(), "{}", w.log_text("last"));
    assert!(
        w.log_text("last").contains("already applied")
            || w.log_text("second").contains("already applied"),
        "a replayed DDL was recognised:\n{}",
        w.log_text("last")
    );
    assert_target_is(&w, "items", &stream.model, "last");
    w.assert_all_committed();
}

/// Waits until `SHOW ALTER TABLE COLUMN` lists an unfinished job of the world's database that
/// is not in `seen` (then it is).
fn wait_for_new_alter(w: &World, seen: &mut Vec<String>, run: &str) {
    let started = Instant::now();
    let mut conn = conn_to(w.sim);
    loop {
        let jobs: Vec<(String, String)> = conn
            .query_map(
                format!("SHOW ALTER TABLE COLUMN FROM `{}`", w.db),
                |row: mysql::Row| {
                    let text = |c: &str| row.get::<String, &str>(c).unwrap_or_default();
                    (text("JobId"), text("State"))
                },
            )
            .unwrap();
        let new = jobs
            .into_iter()
            .find(|(id, state)| state != "FINISHED" && state != "CANCELLED" && !seen.contains(id));
        if let Some((id, _)) = new {
            seen.push(id);
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no new schema change started:\n{}",
            w.log_text(run)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A schema change StarRocks cancels stops the job at the DDL: nothing past it is committed,
/// the error names the SQL, StarRocks' message and the position. With `ddlExceptionSkip` the
/// job goes on.
#[test]
fn a_ddl_starrocks_rejects_stops_the_job_unless_skipped() {
    let w = world("ddl-rejected", 1);
    execute_sql_on(w.sim, &format!("CREATE DATABASE IF NOT EXISTS `{}`", w.db));
    let mut s = Stream::new(Format::Canal, &w.db, "items", &["id"]);
    s.ddl(
        "CREATE TABLE items (id int NOT NULL, name varchar(20), PRIMARY KEY (id))",
        |m| m.columns = vec![col("id", "int"), col("name", "varchar(20)")],
    );
    s.insert(&[&[("id", Some("1")), ("name", Some("a"))]]);
    let rejected = "ALTER TABLE items ADD COLUMN doomed int";
    s.ddl(rejected, |_| {});
    s.insert(&[&[("id", Some("2")), ("name", Some("b"))]]);
    support::produce_batch(&w.topic, &s.records);
    let fault = add_fault(json!({
        "target": "mysql", "label": format!("*{}*doomed*", w.db), "times": 1,
        "action": {"kind": "cancel_schema_change", "message": "disk full on be 3"}
    }));

    let job = ddl_job(&w, Format::Canal, "");
    let out = w.run_to_end(&job, "stops");
    let log = w.log_text("stops");
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("disk full on be 3"), "{log}");
    assert!(log.contains("doomed"), "{log}");
    assert!(log.contains("ddlExceptionSkip"), "{log}");
    assert_eq!(
        w.committed(),
        vec![Some(2)],
        "committed up to the DDL, not past it"
    );
    remove_fault(fault);

    let fault = add_fault(json!({
        "target": "mysql", "label": format!("*{}*doomed*", w.db), "times": 1,
        "action": {"kind": "cancel_schema_change", "message": "disk full on be 3"}
    }));
    let job = ddl_job(&w, Format::Canal, "ddlExceptionSkip = true");
    let out = w.run_to_end(&job, "skips");
    assert!(out.status.success(), "{}", w.log_text("skips"));
    remove_fault(fault);
    assert_target_is(&w, "items", &s.model, "skips");
    w.assert_all_committed();
}

fn auto_create_makes_missing_targets_from_row_messages(format: Format, name: &str) {
    let w = world(name, 1);
    let mut single = Stream::new(format, &w.db, "single", &["id"]);
    single.model.columns = vec![col("id", "int"), col("name", "varchar(20)")];
    single.insert(&[
        &[("id", Some("1")), ("name", Some("a"))],
        &[("id", Some("2")), ("name", None)],
    ]);
    single.update(&[1], &[("name", Some("a2"))]);
    let mut composite = Stream::new(format, &w.db, "lines", &["order_id", "line"]);
    composite.model.columns = vec![
        col("order_id", "bigint(20)"),
        col("line", "int(11)"),
        col("sku", "varchar(16)"),
    ];
    composite.insert(&[
        &[
            ("order_id", Some("7")),
            ("line", Some("1")),
            ("sku", Some("x")),
        ],
        &[
            ("order_id", Some("7")),
            ("line", Some("2")),
            ("sku", Some("y")),
        ],
        &[("order_id", Some("8")), ("line", Some("1")), ("sku", None)],
    ]);
    // No key at the source: `keys` in its [[tables]] entry names one.
    let mut keyless = Stream::new(format, &w.db, "events", &["code"]);
    keyless.source_key.clear();
    keyless.model.columns = vec![col("code", "int"), col("body", "varchar(40)")];
    keyless.insert(&[
        &[("code", Some("10")), ("body", Some("first"))],
        &[("code", Some("11")), ("body", Some("second"))],
    ]);
    let records: Vec<TestRecord> = [&single, &composite, &keyless]
        .iter()
        .flat_map(|s| s.records.clone())
        .collect();
    support::produce_batch(&w.topic, &records);
    let extra = format!(
        "autoCreateTable = true\nautoCreateProperties = {{ replication_num = \"1\" }}\n\
         [[tables]]\nsource = \"{0}.events\"\ntarget = \"{0}.events\"\nkeys = [\"code\"]",
        w.db
    );
    let job = ddl_job(&w, format, &extra);
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    for s in [&single, &composite, &keyless] {
        assert_target_is(&w, &s.table, &s.model, "run");
    }
    w.assert_all_committed();
}

#[test]
fn canal_auto_create_makes_missing_targets_from_row_messages() {
    auto_create_makes_missing_targets_from_row_messages(Format::Canal, "autocreate-canal");
}

#[test]
fn cloudcanal_auto_create_makes_missing_targets_from_row_messages() {
    auto_create_makes_missing_targets_from_row_messages(
        Format::CloudCanal,
        "autocreate-cloudcanal",
    );
}

/// Without `keys`, a source table that has no key cannot be auto-created: the error says so.
#[test]
fn auto_create_refuses_a_keyless_source_without_keys() {
    let w = world("autocreate-keyless", 1);
    let mut keyless = Stream::new(Format::Canal, &w.db, "events", &["code"]);
    keyless.source_key.clear();
    keyless.model.columns = vec![col("code", "int"), col("body", "varchar(40)")];
    keyless.insert(&[&[("code", Some("10")), ("body", Some("first"))]]);
    support::produce_batch(&w.topic, &keyless.records);
    let job = ddl_job(&w, Format::Canal, "autoCreateTable = true");
    let out = w.run_to_end(&job, "run");
    let log = w.log_text("run");
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("keys = [...]"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Schema drift without DDL messages: onUnknownColumn, onMissingColumn.

/// A target `items (id INT key, v VARCHAR(20), extra VARCHAR(20))` created by hand, and a
/// source that knows only some of its columns.
fn drift_world(name: &str, partitions: i32) -> World {
    let w = world(name, partitions);
    execute_sql_on(
        w.sim,
        &format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.`items` (id INT NOT NULL, \
             v VARCHAR(20) NULL, extra VARCHAR(20) NULL) PRIMARY KEY (id) \
             DISTRIBUTED BY HASH(id) BUCKETS 1",
            db = w.db
        ),
    );
    w
}

/// A source stream of `items` whose rows carry `columns` (types as MySQL text).
fn source(w: &World, columns: &[(&str, &str)]) -> Stream {
    let mut s = Stream::new(Format::Canal, &w.db, "items", &["id"]);
    s.model.columns = columns.iter().map(|(c, t)| col(c, t)).collect();
    s
}

type Expected<'a> = &'a [&'a [Option<&'a str>]];

fn assert_rows(w: &World, columns: &[&str], expected: Expected<'_>, run: &str) {
    let (actual_columns, rows) = target_rows(w, "items", &["id".to_string()]);
    assert_eq!(actual_columns, columns, "{}", w.log_text(run));
    let expected: Vec<Vec<Option<String>>> = expected
        .iter()
        .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
        .collect();
    assert_eq!(rows, expected, "{}", w.log_text(run));
}

/// The default (`onUnknownColumn = "fail"`): a value the target has no column for is never
/// dropped silently — the message is rejected (onError = fail stops the job before it).
#[test]
fn an_unknown_column_is_rejected_by_default() {
    let w = drift_world("drift-unknown-fail", 1);
    let mut s = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("color", "varchar(10)"),
        ],
    );
    s.insert(&[&[("id", Some("1")), ("v", Some("a")), ("color", Some("red"))]]);
    support::produce_batch(&w.topic, &s.records);
    let out = w.run_to_end(&ddl_job(&w, Format::Canal, ""), "run");
    let log = w.log_text("run");
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("color") && log.contains("onUnknownColumn"),
        "{log}"
    );
    // The message is offset 0: a commit of 0 (the next to read) passes nothing.
    assert!(
        matches!(w.committed()[..], [None | Some(0)]),
        "nothing committed past the message: {:?}",
        w.committed()
    );
}

/// A column added to the target by hand while the job runs is found by reading the schema
/// again: its values load.
#[test]
fn an_unknown_column_added_by_hand_is_found_by_reading_the_schema_again() {
    let w = drift_world("drift-unknown-reread", 1);
    let mut before = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
        ],
    );
    before.insert(&[&[("id", Some("1")), ("v", Some("a")), ("extra", None)]]);
    support::produce_batch(&w.topic, &before.records);
    let job = ddl_job(&w, Format::Canal, "");
    let running = w.spawn(&job, "run", false);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    execute_sql_on(
        w.sim,
        &format!(
            "ALTER TABLE `{}`.`items` ADD COLUMN color VARCHAR(10) NULL",
            w.db
        ),
    );
    wait_until_no_alter(&w);
    let mut after = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
            ("color", "varchar(10)"),
        ],
    );
    after.seq = before.seq;
    after.insert(&[&[
        ("id", Some("2")),
        ("v", Some("b")),
        ("extra", None),
        ("color", Some("red")),
    ]]);
    support::produce_batch(&w.topic, &after.records);
    wait_for_rows(&w.db, 2, Duration::from_secs(60));
    signal(&running, libc::SIGTERM);
    let out = wait_bounded(running, Duration::from_secs(60)).expect("stops");
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_rows(
        &w,
        &["id", "v", "extra", "color"],
        &[
            &[Some("1"), Some("a"), None, None],
            &[Some("2"), Some("b"), None, Some("red")],
        ],
        "run",
    );
}

fn wait_until_no_alter(w: &World) {
    let mut conn = conn_to(w.sim);
    let started = Instant::now();
    loop {
        let states: Vec<String> = conn
            .query_map(
                format!("SHOW ALTER TABLE COLUMN FROM `{}`", w.db),
                |row: mysql::Row| row.get::<String, &str>("State").unwrap_or_default(),
            )
            .unwrap();
        if states.iter().all(|s| s == "FINISHED" || s == "CANCELLED") {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `onUnknownColumn = "addColumn"`: the column is added (type from `mysqlType`) behind the
/// table's barrier, and its values load.
#[test]
fn add_column_adds_an_unknown_column_and_loads_its_values() {
    let w = drift_world("drift-unknown-add", 1);
    let mut s = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
            ("qty", "bigint(20)"),
        ],
    );
    s.insert(&[
        &[
            ("id", Some("1")),
            ("v", Some("a")),
            ("extra", None),
            ("qty", Some("9000000000")),
        ],
        &[
            ("id", Some("2")),
            ("v", Some("b")),
            ("extra", Some("x")),
            ("qty", None),
        ],
    ]);
    support::produce_batch(&w.topic, &s.records);
    let out = w.run_to_end(
        &ddl_job(&w, Format::Canal, "onUnknownColumn = \"addColumn\""),
        "run",
    );
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_rows(
        &w,
        &["id", "v", "extra", "qty"],
        &[
            &[Some("1"), Some("a"), None, Some("9000000000")],
            &[Some("2"), Some("b"), Some("x"), None],
        ],
        "run",
    );
}

/// `onUnknownColumn = "ignore"`: the values are dropped (and counted), the rest loads.
#[test]
fn ignore_drops_unknown_values_and_loads_the_rest() {
    let w = drift_world("drift-unknown-ignore", 1);
    let mut s = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
            ("color", "varchar(10)"),
        ],
    );
    s.insert(&[&[
        ("id", Some("1")),
        ("v", Some("a")),
        ("extra", None),
        ("color", Some("red")),
    ]]);
    support::produce_batch(&w.topic, &s.records);
    let out = w.run_to_end(
        &ddl_job(&w, Format::Canal, "onUnknownColumn = \"ignore\""),
        "run",
    );
    let log = w.log_text("run");
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("color"),
        "the dropped column is named in the log: {log}"
    );
    assert_rows(
        &w,
        &["id", "v", "extra"],
        &[&[Some("1"), Some("a"), None]],
        "run",
    );
}

/// The default (`onMissingColumn = "fail"`): a row without a target column is rejected, since
/// a full-row upsert would overwrite the column.
#[test]
fn a_missing_column_is_rejected_by_default() {
    let w = drift_world("drift-missing-fail", 1);
    let mut s = source(&w, &[("id", "int"), ("v", "varchar(20)")]);
    s.insert(&[&[("id", Some("1")), ("v", Some("a"))]]);
    support::produce_batch(&w.topic, &s.records);
    let out = w.run_to_end(&ddl_job(&w, Format::Canal, ""), "run");
    let log = w.log_text("run");
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("extra"), "{log}");
}

/// `onMissingColumn = "partialUpdate"`: a row without a target column is a partial update —
/// the column keeps its value; a key not there yet gets the column's default.
#[test]
fn partial_update_keeps_the_columns_a_row_lacks() {
    let w = drift_world("drift-missing-partial", 1);
    let mut full = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
        ],
    );
    full.insert(&[&[("id", Some("1")), ("v", Some("a")), ("extra", Some("keep"))]]);
    let mut partial = source(&w, &[("id", "int"), ("v", "varchar(20)")]);
    partial.seq = full.seq;
    partial.insert(&[
        &[("id", Some("1")), ("v", Some("b"))],
        &[("id", Some("2")), ("v", Some("new"))],
    ]);
    let mut again = source(
        &w,
        &[
            ("id", "int"),
            ("v", "varchar(20)"),
            ("extra", "varchar(20)"),
        ],
    );
    again.seq = partial.seq;
    again.insert(&[&[("id", Some("3")), ("v", Some("c")), ("extra", Some("full"))]]);
    let two: Row<'_> = &[("id", Some("2")), ("v", Some("new")), ("extra", None)];
    again.model.rows.insert(vec![2], owned(two));
    again.delete(&[2]);
    let records: Vec<TestRecord> = [&full, &partial, &again]
        .iter()
        .flat_map(|s| s.records.clone())
        .collect();
    support::produce_batch(&w.topic, &records);
    let job = ddl_job(&w, Format::Canal, "onMissingColumn = \"partialUpdate\"");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_rows(
        &w,
        &["id", "v", "extra"],
        &[
            &[Some("1"), Some("b"), Some("keep")],
            &[Some("3"), Some("c"), Some("full")],
        ],
        "run",
    );
}

/// Two partitions: rows of the table sit in partition 1 when partition 0's DROP COLUMN arrives.
/// Whichever comes first, the rows read before the DDL load before it (the barrier), and rows
/// still carrying the dropped column afterwards lose just that column; nothing fails.
#[test]
fn a_drop_column_in_one_partition_meets_rows_of_another() {
    let w = world("ddl-partitions", 2);
    execute_sql_on(
        w.sim,
        &format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.`items` (id INT NOT NULL, \
             v VARCHAR(20) NULL, gone VARCHAR(20) NULL) PRIMARY KEY (id) \
             DISTRIBUTED BY HASH(id) BUCKETS 1",
            db = w.db
        ),
    );
    let mut rows = source(
        &w,
        &[("id", "int"), ("v", "varchar(20)"), ("gone", "varchar(20)")],
    );
    rows.partition = 1;
    for id in 1..=200 {
        let id = id.to_string();
        rows.insert(&[&[("id", Some(&id)), ("v", Some("p1")), ("gone", Some("x"))]]);
    }
    let mut ddl = source(&w, &[("id", "int"), ("v", "varchar(20)")]);
    ddl.seq = rows.seq;
    ddl.ddl("ALTER TABLE items DROP COLUMN gone", |_| {});
    let mut records = rows.records.clone();
    records.insert(100, ddl.records[0].clone());
    support::produce_batch(&w.topic, &records);
    let out = w.run_to_end(&ddl_job(&w, Format::Canal, ""), "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    let (columns, target) = target_rows(&w, "items", &["id".to_string()]);
    assert_eq!(columns, ["id", "v"], "{}", w.log_text("run"));
    assert_eq!(target.len(), 200, "{}", w.log_text("run"));
    w.assert_all_committed();
}

/// RENAME TABLE (with `ddlAllowDropTable`): the message names the new table (formats.md), but
/// the rows that must load first are the old table's — the barrier is on the old name.
#[test]
fn a_rename_loads_the_old_tables_rows_first() {
    let w = drift_world("ddl-rename", 1);
    let columns = [
        ("id", "int"),
        ("v", "varchar(20)"),
        ("extra", "varchar(20)"),
    ];
    let mut old = source(&w, &columns);
    for id in 1..=50 {
        let id = id.to_string();
        old.insert(&[&[("id", Some(&id)), ("v", Some("old")), ("extra", None)]]);
    }
    let mut new = source(&w, &columns);
    new.table = "renamed".into();
    new.seq = old.seq;
    new.ddl("RENAME TABLE items TO renamed", |_| {});
    new.model.rows = old.model.rows.clone();
    new.insert(&[&[("id", Some("51")), ("v", Some("new")), ("extra", None)]]);
    let records: Vec<TestRecord> = [&old, &new]
        .iter()
        .flat_map(|s| s.records.clone())
        .collect();
    support::produce_batch(&w.topic, &records);
    let job = ddl_job(&w, Format::Canal, "ddlAllowDropTable = true");
    let out = w.run_to_end(&job, "run");
    assert!(out.status.success(), "{}", w.log_text("run"));
    assert_target_is(&w, "renamed", &new.model, "run");
    w.assert_all_committed();
}
