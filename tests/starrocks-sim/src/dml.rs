//! `INSERT INTO ... VALUES`, `DELETE FROM ... WHERE` and `UPDATE ... SET ... WHERE` on the
//! MySQL front (and `POST /sql`), as StarRocks runs them on Primary Key tables: each statement
//! is one transaction with an `insert_`/`delete_`/`update_` label, applied at once (VISIBLE),
//! answering the affected rows and `{'label':..., 'status':'VISIBLE', 'txnId':...}`. Values
//! are checked strictly (`enable_insert_strict` is true by default): one bad value fails the
//! statement with `Insert has filtered data in strict mode, tracking_url=...`.
//!
//! These are not loads: they are neither in the load log nor in the load counters.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Column, KeysType, TableMeta, TableRef};
use crate::eval;
use crate::query::{QueryResult, RelCtx, Session, SqlError, analysis_err, resolve_db};
use crate::sql::{Expr, Insert, InsertValue};
use crate::state::Sim;
use crate::stream_load::{self, Prepared, RowOp};
use crate::txn::TxnState;
use crate::types::{Input, Value, convert};

fn plain(msg: impl Into<String>) -> SqlError {
    SqlError {
        code: 1064,
        msg: msg.into(),
    }
}

fn table(sim: &Sim, db: &str, name: &str) -> Result<TableRef, SqlError> {
    sim.catalog.table(db, name).map_err(|e| match e {
        crate::catalog::CatalogError::UnknownTable(_) => {
            analysis_err(format!("Unknown table '{db}.{name}'"))
        }
        other => other.into(),
    })
}

/// A fresh label like StarRocks' `insert_<query id>`.
fn auto_label(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{prefix}_{t:016x}-{n:016x}")
}

/// Registers the statement's transaction (so its label is taken like any load's) and marks it
/// VISIBLE; returns the OK packet's info text.
fn finish_txn(sim: &Sim, db: &str, table: &str, label: &str) -> Result<String, SqlError> {
    let id = sim
        .txns
        .begin(
            db,
            table,
            label,
            Duration::from_secs(300),
            None,
            &crate::http_be::retention(sim),
        )
        .map_err(|e| match e {
            crate::txn::BeginError::LabelExists { .. } => {
                plain(format!("Label [{label}] has already been used."))
            }
            crate::txn::BeginError::TooManyRunning { running, limit } => plain(format!(
                "current running txns on db {} is {running}, larger than limit {limit}",
                sim.catalog.db_id(db).unwrap_or(0)
            )),
        })?;
    sim.txns.set_state(db, id, TxnState::Visible, "");
    Ok(format!(
        "{{'label':'{label}', 'status':'VISIBLE', 'txnId':'{id}'}}"
    ))
}

/// Strict mode: any filtered row fails the statement, with the rows in an error log.
fn strict_failure(sim: &Sim, errors: &[String]) -> SqlError {
    let url = sim.store_error_log(errors, 0);
    plain(format!(
        "Insert has filtered data in strict mode, tracking_url={url}"
    ))
}

fn render_row(row: &[Value]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "NULL".into()))
        .collect();
    format!("[{}]", cells.join(", "))
}

/// Converts an evaluated value into the column's type; `Err` is the error-log reason.
fn to_column(v: Value, col: &Column) -> Result<Value, String> {
    let converted = match v.to_text() {
        None => Value::Null,
        Some(text) => convert(Input::Text(&text), &col.ty).map_err(|e| e.0)?,
    };
    if converted.is_null() && !col.nullable {
        return Err(format!("NULL value in non-nullable column '{}'", col.name));
    }
    Ok(converted)
}

/// Expressions of VALUES and SET: literals, arithmetic and functions; SET may read the row.
fn eval_in(
    sess: &Session,
    sim: &Sim,
    meta: &TableMeta,
    row: &[Value],
    e: &Expr,
) -> Result<Value, SqlError> {
    let columns: Vec<String> = meta.columns.iter().map(|c| c.name.clone()).collect();
    let ctx = RelCtx {
        sim,
        sess,
        columns: &columns,
        row,
    };
    eval::eval(e, &ctx).map_err(plain)
}

fn apply(t: &TableRef, meta: &Arc<TableMeta>, ops: Vec<RowOp>) {
    let p = Prepared {
        total: ops.len() as u64,
        ops,
        filtered: 0,
        unselected: 0,
        error_rows: Vec::new(),
        schema_version: meta.schema_version,
        present: vec![true; meta.columns.len()],
        partial: false,
        merge_idx: None,
        meta: meta.clone(),
    };
    let mut td = t.lock();
    // Earlier commits still waiting for publish go first, as versions are applied in order.
    td.publish_due();
    stream_load::apply(&mut td, p);
    td.version += 1;
}

/// Target column of every VALUES position, resolving the optional column list.
fn insert_targets(meta: &TableMeta, ins: &Insert) -> Result<Vec<usize>, SqlError> {
    let Some(cols) = &ins.columns else {
        return Ok((0..meta.columns.len()).collect());
    };
    let mut targets = Vec::with_capacity(cols.len());
    for c in cols {
        let idx = meta
            .column_index(c)
            .ok_or_else(|| analysis_err(format!("Unknown column '{c}' in '{}'", ins.table)))?;
        if targets.contains(&idx) {
            return Err(analysis_err(format!("Column '{c}' specified twice")));
        }
        targets.push(idx);
    }
    for (i, col) in meta.columns.iter().enumerate() {
        if !targets.contains(&i) && !col.has_default() {
            return Err(analysis_err(format!(
                "'{}' must be explicitly mentioned in column permutation",
                col.name
            )));
        }
    }
    Ok(targets)
}

pub fn insert(sim: &Sim, sess: &Session, ins: Insert) -> Result<QueryResult, SqlError> {
    let db = resolve_db(sess, ins.db.clone())?;
    let t = table(sim, &db, &ins.table)?;
    let meta = t.lock().meta.clone();
    let targets = insert_targets(&meta, &ins)?;
    let mut ops = Vec::with_capacity(ins.rows.len());
    let mut errors = Vec::new();
    for values in &ins.rows {
        if values.len() != targets.len() {
            return Err(analysis_err(format!(
                "Inserted target column count: {} doesn't match select/value column count: {}",
                targets.len(),
                values.len()
            )));
        }
        let mut row: Vec<Value> = meta.columns.iter().map(|c| c.default_value()).collect();
        let mut bad = None;
        for (v, &idx) in values.iter().zip(&targets) {
            let col = &meta.columns[idx];
            let value = match v {
                InsertValue::Default if col.default.is_none() => {
                    return Err(analysis_err(format!(
                        "Column has no default value, column={}",
                        col.name
                    )));
                }
                InsertValue::Default => col.default_value(),
                InsertValue::Expr(e) => eval_in(sess, sim, &meta, &[], e)?,
            };
            match to_column(value, col) {
                Ok(v) => row[idx] = v,
                Err(reason) => bad = bad.or(Some(reason)),
            }
        }
        // Columns left out must take a value too (NOT NULL without default was refused above).
        match bad {
            Some(reason) => errors.push(format!("Error: {reason}. Row: {}", render_row(&row))),
            None => ops.push(RowOp::Upsert(row)),
        }
    }
    if !errors.is_empty() {
        return Err(strict_failure(sim, &errors));
    }
    let label = ins.label.clone().unwrap_or_else(|| auto_label("insert"));
    let info = finish_txn(sim, &db, &ins.table, &label)?;
    let affected = ops.len() as u64;
    apply(&t, &meta, ops);
    Ok(QueryResult::Dml { affected, info })
}

/// A stored row with its map key.
type KeyedRow = (Vec<Value>, Vec<Value>);

/// Rows (their stored keys and values) that satisfy `filter`.
fn matching_rows(
    sim: &Sim,
    sess: &Session,
    db: &str,
    t: &TableRef,
    filter: &Expr,
) -> Result<(Arc<TableMeta>, Vec<KeyedRow>), SqlError> {
    crate::http_be::publish_now(sim, db, t);
    let td = t.lock();
    let meta = td.meta.clone();
    let mut out = Vec::new();
    for (key, row) in &td.rows {
        let v = eval_in(sess, sim, &meta, row, filter)?;
        if eval::truth(&v) == Some(true) {
            out.push((key.clone(), row.clone()));
        }
    }
    Ok((meta, out))
}

pub fn delete(
    sim: &Sim,
    sess: &Session,
    db: Option<String>,
    name: &str,
    filter: Option<Expr>,
) -> Result<QueryResult, SqlError> {
    let db = resolve_db(sess, db)?;
    let t = table(sim, &db, name)?;
    let Some(filter) = filter else {
        return Err(analysis_err(
            "Delete must specify where clause to prevent full table delete",
        ));
    };
    let (_, rows) = matching_rows(sim, sess, &db, &t, &filter)?;
    let label = auto_label("delete");
    let info = finish_txn(sim, &db, name, &label)?;
    let mut td = t.lock();
    td.publish_due();
    for (key, _) in &rows {
        td.rows.remove(key);
    }
    td.version += 1;
    Ok(QueryResult::Dml {
        affected: rows.len() as u64,
        info,
    })
}

pub fn update(
    sim: &Sim,
    sess: &Session,
    db: Option<String>,
    name: &str,
    sets: Vec<(String, Expr)>,
    filter: Option<Expr>,
) -> Result<QueryResult, SqlError> {
    let db = resolve_db(sess, db)?;
    let t = table(sim, &db, name)?;
    let meta = t.lock().meta.clone();
    // Only Primary Key tables support UPDATE (`Table.supportsUpdate`).
    if meta.keys_type != KeysType::Primary {
        return Err(analysis_err(format!(
            "table {name} does not support update"
        )));
    }
    let mut targets = Vec::with_capacity(sets.len());
    for (c, e) in &sets {
        let idx = meta
            .column_index(c)
            .ok_or_else(|| analysis_err(format!("table '{name}' do not existing column '{c}'")))?;
        if idx < meta.key_count {
            return Err(analysis_err(format!(
                "primary key column cannot be updated: {}",
                meta.columns[idx].name
            )));
        }
        targets.push((idx, e));
    }
    let Some(filter) = filter else {
        return Err(analysis_err(
            "must specify where clause to prevent full table update",
        ));
    };
    let (meta, rows) = matching_rows(sim, sess, &db, &t, &filter)?;
    let mut ops = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (_, old) in rows {
        let mut row = old.clone();
        let mut bad = None;
        for (idx, e) in &targets {
            // Every SET expression sees the row as it was before the statement.
            let v = eval_in(sess, sim, &meta, &old, e)?;
            match to_column(v, &meta.columns[*idx]) {
                Ok(v) => row[*idx] = v,
                Err(reason) => bad = bad.or(Some(reason)),
            }
        }
        match bad {
            Some(reason) => errors.push(format!("Error: {reason}. Row: {}", render_row(&row))),
            None => ops.push(RowOp::Upsert(row)),
        }
    }
    if !errors.is_empty() {
        return Err(strict_failure(sim, &errors));
    }
    let label = auto_label("update");
    let info = finish_txn(sim, &db, name, &label)?;
    let affected = ops.len() as u64;
    apply(&t, &meta, ops);
    Ok(QueryResult::Dml { affected, info })
}
