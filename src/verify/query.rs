//! Reading target rows by key over the MySQL protocol (text protocol, literals escaped here;
//! starrocks.md §5.1, §5.7): `WHERE k IN (…)` for a one-column key, `WHERE (k1 = … AND k2 = …)
//! OR …` for a composite key (StarRocks has no row-value `IN` list), at most
//! `maxInSizePerQuery` keys per statement.

use std::collections::HashMap;

use mysql::prelude::Queryable;

use super::VerifyError;
use crate::engine::Catalog;
use crate::names::{ident, qualified};
use crate::schema::{StarRocksType, TargetTable};

/// A row as StarRocks returned it, in table column order; `None` is NULL.
pub(crate) type ActualRow = Vec<Option<Vec<u8>>>;

/// Looks rows up by key; counts the statements it sends.
pub(crate) struct Lookup<'a> {
    catalog: &'a Catalog,
    max_in: usize,
    queries: u64,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(catalog: &'a Catalog, max_in_size_per_query: u32) -> Self {
        Lookup {
            catalog,
            max_in: max_in_size_per_query.max(1) as usize,
            queries: 0,
        }
    }

    /// Statements sent so far.
    pub(crate) fn queries(&self) -> u64 {
        self.queries
    }

    /// The largest number of keys one statement holds.
    pub(crate) fn max_keys(&self) -> usize {
        self.max_in
    }

    /// The rows of `table` whose keys are `keys` (each the key columns' rendered values, in key
    /// order), by the encoder's key bytes. Keys that have no row are absent. `keys` must be at
    /// most [`Lookup::max_keys`] long.
    pub(crate) fn fetch(
        &mut self,
        table: &TargetTable,
        keys: &[Vec<Vec<u8>>],
    ) -> Result<HashMap<Vec<u8>, ActualRow>, VerifyError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = select(table, keys);
        let failed = |e: &dyn std::fmt::Display| VerifyError::Query {
            table: table.to_string(),
            message: e.to_string(),
        };
        let mut conn = self.catalog.conn().map_err(|e| failed(&e))?;
        self.queries += 1;
        let result = conn.query_iter(&sql).map_err(|e| failed(&e))?;
        let mut rows = HashMap::with_capacity(keys.len());
        for row in result {
            let row: ActualRow = row
                .map_err(|e| failed(&e))?
                .unwrap()
                .into_iter()
                .map(bytes)
                .collect();
            let key = crate::encode::key_of_rendered(
                table,
                table
                    .key
                    .iter()
                    .map(|&i| row[i].as_deref().unwrap_or_default()),
            );
            rows.insert(key, row);
        }
        Ok(rows)
    }
}

/// A text-protocol value: its bytes as sent.
fn bytes(v: mysql::Value) -> Option<Vec<u8>> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(b),
        mysql::Value::Int(i) => Some(i.to_string().into_bytes()),
        mysql::Value::UInt(u) => Some(u.to_string().into_bytes()),
        mysql::Value::Float(f) => Some(f.to_string().into_bytes()),
        mysql::Value::Double(f) => Some(f.to_string().into_bytes()),
        other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
    }
}

/// `SELECT <every column> FROM db.t WHERE <keys>`.
pub(crate) fn select(table: &TargetTable, keys: &[Vec<Vec<u8>>]) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
    let key_cols: Vec<(String, &StarRocksType)> = table
        .key_columns()
        .map(|c| (ident(&c.name), &c.ty))
        .collect();
    let filter = if let [(name, ty)] = key_cols.as_slice() {
        let values: Vec<String> = keys.iter().map(|k| literal(ty, &k[0])).collect();
        format!("{name} IN ({})", values.join(", "))
    } else {
        let terms: Vec<String> = keys
            .iter()
            .map(|k| {
                let parts: Vec<String> = key_cols
                    .iter()
                    .zip(k)
                    .map(|((name, ty), v)| format!("{name} = {}", literal(ty, v)))
                    .collect();
                format!("({})", parts.join(" AND "))
            })
            .collect();
        terms.join(" OR ")
    };
    format!(
        "SELECT {} FROM {} WHERE {filter}",
        columns.join(", "),
        qualified(&table.db, &table.table)
    )
}

/// A key value as a SQL literal: integers bare (they are the encoder's validated digits), every
/// other key type (VARCHAR, DATE, DATETIME) a quoted string.
fn literal(ty: &StarRocksType, value: &[u8]) -> String {
    let integer = ty.is_integer();
    let text = String::from_utf8_lossy(value);
    if integer && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text.into_owned();
    }
    crate::names::literal(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{TableModel, TargetColumn};

    fn table(key: &[(&str, StarRocksType)]) -> TargetTable {
        let mut cols: Vec<TargetColumn> = key
            .iter()
            .map(|(n, t)| TargetColumn::new(*n, t.clone(), false, true))
            .collect();
        cols.push(TargetColumn::new(
            "v",
            StarRocksType::Varchar(9),
            true,
            false,
        ));
        TargetTable::new("d", "t", cols, TableModel::PrimaryKeys).unwrap()
    }

    fn k(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn one_column_keys_are_an_in_list() {
        let t = table(&[("id", StarRocksType::BigInt)]);
        assert_eq!(
            select(&t, &[k(&["1"]), k(&["-20"])]),
            "SELECT `id`, `v` FROM `d`.`t` WHERE `id` IN (1, -20)"
        );
    }

    #[test]
    fn composite_keys_are_an_or_of_ands_with_quoted_strings() {
        let t = table(&[("a", StarRocksType::Int), ("b", StarRocksType::Varchar(8))]);
        assert_eq!(
            select(&t, &[k(&["1", "x'y"]), k(&["2", "back\\slash"])]),
            "SELECT `a`, `b`, `v` FROM `d`.`t` WHERE (`a` = 1 AND `b` = 'x\\'y') OR \
             (`a` = 2 AND `b` = 'back\\\\slash')"
        );
    }

    #[test]
    fn dates_are_quoted() {
        let t = table(&[("d", StarRocksType::Date), ("ts", StarRocksType::DateTime)]);
        assert!(
            select(&t, &[k(&["2024-01-01", "2024-01-01 10:00:00.5"])])
                .ends_with("WHERE (`d` = '2024-01-01' AND `ts` = '2024-01-01 10:00:00.5')")
        );
    }
}
