//! Encode rows, parse the Stream Load body back with parsers that share no code with the
//! encoder (the `csv` crate configured from the emitted headers, `serde_json`, a local base64
//! decoder), and compare with the input values.

use proptest::prelude::*;
use simd_json::{OwnedValue, StaticNode};
use starpipe::encode::{
    BodyBuilder, BodyEncoder, BodyFormat, EncodeError, EncodeOptions, EncodedBlock, UnknownColumns,
};
use starpipe::model::{ChangeOp, Column, Value, ValueKind};
use starpipe::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

// ---------------------------------------------------------------------------------------------
// Independent body parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Bytes(Vec<u8>),
    Json(simd_json::OwnedValue),
}

fn header<'h>(headers: &'h [(&'static str, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `\xNN` or a literal single byte.
fn separator_byte(v: &str) -> u8 {
    if let Some(hex) = v.strip_prefix("\\x") {
        assert_eq!(hex.len(), 2, "one-byte separator expected: {v}");
        u8::from_str_radix(hex, 16).unwrap()
    } else {
        assert_eq!(v.len(), 1);
        v.as_bytes()[0]
    }
}

/// Splits the `columns` header like SQL would: back-quoted identifiers with `` ` `` doubled.
fn parse_columns_header(h: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = h.chars().peekable();
    loop {
        let mut name = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            loop {
                match chars.next() {
                    Some('`') if chars.peek() == Some(&'`') => {
                        chars.next();
                        name.push('`');
                    }
                    Some('`') => break,
                    Some(c) => name.push(c),
                    None => panic!("unterminated identifier in {h:?}"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                name.push(c);
                chars.next();
            }
        }
        out.push(name);
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => panic!("unexpected {c:?} in {h:?}"),
        }
    }
    out
}

fn b64_decode(s: &[u8]) -> Vec<u8> {
    fn val(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 byte {c:#x}"),
        }
    }
    assert_eq!(s.len() % 4, 0, "unpadded base64");
    let mut out = Vec::new();
    for q in s.chunks(4) {
        let pad = q.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | val(c);
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

fn parse_json(text: &[u8]) -> OwnedValue {
    simd_json::to_owned_value(&mut text.to_vec()).expect("valid JSON")
}

struct Parsed {
    rows: Vec<(Vec<Cell>, u8)>,
}

fn parse_body(
    table: &TargetTable,
    format: BodyFormat,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> Parsed {
    let names = parse_columns_header(header(headers, "columns").unwrap());
    let expected_names: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.name.clone())
        .chain(["__op".to_string()])
        .collect();
    assert_eq!(names, expected_names, "columns header");
    let n = table.columns.len();
    let mut rows = Vec::new();
    match format {
        BodyFormat::Csv => {
            assert_eq!(header(headers, "format"), Some("csv"));
            assert!(header(headers, "enclose").is_none());
            assert!(header(headers, "escape").is_none());
            let sep = separator_byte(header(headers, "column_separator").unwrap());
            let term = separator_byte(header(headers, "row_delimiter").unwrap());
            // StarRocks' reader checks every row for UTF-8.
            assert!(std::str::from_utf8(body).is_ok(), "CSV body is not UTF-8");
            assert!(body.is_empty() || body.ends_with(&[term]));
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .delimiter(sep)
                .terminator(csv::Terminator::Any(term))
                .quoting(false)
                .double_quote(false)
                .flexible(false)
                .from_reader(body);
            for rec in rdr.byte_records() {
                let rec = rec.expect("csv record");
                assert_eq!(rec.len(), n + 1, "field count");
                let mut cells = Vec::new();
                for (i, c) in table.columns.iter().enumerate() {
                    let f = &rec[i];
                    cells.push(if f == b"\\N" {
                        Cell::Null
                    } else {
                        match c.ty {
                            StarRocksType::VarBinary(_) => Cell::Bytes(b64_decode(f)),
                            StarRocksType::Json => Cell::Json(parse_json(f)),
                            _ => Cell::Text(String::from_utf8(f.to_vec()).unwrap()),
                        }
                    });
                }
                let op = &rec[n];
                assert!(op == b"0" || op == b"1", "__op {op:?}");
                rows.push((cells, op[0] - b'0'));
            }
        }
        BodyFormat::Json => {
            assert_eq!(header(headers, "format"), Some("json"));
            assert_eq!(header(headers, "strip_outer_array"), Some("true"));
            // simd-json, because serde_json (without `float_roundtrip`) can be 1 ulp off.
            let OwnedValue::Array(objs) = parse_json(body) else {
                panic!("body is not a JSON array")
            };
            for o in objs.iter() {
                let OwnedValue::Object(o) = o else {
                    panic!("row is not an object: {o:?}")
                };
                assert_eq!(o.len(), n + 1, "keys in {o:?}");
                let mut cells = Vec::new();
                for c in &table.columns {
                    let v = o
                        .get(c.name.as_str())
                        .unwrap_or_else(|| panic!("key {}", c.name));
                    cells.push(match (&c.ty, v) {
                        (_, OwnedValue::Static(StaticNode::Null)) => Cell::Null,
                        (StarRocksType::Json, v) => Cell::Json(v.clone()),
                        (_, OwnedValue::String(s)) => Cell::Text(s.clone()),
                        (_, OwnedValue::Static(StaticNode::I64(i))) => Cell::Text(i.to_string()),
                        (_, OwnedValue::Static(StaticNode::U64(u))) => Cell::Text(u.to_string()),
                        (_, OwnedValue::Static(StaticNode::F64(f))) => Cell::Text(format!("{f:?}")),
                        (_, v) => panic!("unexpected JSON value {v:?}"),
                    });
                }
                let op = match o.get("__op") {
                    Some(OwnedValue::Static(StaticNode::I64(i))) => *i as u8,
                    Some(OwnedValue::Static(StaticNode::U64(u))) => *u as u8,
                    v => panic!("__op {v:?}"),
                };
                rows.push((cells, op));
            }
        }
    }
    Parsed { rows }
}

// ---------------------------------------------------------------------------------------------
// Expected values
// ---------------------------------------------------------------------------------------------

/// One generated input value and what StarRocks must end up parsing.
#[derive(Debug, Clone)]
struct Gen {
    kind: ValueKind,
    value: GenValue,
}

#[derive(Debug, Clone)]
enum GenValue {
    Null,
    Text(String),
    Bytes(Vec<u8>),
}

impl Gen {
    fn value(&self) -> Value<'_> {
        match &self.value {
            GenValue::Null => Value::Null,
            GenValue::Text(s) => Value::Text(s),
            GenValue::Bytes(b) => Value::Bytes(b),
        }
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Compares a parsed cell with the input for the column type.
fn assert_cell(ty: &StarRocksType, input: &Gen, got: &Cell, ctx: &str) {
    match (&input.value, got) {
        (GenValue::Null, Cell::Null) => {}
        (GenValue::Null, other) => panic!("{ctx}: NULL came back as {other:?}"),
        (_, Cell::Null) => panic!("{ctx}: {input:?} came back as NULL"),
        (GenValue::Bytes(b), got) => match ty {
            StarRocksType::VarBinary(_) => assert_eq!(got, &Cell::Bytes(b.clone()), "{ctx}"),
            _ => assert_eq!(got, &Cell::Text(hex_upper(b)), "{ctx}"),
        },
        (GenValue::Text(s), got) => match ty {
            StarRocksType::Float | StarRocksType::Double => {
                let Cell::Text(t) = got else {
                    panic!("{ctx}: {got:?}")
                };
                let (a, b): (f64, f64) = (s.parse().unwrap(), t.parse().unwrap());
                assert_eq!(a.to_bits(), b.to_bits(), "{ctx}: {s} vs {t}");
            }
            StarRocksType::Json => {
                assert_eq!(got, &Cell::Json(parse_json(s.as_bytes())), "{ctx}");
            }
            StarRocksType::Boolean => {
                let want = if truthy(s) { "1" } else { "0" };
                assert_eq!(got, &Cell::Text(want.into()), "{ctx}");
            }
            StarRocksType::VarBinary(_) => {
                assert_eq!(got, &Cell::Bytes(s.as_bytes().to_vec()), "{ctx}")
            }
            _ => assert_eq!(got, &Cell::Text(s.clone()), "{ctx}"),
        },
    }
}

/// A generated BOOLEAN value's truth: `true`, or a non-zero integer (a MySQL BOOL holds any
/// TINYINT value).
fn truthy(s: &str) -> bool {
    s.eq_ignore_ascii_case("true") || s.parse::<i128>().is_ok_and(|v| v != 0)
}

/// The logical key of a row, for checking key bytes (DATETIME fractions normalised).
fn logical_key(table: &TargetTable, row: &[Gen]) -> Vec<String> {
    table
        .key
        .iter()
        .map(|&k| match (&table.columns[k].ty, &row[k].value) {
            (StarRocksType::DateTime, GenValue::Text(s)) if s.len() > 19 => {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            (StarRocksType::Boolean, GenValue::Text(s)) => truthy(s).to_string(),
            (_, GenValue::Text(s)) => s.clone(),
            (_, GenValue::Bytes(b)) => hex_upper(b),
            (_, GenValue::Null) => unreachable!("NULL key"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const NAME_SUFFIXES: &[&str] = &[
    "id",
    "Name",
    "order-id",
    "行号",
    "with space",
    "back`tick",
    "create",
    "Ümlaut",
    "__op_like",
];

fn key_type() -> impl Strategy<Value = StarRocksType> {
    prop_oneof![
        Just(StarRocksType::Int),
        Just(StarRocksType::BigInt),
        Just(StarRocksType::LargeInt),
        Just(StarRocksType::Varchar(65533)),
        Just(StarRocksType::Date),
        Just(StarRocksType::DateTime),
        Just(StarRocksType::TinyInt),
        Just(StarRocksType::Boolean),
    ]
}

fn any_type() -> impl Strategy<Value = StarRocksType> {
    prop_oneof![
        Just(StarRocksType::TinyInt),
        Just(StarRocksType::SmallInt),
        Just(StarRocksType::Int),
        Just(StarRocksType::BigInt),
        Just(StarRocksType::LargeInt),
        Just(StarRocksType::Boolean),
        Just(StarRocksType::Float),
        Just(StarRocksType::Double),
        (1u8..=76)
            .prop_flat_map(|p| (Just(p), 0..=p))
            .prop_map(|(precision, scale)| StarRocksType::Decimal { precision, scale }),
        Just(StarRocksType::Date),
        Just(StarRocksType::DateTime),
        Just(StarRocksType::Char(255)),
        Just(StarRocksType::Varchar(1_048_576)),
        Just(StarRocksType::Varchar(65533)),
        Just(StarRocksType::Json),
        Just(StarRocksType::VarBinary(None)),
    ]
}

fn table_strategy() -> impl Strategy<Value = TargetTable> {
    (
        prop::collection::vec(key_type(), 1..=3),
        prop::collection::vec((any_type(), any::<bool>()), 0..=17),
        prop::collection::vec(0..NAME_SUFFIXES.len(), 20),
    )
        .prop_map(|(keys, others, suffixes)| {
            let mut cols = Vec::new();
            for (i, ty) in keys.into_iter().enumerate() {
                let name = format!("k{i}_{}", NAME_SUFFIXES[suffixes[i]]);
                cols.push(TargetColumn::new(name, ty, false, true));
            }
            let nk = cols.len();
            for (j, (ty, nullable)) in others.into_iter().enumerate() {
                let name = format!("c{j}_{}", NAME_SUFFIXES[suffixes[nk + j]]);
                cols.push(TargetColumn::new(name, ty, nullable, false));
            }
            TargetTable::new("Shop-EU", "Order Items", cols, TableModel::PrimaryKeys).unwrap()
        })
}

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '\u{0}', '\u{1}', '\u{2}', '\u{7}', '\t', '\n', '\r', '"', '\'', '\\', ',', '|', 'N',
            '`', '😀', '🚀', '张', '\u{2028}', '\u{2029}', 'é', ' ', '\u{7f}', '\u{feff}', '\u{fffd}',
        ]),
        2 => any::<char>(),
        3 => prop::char::range('a', 'z'),
    ]
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(tricky_char(), 0..24).prop_map(|v| v.into_iter().collect()),
        1 => prop::sample::select(vec![
            "", "\\N", "\\\\N", "N", "null", "NULL", "\\", "\"", "\u{1}", "\u{2}", " ", "\\N ",
        ])
        .prop_map(String::from),
    ]
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range('0', '9'), n..=n).prop_map(|v| v.into_iter().collect())
}

fn int_in(min: i128, max: i128) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => prop::sample::select(vec![min, max, 0, -1, 1])
            .prop_filter("range", move |v| *v >= min && *v <= max),
        4 => min..=max,
    ]
    .prop_map(|v| v.to_string())
}

fn date_value() -> impl Strategy<Value = String> {
    (0u32..=9999, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| {
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let days = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        format!("{y:04}-{m:02}-{:02}", d.min(days))
    })
}

fn datetime_value() -> impl Strategy<Value = String> {
    (
        date_value(),
        0u32..24,
        0u32..60,
        0u32..60,
        0usize..=6,
        0u32..1_000_000,
    )
        .prop_map(|(d, h, mi, s, fsp, frac)| {
            let mut t = format!("{d} {h:02}:{mi:02}:{s:02}");
            if fsp > 0 {
                let f = format!("{frac:06}");
                t.push('.');
                t.push_str(&f[..fsp]);
            }
            t
        })
}

fn json_value() -> BoxedStrategy<String> {
    prop_oneof![
        prop::sample::select(vec![
            "null",
            "[]",
            "{}",
            "\"just a string\"",
            "{\"a\": {\"b\": [1, 2.5, {\"c\": null}]}, \"s\": \"x\\\"y\", \"u\": \"é\"}",
            "-0.0",
            "1.0E308",
            "true",
        ])
        .prop_map(String::from),
        text_value().prop_map(|s| serde_json::to_string(&s).unwrap()),
        text_value().prop_map(|s| serde_json::json!({ s.clone(): [s, 1] }).to_string()),
    ]
    .boxed()
}

fn value_for(ty: &StarRocksType) -> BoxedStrategy<Gen> {
    let text = |kind: ValueKind, s: BoxedStrategy<String>| {
        s.prop_map(move |s| Gen {
            kind,
            value: GenValue::Text(s),
        })
        .boxed()
    };
    match ty {
        StarRocksType::TinyInt => text(ValueKind::Integer, int_in(-128, 127).boxed()),
        StarRocksType::SmallInt => text(ValueKind::Integer, int_in(-32768, 32767).boxed()),
        StarRocksType::Int => text(
            ValueKind::Integer,
            int_in(i32::MIN as i128, i32::MAX as i128).boxed(),
        ),
        StarRocksType::BigInt => text(
            ValueKind::Integer,
            int_in(i64::MIN as i128, i64::MAX as i128).boxed(),
        ),
        StarRocksType::LargeInt => text(ValueKind::Integer, int_in(i128::MIN, i128::MAX).boxed()),
        StarRocksType::Boolean => text(
            ValueKind::Integer,
            prop::sample::select(vec![
                "0", "1", "true", "false", "TRUE", "5", "-1", "127", "-128",
            ])
            .prop_map(String::from)
            .boxed(),
        ),
        StarRocksType::Float => text(
            ValueKind::Float,
            prop_oneof![
                any::<f32>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| format!("{:?}", f as f64)),
                prop::sample::select(vec!["3.4028235E38", "1.4E-45", "-0.0", "0.1", "100.0"])
                    .prop_map(String::from),
            ]
            .boxed(),
        ),
        StarRocksType::Double => text(
            ValueKind::Float,
            prop_oneof![
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| format!("{f:?}")),
                prop::sample::select(vec![
                    "1.0E308",
                    "-4.9E-324",
                    "1.2345678901234567E7",
                    "-0.0",
                    "100.0"
                ])
                .prop_map(String::from),
            ]
            .boxed(),
        ),
        StarRocksType::Decimal { precision, scale } => {
            let (p, s) = (*precision as usize, *scale as usize);
            text(
                ValueKind::Decimal,
                (0..=p - s, 0..=s, any::<bool>())
                    .prop_flat_map(|(i, f, neg)| (digits(i), digits(f), Just(neg)))
                    .prop_map(|(i, f, neg)| {
                        let i = i.trim_start_matches('0');
                        let mut t = String::new();
                        if neg {
                            t.push('-');
                        }
                        t.push_str(if i.is_empty() { "0" } else { i });
                        if !f.is_empty() {
                            t.push('.');
                            t.push_str(&f);
                        }
                        t
                    })
                    .boxed(),
            )
        }
        StarRocksType::Date => text(ValueKind::Date, date_value().boxed()),
        StarRocksType::DateTime => text(ValueKind::DateTime, datetime_value().boxed()),
        StarRocksType::Char(_) | StarRocksType::Varchar(_) => prop_oneof![
            4 => text_value().prop_map(|s| Gen { kind: ValueKind::Text, value: GenValue::Text(s) }),
            1 => prop::collection::vec(any::<u8>(), 0..32)
                .prop_map(|b| Gen { kind: ValueKind::Binary, value: GenValue::Bytes(b) }),
        ]
        .boxed(),
        StarRocksType::Json => text(ValueKind::Json, json_value()),
        StarRocksType::VarBinary(_) => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| Gen {
                kind: ValueKind::Binary,
                value: GenValue::Bytes(b),
            })
            .boxed(),
        StarRocksType::Other(_) => unreachable!(),
    }
}

fn row_for(table: &TargetTable) -> BoxedStrategy<Vec<Gen>> {
    let cells: Vec<BoxedStrategy<Gen>> = table
        .columns
        .iter()
        .map(|c| {
            let v = value_for(&c.ty);
            if c.nullable {
                prop_oneof![
                    1 => Just(Gen { kind: ValueKind::Text, value: GenValue::Null }),
                    4 => v,
                ]
                .boxed()
            } else {
                v
            }
        })
        .collect();
    cells.boxed()
}

#[derive(Debug, Clone)]
struct Case {
    table: TargetTable,
    rows: Vec<(ChangeOp, Vec<Gen>)>,
    /// Per row: message column order (a permutation) and whether names are upper-cased.
    shapes: Vec<(Vec<usize>, bool)>,
    split: usize,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    table_strategy()
        .prop_flat_map(|table| {
            let n = table.columns.len();
            let row = (
                prop_oneof![4 => Just(ChangeOp::Upsert), 1 => Just(ChangeOp::Delete)],
                row_for(&table),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                any::<bool>(),
            );
            (
                Just(table),
                prop::collection::vec(row, 1..24),
                any::<prop::sample::Index>(),
            )
        })
        .prop_map(|(table, rows, split)| {
            let split = split.index(rows.len() + 1);
            let (rows, shapes) = rows
                .into_iter()
                .map(|(op, r, order, upper)| ((op, r), (order, upper)))
                .unzip();
            Case {
                table,
                rows,
                shapes,
                split,
            }
        })
}

fn is_hard_text(s: &str) -> bool {
    s == "\\N" || s.contains(['\u{1}', '\u{2}'])
}

/// What the encoder must do with a row, from the documented rules: (needs JSON, JSON would
/// change it).
fn row_needs(table: &TargetTable, op: ChangeOp, row: &[Gen]) -> (bool, bool) {
    let mut hard = false;
    let mut not_json = false;
    for (i, (c, g)) in table.columns.iter().zip(row).enumerate() {
        if op == ChangeOp::Delete && !c.is_key {
            continue;
        }
        let GenValue::Text(s) = &g.value else {
            continue;
        };
        match c.ty {
            StarRocksType::Char(_) | StarRocksType::Varchar(_) => {
                hard |= is_hard_text(s) || (i == 0 && s.starts_with('\u{feff}'))
            }
            StarRocksType::Json => not_json |= s.trim() == "null",
            _ => {}
        }
    }
    (hard, not_json)
}

fn run_case(case: &Case) {
    let table = &case.table;
    // Every row carries a column the target lacks, dropped.
    let drop = || EncodeOptions {
        unknown: UnknownColumns::Drop,
        ..EncodeOptions::default()
    };
    let mut encoders = [
        BodyEncoder::with_options(table, drop()).unwrap(),
        BodyEncoder::with_options(table, drop()).unwrap(),
    ];
    let has_varbinary = table
        .columns
        .iter()
        .any(|c| matches!(c.ty, StarRocksType::VarBinary(_)));
    // (encoder, row index in its block, input row)
    let mut accepted: Vec<(usize, usize, usize)> = Vec::new();
    // Accepted CSV rows holding a value a JSON body would change, by input row.
    let mut json_unsafe = std::collections::HashSet::new();
    for (i, ((op, row), (order, upper))) in case.rows.iter().zip(&case.shapes).enumerate() {
        let e = usize::from(i >= case.split);
        let names: Vec<String> = table
            .columns
            .iter()
            .map(|c| {
                if *upper {
                    c.name.to_uppercase()
                } else {
                    c.name.clone()
                }
            })
            .collect();
        let mut cols: Vec<Column<'_>> = order
            .iter()
            .filter(|&&j| *op == ChangeOp::Upsert || table.columns[j].is_key || j % 2 == 0)
            .map(|&j| Column {
                name: &names[j],
                kind: row[j].kind,
                value: row[j].value(),
            })
            .collect();
        cols.push(Column {
            name: "not_in_target",
            kind: ValueKind::Text,
            value: Value::Text("dropped"),
        });
        let before = encoders[e].block().len();
        let before_json = encoders[e].block().json_rows();
        let (hard, not_json) = row_needs(table, *op, row);
        // A row with a value unquoted CSV cannot frame is JSON, if JSON can carry it.
        let expect_ok = !hard || !(has_varbinary || not_json);
        match encoders[e].push_row(*op, cols) {
            Ok(span) => {
                assert!(
                    expect_ok,
                    "row {i} should not encode (hard {hard}, not_json {not_json})"
                );
                let block = encoders[e].block();
                assert_eq!(block.len(), before + 1);
                assert_eq!(block.rows().last(), Some(&span));
                let want = if hard {
                    BodyFormat::Json
                } else {
                    BodyFormat::Csv
                };
                assert_eq!(span.format, want, "row {i}");
                if !hard && (not_json || has_varbinary) {
                    json_unsafe.insert(i);
                }
                accepted.push((e, before, i));
            }
            Err(EncodeError::Unrepresentable { .. }) => {
                assert!(!expect_ok, "row {i} should encode");
                assert_eq!(encoders[e].block().len(), before);
            }
            Err(err) => panic!("row {i}: {err}"),
        }
        let block = encoders[e].block();
        let json_rows = block
            .rows()
            .iter()
            .filter(|r| r.format == BodyFormat::Json)
            .count();
        assert_eq!(block.json_rows(), json_rows);
        assert!(block.json_rows() >= before_json);
    }
    for enc in &mut encoders {
        let unknown = enc.take_unknown_columns();
        assert!(unknown.len() <= 1, "{unknown:?}");
        assert!(enc.take_unknown_columns().is_empty());
    }
    let blocks: Vec<EncodedBlock> = encoders.iter_mut().map(|e| e.take_block(None)).collect();
    for b in &blocks {
        let spans_ok = b.rows().windows(2).all(|w| w[0].row.end == w[1].row.start);
        assert!(spans_ok, "row spans are contiguous");
        assert_eq!(b.rows().last().map_or(0, |s| s.row.end), b.data().len());
    }

    // Keys: equal bytes exactly when the logical keys are equal.
    let all: Vec<(&EncodedBlock, usize, usize)> = accepted
        .iter()
        .map(|&(e, r, i)| (&blocks[e], r, i))
        .collect();
    for (a, &(ba, ra, ia)) in all.iter().enumerate() {
        for &(bb, rb, ib) in &all[a + 1..] {
            let (sa, sb) = (&ba.rows()[ra], &bb.rows()[rb]);
            let same_bytes = ba.key_bytes(sa) == bb.key_bytes(sb);
            let same_key =
                logical_key(table, &case.rows[ia].1) == logical_key(table, &case.rows[ib].1);
            assert_eq!(
                same_bytes, same_key,
                "key bytes vs logical key, rows {ia} {ib}"
            );
            if same_bytes {
                assert_eq!(sa.key_hash, sb.key_hash);
            }
        }
    }

    // As a flusher loads them: the CSV rows in one body, then the JSON rows in another.
    let is_json =
        |&(e, r, _): &(usize, usize, usize)| blocks[e].rows()[r].format == BodyFormat::Json;
    let (json_rows, csv_rows): (Vec<_>, Vec<_>) = accepted.iter().partition(|row| is_json(row));
    check_body(case, &blocks, BodyFormat::Csv, &csv_rows);
    check_body(case, &blocks, BodyFormat::Json, &json_rows);
    // And all of them in one JSON body, which refuses a value JSON would change.
    if accepted.iter().any(|(_, _, i)| json_unsafe.contains(i)) {
        let mut builder = BodyBuilder::new(table, BodyFormat::Json);
        let refused = builder.as_mut().map_or(true, |b| {
            accepted
                .iter()
                .any(|&(e, r, _)| b.push_span(&blocks[e], &blocks[e].rows()[r]).is_err())
        });
        assert!(refused, "a value JSON would change was transcoded");
    } else if !has_varbinary {
        check_body(case, &blocks, BodyFormat::Json, &accepted);
    }
    // A block of CSV rows only is copied into a CSV body whole.
    for b in blocks.iter().filter(|b| b.json_rows() == 0) {
        let mut builder = BodyBuilder::new(table, BodyFormat::Csv).unwrap();
        builder.push_block(b).unwrap();
        let (headers, body) = (builder.headers(), builder.finish());
        let parsed = parse_body(table, BodyFormat::Csv, &headers, &body);
        assert_eq!(parsed.rows.len(), b.len());
    }
}

/// Builds a body of `format` from `rows` (encoder, row in its block, input row) of `blocks`,
/// parses it as StarRocks would and compares every value with the input.
fn check_body(
    case: &Case,
    blocks: &[EncodedBlock],
    format: BodyFormat,
    rows: &[(usize, usize, usize)],
) {
    let table = &case.table;
    let mut builder = match BodyBuilder::new(table, format) {
        Ok(b) => b,
        // Tables with VARBINARY columns have no JSON bodies, and then no JSON rows either.
        Err(_) if rows.is_empty() => return,
        Err(e) => panic!("{format:?} builder: {e}"),
    };
    for &(e, r, _) in rows {
        builder.push_span(&blocks[e], &blocks[e].rows()[r]).unwrap();
    }
    let headers = builder.headers();
    let body = builder.finish();
    let parsed = parse_body(table, format, &headers, &body);
    assert_eq!(parsed.rows.len(), rows.len());
    for ((cells, op), &(_, _, i)) in parsed.rows.iter().zip(rows) {
        let (in_op, input) = &case.rows[i];
        assert_eq!(*op, in_op.op_code(), "row {i} op");
        for (j, c) in table.columns.iter().enumerate() {
            let ctx = format!("row {i} ({in_op:?}, {format:?}) column {} {}", c.name, c.ty);
            if *in_op == ChangeOp::Delete && !c.is_key {
                // StarRocks ignores non-key values of deletes; they must only parse.
                if c.nullable {
                    assert_eq!(cells[j], Cell::Null, "{ctx}");
                } else {
                    assert_ne!(cells[j], Cell::Null, "{ctx}");
                }
                continue;
            }
            assert_cell(&c.ty, &input[j], &cells[j], &ctx);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_parse_roundtrip(case in case_strategy()) {
        run_case(&case);
    }
}

// ---------------------------------------------------------------------------------------------
// The example files' tricky values (formats.md §6), typed in by hand
// ---------------------------------------------------------------------------------------------

fn col(name: &str, ty: &str, nullable: bool, key: bool) -> TargetColumn {
    TargetColumn::new(name, StarRocksType::parse(ty).unwrap(), nullable, key)
}

fn t(name: &'static str, kind: ValueKind, v: &'static str) -> (&'static str, Gen) {
    (
        name,
        Gen {
            kind,
            value: GenValue::Text(v.to_string()),
        },
    )
}

fn b(name: &'static str, v: &[u8]) -> (&'static str, Gen) {
    (
        name,
        Gen {
            kind: ValueKind::Binary,
            value: GenValue::Bytes(v.to_vec()),
        },
    )
}

fn null(name: &'static str) -> (&'static str, Gen) {
    (
        name,
        Gen {
            kind: ValueKind::Text,
            value: GenValue::Null,
        },
    )
}

/// Encodes the rows (all upserts), parses the body back, checks every value, returns the format.
fn roundtrip_rows(table: &TargetTable, rows: &[Vec<(&'static str, Gen)>]) -> BodyFormat {
    let mut enc = BodyEncoder::new(table).unwrap();
    for row in rows {
        let cols: Vec<Column<'_>> = row
            .iter()
            .map(|(n, g)| Column {
                name: n,
                kind: g.kind,
                value: g.value(),
            })
            .collect();
        enc.push_row(ChangeOp::Upsert, cols).unwrap();
    }
    let block = enc.take_block(None);
    let mut builder = BodyBuilder::new(table, block.format()).unwrap();
    builder.push_block(&block).unwrap();
    let headers = builder.headers();
    let body = builder.finish();
    let parsed = parse_body(table, block.format(), &headers, &body);
    assert_eq!(parsed.rows.len(), rows.len());
    for ((cells, op), row) in parsed.rows.iter().zip(rows) {
        assert_eq!(*op, 0);
        for (name, g) in row {
            let j = table.column_index(name).unwrap();
            assert_cell(&table.columns[j].ty, g, &cells[j], name);
        }
    }
    block.format()
}

fn users() -> TargetTable {
    TargetTable::new(
        "shop",
        "users",
        vec![
            col("id", "int(11)", false, true),
            col("name", "varchar(256)", true, false),
            col("bio", "varchar(1048576)", true, false),
            col("email", "varchar(512)", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}

#[test]
fn canal_line_14_unicode_and_escapes() {
    let bio = "quote:\" backslash:\\ slash:/ nl:\n cr:\r tab:\t nul:\u{0} bell:\u{7} ls:\u{2028} rocket:🚀";
    let rows = vec![vec![
        t("id", ValueKind::Integer, "8"),
        t("name", ValueKind::Text, "张三 😀 Ünïcödé"),
        t("bio", ValueKind::Text, bio),
        t("email", ValueKind::Text, "o'brien@example.com"),
    ]];
    // None of these need more than unquoted CSV.
    assert_eq!(roundtrip_rows(&users(), &rows), BodyFormat::Csv);
}

#[test]
fn canal_line_15_long_text() {
    let bio: &'static str = Box::leak(format!("{}END", "x".repeat(70_000)).into_boxed_str());
    assert_eq!(bio.len(), 70_003);
    let rows = vec![vec![
        t("id", ValueKind::Integer, "9"),
        t("name", ValueKind::Text, "long"),
        t("bio", ValueKind::Text, bio),
        null("email"),
    ]];
    assert_eq!(roundtrip_rows(&users(), &rows), BodyFormat::Csv);
}

#[test]
fn canal_lines_16_17_numbers() {
    let table = TargetTable::new(
        "lab",
        "num_demo",
        vec![
            col("id", "int(11)", false, true),
            col("c_tiny_u", "smallint(6)", true, false),
            col("c_int_u", "bigint(20)", true, false),
            col("c_big_u", "largeint(40)", true, false),
            col("c_big", "bigint(20)", true, false),
            col("c_dec", "decimal256(65,30)", true, false),
            col("c_float", "float", true, false),
            col("c_double", "double", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    use ValueKind::{Decimal as D, Float as F, Integer as I};
    let rows = vec![
        vec![
            t("id", I, "1"),
            t("c_tiny_u", I, "255"),
            t("c_int_u", I, "4294967295"),
            t("c_big_u", I, "18446744073709551615"),
            t("c_big", I, "9223372036854775807"),
            t(
                "c_dec",
                D,
                "99999999999999999999999999999999999.999999999999999999999999999999",
            ),
            t("c_float", F, "-0.0"),
            t("c_double", F, "1.0E308"),
        ],
        vec![
            t("id", I, "2"),
            t("c_tiny_u", I, "0"),
            t("c_int_u", I, "0"),
            t("c_big_u", I, "9223372036854775808"),
            t("c_big", I, "-9223372036854775808"),
            t("c_dec", D, "-0.000000000000000000000000000001"),
            t("c_float", F, "1.4E-45"),
            t("c_double", F, "-4.9E-324"),
        ],
        vec![
            t("id", I, "3"),
            t("c_tiny_u", I, "128"),
            t("c_int_u", I, "2147483648"),
            t("c_big_u", I, "0"),
            t("c_big", I, "0"),
            t("c_dec", D, "0.000000000000000000000000000000"),
            t("c_float", F, "3.4028235E38"),
            t("c_double", F, "1.2345678901234567E7"),
        ],
        vec![
            t("id", I, "4"),
            t("c_tiny_u", I, "127"),
            t("c_int_u", I, "2147483647"),
            t("c_big_u", I, "9223372036854775807"),
            t("c_big", I, "-1"),
            t("c_dec", D, "12.500000000000000000000000000000"),
            t("c_float", F, "0.1"),
            t("c_double", F, "100.0"),
        ],
    ];
    assert_eq!(roundtrip_rows(&table, &rows), BodyFormat::Csv);

    // The same 65-digit decimal cannot go into a pre-4.0 DECIMAL(38,x): an error, never rounding.
    let narrow = TargetTable::new(
        "lab",
        "num_demo",
        vec![
            col("id", "int(11)", false, true),
            col("c_dec", "decimal128(38,30)", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    let mut enc = BodyEncoder::new(&narrow).unwrap();
    let err = enc
        .push_row(
            ChangeOp::Upsert,
            [
                Column {
                    name: "id",
                    kind: I,
                    value: Value::Text("1"),
                },
                Column {
                    name: "c_dec",
                    kind: D,
                    value: Value::Text(
                        "99999999999999999999999999999999999.999999999999999999999999999999",
                    ),
                },
            ],
        )
        .unwrap_err();
    assert!(
        matches!(err, EncodeError::Value { ref column, .. } if column == "c_dec"),
        "{err}"
    );
}

#[test]
fn canal_line_21_binary() {
    let table = TargetTable::new(
        "lab",
        "bin_demo",
        vec![
            col("id", "int(11)", false, true),
            col("c_char", "char(40)", true, false),
            col("c_bin", "varbinary(4)", true, false),
            col("c_varbin", "varbinary(16)", true, false),
            col("c_blob", "varbinary", true, false),
            col("c_text", "varchar(65535)", true, false),
            col("c_geo", "varbinary", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    let geo: Vec<u8> = [
        "00000000",
        "0101000000",
        "000000000000F03F",
        "0000000000000040",
    ]
    .concat()
    .as_bytes()
    .chunks(2)
    .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap())
    .collect();
    assert_eq!(geo.len(), 25);
    let rows = vec![
        vec![
            t("id", ValueKind::Integer, "1"),
            t("c_char", ValueKind::Text, "abc"),
            b("c_bin", &[0x00, 0x01, 0x7F, 0x80]),
            b("c_varbin", &[0xFF, 0xFE, 0x3C, 0x26, 0x2D]),
            b("c_blob", b"hello\x00world"),
            t("c_text", ValueKind::Text, "plain text ✓"),
            b("c_geo", &geo),
        ],
        vec![
            t("id", ValueKind::Integer, "2"),
            t("c_char", ValueKind::Text, ""),
            null("c_bin"),
            b("c_varbin", &[]),
            null("c_blob"),
            t("c_text", ValueKind::Text, ""),
            null("c_geo"),
        ],
    ];
    assert_eq!(roundtrip_rows(&table, &rows), BodyFormat::Csv);

    // The same bytes into VARCHAR columns come back as MySQL HEX() text.
    let as_text = TargetTable::new(
        "lab",
        "bin_demo",
        vec![
            col("id", "int(11)", false, true),
            col("c_varbin", "varchar(32)", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    roundtrip_rows(
        &as_text,
        &[vec![
            t("id", ValueKind::Integer, "1"),
            b("c_varbin", &[0xFF, 0xFE, 0x3C, 0x26, 0x2D]),
        ]],
    );
}

#[test]
fn canal_lines_22_23_json() {
    let table = TargetTable::new(
        "lab",
        "misc_demo",
        vec![
            col("id", "int(11)", false, true),
            col("c_json", "json", true, false),
            col("c_enum", "varchar(24)", true, false),
            col("c_set", "varchar(32)", true, false),
            col("c_bit8", "smallint", true, false),
            col("c_bit1", "boolean", true, false),
            col("c_bit64", "largeint", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    use ValueKind::{Integer as I, Json as J, Text as T};
    let rows = vec![
        vec![
            t("id", I, "1"),
            t(
                "c_json",
                J,
                "{\"a\": {\"b\": [1, 2.5, {\"c\": null}]}, \"s\": \"x\\\"y\", \"u\": \"é\"}",
            ),
            t("c_enum", T, "small"),
            t("c_set", T, "a"),
            t("c_bit8", I, "0"),
            t("c_bit1", I, "0"),
            t("c_bit64", I, "0"),
        ],
        vec![
            t("id", I, "2"),
            t("c_json", J, "null"),
            null("c_enum"),
            null("c_set"),
            null("c_bit8"),
            null("c_bit1"),
            null("c_bit64"),
        ],
        vec![
            t("id", I, "3"),
            null("c_json"),
            null("c_enum"),
            null("c_set"),
            null("c_bit8"),
            null("c_bit1"),
            null("c_bit64"),
        ],
        vec![
            t("id", I, "4"),
            t("c_json", J, "[]"),
            t("c_enum", T, "medium"),
            t("c_set", T, "a,c"),
            t("c_bit8", I, "165"),
            t("c_bit1", I, "1"),
            t("c_bit64", I, "18446744073709551615"),
        ],
        vec![
            t("id", I, "5"),
            t("c_json", J, "{}"),
            t("c_enum", T, ""),
            t("c_set", T, ""),
            null("c_bit8"),
            null("c_bit1"),
            null("c_bit64"),
        ],
        vec![
            t("id", I, "6"),
            t("c_json", J, "\"just a string\""),
            t("c_enum", T, "large"),
            t("c_set", T, "a,b,c,d"),
            null("c_bit8"),
            null("c_bit1"),
            t("c_bit64", I, "9223372036854775808"),
        ],
    ];
    assert_eq!(roundtrip_rows(&table, &rows), BodyFormat::Csv);
}

#[test]
fn hard_text_makes_its_row_json_and_keeps_the_rows_around_it() {
    let rows = vec![
        vec![
            t("id", ValueKind::Integer, "1"),
            t("name", ValueKind::Text, "before"),
            null("bio"),
            t("email", ValueKind::Text, "a\tb\nc\"d\\e"),
        ],
        vec![
            t("id", ValueKind::Integer, "2"),
            t("name", ValueKind::Text, "\\N"),
            t("bio", ValueKind::Text, "sep\u{1}and\u{2}delim"),
            t("email", ValueKind::Text, ""),
        ],
        vec![
            t("id", ValueKind::Integer, "3"),
            t("name", ValueKind::Text, "after"),
            t("bio", ValueKind::Text, "\\\\N"),
            null("email"),
        ],
    ];
    assert_eq!(roundtrip_rows(&users(), &rows), BodyFormat::Json);
}

/// A MySQL BOOL / BOOLEAN column holds any TINYINT value (issue 16). Decoded from canal-json
/// (`bool`, `boolean` and `tinyint(1)` alike) and loaded into a StarRocks BOOLEAN column it is
/// `0` for zero and `1` otherwise; into a TINYINT column it keeps its value.
#[test]
fn mysql_bool_into_boolean_and_tinyint_columns() {
    use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};
    let table = TargetTable::new(
        "lab",
        "flags",
        vec![
            col("id", "int(11)", false, true),
            col("a_bool", "boolean", true, false),
            col("a_tiny", "tinyint(4)", true, false),
            col("b_bool", "boolean", true, false),
            col("b_tiny", "tinyint(4)", true, false),
            col("c_bool", "boolean", true, false),
            col("c_tiny", "tinyint(4)", true, false),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap();
    let values = ["5", "-128", "127", "-1", "0", "1"];
    let rows: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                r#"{{"id":"{i}","a_bool":"{v}","a_tiny":"{v}","b_bool":"{v}","b_tiny":"{v}","c_bool":"{v}","c_tiny":"{v}"}}"#
            )
        })
        .collect();
    let message = format!(
        r#"{{"type":"INSERT","database":"lab","table":"flags","isDdl":false,"pkNames":["id"],"mysqlType":{{"id":"int(11)","a_bool":"bool","a_tiny":"bool","b_bool":"boolean","b_tiny":"boolean","c_bool":"tinyint(1)","c_tiny":"tinyint(1)"}},"data":[{}]}}"#,
        rows.join(",")
    );
    let mut decoder = Decoder::new(DecodeOptions::new(Format::Canal));
    let mut input = message.into_bytes();
    let Decoded::Rows(batch) = decoder.decode(&mut input, &MessageKeys).unwrap() else {
        panic!("not rows")
    };
    let mut enc = BodyEncoder::new(&table).unwrap();
    for change in batch.changes() {
        for c in change.row.columns() {
            assert_eq!(c.kind, ValueKind::Integer, "{}", c.name);
        }
        enc.push_row(change.op, change.row.columns()).unwrap();
    }
    let block = enc.take_block(None);
    let mut builder = BodyBuilder::new(&table, block.format()).unwrap();
    builder.push_block(&block).unwrap();
    let headers = builder.headers();
    let body = builder.finish();
    let parsed = parse_body(&table, block.format(), &headers, &body);
    assert_eq!(parsed.rows.len(), values.len());
    for ((cells, _), v) in parsed.rows.iter().zip(values) {
        let truth = if v == "0" { "0" } else { "1" };
        for (j, c) in table.columns.iter().enumerate().skip(1) {
            let want = if c.name.ends_with("_bool") { truth } else { v };
            assert_eq!(cells[j], Cell::Text(want.into()), "{} = {v}", c.name);
        }
    }
}
