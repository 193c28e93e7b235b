//! Comparing one key's expected image with the row StarRocks returned, column by column.
//!
//! Expected values are the loader encoder's rendering for the target type; actual values are
//! StarRocks' text over the MySQL protocol. They are compared byte for byte except where the
//! two renderings of one StarRocks value differ (each normalisation below is such a case, never
//! a tolerance):
//!
//! - DECIMAL: the encoder writes the fraction digits the source had (`1.5`), StarRocks prints
//!   the column's scale (`1.50`), and `-0.00` is stored as `0.00`: compared as exact decimal
//!   numbers (sign, integer digits, fraction without trailing zeros).
//! - DATETIME: the encoder keeps the source's fraction (`…:00.120`), StarRocks prints six digits
//!   or none (`…:00.120000`, `…:00`; older versions never print it): trailing fraction zeros
//!   and a then-empty `.` are dropped on both sides.
//! - FLOAT / DOUBLE: the source's Java text (`1.0E20`) against StarRocks' own (`1e+20`):
//!   compared as numbers, FLOAT at single precision.
//! - JSON: StarRocks re-serialises documents (spacing, key order): compared as parsed
//!   documents, numbers by value.
//! - VARBINARY: the encoder writes base64 (what Stream Load decodes), StarRocks returns the
//!   bytes: the expected text is base64-decoded.
//! - Unknown types (ARRAY, MAP, …): byte for byte, else as JSON documents when both parse.

use base64::Engine as _;

use super::expected::{Field, Image};
use super::query::ActualRow;
use crate::model::ChangeOp;
use crate::schema::{StarRocksType, TargetTable};

/// How one key compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Equal,
    /// The last change is an upsert; the target has no row.
    Missing,
    /// The last change is a delete; the target has a row.
    Extra,
    /// Both have the row; these columns differ.
    Differing(Vec<ColumnDiff>),
}

/// One differing column, values as text (`None` = NULL).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnDiff {
    pub column: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

/// Compares `expected` with `actual` (`None`: the target has no row with the key).
pub(crate) fn compare(
    table: &TargetTable,
    expected: &Image,
    actual: Option<&ActualRow>,
) -> Outcome {
    match (expected.op, actual) {
        (ChangeOp::Delete, None) => Outcome::Equal,
        (ChangeOp::Delete, Some(_)) => Outcome::Extra,
        (ChangeOp::Upsert, None) => Outcome::Missing,
        (ChangeOp::Upsert, Some(row)) => {
            let diffs = differing_columns(table, &expected.fields(table), row);
            if diffs.is_empty() {
                Outcome::Equal
            } else {
                Outcome::Differing(diffs)
            }
        }
    }
}

fn differing_columns(
    table: &TargetTable,
    expected: &[Field<'_>],
    actual: &ActualRow,
) -> Vec<ColumnDiff> {
    let mut out = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        let e = expected.get(i).and_then(|f| f.as_deref());
        let a = actual.get(i).and_then(|v| v.as_deref());
        let same = match (e, a) {
            (None, None) => true,
            (Some(e), Some(a)) => values_equal(&column.ty, e, a),
            _ => false,
        };
        if !same {
            out.push(ColumnDiff {
                column: column.name.clone(),
                expected: e.map(|v| expected_text(&column.ty, v)),
                actual: a.map(|v| actual_text(&column.ty, v)),
            });
        }
    }
    out
}

/// Whether two non-NULL values of a column of type `ty` are one StarRocks value: `expected` as
/// the encoder rendered it, `actual` as StarRocks printed it.
pub fn values_equal(ty: &StarRocksType, expected: &[u8], actual: &[u8]) -> bool {
    if expected == actual && !matches!(ty, StarRocksType::VarBinary(_)) {
        return true;
    }
    let (Ok(e), Ok(a)) = (std::str::from_utf8(expected), std::str::from_utf8(actual)) else {
        return matches!(ty, StarRocksType::VarBinary(_)) && base64_is(expected, actual);
    };
    match ty {
        StarRocksType::Decimal { .. } => decimal(e) == decimal(a),
        StarRocksType::DateTime => trim_fraction(e) == trim_fraction(a),
        StarRocksType::Float => {
            matches!((e.parse::<f32>(), a.parse::<f32>()), (Ok(x), Ok(y)) if x == y)
        }
        StarRocksType::Double => {
            matches!((e.parse::<f64>(), a.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
        }
        StarRocksType::Json => json_equal(e, a),
        StarRocksType::VarBinary(_) => base64_is(expected, actual),
        StarRocksType::Other(_) => json_equal(e, a),
        _ => false,
    }
}

/// Whether `expected` is the base64 of `actual`.
fn base64_is(expected: &[u8], actual: &[u8]) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(expected)
        .is_ok_and(|bytes| bytes == actual)
}

/// A decimal as (negative, integer digits, fraction digits) without the zeros that do not
/// change its value; zero is never negative.
fn decimal(s: &str) -> Option<(bool, &str, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    Some((neg && !(int.is_empty() && frac.is_empty()), int, frac))
}

fn trim_fraction(s: &str) -> &str {
    match s.split_once('.') {
        Some(_) => s.trim_end_matches('0').trim_end_matches('.'),
        None => s,
    }
}

fn json_equal(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => same_json(&x, &y),
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1` = `1.0`).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// An expected value for a report: text as is; VARBINARY (the encoder's base64) decoded and
/// shown as `0x` + hex, like the actual bytes.
fn expected_text(ty: &StarRocksType, v: &[u8]) -> String {
    match ty {
        StarRocksType::VarBinary(_) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_else(|_| v.to_vec());
            format!("0x{}", hex::encode(bytes))
        }
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

/// An actual value for a report: text as is, VARBINARY bytes as `0x` + hex.
fn actual_text(ty: &StarRocksType, v: &[u8]) -> String {
    match ty {
        StarRocksType::VarBinary(_) => format!("0x{}", hex::encode(v)),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::BodyFormat;
    use crate::schema::{TableModel, TargetColumn};

    fn eq(ty: &str, e: &str, a: &str) -> bool {
        values_equal(
            &StarRocksType::parse(ty).unwrap(),
            e.as_bytes(),
            a.as_bytes(),
        )
    }

    #[test]
    fn renderings_of_one_value_are_equal() {
        assert!(eq("decimal(10,2)", "1.5", "1.50"));
        assert!(eq("decimal(10,2)", "-0.00", "0.00"));
        assert!(eq("decimal(10,0)", "7", "7"));
        assert!(!eq("decimal(10,2)", "1.5", "1.05"));
        assert!(!eq("decimal(10,2)", "-1.5", "1.50"));
        assert!(eq(
            "datetime",
            "2024-06-01 10:00:00.120",
            "2024-06-01 10:00:00.120000"
        ));
        assert!(eq(
            "datetime",
            "2024-06-01 10:00:00",
            "2024-06-01 10:00:00.000000"
        ));
        assert!(!eq(
            "datetime",
            "2024-06-01 10:00:01",
            "2024-06-01 10:00:10"
        ));
        assert!(eq("double", "1.0E20", "1e+20"));
        assert!(eq("double", "3.0", "3"));
        assert!(eq("float", "0.1", "0.1"));
        assert!(!eq("double", "0.1", "0.2"));
        assert!(eq(
            "json",
            r#"{"b": 1, "a": [1, 2.0]}"#,
            r#"{"a":[1,2],"b":1}"#
        ));
        assert!(!eq("json", r#"{"a": 1}"#, r#"{"a": "1"}"#));
        assert!(values_equal(
            &StarRocksType::VarBinary(None),
            b"//48",
            &[0xff, 0xfe, 0x3c]
        ));
        assert!(!values_equal(
            &StarRocksType::VarBinary(None),
            b"//48",
            b"//48"
        ));
    }

    #[test]
    fn text_integers_and_dates_compare_exactly() {
        assert!(eq("varchar(10)", "abc", "abc"));
        assert!(!eq("varchar(10)", "abc", "abc "));
        assert!(!eq("int", "1", "01"));
        assert!(!eq("date", "2024-01-01", "2024-01-02"));
    }

    #[test]
    fn outcomes() {
        let t = TargetTable::new(
            "d",
            "t",
            vec![
                TargetColumn::new("id", StarRocksType::Int, false, true),
                TargetColumn::new(
                    "amount",
                    StarRocksType::Decimal {
                        precision: 9,
                        scale: 2,
                    },
                    true,
                    false,
                ),
            ],
            TableModel::PrimaryKeys,
        )
        .unwrap();
        let image = |row: &str, op| Image {
            op,
            format: BodyFormat::Csv,
            row: row.as_bytes().into(),
        };
        let up = image("1\x011.5\x010\x02", ChangeOp::Upsert);
        let del = image("1\x01\\N\x011\x02", ChangeOp::Delete);
        let row = |v: Option<&str>| vec![Some(b"1".to_vec()), v.map(|s| s.as_bytes().to_vec())];
        assert_eq!(compare(&t, &up, Some(&row(Some("1.50")))), Outcome::Equal);
        assert_eq!(compare(&t, &up, None), Outcome::Missing);
        assert_eq!(compare(&t, &del, None), Outcome::Equal);
        assert_eq!(compare(&t, &del, Some(&row(None))), Outcome::Extra);
        assert_eq!(
            compare(&t, &up, Some(&row(None))),
            Outcome::Differing(vec![ColumnDiff {
                column: "amount".into(),
                expected: Some("1.5".into()),
                actual: None
            }])
        );
    }
}
