//! Reading the top-level object of a message: field lookup with duplicate-key and type checks
//! (formats.md §2.7), and the classified result both formats share.

use super::json::{Node, Nodes, Parsed, str_at};
use super::{DecodeError, ErrorClass};
use crate::model::{DmlKind, IgnoreReason, SchemaColumn, TableSchema, Warnings};

/// A string of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub fn get(self, input: &[u8]) -> &str {
        str_at(input, self.start, self.len)
    }
}

/// A top-level field as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Absent,
    Null,
    /// Index of the value's node.
    At(usize),
}

/// A DML message, classified and envelope-checked.
#[derive(Debug, Clone)]
pub(crate) struct RowsMsg {
    pub kind: DmlKind,
    pub db: Option<Span>,
    pub schema: Option<Span>,
    pub table: Option<Span>,
    /// The array node of the rows to apply.
    pub data: usize,
    /// The array node of before images (`old` / `before`), paired with `data` by index;
    /// `None` when there is no before image.
    pub before: Option<usize>,
    /// The message's key hint (`pkNames` / `pks`) array node, when non-empty.
    pub key_hint: Option<usize>,
    /// The column type map (`mysqlType` / `dbValType`) object node.
    pub types: Option<usize>,
    pub warnings: Warnings,
    /// Whether ENUM/SET values are read as index/bitmask when ambiguous (canal).
    pub enum_index_default: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DdlMsg {
    pub kind: Option<Span>,
    pub db: Option<Span>,
    pub schema: Option<Span>,
    pub table: Option<Span>,
    pub sql: Option<Span>,
    pub table_changes: Option<usize>,
    pub types: Option<usize>,
    pub key_hint: Option<usize>,
}

/// What a message is.
#[derive(Debug, Clone)]
pub(crate) enum Message {
    Rows(RowsMsg),
    Ddl(DdlMsg),
    TxnEnd { db: Option<Span> },
    Watermark { ts: u64 },
    Ignore(IgnoreReason),
}

/// Iterates `(key node, value node)` of the object at `obj`.
pub(crate) fn members(nodes: Nodes<'_>, obj: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let len = match nodes.get(obj) {
        Some(Node::Object { len, .. }) => len,
        _ => 0,
    };
    let mut i = obj + 1;
    (0..len).map(move |_| {
        let key = i;
        let value = i + 1;
        i = value + nodes.span(value);
        (key, value)
    })
}

/// Iterates the element nodes of the array at `arr`.
pub(crate) fn elements(nodes: Nodes<'_>, arr: usize) -> impl Iterator<Item = usize> + '_ {
    let len = match nodes.get(arr) {
        Some(Node::Array { len, .. }) => len,
        _ => 0,
    };
    let mut i = arr + 1;
    (0..len).map(move |_| {
        let at = i;
        i += nodes.span(at);
        at
    })
}

pub(crate) fn array_len(nodes: Nodes<'_>, arr: usize) -> usize {
    match nodes.get(arr) {
        Some(Node::Array { len, .. }) => len as usize,
        _ => 0,
    }
}

pub(crate) fn key_span(nodes: Nodes<'_>, key: usize) -> Span {
    key_of(nodes, key).0
}

/// The range and the text of the member key at node `key`.
pub(crate) fn key_of(nodes: Nodes<'_>, key: usize) -> (Span, &str) {
    match nodes.at(key) {
        Node::Str { start, len, text } => (Span { start, len }, text),
        // Object keys are always strings on a simd-json tape.
        _ => (Span { start: 0, len: 0 }, ""),
    }
}

/// Reads the top-level object: the fields named in `names` (in that order), rejecting
/// duplicate keys anywhere at the top level. Unknown keys are ignored (forward compatibility).
pub(crate) fn read_top<const N: usize>(
    p: &Parsed,
    names: [&str; N],
) -> Result<[Field; N], DecodeError> {
    if !matches!(p.nodes.get(0), Some(Node::Object { .. })) {
        return Err(DecodeError::new(
            ErrorClass::Envelope,
            "record value is not a JSON object",
        ));
    }
    let mut fields = [Field::Absent; N];
    let mut seen: Vec<&str> = Vec::with_capacity(24);
    for (k, v) in members(p.nodes, 0) {
        let key = p.nodes.str(k);
        if seen.contains(&key) {
            return Err(DecodeError::new(
                ErrorClass::DuplicateKey,
                format!("duplicate top-level key {key:?}"),
            ));
        }
        seen.push(key);
        if let Some(slot) = names.iter().position(|n| *n == key) {
            fields[slot] = match p.nodes.at(v) {
                Node::Null => Field::Null,
                _ => Field::At(v),
            };
        }
    }
    Ok(fields)
}

fn env_err(msg: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorClass::Envelope, msg)
}

/// A string field; `null` and absent are `None`.
pub(crate) fn opt_str(p: &Parsed, f: Field, name: &str) -> Result<Option<Span>, DecodeError> {
    match f {
        Field::Absent | Field::Null => Ok(None),
        Field::At(i) => match p.nodes.at(i) {
            Node::Str { start, len, .. } => Ok(Some(Span { start, len })),
            _ => Err(env_err(format!("{name} must be a string"))),
        },
    }
}

/// A boolean field; `null` and absent are `None`. A string `"false"` is an error (§2.7).
pub(crate) fn opt_bool(p: &Parsed, f: Field, name: &str) -> Result<Option<bool>, DecodeError> {
    match f {
        Field::Absent | Field::Null => Ok(None),
        Field::At(i) => match p.nodes.at(i) {
            Node::Bool(b) => Ok(Some(b)),
            _ => Err(env_err(format!("{name} must be a boolean"))),
        },
    }
}

/// A rows field: an array of objects, or null/absent (`None`). No auto-unwrapping of a JSON
/// string holding an array (§2.7).
pub(crate) fn opt_rows(p: &Parsed, f: Field, name: &str) -> Result<Option<usize>, DecodeError> {
    match f {
        Field::Absent | Field::Null => Ok(None),
        Field::At(i) => match p.nodes.at(i) {
            Node::Array { .. } => {
                for (n, e) in elements(p.nodes, i).enumerate() {
                    if !matches!(p.nodes.at(e), Node::Object { .. }) {
                        return Err(env_err(format!("{name}[{n}] must be an object")));
                    }
                }
                Ok(Some(i))
            }
            _ => Err(env_err(format!("{name} must be an array of objects"))),
        },
    }
}

/// An object field used only as a hint: anything but an object counts as absent.
pub(crate) fn hint_object(p: &Parsed, f: Field) -> Option<usize> {
    match f {
        Field::At(i) if matches!(p.nodes.at(i), Node::Object { len, .. } if len > 0) => Some(i),
        _ => None,
    }
}

/// A key-hint array (`pkNames` / `pks`) when it is a non-empty array of strings.
pub(crate) fn hint_keys(p: &Parsed, f: Field) -> Option<usize> {
    match f {
        Field::At(i) if array_len(p.nodes, i) > 0 => elements(p.nodes, i)
            .all(|e| matches!(p.nodes.at(e), Node::Str { .. }))
            .then_some(i),
        _ => None,
    }
}

/// The member `name` of the object at `obj`.
pub(crate) fn member(p: &Parsed, obj: usize, name: &str) -> Option<usize> {
    members(p.nodes, obj)
        .find(|&(k, _)| p.nodes.str(k) == name)
        .map(|(_, v)| v)
}

/// The text of string node `i`; `None` for any other node, or past the tape's end.
fn node_text<'t>(p: &Parsed<'t>, i: usize) -> Option<&'t str> {
    match p.nodes.get(i) {
        Some(Node::Str { text, .. }) => Some(text),
        _ => None,
    }
}

/// The DML kind named by `type` / `action` (case-insensitive), or what else it means.
pub(crate) enum KindWord {
    Dml(DmlKind),
    Watermark,
    RowsQuery,
    Control,
    Unknown,
}

pub(crate) fn kind_word(word: &str) -> KindWord {
    let is = |w: &str| word.eq_ignore_ascii_case(w);
    if is("INSERT") {
        KindWord::Dml(DmlKind::Insert)
    } else if is("UPDATE") {
        KindWord::Dml(DmlKind::Update)
    } else if is("DELETE") {
        KindWord::Dml(DmlKind::Delete)
    } else if is("TIDB_WATERMARK") {
        KindWord::Watermark
    } else if is("QUERY") {
        KindWord::RowsQuery
    } else if ["GTID", "XACOMMIT", "XAROLLBACK", "MHEARTBEAT"]
        .iter()
        .any(|w| is(w))
    {
        KindWord::Control
    } else {
        KindWord::Unknown
    }
}

/// The shared tail of Appendix B for a DML message: rows vs before images, lengths, and the
/// DELETE fallback to the before images.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dml_message(
    p: &Parsed,
    kind: DmlKind,
    lower_case: bool,
    data: Option<usize>,
    before: Option<usize>,
    before_name: &str,
    null_data: DecodeError,
    mut msg: RowsMsg,
) -> Result<Message, DecodeError> {
    if lower_case {
        msg.warnings.insert(Warnings::LOWER_CASE_TYPE);
    }
    let data_len = data.map_or(0, |d| array_len(p.nodes, d));
    let before_len = before.map_or(0, |b| array_len(p.nodes, b));
    let data = if kind == DmlKind::Delete && data_len == 0 && before_len > 0 {
        msg.warnings.insert(Warnings::ROWS_FROM_BEFORE);
        before
    } else {
        data
    };
    let Some(data) = data else {
        return Err(null_data);
    };
    let data_len = array_len(p.nodes, data);
    if data_len == 0 {
        return Ok(Message::Ignore(IgnoreReason::NoRows));
    }
    msg.data = data;
    msg.before = None;
    if kind == DmlKind::Update {
        match before {
            Some(b) if before_len > 0 => {
                if before_len != data_len {
                    return Err(env_err(format!(
                        "{before_name} has {before_len} rows but data has {data_len}"
                    )));
                }
                msg.before = Some(b);
            }
            _ => msg.warnings.insert(Warnings::PK_CHANGE_UNDETECTABLE),
        }
    }
    msg.kind = kind;
    Ok(Message::Rows(msg))
}

/// The schema a DDL message carries: `tableChanges` when present, else the type map.
pub(crate) fn ddl_schema(p: &Parsed, d: &DdlMsg) -> Option<TableSchema> {
    if let Some(tc) = d.table_changes {
        let table = member(p, tc, "table")?;
        let mut schema = TableSchema {
            columns: Vec::new(),
            primary_key: Vec::new(),
        };
        if let Some(cols) = member(p, table, "columns") {
            for c in elements(p.nodes, cols) {
                let name = member(p, c, "name").and_then(|n| node_text(p, n));
                let ty = ["typeExpression", "typeName"]
                    .iter()
                    .find_map(|k| member(p, c, k).and_then(|n| node_text(p, n)));
                if let Some(name) = name {
                    schema.columns.push(SchemaColumn {
                        name: name.to_string(),
                        type_expr: ty.unwrap_or_default().to_string(),
                    });
                }
            }
        }
        if let Some(pk) = member(p, table, "primaryKeyColumnNames") {
            schema.primary_key = elements(p.nodes, pk)
                .filter_map(|e| node_text(p, e))
                .map(str::to_string)
                .collect();
        }
        return Some(schema);
    }
    let text = |i: usize| node_text(p, i);
    let columns = members(p.nodes, d.types?).map(|(k, v)| (key_of(p.nodes, k).1, text(v)));
    let key_hint = d
        .key_hint
        .into_iter()
        .flat_map(|h| elements(p.nodes, h).filter_map(text));
    Some(type_map_schema(columns, key_hint))
}

/// The schema a message's type map (`mysqlType` / `dbValType`: column names with their type
/// texts, in message order) and key hint (`pkNames` / `pks` names) describe; a type that is
/// not a string becomes an empty type.
pub(crate) fn type_map_schema<'s>(
    columns: impl Iterator<Item = (&'s str, Option<&'s str>)>,
    key_hint: impl Iterator<Item = &'s str>,
) -> TableSchema {
    TableSchema {
        columns: columns
            .map(|(name, type_text)| SchemaColumn {
                name: name.to_string(),
                type_expr: type_text.unwrap_or_default().to_string(),
            })
            .collect(),
        primary_key: key_hint.map(str::to_string).collect(),
    }
}

/// An empty `RowsMsg` for a Canal message: ENUM/SET values without a type map are indexes.
pub(crate) fn canal_rows_msg() -> RowsMsg {
    RowsMsg {
        enum_index_default: true,
        ..cloudcanal_rows_msg()
    }
}

/// An empty `RowsMsg` for a CloudCanal message: ENUM/SET values are labels.
pub(crate) fn cloudcanal_rows_msg() -> RowsMsg {
    RowsMsg {
        kind: DmlKind::Insert,
        db: None,
        schema: None,
        table: None,
        data: 0,
        before: None,
        key_hint: None,
        types: None,
        warnings: Warnings::empty(),
        enum_index_default: false,
    }
}
