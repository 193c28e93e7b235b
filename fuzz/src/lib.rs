//! Shared checks of the starpipe fuzz targets (see `fuzz/README.md`).
//!
//! * [`check_decode`]: a decoder never panics on arbitrary bytes, and what it returns obeys the
//!   invariants of `src/decode/mod.rs` (rows have columns, decoding is deterministic and does not
//!   depend on what the decoder decoded before).
//! * [`check_roundtrip`]: every decoded row encodes into a Stream Load body that an independent
//!   parser (the `csv` crate for CSV bodies, `serde_json` for JSON bodies) reads back to the
//!   values the decoder produced.
//! * [`config_parse`], [`load_response`], [`ddl_parse`]: the job-file parser, Stream Load answer
//!   classification and the DDL path (each module says what it checks).
//! * [`replay`]: one input of `regressions/<target>/` through its target's checks; the root
//!   crate's `tests/fuzz_regressions.rs` includes this file (`#[path]`) to replay every
//!   regression input in the normal `cargo test`.

pub mod config_parse;
pub mod ddl_parse;
pub mod load_response;

use std::cell::RefCell;

use starpipe::decode::{Change, DecodeOptions, Decoded, Decoder, ErrorClass, Format, MessageKeys};
use starpipe::encode::{
    BodyEncoder, BodyFormat, COLUMN_SEPARATOR, CSV_NULL, EncodeError, OP_COLUMN, ROW_DELIMITER,
    key_hash,
};
use starpipe::model::{ChangeOp, Column, DmlKind, Value, ValueKind, Warnings};
use starpipe::schema::{MAX_VARCHAR_LEN, StarRocksType, TableModel, TargetColumn, TargetTable};

/// The fuzz targets, by name.
pub const TARGETS: &[&str] = &[
    "decode_canal",
    "decode_cloudcanal",
    "encode_roundtrip",
    "config_parse",
    "load_response",
    "ddl_parse",
];

/// Runs `data` through the checks of fuzz target `target` (panics on a violation, as the
/// target would). `false` for an unknown target name.
pub fn replay(target: &str, data: &[u8]) -> bool {
    match target {
        "decode_canal" => check_decode(Format::Canal, data),
        "decode_cloudcanal" => check_decode(Format::CloudCanal, data),
        "encode_roundtrip" => check_roundtrip(data),
        "config_parse" => config_parse::check_config(data),
        "load_response" => load_response::check_load_response(data),
        "ddl_parse" => ddl_parse::check_ddl(data),
        _ => return false,
    }
    true
}

/// `shared/spec/examples`, found from this crate's or the root crate's manifest directory.
#[cfg(test)]
fn spec_examples() -> Option<std::path::PathBuf> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/examples"))
        .find(|d| d.is_dir())
}

// ---------------------------------------------------------------------------------------------
// Decode invariants
// ---------------------------------------------------------------------------------------------

/// An owned copy of a value, so results of two decoder calls can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    Null,
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedColumn {
    pub name: String,
    pub kind: ValueKind,
    pub value: OwnedValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedChange {
    pub op: ChangeOp,
    pub columns: Vec<OwnedColumn>,
}

/// An owned copy of a [`Decoded`] (or of the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Rows {
        db: String,
        schema: Option<String>,
        table: String,
        kind: DmlKind,
        warnings: Warnings,
        changes: Vec<OwnedChange>,
    },
    /// DDL, transaction end, watermark, ignore: their `Debug` form (all fields owned or `Copy`).
    Other(String),
    Error(ErrorClass, String),
}

fn owned_value(v: Value<'_>) -> OwnedValue {
    match v {
        Value::Null => OwnedValue::Null,
        Value::Text(s) => OwnedValue::Text(s.to_owned()),
        Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
    }
}

/// Decodes a copy of `data` and checks the invariants that hold for any single result.
fn decode_once(dec: &mut Decoder, data: &[u8]) -> Outcome {
    let mut buf = data.to_vec();
    match dec.decode(&mut buf, &MessageKeys) {
        Ok(Decoded::Rows(batch)) => {
            assert_eq!(
                batch.len(),
                batch.changes().count(),
                "RowBatch::len disagrees with changes()"
            );
            let mut changes = Vec::with_capacity(batch.len());
            for (i, ch) in batch.changes().enumerate() {
                assert!(
                    !ch.row.is_empty() && ch.row.columns().next().is_some(),
                    "change {i} ({:?}) has no columns: {batch:?}",
                    ch.op
                );
                assert_eq!(ch.row.len(), ch.row.columns().count());
                let mut columns = Vec::with_capacity(ch.row.len());
                for col in ch.row.columns() {
                    if let Value::Text(s) = col.value {
                        // `&str` guarantees it, but a broken unchecked conversion would show here.
                        assert!(std::str::from_utf8(s.as_bytes()).is_ok());
                    }
                    assert!(
                        ch.row.get(col.name).is_some(),
                        "Row::get({:?}) finds nothing",
                        col.name
                    );
                    columns.push(OwnedColumn {
                        name: col.name.to_owned(),
                        kind: col.kind,
                        value: owned_value(col.value),
                    });
                }
                changes.push(OwnedChange { op: ch.op, columns });
            }
            Outcome::Rows {
                db: batch.table.db.to_owned(),
                schema: batch.table.schema.map(str::to_owned),
                table: batch.table.table.to_owned(),
                kind: batch.kind,
                warnings: batch.warnings,
                changes,
            }
        }
        Ok(other) => Outcome::Other(format!("{other:?}")),
        Err(e) => {
            assert!(!e.message.is_empty(), "error without a message: {e:?}");
            Outcome::Error(e.class, e.message)
        }
    }
}

thread_local! {
    static CANAL: RefCell<Decoder> = RefCell::new(Decoder::new(DecodeOptions::new(Format::Canal)));
    static CLOUDCANAL: RefCell<Decoder> =
        RefCell::new(Decoder::new(DecodeOptions::new(Format::CloudCanal)));
}

/// The `decode_*` targets: never panic; rows have ≥ 1 column; Text is UTF-8; decoding the same
/// bytes twice with a reused decoder, and once with a fresh decoder, gives the same result.
pub fn check_decode(format: Format, data: &[u8]) {
    let persistent = match format {
        Format::Canal => &CANAL,
        Format::CloudCanal => &CLOUDCANAL,
    };
    persistent.with(|dec| {
        let mut dec = dec.borrow_mut();
        let first = decode_once(&mut dec, data);
        let second = decode_once(&mut dec, data);
        assert_eq!(first, second, "decoding the same bytes twice differs");
        let mut fresh = Decoder::new(DecodeOptions::new(format));
        let third = decode_once(&mut fresh, data);
        assert_eq!(
            first, third,
            "a reused decoder and a fresh one disagree (state leaks between messages)"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Encode round trip
// ---------------------------------------------------------------------------------------------

/// How the target table is derived from a row's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every column VARCHAR(1048576): values must come back byte for byte (binary as upper hex).
    Varchar,
    /// Kinds mapped to StarRocks types; values must come back equal as values of that type.
    Typed,
}

fn target_type(mode: Mode, kind: ValueKind) -> StarRocksType {
    if mode == Mode::Varchar {
        return StarRocksType::Varchar(MAX_VARCHAR_LEN);
    }
    match kind {
        ValueKind::Integer => StarRocksType::LargeInt,
        ValueKind::Decimal => StarRocksType::Decimal {
            precision: 76,
            scale: 30,
        },
        ValueKind::Float => StarRocksType::Double,
        ValueKind::Date => StarRocksType::Date,
        ValueKind::DateTime => StarRocksType::DateTime,
        ValueKind::Time | ValueKind::Text => StarRocksType::Varchar(MAX_VARCHAR_LEN),
        ValueKind::Binary => StarRocksType::VarBinary(None),
        ValueKind::Json => StarRocksType::Json,
        ValueKind::Boolean => StarRocksType::Boolean,
    }
}

/// One field read back from a body.
#[derive(Debug)]
enum Got {
    Null,
    /// A CSV field.
    Text(String),
    /// A non-null JSON value of a JSON body (a string, or a number, boolean or embedded document).
    Raw(serde_json::Value),
}

/// Splits a CSV body with the `csv` crate configured exactly as the Stream Load headers say:
/// `column_separator` 0x01, `row_delimiter` 0x02, no enclose, no escape, `\N` = NULL.
fn parse_csv(body: &[u8], ncols: usize) -> Vec<(Vec<Got>, u8)> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(COLUMN_SEPARATOR)
        .terminator(csv::Terminator::Any(ROW_DELIMITER))
        .quoting(false)
        .double_quote(false)
        .escape(None)
        .comment(None)
        .flexible(true)
        .from_reader(body);
    let mut rows = Vec::new();
    for rec in rdr.byte_records() {
        let rec = rec.expect("csv crate rejects the body");
        assert_eq!(
            rec.len(),
            ncols + 1,
            "CSV row has {} fields, expected {} + __op: {rec:?}",
            rec.len(),
            ncols
        );
        let op = rec.get(ncols).unwrap();
        assert!(op == b"0" || op == b"1", "bad __op field {op:?}");
        let fields = (0..ncols)
            .map(|i| {
                let f = rec.get(i).unwrap();
                if f == CSV_NULL {
                    Got::Null
                } else {
                    Got::Text(String::from_utf8(f.to_vec()).expect("CSV field is not valid UTF-8"))
                }
            })
            .collect();
        rows.push((fields, op[0] - b'0'));
    }
    rows
}

/// Reads a JSON body (`strip_outer_array`) with serde_json.
fn parse_json(body: &[u8], names: &[&str]) -> Vec<(Vec<Got>, u8)> {
    let arr: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(body)
        .unwrap_or_else(|e| {
            panic!(
                "serde_json rejects the JSON body: {e}: {}",
                String::from_utf8_lossy(body)
            )
        });
    arr.into_iter()
        .map(|mut obj| {
            assert_eq!(obj.len(), names.len() + 1, "JSON row keys: {obj:?}");
            let op = match obj.remove(OP_COLUMN) {
                Some(serde_json::Value::Number(n)) if n.as_u64() == Some(0) => 0,
                Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => 1,
                other => panic!("bad __op {other:?}"),
            };
            let fields = names
                .iter()
                .map(|n| match obj.remove(*n) {
                    None => panic!("JSON row lacks column {n:?}"),
                    Some(serde_json::Value::Null) => Got::Null,
                    Some(v) => Got::Raw(v),
                })
                .collect();
            (fields, op)
        })
        .collect()
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// Strict RFC 4648 base64 decoding (with padding), written independently of the encoder.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, q) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// `-?digits(.0*)?` as an integer (what an exact integer column holds).
fn int_value(s: &str) -> Option<i128> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if s.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b == b'0')) {
        return None;
    }
    let digits = int.strip_prefix('-').unwrap_or(int);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    int.parse::<i128>().ok()
}

/// A plain decimal as (negative, integer digits, fraction digits) without redundant zeros.
fn decimal_norm(s: &str) -> Option<(bool, String, String)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let zero = int.is_empty() && frac.is_empty();
    Some((neg && !zero, int.to_owned(), frac.to_owned()))
}

/// A DATETIME value in one spelling: date-only gets midnight, fraction zeros dropped.
fn datetime_norm(s: &str) -> String {
    let mut t = s.to_owned();
    if t.len() == 10 {
        t.push_str(" 00:00:00");
    }
    if t.contains('.') {
        while t.ends_with('0') {
            t.pop();
        }
        if t.ends_with('.') {
            t.pop();
        }
    }
    t
}

fn bool_value(s: &str) -> Option<bool> {
    match s {
        "1" => Some(true),
        "0" => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn floats_equal(a: f64, b: f64) -> bool {
    // serde_json's default float parser may be one ulp off the correctly rounded value.
    a == b || (a - b).abs() <= f64::EPSILON * 4.0 * a.abs().max(b.abs())
}

/// Asserts that `got` (read back for target `ty`) is the value the row carried.
fn check_field(ty: &StarRocksType, orig: &Column<'_>, got: &Got, ctx: &dyn Fn() -> String) {
    let text = |g: &Got| -> String {
        match g {
            Got::Text(s) => s.clone(),
            Got::Raw(serde_json::Value::String(s)) => s.clone(),
            Got::Raw(v) => v.to_string(),
            Got::Null => panic!("{}: NULL read back for a value", ctx()),
        }
    };
    let orig_text = match orig.value {
        Value::Null => {
            assert!(
                matches!(got, Got::Null),
                "{}: SQL NULL read back as {got:?}",
                ctx()
            );
            return;
        }
        Value::Text(s) => s,
        Value::Bytes(b) => {
            match ty {
                StarRocksType::Varchar(_) => {
                    assert_eq!(text(got), hex_upper(b), "{}: binary into VARCHAR", ctx())
                }
                StarRocksType::VarBinary(_) => {
                    let g = text(got);
                    let back = base64_decode(&g)
                        .unwrap_or_else(|| panic!("{}: {g:?} is not base64", ctx()));
                    assert_eq!(back, b, "{}: VARBINARY round trip", ctx());
                }
                _ => panic!("{}: binary value accepted for {ty:?}", ctx()),
            }
            return;
        }
    };
    match ty {
        StarRocksType::Varchar(_) | StarRocksType::Char(_) | StarRocksType::Other(_) => {
            assert_eq!(text(got), orig_text, "{}: text round trip", ctx())
        }
        StarRocksType::LargeInt => {
            let g = text(got);
            let want = if orig.kind == ValueKind::Boolean {
                bool_value(orig_text).map(i128::from)
            } else {
                int_value(orig_text)
            };
            assert!(
                want.is_some(),
                "{}: {orig_text:?} accepted as LARGEINT",
                ctx()
            );
            assert_eq!(int_value(&g), want, "{}: LARGEINT {g:?}", ctx());
            assert!(!g.contains('.') && (g == "0" || !g.trim_start_matches('-').starts_with('0')));
        }
        StarRocksType::Decimal { scale, .. } => {
            let g = text(got);
            let want = decimal_norm(orig_text);
            assert!(
                want.is_some(),
                "{}: {orig_text:?} accepted as DECIMAL",
                ctx()
            );
            assert_eq!(decimal_norm(&g), want, "{}: DECIMAL {g:?}", ctx());
            let frac = g.split_once('.').map_or(0, |(_, f)| f.len());
            assert!(frac <= *scale as usize, "{}: {g:?} exceeds scale", ctx());
        }
        StarRocksType::Double | StarRocksType::Float => match got {
            // CSV field, or a JSON string (the encoder keeps floats off the JSON number path).
            Got::Text(g) | Got::Raw(serde_json::Value::String(g)) => {
                assert_eq!(g, orig_text, "{}: DOUBLE text", ctx())
            }
            Got::Raw(serde_json::Value::Number(n)) => {
                let want: f64 = orig_text
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: {orig_text:?} accepted as DOUBLE", ctx()));
                let g = n.as_f64().unwrap();
                assert!(floats_equal(g, want), "{}: DOUBLE {g} vs {want}", ctx());
            }
            other => panic!("{}: DOUBLE read back as {other:?}", ctx()),
        },
        StarRocksType::Date => {
            assert!(orig_text.len() >= 10 && orig_text.is_char_boundary(10));
            assert_eq!(text(got), &orig_text[..10], "{}: DATE", ctx())
        }
        StarRocksType::DateTime => {
            let g = text(got);
            assert_eq!(
                datetime_norm(&g),
                datetime_norm(orig_text),
                "{}: DATETIME {g:?}",
                ctx()
            );
        }
        StarRocksType::Boolean => {
            let g = text(got);
            let want = bool_value(orig_text);
            assert!(
                want.is_some(),
                "{}: {orig_text:?} accepted as BOOLEAN",
                ctx()
            );
            assert_eq!(bool_value(&g), want, "{}: BOOLEAN {g:?}", ctx());
            assert!(g == "1" || g == "0", "{}: BOOLEAN written as {g:?}", ctx());
        }
        StarRocksType::Json => match got {
            Got::Text(g) => assert_eq!(g, orig_text, "{}: JSON text", ctx()),
            Got::Raw(v) => {
                let want: serde_json::Value = serde_json::from_str(orig_text)
                    .unwrap_or_else(|_| panic!("{}: {orig_text:?} accepted as JSON", ctx()));
                assert_eq!(*v, want, "{}: JSON document", ctx());
            }
            Got::Null => panic!("{}: JSON document read back as NULL", ctx()),
        },
        StarRocksType::VarBinary(_) => {
            let g = text(got);
            let back = base64_decode(&g).unwrap_or_else(|| panic!("{}: {g:?} not base64", ctx()));
            assert_eq!(back, orig_text.as_bytes(), "{}: VARBINARY of text", ctx());
        }
        other => panic!("unexpected target type {other:?}"),
    }
}

/// Encodes a run of changes with identical column names and kinds into one block, builds the
/// bodies and reads them back.
fn check_group(mode: Mode, changes: &[Change<'_>]) {
    let first: Vec<Column<'_>> = changes[0].row.columns().collect();
    let names: Vec<&str> = first.iter().map(|c| c.name).collect();
    let types: Vec<StarRocksType> = first.iter().map(|c| target_type(mode, c.kind)).collect();
    let columns: Vec<TargetColumn> = first
        .iter()
        .zip(&types)
        .enumerate()
        .map(|(i, (c, ty))| TargetColumn::new(c.name, ty.clone(), i != 0, i == 0))
        .collect();
    // Names equal case-insensitively cannot be two StarRocks columns.
    let Ok(table) = TargetTable::new("fuzz", "t", columns, TableModel::PrimaryKeys) else {
        return;
    };
    let mut enc = match BodyEncoder::new(&table) {
        Ok(enc) => enc,
        // A column named like the operation column is refused, never loaded (finding #5).
        Err(EncodeError::ReservedColumn { .. })
            if names.iter().any(|n| n.eq_ignore_ascii_case(OP_COLUMN)) =>
        {
            return;
        }
        Err(e) => panic!("a PK table with a key must get an encoder: {e}"),
    };
    let _ = enc.headers(BodyFormat::Csv);
    let has_varbinary = types
        .iter()
        .any(|t| matches!(t, StarRocksType::VarBinary(_)));

    let mut accepted: Vec<(usize, ChangeOp)> = Vec::new();
    for (i, ch) in changes.iter().enumerate() {
        let before = (enc.block().data().len(), enc.block().len());
        let key_null = ch.row.columns().next().unwrap().value.is_null();
        match enc.push_row(ch.op, ch.row.columns()) {
            Ok(span) => {
                assert!(!key_null, "row with a NULL key accepted");
                let block = enc.block();
                assert_eq!(block.rows().last(), Some(&span));
                assert!(span.row.end <= block.data().len() && span.key.end <= block.keys().len());
                assert_eq!(span.key_hash, key_hash(block.key_bytes(&span)));
                let kb = block.key_bytes(&span);
                assert!(kb.len() >= 4);
                let klen = u32::from_le_bytes(kb[..4].try_into().unwrap()) as usize;
                assert_eq!(klen + 4, kb.len(), "key is one length-prefixed value");
                accepted.push((i, ch.op));
            }
            Err(e) => {
                // A failed push leaves the block as it was.
                assert_eq!(
                    before.1,
                    enc.block().len(),
                    "failed push changed the row count"
                );
                assert_eq!(before.0, enc.block().data().len(), "failed push left bytes");
                match (&e, mode) {
                    (EncodeError::Value { .. }, Mode::Varchar) => {
                        let too_long = ch.op == ChangeOp::Upsert
                            && ch.row.columns().any(|c| {
                                let len = match c.value {
                                    Value::Null => 0,
                                    Value::Text(s) => s.len(),
                                    Value::Bytes(b) => b.len() * 2,
                                };
                                len > MAX_VARCHAR_LEN as usize
                            });
                        assert!(
                            key_null || too_long,
                            "VARCHAR table rejected a valid row: {e} ({ch:?})"
                        );
                    }
                    (EncodeError::Value { .. }, Mode::Typed) => {}
                    // VARBINARY, or a JSON `null` document, in a row that needs a JSON body.
                    (EncodeError::Unrepresentable { .. }, Mode::Typed) => {}
                    _ => panic!("unexpected encode error {e:?} for {ch:?}"),
                }
            }
        }
    }
    let block = enc.block();
    assert_eq!(block.len(), accepted.len());

    // As a flusher loads them: the CSV rows in one body, the JSON rows in another.
    let mut bodies: Vec<(BodyFormat, Vec<usize>)> = [BodyFormat::Csv, BodyFormat::Json]
        .into_iter()
        .map(|f| {
            let rows = (0..block.len()).filter(|&r| block.rows()[r].format == f);
            (f, rows.collect())
        })
        .collect();
    assert_eq!(block.json_rows(), bodies[1].1.len());
    // And all of them in one JSON body, unless a CSV row holds a value JSON would change.
    if !has_varbinary {
        let mut builder = enc.body_builder(BodyFormat::Json).expect("body builder");
        match builder.push_block(block) {
            Ok(()) => bodies.push((BodyFormat::Json, (0..block.len()).collect())),
            Err(e) => assert!(
                matches!(e, EncodeError::Unrepresentable { .. }),
                "transcoding to JSON: {e:?}"
            ),
        }
    }
    for (format, in_body) in bodies.into_iter().filter(|(_, rows)| !rows.is_empty()) {
        let mut builder = enc.body_builder(format).expect("body builder");
        for &r in &in_body {
            builder
                .push_span(block, &block.rows()[r])
                .expect("push_span");
        }
        let accepted: Vec<(usize, ChangeOp)> = in_body.iter().map(|&r| accepted[r]).collect();
        let body = builder.finish();
        let rows = match format {
            BodyFormat::Csv => {
                // Framing is exact: no value holds a separator.
                let delims = body.iter().filter(|&&b| b == ROW_DELIMITER).count();
                let seps = body.iter().filter(|&&b| b == COLUMN_SEPARATOR).count();
                assert_eq!(delims, accepted.len(), "row delimiters in the CSV body");
                assert_eq!(
                    seps,
                    accepted.len() * names.len(),
                    "separators in the CSV body"
                );
                assert!(body.is_empty() || body.last() == Some(&ROW_DELIMITER));
                parse_csv(&body, names.len())
            }
            BodyFormat::Json => parse_json(&body, &names),
        };
        assert_eq!(rows.len(), accepted.len(), "{format:?} body row count");
        for ((fields, op), &(idx, want_op)) in rows.iter().zip(&accepted) {
            assert_eq!(*op, want_op.op_code());
            let cols: Vec<Column<'_>> = changes[idx].row.columns().collect();
            for (ci, (col, got)) in cols.iter().zip(fields).enumerate() {
                let ctx = || {
                    format!(
                        "{mode:?} {format:?} row {idx} {want_op:?} column {:?} ({:?} -> {:?}) value {:?}",
                        col.name, col.kind, types[ci], col.value
                    )
                };
                if want_op == ChangeOp::Delete && ci != 0 {
                    // Non-key columns of a delete are written as NULL (all of them are nullable).
                    assert!(
                        matches!(got, Got::Null),
                        "{}: delete non-key {got:?}",
                        ctx()
                    );
                } else {
                    check_field(&types[ci], col, got, &ctx);
                }
            }
        }
    }
}

fn signature<'a>(c: &Change<'a>) -> Vec<(&'a str, ValueKind)> {
    c.row.columns().map(|c| (c.name, c.kind)).collect()
}

/// The `encode_roundtrip` target: decode with both decoders, encode every row change into a
/// body for a table derived from the row's columns, read it back, compare.
pub fn check_roundtrip(data: &[u8]) {
    for format in [Format::Canal, Format::CloudCanal] {
        let mut dec = Decoder::new(DecodeOptions::new(format));
        let mut buf = data.to_vec();
        let Ok(Decoded::Rows(batch)) = dec.decode(&mut buf, &MessageKeys) else {
            continue;
        };
        let changes: Vec<Change<'_>> = batch.changes().collect();
        let mut start = 0;
        while start < changes.len() {
            let sig = signature(&changes[start]);
            let mut end = start + 1;
            while end < changes.len() && signature(&changes[end]) == sig {
                end += 1;
            }
            if !sig.is_empty() {
                for mode in [Mode::Varchar, Mode::Typed] {
                    check_group(mode, &changes[start..end]);
                }
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
        }
        assert!(base64_decode("Zg=").is_none());
    }

    #[test]
    fn examples_pass() {
        let Some(dir) = spec_examples() else {
            return;
        };
        for (file, format) in [
            ("canal.jsonl", Format::Canal),
            ("cloudcanal.jsonl", Format::CloudCanal),
        ] {
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            for line in text.lines() {
                check_decode(format, line.as_bytes());
                check_roundtrip(line.as_bytes());
            }
        }
    }

    #[test]
    fn csv_reader_splits_on_control_bytes_only() {
        let body = b"a\r\nb\x01\"q\x01\\N\x010\x02x\x01y\x01z\x011\x02";
        let rows = parse_csv(body, 3);
        assert_eq!(rows.len(), 2);
        assert!(matches!(&rows[0].0[0], Got::Text(s) if s == "a\r\nb"));
        assert!(matches!(&rows[0].0[1], Got::Text(s) if s == "\"q"));
        assert!(matches!(&rows[0].0[2], Got::Null));
        assert_eq!(rows[1].1, 1);
    }
}
