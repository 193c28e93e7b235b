//! One value → the text StarRocks parses for the target column type.
//!
//! Every function appends to a caller-owned buffer and allocates only to describe an error.

use crate::bytes::{self, append, canonical_integer, integer_value};
use crate::model::{Value, ValueKind};
use crate::schema::{MAX_VARCHAR_LEN, StarRocksType};

/// What a target column needs, precomputed from its [`StarRocksType`]. A few bytes: it is passed
/// by value for every value rendered (with the integer range inline, 48 bytes went through the
/// stack for each one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Bool,
    Int(IntWidth),
    Float { single: bool },
    Decimal { precision: u8, scale: u8 },
    Date,
    DateTime,
    Text { max: u32 },
    Json,
    VarBinary { max: u32 },
    Other,
}

/// The integer types of StarRocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntWidth {
    Tiny,
    Small,
    Int,
    Big,
    Large,
}

impl IntWidth {
    /// The digits of the type's maximum (`127` → 3): an integer with fewer digits is in range
    /// whatever its sign, since each minimum is at least as large in magnitude.
    fn max_digits(self) -> usize {
        match self {
            IntWidth::Tiny => 3,
            IntWidth::Small => 5,
            IntWidth::Int => 10,
            IntWidth::Big => 19,
            IntWidth::Large => 39,
        }
    }

    /// The type's range, `(min, max)`.
    fn range(self) -> (i128, i128) {
        match self {
            IntWidth::Tiny => (i8::MIN.into(), i8::MAX.into()),
            IntWidth::Small => (i16::MIN.into(), i16::MAX.into()),
            IntWidth::Int => (i32::MIN.into(), i32::MAX.into()),
            IntWidth::Big => (i64::MIN.into(), i64::MAX.into()),
            IntWidth::Large => (i128::MIN, i128::MAX),
        }
    }
}

/// JSON column values are capped at 16 MB (starrocks.md §5.3).
const MAX_JSON_LEN: usize = 16 * 1024 * 1024;

impl Target {
    pub(crate) fn of(ty: &StarRocksType) -> Target {
        match ty {
            StarRocksType::Boolean => Target::Bool,
            StarRocksType::TinyInt => Target::Int(IntWidth::Tiny),
            StarRocksType::SmallInt => Target::Int(IntWidth::Small),
            StarRocksType::Int => Target::Int(IntWidth::Int),
            StarRocksType::BigInt => Target::Int(IntWidth::Big),
            StarRocksType::LargeInt => Target::Int(IntWidth::Large),
            StarRocksType::Float => Target::Float { single: true },
            StarRocksType::Double => Target::Float { single: false },
            StarRocksType::Decimal { precision, scale } => Target::Decimal {
                precision: *precision,
                scale: *scale,
            },
            StarRocksType::Date => Target::Date,
            StarRocksType::DateTime => Target::DateTime,
            StarRocksType::Char(n) | StarRocksType::Varchar(n) => Target::Text { max: *n },
            StarRocksType::Json => Target::Json,
            StarRocksType::VarBinary(n) => Target::VarBinary {
                max: n.unwrap_or(MAX_VARCHAR_LEN),
            },
            StarRocksType::Other(_) => Target::Other,
        }
    }

    /// Whether the rendered text can be arbitrary user text (and so may collide with the CSV
    /// framing). Every other rendering is validated ASCII without control bytes.
    pub(crate) fn free_text(self) -> bool {
        matches!(self, Target::Text { .. } | Target::Json | Target::Other)
    }

    /// A valid value for a NOT NULL column whose content does not matter (non-key columns of a
    /// delete row, which StarRocks ignores but still parses).
    pub(crate) fn placeholder(self) -> &'static [u8] {
        match self {
            Target::Bool | Target::Int(_) | Target::Float { .. } | Target::Decimal { .. } => b"0",
            Target::Date => b"1970-01-01",
            Target::DateTime => b"1970-01-01 00:00:00",
            // Not `null`: a JSON load reads that as SQL NULL.
            Target::Json => b"{}",
            Target::Text { .. } | Target::VarBinary { .. } | Target::Other => b"",
        }
    }
}

/// Appends the StarRocks text of a non-NULL value for `target`. On error `out` may hold a partial
/// value; the caller truncates. `#[inline]` into the encoders' column loops, like
/// `field_source`: its result no longer goes through memory.
#[inline]
pub(crate) fn render(
    target: Target,
    kind: ValueKind,
    value: Value<'_>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let text = match value {
        Value::Null => return Err("NULL where a value is required".into()),
        Value::Text(s) => s,
        Value::Bytes(b) => return render_bytes(target, b, out),
    };
    match target {
        Target::Bool => render_bool(text, out),
        Target::Int(width) => render_int(text, kind, width, out),
        Target::Float { single } => render_float(text, single, out),
        Target::Decimal { precision, scale } => render_decimal(text, precision, scale, out),
        Target::Date => render_date(text, out),
        Target::DateTime => render_datetime(text, out),
        Target::Text { max } => {
            check_len(text.len(), max, "VARCHAR/CHAR")?;
            append(out, text.as_bytes());
            Ok(())
        }
        Target::Json => {
            if text.len() > MAX_JSON_LEN {
                return Err(format!(
                    "JSON value of {} bytes exceeds StarRocks' 16 MB limit",
                    text.len()
                ));
            }
            // IgnoredAny validates without building anything, so this stays allocation-free.
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                return Err(format!("not a JSON document: {}", excerpt(text)));
            }
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        Target::VarBinary { .. } => render_bytes(target, text.as_bytes(), out),
        Target::Other => {
            append(out, text.as_bytes());
            Ok(())
        }
    }
}

fn render_bytes(target: Target, b: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    match target {
        Target::VarBinary { max } => {
            check_len(b.len(), max, "VARBINARY")?;
            base64_encode(b, out);
            Ok(())
        }
        Target::Text { max } => {
            check_len(b.len() * 2, max, "VARCHAR/CHAR (as hex)")?;
            hex_upper(b, out);
            Ok(())
        }
        _ => Err("binary value for a column that is neither VARBINARY nor VARCHAR/CHAR".into()),
    }
}

fn check_len(len: usize, max: u32, what: &str) -> Result<(), String> {
    if len > max as usize {
        Err(format!("{len} bytes do not fit {what}({max})"))
    } else {
        Ok(())
    }
}

pub(crate) fn excerpt(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{:?}…", &s[..end])
    } else {
        format!("{s:?}")
    }
}

/// A BOOLEAN column gets `1` or `0`. Besides `true` / `false`, any exact integer is accepted,
/// zero as false and every other value as true: a MySQL BOOL / TINYINT(1) column holds any
/// TINYINT value with exactly that meaning (MySQL manual, "Numeric Data Type Syntax": "A value of
/// zero is considered false. Nonzero values are considered true"), and StarRocks' own CSV reader
/// converts a number into a BOOLEAN the same way (`BooleanConverter::read_string`).
fn render_bool(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let v = match text {
        "1" => true,
        "0" => false,
        t if t.eq_ignore_ascii_case("true") => true,
        t if t.eq_ignore_ascii_case("false") => false,
        t => match split_integer(t) {
            Some((_, digits)) => digits != "0",
            None => {
                return Err(format!(
                    "{} is not a BOOLEAN (true/false or an integer)",
                    excerpt(text)
                ));
            }
        },
    };
    out.push(if v { b'1' } else { b'0' });
    Ok(())
}

#[cold]
fn out_of_range(text: &str, width: IntWidth) -> String {
    let (min, max) = width.range();
    let large = if width == IntWidth::Large {
        " (LARGEINT)"
    } else {
        ""
    };
    format!("{} is out of range [{min}, {max}]{large}", excerpt(text))
}

/// Splits `-?digits(.zeros)?` into (negative, digits without leading zeros). A fraction is
/// accepted only when it is all zeros (an exact integer written as a decimal).
fn split_integer(text: &str) -> Option<(bool, &str)> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // Bytes, not `split_once('.')`: a char searcher costs more than these short texts.
    let (int, frac) = match body.bytes().position(|b| b == b'.') {
        Some(dot) => (&body[..dot], Some(&body[dot + 1..])),
        None => (body, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b == b'0'))
    {
        return None;
    }
    let digits = int.trim_start_matches('0');
    Some((neg, if digits.is_empty() { "0" } else { digits }))
}

fn render_int(
    text: &str,
    kind: ValueKind,
    width: IntWidth,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if kind == ValueKind::Boolean {
        return render_bool(text, out);
    }
    // The common case, canonical text, is checked in one pass and written as it is: it is
    // already what StarRocks gets.
    if let Some(v) = canonical_integer(text.as_bytes()) {
        let (min, max) = width.range();
        if !(min..=max).contains(&v) {
            return Err(out_of_range(text, width));
        }
        append(out, text.as_bytes());
        return Ok(());
    }
    // Anything else (leading zeros, `-0`, an all-zero fraction, more than 19 digits) is split.
    let (neg, digits) =
        split_integer(text).ok_or_else(|| format!("{} is not an integer", excerpt(text)))?;
    // Fewer digits than the type's maximum has: in range, without computing the value.
    if digits.len() >= width.max_digits() {
        let (min, max) = width.range();
        // 39 digits is the widest i128; anything longer is out of every integer range.
        let value = (digits.len() <= 39)
            .then(|| integer_value(neg, digits.as_bytes()))
            .flatten();
        match value {
            Some(v) if (min..=max).contains(&v) => {}
            _ => return Err(out_of_range(text, width)),
        }
    }
    if neg && digits != "0" {
        out.push(b'-');
    }
    append(out, digits.as_bytes());
    Ok(())
}

/// The JSON number grammar, which is also what Java's `Double.toString` produces and what
/// StarRocks' float parser accepts.
pub(crate) fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == s.len()
}

fn render_float(text: &str, single: bool, out: &mut Vec<u8>) -> Result<(), String> {
    if !is_json_number(text.as_bytes()) {
        return Err(format!("{} is not a finite number", excerpt(text)));
    }
    // Only an exponent can push a value past the type's range; plain digits up to ~300 chars
    // cannot come from a FLOAT/DOUBLE source.
    if single || text.bytes().any(|b| b == b'e' || b == b'E') || text.len() > 300 {
        // Parse at the target width: Java's shortest FLOAT text (`3.4028235E38`) is above
        // f32::MAX as an f64 but rounds to it as an f32, as in StarRocks.
        let finite = if single {
            text.parse::<f32>().is_ok_and(f32::is_finite)
        } else {
            text.parse::<f64>().is_ok_and(f64::is_finite)
        };
        if !finite {
            return Err(format!(
                "{} is out of range for {}",
                excerpt(text),
                if single { "FLOAT" } else { "DOUBLE" }
            ));
        }
    }
    append(out, text.as_bytes());
    Ok(())
}

fn render_decimal(text: &str, precision: u8, scale: u8, out: &mut Vec<u8>) -> Result<(), String> {
    // The common case: MySQL writes a DECIMAL with exactly its scale's fraction digits, which is
    // what StarRocks gets, so it is checked in one pass and written as it is.
    if is_canonical_decimal(text.as_bytes(), precision - scale, scale) {
        append(out, text.as_bytes());
        return Ok(());
    }
    render_decimal_by_parts(text, precision, scale, out)
}

/// Checks and writes any decimal text for DECIMAL(`precision`, `scale`).
fn render_decimal_by_parts(
    text: &str,
    precision: u8,
    scale: u8,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let bad = || format!("{} is not a plain decimal number", excerpt(text));
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let dot = body.bytes().position(|b| b == b'.');
    let (int, frac) = match dot {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (dot.is_some() && frac.is_empty())
    {
        return Err(bad());
    }
    let int = int.trim_start_matches('0');
    let int_room = (precision - scale) as usize;
    if int.len() > int_room {
        return Err(format!(
            "{} does not fit DECIMAL({precision},{scale}): {} integer digits, room for {int_room}",
            excerpt(text),
            int.len()
        ));
    }
    let keep = frac.len().min(scale as usize);
    if !frac.as_bytes()[keep..].iter().all(|&b| b == b'0') {
        return Err(format!(
            "{} has more than {scale} significant fraction digits for DECIMAL({precision},{scale}); \
             StarRocks would round it",
            excerpt(text)
        ));
    }
    if neg {
        out.push(b'-');
    }
    append(out, if int.is_empty() { b"0" } else { int.as_bytes() });
    if keep > 0 {
        out.push(b'.');
        append(out, &frac.as_bytes()[..keep]);
    }
    Ok(())
}

/// Whether `b` is `-?D(\.F)?` with `D` digits without a leading zero (`0` alone allowed), at
/// most `int_room` of them, and `F` exactly `scale` digits (no `.` when `scale` is 0): text that
/// `render_decimal` would write unchanged. `false` says nothing: such text takes the general way.
#[inline(always)]
fn is_canonical_decimal(b: &[u8], int_room: u8, scale: u8) -> bool {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let frac_len = if scale == 0 {
        0
    } else {
        usize::from(scale) + 1
    };
    let Some(int_len) = digits.len().checked_sub(frac_len) else {
        return false;
    };
    let (int, frac) = digits.split_at(int_len);
    let int_ok = match int {
        [] => false,
        [b'0'] => int_room > 0,
        [first, ..] => *first != b'0' && int.len() <= usize::from(int_room),
    };
    let frac_digits = match frac {
        [] => frac,
        [b'.', rest @ ..] => rest,
        _ => return false,
    };
    int_ok && int.iter().chain(frac_digits).all(u8::is_ascii_digit)
}

/// Validates `YYYY-MM-DD` at the start of `b` against StarRocks' range (0000-01-01..9999-12-31,
/// real calendar days).
fn valid_date(b: &[u8]) -> bool {
    let Some((y, m, d)) = bytes::date_fields(b) else {
        return false;
    };
    bytes::days_in_month(y, m).is_some_and(|days| (1..=days).contains(&d))
}

/// Validates ` HH:MM:SS[.f{1,9}]` at `b[10..]`; returns the number of fraction digits.
fn valid_time_part(b: &[u8]) -> Option<usize> {
    if b.get(10) != Some(&b' ') {
        return None;
    }
    let (h, mi, s) = bytes::time_fields(&b[11..])?;
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    if b.len() == 19 {
        return Some(0);
    }
    let frac = &b[20..];
    (b[19] == b'.' && (1..=9).contains(&frac.len()) && frac.iter().all(u8::is_ascii_digit))
        .then_some(frac.len())
}

fn render_date(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let b = text.as_bytes();
    if !valid_date(b) {
        return Err(format!(
            "{} is not a valid DATE (0000-01-01..9999-12-31)",
            excerpt(text)
        ));
    }
    if b.len() > 10 {
        let frac = valid_time_part(b).ok_or_else(|| format!("{} is not a DATE", excerpt(text)))?;
        let midnight =
            &b[11..19] == b"00:00:00" && (frac == 0 || b[20..].iter().all(|&c| c == b'0'));
        if !midnight {
            return Err(format!(
                "{} has a time of day; a DATE column would drop it",
                excerpt(text)
            ));
        }
    }
    out.extend_from_slice(&b[..10]);
    Ok(())
}

fn render_datetime(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let b = text.as_bytes();
    if !valid_date(b) {
        return Err(format!(
            "{} is not a valid DATETIME (0000-01-01..9999-12-31)",
            excerpt(text)
        ));
    }
    if b.len() == 10 {
        out.extend_from_slice(b);
        out.extend_from_slice(b" 00:00:00");
        return Ok(());
    }
    let frac = valid_time_part(b).ok_or_else(|| {
        format!(
            "{} is not a DATETIME (YYYY-MM-DD HH:MM:SS[.ffffff])",
            excerpt(text)
        )
    })?;
    if frac > 6 {
        if !b[26..].iter().all(|&c| c == b'0') {
            return Err(format!(
                "{} has sub-microsecond digits; StarRocks DATETIME keeps microseconds",
                excerpt(text)
            ));
        }
        out.extend_from_slice(&b[..26]);
    } else {
        append(out, b);
    }
    Ok(())
}

/// Appends the key form of an already rendered value: equal keys in StarRocks give equal bytes.
/// Only DATETIME has several spellings of one value (`…:00` vs `…:00.000`).
pub(crate) fn normalize_key(target: Target, rendered: &[u8], out: &mut Vec<u8>) {
    if target == Target::DateTime && rendered.len() > 19 {
        let mut end = rendered.len();
        while rendered[end - 1] == b'0' {
            end -= 1;
        }
        if rendered[end - 1] == b'.' {
            end -= 1;
        }
        append(out, &rendered[..end]);
    } else {
        append(out, rendered);
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_upper(b: &[u8], out: &mut Vec<u8>) {
    out.reserve(b.len() * 2);
    for &byte in b {
        out.push(HEX_UPPER[(byte >> 4) as usize]);
        out.push(HEX_UPPER[(byte & 0xF) as usize]);
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding — what the BE's CSV VARBINARY reader decodes.
pub(crate) fn base64_encode(b: &[u8], out: &mut Vec<u8>) {
    out.reserve(b.len().div_ceil(3) * 4);
    let mut chunks = b.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = (a as u32) << 16;
            out.extend_from_slice(&[B64[(n >> 18) as usize & 63], B64[(n >> 12) as usize & 63]]);
            out.extend_from_slice(b"==");
        }
        [a, c] => {
            let n = (a as u32) << 16 | (c as u32) << 8;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => {
                out.extend_from_slice(&s[run..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX_UPPER[(b >> 4) as usize]);
                out.push(HEX_UPPER[(b & 0xF) as usize]);
                run = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass check only passes text that the general way writes unchanged.
        #[test]
        fn canonical_decimals_are_written_as_the_general_way_writes_them(
            sign in "-?",
            int in "0{0,2}[0-9]{0,4}",
            frac in proptest::option::of("[0-9]{0,4}"),
            stray in "|[-.a ]",
            precision in 1u8..=8,
            scale in 0u8..=4,
            scale_fits in any::<bool>(),
        ) {
            // Half the cases give the fraction exactly the scale's digits: the canonical shape.
            let scale = match &frac {
                Some(f) if scale_fits => f.len() as u8,
                _ => scale,
            }
            .min(precision);
            let text = match &frac {
                Some(f) => format!("{sign}{int}.{f}{stray}"),
                None => format!("{sign}{int}{stray}"),
            };
            let mut general = Vec::new();
            let by_parts = render_decimal_by_parts(&text, precision, scale, &mut general);
            if is_canonical_decimal(text.as_bytes(), precision - scale, scale) {
                prop_assert_eq!(by_parts, Ok(()));
                prop_assert_eq!(String::from_utf8(general).unwrap(), text);
            }
        }
    }

    fn r(target: Target, kind: ValueKind, v: &str) -> Result<String, String> {
        let mut out = Vec::new();
        render(target, kind, Value::Text(v), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    fn ty(t: &str) -> Target {
        Target::of(&StarRocksType::parse(t).unwrap())
    }

    #[test]
    fn integers_below_the_digit_shortcut_fit_and_its_bounds_are_still_checked() {
        let i = ValueKind::Integer;
        for (t, width) in [
            ("tinyint", IntWidth::Tiny),
            ("smallint", IntWidth::Small),
            ("int", IntWidth::Int),
            ("bigint", IntWidth::Big),
            ("largeint", IntWidth::Large),
        ] {
            let (min, max) = width.range();
            let short = "9".repeat(width.max_digits() - 1);
            assert_eq!(r(ty(t), i, &short).unwrap(), short, "{t}");
            assert_eq!(
                r(ty(t), i, &format!("-{short}")).unwrap(),
                format!("-{short}")
            );
            assert_eq!(
                r(ty(t), i, &max.to_string()).unwrap(),
                max.to_string(),
                "{t}"
            );
            assert_eq!(
                r(ty(t), i, &min.to_string()).unwrap(),
                min.to_string(),
                "{t}"
            );
            if width != IntWidth::Large {
                assert!(r(ty(t), i, &(max + 1).to_string()).is_err(), "{t}");
                assert!(r(ty(t), i, &(min - 1).to_string()).is_err(), "{t}");
            }
            // A number just as long as the bound, over it.
            let over = "9".repeat(width.max_digits());
            assert!(r(ty(t), i, &over).is_err(), "{t}");
        }
    }

    #[test]
    fn integers_are_range_checked_and_normalised() {
        let i = ValueKind::Integer;
        assert_eq!(r(ty("tinyint"), i, "127").unwrap(), "127");
        assert_eq!(r(ty("tinyint"), i, "-128").unwrap(), "-128");
        assert!(r(ty("tinyint"), i, "128").is_err());
        assert!(r(ty("tinyint"), i, "-129").is_err());
        assert!(r(ty("smallint"), i, "32768").is_err());
        assert_eq!(r(ty("int"), i, "-2147483648").unwrap(), "-2147483648");
        assert!(r(ty("int"), i, "4294967295").is_err());
        assert_eq!(
            r(ty("bigint"), i, "9223372036854775807").unwrap(),
            "9223372036854775807"
        );
        assert!(r(ty("bigint"), i, "18446744073709551615").is_err());
        assert_eq!(
            r(ty("largeint"), i, "18446744073709551615").unwrap(),
            "18446744073709551615"
        );
        assert_eq!(
            r(
                ty("largeint"),
                i,
                "-170141183460469231731687303715884105728"
            )
            .unwrap(),
            "-170141183460469231731687303715884105728"
        );
        assert!(r(ty("largeint"), i, "170141183460469231731687303715884105728").is_err());
        assert!(r(ty("largeint"), i, "1".repeat(80).as_str()).is_err());
        // Both sides of the canonical fast path (up to 18 digits) and of each range.
        for (t, ok, bad) in [
            ("int", "2147483647", "2147483648"),
            ("int", "-2147483648", "-2147483649"),
            ("bigint", "999999999999999999", "9223372036854775808"),
            ("bigint", "-9223372036854775808", "-9223372036854775809"),
            ("tinyint", "-128", "128"),
        ] {
            assert_eq!(r(ty(t), i, ok).unwrap(), ok, "{t} {ok}");
            assert!(r(ty(t), i, bad).is_err(), "{t} {bad}");
        }
        assert_eq!(
            r(ty("bigint"), i, "-0000000000000000000012").unwrap(),
            "-12"
        );
        assert_eq!(r(ty("int"), i, "007").unwrap(), "7");
        assert_eq!(r(ty("int"), i, "-0").unwrap(), "0");
        assert_eq!(r(ty("int"), ValueKind::Decimal, "5.000").unwrap(), "5");
        assert!(r(ty("int"), ValueKind::Decimal, "5.5").is_err());
        assert_eq!(r(ty("int"), ValueKind::Boolean, "true").unwrap(), "1");
        for bad in ["", "-", "abc", "1e3", "1.", " 1", "+1", "0x10"] {
            assert!(r(ty("bigint"), i, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn booleans() {
        let k = ValueKind::Integer;
        assert_eq!(r(ty("boolean"), k, "1").unwrap(), "1");
        assert_eq!(r(ty("boolean"), k, "0").unwrap(), "0");
        assert_eq!(r(ty("boolean"), ValueKind::Boolean, "true").unwrap(), "1");
        assert_eq!(r(ty("boolean"), ValueKind::Boolean, "FALSE").unwrap(), "0");
        // A MySQL BOOL / TINYINT(1) holds any TINYINT value; non-zero is true.
        for (v, want) in [
            ("5", "1"),
            ("127", "1"),
            ("-128", "1"),
            ("-1", "1"),
            ("-0", "0"),
            ("000", "0"),
        ] {
            assert_eq!(r(ty("boolean"), k, v).unwrap(), want, "{v}");
        }
        // StarRocks information_schema spelling of BOOLEAN.
        assert_eq!(r(ty("tinyint(1)"), k, "5").unwrap(), "1");
        for bad in ["yes", "", "1.5", "0x1", " 1", "t"] {
            assert!(r(ty("boolean"), k, bad).is_err(), "{bad:?}");
        }
        // The same values into a TINYINT column keep their value.
        for v in ["5", "127", "-128", "-1", "0", "1"] {
            assert_eq!(r(ty("tinyint(4)"), k, v).unwrap(), v, "{v}");
        }
        assert!(r(ty("tinyint(4)"), k, "128").is_err());
        assert_eq!(
            r(ty("tinyint(4)"), ValueKind::Boolean, "true").unwrap(),
            "1"
        );
    }

    #[test]
    fn floats_pass_java_forms_and_reject_the_rest() {
        let f = ValueKind::Float;
        for ok in [
            "1.0E308",
            "-4.9E-324",
            "-0.0",
            "0.1",
            "100.0",
            "1.2345678901234567E7",
        ] {
            assert_eq!(r(ty("double"), f, ok).unwrap(), ok);
        }
        for ok in ["3.4028235E38", "1.4E-45", "-0.0"] {
            assert_eq!(r(ty("float"), f, ok).unwrap(), ok);
        }
        assert!(r(ty("float"), f, "1.0E308").is_err());
        for bad in [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            ".5",
            "1.",
            "01",
            "+1",
            "",
        ] {
            assert!(r(ty("double"), f, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decimals_are_exact() {
        let d = ValueKind::Decimal;
        assert_eq!(r(ty("decimal(10,2)"), d, "99.90").unwrap(), "99.90");
        assert_eq!(r(ty("decimal(10,2)"), d, "-0.00").unwrap(), "-0.00");
        assert_eq!(
            r(ty("decimal(10,2)"), d, "12345678.9").unwrap(),
            "12345678.9"
        );
        assert!(r(ty("decimal(10,2)"), d, "123456789.9").is_err());
        assert!(r(ty("decimal(10,2)"), d, "1.005").is_err());
        assert_eq!(r(ty("decimal(10,2)"), d, "1.500").unwrap(), "1.50");
        assert_eq!(r(ty("decimal(10,0)"), d, "7.000").unwrap(), "7");
        assert_eq!(r(ty("decimal(5,2)"), d, "000123.45").unwrap(), "123.45");
        let big = "99999999999999999999999999999999999.999999999999999999999999999999";
        assert_eq!(r(ty("decimal(65,30)"), d, big).unwrap(), big);
        assert!(r(ty("decimal(38,30)"), d, big).is_err());
        assert!(r(ty("decimal(38,10)"), d, big).is_err());
        for bad in ["1e5", "1.0E308", "abc", "", ".5", "5.", "--1", "1.2.3"] {
            assert!(r(ty("decimal(38,10)"), d, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_and_datetimes() {
        let k = ValueKind::DateTime;
        assert_eq!(r(ty("date"), k, "2024-02-29").unwrap(), "2024-02-29");
        assert_eq!(
            r(ty("date"), k, "2024-06-01 00:00:00").unwrap(),
            "2024-06-01"
        );
        assert_eq!(
            r(ty("date"), k, "2024-06-01 00:00:00.000").unwrap(),
            "2024-06-01"
        );
        assert!(r(ty("date"), k, "2024-06-01 00:00:01").is_err());
        for bad in [
            "0000-00-00",
            "2024-00-10",
            "2024-02-30",
            "2023-02-29",
            "2024-02-00",
            "10000-01-01",
            "2024-6-1",
            "",
        ] {
            assert!(r(ty("date"), k, bad).is_err(), "{bad:?}");
            assert!(r(ty("datetime"), k, bad).is_err(), "{bad:?}");
        }
        assert_eq!(r(ty("date"), k, "0000-02-29").unwrap(), "0000-02-29");
        assert_eq!(
            r(ty("datetime"), k, "9999-12-31 23:59:59.999999").unwrap(),
            "9999-12-31 23:59:59.999999"
        );
        assert_eq!(
            r(ty("datetime"), k, "2024-06-01 10:00:00.123").unwrap(),
            "2024-06-01 10:00:00.123"
        );
        assert_eq!(
            r(ty("datetime"), k, "2024-06-01").unwrap(),
            "2024-06-01 00:00:00"
        );
        assert_eq!(
            r(ty("datetime"), k, "2024-06-01 10:00:00.123456000").unwrap(),
            "2024-06-01 10:00:00.123456"
        );
        for bad in [
            "2024-06-01 24:00:00",
            "2024-06-01 10:60:00",
            "2024-06-01T10:00:00",
            "2024-06-01 10:00:00.",
            "2024-06-01 10:00:00.1234567",
            "2024-06-01 10:00:00Z",
            "0000-00-00 00:00:00",
        ] {
            assert!(r(ty("datetime"), k, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_json_binary() {
        let t = ValueKind::Text;
        assert_eq!(r(ty("varchar(3)"), t, "abc").unwrap(), "abc");
        assert!(r(ty("varchar(3)"), t, "abcd").is_err());
        // Lengths are bytes: three CJK characters are nine bytes.
        assert!(r(ty("varchar(8)"), t, "张三李").is_err());
        assert_eq!(r(ty("varchar(9)"), t, "张三李").unwrap(), "张三李");
        assert!(r(ty("char(2)"), t, "abc").is_err());
        assert_eq!(r(ty("json"), ValueKind::Json, "null").unwrap(), "null");
        assert_eq!(
            r(ty("json"), ValueKind::Json, "{\"a\": [1, 2.5]}").unwrap(),
            "{\"a\": [1, 2.5]}"
        );
        assert!(r(ty("json"), ValueKind::Json, "JSON_REPLACE(c, '$.a', 7)").is_err());
        assert!(r(ty("json"), ValueKind::Json, "").is_err());

        let mut out = Vec::new();
        render(
            ty("varbinary(16)"),
            ValueKind::Binary,
            Value::Bytes(&[0xFF, 0xFE, 0x3C, 0x26, 0x2D]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"//48Ji0=");
        out.clear();
        render(
            ty("varchar(10)"),
            ValueKind::Binary,
            Value::Bytes(&[0x00, 0x01, 0x7F, 0x80]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"00017F80");
        assert!(
            render(
                ty("varbinary(2)"),
                ValueKind::Binary,
                Value::Bytes(&[1, 2, 3]),
                &mut out
            )
            .is_err()
        );
        assert!(render(ty("int"), ValueKind::Binary, Value::Bytes(&[1]), &mut out).is_err());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_encode(raw.as_bytes(), &mut out);
            assert_eq!(out, enc.as_bytes());
        }
    }

    #[test]
    fn json_strings_round_trip_through_serde() {
        let s = "quote:\" backslash:\\ nl:\n cr:\r tab:\t nul:\u{0} bell:\u{7} ls:\u{2028} 🚀 \u{1}\u{2}";
        let mut out = Vec::new();
        json_string(s.as_bytes(), &mut out);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn datetime_keys_ignore_trailing_fraction_zeros() {
        let mut a = Vec::new();
        normalize_key(Target::DateTime, b"2024-06-01 10:00:00.000", &mut a);
        assert_eq!(a, b"2024-06-01 10:00:00");
        a.clear();
        normalize_key(Target::DateTime, b"2024-06-01 10:00:00.120", &mut a);
        assert_eq!(a, b"2024-06-01 10:00:00.12");
    }
}
