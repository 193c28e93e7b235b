//! Compares an [`ExpectedState`] with the tables in StarRocks (MySQL protocol, text queries).
//!
//! Values are compared as text, byte for byte, except for these normalisations (each is a
//! rendering difference, not a data difference):
//! - `datetime` columns: trailing zeros of the fraction (and a then-empty `.`) are dropped on
//!   both sides, so `10:00:00.120000` = `10:00:00.12` and `10:00:00.000000` = `10:00:00`
//!   (StarRocks versions differ in whether and how they print DATETIME fractions).
//! - `json` columns: compared as parsed JSON documents (StarRocks re-serialises JSON with its own
//!   spacing and key order).
//! - `float` columns (FLOAT/DOUBLE): compared as numbers (`3` = `3.0`, `1e+20` = `1.0E20`); FLOAT
//!   columns through `f32`.
//!
//! Rows are matched by key (the key columns' text), so the result does not depend on the
//! server's collation for the `ORDER BY`.

use std::collections::HashMap;

use anyhow::Context;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

use crate::model::{ExpectedState, ExpectedTable};

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Per table: `(name, expected rows, actual rows, missing, extra, differing rows)`.
    pub tables: Vec<TableReport>,
    /// Human-readable examples of differences (bounded).
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TableReport {
    pub name: String,
    pub expected: usize,
    pub actual: usize,
    pub missing: usize,
    pub extra: usize,
    pub differing: usize,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.missing == 0 && t.extra == 0 && t.differing == 0)
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            s.push_str(&format!(
                "{}: expected {} rows, actual {}, missing {}, extra {}, differing {}{}\n",
                t.name,
                t.expected,
                t.actual,
                t.missing,
                t.extra,
                t.differing,
                if t.missing + t.extra + t.differing == 0 {
                    " OK"
                } else {
                    " MISMATCH"
                }
            ));
        }
        for e in &self.examples {
            s.push_str("  ");
            s.push_str(e);
            s.push('\n');
        }
        s.push_str(if self.ok() {
            "verify: OK\n"
        } else {
            "verify: MISMATCH\n"
        });
        s
    }
}

fn strip_fraction_zeros(s: &str) -> &str {
    match s.split_once('.') {
        Some(_) => s.trim_end_matches('0').trim_end_matches('.'),
        None => s,
    }
}

/// Whether two non-NULL values of a column compare equal under the column's rule.
pub fn values_equal(compare: &str, sr_type: &str, expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    match compare {
        "datetime" => strip_fraction_zeros(expected) == strip_fraction_zeros(actual),
        "json" => match (
            serde_json::from_str::<serde_json::Value>(expected),
            serde_json::from_str::<serde_json::Value>(actual),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        "float" => {
            if sr_type.eq_ignore_ascii_case("FLOAT") {
                match (expected.parse::<f32>(), actual.parse::<f32>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
            } else {
                match (expected.parse::<f64>(), actual.parse::<f64>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
            }
        }
        _ => false,
    }
}

fn text(v: mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        mysql::Value::Int(i) => Some(i.to_string()),
        mysql::Value::UInt(u) => Some(u.to_string()),
        mysql::Value::Float(f) => Some(f.to_string()),
        mysql::Value::Double(f) => Some(f.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Connects to `host:port` (default port 9030) as `user`.
pub fn connect(addr: &str, user: &str, password: &str) -> anyhow::Result<Conn> {
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().context("port")?),
        None => (addr.to_string(), 9030),
    };
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    Conn::new(opts).with_context(|| format!("connecting to {addr}"))
}

/// Reads one table: `SELECT <columns> FROM db.t ORDER BY <key>` (text protocol).
pub fn read_table(
    conn: &mut Conn,
    db: &str,
    t: &ExpectedTable,
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let cols = t
        .columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let keys = t
        .key
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols} FROM {}.{} ORDER BY {keys}",
        ident(db),
        ident(&t.name)
    );
    let mut out = Vec::new();
    let result = conn.query_iter(&sql).with_context(|| sql.clone())?;
    for row in result {
        let row = row.with_context(|| sql.clone())?;
        out.push(row.unwrap().into_iter().map(text).collect());
    }
    Ok(out)
}

/// The columns in which an expected row and an actual row of `t` differ (under the column's
/// comparison rule), each as `column: expected …, actual …`; empty when the rows are equal.
pub fn row_differences(
    t: &ExpectedTable,
    expected: &[Option<String>],
    actual: &[Option<String>],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (i, (ev, av)) in expected.iter().zip(actual).enumerate() {
        let same = match (ev, av) {
            (None, None) => true,
            (Some(x), Some(y)) => values_equal(&t.compare[i], &t.types[i], x, y),
            _ => false,
        };
        if !same {
            bad.push(format!("{}: expected {ev:?}, actual {av:?}", t.columns[i]));
        }
    }
    bad
}

/// Compares one table's expected rows with actual rows (same column order).
pub fn compare_table(
    t: &ExpectedTable,
    actual: &[Vec<Option<String>>],
    examples: &mut Vec<String>,
    max_examples: usize,
) -> TableReport {
    let nk = t.key.len();
    let mut rep = TableReport {
        name: t.name.clone(),
        expected: t.rows.len(),
        actual: actual.len(),
        ..Default::default()
    };
    let mut act: HashMap<&[Option<String>], &Vec<Option<String>>> =
        actual.iter().map(|r| (&r[..nk], r)).collect();
    let mut note = |s: String| {
        if examples.len() < max_examples {
            examples.push(s);
        }
    };
    for e in &t.rows {
        let key = &e[..nk];
        let Some(a) = act.remove(key) else {
            rep.missing += 1;
            note(format!("{}: missing row {key:?}", t.name));
            continue;
        };
        let bad = row_differences(t, e, a);
        if !bad.is_empty() {
            rep.differing += 1;
            note(format!("{}: row {key:?}: {}", t.name, bad.join("; ")));
        }
    }
    rep.extra = act.len();
    let mut extra: Vec<_> = act.keys().collect();
    extra.sort();
    for k in extra.into_iter().take(3) {
        note(format!("{}: extra row {k:?}", t.name));
    }
    rep
}

/// Reads every table of `expected` from StarRocks at `addr` and compares.
pub fn verify(
    expected: &ExpectedState,
    addr: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<VerifyReport> {
    let mut conn = connect(addr, user, password)?;
    let mut rep = VerifyReport::default();
    for t in &expected.tables {
        let actual = read_table(&mut conn, &expected.database, t)?;
        let tr = compare_table(t, &actual, &mut rep.examples, 20);
        rep.tables.push(tr);
    }
    Ok(rep)
}

/// Runs `;`-separated statements (e.g. [`crate::ddl`]) one by one (text protocol).
pub fn execute_statements(addr: &str, user: &str, password: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = connect(addr, user, password)?;
    for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let stmt = stmt.trim_end_matches(';');
        conn.query_drop(stmt).with_context(|| stmt.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisations() {
        assert!(values_equal(
            "datetime",
            "DATETIME",
            "2024-01-01 00:00:00.120000",
            "2024-01-01 00:00:00.12"
        ));
        assert!(values_equal(
            "datetime",
            "DATETIME",
            "2024-01-01 00:00:00",
            "2024-01-01 00:00:00.000000"
        ));
        assert!(!values_equal(
            "datetime",
            "DATETIME",
            "2024-01-01 00:00:01",
            "2024-01-01 00:00:10"
        ));
        assert!(values_equal(
            "json",
            "JSON",
            "{\"b\": 1, \"a\": [1, 2]}",
            "{\"a\":[1,2],\"b\":1}"
        ));
        assert!(values_equal("float", "DOUBLE", "3.0", "3"));
        assert!(!values_equal("exact", "DECIMAL(12,2)", "1.10", "1.1"));
    }
}
