//! The reference model: per table a `BTreeMap<key, row>` with full-row upserts and deletes by
//! key, and the expected final state it yields (values as StarRocks renders them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::schema::{Render, Table};
use crate::values::starrocks_text;

/// One row: the table's columns in schema order, `None` = SQL NULL, canonical text otherwise.
pub type Row = Vec<Option<String>>;

/// One key component, ordered as StarRocks orders it (integers numerically, text by bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    Int(i128),
    Text(String),
}

pub type Key = Vec<KeyPart>;

/// The key of `row` (a full row in schema order, or at least its key prefix).
pub fn key_of(table: &Table, row: &[Option<String>]) -> Key {
    table
        .key_columns()
        .iter()
        .zip(row)
        .map(|(c, v)| {
            let v = v.as_deref().unwrap_or("");
            match (c.is_integer(), v.parse::<i128>()) {
                (true, Ok(i)) => KeyPart::Int(i),
                _ => KeyPart::Text(v.to_string()),
            }
        })
        .collect()
}

/// The reference model of the target tables.
#[derive(Debug, Clone)]
pub struct Model {
    tables: Vec<(Table, BTreeMap<Key, Row>)>,
}

impl Model {
    pub fn new(tables: &[Table]) -> Self {
        Model {
            tables: tables
                .iter()
                .map(|t| (t.clone(), BTreeMap::new()))
                .collect(),
        }
    }

    fn slot(&mut self, table: &str) -> &mut (Table, BTreeMap<Key, Row>) {
        self.tables
            .iter_mut()
            .find(|(t, _)| t.name == table)
            .unwrap_or_else(|| panic!("table {table} is not in the model"))
    }

    /// Inserts or fully replaces the row with `row`'s key.
    pub fn upsert(&mut self, table: &str, row: Row) {
        let (t, map) = self.slot(table);
        let k = key_of(t, &row);
        map.insert(k, row);
    }

    /// Deletes the row whose key is the key prefix of `row` (absent rows are ignored).
    pub fn delete(&mut self, table: &str, row: &[Option<String>]) {
        let (t, map) = self.slot(table);
        let k = key_of(t, row);
        map.remove(&k);
    }

    /// Rows per table in key order (canonical text).
    pub fn rows(&self, table: &str) -> Option<impl Iterator<Item = &Row>> {
        self.tables
            .iter()
            .find(|(t, _)| t.name == table)
            .map(|(_, m)| m.values())
    }

    pub fn expected_state(&self, database: &str) -> ExpectedState {
        ExpectedState {
            database: database.to_string(),
            tables: self
                .tables
                .iter()
                .map(|(t, m)| ExpectedTable::new(t, m.values()))
                .collect(),
        }
    }
}

/// The expected final state of every table, as StarRocks would return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedState {
    pub database: String,
    pub tables: Vec<ExpectedTable>,
}

/// One table of an [`ExpectedState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedTable {
    pub name: String,
    pub columns: Vec<String>,
    /// StarRocks column types (as in the DDL).
    pub types: Vec<String>,
    /// Per column: `exact`, `datetime`, `json` or `float` (the comparison `verify` applies).
    pub compare: Vec<String>,
    /// Key column names (a prefix of `columns`).
    pub key: Vec<String>,
    /// Rows sorted by key; values as StarRocks renders them, `null` = SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl ExpectedTable {
    /// Builds the table from canonical rows already in key order.
    pub fn new<'a>(t: &Table, rows: impl Iterator<Item = &'a Row>) -> Self {
        ExpectedTable {
            name: t.name.to_string(),
            columns: t.columns.iter().map(|c| c.name.to_string()).collect(),
            types: t.columns.iter().map(|c| c.sr_type.to_string()).collect(),
            compare: t
                .columns
                .iter()
                .map(|c| {
                    match c.render() {
                        Render::Exact => "exact",
                        Render::DateTime => "datetime",
                        Render::Json => "json",
                        Render::Float => "float",
                    }
                    .to_string()
                })
                .collect(),
            key: t.key_names().iter().map(|s| s.to_string()).collect(),
            rows: rows.map(|r| render_row(t, r)).collect(),
        }
    }
}

/// A canonical row as StarRocks renders it (the text an [`ExpectedTable`] row holds).
pub fn render_row(t: &Table, row: &[Option<String>]) -> Vec<Option<String>> {
    t.columns
        .iter()
        .zip(row)
        .map(|(c, v)| v.as_deref().map(|v| starrocks_text(c, v)))
        .collect()
}

impl ExpectedState {
    pub fn table(&self, name: &str) -> Option<&ExpectedTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn total_rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// Writes the state as JSON (one row per line, so diffs of two files stay readable).
    pub fn write_json(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{{\"database\":{},\"tables\":[",
            serde_json::to_string(&self.database)?
        )?;
        for (ti, t) in self.tables.iter().enumerate() {
            writeln!(
                w,
                "{{\"name\":{},\"columns\":{},\"types\":{},\"compare\":{},\"key\":{},\"rows\":[",
                serde_json::to_string(&t.name)?,
                serde_json::to_string(&t.columns)?,
                serde_json::to_string(&t.types)?,
                serde_json::to_string(&t.compare)?,
                serde_json::to_string(&t.key)?,
            )?;
            for (ri, r) in t.rows.iter().enumerate() {
                let comma = if ri + 1 < t.rows.len() { "," } else { "" };
                writeln!(w, "{}{comma}", serde_json::to_string(r)?)?;
            }
            let comma = if ti + 1 < self.tables.len() { "," } else { "" };
            writeln!(w, "]}}{comma}")?;
        }
        writeln!(w, "]}}")
    }

    pub fn to_json_string(&self) -> String {
        let mut v = Vec::new();
        self.write_json(&mut v).expect("writing to a Vec");
        String::from_utf8(v).expect("JSON is UTF-8")
    }

    pub fn write_json_file(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(f);
        self.write_json(&mut w)?;
        w.flush()
    }

    pub fn read_json_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let f = std::fs::File::open(path)?;
        Ok(serde_json::from_reader(std::io::BufReader::new(f))?)
    }
}
