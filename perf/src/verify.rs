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

use std::collections::{BTreeMap, HashMap};

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
    /// The differences by cause, each row counted once per cause.
    pub causes: BTreeMap<Cause, usize>,
}

/// Why a row of the target differs from the model, as far as the row itself shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The model has the row, the target does not: a delete that should not have happened (or
    /// a delete of the wrong key) or a lost upsert.
    RowMissing,
    /// The target has a row the model deleted or moved to another key: a delete that never
    /// reached the target (e.g. the old key of a key-changing UPDATE).
    StaleRow,
    /// A JSON value equal to the model's once the model's `null` object members are dropped.
    JsonNullMembersDropped,
    /// A text that is exactly `\N` became NULL: a CSV load body that wrote it as it is (CSV
    /// has no spelling for it that StarRocks reads as text).
    BackslashNReadAsNull,
    /// Any other difference in this column.
    Differs(String),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::RowMissing => f.write_str("row_missing"),
            Cause::StaleRow => f.write_str("stale_row"),
            Cause::JsonNullMembersDropped => f.write_str("json_null_members_dropped"),
            Cause::BackslashNReadAsNull => f.write_str("backslash_n_read_as_null"),
            Cause::Differs(column) => write!(f, "differs:{column}"),
        }
    }
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.missing == 0 && t.extra == 0 && t.differing == 0)
    }

    /// Differences by cause over every table.
    pub fn causes(&self) -> BTreeMap<Cause, usize> {
        let mut all = BTreeMap::new();
        for t in &self.tables {
            for (cause, n) in &t.causes {
                *all.entry(cause.clone()).or_default() += n;
            }
        }
        all
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

/// The causes of the differences between an expected and an actual row (empty when equal).
pub fn row_causes(
    t: &ExpectedTable,
    expected: &[Option<String>],
    actual: &[Option<String>],
) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, (ev, av)) in expected.iter().zip(actual).enumerate() {
        let cause = match (ev, av) {
            (None, None) => None,
            (Some(x), Some(y)) if values_equal(&t.compare[i], &t.types[i], x, y) => None,
            (Some(x), Some(y)) if t.compare[i] == "json" && json_without_nulls_equal(x, y) => {
                Some(Cause::JsonNullMembersDropped)
            }
            (Some(x), None) if x == "\\N" => Some(Cause::BackslashNReadAsNull),
            _ => Some(Cause::Differs(t.columns[i].clone())),
        };
        if let Some(c) = cause
            && !causes.contains(&c)
        {
            causes.push(c);
        }
    }
    causes
}

/// Whether `actual` is the JSON document `expected` with its `null` object members dropped.
fn json_without_nulls_equal(expected: &str, actual: &str) -> bool {
    fn strip(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
            other => other,
        }
    }
    match (
        serde_json::from_str::<serde_json::Value>(expected),
        serde_json::from_str::<serde_json::Value>(actual),
    ) {
        (Ok(e), Ok(a)) => strip(e) == a,
        _ => false,
    }
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
    let mut count = |c: Cause| *rep.causes.entry(c).or_default() += 1;
    for e in &t.rows {
        let key = &e[..nk];
        let Some(a) = act.remove(key) else {
            rep.missing += 1;
            count(Cause::RowMissing);
            note(format!("{}: missing row {key:?}", t.name));
            continue;
        };
        let bad = row_differences(t, e, a);
        if !bad.is_empty() {
            rep.differing += 1;
            row_causes(t, e, a).into_iter().for_each(&mut count);
            note(format!("{}: row {key:?}: {}", t.name, bad.join("; ")));
        }
    }
    rep.extra = act.len();
    if !act.is_empty() {
        *rep.causes.entry(Cause::StaleRow).or_default() += act.len();
    }
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
        assert!(json_without_nulls_equal(
            "{\"a\": 37, \"b\": null, \"c\": [{\"d\": null}]}",
            "{\"c\":[{}],\"a\":37}"
        ));
        assert!(!json_without_nulls_equal("{\"a\": 1}", "{\"a\": 2}"));
        assert!(!values_equal("exact", "DECIMAL(12,2)", "1.10", "1.1"));
    }

    #[test]
    fn differences_are_counted_by_cause() {
        let v = |s: &str| Some(s.to_string());
        let t = ExpectedTable {
            name: "t".into(),
            columns: vec!["id".into(), "note".into(), "doc".into()],
            types: vec!["BIGINT".into(), "VARCHAR(64)".into(), "JSON".into()],
            compare: vec!["exact".into(), "exact".into(), "json".into()],
            key: vec!["id".into()],
            rows: vec![
                vec![v("1"), v("a"), v(r#"{"a": 1, "b": null}"#)],
                vec![v("2"), v("\\N"), v("{}")],
                vec![v("3"), v("c"), None],
                vec![v("4"), v("d"), None],
            ],
        };
        let actual = vec![
            vec![v("1"), v("a"), v(r#"{"a":1}"#)],
            vec![v("2"), None, v("{}")],
            vec![v("3"), v("x"), None],
            vec![v("9"), v("stale"), None],
        ];
        let rep = compare_table(&t, &actual, &mut Vec::new(), 10);
        let causes: Vec<(String, usize)> = rep
            .causes
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        let want = [
            ("row_missing", 1),
            ("stale_row", 1),
            ("json_null_members_dropped", 1),
            ("backslash_n_read_as_null", 1),
            ("differs:note", 1),
        ];
        assert_eq!(causes, want.map(|(c, n)| (c.to_string(), n)));
        assert_eq!((rep.missing, rep.extra, rep.differing), (1, 1, 3));
    }
}
