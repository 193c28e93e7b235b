//! Decoders for the two CDC message formats a BladePipe-style producer writes to Kafka:
//! CloudCanal JSON ([`cloudcanal`]) and Canal JSON / "AlibabaCanal" ([`canal`]), as specified in
//! `shared/spec/formats.md`.
//!
//! A [`Decoder`] turns one record value (`&mut Vec<u8>`, parsed in place by simd-json) into a
//! [`Decoded`] view: row changes ready for a Primary Key table (upsert / delete by key), a DDL
//! event, or a control marker. Values are borrowed from the record or from the decoder's arena,
//! so the steady state allocates nothing per row. A message decodes whole or fails whole
//! ([`DecodeError`] carries the class names of formats.md §4.1).
//!
//! Shared decisions (format-specific ones are in each format's module, value rules in
//! [`value`]):
//! - Classification follows formats.md §2.3 / Appendix B in order.
//! - The key that detects a key-changing UPDATE is the caller's (the target table's PK, or
//!   `--pk`) through [`KeyResolver`]; the message's `pkNames` / `pks` are only a fallback
//!   (§4.2). A key change yields DELETE(before image) then UPSERT(after image) (§4.3).
//! - `old` / `before` is overlaid on the after image by index (§2.4): absent = unchanged,
//!   present (even `null`) = the old value. An empty or missing before image means the key
//!   change cannot be detected: UPSERT with a warning.
//! - A key column absent from a row is `MissingKey`; an INSERT/UPDATE row missing a column that
//!   the message's own type map lists is `PartialRow` (§2.4, §4.4: never fill with NULL).

pub mod canal;
pub mod cloudcanal;
mod envelope;
mod json;
mod rows;
pub mod value;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::model::{
    ChangeOp, Column, DdlEvent, DmlKind, IgnoreReason, SourceTable, TableOrigin, TableSchema,
    Value, ValueKind, Warnings,
};
pub use value::{TypeParts, ZeroDatePolicy, ZoneSettings, parse_time_zone};

/// Which of the two formats a topic carries: the job's `schemaFormat` (`AlibabaCanal`,
/// `CloudCanal`), `starpipe decode --format` (`canal`, `cloudcanal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
pub enum Format {
    /// Alibaba Canal JSON flat messages (`type`, `data[]`, `old[]`, `pkNames`; canal,
    /// BladePipe, TiCDC variants).
    #[value(name = "canal")]
    #[serde(rename = "AlibabaCanal")]
    Canal,
    /// CloudCanal JSON (`action`, `data`, `before`, `pks`; `CLOUDCANAL_JSON_FOR_MQ`).
    #[value(name = "cloudcanal")]
    #[serde(rename = "CloudCanal")]
    CloudCanal,
}

/// Settings that change how values are decoded.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub format: Format,
    pub zero_date: ZeroDatePolicy,
    pub zones: ZoneSettings,
    /// `db.table` for producers that omit the identity fields (Flink canal-json sink output,
    /// formats.md §2.6); without it such messages are `Envelope` errors. Messages that carry a
    /// non-empty database and table keep theirs. A batch that got this table is marked with
    /// [`Warnings::TABLE_FROM_FALLBACK`]. Set from a `[[tables]]` entry with `topic`
    /// (`Config::topic_table`) or `starpipe decode --table`.
    pub fallback_table: Option<(String, String)>,
}

impl DecodeOptions {
    pub fn new(format: Format) -> Self {
        DecodeOptions {
            format,
            zero_date: ZeroDatePolicy::default(),
            zones: ZoneSettings::default(),
            fallback_table: None,
        }
    }
}

/// Supplies the key columns of a source table (authoritative: the target's PRIMARY KEY).
pub trait KeyResolver {
    /// The key columns, or `None` to fall back to the message's own key hint. Shared, so a
    /// resolver can hand out names it caches without copying them per message.
    fn key_columns(&self, table: &SourceTable<'_>, origin: TableOrigin) -> Option<Arc<[String]>>;
}

/// No external keys: the message's `pkNames` / `pks` are used.
pub struct MessageKeys;

impl KeyResolver for MessageKeys {
    fn key_columns(&self, _: &SourceTable<'_>, _: TableOrigin) -> Option<Arc<[String]>> {
        None
    }
}

/// Keys by `db.table` (or `db.schema.table`), e.g. from `--pk`.
impl KeyResolver for HashMap<String, Arc<[String]>> {
    fn key_columns(&self, table: &SourceTable<'_>, _: TableOrigin) -> Option<Arc<[String]>> {
        if self.is_empty() {
            return None;
        }
        let mut name = String::with_capacity(table.db.len() + table.table.len() + 1);
        name.push_str(table.db);
        name.push('.');
        name.push_str(table.table);
        self.get(&name)
            .or_else(|| self.get(&table.to_string()))
            .cloned()
    }
}

/// The error classes of formats.md §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    Malformed,
    DuplicateKey,
    Envelope,
    UnknownType,
    StatementDml,
    MissingKey,
    PartialRow,
    Value,
    Unsupported,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Malformed => "Malformed",
            ErrorClass::DuplicateKey => "DuplicateKey",
            ErrorClass::Envelope => "Envelope",
            ErrorClass::UnknownType => "UnknownType",
            ErrorClass::StatementDml => "StatementDml",
            ErrorClass::MissingKey => "MissingKey",
            ErrorClass::PartialRow => "PartialRow",
            ErrorClass::Value => "Value",
            ErrorClass::Unsupported => "Unsupported",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message could not be decoded. The message is not applied at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct DecodeError {
    pub class: ErrorClass,
    /// What is wrong, with the table, row index and column where known.
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        DecodeError {
            class,
            message: message.into(),
        }
    }
}

/// The result of decoding one record value; borrows the record and the decoder.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// Row changes of one table.
    Rows(RowBatch<'a>),
    /// A DDL statement (never applied as rows).
    Ddl(DdlEvent<'a>),
    /// CloudCanal `TRANSACTIONEND`: a source transaction ended (optional flush boundary).
    TxnEnd { db: Option<&'a str> },
    /// TiCDC `TIDB_WATERMARK`: every event with a smaller commit ts has been sent.
    Watermark { ts: u64 },
    /// Nothing to do.
    Ignore(IgnoreReason),
}

/// Where a value's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValRec {
    Null,
    Input { start: u32, len: u32, bytes: bool },
    Arena { start: u32, len: u32, bytes: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellRec {
    pub name_start: u32,
    pub name_len: u32,
    pub kind: ValueKind,
    pub val: ValRec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChangeRec {
    pub op: ChangeOp,
    pub cells_start: u32,
    pub cells_end: u32,
}

/// The row changes of one DML message, in order.
#[derive(Clone, Copy)]
pub struct RowBatch<'a> {
    pub table: SourceTable<'a>,
    pub kind: DmlKind,
    pub warnings: Warnings,
    changes: &'a [ChangeRec],
    store: Store<'a>,
    meta: Meta<'a>,
}

/// The message's column types and key hint, as spans of the input (kept while the rows are
/// decoded), turned into a schema only on request ([`RowBatch::source_schema`]).
#[derive(Clone, Copy)]
pub(crate) struct Meta<'a> {
    /// The `mysqlType` / `dbValType` members' names (with their types); `None` when the message
    /// has no type map.
    pub types: Option<&'a [(envelope::Span, value::ColType)]>,
    /// The types' texts as the message wrote them, one for each of `types`.
    pub type_texts: &'a [Option<envelope::Span>],
    /// The `pkNames` / `pks` names, empty when the message names none.
    pub key_hint: &'a [envelope::Span],
}

#[derive(Clone, Copy)]
struct Store<'a> {
    input: &'a [u8],
    arena: &'a [u8],
    cells: &'a [CellRec],
}

impl<'a> Store<'a> {
    // Inlined (also across crates): a `Column` returned through memory stalled every cell.
    #[inline(always)]
    fn column(&self, c: &CellRec) -> Column<'a> {
        let name = json::str_at(self.input, c.name_start, c.name_len);
        let value = match c.val {
            ValRec::Null => Value::Null,
            ValRec::Input {
                start,
                len,
                bytes: false,
            } => Value::Text(json::str_at(self.input, start, len)),
            ValRec::Input { start, len, bytes } => {
                text_or_bytes(&self.input[start as usize..(start + len) as usize], bytes)
            }
            ValRec::Arena { start, len, bytes } => {
                text_or_bytes(&self.arena[start as usize..(start + len) as usize], bytes)
            }
        };
        Column {
            name,
            kind: c.kind,
            value,
        }
    }
}

// Inlined with `Store::column` (below), for the same reason.
#[inline]
fn text_or_bytes(b: &[u8], bytes: bool) -> Value<'_> {
    if bytes {
        Value::Bytes(b)
    } else {
        // Text values are input strings or arena text the converters wrote from valid UTF-8.
        Value::Text(std::str::from_utf8(b).unwrap_or(""))
    }
}

impl fmt::Debug for RowBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowBatch")
            .field("table", &self.table)
            .field("kind", &self.kind)
            .field("warnings", &self.warnings)
            .field("changes", &self.changes().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> RowBatch<'a> {
    /// Number of row changes (a key-changing UPDATE row counts twice).
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The source table as the message describes it: its column types (`mysqlType` /
    /// `dbValType`, as text, in message order) and its key (`pkNames` / `pks`, empty when the
    /// message names none); `None` when the message carries no column types. What
    /// `autoCreateTable` creates a target from ([`crate::ddl::create_table`]).
    pub fn source_schema(&self) -> Option<TableSchema> {
        let (m, input) = (self.meta, self.store.input);
        let columns = m.types?.iter().zip(m.type_texts);
        let columns =
            columns.map(|((name, _), text)| (name.get(input), text.map(|t| t.get(input))));
        let key_hint = m.key_hint.iter().map(|k| k.get(input));
        Some(envelope::type_map_schema(columns, key_hint))
    }

    // `#[inline]` here and on `Row::columns`: the bench and other crates iterate through these,
    // and `Store::column` only inlines into them when they inline too.
    #[inline]
    pub fn changes(&self) -> impl Iterator<Item = Change<'a>> + 'a {
        let store = self.store;
        self.changes.iter().map(move |c| Change {
            op: c.op,
            row: Row {
                cells: &store.cells[c.cells_start as usize..c.cells_end as usize],
                store,
            },
        })
    }
}

/// One row change: an upsert of a full row, or a delete carrying the before image.
#[derive(Clone, Copy)]
pub struct Change<'a> {
    pub op: ChangeOp,
    pub row: Row<'a>,
}

impl fmt::Debug for Change<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ", self.op)?;
        f.debug_map()
            .entries(self.row.columns().map(|c| (c.name, c.value)))
            .finish()
    }
}

/// The columns of a row, in message order. Absent columns are not listed.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    cells: &'a [CellRec],
    store: Store<'a>,
}

impl<'a> Row<'a> {
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    #[inline] // see `RowBatch::changes`
    pub fn columns(&self) -> impl Iterator<Item = Column<'a>> + Clone + 'a {
        let store = self.store;
        self.cells.iter().map(move |c| store.column(c))
    }

    /// The column named exactly `name`.
    pub fn get(&self, name: &str) -> Option<Column<'a>> {
        self.columns().find(|c| c.name == name)
    }
}

/// Receives what a message decoded to. [`Decoder::decode_into`] calls it only after the whole
/// message decoded, so a sink never sees half a message.
pub trait DecodeSink {
    fn rows(&mut self, batch: &RowBatch<'_>);
    fn ddl(&mut self, ddl: &DdlEvent<'_>);
    /// Transaction ends, watermarks and ignored messages.
    fn control(&mut self, _decoded: &Decoded<'_>) {}
}

/// Decodes record values of one format. Reuse one per thread: its buffers are kept between
/// messages.
pub struct Decoder {
    options: DecodeOptions,
    parser: json::ParserState,
    scratch: rows::Scratch,
}

impl Decoder {
    pub fn new(options: DecodeOptions) -> Self {
        Decoder {
            options,
            parser: json::ParserState::default(),
            scratch: rows::Scratch::default(),
        }
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// The table of messages that name none (one decoder may serve several topics, each with
    /// its own `[[tables]]` `topic` entry).
    pub fn set_fallback_table(&mut self, table: Option<(&str, &str)>) {
        let same = match (&self.options.fallback_table, table) {
            (Some((d, t)), Some((db, tb))) => d == db && t == tb,
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.options.fallback_table = table.map(|(d, t)| (d.to_string(), t.to_string()));
        }
    }

    /// Decodes one record value. `input` is modified (simd-json unescapes strings in place); it
    /// is a `Vec` so that the parse can pad it where it is instead of copying it.
    pub fn decode<'a>(
        &'a mut self,
        input: &'a mut Vec<u8>,
        keys: &dyn KeyResolver,
    ) -> Result<Decoded<'a>, DecodeError> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return if input.is_empty() {
                Ok(Decoded::Ignore(IgnoreReason::Tombstone))
            } else {
                Err(DecodeError::new(
                    ErrorClass::Malformed,
                    "blank record value",
                ))
            };
        }
        let Decoder {
            ref options,
            ref mut parser,
            ref mut scratch,
        } = *self;
        // The envelope and the rows are read while the parse lasts; what is returned after.
        let parsed = parser.parse(input, |p, input| {
            read_message(p, input, options, keys, scratch)
        });
        let input: &'a [u8] = input;
        let this: &'a Decoder = self;
        match parsed {
            Ok(message) => Ok(this.decoded(message?, input)),
            Err(e) => {
                let first = input.iter().find(|b| !b.is_ascii_whitespace()).copied();
                let hint = if first != Some(b'{') {
                    " (not a JSON object: a protobuf canal payload? set canal.mq.flatMessage=true)"
                } else {
                    ""
                };
                Err(DecodeError::new(
                    ErrorClass::Malformed,
                    format!("invalid JSON: {}{hint}", e.0),
                ))
            }
        }
    }

    /// What the message read as, its strings taken from the input (the parse is gone by now).
    fn decoded<'a>(&'a self, read: Read<'a>, input: &'a [u8]) -> Decoded<'a> {
        let span = |s: Option<envelope::Span>| s.map(|s| s.get(input));
        match read {
            Read::Rows(r, name) => {
                let (table, origin) = name.get(input);
                let mut batch = self.scratch.batch(&r, table, input);
                if origin == TableOrigin::Topic {
                    batch.warnings.insert(Warnings::TABLE_FROM_FALLBACK);
                }
                Decoded::Rows(batch)
            }
            Read::Ddl(d, new_schema) => Decoded::Ddl(DdlEvent {
                kind: span(d.kind).unwrap_or("").to_ascii_uppercase(),
                table: SourceTable {
                    db: span(d.db).unwrap_or(""),
                    schema: span(d.schema),
                    table: span(d.table).unwrap_or(""),
                },
                sql: span(d.sql).unwrap_or(""),
                new_schema,
            }),
            Read::TxnEnd { db } => Decoded::TxnEnd { db: span(db) },
            Read::Watermark { ts } => Decoded::Watermark { ts },
            Read::Ignore(reason) => Decoded::Ignore(reason),
        }
    }

    /// Decodes one record value and hands the result to `sink`.
    pub fn decode_into(
        &mut self,
        input: &mut Vec<u8>,
        keys: &dyn KeyResolver,
        sink: &mut dyn DecodeSink,
    ) -> Result<(), DecodeError> {
        match self.decode(input, keys)? {
            Decoded::Rows(batch) => sink.rows(&batch),
            Decoded::Ddl(ddl) => sink.ddl(&ddl),
            other => sink.control(&other),
        }
        Ok(())
    }
}

/// A message as read while its parse lasts: its rows decoded into the scratch, its strings as
/// spans of the input, a fallback table borrowed from the options. (The node indexes the
/// envelope kept mean nothing once the parse is gone.)
enum Read<'o> {
    /// With the table they belong to.
    Rows(envelope::RowsMsg, TableName<'o>),
    /// With the schema it carries.
    Ddl(envelope::DdlMsg, Option<TableSchema>),
    TxnEnd {
        db: Option<envelope::Span>,
    },
    Watermark {
        ts: u64,
    },
    Ignore(IgnoreReason),
}

/// Reads the parsed message: the envelope, and a DML message's rows into `scratch`.
fn read_message<'o>(
    p: &mut json::Parsed,
    input: &[u8],
    options: &'o DecodeOptions,
    keys: &dyn KeyResolver,
    scratch: &mut rows::Scratch,
) -> Result<Read<'o>, DecodeError> {
    let msg = match options.format {
        Format::Canal => canal::read_envelope(p, input)?,
        Format::CloudCanal => cloudcanal::read_envelope(p, input)?,
    };
    Ok(match msg {
        envelope::Message::Rows(r) => {
            let name = table_name(&r, options)?;
            let (table, origin) = name.get(input);
            let key = keys.key_columns(&table, origin);
            rows::build(&r, p, input, options, &table, key.as_deref(), scratch).map_err(
                |mut e| {
                    e.message = format!("{table}: {}", e.message);
                    e
                },
            )?;
            Read::Rows(r, name)
        }
        envelope::Message::Ddl(d) => {
            let schema = envelope::ddl_schema(p, &d);
            Read::Ddl(d, schema)
        }
        envelope::Message::TxnEnd { db } => Read::TxnEnd { db },
        envelope::Message::Watermark { ts } => Read::Watermark { ts },
        envelope::Message::Ignore(reason) => Read::Ignore(reason),
    })
}

/// The table a DML message's rows belong to, in a form that outlives the parse: the message's
/// own names as spans of the input, or the topic's fallback table.
#[derive(Clone, Copy)]
enum TableName<'o> {
    Message {
        db: envelope::Span,
        schema: Option<envelope::Span>,
        table: envelope::Span,
    },
    Topic(&'o (String, String)),
}

impl<'o> TableName<'o> {
    fn get(self, input: &'o [u8]) -> (SourceTable<'o>, TableOrigin) {
        match self {
            TableName::Message { db, schema, table } => (
                SourceTable {
                    db: db.get(input),
                    schema: schema.map(|s| s.get(input)),
                    table: table.get(input),
                },
                TableOrigin::Message,
            ),
            TableName::Topic((db, table)) => (
                SourceTable {
                    db,
                    schema: None,
                    table,
                },
                TableOrigin::Topic,
            ),
        }
    }
}

/// A message that names its table keeps it; the fallback is only for those that do not (both
/// `database`/`db` and `table` needed).
fn table_name<'o>(
    r: &envelope::RowsMsg,
    options: &'o DecodeOptions,
) -> Result<TableName<'o>, DecodeError> {
    let named = |s: Option<envelope::Span>| s.filter(|s| s.len > 0);
    match (named(r.db), named(r.table), &options.fallback_table) {
        (Some(db), Some(table), _) => Ok(TableName::Message {
            db,
            schema: r.schema,
            table,
        }),
        (_, _, Some(fallback)) => Ok(TableName::Topic(fallback)),
        _ => Err(DecodeError::new(
            ErrorClass::Envelope,
            "no table identity (database/table missing or empty) and no fallback table configured",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as `(column, text)` pairs.
    type Cols = Vec<(String, Option<String>)>;

    /// A message's changes as `(op, row)`.
    fn changes(batch: &RowBatch<'_>) -> Vec<(ChangeOp, Cols)> {
        let text = |v: Value<'_>| match v {
            Value::Null => None,
            Value::Text(s) => Some(s.to_string()),
            Value::Bytes(b) => Some(format!("{b:?}")),
        };
        batch
            .changes()
            .map(|c| {
                let cols = c
                    .row
                    .columns()
                    .map(|col| (col.name.to_string(), text(col.value)));
                (c.op, cols.collect())
            })
            .collect()
    }

    fn owned(cols: &[(&str, Option<&str>)]) -> Cols {
        let owned = |(n, v): &(&str, Option<&str>)| (n.to_string(), v.map(str::to_string));
        cols.iter().map(owned).collect()
    }

    /// Whole messages through the decoder while it reads simd-json's tape in place (escaped
    /// strings, number lexemes, a before image, the source schema read after the parse is
    /// gone). Small enough for Miri: `cargo +nightly miri test --lib decode::tests`.
    #[test]
    fn messages_decode_while_the_tape_is_read_in_place() {
        let canal = r#"{"data":[{"id":"2","n":"x\"y"}],"old":[{"id":"1"}],"database":"d",
            "table":"t","isDdl":false,"type":"UPDATE","pkNames":["id"],
            "mysqlType":{"id":"int(11)","n":"varchar(5)"},"es":1,"ts":1}"#;
        let mut decoder = Decoder::new(DecodeOptions::new(Format::Canal));
        let mut input = canal.as_bytes().to_vec();
        let Decoded::Rows(batch) = decoder.decode(&mut input, &MessageKeys).unwrap() else {
            panic!("not rows");
        };
        let row = |id| owned(&[("id", Some(id)), ("n", Some("x\"y"))]);
        let expected = [(ChangeOp::Delete, row("1")), (ChangeOp::Upsert, row("2"))];
        assert_eq!(changes(&batch), expected);
        let schema = batch.source_schema().expect("a type map");
        let columns: Vec<(&str, &str)> = schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_expr.as_str()))
            .collect();
        assert_eq!(columns, [("id", "int(11)"), ("n", "varchar(5)")]);
        assert_eq!(schema.primary_key, ["id"]);

        let cloudcanal = r#"{"action":"INSERT","db":"d","schema":"d","table":"t","isDdl":false,
            "data":[{"id":18446744073709551615,"v":-0.50}],"before":[],"pks":[],
            "dbValType":{"id":"bigint(20) unsigned","v":"decimal(5,2)"},"sql":"",
            "entryType":"ROWDATA"}"#;
        let mut decoder = Decoder::new(DecodeOptions::new(Format::CloudCanal));
        let mut input = cloudcanal.as_bytes().to_vec();
        let Decoded::Rows(batch) = decoder.decode(&mut input, &MessageKeys).unwrap() else {
            panic!("not rows");
        };
        let row = owned(&[("id", Some("18446744073709551615")), ("v", Some("-0.50"))]);
        assert_eq!(changes(&batch), [(ChangeOp::Upsert, row)]);
        assert!(batch.source_schema().unwrap().primary_key.is_empty());
    }
}
