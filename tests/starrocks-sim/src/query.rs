//! Executes parsed SQL against the in-memory catalog: DDL, SHOW/DESC, information_schema and
//! single-table SELECT with WHERE / ORDER BY / LIMIT / COUNT(*) (§5).

use std::time::{Duration, SystemTime};

use crate::catalog::{CatalogError, Distribution, KeysType, TableMeta};
use crate::eval::{self, RowCtx};
use crate::sql::{self, AlterAction, Expr, Select, Stmt};
use crate::state::Sim;
use crate::types::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColKind {
    Int,
    Str,
}

pub enum QueryResult {
    Ok {
        affected: u64,
    },
    /// INSERT/UPDATE/DELETE: affected rows and the OK packet's info text.
    Dml {
        affected: u64,
        info: String,
    },
    Rows {
        columns: Vec<(String, ColKind)>,
        rows: Vec<Vec<Option<String>>>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct SqlError {
    pub code: u16,
    pub msg: String,
}

/// A FE analyzer error as StarRocks words it.
pub fn analysis_err(msg: impl std::fmt::Display) -> SqlError {
    err(format!("Getting analyzing error. Detail message: {msg}."))
}

fn err(msg: impl Into<String>) -> SqlError {
    SqlError {
        code: 1064,
        msg: msg.into(),
    }
}

impl From<CatalogError> for SqlError {
    fn from(e: CatalogError) -> Self {
        let code = match &e {
            CatalogError::UnknownDb(_) => 1049,
            CatalogError::DbExists(_) => 1007,
            CatalogError::TableExists(_) => 1050,
            CatalogError::UnknownTable(_) => 1051,
            CatalogError::UnknownColumn { .. } => 1054,
            CatalogError::DuplicateColumn(_) => 1060,
            CatalogError::Invalid(_) => 1064,
        };
        SqlError {
            code,
            msg: e.to_string(),
        }
    }
}

pub struct Session {
    pub db: Option<String>,
    pub user: String,
    pub conn_id: u32,
}

pub fn resolve_db(s: &Session, db: Option<String>) -> Result<String, SqlError> {
    db.or_else(|| s.db.clone()).ok_or_else(|| SqlError {
        code: 1046,
        msg: "No database selected".into(),
    })
}

fn str_rows(cols: &[&str], rows: Vec<Vec<Option<String>>>) -> QueryResult {
    QueryResult::Rows {
        columns: cols.iter().map(|c| (c.to_string(), ColKind::Str)).collect(),
        rows,
    }
}

/// A relation materialised for SELECT: named columns and typed rows.
struct Relation {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    /// Columns whose StarRocks type is an integer (BIGINT/INT): a plain reference to one is sent
    /// as an integer column (`MYSQL_TYPE_LONGLONG`), so JDBC `getObject` gives a `Long` as with
    /// StarRocks. Only the information_schema relations declare them.
    int_cols: &'static [&'static str],
}

/// The StarRocks version the sim presents (`@@version_comment`, `current_version()`).
pub const STARROCKS_VERSION: &str = "3.3.0";

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

fn opt_int(v: Option<u64>) -> Value {
    v.map(|x| Value::Int(x as i128)).unwrap_or(Value::Null)
}

pub fn execute(sim: &Sim, sess: &mut Session, sql_text: &str) -> Result<QueryResult, SqlError> {
    sim.counters.lock().sql_statements += 1;
    sim.catalog.tick_jobs();
    let stmt = sql::parse(sql_text).map_err(|e| err(e.0))?;
    match stmt {
        Stmt::Empty | Stmt::Set | Stmt::Begin | Stmt::Commit | Stmt::Rollback => {
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::Use(db) => {
            if !sim.catalog.db_exists(&db) {
                return Err(SqlError {
                    code: 1049,
                    msg: format!("Unknown database '{db}'"),
                });
            }
            sess.db = Some(db);
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::CreateDatabase {
            name,
            if_not_exists,
        } => {
            sim.catalog.create_database(&name, if_not_exists)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::DropDatabase { name, if_exists } => {
            sim.catalog.drop_database(&name, if_exists)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::CreateTable(ct) => {
            let db = resolve_db(sess, ct.db.clone())?;
            let meta = build_meta(&db, *ct.clone())?;
            sim.catalog.create_table(meta, ct.if_not_exists)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::DropTable {
            db,
            name,
            if_exists,
        } => {
            let db = resolve_db(sess, db)?;
            sim.catalog.drop_table(&db, &name, if_exists)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::Truncate(db, name) => {
            let db = resolve_db(sess, db)?;
            sim.catalog.truncate(&db, &name)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::Alter { db, name, action } => {
            let db = resolve_db(sess, db)?;
            match action {
                AlterAction::Ops(ops) => {
                    let ms = sim.limits.read().schema_change_ms;
                    sim.catalog
                        .submit_alter(&db, &name, ops, Duration::from_millis(ms), || {
                            schema_change_fault(sim, &db, sql_text)
                        })?;
                }
                AlterAction::Rename(to) => sim.catalog.rename_table(&db, &name, &to)?,
                AlterAction::RenameColumn { from, to } => {
                    sim.catalog.rename_column(&db, &name, &from, &to)?
                }
                AlterAction::Set(props) => {
                    let t = sim.catalog.table(&db, &name)?;
                    let mut td = t.lock();
                    let mut m = (*td.meta).clone();
                    for (k, v) in props {
                        m.properties.retain(|(pk, _)| *pk != k);
                        m.properties.push((k, v));
                    }
                    td.meta = std::sync::Arc::new(m);
                }
                AlterAction::Comment(c) => {
                    let t = sim.catalog.table(&db, &name)?;
                    let mut td = t.lock();
                    let mut m = (*td.meta).clone();
                    m.comment = c;
                    td.meta = std::sync::Arc::new(m);
                }
            }
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::Insert(ins) => crate::dml::insert(sim, sess, *ins),
        Stmt::Delete { db, table, filter } => crate::dml::delete(sim, sess, db, &table, filter),
        Stmt::Update {
            db,
            table,
            sets,
            filter,
        } => crate::dml::update(sim, sess, db, &table, sets, filter),
        Stmt::CancelAlter(db, name) => {
            let db = resolve_db(sess, db)?;
            sim.catalog.cancel_alter(&db, &name)?;
            Ok(QueryResult::Ok { affected: 0 })
        }
        Stmt::ShowDatabases => {
            let g = sim.catalog.inner.read();
            let mut rows: Vec<Vec<Option<String>>> = vec![vec![Some("information_schema".into())]];
            rows.extend(g.dbs.keys().map(|d| vec![Some(d.clone())]));
            Ok(str_rows(&["Database"], rows))
        }
        Stmt::ShowTables { db, full } => {
            let db = resolve_db(sess, db)?;
            let g = sim.catalog.inner.read();
            let d = g.dbs.get(&db).ok_or_else(|| SqlError {
                code: 1049,
                msg: format!("Unknown database '{db}'"),
            })?;
            let col = format!("Tables_in_{db}");
            let rows = d
                .tables
                .keys()
                .map(|t| {
                    let mut r = vec![Some(t.clone())];
                    if full {
                        r.push(Some("BASE TABLE".into()));
                    }
                    r
                })
                .collect();
            if full {
                Ok(str_rows(&[&col, "Table_type"], rows))
            } else {
                Ok(str_rows(&[&col], rows))
            }
        }
        Stmt::ShowCreateTable(db, name) => {
            let db = resolve_db(sess, db)?;
            let t = sim.catalog.table(&db, &name)?;
            let meta = t.lock().meta.clone();
            Ok(str_rows(
                &["Table", "Create Table"],
                vec![vec![Some(name), Some(meta.show_create())]],
            ))
        }
        Stmt::Desc(db, name) | Stmt::ShowColumns(db, name) => {
            let db = resolve_db(sess, db)?;
            let t = sim.catalog.table(&db, &name)?;
            let meta = t.lock().meta.clone();
            let rows = meta
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    vec![
                        Some(c.name.clone()),
                        Some(c.ty.desc_name()),
                        Some(if c.nullable { "YES" } else { "NO" }.into()),
                        Some(if i < meta.key_count { "true" } else { "false" }.into()),
                        default_text(c),
                        Some(c.agg.clone().unwrap_or_default()),
                    ]
                })
                .collect();
            Ok(str_rows(
                &["Field", "Type", "Null", "Key", "Default", "Extra"],
                rows,
            ))
        }
        Stmt::ShowGrants => Ok(str_rows(
            &["UserIdentity", "Catalog", "Grants"],
            vec![
                vec![
                    Some(format!("'{}'@'%'", sess.user)),
                    None,
                    Some(format!("GRANT 'root' TO '{}'@'%'", sess.user)),
                ],
                vec![
                    Some(format!("'{}'@'%'", sess.user)),
                    Some("default_catalog".into()),
                    Some(format!(
                        "GRANT CREATE DATABASE, DROP, ALTER, USAGE, CREATE TABLE, SELECT, INSERT, UPDATE, DELETE ON ALL DATABASES TO '{}'@'%'",
                        sess.user
                    )),
                ],
            ],
        )),
        Stmt::ShowBackends => Ok(str_rows(
            crate::nodes::BACKEND_COLUMNS,
            crate::nodes::backends(sim),
        )),
        Stmt::ShowFrontends => Ok(str_rows(
            crate::nodes::FRONTEND_COLUMNS,
            crate::nodes::frontends(sim),
        )),
        Stmt::ShowVariables(like) => {
            let vars = session_vars(sim);
            let rows = vars
                .into_iter()
                .filter(|(k, _)| like.as_ref().is_none_or(|p| eval::like(k, p)))
                .map(|(k, v)| vec![Some(k.to_string()), Some(v)])
                .collect();
            Ok(str_rows(&["Variable_name", "Value"], rows))
        }
        Stmt::ShowAlter {
            db,
            filter,
            order,
            limit,
        } => {
            let db = resolve_db(sess, db)?;
            let rel = alter_relation(sim, &db);
            let sel = Select {
                items: vec![sql::SelectItem {
                    expr: Expr::Star,
                    alias: None,
                    text: "*".into(),
                }],
                from: None,
                filter,
                order,
                limit,
                offset: 0,
            };
            run_select(sim, sess, &sel, rel)
        }
        Stmt::Select(sel) => {
            let rel = match &sel.from {
                None => Relation {
                    columns: vec![],
                    rows: vec![vec![]],
                    int_cols: &[],
                },
                Some((db, t)) => {
                    let is_info = db
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case("information_schema"))
                        || (db.is_none()
                            && sess
                                .db
                                .as_deref()
                                .is_some_and(|d| d.eq_ignore_ascii_case("information_schema")));
                    if is_info {
                        info_schema(sim, t)?
                    } else {
                        let db = resolve_db(sess, db.clone())?;
                        let rel = table_relation(sim, &db, t, sel.filter.as_ref())?;
                        // Lets tests check how a client splits its lookups per table.
                        *sim.counters
                            .lock()
                            .selects_by_table
                            .entry(format!("{db}.{t}"))
                            .or_default() += 1;
                        rel
                    }
                }
            };
            run_select(sim, sess, &sel, rel)
        }
    }
}

/// A `cancel_schema_change` rule matching this ALTER's text makes its job end CANCELLED.
fn schema_change_fault(sim: &Sim, db: &str, sql_text: &str) -> Option<String> {
    let ctx = crate::faults::FaultCtx {
        target: "mysql",
        op: "query",
        db,
        table: "",
        label: sql_text,
    };
    match sim.faults.take(&ctx, |a| {
        matches!(a, crate::faults::FaultAction::CancelSchemaChange { .. })
    }) {
        Some(crate::faults::FaultAction::CancelSchemaChange { message }) => {
            sim.counters.lock().faults_fired += 1;
            Some(message)
        }
        _ => None,
    }
}

fn default_text(c: &crate::catalog::Column) -> Option<String> {
    match &c.default {
        Some(crate::catalog::DefaultValue::Literal(v)) => Some(v.clone()),
        Some(crate::catalog::DefaultValue::CurrentTimestamp) => Some("CURRENT_TIMESTAMP".into()),
        None => None,
    }
}

fn session_vars(sim: &Sim) -> Vec<(&'static str, String)> {
    let l = sim.limits.read();
    vec![
        ("max_allowed_packet", "33554432".into()),
        ("wait_timeout", "28800".into()),
        ("interactive_timeout", "3600".into()),
        (
            "version_comment",
            format!("StarRocks version {STARROCKS_VERSION} (starrocks-sim)"),
        ),
        ("version", l.server_version.clone()),
        ("time_zone", "Asia/Shanghai".into()),
        ("system_time_zone", "Asia/Shanghai".into()),
        ("sql_mode", "ONLY_FULL_GROUP_BY".into()),
        ("character_set_client", "utf8".into()),
        ("character_set_connection", "utf8".into()),
        ("character_set_results", "utf8".into()),
        ("character_set_server", "utf8".into()),
        ("collation_connection", "utf8_general_ci".into()),
        ("collation_server", "utf8_general_ci".into()),
        ("autocommit", "1".into()),
        ("tx_isolation", "REPEATABLE-READ".into()),
        ("transaction_isolation", "REPEATABLE-READ".into()),
        ("lower_case_table_names", "0".into()),
        ("net_write_timeout", "60".into()),
        ("query_timeout", "300".into()),
        ("license", "Apache License 2.0".into()),
        ("init_connect", "".into()),
        ("language", "/starrocks/share/english/".into()),
        ("performance_schema", "0".into()),
        ("query_cache_size", "1048576".into()),
        ("query_cache_type", "0".into()),
        ("auto_increment_increment", "1".into()),
        ("net_buffer_length", "16384".into()),
    ]
}

/// Builds table metadata from CREATE TABLE, with the key-prefix rule of §5.2.
fn build_meta(db: &str, ct: sql::CreateTable) -> Result<TableMeta, SqlError> {
    let (keys_type, keys) = match ct.keys {
        Some(k) => k,
        // No key clause: a DUPLICATE KEY table on the first column(s), like StarRocks.
        None => (
            KeysType::Duplicate,
            ct.columns.iter().take(1).map(|c| c.name.clone()).collect(),
        ),
    };
    for (i, k) in keys.iter().enumerate() {
        match ct.columns.get(i) {
            Some(c) if c.name.eq_ignore_ascii_case(k) => {}
            Some(c) => {
                if !ct.columns.iter().any(|c| c.name.eq_ignore_ascii_case(k)) {
                    return Err(err(format!("Key column '{k}' doesn't exist in table.")));
                }
                return Err(err(format!(
                    "Key columns should be a ordered prefix of the schema. KeyColumns[{i}] (starts from zero) is {k}, but corresponding column is {} in the previous columns declaration.",
                    c.name
                )));
            }
            None => return Err(err(format!("Key column '{k}' doesn't exist in table."))),
        }
    }
    let distribution = match ct.distribution {
        Some((Some(cols), buckets)) => Distribution::Hash { cols, buckets },
        Some((None, buckets)) => Distribution::Random { buckets },
        None => {
            if keys_type == KeysType::Duplicate {
                Distribution::Random { buckets: None }
            } else {
                Distribution::Hash {
                    cols: keys.clone(),
                    buckets: None,
                }
            }
        }
    };
    let mut properties = ct.properties;
    if !properties.iter().any(|(k, _)| k == "replication_num") {
        properties.insert(0, ("replication_num".into(), "3".into()));
    }
    Ok(TableMeta {
        id: 0,
        db: db.into(),
        name: ct.name,
        key_count: keys.len(),
        columns: ct.columns,
        keys_type,
        distribution,
        order_by: ct.order_by,
        partition_by: ct.partition_by,
        properties,
        comment: ct.comment,
        schema_version: 0,
    })
}

/// Full primary keys named by a WHERE of the shapes the engine uses (§5.7): `k = v`,
/// `k IN (...)` on a single-column key, or OR-of-ANDs of `k_i = v_i` covering every key column.
/// `None` means "scan"; the WHERE is applied to the looked-up rows either way.
fn key_lookups(meta: &TableMeta, filter: &Expr) -> Option<Vec<Vec<Value>>> {
    if meta.keys_type == KeysType::Duplicate {
        return None;
    }
    let key_cols = &meta.columns[..meta.key_count];
    let lit_key = |col: usize, e: &Expr| -> Option<Value> {
        let v = eval::literal(e)?;
        let text = v.to_text()?;
        crate::types::convert(crate::types::Input::Text(&text), &key_cols[col].ty).ok()
    };
    let key_index = |name: &str| {
        key_cols
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    };
    // One conjunction → one full key.
    fn conj<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::And(a, b) => {
                conj(a, out);
                conj(b, out);
            }
            other => out.push(other),
        }
    }
    let mut disjuncts = Vec::new();
    fn disj<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::Or(a, b) => {
                disj(a, out);
                disj(b, out);
            }
            other => out.push(other),
        }
    }
    disj(filter, &mut disjuncts);
    let mut keys = Vec::new();
    for d in disjuncts {
        if let Expr::In {
            expr,
            list,
            neg: false,
        } = d
            && let Expr::Col(c) = expr.as_ref()
            && meta.key_count == 1
            && key_index(c) == Some(0)
        {
            for item in list {
                keys.push(vec![lit_key(0, item)?]);
            }
            continue;
        }
        let mut parts = Vec::new();
        conj(d, &mut parts);
        let mut key: Vec<Option<Value>> = vec![None; meta.key_count];
        for p in parts {
            if let Expr::Cmp(l, "=", r) = p {
                let (col, lit) = match (l.as_ref(), r.as_ref()) {
                    (Expr::Col(c), lit) | (lit, Expr::Col(c)) => (c, lit),
                    _ => continue,
                };
                if let Some(i) = key_index(col) {
                    key[i] = Some(lit_key(i, lit)?);
                }
            }
        }
        keys.push(key.into_iter().collect::<Option<Vec<Value>>>()?);
    }
    Some(keys)
}

fn table_relation(
    sim: &Sim,
    db: &str,
    t: &str,
    filter: Option<&Expr>,
) -> Result<Relation, SqlError> {
    let tref = sim.catalog.table(db, t).map_err(|e| match e {
        CatalogError::UnknownTable(_) => SqlError {
            code: 1064,
            msg: format!("Getting analyzing error. Detail message: Unknown table '{db}.{t}'."),
        },
        other => other.into(),
    })?;
    crate::http_be::publish_now(sim, db, &tref);
    let td = tref.lock();
    let rows = match filter.and_then(|f| key_lookups(&td.meta, f)) {
        Some(keys) => {
            let mut seen = std::collections::BTreeSet::new();
            keys.into_iter()
                .filter(|k| seen.insert(k.clone()))
                .filter_map(|k| td.rows.get(&k).cloned())
                .collect()
        }
        None => td.rows.values().cloned().collect(),
    };
    Ok(Relation {
        columns: td.meta.columns.iter().map(|c| c.name.clone()).collect(),
        rows,
        int_cols: &[],
    })
}

/// A wall-clock time as StarRocks shows it in SHOW results: `YYYY-MM-DD HH:MM:SS` in the FE's
/// default time zone, Asia/Shanghai.
pub fn show_time(t: SystemTime) -> String {
    crate::catalog::epoch_to_datetime(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            + 8 * 3600,
    )
}

fn alter_relation(sim: &Sim, db: &str) -> Relation {
    let g = sim.catalog.inner.read();
    let fmt_time = show_time;
    let rows = g
        .jobs
        .iter()
        .filter(|j| j.db == db)
        .map(|j| {
            vec![
                Value::Int(j.job_id as i128),
                s(j.table.clone()),
                s(fmt_time(j.create_time)),
                j.finish_time.map(|t| s(fmt_time(t))).unwrap_or(Value::Null),
                s(j.table.clone()),
                Value::Int(j.table_id as i128 + 1),
                Value::Int(j.table_id as i128),
                s(format!("{}:0", j.schema_version)),
                Value::Int(0),
                s(j.state.name()),
                s(j.msg.clone()),
                s(if j.state == crate::catalog::JobState::Finished {
                    "100%"
                } else {
                    "NULL"
                }),
                Value::Int(j.timeout_s as i128),
            ]
        })
        .collect();
    Relation {
        columns: [
            "JobId",
            "TableName",
            "CreateTime",
            "FinishTime",
            "IndexName",
            "IndexId",
            "OriginIndexId",
            "SchemaVersion",
            "TransactionId",
            "State",
            "Msg",
            "Progress",
            "Timeout",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect(),
        rows,
        int_cols: &[],
    }
}

fn all_tables(sim: &Sim) -> Vec<std::sync::Arc<TableMeta>> {
    let g = sim.catalog.inner.read();
    let mut out = Vec::new();
    for d in g.dbs.values() {
        for t in d.tables.values() {
            out.push(t.lock().meta.clone());
        }
    }
    out
}

fn info_schema(sim: &Sim, table: &str) -> Result<Relation, SqlError> {
    let cols = |names: &[&str]| names.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    match table.to_ascii_lowercase().as_str() {
        "schemata" => {
            let g = sim.catalog.inner.read();
            Ok(Relation {
                columns: cols(&[
                    "CATALOG_NAME",
                    "SCHEMA_NAME",
                    "DEFAULT_CHARACTER_SET_NAME",
                    "DEFAULT_COLLATION_NAME",
                    "SQL_PATH",
                ]),
                rows: g
                    .dbs
                    .keys()
                    .map(|d| {
                        vec![
                            s("def"),
                            s(d.clone()),
                            s("utf8"),
                            s("utf8_general_ci"),
                            Value::Null,
                        ]
                    })
                    .collect(),
                int_cols: &[],
            })
        }
        "tables" => Ok(Relation {
            columns: cols(&[
                "TABLE_CATALOG",
                "TABLE_SCHEMA",
                "TABLE_NAME",
                "TABLE_TYPE",
                "ENGINE",
                "VERSION",
                "ROW_FORMAT",
                "TABLE_ROWS",
                "AVG_ROW_LENGTH",
                "DATA_LENGTH",
                "CREATE_TIME",
                "UPDATE_TIME",
                "TABLE_COLLATION",
                "TABLE_COMMENT",
            ]),
            rows: all_tables(sim)
                .iter()
                .map(|m| {
                    vec![
                        s("def"),
                        s(m.db.clone()),
                        s(m.name.clone()),
                        s("BASE TABLE"),
                        s("StarRocks"),
                        Value::Null,
                        Value::Null,
                        Value::Int(0),
                        Value::Int(0),
                        Value::Int(0),
                        Value::Null,
                        Value::Null,
                        s("utf8_general_ci"),
                        s(m.comment.clone()),
                    ]
                })
                .collect(),
            int_cols: &["VERSION", "TABLE_ROWS", "AVG_ROW_LENGTH", "DATA_LENGTH"],
        }),
        "tables_config" => Ok(Relation {
            columns: cols(&[
                "TABLE_SCHEMA",
                "TABLE_NAME",
                "TABLE_ENGINE",
                "TABLE_MODEL",
                "PRIMARY_KEY",
                "PARTITION_KEY",
                "DISTRIBUTE_KEY",
                "DISTRIBUTE_TYPE",
                "DISTRIBUTE_BUCKET",
                "SORT_KEY",
                "PROPERTIES",
                "TABLE_ID",
            ]),
            rows: all_tables(sim)
                .iter()
                .map(|m| {
                    let keys = m
                        .key_names()
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let (dkey, dtype, dbucket) = match &m.distribution {
                        Distribution::Hash { cols, buckets } => (
                            cols.iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            "HASH",
                            buckets.unwrap_or(0),
                        ),
                        Distribution::Random { buckets } => {
                            (String::new(), "RANDOM", buckets.unwrap_or(0))
                        }
                    };
                    let sort = if m.order_by.is_empty() {
                        keys.clone()
                    } else {
                        m.order_by
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let props = serde_json::Value::Object(
                        m.properties
                            .iter()
                            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                            .collect(),
                    );
                    vec![
                        s(m.db.clone()),
                        s(m.name.clone()),
                        s("OLAP"),
                        s(m.keys_type.model()),
                        s(if m.keys_type == KeysType::Primary {
                            keys.clone()
                        } else {
                            String::new()
                        }),
                        s(""),
                        s(dkey),
                        s(dtype),
                        Value::Int(dbucket as i128),
                        s(sort),
                        s(props.to_string()),
                        Value::Int(m.id as i128),
                    ]
                })
                .collect(),
            int_cols: &["DISTRIBUTE_BUCKET", "TABLE_ID"],
        }),
        "columns" => {
            let mut rows = Vec::new();
            for m in all_tables(sim) {
                for (i, c) in m.columns.iter().enumerate() {
                    let (prec, scale) = c.ty.numeric_precision_scale();
                    rows.push(vec![
                        s("def"),
                        s(m.db.clone()),
                        s(m.name.clone()),
                        s(c.name.clone()),
                        Value::Int(i as i128 + 1),
                        default_text(c).map(s).unwrap_or(Value::Null),
                        s(if c.nullable { "YES" } else { "NO" }),
                        s(c.ty.info_data_type()),
                        opt_int(c.ty.char_max_len()),
                        opt_int(c.ty.char_max_len()),
                        opt_int(prec),
                        opt_int(scale),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        s(c.ty.info_column_type()),
                        s(if i < m.key_count {
                            m.keys_type.column_key()
                        } else {
                            ""
                        }),
                        s(""),
                        s("select,insert,update,references"),
                        s(c.comment.clone()),
                        opt_int(prec.or(c.ty.char_max_len())),
                        opt_int(scale),
                        Value::Null,
                    ]);
                }
            }
            Ok(Relation {
                columns: cols(&[
                    "TABLE_CATALOG",
                    "TABLE_SCHEMA",
                    "TABLE_NAME",
                    "COLUMN_NAME",
                    "ORDINAL_POSITION",
                    "COLUMN_DEFAULT",
                    "IS_NULLABLE",
                    "DATA_TYPE",
                    "CHARACTER_MAXIMUM_LENGTH",
                    "CHARACTER_OCTET_LENGTH",
                    "NUMERIC_PRECISION",
                    "NUMERIC_SCALE",
                    "DATETIME_PRECISION",
                    "CHARACTER_SET_NAME",
                    "COLLATION_NAME",
                    "COLUMN_TYPE",
                    "COLUMN_KEY",
                    "EXTRA",
                    "PRIVILEGES",
                    "COLUMN_COMMENT",
                    "COLUMN_SIZE",
                    "DECIMAL_DIGITS",
                    "GENERATION_EXPRESSION",
                ]),
                rows,
                int_cols: &[
                    "ORDINAL_POSITION",
                    "CHARACTER_MAXIMUM_LENGTH",
                    "CHARACTER_OCTET_LENGTH",
                    "NUMERIC_PRECISION",
                    "NUMERIC_SCALE",
                    "DATETIME_PRECISION",
                    "COLUMN_SIZE",
                    "DECIMAL_DIGITS",
                ],
            })
        }
        other => Err(err(format!(
            "Getting analyzing error. Detail message: Unknown table 'information_schema.{other}'."
        ))),
    }
}

/// Evaluation context over one row of a relation (SELECT, and DML's WHERE/SET/VALUES).
pub struct RelCtx<'a> {
    pub sim: &'a Sim,
    pub sess: &'a Session,
    pub columns: &'a [String],
    pub row: &'a [Value],
}

impl RowCtx for RelCtx<'_> {
    fn col(&self, name: &str) -> Result<Value, String> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map(|i| self.row[i].clone())
            .ok_or_else(|| {
                format!(
                    "Getting analyzing error. Detail message: Column '{name}' cannot be resolved."
                )
            })
    }
    fn var(&self, name: &str) -> Result<Value, String> {
        let n = name
            .trim_start_matches('@')
            .trim_start_matches("session.")
            .trim_start_matches("global.")
            .trim_start_matches("SESSION.")
            .trim_start_matches("GLOBAL.")
            .to_ascii_lowercase();
        session_vars(self.sim)
            .into_iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| match v.parse::<i128>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Str(v),
            })
            .ok_or_else(|| format!("Unknown system variable '{n}'"))
    }
    fn func(&self, name: &str) -> Option<Value> {
        match name {
            "DATABASE" | "SCHEMA" => {
                Some(self.sess.db.clone().map(Value::Str).unwrap_or(Value::Null))
            }
            "USER" | "CURRENT_USER" | "SESSION_USER" => {
                Some(Value::Str(format!("'{}'@'%'", self.sess.user)))
            }
            "CONNECTION_ID" => Some(Value::Int(self.sess.conn_id as i128)),
            // StarRocks' own version, `<version> <commit>` (VERSION() is the MySQL-compat one).
            "CURRENT_VERSION" => Some(Value::Str(format!("{STARROCKS_VERSION} starrocks-sim"))),
            "VERSION" => Some(Value::Str(self.sim.limits.read().server_version.clone())),
            _ => None,
        }
    }
}

fn is_count(e: &Expr) -> bool {
    matches!(e, Expr::Func(n, _) if n == "COUNT")
}

fn run_select(
    sim: &Sim,
    sess: &Session,
    sel: &Select,
    rel: Relation,
) -> Result<QueryResult, SqlError> {
    let sql_err = |m: String| SqlError {
        code: if m.starts_with("Unknown system variable") {
            1193
        } else {
            1064
        },
        msg: m,
    };
    // WHERE
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for row in rel.rows {
        let keep = match &sel.filter {
            None => true,
            Some(f) => {
                let ctx = RelCtx {
                    sim,
                    sess,
                    columns: &rel.columns,
                    row: &row,
                };
                eval::truth(&eval::eval(f, &ctx).map_err(sql_err)?) == Some(true)
            }
        };
        if keep {
            rows.push(row);
        }
    }
    // Aggregate: COUNT(*) (optionally with other COUNTs) over the filtered rows.
    if sel.items.iter().any(|i| is_count(&i.expr)) {
        let mut out = Vec::new();
        let mut columns = Vec::new();
        for item in &sel.items {
            let name = item.alias.clone().unwrap_or(item.text.clone());
            match &item.expr {
                Expr::Func(_, args)
                    if matches!(args.first(), None | Some(Expr::Star) | Some(Expr::Int(_))) =>
                {
                    out.push(Some(rows.len().to_string()));
                    columns.push((name, ColKind::Int));
                }
                Expr::Func(_, args) => {
                    let mut n = 0;
                    for row in &rows {
                        let ctx = RelCtx {
                            sim,
                            sess,
                            columns: &rel.columns,
                            row,
                        };
                        if !eval::eval(&args[0], &ctx).map_err(sql_err)?.is_null() {
                            n += 1;
                        }
                    }
                    out.push(Some(n.to_string()));
                    columns.push((name, ColKind::Int));
                }
                _ => {
                    return Err(err(
                        "Getting analyzing error. Detail message: must be an aggregate expression or appear in GROUP BY clause.",
                    ));
                }
            }
        }
        return Ok(QueryResult::Rows {
            columns,
            rows: vec![out],
        });
    }
    // ORDER BY
    if !sel.order.is_empty() {
        let mut keyed: Vec<(Vec<Value>, Vec<Value>)> = Vec::with_capacity(rows.len());
        for row in rows {
            let mut k = Vec::new();
            for (e, _) in &sel.order {
                let ctx = RelCtx {
                    sim,
                    sess,
                    columns: &rel.columns,
                    row: &row,
                };
                let e = match e {
                    // ORDER BY 1 refers to the first select item.
                    Expr::Int(n) if *n >= 1 => sel
                        .items
                        .get(*n as usize - 1)
                        .map(|i| i.expr.clone())
                        .unwrap_or(e.clone()),
                    other => other.clone(),
                };
                k.push(eval::eval(&e, &ctx).map_err(sql_err)?);
            }
            keyed.push((k, row));
        }
        keyed.sort_by(|a, b| {
            for (i, (_, desc)) in sel.order.iter().enumerate() {
                let o = eval::compare(&a.0[i], &b.0[i]);
                let o = if a.0[i].is_null() || b.0[i].is_null() {
                    a.0[i].total_cmp(&b.0[i])
                } else {
                    o
                };
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let rows: Vec<Vec<Value>> = rows
        .into_iter()
        .skip(sel.offset as usize)
        .take(sel.limit.map(|l| l as usize).unwrap_or(usize::MAX))
        .collect();
    // Projection.
    let rel_kind = |c: &str| {
        if rel.int_cols.iter().any(|x| x.eq_ignore_ascii_case(c)) {
            ColKind::Int
        } else {
            ColKind::Str
        }
    };
    let mut columns: Vec<(String, ColKind)> = Vec::new();
    let mut proj: Vec<Option<&Expr>> = Vec::new();
    for item in &sel.items {
        if item.expr == Expr::Star {
            for c in &rel.columns {
                columns.push((c.clone(), rel_kind(c)));
                proj.push(None);
            }
        } else {
            let name = item.alias.clone().unwrap_or_else(|| match &item.expr {
                Expr::Col(c) => rel
                    .columns
                    .iter()
                    .find(|x| x.eq_ignore_ascii_case(c))
                    .cloned()
                    .unwrap_or(c.clone()),
                _ => item.text.clone(),
            });
            let kind = match &item.expr {
                Expr::Col(c) => rel_kind(c),
                _ => ColKind::Str,
            };
            columns.push((name, kind));
            proj.push(Some(&item.expr));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let ctx = RelCtx {
            sim,
            sess,
            columns: &rel.columns,
            row,
        };
        let mut o = Vec::with_capacity(proj.len());
        let mut star_i = 0;
        for p in &proj {
            match p {
                None => {
                    // `SELECT *, *` repeats the columns.
                    o.push(row[star_i % row.len().max(1)].to_text());
                    star_i += 1;
                }
                Some(e) => o.push(eval::eval(e, &ctx).map_err(sql_err)?.to_text()),
            }
        }
        out.push(o);
    }
    // Integer-typed columns when every value is integral helps clients that read typed values.
    for (ci, col) in columns.iter_mut().enumerate() {
        if !out.is_empty()
            && out
                .iter()
                .all(|r| r[ci].as_deref().is_none_or(|v| v.parse::<i64>().is_ok()))
            && out.iter().any(|r| r[ci].is_some())
            && matches!(proj[ci], Some(Expr::Var(_)) | Some(Expr::Int(_)))
        {
            col.1 = ColKind::Int;
        }
    }
    // `SELECT 1` (no relation at all) yields one row; SHOW ALTER with no jobs yields none.
    if sel.from.is_none() && rel.columns.is_empty() && out.is_empty() {
        out.push(vec![]);
    }
    Ok(QueryResult::Rows { columns, rows: out })
}
