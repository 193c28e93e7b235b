//! The change types the decoders hand to the rest of the engine.
//!
//! A decoded message is a *view*: values are borrowed from the record value (which the decoder
//! parsed in place) or from the decoder's arena, so decoding allocates nothing per row in the
//! steady state. A view lives until the next call to the decoder.

use std::fmt;

/// What a row change does to the target Primary Key table (the Stream Load `__op` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// Insert or full-row replace (`__op = 0`).
    Upsert,
    /// Delete by key (`__op = 1`). The row carries the full before image.
    Delete,
}

impl ChangeOp {
    /// The value of the Stream Load `__op` column.
    pub fn op_code(self) -> u8 {
        match self {
            ChangeOp::Upsert => 0,
            ChangeOp::Delete => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }
}

/// The operation a DML message carried at the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

/// What the source said a column is, after normalisation (formats.md §5.2). The decoder has
/// already turned the value into its canonical text; the kind tells the encoder how to write it
/// for a StarRocks column and which values are numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// Exact integer text (`-?[0-9]+`), any width (unsigned BIGINT, BIT(64), YEAR, SET bitmask
    /// when labels are unknown …).
    Integer,
    /// Exact decimal text (`-?[0-9]+(\.[0-9]+)?`), never through f64.
    Decimal,
    /// FLOAT / DOUBLE text as the producer wrote it (`1.0E308`, `-0.0`).
    Float,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD HH:MM:SS[.f…]` wall-clock (DATETIME, or TIMESTAMP after zone handling).
    DateTime,
    /// `[-]HHH:MM:SS[.f…]` (no StarRocks type; kept as text).
    Time,
    /// Text (CHAR, VARCHAR, TEXT, ENUM/SET labels, unknown types).
    Text,
    /// Raw bytes (BINARY, VARBINARY, BLOB, GEOMETRY): [`Value::Bytes`].
    Binary,
    /// A JSON document as text (the JSON literal `null` is the text `null`, not SQL NULL).
    Json,
    /// `true` / `false` (only from typed JSON booleans on non-numeric columns).
    Boolean,
}

impl ValueKind {
    /// Whether the canonical text of this kind is a bare number.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ValueKind::Integer | ValueKind::Decimal | ValueKind::Float
        )
    }
}

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// Canonical text of the value (see [`ValueKind`]).
    Text(&'a str),
    /// Binary bytes (already decoded from the producer's encoding).
    Bytes(&'a [u8]),
}

impl<'a> Value<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The raw bytes of the value, `None` for NULL.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Null => None,
            Value::Text(s) => Some(s.as_bytes()),
            Value::Bytes(b) => Some(b),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// Human form used by `starpipe decode`: text as is, bytes as `0x` + lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                for byte in *b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// One column of a row: name, kind and value. Columns absent from the message are absent here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    pub name: &'a str,
    pub kind: ValueKind,
    pub value: Value<'a>,
}

/// The source table a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceTable<'a> {
    pub db: &'a str,
    /// CloudCanal `schema` when it differs from `db` (PostgreSQL, Oracle, SQL Server sources).
    pub schema: Option<&'a str>,
    pub table: &'a str,
}

/// Where a message's table identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableOrigin {
    /// The message named it (`database`/`table`, `db`/`schema`/`table`).
    Message,
    /// The message named none; a `[[tables]]` entry's `topic` (or `decode --table`) gave it,
    /// and it names the target itself.
    Topic,
}

impl fmt::Display for SourceTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.schema {
            Some(s) => write!(f, "{}.{}.{}", self.db, s, self.table),
            None => write!(f, "{}.{}", self.db, self.table),
        }
    }
}

/// Non-fatal observations about a message, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Warnings(u16);

impl Warnings {
    /// UPDATE without a before image: a key change cannot be detected (formats.md §3.3).
    pub const PK_CHANGE_UNDETECTABLE: Warnings = Warnings(1);
    /// DELETE rows taken from `old` / `before` instead of `data`.
    pub const ROWS_FROM_BEFORE: Warnings = Warnings(1 << 1);
    /// The source table has no primary key (`pkNames: null` on DML).
    pub const SOURCE_WITHOUT_PK: Warnings = Warnings(1 << 2);
    /// `type` / `action` was not upper case.
    pub const LOWER_CASE_TYPE: Warnings = Warnings(1 << 3);
    /// `pks` was `[]` although rows were present.
    pub const PKS_EMPTY: Warnings = Warnings(1 << 4);
    /// The message's key hint disagrees with the key used.
    pub const PK_HINT_MISMATCH: Warnings = Warnings(1 << 5);
    /// The message names no table; it got the fallback table (`DecodeOptions::fallback_table`:
    /// the topic's `[[tables]]` entry, or `starpipe decode --table`). That name is already the
    /// target table: it must not be routed again by the `source` entries.
    pub const TABLE_FROM_FALLBACK: Warnings = Warnings(1 << 6);

    pub const fn empty() -> Self {
        Warnings(0)
    }
    pub fn contains(self, other: Warnings) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn insert(&mut self, other: Warnings) {
        self.0 |= other.0;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Short names of the warnings that are set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.each().map(|(_, n)| n)
    }

    /// Each warning that is set, with its short name.
    pub fn each(self) -> impl Iterator<Item = (Warnings, &'static str)> {
        const ALL: [(Warnings, &str); 7] = [
            (Warnings::PK_CHANGE_UNDETECTABLE, "pk change undetectable"),
            (Warnings::ROWS_FROM_BEFORE, "rows taken from before image"),
            (Warnings::SOURCE_WITHOUT_PK, "source has no PK"),
            (Warnings::LOWER_CASE_TYPE, "operation type not upper case"),
            (Warnings::PKS_EMPTY, "pks empty"),
            (
                Warnings::PK_HINT_MISMATCH,
                "message key hint differs from key used",
            ),
            (
                Warnings::TABLE_FROM_FALLBACK,
                "message names no table; the topic's table is used",
            ),
        ];
        ALL.into_iter().filter(move |(w, _)| self.contains(*w))
    }
}

/// Why a message produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Null or empty record value.
    Tombstone,
    /// canal rows-query annotation (`QUERY` with `isDdl: false`).
    RowsQuery,
    /// `GTID`, `XACOMMIT`, `XAROLLBACK`, `MHEARTBEAT`.
    ControlType,
    /// A DML message with `data: []`.
    NoRows,
}

/// A column of a table schema carried by a DDL message (`tableChanges` or `mysqlType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaColumn {
    pub name: String,
    /// Source type expression, e.g. `decimal(12,2)`.
    pub type_expr: String,
}

/// A table schema after a DDL, as the message describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: Vec<SchemaColumn>,
    pub primary_key: Vec<String>,
}

/// A DDL message (never applied as rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlEvent<'a> {
    /// The DDL kind hint, upper case (`CREATE`, `ALTER`, `ERASE`, `DROP`, `RENAME`, `TRUNCATE`,
    /// `CINDEX`, `DINDEX`, `QUERY` …). The SQL is the truth.
    pub kind: String,
    pub table: SourceTable<'a>,
    pub sql: &'a str,
    /// The table schema after the DDL when the message carries it.
    pub new_schema: Option<TableSchema>,
}
