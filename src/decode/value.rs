//! Value handling shared by both formats: source column types (`mysqlType` / `dbValType`) and
//! the conversion of one cell into its canonical text (formats.md §5).
//!
//! Decisions where formats.md leaves a choice (each is the option it recommends):
//! - Type priority: the source type text (`mysqlType` / `dbValType`); `sqlType` / `jdbcType` are
//!   never used (§5.1: unreliable). Without a type, a JSON string is text and a JSON number keeps
//!   its lexeme.
//! - MySQL's type aliases (`SERIAL`, `BOOL`, `MIDDLEINT`, `LONG VARBINARY`, `DOUBLE PRECISION`,
//!   `NATIONAL CHAR`, …) are read as the type MySQL maps them to, as its manual documents;
//!   `BOOL` / `BOOLEAN` is TINYINT(1) and decodes exactly like `tinyint(1)` (§5.2), while
//!   PostgreSQL's `bool` words stay `true` / `false` (§5.6). See [`parse_col_type`].
//! - Integers are normalised (`+` and leading zeros dropped, so `"007"` and `"7"` are the same
//!   key, §4.3) and range-checked against the source type; DECIMAL and FLOAT keep their exact
//!   lexeme (never through f64).
//! - ENUM / SET: `auto` (§5.3) with the format's default for ambiguous values: index / bitmask
//!   for canal-json, label for CloudCanal. Without labels (TiCDC bare `enum`) the text is kept.
//! - Binary: ISO-8859-1, one char per byte (§5.2); for CloudCanal too (§5.6 assumption).
//! - Zero dates (year, month or day zero; §5.4): the `defaultZeroDate` policy — NULL (default),
//!   error, or a replacement literal. Other impossible dates (`2024-02-30`) are `Value` errors.
//!   YEAR `0000` and TIME `00:00:00` are not zero dates.
//! - TIMESTAMP text is wall-clock in `sourceTimezone`; an explicit offset (`Z`, `+08:00`)
//!   overrides it (§5.5). With `enableTimeZoneProcess` it is converted to `timezone`, otherwise
//!   it is written as wall-clock in `sourceTimezone`. DATETIME / DATE / TIME are never shifted.
//! - Fraction digits of DATETIME / TIMESTAMP follow the type's fsp when it is known (`.05` in a
//!   `timestamp(3)` becomes `.050`); digits beyond fsp are dropped only when they are zeros.
//! - A JSON column value `""` (MySQL's zero-length JSON) becomes SQL NULL; a value starting with
//!   `JSON_` is a partial-JSON diff and is `Unsupported`.

use std::sync::Arc;

use jiff::civil;
use jiff::tz::{Offset, TimeZone};

use crate::bytes::{self, canonical_integer, integer_value, same_str};
use crate::model::ValueKind;

/// The decoder's view of a source column type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColType {
    /// No type information: decide by the JSON value.
    Unknown,
    Int {
        min: i128,
        max: i128,
    },
    Decimal,
    Float,
    /// BIT(n): an unsigned decimal of up to 64 bits.
    Bit,
    Year,
    /// `bool` / `boolean`: MySQL's BOOL, a TINYINT(1) that holds any TINYINT value (decoded as
    /// TINYINT, exactly like `tinyint(1)`), or PostgreSQL's `bool` (words `true` / `false`, `t` /
    /// `f`, …, kept as `true` / `false`).
    Bool,
    Date,
    DateTime {
        fsp: Option<u8>,
        timestamp: bool,
    },
    Time,
    Text,
    Binary,
    Json,
    Enum(Arc<[Box<str>]>),
    Set(Arc<[Box<str>]>),
}

impl ColType {
    /// The kind a NULL of this column reports.
    pub(crate) fn kind(&self) -> ValueKind {
        match self {
            ColType::Unknown | ColType::Text | ColType::Enum(_) | ColType::Set(_) => {
                ValueKind::Text
            }
            ColType::Int { .. } | ColType::Bit | ColType::Year | ColType::Bool => {
                ValueKind::Integer
            }
            ColType::Decimal => ValueKind::Decimal,
            ColType::Float => ValueKind::Float,
            ColType::Date => ValueKind::Date,
            ColType::DateTime { .. } => ValueKind::DateTime,
            ColType::Time => ValueKind::Time,
            ColType::Binary => ValueKind::Binary,
            ColType::Json => ValueKind::Json,
        }
    }
}

/// Multi-word MySQL type names and the one-word type they stand for. MySQL maps them when the
/// table is created, so `DESC` (and canal's default metadata) shows the mapped type, but canal's
/// DDL-parsed metadata (`tsdb`, formats.md §9.12) and other producers may pass the DDL's own
/// words through. Sources (MySQL 8.4 Reference Manual): "Using Data Types from Other Database
/// Engines" (`CHARACTER VARYING(M)` → VARCHAR(M), `LONG VARBINARY` → MEDIUMBLOB,
/// `LONG VARCHAR` → MEDIUMTEXT), "The National Character Set" (`NATIONAL CHAR[ACTER]` = CHAR,
/// `NATIONAL VARCHAR`, `NCHAR VARCHAR`, `NATIONAL CHAR[ACTER] VARYING` = VARCHAR, all in
/// utf8mb3), "Numeric Data Type Syntax" (`DOUBLE PRECISION` = DOUBLE). `CHAR VARYING` and
/// `NCHAR VARYING` are the same rules spelt with `CHAR` (MySQL's lexer reads `CHARACTER` as
/// `CHAR`). Longest phrases first.
const TYPE_PHRASES: &[(&[&str], &str)] = &[
    (&["national", "character", "varying"], "varchar"),
    (&["national", "char", "varying"], "varchar"),
    (&["national", "character"], "char"),
    (&["national", "char"], "char"),
    (&["national", "varchar"], "varchar"),
    (&["nchar", "varchar"], "varchar"),
    (&["nchar", "varying"], "varchar"),
    (&["character", "varying"], "varchar"),
    (&["char", "varying"], "varchar"),
    (&["double", "precision"], "double"),
    (&["long", "varbinary"], "mediumblob"),
    (&["long", "varchar"], "mediumtext"),
];

/// Splits a type expression into its name (a multi-word name replaced by the one-word type it
/// stands for, see [`TYPE_PHRASES`]) and the rest (`(args)` and attributes).
fn type_name(t: &str) -> (&str, &str) {
    let word_end = |from: usize| {
        t[from..]
            .find(|c: char| c == '(' || c.is_whitespace())
            .map_or(t.len(), |i| from + i)
    };
    let first_end = word_end(0);
    // Only a name followed by another word can be a phrase (`int(11)`, `int` are not).
    if t[first_end..].starts_with(char::is_whitespace) {
        'phrases: for (phrase, canonical) in TYPE_PHRASES {
            let mut pos = 0;
            for (k, word) in phrase.iter().enumerate() {
                if k > 0 {
                    let rest = &t[pos..];
                    let next = rest.trim_start();
                    if next.len() == rest.len() {
                        continue 'phrases;
                    }
                    pos = t.len() - next.len();
                }
                let end = word_end(pos);
                if !t[pos..end].eq_ignore_ascii_case(word) {
                    continue 'phrases;
                }
                pos = end;
            }
            return (canonical, &t[pos..]);
        }
    }
    (&t[..first_end], &t[first_end..])
}

/// Parses a source type expression: `name [ '(' args ')' ] [unsigned] [zerofill]`,
/// case-insensitive and whitespace-tolerant (formats.md §5.1). MySQL's type aliases are read
/// as the type MySQL maps them to (README "Source types"; the phrases in [`TYPE_PHRASES`], the
/// one-word aliases in the `match` below).
pub(crate) fn parse_col_type(text: &str) -> ColType {
    let t = text.trim();
    let (name, rest) = type_name(t);
    let (args, suffix) = split_args(rest);
    let unsigned = contains_word(suffix, "unsigned") || contains_word(suffix, "zerofill");
    // Lower-case on the stack: this runs for every column of every message.
    let mut buf = [0u8; 24];
    if name.len() > buf.len() {
        return ColType::Unknown;
    }
    buf[..name.len()].copy_from_slice(name.as_bytes());
    buf[..name.len()].make_ascii_lowercase();
    let name = std::str::from_utf8(&buf[..name.len()]).unwrap_or("");
    let int = |bits: u32| {
        if unsigned {
            ColType::Int {
                min: 0,
                max: (1i128 << bits) - 1,
            }
        } else {
            ColType::Int {
                min: -(1i128 << (bits - 1)),
                max: (1i128 << (bits - 1)) - 1,
            }
        }
    };
    let fsp = || args.and_then(|a| a.trim().parse::<u8>().ok());
    // One-word aliases (MySQL 8.4 Reference Manual, "Numeric Data Type Syntax" and "Using Data
    // Types from Other Database Engines"): INT1..INT8, MIDDLEINT, INTEGER, DEC / FIXED /
    // NUMERIC, REAL (DOUBLE, or FLOAT with REAL_AS_FLOAT — a float either way), FLOAT4 / FLOAT8,
    // LONG (MEDIUMTEXT), NCHAR / NVARCHAR (utf8mb3 CHAR / VARCHAR), BOOL / BOOLEAN (TINYINT(1))
    // and SERIAL (BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE).
    match name {
        "tinyint" | "int1" => int(8),
        "bool" | "boolean" => ColType::Bool,
        "smallint" | "int2" | "smallserial" => int(16),
        "mediumint" | "int3" | "middleint" => int(24),
        "int" | "integer" | "int4" => int(32),
        "bigint" | "int8" | "bigserial" => int(64),
        // MySQL's SERIAL. PostgreSQL's `serial` (an `integer` with a sequence default) still
        // decodes every value its sequence hands out (1..=2^31-1); only a negative value
        // inserted explicitly would be rejected.
        "serial" => ColType::Int {
            min: 0,
            max: u64::MAX as i128,
        },
        "decimal" | "numeric" | "dec" | "fixed" | "number" => ColType::Decimal,
        "float" | "double" | "real" | "float4" | "float8" => ColType::Float,
        "bit" => ColType::Bit,
        "year" => ColType::Year,
        "date" => ColType::Date,
        "datetime" => ColType::DateTime {
            fsp: fsp(),
            timestamp: false,
        },
        "timestamp" | "timestamptz" => ColType::DateTime {
            fsp: fsp(),
            timestamp: true,
        },
        "time" => ColType::Time,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "long" | "nchar"
        | "nvarchar" | "character" | "string" => ColType::Text,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "geometry"
        | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => ColType::Binary,
        "json" => ColType::Json,
        "enum" => match args.map(parse_labels) {
            Some(Some(labels)) if !labels.is_empty() => ColType::Enum(labels.into()),
            _ => ColType::Text,
        },
        "set" => match args.map(parse_labels) {
            Some(Some(labels)) if !labels.is_empty() => ColType::Set(labels.into()),
            _ => ColType::Text,
        },
        _ => ColType::Unknown,
    }
}

/// A source type expression split the way [`parse_col_type`] reads it, for code that needs more
/// than the decoder does (the StarRocks type of a column, `crate::ddl`): the one-word type name
/// (MySQL's multi-word aliases replaced, case kept), the text inside its parentheses, whether it
/// is `unsigned` / `zerofill`, and the ENUM / SET labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeParts<'a> {
    pub name: &'a str,
    pub args: Option<&'a str>,
    pub unsigned: bool,
    /// The quoted labels of `enum(...)` / `set(...)`; `None` when the arguments are not a list
    /// of quoted strings.
    pub labels: Option<Vec<Box<str>>>,
}

impl<'a> TypeParts<'a> {
    /// Splits `text` (`varchar(20)`, `int(10) unsigned zerofill`, `double precision`,
    /// `enum('a','b')`) with the grammar of the decoder.
    pub fn of(text: &'a str) -> TypeParts<'a> {
        let (name, rest) = type_name(text.trim());
        let (args, suffix) = split_args(rest);
        TypeParts {
            name,
            args,
            unsigned: contains_word(suffix, "unsigned") || contains_word(suffix, "zerofill"),
            labels: args.and_then(parse_labels),
        }
    }
}

/// Splits `"(args) rest"` into `Some("args")` and the text after the closing parenthesis,
/// honouring SQL quotes inside the parentheses (ENUM labels may contain `)`).
fn split_args(rest: &str) -> (Option<&str>, &str) {
    let r = rest.trim_start();
    if !r.starts_with('(') {
        return (None, r);
    }
    let bytes = r.as_bytes();
    let mut i = 1;
    let mut in_quote = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if in_quote && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b'\\' if in_quote => i += 1,
            b'\'' => in_quote = !in_quote,
            b')' if !in_quote => return (Some(&r[1..i]), &r[i + 1..]),
            _ => {}
        }
        i += 1;
    }
    (None, "")
}

fn contains_word(s: &str, word: &str) -> bool {
    s.split_whitespace().any(|w| w.eq_ignore_ascii_case(word))
}

/// Parses `'a','b''c', 'd'` into labels; `None` if it is not a quoted list.
fn parse_labels(args: &str) -> Option<Vec<Box<str>>> {
    let mut labels = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        if chars.next()? != '\'' {
            return None;
        }
        let mut label = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => label.push(chars.next()?),
                c => label.push(c),
            }
        }
        labels.push(label.into_boxed_str());
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some(',') => continue,
            None => return Some(labels),
            Some(_) => return None,
        }
    }
}

/// The zero-date policy (`defaultZeroDate`, formats.md §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ZeroDatePolicy {
    /// Write SQL NULL.
    #[default]
    Null,
    /// Fail the message (`Value` error).
    Error,
    /// Write this literal instead (`YYYY-MM-DD[ HH:MM:SS[.ffffff]]`).
    Replace(String),
}

/// Time-zone handling for TIMESTAMP values.
#[derive(Debug, Clone)]
pub struct ZoneSettings {
    /// The zone the producer rendered TIMESTAMP text in (`sourceTimezone`).
    pub source: TimeZone,
    /// The zone to write TIMESTAMP values in (`timezone` with `enableTimeZoneProcess`); `None`:
    /// keep the source wall clock.
    pub target: Option<TimeZone>,
}

impl Default for ZoneSettings {
    fn default() -> Self {
        ZoneSettings {
            source: TimeZone::UTC,
            target: None,
        }
    }
}

/// Parses a zone name as the configuration accepts it: `UTC`, an IANA name, or `±HH:MM`.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, String> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("utc") || n == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(sign) = n.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body = &n[1..];
        let (h, m) = match body.split_once(':') {
            Some((h, m)) => (h, m),
            None if body.len() == 4 => (&body[..2], &body[2..]),
            None => (body, "0"),
        };
        let h: i32 = h.parse().map_err(|_| format!("bad offset {n:?}"))?;
        let m: i32 = m.parse().map_err(|_| format!("bad offset {n:?}"))?;
        if h > 18 || m > 59 {
            return Err(format!("bad offset {n:?}"));
        }
        let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
        let offset = Offset::from_seconds(secs).map_err(|e| e.to_string())?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(n).map_err(|e| format!("unknown time zone {n:?}: {e}"))
}

/// A raw cell value as it appeared in the JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    Str(&'a str),
    /// A JSON number, as its exact lexeme.
    Num(&'a str),
    Bool(bool),
    /// A nested object/array (re-serialised compactly by the caller).
    Nested,
}

/// The canonical result of converting one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Converted {
    Null,
    /// The raw text is already canonical.
    Same,
    /// New text, written to the arena by the converter.
    Text,
    /// Binary bytes written to the arena.
    Bytes,
    /// The raw text is canonical binary (ISO-8859-1 of ASCII = the bytes themselves).
    SameBytes,
}

/// Why a cell could not be converted. Boxed because it is rare: a `Result` of one word plus
/// the two-byte success comes back in registers, where the unboxed one (32 bytes) came back
/// through memory and stalled every cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CellError(Box<CellFault>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellFault {
    Value(String),
    Unsupported(String),
}

impl CellError {
    pub(crate) fn fault(self) -> CellFault {
        *self.0
    }
}

#[cold]
fn verr(msg: impl Into<String>) -> CellError {
    CellError(Box::new(CellFault::Value(msg.into())))
}

#[cold]
fn unsupported(msg: impl Into<String>) -> CellError {
    CellError(Box::new(CellFault::Unsupported(msg.into())))
}

/// Everything the conversion of a cell depends on besides the cell.
pub(crate) struct CellContext<'o> {
    pub zero_date: &'o ZeroDatePolicy,
    pub zones: &'o ZoneSettings,
    /// Whether ambiguous ENUM/SET values are read as index/bitmask (canal) or label.
    pub enum_index_default: bool,
}

/// Converts a cell. New text goes to `out` (the arena); the returned value says what happened.
/// `#[inline]`: measured about 4 % of decode, its result no longer going through memory.
#[inline]
pub(crate) fn convert(
    ty: &ColType,
    raw: Raw<'_>,
    ctx: &CellContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(ValueKind, Converted), CellError> {
    match ty {
        ColType::Unknown => Ok(match raw {
            Raw::Str(_) => (ValueKind::Text, Converted::Same),
            Raw::Num(n) => (number_kind(n), Converted::Same),
            Raw::Bool(b) => {
                out.extend_from_slice(if b { b"true" } else { b"false" });
                (ValueKind::Boolean, Converted::Text)
            }
            Raw::Nested => (ValueKind::Json, Converted::Same),
        }),
        ColType::Int { min, max } => integer(raw, *min, *max, out).map(|c| (ValueKind::Integer, c)),
        ColType::Bit => integer(raw, 0, u64::MAX as i128, out).map(|c| (ValueKind::Integer, c)),
        ColType::Year => {
            let c = integer(raw, 0, 9999, out)?;
            Ok((ValueKind::Integer, c))
        }
        ColType::Decimal => match raw {
            Raw::Str(s) | Raw::Num(s) if is_plain_decimal(s) => {
                Ok((ValueKind::Decimal, Converted::Same))
            }
            _ => Err(verr("not a decimal")),
        },
        ColType::Float => match raw {
            Raw::Str(s) | Raw::Num(s) if is_float(s) => Ok((ValueKind::Float, Converted::Same)),
            _ => Err(verr("not a floating-point number")),
        },
        ColType::Bool => bool_value(raw, out),
        ColType::Text => match raw {
            Raw::Str(_) | Raw::Num(_) | Raw::Nested => Ok((ValueKind::Text, Converted::Same)),
            Raw::Bool(b) => {
                out.extend_from_slice(if b { b"true" } else { b"false" });
                Ok((ValueKind::Text, Converted::Text))
            }
        },
        ColType::Binary => match raw {
            Raw::Str(s) => latin1_bytes(s, out).map(|c| (ValueKind::Binary, c)),
            _ => Err(verr("binary value must be a string")),
        },
        ColType::Json => json_value(raw),
        ColType::Date => match raw {
            Raw::Str(s) => date(s, ctx, out),
            _ => Err(verr("not a date")),
        },
        ColType::DateTime { fsp, timestamp } => match raw {
            Raw::Str(s) => datetime(s, *fsp, *timestamp, ctx, out),
            _ => Err(verr("not a datetime")),
        },
        ColType::Time => match raw {
            Raw::Str(s) if is_time(s) => Ok((ValueKind::Time, Converted::Same)),
            _ => Err(verr("not a time")),
        },
        ColType::Enum(labels) => match raw {
            Raw::Str(s) | Raw::Num(s) => {
                enum_value(s, labels, ctx.enum_index_default, out).map(|c| (ValueKind::Text, c))
            }
            _ => Err(verr("not an enum value")),
        },
        ColType::Set(labels) => match raw {
            Raw::Str(s) | Raw::Num(s) => {
                set_value(s, labels, ctx.enum_index_default, out).map(|c| (ValueKind::Text, c))
            }
            _ => Err(verr("not a set value")),
        },
    }
}

/// MySQL BOOL / BOOLEAN is TINYINT(1) (MySQL 8.4 Reference Manual, "Numeric Data Type Syntax":
/// "synonyms for TINYINT(1). A value of zero is considered false. Nonzero values are considered
/// true"), so any TINYINT integer is a value, decoded exactly like `tinyint(1)` (formats.md
/// §5.2); a JSON `true` / `false` is MySQL's TRUE / FALSE, i.e. 1 / 0. PostgreSQL's `bool` (the
/// same type name, formats.md §5.6) renders as words; those are kept as `true` / `false`.
fn bool_value(raw: Raw<'_>, out: &mut Vec<u8>) -> Result<(ValueKind, Converted), CellError> {
    let s = match raw {
        Raw::Str(s) | Raw::Num(s) => s,
        Raw::Bool(_) => return integer(raw, -128, 127, out).map(|c| (ValueKind::Integer, c)),
        Raw::Nested => return Err(verr("not a BOOL value")),
    };
    let b = s.as_bytes();
    if b.first()
        .is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+')
    {
        return integer(raw, -128, 127, out)
            .map(|c| (ValueKind::Integer, c))
            .map_err(|_| verr(format!("{s:?} is not a BOOL (TINYINT) value -128..=127")));
    }
    let word = ["t", "true", "y", "yes", "on"]
        .iter()
        .map(|w| (w, true))
        .chain(["f", "false", "n", "no", "off"].iter().map(|w| (w, false)))
        .find(|(w, _)| s.eq_ignore_ascii_case(w));
    let Some((_, v)) = word else {
        return Err(verr(format!("{s:?} is not a BOOL value")));
    };
    let canonical = if v { "true" } else { "false" };
    if s == canonical {
        return Ok((ValueKind::Boolean, Converted::Same));
    }
    out.extend_from_slice(canonical.as_bytes());
    Ok((ValueKind::Boolean, Converted::Text))
}

/// The kind of a JSON number without a source type.
fn number_kind(lexeme: &str) -> ValueKind {
    if lexeme.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        ValueKind::Integer
    } else if is_plain_decimal(lexeme) {
        ValueKind::Decimal
    } else {
        ValueKind::Float
    }
}

fn integer(raw: Raw<'_>, min: i128, max: i128, out: &mut Vec<u8>) -> Result<Converted, CellError> {
    let s = match raw {
        Raw::Str(s) | Raw::Num(s) => s,
        Raw::Bool(b) => {
            out.push(if b { b'1' } else { b'0' });
            return Ok(Converted::Text);
        }
        Raw::Nested => return Err(verr("not an integer")),
    };
    let bytes = s.as_bytes();
    if let Some(v) = canonical_integer(bytes) {
        return if (min..=max).contains(&v) {
            Ok(Converted::Same)
        } else {
            Err(out_of_range(s, min, max))
        };
    }
    let (neg, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(verr("not an integer"));
    }
    let first_nonzero = digits.iter().position(|&b| b != b'0');
    let significant = match first_nonzero {
        Some(i) => &digits[i..],
        None => &digits[digits.len() - 1..],
    };
    if significant.len() > 38 {
        return Err(verr("integer out of range"));
    }
    // At most 38 digits always fit an i128.
    let v = integer_value(neg, significant).ok_or_else(|| verr("integer out of range"))?;
    if v < min || v > max {
        return Err(out_of_range(s, min, max));
    }
    let canonical_len = significant.len() + usize::from(neg && v != 0);
    if canonical_len == bytes.len() {
        return Ok(Converted::Same);
    }
    if neg && v != 0 {
        out.push(b'-');
    }
    out.extend_from_slice(significant);
    Ok(Converted::Text)
}

#[cold]
fn out_of_range(s: &str, min: i128, max: i128) -> CellError {
    verr(format!("integer {s} out of range {min}..={max}"))
}

/// `-?[0-9]+(\.[0-9]+)?` — the only DECIMAL text StarRocks and MySQL agree on.
pub(crate) fn is_plain_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

/// A finite number in Java `toString` or JSON notation (`1.0E308`, `-0.0`, `1e308`).
fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    // Rust's parser also takes `inf`/`nan`; MySQL cannot produce them (formats.md §5.2).
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
        && s.parse::<f64>().is_ok_and(f64::is_finite)
}

fn latin1_bytes(s: &str, out: &mut Vec<u8>) -> Result<Converted, CellError> {
    if s.is_ascii() {
        return Ok(Converted::SameBytes);
    }
    for c in s.chars() {
        let cp = c as u32;
        if cp > 0xFF {
            return Err(verr(format!(
                "binary value has character U+{cp:04X} beyond ISO-8859-1"
            )));
        }
        out.push(cp as u8);
    }
    Ok(Converted::Bytes)
}

fn json_value(raw: Raw<'_>) -> Result<(ValueKind, Converted), CellError> {
    match raw {
        Raw::Str("") => Ok((ValueKind::Json, Converted::Null)),
        Raw::Str(s) if s.starts_with("JSON_") => Err(unsupported(
            "partial JSON update (binlog_row_value_options=PARTIAL_JSON); use full row images",
        )),
        Raw::Str(s) => match serde_json::from_str::<serde::de::IgnoredAny>(s) {
            Ok(_) => Ok((ValueKind::Json, Converted::Same)),
            Err(e) => Err(verr(format!("not valid JSON: {e}"))),
        },
        // An embedded JSON value (CloudCanal, formats.md §5.6) is already a JSON document.
        Raw::Num(_) | Raw::Nested => Ok((ValueKind::Json, Converted::Same)),
        Raw::Bool(_) => Ok((ValueKind::Json, Converted::Same)),
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn enum_value(
    s: &str,
    labels: &[Box<str>],
    index_default: bool,
    out: &mut Vec<u8>,
) -> Result<Converted, CellError> {
    let is_label = labels.iter().any(|l| same_str(l, s));
    match parse_u64(s) {
        Some(k) => {
            let in_range = k >= 1 && (k as usize) <= labels.len();
            if is_label && (!in_range || !index_default) {
                Ok(Converted::Same)
            } else if in_range {
                out.extend_from_slice(labels[k as usize - 1].as_bytes());
                Ok(Converted::Text)
            } else if k == 0 {
                // MySQL's empty "error value" of an ENUM.
                Ok(Converted::Text)
            } else {
                Err(verr(format!(
                    "enum index {k} out of range 1..={}",
                    labels.len()
                )))
            }
        }
        None if is_label || s.is_empty() => Ok(Converted::Same),
        None => Err(verr(format!("{s:?} is not a label of the enum"))),
    }
}

fn set_value(
    s: &str,
    labels: &[Box<str>],
    index_default: bool,
    out: &mut Vec<u8>,
) -> Result<Converted, CellError> {
    let is_label = labels.iter().any(|l| same_str(l, s));
    if let Some(mask) = parse_u64(s).filter(|_| !is_label || index_default) {
        if labels.len() < 64 && mask >> labels.len() != 0 {
            return Err(verr(format!(
                "set bitmask {mask} has bits beyond {} labels",
                labels.len()
            )));
        }
        let mut first = true;
        for (i, label) in labels.iter().enumerate().take(64) {
            if mask & (1 << i) != 0 {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(label.as_bytes());
            }
        }
        return Ok(Converted::Text);
    }
    if s.is_empty() || s.split(',').all(|e| labels.iter().any(|l| &**l == e)) {
        return Ok(Converted::Same);
    }
    Err(verr(format!("{s:?} is not a list of the set's labels")))
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    let (h, rest) = b.split_at(colon);
    if h.is_empty() || h.len() > 3 || !h.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let two = |x: &[u8]| x.len() == 2 && x.iter().all(u8::is_ascii_digit) && x[0] <= b'5';
    if rest.len() < 6 || rest[3] != b':' || !two(&rest[1..3]) || !two(&rest[4..6]) {
        return false;
    }
    match &rest[6..] {
        [] => true,
        [b'.', f @ ..] => !f.is_empty() && f.len() <= 9 && f.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A parsed `YYYY-MM-DD[( |T)HH:MM:SS[.f]][Z|±HH[:MM]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Temporal<'a> {
    year: u16,
    month: u8,
    day: u8,
    time: Option<(u8, u8, u8)>,
    frac: &'a str,
    offset_secs: Option<i32>,
}

fn digits_n(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')))
}

fn parse_temporal(s: &str) -> Option<Temporal<'_>> {
    let b = s.as_bytes();
    let (year, month, day) = bytes::date_fields(b)?;
    let mut t = Temporal {
        year,
        month,
        day,
        time: None,
        frac: "",
        offset_secs: None,
    };
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(t);
    }
    if !(rest[0] == b' ' || rest[0] == b'T') {
        return None;
    }
    let (h, m, sec) = bytes::time_fields(&rest[1..])?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    t.time = Some((h, m, sec));
    let mut i = 9;
    if rest.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < rest.len() && rest[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        t.frac = &s[10 + start..10 + end];
        i = end;
    }
    match rest.get(i) {
        None => {}
        Some(b'Z') if i + 1 == rest.len() => t.offset_secs = Some(0),
        Some(&sign @ (b'+' | b'-')) => {
            let o = &rest[i + 1..];
            let (oh, om) = match o.len() {
                2 => (digits_n(o)?, 0),
                4 => (digits_n(&o[..2])?, digits_n(&o[2..])?),
                5 if o[2] == b':' => (digits_n(&o[..2])?, digits_n(&o[3..])?),
                _ => return None,
            };
            if oh > 18 || om > 59 {
                return None;
            }
            let secs = (oh * 3600 + om * 60) as i32;
            t.offset_secs = Some(if sign == b'-' { -secs } else { secs });
        }
        Some(_) => return None,
    }
    Some(t)
}

/// Applies the zero-date policy; `date_only` picks the date part of a replacement literal.
fn zero_date(
    s: &str,
    ctx: &CellContext<'_>,
    kind: ValueKind,
    out: &mut Vec<u8>,
) -> Result<(ValueKind, Converted), CellError> {
    match ctx.zero_date {
        ZeroDatePolicy::Null => Ok((kind, Converted::Null)),
        ZeroDatePolicy::Error => Err(verr(format!("zero date {s:?} (defaultZeroDate = error)"))),
        ZeroDatePolicy::Replace(lit) => {
            let lit = lit.trim();
            match kind {
                ValueKind::Date => out.extend_from_slice(&lit.as_bytes()[..lit.len().min(10)]),
                _ if lit.len() == 10 => {
                    out.extend_from_slice(lit.as_bytes());
                    out.extend_from_slice(b" 00:00:00");
                }
                _ => out.extend_from_slice(lit.as_bytes()),
            }
            Ok((kind, Converted::Text))
        }
    }
}

fn check_calendar(t: &Temporal<'_>, s: &str) -> Result<bool, CellError> {
    if t.year == 0 || t.month == 0 || t.day == 0 {
        return Ok(true);
    }
    if bytes::days_in_month(t.year, t.month).is_none_or(|days| t.day > days) {
        return Err(verr(format!("impossible date {s:?}")));
    }
    Ok(false)
}

fn date(
    s: &str,
    ctx: &CellContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(ValueKind, Converted), CellError> {
    let t = parse_temporal(s).ok_or_else(|| verr(format!("not a date: {s:?}")))?;
    if check_calendar(&t, s)? {
        return zero_date(s, ctx, ValueKind::Date, out);
    }
    if t.time.is_some_and(|tm| tm != (0, 0, 0)) || t.frac.bytes().any(|b| b != b'0') {
        return Err(verr(format!("date {s:?} has a time of day")));
    }
    if s.len() == 10 {
        return Ok((ValueKind::Date, Converted::Same));
    }
    out.extend_from_slice(&s.as_bytes()[..10]);
    Ok((ValueKind::Date, Converted::Text))
}

fn datetime(
    s: &str,
    fsp: Option<u8>,
    timestamp: bool,
    ctx: &CellContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(ValueKind, Converted), CellError> {
    let t = parse_temporal(s).ok_or_else(|| verr(format!("not a datetime: {s:?}")))?;
    if check_calendar(&t, s)? {
        return zero_date(s, ctx, ValueKind::DateTime, out);
    }
    let (h, m, sec) = t.time.unwrap_or((0, 0, 0));
    // Fraction digits to write: the type's fsp when known, without dropping non-zero digits.
    let significant = t.frac.trim_end_matches('0').len();
    let digits = match fsp {
        Some(f) => usize::from(f.min(9)).max(significant),
        None => t.frac.len(),
    };

    let shift_zone = if let Some(off) = t.offset_secs {
        Some((
            TimeZone::fixed(Offset::from_seconds(off).map_err(|e| verr(e.to_string()))?),
            ctx.zones.target.as_ref().unwrap_or(&ctx.zones.source),
        ))
    } else if timestamp {
        ctx.zones
            .target
            .as_ref()
            .filter(|target| *target != &ctx.zones.source)
            .map(|target| (ctx.zones.source.clone(), target))
    } else {
        None
    };

    let canonical_shape = t.offset_secs.is_none()
        && s.as_bytes().get(10) == Some(&b' ')
        && t.time.is_some()
        && t.frac.len() == digits;
    if shift_zone.is_none() && canonical_shape {
        return Ok((ValueKind::DateTime, Converted::Same));
    }

    let mut nanos: i32 = 0;
    for (i, d) in t.frac.bytes().enumerate() {
        nanos += i32::from(d - b'0') * 10i32.pow(8 - i as u32);
    }
    let mut dt = civil::DateTime::new(
        t.year as i16,
        t.month as i8,
        t.day as i8,
        h as i8,
        m as i8,
        sec as i8,
        nanos,
    )
    .map_err(|e| verr(format!("bad datetime {s:?}: {e}")))?;
    if let Some((from, to)) = shift_zone {
        let zoned = from
            .to_ambiguous_zoned(dt)
            .compatible()
            .map_err(|e| verr(format!("bad datetime {s:?}: {e}")))?;
        dt = zoned.with_time_zone(to.clone()).datetime();
    }
    write_datetime(dt, digits, out);
    Ok((ValueKind::DateTime, Converted::Text))
}

fn write_datetime(dt: civil::DateTime, digits: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if digits > 0 {
        let frac = format!("{:09}", dt.subsec_nanosecond());
        out.push(b'.');
        out.extend_from_slice(&frac.as_bytes()[..digits.min(9)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (ZeroDatePolicy, ZoneSettings) {
        (ZeroDatePolicy::Null, ZoneSettings::default())
    }

    fn conv(ty: &str, raw: Raw<'_>) -> Result<String, CellError> {
        let (z, zones) = ctx();
        let c = CellContext {
            zero_date: &z,
            zones: &zones,
            enum_index_default: true,
        };
        let mut out = Vec::new();
        let (_, r) = convert(&parse_col_type(ty), raw, &c, &mut out)?;
        let src = match raw {
            Raw::Str(s) | Raw::Num(s) => s.to_string(),
            Raw::Nested => String::new(),
            Raw::Bool(b) => b.to_string(),
        };
        Ok(match r {
            Converted::Null => "NULL".into(),
            Converted::Same | Converted::SameBytes => src,
            Converted::Text => String::from_utf8(out).unwrap(),
            Converted::Bytes => format!("{out:?}"),
        })
    }

    #[test]
    fn type_parsing() {
        assert_eq!(
            parse_col_type("tinyint(3) unsigned"),
            ColType::Int { min: 0, max: 255 }
        );
        assert_eq!(
            parse_col_type(" BIGINT(20) UNSIGNED ZEROFILL"),
            ColType::Int {
                min: 0,
                max: u64::MAX as i128
            }
        );
        assert_eq!(parse_col_type("decimal(10, 4)"), ColType::Decimal);
        assert_eq!(
            parse_col_type("timestamp(3)"),
            ColType::DateTime {
                fsp: Some(3),
                timestamp: true
            }
        );
        let ColType::Enum(l) = parse_col_type("enum('a,b','it''s',')')") else {
            panic!()
        };
        assert_eq!(
            &*l,
            &["a,b".into(), "it's".into(), ")".into()] as &[Box<str>]
        );
        assert_eq!(parse_col_type("enum"), ColType::Text);
        assert_eq!(parse_col_type("bytea"), ColType::Unknown);
    }

    #[test]
    fn integers() {
        assert_eq!(conv("int(11)", Raw::Str("007")).unwrap(), "7");
        assert_eq!(conv("int(11)", Raw::Str("-0")).unwrap(), "0");
        assert_eq!(conv("int(11)", Raw::Str("-42")).unwrap(), "-42");
        assert!(conv("tinyint", Raw::Str("128")).is_err());
        assert!(conv("int", Raw::Str("abc")).is_err());
        assert!(conv("int", Raw::Num("1.5")).is_err());
        assert_eq!(
            conv("bigint unsigned", Raw::Num("18446744073709551615")).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(conv("year(4)", Raw::Str("0000")).unwrap(), "0");
    }

    fn kind_of(ty: &str, raw: Raw<'_>) -> ValueKind {
        let (z, zones) = ctx();
        let c = CellContext {
            zero_date: &z,
            zones: &zones,
            enum_index_default: true,
        };
        convert(&parse_col_type(ty), raw, &c, &mut Vec::new())
            .unwrap()
            .0
    }

    /// MySQL's integer type aliases, each at both bounds of its range and one beyond
    /// (MySQL 8.4 Reference Manual: "Numeric Data Type Syntax", "Using Data Types from Other
    /// Database Engines").
    #[test]
    fn integer_aliases_at_their_bounds() {
        /// (min, max, min - 1, max + 1)
        type Bounds = (&'static str, &'static str, &'static str, &'static str);
        const I8: Bounds = ("-128", "127", "-129", "128");
        const U8: Bounds = ("0", "255", "-1", "256");
        const I16: Bounds = ("-32768", "32767", "-32769", "32768");
        const I24: Bounds = ("-8388608", "8388607", "-8388609", "8388608");
        const U24: Bounds = ("0", "16777215", "-1", "16777216");
        const I32: Bounds = ("-2147483648", "2147483647", "-2147483649", "2147483648");
        const U32: Bounds = ("0", "4294967295", "-1", "4294967296");
        const I64: Bounds = (
            "-9223372036854775808",
            "9223372036854775807",
            "-9223372036854775809",
            "9223372036854775808",
        );
        const U64: Bounds = ("0", "18446744073709551615", "-1", "18446744073709551616");
        let cases: &[(&str, Bounds)] = &[
            // SERIAL = BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE.
            ("serial", U64),
            ("SERIAL", U64),
            // BOOL / BOOLEAN = TINYINT(1): any TINYINT value.
            ("bool", I8),
            ("boolean", I8),
            ("BOOLEAN", I8),
            ("tinyint(1)", I8),
            ("int1", I8),
            ("int1 unsigned", U8),
            ("int2", I16),
            ("int3", I24),
            ("middleint", I24),
            ("MIDDLEINT(9)", I24),
            ("middleint unsigned", U24),
            ("integer", I32),
            ("integer(11)", I32),
            ("int4", I32),
            ("integer unsigned", U32),
            ("int4 zerofill", U32),
            ("int8", I64),
            ("int8 unsigned", U64),
        ];
        for (ty, (min, max, below, above)) in cases {
            for ok in [min, max] {
                assert_eq!(conv(ty, Raw::Str(ok)).as_deref(), Ok(*ok), "{ty} {ok}");
                assert_eq!(conv(ty, Raw::Num(ok)).as_deref(), Ok(*ok), "{ty} {ok}");
                assert_eq!(kind_of(ty, Raw::Str(ok)), ValueKind::Integer, "{ty}");
            }
            for bad in [below, above] {
                assert!(conv(ty, Raw::Str(bad)).is_err(), "{ty} {bad}");
            }
        }
        // Paimon's all-types message (issue 16).
        assert_eq!(
            conv("serial", Raw::Str("40000000000")).unwrap(),
            "40000000000"
        );
        assert_eq!(
            conv("serial", Raw::Str("50000000000")).unwrap(),
            "50000000000"
        );
    }

    /// The non-integer aliases decode as the type they stand for.
    #[test]
    fn other_type_aliases() {
        let decimal = [
            "dec(10,2)",
            "DEC",
            "fixed(10,2)",
            "numeric(10, 2)",
            "NUMERIC",
        ];
        for ty in decimal {
            assert_eq!(parse_col_type(ty), ColType::Decimal, "{ty}");
            assert_eq!(conv(ty, Raw::Str("-99.90")).unwrap(), "-99.90");
            assert!(conv(ty, Raw::Str("1e5")).is_err(), "{ty}");
        }
        let float = [
            "real",
            "REAL(10,2)",
            "double precision",
            "DOUBLE  PRECISION(10,2) unsigned",
            "float4",
            "float8",
        ];
        for ty in float {
            assert_eq!(parse_col_type(ty), ColType::Float, "{ty}");
            assert_eq!(conv(ty, Raw::Str("1.0E308")).unwrap(), "1.0E308");
            assert!(conv(ty, Raw::Str("abc")).is_err(), "{ty}");
        }
        let text = [
            "long varchar",
            "LONG VARCHAR",
            "long",
            "character varying(255)",
            "char varying(255)",
            "national char(10)",
            "NATIONAL CHARACTER(10)",
            "nchar(10)",
            "nvarchar(10)",
            "national varchar(10)",
            "nchar varchar(10)",
            "nchar varying(10)",
            "national character varying(10)",
            "national char varying(10)",
        ];
        for ty in text {
            assert_eq!(parse_col_type(ty), ColType::Text, "{ty}");
            assert_eq!(conv(ty, Raw::Str("é✓")).unwrap(), "é✓");
        }
        for ty in ["long varbinary", "LONG VARBINARY", "long  varbinary"] {
            assert_eq!(parse_col_type(ty), ColType::Binary, "{ty}");
            assert_eq!(conv(ty, Raw::Str("ÿ\u{0}")).unwrap(), "[255, 0]");
        }
        // Not phrases: the second word is an attribute, or there is none.
        assert_eq!(parse_col_type("char(10) binary"), ColType::Text);
        assert_eq!(parse_col_type("double(10,2) unsigned"), ColType::Float);
        assert_eq!(parse_col_type("national"), ColType::Unknown);
    }

    /// BOOL / BOOLEAN is TINYINT(1): every TINYINT value, one representation for both
    /// spellings and for `tinyint(1)`; PostgreSQL's `bool` words stay `true` / `false`.
    #[test]
    fn bool_is_tinyint() {
        for ty in ["bool", "boolean", "BOOL", "tinyint(1)"] {
            for (raw, want) in [
                (Raw::Str("1"), "1"),
                (Raw::Str("0"), "0"),
                (Raw::Str("5"), "5"),
                (Raw::Str("-1"), "-1"),
                (Raw::Str("007"), "7"),
                (Raw::Num("127"), "127"),
                (Raw::Bool(true), "1"),
                (Raw::Bool(false), "0"),
            ] {
                assert_eq!(conv(ty, raw).unwrap(), want, "{ty} {raw:?}");
                assert_eq!(kind_of(ty, raw), ValueKind::Integer, "{ty} {raw:?}");
            }
            assert!(conv(ty, Raw::Str("128")).is_err(), "{ty}");
            assert!(conv(ty, Raw::Str("1.5")).is_err(), "{ty}");
        }
        for ty in ["bool", "boolean"] {
            for (raw, want) in [
                ("true", "true"),
                ("t", "true"),
                ("TRUE", "true"),
                ("yes", "true"),
                ("false", "false"),
                ("f", "false"),
                ("off", "false"),
            ] {
                assert_eq!(conv(ty, Raw::Str(raw)).unwrap(), want, "{ty} {raw}");
                assert_eq!(kind_of(ty, Raw::Str(raw)), ValueKind::Boolean);
            }
            for bad in ["", "maybe", "1e0", "--1"] {
                assert!(conv(ty, Raw::Str(bad)).is_err(), "{ty} {bad:?}");
            }
            assert!(conv(ty, Raw::Nested).is_err());
        }
        assert_eq!(parse_col_type("bool").kind(), ValueKind::Integer);
    }

    #[test]
    fn temporal() {
        assert_eq!(
            conv("timestamp(3)", Raw::Str("2024-06-01 10:00:00.05")).unwrap(),
            "2024-06-01 10:00:00.050"
        );
        assert_eq!(conv("date", Raw::Str("2024-02-00")).unwrap(), "NULL");
        assert!(conv("date", Raw::Str("2024-02-30")).is_err());
        assert_eq!(
            conv("datetime", Raw::Str("2024-00-15 08:00:00")).unwrap(),
            "NULL"
        );
        assert!(is_time("-838:59:59.000"));
        assert!(!is_time("12:60:00"));
    }

    #[test]
    fn enums_and_sets() {
        assert_eq!(conv("enum('s','m','l')", Raw::Str("2")).unwrap(), "m");
        assert_eq!(conv("enum('s','m','l')", Raw::Str("0")).unwrap(), "");
        assert!(conv("enum('s','m','l')", Raw::Str("4")).is_err());
        assert_eq!(conv("set('a','b','c','d')", Raw::Str("5")).unwrap(), "a,c");
        assert_eq!(conv("set('a','b','c','d')", Raw::Str("0")).unwrap(), "");
        assert!(conv("set('a','b')", Raw::Str("4")).is_err());
    }
}
