//! Building row changes from a classified DML message (formats.md §4.3): cells of each row,
//! the before-image overlay, key-change detection, and the MissingKey / PartialRow checks.

use std::collections::HashMap;

use super::envelope::{RowsMsg, Span, elements, key_of, key_span, members};
use super::json::{Node, Nodes, Parsed, str_at};
use super::value::{
    CellContext, CellError, CellFault, ColType, Converted, Raw, convert, parse_col_type,
};
use super::{
    CellRec, ChangeRec, DecodeError, DecodeOptions, ErrorClass, Meta, RowBatch, Store, ValRec,
};
use crate::bytes::{canonical_integer, same_str};
use crate::model::{ChangeOp, DmlKind, SourceTable, Warnings};

/// Buffers reused from message to message.
#[derive(Default)]
pub(crate) struct Scratch {
    arena: Vec<u8>,
    nested: Vec<u8>,
    cells: Vec<CellRec>,
    changes: Vec<ChangeRec>,
    /// The message's type map: column name and type.
    types: Vec<(Span, ColType)>,
    /// The type text of each of `types`, as the message wrote it (`None`: not a string).
    type_texts: Vec<Option<Span>>,
    /// Whether `types` has no duplicate names (enables the per-row fast path).
    types_unique: bool,
    /// The message's key hint (`pkNames` / `pks`): column names, empty when it has none.
    key_hint: Vec<Span>,
    /// Each table's last type map, by [`Scratch::table_key`].
    type_maps: HashMap<String, TypeMapCache>,
    /// `db \0 schema \0 table \0` of the message being decoded.
    table_key: String,
    warnings: Warnings,
    rows: Vec<usize>,
    before_rows: Vec<usize>,
}

/// Where a key column name comes from.
#[derive(Clone, Copy)]
enum KeyName<'k> {
    Caller(&'k str),
    Message(Span),
}

impl Scratch {
    pub(crate) fn batch<'a>(
        &'a self,
        msg: &RowsMsg,
        table: SourceTable<'a>,
        input: &'a [u8],
    ) -> RowBatch<'a> {
        let meta = Meta {
            // Its node index is gone with the parse; only whether there was one is read.
            types: msg.types.map(|_| &self.types[..]),
            type_texts: &self.type_texts,
            key_hint: &self.key_hint,
        };
        RowBatch {
            table,
            kind: msg.kind,
            warnings: self.warnings,
            changes: &self.changes,
            store: Store {
                input,
                arena: &self.arena,
                cells: &self.cells,
            },
            meta,
        }
    }

    /// Reads the message's type map into `types`. A table's messages repeat one type map, so
    /// each table's last one is kept ([`TypeMapCache`]) and only a changed entry is parsed.
    fn load_types(
        &mut self,
        p: &Parsed,
        input: &[u8],
        types: Option<usize>,
        table: &SourceTable<'_>,
    ) {
        self.types.clear();
        self.type_texts.clear();
        self.types_unique = true;
        let Some(obj) = types else { return };
        self.table_key.clear();
        for part in [table.db, table.schema.unwrap_or(""), table.table] {
            self.table_key.push_str(part);
            self.table_key.push('\0');
        }
        // Looked up twice rather than with `entry`, which would take an owned key per message.
        if !self.type_maps.contains_key(self.table_key.as_str()) {
            // A bound on memory: one entry per table, and a decoder rarely sees thousands.
            if self.type_maps.len() >= TYPE_MAPS_KEPT {
                self.type_maps.clear();
            }
            let empty = TypeMapCache {
                entries: Vec::new(),
                unique: true,
            };
            self.type_maps.insert(self.table_key.clone(), empty);
        }
        let cache = self
            .type_maps
            .get_mut(self.table_key.as_str())
            .expect("inserted above");
        let mut same_map = true;
        for (j, (k, v)) in members(p.nodes, obj).enumerate() {
            let (name, name_text) = key_of(p.nodes, k);
            let (text_span, text) = match p.nodes.at(v) {
                Node::Str { start, len, text } => (Some(Span { start, len }), Some(text)),
                _ => (None, None),
            };
            self.type_texts.push(text_span);
            let ty = match cache.entries.get(j) {
                Some(e) if e.matches(name_text, text) => e.ty.clone(),
                _ => {
                    same_map = false;
                    let ty = text.map_or(ColType::Unknown, parse_col_type);
                    let entry = TypeMapEntry {
                        name: name_text.to_string(),
                        text: text.map(str::to_string),
                        ty: ty.clone(),
                    };
                    match cache.entries.get_mut(j) {
                        Some(e) => *e = entry,
                        None => cache.entries.push(entry),
                    }
                    ty
                }
            };
            self.types.push((name, ty));
        }
        if cache.entries.len() != self.types.len() {
            same_map = false;
            cache.entries.truncate(self.types.len());
        }
        if !same_map {
            cache.unique = (1..self.types.len()).all(|j| {
                let name = self.types[j].0.get(input);
                !self.types[..j]
                    .iter()
                    .any(|(n, _)| same_str(n.get(input), name))
            });
        }
        self.types_unique = cache.unique;
    }
}

/// Tables whose type map a decoder keeps.
const TYPE_MAPS_KEPT: usize = 4096;

/// The last type map of one table, parsed.
struct TypeMapCache {
    entries: Vec<TypeMapEntry>,
    /// Whether no two entries share a name.
    unique: bool,
}

struct TypeMapEntry {
    name: String,
    /// The type as the message wrote it; `None` when it was not a string.
    text: Option<String>,
    ty: ColType,
}

impl TypeMapEntry {
    fn matches(&self, name: &str, text: Option<&str>) -> bool {
        same_str(&self.name, name)
            && match (&self.text, text) {
                (Some(a), Some(b)) => same_str(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Decodes the rows of `msg` into `s`.
pub(crate) fn build(
    msg: &RowsMsg,
    p: &mut Parsed,
    input: &[u8],
    opts: &DecodeOptions,
    table: &SourceTable<'_>,
    caller_keys: Option<&[String]>,
    s: &mut Scratch,
) -> Result<(), DecodeError> {
    s.arena.clear();
    s.cells.clear();
    s.changes.clear();
    s.warnings = msg.warnings;
    s.load_types(p, input, msg.types, table);
    s.key_hint.clear();
    if let Some(hint) = msg.key_hint {
        s.key_hint
            .extend(elements(p.nodes, hint).map(|e| key_span(p.nodes, e)));
    }

    let mut key_names: Vec<KeyName<'_>> = Vec::new();
    if let Some(k) = caller_keys {
        key_names.extend(k.iter().map(|n| KeyName::Caller(n.as_str())));
        let hint = &s.key_hint;
        let differs = hint.len() != k.len() || hint.iter().zip(k).any(|(e, n)| e.get(input) != n);
        if !hint.is_empty() && differs {
            s.warnings.insert(Warnings::PK_HINT_MISMATCH);
        }
    } else {
        key_names.extend(s.key_hint.iter().map(|&name| KeyName::Message(name)));
    }

    let ctx = CellContext {
        zero_date: &opts.zero_date,
        zones: &opts.zones,
        enum_index_default: msg.enum_index_default,
    };
    let mut before_rows = std::mem::take(&mut s.before_rows);
    before_rows.clear();
    if let Some(b) = msg.before {
        before_rows.extend(elements(p.nodes, b));
    }
    let mut rows = std::mem::take(&mut s.rows);
    rows.clear();
    rows.extend(elements(p.nodes, msg.data));
    let result = build_rows(msg, p, input, &ctx, s, &key_names, &rows, &before_rows);
    s.rows = rows;
    s.before_rows = before_rows;
    result
}

#[allow(clippy::too_many_arguments)]
fn build_rows(
    msg: &RowsMsg,
    p: &mut Parsed,
    input: &[u8],
    ctx: &CellContext<'_>,
    s: &mut Scratch,
    key_names: &[KeyName<'_>],
    rows: &[usize],
    before_rows: &[usize],
) -> Result<(), DecodeError> {
    for (i, &row) in rows.iter().enumerate() {
        let after_start = s.cells.len();
        let in_map_order = decode_row(p, input, row, i, ctx, s)?;
        let after = after_start..s.cells.len();
        let key_label = |n: KeyName<'_>| match n {
            KeyName::Caller(c) => c.to_string(),
            KeyName::Message(sp) => sp.get(input).to_string(),
        };
        for &k in key_names {
            if find_cell(&s.cells[after.clone()], input, k).is_none() {
                return Err(DecodeError::new(
                    ErrorClass::MissingKey,
                    format!("row {i}: key column {:?} is absent", key_label(k)),
                ));
            }
        }
        match msg.kind {
            DmlKind::Delete => push_change(s, ChangeOp::Delete, after),
            DmlKind::Insert => {
                check_full_row(s, input, after.clone(), in_map_order, i)?;
                push_change(s, ChangeOp::Upsert, after);
            }
            DmlKind::Update => {
                check_full_row(s, input, after.clone(), in_map_order, i)?;
                let Some(&old) = before_rows.get(i) else {
                    push_change(s, ChangeOp::Upsert, after);
                    continue;
                };
                let before_start = s.cells.len();
                s.cells.extend_from_within(after.clone());
                overlay(p, input, old, i, ctx, s, before_start)?;
                let before = before_start..s.cells.len();
                let changed = key_names.iter().any(|&k| {
                    let a = find_cell(&s.cells[after.clone()], input, k);
                    let b = find_cell(&s.cells[before.clone()], input, k);
                    match (a, b) {
                        (Some(a), Some(b)) => val_bytes(&a.val, input, &s.arena)
                            .ne(&val_bytes(&b.val, input, &s.arena)),
                        _ => false,
                    }
                });
                if changed {
                    push_change(s, ChangeOp::Delete, before);
                    push_change(s, ChangeOp::Upsert, after);
                } else {
                    // The before image is not needed: drop its cells.
                    s.cells.truncate(before_start);
                    push_change(s, ChangeOp::Upsert, after);
                }
            }
        }
    }
    Ok(())
}

fn push_change(s: &mut Scratch, op: ChangeOp, cells: std::ops::Range<usize>) {
    s.changes.push(ChangeRec {
        op,
        cells_start: cells.start as u32,
        cells_end: cells.end as u32,
    });
}

fn name_of<'i>(c: &CellRec, input: &'i [u8]) -> &'i str {
    str_at(input, c.name_start, c.name_len)
}

fn find_cell<'c>(cells: &'c [CellRec], input: &[u8], key: KeyName<'_>) -> Option<&'c CellRec> {
    let name = match key {
        KeyName::Caller(n) => n,
        KeyName::Message(sp) => sp.get(input),
    };
    cells
        .iter()
        .find(|c| same_str(name_of(c, input), name))
        .or_else(|| {
            // MySQL column names are case-insensitive (formats.md §4.4).
            cells
                .iter()
                .find(|c| name_of(c, input).eq_ignore_ascii_case(name))
        })
}

pub(crate) fn val_bytes<'v>(v: &ValRec, input: &'v [u8], arena: &'v [u8]) -> Option<&'v [u8]> {
    match *v {
        ValRec::Null => None,
        ValRec::Input { start, len, .. } => Some(&input[start as usize..(start + len) as usize]),
        ValRec::Arena { start, len, .. } => Some(&arena[start as usize..(start + len) as usize]),
    }
}

/// An INSERT/UPDATE row must carry every column the message's type map lists: a missing one
/// would be overwritten with NULL/default by a full-row upsert (formats.md §4.4).
/// `in_map_order` is how many of the row's first cells are the map's columns in its order
/// ([`decode_row`]); when that is all of them, nothing needs looking up. (A count of cells
/// would not do: a column the map does not list can stand in for one that is missing.)
fn check_full_row(
    s: &Scratch,
    input: &[u8],
    row: std::ops::Range<usize>,
    in_map_order: usize,
    i: usize,
) -> Result<(), DecodeError> {
    let cells = &s.cells[row];
    if in_map_order >= s.types.len() {
        return Ok(());
    }
    for (name, _) in &s.types {
        let name = name.get(input);
        if !cells.iter().any(|c| same_str(name_of(c, input), name)) {
            return Err(DecodeError::new(
                ErrorClass::PartialRow,
                format!(
                    "row {i}: column {name:?} is absent (partial row image); use binlog_row_image=FULL"
                ),
            ));
        }
    }
    Ok(())
}

/// Appends the cells of row object `row` to `s.cells`. Returns how many of its first cells are
/// the type map's columns in the map's order (0 when the map has duplicate names).
fn decode_row(
    p: &mut Parsed,
    input: &[u8],
    row: usize,
    i: usize,
    ctx: &CellContext<'_>,
    s: &mut Scratch,
) -> Result<usize, DecodeError> {
    let row_start = s.cells.len();
    // Fast path: the row lists the type map's columns in its order, so the type is found by
    // position and the cells so far are distinct (the type map has no duplicates).
    let mut aligned = s.types_unique;
    let mut in_map_order = 0;
    let len = match p.nodes.at(row) {
        Node::Object { len, .. } => len as usize,
        _ => 0,
    };
    if len == 0 {
        return Err(DecodeError::new(
            ErrorClass::PartialRow,
            format!("row {i}: empty row image"),
        ));
    }
    let mut at = row + 1;
    for j in 0..len {
        let (k, v) = (at, at + 1);
        at = v + p.nodes.span(v);
        let (name, name_text) = key_of(p.nodes, k);
        aligned = aligned
            && s.types
                .get(j)
                .is_some_and(|(n, _)| same_str(n.get(input), name_text));
        let ty = if aligned {
            in_map_order += 1;
            &s.types[j].1
        } else {
            if s.cells[row_start..]
                .iter()
                .any(|c| same_str(name_of(c, input), name_text))
            {
                return Err(dup_err(name_text, i));
            }
            type_named(&s.types, input, name_text)
        };
        let (kind, val) = cell_value(ty, v, p, input, ctx, &mut s.arena, &mut s.nested)
            .map_err(|e| cell_err(e, name_text, i))?;
        s.cells.push(CellRec {
            name_start: name.start,
            name_len: name.len,
            kind,
            val,
        });
    }
    Ok(in_map_order)
}

fn dup_err(name: &str, i: usize) -> DecodeError {
    DecodeError::new(
        ErrorClass::DuplicateKey,
        format!("row {i}: duplicate column key {name:?}"),
    )
}

#[cold]
fn cell_err(e: CellError, column: &str, i: usize) -> DecodeError {
    match e.fault() {
        CellFault::Value(m) => {
            DecodeError::new(ErrorClass::Value, format!("{column}: {m} (row {i})"))
        }
        CellFault::Unsupported(m) => {
            DecodeError::new(ErrorClass::Unsupported, format!("{column}: {m} (row {i})"))
        }
    }
}

/// Overlays the before-image object `old` on the cells from `start` (a copy of the after image).
fn overlay(
    p: &mut Parsed,
    input: &[u8],
    old: usize,
    i: usize,
    ctx: &CellContext<'_>,
    s: &mut Scratch,
    start: usize,
) -> Result<(), DecodeError> {
    let len = match p.nodes.at(old) {
        Node::Object { len, .. } => len as usize,
        _ => 0,
    };
    // Fast path: while the before image lists type map columns in the map's order (all of
    // them, as CloudCanal's full before images do, or some, as canal's `old` of the updated
    // columns does) and each replaces the after image's cell at the same index, a member's
    // type is found at or after the last member's, and it cannot repeat an earlier member
    // (the map has no duplicate names and the indexes only grow). Without it each member cost
    // three scans from the start (duplicates, type, cell).
    let mut in_order = s.types_unique;
    let mut next_type = 0;
    let mut at = old + 1;
    for _ in 0..len {
        let (k, v) = (at, at + 1);
        at = v + p.nodes.span(v);
        let (name, name_text) = key_of(p.nodes, k);
        let ordered = if in_order {
            type_in_order(s, input, start, next_type, name_text)
        } else {
            None
        };
        in_order = ordered.is_some();
        let (ty, slot) = if let Some(idx) = ordered {
            next_type = idx + 1;
            (&s.types[idx].1, Some(start + idx))
        } else {
            if repeats_an_earlier_member(p.nodes, old, k) {
                return Err(dup_err(name_text, i));
            }
            let slot = s.cells[start..]
                .iter()
                .position(|c| same_str(name_of(c, input), name_text));
            (
                type_named(&s.types, input, name_text),
                slot.map(|at| start + at),
            )
        };
        let (kind, val) = cell_value(ty, v, p, input, ctx, &mut s.arena, &mut s.nested)
            .map_err(|e| cell_err(e, name_text, i))?;
        let cell = CellRec {
            name_start: name.start,
            name_len: name.len,
            kind,
            val,
        };
        match slot {
            Some(at) => s.cells[at] = cell,
            None => s.cells.push(cell),
        }
    }
    Ok(())
}

/// The index of the type map entry named `name` at or after `from`, when the cell at that index
/// from `start` (the after image's) has the same name. `s.types` must have no duplicate names.
fn type_in_order(
    s: &Scratch,
    input: &[u8],
    start: usize,
    from: usize,
    name: &str,
) -> Option<usize> {
    let idx = from
        + s.types[from..]
            .iter()
            .position(|(n, _)| same_str(n.get(input), name))?;
    let cell = s.cells[start..].get(idx)?;
    same_str(name_of(cell, input), name).then_some(idx)
}

/// Whether the key of member `k` of object `obj` is also the key of an earlier member.
fn repeats_an_earlier_member(nodes: Nodes<'_>, obj: usize, k: usize) -> bool {
    let name = nodes.str(k);
    members(nodes, obj)
        .take_while(|&(earlier, _)| earlier != k)
        .any(|(earlier, _)| same_str(nodes.str(earlier), name))
}

/// The type the message's type map gives column `name` (`Unknown` when it lists none).
fn type_named<'t>(types: &'t [(Span, ColType)], input: &[u8], name: &str) -> &'t ColType {
    types
        .iter()
        .find(|(n, _)| same_str(n.get(input), name))
        .map_or(&ColType::Unknown, |(_, t)| t)
}

/// Converts the value node `v` for a column of type `ty`. Inlined: its result returned through
/// memory stalled every cell.
#[inline(always)]
fn cell_value(
    ty: &ColType,
    v: usize,
    p: &mut Parsed,
    input: &[u8],
    ctx: &CellContext<'_>,
    arena: &mut Vec<u8>,
    nested: &mut Vec<u8>,
) -> Result<(crate::model::ValueKind, ValRec), CellError> {
    let mark = arena.len();
    if let ColType::Int { min, max } = ty
        && let Some(input_rec) = canonical_int_in_range(p, input, v, *min..=*max)
    {
        return Ok((crate::model::ValueKind::Integer, input_rec));
    }
    let (raw, at) = match p.nodes.at(v) {
        // Text columns keep their strings as they are: the most common cell, decided here
        // without `convert`'s dispatch. Must give what `convert`'s `ColType::Text` arm gives
        // for `Raw::Str`; change both together.
        Node::Str { start, len, .. } if matches!(ty, ColType::Text) => {
            return Ok((
                crate::model::ValueKind::Text,
                ValRec::Input {
                    start,
                    len,
                    bytes: false,
                },
            ));
        }
        Node::Null => return Ok((ty.kind(), ValRec::Null)),
        Node::Str { start, len, text } => (Raw::Str(text), Some((start, len))),
        Node::Number => {
            let (start, len) = p.number_lexeme(input, v);
            (Raw::Num(str_at(input, start, len)), Some((start, len)))
        }
        Node::Bool(b) => (Raw::Bool(b), None),
        Node::Object { .. } | Node::Array { .. } => {
            nested.clear();
            p.write_compact(input, v, nested);
            let (kind, conv) = convert(ty, Raw::Nested, ctx, arena)?;
            return Ok(match conv {
                Converted::Null => (kind, ValRec::Null),
                Converted::Same | Converted::SameBytes => {
                    let start = arena.len();
                    arena.extend_from_slice(nested);
                    (kind, arena_rec(start, arena.len(), false))
                }
                Converted::Text => (kind, arena_rec(mark, arena.len(), false)),
                Converted::Bytes => (kind, arena_rec(mark, arena.len(), true)),
            });
        }
    };
    let (kind, conv) = convert(ty, raw, ctx, arena)?;
    Ok(match (conv, at) {
        (Converted::Null, _) => (kind, ValRec::Null),
        (Converted::Same, Some((start, len))) => (
            kind,
            ValRec::Input {
                start,
                len,
                bytes: false,
            },
        ),
        (Converted::SameBytes, Some((start, len))) => (
            kind,
            ValRec::Input {
                start,
                len,
                bytes: true,
            },
        ),
        (Converted::Same | Converted::SameBytes, None) => {
            // A JSON boolean kept as is (JSON columns): write its text.
            if let Raw::Bool(b) = raw {
                arena.extend_from_slice(if b { b"true" } else { b"false" });
            }
            (kind, arena_rec(mark, arena.len(), false))
        }
        (Converted::Text, _) => (kind, arena_rec(mark, arena.len(), false)),
        (Converted::Bytes, _) => (kind, arena_rec(mark, arena.len(), true)),
    })
}

/// The integer cell at node `v` kept as it is, when its text is a canonical integer in `range`:
/// the commonest cell after text, decided here without `convert`'s dispatch. Must give what
/// `convert`'s `ColType::Int` arm gives for such text (`Converted::Same`); change both together.
#[inline(always)]
fn canonical_int_in_range(
    p: &mut Parsed,
    input: &[u8],
    v: usize,
    range: std::ops::RangeInclusive<i128>,
) -> Option<ValRec> {
    let (start, len) = match p.nodes.at(v) {
        Node::Str { start, len, .. } => (start, len),
        Node::Number => p.number_lexeme(input, v),
        _ => return None,
    };
    let text = &input[start as usize..(start + len) as usize];
    canonical_integer(text)
        .is_some_and(|value| range.contains(&value))
        .then_some(ValRec::Input {
            start,
            len,
            bytes: false,
        })
}

fn arena_rec(start: usize, end: usize, bytes: bool) -> ValRec {
    ValRec::Arena {
        start: start as u32,
        len: (end - start) as u32,
        bytes,
    }
}
