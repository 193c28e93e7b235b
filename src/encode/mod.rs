//! Stream Load body encoding: decoded rows → the bytes StarRocks loads into a Primary Key table.
//!
//! # Body format: CSV without quoting, JSON only for the rows that need it
//!
//! StarRocks ingests CSV 2.5–4× cheaper than JSON, and for CSV it has two readers
//! (`be/src/exec/csv_scanner.cpp`):
//!
//! * with neither `enclose` nor `escape` set, a plain splitter (`memmem` for the row delimiter,
//!   then for the column separator) — the fast one;
//! * with either set, a byte-at-a-time state machine (`CSVReader::more_rows`) that is slower and
//!   has sharp edges: with `escape` set and `enclose` unset the enclose byte is `\0`, so every
//!   U+0000 in a value is taken as a quote; an escape followed by an ordinary byte silently drops
//!   the escape; an unpaired quote inside an unquoted field swallows itself and the next byte.
//!
//! In both readers NULL is the *field after unquoting/unescaping* being exactly `\N`
//! (`NullableConverter::read_string`), so a text value that is exactly the two bytes `\N` cannot be
//! told from NULL by any CSV spelling. Quoting buys nothing there.
//!
//! So the encoder writes **unquoted CSV** with `column_separator` `\x01` and `row_delimiter`
//! `\x02`: every value StarRocks parses (numbers, dates, booleans, base64) is validated ASCII
//! without control bytes, and valid JSON text cannot contain raw U+0001/U+0002, so only free text
//! (VARCHAR/CHAR/unknown types) can ever hold those bytes — and real text almost never does.
//! Each free-text value is scanned for them (and for being exactly `\N`), so framing is exact,
//! never probabilistic. The separators are control characters, hence the hex header form, which
//! the FE decodes for both headers (`Delimiter.convertDelimiter`); bytes ≥ 0x80 are not an option
//! because the FE turns them into U+FFxx and the BE rejects rows that are not valid UTF-8.
//!
//! A row holding such a "hard" value is written as a JSON object instead ([`RowSpan::format`]);
//! the rows around it stay CSV. The engine loads a batch's CSV rows in one body and its JSON rows
//! (`strip_outer_array`) in another, so a rare value costs its own row the slower JSON path, not
//! its whole batch. [`BodyBuilder`] can also put both in one JSON body, transcoding the CSV rows
//! (unquoted CSV rows split trivially and the column types are known), and refuses a CSV row
//! holding a value a JSON load would change. JSON cannot carry VARBINARY (starrocks.md §1.5), so
//! for a table with a VARBINARY column a hard value is an [`EncodeError::Unrepresentable`]
//! instead.
//!
//! # Values (for the target column type, starrocks.md §5.3, §6, §7)
//!
//! * Integers: exact text, range-checked against TINYINT…LARGEINT, leading zeros dropped.
//! * DECIMAL(p,s): exact text; integer digits must fit p−s, fraction digits beyond s must be zeros
//!   (they are dropped) — anything StarRocks would round is an error.
//! * FLOAT/DOUBLE: the producer's text (Java `1.0E308`, `-0.0` parse fine in StarRocks) after a
//!   JSON-number grammar check and a range check for FLOAT and for exponents.
//! * BOOLEAN: `1`/`0`, from `1/0/true/false`.
//! * DATE / DATETIME: canonical text, calendar- and range-checked (zero dates are errors — the
//!   decoders apply the zero-date policy); a DATETIME with a time of day into a DATE is an error;
//!   sub-microsecond digits must be zeros. Time zones were applied by the decoder; text is naive.
//! * JSON: validated JSON text (≤ 16 MB), written as is (in JSON bodies: embedded as a JSON value).
//! * VARBINARY: **base64**, not hex: the BE's CSV VARBINARY reader base64-decodes the field and,
//!   when that fails, silently stores the field bytes as they are
//!   (`be/src/formats/csv/varbinary_converter.cpp`); hex would load as its ASCII digits, or worse,
//!   decode as base64. (starrocks.md §1.5 says hex; the BE source says otherwise.)
//! * Binary into VARCHAR/CHAR: upper-case hex without prefix, i.e. MySQL `HEX(col)`, reversible
//!   with StarRocks `unhex()`; ASCII, so it never collides with the framing, and the length check
//!   counts the hex digits.
//! * VARCHAR/CHAR: byte length checked against the declared length.
//!
//! # Rows
//!
//! Message columns are matched to target columns by name, exact then case-insensitive. A message
//! column the target lacks is *unknown*; [`EncodeOptions::unknown`] decides (`onUnknownColumn`):
//! [`UnknownColumns::Refuse`], the default, fails the row ([`EncodeError::UnknownColumns`]) so
//! nothing is lost silently; [`UnknownColumns::Drop`] drops the values, reports each name once
//! per encoder ([`BodyEncoder::take_unknown_columns`]) and counts the dropped values
//! ([`BodyEncoder::take_unknown_values`]). Columns a DDL of this run dropped from the target
//! ([`EncodeOptions::dropped`]) are not unknown: rows produced before that DDL still carry them,
//! and their values are dropped quietly, uncounted, under either policy.
//!
//! An upsert must carry every target column ([`EncodeError::PartialRow`]: a full-row upsert
//! would overwrite the absent ones with defaults), except columns a DDL of this run added
//! ([`EncodeOptions::added`]): a row produced before that DDL lacks them and gets the column's
//! default, or NULL, which is what MySQL gave existing rows when it added the column. A table
//! that is a projection for a partial update ([`TargetTable::project`], `partial_update: true`)
//! is encoded like any other: its rows carry its (fewer) columns. A delete needs the key columns
//! only; its non-key columns are written as NULL, or as a valid placeholder for NOT NULL columns,
//! because StarRocks ignores them for deletes but still parses them — an odd before-image value
//! must not fail a delete. Every row ends with `__op` (0 upsert, 1 delete).
//!
//! Per row the encoder also records the row's key: the key columns' rendered values,
//! length-prefixed, with DATETIME fractions normalised (`…:00.000` and `…:00` are one key), in a
//! side arena, plus a 64-bit hash, so a flusher can keep the last row per key without parsing.
//!
//! Steady state allocates and hashes nothing per row: the arenas, the slot vector and the
//! position→column cache are reused; only errors, first sightings of column names and (rare)
//! rows needing an added column's default do more.

mod rollback;
mod value;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use thiserror::Error;

use crate::bytes::same_str;
use crate::model::{ChangeOp, Column, Value, ValueKind};
use crate::schema::{RowUpdate, TableModel, TargetColumn, TargetTable, names_equal_ci};
use value::{IntWidth, Target};

/// Byte between fields of a CSV row.
pub const COLUMN_SEPARATOR: u8 = 0x01;
/// Byte after every CSV row (including the last).
pub const ROW_DELIMITER: u8 = 0x02;
/// The CSV spelling of NULL.
pub const CSV_NULL: &[u8] = b"\\N";
/// The Stream Load virtual column that carries upsert (0) / delete (1).
pub const OP_COLUMN: &str = "__op";

/// The format of an encoded block or a load body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BodyFormat {
    /// Unquoted CSV, `\x01` between fields, `\x02` after each row, `\N` for NULL.
    #[default]
    Csv,
    /// A JSON array of objects (`strip_outer_array: true`).
    Json,
}

impl BodyFormat {
    /// The `format` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Csv => "csv",
            BodyFormat::Json => "json",
        }
    }
}

/// What the encoder does with a message column the target table lacks (`onUnknownColumn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnknownColumns {
    /// The row fails with [`EncodeError::UnknownColumns`]: no value is lost silently.
    #[default]
    Refuse,
    /// The values are dropped; names are reported once per encoder and values counted.
    Drop,
}

/// How a [`BodyEncoder`] treats rows that do not match the target's columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    pub unknown: UnknownColumns,
    /// Columns a DDL of this run dropped from the target: rows produced before that DDL (e.g. in
    /// another partition) still carry them; their values are dropped quietly under either
    /// policy and not counted. Matched like column names are (exact, then case-insensitive); a
    /// message column that matches a target column is never taken for one of these.
    pub dropped: Vec<String>,
    /// Target columns a DDL of this run added: an upsert lacking one (a row produced before the
    /// DDL) gets the column's default ([`TargetColumn::default`](crate::schema::TargetColumn)
    /// read as a text value of the column's type), else NULL if the column is nullable, instead
    /// of failing with [`EncodeError::PartialRow`]. A NOT NULL column without default and key
    /// columns still fail. Names the target does not have are ignored.
    pub added: Vec<String>,
}

/// Where one encoded row lives in its [`EncodedBlock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSpan {
    /// Hash of the key bytes ([`key_hash`]); compare the bytes to confirm equality.
    pub key_hash: u64,
    /// Range of the key bytes in [`EncodedBlock::keys`].
    pub key: Range<usize>,
    /// Range of the row in [`EncodedBlock::data`] (a CSV row with its delimiter, or one JSON
    /// object without separators).
    pub row: Range<usize>,
    pub op: ChangeOp,
    /// CSV, or JSON for a row holding a value unquoted CSV cannot frame.
    pub format: BodyFormat,
}

/// Encoded rows of one table: the unit handed from a worker to a flusher.
#[derive(Debug, Clone, Default)]
pub struct EncodedBlock {
    data: Vec<u8>,
    keys: Vec<u8>,
    rows: Vec<RowSpan>,
}

impl EncodedBlock {
    /// The format one body of all the rows needs: JSON as soon as one row is JSON.
    pub fn format(&self) -> BodyFormat {
        if self.json_rows() == 0 {
            BodyFormat::Csv
        } else {
            BodyFormat::Json
        }
    }
    /// How many rows are JSON objects ([`RowSpan::format`]).
    pub fn json_rows(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.format == BodyFormat::Json)
            .count()
    }
    /// The rows, back to back.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// The key arena.
    pub fn keys(&self) -> &[u8] {
        &self.keys
    }
    pub fn rows(&self) -> &[RowSpan] {
        &self.rows
    }
    pub fn row_bytes(&self, span: &RowSpan) -> &[u8] {
        &self.data[span.row.clone()]
    }
    pub fn key_bytes(&self, span: &RowSpan) -> &[u8] {
        &self.keys[span.key.clone()]
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// Bytes of its rows, keys and row spans: how full it is.
    pub fn byte_size(&self) -> usize {
        self.data.len() + self.keys.len() + self.rows.len() * std::mem::size_of::<RowSpan>()
    }
    /// Bytes its buffers hold, grown room included: what the memory budget counts. The buffers
    /// grow by doubling, so they may hold up to twice [`byte_size`](Self::byte_size).
    pub fn held_bytes(&self) -> usize {
        self.data.capacity()
            + self.keys.capacity()
            + self.rows.capacity() * std::mem::size_of::<RowSpan>()
    }
    /// Empties the block, keeping its allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.keys.clear();
        self.rows.clear();
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// `present` is what a partial update of the row would list ([`TargetTable::project`]).
    #[error(
        "table {table}: an upsert lacks target columns {missing:?}; a full-row upsert would \
         overwrite them with their defaults"
    )]
    PartialRow {
        table: String,
        /// Target columns the row lacks and that have no fill (see [`EncodeOptions::added`]).
        missing: Vec<String>,
        /// Target columns the row carries, in table order.
        present: Vec<String>,
    },
    #[error(
        "table {table} lacks the message's columns {columns:?}; a row whose values would be \
         dropped is refused (add the columns to the target, or set target.onUnknownColumn to \
         \"addColumn\" or \"ignore\")"
    )]
    UnknownColumns {
        table: String,
        /// In message order.
        columns: Vec<String>,
    },
    #[error("table {table}: key column `{column}` is missing from the row")]
    MissingKey { table: String, column: String },
    #[error("table {table}, column `{column}`: {reason}")]
    Value {
        table: String,
        column: String,
        reason: String,
    },
    #[error(
        "table {table}: message columns `{first}` and `{second}` both map to column `{target}`"
    )]
    DuplicateColumn {
        table: String,
        first: String,
        second: String,
        target: String,
    },
    #[error("table {table}, column `{column}`: {reason}")]
    Unrepresentable {
        table: String,
        column: String,
        reason: String,
    },
    #[error("table {table} is a {model:?} table; only Primary Key tables take upserts and deletes")]
    NotPrimaryKey { table: String, model: TableModel },
    #[error("table {table} has no key columns")]
    NoKey { table: String },
    #[error(
        "table {table}: column `{column}` has the name of Stream Load's operation column \
         (`__op`, which says upsert or delete); rows of this table cannot be loaded"
    )]
    ReservedColumn { table: String, column: String },
    #[error("a JSON row cannot go into a CSV body")]
    FormatMismatch,
}

#[derive(Debug)]
struct ColPlan {
    name: String,
    target: Target,
    nullable: bool,
    is_key: bool,
    /// `"name":` as JSON.
    json_key: Vec<u8>,
    when_missing: WhenMissing,
}

/// What an upsert that lacks a column gets for it.
#[derive(Debug)]
enum WhenMissing {
    /// Nothing: the row is an [`EncodeError::PartialRow`].
    Required,
    /// NULL: a nullable column a DDL of this run added, without default.
    Null,
    /// The default text, encoded as a text value of the column: a column a DDL of this run added.
    Default(String),
    /// An added column whose default does not encode (e.g. `CURRENT_TIMESTAMP`); the reason
    /// fails the rows that need it, not the encoder.
    BadDefault(String),
}

impl WhenMissing {
    /// The fill of `column`, which a DDL of this run added.
    fn added(column: &TargetColumn, target: Target) -> WhenMissing {
        // A key identifies the row: a filled-in key would merge rows.
        if column.is_key {
            return WhenMissing::Required;
        }
        let Some(text) = &column.default else {
            return if column.nullable {
                WhenMissing::Null
            } else {
                WhenMissing::Required
            };
        };
        let mut scratch = Vec::new();
        match value::render(target, ValueKind::Text, Value::Text(text), &mut scratch) {
            Ok(()) => WhenMissing::Default(text.clone()),
            Err(reason) => WhenMissing::BadDefault(format!(
                "the row lacks this column, which a DDL of this run added, and its default {} \
                 does not encode: {reason}",
                value::excerpt(text)
            )),
        }
    }
}

/// What the encoder needs from a [`TargetTable`], computed once.
#[derive(Debug)]
struct Plan {
    table: TargetTable,
    display: String,
    cols: Vec<ColPlan>,
    has_varbinary: bool,
    columns_header: String,
}

impl Plan {
    fn new(table: &TargetTable) -> Result<Plan, EncodeError> {
        let display = table.to_string();
        if table.model != TableModel::PrimaryKeys {
            return Err(EncodeError::NotPrimaryKey {
                table: display,
                model: table.model,
            });
        }
        if table.key.is_empty() {
            return Err(EncodeError::NoKey { table: display });
        }
        // A column named like the operation column would appear twice in a load's `columns`
        // header and JSON objects, and StarRocks would apply one of them as the operation.
        if let Some(c) = table
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(OP_COLUMN))
        {
            return Err(EncodeError::ReservedColumn {
                table: display,
                column: c.name.clone(),
            });
        }
        let cols: Vec<ColPlan> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut json_key = Vec::with_capacity(c.name.len() + 3);
                value::json_string(c.name.as_bytes(), &mut json_key);
                json_key.push(b':');
                ColPlan {
                    name: c.name.clone(),
                    target: Target::of(&c.ty),
                    nullable: c.nullable,
                    is_key: table.key.contains(&i),
                    json_key,
                    when_missing: WhenMissing::Required,
                }
            })
            .collect();
        let has_varbinary = cols
            .iter()
            .any(|c| matches!(c.target, Target::VarBinary { .. }));
        let columns_header = columns_header(table);
        Ok(Plan {
            table: table.clone(),
            display,
            cols,
            has_varbinary,
            columns_header,
        })
    }

    /// Lets upserts lack the columns of `added` that have a fill.
    fn fill_added(&mut self, added: &[String]) {
        for name in added {
            if let Some(i) = self.table.column_index(name) {
                let column = &self.table.columns[i];
                self.cols[i].when_missing = WhenMissing::added(column, self.cols[i].target);
            }
        }
    }

    fn headers(&self, format: BodyFormat) -> Vec<(&'static str, String)> {
        let mut h = vec![("format", format.as_str().to_string())];
        match format {
            BodyFormat::Csv => {
                h.push(("column_separator", format!("\\x{COLUMN_SEPARATOR:02x}")));
                h.push(("row_delimiter", format!("\\x{ROW_DELIMITER:02x}")));
            }
            BodyFormat::Json => {
                h.push(("strip_outer_array", "true".into()));
                // The engine sizes its own batches; the 100 MB JSON check would only split
                // them differently from CSV.
                h.push(("ignore_json_size", "true".into()));
            }
        }
        h.push(("columns", self.columns_header.clone()));
        if self.table.update == RowUpdate::Partial {
            // StarRocks' default row mode; it takes `__op` deletes too (starrocks.md §1.8).
            h.push(("partial_update", "true".into()));
        }
        // Values are validated here; anything StarRocks still cannot parse must fail the load
        // rather than turn into a silent NULL (non-strict mode's behaviour).
        h.push(("strict_mode", "true".into()));
        h
    }

    fn unrepresentable(&self, col: usize, reason: &str) -> EncodeError {
        EncodeError::Unrepresentable {
            table: self.display.clone(),
            column: self.cols[col].name.clone(),
            reason: reason.to_string(),
        }
    }

    fn row_error(&self, e: RowError) -> EncodeError {
        match e {
            RowError::Value(i, reason) => self.value_error(i, reason),
            RowError::NotJson(i) => self.unrepresentable(i, "a JSON body would change this value"),
            RowError::Hard(i) => self.unrepresentable(i, "unquoted CSV cannot frame this value"),
        }
    }

    fn value_error(&self, col: usize, reason: String) -> EncodeError {
        EncodeError::Value {
            table: self.display.clone(),
            column: self.cols[col].name.clone(),
            reason,
        }
    }
}

/// The `columns` header: every table column back-quoted (a back quote inside a name doubled, as in
/// SQL — the header is parsed as SQL, so reserved words and `-`, spaces, CJK need the quotes),
/// then `__op`.
pub fn columns_header(table: &TargetTable) -> String {
    let mut s = String::new();
    for c in &table.columns {
        s.push('`');
        s.push_str(&c.name.replace('`', "``"));
        s.push_str("`,");
    }
    s.push_str(OP_COLUMN);
    s
}

/// The format-related Stream Load headers for a body of `format` into `table` (`format`,
/// separators or `strip_outer_array`/`ignore_json_size`, `columns`, `partial_update` for a
/// projected table, `strict_mode`). Label, timeout, `max_filter_ratio`, `Expect` and
/// authorization are the loader's.
pub fn headers(
    table: &TargetTable,
    format: BodyFormat,
) -> Result<Vec<(&'static str, String)>, EncodeError> {
    Ok(Plan::new(table)?.headers(format))
}

/// The key bytes of a row whose key columns StarRocks rendered as `values` (in key order), in
/// the form [`EncodedBlock::key_bytes`] gives for an encoded row: one key, one byte string, in
/// whichever spelling StarRocks printed it. For readers that get rows back from StarRocks
/// (`starpipe verify`).
pub fn key_of_rendered<'a>(
    table: &TargetTable,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (&i, v) in table.key.iter().zip(values) {
        push_key(Target::of(&table.columns[i].ty), v, &mut out);
    }
    out
}

/// The hash stored in [`RowSpan::key_hash`]: fast, deterministic across processes.
pub fn key_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64) ^ 0x243F_6A88_85A3_08D3;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rem.len()].copy_from_slice(rem);
        h = (h ^ u64::from_le_bytes(buf))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    // murmur3 finaliser: spreads the last multiply over all bits for hash-table use.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Whether free text cannot be written as an unquoted CSV field.
fn csv_hard(field: &[u8]) -> bool {
    // `|` rather than `||` so the loop vectorises; the common case scans the whole value anyway.
    const _: () = assert!(COLUMN_SEPARATOR == 1 && ROW_DELIMITER == 2);
    // One comparison per byte: b - 1 < 2 exactly when b is 0x01 or 0x02.
    field == CSV_NULL
        || field
            .iter()
            .fold(false, |acc, &b| acc | (b.wrapping_sub(1) < 2))
}

enum Field<'a> {
    Null,
    Placeholder,
    Value(Column<'a>),
}

enum RowError {
    /// Column index and reason.
    Value(usize, String),
    /// Column index whose value cannot be unquoted CSV.
    Hard(usize),
    /// Column index whose value a JSON body would change.
    NotJson(usize),
}

/// Whether a JSON body would load a rendered (non-NULL) value differently from CSV.
fn json_unsafe(target: Target, raw: &[u8]) -> bool {
    match target {
        // StarRocks' JSON reader maps a JSON null to SQL NULL before looking at the column type.
        Target::Json => raw.trim_ascii() == b"null",
        // Unknown types (ARRAY, MAP, …) are embedded as JSON values; text that is not JSON
        // cannot be.
        Target::Other => {
            raw.trim_ascii() == b"null"
                || serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_err()
        }
        Target::VarBinary { .. } => true,
        _ => false,
    }
}

// Inlined: its `Result<Field, String>` returned through memory stalled every cell.
#[inline(always)]
fn field_source<'a>(
    op: ChangeOp,
    c: &'a ColPlan,
    slot: Option<Column<'a>>,
) -> Result<Field<'a>, String> {
    match slot {
        Some(col) if c.is_key => {
            if col.value.is_null() {
                Err("NULL in a primary key column".into())
            } else {
                Ok(Field::Value(col))
            }
        }
        _ if op == ChangeOp::Delete => Ok(if c.nullable {
            Field::Null
        } else {
            Field::Placeholder
        }),
        Some(col) if col.value.is_null() => {
            if c.nullable {
                Ok(Field::Null)
            } else {
                Err("NULL in a NOT NULL column".into())
            }
        }
        Some(col) => Ok(Field::Value(col)),
        None => match &c.when_missing {
            WhenMissing::Null => Ok(Field::Null),
            // Encoded like a message value, so framing and JSON checks apply to it too.
            WhenMissing::Default(text) => Ok(Field::Value(Column {
                name: &c.name,
                kind: ValueKind::Text,
                value: Value::Text(text),
            })),
            WhenMissing::BadDefault(reason) => Err(reason.clone()),
            // Completeness is checked before encoding starts.
            WhenMissing::Required => Err("column missing from the row".into()),
        },
    }
}

fn push_key(target: Target, rendered: &[u8], keys: &mut Vec<u8>) {
    let len_at = keys.len();
    keys.extend_from_slice(&[0; 4]);
    value::normalize_key(target, rendered, keys);
    let len = (keys.len() - len_at - 4) as u32;
    keys[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

fn op_digit(op: ChangeOp) -> u8 {
    b'0' + op.op_code()
}

fn encode_csv(
    plan: &Plan,
    op: ChangeOp,
    slots: &[Option<Column<'_>>],
    data: &mut Vec<u8>,
    keys: &mut Vec<u8>,
) -> Result<(), RowError> {
    // A hard value is reported only after the whole row validated, so that a row that fails
    // anyway is not written as JSON instead.
    let mut hard = None;
    for (i, c) in plan.cols.iter().enumerate() {
        encode_csv_field(i, c, op, slots[i], data, keys, &mut hard)?;
    }
    if let Some(i) = hard {
        return Err(RowError::Hard(i));
    }
    end_csv_row(op, data);
    Ok(())
}

/// Appends field `i` (target column `c`) and its separator, and its key bytes for a key column.
/// Notes in `hard` the first field unquoted CSV cannot frame.
#[inline(always)]
fn encode_csv_field(
    i: usize,
    c: &ColPlan,
    op: ChangeOp,
    slot: Option<Column<'_>>,
    data: &mut Vec<u8>,
    keys: &mut Vec<u8>,
    hard: &mut Option<usize>,
) -> Result<(), RowError> {
    let start = data.len();
    match field_source(op, c, slot).map_err(|r| RowError::Value(i, r))? {
        Field::Null => data.extend_from_slice(CSV_NULL),
        Field::Placeholder => data.extend_from_slice(c.target.placeholder()),
        Field::Value(col) => {
            value::render(c.target, col.kind, col.value, data)
                .map_err(|r| RowError::Value(i, r))?;
            if hard.is_none()
                && c.target.free_text()
                && (csv_hard(&data[start..])
                    // Readers may drop a UTF-8 BOM at the start of a body (the `csv` crate
                    // does; StarRocks is unverified), and any row can end up first.
                    || (i == 0 && data[start..].starts_with("\u{feff}".as_bytes())))
            {
                *hard = Some(i);
            }
        }
    }
    if c.is_key {
        push_key(c.target, &data[start..], keys);
    }
    data.push(COLUMN_SEPARATOR);
    Ok(())
}

fn end_csv_row(op: ChangeOp, data: &mut Vec<u8>) {
    data.push(op_digit(op));
    data.push(ROW_DELIMITER);
}

/// Appends a rendered value as a JSON value of the type StarRocks' JSON reader expects.
fn emit_json(target: Target, raw: &[u8], out: &mut Vec<u8>) {
    match target {
        Target::Bool
        | Target::Int(IntWidth::Tiny | IntWidth::Small | IntWidth::Int | IntWidth::Big)
        | Target::Json
        | Target::Other => out.extend_from_slice(raw),
        // Strings go through the same text parsers as CSV fields: LARGEINT and DECIMAL stay off
        // any 64-bit path, and FLOAT avoids the BE's number → double → float double rounding
        // (`formats/json/numeric_column.cpp`).
        _ => value::json_string(raw, out),
    }
}

fn encode_json(
    plan: &Plan,
    op: ChangeOp,
    slots: &[Option<Column<'_>>],
    data: &mut Vec<u8>,
    keys: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), RowError> {
    data.push(b'{');
    for (i, c) in plan.cols.iter().enumerate() {
        data.extend_from_slice(&c.json_key);
        match field_source(op, c, slots[i]).map_err(|r| RowError::Value(i, r))? {
            Field::Null => data.extend_from_slice(b"null"),
            // Unknown types have no JSON placeholder; their text one is an empty string.
            Field::Placeholder if c.target == Target::Other => data.extend_from_slice(b"\"\""),
            Field::Placeholder => emit_json(c.target, c.target.placeholder(), data),
            Field::Value(col) => {
                scratch.clear();
                value::render(c.target, col.kind, col.value, scratch)
                    .map_err(|r| RowError::Value(i, r))?;
                if json_unsafe(c.target, scratch) {
                    return Err(RowError::NotJson(i));
                }
                emit_json(c.target, scratch, data);
                if c.is_key {
                    push_key(c.target, scratch, keys);
                }
            }
        }
        data.push(b',');
    }
    data.extend_from_slice(b"\"__op\":");
    data.push(op_digit(op));
    data.push(b'}');
    Ok(())
}

/// Rewrites one CSV row of this encoder's making as a JSON object. On error (a value JSON would
/// change, see [`json_unsafe`]) returns the column index; `out` is then partly written.
fn transcode_csv_row(plan: &Plan, row: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    let body = row.strip_suffix(&[ROW_DELIMITER]).unwrap_or(row);
    let mut fields = body.split(|&b| b == COLUMN_SEPARATOR);
    out.push(b'{');
    for (i, c) in plan.cols.iter().enumerate() {
        let f = fields.next().unwrap_or(CSV_NULL);
        out.extend_from_slice(&c.json_key);
        if f == CSV_NULL {
            out.extend_from_slice(b"null");
        } else if json_unsafe(c.target, f) {
            return Err(i);
        } else {
            emit_json(c.target, f, out);
        }
        out.push(b',');
    }
    out.extend_from_slice(b"\"__op\":");
    out.extend_from_slice(fields.next().unwrap_or(b"0"));
    out.push(b'}');
    Ok(())
}

/// Gives a vector of slots back its allocation under a new lifetime.
fn recycle<'x, 'y>(mut v: Vec<Option<Column<'x>>>) -> Vec<Option<Column<'y>>> {
    v.clear();
    // In-place collection reuses the buffer: same element layout, and nothing to iterate.
    v.into_iter().map(|_| None).collect()
}

/// Encodes rows for one target table into a reusable [`EncodedBlock`].
#[derive(Debug)]
pub struct BodyEncoder {
    plan: Arc<Plan>,
    names: ColumnNames,
    block: EncodedBlock,
    slots: Vec<Option<Column<'static>>>,
    /// Values of unknown columns dropped in rows pushed since the last take.
    unknown_values: u64,
    scratch: Vec<u8>,
}

impl BodyEncoder {
    /// An encoder with the default options: unknown columns refused, no DDL of this run. Fails
    /// for tables that are not Primary Key tables or have no key.
    pub fn new(table: &TargetTable) -> Result<BodyEncoder, EncodeError> {
        BodyEncoder::with_options(table, EncodeOptions::default())
    }

    /// Fails for tables that are not Primary Key tables or have no key.
    pub fn with_options(
        table: &TargetTable,
        options: EncodeOptions,
    ) -> Result<BodyEncoder, EncodeError> {
        let mut plan = Plan::new(table)?;
        plan.fill_added(&options.added);
        Ok(BodyEncoder {
            plan: Arc::new(plan),
            names: ColumnNames::new(options.unknown, options.dropped),
            block: EncodedBlock::default(),
            slots: Vec::new(),
            unknown_values: 0,
            scratch: Vec::new(),
        })
    }

    pub fn table(&self) -> &TargetTable {
        &self.plan.table
    }

    /// The block being filled.
    pub fn block(&self) -> &EncodedBlock {
        &self.block
    }

    /// Hands the filled block over and starts an empty one (reusing `spare`'s allocations when
    /// given a block that came back from a flusher).
    pub fn take_block(&mut self, spare: Option<EncodedBlock>) -> EncodedBlock {
        let mut next = spare.unwrap_or_default();
        next.clear();
        std::mem::replace(&mut self.block, next)
    }

    /// Names of the unknown message columns whose values [`UnknownColumns::Drop`] dropped, each
    /// reported once per encoder (for a warning); drained. Empty under `Refuse`.
    pub fn take_unknown_columns(&mut self) -> Vec<String> {
        std::mem::take(&mut self.names.to_report)
    }

    /// How many values of unknown columns [`UnknownColumns::Drop`] dropped from rows pushed
    /// since the last call (for a metric); drained. Rows later undone by
    /// [`BodyEncoder::truncate_rows`] still count; columns in [`EncodeOptions::dropped`] never do.
    pub fn take_unknown_values(&mut self) -> u64 {
        std::mem::take(&mut self.unknown_values)
    }

    /// Headers for a body of `format` into this table.
    pub fn headers(&self, format: BodyFormat) -> Vec<(&'static str, String)> {
        self.plan.headers(format)
    }

    /// A builder for a load body into this table.
    pub fn body_builder(&self, format: BodyFormat) -> Result<BodyBuilder, EncodeError> {
        BodyBuilder::with_plan(Arc::clone(&self.plan), format)
    }

    /// Encodes one row change. On error the block is unchanged. The columns may be read twice
    /// (a row not in the table's order is read again to be placed by name), hence `Clone`.
    pub fn push_row<'a, I>(&mut self, op: ChangeOp, columns: I) -> Result<RowSpan, EncodeError>
    where
        I: IntoIterator<Item = Column<'a>>,
        I::IntoIter: Clone,
    {
        let columns = columns.into_iter();
        if let Some(span) = self.push_in_order(op, columns.clone()) {
            return Ok(span);
        }
        let mut slots: Vec<Option<Column<'a>>> = recycle(std::mem::take(&mut self.slots));
        let result = self.push_slots(op, columns, &mut slots);
        self.slots = recycle(slots);
        result
    }

    /// The common row, encoded as it is read: every target column, in the table's order, each
    /// value CSV can frame. Returns `None`, the block unchanged, for any other row (and for a
    /// row that fails), which [`push_row`](Self::push_row) then places column by column, so
    /// errors and their order are the placing path's.
    fn push_in_order<'a>(
        &mut self,
        op: ChangeOp,
        columns: impl Iterator<Item = Column<'a>>,
    ) -> Option<RowSpan> {
        let plan = &*self.plan;
        let block = &mut self.block;
        let (row_start, key_start) = (block.data.len(), block.keys.len());
        let mut hard = None;
        let mut count = 0;
        let mut in_order = true;
        for (i, col) in columns.enumerate() {
            in_order = plan.cols.get(i).is_some_and(|c| {
                self.names.resolve(&plan.table, i, col.name) == Resolution::Column(i)
                    && encode_csv_field(
                        i,
                        c,
                        op,
                        Some(col),
                        &mut block.data,
                        &mut block.keys,
                        &mut hard,
                    )
                    .is_ok()
            });
            if !in_order {
                break;
            }
            count += 1;
        }
        if !in_order || count != plan.cols.len() || hard.is_some() {
            block.data.truncate(row_start);
            block.keys.truncate(key_start);
            return None;
        }
        end_csv_row(op, &mut block.data);
        Some(finish_row(block, op, BodyFormat::Csv, row_start, key_start))
    }

    fn push_slots<'a, I>(
        &mut self,
        op: ChangeOp,
        columns: I,
        slots: &mut Vec<Option<Column<'a>>>,
    ) -> Result<RowSpan, EncodeError>
    where
        I: IntoIterator<Item = Column<'a>>,
    {
        let unknown = self.place(columns, slots)?;
        check_complete(&self.plan, op, slots)?;
        let span = self.write_row(op, slots)?;
        self.unknown_values += unknown;
        Ok(span)
    }

    /// Puts each message column into the slot of its target column; two columns for one target
    /// are an error, unknown columns too unless the policy drops them. Returns how many values
    /// of unknown columns it dropped.
    fn place<'a, I>(
        &mut self,
        columns: I,
        slots: &mut Vec<Option<Column<'a>>>,
    ) -> Result<u64, EncodeError>
    where
        I: IntoIterator<Item = Column<'a>>,
    {
        let plan = &*self.plan;
        slots.resize(plan.cols.len(), None);
        let mut row_len = 0;
        let mut unknown = 0u64;
        for (pos, col) in columns.into_iter().enumerate() {
            row_len = pos + 1;
            let idx = match self.names.resolve(&plan.table, pos, col.name) {
                Resolution::Column(idx) => idx,
                Resolution::DroppedByDdl => continue,
                Resolution::Unknown => {
                    unknown += 1;
                    continue;
                }
            };
            if let Some(prev) = &slots[idx] {
                return Err(EncodeError::DuplicateColumn {
                    table: plan.display.clone(),
                    first: prev.name.to_string(),
                    second: col.name.to_string(),
                    target: plan.cols[idx].name.clone(),
                });
            }
            slots[idx] = Some(col);
        }
        if unknown > 0 && self.names.on_unknown == UnknownColumns::Refuse {
            return Err(EncodeError::UnknownColumns {
                table: plan.display.clone(),
                columns: self.names.unknown_among(row_len),
            });
        }
        Ok(unknown)
    }

    /// Encodes the placed row as CSV, or as JSON when a value unquoted CSV cannot frame. On
    /// error the block is unchanged.
    fn write_row(
        &mut self,
        op: ChangeOp,
        slots: &[Option<Column<'_>>],
    ) -> Result<RowSpan, EncodeError> {
        let plan = &*self.plan;
        let block = &mut self.block;
        let (row_start, key_start) = (block.data.len(), block.keys.len());
        let Err(e) = encode_csv(plan, op, slots, &mut block.data, &mut block.keys) else {
            return Ok(finish_row(block, op, BodyFormat::Csv, row_start, key_start));
        };
        block.data.truncate(row_start);
        block.keys.truncate(key_start);
        match e {
            RowError::Hard(i) => self.write_json_row(op, slots, i),
            e => Err(plan.row_error(e)),
        }
    }

    /// The row holds a value unquoted CSV cannot frame (column `hard`): it is written as a JSON
    /// object, which loads in a JSON body of its own (see `engine::body::parts`), so the block's
    /// other rows stay CSV. On error the block is unchanged.
    fn write_json_row(
        &mut self,
        op: ChangeOp,
        slots: &[Option<Column<'_>>],
        hard: usize,
    ) -> Result<RowSpan, EncodeError> {
        let plan = &*self.plan;
        if plan.has_varbinary {
            return Err(plan.unrepresentable(
                hard,
                "the value is exactly `\\N` or contains byte 0x01/0x02, which needs a JSON body, \
                 and JSON loads cannot carry this table's VARBINARY columns",
            ));
        }
        let block = &mut self.block;
        let (row_start, key_start) = (block.data.len(), block.keys.len());
        let attempt = encode_json(
            plan,
            op,
            slots,
            &mut block.data,
            &mut block.keys,
            &mut self.scratch,
        );
        match attempt {
            Ok(()) => Ok(finish_row(
                block,
                op,
                BodyFormat::Json,
                row_start,
                key_start,
            )),
            Err(e) => {
                block.data.truncate(row_start);
                block.keys.truncate(key_start);
                Err(match e {
                    RowError::NotJson(j) => plan.unrepresentable(
                        j,
                        "the row needs a JSON body (another value is exactly `\\N` or contains \
                         byte 0x01/0x02) and a JSON body would change this value",
                    ),
                    e => plan.row_error(e),
                })
            }
        }
    }
}

/// An upsert must carry every target column without a fill (a full-row upsert would overwrite
/// the absent ones with defaults); a delete needs the key columns.
fn check_complete(
    plan: &Plan,
    op: ChangeOp,
    slots: &[Option<Column<'_>>],
) -> Result<(), EncodeError> {
    match op {
        // The common full row costs one scan; fills are looked at only when a column is absent.
        ChangeOp::Upsert if slots.iter().any(Option::is_none) => check_fills(plan, slots),
        ChangeOp::Delete => match plan.table.key.iter().find(|&&k| slots[k].is_none()) {
            Some(&k) => Err(EncodeError::MissingKey {
                table: plan.display.clone(),
                column: plan.cols[k].name.clone(),
            }),
            None => Ok(()),
        },
        ChangeOp::Upsert => Ok(()),
    }
}

/// An upsert lacking columns: fine when each of them has a fill.
fn check_fills(plan: &Plan, slots: &[Option<Column<'_>>]) -> Result<(), EncodeError> {
    let lacks = |c: &ColPlan, s: &Option<Column<'_>>| {
        s.is_none() && matches!(c.when_missing, WhenMissing::Required)
    };
    if !plan.cols.iter().zip(slots).any(|(c, s)| lacks(c, s)) {
        return Ok(());
    }
    let names = |keep: &dyn Fn(&ColPlan, &Option<Column<'_>>) -> bool| -> Vec<String> {
        plan.cols
            .iter()
            .zip(slots)
            .filter(|(c, s)| keep(c, s))
            .map(|(c, _)| c.name.clone())
            .collect()
    };
    Err(EncodeError::PartialRow {
        table: plan.display.clone(),
        missing: names(&lacks),
        present: names(&|_, s| s.is_some()),
    })
}

fn finish_row(
    block: &mut EncodedBlock,
    op: ChangeOp,
    format: BodyFormat,
    row_start: usize,
    key_start: usize,
) -> RowSpan {
    let key = key_start..block.keys.len();
    let span = RowSpan {
        key_hash: key_hash(&block.keys[key.clone()]),
        key,
        row: row_start..block.data.len(),
        op,
        format,
    };
    block.rows.push(span.clone());
    span
}

/// What a message column is to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// The target column of this index.
    Column(usize),
    /// A column a DDL of this run dropped ([`EncodeOptions::dropped`]).
    DroppedByDdl,
    /// A column the target lacks.
    Unknown,
}

/// Message column names → target columns, and the unknown names to report.
#[derive(Debug)]
struct ColumnNames {
    on_unknown: UnknownColumns,
    dropped_by_ddl: Vec<String>,
    /// Message column position → (name, resolution), from the last message that had a column at
    /// that position; messages of one table normally repeat the same order, so a row costs one
    /// string comparison per column and no hashing.
    by_position: Vec<(String, Resolution)>,
    /// Unknown names ever reported (under `Drop`).
    reported: HashSet<String>,
    /// Unknown names not yet taken.
    to_report: Vec<String>,
}

impl ColumnNames {
    fn new(on_unknown: UnknownColumns, dropped_by_ddl: Vec<String>) -> ColumnNames {
        ColumnNames {
            on_unknown,
            dropped_by_ddl,
            by_position: Vec::new(),
            reported: HashSet::new(),
            to_report: Vec::new(),
        }
    }

    // Inlined into each row's column loop (`inline` alone left it a call per column); the first
    // sighting of a name goes out of line.
    #[inline(always)]
    fn resolve(&mut self, table: &TargetTable, pos: usize, name: &str) -> Resolution {
        if let Some((cached, resolution)) = self.by_position.get(pos)
            && same_str(cached, name)
        {
            return *resolution;
        }
        self.resolve_anew(table, pos, name)
    }

    /// A name not seen at `pos` last time: looked up, and remembered for `pos`.
    #[cold]
    #[inline(never)]
    fn resolve_anew(&mut self, table: &TargetTable, pos: usize, name: &str) -> Resolution {
        let resolution = self.look_up(table, name);
        if let Some(entry) = self.by_position.get_mut(pos) {
            entry.0.clear();
            entry.0.push_str(name);
            entry.1 = resolution;
        } else {
            self.by_position.push((name.to_string(), resolution));
        }
        resolution
    }

    /// The uncached path: a first sighting of `name` at its position.
    fn look_up(&mut self, table: &TargetTable, name: &str) -> Resolution {
        if let Some(idx) = table.column_index(name) {
            return Resolution::Column(idx);
        }
        // Membership only: the case-insensitive comparison covers the exact one.
        if self.dropped_by_ddl.iter().any(|d| names_equal_ci(d, name)) {
            return Resolution::DroppedByDdl;
        }
        if self.on_unknown == UnknownColumns::Drop && !self.reported.contains(name) {
            self.reported.insert(name.to_string());
            self.to_report.push(name.to_string());
        }
        Resolution::Unknown
    }

    /// Names of the unknown columns among the first `row_len` positions: the last row's, as
    /// [`ColumnNames::resolve`] just cached them.
    fn unknown_among(&self, row_len: usize) -> Vec<String> {
        self.by_position[..row_len]
            .iter()
            .filter(|(_, r)| *r == Resolution::Unknown)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// Builds one Stream Load body from encoded rows (typically the rows a flusher kept after
/// collapsing by key), transcoding CSV rows when the body is JSON.
#[derive(Debug, Clone)]
pub struct BodyBuilder {
    plan: Arc<Plan>,
    format: BodyFormat,
    out: Vec<u8>,
    rows: usize,
}

impl BodyBuilder {
    pub fn new(table: &TargetTable, format: BodyFormat) -> Result<BodyBuilder, EncodeError> {
        BodyBuilder::with_plan(Arc::new(Plan::new(table)?), format)
    }

    fn with_plan(plan: Arc<Plan>, format: BodyFormat) -> Result<BodyBuilder, EncodeError> {
        if format == BodyFormat::Json
            && let Some(c) = plan
                .cols
                .iter()
                .find(|c| matches!(c.target, Target::VarBinary { .. }))
        {
            return Err(EncodeError::Unrepresentable {
                table: plan.display.clone(),
                column: c.name.clone(),
                reason: "JSON loads cannot carry VARBINARY".into(),
            });
        }
        Ok(BodyBuilder {
            plan,
            format,
            out: Vec::new(),
            rows: 0,
        })
    }

    /// Reuses `buf`'s allocation for the body.
    pub fn with_buffer(mut self, mut buf: Vec<u8>) -> BodyBuilder {
        buf.clear();
        buf.extend_from_slice(&self.out);
        self.out = buf;
        self
    }

    pub fn format(&self) -> BodyFormat {
        self.format
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row as encoded in a block of `row_format`.
    pub fn push(&mut self, row_format: BodyFormat, row: &[u8]) -> Result<(), EncodeError> {
        match (self.format, row_format) {
            (BodyFormat::Csv, BodyFormat::Csv) => self.out.extend_from_slice(row),
            (BodyFormat::Csv, BodyFormat::Json) => return Err(EncodeError::FormatMismatch),
            (BodyFormat::Json, f) => {
                self.out.push(if self.rows == 0 { b'[' } else { b',' });
                if f == BodyFormat::Csv {
                    let start = self.out.len() - 1;
                    if let Err(i) = transcode_csv_row(&self.plan, row, &mut self.out) {
                        self.out.truncate(start);
                        return Err(self
                            .plan
                            .unrepresentable(i, "a JSON body would change this value"));
                    }
                } else {
                    self.out.extend_from_slice(row);
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends the row `span` of `block`.
    pub fn push_span(&mut self, block: &EncodedBlock, span: &RowSpan) -> Result<(), EncodeError> {
        self.push(span.format, block.row_bytes(span))
    }

    /// Appends the rows of `block` that are in this body's format, as a flusher loads a batch:
    /// its CSV rows in a CSV body, its JSON rows in a JSON body (`engine::body::parts`, which
    /// also keeps only the last row per key).
    pub fn push_part(&mut self, block: &EncodedBlock) -> Result<(), EncodeError> {
        if self.push_csv_block_whole(block) {
            return Ok(());
        }
        let format = self.format;
        for span in block.rows.iter().filter(|r| r.format == format) {
            self.push_span(block, span)?;
        }
        Ok(())
    }

    /// Appends every row of `block`.
    pub fn push_block(&mut self, block: &EncodedBlock) -> Result<(), EncodeError> {
        if self.push_csv_block_whole(block) {
            return Ok(());
        }
        for span in &block.rows {
            self.push_span(block, span)?;
        }
        Ok(())
    }

    /// The fast path of [`Self::push_part`] and [`Self::push_block`]: a block of CSV rows only
    /// goes into a CSV body as its bytes are. Returns whether it did.
    fn push_csv_block_whole(&mut self, block: &EncodedBlock) -> bool {
        if self.format != BodyFormat::Csv || block.json_rows() != 0 {
            return false;
        }
        self.out.extend_from_slice(&block.data);
        self.rows += block.rows.len();
        true
    }

    pub fn headers(&self) -> Vec<(&'static str, String)> {
        self.plan.headers(self.format)
    }

    /// The body.
    pub fn finish(mut self) -> Vec<u8> {
        self.close();
        self.out
    }

    /// Writes the end of the body (a JSON body's `]`); nothing may be pushed after it.
    pub fn close(&mut self) {
        if self.format == BodyFormat::Json {
            if self.rows == 0 {
                self.out.push(b'[');
            }
            self.out.push(b']');
        }
    }

    /// What was written since the last [`BodyBuilder::clear_output`]: a body written in pieces
    /// (sent while it is written) takes each piece from here.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Forgets what was written, keeping the count of rows (which decides a JSON row's `[` or
    /// `,`): the next piece of a body written in pieces.
    pub fn clear_output(&mut self) {
        self.out.clear();
    }
}

/// Debug rendering of a CSV row with visible separators, for logs and error excerpts.
pub fn printable_csv_row(row: &[u8]) -> String {
    let mut s = String::with_capacity(row.len());
    for chunk in row.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\u{1}' => s.push('|'),
                '\u{2}' => s.push('⏎'),
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests;
